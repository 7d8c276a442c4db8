"""Run ``quant-scalper live`` as a subprocess against the TWS peer, and observe it.

The node is a real process (SIGKILL is a real crash), configured by a YAML written per test:
the peer's port, a tmp ``state_dir``, a fast strategy (small window, low entry z) and an
always-open session (the wall clock may be a weekend). The test reads what the node believes
from ``<state_dir>/<trader_id>/status.json`` (the status actor) and its log, and what IB
"has" from the peer's snapshot.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TRADER_ID = "QS-TEST-001"
ACCOUNT = "DU1234567"
CLIENT_ID = 11


def write_config(tmp: Path, port: int, **sections: dict[str, Any]) -> Path:
    """A live config for the peer on ``port``; ``sections`` override keys per section."""
    config: dict[str, Any] = {
        "trader_id": TRADER_ID,
        "ib": {
            "host": "127.0.0.1",
            "port": port,
            "client_id": CLIENT_ID,
            "account_id": "${IB_ACCOUNT_ID}",
            "trading_mode": "paper",
            "probe_timeout_secs": 3,
            "connection_timeout_secs": 20,
            "request_timeout_secs": 10,
            "build_timeout_secs": 30,
        },
        # Pinned to today's front month: the peer's virtual minutes run ahead of the wall clock
        # (a 300-bar replay is 5 hours), and crossing the real roll moment would roll the node
        # mid-test. tests/live/test_contract_roll.py trades the root (contract_month: None).
        "instrument": {"roll_offset_days": 8, "contract_month": pinned_front_month()},
        "strategy": {
            "instrument_id": "MES.CME",
            "bar_type": "MES.CME-1-MINUTE-LAST-EXTERNAL",
            "window": 5,
            "entry_z": 1.0,
            "exit_z": 0.3,
            "trade_size": 1,
            "stop_loss_usd_per_contract": 50,
            "take_profit_usd_per_contract": 50,
            "subscribe_quote_ticks": True,
        },
        "risk": {
            "daily_loss_limit_usd": 5000,
            "max_consecutive_losses": 50,
            "pause_minutes": 1,
            "max_holding_minutes": None,
            "session_always_open": True,
            "flatten_before_halt": False,
            "state_dir": str(tmp / "state"),
        },
        "exec_engine": {
            "reconciliation_lookback_mins": 1440,
            "open_check_interval_secs": None,
            "position_check_interval_secs": None,
        },
        "logging": {"level": "INFO", "file_level": "DEBUG", "directory": str(tmp / "logs")},
        "node": {
            "control_poll_secs": 1,
            "status_interval_secs": 0.5,
            "timeout_connection": 30,
            "timeout_reconciliation": 20,
            "timeout_disconnection": 5,
            "timeout_post_stop": 1,
        },
    }
    for name, values in sections.items():
        config.setdefault(name, {})
        if values is None:
            config[name] = None
        else:
            config[name].update(values)
    path = tmp / "live.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def pinned_front_month() -> str:
    """Today's MES front month (offset 8) as ``instrument.contract_month`` (``2026-12``)."""
    from quant_scalper.instruments import front_month
    from quant_scalper.live.roll import trading_day

    year, month = front_month("MES", trading_day(), 8)
    return f"{year:04d}-{month:02d}"


def node_env() -> dict[str, str]:
    """The subprocess environment: the account from the env, never from the file."""
    env = dict(os.environ)
    env["IB_ACCOUNT_ID"] = ACCOUNT
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("IB_MAX_CONNECTION_ATTEMPTS", None)
    return env


class LiveNode:
    """A ``quant-scalper live`` subprocess with its console log."""

    def __init__(
        self, config: Path, log: Path, *extra: str, env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.log = log
        self.state_dir = Path(yaml.safe_load(config.read_text())["risk"]["state_dir"])
        self._fh = open(log, "w")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quant_scalper.cli", "live", "--config", str(config), *extra],
            cwd=REPO,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            env={**node_env(), **(env or {})},
        )

    @property
    def status_path(self) -> Path:
        """The status actor's file."""
        return self.state_dir / TRADER_ID / "status.json"

    def text(self) -> str:
        """Everything the node printed so far."""
        return self.log.read_text(errors="replace")

    def status(self) -> dict[str, Any] | None:
        """The last status file, or None before the first write."""
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def wait_log(self, pattern: str, timeout: float, count: int = 1) -> str:
        """Wait until ``pattern`` (regex) occurs ``count`` times in the output."""
        return wait_for(
            lambda: self.text() if len(re.findall(pattern, self.text())) >= count else None,
            timeout,
            f"{count} x /{pattern}/ in the node log",
            self,
        )

    def wait_status(self, check: Callable[[dict[str, Any]], bool], timeout: float, what: str):
        """Wait until the status file satisfies ``check``; returns it."""

        def _probe() -> dict[str, Any] | None:
            status = self.status()
            return status if status is not None and check(status) else None

        return wait_for(_probe, timeout, what, self)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._fh.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: a crash with whatever is open."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._fh.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str, node: LiveNode | None = None):
    """Poll ``check`` until it returns something truthy; fail with the node's log tail."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if node is not None and not node.alive():
            raise AssertionError(
                f"the node exited ({node.proc.returncode}) while waiting for "
                f"{what}:\n{node.text()[-4000:]}"
            )
        if time.monotonic() >= deadline:
            tail = node.text()[-4000:] if node is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{tail}")
        time.sleep(0.1)


def net_position(status: dict[str, Any], instrument_id: str) -> float:
    """The node's signed position in ``instrument_id`` from its status file."""
    return sum(
        float(p["signed_qty"]) for p in status["positions"] if p["instrument_id"] == instrument_id
    )
