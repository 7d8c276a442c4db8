"""Risk state persistence: versioned JSON bytes and an atomic, crash-safe file per trader.

``risk_state_to_bytes``/``risk_state_from_bytes`` serve Nautilus ``on_save``/``on_load``
(``dict[str, bytes]``, key ``RISK_STATE_KEY``); ``RiskStateStore`` keeps the same bytes in
``<state_dir>/<trader_id>[/<strategy_id>]/risk_state.json`` so a restarted node resumes with the
day's P&L, pause and kill switch. Money is stored as decimal strings, times as ISO-8601 with a
UTC offset. An unreadable file is never silently replaced by a fresh state: loading raises, and
the store refuses to overwrite it until a human has dealt with it.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from quant_scalper.errors import QuantScalperError
from quant_scalper.risk.model import MAX_TRIPS_KEPT, RiskState, Rule, Trip
from quant_scalper.risk.state_folder import (
    UnsafeStateFolderError,
    ensure_private_dir,
    fsync_dir,
    read_file,
    write_file_atomic,
)

RISK_STATE_SCHEMA_VERSION = 2
"""The JSON layout version written by this code; bump it on any incompatible change.
Version 1 (no ``booked_trades``) is still read."""

_READABLE_VERSIONS = (1, 2)

RISK_STATE_KEY = "risk_state"
"""The key for the risk state in the Nautilus ``on_save``/``on_load`` dict."""

RISK_STATE_FILE_NAME = "risk_state.json"

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_WHAT_TO_DO = (
    "The node must stay HALTED until this is resolved: inspect the file, restore it from a "
    "backup, or delete it deliberately to start from a fresh state (that forgets the trading "
    "day's P&L, any pause and the kill switch)."
)


class RiskStateError(QuantScalperError):
    """The persisted risk state cannot be used; the message names the source and what to do."""


class CorruptRiskStateError(RiskStateError):
    """The risk state is not valid JSON, or a field is missing, unknown or of the wrong type."""


class UnsafeRiskStateError(RiskStateError):
    """The state folder is not private to the node's user, or the state file is a symlink."""


class UnknownRiskStateVersionError(RiskStateError):
    """The risk state was written with a ``schema_version`` this code does not understand."""


# -- bytes ---------------------------------------------------------------------------------------


