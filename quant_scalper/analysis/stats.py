"""Performance statistics: the one module every figure of the project comes from.

The backtest report and its summary.json, the sweep table, the Rust pre-screen's ranking, the
walk-forward and the research report all call this module; nothing here imports Nautilus, so it
is tested in microseconds. Input is a list of closed trades (``ClosedTrade``, P&L net of fees),
the account size (the venue's starting balance) and a ``TradingCalendar`` built from the bars
the test replayed; output is a ``PerformanceStats`` and a flat ``as_row()`` for tables. Dollar
figures (net P&L, fees, drawdown in $) come from ``metrics.summarize_trades`` in ``Decimal``.

Definitions (documented once, here, and in the README's "Statistics"):

- **Statistics day**: a CME trading day (it rolls at 17:00 America/Chicago; a weekend goes to
  Monday) *that had bars*. A day holding at least ``SESSION_DAY_FRACTION`` (50 %) of a full
  1,380-minute session is a session day; a smaller piece (the bundled data's 59-120-bar
  evening fragments) is folded into the session day before it (after it when none comes
  before), so it neither counts as a day nor loses its P&L. Weekends, holidays and data gaps
  are not days at all. (When no day holds half a session, e.g. a short test, every day with
  bars counts.) A trade's P&L is booked on the statistics day whose session opened last at or
  before its exit (17:00 Chicago the evening before; Friday's for a Monday).
- **Daily return**: a statistics day's net P&L over the equity at its start (the account size
  plus the P&L of the days before). Days without a trade count, with a zero return.
- **Sharpe ratio**: mean over sample standard deviation (ddof 1) of the daily returns, times
  sqrt(252). **Standard error** (Lo 2002, i.i.d. returns): ``sqrt((1 + SR_d^2 / 2) / n)`` for
  the daily ratio ``SR_d`` over ``n`` days, times sqrt(252); the **95 % interval** is the
  Sharpe +- 1.96 standard errors. Below ``MIN_SHARPE_DAYS`` (60) days the figure carries a
  warning: it is too noisy to mean anything.
- **Sortino ratio**: the mean daily return over the downside deviation
  ``sqrt(mean(min(r, 0)^2))``, times sqrt(252). **Volatility**: the daily returns' standard
  deviation times sqrt(252).
- **Profit factor**: gross winning over gross losing trade P&L (net of fees), trade-based; it
  is the only profit factor the project prints. **Win rate**: winners (P&L > 0) over trades.
  **Expectancy**: net P&L per trade. **Payoff ratio**: average winner over average loser.
- **Max drawdown**: on the realized equity curve at each trade close, in $ and % of the peak;
  its **duration** is the longest stretch of *trading time* (``trading_time_axis``: time with
  bars, a gap between bars counting as one bar) from a peak to the trade that regained it (or
  to the last trade when it never did).
- **Trades per day**: trades over statistics days.
- **Deflated Sharpe** (Bailey and Lopez de Prado, 2014): the Sharpe ratio a strategy must beat
  is the expected maximum Sharpe of ``n_trials`` unskilled strategies,
  ``SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e)))`` with ``g`` the
  Euler-Mascheroni constant, ``V`` the variance of the trials' (daily) Sharpe ratios when they
  are known, else the estimator's own variance. ``deflated_sharpe`` is ``(SR - SR0)``
  annualised (> 0: better than the best of N coin flips would look);
  ``deflated_sharpe_probability`` is the DSR proper, ``P(true SR > SR0)`` allowing for the
  skewness and kurtosis of the returns; the sample size is the number of statistics days.
- **Bootstrap drawdowns**: per-trade returns (P&L over the equity before the trade) resampled
  with replacement into ``bootstrap_samples`` paths of the same length; percentiles of their
  max drawdown show how much worse the drawdown could have been with the same edge.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from statistics import NormalDist
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from quant_scalper.analysis.metrics import ClosedTrade, summarize_trades
from quant_scalper.risk.session import SessionSchedule

TRADING_DAYS_PER_YEAR = 252
EULER_MASCHERONI = 0.5772156649015329
DEFAULT_SESSION_TZ = "America/Chicago"
DEFAULT_SESSION_OPEN = time(17, 0)
# A full CME equity-index session in 1-minute bars: 17:00-16:15 Chicago less the 15:15-15:30
# break (2013), or 17:00-16:00 (today): 1,365-1,380 minutes.
FULL_SESSION_MINUTES = 1380
SESSION_DAY_FRACTION = 0.5
MIN_SHARPE_DAYS = 60
Z_95 = 1.959963984540054
NS_PER_MINUTE = 60_000_000_000
_NORMAL = NormalDist()


@dataclass(frozen=True)
class TradingCalendar:
    """The statistics days and the trading-time clock of a test, from its bar timestamps.

    ``days`` are the CME trading days with bars and ``day_bars`` their bar counts; ``stat_days``
    the session days that statistics count (see the module docstring) and ``stat_open_ns``
    when each one's session opened (UTC ns). ``bar_ts`` (sorted UTC ns) drives the
    trading-time axis; None means wall-clock time (a calendar made from trades alone).
    """

    days: tuple[date, ...]
    day_bars: tuple[int, ...]
    stat_days: tuple[date, ...]
    stat_open_ns: np.ndarray
    bar_ts: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_bars(cls, bar_ts_ns: Sequence[int] | np.ndarray) -> TradingCalendar:
        """The calendar of the bars a test replayed (any order, duplicates allowed)."""
        stamps = np.unique(np.asarray(bar_ts_ns, dtype="int64"))
        if len(stamps) == 0:
            return cls((), (), (), np.empty(0, "int64"), stamps)
        counts = pd.Series(trading_days_of_ns(stamps)).value_counts().sort_index()
        days = tuple(counts.index)
        bars = tuple(int(c) for c in counts.to_numpy())
        sessions = tuple(
            d
            for d, n in zip(days, bars, strict=True)
            if session_fraction(n) >= SESSION_DAY_FRACTION
        )
        stat_days = sessions or days
        return cls(days, bars, stat_days, _session_opens(stat_days), stamps)

    @classmethod
    def from_days(cls, days: Sequence[date]) -> TradingCalendar:
        """A calendar of whole trading days without bars (wall-clock trading time; tests)."""
        ordered = tuple(sorted(set(days)))
        return cls(
            ordered, (FULL_SESSION_MINUTES,) * len(ordered), ordered, _session_opens(ordered)
        )

    @property
    def session_days(self) -> int:
        """Days with bars holding at least half a session."""
        return sum(1 for n in self.day_bars if session_fraction(n) >= SESSION_DAY_FRACTION)

    @property
    def fragment_days(self) -> int:
        """Days with bars holding less than half a session (folded into a session day)."""
        return len(self.days) - self.session_days

    @property
    def session_equivalents(self) -> float:
        """The bars held, in full sessions (the days' session fractions summed)."""
        return float(sum(session_fraction(n) for n in self.day_bars))

    def day_index(self, ts_ns: Sequence[int] | np.ndarray) -> np.ndarray:
        """Which statistics day each UTC ns time's P&L belongs to (see the module)."""
        at = np.searchsorted(self.stat_open_ns, np.asarray(ts_ns, dtype="int64"), side="right")
        return np.clip(at - 1, 0, None)

    def trading_minutes(self, ts_ns: Sequence[int] | np.ndarray) -> np.ndarray:
        """Each time on the trading-time axis, in minutes (``trading_time_axis``)."""
        times = np.asarray(ts_ns, dtype="int64")
        if self.bar_ts is None or len(self.bar_ts) == 0:
            return (times - (times.min() if len(times) else 0)) / NS_PER_MINUTE
        return trading_time_axis(times, self.bar_ts)

    def day_kinds(self) -> dict[str, Any]:
        """How much of a session the days with bars hold, for reports."""
        return {
            "days_with_bars": len(self.days),
            "session_days": self.session_days,
            "fragment_days": self.fragment_days,
            "session_equivalents": round(self.session_equivalents, 2),
            "statistics_days": len(self.stat_days),
        }


def session_fraction(bars: int) -> float:
    """How much of a full session ``bars`` one-minute bars are (at most 1)."""
    return min(bars / FULL_SESSION_MINUTES, 1.0)


def trading_time_axis(
    times_ns: Sequence[int] | np.ndarray,
    bar_ts_ns: Sequence[int] | np.ndarray,
    bar_ns: int = NS_PER_MINUTE,
) -> np.ndarray:
    """Times as minutes on a trading-time axis: only time with bars moves the clock.

    Between consecutive bars the clock runs at most ``bar_ns`` (one bar), so a halt, a weekend
    or a six-year hole in the data is one bar wide, and charts and drawdown durations show
    trading time. Pure and vectorised: reusable by any chart (report, notebook, dashboard).
    """
    bars = np.unique(np.asarray(bar_ts_ns, dtype="int64"))
    times = np.asarray(times_ns, dtype="int64")
    if len(bars) == 0:
        return np.zeros(len(times))
    clock = np.concatenate(([0], np.cumsum(np.minimum(np.diff(bars), bar_ns))))
    at = np.searchsorted(bars, times, side="right") - 1
    before = at < 0
    safe = np.clip(at, 0, None)
    since = np.minimum(times - bars[safe], bar_ns)
    out = np.where(before, -np.minimum(bars[0] - times, bar_ns), clock[safe] + since)
    return out / NS_PER_MINUTE


def session_ticks(calendar: TradingCalendar) -> tuple[list[float], list[str]]:
    """Chart ticks for a trading-time axis: the first bar of each statistics day, its date."""
    if calendar.bar_ts is None or len(calendar.bar_ts) == 0:
        return [], []
    first = calendar.bar_ts[np.unique(calendar.day_index(calendar.bar_ts), return_index=True)[1]]
    index = calendar.day_index(first)
    return (
        calendar.trading_minutes(first).tolist(),
        [calendar.stat_days[i].isoformat() for i in index],
    )


def _session_opens(days: Sequence[date], tz: str = DEFAULT_SESSION_TZ) -> np.ndarray:
    zone = ZoneInfo(tz)
    out = []
    for day in days:
        back = 3 if day.weekday() == 0 else 1
        prev = day - timedelta(days=back)
        out.append(
            int(datetime.combine(prev, DEFAULT_SESSION_OPEN, tzinfo=zone).timestamp()) * 10**9
        )
    return np.asarray(out, dtype="int64")


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
class SharpeEstimate:
    """A Sharpe ratio with its Lo (2002) standard error, 95 % interval and sample warning."""

    sharpe: float | None
    standard_error: float | None
    ci_low: float | None
    ci_high: float | None
    days: int
    warning: str | None

    def describe(self) -> str:
        """``-1.20 (95 % CI -3.1 .. 0.7, 14 days; too few days ...)`` for reports."""
        if self.sharpe is None:
            return f"n/a ({self.days} days)" + (f"; {self.warning}" if self.warning else "")
        text = (
            f"{self.sharpe:.2f} (95 % CI {self.ci_low:.2f} .. {self.ci_high:.2f}, "
            f"SE {self.standard_error:.2f}, {self.days} days)"
        )
        return text + (f"; {self.warning}" if self.warning else "")


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
    sharpe_se: float | None
    sharpe_ci_low: float | None
    sharpe_ci_high: float | None
    sharpe_warning: str | None
    sortino_ratio: float | None
    returns_volatility: float | None
    returns_skewness: float | None
    returns_kurtosis: float | None
    max_drawdown_usd: Decimal
    max_drawdown_pct: float
    max_drawdown_duration: timedelta
    trading_days: int
    days_with_bars: int
    fragment_days: int
    trades_per_day: float | None
    average_holding_time: timedelta | None
    max_consecutive_losses: int
    long: SideStats
    short: SideStats
    n_trials: int
    deflated_sharpe: float | None
    deflated_sharpe_probability: float | None
    bootstrap: DrawdownBootstrap | None
    account_size: Decimal = Decimal(0)

    @property
    def sharpe(self) -> SharpeEstimate:
        """The Sharpe ratio with its interval and warning."""
        return SharpeEstimate(
            self.sharpe_ratio,
            self.sharpe_se,
            self.sharpe_ci_low,
            self.sharpe_ci_high,
            self.trading_days,
            self.sharpe_warning,
        )

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
    calendar: TradingCalendar | None = None,
    n_trials: int = 1,
    trial_sharpes: Sequence[float] | None = None,
    bootstrap_samples: int = 1000,
    seed: int = 0,
) -> PerformanceStats:
    """All statistics of ``trades`` (P&L net of fees) on an account of ``starting_balance``.

    ``calendar`` holds the statistics days and trading time of the test (without it: the days
    with a trade close, on the wall clock); ``n_trials`` is how many parameter points were
    tried to find these trades and ``trial_sharpes`` their annualised Sharpe ratios when known
    (deflated Sharpe). ``bootstrap_samples=0`` skips the drawdown bootstrap.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, was {n_trials}")
    ordered = sorted(trades, key=lambda t: t.closed_at)
    if calendar is None:
        calendar = TradingCalendar.from_days([trading_day_of(t.closed_at) for t in ordered])
    summary = summarize_trades(ordered, starting_balance)
    pnls = [float(t.realized_pnl) for t in ordered]
    daily = daily_pnl(ordered, calendar)
    balance = float(starting_balance)
    returns = daily_returns_of(daily[None, :], balance)[0]
    sharpe = sharpe_estimate(returns)
    n_days = len(returns)
    _, skewness, kurtosis = return_moments(returns)
    deflated, probability = deflated_sharpe_from_moments(
        sharpe.sharpe, n_days, skewness, kurtosis, n_trials, trial_sharpes
    )
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    avg_win = sum(wins) / len(wins) if wins else None
    avg_loss = sum(losses) / len(losses) if losses else None
    return PerformanceStats(
        trades=summary.trades,
        winners=summary.winners,
        losers=summary.losers,
        win_rate=summary.win_rate,
        profit_factor=summary.profit_factor,
        expectancy=float(summary.net_pnl) / summary.trades if summary.trades else None,
        payoff_ratio=avg_win / -avg_loss if avg_win and avg_loss else None,
        net_pnl=summary.net_pnl,
        gross_pnl=summary.gross_pnl,
        fees=summary.fees,
        sharpe_ratio=sharpe.sharpe,
        sharpe_se=sharpe.standard_error,
        sharpe_ci_low=sharpe.ci_low,
        sharpe_ci_high=sharpe.ci_high,
        sharpe_warning=sharpe.warning,
        sortino_ratio=sortino_ratio(returns),
        returns_volatility=returns_volatility(returns),
        returns_skewness=skewness,
        returns_kurtosis=kurtosis,
        max_drawdown_usd=summary.max_drawdown_usd,
        max_drawdown_pct=summary.max_drawdown_pct,
        max_drawdown_duration=drawdown_duration(ordered, calendar),
        trading_days=n_days,
        days_with_bars=len(calendar.days),
        fragment_days=calendar.fragment_days,
        trades_per_day=summary.trades / n_days if n_days else None,
        average_holding_time=summary.average_holding_time,
        max_consecutive_losses=max_consecutive_losses(ordered),
        long=_side(ordered, "LONG"),
        short=_side(ordered, "SHORT"),
        n_trials=n_trials,
        deflated_sharpe=deflated,
        deflated_sharpe_probability=probability,
        bootstrap=(
            bootstrap_drawdowns(pnls, balance, bootstrap_samples, seed)
            if bootstrap_samples > 0 and pnls
            else None
        ),
        account_size=starting_balance,
    )


def daily_pnl(trades: Sequence[ClosedTrade], calendar: TradingCalendar) -> np.ndarray:
    """Net P&L per statistics day of ``calendar`` (zero for days without a trade close)."""
    out = np.zeros(max(len(calendar.stat_days), 0), dtype="float64")
    if not trades or len(out) == 0:
        return out
    stamps = np.array([int(pd.Timestamp(t.closed_at).value) for t in trades], dtype="int64")
    np.add.at(out, calendar.day_index(stamps), [float(t.realized_pnl) for t in trades])
    return out


def daily_returns_of(daily: np.ndarray, starting_balance: float) -> np.ndarray:
    """Daily returns of rows of daily P&L: each day's P&L over the equity at its start."""
    pnl = np.atleast_2d(np.asarray(daily, dtype="float64"))
    equity = starting_balance + np.cumsum(pnl, axis=1) - pnl
    return np.divide(pnl, equity, out=np.zeros_like(pnl), where=equity > 0)


