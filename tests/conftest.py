"""Test-suite settings: deterministic Hypothesis runs so CI never flakes on a new example."""

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("ci")
