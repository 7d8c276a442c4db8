"""What an order refusal from IB means and what to do about it: one line a trader can act on.

Pure: no Nautilus import. The strategy gets only the text of a refusal (``OrderRejected.reason``),
never IB's error code, so the problem is recognised from the words IB uses. What Nautilus
1.231's IB adapter turns into that reason (``client/error.py``, ``execution.py``):

- codes 201, 203, 321, 10289, 10293 (``ORDER_REJECTION_CODES``): OrderRejected with IB's message
  as the reason, e.g. 201 "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED ... MARGIN ...";
- an ``orderStatus`` of ``Inactive``: OrderRejected, reason "Order inactive (IB)" when no error
  text came with it; ``Cancelled``/``ApiCancelled``: OrderCanceled;
- every other code about an order (110 price increment, 163 price percentage constraint, 200 no
  security definition, 399 order queued until the open, ...): a log line only ("Unhandled order
  warning or error code", 200 even at DEBUG); the order stays SUBMITTED until IB sends a status.
  If IB never does, Nautilus's in-flight check (``inflight_check_interval_ms``/
  ``inflight_check_threshold_ms``, 5 queries) resolves it as rejected with reason "UNKNOWN".
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Refusal:
    """A recognised refusal: the problem in a word or two and what the trader should do."""

    problem: str
    action: str

    def line(self) -> str:
        """``<problem>: <action>`` (the text the strategy's log line carries)."""
        return f"{self.problem}: {self.action}"


MARGIN = Refusal("margin", "deposit funds or lower trade_size")
MARKET_CLOSED = Refusal(
    "market closed",
    "IB takes no orders for this contract now; check the session times in the config "
    "(session_halt, session_open, session_breaks); entries resume on a fresh signal",
)
PRICE_LIMITS = Refusal(
    "price limits",
    "the price is outside IB's or the exchange's limits (price band, percentage constraint, "
    "tick size); check stop_loss_usd_per_contract / take_profit_usd_per_contract and the "
    "contract's tick, or wait for the market to leave its limit",
)
CONTRACT_EXPIRED = Refusal(
    "contract expired or unknown at IB",
    "roll to the front month (instrument.contract_month / roll_offset_days) and restart the node",
)
NO_ANSWER = Refusal(
    "no answer from IB",
    "IB never acknowledged the order and Nautilus's in-flight check gave up; the adapter's "
    "log line just before names IB's code (200: contract expired/unknown, 110/163: price "
    "limits, 201: rejected)",
)
INACTIVE = Refusal(
    "inactive at IB",
    "IB holds the order as Inactive (often margin, permissions or trading hours): check the "
    "order in TWS, then resume on a fresh signal",
)

# First match wins: the most specific wording first (IB's margin text mentions "equity").
_PATTERNS: tuple[tuple[re.Pattern[str], Refusal], ...] = tuple(
    (re.compile(p, re.IGNORECASE), r)
    for p, r in (
        (r"margin|equity with loan|insufficient (funds|equity)|buying power", MARGIN),
        (r"no security definition|expired|contract .*not found|last trad", CONTRACT_EXPIRED),
        (
            r"trading is not allowed|not allowed to trade|trading hours|market (is )?closed|"
            r"exchange (is )?closed|outside .*(hours|session)|not open for trading",
            MARKET_CLOSED,
        ),
        (
            r"price .*(limit|band|range|constraint)|percentage constraint|"
            r"minimum price variation|does not conform|limit (up|down)|price cap",
            PRICE_LIMITS,
        ),
        (r"^order inactive \(ib\)$", INACTIVE),
        (r"^unknown$", NO_ANSWER),
    )
)


def explain_refusal(reason: str) -> Refusal | None:
    """The refusal behind an order's rejection reason, or None when the text is not one we know."""
    text = " ".join(reason.split())
    for pattern, refusal in _PATTERNS:
        if pattern.search(text):
            return refusal
    return None
