"""The operator's desk: Telegram commands in, replies and control messages out (no Nautilus).

The actor hands it each fetched ``Update`` on the node's thread; the desk checks the chat and
the command's age, answers the queries, runs the /flatten -> /confirm gate and publishes
pause/resume/kill/flatten through the ``publish`` callback (the actor's message bus).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from quant_scalper.telegram import formatting as fmt
from quant_scalper.telegram.client import Update
from quant_scalper.telegram.commands import (
    HELP_TEXT,
    CommandError,
    Confirm,
    ConfirmationGate,
    Verb,
    parse_command,
)
from quant_scalper.telegram.trades import TradeBook

Emit = Callable[[str, int | None], None]
"""Send a text to a chat (None: the alert chat); never blocks."""


class Log(Protocol):
    """The logger methods the desk uses (a Nautilus ``Logger`` has them)."""

    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...


class OperatorDesk:
    """Runs operator commands from allowed chats; replies go to the chat that asked."""

    def __init__(
        self,
        *,
        allowed_chats: Iterable[int],
        confirm_secs: int,
        max_command_age_secs: int,
        emit: Emit,
        publish: Callable[[dict[str, Any]], None],
        status: Callable[[], str],
        book: TradeBook,
        now: Callable[[], datetime],
        log: Log,
    ) -> None:
        self.allowed: set[int] = set(allowed_chats)
        self._confirm_secs = confirm_secs
        self._max_age = max_command_age_secs
        self._emit = emit
        self._publish = publish
        self._status = status
        self._book = book
        self._now = now
        self._log = log
        self._gate = ConfirmationGate(confirm_secs)
        self._ignored: set[int] = set()
        self._answered: list[str] = []

    def receive(self, update: Update) -> None:
        """Run one update; a failing command is logged and answered, never raised."""
        try:
            self.handle(update)
        except Exception as exc:  # a failing command must not swallow the next ones
            self._log.error(f"Telegram command {update.text!r} failed: {exc!r}")
            if update.chat_id in self.allowed:
                self._emit(fmt.command_failed_text(exc), update.chat_id)

    def expire(self, now_monotonic: float | None = None) -> None:
        """Cancel a /flatten whose /confirm window passed, telling its chat."""
        now = time.monotonic() if now_monotonic is None else now_monotonic
        chat = self._gate.expire(now)
        if chat is not None:
            self._emit(fmt.flatten_cancelled_text(self._confirm_secs), chat)

    def handle(self, update: Update) -> None:
        """Check the chat and the command's age, then answer or act on the command."""
        if not update.text:
            return
        if update.chat_id not in self.allowed:
            if update.chat_id not in self._ignored:
                self._ignored.add(update.chat_id)
                self._log.warning(
                    f"Telegram: ignoring chat {update.chat_id} ({update.sender or 'unknown'}): "
                    "not in TELEGRAM_CHAT_ID or telegram.allowed_chat_ids (logged once)"
                )
            return
        chat = update.chat_id
        try:
            command = parse_command(update.text)
        except CommandError as exc:
            self._emit(str(exc), chat)
            return
        if command is None:
            return
        age = time.time() - update.sent_at if update.sent_at else 0.0
        if age > self._max_age:
            self._emit(fmt.stale_command_text(command.verb.value, age), chat)
            return
        self._log.info(f"Telegram command /{command.verb.value} from chat {chat}")
        verb = command.verb
        if verb is Verb.HELP:
            self._emit(HELP_TEXT, chat)
        elif verb is Verb.STATUS:
            self._emit(self._status(), chat)
        elif verb is Verb.PNL:
            summary = self._book.summary(self._now(), command.period)
            self._emit(fmt.summary_text(fmt.pnl_title(command.period), summary), chat)
        elif verb is Verb.TRADES:
            self._emit(fmt.trades_text(self._book.trades, command.count), chat)
        elif verb is Verb.PAUSE:
            self.control(chat, "pause", minutes=command.minutes)
        elif verb is Verb.RESUME:
            self.control(chat, "resume")
        elif verb is Verb.KILL:
            self.control(chat, "kill")
        elif verb is Verb.FLATTEN:
            self._gate.request(chat, time.monotonic())
            self._emit(fmt.flatten_prompt_text(self._confirm_secs), chat)
        elif verb is Verb.CONFIRM:
            self._confirm(chat)

    def _confirm(self, chat: int) -> None:
        outcome = self._gate.confirm(chat, time.monotonic())
        if outcome is Confirm.CONFIRMED:
            self.control(chat, "flatten")
        elif outcome is Confirm.EXPIRED:
            self._emit(fmt.CONFIRM_EXPIRED_TEXT, chat)
        elif outcome is Confirm.OTHER_CHAT:
            self._emit(fmt.CONFIRM_OTHER_CHAT_TEXT, chat)
        else:
            self._emit(fmt.CONFIRM_NOTHING_TEXT, chat)

    def control(self, chat: int, command: str, minutes: int | None = None) -> None:
        """Publish an operator command (on the node's thread) and reply if nobody answered."""
        message: dict[str, Any] = {
            "command": command,
            "reason": f"/{command} from Telegram chat {chat}",
            "source": f"telegram:{chat}",
        }
        if minutes is not None:
            message["minutes"] = minutes
        self._answered.clear()
        self._publish(message)
        if not self._answered:
            self._emit(fmt.no_answer_text(command), chat)

    def on_control_result(self, message: dict[str, Any]) -> None:
        """Note a strategy's answer; relay it to the chat when the command came from one."""
        source = str(message.get("source") or "")
        self._answered.append(source)
        if source.startswith("telegram:"):
            chat = int(source.split(":", 1)[1])
            self._emit(fmt.control_result_text(message.get("command"), message.get("result")), chat)
