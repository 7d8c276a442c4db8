"""Realistic trade journals for the dashboard's tests and benchmark, written straight into the
schema's tables (the dashboard only reads them): a few CME trading days of round trips, an
equity mark per minute while trading, breaker trips, node events and a live node's snapshot."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, create_engine, insert

from quant_scalper.journal import schema
from quant_scalper.risk.session import SessionSchedule

LIVE_BOOK = "live:QS-PAPER-001"
BACKTEST_BOOK = "backtest:20261120T120000-abcdef"
INSTRUMENT = "MESZ6.CME"
CT = ZoneInfo("America/Chicago")
NS = 1_000_000_000
SCHEDULE = SessionSchedule()


@dataclass(frozen=True)
class Journal:
    """What a fixture journal holds, for the tests' expectations."""

    path: Path
    book: str
    trades: list[dict]
    marks: int
    days: list[str]


def engine_for(path: Path) -> Engine:
    """A writable engine on a SQLite journal file (the tests' writer, not the dashboard)."""
    return create_engine(f"sqlite:///{path}")


def create_journal(path: Path, version: int = schema.SCHEMA_VERSION) -> Engine:
    """An empty journal with its tables and schema version row."""
    engine = engine_for(path)
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.schema_version), {"version": version, "applied_at_ns": time.time_ns()}
        )
    return engine


def _ns(ts: datetime) -> int:
    return int(ts.timestamp()) * NS


def trading_day(ns: int) -> str:
    """The CME trading day of a UTC nanosecond time (the project's one implementation)."""
    return SCHEDULE.trading_day(datetime.fromtimestamp(ns / NS, UTC)).isoformat()


def trade_row(book: str, i: int, entry: datetime, minutes: int, net_cents: int, **kw) -> dict:
    """One round trip's row (MES: $5 a point, fees $1.24 a round trip)."""
    side = kw.get("side", "LONG" if i % 2 == 0 else "SHORT")
    entry_px = 5800 + (i % 40) * 0.25
    fees = 124
    gross = net_cents + fees
    points = gross / 500
    exit_px = entry_px + points if side == "LONG" else entry_px - points
    exit_ts = entry + timedelta(minutes=minutes)
    return {
        "book": book,
        "trade_key": f"T-{i}@{_ns(exit_ts)}",
        "position_id": f"{INSTRUMENT}-P-{i}",
        "instrument_id": kw.get("instrument", INSTRUMENT),
        "side": side,
        "quantity": str(kw.get("quantity", 1)),
        "entry_ns": _ns(entry),
        "exit_ns": _ns(exit_ts),
        "entry_price": f"{entry_px:.2f}",
        "exit_price": f"{round(exit_px * 4) / 4:.2f}",
        "gross_pnl_cents": gross,
        "fees_cents": fees,
        "net_pnl_cents": net_cents,
        "entry_z": round(-2.1 - (i % 7) * 0.1 if side == "LONG" else 2.1 + (i % 7) * 0.1, 2),
        "exit_reason": kw.get(
            "exit_reason", ("signal", "target", "stop", "signal", "max_holding")[i % 5]
        ),
        "trading_day": trading_day(_ns(exit_ts)),
        "found_at_reconciliation": False,
    }


