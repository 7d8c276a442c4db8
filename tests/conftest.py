"""Test-suite settings: deterministic Hypothesis runs so CI never flakes on a new example.

``too_slow`` is a wall-clock health check: on a loaded 2-core CI machine it can fail a run
whose examples are fine, so it is off; every other health check stays on.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci")
