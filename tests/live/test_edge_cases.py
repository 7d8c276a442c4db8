"""Order edge cases against the TWS peer: refusals by IB code, a bracket child refused after the
entry filled, partial fills of the entry and the exit.

One live node runs for the whole module (a boot costs more than the cases), trading 2 contracts
so a market order can fill in parts. The tests run in file order and each leaves the node flat,
with no working order, on a calm tape; each case's entry signal also proves the previous case's
refusal lifted once |z| <= exit_z (a blocked strategy would place nothing). The in-flight check
runs every 0.5 s with a 1 s threshold, so an order IB never answers is resolved within seconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from quant_scalper.journal import schema
from quant_scalper.journal.db import open_journal
from quant_scalper.live.ib_errors import MARGIN, MARKET_CLOSED, NO_ANSWER, Refusal
from tests.ibpeer import Candle, IBPeer, Snapshot
from tests.live import scenario
from tests.live.harness import ACCOUNT, TRADER_ID, LiveNode, net_position, wait_for, write_config
from tests.live.test_node_e2e import STEP, _ready

SIZE = 2  # contracts per entry: a market order can fill in two parts
CALM = 0.95  # |z| of every calm bar stays below entry_z (1.0) by this margin
BOOK = f"live:{TRADER_ID}"
RULE = "order_refused"  # Rule.ORDER_REFUSED in the journal


@dataclass
class Tape:
    """The closes pushed into the peer, and the z-scores the node will see on them."""

    peer: IBPeer
    node: LiveNode
    closes: list[float] = field(default_factory=list)

    def push(self, *closes: float) -> None:
        """Trade these minutes: each candle opens at the previous close."""
        candles = []
        for close in closes:
            open_ = self.closes[-1] if self.closes else close
            candles.append(Candle(open_, max(open_, close), min(open_, close), close))
            self.closes.append(close)
        self.peer.push(*candles)

    def z_after(self, close: float) -> float | None:
        """The z-score of ``close`` as the next bar."""
        return scenario.zscores([*self.closes[-(scenario.WINDOW - 1) :], close])[-1]

    def calm(self, bars: int) -> None:
        """Push ``bars`` quiet minutes: |z| < CALM on each (no entry), and <= exit_z on one of
        the published ones (a refusal's block lifts). Steps of 1-4 ticks, never flat (a flat
        window has no z and makes the next tick a huge one), smallest |z| first."""
        path = self._calm_path(self.closes[-(scenario.WINDOW - 1) :], bars)
        assert path is not None, f"no calm path from {self.closes[-6:]}"
        self.push(*path)

    def _calm_path(self, window: list[float], bars: int, reset: bool = False) -> list[float] | None:
        if bars == 0:
            return [] if reset else None
        last = window[-1]
        scored = []
        for k in (-4, -3, -2, -1, 1, 2, 3, 4):
            z = scenario.zscores([*window, last + k * 0.25])[-1]
            if z is not None and abs(z) < CALM:
                scored.append((abs(z), last + k * 0.25))
        for z_abs, close in sorted(scored):
            published = bars > 1  # the last bar pushed reaches the strategy with the next one
            seen = reset or (published and z_abs <= scenario.EXIT_Z)
            rest = self._calm_path([*window[1:], close], bars - 1, seen)
            if rest is not None:
                return [close, *rest]
        return None

    def signal(self) -> float:
        """A 5-point drop (z far below -1: enter long) and one more bar to publish it; returns
        the drop's price (where the entry's market order fills, at the second bar's quote)."""
        drop = self.closes[-1] - 5.0
        z = self.z_after(drop)
        assert z is not None and z <= -scenario.ENTRY_Z, z
        self.push(drop, drop)
        return drop

    def sync(self) -> dict:
        """Wait until the node has every closed bar (the last one closes with the next)."""
        want = len(self.closes) - 1
        return self.node.wait_status(
            lambda s: s["bars_received"] >= want, STEP, f"{want} bars at the node"
        )


@dataclass
class Run:
    peer: IBPeer
    node: LiveNode
    tape: Tape
    journal: Path
    state: Path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The peer and one live node for the module, warmed up on a calm tape."""
    tmp = tmp_path_factory.mktemp("edge")
    peer = IBPeer(account=ACCOUNT)
    peer.start()
    config = write_config(
        tmp,
        peer.port,
        strategy={"trade_size": SIZE},
        exec_engine={"inflight_check_interval_ms": 500, "inflight_check_threshold_ms": 1000},
        journal={"status_interval_secs": 0.5},
    )
    node = LiveNode(config, tmp / "node.log")
    try:
        _ready(peer, node)
        tape = Tape(peer, node)
        tape.push(*scenario.WARMUP)
        tape.calm(4)
        tape.sync()
        state = tmp / "state" / TRADER_ID
        yield Run(peer, node, tape, state / "journal.sqlite", state / "risk_state.json")
    finally:
        node.kill()
        peer.close()


def _rows(path: Path, table) -> list[dict]:
    journal = open_journal(path)
    with journal.engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.book == BOOK)).mappings().all()
    journal.dispose()
    return [dict(r) for r in found]


def _flat_and_idle(run: Run) -> dict:
    """Wait until node and peer are flat with nothing working; returns the node's status."""
    run.peer.wait_until(lambda s: not s.positions and not s.working, STEP, "flat at the peer")
    return run.node.wait_status(
        lambda s: not s["positions"] and not s["open_orders"] and not s["orders_in_flight"],
        STEP,
        "the node flat and idle (no order working or on its way)",
    )