def sharpe_ratios(daily: np.ndarray, starting_balance: float) -> np.ndarray:
    """The annualised Sharpe ratio of each row of daily P&L (NaN when undefined).

    The one implementation: ``compute_stats`` and the Rust pre-screen's ranking both use it.
    """
    return _sharpe_of_returns(daily_returns_of(daily, starting_balance))


def _sharpe_of_returns(returns: np.ndarray) -> np.ndarray:
    if returns.shape[1] < 2:
        return np.full(returns.shape[0], np.nan)
    std = returns.std(axis=1, ddof=1)
    mean = returns.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(std > 0, mean / std, np.nan)
    return ratio * math.sqrt(TRADING_DAYS_PER_YEAR)


def sharpe_estimate(returns: np.ndarray) -> SharpeEstimate:
    """The annualised Sharpe of daily returns with its Lo (2002) interval (see module)."""
    r = np.asarray(returns, dtype="float64")
    n = len(r)
    warning = (
        f"only {n} trading days (< {MIN_SHARPE_DAYS}): too few for the Sharpe ratio to mean "
        "anything"
        if n < MIN_SHARPE_DAYS
        else None
    )
    value = float(_sharpe_of_returns(r[None, :])[0])
    if not math.isfinite(value):
        return SharpeEstimate(None, None, None, None, n, warning)
    daily = value / math.sqrt(TRADING_DAYS_PER_YEAR)
    se = math.sqrt((1 + daily * daily / 2) / n) * math.sqrt(TRADING_DAYS_PER_YEAR)
    return SharpeEstimate(value, se, value - Z_95 * se, value + Z_95 * se, n, warning)


