"""The control channel: ``quant-scalper kill`` / ``resume`` reaching a running (or stopped) node.

Commands are small JSON files dropped atomically into ``<state_dir>/<trader_id>/control/``,
next to the risk state file. The strategy polls that folder on a timer (``control_poll_secs``)
and also drains it when it starts, so a kill issued while the node is down is applied before it
trades. A processed command is moved to ``control/done/`` with its result.

Who may use it: the operating-system user running the node (and root). The folders are created
mode 0700 and the node refuses them when they are owned by another user or writable by group or
others; ``issued_by`` is the command file's owner, whatever the file says. Nothing listens on
the network.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quant_scalper.errors import ConfigError, QuantScalperError
from quant_scalper.risk.state_folder import (
    UnsafeStateFolderError,
    ensure_private_dir,
    owner_name,
    read_file,
    write_file_atomic,
)

COMMANDS = ("kill", "resume")


class ControlChannelError(QuantScalperError):
    """A control command could not be written or read."""


@dataclass(frozen=True)
class ControlCommand:
    """One operator command: what, why, who and when."""

    id: str
    command: str
    reason: str
    issued_by: str
    issued_at: datetime
    path: Path
    reset_unreadable_state: bool = False


class ControlChannel:
    """The command folder of one trader id under a state directory.

    The folders must be private to the node's user (``risk.state_folder``): a command can only
    come from that user or root. ``issued_by`` is the owner of the command file, not what the
    file says.
    """

    def __init__(self, state_dir: Path | str, trader_id: str) -> None:
        self.root = Path(state_dir)
        self.folder = self.root / trader_id / "control"
        self.done = self.folder / "done"

    def submit(
        self, command: str, reason: str, reset_unreadable_state: bool = False
    ) -> ControlCommand:
        """Queue a command atomically (exclusive temp file, fsync, rename); returns it."""
        if command not in COMMANDS:
            raise ControlChannelError(f"unknown command {command!r}: use one of {COMMANDS}")
        now = datetime.now(UTC)
        cmd_id = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
        payload = {
            "id": cmd_id,
            "command": command,
            "reason": reason,
            "issued_by": f"{getpass.getuser()}@{socket.gethostname()}",
            "issued_at": now.isoformat(),
            "reset_unreadable_state": reset_unreadable_state,
        }
        target = self.folder / f"{cmd_id}.json"
        try:
            ensure_private_dir(self.folder, root=self.root)
            write_file_atomic(target, json.dumps(payload).encode("utf-8"))
        except UnsafeStateFolderError as exc:
            raise ControlChannelError(str(exc)) from exc
        except OSError as exc:
            raise ControlChannelError(
                f"cannot write to the control folder {self.folder}: {exc}; run as the node's "
                "user or check --state-dir",
            ) from exc
        return _parse(target, payload, owner_name(os.geteuid()))

    def pending(self) -> list[ControlCommand]:
        """Queued commands, oldest first; unreadable files are moved to done/ as rejected.

        Raises ControlChannelError (nothing applied) when the folder is not private.
        """
        if not os.path.lexists(self.folder):
            return []
        try:
            ensure_private_dir(self.folder, root=self.root)
        except UnsafeStateFolderError as exc:
            raise ControlChannelError(f"control commands ignored: {exc}") from exc
        commands: list[ControlCommand] = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                data, st = read_file(path)
                if st.st_uid not in (os.geteuid(), 0):
                    raise ValueError(
                        f"owned by {owner_name(st.st_uid)}, not by the node's user or root"
                    )
                payload = json.loads(data.decode("utf-8"))
                commands.append(_parse(path, payload, owner_name(st.st_uid)))
            except (OSError, ValueError, KeyError, TypeError, UnsafeStateFolderError) as exc:
                self._archive(path, {"result": f"rejected: unreadable command ({exc})"})
        return commands

    def complete(self, command: ControlCommand, result: str) -> None:
        """Move a processed command to done/ with its result."""
        payload = {
            "id": command.id,
            "command": command.command,
            "reason": command.reason,
            "issued_by": command.issued_by,
            "issued_at": command.issued_at.isoformat(),
            "result": result,
            "done_at": datetime.now(UTC).isoformat(),
        }
        self._archive(command.path, payload)

    def result(self, command_id: str) -> str | None:
        """The result of a processed command, or None while it is still queued."""
        try:
            data, _ = read_file(self.done / f"{command_id}.json")
        except FileNotFoundError:
            return None
        except UnsafeStateFolderError as exc:
            raise ControlChannelError(str(exc)) from exc
        return str(json.loads(data.decode("utf-8")).get("result"))

    def _archive(self, path: Path, payload: dict[str, Any]) -> None:
        """Write the result to done/ (never through a symlink) and drop the command file; the
        command file goes even when the result cannot be written, so it is not applied twice."""
        try:
            ensure_private_dir(self.done, root=self.root)
            write_file_atomic(self.done / path.name, (json.dumps(payload) + "\n").encode("utf-8"))
        except (OSError, UnsafeStateFolderError) as exc:
            path.unlink(missing_ok=True)
            raise ControlChannelError(
                f"command {path.name} processed but its result was not written: {exc}"
            ) from exc
        path.unlink(missing_ok=True)


def _parse(path: Path, payload: dict[str, Any], issued_by: str) -> ControlCommand:
    command = str(payload["command"])
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    issued_at = datetime.fromisoformat(str(payload["issued_at"]))
    return ControlCommand(
        id=str(payload["id"]),
        command=command,
        reason=str(payload.get("reason") or command),
        issued_by=issued_by,
        issued_at=issued_at,
        path=path,
        reset_unreadable_state=payload.get("reset_unreadable_state") is True,
    )


# -- command line -----------------------------------------------------------------------------


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``kill`` and ``resume`` to the ``quant-scalper`` command line."""
    for name, help_text in (
        ("kill", "kill switch: cancel all, flatten, then halt until `resume`"),
        ("resume", "clear the kill switch (a daily loss limit hit today stays in force)"),
    ):
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("--config", type=Path, help="YAML with risk.state_dir and trader_id")
        parser.add_argument("--state-dir", type=Path, help="the node's risk state folder")
        parser.add_argument("--trader-id", help="the node's trader id, e.g. QS-PAPER-001")
        parser.add_argument("--reason", default=None, help="why (logged and stored)")
        parser.add_argument(
            "--wait", type=float, default=10.0, help="seconds to wait for the node to confirm"
        )
        if name == "resume":
            parser.add_argument(
                "--reset-unreadable-state",
                action="store_true",
                help="the risk state file is unreadable: move it aside (timestamped, logged) and "
                "resume from a fresh state, forgetting the trading day's P&L",
            )
        parser.set_defaults(handler=_run, control_command=name)


