"""The live YAML schema: loaded and validated before anything connects.

A live config reuses the backtest's ``strategy:``, ``risk:`` and ``risk_engine:`` sections (same
keys, same validators) and adds what a node on Interactive Brokers needs::

    trader_id: QS-PAPER-001        # also read by `quant-scalper kill/resume --config`
    ib:          host, port, client_id, account_id (${ENV_VAR} allowed), trading_mode, timeouts
    instrument:  roll_offset_days, contract_month (front month by expiry, or pinned)
    exec_engine: reconciliation_lookback_mins and periodic checks
    cache:       redis (optional; enables save_state/load_state)
    logging:     console and rotating file log
    node:        control_poll_secs, status_interval_secs, Nautilus timeouts
    telegram:    alerts and commands (optional; ``quant_scalper.telegram.settings``)
    journal:     the trade journal (url, password_env, buffer_rows, status_interval_secs)
    metrics:     Prometheus endpoint (port; off when unset) and health alert limits

Every error names the key (``ib.port``, ``strategy.bar_type``...) and says what to do.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from quant_scalper.config import (
    LOG_LEVELS,
    RISK_KEYS,
    STRATEGY_KEYS,
    EnvStr,
    RiskEngineSettings,
    apply_override,
    check_bool,
    check_dir_or_missing,
    check_int,
    check_keys,
    check_number,
    read_yaml,
    resolve_path,
    validate_risk_values,
    validate_strategy_values,
)
from quant_scalper.errors import ConfigError
from quant_scalper.live.errors import LiveConfigError

PAPER_PORTS = (4002, 7497)  # IB Gateway paper, TWS paper
LIVE_PORTS = (4001, 7496)  # IB Gateway live, TWS live
MARKET_DATA_TYPES = ("REALTIME", "FROZEN", "DELAYED", "DELAYED_FROZEN")
MAX_CLIENT_ID = 2**31 - 1 - 200  # a signed 32-bit int in the TWS API; data fetch adds 200
MAX_TIMEOUT_SECS = 86_400.0  # a day: any timeout above it is a typo
SUPPORTED_VENUE = "CME"  # IB_SIMPLIFIED symbology, no MIC conversion
# Bar specs IB can stream for a futures contract: 1-minute keepUpToDate historical bars
# (recommended, see README, Live trading) or 5-second real-time bars.
BAR_SPECS = {
    "1-MINUTE": "IB 1-minute bars (reqHistoricalData keepUpToDate)",
    "5-SECOND": "IB 5-second real-time bars (reqRealTimeBars)",
}
BAR_PRICE_TYPES = ("LAST", "BID", "ASK", "MID")


@dataclasses.dataclass(frozen=True)
class IBSettings:
    """Where and how to reach IB Gateway/TWS."""

    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 1
    account_id: str = ""
    trading_mode: str = "paper"
    probe_timeout_secs: float = 5.0
    connection_timeout_secs: int = 120
    request_timeout_secs: int = 60
    build_timeout_secs: int = 90
    market_data_type: str = "REALTIME"

    @property
    def is_live(self) -> bool:
        """True when this config trades real money."""
        return self.trading_mode == "live"


@dataclasses.dataclass(frozen=True)
class InstrumentSettings:
    """Which contract month: front month by expiry (with a roll offset) or a pinned month."""

    roll_offset_days: int = 8
    contract_month: str | None = None  # "YYYY-MM"


@dataclasses.dataclass(frozen=True)
class ExecEngineSettings:
    """``LiveExecEngineConfig`` values (reconciliation is always on)."""

    reconciliation_lookback_mins: int = 1440
    open_check_interval_secs: float | None = 10.0
    position_check_interval_secs: float | None = 10.0
    inflight_check_interval_ms: int = 2000
    inflight_check_threshold_ms: int = 5000
    # Nautilus's purge of closed orders/positions and old account events from the in-memory
    # cache (never from Redis): without it the node's memory grows with every order (about
    # 9 KB each, measured by the soak). None turns a purge off.
    purge_interval_mins: int | None = 15
    purge_buffer_mins: int = 120


@dataclasses.dataclass(frozen=True)
class RedisSettings:
    """The optional Redis cache database (Redis >= 6.2)."""

    host: str = "127.0.0.1"
    port: int = 6379
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    timeout_secs: float = 5.0  # the connect + AUTH + PING probe before the node is built


@dataclasses.dataclass(frozen=True)
class LoggingSettings:
    """Console level plus a size-rotated log file."""

    level: str = "INFO"
    file_level: str = "INFO"
    directory: Path | None = None
    file_name: str | None = None  # default: quant-scalper-<trader_id>
    max_file_mb: int = 50
    backup_count: int = 10
    colors: bool = False


@dataclasses.dataclass(frozen=True)
class NodeSettings:
    """Node-level knobs: control polling, the status file, Nautilus timeouts (seconds)."""

    control_poll_secs: int = 1
    status_interval_secs: float = 5.0
    timeout_connection: float = 120.0
    timeout_reconciliation: float = 60.0
    timeout_portfolio: float = 30.0
    timeout_disconnection: float = 10.0
    timeout_post_stop: float = 5.0
    stop_timeout_secs: float = 10.0  # after SIGTERM/SIGINT the process ends within this, always
    resync_secs: int | None = None  # hold after a reconnect; None: 2 x position check + 5 s


@dataclasses.dataclass(frozen=True)
class JournalSettings:
    """The trade journal: where (file or URL), its password variable and the writer's knobs."""

    url: str | None = None  # default: <state_dir>/<trader_id>/journal.sqlite
    password_env: str | None = None  # the environment variable with the database password
    buffer_rows: int = 100_000  # rows kept while the database is down
    status_interval_secs: float = 5.0  # how often the node_status snapshot is upserted
    enabled: bool = True


