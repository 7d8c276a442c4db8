"""Session calendar: trading-day roll, halt, weekend, entry guard, DST switch days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from quant_scalper.errors import ConfigError, QuantScalperError
from quant_scalper.risk.session import (
    CME_EQUITY_INDEX,
    CME_EQUITY_INDEX_2013,
    RiskConfigError,
    SessionSchedule,
)

CT = ZoneInfo("America/Chicago")
S = CME_EQUITY_INDEX


def ct(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=CT)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


# 2024-03-11 is a Monday, 2024-03-08 a Friday, 2024-03-09/10 the weekend.
@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ct(2024, 3, 11, 0, 30), date(2024, 3, 11)),  # Monday overnight session
        (ct(2024, 3, 11, 15, 59), date(2024, 3, 11)),
        (ct(2024, 3, 11, 16, 30), date(2024, 3, 11)),  # the halt belongs to the day it ends
        (ct(2024, 3, 11, 16, 59, 59), date(2024, 3, 11)),
        (ct(2024, 3, 11, 17, 0), date(2024, 3, 12)),  # rolls at 17:00 CT
        (ct(2024, 3, 14, 17, 0), date(2024, 3, 15)),  # Thursday evening -> Friday
        (ct(2024, 3, 8, 15, 0), date(2024, 3, 8)),  # Friday
        (ct(2024, 3, 8, 16, 30), date(2024, 3, 8)),  # Friday after the close, before 17:00
        (ct(2024, 3, 8, 17, 0), date(2024, 3, 11)),  # Friday evening -> Monday
        (ct(2024, 3, 9, 12, 0), date(2024, 3, 11)),  # Saturday -> Monday
        (ct(2024, 3, 10, 16, 59), date(2024, 3, 11)),  # Sunday before the open -> Monday
        (ct(2024, 3, 10, 17, 0), date(2024, 3, 11)),  # Sunday open -> Monday
        (ct(2024, 3, 10, 23, 0), date(2024, 3, 11)),
    ],
)
def test_trading_day(ts: datetime, expected: date) -> None:
    assert S.trading_day(ts) == expected
    assert S.trading_day(ts.astimezone(UTC)) == expected
    assert S.trading_day(ts.astimezone(ZoneInfo("Asia/Tokyo"))) == expected


def test_naive_timestamps_are_refused() -> None:
    naive = datetime(2024, 3, 11, 12, 0)
    for call in (S.trading_day, S.is_market_open, S.next_halt, S.next_session_open):
        with pytest.raises(ValueError, match="timezone-aware"):
            call(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        S.in_entry_guard(naive, 15)


# The trading day rolls at 17:00 CT = 23:00 UTC in winter (CST) and 22:00 UTC in summer (CDT).
# All four DST switches (2013 and 2024) fall on a Sunday; the rolls around them are checked on
# the Friday before and the Monday after, and the Sunday open is checked separately below.
@pytest.mark.parametrize(
    ("last_second", "day_before", "day_after"),
    [
        (utc(2024, 3, 8, 22, 59, 59), date(2024, 3, 8), date(2024, 3, 11)),  # Fri, CST
        (utc(2024, 3, 11, 21, 59, 59), date(2024, 3, 11), date(2024, 3, 12)),  # Mon, CDT
        (utc(2024, 11, 1, 21, 59, 59), date(2024, 11, 1), date(2024, 11, 4)),  # Fri, CDT
        (utc(2024, 11, 4, 22, 59, 59), date(2024, 11, 4), date(2024, 11, 5)),  # Mon, CST
        (utc(2013, 3, 8, 22, 59, 59), date(2013, 3, 8), date(2013, 3, 11)),
        (utc(2013, 3, 11, 21, 59, 59), date(2013, 3, 11), date(2013, 3, 12)),
        (utc(2013, 11, 1, 21, 59, 59), date(2013, 11, 1), date(2013, 11, 4)),
        (utc(2013, 11, 4, 22, 59, 59), date(2013, 11, 4), date(2013, 11, 5)),
    ],
)
@pytest.mark.parametrize("schedule", [CME_EQUITY_INDEX, CME_EQUITY_INDEX_2013])
def test_trading_day_rolls_at_1700_chicago_around_dst(
    schedule: SessionSchedule,
    last_second: datetime,
    day_before: date,
    day_after: date,
) -> None:
    assert schedule.trading_day(last_second) == day_before
    assert schedule.trading_day(last_second + timedelta(seconds=1)) == day_after
    assert schedule.local(last_second + timedelta(seconds=1)).time() == time(17, 0)


@pytest.mark.parametrize(
    ("sunday", "open_utc_hour"),
    [
        (date(2024, 3, 10), 22),  # spring forward: 17:00 CDT
        (date(2024, 11, 3), 23),  # fall back: 17:00 CST
        (date(2013, 3, 10), 22),
        (date(2013, 11, 3), 23),
    ],
)
def test_sunday_open_on_dst_switch_days(sunday: date, open_utc_hour: int) -> None:
    opens = datetime.combine(sunday, time(open_utc_hour), tzinfo=UTC)
    assert not S.is_market_open(opens - timedelta(seconds=1))
    assert S.is_market_open(opens)
    assert S.next_session_open(opens - timedelta(hours=5)) == opens
    assert S.trading_day(opens) == sunday + timedelta(days=1)
    # the previous Friday evening (23:30 UTC is after 17:00 CT in summer and winter) already
    # mapped to that Monday
    friday_evening = datetime.combine(sunday - timedelta(days=2), time(23, 30), tzinfo=UTC)
    assert S.trading_day(friday_evening) == sunday + timedelta(days=1)


@pytest.mark.parametrize(
    ("ts", "is_open"),
    [
        (ct(2024, 3, 11, 0, 0), True),
        (ct(2024, 3, 11, 15, 59, 59), True),
        (ct(2024, 3, 11, 16, 0), False),
        (ct(2024, 3, 11, 16, 59, 59), False),
        (ct(2024, 3, 11, 17, 0), True),
        (ct(2024, 3, 15, 15, 59), True),  # Friday
        (ct(2024, 3, 15, 16, 0), False),
        (ct(2024, 3, 15, 17, 30), False),  # Friday evening: weekend
        (ct(2024, 3, 16, 12, 0), False),  # Saturday
        (ct(2024, 3, 17, 16, 59), False),  # Sunday before the open
        (ct(2024, 3, 17, 17, 0), True),
    ],
)
def test_is_market_open(ts: datetime, is_open: bool) -> None:
    assert S.is_market_open(ts) is is_open


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ct(2024, 3, 11, 10, 0), ct(2024, 3, 11, 16, 0)),
        (ct(2024, 3, 11, 16, 0), ct(2024, 3, 12, 16, 0)),  # at the close: the next one
        (ct(2024, 3, 11, 16, 30), ct(2024, 3, 12, 16, 0)),
        (ct(2024, 3, 15, 15, 0), ct(2024, 3, 15, 16, 0)),  # Friday close
        (ct(2024, 3, 15, 16, 0), ct(2024, 3, 18, 16, 0)),  # skips the weekend
        (ct(2024, 3, 16, 12, 0), ct(2024, 3, 18, 16, 0)),
        (ct(2024, 3, 17, 18, 0), ct(2024, 3, 18, 16, 0)),
    ],
)
def test_next_halt(ts: datetime, expected: datetime) -> None:
    assert S.next_halt(ts) == expected
    as_utc = S.next_halt(ts.astimezone(UTC))
    assert as_utc == expected
    assert as_utc.tzinfo is UTC  # returned in the caller's time zone


@pytest.mark.parametrize("tz", [UTC, CT])
def test_minutes_to_halt_counts_real_time_across_dst(tz: ZoneInfo) -> None:
    # Saturday noon CDT -> Monday 16:00 CST: 52 wall-clock hours but 53 real hours.
    assert S.minutes_to_halt(ct(2024, 11, 2, 12, 0).astimezone(tz)) == 53 * 60
    # Saturday noon CST -> Monday 16:00 CDT: 51 real hours.
    assert S.minutes_to_halt(ct(2024, 3, 9, 12, 0).astimezone(tz)) == 51 * 60
    assert S.minutes_to_halt(ct(2024, 3, 11, 15, 45).astimezone(tz)) == 15


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (ct(2024, 3, 11, 10, 0), ct(2024, 3, 11, 17, 0)),
        (ct(2024, 3, 11, 17, 0), ct(2024, 3, 12, 17, 0)),
        (ct(2024, 3, 14, 17, 30), ct(2024, 3, 17, 17, 0)),  # Thursday night -> Sunday
        (ct(2024, 3, 15, 10, 0), ct(2024, 3, 17, 17, 0)),  # Friday -> Sunday
        (ct(2024, 3, 16, 10, 0), ct(2024, 3, 17, 17, 0)),
    ],
)
def test_next_session_open(ts: datetime, expected: datetime) -> None:
    assert S.next_session_open(ts) == expected


@pytest.mark.parametrize(
    ("ts", "guard", "guarded"),
    [
        (ct(2024, 3, 11, 15, 44, 59), 15, False),
        (ct(2024, 3, 11, 15, 45), 15, True),  # the boundary is inside
        (ct(2024, 3, 11, 16, 30), 15, True),  # the halt
        (ct(2024, 3, 11, 17, 0), 15, False),  # re-open: no guard after the halt
        (ct(2024, 3, 15, 15, 50), 15, True),  # Friday close
        (ct(2024, 3, 16, 12, 0), 15, True),  # Saturday
        (ct(2024, 3, 17, 17, 0), 15, False),  # Sunday open
        (ct(2024, 3, 11, 15, 59), 0, False),
        (ct(2024, 3, 11, 16, 0), 0, True),
    ],
)
def test_in_entry_guard(ts: datetime, guard: int, guarded: bool) -> None:
    assert S.in_entry_guard(ts, guard) is guarded


@pytest.mark.parametrize("bad", [-1, 1.5, True, None])
def test_in_entry_guard_rejects_bad_minutes(bad: object) -> None:
    with pytest.raises(ValueError, match="minutes"):
        S.in_entry_guard(ct(2024, 3, 11, 10, 0), bad)  # type: ignore[arg-type]


def test_2013_schedule_close_and_intraday_break() -> None:
    s = CME_EQUITY_INDEX_2013
    assert s.is_market_open(ct(2013, 10, 7, 16, 10))
    assert not s.is_market_open(ct(2013, 10, 7, 16, 15))
    assert s.next_halt(ct(2013, 10, 7, 12, 0)) == ct(2013, 10, 7, 16, 15)
    # the 15:15-15:30 break: closed, guarded before it, but it is not "the halt"
    assert not s.is_market_open(ct(2013, 10, 7, 15, 20))
    assert s.is_market_open(ct(2013, 10, 7, 15, 30))
    assert s.in_entry_guard(ct(2013, 10, 7, 15, 0), 15)
    assert not s.in_entry_guard(ct(2013, 10, 7, 14, 59), 15)
    assert s.in_entry_guard(ct(2013, 10, 7, 15, 20), 15)
    assert not s.in_halt_window(ct(2013, 10, 7, 15, 20), 15)
    assert s.in_halt_window(ct(2013, 10, 7, 16, 0), 15)
    # no break on Saturday: the weekend is closed anyway, and Sunday evening has none
    assert not s.in_entry_guard(ct(2013, 10, 6, 17, 5), 15)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"halt_start": time(17, 0), "session_open": time(16, 0)}, "halt_start"),
        ({"halt_start": "16:00"}, "halt_start"),
        ({"session_open": time(17, 0, tzinfo=UTC)}, "session_open"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"breaks": ((time(15, 30), time(15, 15)),)}, "breaks"),
        ({"breaks": ((time(15, 30), time(16, 30)),)}, "overlaps"),
        ({"breaks": (time(15, 30),)}, "breaks"),
    ],
)
def test_schedule_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(RiskConfigError, match=match):
        SessionSchedule(**kwargs)  # type: ignore[arg-type]


def test_risk_config_error_is_a_config_and_value_error() -> None:
    assert issubclass(RiskConfigError, ValueError)
    assert issubclass(RiskConfigError, ConfigError)
    assert issubclass(RiskConfigError, QuantScalperError)


def test_always_open_schedule_never_halts_but_still_rolls_at_1700() -> None:
    from datetime import UTC, date, datetime

    from quant_scalper.risk import SessionSchedule

    schedule = SessionSchedule(always_open=True)
    saturday_noon = datetime(2024, 3, 9, 18, 0, tzinfo=UTC)  # 12:00 CST
    assert schedule.is_market_open(saturday_noon)
    assert not schedule.in_entry_guard(saturday_noon, 15)
    assert not schedule.in_halt_window(datetime(2024, 3, 11, 20, 55, tzinfo=UTC), 15)
    assert schedule.trading_day(saturday_noon) == date(2024, 3, 9)
    assert schedule.trading_day(datetime(2024, 3, 9, 23, 0, tzinfo=UTC)) == date(2024, 3, 10)
