"""Submit -> fill latency with the trade journal's database healthy vs stopped, in one run.

A real Nautilus ``TradingNode`` (replayed bars on the live clock, Nautilus's sandbox venue) runs
a probe strategy that sends a market order on every bar (buy when flat, sell when long); the
journal recorder writes every order event, fill, round trip and equity mark to a real
PostgreSQL (Debian's, started here on 127.0.0.1 in a temp folder, as the tests do). First
phase: the database is up. Second phase: the server is stopped (``pg_ctl stop``, from another
thread) while the node keeps trading; the writer buffers and retries. After the run the server
is started again and the rows written in the outage are counted.

Measured per order on the node's thread: the ``submit_order`` call and submit -> fill (the
sandbox fills on the node's event loop, so anything blocking that loop shows up here). Prints
the medians, p95 and the stopped/healthy ratio; the target is a ratio near 1.0.

    .venv/bin/python benchmarks/bench_journal.py [--orders 300] [--interval 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import sys
import tempfile
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
from sqlalchemy import func, select

from quant_scalper.journal import schema
from quant_scalper.journal.db import open_journal
from quant_scalper.journal.recorder import JournalRecorder, JournalRecorderConfig
from tests.servers import PostgresServer
from tests.sim.replay import (
    BAR_TYPE,
    INSTRUMENT,
    ReplayDataClientConfig,
    ReplayDataClientFactory,
)

WARMUP = 20
PASSWORD_ENV = "QS_BENCH_JOURNAL_PW"


class ProbeConfig(StrategyConfig, frozen=True):
    """Orders per phase."""

    orders_per_phase: int = 300


class Probe(Strategy):
    """A market order per bar; records submit-call and submit->fill times per phase."""

    def __init__(self, config: ProbeConfig, stop_db: threading.Event, done: threading.Event):
        super().__init__(config)
        self.stop_db = stop_db
        self.done = done
        self.phase = "healthy"
        self.samples: dict[str, dict[str, list[float]]] = {
            p: {"call": [], "fill": []} for p in ("healthy", "stopped")
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
            self.phase = "stopped"
            self.stop_db.set()  # another thread stops the server: never this one
        elif self._count == 2 * n:
            self.done.set()

    def _record(self, kind: str, secs: float) -> None:
        self.samples[self.phase][kind].append(secs * 1e6)


def build(url: str, probe: Probe, interval: float) -> tuple[TradingNode, JournalRecorder]:
    """The node: replay data, sandbox venue, the probe and the journal recorder."""
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
    asyncio.set_event_loop(asyncio.new_event_loop())  # tests.servers imports pytest
    node = TradingNode(config=config)
    node.add_data_client_factory("CME", ReplayDataClientFactory)
    node.add_exec_client_factory("CME", SandboxLiveExecClientFactory)
    node.trader.add_strategy(probe)
    recorder = JournalRecorder(
        JournalRecorderConfig(
            url=url,
            password_env=PASSWORD_ENV,
            book="live:BENCH-001",
            kind="live",
            status_interval_secs=1.0,
            session_always_open=True,
        )
    )
    node.trader.add_actor(recorder)
    node.build()
    node.kernel.cache.add_instrument(INSTRUMENT)
    return node, recorder


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
    try:
        base = Path(tempfile.mkdtemp(prefix="qs-bench-"))
        server = PostgresServer(base, "bench-pw")
        # (as root the cluster lives in its own /tmp/qs-pg-* folder; removed at the end)
    except BaseException as exc:  # pytest.skip outside pytest: PostgreSQL not installed
        raise SystemExit(f"bench_journal needs PostgreSQL 15 (Debian postgresql): {exc}") from None
    try:
        server.init()
        server.start()
        os.environ[PASSWORD_ENV] = server.password
        stop_db = threading.Event()
        done = threading.Event()
        probe = Probe(ProbeConfig(orders_per_phase=args.orders), stop_db, done)
        node, recorder = build(server.url, probe, args.interval)
    except BaseException:
        server.stop()
        server.remove()
        shutil.rmtree(base, ignore_errors=True)
        raise

    buffered: list[int] = []

    def watcher() -> None:
        stop_db.wait()
        server.stop()
        done.wait()
        writer = recorder.writer
        buffered.append(writer.pending() if writer else -1)
        server.start()  # back: the writer flushes what it buffered, in order
        deadline = time.monotonic() + 60
        while writer is not None and writer.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watcher, daemon=True).start()
    try:
        try:
            node.run()
        except KeyboardInterrupt:
            pass
        finally:
            node.stop()
            node.dispose()
        journal = open_journal(server.url, PASSWORD_ENV)
        with journal.engine.connect() as conn:
            fills = conn.execute(select(func.count()).select_from(schema.fills)).scalar()
            orders = conn.execute(select(func.count()).select_from(schema.orders)).scalar()
        journal.dispose()
    finally:
        server.stop()
        server.remove()
        shutil.rmtree(base, ignore_errors=True)

    total = 2 * (args.orders + WARMUP)
    print(f"orders per phase: {args.orders} (+{WARMUP} warm-up), bar every {args.interval} s")
    print(
        f"journal rows buffered while the database was stopped: {buffered[0] if buffered else '?'}"
    )
    print(f"journal after the restart: {fills} fills (orders filled: {total}), {orders} orders")
    print(f"{'':26}{'healthy':>12}{'stopped':>12}{'ratio':>8}")
    for kind, label in (("call", "submit_order call (us)"), ("fill", "submit -> fill (us)")):
        h_med, h_p95 = stats(probe.samples["healthy"][kind])
        s_med, s_p95 = stats(probe.samples["stopped"][kind])
        print(f"{label + ' median':26}{h_med:12.1f}{s_med:12.1f}{s_med / h_med:8.2f}")
        print(f"{label + ' p95':26}{h_p95:12.1f}{s_p95:12.1f}{s_p95 / h_p95:8.2f}")
    h_med, _ = stats(probe.samples["healthy"]["fill"])
    s_med, _ = stats(probe.samples["stopped"]["fill"])
    print(f"RATIO stopped/healthy (median submit -> fill): {s_med / h_med:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
