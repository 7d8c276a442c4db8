"""The sweep results table: one Parquet row per point, rewritten atomically as points finish.

Parquet files cannot be appended to, and a sweep can be killed at any moment, so the table is
rewritten to a temporary file and renamed over the old one (at most every ``flush_every_s``
seconds, and at the end). A crash loses at most the points of the last few seconds; a rerun
skips every point already in the table (``ok`` or ``invalid``; ``error`` points are retried).

Columns: ``point_id``, ``base_fingerprint`` (hash of the base config and data range), ``status``,
``error``, ``elapsed_s``, ``worker``, ``finished_at``, one column per swept parameter (named by
its dotted key, e.g. ``strategy.entry_z``), then every statistic of ``PerformanceStats.as_row``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from quant_scalper.research.errors import ResearchError, ResultsMismatchError
from quant_scalper.research.worker import STATUS_ERROR, PointResult

META_COLUMNS = (
    "point_id",
    "base_fingerprint",
    "status",
    "error",
    "elapsed_s",
    "worker",
    "finished_at",
)


class ResultStore:
    """A resumable Parquet table of sweep points keyed by ``point_id``."""

    def __init__(
        self,
        path: Path,
        fingerprint: str,
        parameter_keys: Iterable[str],
        fresh: bool = False,
        flush_every_s: float = 2.0,
    ) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.parameter_keys = list(parameter_keys)
        self.flush_every_s = flush_every_s
        self._rows: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._last_flush = time.monotonic()
        if self.path.exists() and not fresh:
            self._load()

    def _load(self) -> None:
        try:
            frame = pd.read_parquet(self.path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise ResearchError(
                f"cannot read the results table {self.path} ({exc}): delete it or pass --fresh"
            ) from exc
        if frame.empty:
            return
        others = set(frame["base_fingerprint"]) - {self.fingerprint}
        if others:
            raise ResultsMismatchError(
                f"{self.path} holds results of a different base config or data range: pass "
                "--fresh to overwrite it, or --output to write another table"
            )
        for row in frame.to_dict(orient="records"):
            self._rows[str(row["point_id"])] = row

    def done(self) -> set[str]:
        """Points that need no rerun (finished or invalid; failed ones are retried)."""
        return {pid for pid, row in self._rows.items() if row["status"] != STATUS_ERROR}

    def add(self, result: PointResult) -> None:
        """Record a point's result (replacing an earlier failed attempt)."""
        row: dict[str, Any] = {
            "point_id": result.point_id,
            "base_fingerprint": self.fingerprint,
            "status": result.status,
            "error": result.error,
            "elapsed_s": result.elapsed_s,
            "worker": result.worker,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        row.update({key: _cell(result.params.get(key)) for key in self.parameter_keys})
        row.update(result.stats)
        self._rows[result.point_id] = row
        self._dirty = True

    def flush_if_due(self) -> None:
        """Write the table when it changed and ``flush_every_s`` has passed."""
        if self._dirty and time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        """Write the table now (temporary file + rename, so readers never see half a file)."""
        if not self._dirty and self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        frame = self.frame()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        self._dirty = False
        self._last_flush = time.monotonic()

    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame (metadata, parameters, statistics)."""
        frame = pd.DataFrame(list(self._rows.values()))
        if frame.empty:
            return pd.DataFrame(columns=[*META_COLUMNS, *self.parameter_keys])
        first = [c for c in (*META_COLUMNS, *self.parameter_keys) if c in frame.columns]
        rest = [c for c in frame.columns if c not in first]
        return frame[first + rest]

    def update_column(self, name: str, values: Mapping[str, Any]) -> None:
        """Set one column for some points (e.g. the deflated Sharpe once all trials are in)."""
        for pid, value in values.items():
            if pid in self._rows:
                self._rows[pid][name] = value
                self._dirty = True


def read_results(path: Path | str) -> pd.DataFrame:
    """Read a sweep results table (raises ``ResearchError`` with the path when unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise ResearchError(f"no sweep results at {path}: run `quant-scalper sweep` first")
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise ResearchError(f"cannot read the sweep results {path}: {exc}") from exc


def _cell(value: Any) -> Any:
    """A parameter value as a Parquet cell (lists, e.g. session breaks, become text)."""
    if isinstance(value, list | tuple | dict):
        return str(value)
    return value
