"""LEAN reader and the bundled Parquet catalog: parsing, front months, reproducibility, errors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.model.data import Bar, QuoteTick
from nautilus_trader.model.instruments import FuturesContract
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from quant_scalper.data import lean
from quant_scalper.data.catalog_builder import (
    DEFAULT_CATALOG_DIR,
    MANIFEST_NAME,
    CatalogSummary,
    build_catalog,
    catalog_segments,
    read_manifest,
)
from quant_scalper.errors import CatalogError, ConfigError, DataSourceError
from quant_scalper.instruments import futures_contract

SOURCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lean-es-1min"
BUNDLED = Path(__file__).resolve().parents[1] / "catalog"

needs_source = pytest.mark.skipif(
    not SOURCE_DIR.is_dir(),
    reason=f"LEAN ES data not found at {SOURCE_DIR} (the shared data folder beside the repo)",
)

EXPECTED_FRONTS = {
    date(2013, 10, 6): "Z3",
    date(2013, 10, 7): "Z3",
    date(2013, 10, 8): "Z3",
    date(2013, 10, 9): "Z3",
    date(2013, 10, 10): "Z3",
    date(2013, 10, 11): "Z3",
    date(2013, 10, 14): "Z3",
    date(2013, 10, 29): "Z3",
    date(2013, 10, 30): "Z3",
    date(2013, 11, 18): "Z3",
    date(2013, 12, 2): "Z3",
    date(2013, 12, 3): "Z3",
    date(2013, 12, 18): "H4",
    date(2013, 12, 20): "H4",
    date(2020, 1, 5): "H0",
    date(2020, 1, 6): "H0",
}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> CatalogSummary:
    if not SOURCE_DIR.is_dir():
        pytest.skip(f"LEAN ES data not found at {SOURCE_DIR}")
    return build_catalog(SOURCE_DIR, tmp_path_factory.mktemp("catalog") / "catalog")


# -- LEAN reader --------------------------------------------------------------------------------


@needs_source
def test_lean_trade_bars_are_close_stamped_utc_index_points() -> None:
    bars = lean.read_trade_bars(SOURCE_DIR, date(2013, 10, 8))
    assert set(bars) == {(2013, 12), (2014, 3), (2014, 6), (2014, 9)}
    front = bars[(2013, 12)]
    assert list(front.columns) == list(lean.TRADE_COLUMNS)
    assert isinstance(front.index, pd.DatetimeIndex)
    assert str(front.index.tz) == "UTC"
    # first CSV row "0,1667.5,1667.75,1667.25,1667.5,48": the 00:00-00:01 minute, stamped 00:01
    first = front.iloc[0]
    assert front.index[0] == pd.Timestamp("2013-10-08 00:01", tz="UTC")
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        1667.5,
        1667.75,
        1667.25,
        1667.5,
        48,
    )
    assert front["close"].between(1000, 5000).all()  # raw index points, not x10000


@needs_source
def test_lean_sunday_opens_at_globex_open() -> None:
    front = lean.read_trade_bars(SOURCE_DIR, date(2013, 10, 6))[(2013, 12)]
    # LEAN's first bar is 79,200,000 ms = 22:00 UTC = 17:00 CDT (Globex open); its close is 22:01
    assert front.index[0] == pd.Timestamp("2013-10-06 22:01", tz="UTC")


@needs_source
def test_lean_quotes_keep_silent_sides_as_nan_and_fill_carries_them() -> None:
    quotes = lean.read_quote_bars(SOURCE_DIR, date(2013, 10, 8))[(2013, 12)]
    assert list(quotes.columns) == list(lean.QUOTE_COLUMNS)
    # CSV row "15780000,,,,,0,1666.75,...": no bid update in 04:23-04:24 UTC
    stamp = pd.Timestamp("2013-10-08 04:24", tz="UTC")
    assert quotes.loc[stamp, ["bid_open", "bid_close"]].isna().all()
    assert quotes.loc[stamp, "bid_size"] == 0
    filled = lean.fill_quote_gaps(quotes)
    previous = quotes.loc[:stamp].iloc[-2]
    assert filled.loc[stamp, "bid_open"] == previous["bid_close"]
    assert filled.loc[stamp, "bid_close"] == previous["bid_close"]
    assert filled.loc[stamp, "bid_size"] == previous["bid_size"]
    assert filled.loc[stamp, "ask_close"] == 1666.75
    assert not filled.isna().any().any()


def test_lean_missing_zip_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"20131008_trade\.zip is missing"):
        lean.read_trade_bars(tmp_path, date(2013, 10, 8))


def test_lean_corrupt_zip_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "20131008_quote.zip").write_bytes(b"not a zip at all")
    with pytest.raises(DataSourceError, match=r"20131008_quote\.zip is not a readable zip"):
        lean.read_quote_bars(tmp_path, date(2013, 10, 8))


def test_lean_missing_source_dir_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"does not exist.*--source"):
        lean.available_days(tmp_path / "nowhere")


# -- building -----------------------------------------------------------------------------------


def test_front_month_per_day_and_rolls(rebuilt: CatalogSummary) -> None:
    assert {f.day: f.contract for f in rebuilt.days} == EXPECTED_FRONTS
    assert [(r.day, r.from_contract, r.to_contract) for r in rebuilt.rolls] == [
        (date(2013, 12, 18), "Z3", "H4"),
        (date(2020, 1, 5), "H4", "H0"),
    ]


def test_contracts_and_counts(rebuilt: CatalogSummary) -> None:
    ids = [c.instrument_id for c in rebuilt.contracts]
    assert ids == ["MESZ3.CME", "MESH4.CME", "MESH0.CME", "ESZ3.CME", "ESH4.CME", "ESH0.CME"]
    by_id = {c.instrument_id: c for c in rebuilt.contracts}
    assert (
        by_id["MESZ3.CME"].bars
        == by_id["ESZ3.CME"].bars
        == sum(f.trade_bars for f in rebuilt.days if f.contract == "Z3")
    )
    assert rebuilt.bar_count == 2 * sum(f.trade_bars for f in rebuilt.days)
    assert 0 < rebuilt.size_bytes < 10_000_000
    assert "MESZ3.CME" in str(rebuilt)


def test_rebuild_reproduces_the_bundled_catalog(rebuilt: CatalogSummary) -> None:
    assert (BUNDLED / "data").is_dir(), (
        f"bundled catalog missing at {BUNDLED}: run `quant-scalper catalog build`"
    )
    ours, bundled = ParquetDataCatalog(rebuilt.catalog_dir), ParquetDataCatalog(BUNDLED)

    def instruments(catalog: ParquetDataCatalog) -> list[dict]:
        found = catalog.instruments(instrument_type=FuturesContract)
        return sorted((FuturesContract.to_dict(i) for i in found), key=lambda d: d["id"])

    assert instruments(ours) == instruments(bundled)
    for contract in rebuilt.contracts:
        assert _bars(ours, contract.bar_type) == _bars(bundled, contract.bar_type)
        assert _ticks(ours, contract.instrument_id) == _ticks(bundled, contract.instrument_id)
    manifest, bundled_manifest = read_manifest(rebuilt.catalog_dir), read_manifest(BUNDLED)
    for key in ("source", "days", "rolls", "contracts", "dropped"):
        assert manifest[key] == bundled_manifest[key], key


def test_instruments_in_catalog_match_definitions(rebuilt: CatalogSummary) -> None:
    catalog = ParquetDataCatalog(rebuilt.catalog_dir)
    stored = catalog.instruments(instrument_ids=["MESZ3.CME"])
    assert FuturesContract.to_dict(stored[0]) == FuturesContract.to_dict(
        futures_contract("MES", 2013, 12),
    )


def test_quote_ticks_close_at_bar_close_with_bid_below_ask(rebuilt: CatalogSummary) -> None:
    catalog = ParquetDataCatalog(rebuilt.catalog_dir)
    for contract in rebuilt.contracts:
        bars: list[Bar] = catalog.bars(bar_types=[contract.bar_type])
        ticks: list[QuoteTick] = catalog.quote_ticks(instrument_ids=[contract.instrument_id])
        assert all(t.bid_price < t.ask_price for t in ticks)
        assert all(t.bid_size.as_double() >= 1 and t.ask_size.as_double() >= 1 for t in ticks)
        close_ticks = {t.ts_event: t for t in ticks}
        with_close = [b for b in bars if b.ts_event in close_ticks]
        assert len(with_close) >= len(bars) - 2  # two locked closes in ESZ3 are dropped
        bar = with_close[len(with_close) // 2]
        tick = close_ticks[bar.ts_event]
        assert tick.ts_event == bar.ts_event
        # the close quote sits around the bar's last trade
        assert abs(tick.bid_price.as_double() - bar.close.as_double()) <= 2.0
        assert all(b.volume.precision == 0 for b in bars[:10])


def test_manifest_records_sources_and_conventions(rebuilt: CatalogSummary) -> None:
    manifest = json.loads((rebuilt.catalog_dir / MANIFEST_NAME).read_text())
    names = {f["name"] for f in manifest["source"]["files"]}
    assert "20131008_trade.zip" in names and "20131008_quote.zip" in names
    assert all(len(f["sha256"]) == 64 for f in manifest["source"]["files"])
    assert [d["front"] for d in manifest["days"]] == [d["calendar_front"] for d in manifest["days"]]
    assert manifest["tool_versions"]["nautilus_trader"] == "1.231.0"


def test_rebuild_in_place_keeps_readme(tmp_path: Path) -> None:
    if not SOURCE_DIR.is_dir():
        pytest.skip(f"LEAN ES data not found at {SOURCE_DIR}")
    target = tmp_path / "catalog"
    target.mkdir()
    (target / "README.md").write_text("keep me")
    first = build_catalog(SOURCE_DIR, target, roots=("MES",))
    second = build_catalog(SOURCE_DIR, target, roots=("MES",))
    assert (target / "README.md").read_text() == "keep me"
    assert first.contracts == second.contracts
    assert not list(target.glob(".build-*"))


def test_refuses_a_foreign_folder_and_deletes_nothing(tmp_path: Path) -> None:
    if not SOURCE_DIR.is_dir():
        pytest.skip(f"LEAN ES data not found at {SOURCE_DIR}")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CatalogError, match=r"not a quant-scalper catalog.*nothing was deleted"):
        build_catalog(SOURCE_DIR, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    with pytest.raises(CatalogError, match=r"no manifest\.json"):
        build_catalog(SOURCE_DIR, other)
    assert (other / "data").is_dir()


def test_build_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match=r"does not exist.*--source"):
        build_catalog(tmp_path / "no-source", tmp_path / "catalog")
    assert not (tmp_path / "catalog").exists()
    with pytest.raises(ConfigError, match="MES, ES"):
        build_catalog(tmp_path, tmp_path / "catalog", roots=("NQ",))


# -- querying -----------------------------------------------------------------------------------


def test_catalog_segments_in_time_order(rebuilt: CatalogSummary) -> None:
    segments = catalog_segments(rebuilt.catalog_dir, "MES")
    assert [s.instrument_id for s in segments] == ["MESZ3.CME", "MESH4.CME", "MESH0.CME"]
    assert segments[0].bar_type == "MESZ3.CME-1-MINUTE-LAST-EXTERNAL"
    assert segments[0].first_bar_ts == pd.Timestamp("2013-10-06 22:01", tz="UTC")
    assert segments[1].last_bar_ts == pd.Timestamp("2013-12-20 22:15", tz="UTC")
    counts = {c.instrument_id: c.bars for c in rebuilt.contracts}
    assert all(s.bar_count == counts[s.instrument_id] for s in segments)
    assert [s.instrument_id for s in catalog_segments(rebuilt.catalog_dir, "ES")] == [
        "ESZ3.CME",
        "ESH4.CME",
        "ESH0.CME",
    ]


def test_catalog_segments_window(rebuilt: CatalogSummary) -> None:
    segments = catalog_segments(rebuilt.catalog_dir, "MES", "2013-12-03", "2013-12-18T12:00:00Z")
    assert [s.instrument_id for s in segments] == ["MESZ3.CME", "MESH4.CME"]
    assert segments[0].first_bar_ts >= pd.Timestamp("2013-12-03", tz="UTC")
    assert segments[1].last_bar_ts <= pd.Timestamp("2013-12-18 12:00", tz="UTC")
    with pytest.raises(CatalogError, match="widen start/end"):
        catalog_segments(rebuilt.catalog_dir, "MES", "2015-01-01", "2015-02-01")


def test_catalog_segments_errors_name_the_fix(tmp_path: Path, rebuilt: CatalogSummary) -> None:
    with pytest.raises(CatalogError, match="does not exist: run `quant-scalper catalog build`"):
        catalog_segments(tmp_path / "missing", "MES")
    with pytest.raises(CatalogError, match="quant-scalper catalog build"):
        catalog_segments(tmp_path, "MES")  # exists but empty
    with pytest.raises(ConfigError, match="MES, ES"):
        catalog_segments(rebuilt.catalog_dir, "NQ")


def test_default_catalog_dir_is_the_repo_catalog() -> None:
    assert DEFAULT_CATALOG_DIR == BUNDLED


def _bars(catalog: ParquetDataCatalog, bar_type: str) -> list[dict]:
    return [Bar.to_dict(b) for b in catalog.bars(bar_types=[bar_type])]


def _ticks(catalog: ParquetDataCatalog, instrument_id: str) -> list[dict]:
    return [QuoteTick.to_dict(t) for t in catalog.quote_ticks(instrument_ids=[instrument_id])]
