"""Soak / stress / failover run: the real live node against the TWS peer, with faults.

``quant-scalper live`` (a subprocess, configured like the live e2e tests: tests/live/harness.py)
trades against the TWS-protocol peer (tests/ibpeer) replaying the bundled real MES bars,
accelerated (``--interval`` seconds per 1-minute bar; 1380 bars = one simulated Globex day).
A supervisor restarts the node when it exits with an error or is killed, as systemd's
``Restart=on-failure`` would, and also when its ``WATCHDOG=1`` heartbeats (``$NOTIFY_SOCKET``)
stop for ``--watchdog-secs`` (a hung node). Faults are injected every ``--fault-every`` seconds,
drawn with a seeded RNG from: gateway restart (socket closed ``--outage`` s), 1100/1102,
1100/1101, node SIGKILL (waiting briefly for an open position), order rejects for a while,
and a quote burst (``--burst-rate`` msgs/s for ``--burst-secs``).

Every ``--check-every`` seconds: node alive and heartbeating; node position = peer position
(a mismatch lasting longer than ``--grace`` s while the node reports its IB link up, status.json
``broker.connected``, is a violation); no order reference placed twice
under two order ids; when both are flat and quiet, the risk state's realized P&L of the day
equals the P&L of the peer's fills net of their fees. Prints a report and exits 1 on any
violation.

    .venv/bin/python benchmarks/soak.py --minutes 5 [--interval 0.02] [--seed 1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ibpeer import IBPeer, Snapshot, catalog_bars
from tests.live.harness import ACCOUNT, TRADER_ID, LiveNode, write_config

REPO = Path(__file__).resolve().parents[1]
BARS_PER_DAY = 1380  # 23 h of 1-minute bars
MULTIPLIER = Decimal(5)  # MES
FAULTS = ("gateway_restart", "1100_1102", "1100_1101", "node_kill", "rejects", "quote_burst")
# No order at the peer this long, with bars flowing: the node stopped trading (a hold that never
# ended). The longest legitimate hold measured in the 70-fault run was 93 s: two adapter resets
# 15 s apart (about 27 s each, after 1100/1102) with Nautilus's in-flight check resolving a
# cancel IB had already answered 10147 in between (5 queries, 38 s).
STALL_SECS = 180.0


@dataclass
class SoakReport:
    """What the run measured (printed at the end; ``violations`` empty means pass)."""

    wall_secs: float = 0.0
    bars: int = 0
    faults: Counter = field(default_factory=Counter)
    crashes: int = 0  # node exits we did not cause
    hangs: int = 0  # heartbeats stopped: killed by the supervisor
    restarts: int = 0
    orders_placed: int = 0
    duplicates: int = 0
    fills: int = 0
    pnl_checks: int = 0
    position_checks: int = 0
    violations: list[str] = field(default_factory=list)
    rss: list[tuple[int, int]] = field(default_factory=list)  # (bars, bytes) of the last node
    latency: dict[str, Any] = field(default_factory=dict)
    loop_lag: dict[str, Any] = field(default_factory=dict)
    burst_messages: int = 0
    heap_growth: list[str] = field(default_factory=list)  # --heap-sites: top growth lines

    @property
    def days(self) -> float:
        """Simulated trading days replayed."""
        return self.bars / BARS_PER_DAY


class Supervisor:
    """Runs the node like systemd (Type=notify, WatchdogSec, Restart=on-failure)."""

    def __init__(self, config: Path, folder: Path, watchdog_secs: float) -> None:
        self.config = config
        self.folder = folder
        self.watchdog_secs = watchdog_secs
        self.notify_path = folder / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.notify_path))
        self.sock.settimeout(0.05)
        self.node: LiveNode | None = None
        self.generation = 0
        self.ready = False
        self.last_beat = time.monotonic()
        self.started = time.monotonic()
        self.expected_exit = False

    def start(self) -> None:
        """Start a node process (a new generation)."""
        self.generation += 1
        self.ready = False
        self.expected_exit = False
        self.started = self.last_beat = time.monotonic()
        self.node = LiveNode(
            self.config,
            self.folder / f"node-{self.generation}.log",
            env={"NOTIFY_SOCKET": str(self.notify_path), "WATCHDOG_USEC": "2000000"},
        )

    def poll(self, report: SoakReport) -> None:
        """Read notify messages; restart a dead or hung node."""
        with contextlib.suppress(TimeoutError, BlockingIOError):
            while True:
                message = self.sock.recv(512).decode()
                if "READY=1" in message:
                    self.ready = True
                if "WATCHDOG=1" in message or "READY=1" in message:
                    self.last_beat = time.monotonic()
        node = self.node
        assert node is not None
        if not node.alive():
            if not self.expected_exit:
                report.crashes += 1
                tail = node.text()[-1500:].replace("\n", "\n    ")
                report.violations.append(
                    f"node generation {self.generation} exited {node.proc.returncode} "
                    f"unexpectedly:\n    {tail}"
                )
            self.restart(report)
            return
        limit = self.watchdog_secs if self.ready else 120.0  # start-up allowance
        if time.monotonic() - self.last_beat > limit:
            report.hangs += 1
            report.violations.append(
                f"node generation {self.generation}: no heartbeat for {limit:g} s "
                f"({'after' if self.ready else 'before'} READY): killed and restarted"
            )
            self.kill()
            self.restart(report)

    def kill(self) -> None:
        """SIGKILL the node (a crash we cause)."""
        assert self.node is not None
        self.expected_exit = True
        self.node.kill()

    def restart(self, report: SoakReport) -> None:
        """Start again after systemd's RestartSec (1 s here)."""
        time.sleep(1.0)
        report.restarts += 1
        self.start()

    def status(self) -> dict[str, Any] | None:
        """The node's status.json."""
        return None if self.node is None else self.node.status()

    def close(self) -> None:
        """Stop the node gracefully and close the socket."""
        if self.node is not None:
            self.expected_exit = True
            self.node.stop()
        self.sock.close()


