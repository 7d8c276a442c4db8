"""Issue 10: fuzz every verb's config loader with random YAML documents and ``--set`` strings.

The only outcomes allowed: a loaded config with no NaN/infinite number inside, or the project's
``ConfigError`` with a one-line message. Never another exception (a traceback for the user),
never a silently wrong value. Deterministic (the suite's "ci" profile derandomizes) and short:
about 10-20 s in all on a 2-core machine.
"""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_scalper.config import (
    RISK_KEYS,
    STRATEGY_KEYS,
    find_non_finite,
    load_backtest_settings,
    read_yaml,
)
from quant_scalper.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
FUZZ = settings(  # QS_FUZZ_EXAMPLES=2000 QS_FUZZ_RANDOM=1 for a long, non-deterministic hunt
    max_examples=int(os.environ.get("QS_FUZZ_EXAMPLES", "40")),
    derandomize=os.environ.get("QS_FUZZ_RANDOM") != "1",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "strategy": STRATEGY_KEYS,
    "risk": RISK_KEYS,
    "venue": (
        "name",
        "oms_type",
        "account_type",
        "base_currency",
        "starting_balance",
        "commission_per_contract",
    ),
    "risk_engine": ("max_order_submit_rate", "max_order_modify_rate", "max_notional_per_order_usd"),
    "ib": (
        "host",
        "port",
        "client_id",
        "account_id",
        "trading_mode",
        "probe_timeout_secs",
        "connection_timeout_secs",
        "request_timeout_secs",
        "build_timeout_secs",
        "market_data_type",
    ),
    "instrument": ("roll_offset_days", "contract_month"),
    "exec_engine": (
        "reconciliation_lookback_mins",
        "open_check_interval_secs",
        "position_check_interval_secs",
        "inflight_check_interval_ms",
        "purge_interval_mins",
        "purge_buffer_mins",
    ),
    "cache": ("redis",),
    "logging": ("level", "file_level", "directory", "max_file_mb", "backup_count", "colors"),
    "node": (
        "control_poll_secs",
        "status_interval_secs",
        "timeout_connection",
        "stop_timeout_secs",
        "resync_secs",
    ),
    "search": ("method", "samples", "seed"),
    "prescreen": ("top", "intrabar"),
}
TOP_KEYS = (
    "catalog",
    "output_dir",
    "start",
    "end",
    "progress",
    "write_tearsheet",
    "log_level",
    "trader_id",
    "backtest",
    "set",
    "parameters",
    "objective",
    "min_trades",
    "output",
    "workers",
    "bootstrap_samples",
    "sweep",
    "mode",
    "train_days",
    "test_days",
    "step_days",
)
DOTTED = [f"{s}.{k}" for s, keys in SECTION_KEYS.items() for k in keys] + list(TOP_KEYS)

yaml_specials = st.sampled_from(
    [
        ":",
        "#",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&",
        "*",
        "!",
        "|",
        ">",
        "'",
        '"',
        "%",
        "@",
        "`",
        "-",
        "?",
        " ",
        "\t",
        "\n",
        ".nan",
        ".inf",
        "-.inf",
        "~",
        "null",
        "yes",
        "no",
        "on",
        "0x1F",
        "1e400",
        "2013-13-45",
        "16:00",
        "${IB_ACCOUNT_ID}",
        "${FUZZ_SECRET}",
        "${UNSET_VAR}",
        "NaN USD",
        "1e999999 USD",
        "-0",
        "0.62 USD",
        "MES.CME",
        "CME",
        "\x00",
        "\u00e9",
        "\u0661",
    ]
)
texts = st.lists(st.one_of(yaml_specials, st.text(max_size=6)), max_size=4).map("".join)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(DOTTED), texts), inner, max_size=3),
    ),
    max_leaves=8,
)
set_items = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(DOTTED), texts),
    st.builds(lambda k, v: f"{k}={yaml.safe_dump(v).strip()}", st.sampled_from(DOTTED), scalars),
    texts,
)
mutations = st.lists(
    st.tuples(st.sampled_from(DOTTED), st.one_of(values, st.just("<delete>"))), max_size=4
)


