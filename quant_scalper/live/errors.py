"""Errors of the live trading commands (``live``, ``flatten``, ``data fetch``)."""

from __future__ import annotations

from quant_scalper.errors import ConfigError, QuantScalperError


class LiveConfigError(ConfigError):
    """The live YAML is invalid; the message names the key and what to write instead."""


class LiveModeNotConfirmedError(QuantScalperError):
    """A live-money config was started without ``--i-understand-this-is-live``."""


class GatewayUnreachableError(QuantScalperError):
    """Nothing answering the TWS API at the configured host/port (IB Gateway/TWS down)."""


class LiveRunError(QuantScalperError):
    """The trading node could not be built or started."""


class FlattenError(QuantScalperError):
    """The emergency flatten could not complete (orders still working or positions open)."""


class DataFetchError(QuantScalperError):
    """Historical data could not be downloaded or written to the catalog."""
