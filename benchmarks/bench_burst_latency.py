"""Signal->submit latency under a quote burst vs calm: the real live node against the TWS peer.

Issue 13's target: under the stress burst (quote ticks at >= 5,000 messages/s) the in-process
decision->submit p99 stays within 2x of calm. Two runs of ``benchmarks/soak.py``'s machinery
back to back in one process, same bars, same config, no faults except the burst: a calm run,
then a run with a burst of ``--burst-secs`` every ``--burst-every`` s (the peer streams the
current bid/ask to the node's quote subscription). Each run's node reports its latency
histograms in status.json; the ratio of the two p99s is printed (the machine is shared and
noisy: compare figures measured in one run of this script, never across runs).

    .venv/bin/python benchmarks/bench_burst_latency.py [--minutes 1.5] [--burst-rate 5000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.soak import run_soak

STAGES = ("bar_to_decision", "decision_to_submit", "bar_to_sent")


def _p99(latency: dict[str, Any], stage: str) -> tuple[float | None, int]:
    figures = (latency.get(stage) or {}).get("since_start") or {}
    return figures.get("p99_us"), int(figures.get("count") or 0)


def main() -> int:
    """Run calm, then bursts; print p99 per stage and the burst/calm ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.5, help="wall time of each run")
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--burst-rate", type=float, default=5000.0)
    parser.add_argument("--burst-secs", type=float, default=10.0)
    parser.add_argument("--burst-every", type=float, default=10.0)
    args = parser.parse_args()
    runs = {}
    for name, fault_every in (("calm", 1e9), ("burst", args.burst_every)):
        report = run_soak(
            args.minutes,
            interval=args.interval,
            fault_every=fault_every,
            burst_rate=args.burst_rate,
            burst_secs=args.burst_secs,
            faults=("quote_burst",),
            cycle=True,
            echo=lambda _line: None,
            exec_checks=10.0,
        )
        if report.violations:
            print(f"{name} run: violations {report.violations}")
            return 1
        runs[name] = report
        print(
            f"{name:<5} run: {report.days:.2f} simulated days, "
            f"{sum(report.faults.values())} bursts, {report.burst_messages:,} quote messages"
        )
    for stage in STAGES:
        calm, n_calm = _p99(runs["calm"].latency, stage)
        burst, n_burst = _p99(runs["burst"].latency, stage)
        ratio = f"{burst / calm:.2f}x" if calm and burst else "n/a"
        print(
            f"{stage:<20} p99 calm {calm} us (n={n_calm}), burst {burst} us (n={n_burst}): "
            f"burst/calm {ratio}"
        )
    print("target: decision_to_submit burst/calm <= 2.0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
