"""Open a trade journal (SQLite file or PostgreSQL URL), create or migrate its schema.

``open_journal("output/backtest/journal.sqlite")`` or
``open_journal("postgresql+psycopg://qs@db.example/journal", password_env="QS_JOURNAL_PW")``.
The password comes only from the environment variable named by ``password_env``; a URL with a
password inside is refused, and every message shows the URL masked. SQLite files run in WAL
mode with a busy timeout, so a dashboard can read while the node writes.

Schema versions: a new journal gets every table and ``schema_version`` = ``SCHEMA_VERSION``;
an older one is migrated step by step (``MIGRATIONS``); a newer one, a corrupt file or a
database that is not a journal is refused with one line naming it and the fix. Nothing is ever
reset.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, func, inspect, select
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError

from quant_scalper.journal import schema
from quant_scalper.journal.errors import (
    JournalConfigError,
    JournalCorruptError,
    JournalNewerSchemaError,
    JournalUnavailableError,
)

SQLITE_BUSY_TIMEOUT_MS = 5_000

Migration = Callable[[Connection], None]
MIGRATIONS: dict[int, Migration] = {}
"""``MIGRATIONS[v]`` upgrades a journal from version ``v`` to ``v + 1`` (none yet: v1 is the
first). Each runs in the transaction that records the new version."""


@dataclass(frozen=True)
class Journal:
    """An opened journal: the SQLAlchemy engine and its URL masked for messages."""

    engine: Engine
    display: str  # the URL with any password masked: safe for logs

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def dispose(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()


def journal_url(target: str | Path, password_env: str | None = None) -> URL:
    """The SQLAlchemy URL of a path or URL; the password (if any) from ``password_env``."""
    text = str(target)
    if "://" not in text:
        return URL.create("sqlite", database=str(Path(text)))
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise JournalConfigError(
            f"journal url {mask(text)!r} is not a database URL: use a file path, "
            "sqlite:///path/journal.sqlite or postgresql+psycopg://user@host/db"
        ) from exc
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise JournalConfigError(
            f"journal url {mask(text)!r}: unsupported database {backend!r}; use sqlite:///... "
            "or postgresql+psycopg://user@host/db"
        )
    if backend == "postgresql" and url.drivername != "postgresql+psycopg":
        url = url.set(drivername="postgresql+psycopg")
    if url.password is not None:
        raise JournalConfigError(
            f"journal url {mask(text)!r} contains a password: remove it from the URL and put it "
            "in an environment variable named by journal.password_env"
        )
    if password_env:
        password = os.environ.get(password_env)
        if password is None:
            raise JournalConfigError(
                f"journal.password_env names {password_env}, which is not set: export "
                f"{password_env}=<the database password> before starting"
            )
        url = url.set(password=password)
    return url


def mask(url: str | URL) -> str:
    """A URL (or path) for messages: the password replaced by ``***``."""
    if isinstance(url, URL):
        if url.get_backend_name() == "sqlite":
            return url.database or ":memory:"
        return url.render_as_string(hide_password=True)
    text = str(url)
    if "://" not in text:
        return text
    try:
        return mask(make_url(text))
    except ArgumentError:
        head, _, tail = text.partition("://")
        return f"{head}://***@{tail.rpartition('@')[2]}" if "@" in tail else text


def open_journal(
    target: str | Path,
    password_env: str | None = None,
    create: bool = True,
    migrations: Mapping[int, Migration] | None = None,
    target_version: int = schema.SCHEMA_VERSION,
) -> Journal:
    """Open (and create or migrate) the journal at ``target``; raises a ``JournalError``."""
    url = journal_url(target, password_env)
    journal = Journal(engine=_engine(url), display=mask(url))
    try:
        ensure_schema(journal, create=create, migrations=migrations, target=target_version)
    except BaseException:
        journal.dispose()
        raise
    return journal


def connect_journal(target: str | Path, password_env: str | None = None) -> Journal:
    """An engine for ``target`` without touching the database yet (the writer checks later)."""
    url = journal_url(target, password_env)
    return Journal(engine=_engine(url), display=mask(url))


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5, "application_name": "quant-scalper"},
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def ensure_schema(
    journal: Journal,
    create: bool = True,
    migrations: Mapping[int, Migration] | None = None,
    target: int = schema.SCHEMA_VERSION,
) -> int:
    """Create the tables of a new journal or migrate an older one; return its version."""
    steps = MIGRATIONS if migrations is None else migrations
    where = journal.display
    try:
        with journal.engine.begin() as conn:
            tables = set(inspect(conn).get_table_names())
            if not tables:
                if not create:
                    raise JournalCorruptError(
                        f"journal {where} is empty: point journal.url at an existing journal "
                        "or let the node or a backtest create it"
                    )
                schema.metadata.create_all(conn)
                conn.execute(
                    schema.schema_version.insert().values(version=target, applied_at_ns=_now_ns())
                )
                return target
            if "schema_version" not in tables:
                raise JournalCorruptError(
                    f"{where} is a database but not a quant-scalper journal (no schema_version "
                    f"table; it has {', '.join(sorted(tables)[:5])}): choose another "
                    "journal path or URL"
                )
            version = conn.execute(select(func.max(schema.schema_version.c.version))).scalar()
            if version is None:
                raise JournalCorruptError(
                    f"journal {where} has an empty schema_version table: it is damaged; "
                    "move it aside and start a new journal (the node never resets one)"
                )
            if version > target:
                raise JournalNewerSchemaError(
                    f"journal {where} has schema version {version}, newer than this "
                    f"quant-scalper's {target}: upgrade quant-scalper, or use another journal "
                    "(it is never downgraded)"
                )
            while version < target:
                step = steps.get(version)
                if step is None:
                    raise JournalCorruptError(
                        f"journal {where} has schema version {version} and there is no "
                        f"migration from it: move it aside or open it with the release that "
                        "wrote it"
                    )
                step(conn)
                version += 1
                conn.execute(
                    schema.schema_version.insert().values(version=version, applied_at_ns=_now_ns())
                )
            schema.metadata.create_all(conn, checkfirst=True)
            return version
    except (JournalCorruptError, JournalNewerSchemaError):
        raise
    except OperationalError as exc:
        text = str(exc.orig)
        if any(w in text.lower() for w in ("locked", "connect", "could not", "unable to open")):
            raise JournalUnavailableError(
                f"journal {where} cannot be opened: {_first_line(text)}; check the database is "
                "running (or the file not locked by another program) and retry"
            ) from exc
        raise JournalCorruptError(
            f"journal {where} cannot be read: {_first_line(text)}; move the file aside and "
            "start a new journal, or restore it from a backup"
        ) from exc
    except DatabaseError as exc:
        raise JournalCorruptError(
            f"journal {where} is not a readable database ({_first_line(str(exc.orig))}): move "
            "the file aside and start a new journal, or restore it from a backup"
        ) from exc
    except SQLAlchemyError as exc:
        raise JournalUnavailableError(
            f"journal {where} cannot be used: {type(exc).__name__}: {_first_line(str(exc))}"
        ) from exc


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"


def _now_ns() -> int:
    return time.time_ns()
