"""Fixtures: a realistic journal file and an API client over it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_scalper.dashboard.app import create_app
from quant_scalper.dashboard.settings import DashboardSettings
from tests.dashboard.journal_fixture import Journal, build_journal

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    """Five trading days of one live book (and a small backtest book), read-only by tests."""
    return build_journal(tmp_path_factory.mktemp("journal") / "journal.sqlite")


@pytest.fixture(scope="module")
def client(journal: Journal) -> Iterator[TestClient]:
    """The dashboard API over ``journal`` (loopback, no token, read-only)."""
    app = create_app(DashboardSettings(journal=str(journal.path), daily_loss_limit_cents=50_000))
    with TestClient(app) as test_client:
        yield test_client
    app.state.store.close()


def make_client(settings: DashboardSettings, **kw: object) -> TestClient:
    """A client over an app with these settings (tests close it)."""
    return TestClient(create_app(settings), **kw)


def journal_path(journal: Journal) -> Path:
    """The fixture journal's file."""
    return journal.path


from tests.live.conftest import peer, start_node  # noqa: E402, F401 - the live fixtures (live page test)
