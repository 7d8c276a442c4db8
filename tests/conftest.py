"""Test-suite settings: deterministic Hypothesis runs so CI never flakes on a new example.

``too_slow`` is a wall-clock health check: on a loaded 2-core CI machine it can fail a run
whose examples are fine, so it is off; every other health check stays on.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from quant_scalper.backtest.runner import BacktestOutcome

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def bundled_backtest(tmp_path_factory: pytest.TempPathFactory) -> "BacktestOutcome":
    """The default backtest on the bundled catalog, run once per session, files written."""
    from tests.golden_summary import bundled_outcome

    return bundled_outcome(Path(tmp_path_factory.mktemp("bt")) / "out")
