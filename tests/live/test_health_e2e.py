"""The live node's health against the TWS peer: latency in status.json, /metrics, systemd notify.

One real ``quant-scalper live`` subprocess with ``metrics.port`` set and ``$NOTIFY_SOCKET``
pointing at a datagram socket of the test (what systemd does with ``Type=notify``).
"""

from __future__ import annotations

import contextlib
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.ibpeer import IBPeer
from tests.live import scenario
from tests.live.harness import LiveNode, wait_for, write_config
from tests.telegram.peer import TOKEN, BotPeer

BOOT = 60.0
STEP = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_latency_metrics_and_watchdog_of_a_running_node(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.1)
    messages: list[str] = []

    def _received(text: str) -> bool:
        with contextlib.suppress(TimeoutError):
            while True:
                messages.append(notify.recv(512).decode())
        return any(text in m for m in messages)

    port = _free_port()
    bot = BotPeer().start()  # the Telegram actor sends: its outbox queue is exported too
    telegram = {"mode": "send", "api_url": bot.url, "commands": False}
    config = write_config(tmp_path, peer.port, metrics={"port": port}, telegram=telegram)
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "111"}
    node = start_node(
        config,
        env={"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000", **env},
    )
    try:
        wait_for(lambda: _received("READY=1"), BOOT, "READY=1 from the node", node)
        wait_for(lambda: peer.snapshot().count("REQ_HISTORICAL_DATA") >= 1, BOOT, "bars", node)
        peer.push(*scenario.entry_path())
        status = node.wait_status(
            lambda s: (
                bool(s.get("latency") or {}).__bool__()
                and "accepted_to_filled" in (s.get("latency") or {})
            ),
            STEP,
            "the entry's latency in status.json",
        )
        latency = status["latency"]
        for stage in ("bar_delivery", "decision_to_submit", "submit_to_sent", "sent_to_accepted"):
            assert latency[stage]["since_start"]["count"] == 1, stage
            assert latency[stage]["last_hour"]["count"] == 1, stage
        assert status["health"]["signals"] == 1
        assert status["health"]["orders"]["submitted"] >= 3  # entry, stop, target
        assert status["health"]["rss_bytes"] > 0
        assert status["health"]["loop_lag"]["count"] > 0
        queues = status["health"]["queues"]
        assert queues["journal"]["dropped"] == 0 and queues["telegram"]["dropped"] == 0
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        text = text.decode()
        assert 'quant_scalper_latency_seconds_count{stage="decision_to_submit"} 1.0' in text
        assert 'quant_scalper_order_events_total{outcome="filled"}' in text
        assert "quant_scalper_position 1.0" in text
        assert 'quant_scalper_queue_depth{queue="journal"}' in text
        assert 'quant_scalper_queue_dropped_total{queue="journal"} 0.0' in text
        assert 'quant_scalper_queue_depth{queue="telegram"}' in text
        beats = sum(m == "WATCHDOG=1" for m in messages)
        time.sleep(1.0)
        _received("WATCHDOG=1")
        assert sum(m == "WATCHDOG=1" for m in messages) >= beats + 2  # every 0.2 s
        assert node.stop() == 0
        wait_for(lambda: _received("STOPPING=1"), 5, "STOPPING=1")
    finally:
        notify.close()
        bot.close()
