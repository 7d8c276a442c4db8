"""Sweeps: spec parsing, grid/random points, Parquet results, resuming, local and Dask runs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from quant_scalper.analysis.stats import compute_stats
from quant_scalper.backtest.runner import run_backtest
from quant_scalper.cli import main
from quant_scalper.research.data import catalog_calendar
from quant_scalper.research.errors import ResultsMismatchError, SweepConfigError
from quant_scalper.research.heatmap import heatmap_table, write_heatmap
from quant_scalper.research.spec import load_sweep_spec, point_id
from quant_scalper.research.sweep import rank, run_sweep
from tests.research.support import dask_cluster, write_spec

GRID = {"strategy.window": [20, 40], "strategy.entry_z": [2.0, 0.4]}  # entry_z 0.4 <= exit_z


def test_grid_points_in_order_with_stable_ids(tmp_path: Path) -> None:
    spec = load_sweep_spec(write_spec(tmp_path / "s.yaml", GRID))
    points = spec.points()
    assert points == [
        {"strategy.window": 20, "strategy.entry_z": 2.0},
        {"strategy.window": 20, "strategy.entry_z": 0.4},
        {"strategy.window": 40, "strategy.entry_z": 2.0},
        {"strategy.window": 40, "strategy.entry_z": 0.4},
    ]
    assert point_id({"a.b": 2.0, "c.d": 1}) == point_id({"c.d": 1.0, "a.b": 2})
    ranged = load_sweep_spec(
        write_spec(
            tmp_path / "r.yaml", {"strategy.entry_z": {"low": 1.5, "high": 2.5, "step": 0.5}}
        )
    )
    assert [p["strategy.entry_z"] for p in ranged.points()] == [1.5, 2.0, 2.5]


def test_random_search_is_seeded(tmp_path: Path) -> None:
    params = {
        "strategy.window": {"low": 10, "high": 100},
        "strategy.entry_z": {"low": 1.5, "high": 3.0},
        "strategy.stop_loss_usd_per_contract": {"low": 50, "high": 400, "log": True},
    }

    def points(seed: int) -> list[dict]:
        path = write_spec(
            tmp_path / f"{seed}.yaml",
            params,
            search={"method": "random", "samples": 12, "seed": seed},
        )
        return load_sweep_spec(path).points()

    first = points(7)
    assert len(first) == 12 and first == points(7) and first != points(8)
    assert all(
        isinstance(p["strategy.window"], int) and 10 <= p["strategy.window"] <= 100 for p in first
    )


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"strategy.entry_zz": [1]}, "did you mean 'entry_z'"),
        ({"strategy.instrument_id": ["ES.CME"]}, "cannot be swept"),
        ({"entry_z": [1]}, "dotted key"),
        ({"strategy.window": []}, "empty list"),
        ({"strategy.window": {"low": 5, "high": 1}}, "above high"),
    ],
)
def test_bad_parameters_are_named(tmp_path: Path, parameters: dict, message: str) -> None:
    with pytest.raises(SweepConfigError, match=message):
        load_sweep_spec(write_spec(tmp_path / "s.yaml", parameters))


def test_objective_must_be_a_statistic(tmp_path: Path) -> None:
    with pytest.raises(SweepConfigError, match="sharpe_ratio"):
        load_sweep_spec(write_spec(tmp_path / "s.yaml", GRID, objective="sharp"))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("sweep")
    config = write_spec(folder / "sweep.yaml", GRID)
    code = main(["sweep", "--config", str(config), "--workers", "2", "--no-progress"])
    assert code == 0
    return config, pd.read_parquet(folder / "results.parquet")


def test_sweep_writes_one_row_per_point(local_run: tuple[Path, pd.DataFrame]) -> None:
    _, table = local_run
    assert len(table) == 4
    assert sorted(table["status"]) == ["invalid", "invalid", "ok", "ok"]
    invalid = table[table["status"] == "invalid"]
    assert invalid["error"].str.contains("must be greater than strategy.exit_z").all()
    ok = table[table["status"] == "ok"]
    for column in (
        "trades",
        "sharpe_ratio",
        "profit_factor",
        "max_drawdown_usd",
        "deflated_sharpe_probability",
        "bootstrap_dd_p95_usd",
        "long_trades",
    ):
        assert column in table.columns
    assert (ok["n_trials"] == 2).all()
    assert ok["worker"].nunique() >= 1 and (ok["elapsed_s"] > 0).all()
    assert list(rank(table, "net_pnl")["net_pnl"]) == sorted(ok["net_pnl"], reverse=True)


def test_sweep_row_is_the_backtest_and_the_shared_stats(
    local_run: tuple[Path, pd.DataFrame],
) -> None:
    config, table = local_run
    spec = load_sweep_spec(config)
    point = {"strategy.window": 40, "strategy.entry_z": 2.0}
    settings = spec.settings_for(point)
    outcome = run_backtest(settings, write_files=False)
    stats = compute_stats(
        outcome.trades,
        Decimal(settings.venue.starting_balance.split()[0]),
        calendar=catalog_calendar(settings),
        bootstrap_samples=200,
        seed=0,
    ).as_row()
    row = table.set_index("point_id").loc[point_id(point)]
    assert row["trades"] == outcome.summary.trades == stats["trades"]
    for key in ("net_pnl", "sharpe_ratio", "win_rate", "max_drawdown_pct", "bootstrap_dd_p95_usd"):
        if stats[key] is None:  # one trading day: no Sharpe ratio
            assert pd.isna(row[key]), key
        else:
            assert row[key] == pytest.approx(stats[key], rel=1e-12), key


def test_resume_skips_finished_points_and_refuses_another_base(
    local_run: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    config, table = local_run
    spec = load_sweep_spec(config)
    again = run_sweep(spec, workers=1, progress=False)
    assert (again.ran, again.skipped, again.invalid) == (0, 4, 0)
    pd.testing.assert_frame_equal(
        again.table.drop(columns=["finished_at"]).sort_values("point_id").reset_index(drop=True),
        table.drop(columns=["finished_at"]).sort_values("point_id").reset_index(drop=True),
        check_dtype=False,
    )
    other = load_sweep_spec(config, ["strategy.exit_z=0.25"])
    with pytest.raises(ResultsMismatchError, match="--fresh"):
        run_sweep(other, workers=1, progress=False)


def test_heatmap_html(local_run: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    _, table = local_run
    # One session (2020-01-06, its evening fragment folded in): no Sharpe ratio is defined.
    ok = table[table["status"] == "ok"]
    assert (ok["trading_days"] == 1).all() and ok["sharpe_ratio"].isna().all()
    values, counts = heatmap_table(table, "strategy.entry_z", "strategy.window", "net_pnl")
    assert values.shape == (2, 1) and (counts == 1).all().all()
    out = write_heatmap(
        table, tmp_path / "h.html", "strategy.entry_z", "strategy.window", "net_pnl"
    )
    text = out.read_text()
    assert "plotly" in text and "net_pnl" in text and len(text) > 1_000_000  # js inlined


def test_dask_scheduler_gives_the_same_table(
    local_run: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    config, local = local_run
    spec = load_sweep_spec(config, output=tmp_path / "dask.parquet")
    with dask_cluster(workers=2) as address:
        run = run_sweep(spec, scheduler=address, progress=False)
    assert run.ran == 2 and run.failed == 0
    columns = ["point_id", "status", "trades", "net_pnl", "sharpe_ratio", "deflated_sharpe"]
    pd.testing.assert_frame_equal(
        run.table[columns].sort_values("point_id").reset_index(drop=True),
        local[columns].sort_values("point_id").reset_index(drop=True),
    )
    assert run.table[run.table["status"] == "ok"]["worker"].str.contains(":").all()
