"""The health actor: latency per signal, order outcomes, event-loop lag, memory, alerts.

``NodeHealth`` listens (never sends an order): the strategy's ``SIGNAL_TIMING_TOPIC`` stamps,
order events, bars, connection changes and breaker trips. Every ``interval_secs`` it publishes a
summary on ``HEALTH_TOPIC`` (the status actor writes it to status.json) and, when
``metrics_port`` is set, serves it on a Prometheus ``/metrics`` endpoint (``live.metrics``).
A small asyncio task measures the event loop's lateness. Alerts (log + ``HEALTH_ALERT_TOPIC``,
which the Telegram actor sends) fire when the decision->submit p99 over the last N signals
exceeds ``signal_budget_ms``, when the loop lags more than ``loop_lag_limit_ms``, or when RSS
grew more than ``rss_growth_limit_pct`` since the end of warm-up. Every handler is cheap and
guarded: a failure here is logged and never reaches trading.
"""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from nautilus_trader.model.identifiers import InstrumentId

from quant_scalper.live.heap_growth import HeapGrowth
from quant_scalper.live.latency import Histogram, LatencyRecorder
from quant_scalper.node_thread import node_loop
from quant_scalper.topics import (
    CONNECTION_TOPIC,
    HEALTH_ALERT_TOPIC,
    HEALTH_TOPIC,
    RISK_TRIP_TOPIC,
    SIGNAL_TIMING_TOPIC,
)

HEAP_GROWTH_EVERY_SECS = 60.0  # tracemalloc mode: how often the growth sites are listed

_OUTCOMES = {
    OrderSubmitted: "submitted",
    OrderAccepted: "accepted",
    OrderRejected: "rejected",
    OrderDenied: "denied",
    OrderCanceled: "canceled",
    OrderFilled: "filled",
}


