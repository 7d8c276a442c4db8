"""A node SIGKILLed between an exit's fill and the cancels of its bracket children.

The soak (benchmarks/soak.py) found positions that IB held and nobody decided on after a node
SIGKILL: the exit's market order had filled at IB but the children's cancels never left the
dead process. The restarted node adopts those children from IB (``external_order_claims``) as
working orders of the strategy, which is flat: left alone, the first price move through one of
them opens a position at IB. The strategy must cancel them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ibapi.order import Order

from tests.ibpeer import IBPeer, Snapshot, candles_from_closes
from tests.live import scenario
from tests.live.harness import CLIENT_ID, LiveNode, write_config
from tests.live.test_node_e2e import STEP, _enter_long, _node_matches_peer, _ready


def _exit_filled_at_peer(peer: IBPeer) -> None:
    """Close the position at the peer with a market order of the node's client id, as the dead
    node's exit would have; the bracket children stay working (their cancels never left)."""
    broker = peer.broker

    def _place() -> None:
        position = next(p for p in broker.positions.values() if p.quantity != 0)
        order = Order()
        order.action = "SELL" if position.quantity > 0 else "BUY"
        order.orderType = "MKT"
        order.totalQuantity = abs(position.quantity)
        order.orderRef = "O-20260101-000000-001-MESZ6-99"
        broker.place(CLIENT_ID, broker.next_valid_id(CLIENT_ID), position.contract, order, True)

    peer._call(_place)


def _flat_with_orphans(snap: Snapshot) -> bool:
    return not snap.positions and len(snap.working) == 2


def test_restart_cancels_bracket_children_left_working_while_flat(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    config = write_config(tmp_path, peer.port)
    node = start_node(config)
    _ready(peer, node)
    _enter_long(peer, node)  # long 1 at 4995, SELL stop 4985 and SELL limit 5005 working
    node.kill()
    _exit_filled_at_peer(peer)
    peer.wait_until(_flat_with_orphans, STEP, "flat at the peer with both children working")

    restarted = start_node(config)
    _ready(peer, restarted, subscriptions=2)
    peer.wait_until(lambda s: not s.working, STEP, "the restarted node to cancel the orphans")
    restarted.wait_log(r"Cancelling .* working while flat", STEP, count=2)

    # The price runs through the old target: nothing may fill, node and IB stay flat.
    bars = restarted.status()["bars_received"]
    peer.push(*candles_from_closes([scenario.DROP]), scenario.take_profit_candle())
    restarted.wait_status(lambda s: s["bars_received"] > bars, STEP, "the rise at the node")
    snap = peer.snapshot()
    assert snap.positions == {}, snap.positions
    status = _node_matches_peer(restarted, peer)
    assert status["positions"] == [] and status["open_orders"] == []
    assert restarted.stop() == 0
