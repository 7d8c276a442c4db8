"""Z-score mean-reversion signal rules (run in the Rust core): no Nautilus imports.

The rules, for a z-score ``z`` of the latest close and the current position:

- flat and ``z >= +entry_z``: enter short (price stretched above its mean);
- flat and ``z <= -entry_z``: enter long;
- in a position and ``|z| <= exit_z``: exit (price reverted towards the mean);
- long and ``z >= +entry_z`` (or short and ``z <= -entry_z``), the opposite extreme: exit.
  It does NOT reverse on the same bar: a new entry needs a flat book, so the next bar may
  enter the other way if the extreme persists. One order in flight at a time keeps live
  order handling simple and safe.
- anything else: hold. A position that keeps stretching further against us is left to the
  bracket's stop loss.

The gap rule: a gap between consecutive bars longer than ``max_bar_gap_minutes`` (default
``DEFAULT_MAX_BAR_GAP_MINUTES`` = 10) restarts the z-score's warm-up at the bar after it. A
window spanning a halt, a weekend or a feed outage compares prices across the gap: the first
bar after it scores |z| near the largest the window allows, a stale window, not a signal. The
default sits between the longest quiet stretch inside a session in the bundled data (4 minutes
without a trade) and its shortest halt (the 15-minute 15:15-15:30 break, a 16-minute bar gap),
so every halt restarts the window and thin overnight minutes do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import Enum

from quant_scalper._core import signal_decision
from quant_scalper.parameters import default

DEFAULT_MAX_BAR_GAP_MINUTES: int = default("max_bar_gap_minutes")
NS_PER_MINUTE = 60_000_000_000


def gap_restarts(previous_ns: int | None, current_ns: int, max_gap_minutes: int | None) -> bool:
    """True when the time from the previous bar to this one exceeds the gap limit (None: off)."""
    if previous_ns is None or max_gap_minutes is None:
        return False
    return current_ns - previous_ns > max_gap_minutes * NS_PER_MINUTE


class Side(Enum):
    """Which way the book is positioned."""

    FLAT = "FLAT"
    LONG = "LONG"
    SHORT = "SHORT"


class Action(Enum):
    """What the strategy should do on this bar."""

    HOLD = "HOLD"
    ENTER_LONG = "ENTER_LONG"
    ENTER_SHORT = "ENTER_SHORT"
    EXIT = "EXIT"


_ACTIONS = {action.value: action for action in Action}


@dataclass(frozen=True, slots=True)
class SignalRules:
    """Entry and exit thresholds in standard deviations; ``entry_z`` must exceed ``exit_z``.

    The rules above run in the Rust core (``rust_ext/src/risk.rs`` ``SignalRules``), the same
    code the pre-screen runs; this class only names them for Python.
    """

    entry_z: float
    exit_z: float

    def __post_init__(self) -> None:
        signal_decision(self.entry_z, self.exit_z, None, Side.FLAT.value)  # validates

    def decide(self, z: float | None, side: Side) -> Action:
        """Return the action for z-score ``z`` (None while warming up) given the position."""
        return _ACTIONS[signal_decision(self.entry_z, self.exit_z, z, side.value)]


def usd_to_points(usd_per_contract: Decimal, multiplier: Decimal, tick_size: Decimal) -> Decimal:
    """Convert a per-contract dollar distance into price points rounded to the nearest tick.

    MES (multiplier 5, tick 0.25): $200 -> 40.00 points, $300 -> 60.00 points. Halves round up,
    and the result is at least one tick so a bracket leg never sits at the entry price.
    """
    if usd_per_contract <= 0:
        raise ValueError(f"a dollar distance per contract must be > 0, was {usd_per_contract}")
    if multiplier <= 0 or tick_size <= 0:
        raise ValueError("multiplier and tick_size must be > 0")
    ticks = (usd_per_contract / multiplier / tick_size).quantize(Decimal(1), ROUND_HALF_UP)
    return max(ticks, Decimal(1)) * tick_size
