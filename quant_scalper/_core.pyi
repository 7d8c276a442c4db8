"""Type stub for the compiled Rust extension ``quant_scalper._core`` (built from rust_ext/).

Definition: once ``window`` values have been seen, ``z = (x_t - mean) / std`` over the last
``window`` values including ``x_t``, with ``std`` the sample standard deviation (ddof=1, as pandas
``rolling(window).std()``). A flat window (zero variance) gives ``z = 0.0``. Before the window is
full there is no z-score and ``mean``/``std``/``value`` are ``None``.
"""

from typing import final

import numpy as np
import numpy.typing as npt

@final
class RollingZScore:
    """Streaming rolling z-score, O(1) amortised per update and numerically stable.

    NaN or infinite input raises ``ValueError`` and leaves the state unchanged.
    """

    def __init__(self, window: int) -> None:
        """Create an empty z-score over ``window`` values; ``window < 2`` raises ValueError."""

    def update(self, x: float) -> float | None:
        """Add ``x``; return its z-score within the last ``window`` values, None in warm-up."""

    def reset(self) -> None:
        """Forget every value, back to the freshly constructed state."""

    @property
    def value(self) -> float | None:
        """The last z-score returned by ``update`` (None during warm-up)."""

    @property
    def mean(self) -> float | None:
        """Mean of the current window (None during warm-up)."""

    @property
    def std(self) -> float | None:
        """Sample standard deviation, ddof=1, of the current window (None during warm-up)."""

    @property
    def count(self) -> int:
        """How many values are in the window (at most ``window``)."""

    @property
    def window(self) -> int:
        """The window length."""

    @property
    def initialized(self) -> bool:
        """True once ``window`` values have been seen (``update`` returns z-scores)."""

def zscore(values: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """Rolling z-score of a 1-D series as float64: NaN during warm-up, then bitwise the numbers
    ``RollingZScore.update`` gives. NaN/inf input raises ValueError naming its index; ``window
    < 2`` raises ValueError; input that is not 1-D raises TypeError."""

def prescreen(
    bar_ts: npt.NDArray[np.int64],
    close: npt.NDArray[np.float64],
    day_open_ns: npt.NDArray[np.int64],
    max_gap_ns: int,
    quote_ts: npt.NDArray[np.int64],
    bid: npt.NDArray[np.float64],
    ask: npt.NDArray[np.float64],
    bar_offsets: npt.NDArray[np.int64],
    quote_offsets: npt.NDArray[np.int64],
    roll_ns: npt.NDArray[np.int64],
    end_ns: int,
    day_starts: npt.NDArray[np.int64],
    entry_allowed: npt.NDArray[np.uint8],
    flatten_ns: npt.NDArray[np.int64],
    window: npt.NDArray[np.int64],
    entry_z: npt.NDArray[np.float64],
    exit_z: npt.NDArray[np.float64],
    stop: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    max_holding_ns: npt.NDArray[np.int64],
    daily_loss_limit: npt.NDArray[np.float64],
    max_losses: npt.NDArray[np.int64],
    pause_ns: npt.NDArray[np.int64],
    multiplier: float,
    fee_per_side: float,
    quantity: float,
    starting_balance: float,
    intrabar: str = "stop_first",
    threads: int = 0,
) -> dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]:
    """Simulate the strategy's rules and circuit breakers for every point (one array element
    each; max_holding_ns <= 0 and daily_loss_limit inf switch those off), sharing the z-scores
    of equal windows, on ``threads`` threads (0: all cores) without the GIL. Returns
    per-point arrays: trades, winners, net_pnl, gross_profit, gross_loss, fees,
    max_drawdown_usd, max_drawdown_pct, stops, ambiguous_bars, open_at_end, and daily_pnl, a
    (points x statistics days) array of P&L per day booked on the last ``day_open_ns`` at or
    before each exit (the Sharpe ratio is computed from it in Python). A gap between bars
    longer than ``max_gap_ns`` (0: off) restarts the z-score's warm-up. Bad input raises
    ValueError. See ``quant_scalper.research.prescreen``."""

def prescreen_trades(
    bar_ts: npt.NDArray[np.int64],
    close: npt.NDArray[np.float64],
    day_open_ns: npt.NDArray[np.int64],
    max_gap_ns: int,
    quote_ts: npt.NDArray[np.int64],
    bid: npt.NDArray[np.float64],
    ask: npt.NDArray[np.float64],
    bar_offsets: npt.NDArray[np.int64],
    quote_offsets: npt.NDArray[np.int64],
    roll_ns: npt.NDArray[np.int64],
    end_ns: int,
    day_starts: npt.NDArray[np.int64],
    entry_allowed: npt.NDArray[np.uint8],
    flatten_ns: npt.NDArray[np.int64],
    window: int,
    entry_z: float,
    exit_z: float,
    stop: float,
    target: float,
    max_holding_ns: int,
    daily_loss_limit: float,
    max_losses: int,
    pause_ns: int,
    multiplier: float,
    fee_per_side: float,
    quantity: float,
    starting_balance: float,
    intrabar: str = "stop_first",
) -> dict[str, object]:
    """Every closed trade of one point: arrays side, entry_ts, entry_price, exit_ts,
    exit_price, pnl, a list reason (signal|stop|target|max_holding|roll|daily_limit|
    session), the counts
    ambiguous_bars and open_at_end, and daily_pnl (P&L per statistics day)."""
