"""Issue 10, "every input": each bad input to each verb is one line on stderr and exit 2,
before any work starts; nothing is silently read as something else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quant_scalper.cli import main
from quant_scalper.config import load_backtest_settings
from quant_scalper.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BACKTEST = REPO / "configs" / "backtest.yaml"


def _fails_in_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("quant-scalper: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("start=2013-13-45", "start must be an ISO-8601"),
        ("end=2013-10-01", "end (2013-10-01) must be after start"),
        ("strategy.stop_loss_usd_per_contract=.nan", "must be a finite number"),
        ("strategy.entry_z=.nan", "strategy.entry_z must be a finite number"),
        ("strategy.exit_z=.inf", "strategy.exit_z must be a finite number"),
        ("venue.commission_per_contract=NaN USD", "must be a finite number"),
        ("venue.starting_balance=1e999999 USD", "out of range"),
        ("venue.name=XCME", "venue.name 'XCME' is not the venue of strategy.instrument_id"),
        ("log_level=LOUD", "log_level must be one of DEBUG, INFO, WARNING, ERROR, OFF"),
        ("progress=nope", "progress must be true or false, was 'nope'"),
        ("write_tearsheet=1", "write_tearsheet must be true or false"),
        ("risk.flatten_before_halt=maybe", "risk.flatten_before_halt must be true or false"),
        ("strategy.trade_size=100000", "trade_size (100000) is above strategy.max_position"),
        ("strategy.window=1e9", "strategy.window must be a whole number"),
        ("risk.daily_loss_limit_usd=.nan", "risk.daily_loss_limit_usd must be a finite number"),
        ("risk.session_halt=25:00", "risk.session_halt"),
        ("risk.fee_per_contract_usd=-1", "risk.fee_per_contract_usd must be a per-contract fee"),
        ("risk.fee_per_contract_usd=.nan", "risk.fee_per_contract_usd must be a finite number"),
        (
            "risk_engine.max_order_submit_rate=\u0661\u0660\u0660/00:00:01",
            "risk_engine.max_order_submit_rate",
        ),
    ],
)
def test_backtest_bad_overrides(
    capsys: pytest.CaptureFixture[str], override: str, needle: str
) -> None:
    override_list = ["start=2013-10-07", override] if override.startswith("end=") else [override]
    argv = ["backtest", "--config", str(BACKTEST)]
    for item in override_list:
        argv += ["--set", item]
    _fails_in_one_line(capsys, argv, needle)


def test_paths_are_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    base = ["backtest", "--config", str(BACKTEST), "--set"]
    _fails_in_one_line(capsys, [*base, f"catalog={a_file}"], "is a file, not a catalog folder")
    _fails_in_one_line(capsys, [*base, f"catalog={tmp_path / 'none'}"], "does not exist")
    _fails_in_one_line(capsys, [*base, f"output_dir={a_file}"], "is a file, not a folder")
    _fails_in_one_line(capsys, [*base, f"risk.state_dir={a_file}"], "risk.state_dir")
    _fails_in_one_line(capsys, ["backtest", "--config", str(tmp_path)], "is a directory")


def test_config_file_encoding_and_duplicates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(BACKTEST.read_bytes() + "# caf\xe9\n".encode("latin-1"))
    _fails_in_one_line(capsys, ["backtest", "--config", str(latin1)], "is not UTF-8 text")
    _fails_in_one_line(capsys, ["kill", "--config", str(latin1)], "is not UTF-8 text")
    duplicate = tmp_path / "dup.yaml"
    text = BACKTEST.read_text().replace("catalog: ../catalog", f"catalog: {REPO / 'catalog'}")
    duplicate.write_text(text + "\nstrategy:\n  instrument_id: ES.CME\n")
    _fails_in_one_line(capsys, ["backtest", "--config", str(duplicate)], "duplicate key 'strategy'")
    broken = tmp_path / "broken.yaml"
    broken.write_text("strategy: [1,\n  2\nrisk: {\n")
    _fails_in_one_line(capsys, ["backtest", "--config", str(broken)], "is not valid YAML")


def test_max_position_contracts_default_and_limit() -> None:
    settings = load_backtest_settings(BACKTEST)
    assert settings.strategy.get("max_position_contracts") is None  # the default, 2, applies
    ok = load_backtest_settings(
        BACKTEST, ["strategy.trade_size=3", "strategy.max_position_contracts=3"]
    )
    assert ok.strategy["trade_size"] == 3
    with pytest.raises(ConfigError, match=r"above strategy\.max_position_contracts"):
        load_backtest_settings(BACKTEST, ["strategy.trade_size=3"])


def test_fee_per_contract_from_yaml_reaches_the_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 gap: the fee booked for commission-less (inferred) fills is a YAML key now."""
    from quant_scalper.live.config import load_live_settings
    from quant_scalper.live.contract import LiveContract
    from quant_scalper.live.node import strategy_config
    from quant_scalper.strategy import ZScoreMeanReversionConfig

    monkeypatch.setenv("IB_ACCOUNT_ID", "DU0000000")
    contract = LiveContract("MES", 2026, 12, "MESZ6.CME", "MESZ6.CME-1-MINUTE-LAST-EXTERNAL")
    paper = REPO / "configs" / "live.paper.yaml"
    for overrides, fee in (([], "0.62"), (["risk.fee_per_contract_usd=0.85"], "0.85")):
        config = strategy_config(load_live_settings(paper, overrides), contract)
        assert config["fee_per_contract_usd"] == fee
        parsed = ZScoreMeanReversionConfig.parse(json.dumps(config))
        assert str(parsed.fee_per_contract_usd) == fee


