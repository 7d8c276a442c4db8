"""Differential test: the Rust risk core (through ``quant_scalper.risk.core.RiskCore``) against
the Python ``CircuitBreakers`` on random event sequences.

Each example draws a schedule (today's CME hours with the exchange calendar, the 2013 hours
with the 15:15-15:30 break, the plain weekday schedule, an always-open market), limits, a start
near a DST switch, a holiday, an early close or a weekend, and up to 40 events: time steps
(minutes to days, sometimes backwards), open P&L marks, closed and booked trades in cents,
kill/resume/pause/unpause, entry questions and holding checks. After every event both give the
same answer, the same trips (time, rule and text, also as seen by ``on_trip``) and the same
state. ``RISK_DIFF_EXAMPLES=2000`` runs it long.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_scalper.risk.breakers import CircuitBreakers, RiskLimits, RiskState, Trip
from quant_scalper.risk.core import RiskCore, SubCentAmountError, from_ns, to_cents, to_ns
from quant_scalper.risk.session import CME_EQUITY_INDEX, CME_EQUITY_INDEX_2013, SessionSchedule
from quant_scalper.risk.state_store import risk_state_from_bytes, risk_state_to_bytes

EXAMPLES = int(os.environ.get("RISK_DIFF_EXAMPLES", "100"))

SCHEDULES = [
    CME_EQUITY_INDEX,
    CME_EQUITY_INDEX_2013,
    SessionSchedule(calendar=None),
    SessionSchedule(always_open=True),
]

# DST Sundays, Good Friday, Thanksgiving and the day after, Christmas Eve, New Year, July 3,
# a Friday before a weekend, a Monday holiday (Presidents' Day 2025).
ANCHORS = [
    date(2024, 3, 10),
    date(2024, 11, 3),
    date(2025, 3, 9),
    date(2024, 3, 29),
    date(2024, 11, 28),
    date(2024, 11, 29),
    date(2024, 12, 24),
    date(2025, 1, 1),
    date(2025, 7, 3),
    date(2025, 2, 14),
    date(2025, 2, 17),
]

cents = st.integers(min_value=-40_000, max_value=40_000)
minutes = st.integers(min_value=1, max_value=600)
reasons = st.text(alphabet="ab \t", min_size=0, max_size=6)

events = st.one_of(
    st.tuples(st.just("advance"), st.integers(min_value=1, max_value=90 * 60)),
    st.tuples(st.just("advance"), st.integers(min_value=-3 * 3600, max_value=3 * 86_400)),
    st.tuples(st.just("mark"), cents),
    st.tuples(st.just("close"), cents, st.sampled_from([0, 0, -500, 250])),
    st.tuples(
        st.just("book"),
        st.sampled_from(["t1", "t2", "t3", ""]),
        st.integers(min_value=0, max_value=2 * 86_400),
        cents,
    ),
    st.tuples(st.just("kill"), reasons),
    st.tuples(st.just("resume"), reasons),
    st.tuples(st.just("pause"), st.integers(min_value=0, max_value=240), reasons),
    st.tuples(st.just("unpause"), reasons),
    st.tuples(st.just("entry")),
    st.tuples(st.just("exit"), st.one_of(st.none(), st.integers(0, 400 * 60))),
    st.tuples(st.just("roll")),
)


@st.composite
def limits(draw: st.DrawFn) -> RiskLimits:
    """Random valid limits (flatten-before-halt needs a guard of at least one minute)."""
    flatten = draw(st.booleans())
    return RiskLimits(
        daily_loss_limit=Decimal(draw(st.integers(1, 80_000))).scaleb(-2),
        max_consecutive_losses=draw(st.integers(1, 4)),
        pause_minutes=draw(st.integers(0, 90)),
        max_holding_minutes=draw(st.one_of(st.none(), st.integers(1, 300))),
        entry_guard_minutes=draw(st.integers(1 if flatten else 0, 30)),
        flatten_before_halt=flatten,
    )


starts = st.builds(
    lambda anchor, seconds, micros: (
        datetime.combine(anchor, time(12), tzinfo=UTC)
        + timedelta(seconds=seconds, microseconds=micros)
    ),
    st.sampled_from(ANCHORS),
    st.integers(min_value=-3 * 86_400, max_value=3 * 86_400),
    st.integers(min_value=0, max_value=999_999),
)


def _apply(breakers: CircuitBreakers | RiskCore, step: tuple, now: datetime) -> object:
    """Apply one event to either implementation; a refused input is reported by its kind."""
    kind = step[0]
    try:
        if kind == "mark":
            return breakers.record_mark(now, Decimal(step[1]).scaleb(-2))
        if kind == "close":
            pnl, left = Decimal(step[1]).scaleb(-2), Decimal(step[2]).scaleb(-2)
            return breakers.record_closed_trade(now, pnl, left)
        if kind == "book":
            closed_at = now - timedelta(seconds=step[2])
            return breakers.book_closed_trade(now, step[1], closed_at, Decimal(step[3]).scaleb(-2))
        if kind == "kill":
            return breakers.kill(now, step[1])
        if kind == "resume":
            return breakers.resume(now, step[1])
        if kind == "pause":
            return breakers.pause(now, step[1], step[2])
        if kind == "unpause":
            return breakers.unpause(now, step[1])
        if kind == "entry":
            return breakers.entry_decision(now)
        if kind == "exit":
            opened = None if step[1] is None else now - timedelta(seconds=step[1])
            return breakers.exit_reason(now, opened)
        return breakers.roll_trading_day(now)
    except ValueError:
        return "ValueError"


@settings(max_examples=EXAMPLES)
@given(
    schedule=st.sampled_from(SCHEDULES),
    lim=limits(),
    start=starts,
    steps=st.lists(events, min_size=1, max_size=40),
)
def test_rust_core_matches_python_breakers(
    schedule: SessionSchedule,
    lim: RiskLimits,
    start: datetime,
    steps: list[tuple],
) -> None:
    """Same answers, trips and state after every event, over random event sequences."""
    seen_py: list[Trip] = []
    seen_rs: list[Trip] = []
    py = CircuitBreakers(lim, schedule, on_trip=seen_py.append)
    rs = RiskCore(lim, schedule, on_trip=seen_rs.append)
    now = start
    for step in steps:
        if step[0] == "advance":
            now += timedelta(seconds=step[1])
            continue
        got_py = _apply(py, step, now)
        got_rs = _apply(rs, step, now)
        assert got_rs == got_py, f"{step} at {now.isoformat()}"
        assert rs.state == py.state, f"state after {step} at {now.isoformat()}"
        assert rs.version == py.version
        assert seen_rs == seen_py
        assert rs.is_paused(now) == py.is_paused(now)


def test_money_converts_exactly_and_sub_cents_are_refused() -> None:
    assert to_cents(Decimal("1.25"), "x") == 125
    assert to_cents(Decimal("-0.62"), "x") == -62
    assert to_cents(Decimal("500"), "x") == 50_000
    assert to_cents(Decimal("7.4900"), "x") == 749
    with pytest.raises(SubCentAmountError, match=r"fraction of a cent.*e\.g\. 1\.00"):
        to_cents(Decimal("1.005"), "pnl_net")
    with pytest.raises(TypeError, match="never a float"):
        to_cents(1.25, "pnl_net")
    core = RiskCore()
    with pytest.raises(SubCentAmountError, match="open_pnl"):
        core.record_mark(datetime(2025, 1, 6, 15, tzinfo=UTC), Decimal("-0.001"))


def test_times_convert_exactly() -> None:
    ts = datetime(2024, 3, 10, 8, 0, 0, 123_456, tzinfo=UTC)
    assert to_ns(ts) == 1_710_057_600_123_456_000
    assert from_ns(to_ns(ts)) == ts
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ns(datetime(2024, 3, 10))


@settings(max_examples=EXAMPLES)
@given(schedule=st.sampled_from(SCHEDULES), ts=starts, guard=st.integers(0, 30))
def test_session_data_answers_like_the_schedule(
    schedule: SessionSchedule, ts: datetime, guard: int
) -> None:
    """The core's calendar lookups, built from the schedule as data, equal the schedule's."""
    core = RiskCore(schedule=schedule)
    ns = core._ns((ts, "ts"))[0]
    rust = core._core
    assert date.fromordinal(rust.trading_day(ns)) == schedule.trading_day(ts)
    assert rust.is_market_open(ns) == schedule.is_market_open(ts)
    assert rust.in_entry_guard(ns, guard) == schedule.in_entry_guard(ts, guard)
    assert rust.in_halt_window(ns, guard) == schedule.in_halt_window(ts, guard)
    if not schedule.always_open:
        assert from_ns(rust.next_halt(ns)) == schedule.next_halt(ts)


def test_state_file_keeps_its_meaning_both_ways() -> None:
    """A state the Python breakers wrote loads into the core, and the core's state saved with
    ``risk_state_to_bytes`` loads back equal (the persisted risk_state.json is unchanged)."""
    now = datetime(2024, 11, 27, 15, 0, tzinfo=UTC)  # the day before Thanksgiving
    py = CircuitBreakers(RiskLimits(max_consecutive_losses=2))
    py.record_closed_trade(now, Decimal("-7.49"))
    py.record_closed_trade(now + timedelta(minutes=3), Decimal("-1.25"))
    py.kill(now + timedelta(minutes=4), "manual stop")
    py.book_closed_trade(now + timedelta(minutes=5), "t1", now, Decimal("2.50"))
    loaded = risk_state_from_bytes(risk_state_to_bytes(py.state))
    core = RiskCore(RiskLimits(max_consecutive_losses=2), state=loaded)
    assert core.state == py.state
    later = now + timedelta(days=1, hours=3)
    assert core.entry_decision(later) == py.entry_decision(later)
    assert core.state == py.state
    again = risk_state_from_bytes(risk_state_to_bytes(core.state))
    assert again == core.state
    assert RiskCore(state=again).state == core.state


def test_a_sub_cent_state_is_refused_on_load() -> None:
    """A state file with a fraction of a cent cannot be counted in cents: a clear error."""
    bad = RiskState(realized_pnl=Decimal("-1.005"))
    with pytest.raises(SubCentAmountError, match=r"RiskState\.realized_pnl -1\.005 USD"):
        RiskCore(state=bad)
