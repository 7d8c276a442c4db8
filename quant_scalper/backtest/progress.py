"""A progress bar for long backtests, as an Actor counting the bars it sees."""

from __future__ import annotations

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType
from tqdm import tqdm


class BacktestProgressConfig(ActorConfig, frozen=True):
    """
    Configuration for ``BacktestProgress``.

    Parameters
    ----------
    bar_types : list[str]
        The bar types to count.
    total_bars : int
        How many bars the run will replay (the bar's 100 %).
    every : int, default 1000
        Refresh the bar after this many bars, to keep the cost per bar negligible.

    """

    bar_types: list[str]
    total_bars: int
    every: int = 1000


class BacktestProgress(Actor):
    """Shows a tqdm bar on a terminal (silent when stderr is not a TTY)."""

    def __init__(self, config: BacktestProgressConfig) -> None:
        super().__init__(config)
        self._bar: tqdm | None = None
        self._pending = 0

    def on_start(self) -> None:
        """Open the bar and subscribe to every bar type traded."""
        # smoothing=0: the ETA is remaining bars over the run's average rate, a linear projection,
        # right now that a bar's cost no longer grows with the run (issue 14); tqdm's default
        # moving average jumps with each burst of trading.
        self._bar = tqdm(
            total=self.config.total_bars,
            unit="bar",
            desc="backtest",
            disable=None,
            smoothing=0,
        )
        for bar_type in self.config.bar_types:
            self.subscribe_bars(BarType.from_str(bar_type))

    def on_bar(self, bar: Bar) -> None:
        """Count the bar; refresh every ``every`` bars."""
        self._pending += 1
        if self._pending >= self.config.every and self._bar is not None:
            self._bar.update(self._pending)
            self._pending = 0

    def on_stop(self) -> None:
        """Flush the count and close the bar."""
        if self._bar is not None:
            self._bar.update(self._pending)
            self._bar.close()
            self._bar = None
