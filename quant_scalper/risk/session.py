"""CME equity-index Globex session calendar: trading days, the daily halt and the weekend.

Pure logic (stdlib + zoneinfo). Every function takes a timezone-aware ``datetime`` and does its
arithmetic in UTC, so a DST switch (second Sunday of March, first Sunday of November in
America/Chicago) never shifts a boundary: the day still rolls at 17:00 Chicago wall time.

The default schedule is today's: Globex trades Sunday 17:00 CT to Friday 16:00 CT with a daily
halt 16:00-17:00 CT Monday to Thursday. Older data used other times (the 2013 data closes at
16:15 CT and has a 15:15-15:30 CT halt: see ``CME_EQUITY_INDEX_2013``), hence ``SessionSchedule``.

Exchange holidays (early closes, full closures) are out of scope: the calendar treats every
Monday-Friday as a normal trading day. Block those days elsewhere (e.g. the kill switch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from quant_scalper.errors import ConfigError

_SATURDAY = 5
_SUNDAY = 6
_FRIDAY = 4


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
    The daily halt must fit inside one calendar day: ``halt_start < session_open``.
    Holidays are not modelled (see the module docstring).
    """

    halt_start: time = time(16, 0)
    session_open: time = time(17, 0)
    tz: str = "America/Chicago"
    breaks: tuple[tuple[time, time], ...] = ()
    always_open: bool = False
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

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
        next calendar day's trading day. Days falling on a weekend map forward to Monday, so:
        Friday 17:00 CT through Sunday 17:00 CT (the whole weekend closure, Saturday included)
        belong to the following Monday, the session that opens next; Friday 16:00-17:00 CT
        still belongs to Friday, like the Monday-Thursday halt belongs to the day it ends.
        """
        local = self.local(ts)
        day = local.date()
        if local.time() >= self.session_open:
            day += timedelta(days=1)
        while day.weekday() >= _SATURDAY and not self.always_open:
            day += timedelta(days=1)
        return day

    def is_market_open(self, ts: datetime) -> bool:
        """True while Globex trades: not in the daily halt, the weekend or an intraday break."""
        local = self.local(ts)
        if self.always_open:
            return True
        return self._open_ignoring_breaks(local) and not self._in_break(local)

    def next_halt(self, ts: datetime) -> datetime:
        """The first daily close (``halt_start``, Monday-Friday) strictly after ``ts``.

        Friday's close starts the weekend; from Friday evening or the weekend the next close is
        Monday's. Returned in the time zone of ``ts``.
        """
        return self._next_at(ts, self.halt_start, weekdays=(0, 1, 2, 3, _FRIDAY))

    def minutes_to_halt(self, ts: datetime) -> float:
        """Real elapsed minutes from ``ts`` to ``next_halt(ts)`` (DST-correct, always > 0)."""
        return _elapsed(ts, self.next_halt(ts)).total_seconds() / 60.0

    def next_session_open(self, ts: datetime) -> datetime:
        """The first session open (``session_open``, Sunday-Thursday) strictly after ``ts``.

        Returned in the time zone of ``ts``. While the market is open this is the re-open after
        the coming halt.
        """
        return self._next_at(ts, self.session_open, weekdays=(_SUNDAY, 0, 1, 2, 3))

    def in_halt_window(self, ts: datetime, minutes: int) -> bool:
        """True during the daily halt or weekend, or within ``minutes`` before it starts.

        Intraday ``breaks`` are ignored here; this is the flatten-before-halt window.
        """
        _require_minutes(minutes, "minutes")
        local = self.local(ts)
        if self.always_open:
            return False
        if not self._open_ignoring_breaks(local):
            return True
        return _elapsed(ts, self.next_halt(ts)) <= timedelta(minutes=minutes)

    def in_entry_guard(self, ts: datetime, guard_minutes: int) -> bool:
        """True when no new entry may start: within ``guard_minutes`` of the daily halt or an
        intraday break, or while the market is closed (halt, weekend, break).

        The boundary counts as inside: with a 15-minute guard, 15:45:00 CT is already guarded.
        """
        _require_minutes(guard_minutes, "guard_minutes")
        if self.always_open:
            return False
        if self.in_halt_window(ts, guard_minutes):
            return True
        local = self.local(ts)
        if self._in_break(local):
            return True
        next_break = self._next_break_start(ts)
        guard = timedelta(minutes=guard_minutes)
        return next_break is not None and _elapsed(ts, next_break) <= guard

    # -- internals -----------------------------------------------------------------------------

    def _open_ignoring_breaks(self, local: datetime) -> bool:
        weekday, clock = local.weekday(), local.time()
        if weekday == _SATURDAY:
            return False
        if weekday == _SUNDAY:
            return clock >= self.session_open
        if weekday == _FRIDAY:
            return clock < self.halt_start
        return not (self.halt_start <= clock < self.session_open)

    def _in_break(self, local: datetime) -> bool:
        clock = local.time()
        return any(start <= clock < end for start, end in self.breaks) and (
            self._open_ignoring_breaks(local)
        )

    def _next_at(self, ts: datetime, at: time, weekdays: tuple[int, ...]) -> datetime:
        """The first ``at`` wall-clock time on one of ``weekdays`` strictly after ``ts``."""
        now_utc = require_aware(ts).astimezone(UTC)
        first_day = now_utc.astimezone(self._zone).date()
        for offset in range(9):
            day = first_day + timedelta(days=offset)
            if day.weekday() not in weekdays:
                continue
            candidate = datetime.combine(day, at, tzinfo=self._zone).astimezone(UTC)
            if candidate > now_utc:
                return candidate.astimezone(ts.tzinfo)
        raise AssertionError("unreachable: every week has a matching weekday")  # pragma: no cover

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
