"""Fixtures for the live end-to-end tests: a TWS peer on 127.0.0.1 and live-node subprocesses."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ibpeer import IBPeer
from tests.live.harness import ACCOUNT, LiveNode
from tests.servers import redis_server


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
    password = "s3cret-" + secrets.token_hex(8)
    with redis_server(tmp_path, password) as port:
        yield port, password
