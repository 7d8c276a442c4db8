"""One sweep point, run where a worker is: a full Nautilus backtest and its statistics.

``run_point`` is what an executor ships to a worker process (a local process or a Dask
worker). It never raises for a bad point: the error is recorded in the result, so one broken
point does not end a sweep of thousands. Nautilus's ``BacktestNode`` runs configs one after
another in its process, hence one point per call and parallelism across processes.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.config import BacktestSettings

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_INVALID = "invalid"


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to run one point (picklable, no open handles)."""

    point_id: str
    params: Mapping[str, Any]
    settings: BacktestSettings
    return_trades: bool = False
    bootstrap_samples: int = 1000
    seed: int = 0


@dataclass
class PointResult:
    """What one point produced: status, the statistics row and, if asked, its trades."""

    point_id: str
    params: Mapping[str, Any]
    status: str
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    trades: list[ClosedTrade] | None = None
    elapsed_s: float = 0.0
    worker: str = ""


def run_point(task: PointTask) -> PointResult:
    """Run one backtest point and compute its statistics (errors are captured, not raised)."""
    from quant_scalper.analysis.stats import compute_stats
    from quant_scalper.backtest.runner import run_backtest
    from quant_scalper.errors import QuantScalperError

    started = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        outcome = run_backtest(task.settings, write_files=False)
        starting = Decimal(task.settings.venue.starting_balance.split()[0])
        stats = compute_stats(
            outcome.trades,
            starting,
            calendar=outcome.calendar,
            bootstrap_samples=task.bootstrap_samples,
            seed=task.seed,
        )
        row = stats.as_row()
        row["open_positions_at_end"] = len(outcome.open_positions)
        row["risk_trips"] = len(outcome.trips)
        row["day_rolls"] = len(outcome.day_rolls)
        # With flatten_at_end, positions still open at the last bar close there: count them.
        row["closed_at_end"] = 0
        if task.settings.flatten_at_end and outcome.contracts:
            last_bar = datetime.fromisoformat(outcome.contracts[-1].last_bar_ts)
            row["closed_at_end"] = sum(1 for t in outcome.trades if t.closed_at >= last_bar)
        return PointResult(
            point_id=task.point_id,
            params=dict(task.params),
            status=STATUS_OK,
            stats=row,
            trades=list(outcome.trades) if task.return_trades else None,
            elapsed_s=time.perf_counter() - started,
            worker=worker,
        )
    except QuantScalperError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a crash inside one point must not end the sweep
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"
    return PointResult(
        point_id=task.point_id,
        params=dict(task.params),
        status=STATUS_ERROR,
        error=error,
        elapsed_s=time.perf_counter() - started,
        worker=worker,
    )
