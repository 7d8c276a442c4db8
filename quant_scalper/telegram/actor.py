"""The Telegram actor: alerts out, operator commands in, never in the way of trading.

Everything that can block (HTTP) runs on two daemon threads: the ``Outbox`` sender and the
``UpdatePoller``. The actor itself runs on the node's thread like any Nautilus component: its
message-bus handlers only format a text and append it to the outbox (a lock and a deque), and a
callback rescheduled on the node's event loop drains what the poller fetched, so commands reach
the strategy by a message-bus publish on the loop's thread, never from a foreign thread. (Not a
Nautilus clock timer: in 1.231 ``LiveClock`` runs timer callbacks on Rust-owned threads; the
heartbeat and daily-summary timers hop to the loop with ``call_soon_threadsafe``.)

In a backtest (a test clock) nothing is sent: the actor is off, or with ``record_path`` it
appends every alert as a JSON line to that file, synchronously and deterministically.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import ActorConfig, NonNegativeInt, PositiveInt
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import (
    OrderCancelRejected,
    OrderDenied,
    OrderModifyRejected,
    OrderRejected,
    PositionClosed,
    PositionOpened,
)

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.node_thread import node_loop
from quant_scalper.risk import (
    RiskState,
    RiskStateError,
    RiskStateStore,
    SessionSchedule,
    Trip,
    parse_clock_time,
)
from quant_scalper.telegram import formatting as fmt
from quant_scalper.telegram.client import DEFAULT_API_URL, TelegramClient, Update
from quant_scalper.telegram.commands import (
    HELP_TEXT,
    CommandError,
    Confirm,
    ConfirmationGate,
    Verb,
    parse_command,
)
from quant_scalper.telegram.errors import TelegramConfigError
from quant_scalper.telegram.outbox import Outbox, OutboxEvent
from quant_scalper.telegram.poller import UpdatePoller
from quant_scalper.telegram.throttle import ErrorThrottle
from quant_scalper.topics import (
    CONNECTION_TOPIC,
    CONTROL_RESULT_TOPIC,
    CONTROL_TOPIC,
    HEALTH_ALERT_TOPIC,
    HEALTH_TOPIC,
    RISK_TRIP_TOPIC,
    TRADING_STATE_TOPIC,
)

MODES = ("auto", "send", "record", "off")


class TelegramAlertsConfig(ActorConfig, frozen=True):
    """
    Configuration of ``TelegramAlerts``. Secrets are never in it: the token and the alert chat
    come from environment variables (so the config can be logged).

    Parameters
    ----------
    mode : str, default "auto"
        "auto": send on a live clock, off in backtests (or record when ``record_path`` is set);
        "send", "record" (to ``record_path``) or "off".
    api_url : str, default "https://api.telegram.org"
        The Bot API root (a proxy or a test peer).
    token_env : str, default "TELEGRAM_BOT_TOKEN"
        The environment variable holding the bot token.
    chat_id_env : str, default "TELEGRAM_CHAT_ID"
        The environment variable holding the alert chat id (comma-separated for several; the
        first gets alerts, all may send commands).
    allowed_chat_ids : tuple[int, ...], default ()
        More chats allowed to send commands (replies go to the sender).
    record_path : str, optional
        A JSON-lines file that receives every alert instead of (mode "record"/backtests) Telegram.
    commands : bool, default True
        Poll for commands (getUpdates); False for alerts only.
    request_timeout_secs : float, default 10
        Timeout of one HTTP request.
    poll_wait_secs : int, default 25
        Long-poll wait of one getUpdates.
    queue_capacity : int, default 500
        Messages the outbox holds during an outage before it drops the oldest.
    max_backoff_secs : float, default 60
        Longest wait between retries.
    confirm_secs : int, default 30
        Window for /confirm after /flatten.
    max_command_age_secs : int, default 120
        Commands older than this (sent while the node was down) are refused, not run.
    tick_ms : int, default 250
        How often the node's thread drains fetched commands and the threads' news.
    heartbeat_minutes : int, optional
        Send a heartbeat this often (None: off).
    daily_summary : bool, default True
        Send the day's summary at the CME session close (``session_halt``).
    stale_data_secs : int, optional, default 120
        Alert when no quote or bar arrived for this long while the market is open.
    error_dedup_secs : int, default 300
        The same error is sent at most once in this many seconds.
    errors_per_minute : int, default 5
        At most this many error alerts a minute.
    stop_flush_secs : float, default 3
        At node stop, wait up to this long for queued alerts to go out.
    session_halt, session_open, session_tz : str
        The CME session (as the strategy's ``risk:``): summary time and trading-day roll.
    session_always_open : bool, default False
        No halts (sandbox replays): no daily summary alert, no stale-data check outside tests.
    risk_state_dir : str, optional
        The strategy's ``risk.state_dir``: /status reads the breakers' state file from it.

    """

    mode: str = "auto"
    api_url: str = DEFAULT_API_URL
    token_env: str = "TELEGRAM_BOT_TOKEN"
    chat_id_env: str = "TELEGRAM_CHAT_ID"
    allowed_chat_ids: tuple[int, ...] = ()
    record_path: str | None = None
    commands: bool = True
    request_timeout_secs: float = 10.0
    poll_wait_secs: NonNegativeInt = 25
    queue_capacity: PositiveInt = 500
    max_backoff_secs: float = 60.0
    confirm_secs: PositiveInt = 30
    max_command_age_secs: PositiveInt = 120
    tick_ms: PositiveInt = 250
    heartbeat_minutes: PositiveInt | None = None
    daily_summary: bool = True
    stale_data_secs: PositiveInt | None = 120
    error_dedup_secs: NonNegativeInt = 300
    errors_per_minute: PositiveInt = 5
    stop_flush_secs: float = 3.0
    session_halt: str = "16:00"
    session_open: str = "17:00"
    session_tz: str = "America/Chicago"
    session_always_open: bool = False
    risk_state_dir: str | None = None
    journal_url: str | None = None
    journal_password_env: str | None = None
    journal_book: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise TelegramConfigError(
                f"telegram.mode must be one of {', '.join(MODES)}, was {self.mode!r}"
            )
        if self.mode == "record" and not self.record_path:
            raise TelegramConfigError("telegram.mode 'record' needs telegram.record_path")
        for key in ("request_timeout_secs", "max_backoff_secs"):
            if getattr(self, key) <= 0:
                raise TelegramConfigError(f"telegram.{key} must be > 0, was {getattr(self, key)}")
        if self.stop_flush_secs < 0:
            raise TelegramConfigError(
                f"telegram.stop_flush_secs must be >= 0, was {self.stop_flush_secs}"
            )
        self.schedule()

    def schedule(self) -> SessionSchedule:
        """The CME session calendar used for the daily summary and the trading day."""
        return SessionSchedule(
            halt_start=parse_clock_time("telegram.session_halt", self.session_halt),
            session_open=parse_clock_time("telegram.session_open", self.session_open),
            tz=self.session_tz,
            always_open=self.session_always_open,
        )


def _guarded[**P](method: Callable[P, None]) -> Callable[P, None]:
    """Never let an alerting bug propagate into the publisher (often the strategy)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(*args, **kwargs)
        except Exception as exc:
            self = args[0]
            self.log.error(f"Telegram actor: {method.__name__} failed: {type(exc).__name__}: {exc}")

    return wrapper


def parse_chat_ids(text: str, where: str) -> tuple[int, ...]:
    """Comma-separated chat ids (groups are negative) as ints; raises TelegramConfigError."""
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.append(int(part))
        except ValueError:
            raise TelegramConfigError(
                f"{where} must hold numeric chat ids like 123456789 or -100123456789, "
                f"not {part!r}: ask @userinfobot or read getUpdates for your chat's id"
            ) from None
    return tuple(ids)


class TelegramAlerts(Actor):
    """Sends trading alerts to Telegram and relays operator commands to the strategy."""

    def __init__(self, config: TelegramAlertsConfig) -> None:
        super().__init__(config)
        self.mode = "off"
        self._schedule = config.schedule()
        self._outbox: Outbox | None = None
        self._poller: UpdatePoller | None = None
        self._clients: list[TelegramClient] = []
        self._record: Path | None = None
        self._alert_chat: int | None = None
        self._allowed: set[int] = set(config.allowed_chat_ids)
        self._ignored_chats: set[int] = set()
        self._gate = ConfirmationGate(config.confirm_secs)
        self._throttle = ErrorThrottle(
            dedup_secs=config.error_dedup_secs, max_per_window=config.errors_per_minute
        )
        self._trades: list[ClosedTrade] = []
        self._trading_state = "ACTIVE"
        self._last_data_ns = 0
        self._data_stalled = False
        self._connected: bool | None = None
        self._answered: list[str] = []
        self._warned: set[str] = set()
        self._timers: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._health: dict[str, Any] = {}  # the health actor's last summary, for /status

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        """Pick the mode, start the threads (live), subscribe, arm timers, announce the start."""
        self.mode = self._resolve_mode()
        self._loop = node_loop(self.clock)  # None in backtests, even inside a notebook's loop
        if self.mode == "off":
            self.log.info("Telegram alerts off (backtest or telegram.mode: off)")
            return
        if self.mode == "send" and not self._start_sending():
            self.mode = "off"
            return
        if self.mode == "record":
            self._record = Path(self.config.record_path).expanduser()
            self._record.parent.mkdir(parents=True, exist_ok=True)
        self._load_trades()
        self._load_journal_trades()
        self._subscribe()
        self._arm_timers()
        self._emit(f"node {self.trader_id} started ({self.mode})")

    def on_stop(self) -> None:
        """Announce the stop, cancel timers, flush the outbox for a bounded time, stop threads."""
        if self.mode == "off":
            return
        for name in self._timers:
            if name in self.clock.timer_names:
                self.clock.cancel_timer(name)
        self._timers.clear()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        day = fmt.summarize(self._period("day"))
        self._emit(f"node {self.trader_id} stopping; day P&L {fmt.usd(day.net_pnl)}")
        if self._poller is not None:
            self._poller.stop()
        if self._outbox is not None:
            stats = self._outbox.close(self.config.stop_flush_secs)
            self.log.info(
                f"Telegram: sent {stats.sent}, dropped {stats.dropped}, "
                f"undelivered at stop {stats.pending}"
            )
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._outbox = self._poller = None

    def _resolve_mode(self) -> str:
        mode = self.config.mode
        live = isinstance(self.clock, LiveClock)
        if mode == "auto":
            if live:
                return "send"
            return "record" if self.config.record_path else "off"
        if mode == "send" and not live:
            self.log.warning("Telegram mode 'send' ignored in a backtest: alerts are off")
            return "record" if self.config.record_path else "off"
        return mode

    def _start_sending(self) -> bool:
        """Read the secrets and start the threads; on a bad setup warn once and stay off."""
        cfg = self.config
        try:
            token = os.environ.get(cfg.token_env, "").strip()
            if not token:
                raise TelegramConfigError(
                    f"{cfg.token_env} is not set: export the bot token @BotFather gave you"
                )
            chats = parse_chat_ids(os.environ.get(cfg.chat_id_env, ""), cfg.chat_id_env)
            if not chats:
                raise TelegramConfigError(
                    f"{cfg.chat_id_env} is not set: set it to the chat id alerts go to"
                )
            send_client = TelegramClient(token, cfg.api_url, cfg.request_timeout_secs)
        except TelegramConfigError as exc:
            self.log.warning(f"Telegram alerts disabled, trading continues: {exc}")
            return False
        self._clients.append(send_client)
        self._alert_chat = chats[0]
        self._allowed.update(chats)
        self._outbox = Outbox(
            send_client.send_message,
            capacity=cfg.queue_capacity,
            max_backoff_secs=cfg.max_backoff_secs,
        )
        self._outbox.start()
        if cfg.commands:
            poll_client = TelegramClient(token, cfg.api_url, cfg.request_timeout_secs)
            self._clients.append(poll_client)
            self._poller = UpdatePoller(
                poll_client.get_updates, cfg.poll_wait_secs, cfg.max_backoff_secs
            )
            self._poller.start()
        self.log.info(
            f"Telegram alerts to chat {self._alert_chat} via {send_client!r}; commands "
            f"{'on' if cfg.commands else 'off'} for {len(self._allowed)} chat(s)"
        )
        return True

    def _subscribe(self) -> None:
        bus = self.msgbus
        bus.subscribe(RISK_TRIP_TOPIC, self._on_trip)
        bus.subscribe(CONTROL_RESULT_TOPIC, self._on_control_result)
        bus.subscribe(TRADING_STATE_TOPIC, self._on_trading_state)
        bus.subscribe(CONNECTION_TOPIC, self._on_connection)
        bus.subscribe(HEALTH_TOPIC, self._on_health)
        bus.subscribe(HEALTH_ALERT_TOPIC, self._on_health_alert)
        bus.subscribe("events.position.*", self._on_position_event)
        bus.subscribe("events.order.*", self._on_order_event)
        if self.config.stale_data_secs is not None:
            bus.subscribe("data.quotes.*", self._on_market_data)
            bus.subscribe("data.bars.*", self._on_market_data)

    def _arm_timers(self) -> None:
        cfg = self.config
        if self._loop is not None:
            self._schedule_tick()
        elif self._outbox is not None or self._poller is not None:
            self.log.warning("Telegram: no running event loop; commands run on clock timers")
            self._set_timer("telegram-tick", timedelta(milliseconds=cfg.tick_ms), self._on_tick)
        if cfg.heartbeat_minutes is not None:
            self._set_timer(
                "telegram-heartbeat", timedelta(minutes=cfg.heartbeat_minutes), self._on_heartbeat
            )
        if cfg.daily_summary and not cfg.session_always_open:
            self._arm_daily_summary()

    def _on_node_thread(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """Wrap a clock callback so it runs on the node's event-loop thread.

        Nautilus 1.231's ``LiveClock`` calls timer and time-alert callbacks on Rust-owned
        threads, not on the event loop that runs data and order events: hop over to the loop.
        In a backtest (no loop) the callback runs where it is called, on the engine's thread.
        """

        def hop(event: Any) -> None:
            loop = self._loop
            if loop is None:
                callback(event)
            elif not loop.is_closed():
                loop.call_soon_threadsafe(callback, event)

        return hop

    def _schedule_tick(self) -> None:
        self._tick_handle = self._loop.call_later(self.config.tick_ms / 1000, self._loop_tick)

    def _loop_tick(self) -> None:
        self._on_tick(None)
        if self._tick_handle is not None:
            self._schedule_tick()

    def _set_timer(self, name: str, interval: timedelta, callback: Callable) -> None:
        self.clock.set_timer(name, interval, callback=self._on_node_thread(callback))
        self._timers.append(name)

    def _arm_daily_summary(self) -> None:
        at = self._schedule.next_halt(self._now())
        self.clock.set_time_alert(
            "telegram-daily-summary",
            at,
            self._on_node_thread(self._on_session_close),
            override=True,
        )
        if "telegram-daily-summary" not in self._timers:
            self._timers.append("telegram-daily-summary")

    # -- output ------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=self.clock.timestamp_ns() // 1_000
        )

    def _emit(self, text: str, chat_id: int | None = None) -> None:
        """Queue a message (live) or record it (backtest); never blocks."""
        if self._outbox is not None:
            target = chat_id if chat_id is not None else self._alert_chat
            self._outbox.put(target, text)
        elif self._record is not None:
            line = {"ts": self._now().isoformat(), "chat_id": chat_id, "text": text}
            with self._record.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log.warning(message)
        else:
            self.log.info(message)

    # -- alerts ------------------------------------------------------------------------------

    @_guarded
    def _on_trip(self, trip: Trip) -> None:
        self._emit(fmt.trip_alert(trip))

    @_guarded
    def _on_trading_state(self, state: str) -> None:
        self._trading_state = str(state)

    @_guarded
    def _on_connection(self, message: dict[str, Any]) -> None:
        connected = bool(message.get("connected"))
        if connected == self._connected:
            return
        was, self._connected = self._connected, connected
        detail = str(message.get("detail") or "")
        if not connected:
            self._emit(f"CONNECTION LOST: {detail}".rstrip(": "))
        elif was is False:
            self._emit(f"CONNECTION RESTORED: {detail}".rstrip(": "))

    def _on_health(self, summary: dict[str, Any]) -> None:
        self._health = summary

    @_guarded
    def _on_health_alert(self, text: str) -> None:
        self._emit(f"HEALTH: {text}")

    def _on_market_data(self, data: object) -> None:
        self._last_data_ns = self.clock.timestamp_ns()

    @_guarded
    def _on_position_event(self, event: object) -> None:
        if isinstance(event, PositionOpened):
            position = self.cache.position(event.position_id)
            fees = _fees(position)
            side = "LONG" if event.entry == OrderSide.BUY else "SHORT"
            self._emit(
                fmt.entry_alert(
                    str(event.instrument_id),
                    side,
                    event.quantity.as_decimal(),
                    self._price(event.instrument_id, event.avg_px_open),
                    self._entry_z(event),
                    fees,
                )
            )
        elif isinstance(event, PositionClosed):
            trade = self._closed_trade(event, _fees(self.cache.position(event.position_id)))
            self._trades.append(trade)
            day = fmt.summarize(self._period("day")).net_pnl
            self._emit(fmt.exit_alert(trade, day))

    def _closed_trade(self, closed: Any, fees: Decimal) -> ClosedTrade:
        """A round trip from a ``PositionClosed`` event or a closed ``Position`` (same fields)."""
        return ClosedTrade(
            instrument_id=str(closed.instrument_id),
            side="LONG" if closed.entry == OrderSide.BUY else "SHORT",
            quantity=closed.peak_qty.as_decimal(),
            opened_at=_utc(closed.ts_opened),
            closed_at=_utc(closed.ts_closed),
            entry_price=self._price(closed.instrument_id, closed.avg_px_open),
            exit_price=self._price(closed.instrument_id, closed.avg_px_close),
            realized_pnl=closed.realized_pnl.as_decimal(),
            fees=fees,
        )

    def _load_journal_trades(self) -> None:
        """The trade journal's round trips of the last ~5 weeks (``/pnl week|month`` and
        ``/trades`` then cover the time before this start), read on a thread: a slow or dead
        database never holds the node; until it answers, the cache's trades are used."""
        cfg = self.config
        if cfg.journal_url is None or cfg.journal_book is None:
            return
        since = self.clock.timestamp_ns() - 40 * 86_400 * 10**9

        def work() -> None:
            from quant_scalper.journal.read import load_trades

            try:
                trades = load_trades(
                    cfg.journal_url, cfg.journal_book, since, cfg.journal_password_env
                )
            except Exception as exc:
                self.log.warning(f"Telegram: trade journal not read ({type(exc).__name__}: {exc})")
                return
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._merge_trades, trades)
            else:
                self._merge_trades(trades)

        if self._loop is None:
            work()
        else:
            threading.Thread(target=work, name="telegram-journal", daemon=True).start()

    def _merge_trades(self, trades: list[ClosedTrade]) -> None:
        """Add journal round trips; one per instrument and close time (the journal's wins)."""
        merged = {(t.instrument_id, t.closed_at): t for t in self._trades}
        merged.update({(t.instrument_id, t.closed_at): t for t in trades})
        self._trades = sorted(merged.values(), key=lambda t: t.closed_at)

    def _load_trades(self) -> None:
        """Round trips already in the cache (a cache database keeps them across restarts).

        A NETTING position id is reused when the book reopens: earlier round trips of it are
        the cache's position snapshots.
        """
        closed = list(self.cache.position_snapshots()) + list(self.cache.positions_closed())
        trades = [
            self._closed_trade(p, _fees(p))
            for p in closed
            if p.ts_closed and p.realized_pnl is not None
        ]
        self._trades = sorted(set(trades), key=lambda t: t.closed_at)

    def _price(self, instrument_id: object, value: float) -> Decimal:
        """An average fill price at the instrument's precision (3990.00, not 3990.0)."""
        instrument = self.cache.instrument(instrument_id)
        if instrument is None:
            return Decimal(str(value))
        return Decimal(str(instrument.make_price(value)))  # as_decimal() drops the zeros

    def _entry_z(self, event: PositionOpened) -> float | None:
        order = self.cache.order(event.opening_order_id)
        for tag in (order.tags or []) if order is not None else []:
            name, _, value = str(tag).partition("=")
            if name == "ZSCORE":
                try:
                    return float(value)
                except ValueError:
                    return None
        return None

    @_guarded
    def _on_order_event(self, event: object) -> None:
        if not isinstance(
            event, OrderDenied | OrderRejected | OrderCancelRejected | OrderModifyRejected
        ):
            return
        kind = type(event).__name__
        reason = str(getattr(event, "reason", ""))
        admission = self._throttle.admit(f"{kind}:{reason}", self.clock.timestamp_ns() / 1e9)
        if not admission.send:
            return
        more = f" (+{admission.suppressed} similar suppressed)" if admission.suppressed else ""
        self._emit(f"ERROR {kind} {event.client_order_id}: {reason}{more}")

    @_guarded
    def _on_session_close(self, event: TimeEvent) -> None:
        now = self._now()
        day = self._schedule.trading_day(now - timedelta(seconds=1))
        trades = [t for t in self._trades if self._schedule.trading_day(t.closed_at) == day]
        self._emit(fmt.summary_text(f"DAILY SUMMARY {day}", fmt.summarize(trades)))
        self._arm_daily_summary()

    @_guarded
    def _on_heartbeat(self, event: TimeEvent) -> None:
        day = fmt.summarize(self._period("day"))
        self._emit(
            f"heartbeat: node {self.trader_id} alive, {self._position_text()}, "
            f"day P&L {fmt.usd(day.net_pnl)}"
        )

    # -- the loop tick: the threads' news, commands, /confirm timeouts, stale data ------------

    @_guarded
    def _on_tick(self, event: TimeEvent | None) -> None:
        self._drain_events()
        if self._poller is not None:
            while True:
                try:
                    update = self._poller.inbox.get_nowait()
                except queue.Empty:
                    break
                try:
                    self._on_update(update)
                except Exception as exc:  # a failing command must not swallow the next ones
                    self.log.error(f"Telegram command {update.text!r} failed: {exc!r}")
                    if update.chat_id in self._allowed:
                        self._emit(f"command failed: {type(exc).__name__}: {exc}", update.chat_id)
        chat = self._gate.expire(time.monotonic())
        if chat is not None:
            self._emit(f"flatten cancelled: no /confirm within {self.config.confirm_secs} s", chat)
        self._check_stale_data()

    def _drain_events(self) -> None:
        sources = [s.events for s in (self._outbox, self._poller) if s is not None]
        for events in sources:
            while not events.empty():
                self._log_event(events.get_nowait())

    def _log_event(self, event: OutboxEvent) -> None:
        if event.kind in ("unavailable", "poll_unavailable"):
            self._warn_once(
                event.kind,
                f"Telegram unreachable, trading continues and alerts queue: {event.detail}",
            )
        elif event.kind == "auth":
            self._warn_once("auth", f"Telegram alerts not delivered: {event.detail}")
        elif event.kind in ("refused", "poll_refused"):
            self._warn_once(event.kind, f"Telegram refused a request: {event.detail}")
        else:
            self.log.info(f"Telegram: {event.detail}")

    def _check_stale_data(self) -> None:
        limit = self.config.stale_data_secs
        if limit is None or self._last_data_ns == 0:
            return
        age = (self.clock.timestamp_ns() - self._last_data_ns) / 1e9
        if not self._data_stalled and age > limit and self._schedule.is_market_open(self._now()):
            self._data_stalled = True
            self._emit(f"CONNECTION LOST? no market data for {age:.0f} s while the market is open")
        elif self._data_stalled and age <= limit:
            self._data_stalled = False
            self._emit("CONNECTION RESTORED: market data flowing again")

    # -- commands ----------------------------------------------------------------------------

    def _on_update(self, update: Update) -> None:
        if not update.text:
            return
        if update.chat_id not in self._allowed:
            if update.chat_id not in self._ignored_chats:
                self._ignored_chats.add(update.chat_id)
                self.log.warning(
                    f"Telegram: ignoring chat {update.chat_id} ({update.sender or 'unknown'}): "
                    "not in TELEGRAM_CHAT_ID or telegram.allowed_chat_ids (logged once)"
                )
            return
        chat = update.chat_id
        try:
            command = parse_command(update.text)
        except CommandError as exc:
            self._emit(str(exc), chat)
            return
        if command is None:
            return
        age = time.time() - update.sent_at if update.sent_at else 0.0
        if age > self.config.max_command_age_secs:
            self._emit(
                f"ignored /{command.verb.value}: sent {age:.0f} s ago while the node was not "
                "listening; send it again if you still mean it",
                chat,
            )
            return
        self.log.info(f"Telegram command /{command.verb.value} from chat {chat}")
        verb = command.verb
        if verb is Verb.HELP:
            self._emit(HELP_TEXT, chat)
        elif verb is Verb.STATUS:
            self._emit(self._status_text(), chat)
        elif verb is Verb.PNL:
            summary = fmt.summarize(self._period(command.period))
            self._emit(fmt.summary_text(f"P&L this {command.period}", summary), chat)
        elif verb is Verb.TRADES:
            self._emit(fmt.trades_text(self._trades, command.count), chat)
        elif verb is Verb.PAUSE:
            self._control(chat, "pause", minutes=command.minutes)
        elif verb is Verb.RESUME:
            self._control(chat, "resume")
        elif verb is Verb.KILL:
            self._control(chat, "kill")
        elif verb is Verb.FLATTEN:
            self._gate.request(chat, time.monotonic())
            self._emit(
                f"flatten: send /confirm within {self.config.confirm_secs} s to close the "
                "position at market",
                chat,
            )
        elif verb is Verb.CONFIRM:
            outcome = self._gate.confirm(chat, time.monotonic())
            if outcome is Confirm.CONFIRMED:
                self._control(chat, "flatten")
            elif outcome is Confirm.EXPIRED:
                self._emit("too late: the /flatten expired; send /flatten again", chat)
            elif outcome is Confirm.OTHER_CHAT:
                self._emit("the pending /flatten was asked in another chat: confirm it there", chat)
            else:
                self._emit("nothing to confirm: send /flatten first", chat)

    def _control(self, chat: int, command: str, minutes: int | None = None) -> None:
        """Publish an operator command on the bus (this is the node's thread) and reply."""
        message: dict[str, Any] = {
            "command": command,
            "reason": f"/{command} from Telegram chat {chat}",
            "source": f"telegram:{chat}",
        }
        if minutes is not None:
            message["minutes"] = minutes
        self._answered.clear()
        self.msgbus.publish(CONTROL_TOPIC, message)
        if not self._answered:
            self._emit(f"{command}: no strategy answered (is it running?)", chat)

    @_guarded
    def _on_control_result(self, message: dict[str, Any]) -> None:
        source = str(message.get("source") or "")
        self._answered.append(source)
        if source.startswith("telegram:"):
            chat = int(source.split(":", 1)[1])
            self._emit(f"{message.get('command')}: {message.get('result')}", chat)

    # -- views -------------------------------------------------------------------------------

    def _period(self, period: str) -> list[ClosedTrade]:
        return fmt.in_period(self._trades, self._schedule, self._now(), period)

    def _position_text(self) -> str:
        positions = self.cache.positions_open()
        if not positions:
            return "flat"
        parts = []
        for p in positions:
            pnl = self.portfolio.unrealized_pnl(p.instrument_id)
            open_pnl = f", open P&L {fmt.usd(pnl.as_decimal())}" if pnl is not None else ""
            parts.append(
                f"{p.side.name} {p.quantity} {p.instrument_id} @ {p.avg_px_open}{open_pnl}"
            )
        return "; ".join(parts)

    def _risk_state(self) -> RiskState | None:
        if self.config.risk_state_dir is None:
            return None
        try:
            return RiskStateStore(self.config.risk_state_dir, self.trader_id.value).load()
        except (OSError, RiskStateError) as exc:
            self.log.warning(f"Telegram /status: cannot read the risk state: {exc}")
            return None

    def _status_text(self) -> str:
        now = self._now()
        state = self._risk_state()
        day = fmt.summarize(self._period("day"))
        if state is not None:
            day_line = (
                f"day P&L {fmt.usd(state.daily_pnl)} (realized {fmt.usd(state.realized_pnl)}, "
                f"open {fmt.usd(state.open_pnl)}), {state.trades_today} trade(s)"
            )
        else:
            day_line = f"day P&L realized {fmt.usd(day.net_pnl)}, {day.trades} trade(s)"
        if self._data_stalled:
            data = "market data: STALLED"
        elif self._last_data_ns:
            data = (
                f"market data: {(self.clock.timestamp_ns() - self._last_data_ns) / 1e9:.0f} s ago"
            )
        else:
            data = "market data: none yet"
        if self._connected is not None:
            data += f", broker {'connected' if self._connected else 'DISCONNECTED'}"
        lines = [
            f"status {now:%Y-%m-%d %H:%M:%S} UTC, trading day {self._schedule.trading_day(now)}",
            f"position: {self._position_text()}",
            day_line,
            fmt.breakers_text(state, now),
            f"trading state: {self._trading_state}",
            data,
        ]
        if self._health.get("latency"):
            lines.append(fmt.latency_text(self._health["latency"]))
        if self._outbox is not None:
            s = self._outbox.stats()
            lines.append(f"telegram: sent {s.sent}, queued {s.pending}, dropped {s.dropped}")
        return "\n".join(lines)


def _fees(position: object) -> Decimal:
    if position is None:
        return Decimal(0)
    return sum((m.as_decimal() for m in position.commissions()), Decimal(0))


def _utc(ts_ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ts_ns // 1_000)
