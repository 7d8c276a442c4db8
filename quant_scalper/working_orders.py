"""Which of a strategy's orders are working, and which are orphans: queries of Nautilus's cache.

Kept apart from the strategy's decisions: these answer "is an order of ours under way?" (one
order in flight at a time) and "which stop/limit orders are left with no position?" (children
adopted from IB after a crash between an exit's fill and their cancels).
"""

from __future__ import annotations

from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.enums import OrderStatus, OrderType
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId, StrategyId
from nautilus_trader.model.orders import Order


def has_working_orders(
    cache: Cache,
    strategy_id: StrategyId,
    instrument_id: InstrumentId,
    last_entry_id: ClientOrderId | None,
) -> bool:
    """True while an order of ours is open, in flight, or the last entry is still on its way
    to the venue (INITIALIZED until the client reports it submitted: live, the next bar can
    come first, and a second entry would double the position)."""
    if last_entry_id is not None:
        entry = cache.order(last_entry_id)
        if entry is not None and entry.status == OrderStatus.INITIALIZED:
            return True
    return (
        cache.orders_open_count(instrument_id=instrument_id, strategy_id=strategy_id) > 0
        or cache.orders_inflight_count(instrument_id=instrument_id, strategy_id=strategy_id) > 0
    )


def orphan_orders(
    cache: Cache, strategy_id: StrategyId, instrument_id: InstrumentId
) -> list[Order]:
    """Our working orders for the instrument while flat with no market order under way:
    stop/limit exits whose position is gone. At IB they would open a position nobody decided
    on. Orders already being cancelled are left out; call only while flat."""
    working = [
        *cache.orders_open(instrument_id=instrument_id, strategy_id=strategy_id),
        *cache.orders_inflight(instrument_id=instrument_id, strategy_id=strategy_id),
    ]
    if any(o.order_type == OrderType.MARKET for o in working):
        return []  # an entry or exit is being worked: its children are not orphans
    seen: set[ClientOrderId] = set()
    orphans = []
    for order in working:
        if order.client_order_id in seen or order.status == OrderStatus.PENDING_CANCEL:
            continue
        seen.add(order.client_order_id)
        orphans.append(order)
    return orphans


def uncancelled_orders(
    cache: Cache, strategy_id: StrategyId, instrument_id: InstrumentId
) -> list[Order]:
    """Our open orders for the instrument not yet asked to cancel: what an exit must cancel
    before it closes at market."""
    return [
        o
        for o in cache.orders_open(instrument_id=instrument_id, strategy_id=strategy_id)
        if o.status != OrderStatus.PENDING_CANCEL
    ]


def refused_child(cache: Cache, entry_id: ClientOrderId | None) -> Order | None:
    """The entry's stop or target that the venue refused (REJECTED/DENIED), if any: a
    position opened by that entry sits with one side unprotected."""
    entry = cache.order(entry_id) if entry_id is not None else None
    if entry is None or not entry.linked_order_ids:
        return None
    for child_id in entry.linked_order_ids:
        child = cache.order(child_id)
        if child is not None and child.status in (OrderStatus.REJECTED, OrderStatus.DENIED):
            return child
    return None
