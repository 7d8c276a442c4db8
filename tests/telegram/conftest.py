"""Fixtures: a local Bot API peer on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.telegram.peer import BotPeer


@pytest.fixture
def peer() -> Iterator[BotPeer]:
    server = BotPeer().start()
    yield server
    server.close()
