"""Issue 10 item 6: CME Globex equity holidays and early closes drive the session rules.

The calendar is pandas_market_calendars' "CME Globex Equity". 2026: Thanksgiving Thursday
Nov 26 halts at 12:00 CT, Friday Nov 27 closes at 12:15 CT; Christmas Eve Thursday Dec 24
closes at 12:15 CT, Christmas Friday Dec 25 is closed, the next session opens Sunday Dec 27
17:00 CT.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from quant_scalper.risk import RiskCore, RiskLimits
from quant_scalper.risk.session import CME_EQUITY_INDEX, DEFAULT_CALENDAR, SessionSchedule

CT = ZoneInfo("America/Chicago")
S = CME_EQUITY_INDEX
WEEKDAYS = SessionSchedule(calendar=None)  # the old hand-written schedule, for contrast
REPO = Path(__file__).resolve().parents[2]


def ct(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CT)


def test_default_schedule_uses_the_cme_globex_equity_calendar() -> None:
    assert S.calendar == DEFAULT_CALENDAR == "CME Globex Equity"


def test_thanksgiving_week_2026() -> None:
    # Wednesday: a regular 16:00 close.
    assert S.next_halt(ct(2026, 11, 25, 10)) == ct(2026, 11, 25, 16)
    # Thursday: early halt at 12:00, re-open 17:00 for Friday's session.
    assert S.next_halt(ct(2026, 11, 26, 10)) == ct(2026, 11, 26, 12)
    assert S.is_market_open(ct(2026, 11, 26, 11, 59))
    assert not S.is_market_open(ct(2026, 11, 26, 13))
    assert S.trading_day(ct(2026, 11, 26, 13)) == date(2026, 11, 26)
    assert S.next_session_open(ct(2026, 11, 26, 13)) == ct(2026, 11, 26, 17)
    assert S.trading_day(ct(2026, 11, 26, 17)) == date(2026, 11, 27)
    # Friday: early close 12:15 CT, then the weekend.
    assert S.next_halt(ct(2026, 11, 27, 9)) == ct(2026, 11, 27, 12, 15)
    assert S.is_market_open(ct(2026, 11, 27, 12, 14))
    assert not S.is_market_open(ct(2026, 11, 27, 12, 15))
    assert not S.is_market_open(ct(2026, 11, 27, 15))  # the weekday schedule said open
    assert WEEKDAYS.is_market_open(ct(2026, 11, 27, 15))
    # The guard and the flatten window start guard-minutes before 12:15, not before 16:00.
    assert not S.in_entry_guard(ct(2026, 11, 27, 11, 59), 15)
    assert S.in_entry_guard(ct(2026, 11, 27, 12, 0), 15)
    assert S.in_halt_window(ct(2026, 11, 27, 12, 0), 15)
    assert not WEEKDAYS.in_halt_window(ct(2026, 11, 27, 12, 0), 15)
    # From Friday afternoon the next close is Monday's 16:00.
    assert S.next_halt(ct(2026, 11, 27, 13)) == ct(2026, 11, 30, 16)
    assert S.trading_day(ct(2026, 11, 27, 17)) == date(2026, 11, 30)


def test_christmas_2026() -> None:
    assert S.next_halt(ct(2026, 12, 24, 8)) == ct(2026, 12, 24, 12, 15)
    assert S.in_entry_guard(ct(2026, 12, 24, 12), 15)
    assert not S.is_market_open(ct(2026, 12, 24, 14))
    # Christmas Day (a Friday) is closed: no session, no trading day.
    assert not S.is_trading_day(date(2026, 12, 25))
    assert WEEKDAYS.is_trading_day(date(2026, 12, 25))
    assert not S.is_market_open(ct(2026, 12, 24, 18))  # the weekday schedule re-opened here
    assert WEEKDAYS.is_market_open(ct(2026, 12, 24, 18))
    assert S.trading_day(ct(2026, 12, 24, 17)) == date(2026, 12, 28)
    assert S.trading_day(ct(2026, 12, 25, 10)) == date(2026, 12, 28)
    assert S.next_session_open(ct(2026, 12, 24, 13)) == ct(2026, 12, 27, 17)
    assert S.next_halt(ct(2026, 12, 24, 13)) == ct(2026, 12, 28, 16)
    assert S.is_market_open(ct(2026, 12, 27, 17, 1))


def test_new_year_2027_closed() -> None:
    assert not S.is_trading_day(date(2027, 1, 1))
    assert S.trading_day(ct(2026, 12, 31, 17)) == date(2027, 1, 4)
    assert not S.is_market_open(ct(2026, 12, 31, 20))


def test_daily_loss_roll_skips_the_closure() -> None:
    """The breakers' trading day (the daily loss limit's reset) follows the calendar."""
    breakers = RiskCore(RiskLimits(), schedule=S)
    breakers.roll_trading_day(ct(2026, 12, 24, 10).astimezone(UTC))
    assert breakers.state.trading_day == date(2026, 12, 24)
    breakers.roll_trading_day(ct(2026, 12, 25, 10).astimezone(UTC))
    assert breakers.state.trading_day == date(2026, 12, 28)


def _bundled_days() -> list[date]:
    manifest = json.loads((REPO / "catalog" / "manifest.json").read_text())
    names = {f["name"][:8] for f in manifest["source"]["files"] if f["name"][:8].isdigit()}
    return sorted(date(int(n[:4]), int(n[4:6]), int(n[6:8])) for n in names)


def test_the_bundled_days_are_regular_sessions() -> None:
    """The bundled data has no holiday or early close, so its backtest figures are unchanged:
    every bundled day the calendar knows is a full session, as on the weekday schedule."""
    days = _bundled_days()
    assert len(days) == 16
    for day in days:
        if day.weekday() == 6:  # the LEAN file of a Sunday holds the evening's bars
            continue
        assert S.session_bounds(day) == WEEKDAYS.session_bounds(day), day
        for hour in range(24):
            ts = datetime(day.year, day.month, day.day, hour, tzinfo=CT)
            assert S.in_entry_guard(ts, 15) == WEEKDAYS.in_entry_guard(ts, 15), ts
            assert S.trading_day(ts) == WEEKDAYS.trading_day(ts), ts


def test_the_calendar_is_read_once_per_year() -> None:
    """on_bar asks these every bar: after a year is loaded every lookup is a dictionary read
    (the speed itself is measured in the README, not asserted here)."""
    from quant_scalper.risk.session import _calendar_year

    S.next_halt(ct(2026, 6, 1, 10))  # loads 2026
    misses = _calendar_year.cache_info().misses
    start = ct(2026, 6, 1)
    for i in range(3000):
        ts = start + timedelta(minutes=i)
        S.in_entry_guard(ts, 15)
        S.trading_day(ts)
    assert _calendar_year.cache_info().misses == misses


def test_unknown_calendar_is_a_config_error() -> None:
    from quant_scalper.errors import ConfigError

    with pytest.raises(ConfigError, match="not a pandas_market_calendars calendar"):
        SessionSchedule(calendar="NOPE")
