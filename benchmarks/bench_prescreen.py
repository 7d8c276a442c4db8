"""Benchmark: the Rust pre-screen on a year of 1-minute bars and a 10,000-point grid.

The bundled catalog's bars and quote ticks (three contracts, ~19,000 bars, ~77,000 quotes) are
replicated end to end, shifted in time, to ~350,000 bars (one year of the ~23 h Globex session)
with their quotes (~1.4 million). The grid is 10 windows x 10 entry_z x 4 exit_z x 5 stops x
5 targets = 10,000 points, so each window's z-scores are shared by 1,000 points; the circuit
breakers are on as in configs/backtest.yaml. Measured in this one run: all cores, one thread
(their ratio), and ``ticks`` vs ``stop_first``.

Issue target: the 10,000-point grid in under 60 s on the 2-core machine.

Run: ``.venv/bin/python benchmarks/bench_prescreen.py`` (``--check`` exits 1 if the target is
missed; ``--points N`` for a smaller grid). ``--baseline DIR`` also runs the same grid, in the
same run, on another source tree with its built extension (e.g. main exported to a temp folder,
``quant_scalper/_core.abi3.so`` built there): it prints both timings, their ratio, and whether
the two builds' per-point results are identical.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from quant_scalper.config import load_backtest_settings
from quant_scalper.research.prescreen import load_market, screen, sim_costs, sim_point

TARGET_BARS = 350_000
TARGET_S = 60.0
WINDOWS = (10, 15, 20, 30, 40, 60, 80, 120, 160, 240)
ENTRY_Z = (1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.5, 4.0)
EXIT_Z = (0.0, 0.25, 0.5, 1.0)
STOPS = (0.5, 1.0, 2.0, 5.0, 40.0)  # points (MES: $2.50 .. $200 per contract)
TARGETS = (0.5, 1.0, 2.0, 5.0, 60.0)


def main() -> int:
    """Run the benchmark and print its figures; exit 1 with --check if the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    parser.add_argument("--points", type=int, default=10_000, help="grid size (a prefix)")
    parser.add_argument("--baseline", type=Path, help="source tree of a baseline build")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # baseline -> parent
    args = parser.parse_args()
    baseline = _run_baseline(args.baseline, args.points) if args.baseline else None

    settings = load_backtest_settings(None, []).replace(progress=False)
    base = load_market(settings)
    times = -(-TARGET_BARS // len(base.bar_ts))
    market = base.replicate(times)
    point = sim_point(settings, base)
    grid = [
        replace(point, window=w, entry_z=e, exit_z=x, stop=s, target=t)
        for w, e, x, s, t in itertools.product(WINDOWS, ENTRY_Z, EXIT_Z, STOPS, TARGETS)
    ][: args.points]
    costs = sim_costs(settings, base)
    print(f"load average: {os.getloadavg()[0]:.2f} (other processes share these cores)")
    print(
        f"market: {len(market.bar_ts):,} bars, {len(market.quote_ts):,} quotes "
        f"({times} x the bundled catalog), {len(market.day_open_ns)} trading days; "
        f"grid: {len(grid):,} points, {len(set(p.window for p in grid))} windows; "
        f"{os.cpu_count()} cores"
    )
    figures: dict[str, float] = {}
    cpu: dict[str, float] = {}
    digests: dict[str, str] = {}
    for label, intrabar, threads in (
        ("stop_first, all cores", "stop_first", 0),
        ("ticks, all cores", "ticks", 0),
        ("stop_first, 1 thread", "stop_first", 1),
    ):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = screen(market, grid, costs, intrabar=intrabar, threads=threads)
        elapsed = time.perf_counter() - started
        figures[label] = elapsed
        cpu[label] = time.process_time() - cpu_started
        digests[label] = _digest(result)
        print(
            f"{label:24s} {elapsed:7.2f} s  {len(grid) / elapsed:9,.0f} points/s  "
            f"{len(grid) * len(market.bar_ts) / elapsed / 1e6:8.0f} M point-bars/s  "
            f"(median trades/point {int(result['trades'].median()):,})"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"figures": figures, "cpu": cpu, "digests": digests}))
        return 0
    if baseline is not None:
        print(
            f"\nbaseline {args.baseline} (same grid, same run) vs this build; wall time, and "
            "CPU time (less disturbed by other processes on the cores):"
        )
        for label, elapsed in figures.items():
            old, old_cpu = baseline["figures"][label], baseline["cpu"][label]
            same = "identical" if baseline["digests"][label] == digests[label] else "DIFFERENT"
            print(
                f"{label:24s} baseline {old:7.2f} s  this {elapsed:7.2f} s  "
                f"ratio this/baseline {elapsed / old:5.3f}  (CPU {old_cpu:6.1f} s vs "
                f"{cpu[label]:6.1f} s, ratio {cpu[label] / old_cpu:5.3f})  results {same}"
            )
    best = figures["stop_first, all cores"]
    print(
        f"\nall cores vs 1 thread: {figures['stop_first, 1 thread'] / best:.2f}x; "
        f"ticks vs stop_first: {figures['ticks, all cores'] / best:.2f}x the time"
    )
    scaled = best * 10_000 / len(grid)
    ok = scaled < TARGET_S
    print(
        f"target: 10,000 points < {TARGET_S:.0f} s -> {scaled:.1f} s: {'MET' if ok else 'MISSED'}"
    )
    return 0 if ok or not args.check else 1


def _digest(result: object) -> str:
    """A hash of every per-point statistic, to tell whether two builds agree exactly."""
    frame = result[sorted(c for c in result.columns if c != "sharpe_ratio")]  # type: ignore[index]
    return hashlib.sha256(frame.to_numpy(dtype="float64").tobytes()).hexdigest()


def _run_baseline(tree: Path, points: int) -> dict:
    """Run this benchmark with ``tree``'s quant_scalper (and its extension) first on the path."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "baseline.json"
        env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
        command = [sys.executable, "-P", __file__, "--points", str(points), "--json", str(out)]
        print(f"baseline: running {tree} ...", flush=True)
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


if __name__ == "__main__":
    sys.exit(main())
