"""Closed trades as the risk state books them: a stable key, the close time and P&L net of fees.

A trade can reach the strategy more than once (live, then again from reconciliation or the
cache after a restart) or only at a restart (it closed while the node was down). The strategy
turns every closed position it sees into a ``ClosedTrade`` and books it through
``RiskCore.book_closed_trade``, which counts each key once per trading day.

Fees: Nautilus 1.231 gives fills it infers during reconciliation a commission of 0, and a fill
found by the position check (a close made outside the node, e.g. by ``quant-scalper flatten``)
is priced at the last quote. ``net_pnl`` charges the configured per-contract fee for every fill
with no commission, and ``ExternalFill`` (a fill the flatten command recorded) replaces an
inferred close's price and fee with the real ones. No Nautilus imports.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal


def execution_key(exec_id: str, at: datetime) -> str:
    """The booking key of a trade closed by a real execution: its id and time (the time keeps
    ids that a simulated venue reuses after a restart apart; IB's are unique anyway)."""
    return f"{exec_id}@{at.astimezone(UTC).isoformat()}"


@dataclass(frozen=True, slots=True)
class FillLeg:
    """One fill of a position: quantity (unsigned), price, side and the commission booked."""

    quantity: Decimal
    price: Decimal
    buy: bool
    commission: Decimal
    order_id: str = ""


@dataclass(frozen=True, slots=True)
class ExternalFill:
    """A real execution made outside the node (``quant-scalper flatten``), from its journal."""

    exec_id: str
    symbol: str
    buy: bool
    quantity: Decimal
    price: Decimal
    commission: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A closed position cycle as the strategy saw it in Nautilus's cache.

    ``key`` is stable across restarts (position id with its opening and closing order ids),
    ``realized_pnl`` is Nautilus's (net of the commissions it booked), ``multiplier`` the
    contract's, ``fills`` every fill in order.
    """

    key: str
    symbol: str
    closed_at: datetime
    realized_pnl: Decimal
    multiplier: Decimal
    fills: tuple[FillLeg, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Booking:
    """What to book for a trade and how it was derived (for the log)."""

    key: str
    closed_at: datetime
    pnl_net: Decimal
    notes: tuple[str, ...]
    closing: str = ""  # "<symbol>|<BUY or SELL>|<quantity>" of the closing fill


INFERRED_MATCH_WINDOW = timedelta(hours=1)
"""How long after a real execution Nautilus's position check may infer the same close."""


def inferred_key(symbol: str, buy: bool, quantity: Decimal, at: datetime) -> str:
    """The booking key of a close Nautilus inferred (no real execution id known yet)."""
    return f"inferred|{symbol}|{'BUY' if buy else 'SELL'}|{quantity}|{at.isoformat()}"


def booked_as_inferred(booking: Booking, booked: Sequence[str]) -> str | None:
    """The inferred close already booked for ``booking``'s real execution, or None.

    A close the node did not see itself (its own fill missed in an outage, or a flatten whose
    record came late) is booked live as inferred; the next start finds its real execution in
    the replay. Same symbol, side and quantity, inferred within ``INFERRED_MATCH_WINDOW``
    after the execution: the same trade, not booked again.
    """
    for key in booked:
        parts = key.split("|")
        if len(parts) != 5 or parts[0] != "inferred" or "|".join(parts[1:4]) != booking.closing:
            continue
        at = datetime.fromisoformat(parts[4])
        if timedelta(0) <= at - booking.closed_at <= INFERRED_MATCH_WINDOW:
            return key
    return None


def booking_for(
    trade: ClosedTrade,
    fee_per_contract: Decimal | None,
    external: ExternalFill | None = None,
) -> Booking:
    """The net P&L to book for ``trade``.

    With ``fee_per_contract``, each fill with no commission (inferred by reconciliation) is
    charged ``quantity x fee_per_contract``. With ``external``, the last fill (the inferred
    close) is re-priced at the real execution's price and charged its real commission.
    """
    pnl = trade.realized_pnl
    notes: list[str] = []
    last = trade.fills[-1] if trade.fills else None
    if external is not None and last is not None:
        sign = Decimal(1) if not last.buy else Decimal(-1)  # selling higher is a gain
        correction = sign * (external.price - last.price) * last.quantity * trade.multiplier
        pnl += correction - external.commission + last.commission
        notes.append(
            f"close priced at the real fill {external.price} (exec {external.exec_id}, fee "
            f"{external.commission}) instead of the inferred {last.price}",
        )
    if fee_per_contract is not None:
        legs = trade.fills[:-1] if external is not None else trade.fills
        missing = [leg for leg in legs if leg.commission == 0]
        if missing:
            contracts = sum((leg.quantity for leg in missing), Decimal(0))
            fee = contracts * fee_per_contract
            pnl -= fee
            notes.append(
                f"{len(missing)} fill(s) without a commission (inferred at reconciliation): "
                f"charged the configured {fee_per_contract} USD x {contracts} = {fee} USD",
            )
    key = trade.key
    if external is not None:
        key = execution_key(external.exec_id, external.at)
    elif last is not None and last.commission == 0 and fee_per_contract is not None:
        key = inferred_key(trade.symbol, last.buy, last.quantity, trade.closed_at)
    closing = "" if last is None else _closing(trade.symbol, last.buy, last.quantity)
    return Booking(
        key=key, closed_at=trade.closed_at, pnl_net=pnl, notes=tuple(notes), closing=closing
    )


def _closing(symbol: str, buy: bool, quantity: Decimal) -> str:
    return f"{symbol}|{'BUY' if buy else 'SELL'}|{quantity}"


def match_external(
    trade: ClosedTrade, journal: list[ExternalFill], booked: Collection[str] = ()
) -> ExternalFill | None:
    """The journal fill that closed ``trade`` (same symbol, side and quantity as its last fill,
    which has no commission: inferred), not booked yet, newest first; or None."""
    if not trade.fills:
        return None
    last = trade.fills[-1]
    if last.commission != 0:
        return None  # a real execution the node saw itself
    for fill in sorted(journal, key=lambda f: f.at, reverse=True):
        if (
            execution_key(fill.exec_id, fill.at) not in booked
            and fill.symbol == trade.symbol
            and fill.buy == last.buy
            and fill.quantity == last.quantity
        ):
            return fill
    return None


def round_trips(
    fills: Sequence[ExternalFill], end_position: Decimal, multiplier: Decimal
) -> tuple[list[Booking], list[str]]:
    """Replay one contract's executions (any order; duplicates by exec id dropped) into closed
    round trips, each keyed by its closing execution's id and net of every fee on the way.

    ``end_position`` is the signed position now (after the last fill): the position before the
    first fill is derived from it. A cycle already open before the first fill has no known
    opening price: it is not booked, and the second list says so (for the log).
    """
    unique = {f.exec_id: f for f in fills}
    ordered = sorted(unique.values(), key=lambda f: (f.at, f.exec_id))
    signed = [f.quantity if f.buy else -f.quantity for f in ordered]
    position = end_position - sum(signed, Decimal(0))
    notes: list[str] = []
    unknown_open = position != 0
    if unknown_open:
        notes.append(
            f"a position of {position} was open before the first execution replayed: its close "
            "is not booked from the replay (its opening price is unknown)",
        )
    avg = Decimal(0)
    realized = Decimal(0)
    fees = Decimal(0)
    bookings: list[Booking] = []
    for fill, qty in zip(ordered, signed, strict=True):
        fees += fill.commission
        if position == 0 or (position > 0) == (qty > 0):
            total = position + qty
            avg = (avg * abs(position) + fill.price * abs(qty)) / abs(total)
            position = total
            continue
        closing = min(abs(position), abs(qty))
        direction = Decimal(1) if position > 0 else Decimal(-1)
        realized += direction * closing * (fill.price - avg) * multiplier
        position += qty
        if position == 0 or (position > 0) != (direction > 0):
            if not unknown_open:
                bookings.append(
                    Booking(
                        key=execution_key(fill.exec_id, fill.at),
                        closed_at=fill.at,
                        pnl_net=realized - fees,
                        notes=(f"replayed from executions, fees {fees} USD",),
                        closing=_closing(fill.symbol, fill.buy, fill.quantity),
                    )
                )
            unknown_open = False
            realized = Decimal(0)
            fees = Decimal(0)
            avg = fill.price if position != 0 else Decimal(0)
    return bookings, notes
