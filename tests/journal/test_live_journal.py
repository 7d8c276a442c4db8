"""A live node on the TWS peer journals its trades; SIGKILL mid-position and a restart add
nothing twice and lose nothing (what the journal missed is found at reconciliation)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from quant_scalper.journal import schema
from quant_scalper.journal.db import open_journal
from tests.ibpeer import IBPeer, candles_from_closes
from tests.live import scenario
from tests.live.harness import TRADER_ID, LiveNode, wait_for, write_config
from tests.live.test_node_e2e import STEP, _enter_long, _node_matches_peer, _ready

BOOK = f"live:{TRADER_ID}"


def _rows(path: Path, table) -> list[dict]:
    journal = open_journal(path)
    with journal.engine.connect() as conn:
        found = conn.execute(select(table).where(table.c.book == BOOK)).mappings().all()
    journal.dispose()
    return [dict(r) for r in found]


def test_sigkill_mid_position_then_restart_journals_each_row_once(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    config = write_config(tmp_path, peer.port, journal={"status_interval_secs": 0.5})
    path = tmp_path / "state" / TRADER_ID / "journal.sqlite"
    node = start_node(config)
    _ready(peer, node)
    _enter_long(peer, node)
    _node_matches_peer(node, peer)
    wait_for(lambda: _rows(path, schema.fills), STEP, "the entry fill in the journal", node)
    status = wait_for(
        lambda: [
            r for r in _rows(path, schema.node_status) if json.loads(r["payload"])["positions"]
        ],
        STEP,
        "a status snapshot with the position",
        node,
    )
    payload = json.loads(status[0]["payload"])
    assert len(payload["orders"]) == 2 and payload["risk"]["halted"] is False
    assert payload["risk"]["daily_loss_limit_cents"] == 500_000  # harness: 5000 USD
    node.kill()  # a crash holding the position and its bracket

    restarted = start_node(config)
    _ready(peer, restarted, subscriptions=2)
    _node_matches_peer(restarted, peer)
    peer.push(candles_from_closes([scenario.DROP])[0], scenario.take_profit_candle())
    peer.wait_until(lambda s: not s.positions, STEP, "the target to fill")
    wait_for(lambda: _rows(path, schema.trades), STEP, "the round trip in the journal", restarted)
    assert restarted.stop() == 0

    fills = _rows(path, schema.fills)
    assert len(fills) == len({f["trade_id"] for f in fills}) == 2, fills
    assert [f["side"] for f in sorted(fills, key=lambda f: f["ts_event_ns"])] == ["BUY", "SELL"]
    (trade,) = _rows(path, schema.trades)
    assert (trade["side"], trade["exit_reason"]) == ("LONG", "target")
    assert (trade["entry_price"], trade["exit_price"]) == ("4995.00", "5005.00")
    assert trade["net_pnl_cents"] + trade["fees_cents"] == trade["gross_pnl_cents"] == 5000
    # the entry was Nautilus's inferred fill after the restart: the journal's real one counts
    entry = min(fills, key=lambda f: f["ts_event_ns"])
    assert trade["entry_ns"] == entry["ts_event_ns"]
    assert trade["fees_cents"] == sum(f["commission_cents"] for f in fills) == 124
    assert not any(f["found_at_reconciliation"] for f in fills)
    kinds = [e["kind"] for e in sorted(_rows(path, schema.node_events), key=lambda e: e["ts_ns"])]
    assert kinds.count("start") == 2 and kinds.count("stop") == 1  # the kill wrote no stop
    assert kinds.count("reconciled") == 2
    orders = _rows(path, schema.orders)
    assert len(orders) == len({o["client_order_id"] for o in orders})
    (run,) = _rows(path, schema.runs)
    assert run["kind"] == "live" and run["ended_at_ns"] is not None
    final = json.loads(_rows(path, schema.node_status)[0]["payload"])
    assert final["running"] is False and not final["positions"]


def test_a_target_filled_while_the_node_was_down_is_found_at_reconciliation(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    config = write_config(tmp_path, peer.port)
    path = tmp_path / "state" / TRADER_ID / "journal.sqlite"
    node = start_node(config)
    _ready(peer, node)
    _enter_long(peer, node)
    wait_for(lambda: _rows(path, schema.fills), STEP, "the entry fill in the journal", node)
    node.kill()
    peer.push(candles_from_closes([scenario.DROP])[0], scenario.take_profit_candle())
    peer.wait_until(lambda s: not s.positions, STEP, "the target to fill, node down")

    restarted = start_node(config)
    _ready(peer, restarted, subscriptions=2)
    _node_matches_peer(restarted, peer)
    assert restarted.stop() == 0
    fills = sorted(_rows(path, schema.fills), key=lambda f: f["ts_event_ns"])
    assert [(f["side"], f["found_at_reconciliation"]) for f in fills] == [
        ("BUY", False),
        ("SELL", True),
    ], fills
    assert fills[1]["price"] == "5005.00"
    (trade,) = _rows(path, schema.trades)
    assert (trade["side"], trade["exit_reason"], trade["found_at_reconciliation"]) == (
        "LONG",
        "target",
        True,
    )
    assert trade["gross_pnl_cents"] == 5000 and trade["fees_cents"] == 124
    assert trade["net_pnl_cents"] == 4876 and trade["entry_z"] is not None
    events = _rows(path, schema.node_events)
    assert any(
        e["kind"] == "reconciled" and e["detail"].startswith("1 fills and 1 trades") for e in events
    )


def test_postgresql_down_while_the_node_trades_then_every_row_arrives(
    peer: IBPeer,
    start_node: Callable[..., LiveNode],
    tmp_path: Path,
    postgres,
    monkeypatch,
) -> None:
    from tests.journal.conftest import PASSWORD_ENV, fresh_database

    monkeypatch.setenv(PASSWORD_ENV, postgres.password)

    url = fresh_database(postgres)
    env = {PASSWORD_ENV: postgres.password}
    config = write_config(tmp_path, peer.port, journal={"url": url, "password_env": PASSWORD_ENV})
    node = start_node(config, env=env)
    _ready(peer, node)
    postgres.stop()  # the database goes away; the node trades on
    try:
        _enter_long(peer, node)
        peer.push(candles_from_closes([scenario.DROP])[0], scenario.take_profit_candle())
        peer.wait_until(lambda s: not s.positions, STEP, "the target to fill, database down")
        node.wait_log(r"cannot be written .* buffering", STEP)
    finally:
        postgres.start()
    journal = open_journal(url, PASSWORD_ENV)

    def arrived() -> list[dict]:
        with journal.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(schema.trades)).mappings()]

    (trade,) = wait_for(arrived, 30, "the buffered rows after the restart", node)
    assert (trade["exit_reason"], trade["gross_pnl_cents"]) == ("target", 5000)
    assert node.stop() == 0
    with journal.engine.connect() as conn:
        fills = conn.execute(select(schema.fills)).mappings().all()
        orders = conn.execute(select(schema.orders)).mappings().all()
    journal.dispose()
    assert len(fills) == 2 and len(orders) == 3
    assert {o["fate"] for o in orders} == {"filled", "cancelled"}
    assert postgres.password not in node.text()
