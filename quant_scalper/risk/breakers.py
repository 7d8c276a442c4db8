"""Circuit breakers: daily loss limit, losing-streak pause, holding time, session guard, kill.

Pure logic with injected time: every method takes ``now`` (a timezone-aware datetime, UTC in
practice) and never reads a clock, so a backtest, a live node and a test all see the same rules.
The caller (the Nautilus strategy) acts on the answers: it cancels and flattens when told, asks
before each entry, and persists ``state`` whenever ``version`` changed.

Rules and the decisions taken where the issue left a choice:

- Daily loss limit: realized P&L (net of fees) + open P&L of the trading day <= -limit trips it.
  Entries are then blocked and positions must be flattened until the next trading day.
- Losing streak: a closed trade with ``pnl_net < 0`` counts as a loss, ``> 0`` resets the count,
  exactly ``0`` (breakeven, after fees) does neither. The N-th loss in a row arms a pause until
  ``now + pause_minutes`` and resets the count to 0, so the next pause needs N fresh losses.
  A pause blocks entries only; it never forces an exit. It ends by time, across a day roll too.
- Max holding time: a position open for ``max_holding_minutes`` or longer must be closed.
- Session guard: no entries within ``entry_guard_minutes`` of the daily halt/an intraday break,
  nor while closed; with ``flatten_before_halt`` positions must be closed inside that window.
- Kill switch: ``kill`` blocks entries and forces exits until ``resume``; a new trading day does
  not clear it, and ``resume`` does not clear a daily limit hit the same trading day.
- Trading-day roll (17:00 CT): realized and open P&L, the losing streak, the trade count and the
  daily-limit flag reset; the kill switch and an armed pause stay.

Exits are never blocked by any rule. Money is ``Decimal`` only: a float P&L raises TypeError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from quant_scalper.risk.session import RiskConfigError, SessionSchedule, require_aware

MAX_TRIPS_KEPT = 500
"""How many trips ``RiskState.trips`` keeps (the newest); use ``on_trip`` to collect them all."""


MAX_BOOKED_KEPT = 10_000
"""How many booked-trade keys ``RiskState.booked_trades`` keeps (per trading day; reset at the
roll). Far above what one position at a time on 1-minute bars can close in a 23-hour session
(1,380): an evicted key would let a restart's replay of IB's executions book that trade again
(the soak did exactly that at 1,000, with ~1,070 round trips in one wall-clock trading day)."""


class Rule(StrEnum):
    """The name of the rule behind a trip or a blocked entry (stable: used in reports and JSON)."""

    DAILY_LOSS_LIMIT = "daily_loss_limit"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    MAX_HOLDING_TIME = "max_holding_time"
    SESSION_GUARD = "session_guard"
    KILL_SWITCH = "kill_switch"
    RESUME = "resume"
    DAY_ROLL = "day_roll"
    MANUAL_PAUSE = "manual_pause"
    STATE_UNWRITABLE = "state_unwritable"
    ORDER_REFUSED = "order_refused"  # a bracket child refused by the broker (live)


@dataclass(frozen=True, slots=True)
class Trip:
    """One risk event: when, which rule, and why in words a trader can read in a report."""

    at: datetime
    rule: Rule
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may a new position be opened now?"; ``rule`` names the blocker, if any."""

    allowed: bool
    reason: str
    rule: Rule | None = None


