"""Build the bundled Nautilus ``ParquetDataCatalog`` from LEAN ES minute data, and query it.

For every LEAN day the front-month contract (the month with the most trade volume that day) is
written, for each requested root, as:

- 1-minute trade bars (``{id}-1-MINUTE-LAST-EXTERNAL``, stamped at the bar close) for the
  strategy's signal;
- quote ticks derived from LEAN's bid/ask minute bars with Nautilus's ``QuoteTickDataWrangler``
  (open/high/low/close ticks at close-300/-200/-100/0 ms), so a venue run with
  ``bar_execution=False`` fills orders and triggers stops/targets on the real bid/ask;
- the ``FuturesContract`` definition (``quant_scalper.instruments``).

MES did not trade in 2013: its contracts here carry the ES prices (the same index, so the same
points) under MES ids with the MES specification (multiplier 5). Volumes and quote sizes are the
ES figures, not rescaled. See ``catalog/README.md`` for every convention and data quirk.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from importlib.metadata import PackageNotFoundError, version
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import pandas as pd
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.instruments import FuturesContract
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.wranglers import BarDataWrangler, QuoteTickDataWrangler

import quant_scalper
from quant_scalper.data import lean
from quant_scalper.errors import CatalogError, ConfigError, DataSourceError
from quant_scalper.instruments import (
    bar_type_for,
    contract_month_code,
    front_month,
    futures_contract,
    parse_contract_symbol,
    spec_for,
)

_REPO_ROOT: Final = Path(quant_scalper.__file__).resolve().parents[1]
DEFAULT_SOURCE_DIR: Final = _REPO_ROOT.parent / "shared" / "data" / "lean-es-1min"
DEFAULT_CATALOG_DIR: Final = _REPO_ROOT / "catalog"
DEFAULT_ROOTS: Final = ("MES", "ES")
DEFAULT_BAR_SPEC: Final = "1-MINUTE-LAST"

BUILDER: Final = "quant_scalper.data.catalog_builder"
FORMAT_VERSION: Final = 1
MANIFEST_NAME: Final = "manifest.json"
LICENSE_NAME: Final = "LICENSE-Apache-2.0.txt"
DATA_DIR_NAME: Final = "data"
# Files a catalog folder may hold besides what the build writes (kept across rebuilds).
_KEPT_NAMES: Final = frozenset({"README.md", ".gitkeep", ".gitignore"})
_STAGING_PREFIX: Final = ".build-"

SOURCE_DESCRIPTION: Final = "QuantConnect LEAN, Data/future/cme/minute/es/ (commit 24863901)"
SOURCE_LICENSE: Final = "Apache-2.0"
# A gap of more than this between the front month's trade bars is a halt or the daily break
# (the 15:15-15:30 CT halt of 2013 and 2020, the 16:15-17:00 CT break of 2013, 16:00-17:00 CT
# in 2020). Quiet stretches inside the session last at most 4 minutes in this data.
SESSION_GAP: Final = pd.Timedelta(600, unit="s")
QUOTE_TICK_OFFSET_MS: Final = 100
_VERSIONED: Final = ("quant-scalper", "nautilus_trader", "pandas", "pyarrow")


@dataclass(frozen=True)
class DayFront:
    """The front-month contract of one LEAN day and how much of it was written."""

    day: date
    year: int
    month: int
    volume: int
    trade_bars: int
    quote_bars: int

    @property
    def contract(self) -> str:
        """Month code and one-digit year, e.g. ``Z3`` (prefix a root for the symbol)."""
        return _code(self.year, self.month)


@dataclass(frozen=True)
class Roll:
    """A change of front month between two consecutive LEAN days."""

    day: date  # the first day on the new contract
    from_contract: str  # month code + year digit, e.g. Z3
    to_contract: str


@dataclass(frozen=True)
class ContractCounts:
    """What the catalog holds for one contract of one root."""

    instrument_id: str
    bar_type: str
    bars: int
    quote_ticks: int
    first_bar_ts: pd.Timestamp
    last_bar_ts: pd.Timestamp
    days: tuple[date, ...]


@dataclass(frozen=True)
class CatalogSummary:
    """The outcome of ``build_catalog``: what was written where."""

    catalog_dir: Path
    roots: tuple[str, ...]
    days: tuple[DayFront, ...]
    rolls: tuple[Roll, ...]
    contracts: tuple[ContractCounts, ...]
    dropped: dict[str, int] = field(default_factory=dict)
    size_bytes: int = 0

    @property
    def bar_count(self) -> int:
        """Bars written over all roots and contracts."""
        return sum(c.bars for c in self.contracts)

    @property
    def quote_tick_count(self) -> int:
        """Quote ticks written over all roots and contracts."""
        return sum(c.quote_ticks for c in self.contracts)

    def __str__(self) -> str:
        lines = [
            f"Catalog {self.catalog_dir}: {len(self.days)} days, roots {', '.join(self.roots)}, "
            f"{self.bar_count:,} bars, {self.quote_tick_count:,} quote ticks, "
            f"{self.size_bytes / 1e6:.1f} MB",
        ]
        lines += [
            f"  {c.instrument_id:<10} {c.bars:>6,} bars {c.quote_ticks:>7,} quote ticks  "
            f"{c.first_bar_ts:%Y-%m-%d %H:%M} .. {c.last_bar_ts:%Y-%m-%d %H:%M} UTC"
            for c in self.contracts
        ]
        lines += [f"  roll on {r.day}: {r.from_contract} -> {r.to_contract}" for r in self.rolls]
        return "\n".join(lines)


@dataclass(frozen=True)
class ContractSegment:
    """One contract of a root in the catalog and the span of its (front-month) bars."""

    instrument_id: str
    bar_type: str
    first_bar_ts: pd.Timestamp
    last_bar_ts: pd.Timestamp
    bar_count: int


def build_catalog(
    source_dir: Path,
    catalog_dir: Path,
    roots: Sequence[str] = DEFAULT_ROOTS,
) -> CatalogSummary:
    """Write the front-month bars, quote ticks and instruments of every LEAN day to a catalog.

    The build is reproducible: the same zips give the same catalog contents. ``catalog_dir``
    must be new, empty or a catalog this function built (its ``data/`` folder and manifest are
    replaced; nothing else there is touched).
    """
    source_dir, catalog_dir = Path(source_dir), Path(catalog_dir)
    roots = _check_roots(roots)
    days = lean.available_days(source_dir)
    if not days:
        raise DataSourceError(
            f"LEAN data folder {source_dir} holds no YYYYMMDD_trade.zip/_quote.zip files: "
            "point --source at the lean-es-1min folder",
        )
    fronts, trades, quotes, dropped = _load_front_months(source_dir, days)
    _prepare_target(catalog_dir)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=catalog_dir))
    try:
        contracts = _write_catalog(staging, roots, fronts, trades, quotes, dropped)
        _replace_data(catalog_dir, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    license_file = source_dir / LICENSE_NAME
    if license_file.is_file():
        shutil.copyfile(license_file, catalog_dir / LICENSE_NAME)

    rolls = _rolls(fronts)
    summary = CatalogSummary(
        catalog_dir=catalog_dir,
        roots=roots,
        days=tuple(fronts),
        rolls=rolls,
        contracts=tuple(contracts),
        dropped=dropped,
    )
    _write_manifest(catalog_dir, source_dir, days, summary)
    size = sum(p.stat().st_size for p in (catalog_dir / DATA_DIR_NAME).rglob("*") if p.is_file())
    return replace(summary, size_bytes=size)


def catalog_segments(
    catalog_dir: Path,
    root: str,
    start: str | datetime | pd.Timestamp | None = None,
    end: str | datetime | pd.Timestamp | None = None,
    bar_spec: str = DEFAULT_BAR_SPEC,
) -> list[ContractSegment]:
    """The contracts of ``root`` in the catalog, in time order, with their bars in [start, end].

    Each contract's bars are its front-month days, so a backtest trades each segment while it
    is front. Contracts without bars in the window are left out. Naive times are UTC.
    """
    spec_for(root)
    catalog_dir = Path(catalog_dir)
    catalog = _open_catalog(catalog_dir)
    start_ts, end_ts = _utc_or_none(start, "start"), _utc_or_none(end, "end")
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise CatalogError(f"start {start_ts} is after end {end_ts}: swap them")

    instruments = [
        i
        for i in catalog.instruments(instrument_type=FuturesContract)
        if _root_of(i.id.symbol.value) == root
    ]
    if not instruments:
        raise CatalogError(
            f"the catalog {catalog_dir} has no {root} futures contracts: rebuild it with "
            f"`quant-scalper catalog build` (roots {', '.join(DEFAULT_ROOTS)}) or check the path",
        )
    segments = []
    for instrument in instruments:
        bar_type = bar_type_for(instrument.id, bar_spec)
        bars = catalog.bars(bar_types=[str(bar_type)], start=start_ts, end=end_ts)
        if not bars:
            continue
        segments.append(
            ContractSegment(
                instrument_id=str(instrument.id),
                bar_type=str(bar_type),
                first_bar_ts=pd.Timestamp(bars[0].ts_event, tz="UTC"),
                last_bar_ts=pd.Timestamp(bars[-1].ts_event, tz="UTC"),
                bar_count=len(bars),
            ),
        )
    if not segments:
        if start_ts is None and end_ts is None:
            raise CatalogError(
                f"the catalog {catalog_dir} has {root} contracts but no {bar_spec}-EXTERNAL "
                f"bars for them: use {DEFAULT_BAR_SPEC}-EXTERNAL bars (what "
                "`quant-scalper catalog build` writes) or rebuild the catalog",
            )
        covered = catalog_segments(catalog_dir, root, bar_spec=bar_spec)
        raise CatalogError(
            f"the catalog {catalog_dir} has no {root} bars between {start_ts or 'the start'} and "
            f"{end_ts or 'the end'}; it covers {covered[0].first_bar_ts} to "
            f"{covered[-1].last_bar_ts}: widen start/end",
        )
    return sorted(segments, key=lambda s: (s.first_bar_ts, s.instrument_id))


def read_manifest(catalog_dir: Path) -> dict[str, Any]:
    """The manifest a build wrote into ``catalog_dir`` (CatalogError when there is none)."""
    path = Path(catalog_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(
            f"{path} is missing: {catalog_dir} was not built by `quant-scalper catalog build`",
        ) from None
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{path} is unreadable ({exc}): rebuild the catalog") from exc
    if not isinstance(manifest, dict) or manifest.get("builder") != BUILDER:
        raise CatalogError(f"{path} is not a quant-scalper catalog manifest")
    return manifest


# -- building -----------------------------------------------------------------------------------


def _check_roots(roots: Sequence[str]) -> tuple[str, ...]:
    if isinstance(roots, str):
        roots = (roots,)
    checked = tuple(dict.fromkeys(roots))
    if not checked:
        raise CatalogError("no roots to build: pass at least one of " + ", ".join(DEFAULT_ROOTS))
    for root in checked:
        spec_for(root)
    return checked


def _prepare_target(catalog_dir: Path) -> None:
    """Make sure ``catalog_dir`` exists and is ours to (re)write, else refuse."""
    if catalog_dir.exists() and not catalog_dir.is_dir():
        raise CatalogError(f"{catalog_dir} is a file, not a folder: pick another catalog path")
    catalog_dir.mkdir(parents=True, exist_ok=True)
    ours = {DATA_DIR_NAME, MANIFEST_NAME, LICENSE_NAME} | _KEPT_NAMES
    foreign = sorted(
        p.name
        for p in catalog_dir.iterdir()
        if p.name not in ours and not p.name.startswith(_STAGING_PREFIX)
    )
    if foreign:
        raise CatalogError(
            f"{catalog_dir} is not empty and not a quant-scalper catalog (it holds "
            f"{', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}): build into a new "
            "or empty folder; nothing was deleted",
        )
    if (catalog_dir / DATA_DIR_NAME).exists() and not (catalog_dir / MANIFEST_NAME).exists():
        raise CatalogError(
            f"{catalog_dir} holds a data/ folder but no {MANIFEST_NAME}: it is another tool's "
            "catalog or an interrupted build. Build elsewhere, or delete that data/ folder "
            "yourself if it is a leftover; nothing was deleted",
        )
    if (catalog_dir / MANIFEST_NAME).exists():
        read_manifest(catalog_dir)  # refuses a manifest some other tool wrote
    for stale in catalog_dir.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)


def _replace_data(catalog_dir: Path, staging: Path) -> None:
    target = catalog_dir / DATA_DIR_NAME
    (catalog_dir / MANIFEST_NAME).unlink(missing_ok=True)
    if target.exists():
        shutil.rmtree(target)
    (staging / DATA_DIR_NAME).rename(target)


def _load_front_months(
    source_dir: Path,
    days: list[date],
) -> tuple[list[DayFront], dict[date, pd.DataFrame], dict[date, pd.DataFrame], dict[str, int]]:
    """Each day's front contract, its trade bars and its cleaned quote bars."""
    fronts: list[DayFront] = []
    trades: dict[date, pd.DataFrame] = {}
    quotes: dict[date, pd.DataFrame] = {}
    dropped = {"quote_rows_unfillable": 0, "quote_rows_outside_session": 0}
    for day in days:
        day_trades = lean.read_trade_bars(source_dir, day)
        day_quotes = lean.read_quote_bars(source_dir, day)
        volumes = {key: int(frame["volume"].sum()) for key, frame in day_trades.items()}
        front = max(sorted(volumes), key=lambda key: volumes[key])  # earliest month wins a tie
        if front not in day_quotes:
            raise DataSourceError(
                f"{lean.zip_path(source_dir, day, 'quote')} has no CSV for the front month "
                f"{front[0]}-{front[1]:02d} of {day}: re-copy the LEAN data",
            )
        bars = day_trades[front]
        _check_trade_bars(bars, source_dir, day)
        filled = lean.fill_quote_gaps(day_quotes[front])
        dropped["quote_rows_unfillable"] += len(day_quotes[front]) - len(filled)
        in_session = _in_session(filled.index, bars.index)
        dropped["quote_rows_outside_session"] += int((~in_session).sum())
        trades[day] = bars
        quotes[day] = filled[in_session]
        fronts.append(
            DayFront(day, front[0], front[1], volumes[front], len(bars), int(in_session.sum())),
        )
    return fronts, trades, quotes, dropped