def _entry_ref(snap: Snapshot, placed: int) -> str:
    """The client order id of the entry (bracket parent) among orders placed after ``placed``."""
    parents = [o for o in snap.orders[placed:] if o.parent_id == 0]
    assert len(parents) == 1, parents
    return parents[0].order_ref.rsplit(":", 1)[0]


CODES = [
    pytest.param(
        201,
        "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
        "POSITION YOUR EQUITY WITH LOAN VALUE [1200.00 USD] MUST EXCEED THE INITIAL MARGIN "
        "[3000.00 USD]",
        "Inactive",
        MARGIN,
        id="201-margin",
    ),
    pytest.param(
        201,
        "Order rejected - reason:Trading is not allowed: the exchange is closed for this "
        "contract (outside trading hours)",
        "Inactive",
        MARKET_CLOSED,
        id="201-market-closed",
    ),
    pytest.param(
        163,
        'The following order "ID:0" price exceeds the Percentage constraint of 3%.',
        None,
        NO_ANSWER,
        id="163-price-limits-no-status",
    ),
    pytest.param(
        200,
        "No security definition has been found for the request",
        None,
        NO_ANSWER,
        id="200-contract-expired-no-status",
    ),
]


@pytest.mark.parametrize(("code", "message", "status", "refusal"), CODES)
def test_refused_entry_places_one_order_and_waits_for_the_reset(
    run: Run, code: int, message: str, status: str | None, refusal: Refusal
) -> None:
    """IB refuses the entry: one bracket per signal (no retry, also while an order IB never
    answered hangs), one line naming the problem and what to do, no position; the strategy
    waits for |z| <= exit_z (the next case's entry proves it traded again after)."""
    peer, node, tape = run.peer, run.node, run.tape
    placed = peer.snapshot().count("PLACE_ORDER")
    orders_before = len(peer.snapshot().orders)
    peer.refuse_next(code, message, status)
    drop = tape.signal()
    tape.push(drop - 2.0, drop - 4.0)  # more entry signals (z <= -1) while refused or hanging
    assert all(z <= -scenario.ENTRY_Z for z in scenario.zscores(tape.closes)[-3:-1])
    entry = _entry_ref(
        peer.wait_until(lambda s: len(s.orders) > orders_before, STEP), orders_before
    )
    line = rf"Order {entry} rejected by the venue: .*\. {re.escape(refusal.line())}\. No retry"
    node.wait_log(line, STEP + 10)  # silent codes: the in-flight check needs ~6 s
    tape.sync()
    status_now = _flat_and_idle(run)
    snap = peer.snapshot()
    assert snap.count("PLACE_ORDER") == placed + 3  # one bracket: parent and two children
    assert not snap.positions and not status_now["positions"]
    # Nautilus echoes ERROR lines on stderr too (same text): count distinct lines.
    lines = {ln for ln in node.text().splitlines() if re.search(line, ln)}
    assert len(lines) == 1, lines
    if refusal is NO_ANSWER:  # only the adapter's line names IB's code (200's own is DEBUG)
        assert f"Unhandled order warning or error code: {code} (req_id" in node.text()
    tape.calm(8)  # |z| falls to <= exit_z: entries allowed again
    tape.sync()


def test_stop_refused_after_the_entry_filled_flattens_and_alerts(run: Run) -> None:
    """IB refuses the bracket's stop when the entry fills: the node alerts (log, risk-trip
    topic: Telegram and the journal) and flattens at once, cancelling the target."""
    peer, node, tape = run.peer, run.node, run.tape
    fills_before = len(peer.snapshot().fills)
    peer.refuse_child(
        "STP", 201, "Order rejected - reason:The stop price is outside the price band (peer)"
    )
    tape.signal()
    snap = peer.wait_until(
        lambda s: len(s.fills) == fills_before + 2 and not s.positions and not s.working,
        STEP,
        "the entry filled and flattened at the peer",
    )
    assert [f[1:3] for f in snap.fills[fills_before:]] == [("BOT", SIZE), ("SLD", SIZE)]
    node.wait_log(
        r"protective STOP_MARKET O-\S+ of entry O-\S+ refused by IB \(Order rejected - "
        r"reason:The stop price is outside the price band \(peer\)\): the position is open: "
        "flattening",
        STEP,
    )
    node.wait_log(r"Exit: protective order O-\S+ refused: flattening", STEP)
    _flat_and_idle(run)
    wait_for(
        lambda: [
            r for r in _rows(run.journal, schema.breaker_events) if r["rule"] == "order_refused"
        ],
        STEP,
        "the refused stop in the journal's breaker events",
        node,
    )
    trades = wait_for(lambda: _rows(run.journal, schema.trades), STEP, "the trade journaled", node)
    assert [t["exit_reason"] for t in trades] == ["refused_child"]
    tape.calm(8)
    tape.sync()


