"""A short soak (benchmarks/soak.py): the real node vs the peer, faults in turn, invariants.

About 45 s of accelerated real MES bars (a bar every 20 ms) with a gateway restart, a node
SIGKILL (mid-position when there is one) restarted by the supervisor, 1100/1102, a spell of
order rejects and a quote burst: no crash, no hang, no duplicate order, positions and the day's
P&L equal to the peer's.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import format_report, run_soak


def test_short_soak_survives_every_fault_kind(tmp_path: Path) -> None:
    report = run_soak(
        minutes=0.75,
        interval=0.02,
        fault_every=7.0,
        outage=3.0,
        burst_secs=3.0,
        folder=tmp_path,
        faults=("gateway_restart", "node_kill", "1100_1102", "rejects", "quote_burst"),
        cycle=True,
        echo=lambda _line: None,
    )
    text = format_report(report)
    assert report.violations == [], text
    assert sum(report.faults.values()) >= 4, text
    assert report.faults["node_kill"] == 1 and report.restarts >= 1, text
    assert report.crashes == 0 and report.hangs == 0 and report.duplicates == 0, text
    assert report.position_checks > 5 and report.fills > 0, text
    assert report.latency.get("decision_to_submit", {}).get("since_start", {}).get("count"), text
