"""Nautilus glue for ``risk.bookkeeping``: closed positions in the cache as ``ClosedTrade``s.

The strategy books every closed position of its own, live (``on_position_closed``) and at
start (positions closed while the node was down reach the cache by reconciliation or the cache
database before the strategy runs, and their events are never delivered to it). Keys make the
second sighting of a trade a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, StrategyId
from nautilus_trader.model.position import Position

from quant_scalper.risk.bookkeeping import ClosedTrade, FillLeg

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def trade_key(position: Position) -> str:
    """A key stable across restarts: the position id with its opening and closing order ids
    (IB returns the client order ids in ``orderRef``; reconciliation rebuilds the same ones)."""
    return f"{position.id}:{position.opening_order_id}:{position.closing_order_id}"


def closed_trade(position: Position) -> ClosedTrade:
    """The ``ClosedTrade`` of a closed position."""
    fills = tuple(
        FillLeg(
            quantity=fill.last_qty.as_decimal(),
            price=fill.last_px.as_decimal(),
            buy=fill.order_side == OrderSide.BUY,
            commission=fill.commission.as_decimal() if fill.commission is not None else Decimal(0),
            order_id=str(fill.client_order_id),
        )
        for fill in position.events
        if isinstance(fill, OrderFilled)
    )
    return ClosedTrade(
        key=trade_key(position),
        symbol=position.instrument_id.symbol.value,
        closed_at=_EPOCH + timedelta(microseconds=position.ts_closed // 1_000),
        realized_pnl=position.realized_pnl.as_decimal(),
        multiplier=position.multiplier.as_decimal(),
        fills=fills,
    )


def closed_trades(
    cache: Cache, instrument_id: InstrumentId, strategy_id: StrategyId
) -> list[ClosedTrade]:
    """Every closed position cycle of ``strategy_id`` in ``instrument_id`` the cache holds
    (closed positions and the snapshots NETTING keeps of earlier cycles), oldest first."""
    found: dict[str, ClosedTrade] = {}
    positions = list(cache.position_snapshots()) + list(
        cache.positions_closed(instrument_id=instrument_id, strategy_id=strategy_id)
    )
    for position in positions:
        if (
            position.instrument_id != instrument_id
            or position.strategy_id != strategy_id
            or not position.is_closed
        ):
            continue
        trade = closed_trade(position)
        found.setdefault(trade.key, trade)
    return sorted(found.values(), key=lambda t: t.closed_at)
