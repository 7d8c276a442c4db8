"""The writer: batches, idempotent replays, upserts, outage buffering, drops counted, order."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from quant_scalper.journal import rows, schema
from quant_scalper.journal.db import connect_journal, open_journal
from quant_scalper.journal.writer import JournalWriter
from tests.journal.conftest import PASSWORD_ENV, Target, fresh_database

BOOK = "live:TEST-001"


def _open(target: str | Target):
    if isinstance(target, Target):
        return open_journal(target.url, target.password_env)
    return open_journal(target)


def _fill(i: int) -> dict:
    return rows.fill_row(
        BOOK,
        trade_id=f"T-{i}",
        client_order_id=f"O-{i}",
        venue_order_id=None,
        position_id="P-1",
        instrument_id="MESZ3.CME",
        side="BUY" if i % 2 else "SELL",
        quantity="1",
        price="4512.25",
        commission=rows.Decimal("0.62"),
        ts_event_ns=1_700_000_000_000_000_000 + i,
        day="2023-11-14",
    )


def _order(status: str, reason: str | None = None, ts: int = 1) -> dict:
    return rows.order_row(
        BOOK,
        client_order_id="O-1",
        venue_order_id="V-1" if status != "SUBMITTED" else None,
        parent_order_id=None,
        instrument_id="MESZ3.CME",
        side="BUY",
        order_type="MARKET",
        quantity="1",
        price=None,
        trigger_price=None,
        tags=["ZSCORE=-2.1"],
        status=status,
        reason=reason,
        ts_init_ns=1,
        ts_last_ns=ts,
    )


def _count(target: str | Target, table) -> int:
    journal = _open(target)
    with journal.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar()
    journal.dispose()
    return n


def test_rows_written_once_even_when_replayed(target: Target) -> None:
    for _ in range(2):  # a restart replays the same rows: nothing twice
        writer = JournalWriter(_open(target), batch_rows=7)
        writer.start()
        for i in range(100):
            assert writer.put("fills", _fill(i))
        assert writer.close(timeout=10)
        assert writer.stats.written == 100 and writer.stats.dropped == 0
    assert _count(target, schema.fills) == 100


def test_orders_and_status_upsert_to_the_latest_state(target: Target) -> None:
    writer = JournalWriter(_open(target), threaded=False)
    writer.put("orders", _order("SUBMITTED", ts=1))
    writer.put("orders", _order("REJECTED", "margin", ts=2))
    writer.put("node_status", rows.status_row(BOOK, ts_ns=1, payload={"a": 1}))
    writer.flush()
    writer.put("orders", _order("CANCELED", None, ts=3))  # no reason: the known one stays
    writer.put("node_status", rows.status_row(BOOK, ts_ns=2, payload={"a": 2}))
    assert writer.close()
    journal = _open(target)
    with journal.engine.connect() as conn:
        (order,) = conn.execute(select(schema.orders)).mappings().all()
        (status,) = conn.execute(select(schema.node_status)).mappings().all()
    journal.dispose()
    assert (order["fate"], order["reason"], order["venue_order_id"]) == (
        "cancelled",
        "margin",
        "V-1",
    )
    assert order["ts_last_ns"] == 3 and order["ts_init_ns"] == 1
    assert status["payload"] == '{"a": 2}' and status["updated_at_ns"] == 2


def test_an_outage_buffers_rows_then_writes_them_in_order(tmp_path: Path) -> None:
    target = tmp_path / "journal.sqlite"
    target.mkdir()  # a folder where the file should be: SQLite cannot open it ("down")
    writer = JournalWriter(connect_journal(str(target)), retry_min_secs=0.02, retry_max_secs=0.05)
    writer.start()
    for i in range(300):
        assert writer.put("fills", _fill(i))
    deadline = time.monotonic() + 10
    while not writer.stats.failing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.stats.failing and writer.stats.written == 0
    notices = writer.drain_notices()
    assert len(notices) == 1 and "buffering" in notices[0]
    target.rmdir()  # the database is back
    assert writer.close(timeout=20)
    assert writer.stats.written == 300 and writer.stats.dropped == 0
    assert any("is back" in n for n in writer.drain_notices())
    journal = open_journal(str(target))
    with journal.engine.connect() as conn:
        ids = conn.execute(select(schema.fills.c.trade_id).order_by(schema.fills.c.id)).scalars()
        assert list(ids) == [f"T-{i}" for i in range(300)]
    journal.dispose()


def test_a_full_buffer_drops_counts_and_alerts_once(tmp_path: Path) -> None:
    target = tmp_path / "journal.sqlite"
    target.mkdir()
    alerts: list[str] = []
    writer = JournalWriter(
        connect_journal(str(target)),
        buffer_rows=20,
        batch_rows=5,
        retry_min_secs=0.02,
        retry_max_secs=0.05,
        on_drop=alerts.append,
    )
    writer.start()
    accepted = sum(writer.put("fills", _fill(i)) for i in range(200))
    assert accepted < 200
    assert writer.stats.dropped == 200 - accepted
    assert len(alerts) == 1 and "dropping journal rows" in alerts[0]
    target.rmdir()
    assert writer.close(timeout=20)
    assert writer.stats.written == accepted
    assert _count(str(target), schema.fills) == accepted


def test_a_newer_journal_disables_the_writer_without_raising(tmp_path: Path) -> None:
    import sqlite3

    target = tmp_path / "journal.sqlite"
    open_journal(target).dispose()
    with sqlite3.connect(target) as conn:
        conn.execute("INSERT INTO schema_version VALUES (9, 0)")
    writer = JournalWriter(connect_journal(str(target)))
    writer.start()
    writer.put("fills", _fill(1))
    writer.close(timeout=5)
    assert writer.stats.fatal and "newer" in writer.stats.fatal
    assert writer.stats.written == 0 and writer.stats.dropped == 1


def test_postgres_stopped_while_rows_are_written_then_every_row_arrives(
    postgres,
    monkeypatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, postgres.password)
    url = fresh_database(postgres)
    writer = JournalWriter(
        open_journal(url, PASSWORD_ENV), batch_rows=50, retry_min_secs=0.05, retry_max_secs=0.2
    )
    writer.start()
    for i in range(100):
        writer.put("fills", _fill(i))
    assert writer.flush(timeout=20)
    postgres.stop()
    try:
        for i in range(100, 400):  # written while the server is down: buffered, never blocking
            assert writer.put("fills", _fill(i))
        deadline = time.monotonic() + 20
        while not writer.stats.failing and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.stats.failing
        time.sleep(1.0)  # a while down, several retries
    finally:
        postgres.start()
    assert writer.close(timeout=30)
    assert writer.stats.dropped == 0 and writer.stats.written == 400
    journal = open_journal(url, PASSWORD_ENV)
    with journal.engine.connect() as conn:
        ids = conn.execute(select(schema.fills.c.trade_id).order_by(schema.fills.c.id)).scalars()
        assert list(ids) == [f"T-{i}" for i in range(400)]
    journal.dispose()
