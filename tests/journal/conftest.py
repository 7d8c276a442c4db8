"""Journal fixtures: a fresh journal per test on SQLite and on a real PostgreSQL (Debian's,
started once per session on 127.0.0.1 in a temp folder; skipped only if not installed)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.servers import PostgresServer, postgres_server

PASSWORD_ENV = "QS_TEST_JOURNAL_PW"
_names = itertools.count()


@dataclass(frozen=True)
class Target:
    """Where a test's journal lives: a path or URL and the password variable (PostgreSQL)."""

    url: str
    password_env: str | None = None
    server: PostgresServer | None = None


@pytest.fixture
def sqlite_target(tmp_path: Path) -> str:
    """A journal file path in the test's folder."""
    return str(tmp_path / "journal.sqlite")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session."""
    with postgres_server(tmp_path_factory.mktemp("pg")) as server:
        yield server


def fresh_database(server: PostgresServer) -> str:
    """A new empty database on ``server``; its journal URL (password from PASSWORD_ENV)."""
    name = f"journal_{next(_names)}"
    admin = create_engine(
        f"postgresql+psycopg://{server.user}:{server.password}@127.0.0.1:{server.port}/postgres",
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return f"postgresql+psycopg://{server.user}@127.0.0.1:{server.port}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> Target:
    """A fresh journal on each database the journal supports."""
    if request.param == "sqlite":
        return Target(str(tmp_path / "journal.sqlite"))
    server: PostgresServer = request.getfixturevalue("postgres")
    monkeypatch.setenv(PASSWORD_ENV, server.password)
    return Target(fresh_database(server), PASSWORD_ENV, server)


from tests.live.conftest import peer, start_node  # noqa: E402, F401 - the live fixtures
