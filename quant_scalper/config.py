"""YAML configuration: one schema, loaded and validated before anything runs.

A config file is a mapping of sections. Every key is checked against the schema, so a typo
fails fast with the key's name and the valid ones, instead of silently taking a default.
``--set section.key=value`` overrides are applied before validation; their values are parsed
as YAML scalars (``--set strategy.entry_z=2.5``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from quant_scalper.errors import ConfigError
from quant_scalper.parameters import RISK_KEYS, STRATEGY_KEYS, default, value_of

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BACKTEST_CONFIG = Path("configs") / "backtest.yaml"

# The strategy and risk sections' keys and defaults come from one table (quant_scalper.parameters).
DEFAULT_MAX_POSITION_CONTRACTS: int = default("max_position_contracts")
MAX_WINDOW = 100_000  # bars; a longer window never fills on a trading day's data
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "OFF")  # Nautilus log levels


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
        check_money(
            "venue.starting_balance", self.starting_balance, positive=True, maximum=MAX_BALANCE
        )
        check_money(
            "venue.commission_per_contract",
            self.commission_per_contract,
            positive=False,
            maximum=MAX_COMMISSION,
        )
        check_choice("venue.oms_type", self.oms_type, ("NETTING", "HEDGING"))
        check_choice("venue.account_type", self.account_type, ("MARGIN", "CASH"))
        check_choice("venue.base_currency", self.base_currency, ("USD",))
        if not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", str(self.name), flags=re.ASCII):
            raise ConfigError(
                f"venue.name must be an upper-case venue code like CME, was {self.name!r}"
            )


MAX_BALANCE = Decimal(10) ** 12  # USD; Nautilus Money holds far more, no account does
MAX_COMMISSION = Decimal(1000)  # USD per contract


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
    # Not YAML keys: `quant-scalper backtest` sets them (--journal): the trade journal the run
    # writes (a path or URL; None: none, as in sweeps) and the variable holding its password.
    journal: str | None = None
    journal_password_env: str | None = None

    def replace(self, **changes: Any) -> BacktestSettings:
        """Return a copy with some fields changed (used by sweeps and tests)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class RiskEngineSettings:
    """Nautilus ``RiskEngineConfig`` values; the notional cap is per order, in USD."""

    max_order_submit_rate: str = "100/00:00:01"
    max_order_modify_rate: str = "100/00:00:01"
    max_notional_per_order_usd: int | None = None  # None: trade_size x multiplier x 10,000

    def __post_init__(self) -> None:
        for key in ("max_order_submit_rate", "max_order_modify_rate"):
            value = getattr(self, key)
            match = re.fullmatch(r"(\d+)/(\d\d):(\d\d):(\d\d)", str(value), flags=re.ASCII)
            if (
                not isinstance(value, str)
                or not match
                or int(match[1]) == 0
                or not any(int(part) for part in match.groups()[1:])
            ):
                raise ConfigError(
                    f"risk_engine.{key} must look like '100/00:00:01' (orders > 0 per HH:MM:SS "
                    "> 0), "
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
        if raw.get(required) is None:
            raise ConfigError(f"the backtest config has no '{required}' key: add it")
    strategy = raw["strategy"]
    if not isinstance(strategy, Mapping):
        raise ConfigError("'strategy' must be a mapping of strategy settings")
    check_keys("strategy", strategy, dict.fromkeys(STRATEGY_KEYS))
    for required in ("instrument_id", "bar_type"):
        if strategy.get(required) is None:
            raise ConfigError(
                f"strategy.{required} is missing: add it (e.g. see configs/backtest.yaml)"
            )
    validate_strategy_values(strategy)
    venue_raw = _mapping("venue", raw.get("venue"))
    check_keys("venue", venue_raw, {f.name: None for f in dataclasses.fields(VenueSettings)})
    for key, value in venue_raw.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ConfigError(f"venue.{key} must be a text value, was {value!r}")
    venue = VenueSettings(**{k: str(v) for k, v in venue_raw.items()})
    check_venue_matches(venue.name, strategy)
    risk = _mapping("risk", raw.get("risk"))
    check_keys("risk", risk, dict.fromkeys(RISK_KEYS))
    validate_risk_values(risk)
    if risk.get("state_dir") is not None:
        state_dir = resolve_path(risk["state_dir"], base_dir)
        check_dir_or_missing("risk.state_dir", state_dir)
        risk = {**risk, "state_dir": str(state_dir)}
    engine_raw = _mapping("risk_engine", raw.get("risk_engine"))
    check_keys(
        "risk_engine", engine_raw, {f.name: None for f in dataclasses.fields(RiskEngineSettings)}
    )
    catalog = resolve_path(raw["catalog"], base_dir)
    check_catalog_dir("catalog", catalog)
    output_dir = resolve_path(raw.get("output_dir") or "output/backtest", base_dir)
    check_dir_or_missing("output_dir", output_dir)
    start = _optional_timestamp("start", raw.get("start"))
    end = _optional_timestamp("end", raw.get("end"))
    if (
        start is not None
        and end is not None
        and parse_utc_timestamp("end", end) <= parse_utc_timestamp("start", start)
    ):
        raise ConfigError(f"end ({end}) must be after start ({start})")
    return BacktestSettings(
        catalog=catalog,
        output_dir=output_dir,
        strategy=dict(strategy),
        venue=venue,
        risk=dict(risk),
        risk_engine=RiskEngineSettings(**engine_raw),
        start=start,
        end=end,
        progress=check_bool("progress", raw.get("progress", True)),
        write_tearsheet=check_bool("write_tearsheet", raw.get("write_tearsheet", True)),
        log_level=check_choice("log_level", raw.get("log_level", "ERROR"), LOG_LEVELS, upper=True),
    )


def validate_strategy_values(strategy: Mapping[str, Any]) -> None:
    """Check the strategy numbers a trader can get wrong, with messages naming the key."""
    for key in ("instrument_id", "bar_type"):
        if key in strategy and not isinstance(strategy[key], str):
            raise ConfigError(f"strategy.{key} must be text like MES.CME, was {strategy[key]!r}")
    window = check_int("strategy.window", value_of(strategy, "window"), minimum=2)
    if window > MAX_WINDOW:
        raise ConfigError(f"strategy.window must be at most {MAX_WINDOW} bars, was {window}")
    entry_z = check_number("strategy.entry_z", value_of(strategy, "entry_z"))
    exit_z = check_number("strategy.exit_z", value_of(strategy, "exit_z"))
    if exit_z < 0:
        raise ConfigError(f"strategy.exit_z must be >= 0, was {exit_z}")
    if entry_z <= exit_z:
        raise ConfigError(
            f"strategy.entry_z ({entry_z}) must be greater than strategy.exit_z ({exit_z}): "
            "otherwise a position would close on the bar that opened it",
        )
    gap = value_of(strategy, "max_bar_gap_minutes")
    if gap is not None and (not isinstance(gap, int) or isinstance(gap, bool) or gap < 1):
        raise ConfigError(
            f"strategy.max_bar_gap_minutes must be a whole number of minutes >= 1 or null "
            f"(off), was {gap!r}"
        )
    cap = check_int(
        "strategy.max_position_contracts",
        strategy.get("max_position_contracts", DEFAULT_MAX_POSITION_CONTRACTS),
        minimum=1,
    )
    size = check_int("strategy.trade_size", value_of(strategy, "trade_size"), minimum=1)
    if size > cap:
        raise ConfigError(
            f"strategy.trade_size ({size}) is above strategy.max_position_contracts ({cap}): "
            "lower trade_size, or raise max_position_contracts if you mean that position size",
        )
    for key in ("stop_loss_usd_per_contract", "take_profit_usd_per_contract"):
        if key in strategy:
            value = check_decimal(f"strategy.{key}", strategy[key])
            if value <= 0 or value > MAX_BALANCE:
                raise ConfigError(f"strategy.{key} must be > 0 USD (and sane), was {value}")
    for key in ("subscribe_quote_ticks", "flatten_on_stop"):
        if key in strategy:
            check_bool(f"strategy.{key}", strategy[key])
    if strategy.get("trade_until") is not None:  # set per contract by the backtest, not YAML
        parse_utc_timestamp("strategy.trade_until", strategy["trade_until"])


def check_venue_matches(venue: str, strategy: Mapping[str, Any]) -> None:
    """The simulated venue must be the strategy instrument's venue (``MES.CME`` -> ``CME``)."""
    instrument = str(strategy.get("instrument_id", ""))
    wanted = instrument.rpartition(".")[2]
    if wanted and venue != wanted:
        raise ConfigError(
            f"venue.name {venue!r} is not the venue of strategy.instrument_id {instrument!r}: "
            f"set venue.name: {wanted} (or name an instrument on {venue})",
        )


def parse_utc_timestamp(key: str, value: Any) -> datetime:
    """An ISO-8601 timestamp (``2013-12-12T20:59:00Z``; naive means UTC) as an aware UTC time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            if not isinstance(value, str):
                raise ValueError("not text")
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ConfigError(
                f"{key} must be an ISO-8601 UTC timestamp like '2013-12-12T20:59:00Z', "
                f"was {value!r}",
            ) from exc
    if not 1990 <= moment.year <= 2100:
        raise ConfigError(f"{key} must be a date between 1990 and 2100, was {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def validate_risk_values(risk: Mapping[str, Any]) -> None:
    """Build the pure risk objects once so a bad limit or session time fails before running."""
    from quant_scalper.risk import RiskLimits, SessionSchedule, parse_clock_range, parse_clock_time

    limit = check_decimal(
        "risk.daily_loss_limit_usd",
        value_of(risk, "daily_loss_limit_usd"),
    )
    if risk.get("fee_per_contract_usd") is not None:
        fee = check_decimal("risk.fee_per_contract_usd", risk["fee_per_contract_usd"])
        if not Decimal(0) <= fee <= Decimal(100):
            raise ConfigError(
                f"risk.fee_per_contract_usd must be a per-contract fee in USD between 0 and 100 "
                f"(IB's MES fee is 0.62), was {risk['fee_per_contract_usd']!r}"
            )
    ints = {}
    for key, minimum in (
        ("max_consecutive_losses", 1),
        ("pause_minutes", 0),
        ("max_holding_minutes", 1),
        ("entry_guard_minutes", 0),
    ):
        value = value_of(risk, key)
        if value is None and key == "max_holding_minutes":
            ints[key] = None
            continue
        ints[key] = check_int(f"risk.{key}", value, minimum=minimum, maximum=10_000_000)
    flatten = check_bool("risk.flatten_before_halt", value_of(risk, "flatten_before_halt"))
    always_open = check_bool("risk.session_always_open", value_of(risk, "session_always_open"))
    for key in ("session_halt", "session_open", "session_tz"):
        if key in risk and not isinstance(risk[key], str):
            raise ConfigError(f"risk.{key} must be text (quote times: '16:00'), was {risk[key]!r}")
    if risk.get("state_dir") is not None and not isinstance(risk["state_dir"], str):
        raise ConfigError(f"risk.state_dir must be a folder path, was {risk['state_dir']!r}")
    try:
        RiskLimits(
            daily_loss_limit=limit,
            max_consecutive_losses=ints["max_consecutive_losses"],
            pause_minutes=ints["pause_minutes"],
            max_holding_minutes=ints["max_holding_minutes"],
            entry_guard_minutes=ints["entry_guard_minutes"],
            flatten_before_halt=flatten,
        )
        breaks = risk.get("session_breaks") or []
        if not isinstance(breaks, list) or not all(isinstance(b, str) for b in breaks):
            raise ConfigError("risk.session_breaks must be a list like ['15:15-15:30']")
        SessionSchedule(
            halt_start=parse_clock_time("risk.session_halt", value_of(risk, "session_halt")),
            session_open=parse_clock_time("risk.session_open", value_of(risk, "session_open")),
            tz=value_of(risk, "session_tz"),
            breaks=tuple(parse_clock_range(b) for b in breaks),
            always_open=always_open,
        )
    except ConfigError as exc:
        raise ConfigError(f"risk: {exc}") from exc
    except (ValueError, TypeError) as exc:  # the pure risk objects raise ValueError
        raise ConfigError(f"risk: {exc}") from exc


# -- YAML reading ------------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class EnvStr(str):
    """A config string with ``${ENV_VAR}`` substituted; its ``repr`` shows the reference, not
    the value, so an error message built with ``{value!r}`` never echoes a secret."""

    template: str

    def __new__(cls, value: str, template: str) -> EnvStr:
        text = super().__new__(cls, value)
        text.template = template
        return text

    def __repr__(self) -> str:
        return repr(self.template)

    def __deepcopy__(self, memo: Any) -> EnvStr:
        return self


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML says last wins)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first given on line {seen[key] + 1}): keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def parse_yaml_text(text: str, where: str) -> Any:
    """Parse YAML with duplicate keys refused; errors are one line naming ``where``."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{where} is nested too deeply to be a config") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2013-13-45
        raise ConfigError(f"{where} is not valid YAML: {' '.join(str(exc).split())}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where (the offending text itself is never echoed)."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or "unreadable"
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{at}".split())


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping from a UTF-8 file, then substitute ``${ENV_VAR}`` references in
    its string values (never into the text: a secret can then neither change the document's
    structure nor appear in a YAML error); errors name the file and are one line."""
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory: pass the YAML file itself")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist: pass --config with a valid path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): "
            "save it as UTF-8"
        ) from None
    parsed = parse_yaml_text(text, str(path))
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ConfigError(f"{path} must hold a mapping of settings at the top level")
    missing: set[str] = set()
    result = _substitute_env(parsed, missing)
    if missing:
        raise ConfigError(f"{path}: environment variable(s) not set: {', '.join(sorted(missing))}")
    return result


def _substitute_env(value: Any, missing: set[str]) -> Any:
    """Replace ``${NAME}`` in every string value (not in keys) with the environment's value."""
    if isinstance(value, dict):
        return {k: _substitute_env(v, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, missing) for v in value]
    if isinstance(value, str) and "${" in value:

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                missing.add(name)
                return ""
            return os.environ[name]

        return EnvStr(_ENV_REF.sub(lookup, value), value)
    return value


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML."""
    if not isinstance(item, str):
        raise ConfigError(f"--set expects key=value text, got {item!r}")
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not key.strip() or not all(part.strip() for part in parts):
        raise ConfigError(f"--set expects key=value (e.g. strategy.entry_z=2.5), got {item!r}")
    target = raw
    for part in parts[:-1]:
        node = target.get(part)
        if node is None:
            node = target[part] = {}
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{part}' is a value, not a section")
        target = node
    try:
        parsed = parse_yaml_text(value, f"--set {key}") if value.strip() else None
    except ConfigError:
        parsed = value
    if parts[-1] in ("catalog", "output_dir") and len(parts) == 1 and parsed is not None:
        if not isinstance(parsed, str) or "\0" in parsed:
            raise ConfigError(f"--set {key} must be a path, got {_short(parsed)}")
        parsed = str(Path(parsed).expanduser().resolve())  # command-line paths: from the cwd
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
                f"unknown key {_short(key)} in {where}{did_you_mean}; "
                f"valid keys: {', '.join(schema)}",
            )


def resolve_path(value: Any, base_dir: Path) -> Path:
    """A config path: absolute, or relative to ``base_dir`` (the config file's folder)."""
    if isinstance(value, bool) or not isinstance(value, str | Path) or not str(value).strip():
        raise ConfigError(f"a path setting must be a non-empty path, was {_short(value)}")
    if "\0" in str(value):
        raise ConfigError(f"path {_short(value)} contains a NUL byte")
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


# -- the shared validators (every verb uses these) -------------------------------------------


def check_bool(key: str, value: Any) -> bool:
    """A real YAML boolean (true/false); ``nope`` or ``1`` is refused, not read as true."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, was {_short(value)}")
    return value


def check_int(key: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number (not a bool, not 2.5) within ``[minimum, maximum]``."""
    wanted = "a whole number" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be {wanted}, was {_short(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key} must be {wanted}, was {_short(value)}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{key} must be <= {maximum}, was {_short(value)}")
    return value


def check_number(key: str, value: Any, positive: bool = False) -> float:
    """A finite number (NaN and infinities refused); ``positive`` requires > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number, was {_short(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ConfigError(f"{key} must be a finite number, was {_short(value)}")
    if positive and number <= 0:
        raise ConfigError(f"{key} must be > 0, was {_short(value)}")
    return number


def check_decimal(key: str, value: Any) -> Decimal:
    """A finite decimal number from a YAML number or text (``'0.62'``); NaN/inf refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigError(f"{key} must be a number, was {_short(value)}")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ConfigError(f"{key} must be a number, was {_short(value)}") from None
    if not number.is_finite():
        raise ConfigError(f"{key} must be a finite number, was {_short(value)}")
    if abs(number.adjusted()) > 30:
        raise ConfigError(f"{key} is out of range, was {_short(value)}")
    return number


def check_money(key: str, value: Any, positive: bool, maximum: Decimal | None = None) -> Decimal:
    """An amount in USD like ``'0.62 USD'`` (finite, >= 0, or > 0 when ``positive``)."""
    parts = str(value).split()
    if len(parts) != 2 or parts[1] != "USD":
        raise ConfigError(f"{key} must be an amount in USD like '0.62 USD', was {_short(value)}")
    amount = check_decimal(key, parts[0])
    if amount < 0 or (positive and amount == 0):
        raise ConfigError(f"{key} must be {'>' if positive else '>='} 0, was {_short(value)}")
    if maximum is not None and amount > maximum:
        raise ConfigError(f"{key} must be at most {maximum} USD, was {_short(value)}")
    return amount


def check_choice(key: str, value: Any, choices: Sequence[str], upper: bool = False) -> str:
    """One of ``choices`` (compared upper-cased when ``upper``)."""
    text = value.upper() if upper and isinstance(value, str) else value
    if not isinstance(text, str) or text not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, was {_short(value)}")
    return text


def check_catalog_dir(key: str, path: Path) -> Path:
    """An existing data catalog folder (checked before any work starts)."""
    if not path.exists():
        raise ConfigError(
            f"{key} {path} does not exist: point it at a Parquet catalog folder "
            "(the bundled one is catalog/; `quant-scalper catalog build` rebuilds it)"
        )
    if not path.is_dir():
        raise ConfigError(f"{key} {path} is a file, not a catalog folder: point it at the folder")
    return path


def check_dir_or_missing(key: str, path: Path) -> Path:
    """A folder to write into: it may not exist yet, but it must not be a file."""
    for parent in (path, *path.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{key} {path}: {parent} is a file, not a folder: fix the path")
            break
    return path


def check_output_file(key: str, path: Path) -> Path:
    """A file to write: not an existing folder, and no file where its folders must go."""
    if path.is_dir():
        raise ConfigError(
            f"{key} {path} is a folder: give a file name, e.g. {path / 'results.parquet'}"
        )
    check_dir_or_missing(key, path.parent)
    return path


def find_non_finite(value: Any, where: str = "") -> str | None:
    """The dotted path of a NaN/infinite float or Decimal inside a loaded config, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "<value>"
    if isinstance(value, Decimal) and not value.is_finite():
        return where or "<value>"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = find_non_finite(item, f"{where}.{key}" if where else str(key))
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = find_non_finite(item, f"{where}[{index}]")
            if found:
                return found
    return None


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters (messages stay one line)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _mapping(key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"'{key}' must be a mapping of settings, was {_short(value)}")
    return value


def _optional_timestamp(key: str, value: Any) -> str | None:
    """``start``/``end``: None, or an ISO-8601 timestamp/date (validated, kept as text)."""
    if value is None:
        return None
    parse_utc_timestamp(key, value)
    return value.isoformat() if isinstance(value, date | datetime) else str(value).strip()


# Kept for callers that used the old private names.
_number = check_number
_decimal = check_decimal