def _require_int(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RiskConfigError(
            f"RiskLimits.{name} must be a whole number >= {minimum}, got {value!r}: "
            f"set {name} to an integer such as {max(minimum, 1)}",
        )


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The circuit-breaker settings; invalid values raise RiskConfigError naming the field.

    ``daily_loss_limit`` is a positive USD amount as Decimal (an int or a numeric string such as
    "500" is converted; a float is refused so no binary rounding reaches a money limit).
    ``max_holding_minutes=None`` disables the holding-time rule. With ``flatten_before_halt``
    the flatten window is ``entry_guard_minutes``, which must then be at least 1.
    """

    daily_loss_limit: Decimal = Decimal(500)
    max_consecutive_losses: int = 3
    pause_minutes: int = 30
    max_holding_minutes: int | None = 120
    entry_guard_minutes: int = 15
    flatten_before_halt: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "daily_loss_limit", self._parse_limit(self.daily_loss_limit))
        _require_int(self.max_consecutive_losses, "max_consecutive_losses", 1)
        _require_int(self.pause_minutes, "pause_minutes", 0)
        if self.max_holding_minutes is not None:
            _require_int(self.max_holding_minutes, "max_holding_minutes", 1)
        _require_int(self.entry_guard_minutes, "entry_guard_minutes", 0)
        if not isinstance(self.flatten_before_halt, bool):
            raise RiskConfigError(
                f"RiskLimits.flatten_before_halt must be true or false, "
                f"got {self.flatten_before_halt!r}",
            )
        if self.flatten_before_halt and self.entry_guard_minutes < 1:
            raise RiskConfigError(
                "RiskLimits.entry_guard_minutes must be >= 1 when flatten_before_halt is on: "
                "it is the window for flattening before the halt (e.g. 15), or turn "
                "flatten_before_halt off",
            )

    @staticmethod
    def _parse_limit(value: object) -> Decimal:
        fix = "write it as a positive whole or decimal USD amount, e.g. 500 or '500.00'"
        if isinstance(value, bool | float):
            raise RiskConfigError(
                f"RiskLimits.daily_loss_limit must not be a float/bool ({value!r}): {fix}",
            )
        if isinstance(value, int | str):
            try:
                value = Decimal(value)
            except ArithmeticError as exc:
                raise RiskConfigError(
                    f"RiskLimits.daily_loss_limit {value!r} is not a number: {fix}",
                ) from exc
        if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
            raise RiskConfigError(
                f"RiskLimits.daily_loss_limit must be a USD amount > 0, got {value!r}: {fix}",
            )
        return value


@dataclass(slots=True)
class RiskState:
    """What the breakers remember; persisted by ``state_store`` so it survives a restart.

    ``trading_day`` is None before the first event. ``realized_pnl`` is net of fees for the
    trading day; ``open_pnl`` is the latest mark of open positions. ``version`` increases on
    every durable change (not on an ``open_pnl`` mark alone: that is recomputed from the live
    position after a restart and would otherwise mean a disk write per bar).
    """

    trading_day: date | None = None
    realized_pnl: Decimal = Decimal(0)
    open_pnl: Decimal = Decimal(0)
    consecutive_losses: int = 0
    trades_today: int = 0
    paused_until: datetime | None = None
    daily_limit_hit: bool = False
    daily_limit_hit_at: datetime | None = None
    halted: bool = False
    halt_reason: str | None = None
    halted_at: datetime | None = None
    trips: list[Trip] = field(default_factory=list)
    version: int = 0
    booked_trades: list[str] = field(default_factory=list)
    """Keys of the trading day's trades booked with ``book_closed_trade`` (one per position
    cycle), so a trade seen again after a restart (reconciliation, cache reload) counts once."""

    @property
    def daily_pnl(self) -> Decimal:
        """Realized plus open P&L of the trading day, the figure the daily limit applies to."""
        return self.realized_pnl + self.open_pnl


def _utc(ts: datetime, name: str = "now") -> datetime:
    """``ts`` converted to UTC (refusing naive datetimes): all state and arithmetic is in UTC."""
    return require_aware(ts, name).astimezone(UTC)


def _require_money(value: object, name: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(
            f"{name} must be a decimal.Decimal (money is never a float), "
            f"got {type(value).__name__} {value!r}",
        )
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite amount, got {value}")
    return value


class CircuitBreakers:
    """The risk rules applied to one strategy's trading, with all time passed in as ``now``.

    Typical use from a strategy: ``entry_decision(now)`` before submitting an entry;
    ``record_mark(now, open_pnl)`` on each bar/quote while in a position and
    ``record_closed_trade(now, pnl_net)`` when one closes (flatten and cancel if a returned trip
    is the daily limit); ``exit_reason(now, opened_at)`` on each bar to force exits;
    ``roll_trading_day(now)`` from a 17:00 CT clock alert (every method also rolls by itself).
    Persist ``state`` when ``version`` changed. ``on_trip`` is called with every trip recorded.
    """

    def __init__(
        self,
        limits: RiskLimits | None = None,
        schedule: SessionSchedule | None = None,
        state: RiskState | None = None,
        *,
        on_trip: Callable[[Trip], None] | None = None,
    ) -> None:
        self._limits = limits if limits is not None else RiskLimits()
        self._schedule = schedule if schedule is not None else SessionSchedule()
        self._state = state if state is not None else RiskState()
        self._on_trip = on_trip
        # The position (by its open time) whose forced exit was already recorded as a trip, so
        # exit_reason called on every bar records it once. In memory only: a repeat after a
        # restart is harmless.
        self._exit_recorded_for: datetime | None = None

    @property
    def limits(self) -> RiskLimits:
        """The configured limits."""
        return self._limits

    @property
    def schedule(self) -> SessionSchedule:
        """The session calendar the guard and the day roll use."""
        return self._schedule

    @property
    def state(self) -> RiskState:
        """The live state (mutated in place by the methods; persist it when ``version`` moves)."""
        return self._state

    @property
    def version(self) -> int:
        """Increases on every durable state change; compare with the last saved value."""
        return self._state.version

    def is_paused(self, now: datetime) -> bool:
        """True while a losing-streak pause is in force."""
        paused_until = self._state.paused_until
        return paused_until is not None and _utc(now) < paused_until

    # -- the trading day -----------------------------------------------------------------------

    def roll_trading_day(self, now: datetime) -> Trip | None:
        """Start a new trading day if ``now`` is in a later one than the state's.

        Resets realized/open P&L, the losing streak, the trade count and the daily-limit flag;
        keeps the kill switch and an armed pause. Never rolls backwards (a ``now`` in an earlier
        trading day than the state's changes nothing). Returns the ``day_roll`` trip, if any.
        """
        now = _utc(now)
        new_day = self._schedule.trading_day(now)
        state = self._state
        if state.trading_day is None:
            state.trading_day = new_day
            state.version += 1
            return None
        if new_day <= state.trading_day:
            return None
        reason = (
            f"new trading day {new_day} (was {state.trading_day}): reset realized P&L "
            f"{state.realized_pnl:.2f} USD over {state.trades_today} trades, "
            f"{state.consecutive_losses} consecutive losses"
        )
        if state.daily_limit_hit:
            reason += ", daily loss limit cleared"
        if state.halted:
            reason += f"; kill switch stays ON ({state.halt_reason})"
        state.trading_day = new_day
        state.realized_pnl = Decimal(0)
        state.open_pnl = Decimal(0)
        state.consecutive_losses = 0
        state.trades_today = 0
        state.daily_limit_hit = False
        state.daily_limit_hit_at = None
        state.booked_trades = []
        return self._record(now, Rule.DAY_ROLL, reason)

    # -- questions -----------------------------------------------------------------------------

    def entry_decision(self, now: datetime) -> Decision:
        """May a new position be opened at ``now``? Checks, in order: kill switch, daily loss
        limit, losing-streak pause, session guard (near/in the halt, weekend, intraday break).

        Rolls the trading day first. A blocked entry is not recorded as a trip: the caller has
        the ``Decision`` (with its ``rule``) to log when it actually had a signal.
        """
        now = _utc(now)
        self.roll_trading_day(now)
        state, limits = self._state, self._limits
        if state.halted:
            return Decision(False, f"kill switch on: {state.halt_reason}", Rule.KILL_SWITCH)
        if state.daily_limit_hit:
            return Decision(
                False,
                f"daily loss limit {limits.daily_loss_limit:.2f} USD hit on trading day "
                f"{state.trading_day}: no entries until the next trading day",
                Rule.DAILY_LOSS_LIMIT,
            )
        if self.is_paused(now):
            assert state.paused_until is not None
            return Decision(
                False,
                f"paused after {limits.max_consecutive_losses} consecutive losses until "
                f"{self._fmt(state.paused_until)}",
                Rule.CONSECUTIVE_LOSSES,
            )
        if self._schedule.in_entry_guard(now, limits.entry_guard_minutes):
            if self._schedule.is_market_open(now):
                why = f"within {limits.entry_guard_minutes} min of the halt or a break"
            else:
                why = "market closed (daily halt, weekend or intraday break)"
            return Decision(False, f"session guard: {why}", Rule.SESSION_GUARD)
        return Decision(True, "entries allowed")

    def exit_reason(self, now: datetime, position_opened_at: datetime | None) -> str | None:
        """Why the open position must be closed now, or None to keep it (None when flat).

        In order: kill switch, daily loss limit hit, max holding time reached (``>=``), and
        with ``flatten_before_halt`` the halt window (``entry_guard_minutes`` before the daily
        halt/weekend, or already in it). Holding-time and halt-window exits are recorded as a
        trip the first time they fire for a position; the kill switch and the daily limit were
        recorded when they tripped. Rolls the trading day first.
        """
        now = _utc(now)
        self.roll_trading_day(now)
        if position_opened_at is None:
            return None
        position_opened_at = _utc(position_opened_at, "position_opened_at")
        state, limits = self._state, self._limits
        if state.halted:
            return f"kill switch on: {state.halt_reason}"
        if state.daily_limit_hit:
            return (
                f"daily loss limit {limits.daily_loss_limit:.2f} USD hit "
                f"(daily P&L {state.daily_pnl:.2f} USD)"
            )
        rule: Rule | None = None
        reason = ""
        held = now - position_opened_at
        if limits.max_holding_minutes is not None and held >= timedelta(
            minutes=limits.max_holding_minutes,
        ):
            rule = Rule.MAX_HOLDING_TIME
            reason = (
                f"position held {held.total_seconds() / 60:.0f} min since "
                f"{self._fmt(position_opened_at)}, max {limits.max_holding_minutes} min"
            )
        elif limits.flatten_before_halt and self._schedule.in_halt_window(
            now,
            limits.entry_guard_minutes,
        ):
            rule = Rule.SESSION_GUARD
            reason = (
                f"flatten before the halt at {self._fmt(self._schedule.next_halt(now))}"
                if self._schedule.is_market_open(now)
                else "flatten: market in the daily halt or weekend"
            )
        if rule is None:
            return None
        if self._exit_recorded_for != position_opened_at:
            self._exit_recorded_for = position_opened_at
            self._record(now, rule, reason)
        return reason

    # -- events --------------------------------------------------------------------------------

    def record_mark(self, now: datetime, open_pnl: Decimal) -> list[Trip]:
        """Update the open P&L (net of expected fees if you want them counted); trips the daily
        loss limit when realized + open <= -limit. On a ``daily_loss_limit`` trip the caller
        cancels working orders, flattens, and entries stay blocked until the next trading day.
        """
        _require_money(open_pnl, "open_pnl")
        now = _utc(now)
        trips = self._roll_trips(now)
        self._state.open_pnl = open_pnl
        trips.extend(self._check_daily_limit(now))
        return trips

    def record_closed_trade(
        self,
        now: datetime,
        pnl_net: Decimal,
        open_pnl: Decimal = Decimal(0),
    ) -> list[Trip]:
        """Book a closed trade's P&L net of fees and run the streak and daily-limit rules.

        ``open_pnl`` is the open P&L left after this close: 0 (the default) when the book is
        flat, so the closed trade's last mark is not counted twice against the daily limit.
        """
        _require_money(pnl_net, "pnl_net")
        _require_money(open_pnl, "open_pnl")
        now = _utc(now)
        trips = self._roll_trips(now)
        state, limits = self._state, self._limits
        state.realized_pnl += pnl_net
        state.open_pnl = open_pnl
        state.trades_today += 1
        if pnl_net < 0:
            state.consecutive_losses += 1
        elif pnl_net > 0:
            state.consecutive_losses = 0
        state.version += 1
        if state.consecutive_losses >= limits.max_consecutive_losses:
            streak = state.consecutive_losses
            state.consecutive_losses = 0
            paused_until = now + timedelta(minutes=limits.pause_minutes)
            if state.paused_until is None or paused_until > state.paused_until:
                state.paused_until = paused_until
            trips.append(
                self._record(
                    now,
                    Rule.CONSECUTIVE_LOSSES,
                    f"{streak} losing trades in a row (last {pnl_net:.2f} USD): entries paused "
                    f"{limits.pause_minutes} min until {self._fmt(state.paused_until)}",
                ),
            )
        trips.extend(self._check_daily_limit(now))
        return trips

    def book_closed_trade(
        self,
        now: datetime,
        key: str,
        closed_at: datetime,
        pnl_net: Decimal,
        open_pnl: Decimal = Decimal(0),
    ) -> list[Trip] | None:
        """Book a closed trade once: like ``record_closed_trade``, keyed by ``key``.

        Returns None (nothing booked) when ``key`` was booked already today, or when the trade
        closed in an earlier trading day than ``now``'s (that day's limits are over). Use it for
        every close, live or found at a restart, so replays never count a trade twice.
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"a booked trade needs a non-empty key, got {key!r}")
        now = _utc(now)
        trips = self._roll_trips(now)
        if key in self._state.booked_trades:
            return None
        if self._schedule.trading_day(_utc(closed_at, "closed_at")) < self._state.trading_day:
            return None
        trips.extend(self.record_closed_trade(now, pnl_net, open_pnl))
        booked = self._state.booked_trades
        booked.append(key)
        del booked[:-MAX_BOOKED_KEPT]
        return trips

    def kill(self, now: datetime, reason: str) -> Trip:
        """Turn the kill switch on: entries blocked and positions to be flattened until
        ``resume``. A new trading day does not clear it. Pressing it again updates the reason.
        """
        now = _utc(now)
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("kill needs a reason a trader can read later, e.g. 'manual stop'")
        self.roll_trading_day(now)
        state = self._state
        if not state.halted:
            state.halted_at = now
        state.halted = True
        state.halt_reason = reason.strip()
        return self._record(now, Rule.KILL_SWITCH, f"kill switch on: {state.halt_reason}")

    def resume(self, now: datetime, reason: str = "resumed by operator") -> Trip | None:
        """Turn the kill switch off. Does not clear a daily limit hit or a pause of the same
        trading day. Returns None (and changes nothing) when it was not on.
        """
        now = _utc(now)
        self.roll_trading_day(now)
        state = self._state
        if not state.halted:
            return None
        message = f"kill switch off ({reason}); it was on since {self._fmt(state.halted_at)}"
        message += f": {state.halt_reason}"
        if state.daily_limit_hit:
            message += f"; daily loss limit still hit for trading day {state.trading_day}"
        state.halted = False
        state.halt_reason = None
        state.halted_at = None
        return self._record(now, Rule.RESUME, message)

    def pause(self, now: datetime, minutes: int, reason: str = "paused by operator") -> Trip:
        """Block new entries for ``minutes`` (an operator's pause); never shortens a pause."""
        now = _utc(now)
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise ValueError(f"pause minutes must be a whole number >= 1, got {minutes!r}")
        self.roll_trading_day(now)
        until = now + timedelta(minutes=minutes)
        state = self._state
        if state.paused_until is None or until > state.paused_until:
            state.paused_until = until
        return self._record(
            now,
            Rule.MANUAL_PAUSE,
            f"entries paused {minutes} min until {self._fmt(state.paused_until)}: {reason}",
        )

    def unpause(self, now: datetime, reason: str = "resumed by operator") -> Trip | None:
        """End a pause early (manual or losing-streak); None when none was in force."""
        now = _utc(now)
        if not self.is_paused(now):
            return None
        self._state.paused_until = None
        return self._record(now, Rule.RESUME, f"pause ended early: {reason}")

    # -- internals -----------------------------------------------------------------------------

    def _roll_trips(self, now: datetime) -> list[Trip]:
        trip = self.roll_trading_day(now)
        return [trip] if trip is not None else []

    def _check_daily_limit(self, now: datetime) -> list[Trip]:
        state, limit = self._state, self._limits.daily_loss_limit
        if state.daily_limit_hit or state.daily_pnl > -limit:
            return []
        state.daily_limit_hit = True
        state.daily_limit_hit_at = now
        return [
            self._record(
                now,
                Rule.DAILY_LOSS_LIMIT,
                f"daily P&L {state.daily_pnl:.2f} USD (realized {state.realized_pnl:.2f}, "
                f"open {state.open_pnl:.2f}) reached the -{limit:.2f} USD limit: cancel orders, "
                f"flatten, no entries until the next trading day",
            ),
        ]

    def _record(self, now: datetime, rule: Rule, reason: str) -> Trip:
        trip = Trip(at=now, rule=rule, reason=reason)
        state = self._state
        state.trips.append(trip)
        if len(state.trips) > MAX_TRIPS_KEPT:
            del state.trips[: len(state.trips) - MAX_TRIPS_KEPT]
        state.version += 1
        if self._on_trip is not None:
            self._on_trip(trip)
        return trip

    def _fmt(self, ts: datetime | None) -> str:
        if ts is None:
            return "unknown time"
        return self._schedule.local(ts).strftime("%Y-%m-%d %H:%M %Z")
