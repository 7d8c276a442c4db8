"""Benchmark: rolling z-score update cost through Python, Rust core vs the alternatives.

Measures ns per update, windows 20 and 2000, on one random walk around 5,000 with 0.25 ticks:

* ``rust``      -- ``quant_scalper.zscore.RollingZScore.update`` (the Rust core via PyO3)
* ``numpy``     -- NumPy recompute: deque window, ``np.mean`` / ``np.std(ddof=1)`` every update
* ``py_o1``     -- pure-Python O(1) running sums over a deque
* ``nautilus``  -- Nautilus ``BollingerBands.update_raw(high, low, close)`` (mean and std inside)

plus the batch ``zscore`` throughput. Every method runs in the same process, interleaved round by
round, and the figures that matter are printed as ratios from this one run (shared machines are
noisy). Issue targets: Rust <= 150 ns/update; Rust >= 50x faster than NumPy recompute at window
20; Rust at window 2000 within 1.3x of window 20.

Run: ``.venv/bin/python benchmarks/bench_zscore.py`` (``--check`` exits 1 if a target is missed).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable

import numpy as np
from nautilus_trader.indicators import BollingerBands

from quant_scalper.zscore import RollingZScore, zscore

WINDOWS = (20, 2000)
ROUNDS = 7

# Updates timed per round for each method: cheap methods get more so each round is ~10-50 ms.
N_UPDATES = {"rust": 200_000, "py_o1": 50_000, "nautilus": 20_000, "numpy": 2_000}
N_UPDATES_W2000 = {"nautilus": 2_000, "numpy": 300}


def random_walk(n: int, seed: int = 7) -> list[float]:
    """ES-like prices as Python floats: a 0.25-tick random walk around 5,000."""
    rng = np.random.default_rng(seed)
    steps = rng.choice(np.array([-1.0, 0.0, 1.0]), size=n, p=[0.3, 0.4, 0.3])
    return (5000.0 + 0.25 * np.cumsum(steps)).tolist()


def numpy_recompute(window: int) -> Callable[[float], float | None]:
    """The naive NumPy z-score: append to a deque, recompute mean and std(ddof=1) of the window."""
    buf: deque[float] = deque(maxlen=window)

    def update(x: float) -> float | None:
        buf.append(x)
        if len(buf) < window:
            return None
        a = np.asarray(buf)
        std = float(np.std(a, ddof=1))
        return 0.0 if std == 0.0 else (x - float(np.mean(a))) / std

    return update


class PurePythonRolling:
    """Pure-Python O(1) rolling z-score: running shifted sums over a deque (no rebase)."""

    __slots__ = ("buf", "shift", "sum", "sum_sq", "window")

    def __init__(self, window: int) -> None:
        self.window = window
        self.buf: deque[float] = deque()
        self.shift: float | None = None
        self.sum = 0.0
        self.sum_sq = 0.0

    def update(self, x: float) -> float | None:
        """Add x, drop the oldest value once full; z of x or None during warm-up."""
        if self.shift is None:
            self.shift = x
        k = self.shift
        buf = self.buf
        if len(buf) == self.window:
            d_old = buf.popleft() - k
            self.sum -= d_old
            self.sum_sq -= d_old * d_old
        buf.append(x)
        d = x - k
        self.sum += d
        self.sum_sq += d * d
        n = len(buf)
        if n < self.window:
            return None
        mean_d = self.sum / n
        m2 = self.sum_sq - self.sum * mean_d
        if m2 <= 0.0:
            return 0.0
        return (d - mean_d) / math.sqrt(m2 / (n - 1))


def make_updaters(window: int) -> dict[str, Callable[[float], object]]:
    """A fresh update callable per method for ``window``."""
    bb = BollingerBands(window, 2.0)
    bb_update = bb.update_raw

    def nautilus(x: float) -> None:
        bb_update(x, x, x)

    return {
        "rust": RollingZScore(window).update,
        "numpy": numpy_recompute(window),
        "py_o1": PurePythonRolling(window).update,
        "nautilus": nautilus,
    }


def time_loop(update: Callable[[float], object], xs: list[float]) -> float:
    """ns per call of ``update`` over ``xs`` (a plain Python loop, as a strategy would call it)."""
    t0 = time.perf_counter_ns()
    for x in xs:
        update(x)
    return (time.perf_counter_ns() - t0) / len(xs)


def bench_updates(prices: list[float]) -> dict[tuple[str, int], list[float]]:
    """ns/update samples per (method, window), methods and windows interleaved every round."""
    updaters = {w: make_updaters(w) for w in WINDOWS}
    for w, ups in updaters.items():  # warm every window up so steady state is what we time
        for up in ups.values():
            for x in prices[:w]:
                up(x)
    samples: dict[tuple[str, int], list[float]] = {}
    floor: list[float] = []
    cursor = max(WINDOWS)
    for _ in range(ROUNDS):
        floor.append(time_loop(abs, prices[cursor : cursor + N_UPDATES["rust"]]))
        for w in WINDOWS:
            for name, up in updaters[w].items():
                n = N_UPDATES_W2000.get(name, N_UPDATES[name]) if w >= 1000 else N_UPDATES[name]
                xs = prices[cursor : cursor + n]
                samples.setdefault((name, w), []).append(time_loop(up, xs))
        cursor += N_UPDATES["rust"]
    samples[("loop floor: abs(x)", 0)] = floor
    return samples


def bench_batch(values: np.ndarray) -> dict[int, float]:
    """Best ns per value of the batch ``zscore`` per window."""
    out = {}
    for w in WINDOWS:
        best = math.inf
        for _ in range(5):
            t0 = time.perf_counter_ns()
            zscore(values, w)
            best = min(best, (time.perf_counter_ns() - t0) / len(values))
        out[w] = best
    return out


def main() -> int:
    """Run everything, print the table and the target ratios; exit 1 on a miss with --check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if an issue target is missed")
    args = parser.parse_args()

    t_start = time.perf_counter()
    prices = random_walk(max(WINDOWS) + ROUNDS * N_UPDATES["rust"] + 1)
    samples = bench_updates(prices)
    best = {k: min(v) for k, v in samples.items()}
    med = {k: statistics.median(v) for k, v in samples.items()}

    print(f"rolling z-score update through Python, ns/update (best / median of {ROUNDS} rounds)")
    print(f"{'method':<20}{'window':>8}{'best':>12}{'median':>12}{'x rust best':>14}")
    for (name, w), b in best.items():
        rust = best.get(("rust", w), math.nan)
        ratio = "" if name == "rust" or not w else f"{b / rust:.1f}x"
        print(f"{name:<20}{w or '':>8}{b:>12.1f}{med[(name, w)]:>12.1f}{ratio:>14}")

    batch_values = np.asarray(random_walk(5_000_000, seed=11))
    batch = bench_batch(batch_values)
    print(f"\nbatch zscore over {len(batch_values):,} values")
    for w, ns in batch.items():
        print(f"  window {w:>5}: {ns:6.2f} ns/value  ({1e3 / ns:7.1f} M values/s)")

    r20, r2000 = best[("rust", 20)], best[("rust", 2000)]
    # Ratios from per-round pairs as well as best-of, so one noisy round cannot decide a target.
    w_ratio = statistics.median(
        a / b for a, b in zip(samples[("rust", 2000)], samples[("rust", 20)], strict=True)
    )
    targets = [
        ("Rust ns/update, window 20 <= 150", r20, r20 <= 150.0),
        ("Rust ns/update, window 2000 <= 150", r2000, r2000 <= 150.0),
        (
            "NumPy recompute / Rust, window 20 >= 50x",
            best[("numpy", 20)] / r20,
            best[("numpy", 20)] / r20 >= 50.0,
        ),
        ("Rust window 2000 / window 20 <= 1.3x (best-of)", r2000 / r20, r2000 / r20 <= 1.3),
        ("Rust window 2000 / window 20 <= 1.3x (median per round)", w_ratio, w_ratio <= 1.3),
    ]
    print("\nissue targets (this run)")
    for label, value, ok in targets:
        print(f"  {'PASS' if ok else 'MISS'}  {label}: {value:.2f}")
    print(f"\ntotal {time.perf_counter() - t_start:.1f} s")
    return 1 if args.check and not all(ok for _, _, ok in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
