"""The Python side of the Rust risk core: exact money and time conversion, the session
schedule handed over as data, and state files written before the core replaced the Python
breakers.

The Python ``CircuitBreakers`` were deleted once a Hypothesis differential test (2,000 random
event sequences over DST days, holidays, early closes and weekends) found no difference in
answers, trips or state; ``fixtures/python_breakers_*.json`` are states they wrote, kept so a
state file from before the change is proven to load with the same meaning.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_scalper.risk.core import RiskCore, SubCentAmountError, from_ns, to_cents, to_ns
from quant_scalper.risk.model import Decision, RiskLimits, RiskState, Rule
from quant_scalper.risk.session import CME_EQUITY_INDEX, CME_EQUITY_INDEX_2013, SessionSchedule
from quant_scalper.risk.state_store import (
    CorruptRiskStateError,
    RiskStateStore,
    risk_state_from_bytes,
    risk_state_to_bytes,
)
from quant_scalper.risk.trader_risk import TraderRisk

EXAMPLES = int(os.environ.get("RISK_DIFF_EXAMPLES", "100"))
FIXTURES = Path(__file__).parent / "fixtures"

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

starts = st.builds(
    lambda anchor, seconds, micros: (
        datetime.combine(anchor, time(12), tzinfo=UTC)
        + timedelta(seconds=seconds, microseconds=micros)
    ),
    st.sampled_from(ANCHORS),
    st.integers(min_value=-3 * 86_400, max_value=3 * 86_400),
    st.integers(min_value=0, max_value=999_999),
)


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


def test_a_state_file_of_the_python_breakers_keeps_its_meaning() -> None:
    """A state the deleted Python breakers wrote loads into the core unchanged, and the next
    event moves it exactly as they did (both files written by them, before and after)."""
    before = risk_state_from_bytes((FIXTURES / "python_breakers_before.json").read_bytes())
    after = risk_state_from_bytes((FIXTURES / "python_breakers_after.json").read_bytes())
    core = RiskCore(RiskLimits(max_consecutive_losses=2), state=before)
    assert core.state == before
    later = datetime(2024, 11, 28, 18, 0, tzinfo=UTC)  # Thanksgiving's evening session
    assert core.entry_decision(later) == Decision(
        False, "kill switch on: manual stop", Rule.KILL_SWITCH
    )
    assert core.state == after
    again = risk_state_from_bytes(risk_state_to_bytes(core.state))
    assert again == after
    assert RiskCore(state=again).state == after


def test_a_sub_cent_state_is_refused_on_load() -> None:
    """A state with a fraction of a cent cannot be counted in cents: a clear error."""
    bad = RiskState(realized_pnl=Decimal("-1.005"))
    with pytest.raises(SubCentAmountError, match=r"RiskState\.realized_pnl -1\.005 USD"):
        RiskCore(state=bad)


def test_a_sub_cent_state_file_starts_halted(tmp_path: Path) -> None:
    """A state file whose P&L has a fraction of a cent is unreadable: the trader starts halted,
    the file is left as it was for inspection (never rounded, never overwritten)."""
    store = RiskStateStore(tmp_path, "TRADER-001")
    store.save(RiskState(realized_pnl=Decimal("-1.25"), version=3))
    text = store.path.read_text().replace('"-1.25"', '"-1.255"')
    store.path.write_text(text)
    with pytest.raises(CorruptRiskStateError, match="fraction of a cent"):
        RiskStateStore(tmp_path, "TRADER-001").load()
    now = datetime(2025, 1, 6, 15, tzinfo=UTC)
    risk, problem = TraderRisk.open(
        RiskLimits(), SessionSchedule(), now=now, state_dir=tmp_path, trader_id="TRADER-001"
    )
    assert isinstance(problem, CorruptRiskStateError)
    assert risk.halted and "risk state unreadable" in (risk.state.halt_reason or "")
    assert not risk.breakers.entry_decision(now).allowed
    assert risk.store is not None and risk.store.unreadable
    assert store.path.read_text() == text
