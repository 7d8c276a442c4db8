"""The tracemalloc diagnostics: the allocation site that grew since warm-up is named."""

from __future__ import annotations

import tracemalloc

from quant_scalper.live.heap_growth import HeapGrowth


def test_the_growing_line_is_listed_first_and_nothing_without_tracing() -> None:
    """A list kept alive after the baseline shows up as this file's line with its size."""
    growth = HeapGrowth()
    assert growth.baseline() is False and growth.top() == []  # not tracing: nothing taken
    tracemalloc.start()
    try:
        assert growth.baseline() is True
        kept = [bytearray(1024) for _ in range(2000)]  # ~2 MiB allocated on this line
        top = growth.top()
        assert top, "no growth listed"
        assert top[0].startswith(f"{__file__}:") or "test_heap_growth.py:" in top[0], top
        assert "MiB" in top[0] and "blocks" in top[0]
        assert len(kept) == 2000
    finally:
        tracemalloc.stop()
    assert growth.top() == []  # tracing stopped
