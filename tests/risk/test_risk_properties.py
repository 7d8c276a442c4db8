"""Property tests: entries are never allowed while a breaker holds, the day rolls only at 17:00
America/Chicago (DST switch days included), and any state survives bytes and the store."""

from __future__ import annotations

import dataclasses
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_scalper.risk import (
    CME_EQUITY_INDEX,
    CME_EQUITY_INDEX_2013,
    CorruptRiskStateError,
    RiskCore,
    RiskLimits,
    RiskState,
    RiskStateStore,
    Rule,
    SessionSchedule,
    Trip,
    risk_state_from_bytes,
    risk_state_to_bytes,
)

CT = ZoneInfo("America/Chicago")
FAST = settings(max_examples=150, deadline=None)

# Sundays of the DST switches; instants are drawn within a few days of them and anywhere.
DST_SUNDAYS = [date(2013, 3, 10), date(2013, 11, 3), date(2024, 3, 10), date(2024, 11, 3)]

utc_instants = st.datetimes(
    min_value=datetime(2012, 1, 1),
    max_value=datetime(2026, 12, 31),
    timezones=st.just(UTC),
)
near_dst = st.builds(
    lambda sunday, seconds: (
        datetime.combine(sunday, time(12), tzinfo=UTC) + timedelta(seconds=seconds)
    ),
    st.sampled_from(DST_SUNDAYS),
    st.integers(min_value=-4 * 86400, max_value=4 * 86400),
)
instants = st.one_of(utc_instants, near_dst)
schedules = st.sampled_from([CME_EQUITY_INDEX, CME_EQUITY_INDEX_2013])


def _last_open_at_or_before(schedule: SessionSchedule, ts: datetime) -> datetime:
    """The latest local ``session_open`` wall time at or before ``ts``, in UTC."""
    local = ts.astimezone(CT)
    day = local.date() if local.time() >= schedule.session_open else local.date() - timedelta(1)
    return datetime.combine(day, schedule.session_open, tzinfo=CT).astimezone(UTC)


@FAST
@given(schedule=schedules, start=instants, step=st.integers(min_value=1, max_value=6 * 3600))
def test_trading_day_changes_only_at_1700_chicago(
    schedule: SessionSchedule,
    start: datetime,
    step: int,
) -> None:
    end = start + timedelta(seconds=step)
    day_start, day_end = schedule.trading_day(start), schedule.trading_day(end)
    assert day_start.weekday() < 5 and day_end.weekday() < 5
    assert day_start <= day_end
    if day_start != day_end:
        roll = _last_open_at_or_before(schedule, end)
        assert start < roll <= end  # a 17:00 CT instant lies in between
        assert roll.astimezone(CT).time() == time(17, 0)
        assert roll.hour in (22, 23)  # 17:00 CDT or CST, never anything else
        assert schedule.trading_day(roll - timedelta(microseconds=1)) == day_start


@FAST
@given(schedule=schedules, ts=instants)
def test_calendar_is_consistent(schedule: SessionSchedule, ts: datetime) -> None:
    halt = schedule.next_halt(ts)
    assert halt > ts
    # The regular halt, or an earlier close on a CME early-close day (the exchange calendar).
    assert halt.astimezone(CT).time() <= schedule.halt_start
    assert halt.astimezone(CT).weekday() < 5
    bounds = schedule.session_bounds(halt.astimezone(CT).date())
    assert bounds is not None and bounds[1] == halt
    assert 0 < schedule.minutes_to_halt(ts) <= (5 * 24 + 1) * 60  # Christmas + a weekend
    reopen = schedule.next_session_open(ts)
    assert reopen > ts
    assert reopen.astimezone(CT).time() == schedule.session_open
    assert reopen.astimezone(CT).weekday() in (6, 0, 1, 2, 3)
    if not schedule.is_market_open(ts):
        assert schedule.in_entry_guard(ts, 0)
    assert schedule.in_entry_guard(ts, 15) >= schedule.in_entry_guard(ts, 5)


money = st.decimals(min_value=-200, max_value=150, places=2, allow_nan=False, allow_infinity=False)
mark = st.tuples(st.just("mark"), money)
close = st.tuples(st.just("close"), money)
operations = st.lists(
    st.tuples(
        # seconds since the previous operation: mostly minutes apart, sometimes hours
        st.one_of(st.integers(0, 900), st.integers(0, 900), st.integers(0, 4 * 3600)),
        # weighted towards trades so streaks and the daily limit trip often
        st.one_of(
            *[close] * 6,
            *[mark] * 3,
            st.tuples(st.just("kill"), st.just(Decimal(0))),
            *[st.tuples(st.just("resume"), st.just(Decimal(0)))] * 2,
            st.tuples(st.just("exit"), st.just(Decimal(0))),
        ),
    ),
    max_size=40,
)
limits = st.builds(
    RiskLimits,
    daily_loss_limit=st.decimals(min_value=50, max_value=1000, places=2),
    max_consecutive_losses=st.integers(min_value=1, max_value=5),
    pause_minutes=st.integers(min_value=0, max_value=120),
    max_holding_minutes=st.one_of(st.none(), st.integers(min_value=1, max_value=240)),
    entry_guard_minutes=st.integers(min_value=1, max_value=60),
    flatten_before_halt=st.booleans(),
)


