"""Performance statistics: the one module the backtest, sweeps and walk-forward all use.

Input is a list of closed trades (``ClosedTrade``, P&L net of fees) and the starting balance;
output is a ``PerformanceStats`` with every figure a trader checks, and a flat ``as_row()`` for
Parquet tables. Where Nautilus's ``PortfolioAnalyzer`` has a statistic, its implementation is
used (the pyo3 ``WinRate``, ``Expectancy``, ``AvgWinner``/``AvgLoser``, ``SharpeRatio``,
``SortinoRatio``, ``ReturnsVolatility``), fed with our series, so a number here means what it
means in a Nautilus tearsheet. Dollar figures (net P&L, fees, drawdown in $) come from
``metrics.summarize_trades`` in exact ``Decimal``.

Definitions (documented once, here):

- **Daily returns**: per CME trading day (rolls at 17:00 America/Chicago; weekend to Monday),
  the day's net P&L over the realized equity at the start of that day. Every trading day of the
  tested period counts, with a zero return when nothing closed, so a strategy that trades
  rarely is not flattered (pass ``trading_days``; without them only days with trades count).
- **Sharpe / Sortino**: Nautilus's, on those daily returns, annualised with 252 days.
- **Max drawdown**: on the realized equity curve at each trade close, in $ and % of the peak;
  its **duration** is the longest time from a peak to the trade that regained it (or to the
  last trade when it never did).
- **Deflated Sharpe** (Bailey and Lopez de Prado, 2014): the Sharpe ratio a strategy must beat
  is the expected maximum Sharpe of ``n_trials`` unskilled strategies,
  ``SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))`` with ``g`` the
  Euler-Mascheroni constant, ``V`` the variance of the trials' (daily) Sharpe ratios when they
  are known, else the estimator's own variance. ``deflated_sharpe`` is ``(SR - SR0)``
  annualised (> 0: better than the best of N coin flips would look);
  ``deflated_sharpe_probability`` is the DSR proper, ``P(true SR > SR0)`` allowing for the
  skewness and kurtosis of the returns.
- **Bootstrap drawdowns**: per-trade returns (P&L over the equity before the trade) resampled
  with replacement into ``bootstrap_samples`` paths of the same length; percentiles of their
  max drawdown show how much worse the drawdown could have been with the same edge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from statistics import NormalDist
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quant_scalper.analysis.metrics import ClosedTrade, summarize_trades

TRADING_DAYS_PER_YEAR = 252
EULER_MASCHERONI = 0.5772156649015329
DEFAULT_SESSION_TZ = "America/Chicago"
DEFAULT_SESSION_OPEN = time(17, 0)
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class SideStats:
    """The trades of one side (long or short): count, net P&L and win rate."""

    trades: int
    net_pnl: Decimal
    win_rate: float | None


@dataclass(frozen=True, slots=True)
class DrawdownBootstrap:
    """Percentiles of the max drawdown over bootstrap resamples of the per-trade returns."""

    samples: int
    seed: int
    p50_usd: float
    p95_usd: float
    p99_usd: float
    p50_pct: float
    p95_pct: float
    p99_pct: float


@dataclass(frozen=True, slots=True)
class PerformanceStats:
    """Every statistic of a list of closed trades; see the module docstring for definitions."""

    trades: int
    winners: int
    losers: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    payoff_ratio: float | None
    net_pnl: Decimal
    gross_pnl: Decimal
    fees: Decimal
    sharpe_ratio: float | None
    sortino_ratio: float | None
    returns_volatility: float | None
    returns_skewness: float | None
    returns_kurtosis: float | None
    max_drawdown_usd: Decimal
    max_drawdown_pct: float
    max_drawdown_duration: timedelta
    trading_days: int
    trades_per_day: float | None
    average_holding_time: timedelta | None
    max_consecutive_losses: int
    long: SideStats
    short: SideStats
    n_trials: int
    deflated_sharpe: float | None
    deflated_sharpe_probability: float | None
    bootstrap: DrawdownBootstrap | None

    def as_row(self) -> dict[str, Any]:
        """A flat mapping of plain numbers (money as float, durations in minutes) for tables."""
        row: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key in ("long", "short"):
                for sub, sub_value in value.items():
                    row[f"{key}_{sub}"] = _plain(sub_value)
            elif key == "bootstrap":
                for sub in ("p50_usd", "p95_usd", "p99_usd", "p50_pct", "p95_pct", "p99_pct"):
                    row[f"bootstrap_dd_{sub}"] = None if value is None else value[sub]
            else:
                row[_ROW_NAMES.get(key, key)] = _plain(value)
        return row


_ROW_NAMES = {
    "max_drawdown_duration": "max_drawdown_duration_min",
    "average_holding_time": "average_holding_min",
}

# The columns of ``as_row`` and whether a higher value is better (used to rank sweeps).
HIGHER_IS_BETTER: dict[str, bool] = {
    "net_pnl": True,
    "win_rate": True,
    "profit_factor": True,
    "expectancy": True,
    "payoff_ratio": True,
    "sharpe_ratio": True,
    "sortino_ratio": True,
    "deflated_sharpe": True,
    "deflated_sharpe_probability": True,
    "max_drawdown_pct": False,
    "max_drawdown_usd": False,
    "trades": True,
}


def compute_stats(
    trades: Sequence[ClosedTrade],
    starting_balance: Decimal,
    *,
    trading_days: Iterable[date] | None = None,
    n_trials: int = 1,
    trial_sharpes: Sequence[float] | None = None,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> PerformanceStats:
    """All statistics of ``trades`` (P&L net of fees) from ``starting_balance`` (USD).

    ``trading_days`` are the CME trading days the test covered (zero-return days included in
    Sharpe/Sortino); ``n_trials`` is how many parameter points were tried to find these trades
    and ``trial_sharpes`` their annualised Sharpe ratios when known (deflated Sharpe).
    ``bootstrap_samples=0`` skips the drawdown bootstrap.
    """
    from nautilus_trader.core.nautilus_pyo3 import (
        AvgLoser,
        AvgWinner,
        Expectancy,
        ReturnsVolatility,
        SharpeRatio,
        SortinoRatio,
        WinRate,
    )

    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, was {n_trials}")
    ordered = sorted(trades, key=lambda t: t.closed_at)
    summary = summarize_trades(ordered, starting_balance)
    pnls = [float(t.realized_pnl) for t in ordered]
    returns = daily_returns(ordered, starting_balance, trading_days)
    returns_ns = {int(pd.Timestamp(day).value): float(r) for day, r in returns.items()}
    sharpe = _finite(SharpeRatio(TRADING_DAYS_PER_YEAR).calculate_from_returns(returns_ns))
    sortino = _finite(SortinoRatio(TRADING_DAYS_PER_YEAR).calculate_from_returns(returns_ns))
    volatility = _finite(
        ReturnsVolatility(TRADING_DAYS_PER_YEAR).calculate_from_returns(returns_ns)
    )
    avg_win = _finite(AvgWinner().calculate_from_realized_pnls(pnls)) if pnls else None
    avg_loss = _finite(AvgLoser().calculate_from_realized_pnls(pnls)) if pnls else None
    payoff = avg_win / -avg_loss if avg_win and avg_loss and avg_loss < 0 else None
    n_days = len(returns)
    _, skewness, kurtosis = return_moments(returns.to_numpy())
    deflated, probability = deflated_sharpe_from_moments(
        sharpe, n_days, skewness, kurtosis, n_trials, trial_sharpes
    )
    return PerformanceStats(
        trades=summary.trades,
        winners=summary.winners,
        losers=summary.losers,
        win_rate=_finite(WinRate().calculate_from_realized_pnls(pnls)) if pnls else None,
        profit_factor=summary.profit_factor,
        expectancy=_finite(Expectancy().calculate_from_realized_pnls(pnls)) if pnls else None,
        payoff_ratio=payoff,
        net_pnl=summary.net_pnl,
        gross_pnl=summary.gross_pnl,
        fees=summary.fees,
        sharpe_ratio=sharpe,
        sortino_ratio=sortino,
        returns_volatility=volatility,
        returns_skewness=skewness,
        returns_kurtosis=kurtosis,
        max_drawdown_usd=summary.max_drawdown_usd,
        max_drawdown_pct=summary.max_drawdown_pct,
        max_drawdown_duration=drawdown_duration(ordered),
        trading_days=n_days,
        trades_per_day=summary.trades / n_days if n_days else None,
        average_holding_time=summary.average_holding_time,
        max_consecutive_losses=max_consecutive_losses(ordered),
        long=_side(ordered, "LONG"),
        short=_side(ordered, "SHORT"),
        n_trials=n_trials,
        deflated_sharpe=deflated,
        deflated_sharpe_probability=probability,
        bootstrap=(
            bootstrap_drawdowns(pnls, float(starting_balance), bootstrap_samples, seed)
            if bootstrap_samples > 0 and pnls
            else None
        ),
    )


def trading_day_of(ts: datetime, tz: str = DEFAULT_SESSION_TZ) -> date:
    """The CME trading day of ``ts`` (rolls at 17:00 exchange time; weekends go to Monday)."""
    return trading_days_of_ns([int(pd.Timestamp(ts).value)], tz)[0]


def trading_days_of_ns(
    timestamps_ns: Sequence[int] | np.ndarray, tz: str = DEFAULT_SESSION_TZ
) -> list[date]:
    """Vectorised ``trading_day_of`` for UTC nanosecond timestamps (e.g. bar ``ts_event``)."""
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps_ns, dtype="int64"), utc=True))
    local = index.tz_convert(ZoneInfo(tz))
    open_minutes = DEFAULT_SESSION_OPEN.hour * 60 + DEFAULT_SESSION_OPEN.minute
    minutes = local.hour * 60 + local.minute
    days = local.normalize().tz_localize(None) + pd.to_timedelta(
        (minutes >= open_minutes).astype(int), unit="D"
    )
    weekday = days.weekday
    days = days + pd.to_timedelta(np.where(weekday == 5, 2, np.where(weekday == 6, 1, 0)), unit="D")
    return [d.date() for d in days]


def daily_returns(
    trades: Sequence[ClosedTrade],
    starting_balance: Decimal,
    trading_days: Iterable[date] | None = None,
) -> pd.Series:
    """Return per trading day: the day's net P&L over the equity at its start (see module)."""
    pnl_by_day: dict[date, float] = {}
    for trade in trades:
        day = trading_day_of(trade.closed_at)
        pnl_by_day[day] = pnl_by_day.get(day, 0.0) + float(trade.realized_pnl)
    days = sorted(set(trading_days or ()) | set(pnl_by_day))
    equity = float(starting_balance)
    values = []
    for day in days:
        pnl = pnl_by_day.get(day, 0.0)
        values.append(pnl / equity if equity > 0 else 0.0)
        equity += pnl
    return pd.Series(values, index=pd.DatetimeIndex(days, name="trading_day"), dtype="float64")