def _run(args: argparse.Namespace) -> int:
    state_dir, trader_id = _target(args)
    channel = ControlChannel(state_dir, trader_id)
    reason = args.reason or f"{args.control_command} from the command line"
    reset = bool(getattr(args, "reset_unreadable_state", False))
    if args.control_command == "resume" and not reset:
        from quant_scalper.risk import RiskStateError, RiskStateStore

        try:
            RiskStateStore(state_dir, trader_id).load()
        except RiskStateError as exc:
            print(
                f"resume: refused, the risk state is unreadable ({str(exc).split('. ')[0]}); "
                "inspect it, then run `quant-scalper resume --reset-unreadable-state` to move it "
                "aside and start from a fresh state",
                file=sys.stderr,
            )
            return 2
    command = channel.submit(args.control_command, reason, reset)
    deadline = time.monotonic() + max(args.wait, 0.0)
    while time.monotonic() < deadline:
        result = channel.result(command.id)
        if result is not None:
            print(f"{args.control_command}: {result}")
            return 0
        time.sleep(0.2)
    print(
        f"{args.control_command}: queued as {command.path}; no running node confirmed it within "
        f"{args.wait:g} s. The node applies it when it next polls or starts. Check the node's log.",
    )
    return 0


def _target(args: argparse.Namespace) -> tuple[Path, str]:
    state_dir, trader_id = args.state_dir, args.trader_id
    if args.config is not None:
        from quant_scalper.config import read_yaml, resolve_path

        raw = read_yaml(args.config.resolve())
        risk = raw.get("risk") or {}
        if state_dir is None and risk.get("state_dir"):
            state_dir = resolve_path(risk["state_dir"], args.config.resolve().parent)
        trader_id = trader_id or raw.get("trader_id")
    if state_dir is None or not trader_id:
        raise ConfigError(
            "kill/resume need the node's state folder and trader id: pass --config with "
            "risk.state_dir and trader_id, or --state-dir and --trader-id",
        )
    return Path(state_dir), str(trader_id)
