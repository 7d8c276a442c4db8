"""The trade journal's tables (SQLAlchemy 2 Core): the one durable record of what a node did.

Conventions, the same in every table (the dashboard, Telegram and reports rely on them):

- ``book`` names whose rows these are: ``live:<trader_id>`` for a live/paper node (the same
  across restarts, so a restart continues one book) and ``backtest:<run_id>`` for a backtest
  run. Every natural key starts with ``book``.
- Times are UTC UNIX nanoseconds (``*_ns``, BigInteger). ``trading_day`` is the CME trading day
  (17:00 America/Chicago roll, holidays from the exchange calendar) as ``YYYY-MM-DD``.
- Money is integer US cents (``*_cents``, BigInteger); prices and quantities are decimal text
  exactly as Nautilus prints them (``"4512.25"``). No floats for money anywhere.
- Writes are idempotent: every table has a natural unique key, and the writer inserts with
  "on conflict do nothing" (fills, trades, trips, events, marks) or "upsert" (orders, status).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1
"""The version this code writes; ``journal.db`` migrates older files up to it, refuses newer."""

EXIT_REASONS = (
    "signal",
    "stop",
    "target",
    "max_holding",
    "session",
    "daily_limit",
    "kill",
    "flatten",
    "roll",
    "refused_child",
    "external",
    "unknown",
)
"""Why a round trip closed (``trades.exit_reason``)."""

ORDER_FATES = ("working", "filled", "accepted", "rejected", "denied", "cancelled", "expired")
"""An order's latest outcome (``orders.fate``)."""

NODE_EVENT_KINDS = ("start", "stop", "connected", "disconnected", "resync", "reconciled")
"""``node_events.kind`` values."""

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at_ns", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("book", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),  # "live" | "backtest"
    Column("trader_id", String(100), nullable=False),
    Column("config_hash", String(64), nullable=False),  # sha256 of the effective config
    Column("config_path", Text),
    Column("instrument_id", String(100)),
    Column("account_size_cents", BigInteger),  # for drawdown in % of the account
    Column("started_at_ns", BigInteger, nullable=False),
    Column("ended_at_ns", BigInteger),
)

fills = Table(
    "fills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("book", String(200), nullable=False),
    Column("trade_id", String(100), nullable=False),  # the venue's execution id
    Column("client_order_id", String(100), nullable=False),
    Column("venue_order_id", String(100)),
    Column("position_id", String(100)),
    Column("instrument_id", String(100), nullable=False),
    Column("side", String(8), nullable=False),  # BUY | SELL
    Column("quantity", String(32), nullable=False),
    Column("price", String(32), nullable=False),
    Column("commission_cents", BigInteger, nullable=False),
    Column("ts_event_ns", BigInteger, nullable=False),
    Column("trading_day", String(10), nullable=False),
    Column("found_at_reconciliation", Boolean, nullable=False, default=False),
    UniqueConstraint("book", "trade_id", "client_order_id", name="uq_fills_key"),
    Index("ix_fills_book_ts", "book", "ts_event_ns"),
)

trades = Table(
    "trades",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("book", String(200), nullable=False),
    # the closing fill's "<trade_id>@<ts_event_ns>": unique per round trip even under NETTING,
    # where one position id holds every trip of a run
    Column("trade_key", String(200), nullable=False),
    Column("position_id", String(100)),
    Column("instrument_id", String(100), nullable=False),
    Column("side", String(8), nullable=False),  # LONG | SHORT
    Column("quantity", String(32), nullable=False),
    Column("entry_ns", BigInteger, nullable=False),
    Column("exit_ns", BigInteger, nullable=False),
    Column("entry_price", String(32), nullable=False),
    Column("exit_price", String(32), nullable=False),
    Column("gross_pnl_cents", BigInteger, nullable=False),
    Column("fees_cents", BigInteger, nullable=False),
    Column("net_pnl_cents", BigInteger, nullable=False),
    Column("entry_z", Float),  # a z-score, not money
    Column("exit_reason", String(20), nullable=False),  # one of EXIT_REASONS
    Column("trading_day", String(10), nullable=False),  # of the exit
    Column("found_at_reconciliation", Boolean, nullable=False, default=False),
    UniqueConstraint("book", "trade_key", name="uq_trades_key"),
    Index("ix_trades_book_exit", "book", "exit_ns"),
    Index("ix_trades_book_day", "book", "trading_day"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("book", String(200), nullable=False),
    Column("client_order_id", String(100), nullable=False),
    Column("venue_order_id", String(100)),
    Column("parent_order_id", String(100)),  # bracket children point at their entry
    Column("instrument_id", String(100), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(24), nullable=False),
    Column("quantity", String(32), nullable=False),
    Column("price", String(32)),
    Column("trigger_price", String(32)),
    Column("tags", Text),
    Column("fate", String(16), nullable=False),  # one of ORDER_FATES, the latest
    Column("reason", Text),  # why rejected/denied/cancelled, when known
    Column("ts_init_ns", BigInteger, nullable=False),
    Column("ts_last_ns", BigInteger, nullable=False),
    UniqueConstraint("book", "client_order_id", name="uq_orders_key"),
    Index("ix_orders_book_ts", "book", "ts_init_ns"),
)

breaker_events = Table(
    "breaker_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("book", String(200), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("rule", String(32), nullable=False),  # quant_scalper.risk.Rule values
    Column("kind", String(8), nullable=False),  # "trip" | "reset"
    Column("reason", Text, nullable=False),
    Column("trading_day", String(10), nullable=False),
    UniqueConstraint("book", "ts_ns", "rule", "kind", name="uq_breaker_events_key"),
    Index("ix_breaker_events_book_ts", "book", "ts_ns"),
)

equity_marks = Table(
    "equity_marks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("book", String(200), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),  # floored to the minute: at most one a minute
    Column("realized_cents", BigInteger, nullable=False),  # cumulative net, since book start
    Column("open_cents", BigInteger, nullable=False),  # open P&L at the mark
    Column("trading_day", String(10), nullable=False),
    UniqueConstraint("book", "ts_ns", name="uq_equity_marks_key"),
)

node_events = Table(
    "node_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("book", String(200), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # one of NODE_EVENT_KINDS
    Column("detail", Text, nullable=False, default=""),
    UniqueConstraint("book", "ts_ns", "kind", name="uq_node_events_key"),
)

node_status = Table(
    "node_status",
    metadata,
    Column("book", String(200), primary_key=True),
    Column("updated_at_ns", BigInteger, nullable=False),
    # JSON text: {"running", "connected", "positions": [...], "orders": [...],
    #             "risk": {...}, "last_bar_ns", "latency": {...}} (see journal.recorder)
    Column("payload", Text, nullable=False),
)
