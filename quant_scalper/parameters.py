"""The one table of the strategy's and risk section's parameters: name, section, type, default.

Pure data (no Nautilus import), so the YAML schema, ``--set`` overrides, the sweep spec, the
pre-screen and the README's key list all read one definition. ``ZScoreMeanReversionConfig``
takes its defaults from here, and tests/test_parameters.py checks its fields against the table.
Cross-field rules (``entry_z > exit_z``, ``trade_size <= max_position_contracts``) and value
checks live in ``quant_scalper.config``'s validators, which read their defaults from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter: where it lives in the YAML, its type and default, and one line of help.

    ``yaml`` is False for fields the backtest or live node set per run (never in a config file).
    """

    name: str
    section: str  # "strategy" | "risk" | "node": which YAML section (node: set by the builder)
    kind: str  # "int", "float", "usd", "bool", "text", "clock", "list", "path", "timestamp"
    default: Any
    help: str
    yaml: bool = True

    @property
    def required(self) -> bool:
        """True when the YAML must give a value (no default)."""
        return self.default is _REQUIRED

    @property
    def key(self) -> str:
        """The dotted key, as ``--set`` and sweeps spell it."""
        return f"{self.section}.{self.name}"


PARAMETERS: tuple[Parameter, ...] = (
    # -- strategy ------------------------------------------------------------------------------
    Parameter("instrument_id", "strategy", "text", _REQUIRED, "contract traded, e.g. MESZ5.CME"),
    Parameter("bar_type", "strategy", "text", _REQUIRED, "bars the z-score is computed on"),
    Parameter("window", "strategy", "int", 20, "bar closes in the rolling mean and stdev (>= 2)"),
    Parameter("entry_z", "strategy", "float", 2.0, "enter when flat and |z| >= entry_z"),
    Parameter("exit_z", "strategy", "float", 0.5, "close when |z| <= exit_z (< entry_z)"),
    Parameter(
        "max_bar_gap_minutes",
        "strategy",
        "int",
        10,
        "a longer gap between bars restarts the warm-up (null: off)",
    ),
    Parameter("trade_size", "strategy", "int", 1, "contracts per entry"),
    Parameter("max_position_contracts", "strategy", "int", 2, "largest net position, either side"),
    Parameter(
        "stop_loss_usd_per_contract",
        "strategy",
        "usd",
        Decimal(200),
        "stop-loss distance, USD per contract",
    ),
    Parameter(
        "take_profit_usd_per_contract",
        "strategy",
        "usd",
        Decimal(300),
        "take-profit distance, USD per contract",
    ),
    Parameter(
        "subscribe_quote_ticks", "strategy", "bool", False, "price brackets off bid/ask (live)"
    ),
    Parameter("flatten_on_stop", "strategy", "bool", False, "flatten when the strategy stops"),
    # -- risk ----------------------------------------------------------------------------------
    Parameter(
        "daily_loss_limit_usd",
        "risk",
        "usd",
        Decimal(500),
        "realized + open P&L of the trading day at or below minus this: flatten, stop for the day",
    ),
    Parameter("max_consecutive_losses", "risk", "int", 3, "losers in a row that pause entries"),
    Parameter("pause_minutes", "risk", "int", 30, "length of that pause"),
    Parameter("max_holding_minutes", "risk", "int", 120, "close a position this old (null: off)"),
    Parameter("entry_guard_minutes", "risk", "int", 15, "no entries this close to a halt/break"),
    Parameter("flatten_before_halt", "risk", "bool", True, "close positions before the halt"),
    Parameter("session_halt", "risk", "clock", "16:00", "daily halt, exchange time"),
    Parameter("session_open", "risk", "clock", "17:00", "daily re-open: the trading day rolls"),
    Parameter("session_breaks", "risk", "list", (), "extra halts as 'HH:MM-HH:MM'"),
    Parameter("session_tz", "risk", "text", "America/Chicago", "time zone of the session times"),
    Parameter("session_always_open", "risk", "bool", False, "never halt (sandbox replays, tests)"),
    Parameter("state_dir", "risk", "path", None, "folder of the crash-safe risk state (live)"),
    Parameter(
        "fee_per_contract_usd",
        "risk",
        "usd",
        None,
        "fee booked for fills reported without commission (live default: the venue's 0.62)",
    ),
    # -- set by the backtest or live builder, never in YAML ------------------------------------
    Parameter("control_poll_secs", "node", "int", None, "kill/resume poll interval", yaml=False),
    Parameter("trade_until", "node", "timestamp", None, "contract's last bar (rolls)", yaml=False),
    Parameter("resync_secs", "node", "int", None, "connection guard hold", yaml=False),
    Parameter(
        "resync_position_sync",
        "node",
        "bool",
        False,
        "connection guard also waits for IB's position to match (live)",
        yaml=False,
    ),
)

BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}


def keys_of(section: str) -> tuple[str, ...]:
    """The YAML keys of one section, in table order."""
    return tuple(p.name for p in PARAMETERS if p.section == section and p.yaml)


def default(name: str) -> Any:
    """The default of a parameter (KeyError for a required one or an unknown name)."""
    parameter = BY_NAME[name]
    if parameter.required:
        raise KeyError(f"{name} has no default: the config must give it")
    return parameter.default


STRATEGY_KEYS: tuple[str, ...] = keys_of("strategy")
RISK_KEYS: tuple[str, ...] = keys_of("risk")


def value_of(given: Mapping[str, Any], name: str) -> Any:
    """A section's value for ``name`` as the strategy will see it: given, else the default."""
    return given[name] if name in given else default(name)


def strategy_fields(strategy: Mapping[str, Any], risk: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy config's fields from the YAML's ``strategy`` and ``risk`` sections: one
    builder for backtest and live (USD amounts as exact decimal text, session breaks a list)."""
    fields: dict[str, Any] = {}
    for name, value in {**strategy, **risk}.items():
        parameter = BY_NAME.get(name)
        is_usd = parameter is not None and parameter.kind == "usd"
        fields[name] = str(value) if is_usd and value is not None else value
    if "session_breaks" in fields:
        fields["session_breaks"] = list(fields["session_breaks"] or [])
    return fields


def markdown_table() -> str:
    """The README's key table (tests/test_parameters.py keeps README.md equal to it)."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for p in PARAMETERS:
        if not p.yaml:
            continue
        shown = "required" if p.required else ("null" if p.default is None else str(p.default))
        if p.default == ():
            shown = "[]"
        lines.append(f"| `{p.key}` | {p.kind} | {shown} | {p.help} |")
    return "\n".join(lines) + "\n"


SESSION_KEYS = ("session_halt", "session_open", "session_tz", "session_always_open")


def session_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The session-schedule keys a section sets (breaks as a list of text), for the actors that
    compute trading days the way the strategy does (journal recorder)."""
    fields = {key: values[key] for key in SESSION_KEYS if key in values}
    if values.get("session_breaks"):
        fields["session_breaks"] = [str(b) for b in values["session_breaks"]]
    return fields