@FAST
@given(risk_limits=limits, schedule=schedules, start=instants, ops=operations)
def test_no_entry_is_ever_allowed_while_a_breaker_holds(
    risk_limits: RiskLimits,
    schedule: SessionSchedule,
    start: datetime,
    ops: list[tuple[int, tuple[str, Decimal]]],
) -> None:
    cb = RiskCore(risk_limits, schedule)
    now = start
    opened_at: datetime | None = None
    for seconds, (kind, amount) in ops:
        now += timedelta(seconds=seconds)
        if kind == "mark":
            cb.record_mark(now, amount)
            opened_at = opened_at or now
        elif kind == "close":
            cb.record_closed_trade(now, amount)
            opened_at = None
        elif kind == "kill":
            cb.kill(now, "property test")
        elif kind == "resume":
            cb.resume(now)
        else:
            cb.exit_reason(now, opened_at)

        state = cb.state
        assert state.trading_day == schedule.trading_day(now)
        assert state.consecutive_losses < risk_limits.max_consecutive_losses
        if state.daily_pnl <= -risk_limits.daily_loss_limit:
            assert state.daily_limit_hit
        decision = cb.entry_decision(now)
        if decision.allowed:
            assert not state.halted
            assert not state.daily_limit_hit
            assert state.daily_pnl > -risk_limits.daily_loss_limit
            assert state.paused_until is None or now >= state.paused_until
            assert schedule.is_market_open(now)
            assert not schedule.in_entry_guard(now, risk_limits.entry_guard_minutes)
        else:
            assert decision.rule is not None
        if opened_at is not None and (state.halted or state.daily_limit_hit):
            assert cb.exit_reason(now, opened_at) is not None  # exits are forced, never blocked


aware_times = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, CT, ZoneInfo("Asia/Tokyo")]),
    # A wall time inside a DST gap never compares equal across zones (PEP 495); the store
    # keeps UTC, so such inputs are not real round-trip failures.
    allow_imaginary=False,
)
# Whole cents: the risk core counts cents, and a state with a fraction of a cent is corrupt
# (``test_a_sub_cent_amount_is_never_read`` below).
any_money = st.decimals(allow_nan=False, allow_infinity=False, places=2)
sub_cent_money = st.decimals(allow_nan=False, allow_infinity=False, places=4).filter(
    lambda d: d != d.quantize(Decimal("0.01"))
)
states = st.builds(
    RiskState,
    trading_day=st.one_of(st.none(), st.dates()),
    realized_pnl=any_money,
    open_pnl=any_money,
    consecutive_losses=st.integers(min_value=0, max_value=100),
    trades_today=st.integers(min_value=0, max_value=10_000),
    paused_until=st.one_of(st.none(), aware_times),
    daily_limit_hit=st.booleans(),
    daily_limit_hit_at=st.one_of(st.none(), aware_times),
    halted=st.just(False),
    halt_reason=st.one_of(st.none(), st.text(max_size=40)),
    halted_at=st.one_of(st.none(), aware_times),
    trips=st.lists(st.builds(Trip, aware_times, st.sampled_from(Rule), st.text()), max_size=5),
    version=st.integers(min_value=0, max_value=2**53),
)


halted_reasons = st.one_of(st.none(), st.text(min_size=1, max_size=40))


def _in_utc(state: RiskState) -> RiskState:
    """``state`` with every time in UTC, as the store keeps them.

    Needed for the comparison: an aware time inside a DST fold (01:00-02:00 CT on the November
    switch) never compares equal to the same instant in another zone (PEP 495).
    """

    def utc(t: datetime | None) -> datetime | None:
        return None if t is None else t.astimezone(UTC)

    return dataclasses.replace(
        state,
        paused_until=utc(state.paused_until),
        daily_limit_hit_at=utc(state.daily_limit_hit_at),
        halted_at=utc(state.halted_at),
        trips=[dataclasses.replace(trip, at=utc(trip.at)) for trip in state.trips],
    )


@FAST
@given(state=states, halted_reason=halted_reasons)
def test_any_state_round_trips_through_bytes(state: RiskState, halted_reason: str | None) -> None:
    if halted_reason is not None:
        state.halted, state.halt_reason = True, halted_reason
    assert risk_state_from_bytes(risk_state_to_bytes(state)) == _in_utc(state)


@FAST
@given(state=states, amount=sub_cent_money, field=st.sampled_from(["realized_pnl", "open_pnl"]))
def test_a_sub_cent_amount_is_never_read(state: RiskState, amount: Decimal, field: str) -> None:
    """A fraction of a cent in a stored P&L is corrupt (the node starts halted), never rounded."""
    with pytest.raises(CorruptRiskStateError, match="fraction of a cent"):
        risk_state_from_bytes(risk_state_to_bytes(dataclasses.replace(state, **{field: amount})))


@settings(max_examples=25, deadline=None)  # each example fsyncs: keep the count small
@given(state=states, halted_reason=halted_reasons)
def test_any_state_round_trips_through_the_store(
    state: RiskState, halted_reason: str | None
) -> None:
    if halted_reason is not None:
        state.halted, state.halt_reason = True, halted_reason
    with tempfile.TemporaryDirectory() as folder:
        store = RiskStateStore(Path(folder), "TRADER-001")
        store.save(state)
        assert store.load() == _in_utc(state)
