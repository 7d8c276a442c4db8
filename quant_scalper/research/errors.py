"""Errors of the research tools (sweeps, pre-screen, walk-forward, reports).

Each is a ``QuantScalperError`` so the CLI prints its message instead of a traceback; every
message says what to change.
"""

from __future__ import annotations

from quant_scalper.errors import ConfigError, QuantScalperError


class ResearchError(QuantScalperError):
    """A sweep, walk-forward or report could not run."""


class SweepConfigError(ConfigError):
    """The sweep or walk-forward YAML is invalid (unknown parameter, bad range, ...)."""


class ResultsMismatchError(ResearchError):
    """An existing results table was produced from a different base config or data."""


class SchedulerError(ResearchError):
    """The Dask scheduler cannot be reached, or a worker process died."""


class PrescreenError(ResearchError):
    """The Rust pre-screen cannot model a parameter, or its market data is unusable."""
