"""Deduplication and rate limiting of error alerts (pure logic, time passed in).

A broker outage can produce the same rejection a hundred times a minute; a phone should get it
once, then a count. Two rules:

- the same ``key`` is sent at most once per ``dedup_secs``; repeats are counted;
- at most ``max_per_window`` error alerts of any key per ``window_secs``; the rest are counted.

The next alert that gets through carries the number suppressed before it, so nothing is lost
silently.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

_MAX_KEYS = 1_000


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether to send an error alert now, and how many were suppressed since the last one."""

    send: bool
    suppressed: int = 0


class ErrorThrottle:
    """Decides which error alerts to send; call ``admit`` once per error, in time order."""

    def __init__(
        self,
        dedup_secs: float = 300.0,
        max_per_window: int = 5,
        window_secs: float = 60.0,
    ) -> None:
        if dedup_secs < 0 or window_secs <= 0 or max_per_window < 1:
            raise ValueError(
                "ErrorThrottle needs dedup_secs >= 0, window_secs > 0 and max_per_window >= 1, "
                f"got {dedup_secs}, {window_secs}, {max_per_window}"
            )
        self._dedup = dedup_secs
        self._max = max_per_window
        self._window = window_secs
        self._last_sent: dict[str, float] = {}
        self._sent_times: deque[float] = deque()
        self._suppressed = 0
        self.total_suppressed = 0
        """Every alert suppressed since creation (for status reports)."""

    def admit(self, key: str, now: float) -> Admission:
        """Record one error with dedup ``key`` at ``now`` (seconds); say whether to send it."""
        last = self._last_sent.get(key)
        while self._sent_times and now - self._sent_times[0] >= self._window:
            self._sent_times.popleft()
        duplicate = last is not None and now - last < self._dedup
        if duplicate or len(self._sent_times) >= self._max:
            self._suppressed += 1
            self.total_suppressed += 1
            return Admission(send=False)
        self._last_sent[key] = now
        self._sent_times.append(now)
        if len(self._last_sent) > _MAX_KEYS:
            self._last_sent = {
                k: t for k, t in self._last_sent.items() if now - t < self._dedup
            } or {key: now}
        suppressed, self._suppressed = self._suppressed, 0
        return Admission(send=True, suppressed=suppressed)
