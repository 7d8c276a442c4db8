"""Read QuantConnect LEAN minute futures data (``Data/future/cme/minute/es/``) into pandas.

Layout: one zip per day and kind, ``YYYYMMDD_trade.zip`` / ``YYYYMMDD_quote.zip``, each holding one
CSV per contract month (``20131008_es_minute_trade_201312.csv``), without a header:

- trade rows: ``ms_since_midnight,open,high,low,close,volume``
- quote rows: ``ms_since_midnight,bid_open,bid_high,bid_low,bid_close,bid_size,``
  ``ask_open,ask_high,ask_low,ask_close,ask_size``

Conventions (checked against the files):

- Time is UTC, milliseconds since 00:00 UTC of the file's date.
- LEAN stamps a minute bar at its OPEN; Nautilus stamps bars at their CLOSE. The readers here
  return Nautilus's convention: the index is the bar's close, ``open + 60 s``. Evidence: the
  Sunday 2013-10-06 file starts at ``79200000`` ms = 22:00 UTC = 17:00 CDT, the Globex open, and
  weekday files' last row is 21:14 UTC, the minute ending at the 16:15 CT close.
- Prices are raw index points (1676.75), not LEAN's equity-style 10000x integers.
- A quote minute in which one side did not update has that side's prices empty and its size 0.
  The readers keep those as NaN; ``fill_quote_gaps`` carries the last known quote forward.
- ``bid_size``/``ask_size`` are LEAN's last size seen at the best bid/ask in the minute.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Final, Literal

import numpy as np
import pandas as pd

from quant_scalper.errors import DataSourceError

Kind = Literal["trade", "quote"]
ContractKey = tuple[int, int]  # (year, month) of a contract month

TRADE_COLUMNS: Final = ("open", "high", "low", "close", "volume")
QUOTE_COLUMNS: Final = (
    "bid_open",
    "bid_high",
    "bid_low",
    "bid_close",
    "bid_size",
    "ask_open",
    "ask_high",
    "ask_low",
    "ask_close",
    "ask_size",
)
BAR_INTERVAL: Final = pd.Timedelta(60, unit="s")
MS_PER_DAY: Final = 86_400_000
MAX_PLAUSIBLE_PRICE: Final = 100_000.0  # index points; far above any ES price, far below 1e4x

_ZIP_RE: Final = re.compile(r"^(?P<day>\d{8})_(?P<kind>trade|quote)\.zip$")
_MEMBER_RE: Final = re.compile(
    r"^(?P<day>\d{8})_(?P<ticker>[a-z0-9]+)_minute_(?P<kind>trade|quote)_(?P<contract>\d{6})\.csv$",
)


def zip_path(source_dir: Path, day: date, kind: Kind) -> Path:
    """The path of one day's LEAN zip of the given kind (it may not exist)."""
    return Path(source_dir) / f"{day:%Y%m%d}_{kind}.zip"


def available_days(source_dir: Path) -> list[date]:
    """The days with both a trade and a quote zip in ``source_dir``, in order."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise DataSourceError(
            f"LEAN data folder {source_dir} does not exist: pass the folder holding the "
            "YYYYMMDD_trade.zip / YYYYMMDD_quote.zip files "
            "(e.g. --source ../shared/data/lean-es-1min)",
        )
    kinds: dict[date, set[str]] = {}
    for path in source_dir.iterdir():
        match = _ZIP_RE.match(path.name)
        if match:
            day = datetime.strptime(match["day"], "%Y%m%d").date()
            kinds.setdefault(day, set()).add(match["kind"])
    incomplete = sorted(day for day, found in kinds.items() if found != {"trade", "quote"})
    if incomplete:
        raise DataSourceError(
            f"LEAN data folder {source_dir} has a trade zip without its quote zip (or the other "
            f"way round) for {', '.join(str(d) for d in incomplete)}: restore the missing files",
        )
    return sorted(kinds)


def read_trade_bars(source_dir: Path, day: date) -> dict[ContractKey, pd.DataFrame]:
    """One day's trade bars per contract month: columns open/high/low/close/volume.

    The index is a tz-aware UTC ``DatetimeIndex`` named ``timestamp`` at each bar's close.
    """
    return read_zip(zip_path(source_dir, day, "trade"))


def read_quote_bars(source_dir: Path, day: date) -> dict[ContractKey, pd.DataFrame]:
    """One day's bid/ask bars per contract month: the ``QUOTE_COLUMNS``, NaN for a silent side.

    The index is a tz-aware UTC ``DatetimeIndex`` named ``timestamp`` at each bar's close.
    """
    return read_zip(zip_path(source_dir, day, "quote"))


def read_zip(path: Path) -> dict[ContractKey, pd.DataFrame]:
    """Every contract month's bars in one LEAN daily zip, keyed by (year, month)."""
    path = Path(path)
    match = _ZIP_RE.match(path.name)
    if match is None:
        raise DataSourceError(
            f"{path} is not a LEAN daily zip: expected a name like 20131008_trade.zip",
        )
    day = datetime.strptime(match["day"], "%Y%m%d").date()
    kind: Kind = "trade" if match["kind"] == "trade" else "quote"
    if not path.is_file():
        raise DataSourceError(
            f"LEAN file {path} is missing: check the source folder (--source) holds the "
            "complete lean-es-1min data set",
        )
    frames: dict[ContractKey, pd.DataFrame] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for name, raw in _members(archive):
                contract = _parse_member_name(path, name, day, kind)
                frames[contract] = _parse_csv(path, name, raw, day, kind)
    except zipfile.BadZipFile as exc:
        raise DataSourceError(
            f"LEAN file {path} is not a readable zip ({exc}): re-copy it",
        ) from exc
    if not frames:
        raise DataSourceError(f"LEAN file {path} holds no contract CSV: re-copy it")
    return dict(sorted(frames.items()))


