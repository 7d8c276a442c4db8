"""Pure series logic for the dashboard: P&L periods, drawdown and chart downsampling.

No database and no Nautilus here: integer cents in, integer cents out, tested in microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

PERIODS = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class DayPnl:
    """One trading day's closed trades: counts and integer cents."""

    trading_day: str
    trades: int
    wins: int
    losses: int
    gross_cents: int
    fees_cents: int
    net_cents: int


def period_key(trading_day: str, period: str) -> str:
    """The bucket a trading day (``YYYY-MM-DD``) falls in: itself, its ISO week or its month."""
    if period == "day":
        return trading_day
    if period == "week":
        iso = date.fromisoformat(trading_day).isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if period == "month":
        return trading_day[:7]
    raise ValueError(f"period must be one of {PERIODS}, got {period!r}")


def aggregate_pnl(days: Iterable[DayPnl], period: str) -> list[dict[str, int | str]]:
    """Trading days (in order) summed into periods, with a running cumulative net in cents."""
    buckets: dict[str, dict[str, int | str]] = {}
    for day in sorted(days, key=lambda d: d.trading_day):
        key = period_key(day.trading_day, period)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = {
                "period": key,
                "first_day": day.trading_day,
                "last_day": day.trading_day,
                "trading_days": 0,
                "trades": 0,
                "wins": 0,
                "losses": 0,
                "gross_cents": 0,
                "fees_cents": 0,
                "net_cents": 0,
            }
        bucket["last_day"] = day.trading_day
        for name, value in (
            ("trading_days", 1),
            ("trades", day.trades),
            ("wins", day.wins),
            ("losses", day.losses),
            ("gross_cents", day.gross_cents),
            ("fees_cents", day.fees_cents),
            ("net_cents", day.net_cents),
        ):
            bucket[name] = int(bucket[name]) + value
    cumulative = 0
    result = list(buckets.values())
    for bucket in result:
        cumulative += int(bucket["net_cents"])
        bucket["cumulative_cents"] = cumulative
    return result


def losing_streak(net_cents_newest_first: Sequence[int]) -> int:
    """How many of the latest trades in a row lost money (a break-even trade ends the run)."""
    streak = 0
    for net in net_cents_newest_first:
        if net >= 0:
            break
        streak += 1
    return streak


def drawdown(equity_cents: np.ndarray) -> np.ndarray:
    """Cents below the running peak at each point; the peak starts at 0 (the book's start)."""
    if equity_cents.size == 0:
        return equity_cents.copy()
    peak = np.maximum(np.maximum.accumulate(equity_cents), 0)
    return peak - equity_cents


def downsample_indices(values: np.ndarray, dd: np.ndarray, max_points: int) -> np.ndarray:
    """Indices to draw at most ``max_points`` points keeping each bucket's low, high and deepest
    drawdown (so no extreme disappears), plus the first and last point, in order."""
    n = int(values.size)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = max(1, (max_points - 2) // 3)
    size = -(-n // buckets)
    padded = buckets * size
    big = np.iinfo(np.int64).max
    low = np.full(padded, big, dtype=np.int64)
    low[:n] = values
    high = np.full(padded, -big, dtype=np.int64)
    high[:n] = values
    deep = np.full(padded, -1, dtype=np.int64)
    deep[:n] = dd
    base = np.arange(buckets, dtype=np.int64) * size
    picks = np.concatenate(
        (
            base + low.reshape(buckets, size).argmin(axis=1),
            base + high.reshape(buckets, size).argmax(axis=1),
            base + deep.reshape(buckets, size).argmax(axis=1),
            np.array([0, n - 1], dtype=np.int64),
        )
    )
    return np.unique(picks[picks < n])