def _check_trade_bars(bars: pd.DataFrame, source_dir: Path, day: date) -> None:
    body_high = bars[["open", "close"]].max(axis=1)
    body_low = bars[["open", "close"]].min(axis=1)
    bad = (bars["high"] < body_high) | (bars["low"] > body_low) | (bars["volume"] < 0)
    if bad.any():
        raise DataSourceError(
            f"{lean.zip_path(source_dir, day, 'trade')}: {int(bad.sum())} front-month bars have "
            f"high/low outside open/close or negative volume (first at {bars.index[bad][0]})",
        )


def _in_session(quote_index: pd.DatetimeIndex, trade_index: pd.DatetimeIndex) -> pd.Series:
    """Whether each quote minute lies in a trading stretch of the day's trade bars.

    Quotes before the first trade, after the last, or inside a halt/break (a gap longer than
    ``SESSION_GAP``) are the pre-open book, often locked or crossed, where nothing can fill.
    """
    times = trade_index.to_series()
    stretch = (times.diff() > SESSION_GAP).cumsum()
    spans = times.groupby(stretch).agg(["min", "max"])
    keep = pd.Series(False, index=quote_index)
    for first, last in spans.itertuples(index=False):
        keep |= (quote_index >= first) & (quote_index <= last)
    return keep


