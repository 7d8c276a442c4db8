"""Circuit breakers: one test group per rule, plus the limits' validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from quant_scalper.errors import QuantScalperError
from quant_scalper.risk import (
    MAX_TRIPS_KEPT,
    RiskConfigError,
    RiskCore,
    RiskLimits,
    RiskState,
    Rule,
    Trip,
)

CT = ZoneInfo("America/Chicago")


def ct(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A Chicago wall-clock time, as the UTC instant the strategy would pass."""
    return datetime(y, m, d, hh, mm, tzinfo=CT).astimezone(UTC)


MON_10 = ct(2024, 3, 11, 10, 0)  # Monday 2024-03-11 10:00 CDT, far from the halt
D = Decimal


def breakers(**limit_overrides: object) -> RiskCore:
    return RiskCore(RiskLimits(**limit_overrides))  # type: ignore[arg-type]


# -- limits ----------------------------------------------------------------------------------


def test_default_limits_match_the_issue() -> None:
    limits = RiskLimits()
    assert limits.daily_loss_limit == D("500")
    assert limits.max_consecutive_losses == 3
    assert limits.pause_minutes == 30
    assert limits.max_holding_minutes == 120
    assert limits.entry_guard_minutes == 15
    assert limits.flatten_before_halt is True


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"daily_loss_limit": D(0)}, "daily_loss_limit"),
        ({"daily_loss_limit": D(-5)}, "daily_loss_limit"),
        ({"daily_loss_limit": 500.0}, "daily_loss_limit"),
        ({"daily_loss_limit": True}, "daily_loss_limit"),
        ({"daily_loss_limit": "lots"}, "daily_loss_limit"),
        ({"daily_loss_limit": D("NaN")}, "daily_loss_limit"),
        ({"daily_loss_limit": D("Infinity")}, "daily_loss_limit"),
        ({"daily_loss_limit": None}, "daily_loss_limit"),
        ({"max_consecutive_losses": 0}, "max_consecutive_losses"),
        ({"max_consecutive_losses": 2.0}, "max_consecutive_losses"),
        ({"pause_minutes": -1}, "pause_minutes"),
        ({"pause_minutes": True}, "pause_minutes"),
        ({"max_holding_minutes": 0}, "max_holding_minutes"),
        ({"entry_guard_minutes": -1}, "entry_guard_minutes"),
        ({"flatten_before_halt": "yes"}, "flatten_before_halt"),
        ({"entry_guard_minutes": 0, "flatten_before_halt": True}, "entry_guard_minutes"),
    ],
)
def test_invalid_limits_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(RiskConfigError, match=field) as info:
        RiskLimits(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, QuantScalperError)


def test_limits_accept_int_and_string_amounts_and_optional_rules() -> None:
    assert RiskLimits(daily_loss_limit=250).daily_loss_limit == D("250")  # type: ignore[arg-type]
    assert RiskLimits(daily_loss_limit="250.50").daily_loss_limit == D("250.50")  # type: ignore[arg-type]
    assert RiskLimits(max_holding_minutes=None).max_holding_minutes is None
    assert RiskLimits(entry_guard_minutes=0, flatten_before_halt=False).entry_guard_minutes == 0
    assert RiskLimits(pause_minutes=0).pause_minutes == 0


# -- inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [-1.5, -1, "-1"])
def test_money_must_be_decimal(amount: object) -> None:
    cb = breakers()
    with pytest.raises(TypeError, match="Decimal"):
        cb.record_mark(MON_10, amount)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Decimal"):
        cb.record_closed_trade(MON_10, amount)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        cb.record_closed_trade(MON_10, D("NaN"))


