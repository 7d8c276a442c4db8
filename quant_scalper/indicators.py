"""Nautilus indicator face of the Rust rolling z-score."""

from __future__ import annotations

from nautilus_trader.indicators import Indicator
from nautilus_trader.model.data import Bar, QuoteTick, TradeTick
from nautilus_trader.model.enums import PriceType

from quant_scalper.signals import gap_restarts
from quant_scalper.zscore import RollingZScore


class ZScore(Indicator):
    """Rolling z-score of bar closes, quote mids or trade prices, computed by the Rust core.

    ``value`` is ``z = (x_t - mean) / std`` over the last ``window`` inputs including ``x_t``,
    std with ddof=1 (pandas ``rolling(window).std()``); 0.0 for a flat window, and ``None``
    until ``window`` inputs have been seen (``initialized`` turns True then).
    Register it with ``Strategy.register_indicator_for_bars``. With ``max_gap_minutes``, a
    bar arriving more than that after the previous one restarts the warm-up
    (``signals.gap_restarts``); ``gap_restarts`` counts how often.
    """

    def __init__(self, window: int, max_gap_minutes: int | None = None) -> None:
        super().__init__(params=[window, max_gap_minutes])
        self.window = window
        self.max_gap_minutes = max_gap_minutes
        self._core = RollingZScore(window)
        self.value: float | None = None
        self.gap_restarts = 0
        self._last_bar_ns: int | None = None

    @property
    def mean(self) -> float | None:
        """Mean of the current window (None while warming up)."""
        return self._core.mean

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof=1) of the current window (None while warming up)."""
        return self._core.std

    @property
    def count(self) -> int:
        """How many inputs are in the window (at most ``window``)."""
        return self._core.count

    def handle_bar(self, bar: Bar) -> None:
        """Update from a bar's close, first restarting the window after a long gap."""
        if gap_restarts(self._last_bar_ns, bar.ts_event, self.max_gap_minutes):
            self._core.reset()
            self.value = None
            self.gap_restarts += 1
        self._last_bar_ns = bar.ts_event
        self.update_raw(bar.close.as_double())

    def handle_quote_tick(self, tick: QuoteTick) -> None:
        """Update from a quote's mid price."""
        self.update_raw(tick.extract_price(PriceType.MID).as_double())

    def handle_trade_tick(self, tick: TradeTick) -> None:
        """Update from a trade's price."""
        self.update_raw(tick.price.as_double())

    def update_raw(self, value: float) -> None:
        """Update from a raw price; raises ValueError on NaN or infinity, leaving state intact."""
        z = self._core.update(value)
        self.value = z
        if not self.has_inputs:
            self._set_has_inputs(True)
        if z is not None and not self.initialized:
            self._set_initialized(True)

    def _reset(self) -> None:
        self._core.reset()
        self.value = None
        self._last_bar_ns = None
