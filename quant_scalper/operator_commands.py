"""Operator commands (kill, resume, pause, flatten) as the strategy applies them.

They arrive from the control folder (``quant-scalper kill``/``resume``), Telegram or the
dashboard; this class decides what each one means for the risk state and answers in a line the
operator reads back. Orders are the strategy's business: it is reached through ``Desk``.
Pure: no Nautilus import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

from quant_scalper.control import ControlChannel, ControlChannelError
from quant_scalper.risk.trader_risk import TraderRisk

DEFAULT_PAUSE_MINUTES = 30
"""A pause command without minutes, when ``pause_minutes`` is 0 too."""


class Desk(Protocol):
    """What the commands need from the strategy."""

    def now(self) -> datetime:
        """The strategy clock's time (UTC)."""

    def hold_reason(self) -> str | None:
        """Why the connection guard holds every order now (None: trade on)."""

    def kill(self, reason: str) -> None:
        """Kill switch on: cancel, flatten, HALTED once flat."""

    def resume(self, reason: str) -> None:
        """Kill switch off (a daily limit hit today stays)."""

    def flatten(self, reason: str) -> str:
        """Cancel and close the position; says what it did."""

    def persist(self) -> None:
        """Save the risk state if it changed."""


class OperatorCommands:
    """Applies one operator command at a time to the trader's risk, through the ``Desk``."""

    def __init__(
        self,
        desk: Desk,
        risk: TraderRisk,
        pause_minutes: int,
        warn: Callable[[str], None],
        error: Callable[[str], None],
    ) -> None:
        self._desk = desk
        self._risk = risk
        self._pause_minutes = pause_minutes or DEFAULT_PAUSE_MINUTES
        self._warn = warn
        self._error = error

    def poll(self, channel: ControlChannel) -> None:
        """Apply the control folder's queued commands, oldest first, recording each result."""
        try:
            for command in channel.pending():
                who = f"{command.reason} (by {command.issued_by})"
                result = self.apply(
                    {
                        "command": command.command,
                        "reason": who,
                        "reset_unreadable_state": command.reset_unreadable_state,
                    }
                )
                channel.complete(command, result)
        except ControlChannelError as exc:
            self._error(str(exc))

    def apply(self, message: Mapping[str, object]) -> str:
        """Apply a command message (``command``, ``reason``, ``minutes``...); what it did."""
        command = str(message.get("command", ""))
        reason = str(message.get("reason") or f"{command} by operator")
        breakers = self._risk.breakers
        desk = self._desk
        now = desk.now()
        hold = desk.hold_reason()
        store = self._risk.store
        if command == "kill":
            desk.kill(reason)
            result = f"halted: {reason}; flattening under REDUCING, HALTED once flat"
            if hold is not None:
                result = (
                    f"halted: {reason}; no order while {hold}: the bracket at IB stays, the "
                    "position is flattened once IB has resynced"
                )
        elif command == "resume" and store is not None and store.unreadable:
            result = self._resume_unreadable(reason, bool(message.get("reset_unreadable_state")))
        elif command == "resume":
            desk.resume(reason)
            breakers.unpause(now, reason)
            desk.persist()
            result = "resumed" + (
                " (daily loss limit still in force today)"
                if self._risk.state.daily_limit_hit
                else ""
            )
        elif command == "pause":
            minutes = int(str(message.get("minutes") or self._pause_minutes))
            breakers.pause(now, minutes, reason)
            desk.persist()
            result = f"entries paused for {minutes} min"
        elif command == "flatten" and hold is not None:
            result = (
                f"not flattened: {hold}, the node's position may be stale. Retry once the node "
                "has resynced, or run `quant-scalper flatten` (it reads IB's positions) after "
                "the gateway is back; the bracket at IB protects the position meanwhile"
            )
        elif command == "flatten":
            result = desk.flatten(reason)
        else:
            result = f"unknown command {command!r}: use kill, resume, pause or flatten"
        self._warn(f"Control command {command}: {result}")
        return result

    def _resume_unreadable(self, reason: str, reset: bool) -> str:
        """Resume over an unreadable state file only as an explicit reset (logged)."""
        store = self._risk.store
        assert store is not None
        if not reset:
            return (
                f"not resumed: the risk state {store.path} is unreadable; inspect it, "
                "then run `quant-scalper resume --reset-unreadable-state` to move it aside and "
                "start from a fresh state (forgets today's P&L)"
            )
        now = self._desk.now()
        kept = store.set_aside_unreadable(now)
        self._warn(
            f"RESET of the unreadable risk state: {store.path} moved to {kept}, starting "
            f"from a fresh state ({reason}, at {now:%Y-%m-%d %H:%M:%S} UTC)",
        )
        self._desk.resume(reason)
        self._risk.breakers.unpause(now, reason)
        self._desk.persist()
        return f"resumed after a reset: the unreadable state was moved to {kept}"
