"""Order-submission latency with Telegram healthy vs stalled, in one live-clock node run.

A real Nautilus ``TradingNode`` (replayed bars on the live clock, Nautilus's sandbox venue) runs
a probe strategy that sends a market order on every bar (buy when flat, sell when long), so
every fill opens or closes a position and the Telegram actor queues an alert for it. The
actor talks to a local Bot API peer (tests/telegram/peer.py) on 127.0.0.1. First phase: the
peer answers at once. Second phase: the peer holds every sendMessage unanswered (the client
times out after 1 s and retries), as a hung Telegram would.

Measured per order on the node's thread: the ``submit_order`` call itself, and submit -> fill
(the sandbox fills on the node's event loop, so anything blocking that loop shows up here).
Prints the medians, p95 and the stalled/healthy ratio; the target is a ratio near 1.0.

    .venv/bin/python benchmarks/bench_telegram.py [--orders 300] [--interval 0.02]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.config import LoggingConfig, StrategyConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.trading.strategy import Strategy

from quant_scalper.telegram import TelegramAlerts, TelegramAlertsConfig
from tests.sim.replay import (
    BAR_TYPE,
    INSTRUMENT,
    ReplayDataClientConfig,
    ReplayDataClientFactory,
)
from tests.telegram.peer import TOKEN, BotPeer

WARMUP = 20


class ProbeConfig(StrategyConfig, frozen=True):
    """Orders per phase."""

    orders_per_phase: int = 300


class Probe(Strategy):
    """A market order per bar; records submit-call and submit->fill times per phase."""

    def __init__(self, config: ProbeConfig, peer: BotPeer, done: threading.Event) -> None:
        super().__init__(config)
        self.peer = peer
        self.done = done
        self.phase = "healthy"
        self.samples: dict[str, dict[str, list[float]]] = {
            p: {"call": [], "fill": []} for p in ("healthy", "stalled")
        }
        self._sent_at: float | None = None
        self._count = 0

    def on_start(self) -> None:
        """Subscribe to the replayed bars."""
        self.subscribe_bars(BAR_TYPE)

    def on_bar(self, bar: Bar) -> None:
        """Send one market order unless one is in flight."""
        if self._sent_at is not None or self.done.is_set():
            return
        side = OrderSide.SELL if self.portfolio.is_net_long(INSTRUMENT.id) else OrderSide.BUY
        order = self.order_factory.market(INSTRUMENT.id, side, INSTRUMENT.make_qty(1))
        started = time.perf_counter()
        self.submit_order(order)
        self._sent_at = started
        self._record("call", time.perf_counter() - started)

    def on_order_filled(self, event: OrderFilled) -> None:
        """Record submit -> fill; switch phase or finish."""
        if self._sent_at is None:
            return
        self._record("fill", time.perf_counter() - self._sent_at)
        self._sent_at = None
        self._count += 1
        n = self.config.orders_per_phase + WARMUP
        if self._count == n:
            self.phase = "stalled"
            self.peer.stall()
        elif self._count == 2 * n:
            self.done.set()

    def _record(self, kind: str, secs: float) -> None:
        self.samples[self.phase][kind].append(secs * 1e6)


def build(peer: BotPeer, probe: Probe, interval: float) -> TradingNode:
    """The node: replay data, sandbox venue, the probe and the Telegram actor."""
    config = TradingNodeConfig(
        trader_id="BENCH-001",
        data_clients={"CME": ReplayDataClientConfig(interval_secs=interval)},
        exec_clients={
            "CME": SandboxExecutionClientConfig(
                venue="CME",
                starting_balances=["100000 USD"],
                base_currency="USD",
                oms_type="NETTING",
                account_type="MARGIN",
                bar_execution=False,
                use_reduce_only=False,
            ),
        },
        logging=LoggingConfig(log_level="ERROR"),
        timeout_post_stop=1.0,
    )
    node = TradingNode(config=config)
    node.add_data_client_factory("CME", ReplayDataClientFactory)
    node.add_exec_client_factory("CME", SandboxLiveExecClientFactory)
    node.trader.add_strategy(probe)
    node.trader.add_actor(
        TelegramAlerts(
            TelegramAlertsConfig(
                mode="send",
                api_url=peer.url,
                request_timeout_secs=1.0,
                poll_wait_secs=1,
                max_backoff_secs=1.0,
                queue_capacity=5000,
                stale_data_secs=None,
                stop_flush_secs=0.0,
                session_always_open=True,
            )
        )
    )
    node.build()
    node.kernel.cache.add_instrument(INSTRUMENT)
    return node


def stats(values: list[float]) -> tuple[float, float]:
    """Median and p95 after the warm-up."""
    kept = values[WARMUP:]
    return statistics.median(kept), statistics.quantiles(kept, n=20)[-1]


def main() -> None:
    """Run both phases in one node and print the comparison."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300, help="orders per phase")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between bars")
    args = parser.parse_args()
    os.environ["TELEGRAM_BOT_TOKEN"] = TOKEN
    os.environ["TELEGRAM_CHAT_ID"] = "111"
    peer = BotPeer().start()
    done = threading.Event()
    probe = Probe(ProbeConfig(orders_per_phase=args.orders), peer, done)
    node = build(peer, probe, args.interval)

    def stop_when_done() -> None:
        done.wait()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=stop_when_done, daemon=True).start()
    try:
        node.run()
    except KeyboardInterrupt:
        pass
    finally:
        sent_while_healthy = len(peer.sent)
        node.stop()
        node.dispose()
        peer.close()

    print(f"Telegram alerts delivered: {sent_while_healthy} (peer stalled for the second phase)")
    print(f"orders per phase: {args.orders} (+{WARMUP} warm-up), bar every {args.interval} s")
    print(f"{'':26}{'healthy':>12}{'stalled':>12}{'ratio':>8}")
    for kind, label in (("call", "submit_order call (us)"), ("fill", "submit -> fill (us)")):
        h_med, h_p95 = stats(probe.samples["healthy"][kind])
        s_med, s_p95 = stats(probe.samples["stalled"][kind])
        print(f"{label + ' median':26}{h_med:12.1f}{s_med:12.1f}{s_med / h_med:8.2f}")
        print(f"{label + ' p95':26}{h_p95:12.1f}{s_p95:12.1f}{s_p95 / h_p95:8.2f}")
    h_med, _ = stats(probe.samples["healthy"]["fill"])
    s_med, _ = stats(probe.samples["stalled"]["fill"])
    print(f"RATIO stalled/healthy (median submit -> fill): {s_med / h_med:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
