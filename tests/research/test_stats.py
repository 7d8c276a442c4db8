"""The shared statistics module: definitions checked by hand-computed numbers."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.analysis.stats import (
    MIN_SHARPE_DAYS,
    TradingCalendar,
    bootstrap_drawdowns,
    compute_stats,
    daily_pnl,
    daily_returns,
    deflated_sharpe,
    expected_max_standard_normal,
    format_duration,
    max_consecutive_losses,
    sharpe_estimate,
    sharpe_ratios,
    trading_day_of,
    trading_time_axis,
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
CAL = TradingCalendar.from_days(DAYS)
MIN = 60_000_000_000


def test_counts_money_and_ratios() -> None:
    s = compute_stats(TRADES, Decimal(10_000), calendar=CAL, bootstrap_samples=0)
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
    s = compute_stats(TRADES, Decimal(10_000), calendar=CAL, bootstrap_samples=0)
    returns = daily_returns(TRADES, Decimal(10_000), CAL).to_numpy()
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


def test_statistics_days_are_the_risk_days_holidays_included() -> None:
    """One trading-day definition: the statistics map every timestamp to the day the circuit
    breakers use, exchange closures included (Christmas, New Year)."""
    from quant_scalper.analysis.stats import trading_days_of_ns
    from quant_scalper.risk.session import SessionSchedule

    schedule = SessionSchedule()
    christmas_eve = datetime(2026, 12, 24, 23, 30, tzinfo=UTC)  # Thu 17:30 CST, Fri closed
    assert trading_day_of(christmas_eve) == date(2026, 12, 28)
    new_years_eve = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # Thu 17:30 CST, Fri closed
    assert trading_day_of(new_years_eve) == date(2027, 1, 4)
    start = datetime(2019, 12, 20, tzinfo=UTC)
    stamps = [start + timedelta(minutes=37 * i) for i in range(0, 40 * 24 * 60 // 37)]
    mapped = trading_days_of_ns([int(t.timestamp()) * 10**9 for t in stamps])
    assert mapped == [schedule.trading_day(t) for t in stamps]


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
    row = compute_stats(TRADES, Decimal(10_000), calendar=CAL, seed=2).as_row()
    for key in ("net_pnl", "long_trades", "bootstrap_dd_p95_pct", "max_drawdown_duration_min"):
        assert key in row
    assert all(not isinstance(v, Decimal | timedelta | dict) for v in row.values())
    assert max_consecutive_losses([]) == 0
    empty = compute_stats([], Decimal(10_000), calendar=CAL)
    assert empty.trades == 0 and empty.win_rate is None and empty.sharpe_ratio is None


def _session_bars(day_open_utc: datetime, minutes: int) -> np.ndarray:
    start = int(day_open_utc.timestamp()) * 10**9
    return start + np.arange(1, minutes + 1, dtype="int64") * MIN


# Sessions open at 17:00 CDT = 22:00 UTC the evening before.
MON = datetime(2013, 10, 6, 22, 0, tzinfo=UTC)  # trading day Monday 2013-10-07


def test_calendar_counts_sessions_and_folds_evening_fragments() -> None:
    bars = np.concatenate(
        [
            _session_bars(MON, 1380),  # Monday: a full session
            _session_bars(MON + timedelta(days=1), 100),  # Tuesday: a 100-bar evening piece
            _session_bars(MON + timedelta(days=14), 1300),  # two weeks later, a session
        ]
    )
    cal = TradingCalendar.from_bars(bars)
    assert cal.days == (date(2013, 10, 7), date(2013, 10, 8), date(2013, 10, 21))
    assert cal.stat_days == (date(2013, 10, 7), date(2013, 10, 21))
    assert (cal.session_days, cal.fragment_days) == (2, 1)
    assert cal.session_equivalents == pytest.approx((1380 + 100 + 1300) / 1380)
    # A trade closing in the Tuesday fragment is booked on Monday, not on a day of its own.
    fragment_close = MON + timedelta(days=1, minutes=50)
    trade = replace_close(TRADES[0], fragment_close)
    assert daily_pnl([trade], cal).tolist() == [100.0, 0.0]
    s = compute_stats([trade], Decimal(5000), calendar=cal, bootstrap_samples=0)
    assert s.trading_days == 2 and s.fragment_days == 1 and s.trades_per_day == 0.5


def replace_close(trade: ClosedTrade, closed_at: datetime) -> ClosedTrade:
    from dataclasses import replace

    return replace(trade, opened_at=closed_at - timedelta(minutes=5), closed_at=closed_at)


def test_sharpe_counts_trading_days_with_data_not_calendar_days() -> None:
    """Two sessions a week apart: two daily returns, not the eight calendar days between."""
    bars = np.concatenate([_session_bars(MON, 1380), _session_bars(MON + timedelta(days=7), 1380)])
    cal = TradingCalendar.from_bars(bars)
    trades = [
        replace_close(TRADES[0], MON + timedelta(hours=5)),
        replace_close(TRADES[2], MON + timedelta(days=7, hours=5)),
    ]
    s = compute_stats(trades, Decimal(5000), calendar=cal, bootstrap_samples=0)
    r = np.array([100 / 5000, -30 / 5100])
    assert s.trading_days == 2
    assert s.sharpe_ratio == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))


def test_sharpe_has_lo_standard_error_interval_and_small_sample_warning() -> None:
    rng = np.random.default_rng(5)
    returns = rng.normal(0.001, 0.01, 250)
    est = sharpe_estimate(returns)
    daily = returns.mean() / returns.std(ddof=1)
    se = math.sqrt((1 + daily**2 / 2) / 250) * math.sqrt(252)
    assert est.standard_error == pytest.approx(se)
    assert (est.ci_low, est.ci_high) == pytest.approx(
        (est.sharpe - 1.96 * se, est.sharpe + 1.96 * se), rel=1e-4
    )
    assert est.warning is None
    short = sharpe_estimate(returns[: MIN_SHARPE_DAYS - 1])
    assert short.warning is not None and "59 trading days" in short.warning
    assert "95 % CI" in short.describe()


def test_one_sharpe_implementation_for_rows_of_daily_pnl() -> None:
    s = compute_stats(TRADES, Decimal(10_000), calendar=CAL, bootstrap_samples=0)
    matrix = np.vstack([daily_pnl(TRADES, CAL), np.zeros(5)])
    out = sharpe_ratios(matrix, 10_000.0)
    assert out[0] == pytest.approx(s.sharpe_ratio, rel=1e-12) and math.isnan(out[1])


def test_trading_time_axis_squeezes_gaps_to_one_bar() -> None:
    bars = np.array([0, 1, 2, 3, 60 * 24 * 365 * 6, 60 * 24 * 365 * 6 + 1]) * MIN
    axis = trading_time_axis(np.array([0, 3 * MIN, 3 * MIN + MIN // 2, bars[4], bars[5]]), bars)
    assert axis.tolist() == [0.0, 3.0, 3.5, 4.0, 5.0]
    assert trading_time_axis(np.array([-10 * MIN]), bars).tolist() == [-1.0]


def test_drawdown_duration_is_trading_time() -> None:
    """A drawdown spanning a six-year hole in the data lasts its trading time, not 6 years."""
    bars = np.concatenate(
        [_session_bars(MON, 1380), _session_bars(MON + timedelta(days=365 * 6 + 1), 1380)]
    )
    cal = TradingCalendar.from_bars(bars)
    trades = [
        replace_close(TRADES[0], MON + timedelta(hours=22)),  # peak at 22:00 into the session
        replace_close(TRADES[1], MON + timedelta(hours=22, minutes=30)),
        replace_close(TRADES[4], MON + timedelta(days=365 * 6 + 1, hours=2)),  # regained
    ]
    s = compute_stats(trades, Decimal(5000), calendar=cal, bootstrap_samples=0)
    # 60 minutes to the first session's last bar, one bar across the gap to the next session's
    # first bar (00:01), 119 more to 02:00: three hours of trading time.
    assert s.max_drawdown_duration == timedelta(minutes=60 + 1 + 119)


def test_durations_print_as_h_mm_ss() -> None:
    assert format_duration(timedelta(minutes=10, seconds=3, microseconds=600_000)) == "0:10:04"
    assert format_duration(timedelta(hours=317, minutes=23)) == "317:23:00"
    assert format_duration(None) == "n/a"