def rss_bytes() -> int:
    """This process's resident set size (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class HealthMonitor:
    """The health figures and alert rules, with no Nautilus (driven by the actor or tests)."""

    def __init__(
        self,
        signal_budget_ms: float = 1.0,
        alert_window: int = 100,
        loop_lag_limit_ms: float = 250.0,
        rss_growth_limit_pct: float = 20.0,
        warmup_secs: float = 300.0,
    ) -> None:
        self.latency = LatencyRecorder(recent=alert_window)
        self.loop_lag = Histogram()
        self.loop_lag_max_ns = 0
        self.orders: Counter[str] = Counter()
        self.reconnects = 0
        self.disconnects = 0
        self.breaker_trips = 0
        self.alerts: Counter[str] = Counter()
        self.signal_budget_ns = signal_budget_ms * 1e6
        self.alert_window = alert_window
        self.loop_lag_limit_ns = loop_lag_limit_ms * 1e6
        self.rss_growth_limit = rss_growth_limit_pct / 100
        self.warmup_secs = warmup_secs
        self.started = time.monotonic()
        self.rss_warmup: int | None = None
        self.rss_now = rss_bytes()
        self.last_bar_ts_init: int | None = None
        self.bars = 0
        self.heap_growth: list[str] = []  # tracemalloc only: top growth sites since warm-up
        self.queues: dict[str, Callable[[], tuple[int, int] | None]] = {}
        self._alerting: set[str] = set()

    def watch_queue(self, name: str, depth: Callable[[], tuple[int, int] | None]) -> None:
        """Export a queue's (depth, dropped); ``depth`` must not block (a qsize, counters)."""
        self.queues[name] = depth

    def queue_depths(self) -> dict[str, dict[str, int]]:
        """``{name: {"depth": n, "dropped": n}}`` of the watched queues that are running."""
        out: dict[str, dict[str, int]] = {}
        for name, depth in list(self.queues.items()):
            try:
                figures = depth()
            except Exception:  # a queue being torn down: skip it this time
                continue
            if figures is not None:
                out[name] = {"depth": figures[0], "dropped": figures[1]}
        return out

    def on_loop_lag(self, lag_ns: int) -> str | None:
        """One lateness sample of the event loop; an alert text when it crosses the limit."""
        self.loop_lag.record(lag_ns)
        self.loop_lag_max_ns = max(self.loop_lag_max_ns, lag_ns)
        return self._edge(
            "loop_lag",
            lag_ns > self.loop_lag_limit_ns,
            f"event loop lagged {lag_ns / 1e6:.0f} ms (limit {self.loop_lag_limit_ns / 1e6:g} ms)",
        )

    def check_signal_budget(self) -> str | None:
        """An alert when the decision->submit p99 over the last N signals is over budget."""
        p99 = self.latency.recent_p99_ns()
        over = p99 is not None and p99 > self.signal_budget_ns
        n = len(self.latency.recent_signal_to_submit)
        return self._edge(
            "signal_budget",
            over,
            f"signal->submit p99 {0 if p99 is None else p99 / 1e6:.3f} ms over the last {n} "
            f"signals exceeds the {self.signal_budget_ns / 1e6:g} ms budget",
        )

    def check_rss(self, rss: int | None = None) -> str | None:
        """Sample RSS; baseline at the end of warm-up, alert when it grew past the limit."""
        self.rss_now = rss_bytes() if rss is None else rss
        if self.rss_warmup is None:
            if time.monotonic() - self.started >= self.warmup_secs:
                self.rss_warmup = self.rss_now
            return None
        growth = (self.rss_now - self.rss_warmup) / max(self.rss_warmup, 1)
        return self._edge(
            "rss_growth",
            growth > self.rss_growth_limit,
            f"RSS {self.rss_now / 2**20:.0f} MiB, {growth:+.0%} since warm-up "
            f"({self.rss_warmup / 2**20:.0f} MiB; limit {self.rss_growth_limit:+.0%})",
        )

    def _edge(self, key: str, bad: bool, text: str) -> str | None:
        """Alert once when a condition turns bad (again after it cleared)."""
        if bad and key not in self._alerting:
            self._alerting.add(key)
            self.alerts[key] += 1
            return text
        if not bad:
            self._alerting.discard(key)
        return None

    def summary(self, now_ns: int) -> dict[str, Any]:
        """``{"latency": {...}, "health": {...}}`` (JSON-ready)."""
        heap = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
        age = None if self.last_bar_ts_init is None else (now_ns - self.last_bar_ts_init) / 1e9
        return {
            "latency": self.latency.summary(now_ns),
            "health": {
                "signals": self.latency.signals,
                "orders": dict(self.orders),
                "reconnects": self.reconnects,
                "disconnects": self.disconnects,
                "breaker_trips": self.breaker_trips,
                "alerts": dict(self.alerts),
                "rss_bytes": self.rss_now,
                "rss_warmup_bytes": self.rss_warmup,
                "python_heap_bytes": heap,
                "heap_growth": self.heap_growth,
                "loop_lag": {**self.loop_lag.summary(), "max_us": self.loop_lag_max_ns / 1e3},
                "bars": self.bars,
                "last_bar_age_secs": None if age is None else round(age, 3),
                "queues": self.queue_depths(),
            },
        }


class NodeHealthConfig(ActorConfig, frozen=True):
    """
    Configuration for ``NodeHealth`` (built from the live YAML's ``metrics:`` section).

    Parameters
    ----------
    instrument_id : str, optional
        The traded instrument: its net position is exported.
    bar_type : str, optional
        Bars of this type give the last-bar age.
    state_dir : str, optional
        The risk state folder: the day's realized P&L is read from its state file.
    interval_secs : float, default 1.0
        How often the summary is published (and RSS and alerts checked).
    metrics_port : int, optional
        Serve Prometheus ``/metrics`` on this port; off when None.
    metrics_host : str, default "127.0.0.1"
        The address the endpoint listens on.
    signal_budget_ms, alert_window, loop_lag_limit_ms, rss_growth_limit_pct, warmup_secs
        The alert rules (see ``HealthMonitor``).
    loop_probe_secs : float, default 0.25
        How often the event-loop lag is sampled.
    tracemalloc : bool, default False
        Trace Python allocations (heap size exported; costs some speed).

    """

    instrument_id: str | None = None
    bar_type: str | None = None
    state_dir: str | None = None
    interval_secs: float = 1.0
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    signal_budget_ms: float = 1.0
    alert_window: int = 100
    loop_lag_limit_ms: float = 250.0
    rss_growth_limit_pct: float = 20.0
    warmup_secs: float = 300.0
    loop_probe_secs: float = 0.25
    tracemalloc: bool = False


