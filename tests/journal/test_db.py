"""Opening journals: create, reopen, WAL, refusals (newer, corrupt, not a journal), migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from quant_scalper.journal import schema
from quant_scalper.journal.db import journal_url, mask, open_journal
from quant_scalper.journal.errors import (
    JournalConfigError,
    JournalCorruptError,
    JournalNewerSchemaError,
)


def test_a_new_file_gets_every_table_and_the_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "journal.sqlite"
    journal = open_journal(path)
    try:
        names = set(inspect(journal.engine).get_table_names())
        assert set(schema.metadata.tables) <= names
        with journal.engine.connect() as conn:
            versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
            mode = conn.execute(text("PRAGMA journal_mode")).scalar()
        assert versions == [schema.SCHEMA_VERSION]
        assert mode == "wal"
    finally:
        journal.dispose()
    again = open_journal(path)  # reopening changes nothing
    with again.engine.connect() as conn:
        assert conn.execute(select(schema.schema_version.c.version)).scalars().all() == [1]
    again.dispose()


def test_a_newer_journal_is_refused_in_one_line_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    open_journal(path).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (7, 0)")
    before = path.read_bytes()
    with pytest.raises(JournalNewerSchemaError) as err:
        open_journal(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "version 7" in message
    assert "upgrade quant-scalper" in message
    assert path.read_bytes() == before


def test_a_corrupt_file_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"definitely not sqlite " * 300)
    with pytest.raises(JournalCorruptError, match="not a readable database"):
        open_journal(path)
    assert path.read_bytes().startswith(b"definitely not sqlite")


def test_another_database_is_not_taken_for_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(JournalCorruptError, match="not a quant-scalper journal"):
        open_journal(path)


def test_an_older_journal_is_migrated_step_by_step(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    open_journal(path).dispose()
    steps = []

    def v1_to_v2(conn) -> None:
        steps.append(1)
        conn.execute(text("ALTER TABLE trades ADD COLUMN note TEXT"))

    journal = open_journal(path, migrations={1: v1_to_v2}, target_version=2)
    with journal.engine.connect() as conn:
        versions = conn.execute(select(schema.schema_version.c.version)).scalars().all()
        columns = {c["name"] for c in inspect(conn).get_columns("trades")}
    journal.dispose()
    assert steps == [1] and versions == [1, 2] and "note" in columns
    # a missing step is refused, not skipped
    with pytest.raises(JournalCorruptError, match="no migration"):
        open_journal(path, migrations={}, target_version=3)


def test_passwords_never_come_from_the_url_and_are_masked(monkeypatch) -> None:
    with pytest.raises(JournalConfigError, match="password_env") as err:
        journal_url("postgresql+psycopg://qs:s3cret@db.example/journal")
    assert "s3cret" not in str(err.value)
    monkeypatch.setenv("QS_TEST_PW", "s3cret")
    url = journal_url("postgresql://qs@db.example/journal", password_env="QS_TEST_PW")
    assert url.password == "s3cret" and url.drivername == "postgresql+psycopg"
    assert "s3cret" not in mask(url)
    with pytest.raises(JournalConfigError, match="QS_TEST_MISSING"):
        journal_url("postgresql://qs@db.example/journal", password_env="QS_TEST_MISSING")
    with pytest.raises(JournalConfigError, match="unsupported database"):
        journal_url("mysql://qs@db.example/journal")
