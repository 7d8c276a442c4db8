"""``quant-scalper flatten`` against the TWS peer: cancel everything, close at market, report."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from quant_scalper.instruments import contract_symbol, front_month
from tests.ibpeer import IBPeer, flat
from tests.live.harness import REPO, LiveNode, node_env, write_config
from tests.live.test_node_e2e import _enter_long, _ready


def _flatten(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quant_scalper.cli", "flatten", "--config", str(config), *extra],
        cwd=REPO,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_flatten_cancels_the_bracket_and_closes_the_position(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    """A crashed node left a long position and its bracket: flatten leaves the account flat."""
    config = write_config(tmp_path, peer.port)
    node = start_node(config)
    _ready(peer, node)
    _enter_long(peer, node)
    node.kill()
    contract = next(iter(peer.snapshot().positions))

    result = _flatten(config, "--timeout", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    snap = peer.snapshot()
    assert snap.positions == {} and snap.working == ()
    closes = [o for o in snap.orders if o.order_ref == "quant-scalper-flatten"]
    assert [(o.action, o.order_type, o.status, o.client_id) for o in closes] == [
        ("SELL", "MKT", "Filled", 111)  # ib.client_id + 100: a running node keeps its session
    ]
    assert [o.status for o in snap.orders if o.parent_id] == ["Cancelled", "Cancelled"]
    out = result.stdout
    assert "cancelled 2 working order(s)" in out
    assert f"{contract} SELL 1 MKT: Filled @ 4994.75" in out  # the bid
    assert "result: FLAT" in out
    assert "DU1234567" not in out + result.stderr and "DU*****67" in out

    again = _flatten(config, "--timeout", "10")  # idempotent: nothing left to do
    assert again.returncode == 0
    assert "cancelled 0 working order(s)" in again.stdout
    assert "closed 0 position(s)" in again.stdout
    assert peer.snapshot().count("PLACE_ORDER") == 4


def test_flatten_closes_only_the_strategy_root_unless_all_instruments(
    peer: IBPeer, tmp_path: Path
) -> None:
    """A hand-traded ES position is left alone by default and closed with --all-instruments."""
    mes, es = _front_month_symbols(peer)
    peer.set_position(mes, 2, 5000.0)
    peer.set_position(es, -1, 5000.0)
    peer.push(flat(5000.0))  # a quote to fill the market orders against
    config = write_config(tmp_path, peer.port)

    result = _flatten(config, "--timeout", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{mes} SELL 2 MKT: Filled @ 4999.75" in result.stdout
    assert f"left alone: {es} -1" in result.stdout
    assert peer.snapshot().positions == {es: -1}

    everything = _flatten(config, "--timeout", "10", "--all-instruments")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert f"{es} BUY 1 MKT: Filled @ 5000" in everything.stdout
    assert peer.snapshot().positions == {}


def _front_month_symbols(peer: IBPeer) -> tuple[str, str]:
    year, month = front_month("MES", peer.today, 8)
    return contract_symbol("MES", year, month), contract_symbol("ES", year, month)
