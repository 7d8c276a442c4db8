"""Issue 10: a one-digit-year contract never silently resolves to an expired or far-future one."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from quant_scalper.errors import ConfigError
from quant_scalper.instruments import ContractMonth, resolve_contract_symbol
from quant_scalper.live.config import load_live_settings
from quant_scalper.live.contract import select_contract
from tests.live.harness import ACCOUNT, write_config

DEC_2026 = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("MESZ6", ContractMonth("MES", 2026, 12)),
        ("MESH7", ContractMonth("MES", 2027, 3)),
        ("MESZ7", ContractMonth("MES", 2027, 12)),  # listed when MESU6 expired
        ("ESM7", ContractMonth("ES", 2027, 6)),
    ],
)
def test_listed_contracts_resolve(symbol: str, expected: ContractMonth) -> None:
    assert resolve_contract_symbol(symbol, DEC_2026) == expected


@pytest.mark.parametrize(
    ("symbol", "message"),
    [
        ("MESZ5", r"MESZ5 \(2025-12\) expired on 2025-12-19: trade the front month"),
        ("MESH8", r"MESH8 \(2028-03\) is not listed on 2026-12-01"),
        ("MESZ9", r"MESZ9 \(2029-12\) is not listed"),
    ],
)
def test_expired_or_unlisted_contracts_are_refused(symbol: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_contract_symbol(symbol, DEC_2026)


def test_live_config_with_an_expired_contract_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IB_ACCOUNT_ID", ACCOUNT)
    config = write_config(tmp_path, 4002, instrument={"contract_month": None})
    settings = load_live_settings(
        config,
        [
            "strategy.instrument_id=MESZ5.CME",
            "strategy.bar_type=MESZ5.CME-1-MINUTE-LAST-EXTERNAL",
        ],
    )
    with pytest.raises(ConfigError, match=r"MESZ5\.CME: MESZ5 .* expired on 2025-12-19"):
        select_contract(settings, today=DEC_2026)
    pinned = replace(
        settings,
        strategy={
            **settings.strategy,
            "instrument_id": "MES.CME",
            "bar_type": "MES.CME-1-MINUTE-LAST-EXTERNAL",
        },
    )
    pinned = replace(pinned, instrument=replace(pinned.instrument, contract_month="2031-12"))
    with pytest.raises(ConfigError, match=r"instrument.contract_month: MESZ1 \(2031-12\) is not"):
        select_contract(pinned, today=DEC_2026)
    assert (
        select_contract(
            replace(pinned, instrument=replace(pinned.instrument, contract_month=None)),
            today=DEC_2026,
        ).instrument_id
        == "MESZ6.CME"
    )
