"""Journal fixtures: a fresh journal target per test, on SQLite (and PostgreSQL when present)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sqlite_target(tmp_path: Path) -> str:
    """A journal file path in the test's folder."""
    return str(tmp_path / "journal.sqlite")
