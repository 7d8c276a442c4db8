"""Golden outputs of a 12-point sweep and of a walk-forward, canonical (issue 15).

``tests/golden/sweep_12.json`` and ``tests/golden/walkforward.json`` hold them; ``make golden``
regenerates them and ``tests/research/test_research_golden.py`` compares fresh runs, so moving
the strategy's risk rules (daily loss limit, consecutive-loss pause) onto another core cannot
move a figure or a trade unnoticed. Wall times, worker names, paths and fingerprints are dropped;
floats are kept as ``repr`` strings so equality is exact.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.research.spec import load_sweep_spec
from quant_scalper.research.sweep import build_tasks, run_sweep
from quant_scalper.research.walkforward import WalkForwardResult, load_walk_forward_spec
from quant_scalper.research.walkforward import run_walk_forward as _run_walk_forward
from quant_scalper.research.worker import run_point
from tests.research.support import write_spec

REPO = Path(__file__).resolve().parents[1]
SWEEP_GOLDEN = REPO / "tests" / "golden" / "sweep_12.json"
WALKFORWARD_GOLDEN = REPO / "tests" / "golden" / "walkforward.json"
ABOUT = "tests/golden_research.py: `make golden` regenerates; a change must be meant"

# One trading day of 2013 (Oct 7) for the sweep, three (Oct 7-9) for the walk-forward.
SWEEP_RANGE = {"start": "2013-10-06T00:00:00Z", "end": "2013-10-07T20:00:00Z"}
WF_RANGE = {"start": "2013-10-06T00:00:00Z", "end": "2013-10-09T20:00:00Z"}
# Tight risk rules so the daily loss limit and the consecutive-loss pause actually fire.
RISK = {"risk.daily_loss_limit_usd": 60, "risk.max_consecutive_losses": 2}
SWEEP_POINTS = {
    "strategy.window": [20, 40, 60],
    "strategy.entry_z": [2.0, 2.5],
    "strategy.exit_z": [0.0, 0.5],
}
WF_POINTS = {"strategy.window": [20, 40], "strategy.entry_z": [2.5]}
WORKERS = 2
# Per-run bookkeeping: not results.
DROPPED = {"base_fingerprint", "elapsed_s", "worker", "finished_at"}
TRADE_COLUMNS = [
    "instrument_id",
    "side",
    "quantity",
    "opened_at",
    "closed_at",
    "entry_price",
    "exit_price",
    "net_pnl",
    "fees",
]


def canonical(value: Any) -> Any:
    """A JSON-safe copy with floats as repr strings (exact), Decimals as str, NaN as "nan"."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item") and not isinstance(value, (Decimal,)):  # numpy scalar
        return canonical(value.item())
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


def trade_rows(trades: Sequence[ClosedTrade]) -> list[list[str]]:
    """Every closed trade as strings, in the columns of ``TRADE_COLUMNS``."""
    return [
        [
            t.instrument_id,
            t.side,
            str(t.quantity),
            t.opened_at.isoformat(),
            t.closed_at.isoformat(),
            str(t.entry_price),
            str(t.exit_price),
            str(t.realized_pnl),
            str(t.fees),
        ]
        for t in trades
    ]


def _sha(rows: Any) -> str:
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def sweep_golden(folder: Path) -> dict[str, Any]:
    """Run the 12-point sweep (``run_sweep``, 2 local workers) and its trades; canonical record."""
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = write_spec(
        folder / "sweep.yaml",
        SWEEP_POINTS,
        set={**SWEEP_RANGE, **RISK},
        bootstrap_samples=100,
    )
    spec = load_sweep_spec(spec_path)
    run = run_sweep(spec, workers=WORKERS, fresh=True, progress=False)
    rows = {}
    for record in run.table.to_dict(orient="records"):
        rows[record["point_id"]] = {k: v for k, v in record.items() if k not in DROPPED}
    # The table keeps no trades: re-run each point in-process for its trade list.
    tasks, _, _ = build_tasks(spec, spec.points(), spec.base_mapping(), return_trades=True)
    points = []
    for task in tasks:
        result = run_point(task)
        trades = trade_rows(result.trades or [])
        points.append(
            {
                "params": canonical(task.params),
                "row": canonical(rows[task.point_id]),
                "trades": len(trades),
                "trades_sha256": _sha(trades),
            }
        )
    return {
        "about": ABOUT,
        "range": SWEEP_RANGE,
        "set": RISK,
        "summary": canonical(
            {
                "points": run.points,
                "ran": run.ran,
                "skipped": run.skipped,
                "invalid": run.invalid,
                "failed": run.failed,
                "trials": run.trials,
            }
        ),
        "points": points,
    }


def walkforward_golden(folder: Path) -> dict[str, Any]:
    """Run the walk-forward (1 train day, 1 test day, 2 workers); canonical record."""
    result = run_walk_forward(folder)
    summary = json.loads(result.files["summary"].read_text())
    train = [
        {k: v for k, v in r.items() if k not in DROPPED}
        for r in result.train_table.to_dict(orient="records")
    ]
    train.sort(key=lambda r: (int(r["window"]), str(r["point_id"])))
    return {
        "about": ABOUT,
        "range": WF_RANGE,
        "set": RISK,
        "windows": canonical(result.windows.to_dict(orient="records")),
        "train": canonical(train),
        "oos_stats": canonical(result.oos_stats.as_row()),
        "efficiency": canonical(result.efficiency),
        "stability": canonical(result.stability),
        "oos_days": [d.isoformat() for d in result.oos_days],
        "summary": canonical(summary),
        "trade_columns": TRADE_COLUMNS,
        "oos_trades": trade_rows(result.oos_trades),
    }


def run_walk_forward(folder: Path) -> WalkForwardResult:
    """The golden walk-forward's result (outputs written under ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    sweep = write_spec(
        folder / "wf_sweep.yaml", WF_POINTS, set={**WF_RANGE, **RISK}, bootstrap_samples=100
    )
    config = {
        "sweep": str(sweep),
        "train_days": 1,
        "test_days": 1,
        "objective": "net_pnl",
        "min_trades": 1,
        "output": str(folder / "wf"),
    }
    path = folder / "wf.yaml"
    path.write_text(yaml.safe_dump(config))
    return _run_walk_forward(load_walk_forward_spec(path), workers=WORKERS, progress=False)


def dump(golden: Mapping[str, Any]) -> str:
    """The file text of a golden record (stable key order and layout)."""
    return json.dumps(golden, indent=1, sort_keys=True) + "\n"


def main() -> int:
    """Regenerate both golden files from fresh runs."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        sweep = sweep_golden(Path(tmp) / "sweep")
        middle = time.perf_counter()
        walkforward = walkforward_golden(Path(tmp) / "wf")
        ended = time.perf_counter()
    print(f"sweep {middle - started:.1f} s, walk-forward {ended - middle:.1f} s")
    SWEEP_GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    SWEEP_GOLDEN.write_text(dump(sweep))
    WALKFORWARD_GOLDEN.write_text(dump(walkforward))
    trades = sum(p["trades"] for p in sweep["points"])
    print(f"wrote {SWEEP_GOLDEN}: {len(sweep['points'])} points, {trades} trades")
    print(f"wrote {WALKFORWARD_GOLDEN}: {len(walkforward['oos_trades'])} out-of-sample trades")
    return 0


if __name__ == "__main__":
    sys.exit(main())
