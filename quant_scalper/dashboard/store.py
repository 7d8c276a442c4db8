"""Read-only access to a trade journal (SQLAlchemy Core) for the dashboard.

The dashboard never creates, migrates or writes a journal: a SQLite file is opened with
``mode=ro``, a PostgreSQL session is read-only. A missing, corrupt or foreign file, or one with
a newer schema version, is refused with a message naming it and what to do.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from sqlalchemy import (
    Connection,
    Engine,
    Float,
    and_,
    case,
    cast,
    create_engine,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from quant_scalper.dashboard.errors import (
    JournalMissingError,
    JournalNewerSchemaError,
    JournalNotAJournalError,
    JournalReadError,
    JournalUnavailableError,
)
from quant_scalper.dashboard.series import DayPnl, drawdown
from quant_scalper.journal import schema

TRADE_SORT_COLUMNS = (
    "id",
    "trading_day",
    "instrument_id",
    "side",
    "quantity",
    "entry_ns",
    "exit_ns",
    "holding_secs",
    "entry_price",
    "exit_price",
    "gross_pnl_cents",
    "fees_cents",
    "net_pnl_cents",
    "entry_z",
    "exit_reason",
)
"""Every column the trade table can sort by (numeric text sorts as a number)."""

_SECRET_WORDS = ("password", "secret", "token", "account", "credential", "api_key")


@dataclass(frozen=True, slots=True)
class TradeQuery:
    """Filters, order and page of a trades request (already validated)."""

    book: str
    from_day: str | None = None
    to_day: str | None = None
    instrument: str | None = None
    side: str | None = None
    exit_reasons: tuple[str, ...] = ()
    outcome: str | None = None  # "winners" | "losers"
    sort: str = "exit_ns"
    descending: bool = True
    page: int = 1
    page_size: int = 50


@dataclass
class _Equity:
    """The equity marks of one book held in memory, extended by new rows on each request."""

    last_id: int
    ts: np.ndarray
    realized: np.ndarray
    open: np.ndarray
    day: np.ndarray  # YYYYMMDD as int


def scrub(value: Any) -> Any:
    """``value`` without any key that could hold a secret (account ids, passwords, tokens)."""
    if isinstance(value, dict):
        return {
            k: scrub(v)
            for k, v in value.items()
            if not any(word in str(k).lower() for word in _SECRET_WORDS)
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def mask_target(target: str) -> str:
    """A journal path or URL as it may be shown: a URL's password replaced by ``***``."""
    if "://" not in target:
        return target
    try:
        return make_url(target).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable journal URL>"