@dataclasses.dataclass(frozen=True)
class MetricsSettings:
    """The health actor (``live.health``): /metrics endpoint (off when ``port`` is null) and
    alert limits."""

    port: int | None = None
    host: str = "127.0.0.1"
    signal_budget_ms: float = 1.0  # alert: decision->submit p99 over the last alert_window
    alert_window: int = 100
    loop_lag_limit_ms: float = 250.0
    rss_growth_limit_pct: float = 20.0  # since the end of warm-up
    warmup_secs: float = 300.0
    tracemalloc: bool = False


@dataclasses.dataclass(frozen=True)
class LiveSettings:
    """A validated live config."""

    config_path: Path
    trader_id: str
    ib: IBSettings
    instrument: InstrumentSettings
    strategy: Mapping[str, Any]
    risk: Mapping[str, Any]
    risk_engine: RiskEngineSettings
    exec_engine: ExecEngineSettings
    redis: RedisSettings | None
    logging: LoggingSettings
    node: NodeSettings
    telegram: Any = None  # ImportableActorConfig of the Telegram actor, None when off/absent
    journal: JournalSettings = dataclasses.field(default_factory=lambda: JournalSettings())
    metrics: MetricsSettings = MetricsSettings()

    @property
    def state_dir(self) -> Path:
        """The risk state and control folder (``risk.state_dir``, required live)."""
        return Path(str(self.risk["state_dir"]))


_SECTIONS: dict[str, Any] = {
    "trader_id": str,
    "ib": IBSettings,
    "instrument": InstrumentSettings,
    "strategy": STRATEGY_KEYS,
    "risk": RISK_KEYS,
    "risk_engine": RiskEngineSettings,
    "exec_engine": ExecEngineSettings,
    "cache": ("redis",),
    "logging": LoggingSettings,
    "node": NodeSettings,
    "telegram": None,  # keys checked by telegram_actor_config
    "journal": JournalSettings,
    "metrics": MetricsSettings,
}


