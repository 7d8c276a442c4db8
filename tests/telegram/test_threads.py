"""Commands reach the strategy on the node's event-loop thread, never on a foreign thread.

In-process live-clock node: a probe actor stands in for the strategy on ``CONTROL_TOPIC`` and
records which thread each command arrives on. The poller and outbox threads fetch and send;
the loop thread (the one running on_bar) publishes.
"""

from __future__ import annotations

import os
import signal
import threading

from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig, LoggingConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import Bar

from quant_scalper.telegram import TelegramAlerts, TelegramAlertsConfig
from quant_scalper.topics import CONTROL_RESULT_TOPIC, CONTROL_TOPIC
from tests.sim.replay import BAR_TYPE, INSTRUMENT, ReplayDataClientConfig, ReplayDataClientFactory
from tests.telegram.peer import TOKEN, BotPeer


class Probe(Actor):
    """Answers operator commands like the strategy does, noting the thread of each."""

    def __init__(self) -> None:
        super().__init__(ActorConfig(component_id="Probe"))
        self.bar_threads: set[int] = set()
        self.command_threads: list[int] = []

    def on_start(self) -> None:
        self.subscribe_bars(BAR_TYPE)
        self.msgbus.subscribe(CONTROL_TOPIC, self._on_command)

    def on_bar(self, bar: Bar) -> None:
        self.bar_threads.add(threading.get_ident())

    def _on_command(self, message: dict) -> None:
        self.command_threads.append(threading.get_ident())
        self.msgbus.publish(
            CONTROL_RESULT_TOPIC,
            {"command": message["command"], "result": "ok", "source": message["source"]},
        )


def test_commands_are_published_on_the_loop_thread(monkeypatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "111")
    peer = BotPeer().start()
    probe = Probe()
    node = TradingNode(
        TradingNodeConfig(
            trader_id="THREAD-001",
            data_clients={"CME": ReplayDataClientConfig()},
            logging=LoggingConfig(log_level="ERROR"),
            timeout_post_stop=0.1,
        )
    )
    node.add_data_client_factory("CME", ReplayDataClientFactory)
    node.trader.add_actor(probe)
    node.trader.add_actor(
        TelegramAlerts(
            TelegramAlertsConfig(
                mode="send",
                api_url=peer.url,
                poll_wait_secs=1,
                tick_ms=50,
                stale_data_secs=None,
                session_always_open=True,
                stop_flush_secs=0.5,
            )
        )
    )
    node.build()
    node.kernel.cache.add_instrument(INSTRUMENT)

    def drive() -> None:
        try:
            peer.wait_text("node THREAD-001 started", timeout=30)
            for command in ("/pause 3", "/resume", "/kill"):
                peer.push(111, command)
                peer.wait_text(f"{command.split()[0][1:]}: ok", timeout=15)
        finally:
            os.kill(os.getpid(), signal.SIGINT)

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        node.run()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        node.dispose()
        peer.close()
    driver.join(timeout=5)
    assert len(probe.command_threads) == 3, peer.texts()
    assert probe.bar_threads == {threading.main_thread().ident}
    assert set(probe.command_threads) == probe.bar_threads
