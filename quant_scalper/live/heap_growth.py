"""Where the Python heap grew since warm-up: the allocation sites a memory leak hunt starts from.

Only with ``metrics.tracemalloc: true`` (a diagnostic mode: tracing slows every allocation and a
snapshot of a large heap takes a few hundred milliseconds on the node's loop, so the health
actor takes one a minute at most). ``HeapGrowth.baseline()`` remembers the heap at the end of
warm-up; ``top()`` lists the source lines whose live allocations grew most since then, as
``"path/file.py:123 +4.2 MiB (+51,000 blocks)"`` (status.json ``health.heap_growth``).
"""

from __future__ import annotations

import tracemalloc

_IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


class HeapGrowth:
    """A warm-up snapshot of the traced heap and the biggest growth against it."""

    def __init__(self) -> None:
        self._baseline: tracemalloc.Snapshot | None = None

    @property
    def has_baseline(self) -> bool:
        """True once ``baseline()`` was taken while tracemalloc traced."""
        return self._baseline is not None

    def baseline(self) -> bool:
        """Remember the heap now; False (nothing taken) when tracemalloc is not tracing."""
        if not tracemalloc.is_tracing():
            return False
        self._baseline = tracemalloc.take_snapshot().filter_traces(_IGNORED)
        return True

    def top(self, limit: int = 8) -> list[str]:
        """The ``limit`` source lines whose heap grew most since the baseline (empty without
        one, or when tracing stopped)."""
        if self._baseline is None or not tracemalloc.is_tracing():
            return []
        now = tracemalloc.take_snapshot().filter_traces(_IGNORED)
        growth = [s for s in now.compare_to(self._baseline, "lineno") if s.size_diff > 0]
        return [_line(s) for s in growth[:limit]]


def _line(stat: tracemalloc.StatisticDiff) -> str:
    frame = stat.traceback[0]
    return (
        f"{_short(frame.filename)}:{frame.lineno} {stat.size_diff / 2**20:+.2f} MiB "
        f"({stat.count_diff:+,} blocks)"
    )


def _short(path: str) -> str:
    """The path from the package folder on (site-packages/nautilus_trader/... -> nautilus_...)."""
    for marker in ("site-packages/", "quant_scalper/"):
        i = path.rfind(marker)
        if i >= 0:
            return path[i + len(marker) if marker == "site-packages/" else i :]
    return path
