"""The default backtest on the bundled catalog, end to end, checked independently with pandas."""

from __future__ import annotations

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
def outcome(tmp_path_factory: pytest.TempPathFactory) -> BacktestOutcome:
    return run_backtest(_settings(tmp_path_factory.mktemp("bt")))


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
    nautilus = outcome.nautilus_stats["Win Rate (USD)"]
    assert outcome.summary.win_rate == pytest.approx(nautilus, abs=1e-9)


def test_entries_match_independent_pandas_zscores(outcome: BacktestOutcome) -> None:
    """Every entry happens on a bar whose pandas z-score is beyond entry_z, on the right side,
    and each contract's first entry is on its first bar beyond the threshold (flat at start)."""
    window, entry_z = 20, 2.0
    catalog = ParquetDataCatalog(str(REPO / "catalog"))
    for contract in outcome.contracts:
        bars = catalog.bars(bar_types=[contract.bar_type])
        closes = pd.Series(
            [b.close.as_double() for b in bars],
            index=pd.DatetimeIndex([pd.Timestamp(b.ts_event, tz="UTC") for b in bars]),
        )
        z = (closes - closes.rolling(window).mean()) / closes.rolling(window).std(ddof=1)
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
