"""The outbox: a bounded queue of messages sent by one background thread, never by the node.

``put`` is what the node's thread calls: it appends to a bounded deque under a lock and returns
at once (no I/O, no waiting), whatever Telegram is doing. The sender thread delivers messages in
order with the blocking client; a transient failure keeps the message at the head and retries
with exponential backoff (or Telegram's 429 ``retry_after``), so messages queued during a short
outage go out after it. Consecutive queued messages to one chat go out as one Telegram message
(blank-line separated, up to ``BATCH_CHARS``), so a backlog drains in a few requests instead of
hundreds that would run into Telegram's rate limits. A full queue drops the oldest message; a
refused message (4xx) is dropped; both are counted, and the next delivered message is followed
by a notice saying how many were lost.

The thread never touches Nautilus: what the node should log (outage began/ended, refusals) is
put on ``events`` for the actor to drain on its own thread.
"""

from __future__ import annotations

import itertools
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from quant_scalper.telegram.errors import (
    TelegramAuthError,
    TelegramRequestError,
    TelegramRetryableError,
)

BATCH_CHARS = 4000
"""Most characters joined into one Telegram message (Telegram's limit is 4096)."""
BATCH_MESSAGES = 20

Send = Callable[[int | str, str], object]
"""A blocking sender: ``send(chat_id, text)``; raises the ``telegram.errors`` exceptions."""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """Something the node should log: ``kind`` is unavailable, recovered, refused or auth."""

    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Counters for /status and the shutdown log."""

    sent: int
    pending: int
    retries: int
    dropped_full: int
    dropped_refused: int
    healthy: bool

    @property
    def dropped(self) -> int:
        """Every message lost, for whatever reason."""
        return self.dropped_full + self.dropped_refused


class Outbox:
    """A bounded, ordered, retrying message queue with its own daemon sender thread."""

    def __init__(
        self,
        send: Send,
        capacity: int = 500,
        base_backoff_secs: float = 1.0,
        max_backoff_secs: float = 60.0,
        name: str = "telegram-outbox",
    ) -> None:
        if capacity < 1 or base_backoff_secs <= 0 or max_backoff_secs <= 0:
            raise ValueError(
                "Outbox needs capacity >= 1 and backoffs > 0, got "
                f"{capacity}, {base_backoff_secs}, {max_backoff_secs}"
            )
        base_backoff_secs = min(base_backoff_secs, max_backoff_secs)
        self._send = send
        self._capacity = capacity
        self._base = base_backoff_secs
        self._max = max_backoff_secs
        self._items: deque[tuple[int | str, str]] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.events: queue.SimpleQueue[OutboxEvent] = queue.SimpleQueue()
        self._sent = 0
        self._retries = 0
        self._dropped_full = 0
        self._dropped_refused = 0
        self._unreported_drops = 0
        self._healthy = True
        self._in_flight = 0  # queued messages at the head that the sender is sending now
        self._solo = 0  # after a refused batch: send this many one by one to find the culprit

    def start(self) -> None:
        """Start the sender thread."""
        self._thread.start()

    def put(self, chat_id: int | str, text: str) -> bool:
        """Queue a message without blocking; False if the queue was full (the oldest dropped)."""
        with self._cond:
            if self._closing:
                return False
            full = len(self._items) >= self._capacity
            if full:
                self._dropped_full += 1
                self._unreported_drops += 1
                # The head may be in flight: drop the oldest message behind it.
                if len(self._items) > self._in_flight:
                    del self._items[self._in_flight]
                else:
                    return False
            self._items.append((chat_id, text))
            self._cond.notify()
        return not full

    def stats(self) -> OutboxStats:
        """A consistent snapshot of the counters."""
        with self._cond:
            return OutboxStats(
                sent=self._sent,
                pending=len(self._items),
                retries=self._retries,
                dropped_full=self._dropped_full,
                dropped_refused=self._dropped_refused,
                healthy=self._healthy,
            )

    def depth(self) -> tuple[int, int]:
        """(messages queued, messages dropped) read without the lock, for metrics: a scrape
        never waits on the sender thread (each read is atomic; the pair may be one apart)."""
        return len(self._items), self._dropped_full + self._dropped_refused

    def close(self, flush_secs: float = 0.0) -> OutboxStats:
        """Stop taking messages, try to deliver the rest for up to ``flush_secs``, then stop."""
        deadline = time.monotonic() + max(flush_secs, 0.0)
        with self._cond:
            self._closing = True
            while (self._items or self._in_flight) and self._thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.05))
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=0.5)  # a request in flight ends at its own timeout
        return self.stats()

    # -- sender thread -----------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            with self._cond:
                while not self._items and not self._stop.is_set():
                    self._cond.wait(0.5)
                if self._stop.is_set():
                    return
                chat_id, texts = self._batch()
                self._in_flight = len(texts)
            delay = self._deliver(chat_id, "\n\n".join(texts), failures)
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()
            if delay is None:
                failures = 0
                continue
            failures += 1
            self._stop.wait(delay)

    def _batch(self) -> tuple[int | str, list[str]]:
        """The head message and the ones right behind it to the same chat that fit with it."""
        chat_id, first = self._items[0]
        texts, size = [first], len(first)
        if self._solo:
            return chat_id, texts
        for other_chat, text in itertools.islice(self._items, 1, BATCH_MESSAGES):
            if other_chat != chat_id or size + 2 + len(text) > BATCH_CHARS:
                break
            texts.append(text)
            size += 2 + len(text)
        return chat_id, texts

    def _deliver(self, chat_id: int | str, text: str, failures: int) -> float | None:
        """Send the head batch; None when it is done with, else seconds to wait first."""
        try:
            self._send(chat_id, text)
        except TelegramRetryableError as exc:
            with self._cond:
                self._retries += 1
                was_healthy, self._healthy = self._healthy, False
            if was_healthy:
                self.events.put(OutboxEvent("unavailable", str(exc)))
            if exc.retry_after:
                return float(exc.retry_after)
            backoff = min(self._base * 2**failures, self._max)
            return backoff * random.uniform(0.8, 1.0)
        except TelegramRequestError as exc:
            if self._in_flight > 1 and not isinstance(exc, TelegramAuthError):
                with self._cond:
                    self._solo = self._in_flight  # retry them alone: drop only the bad one
                return None
            self._pop(refused=True)
            kind = "auth" if isinstance(exc, TelegramAuthError) else "refused"
            self.events.put(OutboxEvent(kind, str(exc)))
            if isinstance(exc, TelegramAuthError):
                return self._max  # a bad token will not fix itself: don't hammer Telegram
            return None
        except Exception as exc:  # a bug in a sender must not kill the thread
            self._pop(refused=True)
            self.events.put(OutboxEvent("refused", f"{type(exc).__name__}: {exc}"))
            return None
        self._pop(refused=False)
        return None

    def _pop(self, refused: bool) -> None:
        """Remove the batch that was in flight, counting it as sent or refused."""
        notice = None
        with self._cond:
            count = self._in_flight
            chat_id, _ = self._items[0]
            for _ in range(count):
                self._items.popleft()
            self._solo = max(self._solo - count, 0)
            if refused:
                self._dropped_refused += count
                self._unreported_drops += count
                return
            self._sent += count
            recovered = not self._healthy
            self._healthy = True
            if self._unreported_drops:
                notice = (
                    f"{self._unreported_drops} alert(s) could not be delivered and were dropped "
                    f"(total {self._dropped_full + self._dropped_refused})"
                )
                self._unreported_drops = 0
                self._items.appendleft((chat_id, notice))
        if recovered:
            self.events.put(OutboxEvent("recovered", "Telegram reachable again"))
