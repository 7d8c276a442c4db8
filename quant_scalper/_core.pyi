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
