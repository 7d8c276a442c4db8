"""Risk state persistence: bytes round trip, atomic file writes, loud failures."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from quant_scalper.errors import QuantScalperError
from quant_scalper.risk import (
    RISK_STATE_KEY,
    CorruptRiskStateError,
    RiskCore,
    RiskLimits,
    RiskState,
    RiskStateError,
    RiskStateStore,
    Rule,
    Trip,
    UnknownRiskStateVersionError,
    risk_state_from_bytes,
    risk_state_to_bytes,
)

NOW = datetime(2024, 3, 11, 15, 0, tzinfo=UTC)


def full_state() -> RiskState:
    return RiskState(
        trading_day=date(2024, 3, 11),
        realized_pnl=Decimal("-123.45"),
        open_pnl=Decimal("12.5"),
        consecutive_losses=2,
        trades_today=7,
        paused_until=NOW + timedelta(minutes=30),
        daily_limit_hit=True,
        daily_limit_hit_at=NOW,
        halted=True,
        halt_reason="manual stop",
        halted_at=NOW - timedelta(hours=1),
        trips=[
            Trip(NOW, Rule.DAILY_LOSS_LIMIT, "daily P&L -500.00 ..."),
            Trip(NOW, Rule.KILL_SWITCH, "kill switch on: manual stop — ünïcode"),
        ],
        version=42,
        booked_trades=["MESZ6.CME-ZScore-000:O-1:O-3"],
    )


def test_bytes_round_trip_and_layout() -> None:
    state = full_state()
    data = risk_state_to_bytes(state)
    assert risk_state_from_bytes(data) == state
    document = json.loads(data)
    assert next(iter(document)) == "schema_version"
    assert document["schema_version"] == 2
    assert document["realized_pnl"] == "-123.45"  # Decimal as string
    assert document["paused_until"] == "2024-03-11T15:30:00+00:00"  # ISO-8601 with offset
    assert document["trips"][0]["rule"] == "daily_loss_limit"


def test_empty_state_round_trips() -> None:
    assert risk_state_from_bytes(risk_state_to_bytes(RiskState())) == RiskState()


def test_nautilus_on_save_on_load_shape() -> None:
    cb = RiskCore(RiskLimits())
    cb.kill(NOW, "manual stop")
    saved: dict[str, bytes] = {RISK_STATE_KEY: risk_state_to_bytes(cb.state)}
    restored = RiskCore(RiskLimits(), state=risk_state_from_bytes(saved[RISK_STATE_KEY]))
    assert restored.state == cb.state
    assert not restored.entry_decision(NOW + timedelta(days=1)).allowed


def test_store_round_trip_and_paths(tmp_path: Path) -> None:
    store = RiskStateStore(tmp_path, "TRADER-001")
    assert store.path == tmp_path / "TRADER-001" / "risk_state.json"
    assert store.load() is None  # first start
    state = full_state()
    store.save(state)
    assert store.load() == state
    state.version += 1
    state.halted = False
    store.save(state)
    assert RiskStateStore(tmp_path, "TRADER-001").load() == state
    assert [p.name for p in store.path.parent.iterdir()] == ["risk_state.json"]  # no temp left
    per_strategy = RiskStateStore(str(tmp_path), "TRADER-001", "ZScore-000")
    assert per_strategy.path == tmp_path / "TRADER-001" / "ZScore-000" / "risk_state.json"


@pytest.mark.parametrize("bad_id", ["", "../etc", "a/b", ".hidden", "TRADER 1"])
def test_ids_must_be_safe_folder_names(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(ValueError, match="folder"):
        RiskStateStore(tmp_path, bad_id)
    with pytest.raises(ValueError, match="folder"):
        RiskStateStore(tmp_path, "TRADER-001", bad_id)


def _corrupt(document: dict[str, object], **changes: object) -> bytes:
    document = dict(document)
    for key, value in changes.items():
        if value is _DELETE:
            del document[key]
        else:
            document[key] = value
    return json.dumps(document).encode()


_DELETE = object()
_GOOD = json.loads(risk_state_to_bytes(full_state()))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"[]", "JSON object"),
        (b"", "not valid UTF-8 JSON"),
        (_corrupt(_GOOD, realized_pnl=_DELETE), "missing field 'realized_pnl'"),
        (_corrupt(_GOOD, realized_pnl=-12.5), "'realized_pnl' must be a decimal string"),
        (_corrupt(_GOOD, realized_pnl="twelve"), "not a decimal number"),
        (_corrupt(_GOOD, open_pnl="NaN"), "finite"),
        (_corrupt(_GOOD, consecutive_losses="2"), "'consecutive_losses' must be an integer"),
        (_corrupt(_GOOD, consecutive_losses=-1), "'consecutive_losses' must be an integer"),
        (_corrupt(_GOOD, halted="yes"), "'halted' must be true or false"),
        (_corrupt(_GOOD, halt_reason=None), "'halt_reason' is empty"),
        (_corrupt(_GOOD, paused_until="2024-03-11T15:30:00"), "no UTC offset"),
        (_corrupt(_GOOD, paused_until="tomorrow"), "not an ISO-8601 time"),
        (_corrupt(_GOOD, trading_day="11/03/2024"), "YYYY-MM-DD"),
        (_corrupt(_GOOD, trips={}), "'trips' must be a list"),
        (_corrupt(_GOOD, trips=[{"at": "2024-03-11T15:00:00+00:00"}]), "missing field"),
        (
            _corrupt(_GOOD, trips=[{"at": "2024-03-11T15:00:00+00:00", "rule": "x", "reason": ""}]),
            "not a known rule",
        ),
        (_corrupt(_GOOD, halted_=True), "unknown fields"),
        (_corrupt(_GOOD, schema_version=_DELETE), "missing field 'schema_version'"),
    ],
)
def test_corrupt_files_raise_with_the_path(tmp_path: Path, data: bytes, problem: str) -> None:
    store = RiskStateStore(tmp_path, "TRADER-001")
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(data)
    with pytest.raises(CorruptRiskStateError) as info:
        store.load()
    message = str(info.value)
    assert str(store.path) in message
    assert problem in message
    assert "HALTED" in message
    assert "delete it deliberately" in message
    assert isinstance(info.value, RiskStateError)
    assert isinstance(info.value, QuantScalperError)


def test_schema_version_1_is_read_with_no_booked_trades() -> None:
    document = json.loads(risk_state_to_bytes(full_state()))
    document["schema_version"] = 1
    del document["booked_trades"]
    state = risk_state_from_bytes(json.dumps(document).encode())
    assert state.booked_trades == [] and state.realized_pnl == full_state().realized_pnl


@pytest.mark.parametrize("version", [3, 0, "1", True, None])
def test_unknown_schema_version_raises_with_the_path(tmp_path: Path, version: object) -> None:
    store = RiskStateStore(tmp_path, "TRADER-001")
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(_corrupt(_GOOD, schema_version=version))
    with pytest.raises(UnknownRiskStateVersionError) as info:
        store.load()
    assert str(store.path) in str(info.value)
    assert "schema_version" in str(info.value)


def test_store_refuses_to_overwrite_an_unreadable_file_until_set_aside(tmp_path: Path) -> None:
    store = RiskStateStore(tmp_path, "TRADER-001")
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"garbage")
    with pytest.raises(CorruptRiskStateError):
        store.load()
    with pytest.raises(RiskStateError, match="refusing to overwrite"):
        store.save(RiskState())
    assert store.path.read_bytes() == b"garbage"
    kept = store.set_aside_unreadable(NOW)
    assert kept.name == "risk_state.json.unreadable-20240311T150000Z"
    assert kept.read_bytes() == b"garbage"
    halted = RiskState(halted=True, halt_reason="risk state was unreadable", halted_at=NOW)
    store.save(halted)
    assert store.load() == halted


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_crash_mid_save_leaves_the_old_file_intact(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    store = RiskStateStore(tmp_path, "TRADER-001")
    old = full_state()
    store.save(old)
    old_bytes = store.path.read_bytes()

    def crash(*_args: object, **_kwargs: object) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr(os, failing, crash)
    new = full_state()
    new.realized_pnl = Decimal("-999")
    with pytest.raises(OSError, match="simulated crash"):
        store.save(new)
    monkeypatch.undo()
    assert store.path.read_bytes() == old_bytes
    assert store.load() == old
    assert [p.name for p in store.path.parent.iterdir()] == ["risk_state.json"]


def test_from_bytes_wants_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        risk_state_from_bytes("{}")  # type: ignore[arg-type]
