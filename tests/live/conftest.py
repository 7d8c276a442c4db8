"""Fixtures for the live end-to-end tests: a TWS peer on 127.0.0.1 and live-node subprocesses."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ibpeer import IBPeer
from tests.live.harness import ACCOUNT, LiveNode, wait_for


@pytest.fixture
def peer() -> Iterator[IBPeer]:
    """A started peer on a free port, closed after the test."""
    ib = IBPeer(account=ACCOUNT)
    ib.start()
    yield ib
    ib.close()


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., LiveNode]]:
    """Start ``quant-scalper live`` subprocesses; any still running are killed at the end."""
    started: list[LiveNode] = []

    def _start(config: Path, *extra: str, env: dict[str, str] | None = None) -> LiveNode:
        node = LiveNode(config, tmp_path / f"node-{len(started) + 1}.log", *extra, env=env)
        started.append(node)
        return node

    yield _start
    for node in started:
        node.kill()


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A password-protected redis-server on 127.0.0.1 (skipped if not installed)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (make test installs it with apt-get as root)")
    password = "s3cret-" + secrets.token_hex(8)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            password,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _listening(port), 10, "redis-server to listen")
        yield port, password
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
