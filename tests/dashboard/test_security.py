"""Who may see and act: loopback by default, a token beyond it, control off by default,
operator actions only with the token, a custom header, same origin and a confirmation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from quant_scalper.cli import main
from quant_scalper.dashboard.cli import build_settings
from quant_scalper.dashboard.errors import DashboardSecurityError
from quant_scalper.dashboard.security import COOKIE_NAME, TOKEN_ENV, is_loopback
from quant_scalper.dashboard.settings import DashboardSettings
from tests.dashboard.conftest import make_client

TOKEN = "s3cret-dashboard-token-0123456789"
ORIGIN = "http://testserver"


def args(**kw) -> argparse.Namespace:
    base = {"config": None, "journal": "j.sqlite", "host": None, "port": None, "book": None}
    return argparse.Namespace(**{**base, **kw})


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.org"))


def test_non_loopback_without_token_is_refused(tmp_path: Path, capsys) -> None:
    with pytest.raises(DashboardSecurityError, match=f"refusing to bind .*0.0.0.0.*{TOKEN_ENV}"):
        build_settings(args(host="0.0.0.0"), {})
    assert main(["dashboard", "--journal", str(tmp_path / "j.sqlite"), "--host", "0.0.0.0"]) == 2
    assert "refusing to bind" in capsys.readouterr().err
    settings = build_settings(args(host="0.0.0.0"), {TOKEN_ENV: TOKEN})
    assert settings.token == TOKEN and TOKEN not in repr(settings)
    with pytest.raises(DashboardSecurityError, match="at least 16"):
        build_settings(args(), {TOKEN_ENV: "short"})


def test_with_a_token_everything_but_health_needs_it(journal) -> None:
    client = make_client(DashboardSettings(journal=str(journal.path), token=TOKEN))
    assert client.get("/api/v1/trades").status_code == 401
    wrong = client.get("/api/v1/trades", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
    assert wrong.status_code == 401 and TOKEN not in wrong.text
    assert client.get("/openapi.json").status_code == 401
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert client.get("/api/v1/health").status_code == 200
    ok = client.get("/api/v1/trades", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_login_form_sets_a_cookie_that_is_not_the_token(journal) -> None:
    client = make_client(DashboardSettings(journal=str(journal.path), token=TOKEN))
    bad = client.post("/login", data={"token": "nope"}, follow_redirects=False)
    assert bad.headers["location"] == "/login?failed=1" and COOKIE_NAME not in bad.cookies
    good = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/"
    cookie = good.cookies[COOKIE_NAME]
    assert TOKEN not in cookie and "httponly" in good.headers["set-cookie"].lower()
    assert "samesite=strict" in good.headers["set-cookie"].lower()
    assert client.get("/api/v1/trades").status_code == 200  # the cookie is sent now
    assert client.get("/").status_code == 200
    evil = client.post("/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403


def test_control_is_disabled_by_default(journal, tmp_path: Path) -> None:
    client = make_client(
        DashboardSettings(
            journal=str(journal.path), token=TOKEN, state_dir=tmp_path, trader_id="QS-PAPER-001"
        ),
        headers={"Authorization": f"Bearer {TOKEN}", "Origin": ORIGIN, "X-QS-Control": "1"},
    )
    response = client.post("/api/v1/control/kill", json={})
    assert response.status_code == 403 and "allow_control" in response.json()["detail"]
    assert client.get("/api/v1/status").json()["control"]["enabled"] is False
    assert not (tmp_path / "QS-PAPER-001" / "control").exists()


def test_control_needs_a_token_even_when_allowed(journal, tmp_path: Path) -> None:
    client = make_client(
        DashboardSettings(
            journal=str(journal.path),
            allow_control=True,
            state_dir=tmp_path,
            trader_id="QS-PAPER-001",
        ),
        headers={"Origin": ORIGIN, "X-QS-Control": "1"},
    )
    response = client.post("/api/v1/control/kill", json={})
    assert response.status_code == 403 and TOKEN_ENV in response.json()["detail"]


def test_control_flow_confirm_and_cross_site_refusals(journal, tmp_path: Path) -> None:
    settings = DashboardSettings(
        journal=str(journal.path),
        token=TOKEN,
        allow_control=True,
        state_dir=tmp_path,
        trader_id="QS-PAPER-001",
        control_wait_secs=0.0,
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    client = make_client(settings)
    folder = tmp_path / "QS-PAPER-001" / "control"

    no_header = client.post("/api/v1/control/kill", json={}, headers={**auth, "Origin": ORIGIN})
    assert no_header.status_code == 403 and "X-QS-Control" in no_header.json()["detail"]
    cross = client.post(
        "/api/v1/control/kill",
        json={},
        headers={**auth, "Origin": "http://evil.example", "X-QS-Control": "1"},
    )
    assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]
    no_origin = client.post("/api/v1/control/kill", json={}, headers={**auth, "X-QS-Control": "1"})
    assert no_origin.status_code == 403
    unauth = client.post(
        "/api/v1/control/kill", json={}, headers={"Origin": ORIGIN, "X-QS-Control": "1"}
    )
    assert unauth.status_code == 401
    assert not folder.exists()

    good = {**auth, "Origin": ORIGIN, "X-QS-Control": "1"}
    assert client.post("/api/v1/control/flatten-all", json={}, headers=good).status_code == 422
    step1 = client.post("/api/v1/control/kill", json={"reason": "test kill"}, headers=good)
    assert step1.status_code == 200
    body = step1.json()
    assert body["command"] == "kill" and "flatten" in body["prompt"]
    assert not folder.exists()  # nothing sent before the confirmation

    step2 = client.post(
        "/api/v1/control-confirm", json={"confirm_id": body["confirm_id"]}, headers=good
    )
    assert step2.status_code == 200 and step2.json()["queued"] is True
    (command_file,) = folder.glob("*.json")
    command = json.loads(command_file.read_text())
    assert command["command"] == "kill" and "test kill" in command["reason"]
    again = client.post(
        "/api/v1/control-confirm", json={"confirm_id": body["confirm_id"]}, headers=good
    )
    assert again.status_code == 409  # one use
    assert client.get("/api/v1/status", headers=auth).json()["control"]["enabled"] is True