def sortino_ratio(returns: np.ndarray) -> float | None:
    """Mean daily return over the downside deviation, annualised (None without a loss day)."""
    r = np.asarray(returns, dtype="float64")
    if len(r) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(r.mean() / downside * math.sqrt(TRADING_DAYS_PER_YEAR)) if downside > 0 else None


def returns_volatility(returns: np.ndarray) -> float | None:
    """The daily returns' sample standard deviation, annualised."""
    r = np.asarray(returns, dtype="float64")
    return float(r.std(ddof=1) * math.sqrt(TRADING_DAYS_PER_YEAR)) if len(r) >= 2 else None


def format_duration(value: timedelta | None) -> str:
    """A duration as ``h:mm:ss`` (whole seconds; ``n/a`` for None)."""
    if value is None:
        return "n/a"
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def trading_day_of(ts: datetime, tz: str = DEFAULT_SESSION_TZ) -> date:
    """The CME trading day of ``ts`` (rolls at 17:00 exchange time; weekends go to Monday)."""
    return trading_days_of_ns([int(pd.Timestamp(ts).value)], tz)[0]


def trading_days_of_ns(
    timestamps_ns: Sequence[int] | np.ndarray, tz: str = DEFAULT_SESSION_TZ
) -> list[date]:
    """Vectorised ``trading_day_of`` for UTC nanosecond timestamps (e.g. bar ``ts_event``):
    the 17:00 roll, then weekends and exchange closures skipped by the same ``SessionSchedule``
    the circuit breakers use, so statistics days and risk days are one definition."""
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps_ns, dtype="int64"), utc=True))
    local = index.tz_convert(ZoneInfo(tz))
    open_minutes = DEFAULT_SESSION_OPEN.hour * 60 + DEFAULT_SESSION_OPEN.minute
    minutes = local.hour * 60 + local.minute
    days = local.normalize().tz_localize(None) + pd.to_timedelta(
        (minutes >= open_minutes).astype(int), unit="D"
    )
    schedule = _statistics_schedule(tz)
    mapped = {d: schedule.session_day_on_or_after(d) for d in {d.date() for d in days}}
    return [mapped[d.date()] for d in days]


