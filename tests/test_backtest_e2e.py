"""The default backtest on the bundled catalog, end to end, checked independently with pandas."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from quant_scalper.backtest.report import format_report
from quant_scalper.backtest.run_config import build_run_config
from quant_scalper.backtest.runner import BacktestOutcome, run_backtest, summary_dict
from quant_scalper.config import BacktestSettings, load_backtest_settings
from quant_scalper.errors import CatalogError

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "backtest.yaml"


def _settings(tmp_path: Path, *overrides: str) -> BacktestSettings:
    settings = load_backtest_settings(CONFIG, ["progress=false", *overrides])
    return settings.replace(output_dir=tmp_path / "out")


@pytest.fixture(scope="module")
def outcome(bundled_backtest: BacktestOutcome) -> BacktestOutcome:
    return bundled_backtest  # one run per session, shared with the golden-summary test


def test_report_has_every_figure(outcome: BacktestOutcome) -> None:
    text = format_report(outcome)
    for label in (
        "Trades",
        "Win rate",
        "Profit factor",
        "Net P&L after fees",
        "Fees",
        "Sharpe",
        "Max drawdown",
        "Average holding time",
        "MES contract spec",
    ):
        assert label in text
    assert outcome.summary.trades > 50
    assert [c.instrument_id for c in outcome.contracts] == ["MESZ3.CME", "MESH4.CME", "MESH0.CME"]
    for name in ("fills", "positions", "account", "summary", "tearsheet"):
        assert outcome.files[name].is_file() and outcome.files[name].stat().st_size > 0


def test_fees_are_per_contract_per_side(outcome: BacktestOutcome) -> None:
    s = outcome.summary
    contracts_traded = sum(t.quantity for t in outcome.trades) * 2
    assert s.fees == Decimal("0.62") * contracts_traded
    assert s.fees == sum(t.fees for t in outcome.trades)
    assert s.net_pnl == s.gross_pnl - s.fees


def test_win_rate_matches_nautilus(outcome: BacktestOutcome) -> None:
    nautilus = outcome.nautilus_pnl["Win Rate (USD)"]
    assert outcome.summary.win_rate == pytest.approx(nautilus, abs=1e-9)


def test_report_and_summary_show_one_profit_factor_and_the_trading_day_sharpe(
    outcome: BacktestOutcome,
) -> None:
    """Nautilus's calendar-day returns statistics (Sharpe over 2,283 UTC days, a returns-based
    "Profit Factor") are gone; the Sharpe is per trading day with data, with its interval."""
    text = format_report(outcome)
    summary = json.loads(outcome.files["summary"].read_text())
    flat = json.dumps(summary)
    assert "Profit Factor" not in flat and "Sharpe Ratio (252 days)" not in flat
    assert len(re.findall(r"^Profit factor\s", text, flags=re.M)) == 1
    assert "Sharpe (per trading day, annualised)" in text and "95 % CI" in text
    assert "fewer than 60" in text and summary["sharpe_warning"]
    assert summary["days"] == {
        "days_with_bars": 20,
        "session_days": 14,
        "fragment_days": 6,
        "session_equivalents": 13.83,
        "statistics_days": 14,
    }
    assert re.search(r"Average holding time\s+\d+:\d\d:\d\d\n", text)
    assert re.search(r"Circuit-breaker trips\s+(\d+)\n", text).group(1) == str(len(outcome.trips))
    assert all(t.rule.value != "day_roll" for t in outcome.trips)
    assert re.search(r"Trading-day rolls\s+19\n", text)
    tearsheet = outcome.files["tearsheet"].read_text()
    assert "Sharpe (per trading day, annualised)" in tearsheet
    assert "Profit Factor" not in tearsheet


def _trading_day(ts: pd.Series) -> pd.Series:
    """CME trading day by plain pandas: 17:00 Chicago rolls to the next day, weekends to Monday."""
    day = (ts.dt.tz_convert("America/Chicago") + pd.Timedelta(hours=7)).dt.tz_localize(None)
    day = day.dt.normalize()
    shift = day.dt.weekday.map({5: 2, 6: 1}).fillna(0).astype(int)
    return day + pd.to_timedelta(shift, unit="D")


def test_headline_figures_recomputed_from_the_csv_files_with_plain_pandas(
    outcome: BacktestOutcome,
) -> None:
    """Trades, win rate, profit factor, net P&L, fees, drawdown and the per-trading-day Sharpe,
    from fills.csv, positions.csv and the catalog's bar files, without the project's code."""
    import pyarrow.parquet as pq

    positions = pd.read_csv(outcome.files["positions"])
    fills = pd.read_csv(outcome.files["fills"])
    closed = positions[positions["side"] == "FLAT"].copy()
    closed["pnl"] = closed["realized_pnl"].str.replace(" USD", "").astype(float)
    closed["closed"] = pd.to_datetime(closed["ts_closed"], utc=True)
    closed = closed.sort_values("closed")
    pnl = closed["pnl"]
    summary = json.loads(outcome.files["summary"].read_text())
    assert len(closed) == summary["trades"]
    assert (pnl > 0).mean() == pytest.approx(summary["win_rate"])
    assert pnl[pnl > 0].sum() / -pnl[pnl < 0].sum() == pytest.approx(summary["profit_factor"])
    assert round(pnl.sum(), 2) == float(summary["net_pnl_usd"])
    fees = fills["commissions"].str.extract(r"([\d.]+) USD")[0].astype(float).sum()
    assert round(fees, 2) == float(summary["fees_usd"])
    account = 5000.0
    equity = account + pnl.cumsum()
    drawdown = (equity.cummax().clip(lower=account) - equity).max()
    assert round(drawdown, 2) == float(summary["max_drawdown_usd"])
    # Trading days with bars; a day under half a 1,380-minute session joins the one before.
    stamps = pd.concat(
        pd.Series(pq.read_table(f, columns=["ts_init"]).column("ts_init").to_numpy())
        for f in (REPO / "catalog" / "data" / "bar").glob("*/*.parquet")
    )
    bars_per_day = _trading_day(pd.to_datetime(stamps, utc=True)).value_counts().sort_index()
    sessions = bars_per_day[bars_per_day >= 690].index
    assert (len(bars_per_day), len(sessions)) == (20, 14)

    def fold(day: pd.Timestamp) -> pd.Timestamp:
        before = sessions[sessions <= day]
        return before[-1] if len(before) else sessions[0]

    closed["day"] = _trading_day(closed["closed"]).map(fold)
    per_day = closed.groupby("day")["pnl"].sum().reindex(sessions, fill_value=0.0)
    start_equity = account + per_day.cumsum().shift(fill_value=0.0)
    returns = per_day / start_equity
    sharpe = returns.mean() / returns.std(ddof=1) * 252**0.5
    assert sharpe == pytest.approx(summary["sharpe_ratio"], rel=1e-9)
    daily = sharpe / 252**0.5
    se = ((1 + daily**2 / 2) / len(returns)) ** 0.5 * 252**0.5
    assert summary["sharpe_ci95"] == pytest.approx(
        [sharpe - 1.96 * se, sharpe + 1.96 * se], rel=1e-3
    )


def test_entries_match_independent_pandas_zscores(outcome: BacktestOutcome) -> None:
    """Every entry happens on a bar whose pandas z-score is beyond entry_z, on the right side,
    and each contract's first entry is on its first bar beyond the threshold (flat at start).
    The z-score restarts its window after every gap between bars over 10 minutes (the gap
    rule): pandas computes it per run of bars between such gaps."""
    window, entry_z = 20, 2.0
    catalog = ParquetDataCatalog(str(REPO / "catalog"))
    for contract in outcome.contracts:
        bars = catalog.bars(bar_types=[contract.bar_type])
        closes = pd.Series(
            [b.close.as_double() for b in bars],
            index=pd.DatetimeIndex([pd.Timestamp(b.ts_event, tz="UTC") for b in bars]),
        )
        run = pd.Series(closes.index, index=closes.index).diff() > pd.Timedelta(minutes=10)
        groups = closes.groupby(run.cumsum())
        mean = groups.transform(lambda s: s.rolling(window).mean())
        std = groups.transform(lambda s: s.rolling(window).std(ddof=1))
        z = (closes - mean) / std
        entries = [t for t in outcome.trades if t.instrument_id == contract.instrument_id]
        assert entries, contract
        for trade in entries:
            value = z.loc[pd.Timestamp(trade.opened_at)]
            if trade.side == "LONG":
                assert value <= -entry_z, (trade, value)
            else:
                assert value >= entry_z, (trade, value)
        first_signal = z[(z.abs() >= entry_z)].index[0]
        assert min(t.opened_at for t in entries) == first_signal.to_pydatetime()


def test_two_runs_are_identical(outcome: BacktestOutcome, tmp_path: Path) -> None:
    again = run_backtest(_settings(tmp_path), write_files=False)
    assert again.trades == outcome.trades
    first, second = summary_dict(outcome), summary_dict(again)
    assert first == second


def _assert_no_trade_outlives_its_contract(outcome: BacktestOutcome) -> None:
    last_bar = {c.instrument_id: pd.Timestamp(c.last_bar_ts) for c in outcome.contracts}
    for trade in outcome.trades:
        assert pd.Timestamp(trade.closed_at) <= last_bar[trade.instrument_id], trade


def test_every_contract_but_the_last_trades_until_its_last_bar(outcome: BacktestOutcome) -> None:
    run_config = build_run_config(outcome.settings, outcome.contracts)
    until = [s.config.get("trade_until") for s in run_config.engine.strategies]
    assert until == [c.last_bar_ts for c in outcome.contracts[:-1]] + [None]
    _assert_no_trade_outlives_its_contract(outcome)
    holding = [t.closed_at - t.opened_at for t in outcome.trades]
    assert max(holding) <= timedelta(minutes=121)  # max_holding_minutes: 120


def test_a_position_open_at_the_roll_closes_at_the_contracts_last_bar(tmp_path: Path) -> None:
    """No holding limit or flatten before the halt: a MESZ3 short is still open at its last bar
    (it used to run on, unquoted, to the contract's expiry on Dec 20)."""
    settings = _settings(
        tmp_path,
        "strategy.window=60",
        "strategy.exit_z=0.0",
        "risk.daily_loss_limit_usd=60",
        "risk.max_holding_minutes=null",
        "risk.flatten_before_halt=false",
        "strategy.max_bar_gap_minutes=null",  # the 2013 window as it ran before the gap rule
        "write_tearsheet=false",
    )
    result = run_backtest(settings, write_files=False)
    _assert_no_trade_outlives_its_contract(result)
    last_bar = pd.Timestamp(result.contracts[0].last_bar_ts)
    rolled = [t for t in result.trades if pd.Timestamp(t.closed_at) == last_bar]
    assert [(t.instrument_id, t.side) for t in rolled] == [("MESZ3.CME", "SHORT")]
    assert rolled[0].opened_at < last_bar.to_pydatetime() - timedelta(minutes=30)
    mesz3 = [t for t in result.trades if t.instrument_id == "MESZ3.CME"]
    assert all(pd.Timestamp(t.opened_at) < last_bar for t in mesz3)


def test_single_contract_and_window(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        "strategy.instrument_id=MESH4.CME",
        "strategy.bar_type=MESH4.CME-1-MINUTE-LAST-EXTERNAL",
        "write_tearsheet=false",
    )
    result = run_backtest(settings, write_files=False)
    assert [c.instrument_id for c in result.contracts] == ["MESH4.CME"]
    assert all(t.instrument_id == "MESH4.CME" for t in result.trades)


def test_missing_catalog_names_the_fix(tmp_path: Path) -> None:
    settings = _settings(tmp_path).replace(catalog=tmp_path / "nowhere")
    with pytest.raises(CatalogError, match="quant-scalper catalog build"):
        run_backtest(settings)


def test_contract_absent_from_catalog(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        "strategy.instrument_id=MESM3.CME",
        "strategy.bar_type=MESM3.CME-1-MINUTE-LAST-EXTERNAL",
    )
    with pytest.raises(CatalogError, match=r"MESM3.CME has no bars .* contracts there: MESZ3.CME"):
        run_backtest(settings)


def test_bar_type_absent_from_catalog(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "strategy.bar_type=MES.CME-5-MINUTE-LAST-EXTERNAL")
    with pytest.raises(CatalogError, match=r"bar type MESZ3.CME-5-MINUTE-LAST-EXTERNAL is not in"):
        run_backtest(settings)


def test_cli_prints_one_line_error_and_exit_code(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "quant_scalper.cli", "backtest", "--set", "strategy.entry_z=0.1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "quant-scalper: error: strategy.entry_z (0.1) must be greater than strategy.exit_z (0.5): "
        "otherwise a position would close on the bar that opened it",
    ]