class JournalStore:
    """One journal, opened read-only; every method returns plain JSON-ready data."""

    def __init__(self, target: str | Path, password: str | None = None) -> None:
        self.target = str(target)
        self.label = mask_target(self.target)
        self._engine = self._make_engine(password)
        self._equity: dict[str, _Equity] = {}
        self._equity_lock = threading.Lock()
        self._summaries: dict[tuple, tuple[int, dict[str, int]]] = {}
        self._series: dict[tuple, dict[str, Any]] = {}

    # -- opening -----------------------------------------------------------------------------

    def _make_engine(self, password: str | None) -> Engine:
        if "://" not in self.target:
            path = Path(self.target).expanduser().resolve()
            self.label = str(path)
            if not path.exists():
                raise JournalMissingError(
                    f"no journal at {path}: run `quant-scalper backtest` (it writes "
                    "output/backtest/journal.sqlite) or start the node with the journal, or pass "
                    "--journal with the right path"
                )
            if not path.is_file():
                raise JournalNotAJournalError(
                    f"{path} is not a file: pass --journal with the journal.sqlite file itself"
                )
            uri = f"file:{quote(str(path), safe='/')}?mode=ro"

            def connect() -> sqlite3.Connection:
                return sqlite3.connect(uri, uri=True, timeout=2.0, check_same_thread=False)

            return create_engine(
                "sqlite://", creator=connect, poolclass=QueuePool, pool_size=8, max_overflow=24
            )
        try:
            url = make_url(self.target)
        except ArgumentError:
            raise JournalReadError(
                f"journal URL {self.label!r} cannot be parsed: use e.g. "
                "postgresql+psycopg://user@host:5432/journal"
            ) from None
        if url.password is not None:
            raise JournalReadError(
                f"journal URL {self.label} holds a password: remove it and set it in the "
                "environment variable named by journal.password_env"
            )
        if password:
            url = url.set(password=password)
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            connect_args = {
                "options": "-c default_transaction_read_only=on",
                "connect_timeout": 5,
            }
        try:
            return create_engine(
                url, connect_args=connect_args, pool_pre_ping=True, pool_size=8, max_overflow=24
            )
        except (ArgumentError, NoSuchModuleError) as exc:
            raise JournalReadError(
                f"journal URL {self.label} is not usable ({type(exc).__name__}): use "
                "postgresql+psycopg://... or a SQLite file path"
            ) from None

    def check(self) -> int:
        """The journal's schema version; raises when it is not a journal this code can read."""
        with self._connect() as conn:
            tables = set(inspect(conn).get_table_names())
            needed = {t.name for t in schema.metadata.sorted_tables}
            if "schema_version" not in tables:
                raise JournalNotAJournalError(
                    f"{self.label} is not a quant-scalper journal (no schema_version table): "
                    "pass the journal.sqlite a node or backtest wrote"
                )
            version = conn.execute(select(func.max(schema.schema_version.c.version))).scalar()
        if version is None:
            raise JournalNotAJournalError(
                f"{self.label} has an empty schema_version table: it was never fully created; "
                "let the node or backtest create it again"
            )
        if version > schema.SCHEMA_VERSION:
            raise JournalNewerSchemaError(
                f"{self.label} has schema version {version}, newer than this quant-scalper reads "
                f"({schema.SCHEMA_VERSION}): upgrade quant-scalper for the dashboard"
            )
        missing = sorted(needed - tables)
        if missing:
            raise JournalNotAJournalError(
                f"{self.label} lacks the journal table(s) {', '.join(missing)}: it is damaged or "
                "not a quant-scalper journal"
            )
        return int(version)

    def close(self) -> None:
        """Release the connections."""
        self._engine.dispose()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A connection; database errors become one-line JournalReadErrors naming the journal."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except JournalReadError:
            raise
        except DBAPIError as exc:
            text = str(exc.orig).lower()
            if "locked" in text or "busy" in text:
                raise JournalUnavailableError(
                    f"{self.label} is locked by another process: retry shortly"
                ) from None
            if "not a database" in text or "malformed" in text or "no such" in text:
                raise JournalNotAJournalError(
                    f"{self.label} is corrupt or not a quant-scalper journal ({exc.orig}): "
                    "restore it from a backup or pass the right file"
                ) from None
            if "unable to open" in text:
                raise JournalUnavailableError(
                    f"{self.label} cannot be opened ({exc.orig}): check it exists and is readable"
                ) from None
            raise JournalUnavailableError(
                f"journal {self.label} cannot be read ({type(exc.orig).__name__}: "
                f"{str(exc.orig).splitlines()[0] if str(exc.orig) else 'no detail'}): check the "
                "database is up and reachable"
            ) from None
        except SQLAlchemyError as exc:
            raise JournalUnavailableError(
                f"journal {self.label} cannot be read ({type(exc).__name__}): check the database"
            ) from None

    # -- books -------------------------------------------------------------------------------

    def books(self) -> list[dict[str, Any]]:
        """Every run in the journal (live nodes and backtests), newest first."""
        r = schema.runs.c
        with self._connect() as conn:
            rows = conn.execute(select(schema.runs).order_by(r.started_at_ns.desc())).mappings()
            result = [
                {
                    "book": row["book"],
                    "kind": row["kind"],
                    "trader_id": row["trader_id"],
                    "instrument_id": row["instrument_id"],
                    "config_hash": row["config_hash"],
                    "account_size_cents": row["account_size_cents"],
                    "started_at_ns": row["started_at_ns"],
                    "ended_at_ns": row["ended_at_ns"],
                }
                for row in rows
            ]
            known = {b["book"] for b in result}
            for (book,) in conn.execute(select(schema.node_status.c.book)):
                if book not in known:
                    result.append({"book": book, "kind": book.split(":", 1)[0]})
        return result

    def run(self, book: str) -> dict[str, Any] | None:
        """The run row of ``book``, or None."""
        with self._connect() as conn:
            row = (
                conn.execute(select(schema.runs).where(schema.runs.c.book == book))
                .mappings()
                .first()
            )
        return None if row is None else {k: row[k] for k in row if k != "config_path"}

    # -- live state --------------------------------------------------------------------------

    def status(self, book: str) -> tuple[int, dict[str, Any]] | None:
        """``(updated_at_ns, payload)`` of the book's node snapshot, or None when it has none."""
        c = schema.node_status.c
        with self._connect() as conn:
            row = conn.execute(select(c.updated_at_ns, c.payload).where(c.book == book)).first()
        if row is None:
            return None
        try:
            payload = json.loads(row.payload)
        except ValueError:
            payload = {"error": "the node's status snapshot is not valid JSON"}
        if not isinstance(payload, dict):
            payload = {"error": "the node's status snapshot is not a JSON object"}
        return int(row.updated_at_ns), scrub(payload)

    def orders(
        self, book: str, fate: str | None, page: int, page_size: int
    ) -> tuple[list[dict[str, Any]], int]:
        """A page of the book's orders, newest first, and how many match."""
        t = schema.orders
        where = [t.c.book == book]
        if fate:
            where.append(t.c.fate == fate)
        with self._connect() as conn:
            total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar()
            rows = conn.execute(
                select(t)
                .where(*where)
                .order_by(t.c.ts_init_ns.desc(), t.c.id.desc())
                .limit(page_size)
                .offset((page - 1) * page_size)
            ).mappings()
            return [{k: row[k] for k in row if k != "book"} for row in rows], int(total or 0)

    # -- trades ------------------------------------------------------------------------------

    def trades(self, q: TradeQuery) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """A page of round trips matching ``q`` and a summary of every match."""
        t = schema.trades.c
        where = [t.book == q.book]
        if q.from_day:
            where.append(t.trading_day >= q.from_day)
        if q.to_day:
            where.append(t.trading_day <= q.to_day)
        if q.instrument:
            where.append(t.instrument_id == q.instrument)
        if q.side:
            where.append(t.side == q.side)
        if q.exit_reasons:
            where.append(t.exit_reason.in_(q.exit_reasons))
        if q.outcome == "winners":
            where.append(t.net_pnl_cents > 0)
        elif q.outcome == "losers":
            where.append(t.net_pnl_cents < 0)
        holding = ((t.exit_ns - t.entry_ns) / 1_000_000_000).label("holding_secs")
        keys = {name: getattr(t, name, None) for name in TRADE_SORT_COLUMNS}
        keys["holding_secs"] = t.exit_ns - t.entry_ns
        for name in ("quantity", "entry_price", "exit_price"):
            keys[name] = cast(getattr(t, name), Float)
        key = keys[q.sort]
        order = [key.desc() if q.descending else key.asc()]
        if q.sort != "id":
            order.append(t.id.desc() if q.descending else t.id.asc())
        columns = [c for c in schema.trades.c if c.name != "book"] + [holding]
        condition = and_(*where)
        summary_key = (
            q.book,
            q.from_day,
            q.to_day,
            q.instrument,
            q.side,
            q.exit_reasons,
            q.outcome,
        )
        with self._connect() as conn:
            rows = conn.execute(
                select(*columns)
                .where(condition)
                .order_by(*order)
                .limit(q.page_size)
                .offset((q.page - 1) * q.page_size)
            ).mappings()
            page = [dict(row) for row in rows]
            # trades are insert-only: the summary of a filter stays valid until a new row lands
            newest = int(conn.execute(select(func.max(t.id))).scalar() or 0)
            cached = self._summaries.get(summary_key)
            if cached is not None and cached[0] == newest:
                return self._finish(page), cached[1]
            agg = conn.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(t.net_pnl_cents), 0),
                    func.coalesce(func.sum(t.fees_cents), 0),
                    func.coalesce(func.sum(case((t.net_pnl_cents > 0, 1), else_=0)), 0),
                    func.coalesce(func.sum(case((t.net_pnl_cents < 0, 1), else_=0)), 0),
                ).where(condition)
            ).one()
        summary = {
            "total": int(agg[0]),
            "net_cents": int(agg[1]),
            "fees_cents": int(agg[2]),
            "winners": int(agg[3]),
            "losers": int(agg[4]),
        }
        if len(self._summaries) > 256:
            self._summaries.clear()
        self._summaries[summary_key] = (newest, summary)
        return self._finish(page), summary

    @staticmethod
    def _finish(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for row in page:
            row["found_at_reconciliation"] = bool(row["found_at_reconciliation"])
            row["holding_secs"] = int(row["exit_ns"] - row["entry_ns"]) // 1_000_000_000
        return page

    def instruments(self, book: str) -> list[str]:
        """The instruments the book traded (for the table's filter)."""
        t = schema.trades.c
        with self._connect() as conn:
            rows = conn.execute(
                select(t.instrument_id).where(t.book == book).group_by(t.instrument_id)
            )
            return sorted(r[0] for r in rows)

    def latest_nets(self, book: str, limit: int = 200) -> list[int]:
        """The net P&L in cents of the latest round trips, newest first (losing streak)."""
        t = schema.trades.c
        with self._connect() as conn:
            rows = conn.execute(
                select(t.net_pnl_cents)
                .where(t.book == book)
                .order_by(t.exit_ns.desc(), t.id.desc())
                .limit(limit)
            )
            return [int(r[0]) for r in rows]

    def pnl_days(self, book: str, from_day: str | None, to_day: str | None) -> list[DayPnl]:
        """Closed trades summed per CME trading day (of the exit), oldest first."""
        t = schema.trades.c
        where = [t.book == book]
        if from_day:
            where.append(t.trading_day >= from_day)
        if to_day:
            where.append(t.trading_day <= to_day)
        stmt = (
            select(
                t.trading_day,
                func.count(),
                func.sum(case((t.net_pnl_cents > 0, 1), else_=0)),
                func.sum(case((t.net_pnl_cents < 0, 1), else_=0)),
                func.sum(t.gross_pnl_cents),
                func.sum(t.fees_cents),
                func.sum(t.net_pnl_cents),
            )
            .where(*where)
            .group_by(t.trading_day)
            .order_by(t.trading_day)
        )
        with self._connect() as conn:
            return [
                DayPnl(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]))
                for r in conn.execute(stmt)
            ]

    # -- equity ------------------------------------------------------------------------------

    def equity(
        self, book: str, from_day: str | None = None, to_day: str | None = None
    ) -> dict[str, Any]:
        """The book's equity marks (realized + open, cents) and drawdown, oldest first.

        Marks are immutable once written, so they are kept in memory per book and only rows
        with a higher id are read on each call: a poll costs one indexed query.
        """
        with self._equity_lock:
            cached = self._equity.get(book)
            fresh, scanned = self._load_marks(book, cached.last_id if cached else 0)
            if cached is None or fresh is not None:
                cached = self._merge(cached, fresh)
                self._equity[book] = cached
            cached.last_id = max(cached.last_id, scanned)
            key = (book, from_day, to_day)
            memo = self._series.get(key)
            if memo is not None and memo["last_id"] == cached.last_id:
                return memo
        ts, realized, open_, day = cached.ts, cached.realized, cached.open, cached.day
        if from_day or to_day:
            lo = _day_int(from_day) if from_day else 0
            hi = _day_int(to_day) if to_day else 99_999_999
            keep = (day >= lo) & (day <= hi)
            ts, realized, open_, day = ts[keep], realized[keep], open_[keep], day[keep]
        equity = realized + open_
        result = {
            "last_id": cached.last_id,
            "ts": ts,
            "day": day,
            "realized": realized,
            "open": open_,
            "equity": equity,
            "drawdown": drawdown(equity),
        }
        with self._equity_lock:
            if len(self._series) > 32:
                self._series.clear()
            self._series[key] = result
        return result

    def _load_marks(self, book: str, after_id: int) -> tuple[_Equity | None, int]:
        """The book's marks with an id above ``after_id``, and the highest id read."""
        m = schema.equity_marks.c
        stmt = select(m.id, m.ts_ns, m.realized_cents, m.open_cents, m.trading_day, m.book)
        # after the first load: by id only, so the primary key is used (not the book index);
        # other books' new rows are dropped below
        stmt = stmt.where(m.book == book) if after_id == 0 else stmt.where(m.id > after_id)
        with self._connect() as conn:
            read = conn.execute(stmt.order_by(m.id)).all()
        scanned = int(read[-1][0]) if read else after_id
        rows = [r[:5] for r in read if r[5] == book]
        if not rows:
            return None, scanned
        ids, ts, realized, open_, days = zip(*rows, strict=True)
        return _Equity(
            last_id=int(ids[-1]),
            ts=np.fromiter(ts, dtype=np.int64, count=len(rows)),
            realized=np.fromiter(realized, dtype=np.int64, count=len(rows)),
            open=np.fromiter(open_, dtype=np.int64, count=len(rows)),
            day=np.fromiter((_day_int(d) for d in days), dtype=np.int64, count=len(rows)),
        ), scanned

    @staticmethod
    def _merge(old: _Equity | None, new: _Equity | None) -> _Equity:
        empty = np.empty(0, dtype=np.int64)
        if new is None:
            return old or _Equity(0, empty, empty, empty, empty)
        if old is None or old.ts.size == 0:
            merged = new
        else:
            merged = _Equity(
                new.last_id,
                np.concatenate((old.ts, new.ts)),
                np.concatenate((old.realized, new.realized)),
                np.concatenate((old.open, new.open)),
                np.concatenate((old.day, new.day)),
            )
        if merged.ts.size > 1 and bool((np.diff(merged.ts) < 0).any()):
            order = np.argsort(merged.ts, kind="stable")
            merged = _Equity(
                merged.last_id,
                merged.ts[order],
                merged.realized[order],
                merged.open[order],
                merged.day[order],
            )
        return merged

    # -- breakers and events -----------------------------------------------------------------

    def breakers(self, book: str, limit: int) -> list[dict[str, Any]]:
        """The latest circuit-breaker trips and resets, newest first."""
        b = schema.breaker_events
        with self._connect() as conn:
            rows = conn.execute(
                select(b).where(b.c.book == book).order_by(b.c.ts_ns.desc()).limit(limit)
            ).mappings()
            return [{k: row[k] for k in row if k != "book"} for row in rows]

    def events(self, book: str, limit: int) -> list[dict[str, Any]]:
        """The latest node events (start, stop, connected, ...), newest first."""
        e = schema.node_events
        with self._connect() as conn:
            rows = conn.execute(
                select(e).where(e.c.book == book).order_by(e.c.ts_ns.desc()).limit(limit)
            ).mappings()
            return [{k: row[k] for k in row if k != "book"} for row in rows]


def _day_int(day: str) -> int:
    """``YYYY-MM-DD`` as the integer YYYYMMDD (cheap range filters on numpy arrays)."""
    return int(day[0:4]) * 10_000 + int(day[5:7]) * 100 + int(day[8:10])
