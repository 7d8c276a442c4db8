"""YAML config loading: every bad input fails fast with the key and the fix."""

from pathlib import Path

import pytest

from quant_scalper.config import load_backtest_settings
from quant_scalper.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "configs" / "backtest.yaml"


def test_default_config_loads() -> None:
    settings = load_backtest_settings(DEFAULT)
    assert settings.catalog == REPO / "catalog"
    assert settings.strategy["instrument_id"] == "MES.CME"
    assert settings.venue.commission_per_contract == "0.62 USD"


def test_override_changes_a_value() -> None:
    settings = load_backtest_settings(DEFAULT, ["strategy.entry_z=2.5", "strategy.window=30"])
    assert settings.strategy["entry_z"] == 2.5
    assert settings.strategy["window"] == 30


def test_override_paths_are_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_backtest_settings(DEFAULT, ["output_dir=out"])
    assert settings.output_dir == tmp_path / "out"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "strategy.entry=2.5",
            r"unknown key 'entry' in strategy \(did you mean 'entry_z'\?\); "
            r"valid keys: instrument_id",
        ),
        ("catalgo=x", r"unknown key 'catalgo' in the backtest config \(did you mean 'catalog'\?\)"),
        ("venue.comission_per_contract=1 USD", r"unknown key 'comission_per_contract' in venue"),
        (
            "strategy.entry_z=0.4",
            r"strategy.entry_z \(0.4\) must be greater than strategy.exit_z \(0.5\)",
        ),
        ("strategy.window=1", r"strategy.window must be a whole number >= 2, was 1"),
        (
            "strategy.trade_size=-1",
            r"strategy.trade_size must be a whole number >= 1, was -1",
        ),
        (
            "strategy.stop_loss_usd_per_contract=-5",
            r"strategy.stop_loss_usd_per_contract must be > 0 USD",
        ),
        ("strategy.exit_z=-0.1", r"strategy.exit_z must be >= 0"),
        ("strategy.entry_z=abc", r"strategy.entry_z must be a number, was 'abc'"),
        (
            "venue.commission_per_contract=0.62",
            r"venue.commission_per_contract must be an amount in USD",
        ),
        ("venue.oms_type=NETTNG", r"venue.oms_type must be one of NETTING, HEDGING"),
        ("bad-override", r"--set expects key=value"),
    ],
)
def test_bad_input_names_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_backtest_settings(DEFAULT, [override])


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file .*nope.yaml does not exist: pass --config"):
        load_backtest_settings(tmp_path / "nope.yaml")


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("strategy: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_backtest_settings(path)


def test_unset_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QS_TEST_UNSET", raising=False)
    path = tmp_path / "env.yaml"
    path.write_text("catalog: ${QS_TEST_UNSET}\nstrategy: {instrument_id: MES.CME, bar_type: x}\n")
    with pytest.raises(ConfigError, match=r"environment variable.*QS_TEST_UNSET"):
        load_backtest_settings(path)


def test_missing_strategy_key(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("catalog: x\nstrategy: {window: 20}\n")
    with pytest.raises(ConfigError, match=r"strategy.instrument_id is missing"):
        load_backtest_settings(path)
