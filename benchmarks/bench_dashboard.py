"""Dashboard speed on a big journal: 100,000 trades and 1,000,000 equity marks (SQLite).

Measured through a real uvicorn server over HTTP on 127.0.0.1, in one run:
- ``/api/v1/trades`` page latency (p50/p99; target p99 < 50 ms), newest first and sorted by
  a non-indexed column;
- month P&L (target < 100 ms) and the downsampled equity curve (target < 100 ms; the first
  call loads the marks into memory and is reported apart);
- first render of the page in headless Chromium (target < 1.5 s);
- 50 concurrent API clients: errors (target 0) and latency.

Usage: .venv/bin/python benchmarks/bench_dashboard.py [--trades N] [--marks N]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quant_scalper.dashboard.settings import DashboardSettings
from tests.dashboard.journal_fixture import (
    LIVE_BOOK,
    NS,
    create_journal,
    status_payload,
)
from tests.dashboard.server import CHROMIUM, dashboard_server

REASONS = ("signal", "stop", "target", "max_holding", "session")


def build(path: Path, n_trades: int, n_marks: int) -> float:
    """Write the big journal with executemany; returns the seconds it took."""
    started = time.perf_counter()
    create_journal(path).dispose()
    rng = random.Random(7)
    t0 = 1_700_000_000 * NS
    conn = sqlite3.connect(path)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma synchronous=off")
    conn.execute(
        "insert into runs (book, kind, trader_id, config_hash, instrument_id, "
        "account_size_cents, started_at_ns) values (?, 'live', 'QS-PAPER-001', ?, ?, ?, ?)",
        (LIVE_BOOK, "0" * 64, "MESZ6.CME", 2_500_000, t0),
    )
    minute = 60 * NS
    span = n_marks * minute

    def trade(i: int) -> tuple:
        exit_ns = t0 + i * (span // n_trades)
        entry_ns = exit_ns - rng.randint(3, 60) * minute
        net = rng.randint(-120, 150) * 125 - 124
        day = time.strftime("%Y-%m-%d", time.gmtime(exit_ns // NS))
        px = 4500 + (i % 400) * 0.25
        return (
            LIVE_BOOK, f"T-{i}@{exit_ns}", f"P-{i}", "MESZ6.CME", ("LONG", "SHORT")[i % 2], "1",
            entry_ns, exit_ns, f"{px:.2f}", f"{px + net / 500:.2f}", net + 124, 124, net,
            round(rng.uniform(-3, 3), 2), REASONS[i % 5], day, 0,
        )  # fmt: skip

    conn.executemany(
        "insert into trades (book, trade_key, position_id, instrument_id, side, quantity, "
        "entry_ns, exit_ns, entry_price, exit_price, gross_pnl_cents, fees_cents, "
        "net_pnl_cents, entry_z, exit_reason, trading_day, found_at_reconciliation) "
        "values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (trade(i) for i in range(n_trades)),
    )

    def marks():
        realized = 0
        for k in range(n_marks):
            realized += rng.randint(-300, 310)
            ts = t0 + k * minute
            yield (LIVE_BOOK, ts, realized, rng.randint(-2000, 2000),
                   time.strftime("%Y-%m-%d", time.gmtime(ts // NS)))  # fmt: skip

    conn.executemany(
        "insert into equity_marks (book, ts_ns, realized_cents, open_cents, trading_day) "
        "values (?,?,?,?,?)",
        marks(),
    )
    import json

    now = time.time_ns()
    conn.execute(
        "insert into node_status (book, updated_at_ns, payload) values (?, ?, ?)",
        (LIVE_BOOK, now, json.dumps(status_payload(now))),
    )
    conn.commit()
    conn.execute("pragma journal_mode=delete")
    conn.close()
    return time.perf_counter() - started


def timed(client: httpx.Client, path: str, n: int, params=None) -> list[float]:
    """Milliseconds of ``n`` sequential requests (each must be 200)."""
    out = []
    for k in range(n):
        p = params(k) if callable(params) else params
        t = time.perf_counter()
        r = client.get(path, params=p)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text[:200]
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float], target: float | None = None) -> None:
    p50, p99 = statistics.median(values), pct(values, 0.99)
    verdict = "" if target is None else ("  OK" if p99 < target else "  OVER TARGET")
    tgt = "" if target is None else f"  (target p99 < {target:g} ms: {p99 / target:.2f}x)"
    print(f"{name:<44} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms{tgt}{verdict}")


def concurrent_ok(base: str, clients: int, per_client: int) -> tuple[int, list[float]]:
    """``clients`` threads, each with its own connection, mixing the page's calls."""
    errors: list[str] = []
    times: list[float] = []
    lock = threading.Lock()
    calls = [
        ("/api/v1/trades", {"page": 2}),
        ("/api/v1/status", None),
        ("/api/v1/pnl", {"period": "month"}),
        ("/api/v1/equity", None),
        ("/api/v1/breakers", None),
    ]

    def work(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as c:
            for k in range(per_client):
                path, params = calls[(i + k) % len(calls)]
                t = time.perf_counter()
                try:
                    r = c.get(path, params=params)
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code} {r.text[:80]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{path}: {exc!r}")
                with lock:
                    times.append((time.perf_counter() - t) * 1000)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in errors[:5]:
        print("   error:", e)
    return len(errors), times


def first_render(base: str, runs: int) -> list[tuple[float, float]]:
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            t = time.perf_counter()
            page.goto(base + "/")
            page.wait_for_function("Number(document.body.dataset.polls || 0) >= 1", timeout=30_000)
            data = (time.perf_counter() - t) * 1000
            page.wait_for_function("Number(document.body.dataset.charts || 0) >= 1", timeout=30_000)
            out.append((data, (time.perf_counter() - t) * 1000))
            page.close()
        browser.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--marks", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite"
        secs = build(path, args.trades, args.marks)
        size = path.stat().st_size / 1e6
        print(f"journal: {args.trades:,} trades, {args.marks:,} equity marks, {size:.0f} MB, "
              f"written in {secs:.1f} s")  # fmt: skip
        with dashboard_server(DashboardSettings(journal=str(path))) as base:
            with httpx.Client(base_url=base, timeout=60) as c:
                t = time.perf_counter()
                c.get("/api/v1/equity").raise_for_status()
                cold = (time.perf_counter() - t) * 1000
                pages = args.trades // 50
                line("trades page (newest first, 50 rows)",
                     timed(c, "/api/v1/trades", 200, lambda k: {"page": 1 + (k * 37) % pages}),
                     50)  # fmt: skip
                line("trades page sorted by net P&L",
                     timed(c, "/api/v1/trades", 50,
                           lambda k: {"sort": "net_pnl_cents", "page": 1 + k}), 50)  # fmt: skip
                line("trades filtered (losers, SHORT, one month)",
                     timed(c, "/api/v1/trades", 50, {"outcome": "losers", "side": "SHORT",
                           "from": "2024-01-01", "to": "2024-01-31"}), 50)  # fmt: skip
                line("P&L by month", timed(c, "/api/v1/pnl", 30, {"period": "month"}), 100)
                line("P&L by day", timed(c, "/api/v1/pnl", 30, {"period": "day"}), 100)
                print(f"{'equity, first call (loads 1M marks)':<44} {cold:7.1f} ms")
                line("equity downsampled (1,500 points)", timed(c, "/api/v1/equity", 30), 100)
                line("status", timed(c, "/api/v1/status", 30), 50)
            renders = first_render(base, 3)
            for k, name in ((0, "cards + table"), (1, "with charts")):
                values = [r[k] for r in renders]
                median = statistics.median(values)
                label = "first render in Chromium, " + name
                print(
                    f"{label:<44} median {median:7.0f} ms  best "
                    f"{min(values):7.0f} ms  (target < 1500 ms: {median / 1500:.2f}x)"
                )
            errors, times = concurrent_ok(base, args.clients, 10)
            print(
                f"{args.clients} concurrent clients x 10 calls: {errors} errors, "
                f"p50 {statistics.median(times):.0f} ms, p99 {pct(times, 0.99):.0f} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
