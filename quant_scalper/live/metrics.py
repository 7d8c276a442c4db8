"""The Prometheus ``/metrics`` endpoint of the live node (``prometheus_client``, own registry).

The collector reads the health actor's latest summary and histograms at scrape time, on the
HTTP server's thread: nothing is computed on the node's loop for a scrape, and a scrape can
never block an order. Latency histograms are exported in seconds with 4 buckets per decade
(1 us .. 100 s), the rest as gauges/counters. A private ``CollectorRegistry`` per endpoint keeps
tests (and two nodes in one process) from clashing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from quant_scalper.live.latency import STAGES, Histogram

PREFIX = "quant_scalper"
BOUNDS_NS = [10.0 ** (e / 4) for e in range(12, 45)]  # 1 us .. 100 s


def histogram_family(name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
    """An empty histogram family with the given label names."""
    return HistogramMetricFamily(name, doc, labels=labels)


def add_histogram(family: HistogramMetricFamily, labels: list[str], hist: Histogram) -> None:
    """Add one Histogram (ns) as cumulative seconds buckets."""
    cumulative = hist.cumulative(BOUNDS_NS)
    buckets = [(f"{b / 1e9:.9g}", c) for b, c in zip(BOUNDS_NS, cumulative, strict=True)]
    buckets.append(("+Inf", hist.count))
    family.add_metric(labels, buckets, sum_value=hist.total / 1e9)


class HealthCollector(Collector):
    """Exports a ``NodeHealth`` actor's figures (any object with ``monitor`` and ``latest``)."""

    def __init__(self, source: Any) -> None:
        self._source = source

    def collect(self) -> Iterator[Any]:
        """One scrape."""
        monitor = self._source.monitor
        latest = dict(getattr(self._source, "latest", {}) or {})
        health = dict(latest.get("health") or {})
        latency = histogram_family(
            f"{PREFIX}_latency_seconds", "Signal latency per stage (node clock)", ["stage"]
        )
        for stage in STAGES:
            add_histogram(latency, [stage], monitor.latency.total[stage])
        yield latency
        lag = histogram_family(f"{PREFIX}_event_loop_lag_seconds", "Event-loop lateness", [])
        add_histogram(lag, [], monitor.loop_lag)
        yield lag
        orders = CounterMetricFamily(
            f"{PREFIX}_order_events", "Order events by outcome", labels=["outcome"]
        )
        for outcome in ("submitted", "accepted", "rejected", "denied", "canceled", "filled"):
            orders.add_metric([outcome], monitor.orders.get(outcome, 0))
        yield orders
        for name, doc, value in (
            ("signals", "Entry signals timed", monitor.latency.signals),
            ("reconnects", "Broker connection restorations", monitor.reconnects),
            (
                "disconnects",
                "Broker connection losses (each starts a resync hold)",
                monitor.disconnects,
            ),
            ("breaker_trips", "Circuit-breaker trips", monitor.breaker_trips),
            ("bars", "Bars received", monitor.bars),
        ):
            yield CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)
        depth = GaugeMetricFamily(
            f"{PREFIX}_queue_depth", "Items queued, not yet written/sent", labels=["queue"]
        )
        dropped = CounterMetricFamily(
            f"{PREFIX}_queue_dropped", "Items dropped (queue full or refused)", labels=["queue"]
        )
        for name, figures in monitor.queue_depths().items():
            depth.add_metric([name], figures["depth"])
            dropped.add_metric([name], figures["dropped"])
        yield depth
        yield dropped
        alerts = CounterMetricFamily(f"{PREFIX}_health_alerts", "Health alerts", labels=["kind"])
        for kind, n in monitor.alerts.items():
            alerts.add_metric([kind], n)
        yield alerts
        for name, doc, value in (
            ("rss_bytes", "Resident set size", monitor.rss_now),
            ("rss_warmup_bytes", "RSS at the end of warm-up", monitor.rss_warmup),
            (
                "python_heap_bytes",
                "Traced Python heap (tracemalloc)",
                health.get("python_heap_bytes"),
            ),
            ("last_bar_age_seconds", "Age of the last bar", health.get("last_bar_age_secs")),
            ("position", "Net position of the traded instrument", health.get("position")),
            (
                "day_realized_pnl_usd",
                "Realized P&L of the trading day (risk state)",
                _number(health.get("day_realized_pnl")),
            ),
        ):
            if value is not None:
                yield GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=float(value))


def _number(text: Any) -> float | None:
    return None if text is None else float(text)  # export only: the risk state keeps Decimal


def start_metrics_server(source: Any, host: str, port: int) -> Any:
    """Serve ``source``'s metrics on http://host:port/metrics (port 0: a free one); returns the
    server (``server_port``, ``shutdown()``). Raises OSError when the port is taken."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(HealthCollector(source))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
