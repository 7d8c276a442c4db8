"""The front month changing while the node runs (issue 13, item 5), against the TWS peer.

The node trades ``MES.CME``: the front month of the real CME calendar (``roll_offset_days: 8``,
as in the paper config), whose roll moment is in the future. The peer's virtual market is
started a few minutes before that moment, so its bars cross it within seconds of test time
while the node's wall clock still says the old contract is front. No clock is faked: the bars
decide the roll, as IB's would, and the roll record keeps the restarted node on the new
contract.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from quant_scalper.instruments import contract_symbol, front_month
from quant_scalper.journal import schema
from quant_scalper.journal.db import open_journal
from quant_scalper.live.roll import (
    ROLL_EXIT_CODE,
    RollRecord,
    next_front,
    read_record,
    roll_moment,
    trading_day,
    write_record,
)
from tests.ibpeer import IBPeer, Snapshot, candles_from_closes
from tests.live import scenario
from tests.live.harness import ACCOUNT, TRADER_ID, LiveNode, wait_for, write_config
from tests.live.test_node_e2e import STEP, _bracket_working, _ready

OFFSET = 8  # harness and paper config: CME's roll date
BOOK = f"live:{TRADER_ID}"
FEE = Decimal("0.62")
ROOT = {"contract_month": None}  # trade the front month of MES.CME (the harness pins one)


def _upcoming_roll() -> tuple[str, str, datetime]:
    """The traded contract, the next one and the roll moment (at least 30 min away)."""
    now = datetime.now(UTC)
    year, month = front_month("MES", trading_day(now), OFFSET)
    moment = roll_moment(year, month, OFFSET)
    if moment - now < timedelta(minutes=30):  # the roll is minutes away: test the next one
        year, month = next_front("MES", year, month, OFFSET)
        moment = roll_moment(year, month, OFFSET)
    old = contract_symbol("MES", year, month)
    new = contract_symbol("MES", *next_front("MES", year, month, OFFSET))
    return old, new, moment


@contextmanager
def _peer(start: datetime) -> Iterator[IBPeer]:
    """A peer whose virtual market starts at ``start``."""
    ib = IBPeer(account=ACCOUNT, market_start=start)
    ib.start()
    yield ib
    ib.close()


@pytest.fixture
def roll() -> tuple[str, str, datetime]:
    return _upcoming_roll()


def _exited(node: LiveNode, timeout: float) -> int:
    wait_for(lambda: node.proc.poll() is not None, timeout, "the node to exit for the roll")
    code = node.stop()
    return code


def _rows(path: Path, table) -> list[dict]:
    journal = open_journal(path)
    with journal.engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.book == BOOK)).mappings().all()
    journal.dispose()
    return [dict(r) for r in found]


def _parents(snap: Snapshot, symbol: str) -> list[tuple[str, str, str]]:
    return [
        (o.action, o.order_type, o.status)
        for o in snap.orders
        if o.symbol == symbol and o.parent_id == 0
    ]


def _net_of_fees(snap: Snapshot) -> Decimal:
    """The day's realized P&L of the peer's fills: MES 5 USD a point, 0.62 a contract."""
    total = Decimal(0)
    for _symbol, side, qty, price in snap.fills:
        sign = 1 if side == "SLD" else -1
        total += sign * Decimal(str(price)) * qty * 5 - FEE * qty
    return total


def test_roll_flattens_the_old_contract_and_the_restart_trades_the_new_one(
    roll: tuple[str, str, datetime], start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    old, new, moment = roll
    path = tmp_path / "state" / TRADER_ID / "journal.sqlite"
    state_path = tmp_path / "state" / TRADER_ID / "risk_state.json"
    with _peer(moment - timedelta(minutes=10)) as peer:
        config = write_config(tmp_path, peer.port, instrument=ROOT)
        node = start_node(config)
        _ready(peer, node)
        assert f"trading {old}.CME" in node.text() and f"then {new}" in node.text()

        # Before the roll: warm-up and a long entry on the old contract (bars -10 .. -3 min).
        peer.push(*scenario.entry_path())
        peer.wait_until(_bracket_working, STEP, f"a long {old} with its bracket")
        # The slow decline holds the position (no exit signal, above the stop) and crosses the
        # roll moment: the strategy cancels the bracket and sells at market, then the node stops.
        peer.push(*candles_from_closes(scenario.DECLINE))
        assert _exited(node, 2 * STEP) == ROLL_EXIT_CODE, node.text()[-3000:]
        assert f"contract roll: flat on {old}, restarting on {new}" in node.text()
        snap = peer.snapshot()
        assert snap.positions == {} and snap.working == ()
        assert _parents(snap, old) == [("BUY", "MKT", "Filled"), ("SELL", "MKT", "Filled")]
        record = read_record(tmp_path / "state", TRADER_ID)
        assert record is not None and record.to_symbol == new

        # The supervisor's restart: the new contract, subscribed and warmed up afresh.
        restarted = start_node(config)
        _ready(peer, restarted, subscriptions=2)
        assert f"trading {new}.CME" in restarted.text()
        peer.push(*scenario.entry_path())
        peer.wait_until(
            lambda s: _parents(s, new) == [("BUY", "MKT", "Filled")] and len(s.working) == 2,
            STEP,
            f"a long {new} with its bracket",
        )
        status = restarted.wait_status(lambda s: s["positions"], STEP, f"the node to hold {new}")
        # warmed up on the new contract's own bars: none of the old one's reached the strategy
        assert status["bars_received"] <= len(scenario.entry_path()), status
        peer.push(candles_from_closes([scenario.DROP])[0], scenario.take_profit_candle())
        snap = peer.wait_until(lambda s: not s.positions, STEP, "the target to fill")
        trades = wait_for(
            lambda: (rows := _rows(path, schema.trades)) and len(rows) == 2 and rows,
            STEP,
            "both round trips in the journal",
            restarted,
        )
        state = wait_for(
            lambda: (s := json.loads(state_path.read_text()))["trades_today"] == 2 and s,
            STEP,
            "both trades in the risk state",
            restarted,
        )
        assert restarted.stop() == 0

    # Nothing on the old contract after its roll: its only orders are the entry and the roll's
    # market exit (plus the entry's cancelled bracket children); the new one traded afterwards.
    assert _parents(snap, old) == [("BUY", "MKT", "Filled"), ("SELL", "MKT", "Filled")]
    assert _parents(snap, new) == [("BUY", "MKT", "Filled")]
    assert [f[0] for f in snap.fills] == [old, old, new, new]
    by_instrument = {t["instrument_id"]: t for t in trades}
    assert set(by_instrument) == {f"{old}.CME", f"{new}.CME"}
    assert by_instrument[f"{old}.CME"]["exit_reason"] == "roll"
    assert by_instrument[f"{new}.CME"]["exit_reason"] == "target"
    fills = _rows(path, schema.fills)
    assert Counter(f["instrument_id"] for f in fills) == {f"{old}.CME": 2, f"{new}.CME": 2}
    # One risk state per trader across the roll: the day's P&L of both contracts' fills.
    assert Decimal(state["realized_pnl"]) == _net_of_fees(snap)
    assert Decimal(sum(t["net_pnl_cents"] for t in trades)) / 100 == _net_of_fees(snap)


def test_a_node_started_after_the_roll_moment_never_trades_the_old_contract(
    roll: tuple[str, str, datetime], start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    old, new, moment = roll
    with _peer(moment + timedelta(minutes=1)) as peer:  # the exchange is past the roll already
        node = start_node(write_config(tmp_path, peer.port, instrument=ROOT))
        _ready(peer, node)
        assert f"trading {old}.CME" in node.text()  # the machine's calendar: still front
        peer.push(*scenario.entry_path())  # an entry signal, on bars after the roll moment
        assert _exited(node, 2 * STEP) == ROLL_EXIT_CODE, node.text()[-3000:]
        snap = peer.snapshot()
        assert snap.count("PLACE_ORDER") == 0 and snap.fills == ()
        record = read_record(tmp_path / "state", TRADER_ID)
        assert record is not None and record.to_symbol == new


def test_a_position_left_on_the_old_contract_stops_the_start_with_what_to_do(
    roll: tuple[str, str, datetime], start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    old, new, moment = roll
    with _peer(datetime.now(UTC)) as peer:
        # A crash at the roll: the record says the node moved on, IB still holds the old one.
        year, month = front_month("MES", trading_day(moment), OFFSET)  # the new contract
        write_record(
            tmp_path / "state", TRADER_ID, RollRecord("MES", old, year, month, moment.isoformat())
        )
        peer.set_position(old, 1, 4995.0)
        node = start_node(write_config(tmp_path, peer.port, instrument=ROOT))
        assert _exited(node, 60) == 2, node.text()[-3000:]
        assert f"refusing to start on {new}: IB holds {old} +1" in node.text()
        assert "quant-scalper flatten" in node.text()
        assert peer.snapshot().count("PLACE_ORDER") == 0