def fill_quote_gaps(quotes: pd.DataFrame) -> pd.DataFrame:
    """Carry the last known bid (ask) into minutes where that side did not update.

    An empty side means no new quote on that side during the minute, so its price stands at the
    previous minute's close and its size at the previous size. Rows before the first quote of a
    side cannot be filled and are dropped. Returns a new frame.
    """
    filled = quotes.copy()
    for side in ("bid", "ask"):
        prices = [f"{side}_{field}" for field in ("open", "high", "low", "close")]
        size = f"{side}_size"
        silent = filled[prices].isna().all(axis=1)
        last_close = filled[f"{side}_close"].ffill().shift(1)
        last_size = filled[size].where(~silent).ffill().shift(1)
        for column in prices:
            filled.loc[silent, column] = last_close[silent]
        filled.loc[silent, size] = last_size[silent]
    return filled.dropna(subset=list(QUOTE_COLUMNS))


def _members(archive: zipfile.ZipFile) -> Iterator[tuple[str, bytes]]:
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        if not info.is_dir():
            yield info.filename, archive.read(info)


def _parse_member_name(path: Path, name: str, day: date, kind: Kind) -> ContractKey:
    match = _MEMBER_RE.match(name)
    if match is None or match["kind"] != kind or match["day"] != f"{day:%Y%m%d}":
        raise DataSourceError(
            f"LEAN file {path} holds an unexpected member {name!r}: expected "
            f"{day:%Y%m%d}_<ticker>_minute_{kind}_<YYYYMM>.csv",
        )
    contract = match["contract"]
    year, month = int(contract[:4]), int(contract[4:])
    if not 1 <= month <= 12:
        raise DataSourceError(f"LEAN file {path}: member {name!r} has no valid contract month")
    return year, month


def _parse_csv(path: Path, name: str, raw: bytes, day: date, kind: Kind) -> pd.DataFrame:
    columns = TRADE_COLUMNS if kind == "trade" else QUOTE_COLUMNS
    where = f"LEAN file {path} member {name}"
    try:
        frame = pd.read_csv(
            io.BytesIO(raw),
            header=None,
            names=["ms", *columns],
            dtype={"ms": "int64", **dict.fromkeys(columns, "float64")},
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataSourceError(f"{where} is not valid LEAN {kind} CSV: {exc}") from exc
    if frame.empty:
        raise DataSourceError(f"{where} has no rows")
    ms = frame.pop("ms").to_numpy()
    if ms.min() < 0 or ms.max() >= MS_PER_DAY or (ms % 60_000).any():
        raise DataSourceError(
            f"{where}: times must be whole minutes within the day (ms 0-86399999)",
        )
    if (np.diff(ms) <= 0).any():
        raise DataSourceError(f"{where}: times are not strictly increasing")
    prices = frame[[c for c in columns if not c.endswith(("volume", "size"))]]
    if (prices.max(skipna=True) > MAX_PLAUSIBLE_PRICE).any():
        raise DataSourceError(
            f"{where}: prices above {MAX_PLAUSIBLE_PRICE:g} look scaled (LEAN equity style, "
            "x10000); this reader expects raw index points",
        )
    if kind == "trade" and frame.isna().any().any():
        raise DataSourceError(f"{where}: trade bars with empty fields")
    opened = pd.Timestamp(day, tz="UTC") + pd.to_timedelta(ms, unit="ms")
    frame.index = pd.DatetimeIndex(opened + BAR_INTERVAL, name="timestamp")
    return frame
