"""The live YAML is validated before anything connects; live money needs an explicit flag."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quant_scalper.cli import main
from quant_scalper.errors import ConfigError
from quant_scalper.live.config import load_live_settings, mask_account
from quant_scalper.live.contract import select_contract
from quant_scalper.live.node import strategy_config
from tests.ibpeer import IBPeer
from tests.live.harness import ACCOUNT, write_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def account(monkeypatch: pytest.MonkeyPatch) -> None:
    """The account comes from the environment, as in production."""
    monkeypatch.setenv("IB_ACCOUNT_ID", ACCOUNT)


def _edit(tmp_path: Path, port: int, section: str, key: str, value: object) -> Path:
    config = write_config(tmp_path, port)
    raw = yaml.safe_load(config.read_text())
    raw[section][key] = value
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config


def test_shipped_configs_validate() -> None:
    """Both shipped configs load; the account is substituted from the environment."""
    paper = load_live_settings(REPO / "configs" / "live.paper.yaml")
    live = load_live_settings(REPO / "configs" / "live.yaml")
    assert (paper.ib.port, paper.ib.is_live, paper.ib.account_id) == (4002, False, ACCOUNT)
    assert (live.ib.port, live.ib.is_live) == (4001, True)
    assert paper.exec_engine.reconciliation_lookback_mins >= 1380  # the ~23 h CME day
    assert select_contract(paper).instrument_id.startswith("MES")
    # The connection guard holds orders for two position checks + 5 s after a reconnect.
    assert strategy_config(paper, select_contract(paper))["resync_secs"] == 25


def test_missing_account_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IB_ACCOUNT_ID")
    with pytest.raises(Exception, match="IB_ACCOUNT_ID"):
        load_live_settings(REPO / "configs" / "live.paper.yaml")


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("ib", "port", 70000, r"ib\.port"),
        ("ib", "port", 4001, r"ib\.port 4001 is a LIVE"),
        ("ib", "account_id", "not-an-account", r"ib\.account_id"),
        ("ib", "prot", 4002, r"unknown key 'prot' in ib \(did you mean 'port'\?\)"),
        ("ib", "market_data_type", "LIVE", r"ib\.market_data_type"),
        ("strategy", "bar_type", "MES.CME-1-MINUTE-LAST-INTERNAL", r"strategy\.bar_type"),
        ("strategy", "instrument_id", "MES.GLOBEX", r"strategy\.instrument_id"),
        ("instrument", "contract_month", "2026-11", r"instrument\.contract_month"),
        ("exec_engine", "reconciliation_lookback_mins", 10, r"exec_engine\.reconciliation"),
        ("exec_engine", "purge_buffer_mins", 0, r"exec_engine\.purge_buffer_mins"),
        ("exec_engine", "purge_interval_mins", 0, r"exec_engine\.purge_interval_mins"),
        ("logging", "level", "LOUD", r"logging\.level"),
    ],
)
def test_invalid_values_name_the_key_and_nothing_connects(
    tmp_path: Path, section: str, key: str, value: object, message: str
) -> None:
    """A bad value fails with the key in the message, before any TCP connection is made."""
    with IBPeer(account=ACCOUNT) as peer:
        config = _edit(tmp_path, peer.port, section, key, value)
        with pytest.raises(ConfigError, match=message):
            load_live_settings(config)
        assert main(["live", "--config", str(config)]) == 2
        assert peer.snapshot().requests == ()  # validated before connecting


def test_live_port_needs_the_confirmation_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """trading_mode live refuses to start (or even probe) without --i-understand-this-is-live."""
    with IBPeer(account=ACCOUNT) as peer:
        config = write_config(tmp_path, peer.port)
        raw = yaml.safe_load(config.read_text())
        raw["ib"].update(port=4001, trading_mode="live")
        config.write_text(yaml.safe_dump(raw))
        assert main(["live", "--config", str(config), "--check"]) == 2
        assert "REAL MONEY" in capsys.readouterr().err
        assert main(["flatten", "--config", str(config)]) == 2
        assert "--i-understand-this-is-live" in capsys.readouterr().err
        assert peer.snapshot().requests == ()
        # With the flag the command goes on (here: port 4001 has no gateway on this machine).
        code = main(["live", "--config", str(config), "--check", "--i-understand-this-is-live"])
        assert code == 2
        assert "cannot reach IB Gateway/TWS at 127.0.0.1:4001" in capsys.readouterr().err


def test_check_probes_the_gateway_and_masks_the_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check validates, picks the contract and does the API handshake, then exits."""
    with IBPeer(account=ACCOUNT) as peer:
        config = write_config(tmp_path, peer.port)
        assert main(["live", "--config", str(config), "--check"]) == 0
        out = capsys.readouterr().out
        assert "config OK" in out and "API v" in out and "MES" in out
        assert mask_account(ACCOUNT) in out and ACCOUNT not in out
        assert peer.snapshot().count("PLACE_ORDER") == 0


