"""Where alerts go: Telegram through the outbox (live), a JSON-lines file (backtest) or nowhere.

Pure plumbing, no Nautilus: it owns the HTTP clients, the ``Outbox`` sender thread and the
``UpdatePoller`` thread, and turns the threads' news into log lines on the caller's thread.
"""

from __future__ import annotations

import json
import os
import queue
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

from quant_scalper.telegram.client import TelegramClient, Update
from quant_scalper.telegram.errors import TelegramConfigError
from quant_scalper.telegram.operator import Log
from quant_scalper.telegram.outbox import Outbox, OutboxEvent, OutboxStats
from quant_scalper.telegram.poller import UpdatePoller


class SendSettings(Protocol):
    """The settings sending needs (``TelegramAlertsConfig`` has them)."""

    api_url: str
    token_env: str
    chat_id_env: str
    commands: bool
    request_timeout_secs: float
    poll_wait_secs: int
    queue_capacity: int
    max_backoff_secs: float


def parse_chat_ids(text: str, where: str) -> tuple[int, ...]:
    """Comma-separated chat ids (groups are negative) as ints; raises TelegramConfigError."""
    ids = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            ids.append(int(part))
        except ValueError:
            raise TelegramConfigError(
                f"{where} must hold numeric chat ids like 123456789 or -100123456789, "
                f"not {part!r}: ask @userinfobot or read getUpdates for your chat's id"
            ) from None
    return tuple(ids)


class Delivery:
    """Queues (live) or records (backtest) alerts and fetches commands; never blocks."""

    def __init__(self, log: Log) -> None:
        self._log = log
        self._outbox: Outbox | None = None
        self._poller: UpdatePoller | None = None
        self._clients: list[TelegramClient] = []
        self._record: Path | None = None
        self._alert_chat: int | None = None
        self._warned: set[str] = set()

    @property
    def threaded(self) -> bool:
        """True when the sender or the poller thread runs (they need a regular tick)."""
        return self._outbox is not None or self._poller is not None

    def start_sending(
        self,
        cfg: SendSettings,
        allowed: set[int],
        environ: Mapping[str, str] = os.environ,
    ) -> bool:
        """Read the secrets and start the threads; on a bad setup warn once and stay off.

        The alert chats are added to ``allowed`` (the chats commands are taken from).
        """
        try:
            token = environ.get(cfg.token_env, "").strip()
            if not token:
                raise TelegramConfigError(
                    f"{cfg.token_env} is not set: export the bot token @BotFather gave you"
                )
            chats = parse_chat_ids(environ.get(cfg.chat_id_env, ""), cfg.chat_id_env)
            if not chats:
                raise TelegramConfigError(
                    f"{cfg.chat_id_env} is not set: set it to the chat id alerts go to"
                )
            send_client = TelegramClient(token, cfg.api_url, cfg.request_timeout_secs)
        except TelegramConfigError as exc:
            self._log.warning(f"Telegram alerts disabled, trading continues: {exc}")
            return False
        self._clients.append(send_client)
        self._alert_chat = chats[0]
        allowed.update(chats)
        self._outbox = Outbox(
            send_client.send_message,
            capacity=cfg.queue_capacity,
            max_backoff_secs=cfg.max_backoff_secs,
        )
        self._outbox.start()
        if cfg.commands:
            poll_client = TelegramClient(token, cfg.api_url, cfg.request_timeout_secs)
            self._clients.append(poll_client)
            self._poller = UpdatePoller(
                poll_client.get_updates, cfg.poll_wait_secs, cfg.max_backoff_secs
            )
            self._poller.start()
        self._log.info(
            f"Telegram alerts to chat {self._alert_chat} via {send_client!r}; commands "
            f"{'on' if cfg.commands else 'off'} for {len(allowed)} chat(s)"
        )
        return True

    def start_recording(self, path: str) -> None:
        """Append every alert to this JSON-lines file instead of sending it."""
        self._record = Path(path).expanduser()
        self._record.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, text: str, chat_id: int | None, now: datetime) -> None:
        """Queue a message (None: the alert chat) or record it with ``now``; never blocks."""
        if self._outbox is not None:
            target = chat_id if chat_id is not None else self._alert_chat
            self._outbox.put(target, text)
        elif self._record is not None:
            line = {"ts": now.isoformat(), "chat_id": chat_id, "text": text}
            with self._record.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")

    def updates(self) -> Iterator[Update]:
        """The updates the poller fetched since the last call."""
        if self._poller is None:
            return
        while True:
            try:
                yield self._poller.inbox.get_nowait()
            except queue.Empty:
                return

    def drain_events(self) -> None:
        """Log what the sender and poller threads reported (outages warn once)."""
        sources = [s.events for s in (self._outbox, self._poller) if s is not None]
        for events in sources:
            while not events.empty():
                self._log_event(events.get_nowait())

    def _log_event(self, event: OutboxEvent) -> None:
        if event.kind in ("unavailable", "poll_unavailable"):
            self._warn_once(
                event.kind,
                f"Telegram unreachable, trading continues and alerts queue: {event.detail}",
            )
        elif event.kind == "auth":
            self._warn_once("auth", f"Telegram alerts not delivered: {event.detail}")
        elif event.kind in ("refused", "poll_refused"):
            self._warn_once(event.kind, f"Telegram refused a request: {event.detail}")
        else:
            self._log.info(f"Telegram: {event.detail}")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning(message)
        else:
            self._log.info(message)

    def stats(self) -> OutboxStats | None:
        """The outbox's counters, None when not sending."""
        return self._outbox.stats() if self._outbox is not None else None

    def queue_depth(self) -> tuple[int, int] | None:
        """The outbox's (queued, dropped) without its lock; None when not sending."""
        outbox = self._outbox
        return outbox.depth() if outbox is not None else None

    def close(self, flush_secs: float) -> None:
        """Stop polling, flush queued alerts for up to ``flush_secs``, stop the threads."""
        if self._poller is not None:
            self._poller.stop()
        if self._outbox is not None:
            stats = self._outbox.close(flush_secs)
            self._log.info(
                f"Telegram: sent {stats.sent}, dropped {stats.dropped}, "
                f"undelivered at stop {stats.pending}"
            )
        for client in self._clients:
            client.close()
        self._clients.clear()
        self._outbox = self._poller = None
