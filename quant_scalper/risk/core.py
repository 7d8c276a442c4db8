"""The circuit breakers, run by the Rust core: Decimal USD and datetimes in, trips out.

``RiskCore`` is the strategy's one entry point to the rules; they run in
``quant_scalper._core.RiskCore`` (rust_ext/src/risk.rs), the same state machine the pre-screen
uses, so live, backtest and pre-screen apply one copy. The rules:

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

Exits are never blocked by any rule. Time is injected (every method takes ``now``), so a
backtest, a live node and a test see the same rules. This module only converts: Decimal USD to
integer cents exactly (a float is refused with TypeError, an amount with a fraction of a cent
with ``SubCentAmountError``, never rounded), aware datetimes to UTC nanoseconds, dates to
ordinals, and the ``SessionSchedule`` (which reads the exchange calendar) to the arrays the core
reads: trading-day starts, session bounds, intraday breaks and the zone's UTC-offset changes,
built for whole calendar years and rebuilt when a time falls outside them. Pure: no Nautilus
import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from quant_scalper._core import RiskCore as _RustRiskCore
from quant_scalper.risk.model import Decision, RiskLimits, RiskState, Rule, Trip
from quant_scalper.risk.session import SessionSchedule, require_aware

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_US = 1000
_MAX_GAP_DAYS = 14
_PAST = timedelta(days=7)
_FUTURE = timedelta(days=370)


class SubCentAmountError(ValueError):
    """A money amount has a fraction of a cent: the core counts whole cents only."""


def to_cents(value: object, name: str) -> int:
    """``value`` (a finite Decimal USD amount) as integer cents; refuses floats and sub-cents."""
    if not isinstance(value, Decimal):
        raise TypeError(
            f"{name} must be a decimal.Decimal (money is never a float), "
            f"got {type(value).__name__} {value!r}",
        )
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite amount, got {value}")
    scaled = value.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise SubCentAmountError(
            f"{name} {value} USD has a fraction of a cent: round it to whole cents "
            f"(e.g. {value.quantize(Decimal('0.01'))}) before handing it to the risk core",
        )
    return int(scaled)


def from_cents(cents: int) -> Decimal:
    """Integer cents as a Decimal USD amount with two places."""
    return Decimal(cents).scaleb(-2)


def to_ns(ts: datetime, name: str = "now") -> int:
    """An aware datetime as UTC nanoseconds since the epoch (exact; naive is refused)."""
    delta = require_aware(ts, name).astimezone(UTC) - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * _NS_PER_US + int(getattr(ts, "nanosecond", 0))


def from_ns(ns: int) -> datetime:
    """UTC nanoseconds as an aware UTC datetime (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=ns // _NS_PER_US)


def _opt_ns(ts: datetime | None, name: str) -> int | None:
    return None if ts is None else to_ns(ts, name)


def _opt_dt(ns: int | None) -> datetime | None:
    return None if ns is None else from_ns(ns)


def _trip(raw: tuple[int, str, str]) -> Trip:
    at, rule, reason = raw
    return Trip(at=from_ns(at), rule=Rule(rule), reason=reason)


# -- the session schedule as data ----------------------------------------------------------------


def _utc_at(day: date, clock: time, schedule: SessionSchedule) -> datetime:
    return datetime.combine(day, clock, tzinfo=schedule.zone).astimezone(UTC)


def _step(schedule: SessionSchedule, day: date, direction: int) -> date:
    """The next (+1) or previous (-1) trading day from ``day``, exclusive."""
    for _ in range(_MAX_GAP_DAYS):
        day += timedelta(days=direction)
        if schedule.is_trading_day(day):
            return day
    raise ValueError(f"no trading session within {_MAX_GAP_DAYS} days of {day}")


def _tz_changes(schedule: SessionSchedule, start: datetime, end: datetime) -> dict[str, list]:
    """Where the zone's UTC offset changes in [start, end], to the second (hourly scan)."""

    def offset(at: datetime) -> tuple[int, str]:
        local = at.astimezone(schedule.zone)
        delta = local.utcoffset()
        assert delta is not None
        return int(delta.total_seconds()), local.tzname() or ""

    changes, offsets, names = [to_ns(start)], [], []
    current = offset(start)
    offsets.append(current[0])
    names.append(current[1])
    hour = timedelta(hours=1)
    at = start
    while at < end:
        nxt = at + hour
        found = offset(nxt)
        if found != current:
            lo, hi = 0, 3600  # the change is in (at + lo s, at + hi s]
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(at + timedelta(seconds=mid)) == current:
                    lo = mid
                else:
                    hi = mid
            changes.append(to_ns(at + timedelta(seconds=hi)))
            offsets.append(found[0])
            names.append(found[1])
            current = found
        at = nxt
    return {"tz_change": changes, "tz_offset_s": offsets, "tz_name": names}


@functools.lru_cache(maxsize=32)
def schedule_data(schedule: SessionSchedule, first_year: int, last_year: int) -> dict[str, Any]:
    """The arrays ``_core.RiskCore.set_schedule`` reads, covering the calendar years
    ``first_year`` through ``last_year`` (exchange time), from ``schedule`` (one source: the
    ``SessionSchedule`` and exchange calendar the strategy's clock alerts use)."""
    first = datetime(first_year, 1, 1, tzinfo=schedule.zone)
    last = datetime(last_year + 1, 1, 1, tzinfo=schedule.zone)
    always = schedule.always_open
    day = schedule.trading_day(first)
    prev = day - timedelta(days=1) if always else _step(schedule, day, -1)
    starts: list[int] = []
    days: list[int] = []
    opens: list[int] = []
    closes: list[int] = []
    last_ns = to_ns(last)
    while True:
        start = to_ns(_utc_at(prev, schedule.session_open, schedule))
        nxt = day + timedelta(days=1) if always else _step(schedule, day, 1)
        bounds = None if always else schedule.session_bounds(day)
        if bounds is None:
            next_start = to_ns(_utc_at(day, schedule.session_open, schedule))
            opens.append(start)
            closes.append(next_start)
        else:
            opens.append(to_ns(bounds[0]))
            closes.append(to_ns(bounds[1]))
        starts.append(start)
        days.append(day.toordinal())
        if start > last_ns:
            break
        prev, day = day, nxt
    break_start: list[int] = []
    break_end: list[int] = []
    if not always and schedule.breaks:
        calendar_day = first.date() - timedelta(days=1)
        while calendar_day <= last.date() + timedelta(days=_MAX_GAP_DAYS):
            for begin, end in sorted(schedule.breaks):
                at = _utc_at(calendar_day, begin, schedule)
                bounds = schedule.session_bounds(schedule.trading_day(at))
                if bounds is not None and bounds[0] <= at < bounds[1]:
                    break_start.append(to_ns(at))
                    break_end.append(to_ns(_utc_at(calendar_day, end, schedule)))
            calendar_day += timedelta(days=1)
    tz = _tz_changes(
        schedule,
        first.astimezone(UTC) - timedelta(days=_MAX_GAP_DAYS),
        last.astimezone(UTC) + timedelta(days=_MAX_GAP_DAYS * 2),
    )
    return {
        "day_start": starts,
        "day": days,
        "open": opens,
        "close": closes,
        "break_start": break_start,
        "break_end": break_end,
        **tz,
        "always_open": always,
    }


# -- state ---------------------------------------------------------------------------------------


def state_to_core(state: RiskState) -> dict[str, Any]:
    """``state`` as the core's dict (cents, ns, ordinals); sub-cent amounts are refused."""
    return {
        "trading_day": None if state.trading_day is None else state.trading_day.toordinal(),
        "realized_pnl": to_cents(state.realized_pnl, "RiskState.realized_pnl"),
        "open_pnl": to_cents(state.open_pnl, "RiskState.open_pnl"),
        "consecutive_losses": state.consecutive_losses,
        "trades_today": state.trades_today,
        "paused_until": _opt_ns(state.paused_until, "paused_until"),
        "daily_limit_hit": state.daily_limit_hit,
        "daily_limit_hit_at": _opt_ns(state.daily_limit_hit_at, "daily_limit_hit_at"),
        "halted": state.halted,
        "halt_reason": state.halt_reason,
        "halted_at": _opt_ns(state.halted_at, "halted_at"),
        "trips": [(to_ns(t.at, "trip.at"), t.rule.value, t.reason) for t in state.trips],
        "version": state.version,
        "booked_trades": list(state.booked_trades),
    }


def state_from_core(raw: dict[str, Any]) -> RiskState:
    """The core's state dict as a ``RiskState`` (Decimal USD, UTC datetimes, dates)."""
    day = raw["trading_day"]
    return RiskState(
        trading_day=None if day is None else date.fromordinal(day),
        realized_pnl=from_cents(raw["realized_pnl"]),
        open_pnl=from_cents(raw["open_pnl"]),
        consecutive_losses=raw["consecutive_losses"],
        trades_today=raw["trades_today"],
        paused_until=_opt_dt(raw["paused_until"]),
        daily_limit_hit=raw["daily_limit_hit"],
        daily_limit_hit_at=_opt_dt(raw["daily_limit_hit_at"]),
        halted=raw["halted"],
        halt_reason=raw["halt_reason"],
        halted_at=_opt_dt(raw["halted_at"]),
        trips=[_trip(t) for t in raw["trips"]],
        version=raw["version"],
        booked_trades=list(raw["booked_trades"]),
    )


# -- the façade ----------------------------------------------------------------------------------


class RiskCore:
    """The risk rules applied to one trader's trading, with all time passed in as ``now``.

    Typical use from a strategy: ``entry_decision(now)`` before submitting an entry;
    ``record_mark(now, open_pnl)`` on each bar while in a position and
    ``book_closed_trade(...)`` when one closes (flatten and cancel if a returned trip is the
    daily limit); ``exit_reason(now, opened_at)`` to record a forced exit. Persist ``state``
    when ``version`` moved. ``on_trip`` is called with every trip recorded. ``state`` is a
    snapshot (a new ``RiskState`` on each read): change the core's state only through the
    methods or ``load_state``.
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
        self._on_trip = on_trip
        lim = self._limits
        self._core = _RustRiskCore(
            daily_loss_limit_cents=to_cents(lim.daily_loss_limit, "RiskLimits.daily_loss_limit"),
            max_consecutive_losses=lim.max_consecutive_losses,
            pause_minutes=lim.pause_minutes,
            max_holding_minutes=lim.max_holding_minutes,
            entry_guard_minutes=lim.entry_guard_minutes,
            flatten_before_halt=lim.flatten_before_halt,
        )
        self._years: tuple[int, int] | None = None
        if state is not None:
            self.load_state(state)

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
        """A snapshot of the core's state (persist it when ``version`` moves)."""
        return state_from_core(self._core.state())

    @property
    def version(self) -> int:
        """Increases on every durable state change."""
        return self._core.version

    def load_state(self, state: RiskState) -> None:
        """Replace the core's state (e.g. one loaded from ``risk_state.json``)."""
        self._core.set_state(state_to_core(state))

    # -- conversion ----------------------------------------------------------------------------

    def _ns(self, *stamps: tuple[datetime, str]) -> list[int]:
        """The stamps in ns, with the schedule data extended to cover them all."""
        values = [to_ns(ts, name) for ts, name in stamps]
        coverage = self._core.coverage()
        if coverage is None or not all(coverage[0] <= v < coverage[1] for v in values):
            years = [from_ns(v).astimezone(self._schedule.zone) for v in values]
            low = min(ts - _PAST for ts in years).year
            high = max(ts + _FUTURE for ts in years).year
            if self._years is not None:
                low, high = min(low, self._years[0]), max(high, self._years[1])
            self._core.set_schedule(**schedule_data(self._schedule, low, high))
            self._years = (low, high)
        return values

    def _emit(self, raw: list[tuple[int, str, str]]) -> list[Trip]:
        trips = [_trip(t) for t in raw]
        if self._on_trip is not None:
            for trip in trips:
                self._on_trip(trip)
        return trips

    # -- the rules -------------------------------------------------------------------------------

    def is_paused(self, now: datetime) -> bool:
        """True while a losing-streak pause is in force."""
        return self._core.is_paused(to_ns(now))

    def roll_trading_day(self, now: datetime) -> Trip | None:
        """Start a new trading day if ``now`` is in a later one; the ``day_roll`` trip, if any."""
        (ns,) = self._ns((now, "now"))
        trips = self._emit(self._core.roll_trading_day(ns))
        return trips[0] if trips else None

    def entry_decision(self, now: datetime) -> Decision:
        """May a new position be opened at ``now``? (kill, limit, pause, session guard)."""
        (ns,) = self._ns((now, "now"))
        allowed, reason, rule, trips = self._core.entry_decision(ns)
        self._emit(trips)
        return Decision(allowed, reason, None if rule is None else Rule(rule))

    def exit_reason(self, now: datetime, position_opened_at: datetime | None) -> str | None:
        """Why the open position must be closed now, or None to keep it (None when flat)."""
        (ns,) = self._ns((now, "now"))
        opened = _opt_ns(position_opened_at, "position_opened_at")
        reason, trips = self._core.exit_reason(ns, opened)
        self._emit(trips)
        return reason

    def record_mark(self, now: datetime, open_pnl: Decimal) -> list[Trip]:
        """Update the open P&L; trips the daily loss limit at realized + open <= -limit."""
        cents = to_cents(open_pnl, "open_pnl")
        (ns,) = self._ns((now, "now"))
        return self._emit(self._core.record_mark(ns, cents))

    def record_closed_trade(
        self,
        now: datetime,
        pnl_net: Decimal,
        open_pnl: Decimal = Decimal(0),
    ) -> list[Trip]:
        """Book a closed trade's P&L net of fees; runs the streak and daily-limit rules."""
        pnl, left = to_cents(pnl_net, "pnl_net"), to_cents(open_pnl, "open_pnl")
        (ns,) = self._ns((now, "now"))
        return self._emit(self._core.record_closed_trade(ns, pnl, left))

    def book_closed_trade(
        self,
        now: datetime,
        key: str,
        closed_at: datetime,
        pnl_net: Decimal,
        open_pnl: Decimal = Decimal(0),
    ) -> list[Trip] | None:
        """Book a closed trade once by ``key``; None when already booked or of an earlier day."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"a booked trade needs a non-empty key, got {key!r}")
        pnl, left = to_cents(pnl_net, "pnl_net"), to_cents(open_pnl, "open_pnl")
        ns, closed = self._ns((now, "now"), (closed_at, "closed_at"))
        booked, trips = self._core.book_closed_trade(ns, key, closed, pnl, left)
        emitted = self._emit(trips)
        return emitted if booked else None

    def kill(self, now: datetime, reason: str) -> Trip:
        """Turn the kill switch on until ``resume`` (a new trading day does not clear it)."""
        (ns,) = self._ns((now, "now"))
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("kill needs a reason a trader can read later, e.g. 'manual stop'")
        return self._emit(self._core.kill(ns, reason.strip()))[-1]

    def resume(self, now: datetime, reason: str = "resumed by operator") -> Trip | None:
        """Turn the kill switch off; None (nothing changed) when it was not on."""
        (ns,) = self._ns((now, "now"))
        trips = self._emit(self._core.resume(ns, reason))
        return trips[-1] if trips and trips[-1].rule is Rule.RESUME else None

    def pause(self, now: datetime, minutes: int, reason: str = "paused by operator") -> Trip:
        """Block new entries for ``minutes``; never shortens a pause."""
        (ns,) = self._ns((now, "now"))
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise ValueError(f"pause minutes must be a whole number >= 1, got {minutes!r}")
        return self._emit(self._core.pause(ns, minutes, reason))[-1]

    def unpause(self, now: datetime, reason: str = "resumed by operator") -> Trip | None:
        """End a pause early; None when none was in force."""
        trips = self._emit(self._core.unpause(to_ns(now), reason))
        return trips[-1] if trips else None
