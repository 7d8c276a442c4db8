"""Issue 10, items 7 and 8: secrets never leak into errors, ranges are checked, Redis is
probed (with a time box) before the node is built."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from quant_scalper.cli import main
from quant_scalper.errors import ConfigError, ServiceCheckError
from quant_scalper.live.config import RedisSettings, load_live_settings
from quant_scalper.live.node import probe_redis
from tests.ibpeer import IBPeer
from tests.live.harness import ACCOUNT, write_config
from tests.servers import free_port, redis_server

SECRETS = (  # YAML-special characters: each broke the document when substituted into the text
    "abc: S3CRET-1",
    "S3CRET-2 #tail",
    "[S3CRET-3",
    "{S3CRET-4}",
    "'S3CRET-5\"",
    "*S3CRET-6 & |",
)


@pytest.fixture(autouse=True)
def account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IB_ACCOUNT_ID", ACCOUNT)


def _config(tmp_path: Path, peer_port: int, redis: dict | None = None, **ib: object) -> Path:
    config = write_config(tmp_path, peer_port)
    raw = yaml.safe_load(config.read_text())
    raw["ib"].update(ib)
    if redis is not None:
        raw["cache"] = {"redis": redis}
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    return config


@pytest.mark.parametrize("secret", SECRETS)
def test_env_password_is_a_value_and_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", secret)
    config = _config(tmp_path, 4002, redis={"host": "127.0.0.1", "password": "${REDIS_PASSWORD}"})
    settings = load_live_settings(config)
    assert settings.redis is not None and str(settings.redis.password) == secret
    assert "S3CRET" not in repr(settings)  # the dataclass repr shows ${REDIS_PASSWORD}
    # The same variable where a number is due, and beside a YAML syntax error: no echo.
    bad = config.read_text().replace(
        "host: 127.0.0.1\n    password", "port: ${REDIS_PASSWORD}\n    password"
    )
    config.write_text(bad)
    with pytest.raises(ConfigError) as error:
        load_live_settings(config)
    assert "S3CRET" not in str(error.value) and "REDIS_PASSWORD" in str(error.value)
    config.write_text(bad.replace("port: ${REDIS_PASSWORD}", "port: ${REDIS_PASSWORD}: ]"))
    assert main(["live", "--config", str(config), "--check"]) == 2
    err = capsys.readouterr().err
    assert "S3CRET" not in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("client_id", 99999999999999, r"ib\.client_id must be 0-"),
        ("client_id", -1, r"ib\.client_id must be 0-"),
        ("probe_timeout_secs", float("inf"), r"ib\.probe_timeout_secs must be a finite number"),
        ("probe_timeout_secs", float("nan"), r"ib\.probe_timeout_secs must be a finite number"),
        ("build_timeout_secs", 0, r"ib\.build_timeout_secs must be > 0"),
        ("port", 0, r"ib\.port must be a TCP port"),
    ],
)
def test_out_of_range_ib_values_fail_check_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: object, message: str
) -> None:
    with IBPeer(account=ACCOUNT) as peer:
        config = _config(tmp_path, peer.port, **{key: value})
        with pytest.raises(ConfigError, match=message):
            load_live_settings(config)
        assert main(["live", "--config", str(config), "--check"]) == 2
        assert peer.snapshot().requests == ()
    assert capsys.readouterr().err.count("\n") == 1


def test_state_dir_that_is_a_file_fails_check(tmp_path: Path) -> None:
    config = write_config(tmp_path, 4002)
    raw = yaml.safe_load(config.read_text())
    (tmp_path / "afile").write_text("x")
    raw["risk"]["state_dir"] = str(tmp_path / "afile")
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"risk\.state_dir .* is a file"):
        load_live_settings(config)


def test_wrong_redis_password_fails_in_a_second_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with redis_server(tmp_path, password="right-one") as port, IBPeer(account=ACCOUNT) as peer:
        redis = {"host": "127.0.0.1", "port": port, "password": "${REDIS_PASSWORD}"}
        config = _config(tmp_path, peer.port, redis=redis)
        monkeypatch.setenv("REDIS_PASSWORD", "wrong: S3CRET")
        started = time.monotonic()
        assert main(["live", "--config", str(config), "--check"]) == 2
        assert time.monotonic() - started < 5
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "refused the credentials" in err and "S3CRET" not in err
        monkeypatch.setenv("REDIS_PASSWORD", "right-one")
        assert main(["live", "--config", str(config), "--check"]) == 0
        assert f"Redis 127.0.0.1:{port} v" in capsys.readouterr().out
        no_password = {"host": "127.0.0.1", "port": port}
        with pytest.raises(ServiceCheckError, match="requires a password"):
            probe_redis(RedisSettings(**no_password))


def test_redis_probe_is_time_boxed(tmp_path: Path) -> None:
    """A listener that never answers (not Redis, or a hung server) fails within the timeout."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ServiceCheckError, match=r"did not answer within 0\.5 s"):
            probe_redis(RedisSettings(port=port, password="x", timeout_secs=0.5))
        assert time.monotonic() - started < 3
    with pytest.raises(ServiceCheckError, match="cannot reach"):
        probe_redis(RedisSettings(port=free_port(), timeout_secs=0.5))