def status_payload(now_ns: int, *, position: bool = True, halted: bool = False) -> dict:
    """A live node's snapshot as the recorder writes it: one long position with its bracket."""
    opened = now_ns - 754 * NS
    positions = []
    orders = []
    if position:
        positions = [
            {
                "instrument_id": INSTRUMENT,
                "side": "LONG",
                "quantity": "1",
                "avg_px_open": "5812.25",
                "ts_opened_ns": opened,
                "position_id": f"{INSTRUMENT}-P-open",
                "open_pnl_cents": 6250,
            }
        ]
        orders = [
            {
                "client_order_id": "O-STOP",
                "instrument_id": INSTRUMENT,
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "1",
                "status": "ACCEPTED",
                "price": None,
                "trigger_price": "5772.25",
                "parent_order_id": "O-ENTRY",
            },
            {
                "client_order_id": "O-TARGET",
                "instrument_id": INSTRUMENT,
                "side": "SELL",
                "type": "LIMIT",
                "quantity": "1",
                "status": "ACCEPTED",
                "price": "5872.25",
                "trigger_price": None,
                "parent_order_id": "O-ENTRY",
            },
        ]
    return {
        "running": True,
        "connected": True,
        "account_id": "DU9999999",  # must never reach a page or API answer
        "positions": positions,
        "orders": orders,
        "risk": {
            "trading_day": trading_day(now_ns),
            "day_pnl_cents": -18_500,
            "realized_cents": 41_250,
            "open_cents": 6250,
            "consecutive_losses": 2,
            "trades_today": 4,
            "paused_until": None,
            "daily_limit_hit": False,
            "halted": halted,
            "halt_reason": "kill switch (operator)" if halted else None,
        },
        "last_bar_ns": now_ns - 20 * NS,
        "last_bar_age_secs": 20.0,
        "journal": {"written": 1234, "dropped": 0, "failing": False},
    }