def equity_curve(trades: Sequence[ClosedTrade], starting_balance: Decimal) -> pd.Series:
    """Realized equity (USD) after each trade close, starting with the balance at the first
    trade's open."""
    ordered = sorted(trades, key=lambda t: t.closed_at)
    if not ordered:
        return pd.Series([], dtype="float64")
    times = [ordered[0].opened_at] + [t.closed_at for t in ordered]
    levels = np.cumsum([float(starting_balance)] + [float(t.realized_pnl) for t in ordered])
    return pd.Series(levels, index=pd.DatetimeIndex(times, name="time"), name="equity")


def drawdown_duration(trades: Sequence[ClosedTrade]) -> timedelta:
    """Longest time from an equity peak to the trade close that regained it (or the end)."""
    curve = equity_curve(trades, Decimal(0))
    if curve.empty:
        return timedelta(0)
    longest = timedelta(0)
    peak_value, peak_time = curve.iloc[0], curve.index[0]
    for when, value in curve.items():
        if value >= peak_value:
            longest = max(longest, when - peak_time)
            peak_value, peak_time = value, when
    longest = max(longest, curve.index[-1] - peak_time) if curve.iloc[-1] < peak_value else longest
    return pd.Timedelta(longest).to_pytimedelta()


def max_consecutive_losses(trades: Sequence[ClosedTrade]) -> int:
    """The longest run of losing trades (net P&L < 0) in close order."""
    worst = run = 0
    for trade in sorted(trades, key=lambda t: t.closed_at):
        run = run + 1 if trade.realized_pnl < 0 else 0
        worst = max(worst, run)
    return worst