def _dt_to_json(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def risk_state_to_bytes(state: RiskState) -> bytes:
    """Serialise ``state`` to UTF-8 JSON with ``schema_version`` first (stable, human-readable)."""
    document = {
        "schema_version": RISK_STATE_SCHEMA_VERSION,
        "version": state.version,
        "trading_day": None if state.trading_day is None else state.trading_day.isoformat(),
        "realized_pnl": str(state.realized_pnl),
        "open_pnl": str(state.open_pnl),
        "consecutive_losses": state.consecutive_losses,
        "trades_today": state.trades_today,
        "paused_until": _dt_to_json(state.paused_until),
        "daily_limit_hit": state.daily_limit_hit,
        "daily_limit_hit_at": _dt_to_json(state.daily_limit_hit_at),
        "halted": state.halted,
        "halt_reason": state.halt_reason,
        "halted_at": _dt_to_json(state.halted_at),
        "trips": [
            {"at": _dt_to_json(trip.at), "rule": trip.rule.value, "reason": trip.reason}
            for trip in state.trips
        ],
        "booked_trades": list(state.booked_trades),
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class _Reader:
    """Typed field access on a decoded JSON object; every problem becomes CorruptRiskStateError."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, problem: str) -> CorruptRiskStateError:
        return CorruptRiskStateError(
            f"risk state {self.source} is corrupt: {problem}. {_WHAT_TO_DO}"
        )

    def field(self, obj: dict[str, Any], key: str, where: str = "") -> Any:
        if key not in obj:
            raise self.fail(f"missing field {where}{key!r}")
        return obj[key]

    def int_(self, obj: dict[str, Any], key: str) -> int:
        value = self.field(obj, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"field {key!r} must be an integer >= 0, got {value!r}")
        return value

    def bool_(self, obj: dict[str, Any], key: str) -> bool:
        value = self.field(obj, key)
        if not isinstance(value, bool):
            raise self.fail(f"field {key!r} must be true or false, got {value!r}")
        return value

    def str_or_none(self, obj: dict[str, Any], key: str) -> str | None:
        value = self.field(obj, key)
        if value is not None and not isinstance(value, str):
            raise self.fail(f"field {key!r} must be a string or null, got {value!r}")
        return value

    def decimal(self, obj: dict[str, Any], key: str) -> Decimal:
        value = self.field(obj, key)
        if not isinstance(value, str):
            raise self.fail(
                f'field {key!r} must be a decimal string such as "-12.50", got {value!r}'
            )
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise self.fail(f"field {key!r} is not a decimal number: {value!r}") from None
        if not amount.is_finite():
            raise self.fail(f"field {key!r} must be a finite amount, got {value!r}")
        if amount.scaleb(2) != amount.scaleb(2).to_integral_value():
            # The risk core counts whole cents; rounding a stored P&L would change a limit.
            raise self.fail(f"field {key!r} has a fraction of a cent: {value!r}")
        return amount

    def datetime_or_none(self, obj: dict[str, Any], key: str, where: str = "") -> datetime | None:
        value = self.field(obj, key, where)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(f"field {where}{key!r} must be an ISO-8601 string, got {value!r}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(f"field {where}{key!r} is not an ISO-8601 time: {value!r}") from None
        if parsed.tzinfo is None:
            raise self.fail(f"field {where}{key!r} has no UTC offset: {value!r}")
        return parsed.astimezone(UTC)

    def date_or_none(self, obj: dict[str, Any], key: str) -> date | None:
        value = self.field(obj, key)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise self.fail(f"field {key!r} must be a YYYY-MM-DD date, got {value!r}") from None

    def trip(self, obj: object, index: int) -> Trip:
        where = f"trips[{index}]."
        if not isinstance(obj, dict):
            raise self.fail(f"trips[{index}] must be an object, got {obj!r}")
        unknown = set(obj) - {"at", "rule", "reason"}
        if unknown:
            raise self.fail(f"unknown fields in trips[{index}]: {sorted(unknown)}")
        at = self.datetime_or_none(obj, "at", where)
        rule = self.field(obj, "rule", where)
        reason = self.field(obj, "reason", where)
        if at is None:
            raise self.fail(f"field {where}'at' must be a time, got null")
        if rule not in {r.value for r in Rule}:
            raise self.fail(f"field {where}'rule' is not a known rule: {rule!r}")
        if not isinstance(reason, str):
            raise self.fail(f"field {where}'reason' must be a string, got {reason!r}")
        return Trip(at=at, rule=Rule(rule), reason=reason)


_FIELDS = frozenset(
    {
        "schema_version",
        "version",
        "trading_day",
        "realized_pnl",
        "open_pnl",
        "consecutive_losses",
        "trades_today",
        "paused_until",
        "daily_limit_hit",
        "daily_limit_hit_at",
        "halted",
        "halt_reason",
        "halted_at",
        "trips",
        "booked_trades",
    },
)


def risk_state_from_bytes(data: bytes, *, source: str = "bytes") -> RiskState:
    """Parse bytes written by ``risk_state_to_bytes``; ``source`` names them in error messages.

    Raises UnknownRiskStateVersionError for another ``schema_version`` and CorruptRiskStateError
    for anything else that is wrong (bad UTF-8/JSON, missing or unknown fields, wrong types).
    """
    reader = _Reader(source)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"risk state must be bytes, got {type(data).__name__}")
    try:
        document = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise reader.fail(f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(document, dict):
        raise reader.fail(f"expected a JSON object, got {type(document).__name__}")
    schema_version = reader.field(document, "schema_version")
    if schema_version not in _READABLE_VERSIONS or isinstance(schema_version, bool):
        raise UnknownRiskStateVersionError(
            f"risk state {source} has schema_version {schema_version!r}, this quant-scalper "
            f"reads versions {_READABLE_VERSIONS} only: run the quant-scalper version "
            f"that wrote it, or migrate the file by hand. {_WHAT_TO_DO}",
        )
    unknown = set(document) - _FIELDS
    if schema_version == 1:
        unknown |= set(document) & {"booked_trades"}
    if unknown:
        raise reader.fail(f"unknown fields {sorted(unknown)}")
    booked = [] if schema_version == 1 else reader.field(document, "booked_trades")
    if not isinstance(booked, list) or not all(isinstance(k, str) and k for k in booked):
        raise reader.fail("field 'booked_trades' must be a list of non-empty strings")
    trips_raw = reader.field(document, "trips")
    if not isinstance(trips_raw, list):
        raise reader.fail(f"field 'trips' must be a list, got {type(trips_raw).__name__}")
    halted = reader.bool_(document, "halted")
    halt_reason = reader.str_or_none(document, "halt_reason")
    if halted and not halt_reason:
        raise reader.fail("'halted' is true but 'halt_reason' is empty")
    return RiskState(
        trading_day=reader.date_or_none(document, "trading_day"),
        realized_pnl=reader.decimal(document, "realized_pnl"),
        open_pnl=reader.decimal(document, "open_pnl"),
        consecutive_losses=reader.int_(document, "consecutive_losses"),
        trades_today=reader.int_(document, "trades_today"),
        paused_until=reader.datetime_or_none(document, "paused_until"),
        daily_limit_hit=reader.bool_(document, "daily_limit_hit"),
        daily_limit_hit_at=reader.datetime_or_none(document, "daily_limit_hit_at"),
        halted=halted,
        halt_reason=halt_reason,
        halted_at=reader.datetime_or_none(document, "halted_at"),
        trips=[reader.trip(raw, i) for i, raw in enumerate(trips_raw)][-MAX_TRIPS_KEPT:],
        version=reader.int_(document, "version"),
        booked_trades=booked,
    )


# -- file ----------------------------------------------------------------------------------------


def _check_id(value: str, name: str) -> str:
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"{name} {value!r} cannot name a folder: use letters, digits, '.', '_' or '-' "
            "(e.g. 'TRADER-001')",
        )
    return value


class RiskStateStore:
    """The risk state file of one trader (and optionally one strategy), written atomically.

    Path: ``<state_dir>/<trader_id>/risk_state.json``, or
    ``<state_dir>/<trader_id>/<strategy_id>/risk_state.json`` when ``strategy_id`` is given
    (use it when several strategies run under one trader id: one writer per file). ``save``
    writes an exclusively created temp file in the same folder, fsyncs it, ``os.replace``s it
    over the old file and fsyncs the folder, so a crash leaves either the old or the new file,
    never half of one. The folders must be private (see ``state_folder``); a symlink as the
    file is refused, never followed.
    """

    def __init__(
        self,
        state_dir: Path | str,
        trader_id: str,
        strategy_id: str | None = None,
    ) -> None:
        folder = Path(state_dir) / _check_id(trader_id, "trader_id")
        if strategy_id is not None:
            folder = folder / _check_id(strategy_id, "strategy_id")
        self._root = Path(state_dir)
        self._folder = folder
        self._path = folder / RISK_STATE_FILE_NAME
        self._unreadable = False

    @property
    def path(self) -> Path:
        """The risk state file."""
        return self._path

    def load(self) -> RiskState | None:
        """The saved state, or None when there is no file yet (a first start).

        Raises CorruptRiskStateError / UnknownRiskStateVersionError (with the path and what to
        do) when the file cannot be used, UnsafeRiskStateError when the folder is not private
        to this user or the file is a symlink; ``save`` then refuses to overwrite it.
        """
        try:
            ensure_private_dir(self._folder, root=self._root)
            data, _ = read_file(self._path)
        except FileNotFoundError:
            self._unreadable = False
            return None
        except UnsafeStateFolderError as exc:
            self._unreadable = True
            raise UnsafeRiskStateError(f"{exc}. {_WHAT_TO_DO}") from exc
        except OSError as exc:
            self._unreadable = True
            raise CorruptRiskStateError(
                f"risk state {self._path} cannot be read ({exc}). {_WHAT_TO_DO}",
            ) from exc
        try:
            state = risk_state_from_bytes(data, source=str(self._path))
        except RiskStateError:
            self._unreadable = True
            raise
        self._unreadable = False
        return state

    @property
    def unreadable(self) -> bool:
        """True while the last ``load`` found the file unusable (``save`` refuses)."""
        return self._unreadable

    def save(self, state: RiskState) -> None:
        """Atomically replace the file with ``state`` (creating the folders if needed).

        Refuses (RiskStateError) while the last ``load`` found the file unreadable, so the
        evidence is not overwritten; see ``set_aside_unreadable``. Raises OSError when the
        folder cannot be written (read-only, full, immutable) and UnsafeRiskStateError when it
        is not private or the file is a symlink.
        """
        if self._unreadable:
            raise RiskStateError(
                f"refusing to overwrite the unreadable risk state {self._path}: fix or restore "
                "it and restart, or run `quant-scalper resume --reset-unreadable-state` to keep "
                "it under another name and start a new one",
            )
        data = risk_state_to_bytes(state)
        try:
            ensure_private_dir(self._folder, root=self._root)
            write_file_atomic(self._path, data)
        except UnsafeStateFolderError as exc:
            raise UnsafeRiskStateError(str(exc)) from exc

    def set_aside_unreadable(self, now: datetime | None = None) -> Path:
        """Rename the state file (or symlink) to ``risk_state.json.unreadable-<UTC time>`` (kept
        for inspection) and allow ``save`` again. A deliberate operator action: the next save
        starts from whatever state the caller passes, so keep the node halted.
        """
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self._path.with_name(f"{RISK_STATE_FILE_NAME}.unreadable-{stamp}")
        if os.path.lexists(self._path):
            os.replace(self._path, target)
            fsync_dir(self._folder)
        self._unreadable = False
        return target