def test_partial_fills_of_entry_and_exit_book_one_round_trip(run: Run) -> None:
    """Entry and exit each fill in two executions (one tick apart): one position of 2, children
    of 2, one round trip; the risk state's P&L and the journal equal the peer's fills net of
    their fees, nothing booked twice."""
    peer, node, tape = run.peer, run.node, run.tape
    fills_before = len(peer.snapshot().fills)
    peer.fill_in_parts(2)
    drop = tape.signal()
    snap = peer.wait_until(
        lambda s: sum(s.positions.values()) == SIZE and len(s.working) == 2,
        STEP,
        "the entry filled in two parts with its two children working",
    )
    assert [f[1:] for f in snap.fills[fills_before:]] == [
        ("BOT", 1, drop),
        ("BOT", 1, drop + 0.25),
    ]
    assert all(o.quantity == SIZE for o in snap.working)  # the children cover the whole fill
    status = node.wait_status(
        lambda s: s["positions"] and len(s["open_orders"]) == 2, STEP, "the node long 2"
    )
    assert net_position(status, status["positions"][0]["instrument_id"]) == SIZE
    assert {Decimal(str(o["quantity"])) for o in status["open_orders"]} == {Decimal(SIZE)}

    tape.calm(3)  # |z| <= exit_z: close at market, in two parts too
    snap = peer.wait_until(lambda s: not s.positions, STEP, "the exit at the peer")
    exits = snap.fills[fills_before + 2 :]
    assert [f[1:3] for f in exits] == [("SLD", 1), ("SLD", 1)]
    assert exits[1][3] == exits[0][3] - 0.25
    _flat_and_idle(run)

    # Every peer fill of the module (this trade and the flattened one), net of fees.
    peer_net = Decimal(str(round(snap.realized - snap.commissions, 2)))

    def _both_trades() -> list[dict] | None:
        found = _rows(run.journal, schema.trades)
        return found if len(found) == 2 else None

    def _state_matches() -> dict | None:
        found = json.loads(run.state.read_text())
        return found if Decimal(found["realized_pnl"]) == peer_net else None

    trades = wait_for(_both_trades, STEP, "both round trips in the journal", node)
    state = wait_for(_state_matches, STEP, f"the risk state's P&L to equal {peer_net}", node)
    assert state["trades_today"] == 2
    partial = trades[-1]
    assert (partial["quantity"], partial["exit_reason"]) == ("2", "signal")
    entry_px = (drop + drop + 0.25) / 2
    exit_px = (exits[0][3] + exits[1][3]) / 2
    gross = Decimal(str((exit_px - entry_px) * SIZE * 5))
    fees = Decimal("0.62") * 4
    assert partial["net_pnl_cents"] == int((gross - fees) * 100)
    assert sum(t["net_pnl_cents"] for t in trades) == int(peer_net * 100)
    journal_fills = _rows(run.journal, schema.fills)
    assert len(journal_fills) == len(snap.fills)  # every execution once
    assert len({f["trade_id"] for f in journal_fills}) == len(journal_fills)
    peer.fill_in_parts(1)


def test_stop_refused_before_the_market_entry_fills_still_flattens(run: Run) -> None:
    """IB refuses the stop as it arrives and the market entry fills at once, before the
    node's cancel of the entry can reach IB: the position opens without its stop; the node
    alerts and flattens when the position opens."""
    peer, node, tape = run.peer, run.node, run.tape
    fills_before = len(peer.snapshot().fills)
    alerts = len(_rows(run.journal, schema.breaker_events))
    peer.refuse_child(
        "STP",
        201,
        "Order rejected - reason:The stop price is outside the price band (peer, at submit)",
        at_submit=True,
    )
    tape.signal()
    snap = peer.wait_until(
        lambda s: len(s.fills) == fills_before + 2 and not s.positions and not s.working,
        STEP,
        "the entry filled and flattened at the peer",
    )
    assert [f[1:3] for f in snap.fills[fills_before:]] == [("BOT", SIZE), ("SLD", SIZE)]
    node.wait_log(r"refused by IB \(.*at submit\)\): cancelling its entry", STEP)
    node.wait_log(r"refused by IB \(before the fill\): the position is open: flattening", STEP)
    _flat_and_idle(run)
    wait_for(
        lambda: len(_rows(run.journal, schema.breaker_events)) >= alerts + 2,
        STEP,
        "both alerts in the journal",
        node,
    )
    tape.calm(8)
    tape.sync()
