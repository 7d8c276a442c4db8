"""YAML configuration: one schema, loaded and validated before anything runs.

A config file is a mapping of sections. Every key is checked against the schema, so a typo
fails fast with the key's name and the valid ones, instead of silently taking a default.
``--set section.key=value`` overrides are applied before validation; their values are parsed
as YAML scalars (``--set strategy.entry_z=2.5``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from quant_scalper.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BACKTEST_CONFIG = Path("configs") / "backtest.yaml"

# The strategy section mirrors ZScoreMeanReversionConfig; kept here as data so the schema can be
# checked without importing Nautilus.
STRATEGY_KEYS = (
    "instrument_id",
    "bar_type",
    "window",
    "entry_z",
    "exit_z",
    "max_bar_gap_minutes",
    "trade_size",
    "stop_loss_usd_per_contract",
    "take_profit_usd_per_contract",
    "subscribe_quote_ticks",
    "flatten_on_stop",
)


@dataclasses.dataclass(frozen=True)
class VenueSettings:
    """The simulated exchange: IB-like CME futures account (NETTING, MARGIN, USD)."""

    name: str = "CME"
    oms_type: str = "NETTING"
    account_type: str = "MARGIN"
    base_currency: str = "USD"
    starting_balance: str = "5000 USD"  # the account size for one MES contract (README)
    commission_per_contract: str = "0.62 USD"

    def __post_init__(self) -> None:
        _money("venue.starting_balance", self.starting_balance, positive=True)
        _money("venue.commission_per_contract", self.commission_per_contract, positive=False)
        if self.oms_type not in ("NETTING", "HEDGING"):
            raise ConfigError(f"venue.oms_type must be NETTING or HEDGING, was {self.oms_type!r}")
        if self.account_type not in ("MARGIN", "CASH"):
            raise ConfigError(
                f"venue.account_type must be MARGIN or CASH, was {self.account_type!r}"
            )


@dataclasses.dataclass(frozen=True)
class BacktestSettings:
    """Everything a backtest run needs, validated: catalog, period, venue and strategy."""

    catalog: Path
    output_dir: Path
    strategy: Mapping[str, Any]
    venue: VenueSettings = dataclasses.field(default_factory=lambda: VenueSettings())
    risk: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    risk_engine: RiskEngineSettings = dataclasses.field(
        default_factory=lambda: RiskEngineSettings()
    )
    start: str | None = None
    end: str | None = None
    progress: bool = True
    write_tearsheet: bool = True
    log_level: str = "ERROR"
    # Not a YAML key: the walk-forward sets it so a position open at a test window's last bar
    # closes there (as at a contract roll) instead of being dropped.
    flatten_at_end: bool = False

    def replace(self, **changes: Any) -> BacktestSettings:
        """Return a copy with some fields changed (used by sweeps and tests)."""
        return dataclasses.replace(self, **changes)


# The risk section feeds the strategy's circuit-breaker fields (one schema for backtest and live).
RISK_KEYS = (
    "daily_loss_limit_usd",
    "max_consecutive_losses",
    "pause_minutes",
    "max_holding_minutes",
    "entry_guard_minutes",
    "flatten_before_halt",
    "session_halt",
    "session_open",
    "session_breaks",
    "session_tz",
    "session_always_open",
    "state_dir",
)


@dataclasses.dataclass(frozen=True)
class RiskEngineSettings:
    """Nautilus ``RiskEngineConfig`` values; the notional cap is per order, in USD."""

    max_order_submit_rate: str = "100/00:00:01"
    max_order_modify_rate: str = "100/00:00:01"
    max_notional_per_order_usd: int | None = None  # None: trade_size x multiplier x 10,000

    def __post_init__(self) -> None:
        for key in ("max_order_submit_rate", "max_order_modify_rate"):
            value = getattr(self, key)
            if not re.fullmatch(r"\d+/\d\d:\d\d:\d\d", str(value)):
                raise ConfigError(
                    f"risk_engine.{key} must look like '100/00:00:01' (orders per HH:MM:SS), "
                    f"was {value!r}",
                )
        cap = self.max_notional_per_order_usd
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0):
            raise ConfigError(
                f"risk_engine.max_notional_per_order_usd must be a whole number of USD > 0, "
                f"was {cap!r}",
            )


_BACKTEST_SECTIONS: dict[str, Any] = {
    "catalog": str,
    "output_dir": str,
    "start": str,
    "end": str,
    "progress": bool,
    "write_tearsheet": bool,
    "log_level": str,
    "venue": VenueSettings,
    "strategy": STRATEGY_KEYS,
    "risk": RISK_KEYS,
    "risk_engine": RiskEngineSettings,
}


def load_backtest_settings(
    path: Path | str | None = None,
    overrides: Sequence[str] = (),
) -> BacktestSettings:
    """Read a backtest YAML file, apply ``key=value`` overrides and validate everything."""
    config_path = _resolve_config_path(path)
    raw = read_yaml(config_path)
    for item in overrides:
        apply_override(raw, item)
    return backtest_settings_from_mapping(raw, base_dir=config_path.parent)


def backtest_settings_from_mapping(raw: Mapping[str, Any], base_dir: Path) -> BacktestSettings:
    """Validate a config mapping; relative paths are taken from ``base_dir``."""
    check_keys("the backtest config", raw, _BACKTEST_SECTIONS)
    for required in ("catalog", "strategy"):
        if required not in raw:
            raise ConfigError(f"the backtest config has no '{required}' key: add it")
    strategy = raw["strategy"]
    if not isinstance(strategy, Mapping):
        raise ConfigError("'strategy' must be a mapping of strategy settings")
    check_keys("strategy", strategy, dict.fromkeys(STRATEGY_KEYS))
    for required in ("instrument_id", "bar_type"):
        if required not in strategy:
            raise ConfigError(
                f"strategy.{required} is missing: add it (e.g. see configs/backtest.yaml)"
            )
    validate_strategy_values(strategy)
    venue_raw = raw.get("venue") or {}
    check_keys("venue", venue_raw, {f.name: None for f in dataclasses.fields(VenueSettings)})
    risk = raw.get("risk") or {}
    check_keys("risk", risk, dict.fromkeys(RISK_KEYS))
    validate_risk_values(risk)
    if risk.get("state_dir") is not None:
        risk = {**risk, "state_dir": str(resolve_path(risk["state_dir"], base_dir))}
    engine_raw = raw.get("risk_engine") or {}
    check_keys(
        "risk_engine", engine_raw, {f.name: None for f in dataclasses.fields(RiskEngineSettings)}
    )
    return BacktestSettings(
        catalog=resolve_path(raw["catalog"], base_dir),
        output_dir=resolve_path(raw.get("output_dir", "output/backtest"), base_dir),
        strategy=dict(strategy),
        venue=VenueSettings(**{k: str(v) for k, v in venue_raw.items()}),
        risk=dict(risk),
        risk_engine=RiskEngineSettings(**engine_raw),
        start=_optional_str(raw.get("start")),
        end=_optional_str(raw.get("end")),
        progress=bool(raw.get("progress", True)),
        write_tearsheet=bool(raw.get("write_tearsheet", True)),
        log_level=str(raw.get("log_level", "ERROR")).upper(),
    )


def validate_strategy_values(strategy: Mapping[str, Any]) -> None:
    """Check the strategy numbers a trader can get wrong, with messages naming the key."""
    window = strategy.get("window", 20)
    if not isinstance(window, int) or isinstance(window, bool) or window < 2:
        raise ConfigError(f"strategy.window must be a whole number >= 2, was {window!r}")
    entry_z = _number("strategy.entry_z", strategy.get("entry_z", 2.0))
    exit_z = _number("strategy.exit_z", strategy.get("exit_z", 0.5))
    if exit_z < 0:
        raise ConfigError(f"strategy.exit_z must be >= 0, was {exit_z}")
    if entry_z <= exit_z:
        raise ConfigError(
            f"strategy.entry_z ({entry_z}) must be greater than strategy.exit_z ({exit_z}): "
            "otherwise a position would close on the bar that opened it",
        )
    gap = strategy.get("max_bar_gap_minutes", 10)
    if gap is not None and (not isinstance(gap, int) or isinstance(gap, bool) or gap < 1):
        raise ConfigError(
            f"strategy.max_bar_gap_minutes must be a whole number of minutes >= 1 or null "
            f"(off), was {gap!r}"
        )
    size = strategy.get("trade_size", 1)
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ConfigError(
            f"strategy.trade_size must be a whole number of contracts > 0, was {size!r}"
        )
    for key in ("stop_loss_usd_per_contract", "take_profit_usd_per_contract"):
        if key in strategy:
            value = _decimal(f"strategy.{key}", strategy[key])
            if value <= 0:
                raise ConfigError(f"strategy.{key} must be > 0 USD, was {value}")
    if strategy.get("trade_until") is not None:  # set per contract by the backtest, not YAML
        parse_utc_timestamp("strategy.trade_until", strategy["trade_until"])


def parse_utc_timestamp(key: str, value: Any) -> datetime:
    """An ISO-8601 timestamp (``2013-12-12T20:59:00Z``; naive means UTC) as an aware UTC time."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ConfigError(
                f"{key} must be an ISO-8601 UTC timestamp like '2013-12-12T20:59:00Z', "
                f"was {value!r}",
            ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def validate_risk_values(risk: Mapping[str, Any]) -> None:
    """Build the pure risk objects once so a bad limit or session time fails before running."""
    from quant_scalper.risk import RiskLimits, SessionSchedule, parse_clock_range, parse_clock_time

    limit = risk.get("daily_loss_limit_usd", 500)
    if isinstance(limit, float):
        limit = _decimal("risk.daily_loss_limit_usd", limit)
    try:
        RiskLimits(
            daily_loss_limit=limit,
            max_consecutive_losses=risk.get("max_consecutive_losses", 3),
            pause_minutes=risk.get("pause_minutes", 30),
            max_holding_minutes=risk.get("max_holding_minutes", 120),
            entry_guard_minutes=risk.get("entry_guard_minutes", 15),
            flatten_before_halt=risk.get("flatten_before_halt", True),
        )
        breaks = risk.get("session_breaks") or []
        if isinstance(breaks, str):
            raise ConfigError("risk.session_breaks must be a list like ['15:15-15:30']")
        SessionSchedule(
            halt_start=parse_clock_time("risk.session_halt", risk.get("session_halt", "16:00")),
            session_open=parse_clock_time("risk.session_open", risk.get("session_open", "17:00")),
            tz=risk.get("session_tz", "America/Chicago"),
            breaks=tuple(parse_clock_range(b) for b in breaks),
            always_open=bool(risk.get("session_always_open", False)),
        )
    except ConfigError as exc:
        raise ConfigError(f"risk: {exc}") from exc


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, expanding ``${ENV_VAR}`` references; errors name the file."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist: pass --config with a valid path")
    text = os.path.expandvars(path.read_text(encoding="utf-8"))
    unresolved = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)
    if unresolved:
        raise ConfigError(
            f"{path}: environment variable(s) not set: {', '.join(sorted(set(unresolved)))}"
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings at the top level")
    return data


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value (e.g. strategy.entry_z=2.5), got {item!r}")
    parts = key.strip().split(".")
    target = raw
    for part in parts[:-1]:
        node = target.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{part}' is a value, not a section")
        target = node
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    if parts[-1] in ("catalog", "output_dir") and len(parts) == 1 and parsed is not None:
        parsed = str(Path(str(parsed)).resolve())  # command-line paths are relative to the cwd
    target[parts[-1]] = parsed


def _resolve_config_path(path: Path | str | None) -> Path:
    if path is not None:
        return Path(path).expanduser().resolve()
    local = Path.cwd() / DEFAULT_BACKTEST_CONFIG
    return local if local.is_file() else REPO_ROOT / DEFAULT_BACKTEST_CONFIG


def check_keys(where: str, given: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise ConfigError naming an unknown key (with a close match) and the valid ones."""
    if not isinstance(given, Mapping):
        raise ConfigError(f"{where} must be a mapping of settings")
    for key in given:
        if key not in schema:
            hint = difflib.get_close_matches(str(key), list(schema), n=1)
            did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(
                f"unknown key '{key}' in {where}{did_you_mean}; valid keys: {', '.join(schema)}",
            )


def resolve_path(value: Any, base_dir: Path) -> Path:
    """A config path: absolute, or relative to ``base_dir`` (the config file's folder)."""
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number, was {value!r}")
    return float(value)


def _decimal(key: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, was {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"{key} must be a number, was {value!r}") from exc


def _money(key: str, value: str, positive: bool) -> Decimal:
    parts = str(value).split()
    if len(parts) != 2 or parts[1] != "USD":
        raise ConfigError(f"{key} must be an amount in USD like '0.62 USD', was {value!r}")
    amount = _decimal(key, parts[0])
    if amount < 0 or (positive and amount == 0):
        raise ConfigError(f"{key} must be {'>' if positive else '>='} 0, was {value!r}")
    return amount