def load_live_settings(path: Path | str, overrides: Sequence[str] = ()) -> LiveSettings:
    """Read a live YAML file, apply ``--set`` overrides and validate every section."""
    config_path = Path(path).expanduser().resolve()
    raw = read_yaml(config_path)
    for item in overrides:
        apply_override(raw, item)
    return live_settings_from_mapping(raw, config_path)


def live_settings_from_mapping(raw: Mapping[str, Any], config_path: Path) -> LiveSettings:
    """Validate a live config mapping; relative paths are taken from the config's folder."""
    base_dir = config_path.parent
    check_keys("the live config", raw, _SECTIONS)
    for required in ("trader_id", "ib", "strategy", "risk"):
        if raw.get(required) is None:
            raise LiveConfigError(
                f"the live config has no '{required}' section: add it (see configs/live.paper.yaml)"
            )
    trader_id = _trader_id(raw["trader_id"])
    ib = _ib(_section(raw, "ib"))
    instrument = _dataclass(InstrumentSettings, "instrument", _section(raw, "instrument"))
    _check_instrument(instrument)
    strategy = _strategy(_section(raw, "strategy"), instrument)
    risk = _risk(_section(raw, "risk"), base_dir)
    engine_raw = _section(raw, "risk_engine")
    check_keys(
        "risk_engine", engine_raw, {f.name: None for f in dataclasses.fields(RiskEngineSettings)}
    )
    exec_engine = _dataclass(ExecEngineSettings, "exec_engine", _section(raw, "exec_engine"))
    _check_exec_engine(exec_engine)
    logging = _logging(_section(raw, "logging"), base_dir)
    node = _dataclass(NodeSettings, "node", _section(raw, "node"))
    _check_node(node)
    telegram = _telegram(raw.get("telegram"), base_dir, risk)
    journal = _journal(_section(raw, "journal"), base_dir, trader_id, risk)
    return LiveSettings(
        config_path=config_path,
        trader_id=trader_id,
        ib=ib,
        instrument=instrument,
        strategy=strategy,
        risk=risk,
        risk_engine=RiskEngineSettings(**engine_raw),
        exec_engine=exec_engine,
        redis=_redis(_section(raw, "cache")),
        logging=logging,
        node=node,
        telegram=telegram,
        journal=journal,
        metrics=_metrics(_section(raw, "metrics")),
    )


def mask_account(account_id: str) -> str:
    """An account id safe for logs and terminals: ``DU1234567`` -> ``DU*****67``."""
    if len(account_id) <= 4:
        return "*" * len(account_id)
    return account_id[:2] + "*" * (len(account_id) - 4) + account_id[-2:]


# -- sections ---------------------------------------------------------------------------------


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise LiveConfigError(f"'{name}' must be a mapping of settings, was {value!r}")
    return value


