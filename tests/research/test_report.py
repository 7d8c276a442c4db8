"""``quant-scalper report``: the gate line by line, and a self-contained HTML + Markdown pair."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml

from quant_scalper.analysis.stats import compute_stats
from quant_scalper.cli import main
from quant_scalper.research.errors import ResearchError
from quant_scalper.research.report import build_report, pre_live_gate
from quant_scalper.research.store import read_results
from tests.research.support import write_spec
from tests.research.test_stats import CAL, TRADES

RANGE = {"start": "2013-10-06T00:00:00Z", "end": "2013-10-10T20:00:00Z"}
POINTS = {"strategy.window": [20, 40], "strategy.entry_z": [2.0, 2.5]}


def test_gate_passes_and_fails_line_by_line() -> None:
    stats = compute_stats(TRADES, Decimal(1000), calendar=CAL, n_trials=1)
    # 2 winners of 5, profit factor 160/100, drawdown 100 on a 1,100 peak.
    gate = {g.name: g for g in pre_live_gate(stats, min_trades=5)}
    assert list(gate) == ["Win rate", "Profit factor", "Max drawdown", "Trades", "Deflated Sharpe"]
    assert not gate["Win rate"].passed and gate["Win rate"].value == "40.0%"
    assert gate["Profit factor"].passed and gate["Profit factor"].value == "1.60"
    assert gate["Max drawdown"].passed  # 100 / 1,100 = 9.1 % < 10 %
    assert gate["Max drawdown"].rule == "< 10 % of a $1,000 account"
    assert (
        gate["Trades"].passed and not {g.name: g for g in pre_live_gate(stats, 6)}["Trades"].passed
    )
    # Edges are strict, and a statistic that could not be computed fails its line.
    edge = replace(stats, win_rate=0.45, profit_factor=1.2, max_drawdown_pct=0.10)
    assert not any(g.passed for g in pre_live_gate(edge, 5)[:3])
    missing = replace(stats, deflated_sharpe=None)
    assert pre_live_gate(missing, 5)[4].value == "n/a" and not pre_live_gate(missing, 5)[4].passed


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("report")
    sweep = write_spec(folder / "sweep.yaml", POINTS, set=RANGE, bootstrap_samples=100)
    wf = folder / "wf.yaml"
    wf.write_text(
        yaml.safe_dump(
            {
                "sweep": str(sweep),
                "train_days": 2,
                "test_days": 1,
                "objective": "net_pnl",
                "min_trades": 1,
                "output": str(folder / "wf"),
            }
        )
    )
    assert main(["sweep", "--config", str(sweep), "--workers", "2", "--no-progress"]) == 0
    assert main(["walk-forward", "--config", str(wf), "--workers", "2", "--no-progress"]) == 0
    return sweep, folder / "wf"


def test_report_is_self_contained_and_complete(inputs: tuple[Path, Path], tmp_path: Path) -> None:
    sweep, wf = inputs
    out = tmp_path / "r" / "report.html"
    args = ["report", "--sweep", str(sweep), "--walk-forward", str(wf), "--out", str(out)]
    assert main([*args, "--min-trades", "10"]) == 0
    page = out.read_text()
    markdown = out.with_suffix(".md").read_text()
    # Opens offline: plotly.js inlined, no external scripts or styles.
    assert "<script src" not in page and "<link" not in page
    assert page.count('class="plotly-graph-div"') >= 5  # equity, drawdown, monthly, heat, oos
    # Every point loses out of sample on these days: no recommendation, and why.
    assert "<h2>No recommendation</h2>" in page and "<h2>Recommended parameters" not in page
    assert "nothing was profitable out of sample" in markdown
    assert "**Pre-live gate: FAIL**" in markdown
    assert "Sharpe (per trading day, annualised)" in markdown
    assert "95 % interval" in markdown and "too few for the Sharpe ratio" in markdown
    assert "trading time" in page  # equity and drawdown on a trading-time axis
    for section in (
        "Pre-live gate",
        "Equity and drawdown",
        "Monthly P&amp;L",
        "Parameter sweep",
        "Walk-forward",
        "Trades",
    ):
        assert f"<h2>{section}</h2>" in page
    # The gate twice (out of sample decides, in sample beside it), five lines each.
    assert page.count("<td>&gt; 45 %</td>") == 2
    assert len(re.findall(r"\| (PASS|FAIL) \|", markdown)) == 10
    assert "(walk-forward out-of-sample trades decides)" in markdown
    assert "| Trades | >= 10 |" in markdown
    # Without a recommendation the base config is backtested for reference: the sweep's base.
    assert "Source: none." in markdown
    assert "the figures below are the base config's, for reference only" in markdown


def test_report_from_a_sweep_alone_where_every_point_loses(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    sweep, _ = inputs
    table = read_results(sweep.parent / "results.parquet")
    assert (table["net_pnl"] <= 0).all()
    html_path, md_path = build_report(sweep_config=sweep, out=tmp_path / "s.html")
    markdown = md_path.read_text()
    assert "Source: none." in markdown and "every one of the 4 sweep points lost" in markdown
    assert "(in-sample backtest decides)" in markdown
    assert "<h2>Walk-forward</h2>" not in html_path.read_text()
    assert re.findall(r"\| (\d{4}-\d{2}) \|", markdown) == ["2013-10"]  # monthly P&L


def _table(net: list[float]) -> pd.DataFrame:
    grid = [(w, e) for w in (20, 40, 60) for e in (1.5, 2.0, 2.5)]
    return pd.DataFrame(
        {
            "point_id": [f"p{i}" for i in range(9)],
            "status": "ok",
            "strategy.window": [w for w, _ in grid],
            "strategy.entry_z": [e for _, e in grid],
            "trades": 100,
            "net_pnl": net,
            "sharpe_ratio": net,
        }
    )


def test_recommendation_flags_edge_of_grid_choices() -> None:
    from quant_scalper.research.select import recommend

    # The best plateau is at window 60 / entry 2.5: both at the edge of the values tried.
    net = [-5.0, -4.0, -3.0, -2.0, 1.0, 2.0, -1.0, 3.0, 9.0]
    choice = recommend(_table(net), "net_pnl", 30)
    assert choice.source == "sweep"
    assert choice.params == {"strategy.window": 60, "strategy.entry_z": 2.5}
    assert len(choice.edge_flags) == 2
    assert "strategy.window = 60 is the highest value tried (20 .. 60)" in choice.edge_flags[0]
    assert all(flag in choice.reasons for flag in choice.edge_flags)
    inner = [-5.0, -4.0, -3.0, -2.0, 9.0, 2.0, -1.0, 3.0, 1.0]
    assert recommend(_table(inner), "net_pnl", 30).edge_flags == []


def test_no_recommendation_when_nothing_is_profitable_out_of_sample() -> None:
    from quant_scalper.research.select import recommend

    walk_forward = {
        "objective": "net_pnl",
        "walk_forward_efficiency": None,
        "stability": {
            "modal_parameters": {"strategy.window": 40},
            "modal_parameters_share": 1.0,
            "windows_with_choice": 3,
        },
        "oos": {"net_pnl": -12.5, "trades": 40},
    }
    profitable_in_sample = _table([1.0] * 9)
    choice = recommend(profitable_in_sample, "net_pnl", 30, walk_forward)
    assert (choice.source, choice.params, choice.recommended) == ("none", {}, False)
    assert "nothing was profitable out of sample" in choice.reasons[0]
    assert "-$12.50 over 40 trades" in choice.reasons[0]
    winning = {**walk_forward, "oos": {"net_pnl": 80.0, "trades": 40}}
    choice = recommend(profitable_in_sample, "net_pnl", 30, winning)
    assert choice.source == "walk-forward" and choice.params == {"strategy.window": 40}
    assert choice.edge_flags == []  # 40 is inside 20 .. 60
    assert recommend(_table([-1.0] * 9), "net_pnl", 30).source == "none"


def test_report_needs_some_input(tmp_path: Path) -> None:
    with pytest.raises(ResearchError, match="nothing to report"):
        build_report(out=tmp_path / "x.html")
    with pytest.raises(ResearchError, match="run `quant-scalper walk-forward`"):
        build_report(walk_forward_dir=tmp_path, out=tmp_path / "x.html")
