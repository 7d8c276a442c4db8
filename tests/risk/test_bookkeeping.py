"""Booking closed trades once, with real fees (issue 10, items 1 and 5): pure logic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from quant_scalper.risk import RiskCore, RiskLimits, RiskState, RiskStateStore
from quant_scalper.risk.bookkeeping import (
    ClosedTrade,
    ExternalFill,
    FillLeg,
    booked_as_inferred,
    booking_for,
    execution_key,
    match_external,
    round_trips,
)
from quant_scalper.risk.persistence import SaveOutcome, StateSaver

T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 09:00 CT
MES = Decimal(5)
FEE = Decimal("0.62")


def fill(exec_id: str, buy: bool, price: str, minutes: int, qty: int = 1) -> ExternalFill:
    return ExternalFill(
        exec_id=exec_id,
        symbol="MESZ6",
        buy=buy,
        quantity=Decimal(qty),
        price=Decimal(price),
        commission=FEE * qty,
        at=T0 + timedelta(minutes=minutes),
    )


def test_round_trips_net_of_every_fee_keyed_by_the_closing_execution() -> None:
    fills = [
        fill("e1", True, "4995.00", 1),
        fill("e2", False, "4985.00", 2),  # stop: -50 - 1.24
        fill("e3", False, "5000.00", 3),
        fill("e4", True, "4990.00", 4),  # short covered: +50 - 1.24
        fill("e5", True, "4990.00", 5),  # still open
    ]
    bookings, notes = round_trips(list(reversed(fills)) + fills[:1], Decimal(1), MES)
    assert [(b.key.split("@")[0], b.pnl_net) for b in bookings] == [
        ("e2", Decimal("-51.24")),
        ("e4", Decimal("48.76")),
    ]
    assert notes == []


def test_round_trip_opened_before_the_replay_is_not_guessed() -> None:
    bookings, notes = round_trips([fill("e2", False, "4985.00", 2)], Decimal(0), MES)
    assert bookings == [] and "opening price is unknown" in notes[0]


def test_a_flip_through_zero_closes_one_trade_and_opens_the_next() -> None:
    fills = [
        fill("e1", True, "4995.00", 1),
        fill("e2", False, "4990.00", 2, qty=2),
        fill("e3", True, "4980.00", 3),
    ]
    bookings, _ = round_trips(fills, Decimal(0), MES)
    assert [(b.key.split("@")[0], b.pnl_net) for b in bookings] == [
        ("e2", Decimal("-25") - FEE * 3),
        ("e3", Decimal("50") - FEE),
    ]


def _trade(close_commission: Decimal, close_price: str = "4975.00") -> ClosedTrade:
    return ClosedTrade(
        key="inferred-1",
        symbol="MESZ6",
        closed_at=T0,
        realized_pnl=(Decimal(close_price) - Decimal("4995.00")) * MES - FEE - close_commission,
        multiplier=MES,
        fills=(
            FillLeg(Decimal(1), Decimal("4995.00"), True, FEE),
            FillLeg(Decimal(1), Decimal(close_price), False, close_commission),
        ),
    )


def test_inferred_fill_is_charged_the_configured_fee() -> None:
    booking = booking_for(_trade(Decimal(0)), FEE)
    assert booking.pnl_net == Decimal("-100") - 2 * FEE
    assert "inferred" in booking.notes[0]
    assert booking.key.startswith("inferred|MESZ6|SELL|1|")
    assert booking_for(_trade(Decimal(0)), None).pnl_net == Decimal("-100") - FEE


def test_flatten_fill_replaces_the_inferred_price_and_fee() -> None:
    real = fill("f1", False, "4974.75", 0)
    trade = _trade(Decimal(0))
    assert match_external(trade, [real]) == real
    assert match_external(trade, [real], booked={execution_key("f1", real.at)}) is None
    assert match_external(_trade(FEE), [real]) is None  # a real close: nothing to replace
    booking = booking_for(trade, FEE, real)
    assert booking.key == execution_key("f1", real.at) == "f1@2026-12-02T15:00:00+00:00"
    assert booking.pnl_net == (Decimal("4974.75") - Decimal("4995.00")) * MES - 2 * FEE


def test_book_closed_trade_counts_each_key_once_and_only_for_today() -> None:
    cb = RiskCore(RiskLimits(max_consecutive_losses=50))
    assert cb.book_closed_trade(T0, "e2", T0, Decimal("-51.24")) == []
    assert cb.book_closed_trade(T0, "e2", T0, Decimal("-51.24")) is None
    yesterday = T0 - timedelta(days=1)
    assert cb.book_closed_trade(T0, "old", yesterday, Decimal("-10")) is None
    state = cb.state
    assert (state.realized_pnl, state.trades_today, state.booked_trades) == (
        Decimal("-51.24"),
        1,
        ["e2"],
    )
    cb.roll_trading_day(T0 + timedelta(days=1))
    assert cb.state.booked_trades == []


def test_saver_reports_failure_then_recovery_and_keeps_the_state(tmp_path: Path) -> None:
    store = RiskStateStore(tmp_path, "TRADER-001")
    saver = StateSaver(store)
    state = RiskState(trades_today=1, version=1)
    assert saver.save(state) is SaveOutcome.SAVED
    assert saver.save(state) is SaveOutcome.UNCHANGED
    store.path.unlink()
    store.path.mkdir()  # the file cannot be replaced: a failing save
    state.trades_today, state.version = 2, 2
    assert saver.save(state) is SaveOutcome.FAILED and saver.failing
    assert saver.save(state) is SaveOutcome.STILL_FAILING
    store.path.rmdir()
    assert saver.save(state) is SaveOutcome.RECOVERED and not saver.failing
    assert store.load().trades_today == 2


@pytest.mark.parametrize("qty", [1, 3])
def test_partial_closing_fills_book_one_trade(qty: int) -> None:
    fills = [fill("e1", True, "4995.00", 1, qty=qty)]
    fills += [fill(f"c{k}", False, "5000.00", 2 + k) for k in range(qty)]
    bookings, _ = round_trips(fills, Decimal(0), MES)
    assert len(bookings) == 1 and bookings[0].key == execution_key(f"c{qty - 1}", fills[-1].at)


def test_a_close_booked_live_as_inferred_is_not_booked_again_from_the_replay() -> None:
    """The node missed its own fill (or the flatten's record came late): the position check's
    inferred close was booked live; the next start's replay finds the real execution."""
    inferred = booking_for(_trade(Decimal(0)), FEE)
    assert inferred.key.startswith("inferred|MESZ6|SELL|1|")
    bookings, _ = round_trips(
        [fill("e1", True, "4995.00", -5), fill("e2", False, "4975.25", -1)], Decimal(0), MES
    )
    (real,) = bookings
    assert booked_as_inferred(real, [inferred.key]) == inferred.key
    assert booked_as_inferred(real, []) is None
    late = booking_for(
        ClosedTrade("x", "MESZ6", T0 + timedelta(hours=2), Decimal(0), MES, _trade(0).fills), FEE
    )
    assert booked_as_inferred(real, [late.key]) is None, "too long after the execution"


def test_a_busy_day_keeps_every_booked_key() -> None:
    """The soak's double count: with 1,070 round trips in one trading day the 1,000-key cap
    evicted the first keys, and a restart's replay booked those trades again. Now a day of one
    trade a minute (1,380) keeps them all, and a replay of the first books nothing."""
    cb = RiskCore(RiskLimits(max_consecutive_losses=10_000, daily_loss_limit=Decimal(10**6)))
    for i in range(1_400):
        assert cb.book_closed_trade(T0, f"e{i}", T0, Decimal("1.00")) == []
    assert cb.book_closed_trade(T0, "e0", T0, Decimal("1.00")) is None
    assert cb.state.realized_pnl == Decimal("1400.00")


def test_a_roll_close_filled_while_the_node_was_down_is_booked_once(tmp_path: Path) -> None:
    """The roll's market close of the old contract filled while no node ran (a crash between
    the order and its fill): the new contract's node replays the old contract's executions as
    ending flat and books that round trip once; the new contract's own replay is unchanged.
    Without ``others_flat`` (a pinned contract) other months are left alone."""
    from dataclasses import replace

    from quant_scalper.risk import SessionSchedule
    from quant_scalper.risk.fill_journal import FillJournal
    from quant_scalper.risk.trader_risk import TraderRisk

    journal = FillJournal(tmp_path, "TRADER-001")
    old = [fill("o1", True, "5000.00", 1), fill("o2", False, "4990.00", 2)]  # -50 - 1.24
    new = [fill("n1", False, "5010.00", 5)]  # the new contract's open short, still open
    for f in old:
        journal.record(replace(f, symbol="MESZ6"))
    for f in new:
        journal.record(replace(f, symbol="MESH7"))
    now = T0 + timedelta(minutes=10)

    def opened(others_flat: bool) -> tuple[TraderRisk, list[str]]:
        risk, problem = TraderRisk.open(
            RiskLimits(), SessionSchedule(), now=now, state_dir=tmp_path, trader_id="TRADER-001"
        )
        assert problem is None
        lines: list[str] = []
        booked = risk.replay_executions(
            now, "MESH7", Decimal(-1), MES, lines.append, others_flat=others_flat
        )
        assert [b.booking.key.split("@")[0] for b in booked] == (["o2"] if others_flat else [])
        return risk, lines

    risk, lines = opened(others_flat=True)
    assert risk.state.realized_pnl == Decimal("-51.24")
    assert lines == []
    again = risk.replay_executions(now, "MESH7", Decimal(-1), MES, lines.append, others_flat=True)
    assert again == [] and risk.state.realized_pnl == Decimal("-51.24")

    pinned, _ = opened(others_flat=False)
    assert pinned.state.realized_pnl == Decimal(0)
