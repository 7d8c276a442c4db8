"""The live YAML's ``journal:`` section: defaults, validation in one line, the node's actor."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from quant_scalper.errors import ConfigError
from quant_scalper.live.config import load_live_settings
from quant_scalper.live.contract import LiveContract
from quant_scalper.live.node import JOURNAL_ACTOR_PATH, journal_actor_config
from tests.live.harness import ACCOUNT, TRADER_ID, write_config


@pytest.fixture(autouse=True)
def account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IB_ACCOUNT_ID", ACCOUNT)


def _config(tmp_path: Path, **journal: object) -> Path:
    config = write_config(tmp_path, 4002)
    if journal:
        raw = yaml.safe_load(config.read_text())
        raw["journal"] = journal
        config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config


def test_the_default_journal_is_in_the_state_folder(tmp_path: Path) -> None:
    settings = load_live_settings(_config(tmp_path))
    assert settings.journal.url == str(tmp_path / "state" / TRADER_ID / "journal.sqlite")
    assert settings.journal.buffer_rows == 100_000 and settings.journal.enabled
    contract = LiveContract.__new__(LiveContract)
    object.__setattr__(contract, "instrument_id", "MESZ6.CME")
    actor = journal_actor_config(settings, contract)
    assert actor.actor_path == JOURNAL_ACTOR_PATH
    assert actor.config["book"] == f"live:{TRADER_ID}" and actor.config["kind"] == "live"
    assert len(actor.config["config_hash"]) == 64


@pytest.mark.parametrize(
    ("journal", "message"),
    [
        ({"urll": "x.sqlite"}, "url"),
        ({"url": "postgresql+psycopg://qs:hunter2@db/journal"}, "password_env"),
        ({"url": "mysql://qs@db/journal"}, "unsupported database"),
        ({"buffer_rows": 5}, "journal.buffer_rows"),
        ({"status_interval_secs": 0}, "journal.status_interval_secs"),
        ({"password_env": "hunter2 secret"}, "journal.password_env"),
    ],
)
def test_bad_journal_settings_are_refused_in_one_line(
    tmp_path: Path, journal: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_live_settings(_config(tmp_path, **journal))
    assert "\n" not in str(err.value) and "hunter2" not in str(err.value)


def test_a_relative_journal_path_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    settings = load_live_settings(_config(tmp_path, url="journals/paper.sqlite"))
    assert settings.journal.url == str(tmp_path / "journals" / "paper.sqlite")
