"""Issue 15 part 1: one parameter table feeds the YAML schema, the strategy config's defaults,
the pre-screen and the README's key list; these tests keep every copy equal to it."""

from __future__ import annotations

import ast
from pathlib import Path

from quant_scalper import parameters
from quant_scalper.config import RISK_KEYS, STRATEGY_KEYS
from quant_scalper.parameters import BY_NAME, PARAMETERS, markdown_table, strategy_fields
from quant_scalper.strategy import ZScoreMeanReversionConfig

REPO = Path(__file__).resolve().parents[1]


def test_the_table_is_the_strategy_configs_fields_and_defaults() -> None:
    config = ZScoreMeanReversionConfig
    own = config.__struct_fields__[: config.__struct_fields__.index("state_dir") + 1]
    fields = [f for f in config.__struct_fields__ if f in BY_NAME or f in own]
    assert set(fields) == set(BY_NAME), set(fields) ^ set(BY_NAME)
    defaults = dict(
        zip(
            config.__struct_fields__[
                len(config.__struct_fields__) - len(config.__struct_defaults__) :
            ],
            config.__struct_defaults__,
            strict=True,
        )
    )
    for p in PARAMETERS:
        if p.required:
            assert p.name not in defaults, p.name
        else:
            assert defaults[p.name] == p.default, p.name


def test_yaml_keys_come_from_the_table() -> None:
    assert tuple(p.name for p in PARAMETERS if p.section == "strategy") == STRATEGY_KEYS
    assert tuple(p.name for p in PARAMETERS if p.section == "risk") == RISK_KEYS
    assert not {"trade_until", "resync_secs", "control_poll_secs"} & set(STRATEGY_KEYS + RISK_KEYS)


def test_no_default_is_repeated_as_a_literal_get() -> None:
    """``section.get("window", 20)`` style defaults are gone: ``value_of`` reads the table."""
    names = {p.name for p in PARAMETERS if not p.required}
    offenders = []
    for path in (REPO / "quant_scalper").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and len(node.args) == 2
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in names
                and isinstance(node.args[1], ast.Constant)
            ):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, offenders


def test_strategy_fields_keeps_money_exact() -> None:
    fields = strategy_fields(
        {"stop_loss_usd_per_contract": 6.25, "window": 30},
        {"daily_loss_limit_usd": 100, "session_breaks": None, "fee_per_contract_usd": None},
    )
    assert fields == {
        "stop_loss_usd_per_contract": "6.25",
        "window": 30,
        "daily_loss_limit_usd": "100",
        "session_breaks": [],
        "fee_per_contract_usd": None,
    }


def test_readme_key_table_is_the_table() -> None:
    readme = (REPO / "README.md").read_text()
    assert markdown_table() in readme, "regenerate: python -c 'from quant_scalper.parameters "
    "import markdown_table; print(markdown_table())'"


def test_the_table_module_is_pure() -> None:
    source = Path(parameters.__file__).read_text()
    assert "nautilus_trader" not in source
