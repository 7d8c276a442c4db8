"""Shared helpers of the research tests: short date ranges and tiny specs keep them fast."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
BACKTEST_CONFIG = REPO / "configs" / "backtest.yaml"
DASK = Path(sys.executable).with_name("dask")

# The 2020 contract only: two days, ~1,400 bars, a backtest takes well under a second.
SHORT_RANGE = {"start": "2020-01-05T00:00:00Z"}

# Risk rules that never fire on the bundled data (for parity with the pre-screen).
RULES_ONLY = {
    "risk.daily_loss_limit_usd": 1_000_000,
    "risk.max_consecutive_losses": 1_000_000,
    "risk.pause_minutes": 0,
    "risk.max_holding_minutes": None,
    "risk.entry_guard_minutes": 0,
    "risk.flatten_before_halt": False,
    "risk.session_breaks": [],
    "risk.session_halt": "16:59",
}


def write_spec(path: Path, parameters: dict, **extra: object) -> Path:
    """Write a sweep YAML over the default backtest config."""
    spec = {
        "backtest": str(BACKTEST_CONFIG),
        "set": dict(SHORT_RANGE),
        "parameters": parameters,
        "min_trades": 1,
        "bootstrap_samples": 200,
        "output": str(path.parent / "results.parquet"),
        **extra,
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def dask_cluster(workers: int = 2, timeout_s: float = 60.0) -> Iterator[str]:
    """A real Dask scheduler and ``workers`` worker processes on 127.0.0.1 (torn down after)."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen] = []
    try:
        scheduler = subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(scheduler)
        wait_for_port(port, timeout_s, scheduler, "the Dask scheduler")
        procs.append(
            subprocess.Popen(
                [
                    str(DASK),
                    "worker",
                    address,
                    "--nworkers",
                    str(workers),
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                    "--death-timeout",
                    "30",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        with Client(address, timeout=timeout_s) as client:
            client.wait_for_workers(workers, timeout=timeout_s)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
