"""Walk-forward: window layout, choice on train windows, stitched out-of-sample trades."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from quant_scalper.backtest.runner import run_backtest
from quant_scalper.research.errors import ResearchError, SweepConfigError
from quant_scalper.research.walkforward import (
    WalkForwardResult,
    load_walk_forward_spec,
    make_windows,
    run_walk_forward,
)
from tests.research.support import write_spec

# Four trading days of 2013 (Oct 7-10), two points: 2 x 3 train runs and 3 test runs.
RANGE = {"start": "2013-10-06T00:00:00Z", "end": "2013-10-10T20:00:00Z"}
POINTS = {"strategy.window": [20, 40], "strategy.entry_z": [2.5]}


def _days(n: int) -> list[tuple[date, int, int]]:
    first = date(2013, 10, 7)
    return [(first + timedelta(days=i), i * 100 + 10, i * 100 + 90) for i in range(n)]


def test_rolling_and_anchored_windows() -> None:
    rolling = make_windows(_days(7), train_days=3, test_days=2, step_days=2, mode="rolling")
    assert [(w.train_days[0].day, len(w.train_days), w.test_days[0].day) for w in rolling] == [
        (7, 3, 10),
        (9, 3, 12),
    ]
    anchored = make_windows(_days(7), train_days=3, test_days=2, step_days=2, mode="anchored")
    assert [(w.train_days[0].day, len(w.train_days)) for w in anchored] == [(7, 3), (7, 5)]
    assert rolling[0].test_end.startswith("1970-01-01T00:00:00.000000")  # last bar of the day
    with pytest.raises(ResearchError, match="fewer than train_days"):
        make_windows(_days(3), 3, 1, 1, "rolling")


def _wf_config(folder: Path, **extra: object) -> Path:
    sweep = write_spec(folder / "sweep.yaml", POINTS, set=RANGE, bootstrap_samples=100)
    config = {
        "sweep": str(sweep),
        "train_days": 1,
        "test_days": 1,
        "objective": "net_pnl",
        "min_trades": 1,
        "output": str(folder / "wf"),
        **extra,
    }
    path = folder / "wf.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_daily_objectives_need_several_train_days(tmp_path: Path) -> None:
    with pytest.raises(SweepConfigError, match="train_days >= 2"):
        load_walk_forward_spec(_wf_config(tmp_path, objective="sharpe_ratio"))


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> WalkForwardResult:
    folder = tmp_path_factory.mktemp("wf")
    return run_walk_forward(load_walk_forward_spec(_wf_config(folder)), workers=2, progress=False)


def test_each_window_trades_its_train_winner(result: WalkForwardResult) -> None:
    windows = result.windows
    assert list(windows["test_first_day"]) == ["2013-10-08", "2013-10-09", "2013-10-10"]
    train = result.train_table
    for row in windows.itertuples(index=False):
        candidates = train[train["window"] == row.window]
        assert len(candidates) == 2
        best = candidates.sort_values("net_pnl", ascending=False).iloc[0]
        assert json.loads(row.chosen) == json.loads(best["params"])
        assert row.is_net_pnl == best["net_pnl"]


def test_out_of_sample_is_the_stitched_test_windows(result: WalkForwardResult) -> None:
    windows = result.windows
    assert result.oos_stats.trades == len(result.oos_trades) == windows["oos_trades"].sum()
    assert float(result.oos_stats.net_pnl) == pytest.approx(windows["oos_net_pnl"].sum())
    assert all(
        a.closed_at <= b.closed_at
        for a, b in zip(result.oos_trades, result.oos_trades[1:], strict=False)
    )
    # The last window's test, re-run on its own, gives exactly its stitched trades.
    last = windows.iloc[-1]
    raw = {**result.spec.sweep.base_mapping(), "start": last["test_start"], "end": last["test_end"]}
    settings = result.spec.sweep.settings_for(json.loads(last["chosen"]), raw)
    direct = run_backtest(settings.replace(flatten_at_end=True), write_files=False).trades
    assert len(direct) == last["oos_trades"] > 0
    assert result.oos_trades[-len(direct) :] == direct


def test_efficiency_stability_and_files(result: WalkForwardResult) -> None:
    windows = result.windows
    is_rate = windows["is_net_pnl"].sum() / 3
    oos_rate = windows["oos_net_pnl"].sum() / 3
    expected = oos_rate / is_rate if is_rate > 0 else None
    assert result.efficiency == (pytest.approx(expected) if expected is not None else None)
    stability = result.stability
    assert stability["windows_with_choice"] == 3
    assert stability["parameters"]["strategy.entry_z"]["modal_share"] == 1.0
    chosen_windows = [json.loads(c)["strategy.window"] for c in windows["chosen"]]
    assert stability["parameters"]["strategy.window"]["chosen"] == chosen_windows
    summary = json.loads(result.files["summary"].read_text())
    assert summary["oos"]["trades"] == result.oos_stats.trades
    assert summary["oos_trading_days"] == ["2013-10-08", "2013-10-09", "2013-10-10"]
    assert len(summary["oos_test_ranges"]) == 3
    # The out-of-sample deflated Sharpe counts the configurations each window tried.
    assert summary["oos"]["n_trials"] == 2 == result.oos_stats.n_trials
    assert (windows["oos_open_at_end"] == 0).all() and "oos_closed_at_end" in windows
    assert len(pd.read_parquet(result.files["oos_trades"])) == result.oos_stats.trades


def test_a_position_open_at_a_test_windows_end_closes_at_its_last_bar() -> None:
    """It used to be dropped (counted only in ``oos_open_at_end``): now it closes at market at
    the window's last bar, like a position at a contract roll, and is counted."""
    from quant_scalper.config import load_backtest_settings
    from quant_scalper.research.worker import PointTask, run_point

    settings = load_backtest_settings(
        None,
        [
            "progress=false",
            "write_tearsheet=false",
            "start=2013-10-07T13:00:00Z",
            "end=2013-10-07T14:15:00Z",
        ],
    )
    kept = run_point(PointTask("a", {}, settings, bootstrap_samples=0))
    closed = run_point(
        PointTask("b", {}, settings.replace(flatten_at_end=True), bootstrap_samples=0)
    )
    assert kept.status == closed.status == "ok"
    assert (kept.stats["open_positions_at_end"], kept.stats["closed_at_end"]) == (1, 0)
    assert (closed.stats["open_positions_at_end"], closed.stats["closed_at_end"]) == (0, 1)
    assert closed.stats["trades"] == kept.stats["trades"] + 1


def test_windows_are_built_from_sessions_with_data(tmp_path: Path) -> None:
    """The bundled catalog's 20 trading days with bars are 14 sessions and 6 evening fragments:
    windows count the 14, each fragment riding with the session before it."""
    from quant_scalper.research.walkforward import trading_day_bounds

    sweep = write_spec(tmp_path / "sweep.yaml", POINTS, set={})
    path = tmp_path / "wf.yaml"
    path.write_text(yaml.safe_dump({"sweep": str(sweep), "train_days": 5, "test_days": 2}))
    bounds = trading_day_bounds(load_walk_forward_spec(path))
    days = [d.isoformat() for d, _, _ in bounds]
    assert len(days) == 14
    for fragment in ("2013-10-15", "2013-10-31", "2013-11-19", "2013-12-04", "2013-12-19"):
        assert fragment not in days
    # 2013-12-18's session (to 22:15 UTC) carries the 2013-12-19 evening piece (59 bars from
    # 17:00 Chicago = 23:00 UTC to the end of the LEAN file at midnight).
    _, _, last = bounds[days.index("2013-12-18")]
    assert pd.Timestamp(last, tz="UTC") == pd.Timestamp("2013-12-19T00:00:00Z")