def _dataclass(cls: type, where: str, values: Mapping[str, Any]) -> Any:
    """Build a settings dataclass, each value checked against its field's type (whole numbers,
    finite numbers, real booleans, text); ``${ENV}`` text becomes a number where one is due."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    check_keys(where, values, fields)
    checked: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{where}.{key}"
        default = fields[key].default
        kind = str(fields[key].type)
        if isinstance(value, EnvStr) and isinstance(default, int | float | None):
            value = _env_number(name, value, kind)
        if value is None:
            if "None" not in kind:
                raise LiveConfigError(f"{name} must be set, was null")
        elif isinstance(default, bool) or kind.startswith("bool"):
            check_bool(name, value)
        elif kind.startswith("int"):
            check_int(name, value)
        elif kind.startswith("float"):
            value = check_number(name, value)
        elif kind.startswith("str") and not isinstance(value, str):
            raise LiveConfigError(f"{name} must be text, was {value!r}")
        checked[key] = value
    return cls(**checked)


def _env_number(name: str, value: EnvStr, kind: str) -> Any:
    """A number from a ``${ENV}`` value (``port: ${IB_PORT}``); the value is never echoed."""
    if not (kind.startswith("int") or kind.startswith("float")):
        return value
    text = str(value).strip()
    try:
        return int(text) if kind.startswith("int") else float(text)
    except ValueError:
        raise LiveConfigError(
            f"{name} must be a {'whole ' if kind.startswith('int') else ''}number, but "
            f"{value.template} is not one: fix the environment variable"
        ) from None


def _journal(
    values: Mapping[str, Any], base_dir: Path, trader_id: str, risk: Mapping[str, Any]
) -> JournalSettings:
    """The ``journal:`` section; the URL defaults to ``<state_dir>/<trader_id>/journal.sqlite``
    and must not carry a password (``password_env`` names the variable that does)."""
    from quant_scalper.journal.db import journal_url
    from quant_scalper.journal.errors import JournalConfigError

    raw = dict(values)
    for key in ("url", "password_env"):
        if raw.get(key) is not None:
            raw[key] = str(raw[key])
    journal = _dataclass(JournalSettings, "journal", raw)
    if journal.buffer_rows < 100:
        raise LiveConfigError(
            f"journal.buffer_rows must be at least 100 (rows kept while the database is "
            f"down), was {journal.buffer_rows}"
        )
    if not 0.5 <= journal.status_interval_secs <= 3600:
        raise LiveConfigError(
            "journal.status_interval_secs must be 0.5-3600 seconds, was "
            f"{journal.status_interval_secs}"
        )
    if journal.password_env is not None and not re.fullmatch(
        r"[A-Za-z_][A-Za-z0-9_]*", journal.password_env
    ):
        raise LiveConfigError(
            "journal.password_env must name an environment variable like QS_JOURNAL_PASSWORD "
            "(letters, digits, underscores), never the password itself (value not shown)"
        )
    url = journal.url
    if url is None:
        url = str(Path(str(risk["state_dir"])) / trader_id / "journal.sqlite")
    elif "://" not in url:
        url = str(resolve_path(url, base_dir))
    try:
        journal_url(url)  # scheme and "no password in the URL"; the variable is read at start
    except JournalConfigError as exc:
        raise LiveConfigError(str(exc)) from None
    return dataclasses.replace(journal, url=url)


def _trader_id(value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*-[A-Za-z0-9_]+", text):
        raise LiveConfigError(
            f"trader_id must look like NAME-TAG (letters, digits, a dash), e.g. QS-PAPER-001, "
            f"was {value!r}"
        )
    return text


def _ib(values: Mapping[str, Any]) -> IBSettings:
    raw = dict(values)
    for key in ("host", "account_id", "trading_mode", "market_data_type"):
        if key in raw and raw[key] is not None:
            raw[key] = str(raw[key])
    ib = _dataclass(IBSettings, "ib", raw)
    if not ib.host:
        raise LiveConfigError("ib.host is empty: set the IB Gateway host, e.g. 127.0.0.1")
    if not 0 < ib.port < 65536:
        raise LiveConfigError(f"ib.port must be a TCP port 1-65535, was {ib.port}")
    if not 0 <= ib.client_id <= MAX_CLIENT_ID:
        raise LiveConfigError(
            f"ib.client_id must be 0-{MAX_CLIENT_ID} (the TWS API's 32-bit client id; "
            f"flatten adds 100, data fetch 200), was {ib.client_id}"
        )
    if not re.fullmatch(r"[A-Z]{1,3}\d{4,10}", ib.account_id or "", flags=re.ASCII):
        raise LiveConfigError(
            "ib.account_id must be an IB account number like DU1234567 (paper) or U1234567; "
            "keep it out of the file: account_id: ${IB_ACCOUNT_ID} and export IB_ACCOUNT_ID"
        )
    if ib.trading_mode not in ("paper", "live"):
        raise LiveConfigError(f"ib.trading_mode must be 'paper' or 'live', was {ib.trading_mode!r}")
    if ib.trading_mode == "paper" and ib.port in LIVE_PORTS:
        raise LiveConfigError(
            f"ib.port {ib.port} is a LIVE trading port (IB Gateway 4001, TWS 7496) but "
            "ib.trading_mode is 'paper': use 4002 (Gateway) or 7497 (TWS) for paper"
        )
    if ib.trading_mode == "live" and ib.port in PAPER_PORTS:
        raise LiveConfigError(
            f"ib.port {ib.port} is a paper trading port but ib.trading_mode is 'live': use "
            "4001 (Gateway) or 7496 (TWS), or set trading_mode: paper"
        )
    if ib.market_data_type not in MARKET_DATA_TYPES:
        raise LiveConfigError(
            f"ib.market_data_type must be one of {', '.join(MARKET_DATA_TYPES)}, "
            f"was {ib.market_data_type!r}"
        )
    for key in (
        "probe_timeout_secs",
        "connection_timeout_secs",
        "request_timeout_secs",
        "build_timeout_secs",
    ):
        _timeout(f"ib.{key}", getattr(ib, key))
    return ib


def _check_instrument(instrument: InstrumentSettings) -> None:
    if not 0 <= instrument.roll_offset_days <= 60:
        raise LiveConfigError(
            f"instrument.roll_offset_days must be 0-60 days, was {instrument.roll_offset_days}"
        )
    month = instrument.contract_month
    if month is not None and not re.fullmatch(r"\d{4}-(03|06|09|12)", str(month), flags=re.ASCII):
        raise LiveConfigError(
            f"instrument.contract_month must be a quarterly month like 2026-12 "
            f"(March, June, September, December), was {month!r}"
        )


def _strategy(values: Mapping[str, Any], instrument: InstrumentSettings) -> dict[str, Any]:
    check_keys("strategy", values, dict.fromkeys(STRATEGY_KEYS))
    for required in ("instrument_id", "bar_type"):
        if required not in values:
            raise LiveConfigError(
                f"strategy.{required} is missing: add it (e.g. see configs/live.paper.yaml)"
            )
    validate_strategy_values(values)
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.enums import AggregationSource
    from nautilus_trader.model.identifiers import InstrumentId

    from quant_scalper.instruments import SPECS

    text = str(values["instrument_id"])
    try:
        instrument_id = InstrumentId.from_str(text)
    except ValueError as exc:
        raise LiveConfigError(
            f"strategy.instrument_id {text!r} is not an instrument id like MES.CME (front month) "
            "or MESZ6.CME (one contract)"
        ) from exc
    if instrument_id.venue.value != SUPPORTED_VENUE:
        raise LiveConfigError(
            f"strategy.instrument_id {text!r}: the venue must be {SUPPORTED_VENUE} (IB's "
            "exchange in the adapter's IB_SIMPLIFIED symbology), e.g. MES.CME"
        )
    symbol = instrument_id.symbol.value
    if symbol in SPECS:
        pass
    elif re.fullmatch(r"(MES|ES)[HMUZ]\d", symbol):
        if instrument.contract_month is not None:
            raise LiveConfigError(
                f"strategy.instrument_id {text!r} already names a contract: remove "
                "instrument.contract_month or use the root (MES.CME)"
            )
    else:
        raise LiveConfigError(
            f"strategy.instrument_id {text!r} must be a root ({', '.join(SPECS)}) with venue CME "
            "or one contract like MESZ6.CME (IB localSymbol, one-digit year)"
        )
    bar_text = str(values["bar_type"])
    try:
        bar_type = BarType.from_str(bar_text)
    except ValueError as exc:
        raise LiveConfigError(
            f"strategy.bar_type {bar_text!r} is not a bar type like MES.CME-1-MINUTE-LAST-EXTERNAL"
        ) from exc
    if bar_type.instrument_id != instrument_id:
        raise LiveConfigError(
            f"strategy.bar_type {bar_text} is for {bar_type.instrument_id}, not for "
            f"strategy.instrument_id {instrument_id}: make them name the same instrument"
        )
    spec = bar_type.spec
    step_spec = str(spec).rsplit("-", 1)[0]
    price_type = str(spec).rsplit("-", 1)[1]
    if bar_type.aggregation_source != AggregationSource.EXTERNAL or step_spec not in BAR_SPECS:
        raise LiveConfigError(
            f"strategy.bar_type {bar_text}: live bars come from IB, so use "
            f"{instrument_id}-1-MINUTE-LAST-EXTERNAL (IB's 1-minute bars, recommended) or "
            f"{instrument_id}-5-SECOND-LAST-EXTERNAL (IB's 5-second real-time bars)"
        )
    if price_type not in BAR_PRICE_TYPES:
        raise LiveConfigError(
            f"strategy.bar_type {bar_text}: price type must be one of {', '.join(BAR_PRICE_TYPES)}"
        )
    strategy = dict(values)
    strategy.setdefault("subscribe_quote_ticks", True)
    return strategy


def _risk(values: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    check_keys("risk", values, dict.fromkeys(RISK_KEYS))
    try:
        validate_risk_values(values)
    except LiveConfigError:
        raise
    except ConfigError as exc:
        raise LiveConfigError(str(exc)) from exc
    if not values.get("state_dir"):
        raise LiveConfigError(
            "risk.state_dir is required live: the crash-safe risk state and the kill/resume "
            "control folder live there (e.g. state_dir: ../state)"
        )
    risk = dict(values)
    state_dir = resolve_path(values["state_dir"], base_dir)
    try:
        check_dir_or_missing("risk.state_dir", state_dir)
    except ConfigError as exc:
        raise LiveConfigError(str(exc)) from exc
    risk["state_dir"] = str(state_dir)
    return risk


def _telegram(section: Any, base_dir: Path, risk: Mapping[str, Any]) -> Any:
    from quant_scalper.telegram.settings import telegram_actor_config

    if section is not None and not isinstance(section, Mapping):
        raise LiveConfigError(f"'telegram' must be a mapping of settings, was {section!r}")
    try:
        return telegram_actor_config(section, base_dir, risk)
    except LiveConfigError:
        raise
    except ConfigError as exc:  # TelegramConfigError or an unknown key
        raise LiveConfigError(str(exc)) from exc


def _check_exec_engine(engine: ExecEngineSettings) -> None:
    if engine.reconciliation_lookback_mins < 60:
        raise LiveConfigError(
            "exec_engine.reconciliation_lookback_mins must cover the trading day (>= 60; "
            f"1440 recommended), was {engine.reconciliation_lookback_mins}"
        )
    for key in ("open_check_interval_secs", "position_check_interval_secs"):
        value = getattr(engine, key)
        if value is not None:
            _timeout(f"exec_engine.{key}", value)
    for key in ("inflight_check_interval_ms", "inflight_check_threshold_ms"):
        if not 0 < getattr(engine, key) <= 86_400_000:
            raise LiveConfigError(
                f"exec_engine.{key} must be 1-86400000 ms, was {getattr(engine, key)}"
            )
    if engine.purge_interval_mins is not None and not 1 <= engine.purge_interval_mins <= 1440:
        raise LiveConfigError(
            "exec_engine.purge_interval_mins must be 1-1440 minutes (null: never purge the "
            f"cache), was {engine.purge_interval_mins}"
        )
    if not 1 <= engine.purge_buffer_mins <= 60 * 24 * 7:
        raise LiveConfigError(
            "exec_engine.purge_buffer_mins must be 1-10080 minutes (120 recommended: longer "
            "than Nautilus's 60-minute position-check lookback), was "
            f"{engine.purge_buffer_mins}"
        )
    if engine.reconciliation_lookback_mins > 60 * 24 * 30:
        raise LiveConfigError(
            "exec_engine.reconciliation_lookback_mins must be at most 30 days, was "
            f"{engine.reconciliation_lookback_mins}"
        )


def _redis(cache: Mapping[str, Any]) -> RedisSettings | None:
    check_keys("cache", cache, {"redis": None})
    redis = cache.get("redis")
    if redis is None:
        return None
    if not isinstance(redis, Mapping):
        raise LiveConfigError("cache.redis must be a mapping (host, port, ...) or null")
    settings = _dataclass(RedisSettings, "cache.redis", redis)
    if not 0 < settings.port < 65536:
        raise LiveConfigError(f"cache.redis.port must be a TCP port 1-65535, was {settings.port}")
    if not settings.host:
        raise LiveConfigError("cache.redis.host is empty: set the Redis host, e.g. 127.0.0.1")
    _timeout("cache.redis.timeout_secs", settings.timeout_secs)
    return settings


def _logging(values: Mapping[str, Any], base_dir: Path) -> LoggingSettings:
    raw = dict(values)
    for key in ("level", "file_level"):
        if key in raw:
            raw[key] = str(raw[key]).upper()
            if raw[key] not in LOG_LEVELS:
                raise LiveConfigError(
                    f"logging.{key} must be one of {', '.join(LOG_LEVELS)}, was {values[key]!r}"
                )
    if raw.get("directory") is not None:
        raw["directory"] = resolve_path(raw["directory"], base_dir)
    settings = _dataclass(LoggingSettings, "logging", raw)
    if settings.directory is not None:
        check_dir_or_missing("logging.directory", settings.directory)
    if settings.max_file_mb <= 0 or settings.backup_count < 0 or settings.max_file_mb > 10_000:
        raise LiveConfigError("logging.max_file_mb must be > 0 and logging.backup_count >= 0")
    return settings


def _metrics(values: Mapping[str, Any]) -> MetricsSettings:
    settings = _dataclass(MetricsSettings, "metrics", values)
    if settings.port is not None and not 0 < settings.port < 65536:
        raise LiveConfigError(
            f"metrics.port must be a TCP port 1-65535 or null, was {settings.port}"
        )
    if not settings.host:
        raise LiveConfigError("metrics.host is empty: use 127.0.0.1 (the default)")
    for key in ("signal_budget_ms", "loop_lag_limit_ms", "rss_growth_limit_pct", "warmup_secs"):
        check_number(f"metrics.{key}", getattr(settings, key), positive=True)
    if settings.alert_window <= 0:
        raise LiveConfigError(f"metrics.alert_window must be > 0, was {settings.alert_window}")
    return settings


def _timeout(key: str, value: float) -> None:
    """A timeout: a finite number of seconds > 0 (and at most a day)."""
    seconds = check_number(key, value, positive=True)
    if seconds > MAX_TIMEOUT_SECS:
        raise LiveConfigError(f"{key} must be at most {MAX_TIMEOUT_SECS:g} s, was {value}")


def _check_node(node: NodeSettings) -> None:
    for key in (
        "status_interval_secs",
        "timeout_connection",
        "timeout_reconciliation",
        "timeout_portfolio",
        "timeout_disconnection",
        "timeout_post_stop",
        "stop_timeout_secs",
    ):
        _timeout(f"node.{key}", getattr(node, key))
    if node.control_poll_secs <= 0:
        raise LiveConfigError(f"node.control_poll_secs must be > 0, was {node.control_poll_secs}")
    if node.resync_secs is not None and node.resync_secs <= 0:
        raise LiveConfigError(
            f"node.resync_secs must be > 0 or null (2 x position check + 5 s), was "
            f"{node.resync_secs}"
        )
    if node.status_interval_secs <= 0:
        raise LiveConfigError(
            f"node.status_interval_secs must be > 0, was {node.status_interval_secs}"
        )
