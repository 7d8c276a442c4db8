"""Benchmark: Nautilus-path sweep throughput (points per minute) on 1 and 2 local workers.

Every point is a full Nautilus backtest (``quant-scalper sweep``'s code path: spawned worker
processes, statistics, Parquet results). The grid is 12 points (3 windows x 4 entry_z) on three
trading days of the bundled catalog (2013-10-07..09), run fresh with 1 worker then 2 workers,
twice in alternation; the best run of each is kept and their ratio printed. Wall time includes
starting the worker processes (each imports Nautilus), as a user's sweep pays it.

Issue target: 2 workers >= 1.7x the points per minute of 1 worker.

Run: ``.venv/bin/python benchmarks/bench_sweep.py`` (``--check`` exits 1 if the target is
missed; ``--rounds 1`` for a quicker single pass).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from quant_scalper.config import REPO_ROOT
from quant_scalper.research.spec import load_sweep_spec
from quant_scalper.research.sweep import run_sweep

TARGET_RATIO = 1.7
GRID = {"strategy.window": [20, 30, 40], "strategy.entry_z": [1.5, 2.0, 2.5, 3.0]}


def _spec_file(folder: Path, workers: int) -> Path:
    path = folder / f"sweep_{workers}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "backtest": str(REPO_ROOT / "configs" / "backtest.yaml"),
                "set": {},
                "parameters": GRID,
                "min_trades": 1,
                "bootstrap_samples": 200,
                "output": str(folder / f"results_{workers}.parquet"),
            }
        )
    )
    return path


def _run(folder: Path, workers: int) -> tuple[float, float]:
    """One fresh sweep; returns (wall seconds, mean seconds per point inside the workers)."""
    spec = load_sweep_spec(_spec_file(folder, workers))
    started = time.perf_counter()
    run = run_sweep(spec, workers=workers, fresh=True, progress=False)
    wall = time.perf_counter() - started
    if run.failed or run.ran != len(spec.points()):
        raise RuntimeError(f"sweep with {workers} workers: {run.failed} failed of {run.ran}")
    return wall, float(run.table["elapsed_s"].mean())


def main() -> int:
    """Run the benchmark and print its figures; exit 1 with --check if the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (best kept)")
    args = parser.parse_args()
    points = len(GRID["strategy.window"]) * len(GRID["strategy.entry_z"])
    print(
        f"{points} points x full Nautilus backtests of the bundled catalog; "
        f"{os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.2f}"
    )
    best: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        for round_ in range(args.rounds):
            for workers in (1, 2):
                wall, per_point = _run(Path(tmp), workers)
                print(
                    f"round {round_ + 1}, {workers} worker(s): {wall:6.1f} s wall, "
                    f"{points / wall * 60:6.1f} points/min, {per_point:.2f} s per point in a worker"
                )
                if workers not in best or wall < best[workers][0]:
                    best[workers] = (wall, per_point)
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes share these cores)")
    rate = {w: points / best[w][0] * 60 for w in best}
    ratio = rate[2] / rate[1]
    print(
        f"\nbest: 1 worker {rate[1]:.1f} points/min, 2 workers {rate[2]:.1f} points/min: "
        f"{ratio:.2f}x (target >= {TARGET_RATIO}x: {'MET' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    return 0 if ratio >= TARGET_RATIO or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
