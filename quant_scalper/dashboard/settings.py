"""The dashboard's settings: from the command line and (loosely) a live config YAML.

Only the keys the dashboard needs are read from the YAML (``trader_id``, ``risk.state_dir``,
``risk.daily_loss_limit_usd``, ``journal.url``/``journal.password_env`` and the ``dashboard:``
section), and ``${ENV}`` is substituted only in those: the dashboard does not need the IB
account or any other secret the node's config references.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from quant_scalper.config import parse_yaml_text, resolve_path
from quant_scalper.dashboard.errors import DashboardError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_STALE_AFTER_SECS = 15.0
JOURNAL_FILE = "journal.sqlite"
DASHBOARD_KEYS = ("allow_control", "host", "port", "stale_after_secs")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class DashboardSettings:
    """Everything the dashboard app needs; secrets are kept out of ``repr``."""

    journal: str
    journal_password: str | None = field(default=None, repr=False)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    book: str | None = None
    token: str | None = field(default=None, repr=False)
    allow_control: bool = False
    state_dir: Path | None = None
    trader_id: str | None = None
    daily_loss_limit_cents: int | None = None
    stale_after_secs: float = DEFAULT_STALE_AFTER_SECS
    control_wait_secs: float = 3.0  # how long an action waits for the node's confirmation


@dataclass(frozen=True)
class ConfigView:
    """What the dashboard reads from a live config file."""

    journal: str
    journal_password: str | None = field(repr=False)
    trader_id: str
    state_dir: Path | None
    daily_loss_limit_cents: int | None
    dashboard: Mapping[str, Any]


def read_config(path: Path, env: Mapping[str, str] | None = None) -> ConfigView:
    """The dashboard's view of a live config: journal location, trader id, limits."""
    env = os.environ if env is None else env
    path = path.expanduser().resolve()
    if not path.is_file():
        raise DashboardError(f"config file {path} does not exist: pass --config with a valid path")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DashboardError(f"cannot read config file {path}: {exc}") from None
    raw = parse_yaml_text(text, str(path))
    if not isinstance(raw, dict):
        raise DashboardError(f"{path} must hold a mapping of settings at the top level")
    base = path.parent
    trader_id = _env(raw.get("trader_id"), "trader_id", path, env)
    if not isinstance(trader_id, str) or not trader_id.strip():
        raise DashboardError(f"{path}: trader_id is missing: the dashboard finds the node by it")
    risk = raw.get("risk") or {}
    if not isinstance(risk, dict):
        raise DashboardError(f"{path}: risk must be a section (a mapping)")
    state_dir = None
    if risk.get("state_dir"):
        state_dir = resolve_path(_env(risk["state_dir"], "risk.state_dir", path, env), base)
    limit_cents = None
    limit = risk.get("daily_loss_limit_usd")
    if limit is not None and not isinstance(limit, bool):
        try:
            limit_cents = int(Decimal(str(limit)) * 100)
        except InvalidOperation:
            raise DashboardError(
                f"{path}: risk.daily_loss_limit_usd must be a number, was {limit!r}"
            ) from None
    journal_section = raw.get("journal") or {}
    if not isinstance(journal_section, dict):
        raise DashboardError(f"{path}: journal must be a section (a mapping)")
    password = None
    url = journal_section.get("url")
    if url:
        journal = str(_env(url, "journal.url", path, env))
        password_env = journal_section.get("password_env")
        if password_env:
            password = env.get(str(password_env))
            if not password:
                raise DashboardError(
                    f"{path}: journal.password_env names {password_env}, which is not set: "
                    "export it before starting the dashboard"
                )
    elif state_dir is not None:
        journal = str(state_dir / trader_id / JOURNAL_FILE)
    else:
        raise DashboardError(
            f"{path}: neither journal.url nor risk.state_dir is set: the dashboard cannot find "
            "the journal; pass --journal PATH_OR_URL"
        )
    dashboard = raw.get("dashboard") or {}
    if not isinstance(dashboard, dict):
        raise DashboardError(f"{path}: dashboard must be a section (a mapping)")
    unknown = sorted(set(map(str, dashboard)) - set(DASHBOARD_KEYS))
    if unknown:
        raise DashboardError(
            f"{path}: unknown key(s) {', '.join(unknown)} in dashboard; valid keys: "
            f"{', '.join(DASHBOARD_KEYS)}"
        )
    return ConfigView(journal, password, trader_id, state_dir, limit_cents, dashboard)


def _env(value: Any, key: str, path: Path, env: Mapping[str, str]) -> Any:
    """``value`` with ``${NAME}`` substituted from the environment (unset: an error)."""
    if not isinstance(value, str) or "${" not in value:
        return value
    missing = [name for name in _ENV_REF.findall(value) if name not in env]
    if missing:
        raise DashboardError(
            f"{path}: {key} needs the environment variable(s) {', '.join(missing)}"
        )
    return _ENV_REF.sub(lambda m: env[m.group(1)], value)
