"""Nautilus glue for ``risk.bookkeeping``: a closed Nautilus position as a ``ClosedTrade``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.position import Position

from quant_scalper.risk.bookkeeping import ClosedTrade, FillLeg, execution_key

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def trade_key(position: Position) -> str:
    """The closing fill's trade id and time: for IB the execution id and time, the key a replay
    of IB's executions at the next start finds again (``execution_key``)."""
    return execution_key(str(position.last_trade_id), _utc(position.ts_closed))


def _utc(ts_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ts_ns // 1_000)


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
        closed_at=_utc(position.ts_closed),
        realized_pnl=position.realized_pnl.as_decimal(),
        multiplier=position.multiplier.as_decimal(),
        fills=fills,
    )