def test_unreachable_gateway_fails_fast_with_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening: exit 2 with what to check, instead of Nautilus's endless reconnect."""
    with IBPeer(account=ACCOUNT) as peer:
        port = peer.port
    config = write_config(tmp_path, port)
    assert main(["live", "--config", str(config)]) == 2
    assert "Enable ActiveX and Socket Clients" in capsys.readouterr().err


def test_telegram_section_is_validated_and_adds_the_actor(tmp_path: Path) -> None:
    """A ``telegram:`` section is checked at load and its actor joins the node (no network)."""
    from quant_scalper.live.node import build_node_config
    from quant_scalper.telegram.settings import ACTOR_PATH

    telegram = {"mode": "record", "record_path": "alerts.jsonl", "commands": False}
    config = write_config(tmp_path, 4002, telegram=telegram)
    settings = load_live_settings(config)
    assert settings.telegram is not None
    assert settings.telegram.config["record_path"] == str(tmp_path / "alerts.jsonl")
    assert settings.telegram.config["risk_state_dir"] == str(tmp_path / "state")
    node_config = build_node_config(settings, select_contract(settings))
    assert [a.actor_path for a in node_config.actors][-1] == ACTOR_PATH

    off = load_live_settings(write_config(tmp_path, 4002, telegram={"enabled": False}))
    assert off.telegram is None
    node_config = build_node_config(off, select_contract(off))
    assert ACTOR_PATH not in [a.actor_path for a in node_config.actors]

    for bad, message in (
        ({"mdoe": "send"}, r"unknown key 'mdoe' in telegram \(did you mean 'mode'\?\)"),
        ({"mode": "loud"}, r"telegram\.mode must be one of"),
        ({"allowed_chat_ids": "123"}, r"telegram\.allowed_chat_ids"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_live_settings(write_config(tmp_path, 4002, telegram=bad))


def test_the_cache_purge_reaches_nautilus_and_can_be_turned_off(tmp_path: Path) -> None:
    """The shipped purge (every 15 min, closed for 120 min) is what LiveExecEngineConfig gets,
    for orders, positions and account events; ``purge_interval_mins: null`` turns it off."""
    from quant_scalper.live.node import build_node_config

    settings = load_live_settings(REPO / "configs" / "live.paper.yaml")
    engine = build_node_config(settings, select_contract(settings)).exec_engine
    assert engine.purge_closed_orders_interval_mins == 15
    assert engine.purge_closed_positions_interval_mins == 15
    assert engine.purge_account_events_interval_mins == 15
    assert engine.purge_closed_orders_buffer_mins == 120
    assert engine.purge_closed_positions_buffer_mins == 120
    assert engine.purge_account_events_lookback_mins == 120
    assert engine.purge_from_database is False  # Redis keeps every order for a restart

    off = load_live_settings(
        write_config(tmp_path, 4002, exec_engine={"purge_interval_mins": None})
    )
    engine = build_node_config(off, select_contract(off)).exec_engine
    assert engine.purge_closed_orders_interval_mins is None
    assert engine.purge_closed_positions_interval_mins is None