def test_naive_now_is_refused() -> None:
    cb = breakers()
    naive = datetime(2024, 3, 11, 15, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        cb.entry_decision(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        cb.exit_reason(MON_10, naive)


def test_times_are_kept_in_utc_whatever_zone_is_passed_in() -> None:
    cb = breakers()
    trip = cb.kill(MON_10.astimezone(CT), "manual stop")
    assert trip.at.tzinfo is UTC
    assert trip.at == MON_10


# -- entries allowed -------------------------------------------------------------------------


def test_fresh_state_allows_entries_and_first_event_sets_the_day_without_a_trip() -> None:
    cb = breakers()
    decision = cb.entry_decision(MON_10)
    assert decision.allowed
    assert decision.rule is None
    assert cb.state.trading_day == date(2024, 3, 11)
    assert cb.state.trips == []


# -- daily loss limit ------------------------------------------------------------------------


def test_daily_limit_trips_on_realized_plus_open_at_the_limit() -> None:
    cb = breakers()
    assert cb.record_closed_trade(MON_10, D("-300.00")) == []
    assert cb.record_mark(MON_10 + timedelta(minutes=1), D("-199.99")) == []
    assert cb.entry_decision(MON_10 + timedelta(minutes=1)).allowed
    trips = cb.record_mark(MON_10 + timedelta(minutes=2), D("-200.00"))  # exactly -500
    assert [t.rule for t in trips] == [Rule.DAILY_LOSS_LIMIT]
    assert "flatten" in trips[0].reason
    assert cb.state.daily_limit_hit
    assert cb.state.daily_limit_hit_at == MON_10 + timedelta(minutes=2)
    decision = cb.entry_decision(MON_10 + timedelta(minutes=3))
    assert not decision.allowed
    assert decision.rule is Rule.DAILY_LOSS_LIMIT
    assert "daily loss limit" in (cb.exit_reason(MON_10 + timedelta(minutes=3), MON_10) or "")
    # no second trip for the same day, even if the mark recovers and falls again
    assert cb.record_mark(MON_10 + timedelta(minutes=4), D("0")) == []
    assert cb.record_mark(MON_10 + timedelta(minutes=5), D("-900")) == []
    assert not cb.entry_decision(MON_10 + timedelta(minutes=5)).allowed


def test_daily_limit_trips_on_closed_trades_and_clears_next_trading_day() -> None:
    cb = breakers(daily_loss_limit=D("100"), max_consecutive_losses=10)
    cb.record_closed_trade(MON_10, D("-60"))
    trips = cb.record_closed_trade(MON_10 + timedelta(minutes=5), D("-40"))
    assert [t.rule for t in trips] == [Rule.DAILY_LOSS_LIMIT]
    assert not cb.entry_decision(ct(2024, 3, 11, 16, 59)).allowed
    # 17:00 CT: a new trading day
    tuesday_evening = ct(2024, 3, 11, 17, 0)
    decision = cb.entry_decision(tuesday_evening)
    assert decision.allowed
    assert cb.state.trading_day == date(2024, 3, 12)
    assert cb.state.realized_pnl == 0
    assert cb.state.trips[-1].rule is Rule.DAY_ROLL
    assert "daily loss limit cleared" in cb.state.trips[-1].reason


def test_closing_a_trade_does_not_count_its_last_mark_twice() -> None:
    cb = breakers()
    cb.record_mark(MON_10, D("-300"))
    assert cb.record_closed_trade(MON_10 + timedelta(minutes=1), D("-300")) == []
    assert cb.state.open_pnl == 0
    assert cb.state.daily_pnl == D("-300")


def test_winners_offset_losers_against_the_daily_limit() -> None:
    cb = breakers(max_consecutive_losses=99)
    cb.record_closed_trade(MON_10, D("-400"))
    cb.record_closed_trade(MON_10, D("+300"))
    assert cb.record_closed_trade(MON_10, D("-399.99")) == []
    assert cb.entry_decision(MON_10).allowed


# -- consecutive losses ----------------------------------------------------------------------


def test_three_losses_in_a_row_pause_entries_for_thirty_minutes() -> None:
    cb = breakers()
    assert cb.record_closed_trade(MON_10, D("-10")) == []
    assert cb.record_closed_trade(MON_10 + timedelta(minutes=1), D("-10")) == []
    assert cb.entry_decision(MON_10 + timedelta(minutes=1)).allowed
    third = MON_10 + timedelta(minutes=2)
    trips = cb.record_closed_trade(third, D("-10"))
    assert [t.rule for t in trips] == [Rule.CONSECUTIVE_LOSSES]
    assert cb.state.paused_until == third + timedelta(minutes=30)
    assert cb.state.consecutive_losses == 0  # reset once the pause is armed
    blocked = cb.entry_decision(third + timedelta(minutes=29, seconds=59))
    assert not blocked.allowed
    assert blocked.rule is Rule.CONSECUTIVE_LOSSES
    assert cb.entry_decision(third + timedelta(minutes=30)).allowed
    # a pause never forces an exit
    assert cb.exit_reason(third + timedelta(minutes=1), third) is None


def test_a_winner_resets_the_streak_and_breakeven_does_neither() -> None:
    cb = breakers()
    cb.record_closed_trade(MON_10, D("-10"))
    cb.record_closed_trade(MON_10, D("-10"))
    cb.record_closed_trade(MON_10, D("0.00"))  # breakeven: not a loss, not a reset
    assert cb.state.consecutive_losses == 2
    cb.record_closed_trade(MON_10, D("0.01"))  # winner
    assert cb.state.consecutive_losses == 0
    cb.record_closed_trade(MON_10, D("-10"))
    cb.record_closed_trade(MON_10, D("0"))
    cb.record_closed_trade(MON_10, D("-10"))
    trips = cb.record_closed_trade(MON_10, D("-10"))
    assert [t.rule for t in trips] == [Rule.CONSECUTIVE_LOSSES]
    assert cb.state.trades_today == 8


def test_pause_survives_the_day_roll_but_the_streak_does_not() -> None:
    cb = breakers()
    before_roll = ct(2024, 3, 11, 16, 50)
    cb.record_closed_trade(before_roll, D("-10"))
    cb.record_closed_trade(before_roll, D("-10"))
    cb.record_closed_trade(before_roll, D("-10"))
    assert cb.state.paused_until == before_roll + timedelta(minutes=30)
    after_roll = ct(2024, 3, 11, 17, 5)
    assert not cb.entry_decision(after_roll).allowed  # still paused until 17:20 CT
    assert cb.state.trading_day == date(2024, 3, 12)
    assert cb.entry_decision(ct(2024, 3, 11, 17, 20)).allowed

    cb.record_closed_trade(ct(2024, 3, 12, 16, 30), D("-10"))
    cb.record_closed_trade(ct(2024, 3, 12, 16, 31), D("-10"))
    cb.roll_trading_day(ct(2024, 3, 12, 17, 0))
    assert cb.state.consecutive_losses == 0


def test_zero_minute_pause_records_the_streak_but_blocks_nothing() -> None:
    cb = breakers(pause_minutes=0, max_consecutive_losses=1)
    trips = cb.record_closed_trade(MON_10, D("-1"))
    assert [t.rule for t in trips] == [Rule.CONSECUTIVE_LOSSES]
    assert cb.entry_decision(MON_10).allowed


# -- max holding time ------------------------------------------------------------------------


def test_max_holding_time_forces_an_exit_and_is_recorded_once() -> None:
    seen: list[Trip] = []
    cb = RiskCore(RiskLimits(), on_trip=seen.append)
    opened = ct(2024, 3, 11, 8, 0)
    assert cb.exit_reason(opened + timedelta(minutes=119, seconds=59), opened) is None
    reason = cb.exit_reason(opened + timedelta(minutes=120), opened)
    assert reason is not None
    assert "max 120 min" in reason
    assert cb.exit_reason(opened + timedelta(minutes=121), opened) == cb.exit_reason(
        opened + timedelta(minutes=121),
        opened,
    )
    assert [t.rule for t in seen] == [Rule.MAX_HOLDING_TIME]
    assert cb.state.trips == seen
    # a different position gets its own trip
    cb.exit_reason(opened + timedelta(minutes=300), opened + timedelta(minutes=1))
    assert len(seen) == 2


def test_max_holding_time_can_be_switched_off() -> None:
    cb = breakers(max_holding_minutes=None)
    opened = ct(2024, 3, 11, 0, 0)
    assert cb.exit_reason(opened + timedelta(hours=12), opened) is None


def test_flat_book_has_no_exit_reason_even_when_halted() -> None:
    cb = breakers()
    cb.kill(MON_10, "manual stop")
    assert cb.exit_reason(MON_10, None) is None


# -- session guard ---------------------------------------------------------------------------


def test_entries_blocked_near_and_in_the_halt_and_on_the_weekend() -> None:
    cb = breakers()
    assert cb.entry_decision(ct(2024, 3, 11, 15, 44)).allowed
    near = cb.entry_decision(ct(2024, 3, 11, 15, 45))
    assert not near.allowed
    assert near.rule is Rule.SESSION_GUARD
    assert "15 min" in near.reason
    closed = cb.entry_decision(ct(2024, 3, 11, 16, 30))
    assert not closed.allowed
    assert "closed" in closed.reason
    assert not cb.entry_decision(ct(2024, 3, 16, 12, 0)).allowed  # Saturday
    assert cb.entry_decision(ct(2024, 3, 17, 17, 0)).allowed  # Sunday open


def test_flatten_before_halt_forces_exit_in_the_guard_window() -> None:
    cb = breakers()
    opened = ct(2024, 3, 11, 15, 30)
    assert cb.exit_reason(ct(2024, 3, 11, 15, 44), opened) is None
    reason = cb.exit_reason(ct(2024, 3, 11, 15, 45), opened)
    assert reason is not None
    assert "flatten before the halt" in reason
    assert cb.state.trips[-1].rule is Rule.SESSION_GUARD
    assert cb.exit_reason(ct(2024, 3, 11, 16, 10), opened) is not None  # still, in the halt


def test_flatten_before_halt_off_keeps_the_position() -> None:
    cb = breakers(flatten_before_halt=False)
    opened = ct(2024, 3, 11, 15, 30)
    assert cb.exit_reason(ct(2024, 3, 11, 15, 55), opened) is None
    assert not cb.entry_decision(ct(2024, 3, 11, 15, 55)).allowed  # entries still guarded


# -- kill switch -----------------------------------------------------------------------------


def test_kill_switch_blocks_entries_forces_exits_and_survives_the_day_roll() -> None:
    cb = breakers()
    trip = cb.kill(MON_10, "  broker disconnected  ")
    assert trip.rule is Rule.KILL_SWITCH
    assert cb.state.halted
    assert cb.state.halt_reason == "broker disconnected"
    assert cb.state.halted_at == MON_10
    decision = cb.entry_decision(MON_10)
    assert not decision.allowed
    assert decision.rule is Rule.KILL_SWITCH
    assert cb.exit_reason(MON_10, MON_10 - timedelta(minutes=1)) == (
        "kill switch on: broker disconnected"
    )
    next_day = ct(2024, 3, 12, 10, 0)
    assert not cb.entry_decision(next_day).allowed
    assert "kill switch stays ON" in cb.state.trips[-1].reason
    # pressing it again keeps the first time, updates the reason
    cb.kill(next_day, "still investigating")
    assert cb.state.halted_at == MON_10
    assert cb.state.halt_reason == "still investigating"
    resumed = cb.resume(next_day + timedelta(minutes=1))
    assert resumed is not None
    assert resumed.rule is Rule.RESUME
    assert not cb.state.halted
    assert cb.entry_decision(next_day + timedelta(minutes=1)).allowed
    assert cb.resume(next_day + timedelta(minutes=2)) is None  # not halted: no change


def test_resume_does_not_clear_the_daily_limit_of_the_same_day() -> None:
    cb = breakers()
    cb.record_closed_trade(MON_10, D("-500"))
    cb.kill(MON_10, "manual stop")
    trip = cb.resume(MON_10 + timedelta(minutes=1))
    assert trip is not None
    assert "still hit" in trip.reason
    assert cb.entry_decision(MON_10 + timedelta(minutes=1)).rule is Rule.DAILY_LOSS_LIMIT


def test_kill_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        breakers().kill(MON_10, "  ")


def test_kill_switch_is_reported_before_other_blockers() -> None:
    cb = breakers()
    cb.record_closed_trade(MON_10, D("-600"))
    cb.kill(MON_10, "manual stop")
    assert cb.entry_decision(ct(2024, 3, 16, 12, 0)).rule is Rule.KILL_SWITCH


# -- day roll, versions, trips ---------------------------------------------------------------


def test_day_roll_resets_counters_and_never_goes_backwards() -> None:
    cb = breakers()
    cb.record_closed_trade(MON_10, D("-10"))
    cb.record_mark(MON_10, D("-5"))
    trip = cb.roll_trading_day(ct(2024, 3, 11, 17, 0))
    assert trip is not None
    assert trip.rule is Rule.DAY_ROLL
    assert "2024-03-12" in trip.reason
    state = cb.state
    assert (state.realized_pnl, state.open_pnl, state.trades_today) == (0, 0, 0)
    assert state.consecutive_losses == 0
    assert cb.roll_trading_day(ct(2024, 3, 11, 18, 0)) is None  # same day
    version = cb.version
    assert cb.roll_trading_day(MON_10) is None  # earlier day: ignored
    assert cb.state.trading_day == date(2024, 3, 12)
    assert cb.version == version


def test_version_moves_on_durable_changes_only() -> None:
    cb = breakers()
    cb.entry_decision(MON_10)
    v0 = cb.version
    cb.record_mark(MON_10, D("-10"))
    assert cb.version == v0  # a mark alone is not persisted
    cb.record_closed_trade(MON_10, D("5"))
    v1 = cb.version
    assert v1 > v0
    cb.entry_decision(MON_10)
    assert cb.version == v1
    cb.kill(MON_10, "x")
    assert cb.version > v1


def test_trips_are_bounded_but_on_trip_sees_them_all() -> None:
    seen: list[Trip] = []
    cb = RiskCore(on_trip=seen.append)
    for i in range(MAX_TRIPS_KEPT + 10):
        cb.kill(MON_10, f"press {i}")
    assert len(seen) == MAX_TRIPS_KEPT + 10
    assert len(cb.state.trips) == MAX_TRIPS_KEPT
    assert cb.state.trips[-1].reason == f"kill switch on: press {MAX_TRIPS_KEPT + 9}"


def test_a_loaded_state_keeps_its_rules() -> None:
    state = RiskState(
        trading_day=date(2024, 3, 11),
        halted=True,
        halt_reason="risk state unreadable",
        halted_at=MON_10,
    )
    cb = RiskCore(RiskLimits(), state=state)
    assert cb.state == state  # a snapshot of the core's copy
    assert not cb.entry_decision(MON_10 + timedelta(hours=1)).allowed