class NodeHealth(Actor):
    """Measures the node's health and latency; publishes a summary, serves /metrics."""

    def __init__(self, config: NodeHealthConfig) -> None:
        super().__init__(config)
        self.monitor = HealthMonitor(
            config.signal_budget_ms,
            config.alert_window,
            config.loop_lag_limit_ms,
            config.rss_growth_limit_pct,
            config.warmup_secs,
        )
        self.latest: dict[str, Any] = {}
        self._lag_task: asyncio.Task | None = None
        self._server: Any = None
        self._instrument = (
            InstrumentId.from_str(config.instrument_id) if config.instrument_id else None
        )
        self._ticks = 0
        self._day_pnl: Decimal | None = None
        self._heap = HeapGrowth()
        self._heap_at = 0.0

    def on_start(self) -> None:
        """Subscribe, start the loop-lag probe and the metrics endpoint, arm the timer."""
        if self.config.tracemalloc and not tracemalloc.is_tracing():
            tracemalloc.start()
        bus = self.msgbus
        bus.subscribe(SIGNAL_TIMING_TOPIC, self._guard(self.monitor.latency.on_signal))
        bus.subscribe("events.order.*", self._guard(self._on_order_event))
        bus.subscribe(CONNECTION_TOPIC, self._guard(self._on_connection))
        bus.subscribe(RISK_TRIP_TOPIC, self._guard(self._on_trip))
        if self.config.bar_type:
            self.subscribe_bars(BarType.from_str(self.config.bar_type))
        loop = node_loop(self.clock)
        if loop is not None:
            self._lag_task = loop.create_task(self._probe_loop(), name="quant-scalper-loop-lag")
        if self.config.metrics_port is not None:
            from quant_scalper.live.metrics import start_metrics_server

            try:
                self._server = start_metrics_server(
                    self, self.config.metrics_host, self.config.metrics_port
                )
                self.log.info(
                    f"Metrics on http://{self.config.metrics_host}:"
                    f"{self._server.server_port}/metrics"
                )
            except OSError as exc:
                self.log.error(
                    f"Metrics endpoint {self.config.metrics_host}:{self.config.metrics_port} "
                    f"not started ({exc}): trading continues; free the port or change "
                    "metrics.port"
                )
        self.clock.set_timer(
            f"health-{self.id}",
            timedelta(seconds=self.config.interval_secs),
            callback=lambda _: self._tick(),
        )

    def on_stop(self) -> None:
        """Stop the probe and the endpoint."""
        if self._lag_task is not None:
            self._lag_task.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def on_bar(self, bar: Bar) -> None:
        """Remember when the last bar arrived."""
        self.monitor.last_bar_ts_init = bar.ts_init
        self.monitor.bars += 1

    def _guard(self, handler: Any) -> Any:
        def _run(message: Any) -> None:
            try:
                handler(message)
            except Exception as exc:  # never let a metrics bug reach the bus
                self.log.warning(f"Health: {type(exc).__name__}: {exc}")

        return _run

    def _on_order_event(self, event: Any) -> None:
        name = _OUTCOMES.get(type(event))
        if name is None:
            return
        self.monitor.orders[name] += 1
        order_id = event.client_order_id.value
        latency = self.monitor.latency
        if name == "submitted":
            latency.on_submitted(order_id, event.ts_init)
        elif name == "accepted":
            latency.on_accepted(order_id, event.ts_init)
        elif name == "filled":
            latency.on_filled(order_id, event.ts_init)
        else:
            latency.forget(order_id)

    def _on_connection(self, message: dict[str, Any]) -> None:
        if message.get("connected"):
            self.monitor.reconnects += 1
        else:
            self.monitor.disconnects += 1

    def _on_trip(self, _trip: Any) -> None:
        self.monitor.breaker_trips += 1

    async def _probe_loop(self) -> None:
        interval = self.config.loop_probe_secs
        while True:
            start = time.monotonic_ns()
            await asyncio.sleep(interval)
            lag = time.monotonic_ns() - start - int(interval * 1e9)
            self._alert(self.monitor.on_loop_lag(max(0, lag)))

    def _alert(self, text: str | None) -> None:
        if text is None:
            return
        self.log.warning(f"HEALTH ALERT: {text}")
        self.msgbus.publish(HEALTH_ALERT_TOPIC, text)

    def _tick(self) -> None:
        try:
            self._ticks += 1
            self._alert(self.monitor.check_signal_budget())
            self._alert(self.monitor.check_rss())
            if self._ticks % 5 == 1:
                self._day_pnl = self._read_day_pnl()
            if tracemalloc.is_tracing() and self.monitor.rss_warmup is not None:
                self._heap_growth()
            summary = self.monitor.summary(self.clock.timestamp_ns())
            health = summary["health"]
            health["position"] = self.position()
            health["day_realized_pnl"] = None if self._day_pnl is None else str(self._day_pnl)
            self.latest = summary
            self.msgbus.publish(HEALTH_TOPIC, summary)
        except Exception as exc:
            self.log.warning(f"Health summary failed: {type(exc).__name__}: {exc}")

    def _heap_growth(self) -> None:
        """tracemalloc mode: the warm-up snapshot, then the top growth sites once a minute
        (a snapshot of a large heap takes a few hundred ms: diagnostics, not for production)."""
        if not self._heap.has_baseline:
            self._heap.baseline()
            self._heap_at = time.monotonic()
        elif time.monotonic() - self._heap_at >= HEAP_GROWTH_EVERY_SECS:
            self.monitor.heap_growth = self._heap.top()
            self._heap_at = time.monotonic()

    def position(self) -> float | None:
        """The net position of the traded instrument (None when not configured)."""
        if self._instrument is None:
            return None
        return float(self.portfolio.net_position(self._instrument))

    def _read_day_pnl(self) -> Decimal | None:
        if self.config.state_dir is None:
            return None
        from quant_scalper.risk import RiskStateError, RiskStateStore

        try:
            state = RiskStateStore(self.config.state_dir, self.trader_id.value).load()
        except (OSError, RiskStateError):
            return None
        return None if state is None else state.realized_pnl


