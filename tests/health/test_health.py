"""Health rules, the /metrics endpoint over real HTTP, the metrics config, systemd notify."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from quant_scalper.errors import ConfigError
from quant_scalper.journal import rows
from quant_scalper.journal.db import open_journal
from quant_scalper.journal.writer import JournalWriter
from quant_scalper.live.config import MetricsSettings, live_settings_from_mapping
from quant_scalper.live.health import HealthMonitor, rss_bytes
from quant_scalper.live.latency import signal_stamp
from quant_scalper.live.metrics import start_metrics_server
from quant_scalper.live.watchdog import Notifier, heartbeat, watchdog_interval
from quant_scalper.telegram.outbox import Outbox


def test_alerts_fire_once_per_episode() -> None:
    monitor = HealthMonitor(signal_budget_ms=1.0, loop_lag_limit_ms=100, warmup_secs=0)
    for i in range(10):
        monitor.latency.on_signal(signal_stamp(f"O-{i}", 0, 0, 0, 200_000))
    assert monitor.check_signal_budget() is None
    monitor.latency.on_signal(signal_stamp("slow", 0, 0, 0, 5_000_000))
    text = monitor.check_signal_budget()
    assert text is not None and "exceeds the 1 ms budget" in text
    assert monitor.check_signal_budget() is None  # still bad: no repeat
    assert monitor.on_loop_lag(200_000_000) is not None
    assert monitor.on_loop_lag(300_000_000) is None
    monitor.on_loop_lag(1_000)
    assert monitor.on_loop_lag(200_000_000) is not None  # a new episode
    assert monitor.check_rss(100 * 2**20) is None  # warm-up baseline
    assert monitor.check_rss(110 * 2**20) is None
    assert "RSS" in (monitor.check_rss(130 * 2**20) or "")
    assert monitor.alerts == {"signal_budget": 1, "loop_lag": 2, "rss_growth": 1}
    assert rss_bytes() > 0


class _Source:
    """What the collector reads from the health actor: a monitor and its latest summary."""

    def __init__(self) -> None:
        self.monitor = HealthMonitor()
        self.latest: dict = {}


def test_metrics_endpoint_serves_latency_and_health_on_localhost() -> None:
    source = _Source()
    source.monitor.latency.on_signal(signal_stamp("O-1", 0, 1_000_000, 1_010_000, 1_100_000))
    source.monitor.latency.on_submitted("O-1", 1_300_000)
    source.monitor.orders["submitted"] += 1
    source.monitor.on_loop_lag(2_000_000)
    source.latest = source.monitor.summary(2_000_000)
    source.latest["health"].update(position=1.0, day_realized_pnl="-12.34")
    server = start_metrics_server(source, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert 'quant_scalper_latency_seconds_count{stage="decision_to_submit"} 1.0' in text
    assert (
        'quant_scalper_latency_seconds_bucket{le="0.0001",stage="decision_to_submit"} 1.0' in text
    )
    assert 'quant_scalper_order_events_total{outcome="submitted"} 1.0' in text
    assert "quant_scalper_event_loop_lag_seconds_count 1.0" in text
    assert "quant_scalper_position 1.0" in text
    assert "quant_scalper_day_realized_pnl_usd -12.34" in text
    assert "quant_scalper_rss_bytes" in text


def test_journal_and_telegram_queue_depths_in_the_summary_and_on_metrics(tmp_path: Path) -> None:
    # A real writer holding rows (inline mode: nothing drains them) and a real outbox whose
    # sender never started: both full, one item dropped each.
    writer = JournalWriter(open_journal(str(tmp_path / "journal.sqlite")), 3, threaded=False)
    for i in range(4):
        writer.put("node_status", rows.status_row("live:T", ts_ns=i, payload={"i": i}))
    outbox = Outbox(lambda chat, text: None, capacity=2)
    for i in range(3):
        outbox.put(1, f"m{i}")
    source = _Source()
    source.monitor.watch_queue("journal", lambda: (writer.pending(), writer.stats.dropped))
    source.monitor.watch_queue("telegram", outbox.depth)
    source.monitor.watch_queue("stopped", lambda: None)  # not running: left out
    assert source.monitor.summary(0)["health"]["queues"] == {
        "journal": {"depth": 3, "dropped": 1},
        "telegram": {"depth": 2, "dropped": 1},
    }
    server = start_metrics_server(source, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    finally:
        server.shutdown()
        server.server_close()
        writer.journal.dispose()
    assert 'quant_scalper_queue_depth{queue="journal"} 3.0' in text
    assert 'quant_scalper_queue_dropped_total{queue="journal"} 1.0' in text
    assert 'quant_scalper_queue_depth{queue="telegram"} 2.0' in text
    assert 'quant_scalper_queue_dropped_total{queue="telegram"} 1.0' in text
    assert 'queue="stopped"' not in text


def test_metrics_port_taken_is_an_oserror() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            start_metrics_server(_Source(), "127.0.0.1", taken.getsockname()[1])


def _live(tmp_path: Path, metrics: object) -> dict:
    return {
        "trader_id": "QS-T-001",
        "ib": {"port": 4002, "client_id": 1, "account_id": "DU1234567"},
        "strategy": {"instrument_id": "MES.CME", "bar_type": "MES.CME-1-MINUTE-LAST-EXTERNAL"},
        "risk": {"state_dir": str(tmp_path / "state")},
        "metrics": metrics,
    }


def test_metrics_section_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    settings = live_settings_from_mapping(_live(tmp_path, {"port": 9108}), path)
    assert settings.metrics == MetricsSettings(port=9108)
    assert live_settings_from_mapping(_live(tmp_path, None), path).metrics.port is None
    for bad, words in (
        ({"prot": 9108}, "prot"),
        ({"port": 70000}, "metrics.port"),
        ({"port": "x"}, "metrics.port"),
        ({"signal_budget_ms": 0}, "metrics.signal_budget_ms"),
    ):
        with pytest.raises(ConfigError, match=words):
            live_settings_from_mapping(_live(tmp_path, bad), path)


def _receiver(tmp_path: Path, abstract: bool) -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"qs-notify-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind("\0" + name)
        address = "@" + name
    else:
        address = str(tmp_path / "notify.sock")
        sock.bind(address)
    sock.settimeout(0.05)
    return sock, address


def _drain(sock: socket.socket, seconds: float) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            got.append(sock.recv(256).decode())
    return got


@pytest.mark.parametrize("abstract", [False, True])
def test_heartbeats_arrive_and_stop_while_the_loop_is_blocked(
    tmp_path: Path, abstract: bool
) -> None:
    sock, address = _receiver(tmp_path, abstract)
    notifier = Notifier(address)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    task = loop.create_task(heartbeat(notifier, ready.is_set, interval=0.05, poll=0.02))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        assert _drain(sock, 0.2) == []  # not ready: no READY, no heartbeat
        ready.set()
        got = _drain(sock, 0.5)
        assert got[0] == "READY=1\nSTATUS=trading" and got.count("WATCHDOG=1") >= 3
        blocked, released = threading.Event(), threading.Event()

        def block() -> None:  # a callback blocking the loop until the test releases it
            blocked.set()
            released.wait(10)

        loop.call_soon_threadsafe(block)
        assert blocked.wait(5)
        _drain(sock, 0.05)  # a heartbeat sent just before the block may still be in flight
        assert _drain(sock, 0.6) == []  # blocked: silence, systemd would restart us
        released.set()
        assert _drain(sock, 0.6).count("WATCHDOG=1") >= 2  # unblocked: heartbeats again
    finally:
        loop.call_soon_threadsafe(task.cancel)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        _drain(sock, 0.05)  # heartbeats sent before the loop stopped
        notifier.notify("STOPPING=1")
        assert _drain(sock, 0.1) == ["STOPPING=1"]
        notifier.close()
        sock.close()


def test_notifier_without_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not Notifier().enabled and Notifier().notify("READY=1") is False
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_USEC", "junk")
    assert watchdog_interval(7.0) == 7.0