def return_moments(returns: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """(daily Sharpe, skewness, Pearson kurtosis) of daily returns; None without variation."""
    r = np.asarray(returns, dtype="float64")
    if len(r) < 3:
        return None, None, None
    std = r.std(ddof=1)
    if not std > 0:
        return None, None, None
    centred = r - r.mean()
    m2 = (centred**2).mean()
    return (
        float(r.mean() / std),
        float((centred**3).mean() / m2**1.5),
        float((centred**4).mean() / m2**2),
    )


def deflated_sharpe(
    returns: np.ndarray,
    n_trials: int,
    trial_sharpes: Sequence[float] | None = None,
) -> tuple[float | None, float | None]:
    """(annualised SR - SR0, DSR probability) of daily ``returns`` after ``n_trials`` tries.

    ``trial_sharpes`` are the annualised Sharpe ratios of all the points tried; their variance
    sets the expected maximum SR0 (without them, the Sharpe estimator's own variance does).
    None when there are fewer than 3 days or no variation.
    """
    sr, skew, kurt = return_moments(returns)
    if sr is None:
        return None, None
    return deflated_sharpe_from_moments(
        sr * math.sqrt(TRADING_DAYS_PER_YEAR), len(returns), skew, kurt, n_trials, trial_sharpes
    )


def deflated_sharpe_from_moments(
    sharpe_annual: float | None,
    n_days: int,
    skewness: float | None,
    kurtosis: float | None,
    n_trials: int,
    trial_sharpes: Sequence[float] | None = None,
) -> tuple[float | None, float | None]:
    """``deflated_sharpe`` from a point's stored moments (how sweeps deflate after the fact)."""
    if sharpe_annual is None or not math.isfinite(sharpe_annual) or n_days < 3:
        return None, None
    sr = sharpe_annual / math.sqrt(TRADING_DAYS_PER_YEAR)
    skew = skewness if skewness is not None and math.isfinite(skewness) else 0.0
    kurt = kurtosis if kurtosis is not None and math.isfinite(kurtosis) else 3.0
    estimator_var = max(1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr, 1e-12)
    sr0 = 0.0
    if n_trials > 1:
        finite = [s for s in (trial_sharpes or ()) if s is not None and math.isfinite(s)]
        if len(finite) >= 2:
            variance = float(np.var(np.asarray(finite) / math.sqrt(TRADING_DAYS_PER_YEAR), ddof=1))
        else:
            variance = estimator_var / (n_days - 1)
        sr0 = math.sqrt(variance) * expected_max_standard_normal(n_trials)
    probability = _NORMAL.cdf((sr - sr0) * math.sqrt(n_days - 1) / math.sqrt(estimator_var))
    return (sr - sr0) * math.sqrt(TRADING_DAYS_PER_YEAR), probability


def expected_max_standard_normal(n_trials: int) -> float:
    """Approximate E[max of N independent standard normals] (0 for one trial)."""
    if n_trials <= 1:
        return 0.0
    g = EULER_MASCHERONI
    return (1 - g) * _NORMAL.inv_cdf(1 - 1 / n_trials) + g * _NORMAL.inv_cdf(
        1 - 1 / (n_trials * math.e)
    )


def bootstrap_drawdowns(
    pnls: Sequence[float], starting_balance: float, samples: int = 1000, seed: int = 0
) -> DrawdownBootstrap:
    """Resample per-trade returns with replacement; percentiles of the paths' max drawdown."""
    values = np.asarray(pnls, dtype="float64")
    equity_before = starting_balance + np.concatenate(([0.0], np.cumsum(values)[:-1]))
    per_trade = np.divide(values, equity_before, out=np.zeros_like(values), where=equity_before > 0)
    rng = np.random.default_rng(seed)
    draws = rng.choice(per_trade, size=(samples, len(per_trade)), replace=True)
    paths = starting_balance * np.cumprod(1.0 + draws, axis=1)
    paths = np.concatenate((np.full((samples, 1), starting_balance), paths), axis=1)
    peaks = np.maximum.accumulate(paths, axis=1)
    falls = peaks - paths
    dd_usd = falls.max(axis=1)
    dd_pct = (falls / peaks).max(axis=1)
    p_usd = np.percentile(dd_usd, [50, 95, 99])
    p_pct = np.percentile(dd_pct, [50, 95, 99])
    return DrawdownBootstrap(
        samples=samples,
        seed=seed,
        p50_usd=float(p_usd[0]),
        p95_usd=float(p_usd[1]),
        p99_usd=float(p_usd[2]),
        p50_pct=float(p_pct[0]),
        p95_pct=float(p_pct[1]),
        p99_pct=float(p_pct[2]),
    )


def monthly_pnl(trades: Sequence[ClosedTrade]) -> pd.Series:
    """Net P&L per calendar month (UTC) of the trade close, for reports."""
    if not trades:
        return pd.Series([], dtype="float64")
    frame = pd.DataFrame(
        {
            "month": [
                pd.Timestamp(t.closed_at).tz_convert("UTC").strftime("%Y-%m") for t in trades
            ],
            "pnl": [float(t.realized_pnl) for t in trades],
        }
    )
    return frame.groupby("month")["pnl"].sum()


def _side(trades: Sequence[ClosedTrade], side: str) -> SideStats:
    chosen = [t for t in trades if t.side == side]
    winners = sum(1 for t in chosen if t.realized_pnl > 0)
    return SideStats(
        trades=len(chosen),
        net_pnl=sum((t.realized_pnl for t in chosen), Decimal(0)),
        win_rate=winners / len(chosen) if chosen else None,
    )


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds() / 60.0
    return value
