"""Pure series logic: P&L periods of trading days, losing streaks, drawdown, downsampling."""

from __future__ import annotations

import numpy as np
import pytest

from quant_scalper.dashboard.series import (
    DayPnl,
    aggregate_pnl,
    downsample_indices,
    drawdown,
    losing_streak,
    period_key,
)


def day(d: str, net: int, trades: int = 1) -> DayPnl:
    return DayPnl(d, trades, int(net > 0), int(net < 0), net + 124, 124, net)


def test_period_keys_are_iso_weeks_and_months_of_trading_days() -> None:
    assert period_key("2026-11-27", "day") == "2026-11-27"
    assert period_key("2026-11-27", "week") == "2026-W48"
    assert period_key("2026-12-28", "week") == "2026-W53"
    assert period_key("2027-01-01", "week") == "2026-W53"  # ISO year, not calendar year
    assert period_key("2026-11-27", "month") == "2026-11"
    with pytest.raises(ValueError, match="period"):
        period_key("2026-11-27", "year")


def test_aggregate_sums_cents_and_runs_a_cumulative_total() -> None:
    days = [day("2026-11-30", 500), day("2026-11-27", -125, 2), day("2026-12-01", 250)]
    weeks = aggregate_pnl(days, "week")
    assert [w["period"] for w in weeks] == ["2026-W48", "2026-W49"]
    assert weeks[0]["net_cents"] == -125 and weeks[0]["trades"] == 2
    assert weeks[1]["net_cents"] == 750 and weeks[1]["trading_days"] == 2
    assert weeks[1]["first_day"] == "2026-11-30" and weeks[1]["last_day"] == "2026-12-01"
    assert [w["cumulative_cents"] for w in weeks] == [-125, 625]
    months = aggregate_pnl(days, "month")
    assert [(m["period"], m["net_cents"]) for m in months] == [("2026-11", 375), ("2026-12", 250)]


def test_losing_streak_counts_the_latest_losers_only() -> None:
    assert losing_streak([-1, -5, 10, -3]) == 2
    assert losing_streak([0, -5]) == 0
    assert losing_streak([]) == 0


def test_drawdown_starts_from_a_zero_peak() -> None:
    eq = np.array([-100, 50, 20, 80, -40], dtype=np.int64)
    assert drawdown(eq).tolist() == [100, 0, 30, 0, 120]


def test_downsampling_keeps_extremes_first_and_last() -> None:
    rng = np.random.default_rng(1)
    eq = np.cumsum(rng.integers(-500, 500, 100_000)).astype(np.int64)
    dd = drawdown(eq)
    picks = downsample_indices(eq, dd, 1000)
    assert picks.size <= 1000
    assert picks[0] == 0 and picks[-1] == eq.size - 1
    assert (np.diff(picks) > 0).all()
    assert eq.argmin() in picks and eq.argmax() in picks and dd.argmax() in picks
    small = downsample_indices(eq[:10], dd[:10], 1000)
    assert small.tolist() == list(range(10))
