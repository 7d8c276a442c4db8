"""``quant-scalper sweep``: every point of a parameter space as a full Nautilus backtest.

The sweep builds each point's settings in this process (so invalid points are caught before
any work is shipped), skips points already in the results table, submits the rest to an
Executor (local processes or Dask, see ``executor``), and records each result as it arrives,
with a progress bar. When every point is in, the deflated Sharpe of each row is computed with
the number of points actually tried and the spread of their Sharpe ratios, so the table itself
says how much of the best Sharpe is luck.

Optionally (``prescreen.top`` or ``--prescreen-top``) the Rust pre-screen ranks every point
first and only the best ``top`` are run in Nautilus; the deflated Sharpe then still counts
every point the pre-screen looked at, since that is how many were tried, and takes the spread
of the trials' Sharpe ratios from the pre-screen's Sharpes of all of them (the same definition
and implementation, ``analysis.stats.sharpe_ratios``), not from the ``top`` survivors alone,
whose spread is narrower and would lower the bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from quant_scalper.analysis.stats import HIGHER_IS_BETTER, deflated_sharpe_from_moments
from quant_scalper.errors import ConfigError
from quant_scalper.research.executor import open_executor, run_all
from quant_scalper.research.spec import SweepSpec, check_objective, point_id, settings_fingerprint
from quant_scalper.research.store import ResultStore
from quant_scalper.research.worker import (
    STATUS_INVALID,
    STATUS_OK,
    PointResult,
    PointTask,
    run_point,
)


@dataclass
class SweepRun:
    """What a sweep did: the full table and how many points ran, were skipped or failed."""

    table: pd.DataFrame
    path: Path
    points: int
    ran: int
    skipped: int
    invalid: int
    failed: int
    trials: int
    elapsed_s: float


def run_sweep(
    spec: SweepSpec,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    prescreen_top: int | None = None,
) -> SweepRun:
    """Run (or resume) the sweep of ``spec`` and write its Parquet table to ``spec.output``."""
    started = time.perf_counter()
    base_raw = spec.base_mapping()
    base = spec.base_settings()
    points = spec.points()
    top = prescreen_top if prescreen_top is not None else spec.prescreen_top
    screened: int | None = None
    screened_sharpes: list[float] | None = None
    if top is not None:
        from quant_scalper.research.prescreen import prescreen_points

        ranked = prescreen_points(spec, points, base_raw)
        screened = len(ranked)
        screened_sharpes = [float(s) for s in ranked["sharpe_ratio"] if pd.notna(s)]
        points = [dict(p) for p in ranked.head(top)["params"]]
    store = ResultStore(
        spec.output, settings_fingerprint(base), [p.key for p in spec.parameters], fresh
    )
    tasks, skipped, invalid = build_tasks(
        spec, points, base_raw, done=store.done(), on_invalid=store.add
    )
    failed = 0
    with tqdm(
        total=len(points),
        initial=skipped + invalid,
        desc="sweep",
        unit="pt",
        disable=None if progress else True,
    ) as bar:
        try:
            with open_executor(scheduler, workers or spec.workers) as executor:
                for result in run_all(executor, run_point, tasks):
                    store.add(result)
                    failed += result.status != STATUS_OK
                    bar.update(1)
                    store.flush_if_due()
        finally:
            trials = deflate(store, screened, screened_sharpes)
            store.flush()
    return SweepRun(
        table=store.frame(),
        path=spec.output,
        points=len(points),
        ran=len(tasks),
        skipped=skipped,
        invalid=invalid,
        failed=failed,
        trials=trials,
        elapsed_s=time.perf_counter() - started,
    )


def build_tasks(
    spec: SweepSpec,
    points: Iterable[Mapping[str, Any]],
    base_raw: Mapping[str, Any],
    *,
    done: AbstractSet[str] = frozenset(),
    on_invalid: Callable[[PointResult], None] | None = None,
    return_trades: bool = False,
) -> tuple[list[PointTask], int, int]:
    """Tasks for the points not in ``done``; invalid points go to ``on_invalid``.

    Returns (tasks, skipped, invalid).
    """
    tasks: list[PointTask] = []
    skipped = invalid = 0
    for point in points:
        pid = point_id(point)
        if pid in done:
            skipped += 1
            continue
        try:
            settings = spec.settings_for(point, base_raw)
        except ConfigError as exc:
            invalid += 1
            if on_invalid is not None:
                on_invalid(PointResult(pid, dict(point), STATUS_INVALID, error=str(exc)))
            continue
        tasks.append(
            PointTask(
                point_id=pid,
                params=dict(point),
                settings=settings,
                return_trades=return_trades,
                bootstrap_samples=spec.bootstrap_samples,
                seed=spec.seed,
            )
        )
    return tasks, skipped, invalid


def deflate(
    store: ResultStore,
    screened: int | None = None,
    screened_sharpes: Sequence[float] | None = None,
) -> int:
    """Set ``n_trials``, ``deflated_sharpe`` and its probability on every finished row.

    The number of trials is every valid point tried: the pre-screened count when the
    pre-screen chose the points, else the table's points that are not invalid. The trials'
    Sharpe spread comes from ``screened_sharpes`` (the pre-screen's, every trial) when given,
    else from the table's rows. Returns the number of trials.
    """
    frame = store.frame()
    tried = int((frame["status"] != STATUS_INVALID).sum()) if not frame.empty else 0
    n_trials = max(screened or 0, tried, 1)
    if frame.empty or "sharpe_ratio" not in frame.columns:
        return n_trials
    ok = frame[frame["status"] == STATUS_OK]
    sharpes = (
        list(screened_sharpes)
        if screened_sharpes
        else [float(s) for s in ok["sharpe_ratio"] if pd.notna(s)]
    )
    deflated: dict[str, Any] = {}
    probability: dict[str, Any] = {}
    for row in ok.to_dict(orient="records"):
        d, p = deflated_sharpe_from_moments(
            _num(row.get("sharpe_ratio")),
            int(row.get("trading_days") or 0),
            _num(row.get("returns_skewness")),
            _num(row.get("returns_kurtosis")),
            n_trials,
            sharpes,
        )
        deflated[row["point_id"]] = d
        probability[row["point_id"]] = p
    store.update_column("n_trials", dict.fromkeys(ok["point_id"], n_trials))
    store.update_column("deflated_sharpe", deflated)
    store.update_column("deflated_sharpe_probability", probability)
    return n_trials


def rank(table: pd.DataFrame, objective: str, min_trades: int = 0) -> pd.DataFrame:
    """Finished points with at least ``min_trades`` trades, best ``objective`` first."""
    check_objective(objective)
    ok = table[(table["status"] == STATUS_OK) & (table["trades"] >= min_trades)]
    ok = ok[ok[objective].notna()]
    return ok.sort_values(objective, ascending=not HIGHER_IS_BETTER[objective], kind="stable")


# The statistics shown beside the parameters wherever the best points are listed.
TOP_COLUMNS = (
    "trades",
    "net_pnl",
    "win_rate",
    "profit_factor",
    "sharpe_ratio",
    "sharpe_ci_low",
    "sharpe_ci_high",
    "trading_days",
    "deflated_sharpe",
    "max_drawdown_pct",
)


def parameter_columns(table: pd.DataFrame) -> list[str]:
    """The swept parameters' columns of a results table (the dotted keys)."""
    return [c for c in table.columns if "." in c]


def format_top(table: pd.DataFrame, objective: str, min_trades: int, n: int = 10) -> str:
    """The best ``n`` points as an aligned text table for the terminal."""
    ranked = rank(table, objective, min_trades).head(n)
    if ranked.empty:
        return f"no point has at least {min_trades} trades and a {objective}"
    columns = [*parameter_columns(table), *TOP_COLUMNS]
    if objective not in columns:
        columns.append(objective)
    shown = ranked[[c for c in columns if c in ranked.columns]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _num(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return float(value)