def peer_pnl(snap: Snapshot, fee: Decimal) -> Decimal:
    """Realized P&L of all the peer's fills (flat account): sells minus buys, minus fees."""
    total = Decimal(0)
    for _symbol, side, qty, price in snap.fills:
        sign = 1 if side == "SLD" else -1
        total += sign * Decimal(str(qty)) * Decimal(str(price)) * MULTIPLIER
        total -= fee * Decimal(str(qty))
    return total


def duplicates(snap: Snapshot) -> int:
    """Order references (client order ids) placed under more than one IB order id."""
    refs = Counter(o.order_ref for o in snap.orders if o.order_ref)
    return sum(n - 1 for n in refs.values() if n > 1)


def node_position(status: dict[str, Any]) -> Decimal:
    """The node's net position (all instruments: the soak trades one)."""
    return sum((Decimal(str(p["signed_qty"])) for p in status["positions"]), Decimal(0))


def risk_pnl(state_dir: Path) -> Decimal | None:
    """Realized P&L of the day from the node's risk state file."""
    try:
        data = json.loads((state_dir / TRADER_ID / "risk_state.json").read_text())
    except (OSError, ValueError):
        return None
    return Decimal(str(data.get("realized_pnl", "0")))


def run_soak(
    minutes: float,
    interval: float = 0.02,
    seed: int = 1,
    fault_every: float = 20.0,
    check_every: float = 3.0,
    grace: float = 60.0,
    outage: float = 5.0,
    burst_rate: float = 5000.0,
    burst_secs: float = 10.0,
    watchdog_secs: float = 10.0,
    folder: Path | None = None,
    faults: tuple[str, ...] = FAULTS,
    cycle: bool = False,
    echo: Any = print,
    exec_checks: float | None = None,
    purge_buffer_mins: int = 1,
    heap_sites: bool = False,
    file_level: str = "DEBUG",
) -> SoakReport:
    """Run the soak for ``minutes`` of wall time; returns the report. Faults are drawn at
    random (seeded) from ``faults``, or taken in turn with ``cycle``. ``exec_checks``: the
    node's ``exec_engine.open_check_interval_secs`` and ``position_check_interval_secs``
    (the shipped configs use 10 s; None, the test harness's default, turns both off).
    ``purge_buffer_mins``: the cache purge's buffer and interval (the shipped 120/15 minutes
    would never purge within a run that replays a trading day in half a minute).
    ``heap_sites``: the node traces its heap (``metrics.tracemalloc``, 30 s warm-up) and the
    report lists the source lines that grew most (slower: a diagnostic run). ``file_level``:
    the node's log file level (DEBUG, as the live tests: every event, for tracing)."""
    rng = random.Random(seed)
    report = SoakReport()
    folder = folder or Path(tempfile.mkdtemp(prefix="qs-soak-"))
    if folder.exists() and not folder.is_dir():
        raise SystemExit(f"soak: --folder {folder} is a file: pass a folder (created if missing)")
    folder.mkdir(parents=True, exist_ok=True)
    candles = [t.candle for t in catalog_bars(REPO / "catalog", "MESZ3.CME")]
    fee = Decimal("0.62")
    peer = IBPeer(account=ACCOUNT, commission_per_contract=float(fee))
    peer.start()
    config = write_config(
        folder,
        peer.port,
        risk={"max_consecutive_losses": 1000, "daily_loss_limit_usd": 1_000_000},
        node={"resync_secs": 3},
        logging={"file_level": file_level},
        **({"metrics": {"tracemalloc": True, "warmup_secs": 30}} if heap_sites else {}),
        exec_engine={
            "open_check_interval_secs": exec_checks,
            "position_check_interval_secs": exec_checks,
            "purge_interval_mins": purge_buffer_mins,
            "purge_buffer_mins": purge_buffer_mins,
        },
    )
    sup = Supervisor(config, folder, watchdog_secs)
    stop = threading.Event()
    fed = {"bars": 0}

    def _feed() -> None:  # the replay: one bar per interval while the gateway is up
        i = 0
        while not stop.is_set():
            if peer.listening and sup.ready:
                with contextlib.suppress(Exception):
                    peer.push(candles[i % len(candles)])
                    i += 1
                    fed["bars"] = i
            time.sleep(interval)

    start = time.monotonic()
    end = start + minutes * 60
    sup.start()
    feeder = threading.Thread(target=_feed, daemon=True)
    feeder.start()
    next_fault = start + fault_every
    next_check = start + check_every
    mismatch_secs = 0.0  # how long node and peer positions differed with the link up
    generation_seen = 0
    pnl_bad: tuple | None = None
    orders_seen, orders_moved_at = 0, start  # a node that holds for good trades nothing

    def _violation(text: str) -> None:  # echoed at once, with the UTC time to find in the logs
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        line = f"{text} (at {stamp} UTC, node-{sup.generation})"
        report.violations.append(line)
        echo(f"[{time.monotonic() - start:6.0f} s] VIOLATION: {line}")

    try:
        while time.monotonic() < end:
            sup.poll(report)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + check_every
                snap = peer.snapshot()
                status = sup.status()
                report.duplicates = duplicates(snap)
                if len(snap.orders) != orders_seen or not (peer.listening and sup.ready):
                    orders_seen, orders_moved_at = len(snap.orders), now
                elif now - orders_moved_at > STALL_SECS:
                    _violation(
                        f"trading stalled: no order reached the peer for > {STALL_SECS:g} s "
                        "of replayed bars (a hold that never ended?)"
                    )
                    orders_moved_at = now
                if status is not None and status.get("running") and sup.ready:
                    ours = node_position(status)
                    theirs = sum(snap.positions.values(), Decimal(0))
                    report.position_checks += 1
                    # The clock runs only while the node reports its IB link up: while it is
                    # down (an outage, the adapter's reconnect) the node cannot know a fill.
                    linked = (status.get("broker") or {}).get("connected", True)
                    if ours != theirs:
                        mismatch_secs += check_every if linked else 0.0
                        if mismatch_secs > grace:
                            _violation(
                                f"position: node {ours} vs peer {theirs} for > {grace:g} s "
                                "with the IB link up"
                            )
                            mismatch_secs = 0.0
                    else:
                        mismatch_secs = 0.0
                        quiet = not status["open_orders"] and not status.get("orders_in_flight")
                        # Quiet: while an order of ours is unacknowledged its fills may still be
                        # on the way (a quote burst delayed one by 17 s in the 70-fault run).
                        if theirs == 0 and not snap.working and quiet:
                            ours_pnl = risk_pnl(sup.node.state_dir)
                            want = peer_pnl(snap, fee)
                            if ours_pnl is not None:
                                report.pnl_checks += 1
                                key = (len(snap.fills), ours_pnl, want)
                                if ours_pnl == want:
                                    pnl_bad = None
                                elif pnl_bad is None or pnl_bad[0] != key:
                                    pnl_bad = (key, now)  # the state file may lag a moment
                                elif now - pnl_bad[1] > 10 and not pnl_bad[2:]:
                                    pnl_bad = (*pnl_bad, True)
                                    _violation(
                                        f"P&L: risk state {ours_pnl} vs peer fills {want} "
                                        f"({len(snap.fills)} fills) for > 10 s"
                                    )
                    health = status.get("health") or {}
                    if sup.generation != generation_seen:
                        generation_seen = sup.generation
                        report.rss = []
                    if health.get("rss_bytes"):
                        report.rss.append((fed["bars"], int(health["rss_bytes"])))
                    report.heap_growth = health.get("heap_growth") or report.heap_growth
                    report.latency = status.get("latency") or report.latency
                    report.loop_lag = health.get("loop_lag") or report.loop_lag
            if now >= next_fault and sup.ready:
                next_fault = now + fault_every * rng.uniform(0.5, 1.5)
                n = sum(report.faults.values())
                kind = faults[n % len(faults)] if cycle else rng.choice(faults)
                echo(f"[{now - start:6.0f} s] fault: {kind}")
                _inject(kind, peer, sup, report, rng, outage, burst_rate, burst_secs)
                report.faults[kind] += 1
            time.sleep(0.1)
    finally:
        stop.set()
        feeder.join(5)
        snap = peer.snapshot()
        report.orders_placed = len(snap.orders)
        report.fills = len(snap.fills)
        report.duplicates = duplicates(snap)
        report.burst_messages = peer.quote_messages
        with contextlib.suppress(Exception):  # the audit trail, to trace a position to its order
            (folder / "peer_fills.tsv").write_text("\n".join(peer.fill_trail()) + "\n")
        report.bars = fed["bars"]
        report.wall_secs = time.monotonic() - start
        sup.close()
        peer.close()
    if report.duplicates:
        report.violations.append(f"{report.duplicates} order reference(s) placed twice")
    return report