def _write_catalog(
    staging: Path,
    roots: tuple[str, ...],
    fronts: list[DayFront],
    trades: dict[date, pd.DataFrame],
    quotes: dict[date, pd.DataFrame],
    dropped: dict[str, int],
) -> list[ContractCounts]:
    catalog = ParquetDataCatalog(staging)
    months = sorted({(f.year, f.month) for f in fronts})
    dropped["locked_or_crossed_quote_ticks"] = 0
    counts: list[ContractCounts] = []
    for root in roots:
        instruments = [futures_contract(root, year, month) for year, month in months]
        catalog.write_data(instruments)
        for instrument, (year, month) in zip(instruments, months, strict=True):
            contract_days = [f.day for f in fronts if (f.year, f.month) == (year, month)]
            bar_frame = pd.concat([trades[d] for d in contract_days])
            quote_frame = pd.concat([quotes[d] for d in contract_days])
            if not bar_frame.index.is_unique or not quote_frame.index.is_unique:
                raise DataSourceError(
                    f"overlapping LEAN days for {instrument.id}: {contract_days}; "
                    "each minute must come from one file",
                )
            bar_type = bar_type_for(instrument.id, DEFAULT_BAR_SPEC)
            bars = BarDataWrangler(bar_type, instrument).process(
                bar_frame[list(lean.TRADE_COLUMNS)],
            )
            ticks = _quote_ticks(instrument, quote_frame)
            valid = [t for t in ticks if t.bid_price < t.ask_price]
            if root == roots[0]:  # the same prices under every root: count them once
                dropped["locked_or_crossed_quote_ticks"] += len(ticks) - len(valid)
            catalog.write_data(bars)
            catalog.write_data(valid)
            counts.append(
                ContractCounts(
                    instrument_id=str(instrument.id),
                    bar_type=str(bar_type),
                    bars=len(bars),
                    quote_ticks=len(valid),
                    first_bar_ts=pd.Timestamp(bars[0].ts_event, tz="UTC"),
                    last_bar_ts=pd.Timestamp(bars[-1].ts_event, tz="UTC"),
                    days=tuple(contract_days),
                ),
            )
    return counts


