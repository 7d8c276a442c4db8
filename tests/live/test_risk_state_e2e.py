"""The risk state against the TWS peer: closes made while the node is away are booked once,
with their real fees and prices (issue 10, items 1 and 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tests.ibpeer import Candle, IBPeer
from tests.live import scenario
from tests.live.harness import REPO, TRADER_ID, LiveNode, node_env, wait_for, write_config
from tests.live.test_node_e2e import BOOT, STEP, _enter_long, _node_matches_peer, _ready

# Entry at 4995.00, stop 10 points lower: 1 MES x -10 pts x $5 - 2 x $0.62 fees.
STOP_LOSS_NET = Decimal("-51.24")


def _risk_state(node: LiveNode) -> dict:
    return json.loads((node.state_dir / TRADER_ID / "risk_state.json").read_text())


def _through_the_stop() -> Candle:
    return Candle(scenario.DROP, scenario.DROP, scenario.DROP - 15.0, scenario.DROP - 12.0)


@pytest.mark.parametrize("redis", [False, True], ids=["no-cache-db", "redis"])
def test_stop_filled_while_the_node_is_down_is_booked_once(
    peer: IBPeer,
    start_node: Callable[..., LiveNode],
    tmp_path: Path,
    redis: bool,
    request: pytest.FixtureRequest,
) -> None:
    """SIGKILL with the bracket working, the stop fills at the peer, restart: the loss and the
    trade are in risk_state.json with both fees; a second restart does not count it again."""
    sections: dict = {}
    env: dict[str, str] = {}
    if redis:
        port, password = request.getfixturevalue("redis_with_password")
        sections["cache"] = {
            "redis": {"host": "127.0.0.1", "port": port, "password": "${QS_REDIS_PASSWORD}"}
        }
        env["QS_REDIS_PASSWORD"] = password
    config = write_config(tmp_path, peer.port, **sections)
    node = start_node(config, env=env)
    _ready(peer, node)
    _enter_long(peer, node)
    _node_matches_peer(node, peer)
    node.kill()

    peer.push(_through_the_stop())
    snap = peer.wait_until(lambda s: not s.positions, STEP, "the stop to fill at the peer")
    assert [(f[1], f[3]) for f in snap.fills] == [("BOT", 4995.0), ("SLD", 4985.0)]

    for restart in (1, 2):
        again = start_node(config, env=env)
        _ready(peer, again, subscriptions=1 + restart)
        state = wait_for(
            lambda n=again: (s := _risk_state(n))["trades_today"] >= 1 and s,
            STEP,
            "the stop-out to reach risk_state.json",
            again,
        )
        assert Decimal(state["realized_pnl"]) == STOP_LOSS_NET, state
        assert state["trades_today"] == 1 and state["consecutive_losses"] == 1
        assert len(state["booked_trades"]) == 1
        # On the second restart the file already holds the trade, so the wait above returns at
        # once: let the node run a health tick (>= 1 s, past its start-up replay) before
        # judging "not counted again" and stopping it. A SIGTERM within ~50 ms of RUNNING exits
        # 130, not 0 (seen once in CI; the signal lands inside a task step): noted, not fixed.
        again.wait_status(lambda s: s.get("health") is not None, STEP, "a health tick")
        assert len(_risk_state(again)["booked_trades"]) == 1
        assert again.stop() == 0
        assert _risk_state(again)["trades_today"] == 1


def test_flatten_while_the_node_runs_is_booked_at_the_real_price_and_fee(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    """``quant-scalper flatten`` (its own IB session) closes the node's position: the node's
    position check infers the close; the risk state books the flatten's real fill and fee."""
    config = write_config(tmp_path, peer.port, exec_engine={"position_check_interval_secs": 2})
    node = start_node(config)
    _ready(peer, node)
    _enter_long(peer, node)
    peer.push(Candle(4994.0, 4994.0, 4993.5, 4993.75))  # the market moves: the flatten sells here
    flatten = subprocess.run(
        [sys.executable, "-m", "quant_scalper.cli", "flatten", "--config", str(config)],
        cwd=REPO,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=BOOT,
    )
    assert flatten.returncode == 0, flatten.stdout + flatten.stderr
    sold = [f for f in peer.snapshot().fills if f[1] == "SLD"]
    assert len(sold) == 1
    real_price = Decimal(str(sold[0][3]))
    expected = (real_price - Decimal("4995.00")) * 5 - Decimal("1.24")
    state = wait_for(
        lambda: (s := _risk_state(node))["trades_today"] >= 1 and s,
        BOOT,
        "the flatten to reach risk_state.json",
        node,
    )
    assert Decimal(state["realized_pnl"]) == expected, (state, real_price)
    node.wait_log(r"close priced at the real fill", STEP)
    assert node.stop() == 0

    # The next start replays IB's executions and the flatten's record: booked already.
    again = start_node(config)
    _ready(peer, again, subscriptions=2)
    again.wait_log(r"execution\(s\) of MES\w+ today at IB, journaled", STEP)
    assert again.stop() == 0
    after = _risk_state(again)
    assert (after["trades_today"], Decimal(after["realized_pnl"])) == (1, expected)


def test_close_booked_live_is_not_booked_again_at_the_next_start(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    """The target fills while the node runs (booked live, real fees); the restart's replay of
    IB's executions finds the same execution and books nothing more."""
    config = write_config(tmp_path, peer.port)
    node = start_node(config)
    _ready(peer, node)
    _enter_long(peer, node)
    peer.push(Candle(scenario.DROP, scenario.DROP, scenario.DROP, scenario.DROP))
    peer.push(scenario.take_profit_candle())
    peer.wait_until(lambda s: not s.positions, STEP, "the target to fill")
    state = wait_for(
        lambda: (s := _risk_state(node))["trades_today"] >= 1 and s, STEP, "the live booking", node
    )
    assert Decimal(state["realized_pnl"]) == Decimal("48.76")  # +$50 - 2 x $0.62
    assert node.stop() == 0
    again = start_node(config)
    _ready(peer, again, subscriptions=2)
    again.wait_log(r"2 execution\(s\) of MES\w+ today at IB, journaled", STEP)
    assert again.stop() == 0
    after = _risk_state(again)
    assert (after["trades_today"], after["realized_pnl"]) == (1, "48.76")


def test_live_refuses_a_state_folder_others_can_write(peer: IBPeer, tmp_path: Path) -> None:
    """A world-writable control folder (another user could drop a kill or a resume): `live`
    refuses to start, naming the folder and the chmod fix."""
    config = write_config(tmp_path, peer.port)
    control = tmp_path / "state" / TRADER_ID / "control"
    control.mkdir(parents=True, mode=0o700)
    control.chmod(0o777)
    result = subprocess.run(
        [sys.executable, "-m", "quant_scalper.cli", "live", "--config", str(config)],
        cwd=REPO,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=BOOT,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"chmod go-w {control}" in result.stderr and "Traceback" not in result.stderr
    assert peer.snapshot().sessions == ()


def test_planted_status_temp_symlink_is_not_written_through(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    """A symlink planted at the status file's old temp name never redirects the node's write."""
    victim = tmp_path / "root-owned.conf"
    victim.write_text("precious\n")
    config = write_config(tmp_path, peer.port)
    folder = tmp_path / "state" / TRADER_ID
    folder.mkdir(parents=True, mode=0o700)
    (folder / "status.tmp").symlink_to(victim)
    node = start_node(config)
    _ready(peer, node)
    node.wait_status(lambda s: s["bars_received"] >= 0, STEP, "a status write")
    assert node.stop() == 0
    assert victim.read_text() == "precious\n"