def _inject(
    kind: str,
    peer: IBPeer,
    sup: Supervisor,
    report: SoakReport,
    rng: random.Random,
    outage: float,
    burst_rate: float,
    burst_secs: float,
) -> None:
    if kind == "gateway_restart":
        peer.stop()
        time.sleep(outage)
        peer.start()
    elif kind == "1100_1102":
        peer.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
        time.sleep(rng.uniform(1, 3))
        peer.send_error(
            1102, "Connectivity between IB and TWS has been restored - data maintained."
        )
    elif kind == "1100_1101":
        peer.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
        time.sleep(rng.uniform(1, 3))
        peer.send_error(1101, "Connectivity between IB and TWS has been restored - data lost.")
    elif kind == "node_kill":
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not peer.snapshot().positions:
            time.sleep(0.1)  # prefer killing it mid-position
        sup.kill()
        sup.restart(report)
    elif kind == "rejects":
        peer.reject_orders("Order rejected - reason: insufficient margin (soak)")
        time.sleep(rng.uniform(3, 8))
        peer.reject_orders(None)
    elif kind == "quote_burst":
        peer.quote_burst(burst_secs, burst_rate)


def format_report(report: SoakReport) -> str:
    """The human-readable summary."""
    lines = [
        f"simulated days {report.days:.2f} ({report.bars} bars), wall {report.wall_secs:.0f} s",
        f"faults injected {sum(report.faults.values())} ({dict(report.faults)}), "
        f"violations {len(report.violations)}",
        f"crashes {report.crashes}, hangs {report.hangs}, restarts {report.restarts}",
        f"orders placed at the peer {report.orders_placed}, duplicated {report.duplicates}, "
        f"fills {report.fills}; checks: position {report.position_checks}, "
        f"P&L {report.pnl_checks}",
        f"quote-burst messages {report.burst_messages}",
    ]
    if len(report.rss) >= 2:
        (b0, r0), (b1, r1) = report.rss[min(len(report.rss) - 1, 10)], report.rss[-1]
        days = max((b1 - b0) / BARS_PER_DAY, 1e-9)
        lines.append(
            f"RSS (last node process) warm-up {r0 / 2**20:.1f} MiB, end {r1 / 2**20:.1f} MiB, "
            f"slope {(r1 - r0) / 2**20 / days:+.2f} MiB per simulated day "
            f"({(r1 - r0) / max(r0, 1):+.1%})"
        )
        samples = report.rss[min(len(report.rss) - 1, 10) :]
        marks = [samples[round(q * (len(samples) - 1))] for q in (0, 0.25, 0.5, 0.75, 1)]
        lines.append(  # a plateau (allocator, caches filling) vs a steady climb (a leak)
            "RSS over the run (day: MiB) "
            + ", ".join(f"{b / BARS_PER_DAY:.1f}: {r / 2**20:.1f}" for b, r in marks)
        )
    if report.loop_lag:
        lines.append(
            f"event-loop lag p99 {report.loop_lag.get('p99_us')} us, "
            f"max {report.loop_lag.get('max_us')} us"
        )
    for stage, figures in report.latency.items():
        s = figures["since_start"]
        lines.append(
            f"latency {stage:<20} n={s['count']:<5} p50 {s['p50_us']} us, p99 {s['p99_us']} us, "
            f"max {s['max_us']} us"
        )
    lines.extend(f"heap growth since warm-up: {site}" for site in report.heap_growth)
    lines.extend(f"VIOLATION: {v}" for v in report.violations)
    return "\n".join(lines)