def health_actor_config(settings: Any, contract: Any) -> dict[str, Any]:
    """The ``NodeHealthConfig`` dict for a live settings/contract (its ``metrics:`` section)."""
    metrics = settings.metrics
    return {
        "instrument_id": contract.instrument_id,
        "bar_type": contract.bar_type,
        "state_dir": str(settings.state_dir),
        "metrics_port": metrics.port,
        "metrics_host": metrics.host,
        "signal_budget_ms": metrics.signal_budget_ms,
        "alert_window": metrics.alert_window,
        "loop_lag_limit_ms": metrics.loop_lag_limit_ms,
        "rss_growth_limit_pct": metrics.rss_growth_limit_pct,
        "warmup_secs": metrics.warmup_secs,
        "tracemalloc": metrics.tracemalloc,
    }


def watch_queues(actors: Iterable[Any]) -> int:
    """Point the node's health actor at every actor with a ``queue_name`` and ``queue_depth``
    (journal recorder, Telegram); returns how many. Called once the node is built."""
    health = next((a for a in actors if isinstance(a, NodeHealth)), None)
    if health is None:
        return 0
    n = 0
    for actor in actors:
        name = getattr(actor, "queue_name", None)
        depth = getattr(actor, "queue_depth", None)
        if isinstance(name, str) and callable(depth):
            health.monitor.watch_queue(name, depth)
            n += 1
    return n
