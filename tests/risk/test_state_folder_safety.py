"""The state folder cannot be fooled: symlinks, foreign owners, open modes (issue 10, 3 and 4).

The tests run as root here; another local user is simulated by chowning to uid 65534.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from quant_scalper.control import ControlChannel, ControlChannelError
from quant_scalper.risk import RiskState, RiskStateError, RiskStateStore
from quant_scalper.risk.state_folder import (
    UnsafeStateFolderError,
    check_state_folders,
    write_file_atomic,
)
from quant_scalper.risk.state_store import UnsafeRiskStateError

TRADER = "TRADER-001"
OTHER_UID = 65534


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    return folder


def _trader(state_dir: Path) -> Path:
    folder = state_dir / TRADER
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def test_dangling_symlink_as_the_state_file_is_refused(state_dir: Path) -> None:
    store = RiskStateStore(state_dir, TRADER)
    _trader(state_dir)
    store.path.symlink_to(state_dir / "nowhere.json")
    with pytest.raises(UnsafeRiskStateError) as info:
        store.load()
    message = str(info.value)
    assert str(store.path) in message and "symlink" in message and "HALTED" in message
    with pytest.raises(RiskStateError):
        store.save(RiskState())  # never creates the link's target
    assert not (state_dir / "nowhere.json").exists()


def test_valid_symlink_as_the_state_file_is_refused_and_never_replaced(
    state_dir: Path, tmp_path: Path
) -> None:
    real = tmp_path / "elsewhere.json"
    good = RiskStateStore(tmp_path / "other", TRADER)
    good.save(RiskState(trades_today=3, version=5))
    real.write_bytes(good.path.read_bytes())
    store = RiskStateStore(state_dir, TRADER)
    _trader(state_dir)
    store.path.symlink_to(real)
    with pytest.raises(UnsafeRiskStateError, match="symlink"):
        store.load()
    fresh = RiskStateStore(state_dir, TRADER)  # a store that never loaded still refuses
    with pytest.raises(UnsafeRiskStateError, match="symlink"):
        fresh.save(RiskState())
    assert store.path.is_symlink() and real.read_bytes() == good.path.read_bytes()


@pytest.mark.parametrize("where", ["state_dir", "trader"])
def test_group_or_world_writable_state_folder_is_refused(state_dir: Path, where: str) -> None:
    folder = state_dir if where == "state_dir" else _trader(state_dir)
    folder.chmod(0o777)
    with pytest.raises(UnsafeRiskStateError) as info:
        RiskStateStore(state_dir, TRADER).load()
    assert str(folder) in str(info.value) and f"chmod go-w {folder}" in str(info.value)


def test_state_folder_owned_by_another_user_is_refused(state_dir: Path) -> None:
    folder = _trader(state_dir)
    os.chown(folder, OTHER_UID, -1)
    with pytest.raises(UnsafeStateFolderError) as info:
        check_state_folders(state_dir, TRADER)
    assert f"chown root {folder}" in str(info.value)


@pytest.mark.parametrize("sub", ["control", "control/done", "fills"])
def test_open_control_folders_refuse_the_start(state_dir: Path, sub: str) -> None:
    folder = _trader(state_dir) / sub
    folder.mkdir(parents=True, mode=0o700)
    folder.chmod(0o733)
    with pytest.raises(UnsafeStateFolderError, match="writable by group or others"):
        check_state_folders(state_dir, TRADER)


def test_symlinked_trader_folder_is_refused(state_dir: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (state_dir / TRADER).symlink_to(real)
    with pytest.raises(UnsafeStateFolderError, match="is a symlink"):
        check_state_folders(state_dir, TRADER)


def test_commands_in_a_world_writable_control_folder_are_not_applied(state_dir: Path) -> None:
    channel = ControlChannel(state_dir, TRADER)
    channel.submit("kill", "test")
    channel.folder.chmod(0o777)
    with pytest.raises(ControlChannelError, match="control commands ignored"):
        channel.pending()


def test_issued_by_is_the_file_owner_not_what_the_file_claims(state_dir: Path) -> None:
    channel = ControlChannel(state_dir, TRADER)
    command = channel.submit("resume", "test")
    payload = json.loads(command.path.read_text())
    payload["issued_by"] = "alice@trusted-host"
    command.path.write_text(json.dumps(payload))
    (pending,) = channel.pending()
    assert pending.issued_by == "root"


def test_command_file_of_another_user_is_rejected(state_dir: Path) -> None:
    channel = ControlChannel(state_dir, TRADER)
    command = channel.submit("kill", "planted")
    os.chown(command.path, OTHER_UID, -1)
    assert channel.pending() == []
    assert "rejected" in (channel.result(command.id) or "")
    assert not command.path.exists()


def test_planted_symlink_in_done_is_not_written_through(state_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "root-owned.conf"
    victim.write_text("precious\n")
    channel = ControlChannel(state_dir, TRADER)
    command = channel.submit("kill", "test")
    channel.done.mkdir(mode=0o700)
    (channel.done / command.path.name).symlink_to(victim)
    (pending,) = channel.pending()
    with pytest.raises(ControlChannelError, match="symlink"):
        channel.complete(pending, "halted")
    assert victim.read_text() == "precious\n"
    assert not command.path.exists(), "processed: never applied a second time"


def test_status_file_symlink_is_refused_and_temp_files_are_exclusive(
    state_dir: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    folder = _trader(state_dir)
    (folder / "status.tmp").symlink_to(victim)  # the old fixed temp name: now unused
    write_file_atomic(folder / "status.json", b"{}\n", durable=False)
    assert (folder / "status.json").read_bytes() == b"{}\n"
    (folder / "status.json").unlink()
    (folder / "status.json").symlink_to(victim)
    with pytest.raises(UnsafeStateFolderError, match="symlink"):
        write_file_atomic(folder / "status.json", b"{}\n", durable=False)
    assert victim.read_text() == "precious\n"
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == ["status.tmp"]
