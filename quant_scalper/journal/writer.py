"""The journal writer: rows go through a bounded queue to one thread that batches inserts.

``put`` never blocks and never raises (a full buffer drops the row and counts it): an order
path that journals a fill is never delayed by the database. The thread writes batches in one
transaction each, idempotently (natural unique keys: "on conflict do nothing" for fills,
trades, trips, events and marks; "upsert" for orders, node status and runs), so a retried batch
or a replay after a restart adds nothing twice. While the database is down the batch in hand
and the queue hold the rows (``buffer_rows`` in all); the thread retries with backoff and writes
them in order once the database is back. ``close(timeout)`` drains what it can.

``threaded=False`` (backtests) keeps the same buffer and writes a batch inline whenever it is
full, and the rest on ``close``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from quant_scalper.journal import schema
from quant_scalper.journal.db import Journal, ensure_schema
from quant_scalper.journal.errors import (
    JournalCorruptError,
    JournalError,
    JournalNewerSchemaError,
)

log = logging.getLogger(__name__)

TABLES: dict[str, Table] = {t.name: t for t in schema.metadata.sorted_tables}

UPSERT_KEYS: dict[str, tuple[str, ...]] = {
    "orders": ("book", "client_order_id"),
    "node_status": ("book",),
    "runs": ("book",),
}
"""Tables whose rows replace the stored row of the same key (the latest state wins)."""

KEEP_ON_UPSERT: dict[str, tuple[str, ...]] = {
    "orders": ("ts_init_ns",),
    "runs": ("started_at_ns",),
}
"""Columns an upsert never overwrites (the first value stays)."""

COALESCE_ON_UPSERT: dict[str, tuple[str, ...]] = {
    "orders": ("venue_order_id", "parent_order_id", "tags", "reason", "price", "trigger_price"),
}
"""Columns an upsert only fills in (a later event without the value keeps the known one)."""


@dataclass
class WriterStats:
    """What the writer has done: rows written and dropped, and whether the database fails."""

    written: int = 0
    dropped: int = 0
    failing: bool = False
    last_error: str | None = None
    fatal: str | None = None
    notices: list[str] = field(default_factory=list)


class JournalWriter:
    """Queue rows for the journal and write them on a thread (or inline), never blocking."""

    def __init__(
        self,
        journal: Journal,
        buffer_rows: int = 100_000,
        batch_rows: int = 500,
        threaded: bool = True,
        retry_min_secs: float = 0.1,
        retry_max_secs: float = 5.0,
        on_drop: Callable[[str], None] | None = None,
    ) -> None:
        self.journal = journal
        self.buffer_rows = buffer_rows
        self.batch_rows = batch_rows
        self.threaded = threaded
        self.retry_min_secs = retry_min_secs
        self.retry_max_secs = retry_max_secs
        self._on_drop = on_drop
        self._queue: queue.Queue[tuple[str, dict]] = queue.Queue(maxsize=buffer_rows)
        self._inline: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._schema_ok = False
        self._dropping = False
        self.stats = WriterStats()

    # -- the caller's side -------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (threaded mode)."""
        if self.threaded and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
            self._thread.start()

    def put(self, table: str, row: dict) -> bool:
        """Queue one row; False (and counted) if the buffer is full. Never blocks or raises."""
        if self.threaded:
            try:
                self._idle.clear()
                self._queue.put_nowait((table, row))
                return True
            except queue.Full:
                return self._dropped()
        if len(self._inline) >= self.buffer_rows:
            return self._dropped()
        self._inline.append((table, row))
        if len(self._inline) >= self.batch_rows:
            self._write_inline()
        return True

    def _dropped(self) -> bool:
        with self._lock:
            self.stats.dropped += 1
            first = not self._dropping
            self._dropping = True
        if first:
            message = (
                f"journal {self.journal.display}: buffer of {self.buffer_rows} rows is full "
                f"({self.stats.last_error or 'the database is slow'}); dropping journal rows "
                "from now on (counted; trading is not affected)"
            )
            log.error(message)
            if self._on_drop is not None:
                try:
                    self._on_drop(message)
                except Exception:
                    log.exception("journal drop alert failed")
        return False

    def pending(self) -> int:
        """Rows queued or in hand, not yet written."""
        return self._queue.qsize() + len(self._inline) + (0 if self._idle.is_set() else 1)

    def drain_notices(self) -> list[str]:
        """Messages from the writer thread (outage, recovery) for the caller to log."""
        with self._lock:
            notices, self.stats.notices = self.stats.notices, []
        return notices

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        if not self.threaded:
            self._write_inline(final=True)
            return not self._inline
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.empty() and self._idle.is_set():
                return True
            if self._thread is None or not self._thread.is_alive():
                return False
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is buffered (waiting up to ``timeout``), stop the thread; True if all."""
        done = self.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(0.5, min(timeout, 5.0)))
            self._thread = None
        left = self.pending() if not done else 0
        if left:
            log.error(f"journal {self.journal.display}: closed with {left} rows not written")
        self.journal.dispose()
        return done

    # -- the thread's side -------------------------------------------------------------------

    def _run(self) -> None:
        batch: list[tuple[str, dict]] = []
        delay = self.retry_min_secs
        while True:
            if not batch:
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    self._idle.set()
                    if self._stop.is_set():
                        return
                    continue
                self._idle.clear()
                batch = [item]
                while len(batch) < self.batch_rows:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
            if self.stats.fatal is not None:
                batch = []  # a newer or corrupt journal: never written to; the rows are counted
                continue
            if self._try_write(batch):
                batch = []
                delay = self.retry_min_secs
                if self._queue.empty():
                    self._idle.set()
                continue
            if self._stop.wait(delay):
                return
            delay = min(self.retry_max_secs, delay * 2)

    def _try_write(self, batch: list[tuple[str, dict]]) -> bool:
        try:
            if not self._schema_ok:
                ensure_schema(self.journal)
                self._schema_ok = True
            write_batch(self.journal, batch)
        except JournalError as exc:
            if isinstance(exc, (JournalNewerSchemaError, JournalCorruptError)):
                self._note(f"journal disabled: {exc}")
                with self._lock:
                    self.stats.fatal = str(exc)
                    self.stats.dropped += len(batch)
                return True
            return self._failed(str(exc))
        except (SQLAlchemyError, OSError) as exc:
            return self._failed(f"{type(exc).__name__}: {_first_line(exc)}")
        with self._lock:
            self.stats.written += len(batch)
            if self.stats.failing:
                dropped = self.stats.dropped
                self.stats.failing = False
                self._dropping = False
                self.stats.notices.append(
                    f"journal {self.journal.display} is back: buffered rows written"
                    + (f"; {dropped} rows dropped in all while it was down" if dropped else "")
                )
        return True

    def _failed(self, error: str) -> bool:
        with self._lock:
            first = not self.stats.failing
            self.stats.failing = True
            self.stats.last_error = error
            if first:
                self.stats.notices.append(
                    f"journal {self.journal.display} cannot be written ({error}): buffering up "
                    f"to {self.buffer_rows} rows and retrying; trading is not affected"
                )
        if first:
            log.warning(f"journal {self.journal.display} write failed: {error}")
        return False

    def _note(self, message: str) -> None:
        log.error(message)
        with self._lock:
            self.stats.notices.append(message)

    def _write_inline(self, final: bool = False) -> None:
        while self._inline:
            batch = self._inline[: self.batch_rows]
            if not self._try_write(batch):
                if final:
                    # a backtest's end: retry a few times, then report what was lost
                    for _ in range(3):
                        time.sleep(self.retry_min_secs)
                        if self._try_write(batch):
                            break
                    else:
                        return
                else:
                    return
            del self._inline[: len(batch)]


def write_batch(journal: Journal, batch: list[tuple[str, dict]]) -> None:
    """Write rows in one transaction, idempotently, keeping the order of tables as queued."""
    groups: dict[str, list[dict]] = {}
    for table, row in batch:
        groups.setdefault(table, []).append(row)
    with journal.engine.begin() as conn:
        for name, rows in groups.items():
            table = TABLES[name]
            keys = UPSERT_KEYS.get(name)
            if keys is not None:
                latest: dict[tuple, dict] = {}
                for row in rows:
                    latest[tuple(row[k] for k in keys)] = row  # the last state of each key
                rows = list(latest.values())
            by_columns: dict[tuple[str, ...], list[dict]] = {}
            for row in rows:
                by_columns.setdefault(tuple(sorted(row)), []).append(row)
            for columns, same in by_columns.items():
                conn.execute(_statement(journal.dialect, table, keys, columns), same)


def _statement(dialect: str, table: Table, keys: tuple[str, ...] | None, columns: tuple[str, ...]):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    if keys is None:
        return stmt.on_conflict_do_nothing()
    keep = set(keys) | set(KEEP_ON_UPSERT.get(table.name, ()))
    coalesce = set(COALESCE_ON_UPSERT.get(table.name, ()))
    updates = {}
    for name in columns:
        if name in keep or name == "id":
            continue
        new = stmt.excluded[name]
        updates[name] = func.coalesce(new, table.c[name]) if name in coalesce else new
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