def _quote_ticks(instrument: FuturesContract, quotes: pd.DataFrame) -> list[QuoteTick]:
    """Four quote ticks per LEAN bid/ask minute; each tick carries LEAN's last bid/ask size.

    The wrangler gives each tick ``volume / 4`` (at least one lot), so the sizes go in x4.
    """
    sides = {}
    for side in ("bid", "ask"):
        frame = pd.DataFrame(
            {p: quotes[f"{side}_{p}"] for p in ("open", "high", "low", "close")},
            index=quotes.index,
        )
        frame["volume"] = quotes[f"{side}_size"] * 4.0
        sides[side] = frame
    return QuoteTickDataWrangler(instrument).process_bar_data(
        sides["bid"],
        sides["ask"],
        offset_interval_ms=QUOTE_TICK_OFFSET_MS,
        timestamp_is_close=True,
        random_seed=None,
    )


def _rolls(fronts: list[DayFront]) -> tuple[Roll, ...]:
    return tuple(
        Roll(current.day, previous.contract, current.contract)
        for previous, current in pairwise(fronts)
        if (previous.year, previous.month) != (current.year, current.month)
    )


def _write_manifest(
    catalog_dir: Path,
    source_dir: Path,
    days: list[date],
    summary: CatalogSummary,
) -> None:
    files = sorted(
        [lean.zip_path(source_dir, d, kind) for d in days for kind in ("trade", "quote")],
    )
    if (source_dir / LICENSE_NAME).is_file():
        files.append(source_dir / LICENSE_NAME)
    manifest = {
        "builder": BUILDER,
        "format_version": FORMAT_VERSION,
        "tool_versions": {name: _version(name) for name in _VERSIONED},
        "source": {
            "description": SOURCE_DESCRIPTION,
            "license": SOURCE_LICENSE,
            "files": [
                {"name": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files
            ],
        },
        "roots": list(summary.roots),
        "conventions": {
            "timestamps": "UTC nanoseconds; bars stamped at the close (LEAN open + 60 s)",
            "prices": "ES index points for every root (MES ids carry ES prices)",
            "volumes_and_sizes": "ES contracts as recorded by LEAN, not rescaled for MES",
            "front_month": "the contract month with the most trade volume in the day's zip",
            "quote_ticks": (
                "QuoteTickDataWrangler.process_bar_data, timestamp_is_close=True, "
                f"offset_interval_ms={QUOTE_TICK_OFFSET_MS}, no shuffling; "
                "ticks at close-300/-200/-100/0 ms = bid/ask open/high/low/close"
            ),
        },
        "days": [
            {
                "date": f.day.isoformat(),
                "front": f.contract,
                "calendar_front": _code(*front_month("ES", f.day)),
                "volume": f.volume,
                "trade_bars": f.trade_bars,
                "quote_bars": f.quote_bars,
            }
            for f in summary.days
        ],
        "rolls": [
            {"date": r.day.isoformat(), "from": r.from_contract, "to": r.to_contract}
            for r in summary.rolls
        ],
        "contracts": [
            {
                "instrument_id": c.instrument_id,
                "bar_type": c.bar_type,
                "bars": c.bars,
                "quote_ticks": c.quote_ticks,
                "first_bar": c.first_bar_ts.isoformat(),
                "last_bar": c.last_bar_ts.isoformat(),
                "days": [d.isoformat() for d in c.days],
            }
            for c in summary.contracts
        ],
        "dropped": {"note": "per root; every root holds the same prices", **summary.dropped},
    }
    text = json.dumps(manifest, indent=2) + "\n"
    (catalog_dir / MANIFEST_NAME).write_text(text, encoding="utf-8")


def _code(year: int, month: int) -> str:
    return f"{contract_month_code(month)}{year % 10}"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _version(distribution: str) -> str:
    if distribution == "quant-scalper":
        return quant_scalper.__version__
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


# -- querying -----------------------------------------------------------------------------------


def _open_catalog(catalog_dir: Path) -> ParquetDataCatalog:
    if not catalog_dir.is_dir():
        raise CatalogError(
            f"catalog folder {catalog_dir} does not exist: run `quant-scalper catalog build` "
            "or fix the catalog path",
        )
    if not (catalog_dir / DATA_DIR_NAME).is_dir():
        raise CatalogError(
            f"catalog folder {catalog_dir} holds no data/ folder (empty or not a Nautilus "
            "catalog): run `quant-scalper catalog build` or fix the catalog path",
        )
    return ParquetDataCatalog(catalog_dir)


def _root_of(symbol: str) -> str | None:
    try:
        return parse_contract_symbol(symbol, 2020).root
    except ConfigError:
        return None


def _utc_or_none(value: str | datetime | pd.Timestamp | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise CatalogError(
            f"{name} {value!r} is not a time: use ISO-8601 like 2013-10-07T00:00:00Z",
        ) from exc
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
