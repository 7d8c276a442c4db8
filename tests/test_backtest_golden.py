"""The bundled backtest still gives the committed golden summary, fill for fill (issue 14)."""

from __future__ import annotations

import json
from typing import Any

from quant_scalper.backtest.runner import BacktestOutcome
from tests.golden_summary import GOLDEN, golden_summary


def test_bundled_backtest_matches_the_golden_summary(bundled_backtest: BacktestOutcome) -> None:
    expected: dict[str, Any] = json.loads(GOLDEN.read_text())
    actual = golden_summary(bundled_backtest)
    assert actual["summary"] == expected["summary"]
    for i, (got, want) in enumerate(zip(actual["trades"], expected["trades"], strict=False)):
        assert got == want, f"trade {i} differs"
    assert len(actual["trades"]) == len(expected["trades"])
    for part in ("fills", "positions", "account_states"):
        assert actual[part] == expected[part], part
    assert actual == expected, "regenerate with `make golden` only if the change is meant"
