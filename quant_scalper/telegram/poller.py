"""The command poller: ``getUpdates`` long polling on its own daemon thread.

It only fetches: updates go on ``inbox`` and the actor drains it on the node's own thread (a
clock timer), where commands are checked against the allow-list and published on the message
bus. Nothing here calls Nautilus or the strategy. Failures back off exponentially (honouring
429 ``retry_after``) and are reported once per outage on ``events``.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable

from quant_scalper.telegram.client import Update
from quant_scalper.telegram.errors import (
    TelegramAuthError,
    TelegramError,
    TelegramRetryableError,
)
from quant_scalper.telegram.outbox import OutboxEvent

GetUpdates = Callable[[int | None, int], list[Update]]
"""A blocking ``get_updates(offset, wait_secs)``."""


class UpdatePoller:
    """Long-polls for updates and queues them for the node's thread."""

    def __init__(
        self,
        get_updates: GetUpdates,
        wait_secs: int = 25,
        max_backoff_secs: float = 60.0,
        name: str = "telegram-poller",
    ) -> None:
        self._get_updates = get_updates
        self._wait = wait_secs
        self._max_backoff = max_backoff_secs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.inbox: queue.SimpleQueue[Update] = queue.SimpleQueue()
        self.events: queue.SimpleQueue[OutboxEvent] = queue.SimpleQueue()

    def start(self) -> None:
        """Start the polling thread."""
        self._thread.start()

    def stop(self, join_secs: float = 0.2) -> None:
        """Ask the thread to stop; a long poll in flight ends at its own timeout (daemon)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=join_secs)

    def _run(self) -> None:
        offset: int | None = None
        failures = 0
        healthy = True
        while not self._stop.is_set():
            try:
                updates = self._get_updates(offset, self._wait)
            except TelegramRetryableError as exc:
                if healthy:
                    self.events.put(OutboxEvent("poll_unavailable", str(exc)))
                healthy = False
                delay = exc.retry_after or min(2.0**failures, self._max_backoff)
                failures += 1
                self._stop.wait(float(delay) * random.uniform(0.8, 1.0))
                continue
            except TelegramAuthError as exc:
                self.events.put(OutboxEvent("auth", str(exc)))
                healthy = False
                self._stop.wait(self._max_backoff)
                continue
            except TelegramError as exc:
                self.events.put(OutboxEvent("poll_refused", str(exc)))
                healthy = False
                self._stop.wait(self._max_backoff)
                continue
            except Exception as exc:  # e.g. the client closed under a poll at node stop
                if self._stop.is_set():
                    return
                self.events.put(OutboxEvent("poll_refused", f"{type(exc).__name__}: {exc}"))
                healthy = False
                self._stop.wait(self._max_backoff)
                continue
            if self._stop.is_set():
                return  # not acknowledged (no next offset sent): Telegram keeps them for later
            if not healthy:
                self.events.put(OutboxEvent("poll_recovered", "getUpdates works again"))
            healthy, failures = True, 0
            for update in updates:
                offset = update.update_id + 1
                self.inbox.put(update)
