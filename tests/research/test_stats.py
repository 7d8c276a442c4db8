"""The shared statistics module: definitions checked by hand-computed numbers."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.analysis.stats import (
    bootstrap_drawdowns,
    compute_stats,
    daily_returns,
    deflated_sharpe,
    expected_max_standard_normal,
    max_consecutive_losses,
    trading_day_of,
)

# Monday 2013-10-07 14:00 UTC = 09:00 CDT
T0 = datetime(2013, 10, 7, 14, 0, tzinfo=UTC)


def _trade(pnl: str, day: int, minutes: int = 10, side: str = "LONG", hour: int = 0) -> ClosedTrade:
    opened = T0 + timedelta(days=day, hours=hour)
    return ClosedTrade(
        instrument_id="MESZ3.CME",
        side=side,
        quantity=Decimal(1),
        opened_at=opened,
        closed_at=opened + timedelta(minutes=minutes),
        entry_price=Decimal("1676.50"),
        exit_price=Decimal("1677.00"),
        realized_pnl=Decimal(pnl),
        fees=Decimal("1.24"),
    )


TRADES = [
    _trade("100", 0),
    _trade("-50", 0, side="SHORT", hour=1),
    _trade("-30", 1, minutes=30),
    _trade("-20", 1, side="SHORT", hour=1),
    _trade("60", 3),
]
DAYS = [date(2013, 10, d) for d in (7, 8, 9, 10, 11)]


def test_counts_money_and_nautilus_ratios() -> None:
    s = compute_stats(TRADES, Decimal(10_000), trading_days=DAYS, bootstrap_samples=0)
    assert (s.trades, s.winners, s.losers) == (5, 2, 3)
    assert s.win_rate == pytest.approx(0.4)
    assert s.net_pnl == Decimal(60)
    assert s.fees == Decimal("6.20")
    assert s.profit_factor == pytest.approx(160 / 100)
    assert s.expectancy == pytest.approx(12.0)  # Nautilus: mean of the non-zero trades
    assert s.payoff_ratio == pytest.approx(80 / (100 / 3))
    assert s.max_consecutive_losses == 3
    assert s.max_drawdown_usd == Decimal(100)
    assert s.trading_days == 5 and s.trades_per_day == pytest.approx(1.0)
    assert s.long.trades == 3 and s.long.net_pnl == Decimal(130)
    assert s.short.trades == 2 and s.short.win_rate == 0.0
    assert s.average_holding_time == timedelta(minutes=14)
    # Peak after the first trade (14:10 on day 0), regained by the day-3 trade close.
    assert s.max_drawdown_duration == timedelta(days=3)
    assert s.bootstrap is None


def test_sharpe_counts_days_without_trades() -> None:
    s = compute_stats(TRADES, Decimal(10_000), trading_days=DAYS, bootstrap_samples=0)
    returns = daily_returns(TRADES, Decimal(10_000), DAYS).to_numpy()
    assert len(returns) == 5 and returns[2] == 0.0 and returns[4] == 0.0
    expected = returns.mean() / returns.std(ddof=1) * math.sqrt(252)
    assert s.sharpe_ratio == pytest.approx(expected, rel=1e-9)
    only_trading = compute_stats(TRADES, Decimal(10_000), bootstrap_samples=0)
    assert only_trading.trading_days == 3
    assert only_trading.sharpe_ratio != pytest.approx(expected)


def test_trading_day_rolls_at_17_chicago_and_skips_weekends() -> None:
    friday = datetime(2013, 10, 11, 21, 10, tzinfo=UTC)  # 16:10 CDT
    assert trading_day_of(friday) == date(2013, 10, 11)
    assert trading_day_of(friday + timedelta(hours=1, minutes=30)) == date(2013, 10, 14)
    sunday_evening = datetime(2013, 10, 13, 23, 0, tzinfo=UTC)  # 18:00 CDT
    assert trading_day_of(sunday_evening) == date(2013, 10, 14)


def test_deflated_sharpe_falls_with_trials() -> None:
    rng = np.random.default_rng(3)
    returns = rng.normal(0.001, 0.01, 250)
    one, p_one = deflated_sharpe(returns, 1)
    sr = returns.mean() / returns.std(ddof=1) * math.sqrt(252)
    assert one == pytest.approx(sr)  # one trial: nothing to deflate
    many, p_many = deflated_sharpe(returns, 1000)
    assert many < one and p_many < p_one
    assert 0.0 < p_many < p_one < 1.0
    # The spread of the trials' Sharpes sets the bar: tighter trials, smaller haircut.
    tight, _ = deflated_sharpe(returns, 1000, trial_sharpes=[0.1, 0.11, 0.12])
    assert tight > many
    assert expected_max_standard_normal(1) == 0.0
    assert expected_max_standard_normal(1000) == pytest.approx(3.25, abs=0.05)


def test_bootstrap_is_seeded_and_ordered() -> None:
    pnls = [100.0, -50.0, -30.0, -20.0, 60.0] * 20
    a = bootstrap_drawdowns(pnls, 10_000.0, samples=500, seed=1)
    b = bootstrap_drawdowns(pnls, 10_000.0, samples=500, seed=1)
    assert a == b
    assert 0 < a.p50_usd <= a.p95_usd <= a.p99_usd
    assert 0 < a.p50_pct <= a.p95_pct <= a.p99_pct < 1


def test_as_row_is_flat_and_plain() -> None:
    row = compute_stats(TRADES, Decimal(10_000), trading_days=DAYS, seed=2).as_row()
    for key in ("net_pnl", "long_trades", "bootstrap_dd_p95_pct", "max_drawdown_duration_min"):
        assert key in row
    assert all(not isinstance(v, Decimal | timedelta | dict) for v in row.values())
    assert max_consecutive_losses([]) == 0
    empty = compute_stats([], Decimal(10_000), trading_days=DAYS)
    assert empty.trades == 0 and empty.win_rate is None and empty.sharpe_ratio is None
