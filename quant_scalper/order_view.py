"""One Nautilus order as the node's snapshots show it (``status.json``, the journal's live
snapshot for the dashboard): plain strings, one definition for both."""

from __future__ import annotations

from typing import Any

from nautilus_trader.model.orders import Order


def order_view(order: Order) -> dict[str, Any]:
    """The order's identity, terms and status as JSON-ready text (None where it has none)."""
    price = getattr(order, "price", None)
    trigger = getattr(order, "trigger_price", None)
    return {
        "client_order_id": str(order.client_order_id),
        "venue_order_id": str(order.venue_order_id) if order.venue_order_id else None,
        "parent_order_id": str(order.parent_order_id) if order.parent_order_id else None,
        "instrument_id": str(order.instrument_id),
        "strategy_id": str(order.strategy_id),
        "side": order.side.name,
        "type": order.order_type.name,
        "quantity": str(order.quantity),
        "status": order.status.name,
        "price": str(price) if price is not None else None,
        "trigger_price": str(trigger) if trigger is not None else None,
    }