def _sweep(tmp_path: Path, extra: str = "", parameters: str = "strategy.entry_z: [2.0]") -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"backtest: {BACKTEST}\nparameters:\n  {parameters}\nmin_trades: 0\n"
        f"output: {tmp_path / 'out' / 'results.parquet'}\n{extra}"
    )
    return path


def test_sweep_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "adir").mkdir()
    sweep = _sweep(tmp_path)
    _fails_in_one_line(
        capsys,
        ["sweep", "--config", str(sweep), "--output", str(tmp_path / "adir"), "--no-progress"],
        "is a folder: give a file name",
    )
    invalid = _sweep(tmp_path, parameters="strategy.exit_z: [5.0, 6.0]")
    _fails_in_one_line(
        capsys, ["sweep", "--config", str(invalid)], "all 2 sweep points are invalid"
    )
    _fails_in_one_line(capsys, ["prescreen", "--config", str(invalid)], "sweep points are invalid")
    many = tmp_path / "many.yaml"
    many.write_text(_sweep(tmp_path).read_text().replace("min_trades: 0", "min_trades: many"))
    _fails_in_one_line(capsys, ["sweep", "--config", str(many)], "min_trades must be a whole")
    _fails_in_one_line(
        capsys,
        ["prescreen", "--config", str(sweep), "--output", str(tmp_path / "adir")],
        "--output",
        "is a folder",
    )
    _fails_in_one_line(
        capsys, ["report", "--sweep", str(sweep), "--out", str(tmp_path / "adir")], "is a folder"
    )
    _fails_in_one_line(
        capsys, ["heatmap", str(tmp_path / "none.parquet"), "--x", "a", "--y", "b"], "not a file"
    )
    wf = tmp_path / "wf.yaml"
    wf.write_text(f"sweep: {sweep}\ntrain_days: 5\ntest_days: 2\nmin_trades: lots\n")
    _fails_in_one_line(capsys, ["walk-forward", "--config", str(wf)], "min_trades must be")
    _fails_in_one_line(
        capsys, ["sweep", "--config", str(sweep), "--workers", "0"], "--workers must be"
    )


def test_data_fetch_refuses_future_dates_and_a_file_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IB_ACCOUNT_ID", "DU1234567")
    config = REPO / "configs" / "live.paper.yaml"
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    today = datetime.now(UTC).date()
    base = ["data", "fetch", "--config", str(config), "--instrument", "MES.CME"]
    future = [*base, "--catalog", str(tmp_path / "cat")]
    future += ["--start", str(today + timedelta(days=3)), "--end", str(today + timedelta(days=5))]
    _fails_in_one_line(capsys, future, "is in the future")
    later = [*base, "--catalog", str(tmp_path / "cat"), "--start", str(today)]
    _fails_in_one_line(capsys, [*later, "--end", str(today + timedelta(days=9))], "after tomorrow")
    on_file = [*base, "--catalog", str(a_file), "--start", "2026-01-05", "--end", "2026-01-06"]
    _fails_in_one_line(capsys, on_file, "--catalog", "is a file")


def test_deeply_nested_state_file_exits_non_zero_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.live.harness import ACCOUNT, TRADER_ID, write_config

    monkeypatch.setenv("IB_ACCOUNT_ID", ACCOUNT)
    config = write_config(tmp_path, 4002)
    state = tmp_path / "state" / TRADER_ID / "risk_state.json"
    state.parent.mkdir(parents=True)
    state.write_text("[" * 100_000 + "]" * 100_000)
    _fails_in_one_line(capsys, ["live", "--config", str(config), "--check"], "nested too deeply")
    # a parseable-but-corrupt file is the node's business (it starts HALTED): not refused here
    state.write_text(json.dumps({"garbage": True}))
    assert main(["live", "--config", str(config), "--check"]) == 2  # no gateway on 4002
    assert "nested" not in capsys.readouterr().err


def test_unexpected_exception_is_one_line_and_exit_70(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import quant_scalper.config as config

    def boom(*_: object, **__: object) -> None:
        raise KeyError("trades")

    monkeypatch.setattr(config, "load_backtest_settings", boom)
    assert main(["backtest"]) == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "Traceback" not in err
    crash = Path(err.split("report it with ")[1].rstrip(")\n"))
    assert "Traceback" in crash.read_text()
    crash.unlink()
    assert main(["--debug", "backtest"]) == 70
    assert "Traceback" in capsys.readouterr().err
