"""Exceptions quant-scalper raises on purpose, so callers (and the CLI) can tell them apart.

Every message should say what went wrong and what to do about it.
"""

from __future__ import annotations


class QuantScalperError(Exception):
    """Base class of every error quant-scalper raises deliberately."""


class ConfigError(QuantScalperError):
    """A setting, contract root, contract month or identifier is invalid."""


class CatalogError(QuantScalperError):
    """The Parquet data catalog is missing, incomplete or not one quant-scalper built."""


class DataSourceError(QuantScalperError):
    """Raw market data (the LEAN zips) is missing, unreadable or malformed."""


class BacktestError(QuantScalperError):
    """A backtest could not run or produced no result."""


class ServiceCheckError(QuantScalperError):
    """A service the node needs (Redis) refused or did not answer the start-up check."""
