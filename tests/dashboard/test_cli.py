"""`quant-scalper dashboard --config`: the journal, trader id and dashboard section from a live
config, read loosely (no IB account needed), every bad value one line and exit 2."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from quant_scalper.cli import main
from quant_scalper.dashboard.cli import build_settings
from quant_scalper.errors import QuantScalperError as DashboardError

REPO = Path(__file__).resolve().parents[2]


def args(config: Path, **kw) -> argparse.Namespace:
    base = {"config": config, "journal": None, "host": None, "port": None, "book": None}
    return argparse.Namespace(**{**base, **kw})


def paper_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "configs" / "live.paper.yaml"
    path.parent.mkdir()
    shutil.copy(REPO / "configs" / "live.paper.yaml", path)
    if extra:
        path.write_text(path.read_text() + "\n" + extra)
    return path


def test_paper_config_points_at_the_state_dir_journal(tmp_path: Path) -> None:
    settings = build_settings(args(paper_config(tmp_path)), {})  # IB_ACCOUNT_ID not needed
    assert settings.journal == str(tmp_path / "state" / "QS-PAPER-001" / "journal.sqlite")
    assert settings.book == "live:QS-PAPER-001" and settings.trader_id == "QS-PAPER-001"
    assert settings.daily_loss_limit_cents == 50_000
    assert settings.host == "127.0.0.1" and settings.port == 8080
    assert settings.allow_control is False and settings.state_dir == tmp_path / "state"


def test_journal_url_password_and_dashboard_section(tmp_path: Path) -> None:
    extra = (
        "journal:\n  url: postgresql+psycopg://qs@127.0.0.1:5432/journal\n"
        "  password_env: QS_JOURNAL_PASSWORD\n"
        "dashboard:\n  allow_control: true\n  port: 9123\n"
    )
    config = paper_config(tmp_path, extra)
    with pytest.raises(DashboardError, match="QS_JOURNAL_PASSWORD, which is not set"):
        build_settings(args(config), {})
    settings = build_settings(args(config, port=9999), {"QS_JOURNAL_PASSWORD": "pw-123"})
    assert settings.journal == "postgresql+psycopg://qs@127.0.0.1:5432/journal"
    assert settings.journal_password == "pw-123" and "pw-123" not in repr(settings)
    assert settings.allow_control is True and settings.port == 9999  # the flag wins


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("dashboard:\n  allow_control: yes please\n", "allow_control must be true or false"),
        ("dashboard:\n  colour: blue\n", "unknown key.*colour"),
        ("dashboard:\n  port: 70000\n", "port must be 1-65535"),
        ("dashboard:\n  stale_after_secs: -1\n", "stale_after_secs"),
        ("journal: nope\n", "journal must be a section"),
    ],
)
def test_bad_dashboard_settings(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(DashboardError, match=message):
        build_settings(args(paper_config(tmp_path, extra)), {})


def test_cli_bad_config_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["dashboard", "--config", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
    config = paper_config(tmp_path)
    assert main(["dashboard", "--config", str(config)]) == 2
    assert "no journal at" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["dashboard"])  # --config or --journal is required
    assert info.value.code == 2
