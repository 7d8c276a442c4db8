"""The live roll's calendar and contract choice (``live.roll``, ``live.contract``), no node."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from quant_scalper.live.config import LiveSettings, load_live_settings
from quant_scalper.live.contract import select_contract
from quant_scalper.live.node import build_node_config, strategy_config
from quant_scalper.live.roll import (
    RollRecord,
    leftover_positions,
    record_path,
    roll_moment,
    trading_day,
    write_record,
)
from tests.live.harness import ACCOUNT, TRADER_ID, write_config


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LiveSettings:
    monkeypatch.setenv("IB_ACCOUNT_ID", ACCOUNT)
    return load_live_settings(write_config(tmp_path, 4002, instrument={"contract_month": None}))


def test_the_trading_day_starts_at_17_chicago() -> None:
    assert trading_day(datetime(2026, 12, 9, 22, 59, tzinfo=UTC)) == date(2026, 12, 9)  # 16:59
    assert trading_day(datetime(2026, 12, 9, 23, 0, tzinfo=UTC)) == date(2026, 12, 10)  # 17:00


def test_the_roll_moment_is_the_start_of_cme_s_roll_date_in_either_season() -> None:
    # MESZ6 expires Fri 2026-12-18: CME's roll date Thu 12-10 starts Wed 17:00 CST.
    assert roll_moment(2026, 12, 8) == datetime(2026, 12, 9, 23, 0, tzinfo=UTC)
    # MESU7 expires Fri 2027-09-17: Wed 09-08 17:00 CDT.
    assert roll_moment(2027, 9, 8) == datetime(2027, 9, 8, 22, 0, tzinfo=UTC)
    # MESM7 expires Thu 2027-06-17 (Juneteenth observed on the Friday): Tue 06-08 17:00 CDT.
    assert roll_moment(2027, 6, 8) == datetime(2027, 6, 8, 22, 0, tzinfo=UTC)


def test_the_front_month_carries_its_roll_and_the_next_contract(settings: LiveSettings) -> None:
    before = select_contract(settings, today=date(2026, 12, 9))
    assert (before.instrument_id, before.next_symbol) == ("MESZ6.CME", "MESH7")
    assert before.trade_until == datetime(2026, 12, 9, 23, 0, tzinfo=UTC)
    assert strategy_config(settings, before)["trade_until"] == "2026-12-09T23:00:00Z"
    after = select_contract(settings, today=date(2026, 12, 10))
    assert after.instrument_id == "MESH7.CME"
    actors = [a.actor_path for a in build_node_config(settings, before).actors]
    assert "quant_scalper.live.roll_watch:RollWatch" in actors


def test_pinned_contracts_never_roll(settings: LiveSettings) -> None:
    pinned = replace(settings, instrument=replace(settings.instrument, contract_month="2026-12"))
    explicit = replace(
        settings,
        strategy={
            **settings.strategy,
            "instrument_id": "MESZ6.CME",
            "bar_type": "MESZ6.CME-1-MINUTE-LAST-EXTERNAL",
        },
    )
    for config in (pinned, explicit):
        contract = select_contract(config, today=date(2026, 12, 9))
        assert contract.instrument_id == "MESZ6.CME" and contract.trade_until is None
        assert "trade_until" not in strategy_config(config, contract)
        actors = [a.actor_path for a in build_node_config(config, contract).actors]
        assert not any("roll_watch" in path for path in actors)


def test_the_roll_record_keeps_the_restart_on_the_new_contract(settings: LiveSettings) -> None:
    state = settings.state_dir
    write_record(state, TRADER_ID, RollRecord("MES", "MESZ6", 2027, 3, "2026-12-09T23:00:00Z"))
    assert select_contract(settings, today=date(2026, 12, 9)).instrument_id == "MESH7.CME"
    # a later front month wins over an old record; another root's record is not ours
    assert select_contract(settings, today=date(2027, 3, 12)).instrument_id == "MESM7.CME"
    write_record(state, TRADER_ID, RollRecord("ES", "ESZ6", 2027, 3, "2026-12-09T23:00:00Z"))
    assert select_contract(settings, today=date(2026, 12, 9)).instrument_id == "MESZ6.CME"
    record_path(state, TRADER_ID).write_text("{not json")  # unreadable: the calendar decides
    assert select_contract(settings, today=date(2026, 12, 9)).instrument_id == "MESZ6.CME"


def test_only_older_contracts_are_leftovers() -> None:
    held = {
        "MESZ6": (2026, 12, Decimal(1)),
        "MESH7": (2027, 3, Decimal(-1)),
        "MESM7": (2027, 6, Decimal(2)),
    }
    assert leftover_positions("MES", (2027, 3), held) == {"MESZ6": Decimal(1)}
