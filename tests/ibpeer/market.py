"""Market data for the peer: 1-minute candles, replayed on an accelerated virtual clock.

Live data is a sequence of candles pushed one by one (by a test, or a replay task). Each push
advances the peer's virtual minute: the candle becomes the current bar of the
``keepUpToDate`` historical-bar subscriptions (IB sends the forming bar; the adapter publishes a
bar when the next minute's first update arrives), twelve 5-second real-time bars, and the
bid/ask (close - 1 tick / close) the peer fills market orders at.

Virtual minutes start at the real current minute and run ahead of the wall clock, so the
adapter's "bars from before the subscription" filter lets them through and its "incomplete
historical bar" check drops them from a re-subscription's history (no duplicates after a
reconnect). Historical requests (``quant-scalper data fetch``) are served from a separate
store of timestamped candles, by default the bundled catalog's real bars.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

TICK = 0.25


@dataclass(frozen=True)
class Candle:
    """One minute of trading: OHLC in index points and the traded volume."""

    open: float
    high: float
    low: float
    close: float
    volume: int = 100

    def __post_init__(self) -> None:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError(f"inconsistent candle {self}")


def flat(price: float, volume: int = 100) -> Candle:
    """A candle that opens, trades and closes at one price."""
    return Candle(price, price, price, price, volume)


def candles_from_closes(closes: Iterable[float], volume: int = 100) -> list[Candle]:
    """Candles opening at the previous close and closing at each close (a crafted path)."""
    result: list[Candle] = []
    previous: float | None = None
    for close in closes:
        open_ = close if previous is None else previous
        result.append(Candle(open_, max(open_, close), min(open_, close), close, volume))
        previous = close
    return result


@dataclass(frozen=True)
class TimedCandle:
    """A candle with its start time (UTC), for historical requests."""

    start: datetime
    candle: Candle


def catalog_bars(
    catalog: Path,
    instrument_id: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[TimedCandle]:
    """Real 1-minute bars of one contract from the bundled catalog (start = close - 60 s)."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    bar_type = f"{instrument_id}-1-MINUTE-LAST-EXTERNAL"
    bars = ParquetDataCatalog(str(catalog)).bars(
        bar_types=[bar_type],
        start=start,
        end=end,
    )
    result = []
    for bar in bars:
        closed = datetime.fromtimestamp(bar.ts_event / 1e9, tz=UTC)
        result.append(
            TimedCandle(
                closed - timedelta(minutes=1),
                Candle(
                    bar.open.as_double(),
                    bar.high.as_double(),
                    bar.low.as_double(),
                    bar.close.as_double(),
                    int(bar.volume.as_double()),
                ),
            )
        )
    return result


class LiveMarket:
    """The current state of the replayed market: virtual clock, last candle, quotes."""

    def __init__(self, now: datetime | None = None) -> None:
        start = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
        self.minute = start  # start time of the current (last pushed) bar
        self.candle: Candle | None = None
        self.bars: list[TimedCandle] = []  # every pushed bar, for re-subscriptions' history

    def push(self, candle: Candle) -> TimedCandle:
        """Advance one virtual minute and make ``candle`` the current bar."""
        if self.candle is not None:
            self.minute += timedelta(minutes=1)
        self.candle = candle
        timed = TimedCandle(self.minute, candle)
        self.bars.append(timed)
        return timed

    @property
    def bid(self) -> float | None:
        """Best bid: one tick under the last close."""
        return None if self.candle is None else self.candle.close - TICK

    @property
    def ask(self) -> float | None:
        """Best ask: the last close."""
        return None if self.candle is None else self.candle.close

    def history(self, limit: int) -> Sequence[TimedCandle]:
        """The last ``limit`` pushed bars (a keepUpToDate request's initial history)."""
        return self.bars[-limit:] if limit > 0 else []

    def five_second_bars(self, timed: TimedCandle) -> list[tuple[int, Candle]]:
        """Twelve 5-second bars spanning a minute: open, then low, high, close (epoch secs)."""
        c = timed.candle
        path = [c.open, c.low, c.high, c.close]
        start = int(timed.start.timestamp())
        result = []
        for i in range(12):
            price = path[min(i // 3, 3)]
            previous = path[min(max(i - 1, 0) // 3, 3)]
            lo, hi = min(price, previous), max(price, previous)
            result.append((start + 5 * i, Candle(previous, hi, lo, price, max(c.volume // 12, 1))))
        return result