def main() -> int:
    """Command line: run, print the report, exit 1 on any violation."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-every", type=float, default=20.0)
    parser.add_argument("--outage", type=float, default=5.0)
    parser.add_argument("--burst-rate", type=float, default=5000.0)
    parser.add_argument("--burst-secs", type=float, default=10.0)
    parser.add_argument("--watchdog-secs", type=float, default=10.0)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument(
        "--exec-checks",
        type=float,
        default=10.0,
        help="exec_engine open/position check interval in s, as configs/live.paper.yaml "
        "(0: off, like the test harness)",
    )
    parser.add_argument(
        "--purge-buffer-mins",
        type=int,
        default=1,
        help="exec_engine purge interval and buffer in minutes (shipped: 15 and 120; a soak "
        "replays a day in ~30 s, so the default 1 lets the purge work within the run)",
    )
    parser.add_argument(
        "--log-file-level",
        default="DEBUG",
        help="the node's log file level (DEBUG: every event, for tracing a violation; the "
        "shipped configs log INFO)",
    )
    parser.add_argument(
        "--heap-sites",
        action="store_true",
        help="trace the node's Python heap (metrics.tracemalloc) and list the source lines "
        "that grew most since warm-up (slower: a diagnostic run)",
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help="comma-separated fault kinds to draw from (default: all); without node_kill one "
        "node process lives the whole run, so its RSS growth is measured end to end",
    )
    args = parser.parse_args()
    faults = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown or not faults:
        parser.error(
            f"--faults: unknown {unknown or 'empty list'}; choose from {', '.join(FAULTS)}"
        )
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    report = run_soak(
        args.minutes,
        interval=args.interval,
        seed=args.seed,
        fault_every=args.fault_every,
        outage=args.outage,
        burst_rate=args.burst_rate,
        burst_secs=args.burst_secs,
        watchdog_secs=args.watchdog_secs,
        folder=args.folder,
        exec_checks=args.exec_checks or None,
        faults=faults,
        purge_buffer_mins=args.purge_buffer_mins,
        heap_sites=args.heap_sites,
        file_level=args.log_file_level,
    )
    print(format_report(report))
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