@functools.cache
def _statistics_schedule(tz: str) -> SessionSchedule:
    """The default CME schedule (exchange calendar included) in ``tz``."""
    return SessionSchedule(tz=tz)


def daily_returns(
    trades: Sequence[ClosedTrade], starting_balance: Decimal, calendar: TradingCalendar
) -> pd.Series:
    """Daily returns per statistics day (see the module), indexed by the day."""
    values = daily_returns_of(daily_pnl(trades, calendar)[None, :], float(starting_balance))[0]
    return pd.Series(
        values, index=pd.DatetimeIndex(calendar.stat_days, name="trading_day"), dtype="float64"
    )


def equity_curve(trades: Sequence[ClosedTrade], starting_balance: Decimal) -> pd.Series:
    """Realized equity (USD) after each trade close, starting with the balance at the first
    trade's open."""
    ordered = sorted(trades, key=lambda t: t.closed_at)
    if not ordered:
        return pd.Series([], dtype="float64")
    times = [ordered[0].opened_at] + [t.closed_at for t in ordered]
    levels = np.cumsum([float(starting_balance)] + [float(t.realized_pnl) for t in ordered])
    return pd.Series(levels, index=pd.DatetimeIndex(times, name="time"), name="equity")


def drawdown_duration(
    trades: Sequence[ClosedTrade], calendar: TradingCalendar | None = None
) -> timedelta:
    """Longest trading time from an equity peak to the trade close that regained it (or the
    end); wall-clock time without a calendar."""
    curve = equity_curve(trades, Decimal(0))
    if curve.empty:
        return timedelta(0)
    stamps = curve.index.as_unit("ns").asi8
    if calendar is None:
        clock = (stamps - stamps[0]) / NS_PER_MINUTE
    else:
        clock = calendar.trading_minutes(stamps)
    values = curve.to_numpy()
    longest = 0.0
    peak_value, peak_time = values[0], clock[0]
    for when, value in zip(clock, values, strict=True):
        if value >= peak_value:
            longest = max(longest, when - peak_time)
            peak_value, peak_time = value, when
    if values[-1] < peak_value:
        longest = max(longest, clock[-1] - peak_time)
    return timedelta(minutes=float(longest))


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
