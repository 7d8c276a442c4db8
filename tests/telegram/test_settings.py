"""The ``telegram:`` YAML section -> ImportableActorConfig."""

from __future__ import annotations

from pathlib import Path

import pytest
from nautilus_trader.config import ImportableActorConfig

from quant_scalper.config import REPO_ROOT, ConfigError, read_yaml
from quant_scalper.telegram import TelegramAlerts, TelegramAlertsConfig, telegram_actor_config
from quant_scalper.telegram.errors import TelegramConfigError


def test_example_config_builds_an_importable_actor() -> None:
    raw = read_yaml(REPO_ROOT / "configs" / "telegram.example.yaml")
    risk = {"session_halt": "16:15", "session_tz": "America/Chicago", "state_dir": "/srv/state"}
    importable = telegram_actor_config(raw["telegram"], REPO_ROOT / "configs", risk)
    assert isinstance(importable, ImportableActorConfig)
    assert importable.config["session_halt"] == "16:15"
    assert importable.config["risk_state_dir"] == "/srv/state"
    assert "enabled" not in importable.config
    # Nautilus can import and build it exactly as a node would.
    from nautilus_trader.common.config import ActorFactory

    actor = ActorFactory.create(importable)
    assert isinstance(actor, TelegramAlerts)
    assert actor.config.confirm_secs == 30


def test_absent_or_disabled_section_means_no_actor() -> None:
    assert telegram_actor_config(None) is None
    assert telegram_actor_config({"enabled": False, "mode": "send"}) is None


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    importable = telegram_actor_config({"record_path": "out/alerts.jsonl"}, tmp_path)
    assert importable.config["record_path"] == str(tmp_path / "out" / "alerts.jsonl")


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        ({"tokn_env": "X"}, "did you mean 'token_env'"),
        ({"mode": "loud"}, "telegram.mode must be one of"),
        ({"mode": "record"}, "needs telegram.record_path"),
        ({"poll_wait_secs": "soon"}, "poll_wait_secs"),
        ({"allowed_chat_ids": "123"}, "list of numeric chat ids"),
        ({"request_timeout_secs": 0}, "request_timeout_secs must be > 0"),
        ({"session_halt": "16h"}, "session_halt"),
    ],
)
def test_bad_sections_fail_with_the_key(section: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        telegram_actor_config(section)


def test_the_config_holds_no_secret() -> None:
    assert not any(
        f == "token" or f.endswith("_token") for f in TelegramAlertsConfig.__struct_fields__
    )
    with pytest.raises(TelegramConfigError):
        TelegramAlertsConfig(mode="record")
