"""When the risk state cannot be saved or read, the strategy does not trade blind (issue 10,
item 2), through Nautilus's backtest engine on crafted MES bars (see test_risk_rules_engine)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from nautilus_trader.model.data import Bar

from quant_scalper.risk import RiskStateStore
from quant_scalper.strategy import ZScoreMeanReversion
from tests.engine_support import strategy_config
from tests.test_risk_rules_engine import (
    WINDOW,
    CommandAt,
    ct,
    entries,
    run,
    timeline,
    win_cycle,
)

REPO = Path(__file__).resolve().parents[1]
TRADER = "TESTER-001"


class ImmutableBetween(ZScoreMeanReversion):
    """Makes its state folder immutable (``chattr +i``) from one bar to another."""

    lock_at: pd.Timestamp
    unlock_at: pd.Timestamp
    folder: Path

    def on_bar(self, bar: Bar) -> None:
        at = pd.Timestamp(bar.ts_event, tz="UTC")
        if at == self.lock_at:
            subprocess.run(["chattr", "+i", str(self.folder)], check=True)
        elif at == self.unlock_at:
            subprocess.run(["chattr", "-i", str(self.folder)], check=True)
        super().on_bar(bar)


def _chattr_works(tmp_path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    ok = subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode == 0
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
    return ok


def test_unwritable_state_means_reduce_only_until_a_save_works(tmp_path: Path) -> None:
    if not _chattr_works(tmp_path):
        pytest.skip("chattr +i is not available here (needs CAP_LINUX_IMMUTABLE)")
    candles, times = timeline(
        (ct(9, 0), win_cycle()),  # bought at the dip; the exit closes while immutable
        (ct(10, 0), win_cycle()),  # a dip while the state cannot be saved: no entry
        (ct(11, 0), win_cycle()),  # writable again: bought
    )
    strategy = ImmutableBetween(strategy_config(window=WINDOW, state_dir=str(tmp_path)))
    strategy.folder = tmp_path / TRADER
    strategy.lock_at = pd.Timestamp(times[11])  # the exit bar of the first cycle
    strategy.unlock_at = pd.Timestamp(times[24])  # the first bar at 11:00
    try:
        engine, _ = run(candles, times, strategy=strategy, state_dir=str(tmp_path))
    finally:
        subprocess.run(["chattr", "-i", str(strategy.folder)], capture_output=True)
    entry_times = entries(engine)
    assert [t for t in entry_times if t < strategy.lock_at], "traded while writable"
    assert not [t for t in entry_times if strategy.lock_at <= t < strategy.unlock_at]
    assert [t for t in entry_times if t >= strategy.unlock_at], "entries resume after a save"
    saved = RiskStateStore(tmp_path, TRADER).load()
    closed = len(engine.cache.position_snapshots()) + len(engine.cache.positions_closed())
    assert saved is not None and saved.trades_today == closed >= 2, "nothing booked was lost"
    assert saved.version == strategy.breakers.state.version


def _corrupt(tmp_path: Path) -> Path:
    path = RiskStateStore(tmp_path, TRADER).path
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_text("{not json")
    return path


@pytest.mark.parametrize("reset", [False, True], ids=["plain-resume", "explicit-reset"])
def test_resume_of_an_unreadable_state_needs_an_explicit_reset(tmp_path: Path, reset: bool):
    path = _corrupt(tmp_path)
    blocks = [(ct(9, 0), win_cycle()), (ct(10, 0), win_cycle())]
    candles, times = timeline(*blocks)
    strategy = CommandAt(strategy_config(window=WINDOW, state_dir=str(tmp_path)))
    strategy.at = pd.Timestamp(times[2])
    strategy.message = {
        "command": "resume",
        "reason": "operator",
        "source": "test",
        "reset_unreadable_state": reset,
    }
    engine, states = run(candles, times, strategy=strategy, state_dir=str(tmp_path))
    (result,) = strategy.results
    aside = sorted(path.parent.glob("risk_state.json.unreadable-*"))
    if not reset:
        assert result["result"].startswith("not resumed: the risk state")
        assert "--reset-unreadable-state" in result["result"]
        assert entries(engine) == [] and strategy.breakers.state.halted
        assert path.read_text() == "{not json" and aside == []
    else:
        assert result["result"].startswith("resumed after a reset")
        assert [p.read_text() for p in aside] == ["{not json"]
        assert entries(engine), "trades again from a fresh state"
        assert json.loads(path.read_text())["halted"] is False
        assert states[-1] == "ACTIVE"


def test_resume_cli_refuses_an_unreadable_state_in_one_line(tmp_path: Path) -> None:
    _corrupt(tmp_path)
    base = [sys.executable, "-m", "quant_scalper.cli", "resume", "--state-dir", str(tmp_path)]
    base += ["--trader-id", TRADER, "--wait", "0"]
    refused = subprocess.run(base, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "--reset-unreadable-state" in refused.stderr and "Traceback" not in refused.stderr
    control = tmp_path / TRADER / "control"
    assert not control.exists() or not list(control.glob("*.json")), "nothing queued"
    queued = subprocess.run(
        [*base, "--reset-unreadable-state"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert queued.returncode == 0, queued.stderr
    (command,) = control.glob("*.json")
    assert json.loads(command.read_text())["reset_unreadable_state"] is True
