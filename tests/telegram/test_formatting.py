"""Alert and reply texts, period filters and the throttle (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.risk import CME_EQUITY_INDEX, RiskState, Rule, Trip
from quant_scalper.telegram import formatting as fmt
from quant_scalper.telegram.throttle import ErrorThrottle


def trade(closed: datetime, pnl: str, fees: str = "1.24", side: str = "LONG") -> ClosedTrade:
    return ClosedTrade(
        instrument_id="MESZ6.CME",
        side=side,
        quantity=Decimal(1),
        opened_at=closed - timedelta(minutes=7, seconds=5),
        closed_at=closed,
        entry_price=Decimal("6000.25"),
        exit_price=Decimal("6002.00"),
        realized_pnl=Decimal(pnl),
        fees=Decimal(fees),
    )


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [
        ("12.5", True, "+$12.50"),
        ("-3.105", True, "-$3.10"),
        ("0", True, "$0.00"),
        ("1234.5", False, "$1,234.50"),
    ],
)
def test_usd(value: str, signed: bool, text: str) -> None:
    assert fmt.usd(Decimal(value), signed) == text


def test_entry_and_exit_alerts_carry_side_price_z_pnl_fees() -> None:
    text = fmt.entry_alert(
        "MESZ6.CME", "SHORT", Decimal(1), Decimal("6001.50"), 2.345, Decimal("0.62")
    )
    assert text == "ENTRY SHORT 1 MESZ6.CME @ 6001.50, z=+2.35\nfees $0.62"
    assert "z=" not in fmt.entry_alert("X", "LONG", Decimal(1), Decimal(1), None, Decimal(0))
    t = trade(datetime(2026, 3, 2, 15, tzinfo=UTC), "7.51")
    exit_text = fmt.exit_alert(t, Decimal("-20"))
    assert "EXIT LONG 1 MESZ6.CME @ 6002.00 (in @ 6000.25)" in exit_text
    assert "P&L +$7.51 net, fees $1.24, held 7m 05s" in exit_text
    assert "day realized -$20.00" in exit_text


def test_trip_alerts_name_breakers_resets_and_the_kill_switch() -> None:
    at = datetime(2026, 3, 2, 15, 4, 5, tzinfo=UTC)
    assert fmt.trip_alert(Trip(at, Rule.KILL_SWITCH, "by ops")).startswith("KILL SWITCH: by ops")
    assert fmt.trip_alert(Trip(at, Rule.DAILY_LOSS_LIMIT, "x")).startswith("BREAKER daily")
    assert fmt.trip_alert(Trip(at, Rule.RESUME, "x")).startswith("RESET")
    assert "2026-03-02 15:04:05 UTC" in fmt.trip_alert(Trip(at, Rule.DAY_ROLL, "x"))


def test_summary_win_rate_pnl_fees_and_worst_drawdown() -> None:
    t0 = datetime(2026, 3, 2, 15, tzinfo=UTC)
    trades = [trade(t0 + timedelta(minutes=i), p) for i, p in enumerate(["10", "-30", "-5", "20"])]
    s = fmt.summarize(trades)
    assert (s.trades, s.winners, s.net_pnl, s.fees) == (4, 2, Decimal(-5), Decimal("4.96"))
    assert s.worst_drawdown == Decimal(35)
    assert s.win_rate == 0.5
    text = fmt.summary_text("DAILY SUMMARY", s)
    assert "trades 4, win rate 50%" in text
    assert "P&L -$5.00 net of fees $4.96" in text
    assert "worst drawdown -$35.00" in text
    empty = fmt.summary_text("x", fmt.summarize([]))
    assert "win rate n/a" in empty and "worst drawdown $0.00" in empty


def test_periods_follow_the_cme_trading_day() -> None:
    # Tue 2026-03-03 trading day starts Mon 17:00 CT (23:00 UTC).
    now = datetime(2026, 3, 3, 20, tzinfo=UTC)
    yesterday_evening = trade(datetime(2026, 3, 2, 23, 30, tzinfo=UTC), "1")  # Tue's day
    monday = trade(datetime(2026, 3, 2, 15, tzinfo=UTC), "2")
    last_month = trade(datetime(2026, 2, 26, 15, tzinfo=UTC), "3")
    trades = [yesterday_evening, monday, last_month]
    assert fmt.in_period(trades, CME_EQUITY_INDEX, now, "day") == [yesterday_evening]
    assert fmt.in_period(trades, CME_EQUITY_INDEX, now, "week") == [yesterday_evening, monday]
    assert fmt.in_period(trades, CME_EQUITY_INDEX, now, "month") == [yesterday_evening, monday]
    with pytest.raises(ValueError, match="day, week or month"):
        fmt.in_period(trades, CME_EQUITY_INDEX, now, "year")


def test_trades_text_newest_first_and_limited() -> None:
    t0 = datetime(2026, 3, 2, 15, tzinfo=UTC)
    trades = [trade(t0 + timedelta(minutes=i), str(i)) for i in range(5)]
    lines = fmt.trades_text(trades, 2).splitlines()
    assert lines[0] == "last 2 trade(s), newest first:"
    assert "+$4.00" in lines[1] and "+$3.00" in lines[2] and len(lines) == 3
    assert fmt.trades_text([], 5) == "no closed trades since the node started"


def test_breakers_text() -> None:
    now = datetime(2026, 3, 2, 15, tzinfo=UTC)
    state = RiskState(
        halted=True,
        halt_reason="ops",
        daily_limit_hit=True,
        paused_until=now + timedelta(minutes=5),
        consecutive_losses=2,
    )
    text = fmt.breakers_text(state, now)
    assert "HALTED (ops)" in text and "daily loss limit hit" in text
    assert "paused until 15:05 UTC" in text and "2 loss(es) in a row" in text
    assert "not available" in fmt.breakers_text(None, now)


def test_throttle_dedups_and_rate_limits_and_counts() -> None:
    throttle = ErrorThrottle(dedup_secs=300, max_per_window=2, window_secs=60)
    assert throttle.admit("a", 0).send
    assert not throttle.admit("a", 10).send  # duplicate
    assert throttle.admit("b", 11).suppressed == 1
    assert not throttle.admit("c", 12).send  # rate limited (2 per minute)
    second = throttle.admit("c", 75)
    assert second.send and second.suppressed == 1
    assert throttle.admit("a", 301).send  # dedup window over
    assert throttle.total_suppressed == 2
