"""The journal recorder: a Nautilus ``Actor`` that writes what the node does to the journal.

It listens on the message bus (order and position events, circuit-breaker trips, connection
changes), builds rows with ``journal.rows`` and hands them to a ``JournalWriter``, whose queue
never blocks: the recorder adds no wait to an order's path, and a failing database only costs
journal rows (buffered, then counted when the buffer is full), never trading. Every handler
catches its own errors and logs them: the recorder never raises into Nautilus.

Live, it also upserts a ``node_status`` snapshot every ``status_interval_secs`` (positions,
working orders, the risk state file's figures, last bar age), an equity mark at most once a
minute, and at start writes what the cache has that the journal lacks (fills and round trips
learned in reconciliation, e.g. during a journal or node outage), marked
``found_at_reconciliation``.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import (
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    PositionClosed,
)
from sqlalchemy import select

from quant_scalper.journal import rows, schema
from quant_scalper.journal.db import connect_journal, open_journal
from quant_scalper.journal.errors import JournalError, JournalUnavailableError
from quant_scalper.journal.writer import JournalWriter
from quant_scalper.node_thread import node_loop, on_loop
from quant_scalper.order_view import order_view
from quant_scalper.parameters import default
from quant_scalper.risk.model import Trip
from quant_scalper.risk.session import SessionSchedule, parse_clock_range, parse_clock_time
from quant_scalper.topics import CONNECTION_TOPIC, RISK_TRIP_TOPIC


class JournalRecorderConfig(ActorConfig, frozen=True):
    """
    Configuration for ``JournalRecorder``.

    Parameters
    ----------
    url : str
        The journal: a file path, ``sqlite:///path`` or ``postgresql+psycopg://user@host/db``.
    book : str
        Whose rows: ``live:<trader_id>`` or ``backtest:<run_id>``.
    kind : str, default "live"
        ``live`` (writer thread, status snapshots, reconciliation at start) or ``backtest``
        (rows written inline in batches, the rest at the end).
    password_env : str, optional
        The environment variable holding the database password.
    buffer_rows : int, default 100000
        Rows kept while the database is down; beyond that rows are dropped and counted.
    status_interval_secs : float, default 5.0
        How often the ``node_status`` snapshot is upserted (live).
    config_hash, config_path, instrument_id, account_size_cents
        The ``runs`` row's figures.
    risk_state_dir : str, optional
        Read the strategy's risk state file from here for the status snapshot.
    daily_loss_limit_cents : int, optional
        The daily loss limit, shown beside the day's P&L in the status snapshot (dashboard).
    session_halt, session_open, session_tz, session_breaks, session_always_open
        The session schedule the trading day is computed with (the strategy's).

    """

    url: str
    book: str
    kind: str = "live"
    password_env: str | None = None
    buffer_rows: int = 100_000
    status_interval_secs: float = 5.0
    config_hash: str = ""
    config_path: str | None = None
    instrument_id: str | None = None
    account_size_cents: int | None = None
    risk_state_dir: str | None = None
    daily_loss_limit_cents: int | None = None
    session_halt: str = default("session_halt")
    session_open: str = default("session_open")
    session_tz: str = default("session_tz")
    session_breaks: tuple[str, ...] = default("session_breaks")
    session_always_open: bool = default("session_always_open")


class JournalRecorder(Actor):
    """Writes fills, round trips, orders, trips, marks, node events and status to the journal."""

    def __init__(self, config: JournalRecorderConfig) -> None:
        super().__init__(config)
        self.book = config.book
        self.writer: JournalWriter | None = None
        self._schedule = SessionSchedule(
            halt_start=parse_clock_time("session_halt", config.session_halt),
            session_open=parse_clock_time("session_open", config.session_open),
            tz=config.session_tz,
            breaks=tuple(parse_clock_range(b) for b in config.session_breaks),
            always_open=config.session_always_open,
        )
        self._marker = rows.EquityMarker(config.book)
        self._live = config.kind == "live"
        self._last_bar_ns: int | None = None
        self._connected: bool | None = None
        self._loop = None
        self._started_ns = 0
        # what the journal knows of orders from before a restart (a reconciled order lost
        # its parent and tags in the cache): client order id -> (parent, order type, tags)
        self._known_orders: dict[str, tuple[str | None, str, list[str]]] = {}
        # a position open at a restart, as the journal had it: instrument -> (first fill ns,
        # its fills' commissions); Nautilus re-creates it from one inferred fill without fees
        self._open_legs: dict[str, tuple[int, Decimal]] = {}
        self._journal_net: dict[str, Decimal] = {}
        self._leg_fills: dict[str, list[dict]] = {}  # the journal's fills of open positions
        self._known_children: dict[str, tuple[str | None, tuple[str, str | None], list]] = {}
        self.errors = 0

    queue_name = "journal"  # the health actor exports queue_depth() under this name

    def queue_depth(self) -> tuple[int, int] | None:
        """(rows not yet written, rows dropped) for metrics; None while no writer runs."""
        writer = self.writer
        return None if writer is None else (writer.pending(), writer.stats.dropped)

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        """Open the journal, start the writer, record the start, subscribe and reconcile."""
        try:
            self._open()
        except JournalError as exc:
            self.log.error(f"Trade journal disabled: {exc}")
            return
        self._started_ns = self.clock.timestamp_ns()
        self._put("runs", self._run_row(None))
        self._put(
            "node_events", rows.node_event_row(self.book, ts_ns=self._started_ns, kind="start")
        )
        bus = self.msgbus
        bus.subscribe("events.order.*", self._on_order_event)
        bus.subscribe("events.position.*", self._on_position_event)
        bus.subscribe(RISK_TRIP_TOPIC, self._on_trip)
        bus.subscribe(CONNECTION_TOPIC, self._on_connection)
        if self._live:
            bus.subscribe("data.bars.*", self._on_bar)
            self._loop = node_loop(self.clock)
            self._guarded(self._reconcile)
            self.clock.set_timer(
                f"journal-status-{self.id}",
                timedelta(seconds=self.config.status_interval_secs),
                callback=on_loop(self._loop, lambda _: self._guarded(self._on_status_timer)),
            )
            self._guarded(self._write_status)

    def on_stop(self) -> None:
        """Record the stop, a last status snapshot and drain the writer."""
        if self.writer is None:
            return
        now = self.clock.timestamp_ns()
        self._guarded(self._mark)
        self._put("node_events", rows.node_event_row(self.book, ts_ns=now, kind="stop"))
        self._put("runs", self._run_row(now))
        if self._live:
            self._guarded(lambda: self._write_status(running=False))
        writer, self.writer = self.writer, None
        if not writer.close(timeout=10.0 if self._live else 60.0):
            self.log.error(
                f"Trade journal {writer.journal.display}: {writer.pending()} rows not written "
                f"at stop ({writer.stats.last_error or 'the database did not answer in time'})"
            )
        self._log_notices(writer)
        if writer.stats.dropped:
            self.log.error(
                f"Trade journal {writer.journal.display}: {writer.stats.dropped} rows were dropped "
                "(buffer full while the database was down)"
            )

    def _open(self) -> None:
        cfg = self.config
        if self._live:
            try:  # a refused journal (newer, corrupt) is reported now; a down database later
                journal = open_journal(cfg.url, cfg.password_env)
            except JournalUnavailableError as exc:
                self.log.warning(f"Trade journal not reachable at start, buffering: {exc}")
                journal = connect_journal(cfg.url, cfg.password_env)
        else:
            journal = open_journal(cfg.url, cfg.password_env)
        self.writer = JournalWriter(
            journal,
            buffer_rows=cfg.buffer_rows,
            threaded=self._live,
            on_drop=self.log.error,
        )
        self.writer.start()
        self._marker.realized_cents = self._realized_so_far()

    def _realized_so_far(self) -> int:
        """The book's realized net P&L already journaled (a restart continues the curve)."""
        if self.writer is None:
            return 0
        t = schema.trades
        try:
            with self.writer.journal.engine.connect() as conn:
                rows_ = conn.execute(
                    select(t.c.net_pnl_cents).where(t.c.book == self.book)
                ).scalars()
                return sum(rows_)
        except Exception as exc:
            self.log.warning(f"Trade journal: realized P&L so far unknown ({type(exc).__name__})")
            return 0

    # -- handlers ----------------------------------------------------------------------------

    def _guarded(self, fn, *args: Any) -> None:
        """Run a handler; log any error and carry on (never raise into Nautilus)."""
        try:
            fn(*args)
        except Exception as exc:
            self.errors += 1
            self.log.error(f"Trade journal recorder: {type(exc).__name__}: {exc}")

    def _put(self, table: str, row: dict | None) -> None:
        if row is not None and self.writer is not None:
            self.writer.put(table, row)

    def _on_order_event(self, event: OrderEvent) -> None:
        self._guarded(self._order_event, event)

    def _on_position_event(self, event: Any) -> None:
        self._guarded(self._position_event, event)

    def _on_trip(self, trip: Trip) -> None:
        self._guarded(self._trip, trip)

    def _on_connection(self, message: dict) -> None:
        self._guarded(self._connection, message)

    def _on_bar(self, bar: Any) -> None:
        self._last_bar_ns = bar.ts_event

    def _order_event(self, event: OrderEvent) -> None:
        order = self.cache.order(event.client_order_id)
        if order is not None:
            reason = None
            if isinstance(event, OrderRejected | OrderDenied):
                reason = str(event.reason)
            elif isinstance(event, OrderCanceled | OrderExpired):
                reason = type(event).__name__.removeprefix("Order").lower()
            self._put("orders", self._order_row(order, event.ts_event, reason))
        if isinstance(event, OrderFilled):
            self._put("fills", self._fill_row(event))

    def _position_event(self, event: Any) -> None:
        if isinstance(event, PositionClosed):
            row = self._trade_row(event, self.cache.position(event.position_id))
            if row is not None:
                self._put("trades", row)
                self._marker.book_trade(row["net_pnl_cents"])
        self._mark()

    def _trip(self, trip: Trip) -> None:
        ts = int(trip.at.timestamp() * 1_000_000) * 1_000
        self._put(
            "breaker_events",
            rows.breaker_row(
                self.book,
                ts_ns=ts,
                rule=str(trip.rule.value),
                reason=trip.reason,
                day=rows.trading_day(self._schedule, ts),
            ),
        )

    def _connection(self, message: dict) -> None:
        connected = bool(message.get("connected"))
        if connected == self._connected:
            return
        self._connected = connected
        self._put(
            "node_events",
            rows.node_event_row(
                self.book,
                ts_ns=self.clock.timestamp_ns(),
                kind="connected" if connected else "disconnected",
                detail=str(message.get("detail", "")),
            ),
        )

    def _on_status_timer(self) -> None:
        self._mark()
        self._write_status()
        if self.writer is not None:
            self._log_notices(self.writer)

    def _log_notices(self, writer: JournalWriter) -> None:
        for notice in writer.drain_notices():
            self.log.warning(f"Trade journal: {notice}")

    # -- rows from Nautilus objects ----------------------------------------------------------

    def _fill_row(self, fill: OrderFilled, found: bool = False) -> dict:
        commission = fill.commission.as_decimal() if fill.commission is not None else Decimal(0)
        return rows.fill_row(
            self.book,
            trade_id=str(fill.trade_id),
            client_order_id=str(fill.client_order_id),
            venue_order_id=str(fill.venue_order_id) if fill.venue_order_id else None,
            position_id=str(fill.position_id) if fill.position_id else None,
            instrument_id=str(fill.instrument_id),
            side=fill.order_side.name,
            quantity=str(fill.last_qty),
            price=str(fill.last_px),
            commission=commission,
            ts_event_ns=fill.ts_event,
            day=rows.trading_day(self._schedule, fill.ts_event),
            found_at_reconciliation=found,
        )

    def _order_row(self, order: Any, ts_last: int, reason: str | None) -> dict:
        price = getattr(order, "price", None)
        trigger = getattr(order, "trigger_price", None)
        return rows.order_row(
            self.book,
            client_order_id=str(order.client_order_id),
            venue_order_id=str(order.venue_order_id) if order.venue_order_id else None,
            parent_order_id=str(order.parent_order_id) if order.parent_order_id else None,
            instrument_id=str(order.instrument_id),
            side=order.side.name,
            order_type=order.order_type.name,
            quantity=str(order.quantity),
            price=str(price) if price is not None else None,
            trigger_price=str(trigger) if trigger is not None else None,
            tags=[str(t) for t in order.tags] if order.tags else None,
            status=order.status.name,
            reason=reason,
            ts_init_ns=order.ts_init,
            ts_last_ns=ts_last,
        )

    def _trade_row(self, closed: Any, position: Any, found: bool = False) -> dict | None:
        """A round trip from a ``PositionClosed`` event (or a closed position) and its position."""
        if position is None:
            return None
        fees = sum((m.as_decimal() for m in position.commissions()), Decimal(0))
        net = closed.realized_pnl.as_decimal()
        entry_ns = closed.ts_opened
        first = next((e for e in position.events if isinstance(e, OrderFilled)), None)
        leg = self._open_legs.get(str(closed.instrument_id))
        if first is not None and first.reconciliation and leg is not None:
            # opened by Nautilus's inferred fill at a restart: the journal has the real entry
            del self._open_legs[str(closed.instrument_id)]
            entry_ns = leg[0]
            fees += leg[1]
            net -= leg[1]
        reason = rows.exit_reason(*self._order_facts(closed.closing_order_id))
        z = rows.entry_z(self._order_facts(closed.opening_order_id)[0])
        return rows.trade_row(
            self.book,
            closing_trade_id=str(position.last_trade_id),
            position_id=str(closed.id if hasattr(closed, "is_closed") else closed.position_id),
            instrument_id=str(closed.instrument_id),
            long=closed.entry == OrderSide.BUY,
            quantity=str(closed.peak_qty),
            entry_ns=entry_ns,
            exit_ns=closed.ts_closed,
            entry_price=self._price_text(closed.instrument_id, closed.avg_px_open),
            exit_price=self._price_text(closed.instrument_id, closed.avg_px_close),
            net_pnl=net,
            fees=fees,
            z=z,
            reason=reason,
            day=rows.trading_day(self._schedule, closed.ts_closed),
            found_at_reconciliation=found,
        )

    def _order_facts(self, client_order_id: Any) -> tuple[list[str] | None, bool, str | None]:
        """An order's tags, whether it is a bracket child, its type: from the cache, else from
        what the journal knew before a restart."""
        order = self.cache.order(client_order_id) if client_order_id else None
        tags = [str(t) for t in order.tags] if order is not None and order.tags else None
        child = order is not None and order.parent_order_id is not None
        kind = order.order_type.name if order is not None else None
        known = self._known_orders.get(str(client_order_id))
        if known is not None and not tags and not child:
            parent, kind, tags = known[0], known[1], known[2] or None
            child = parent is not None
        return tags, child, kind

    def _price_text(self, instrument_id: Any, value: float) -> str:
        """An average price as decimal text (at the instrument's precision, plus 2 digits for
        averages of several fills)."""
        instrument = self.cache.instrument(instrument_id)
        exact = Decimal(str(value))
        if instrument is None:
            return str(exact)
        rounded = Decimal(str(instrument.make_price(value)))
        return str(rounded) if rounded == exact else str(exact)

    def _run_row(self, ended_ns: int | None) -> dict:
        cfg = self.config
        return rows.run_row(
            self.book,
            kind=cfg.kind,
            trader_id=self.trader_id.value,
            config_hash=cfg.config_hash,
            config_path=cfg.config_path,
            instrument_id=cfg.instrument_id,
            account_size_cents=cfg.account_size_cents,
            started_at_ns=self._started_ns,
            ended_at_ns=ended_ns,
        )

    def _open_cents(self) -> int:
        total = Decimal(0)
        for instrument_id in {p.instrument_id for p in self.cache.positions_open()}:
            pnl = self.portfolio.unrealized_pnl(instrument_id)
            if pnl is not None:
                total += pnl.as_decimal()
        return rows.cents(total)

    def _mark(self) -> None:
        now = self.clock.timestamp_ns()
        mark = self._marker.mark(now, self._open_cents(), rows.trading_day(self._schedule, now))
        self._put("equity_marks", mark)

    # -- live only ---------------------------------------------------------------------------

    def _write_status(self, running: bool = True) -> None:
        now = self.clock.timestamp_ns()
        payload = {
            "running": running,
            "connected": self._connected,
            "positions": [
                {
                    "instrument_id": str(p.instrument_id),
                    "side": p.side.name,
                    "quantity": str(p.quantity),
                    "avg_px_open": self._price_text(p.instrument_id, p.avg_px_open),
                    "ts_opened_ns": p.ts_opened,
                    "position_id": str(p.id),
                    "open_pnl_cents": rows.cents(
                        (self.portfolio.unrealized_pnl(p.instrument_id) or _zero()).as_decimal()
                    ),
                }
                for p in self.cache.positions_open()
            ],
            "orders": [order_view(o) for o in self.cache.orders_open()],
            "risk": self._risk(),
            "last_bar_ns": self._last_bar_ns,
            "last_bar_age_secs": None
            if self._last_bar_ns is None
            else round((now - self._last_bar_ns) / 1e9, 1),
            "journal": self._journal_health(),
        }
        self._put("node_status", rows.status_row(self.book, ts_ns=now, payload=payload))

    def _journal_health(self) -> dict:
        if self.writer is None:
            return {}
        s = self.writer.stats
        return {"written": s.written, "dropped": s.dropped, "failing": s.failing}

    def _risk(self) -> dict | None:
        if self.config.risk_state_dir is None:
            return None
        from quant_scalper.risk.state_store import RiskStateError, RiskStateStore

        try:
            state = RiskStateStore(self.config.risk_state_dir, self.trader_id.value).load()
        except RiskStateError as exc:
            return {"error": str(exc)}
        if state is None:
            return None
        return {
            "trading_day": state.trading_day.isoformat() if state.trading_day else None,
            "day_pnl_cents": rows.cents(state.daily_pnl),
            "realized_cents": rows.cents(state.realized_pnl),
            "open_cents": rows.cents(state.open_pnl),
            "consecutive_losses": state.consecutive_losses,
            "trades_today": state.trades_today,
            "paused_until": state.paused_until.isoformat() if state.paused_until else None,
            "daily_limit_hit": state.daily_limit_hit,
            "halted": state.halted,
            "halt_reason": state.halt_reason,
            "daily_loss_limit_cents": self.config.daily_loss_limit_cents,
        }

    def _reconcile(self) -> None:
        """Write the cache's fills and closed round trips that the journal lacks (found at
        reconciliation: an outage of the journal or of the node)."""
        if self.writer is None:
            return
        try:
            fill_keys, trade_keys = self._journal_keys()
        except Exception as exc:
            self.log.warning(
                f"Trade journal: reconciliation skipped, the journal is not readable "
                f"({type(exc).__name__}); fills the node learned at start may be missing"
            )
            return
        added_fills = added_trades = 0
        for order in self.cache.orders():
            for event in order.events:
                key = (str(getattr(event, "trade_id", "")), str(event.client_order_id))
                if not isinstance(event, OrderFilled) or key in fill_keys:
                    continue
                if event.reconciliation and self._journal_holds(event.instrument_id):
                    # Nautilus inferred this fill for a position it found at the venue without
                    # the order (no cache database); the journal has that position's real
                    # fills from before the restart: writing it would count the entry twice
                    continue
                fill_keys.add(key)
                self._put("fills", self._fill_row(event, found=True))
                added_fills += 1
        positions = list(self.cache.position_snapshots()) + [
            p for p in self.cache.positions() if p.is_closed
        ]
        for position in positions:
            key = rows.trade_key(str(position.last_trade_id), position.ts_closed)
            if key in trade_keys:
                continue
            row = self._trade_row(position, position, found=True)
            if row is not None:
                trade_keys.add(key)
                self._put("trades", row)
                self._marker.book_trade(row["net_pnl_cents"])
                added_trades += 1
        outside_fills, outside_trades = self._reconcile_outside(fill_keys, trade_keys)
        added_fills += outside_fills
        added_trades += outside_trades
        self._put(
            "node_events",
            rows.node_event_row(
                self.book,
                ts_ns=self.clock.timestamp_ns(),
                kind="reconciled",
                detail=f"{added_fills} fills and {added_trades} trades found at reconciliation",
            ),
        )
        if added_fills or added_trades:
            self.log.warning(
                f"Trade journal: {added_fills} fills and {added_trades} round trips the journal "
                "lacked were added from the node's cache (found at reconciliation)"
            )

    def _reconcile_outside(
        self, fill_keys: set[tuple[str, str]], trade_keys: set[str]
    ) -> tuple[int, int]:
        """Executions IB reported before the start (``quant-scalper live`` writes them to the
        risk state's fills folder) that the journal lacks: a close while the node was down.
        Written as fills, and with the journal's open leg as a round trip, when they end flat."""
        if self.config.risk_state_dir is None:
            return 0, 0
        from quant_scalper.risk.fill_journal import FillJournal

        known_ids = {trade_id for trade_id, _ in fill_keys}
        added = trades = 0
        outside = FillJournal(self.config.risk_state_dir, self.trader_id.value).pending()
        for instrument_id, leg in list(self._leg_fills.items()):
            if self.portfolio.net_position(self._instrument_id(instrument_id)) != 0:
                continue  # still open at the venue: nothing closed it while we were away
            symbol = instrument_id.split(".")[0]
            start = leg[0]["ts_event_ns"]
            instrument = self.cache.instrument(self._instrument_id(instrument_id))
            new = []
            for ext in outside:
                ts = int(ext.at.timestamp() * 1_000_000) * 1_000
                if ext.symbol != symbol or ext.exec_id in known_ids or ts < start:
                    continue
                known_ids.add(ext.exec_id)
                row = rows.fill_row(
                    self.book,
                    trade_id=ext.exec_id,
                    client_order_id=f"EXTERNAL-{ext.exec_id}",
                    venue_order_id=None,
                    position_id=leg[-1].get("position_id"),
                    instrument_id=instrument_id,
                    side="BUY" if ext.buy else "SELL",
                    quantity=str(ext.quantity),
                    price=str(instrument.make_price(ext.price)) if instrument else str(ext.price),
                    commission=ext.commission,
                    ts_event_ns=ts,
                    day=rows.trading_day(self._schedule, ts),
                    found_at_reconciliation=True,
                )
                self._put("fills", row)
                new.append(row)
                added += 1
            if not new:
                continue
            multiplier = instrument.multiplier.as_decimal() if instrument is not None else None
            trade = None
            if multiplier is not None:
                trade = rows.round_trip_from_fills(
                    self.book,
                    instrument_id=instrument_id,
                    fills=leg + new,
                    multiplier=multiplier,
                    reason=self._outside_reason(new[-1]),
                    z=rows.entry_z(
                        self._known_orders.get(leg[0]["client_order_id"], (None, "", []))[2]
                    ),
                    day=rows.trading_day(self._schedule, new[-1]["ts_event_ns"]),
                )
            if trade is not None and trade["trade_key"] not in trade_keys:
                trade_keys.add(trade["trade_key"])
                self._put("trades", trade)
                self._marker.book_trade(trade["net_pnl_cents"])
                trades += 1
            self._open_legs.pop(instrument_id, None)
        return added, trades

    def _outside_reason(self, fill: dict) -> str:
        """A close made while the node was down: the bracket child it matches by price."""
        for parent, kind, _tags in self._known_children.values():
            if parent is None:
                continue
            if kind[0] == "STOP_MARKET" and kind[1] == fill["price"]:
                return "stop"
            if kind[0] == "LIMIT" and kind[1] == fill["price"]:
                return "target"
        return "external"

    @staticmethod
    def _instrument_id(text: str) -> Any:
        from nautilus_trader.model.identifiers import InstrumentId

        return InstrumentId.from_str(text)

    def _journal_holds(self, instrument_id: Any) -> bool:
        """True when the journal's fills net to the cache's position in ``instrument_id``."""
        net = self._journal_net.get(str(instrument_id), Decimal(0))
        return net == Decimal(str(self.portfolio.net_position(instrument_id)))

    def _journal_keys(self) -> tuple[set[tuple[str, str]], set[str]]:
        assert self.writer is not None
        f, t, o = schema.fills, schema.trades, schema.orders
        fills: set[tuple[str, str]] = set()
        self._journal_net = {}
        self._leg_fills = {}
        legs: dict[str, tuple[int, Decimal]] = {}
        with self.writer.journal.engine.connect() as conn:
            for r in conn.execute(
                select(f).where(f.c.book == self.book).order_by(f.c.ts_event_ns, f.c.id)
            ):
                sign = 1 if r.side == "BUY" else -1
                fills.add((r.trade_id, r.client_order_id))
                before = self._journal_net.get(r.instrument_id, Decimal(0))
                after = before + sign * Decimal(r.quantity)
                self._journal_net[r.instrument_id] = after
                fee = Decimal(r.commission_cents) / 100
                if before == 0:
                    legs[r.instrument_id] = (r.ts_event_ns, fee)
                    self._leg_fills[r.instrument_id] = []
                elif r.instrument_id in legs:
                    first_ns, fees = legs[r.instrument_id]
                    legs[r.instrument_id] = (first_ns, fees + fee)
                self._leg_fills.setdefault(r.instrument_id, []).append(dict(r._mapping))
                if after == 0:
                    legs.pop(r.instrument_id, None)
                    self._leg_fills.pop(r.instrument_id, None)
            self._open_legs = legs
            entries = [leg[0]["client_order_id"] for leg in self._leg_fills.values()]
            self._known_children = {}
            if entries:
                for r in conn.execute(
                    select(o).where(o.c.book == self.book).where(o.c.parent_order_id.in_(entries))
                ):
                    price = r.trigger_price if r.order_type == "STOP_MARKET" else r.price
                    self._known_children[r.client_order_id] = (
                        r.parent_order_id,
                        (r.order_type, price),
                        [],
                    )
            wanted = [str(order.client_order_id) for order in self.cache.orders()] + entries
            if wanted:
                for r in conn.execute(
                    select(o.c.client_order_id, o.c.parent_order_id, o.c.order_type, o.c.tags)
                    .where(o.c.book == self.book)
                    .where(o.c.client_order_id.in_(wanted))
                ):
                    tags = r.tags.split(",") if r.tags else []
                    self._known_orders[r.client_order_id] = (r.parent_order_id, r.order_type, tags)
            trades = set(conn.execute(select(t.c.trade_key).where(t.c.book == self.book)).scalars())
        return fills, trades


def _zero():
    from nautilus_trader.model.objects import Money

    return Money(0, "USD")
