"""The risk rules' data: limits, state, trips and decisions (plain dataclasses, no logic).

The rules themselves run in the Rust core (``rust_ext/src/risk.rs``) through
``quant_scalper.risk.core.RiskCore``; these types are what the strategy, the state file, the
reports and Telegram read and write. Pure: no Nautilus import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from quant_scalper.risk.session import RiskConfigError

MAX_TRIPS_KEPT = 500
"""How many trips ``RiskState.trips`` keeps (the newest); use ``on_trip`` to collect them all."""


MAX_BOOKED_KEPT = 10_000
"""How many booked-trade keys ``RiskState.booked_trades`` keeps (per trading day; reset at the
roll). Far above what one position at a time on 1-minute bars can close in a 23-hour session
(1,380): an evicted key would let a restart's replay of IB's executions book that trade again
(the soak did exactly that at 1,000, with ~1,070 round trips in one wall-clock trading day)."""


class Rule(StrEnum):
    """The name of the rule behind a trip or a blocked entry (stable: used in reports and JSON)."""

    DAILY_LOSS_LIMIT = "daily_loss_limit"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    MAX_HOLDING_TIME = "max_holding_time"
    SESSION_GUARD = "session_guard"
    KILL_SWITCH = "kill_switch"
    RESUME = "resume"
    DAY_ROLL = "day_roll"
    MANUAL_PAUSE = "manual_pause"
    STATE_UNWRITABLE = "state_unwritable"
    ORDER_REFUSED = "order_refused"  # a bracket child refused by the broker (live; not a core rule)
    POSITION_MISMATCH = "position_mismatch"  # IB's position differs after a reconnect (live alert)


@dataclass(frozen=True, slots=True)
class Trip:
    """One risk event: when, which rule, and why in words a trader can read in a report."""

    at: datetime
    rule: Rule
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may a new position be opened now?"; ``rule`` names the blocker, if any."""

    allowed: bool
    reason: str
    rule: Rule | None = None


def _require_int(value: object, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RiskConfigError(
            f"RiskLimits.{name} must be a whole number >= {minimum}, got {value!r}: "
            f"set {name} to an integer such as {max(minimum, 1)}",
        )


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The circuit-breaker settings; invalid values raise RiskConfigError naming the field.

    ``daily_loss_limit`` is a positive USD amount as Decimal (an int or a numeric string such as
    "500" is converted; a float is refused so no binary rounding reaches a money limit).
    ``max_holding_minutes=None`` disables the holding-time rule. With ``flatten_before_halt``
    the flatten window is ``entry_guard_minutes``, which must then be at least 1.
    """

    daily_loss_limit: Decimal = Decimal(500)
    max_consecutive_losses: int = 3
    pause_minutes: int = 30
    max_holding_minutes: int | None = 120
    entry_guard_minutes: int = 15
    flatten_before_halt: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "daily_loss_limit", self._parse_limit(self.daily_loss_limit))
        _require_int(self.max_consecutive_losses, "max_consecutive_losses", 1)
        _require_int(self.pause_minutes, "pause_minutes", 0)
        if self.max_holding_minutes is not None:
            _require_int(self.max_holding_minutes, "max_holding_minutes", 1)
        _require_int(self.entry_guard_minutes, "entry_guard_minutes", 0)
        if not isinstance(self.flatten_before_halt, bool):
            raise RiskConfigError(
                f"RiskLimits.flatten_before_halt must be true or false, "
                f"got {self.flatten_before_halt!r}",
            )
        if self.flatten_before_halt and self.entry_guard_minutes < 1:
            raise RiskConfigError(
                "RiskLimits.entry_guard_minutes must be >= 1 when flatten_before_halt is on: "
                "it is the window for flattening before the halt (e.g. 15), or turn "
                "flatten_before_halt off",
            )

    @staticmethod
    def _parse_limit(value: object) -> Decimal:
        fix = "write it as a positive whole or decimal USD amount, e.g. 500 or '500.00'"
        if isinstance(value, bool | float):
            raise RiskConfigError(
                f"RiskLimits.daily_loss_limit must not be a float/bool ({value!r}): {fix}",
            )
        if isinstance(value, int | str):
            try:
                value = Decimal(value)
            except ArithmeticError as exc:
                raise RiskConfigError(
                    f"RiskLimits.daily_loss_limit {value!r} is not a number: {fix}",
                ) from exc
        if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
            raise RiskConfigError(
                f"RiskLimits.daily_loss_limit must be a USD amount > 0, got {value!r}: {fix}",
            )
        return value


@dataclass(slots=True)
class RiskState:
    """What the breakers remember; persisted by ``state_store`` so it survives a restart.

    ``trading_day`` is None before the first event. ``realized_pnl`` is net of fees for the
    trading day; ``open_pnl`` is the latest mark of open positions. ``version`` increases on
    every durable change (not on an ``open_pnl`` mark alone: that is recomputed from the live
    position after a restart and would otherwise mean a disk write per bar).
    """

    trading_day: date | None = None
    realized_pnl: Decimal = Decimal(0)
    open_pnl: Decimal = Decimal(0)
    consecutive_losses: int = 0
    trades_today: int = 0
    paused_until: datetime | None = None
    daily_limit_hit: bool = False
    daily_limit_hit_at: datetime | None = None
    halted: bool = False
    halt_reason: str | None = None
    halted_at: datetime | None = None
    trips: list[Trip] = field(default_factory=list)
    version: int = 0
    booked_trades: list[str] = field(default_factory=list)
    """Keys of the trading day's trades booked with ``book_closed_trade`` (one per position
    cycle), so a trade seen again after a restart (reconciliation, cache reload) counts once."""

    @property
    def daily_pnl(self) -> Decimal:
        """Realized plus open P&L of the trading day, the figure the daily limit applies to."""
        return self.realized_pnl + self.open_pnl
