"""CME equity-index Globex session calendar: trading days, the daily halt, weekends, holidays.

Pure logic (stdlib + zoneinfo, plus the exchange calendar below; no Nautilus). Every function
takes a timezone-aware ``datetime`` and does its arithmetic in UTC, so a DST switch (second
Sunday of March, first Sunday of November in America/Chicago) never shifts a boundary: the day
still rolls at 17:00 Chicago wall time.

The default schedule is today's: Globex trades Sunday 17:00 CT to Friday 16:00 CT with a daily
halt 16:00-17:00 CT Monday to Thursday. Older data used other times (the 2013 data closes at
16:15 CT and has a 15:15-15:30 CT halt: see ``CME_EQUITY_INDEX_2013``), hence ``SessionSchedule``.

Exchange holidays come from a maintained library, ``pandas_market_calendars``' "CME Globex
Equity" calendar (``DEFAULT_CALENDAR``): a full closure (Good Friday, Christmas, New Year) has no
session, and an early close (12:15 CT the day after Thanksgiving and on Christmas Eve, 12:00 CT
on Thanksgiving, July 3 and the Monday holidays) moves that day's halt forward. The closures and
early closes drive everything below: the trading-day roll, ``is_market_open``, ``next_halt``
(so flatten-before-halt fires before an early close, not at 16:00), the entry guard. The
calendar is read once per year and kept per day, so the per-bar lookups are dictionary reads.
``calendar=None`` gives the plain weekday schedule (every Monday-Friday a full session).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from quant_scalper.errors import ConfigError

_SATURDAY = 5
_MAX_GAP_DAYS = 14  # no CME equity closure lasts longer (9/11 closed the NYSE, not Globex, 4 days)

DEFAULT_CALENDAR = "CME Globex Equity"
"""The ``pandas_market_calendars`` calendar of CME Globex equity index futures (ES, MES)."""


@functools.cache
def _exchange_calendar(name: str) -> Any:
    """The ``pandas_market_calendars`` calendar ``name`` (imported on first use: ~1 s)."""
    import pandas_market_calendars as pmc

    try:
        return pmc.get_calendar(name)
    except RuntimeError as exc:
        raise RiskConfigError(
            f"session calendar {name!r} is not a pandas_market_calendars calendar: use "
            f"{DEFAULT_CALENDAR!r} (CME equity index futures)"
        ) from exc


@functools.cache
def _calendar_year(name: str, year: int) -> dict[date, datetime | None]:
    """Every session of ``year`` in calendar ``name``: trading day -> its early close (UTC), or
    None for a regular close. A weekday missing from the result is a full closure."""
    calendar = _exchange_calendar(name)
    schedule = calendar.schedule(f"{year}-01-01", f"{year}-12-31")
    regular = calendar.close_time
    days: dict[date, datetime | None] = {}
    for label, close in zip(schedule.index, schedule["market_close"], strict=True):
        close_utc = close.to_pydatetime().astimezone(UTC)
        local = close_utc.astimezone(ZoneInfo(str(calendar.tz)))
        early = local.time() < regular and local.date() == label.date()
        days[label.date()] = close_utc if early else None
    return days


class RiskConfigError(ConfigError, ValueError):
    """A risk or session setting is invalid; the message names the field and how to fix it.

    A ``ConfigError`` (so the CLI reports it like any bad setting) and a ``ValueError``.
    """


def require_aware(ts: datetime, name: str = "ts") -> datetime:
    """Return ``ts`` unchanged, or raise ValueError when it is not a timezone-aware datetime.

    A naive datetime is ambiguous (local time? UTC?), and guessing wrong moves every session
    boundary by hours, so it is refused rather than assumed.
    """
    if not isinstance(ts, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(ts).__name__}")
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        raise ValueError(
            f"{name} must be timezone-aware, got naive {ts.isoformat()}: "
            "pass e.g. datetime(..., tzinfo=datetime.UTC)",
        )
    return ts


def _elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time from ``start`` to ``end``. Subtracting two datetimes that share a ZoneInfo
    compares wall clocks and is off by an hour across a DST switch, so go through UTC."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def _require_minutes(minutes: int, name: str) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
        raise ValueError(f"{name} must be a whole number of minutes >= 0, got {minutes!r}")
    return minutes


@dataclass(frozen=True, slots=True)
class SessionSchedule:
    """When the market trades, in exchange wall-clock time.

    - ``halt_start``: the daily close (Monday-Thursday halt start, Friday weekend start).
    - ``session_open``: the daily re-open (Sunday-Thursday); the trading day rolls here.
    - ``tz``: the exchange time zone, an IANA key.
    - ``breaks``: extra intraday halts as ``(start, end)`` pairs on trading days, e.g. the
      15:15-15:30 CT halt of the 2013 data. They block entries (``in_entry_guard``) but do not
      count as "the halt" for ``next_halt``/flatten-before-halt: a 15-minute pause is not the
      overnight gap that flattening protects against.

    - ``always_open``: a market that never halts (sandbox replays, tests, 24/7 venues): no
      halt, weekend or break, so no guard and no flatten-before-halt; the trading day still
      rolls at ``session_open``, every calendar day.
    - ``calendar``: the exchange calendar of closures and early closes (``DEFAULT_CALENDAR``);
      None: every Monday-Friday is a full session.
    The daily halt must fit inside one calendar day: ``halt_start < session_open``. Trading
    day D's session runs from ``session_open`` on the day before D to ``halt_start`` on D, or
    to the calendar's early close when that is earlier; a day the calendar closes has none.
    """

    halt_start: time = time(16, 0)
    session_open: time = time(17, 0)
    tz: str = "America/Chicago"
    breaks: tuple[tuple[time, time], ...] = ()
    always_open: bool = False
    calendar: str | None = DEFAULT_CALENDAR
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _bounds_cache: dict[date, tuple[datetime, datetime] | None] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name in ("halt_start", "session_open"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise RiskConfigError(
                    f"SessionSchedule.{name} must be a naive datetime.time in exchange time "
                    f"(e.g. time(16, 0)), got {value!r}",
                )
        if not self.halt_start < self.session_open:
            raise RiskConfigError(
                f"SessionSchedule.halt_start ({self.halt_start}) must be before session_open "
                f"({self.session_open}): the daily halt has to fit inside one calendar day",
            )
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise RiskConfigError(
                f"SessionSchedule.tz {self.tz!r} is not a known IANA time zone: "
                "use e.g. 'America/Chicago'",
            ) from exc
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_bounds_cache", {})
        if self.calendar is not None:
            if not isinstance(self.calendar, str):
                raise RiskConfigError(
                    f"SessionSchedule.calendar must be a calendar name or None, got "
                    f"{self.calendar!r}"
                )
            _exchange_calendar(self.calendar)
        for pair in self.breaks:
            if (
                not isinstance(pair, tuple)
                or len(pair) != 2
                or not all(isinstance(t, time) and t.tzinfo is None for t in pair)
            ):
                raise RiskConfigError(
                    f"SessionSchedule.breaks entries must be (start, end) pairs of naive "
                    f"datetime.time, got {pair!r}",
                )
            start, end = pair
            if not start < end:
                raise RiskConfigError(
                    f"SessionSchedule.breaks: start {start} must be before end {end}",
                )
            if not (end <= self.halt_start or start >= self.session_open):
                raise RiskConfigError(
                    f"SessionSchedule.breaks: {start}-{end} overlaps the daily halt "
                    f"{self.halt_start}-{self.session_open}: remove it or move it",
                )

    @property
    def zone(self) -> ZoneInfo:
        """The exchange time zone."""
        return self._zone

    def local(self, ts: datetime) -> datetime:
        """``ts`` in exchange wall-clock time (for messages and logs)."""
        return require_aware(ts).astimezone(self._zone)

    def trading_day(self, ts: datetime) -> date:
        """The trading day ``ts`` belongs to.

        The day rolls at ``session_open`` (17:00 CT): from then on a timestamp belongs to the
        next calendar day's trading day. Days without a session (weekends, closures) map
        forward to the next session, so Friday 17:00 CT through Sunday 17:00 CT belong to the
        following Monday; Friday 16:00-17:00 CT (or the hours after an early close) still
        belong to that day, like the Monday-Thursday halt belongs to the day it ends.
        """
        local = self.local(ts)
        day = local.date()
        if local.time() >= self.session_open:
            day += timedelta(days=1)
        if self.always_open:
            return day
        return self._session_on_or_after(day)

    def session_bounds(self, day: date) -> tuple[datetime, datetime] | None:
        """Trading day ``day``'s session as (open, close) in UTC, or None when it has none
        (weekend, closure). The close is the early close on an early-close day."""
        if day in self._bounds_cache:
            return self._bounds_cache[day]
        bounds: tuple[datetime, datetime] | None = None
        close = datetime.combine(day, self.halt_start, tzinfo=self._zone).astimezone(UTC)
        if self.calendar is None:
            if day.weekday() < _SATURDAY:
                bounds = (self._open_of(day), close)
        else:
            sessions = _calendar_year(self.calendar, day.year)
            if day in sessions:
                early = sessions[day]
                bounds = (self._open_of(day), min(close, early) if early else close)
        self._bounds_cache[day] = bounds
        return bounds

    def session_day_on_or_after(self, day: date) -> date:
        """The first trading day on or after calendar day ``day`` (weekends and closures
        skipped): where a timestamp whose naive 17:00 roll lands on ``day`` belongs."""
        return day if self.always_open else self._session_on_or_after(day)

    def is_trading_day(self, day: date) -> bool:
        """True when ``day`` has a session (not a weekend or an exchange closure)."""
        return self.always_open or self.session_bounds(day) is not None

    def is_market_open(self, ts: datetime) -> bool:
        """True while Globex trades: not in the daily halt, the weekend, a closure, after an
        early close, or in an intraday break."""
        require_aware(ts)
        if self.always_open:
            return True
        return self._open_ignoring_breaks(ts) and not self._in_break(ts)

    def next_halt(self, ts: datetime) -> datetime:
        """The first session close (``halt_start``, or an early close) strictly after ``ts``.

        Friday's close starts the weekend; from Friday evening or the weekend the next close is
        Monday's. Returned in the time zone of ``ts``.
        """
        now = require_aware(ts).astimezone(UTC)
        day = self.trading_day(ts) if not self.always_open else self.local(ts).date()
        for _ in range(_MAX_GAP_DAYS * 3):
            bounds = self.session_bounds(day)
            if bounds is not None and bounds[1] > now:
                return bounds[1].astimezone(ts.tzinfo)
            day = self._session_on_or_after(day + timedelta(days=1))
        raise AssertionError("unreachable: a session closes within weeks")  # pragma: no cover

    def minutes_to_halt(self, ts: datetime) -> float:
        """Real elapsed minutes from ``ts`` to ``next_halt(ts)`` (DST-correct, always > 0)."""
        return _elapsed(ts, self.next_halt(ts)).total_seconds() / 60.0

    def next_session_open(self, ts: datetime) -> datetime:
        """The first session open (``session_open`` on the day before a trading day) strictly
        after ``ts``. Returned in the time zone of ``ts``. While the market is open this is the
        re-open after the coming halt."""
        now = require_aware(ts).astimezone(UTC)
        day = self.trading_day(ts) if not self.always_open else self.local(ts).date()
        for _ in range(_MAX_GAP_DAYS * 3):
            bounds = self.session_bounds(day)
            if bounds is not None and bounds[0] > now:
                return bounds[0].astimezone(ts.tzinfo)
            day = self._session_on_or_after(day + timedelta(days=1))
        raise AssertionError("unreachable: a session opens within weeks")  # pragma: no cover

    def in_halt_window(self, ts: datetime, minutes: int) -> bool:
        """True while the market is closed (halt, weekend, closure, after an early close), or
        within ``minutes`` before the next session close.

        Intraday ``breaks`` are ignored here; this is the flatten-before-halt window.
        """
        _require_minutes(minutes, "minutes")
        require_aware(ts)
        if self.always_open:
            return False
        if not self._open_ignoring_breaks(ts):
            return True
        return _elapsed(ts, self.next_halt(ts)) <= timedelta(minutes=minutes)

    def in_entry_guard(self, ts: datetime, guard_minutes: int) -> bool:
        """True when no new entry may start: within ``guard_minutes`` of the session close
        (early closes included) or an intraday break, or while the market is closed.

        The boundary counts as inside: with a 15-minute guard, 15:45:00 CT is already guarded.
        """
        _require_minutes(guard_minutes, "guard_minutes")
        if self.always_open:
            return False
        if self.in_halt_window(ts, guard_minutes):
            return True
        if self._in_break(ts):
            return True
        next_break = self._next_break_start(ts)
        guard = timedelta(minutes=guard_minutes)
        return next_break is not None and _elapsed(ts, next_break) <= guard

    # -- internals -----------------------------------------------------------------------------

    def _open_of(self, day: date) -> datetime:
        """When trading day ``day``'s session opens: ``session_open`` the calendar day before."""
        previous = day - timedelta(days=1)
        return datetime.combine(previous, self.session_open, tzinfo=self._zone).astimezone(UTC)

    def _session_on_or_after(self, day: date) -> date:
        for _ in range(_MAX_GAP_DAYS):
            if self.session_bounds(day) is not None:
                return day
            day += timedelta(days=1)
        raise RiskConfigError(
            f"no trading session within {_MAX_GAP_DAYS} days of {day}: check the session "
            f"calendar {self.calendar!r}"
        )

    def _open_ignoring_breaks(self, ts: datetime) -> bool:
        now = ts.astimezone(UTC)
        bounds = self.session_bounds(self.trading_day(ts))
        return bounds is not None and bounds[0] <= now < bounds[1]

    def _in_break(self, ts: datetime) -> bool:
        if not self.breaks:
            return False
        clock = self.local(ts).time()
        return any(start <= clock < end for start, end in self.breaks) and (
            self._open_ignoring_breaks(ts)
        )

    def _next_break_start(self, ts: datetime) -> datetime | None:
        """The first intraday break start strictly after ``ts`` on an open session, if any."""
        if not self.breaks:
            return None
        now_utc = ts.astimezone(UTC)
        first_day = now_utc.astimezone(self._zone).date()
        for offset in range(9):
            day = first_day + timedelta(days=offset)
            for start, _end in sorted(self.breaks):
                local = datetime.combine(day, start, tzinfo=self._zone)
                candidate = local.astimezone(UTC)
                if candidate > now_utc and self._open_ignoring_breaks(local):
                    return candidate.astimezone(ts.tzinfo)
        return None


CME_EQUITY_INDEX = SessionSchedule()
"""Today's CME equity-index Globex hours: halt 16:00-17:00 CT, weekend Fri 16:00-Sun 17:00 CT."""

CME_EQUITY_INDEX_2013 = SessionSchedule(
    halt_start=time(16, 15),
    session_open=time(17, 0),
    breaks=((time(15, 15), time(15, 30)),),
)
"""The hours in the 2013 data: close 16:15 CT, re-open 17:00 CT, intraday halt 15:15-15:30 CT."""


def parse_clock_time(name: str, text: str) -> time:
    """Parse 'HH:MM' exchange wall-clock time; the error names the setting."""
    try:
        hours, minutes = str(text).split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise RiskConfigError(
            f"{name} must be a wall-clock time like '16:00' (quote it in YAML), got {text!r}",
        ) from exc


def parse_clock_range(text: str) -> tuple[time, time]:
    """Parse a 'HH:MM-HH:MM' session break."""
    start, sep, end = str(text).partition("-")
    if not sep:
        raise RiskConfigError(f"session_breaks entries look like '15:15-15:30', got {text!r}")
    return parse_clock_time("session_breaks", start), parse_clock_time("session_breaks", end)
