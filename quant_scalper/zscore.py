"""Rolling z-score, computed by the Rust core (``quant_scalper._core``).

Definition: once ``window`` values have been seen, ``z = (x_t - mean) / std`` over the last
``window`` values including ``x_t``, with ``std`` the sample standard deviation (ddof=1), i.e. the
same numbers as pandas ``s.rolling(window).mean()`` / ``s.rolling(window).std()``. A flat window
(zero variance) gives ``z = 0.0``. Before the window is full there is no z-score:
``RollingZScore.update`` returns ``None`` (and ``mean``/``std``/``value`` are ``None``) and the
batch ``zscore`` gives NaN. NaN or infinite input raises ``ValueError`` (the streaming state is left
unchanged; the batch error names the index). ``window < 2`` raises ``ValueError``.

Each update is O(1) amortised whatever the window; the running sums are kept relative to a value
inside the window and recomputed exactly every ``window`` updates (or sooner when the variance gets
small), so results match a fresh recompute to ~1e-12 even after tens of millions of updates.
``zscore(values, window)`` runs the very same update code over a whole array, so it agrees with
the streaming class bit for bit.
"""

from __future__ import annotations

try:
    from quant_scalper._core import RollingZScore, zscore
except ImportError as exc:  # pragma: no cover - depends on the build
    raise ImportError(
        "quant_scalper._core (the Rust z-score extension) is not built: run `make install` "
        "(or `pip install --no-build-isolation -e .` with the venv's bin on PATH) from the "
        "repository root."
    ) from exc

__all__ = ["RollingZScore", "zscore"]