def _mutate(base: dict[str, Any], changes: list[tuple[str, Any]]) -> dict[str, Any]:
    raw = copy.deepcopy(base)
    for key, value in changes:
        parts = key.split(".")
        target = raw
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        if value == "<delete>":
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    return raw


def _check(load: Callable[[], Any]) -> None:
    try:
        loaded = load()
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        assert "FUZZ-SECRET-VALUE" not in message
        return
    found = find_non_finite(loaded)
    assert found is None, f"a non-finite number was loaded at {found}"


def _write(folder: Path, name: str, document: Any, raw_text: str | None = None) -> Path:
    path = folder / name
    if raw_text is not None:
        path.write_text(raw_text)
    else:
        path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IB_ACCOUNT_ID", "DU1234567")
    monkeypatch.setenv("FUZZ_SECRET", "FUZZ-SECRET-VALUE: [")
    monkeypatch.delenv("UNSET_VAR", raising=False)


def _backtest_base() -> dict[str, Any]:
    raw = read_yaml(REPO / "configs" / "backtest.yaml")
    raw["catalog"] = str(REPO / "catalog")
    raw["output_dir"] = "out"
    return raw


def _live_base(folder: Path) -> dict[str, Any]:
    raw = yaml.safe_load((REPO / "configs" / "live.paper.yaml").read_text())
    raw["risk"]["state_dir"] = str(folder / "state")
    raw.pop("telegram", None)
    return raw


@FUZZ
@given(changes=mutations, overrides=st.lists(set_items, max_size=3))
def test_backtest_loader(folder: Path, changes: list, overrides: list[str]) -> None:
    path = _write(folder, "backtest.yaml", _mutate(_backtest_base(), changes))
    _check(lambda: load_backtest_settings(path, overrides))


@FUZZ
@given(document=st.one_of(values, texts))
def test_random_documents_for_every_loader(folder: Path, document: Any) -> None:
    from quant_scalper.control import _target
    from quant_scalper.live.config import load_live_settings
    from quant_scalper.research.spec import load_sweep_spec
    from quant_scalper.research.walkforward import load_walk_forward_spec

    if isinstance(document, str):
        path = _write(folder, "random.yaml", None, raw_text=document)
    else:
        path = _write(folder, "random.yaml", document)
    _check(lambda: load_backtest_settings(path))
    _check(lambda: load_live_settings(path))
    _check(lambda: load_sweep_spec(path))
    _check(lambda: load_walk_forward_spec(path))
    args = argparse.Namespace(config=path, state_dir=None, trader_id=None)
    _check(lambda: _target(args))


@FUZZ
@given(changes=mutations, overrides=st.lists(set_items, max_size=3))
def test_live_loader(folder: Path, changes: list, overrides: list[str]) -> None:
    from quant_scalper.live.config import load_live_settings

    path = _write(folder, "live.yaml", _mutate(_live_base(folder), changes))
    _check(lambda: load_live_settings(path, overrides))


@FUZZ
@given(
    parameters=st.dictionaries(st.sampled_from(DOTTED), values, max_size=3),
    top=mutations,
    overrides=st.lists(set_items, max_size=2),
)
def test_sweep_and_walk_forward_loaders(
    folder: Path, parameters: dict, top: list, overrides: list[str]
) -> None:
    from quant_scalper.research.spec import load_sweep_spec
    from quant_scalper.research.walkforward import load_walk_forward_spec

    base = _write(folder, "base.yaml", _backtest_base())
    sweep = {"backtest": str(base), "parameters": parameters, "output": "out/results.parquet"}
    sweep_path = _write(folder, "sweep.yaml", _mutate(sweep, top))
    _check(lambda: load_sweep_spec(sweep_path, overrides))
    wf = {"sweep": str(sweep_path), "train_days": 5, "test_days": 2}
    wf_path = _write(folder, "wf.yaml", _mutate(wf, top))
    _check(lambda: load_walk_forward_spec(wf_path, overrides))
