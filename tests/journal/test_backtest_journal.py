"""The bundled backtest's journal equals the runner's trades (count, fees, net P&L to the cent)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from quant_scalper.backtest.runner import BacktestOutcome, run_backtest
from quant_scalper.config import load_backtest_settings
from quant_scalper.journal import schema
from quant_scalper.journal.db import open_journal
from quant_scalper.journal.rows import cents

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "backtest.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[BacktestOutcome, Path]:
    out = tmp_path_factory.mktemp("bt")
    journal = out / "journal.sqlite"
    settings = load_backtest_settings(CONFIG, ["progress=false"]).replace(
        output_dir=out / "out", journal=str(journal), write_tearsheet=False
    )
    return run_backtest(settings, write_files=False), journal


def _table(path: Path, table, book: str) -> list[dict]:
    journal = open_journal(path)
    with journal.engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.book == book)).mappings().all()
    journal.dispose()
    return [dict(r) for r in found]


def test_the_journal_has_the_runners_trades_to_the_cent(run) -> None:
    outcome, path = run
    book = outcome.journal_book
    assert book is not None and book.startswith("backtest:")
    trades = sorted(_table(path, schema.trades, book), key=lambda r: (r["exit_ns"], r["entry_ns"]))
    reference = outcome.trades
    assert len(trades) == len(reference) == outcome.summary.trades > 50
    assert sum(r["net_pnl_cents"] for r in trades) == cents(outcome.summary.net_pnl)
    assert sum(r["fees_cents"] for r in trades) == cents(outcome.summary.fees)
    assert sum(r["gross_pnl_cents"] for r in trades) == cents(outcome.summary.gross_pnl)
    for row, ref in zip(trades, reference, strict=True):
        assert row["side"] == ref.side and row["instrument_id"] == ref.instrument_id
        assert row["net_pnl_cents"] == cents(ref.realized_pnl)
        assert row["fees_cents"] == cents(ref.fees)
        assert Decimal(row["entry_price"]) == ref.entry_price
        assert Decimal(row["exit_price"]) == ref.exit_price
        assert Decimal(row["quantity"]) == ref.quantity
        assert row["exit_ns"] == int(ref.closed_at.timestamp() * 1_000_000) * 1_000
        assert not row["found_at_reconciliation"]
    assert len({r["trade_key"] for r in trades}) == len(trades)
    assert all(r["entry_z"] is not None and abs(r["entry_z"]) >= 2.0 for r in trades)
    reasons = Counter(r["exit_reason"] for r in trades)
    assert set(reasons) <= set(schema.EXIT_REASONS) - {"unknown", "external"}
    assert reasons["signal"] > 0


def test_fills_orders_marks_and_run_are_journaled(run) -> None:
    outcome, path = run
    book = outcome.journal_book
    fills = _table(path, schema.fills, book)
    assert len(fills) == 2 * len(outcome.trades) + len(outcome.open_positions)
    assert sum(f["commission_cents"] for f in fills) >= cents(outcome.summary.fees)
    orders = _table(path, schema.orders, book)
    assert {o["fate"] for o in orders} <= {"filled", "cancelled"}
    assert sum(o["fate"] == "filled" for o in orders) == len(fills)
    marks = _table(path, schema.equity_marks, book)
    minutes = [m["ts_ns"] for m in marks]
    assert minutes == sorted(set(minutes)) and all(m % 60_000_000_000 == 0 for m in minutes)
    assert marks[-1]["realized_cents"] == cents(outcome.summary.net_pnl)
    (run_row,) = _table(path, schema.runs, book)
    assert run_row["kind"] == "backtest" and len(run_row["config_hash"]) == 64
    assert run_row["ended_at_ns"] is not None
    assert [e["kind"] for e in _table(path, schema.node_events, book)] == ["start", "stop"]
    trips = _table(path, schema.breaker_events, book)
    assert len(trips) == len(outcome.trips) + len(outcome.day_rolls)


def test_a_newer_journal_stops_the_backtest_before_it_runs(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "journal.sqlite"
    open_journal(path).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (5, 0)")
    done = subprocess.run(
        [sys.executable, "-m", "quant_scalper.cli", "backtest", "--journal", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert "schema version 5" in done.stderr and "Traceback" not in done.stderr


def test_telegram_reads_the_journal_trades(run) -> None:
    from quant_scalper.journal.read import load_trades
    from quant_scalper.telegram.actor import TelegramAlerts, TelegramAlertsConfig

    outcome, path = run
    trades = load_trades(str(path), outcome.journal_book)
    assert len(trades) == len(outcome.trades)
    assert sum(t.realized_pnl for t in trades) == outcome.summary.net_pnl
    assert [t.closed_at for t in trades] == [t.closed_at for t in outcome.trades]
    late = outcome.trades[-1].closed_at
    since = int(late.timestamp() * 1_000_000) * 1_000
    assert len(load_trades(str(path), outcome.journal_book, since)) >= 1
    actor = TelegramAlerts(
        TelegramAlertsConfig(journal_url=str(path), journal_book=outcome.journal_book)
    )
    actor.book.trades = list(outcome.trades[-3:])  # what the cache had since the start
    actor.book.merge(trades)
    assert len(actor.book.trades) == len(outcome.trades)  # the journal's, each once


def test_a_backtest_writes_the_same_journal_to_postgresql(run, postgres, monkeypatch) -> None:
    from tests.journal.conftest import PASSWORD_ENV, fresh_database

    outcome, _ = run
    monkeypatch.setenv(PASSWORD_ENV, postgres.password)
    url = fresh_database(postgres)
    settings = outcome.settings.replace(journal=url, journal_password_env=PASSWORD_ENV)
    again = run_backtest(settings, write_files=False)
    journal = open_journal(url, PASSWORD_ENV)
    t = schema.trades
    with journal.engine.connect() as conn:
        found = conn.execute(select(t.c.net_pnl_cents).where(t.c.book == again.journal_book))
        nets = list(found.scalars())
    journal.dispose()
    assert len(nets) == len(outcome.trades) and sum(nets) == cents(outcome.summary.net_pnl)