def build_journal(
    path: Path,
    *,
    book: str = LIVE_BOOK,
    first_day: date = date(2026, 11, 23),
    days: int = 5,
    trades_per_day: int = 8,
    status_age_secs: float = 1.0,
    seed: int = 12,
) -> Journal:
    """A journal with ``days`` trading days (Monday on) of one book, and a second, backtest
    book so that book selection matters."""
    rng = random.Random(seed)
    engine = create_journal(path)
    now_ns = time.time_ns()
    trades: list[dict] = []
    marks: list[dict] = []
    breakers: list[dict] = []
    events: list[dict] = []
    realized = 0
    day_list: list[str] = []
    day = first_day
    i = 0
    while len(day_list) < days:
        if not SCHEDULE.is_trading_day(day):
            day += timedelta(days=1)
            continue
        day_list.append(day.isoformat())
        start = datetime.combine(day, datetime.min.time(), CT).replace(hour=8, minute=30)
        day_trades = []
        for k in range(trades_per_day):
            entry = start + timedelta(minutes=20 + k * 45 + rng.randint(0, 10))
            net = rng.choice((-1, 1)) * rng.randint(2, 60) * 125 - 124
            row = trade_row(book, i, entry, rng.randint(3, 30), net)
            trades.append(row)
            day_trades.append(row)
            i += 1
        for minute in range(390):  # 08:30-15:00 CT, one mark a minute
            ts = _ns(start + timedelta(minutes=minute))
            closed = sum(t["net_pnl_cents"] for t in day_trades if t["exit_ns"] <= ts)
            open_ = next(
                (
                    rng.randint(-3000, 3000)
                    for t in day_trades
                    if t["entry_ns"] <= ts < t["exit_ns"]
                ),
                0,
            )
            marks.append(
                {
                    "book": book,
                    "ts_ns": ts,
                    "realized_cents": realized + closed,
                    "open_cents": open_,
                    "trading_day": day.isoformat(),
                }
            )
        realized += sum(t["net_pnl_cents"] for t in day_trades)
        if len(day_list) == 2:
            trip = _ns(start + timedelta(hours=3))
            breakers += [
                {
                    "book": book,
                    "ts_ns": trip,
                    "rule": "consecutive_losses",
                    "kind": "trip",
                    "reason": "3 losses in a row: paused 30 min",
                    "trading_day": day.isoformat(),
                },
                {
                    "book": book,
                    "ts_ns": trip + 1800 * NS,
                    "rule": "consecutive_losses",
                    "kind": "reset",
                    "reason": "pause over",
                    "trading_day": day.isoformat(),
                },
            ]
        events.append(
            {"book": book, "ts_ns": _ns(start - timedelta(hours=15)), "kind": "start", "detail": ""}
        )
        events.append(
            {
                "book": book,
                "ts_ns": _ns(start - timedelta(hours=15)) + NS,
                "kind": "connected",
                "detail": "IB Gateway 127.0.0.1:4002",
            }
        )
        day += timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.runs),
            [
                {
                    "book": book,
                    "kind": book.split(":")[0],
                    "trader_id": "QS-PAPER-001",
                    "config_hash": "0" * 64,
                    "config_path": "/secret/place/live.paper.yaml",
                    "instrument_id": INSTRUMENT,
                    "account_size_cents": 2_500_000,
                    "started_at_ns": now_ns - 86_400 * NS,
                    "ended_at_ns": None,
                },
                {
                    "book": BACKTEST_BOOK,
                    "kind": "backtest",
                    "trader_id": "BACKTESTER-001",
                    "config_hash": "1" * 64,
                    "config_path": None,
                    "instrument_id": INSTRUMENT,
                    "account_size_cents": 2_500_000,
                    "started_at_ns": now_ns - 2 * 86_400 * NS,
                    "ended_at_ns": now_ns - 2 * 86_400 * NS + 60 * NS,
                },
            ],
        )
        conn.execute(insert(schema.trades), trades)
        conn.execute(
            insert(schema.trades),
            [
                trade_row(
                    BACKTEST_BOOK,
                    10_000 + k,
                    datetime(2026, 11, 2, 15, tzinfo=UTC) + timedelta(hours=k),
                    10,
                    500,
                )
                for k in range(3)
            ],
        )
        conn.execute(insert(schema.equity_marks), marks)
        if breakers:
            conn.execute(insert(schema.breaker_events), breakers)
        conn.execute(insert(schema.node_events), events)
        conn.execute(
            insert(schema.orders),
            [
                {
                    "book": book,
                    "client_order_id": f"O-{k}",
                    "instrument_id": INSTRUMENT,
                    "side": "BUY" if k % 2 == 0 else "SELL",
                    "order_type": "MARKET",
                    "quantity": "1",
                    "fate": ("filled", "filled", "rejected", "cancelled")[k % 4],
                    "reason": "margin" if k % 4 == 2 else None,
                    "ts_init_ns": trades[k]["entry_ns"],
                    "ts_last_ns": trades[k]["entry_ns"] + NS,
                }
                for k in range(min(12, len(trades)))
            ],
        )
        if book.startswith("live:"):
            updated = now_ns - int(status_age_secs * NS)
            conn.execute(
                insert(schema.node_status),
                {
                    "book": book,
                    "updated_at_ns": updated,
                    "payload": json.dumps(status_payload(updated)),
                },
            )
    engine.dispose()
    return Journal(path=path, book=book, trades=trades, marks=len(marks), days=day_list)


def add_trade(path: Path, journal: Journal, net_cents: int, exit_reason: str = "target") -> dict:
    """Append one round trip after the journal's last (a node writing while the page is open)."""
    last = max(t["exit_ns"] for t in journal.trades)
    entry = datetime.fromtimestamp(last / NS, UTC) + timedelta(minutes=5)
    row = trade_row(
        journal.book, len(journal.trades) + 50_000, entry, 7, net_cents, exit_reason=exit_reason
    )
    engine = engine_for(path)
    with engine.begin() as conn:
        conn.execute(insert(schema.trades), row)
    engine.dispose()
    journal.trades.append(row)
    return row


def touch_status(path: Path, book: str, age_secs: float) -> None:
    """Rewrite the node snapshot as ``age_secs`` old (fresh or stale)."""
    from sqlalchemy import update

    engine = engine_for(path)
    updated = time.time_ns() - int(age_secs * NS)
    with engine.begin() as conn:
        conn.execute(
            update(schema.node_status)
            .where(schema.node_status.c.book == book)
            .values(updated_at_ns=updated, payload=json.dumps(status_payload(updated)))
        )
    engine.dispose()
