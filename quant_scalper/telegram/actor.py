"""The Telegram actor: alerts out, operator commands in, never in the way of trading.

Everything that can block (HTTP) runs on two daemon threads: the ``Outbox`` sender and the
``UpdatePoller`` (both owned by ``Delivery``). The actor itself runs on the node's thread like
any Nautilus component: its message-bus handlers only format a text and append it to the outbox
(a lock and a deque), and a callback rescheduled on the node's event loop drains what the poller
fetched into the ``OperatorDesk``, so commands reach the strategy by a message-bus publish on the
loop's thread, never from a foreign thread. (Not a Nautilus clock timer: in 1.231 ``LiveClock``
runs timer callbacks on Rust-owned threads; the heartbeat and daily-summary timers hop to the
loop with ``call_soon_threadsafe``.)

The parts: texts in ``formatting``, round trips and P&L periods in ``trades`` (``TradeBook``,
merged with the journal), commands in ``operator``, transport in ``delivery``, Nautilus objects
turned into plain values in ``positions``. This module only wires them to the bus and clocks.

In a backtest (a test clock) nothing is sent: the actor is off, or with ``record_path`` it
appends every alert as a JSON line to that file, synchronously and deterministically.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.component import LiveClock
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import ActorConfig, NonNegativeInt, PositiveInt
from nautilus_trader.model.events import (
    OrderCancelRejected,
    OrderDenied,
    OrderModifyRejected,
    OrderRejected,
    PositionClosed,
    PositionOpened,
)

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
from quant_scalper.telegram import positions
from quant_scalper.telegram.client import DEFAULT_API_URL
from quant_scalper.telegram.delivery import Delivery, parse_chat_ids
from quant_scalper.telegram.errors import TelegramConfigError
from quant_scalper.telegram.operator import OperatorDesk
from quant_scalper.telegram.throttle import ErrorThrottle
from quant_scalper.telegram.trades import JOURNAL_LOOKBACK_NS, TradeBook, read_journal
from quant_scalper.topics import (
    CONNECTION_TOPIC,
    CONTROL_RESULT_TOPIC,
    CONTROL_TOPIC,
    HEALTH_ALERT_TOPIC,
    HEALTH_TOPIC,
    RISK_TRIP_TOPIC,
    TRADING_STATE_TOPIC,
)

__all__ = ["CONNECTION_TOPIC", "TelegramAlerts", "TelegramAlertsConfig", "parse_chat_ids"]

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


class TelegramAlerts(Actor):
    """Sends trading alerts to Telegram and relays operator commands to the strategy."""

    def __init__(self, config: TelegramAlertsConfig) -> None:
        super().__init__(config)
        self.mode = "off"
        self._schedule = config.schedule()
        self.book = TradeBook(self._schedule)
        self._delivery = Delivery(self.log)
        self._desk = OperatorDesk(
            allowed_chats=config.allowed_chat_ids,
            confirm_secs=config.confirm_secs,
            max_command_age_secs=config.max_command_age_secs,
            emit=self._emit,
            publish=lambda message: self.msgbus.publish(CONTROL_TOPIC, message),
            status=self._status_text,
            book=self.book,
            now=self._now,
            log=self.log,
        )
        self._throttle = ErrorThrottle(
            dedup_secs=config.error_dedup_secs, max_per_window=config.errors_per_minute
        )
        self._trading_state = "ACTIVE"
        self._last_data_ns = 0
        self._data_stalled = False
        self._connected: bool | None = None
        self._timers: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._health: dict[str, Any] = {}  # the health actor's last summary, for /status

    # -- lifecycle ---------------------------------------------------------------------------

    queue_name = "telegram"  # the health actor exports queue_depth() under this name

    def queue_depth(self) -> tuple[int, int] | None:
        """The outbox's (messages queued, dropped) for metrics; None when not sending."""
        return self._delivery.queue_depth()

    def on_start(self) -> None:
        """Pick the mode, start the threads (live), subscribe, arm timers, announce the start."""
        self.mode = self._resolve_mode()
        self._loop = node_loop(self.clock)  # None in backtests, even inside a notebook's loop
        if self.mode == "off":
            self.log.info("Telegram alerts off (backtest or telegram.mode: off)")
            return
        if self.mode == "send" and not self._delivery.start_sending(
            self.config, self._desk.allowed
        ):
            self.mode = "off"
            return
        if self.mode == "record":
            self._delivery.start_recording(self.config.record_path)
        self._load_trades()
        self._load_journal_trades()
        self._subscribe()
        self._arm_timers()
        self._emit(fmt.started_text(str(self.trader_id), self.mode))

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
        day = self.book.summary(self._now())
        self._emit(fmt.stopping_text(str(self.trader_id), day.net_pnl))
        self._delivery.close(self.config.stop_flush_secs)

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
        elif self._delivery.threaded:
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
        return positions.utc(self.clock.timestamp_ns())

    def _emit(self, text: str, chat_id: int | None = None) -> None:
        """Queue a message (live) or record it (backtest); never blocks."""
        self._delivery.emit(text, chat_id, self._now())

    # -- the trades: the cache's, then the journal's -----------------------------------------

    def _load_trades(self) -> None:
        """Start the book from the round trips already in the cache."""
        self.book.replace(positions.cached_trades(self.cache))

    def _load_journal_trades(self) -> None:
        """Merge the trade journal's round trips of the last ~5 weeks, read on a thread: a slow
        or dead database never holds the node; until it answers, the cache's trades are used."""
        cfg = self.config
        if cfg.journal_url is None or cfg.journal_book is None:
            return
        read_journal(
            cfg.journal_url,
            cfg.journal_book,
            self.clock.timestamp_ns() - JOURNAL_LOOKBACK_NS,
            cfg.journal_password_env,
            deliver=self.book.merge,
            warn=self.log.warning,
            loop=self._loop,
        )

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
            self._emit(fmt.connection_lost_text(detail))
        elif was is False:
            self._emit(fmt.connection_restored_text(detail))

    def _on_health(self, summary: dict[str, Any]) -> None:
        self._health = summary

    @_guarded
    def _on_health_alert(self, text: str) -> None:
        self._emit(fmt.health_alert_text(text))

    def _on_market_data(self, data: object) -> None:
        self._last_data_ns = self.clock.timestamp_ns()

    @_guarded
    def _on_position_event(self, event: object) -> None:
        if isinstance(event, PositionOpened):
            self._emit(positions.entry_alert(self.cache, event))
        elif isinstance(event, PositionClosed):
            paid = positions.fees(self.cache.position(event.position_id))
            trade = positions.closed_trade(self.cache, event, paid)
            self.book.add(trade)
            self._emit(fmt.exit_alert(trade, self.book.summary(self._now()).net_pnl))

    @_guarded
    def _on_order_event(self, event: object) -> None:
        if not isinstance(
            event, OrderDenied | OrderRejected | OrderCancelRejected | OrderModifyRejected
        ):
            return
        kind = type(event).__name__
        reason = str(getattr(event, "reason", ""))
        admission = self._throttle.admit(f"{kind}:{reason}", self.clock.timestamp_ns() / 1e9)
        if admission.send:
            order_id = str(event.client_order_id)
            self._emit(fmt.order_error_text(kind, order_id, reason, admission.suppressed))

    @_guarded
    def _on_session_close(self, event: TimeEvent) -> None:
        day = self._schedule.trading_day(self._now() - timedelta(seconds=1))
        summary = fmt.summarize(self.book.on_day(day))
        self._emit(fmt.summary_text(fmt.daily_summary_title(day), summary))
        self._arm_daily_summary()

    @_guarded
    def _on_heartbeat(self, event: TimeEvent) -> None:
        day = self.book.summary(self._now())
        self._emit(fmt.heartbeat_text(str(self.trader_id), self._position_text(), day.net_pnl))

    @_guarded
    def _on_control_result(self, message: dict[str, Any]) -> None:
        self._desk.on_control_result(message)

    # -- the loop tick: the threads' news, commands, /confirm timeouts, stale data ------------

    @_guarded
    def _on_tick(self, event: TimeEvent | None) -> None:
        self._delivery.drain_events()
        for update in self._delivery.updates():
            self._desk.receive(update)
        self._desk.expire()
        self._check_stale_data()

    def _check_stale_data(self) -> None:
        limit = self.config.stale_data_secs
        if limit is None or self._last_data_ns == 0:
            return
        age = (self.clock.timestamp_ns() - self._last_data_ns) / 1e9
        if not self._data_stalled and age > limit and self._schedule.is_market_open(self._now()):
            self._data_stalled = True
            self._emit(fmt.stale_data_text(age))
        elif self._data_stalled and age <= limit:
            self._data_stalled = False
            self._emit(fmt.DATA_RESTORED_TEXT)

    # -- /status -----------------------------------------------------------------------------

    def _position_text(self) -> str:
        return positions.position_text(self.cache, self.portfolio)

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
        day = self.book.summary(now)
        age = (self.clock.timestamp_ns() - self._last_data_ns) / 1e9 if self._last_data_ns else None
        lines = [
            fmt.status_header(now, self._schedule.trading_day(now)),
            f"position: {self._position_text()}",
            fmt.day_line(state, day),
            fmt.breakers_text(state, now),
            f"trading state: {self._trading_state}",
            fmt.data_line(self._data_stalled, age, self._connected),
        ]
        if self._health.get("latency"):
            lines.append(fmt.latency_text(self._health["latency"]))
        stats = self._delivery.stats()
        if stats is not None:
            lines.append(fmt.outbox_line(stats.sent, stats.pending, stats.dropped))
        return "\n".join(lines)
