"""Latency histograms per stage of a signal's life, in bounded memory (pure, no Nautilus).

Stages (nanoseconds, measured on the node's clock; in a backtest the simulated clock makes them
zero):

- ``bar_delivery``: bar close (``ts_event``) -> bar received by the node (``ts_init``);
- ``bar_to_decision``: bar received -> the strategy's entry decision;
- ``decision_to_submit``: decision -> ``submit_order_list`` returned (in-process signal->submit);
- ``submit_to_sent``: submit -> ``OrderSubmitted`` (risk and execution engines, IB client);
- ``bar_to_sent``: bar received -> ``OrderSubmitted`` (everything in-process);
- ``sent_to_accepted``: ``OrderSubmitted`` -> ``OrderAccepted`` (IB's round trip);
- ``accepted_to_filled``: ``OrderAccepted`` -> first ``OrderFilled`` of the entry;
- ``data_age``: bar close -> decision (how old the data was when we acted).

Each stage keeps a histogram since start and a ring of per-minute histograms for the last
hour. Buckets are fixed and log-spaced (20 per decade, 1 ns .. 1000 s: at most 241 counters per
histogram), so percentiles are within ~12 % of the true value and memory never grows.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

BUCKETS_PER_DECADE = 20
MAX_EXPONENT = 12  # 10^12 ns = 1000 s; anything larger lands in the last bucket
N_BUCKETS = BUCKETS_PER_DECADE * MAX_EXPONENT + 1
MINUTE_NS = 60_000_000_000
WINDOW_MINUTES = 60
MAX_PENDING = 256  # signals awaiting their order events; older ones are forgotten

STAGES = (
    "bar_delivery",
    "bar_to_decision",
    "decision_to_submit",
    "submit_to_sent",
    "bar_to_sent",
    "sent_to_accepted",
    "accepted_to_filled",
    "data_age",
)


def bucket_index(value_ns: int) -> int:
    """The bucket of a duration: 0 for <= 1 ns, else ceil(20 * log10(ns)) capped at the top."""
    if value_ns <= 1:
        return 0
    return min(N_BUCKETS - 1, math.ceil(BUCKETS_PER_DECADE * math.log10(value_ns) - 1e-9))


def bucket_upper_ns(index: int) -> float:
    """The upper bound (ns) of bucket ``index``."""
    return 10.0 ** (index / BUCKETS_PER_DECADE)


class Histogram:
    """Counts of durations in fixed log-spaced buckets, plus count, sum, min and max."""

    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min: int | None = None
        self.max: int | None = None

    def record(self, value_ns: int) -> None:
        """Add one duration (negative values, from clock steps, count as zero)."""
        value_ns = max(0, int(value_ns))
        index = bucket_index(value_ns)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.count += 1
        self.total += value_ns
        self.min = value_ns if self.min is None else min(self.min, value_ns)
        self.max = value_ns if self.max is None else max(self.max, value_ns)

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s counts into this one."""
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        if other.min is not None:
            self.min = other.min if self.min is None else min(self.min, other.min)
        if other.max is not None:
            self.max = other.max if self.max is None else max(self.max, other.max)

    def percentile(self, q: float) -> float | None:
        """The q-quantile (0..1) in ns: its bucket's upper bound, clipped to [min, max]."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                value = bucket_upper_ns(index)
                return float(min(max(value, self.min or 0), self.max or 0))
        return float(self.max or 0)

    def cumulative(self, bounds_ns: Iterable[float]) -> list[int]:
        """Cumulative counts at each bound (for a Prometheus histogram)."""
        result = []
        ordered = sorted(self.counts.items())
        for bound in bounds_ns:
            result.append(sum(n for i, n in ordered if bucket_upper_ns(i) <= bound * (1 + 1e-9)))
        return result

    def summary(self) -> dict[str, Any]:
        """``{"count", "p50_us", "p90_us", "p99_us", "max_us"}`` (microseconds, 1 decimal)."""

        def us(value: float | None) -> float | None:
            return None if value is None else round(value / 1_000, 1)

        return {
            "count": self.count,
            "p50_us": us(self.percentile(0.50)),
            "p90_us": us(self.percentile(0.90)),
            "p99_us": us(self.percentile(0.99)),
            "max_us": us(self.max),
        }


class RollingHistogram:
    """One histogram per minute for the last ``minutes`` minutes (a ring keyed by minute)."""

    def __init__(self, minutes: int = WINDOW_MINUTES) -> None:
        self.minutes = minutes
        self._ring: deque[tuple[int, Histogram]] = deque()

    def record(self, value_ns: int, now_ns: int) -> None:
        """Add a duration observed at ``now_ns``."""
        minute = now_ns // MINUTE_NS
        if not self._ring or self._ring[-1][0] != minute:
            self._ring.append((minute, Histogram()))
            self._expire(minute)
        self._ring[-1][1].record(value_ns)

    def _expire(self, minute: int) -> None:
        while self._ring and self._ring[0][0] <= minute - self.minutes:
            self._ring.popleft()

    def window(self, now_ns: int) -> Histogram:
        """The merged histogram of the last ``minutes`` minutes before ``now_ns``."""
        self._expire(now_ns // MINUTE_NS)
        merged = Histogram()
        for _, hist in self._ring:
            merged.merge(hist)
        return merged


@dataclass
class _Pending:
    """A signal's stamps while its entry order's events arrive."""

    bar_ts_init: int
    submitted_ns: int
    sent_ns: int | None = None
    accepted_ns: int | None = None


class LatencyRecorder:
    """Per-stage histograms (since start and last hour), fed by signal stamps and order events.

    ``on_signal`` takes the strategy's stamps; ``on_submitted/on_accepted/on_filled`` take the
    entry order's event times (keyed by its client order id). At most ``MAX_PENDING`` signals
    are remembered; ``recent_signal_to_submit`` keeps the last ``recent`` decision->submit values
    for the p99 alert.
    """

    def __init__(self, recent: int = 100) -> None:
        self.total = {stage: Histogram() for stage in STAGES}
        self.rolling = {stage: RollingHistogram() for stage in STAGES}
        self.recent_signal_to_submit: deque[int] = deque(maxlen=recent)
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self.signals = 0

    def record(self, stage: str, value_ns: int, now_ns: int) -> None:
        """Add one duration to ``stage``."""
        self.total[stage].record(value_ns)
        self.rolling[stage].record(value_ns, now_ns)

    def on_signal(self, stamp: dict[str, Any]) -> None:
        """A strategy stamp (``signal_stamp``): records the in-process stages."""
        ts_event, ts_init = int(stamp["bar_ts_event"]), int(stamp["bar_ts_init"])
        decided, submitted = int(stamp["decided_ns"]), int(stamp["submitted_ns"])
        self.signals += 1
        self.record("bar_delivery", ts_init - ts_event, submitted)
        self.record("bar_to_decision", decided - ts_init, submitted)
        self.record("decision_to_submit", submitted - decided, submitted)
        self.record("data_age", decided - ts_event, submitted)
        self.recent_signal_to_submit.append(max(0, submitted - decided))
        self._pending[str(stamp["order_id"])] = _Pending(ts_init, submitted)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    def on_submitted(self, order_id: str, ts_ns: int) -> None:
        """The entry order left for the venue."""
        pending = self._pending.get(order_id)
        if pending is None or pending.sent_ns is not None:
            return
        pending.sent_ns = ts_ns
        self.record("submit_to_sent", ts_ns - pending.submitted_ns, ts_ns)
        self.record("bar_to_sent", ts_ns - pending.bar_ts_init, ts_ns)

    def on_accepted(self, order_id: str, ts_ns: int) -> None:
        """The venue accepted the entry order."""
        pending = self._pending.get(order_id)
        if pending is None or pending.accepted_ns is not None or pending.sent_ns is None:
            return
        pending.accepted_ns = ts_ns
        self.record("sent_to_accepted", ts_ns - pending.sent_ns, ts_ns)

    def on_filled(self, order_id: str, ts_ns: int) -> None:
        """The entry order's first fill (the signal is then complete)."""
        pending = self._pending.pop(order_id, None)
        if pending is None:
            return
        start = pending.accepted_ns if pending.accepted_ns is not None else pending.sent_ns
        if start is not None:
            self.record("accepted_to_filled", ts_ns - start, ts_ns)

    def forget(self, order_id: str) -> None:
        """The entry order was rejected/denied/cancelled: stop waiting for it."""
        self._pending.pop(order_id, None)

    def recent_p99_ns(self) -> float | None:
        """p99 of the last N decision->submit durations (exact, from the raw values)."""
        if not self.recent_signal_to_submit:
            return None
        ordered = sorted(self.recent_signal_to_submit)
        return float(ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)])

    def summary(self, now_ns: int) -> dict[str, Any]:
        """``{stage: {"since_start": {...}, "last_hour": {...}}}`` for stages with data."""
        result: dict[str, Any] = {}
        for stage in STAGES:
            if self.total[stage].count == 0:
                continue
            result[stage] = {
                "since_start": self.total[stage].summary(),
                "last_hour": self.rolling[stage].window(now_ns).summary(),
            }
        return result


def signal_stamp(
    order_id: str, bar_ts_event: int, bar_ts_init: int, decided_ns: int, submitted_ns: int
) -> dict[str, Any]:
    """The strategy's timing message for one entry (published on ``SIGNAL_TIMING_TOPIC``)."""
    return {
        "order_id": order_id,
        "bar_ts_event": bar_ts_event,
        "bar_ts_init": bar_ts_init,
        "decided_ns": decided_ns,
        "submitted_ns": submitted_ns,
    }
