"""Market data for research, read straight from the Parquet catalog as numpy arrays.

The Nautilus engine reads the same files as objects; the research tools only need timestamps
and prices (trading days for the statistics, bars and quotes for the Rust pre-screen), so they
read the columns with pyarrow and decode Nautilus's fixed-point prices (``FIXED_PRECISION``
decimal places in a 16-byte little-endian integer, or 8 bytes in standard-precision builds).
The contracts and their date range come from the same ``resolve_contracts`` as the backtest,
so research and engine always look at the same bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quant_scalper.analysis.stats import TradingCalendar, trading_days_of_ns
from quant_scalper.config import BacktestSettings
from quant_scalper.errors import CatalogError

_SCALE = {16: 1e16, 8: 1e9}


@dataclass(frozen=True)
class MarketSegment:
    """One contract's bars (signal) and quote ticks (fills), time-ordered, UTC nanoseconds."""

    instrument_id: str
    bar_ts: np.ndarray  # int64
    bar_close: np.ndarray  # float64
    quote_ts: np.ndarray  # int64
    bid: np.ndarray  # float64
    ask: np.ndarray  # float64


def load_segments(settings: BacktestSettings, with_quotes: bool = True) -> list[MarketSegment]:
    """The bars (and quote ticks) of every contract the backtest would trade, in its range."""
    from quant_scalper.backtest.run_config import resolve_contracts

    start, end = _bounds(settings)
    segments = []
    for contract in resolve_contracts(settings):
        bars = _read(settings.catalog / "data" / "bar" / contract.bar_type, ["close"], start, end)
        if with_quotes:
            quotes = _read(
                settings.catalog / "data" / "quote_tick" / contract.instrument_id,
                ["bid_price", "ask_price"],
                start,
                end,
            )
        else:
            quotes = {
                "ts": np.empty(0, "int64"),
                "bid_price": np.empty(0),
                "ask_price": np.empty(0),
            }
        segments.append(
            MarketSegment(
                instrument_id=contract.instrument_id,
                bar_ts=bars["ts"],
                bar_close=bars["close"],
                quote_ts=quotes["ts"],
                bid=quotes["bid_price"],
                ask=quotes["ask_price"],
            )
        )
    return segments


def catalog_trading_days(settings: BacktestSettings) -> tuple[date, ...]:
    """The CME trading days with bars in the backtest's range (zero-return days count)."""
    stamps = [s.bar_ts for s in load_segments(settings, with_quotes=False)]
    if not stamps:
        return ()
    return tuple(sorted(set(trading_days_of_ns(np.concatenate(stamps)))))


def catalog_calendar(settings: BacktestSettings) -> TradingCalendar:
    """The statistics days and trading-time clock of the bars the backtest would replay."""
    stamps = [s.bar_ts for s in load_segments(settings, with_quotes=False)]
    return TradingCalendar.from_bars(np.concatenate(stamps) if stamps else np.empty(0, "int64"))


def bar_days(segment: MarketSegment) -> list[date]:
    """The CME trading day of each bar of a segment."""
    return trading_days_of_ns(segment.bar_ts)


def decode_prices(column: pa.ChunkedArray | pa.Array, precision: int) -> np.ndarray:
    """Nautilus fixed-point prices (fixed_size_binary[16] or [8]) as float64, rounded."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    width = array.type.byte_width
    if width not in _SCALE:
        raise CatalogError(
            f"unexpected price column width {width} bytes: rebuild the catalog with "
            "`quant-scalper catalog build`"
        )
    raw = np.frombuffer(array.buffers()[1], dtype="<u8")[array.offset * (width // 8) :]
    raw = raw[: len(array) * (width // 8)]
    if width == 16:
        pairs = raw.reshape(-1, 2)
        value = pairs[:, 1].view(np.int64).astype(np.float64) * 2.0**64 + pairs[:, 0].astype(
            np.float64
        )
    else:
        value = raw.view(np.int64).astype(np.float64)
    return np.round(value / _SCALE[width], precision)


def _read(folder: Path, price_columns: list[str], start: int | None, end: int | None) -> dict:
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise CatalogError(f"no Parquet files in {folder}: rebuild the catalog")
    parts: dict[str, list[np.ndarray]] = {"ts": [], **{c: [] for c in price_columns}}
    for file in files:
        table = pq.read_table(file, columns=["ts_init", *price_columns])
        precision = int((table.schema.metadata or {}).get(b"price_precision", b"2"))
        ts = table.column("ts_init").to_numpy().astype("int64")
        keep = np.ones(len(ts), dtype=bool)
        if start is not None:
            keep &= ts >= start
        if end is not None:
            keep &= ts <= end
        parts["ts"].append(ts[keep])
        for name in price_columns:
            parts[name].append(decode_prices(table.column(name), precision)[keep])
    out = {k: np.concatenate(v) for k, v in parts.items()}
    order = np.argsort(out["ts"], kind="stable")
    return {k: v[order] for k, v in out.items()}


def _bounds(settings: BacktestSettings) -> tuple[int | None, int | None]:
    def ns(value: str | None) -> int | None:
        if value is None:
            return None
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return int(stamp.value)

    return ns(settings.start), ns(settings.end)
