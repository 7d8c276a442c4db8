"""A 12-point sweep and a walk-forward still give the committed golden outputs (issue 15)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.golden_research import (
    SWEEP_GOLDEN,
    WALKFORWARD_GOLDEN,
    canonical,
    sweep_golden,
    walkforward_golden,
)

REGENERATE = "regenerate with `make golden` only if the change is meant"


def _first_difference(got: Any, want: Any, where: str) -> str | None:
    """The path of the first field where ``got`` and ``want`` differ, with both values."""
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            if key not in got or key not in want:
                return f"{where}.{key}: present in only one (fresh: {key in got})"
            found = _first_difference(got[key], want[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(got, list) and isinstance(want, list):
        for i, (g, w) in enumerate(zip(got, want, strict=False)):
            found = _first_difference(g, w, f"{where}[{i}]")
            if found:
                return found
        if len(got) != len(want):
            return f"{where}: {len(got)} entries, golden has {len(want)}"
        return None
    return None if got == want else f"{where}: fresh {got!r}, golden {want!r}"


def _check(actual: dict[str, Any], golden: Path) -> None:
    expected = json.loads(golden.read_text())
    actual = json.loads(json.dumps(canonical(actual)))
    difference = _first_difference(actual, expected, golden.name)
    assert difference is None, f"{difference}; {REGENERATE}"


def test_sweep_matches_the_golden_points(tmp_path: Path) -> None:
    actual = sweep_golden(tmp_path / "sweep")
    expected = json.loads(SWEEP_GOLDEN.read_text())
    for got, want in zip(actual["points"], expected["points"], strict=False):
        difference = _first_difference(got, want, f"point {want['params']}")
        assert difference is None, f"{difference}; {REGENERATE}"
    _check(actual, SWEEP_GOLDEN)


def test_walk_forward_matches_the_golden_windows_and_trades(tmp_path: Path) -> None:
    _check(walkforward_golden(tmp_path / "wf"), WALKFORWARD_GOLDEN)
