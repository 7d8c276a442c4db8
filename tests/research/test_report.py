"""``quant-scalper report``: the gate line by line, and a self-contained HTML + Markdown pair."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from quant_scalper.analysis.stats import compute_stats
from quant_scalper.cli import main
from quant_scalper.research.errors import ResearchError
from quant_scalper.research.report import build_report, pre_live_gate
from quant_scalper.research.store import read_results
from tests.research.support import write_spec
from tests.research.test_stats import DAYS, TRADES

RANGE = {"start": "2013-10-06T00:00:00Z", "end": "2013-10-10T20:00:00Z"}
POINTS = {"strategy.window": [20, 40], "strategy.entry_z": [2.0, 2.5]}


def test_gate_passes_and_fails_line_by_line() -> None:
    stats = compute_stats(TRADES, Decimal(1000), trading_days=DAYS, n_trials=1)
    # 2 winners of 5, profit factor 160/100, drawdown 100 on a 1,100 peak.
    gate = {g.name: g for g in pre_live_gate(stats, min_trades=5)}
    assert list(gate) == ["Win rate", "Profit factor", "Max drawdown", "Trades", "Deflated Sharpe"]
    assert not gate["Win rate"].passed and gate["Win rate"].value == "40.0%"
    assert gate["Profit factor"].passed and gate["Profit factor"].value == "1.60"
    assert gate["Max drawdown"].passed  # 100 / 1,100 = 9.1 % < 10 %
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
    for section in (
        "Recommended parameters",
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
    # The recommendation is the walk-forward's modal choice; its full backtest is the sweep's
    # row for the same point (same engine, same data), so the trade table has that many rows.
    params = dict(re.findall(r"\| (strategy\.\w+) \| ([\d.]+) \|", markdown))
    table = read_results(sweep.parent / "results.parquet")
    row = table[
        (table["strategy.window"] == int(params["strategy.window"]))
        & (table["strategy.entry_z"] == float(params["strategy.entry_z"]))
    ].iloc[0]
    trades = page.split("trades of the recommended parameters</summary>")[1].split("</details>")[0]
    assert trades.count("<tr>") == row["trades"] + 1
    assert f"| Net P&L (USD) | {row['net_pnl']:,.2f} |" in markdown
    assert "Source: walk-forward." in markdown


def test_report_from_a_sweep_alone_recommends_its_best_neighbourhood(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    sweep, _ = inputs
    html_path, md_path = build_report(sweep_config=sweep, out=tmp_path / "s.html")
    markdown = md_path.read_text()
    assert "Source: sweep." in markdown and "Best neighbourhood in the sweep" in markdown
    assert "(in-sample backtest decides)" in markdown
    assert "<h2>Walk-forward</h2>" not in html_path.read_text()
    assert re.findall(r"\| (\d{4}-\d{2}) \|", markdown) == ["2013-10"]  # monthly P&L


def test_report_needs_some_input(tmp_path: Path) -> None:
    with pytest.raises(ResearchError, match="nothing to report"):
        build_report(out=tmp_path / "x.html")
    with pytest.raises(ResearchError, match="run `quant-scalper walk-forward`"):
        build_report(walk_forward_dir=tmp_path, out=tmp_path / "x.html")
