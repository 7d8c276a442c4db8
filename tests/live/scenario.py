"""Crafted price paths for the live tests, with the z-scores the strategy will see.

The test config uses ``window: 5``, ``entry_z: 1.0``, ``exit_z: 0.3``, stop and target $50 per
MES contract (10 points). IB's ``keepUpToDate`` bars reach the strategy one push late: bar ``k``
is published when bar ``k + 1``'s first update arrives, so the decision on bar ``k`` happens
while the peer quotes bar ``k + 1``'s close (where the entry's market order fills).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tests.ibpeer import Candle, candles_from_closes

WINDOW = 5
ENTRY_Z = 1.0
EXIT_Z = 0.3

# Warm-up: |z| < 1 on every bar (no entry), then a drop to 4995 (z = -1.78): enter long.
WARMUP = (5000.0, 5000.5, 5000.0, 5000.5, 5000.0, 5000.5)
DROP = 4995.0
# After the drop, a slow decline keeps z between -1.4 and -0.8: hold (no exit, no new entry),
# and stays above the 4985 stop.
DECLINE = (4994.0, 4993.0, 4992.0, 4991.0, 4990.0, 4989.0, 4988.0, 4987.0, 4986.0)


def zscores(closes: Sequence[float], window: int = WINDOW) -> list[float | None]:
    """The strategy's z-score of each close (ddof=1), None while warming up."""
    series = pd.Series(list(closes), dtype=float)
    z = (series - series.rolling(window).mean()) / series.rolling(window).std()
    return [None if pd.isna(v) else float(v) for v in z]


def entry_path() -> list[Candle]:
    """Warm-up, the drop, and one more bar at the drop price (publishes the drop: entry)."""
    return candles_from_closes([*WARMUP, DROP, DROP])


def take_profit_candle(entry: float = DROP) -> Candle:
    """A bar rising from the entry through the 10-point target."""
    return Candle(entry, entry + 10.0, entry, entry + 10.0)
