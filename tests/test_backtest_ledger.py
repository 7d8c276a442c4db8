"""The backtest run config records a ledger and lets Nautilus purge its cache (issue 14)."""

from __future__ import annotations

from pathlib import Path

from quant_scalper.backtest.ledger import LEDGER_ACTOR_PATH
from quant_scalper.backtest.run_config import (
    PURGE_INTERVAL_MINS,
    build_run_config,
    resolve_contracts,
)
from quant_scalper.config import load_backtest_settings

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "backtest.yaml"


def test_run_config_has_the_ledger_recorder_and_hourly_purges() -> None:
    settings = load_backtest_settings(CONFIG, ["progress=false"])
    engine = build_run_config(settings, resolve_contracts(settings)).engine
    assert [a.actor_path for a in engine.actors] == [LEDGER_ACTOR_PATH]
    exec_engine = engine.exec_engine
    assert exec_engine is not None
    assert exec_engine.purge_closed_orders_interval_mins == PURGE_INTERVAL_MINS
    assert exec_engine.purge_closed_positions_interval_mins == PURGE_INTERVAL_MINS
