"""A journal the dashboard cannot read gets one clear line naming it; nothing is ever written."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import delete

from quant_scalper.cli import main
from quant_scalper.dashboard.errors import (
    JournalMissingError,
    JournalNewerSchemaError,
    JournalNotAJournalError,
    JournalReadError,
    JournalUnavailableError,
)
from quant_scalper.dashboard.store import JournalStore, mask_target
from quant_scalper.journal import schema
from tests.dashboard.conftest import make_client
from tests.dashboard.journal_fixture import build_journal, create_journal


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JournalMissingError, match=r"no journal at .*nope\.sqlite.*backtest"):
        JournalStore(tmp_path / "nope.sqlite")
    assert not (tmp_path / "nope.sqlite").exists()  # never created


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(JournalNotAJournalError, match="is not a file"):
        JournalStore(tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"garbage " * 500, b"SQLite format 3\x00" + b"\x07" * 4000]
)
def test_corrupt_or_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "journal.sqlite"
    path.write_bytes(content)
    with pytest.raises(JournalNotAJournalError, match=str(path)):
        JournalStore(path).check()
    assert path.read_bytes() == content  # untouched


def test_another_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("create table stuff (x)")
    with pytest.raises(JournalNotAJournalError, match="not a quant-scalper journal"):
        JournalStore(path).check()


def test_newer_schema_is_refused_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    create_journal(path, version=schema.SCHEMA_VERSION + 1).dispose()
    before = digest(path)
    with pytest.raises(JournalNewerSchemaError, match=r"schema version 2, newer .*upgrade"):
        JournalStore(path).check()
    assert digest(path) == before


def test_empty_version_table(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    engine = create_journal(path)
    with engine.begin() as conn:
        conn.execute(delete(schema.schema_version))
    engine.dispose()
    with pytest.raises(JournalNotAJournalError, match="empty schema_version"):
        JournalStore(path).check()


def test_reading_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    build_journal(path, days=1)
    before = digest(path)
    client = make_client_for(path)
    for endpoint in ("status", "trades", "pnl", "equity", "breakers", "events", "orders"):
        assert client.get(f"/api/v1/{endpoint}").status_code == 200
    client.app.state.store.close()
    assert digest(path) == before
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn = client.app.state.store._engine.raw_connection()
        conn.execute("insert into schema_version values (9, 0)")


def make_client_for(path: Path):
    from quant_scalper.dashboard.settings import DashboardSettings

    return make_client(DashboardSettings(journal=str(path)))


def test_a_journal_that_breaks_while_serving_answers_503(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    build_journal(path, days=1)
    client = make_client_for(path)
    assert client.get("/api/v1/trades").status_code == 200
    client.app.state.store.close()
    path.write_bytes(b"overwritten by accident " * 200)
    response = client.get("/api/v1/trades")
    assert response.status_code == 503
    body = response.json()
    assert str(path) in body["detail"] and body["journal_error"] == "JournalNotAJournalError"
    health = client.get("/api/v1/health").json()
    assert health["ok"] is False and str(path) in health["journal"]["error"]


def test_locked_journal_is_unavailable_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    build_journal(path, days=1)
    store = JournalStore(path)
    store.check()
    locker = sqlite3.connect(path, timeout=0)
    locker.execute("begin exclusive")  # rollback journal mode: readers are locked out
    try:
        with pytest.raises(JournalUnavailableError, match="locked"):
            store.check()
    finally:
        locker.rollback()
        locker.close()
        store.close()


def test_urls_are_masked_and_passwords_refused_in_urls() -> None:
    assert mask_target("postgresql+psycopg://qs:hunter2@db:5432/j") == (
        "postgresql+psycopg://qs:***@db:5432/j"
    )
    with pytest.raises(JournalReadError, match=r"holds a password") as info:
        JournalStore("postgresql+psycopg://qs:hunter2@127.0.0.1:1/j")
    assert "hunter2" not in str(info.value)


def test_unreachable_database_is_one_line_without_password(tmp_path: Path) -> None:
    from tests.servers import free_port

    store = JournalStore(f"postgresql+psycopg://qs@127.0.0.1:{free_port()}/j", password="hunter2")
    with pytest.raises(JournalUnavailableError) as info:
        store.check()
    assert "hunter2" not in str(info.value) and "\n" not in str(info.value)


def test_cli_refuses_with_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    path = tmp_path / "journal.sqlite"
    create_journal(path, version=99).dispose()
    assert main(["dashboard", "--journal", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "schema version 99" in err and str(path) in err
    assert main(["dashboard", "--journal", str(tmp_path / "missing.sqlite")]) == 2
    assert "no journal at" in capsys.readouterr().err
