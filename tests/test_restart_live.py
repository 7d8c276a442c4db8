"""Risk state across crashes and restarts of a real-time node (replayed data, sandbox venue).

Each test runs ``tests.sim.run_node`` as a subprocess on the live clock, so SIGKILL is a real
crash: only the atomically written state file (or Redis, for a graceful stop) can remember.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import redis_server

REPO = Path(__file__).resolve().parents[1]
TRADER_ID = "SIM-001"
STATE_KEYS = ("trading_day", "realized_pnl", "consecutive_losses", "trades_today")


class Node:
    """A ``run_node`` subprocess with its log file."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        self._fh = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.sim.run_node", *args],
            cwd=REPO,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._fh.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._fh.close()


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        if node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait(timeout=10)


def start(nodes: list[Node], log: Path, *args: str) -> Node:
    node = Node(log, *args)
    nodes.append(node)
    return node


def state_file(state_dir: Path) -> Path:
    return state_dir / TRADER_ID / "risk_state.json"


def wait_for(check: Callable[[], Any], timeout: float, what: str, node: Node) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if node.proc.poll() is not None:
            raise AssertionError(
                f"node exited ({node.proc.returncode}) before {what}:\n{node.text()[-3000:]}"
            )
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n{node.text()[-3000:]}")


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads(state_file(state_dir).read_text())
    except (OSError, ValueError):
        return None


def entries(log_text: str) -> list[str]:
    return [line for line in log_text.splitlines() if "ZScoreMeanReversion: Entry " in line]


def test_sigkill_after_daily_limit_then_restart_still_blocks(tmp_path: Path, nodes) -> None:
    args = ("--state-dir", str(tmp_path), "--daily-limit", "400", "--max-losses", "50")
    first = start(nodes, tmp_path / "first.log", *args)
    tripped = wait_for(
        lambda: (s := read_state(tmp_path)) and s["daily_limit_hit"] and s,
        60,
        "the daily loss limit to trip",
        first,
    )
    first.kill()
    before = read_state(tmp_path)
    assert (
        before["daily_limit_hit"] and tripped["daily_limit_hit_at"] == before["daily_limit_hit_at"]
    )

    second = start(nodes, tmp_path / "second.log", *args)
    wait_for(lambda: "Risk state: day" in second.text(), 30, "the restart", second)
    time.sleep(4)  # several dip signals (one every 0.6 s) reach the restarted strategy
    second.stop()
    after = read_state(tmp_path)
    log = second.text()
    assert "daily limit hit True" in log
    assert entries(log) == [], "no entry after the restart while the limit holds"
    assert {k: after[k] for k in STATE_KEYS} == {k: before[k] for k in STATE_KEYS}
    assert after["daily_limit_hit"]


def test_sigkill_during_pause_then_restart_still_paused(tmp_path: Path, nodes) -> None:
    args = ("--state-dir", str(tmp_path), "--daily-limit", "100000", "--max-losses", "3")
    first = start(nodes, tmp_path / "first.log", *args)
    paused = wait_for(
        lambda: (s := read_state(tmp_path)) and s["paused_until"] and s,
        60,
        "three losses and a pause",
        first,
    )
    first.kill()
    before = read_state(tmp_path)
    assert before["paused_until"] == paused["paused_until"]

    second = start(nodes, tmp_path / "second.log", *args)
    wait_for(lambda: "Risk state: day" in second.text(), 30, "the restart", second)
    time.sleep(4)
    second.stop()
    after = read_state(tmp_path)
    assert entries(second.text()) == [], "no entry while the 30-minute pause runs"
    assert after["paused_until"] == before["paused_until"]
    assert {k: after[k] for k in STATE_KEYS} == {k: before[k] for k in STATE_KEYS}


def test_kill_and_resume_commands_reach_a_running_node(tmp_path: Path, nodes) -> None:
    args = ("--state-dir", str(tmp_path), "--pattern", "wins")
    node = start(nodes, tmp_path / "node.log", *args)
    wait_for(lambda: entries(node.text()), 60, "a first entry", node)

    def cli(*words: str) -> str:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "quant_scalper.cli",
                *words,
                "--state-dir",
                str(tmp_path),
                "--trader-id",
                TRADER_ID,
                "--wait",
                "15",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=REPO,
        )
        return result.stdout.strip()

    out = cli("kill", "--reason", "test drill")
    assert out.startswith("kill: halted: test drill (by "), out
    assert read_state(tmp_path)["halted"]
    count = len(entries(node.text()))
    time.sleep(3)
    assert len(entries(node.text())) == count, "no entries while halted"
    assert "TradingState is HALTED" in node.text() or "HALTED" in node.text()

    assert cli("resume").startswith("resume: resumed")
    wait_for(lambda: len(entries(node.text())) > count, 30, "entries after resume", node)
    node.stop()
    assert not read_state(tmp_path)["halted"]


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    with redis_server(tmp_path) as port:
        yield port


def test_state_survives_graceful_restart_through_the_redis_cache_alone(
    tmp_path: Path, nodes, redis_port: int
) -> None:
    first_dir = tmp_path / "first"
    args = ("--redis-port", str(redis_port), "--daily-limit", "400", "--max-losses", "50")
    first = start(nodes, tmp_path / "first.log", "--state-dir", str(first_dir), *args)
    wait_for(
        lambda: (s := read_state(first_dir)) and s["daily_limit_hit"],
        60,
        "the daily loss limit to trip",
        first,
    )
    before = read_state(first_dir)
    first.stop()  # graceful: Nautilus saves strategy state (on_save) to Redis
    assert first.proc.returncode is not None
    shutil.rmtree(first_dir)  # the state file is gone: only Redis remembers

    second_dir = tmp_path / "second"
    second = start(nodes, tmp_path / "second.log", "--state-dir", str(second_dir), *args)
    wait_for(lambda: "Risk state: day" in second.text(), 30, "the restart", second)
    time.sleep(3)
    second.stop()
    log = second.text()
    assert "daily limit hit True" in log, log[-3000:]
    assert entries(log) == []
    after = read_state(second_dir)
    assert {k: after[k] for k in STATE_KEYS} == {k: before[k] for k in STATE_KEYS}
    assert os.path.exists(state_file(second_dir))
