"""Nautilus glue for the alerts: positions and fills from the cache as plain values.

Round trips become ``ClosedTrade`` (Decimal money, UTC times, prices at the instrument's
precision) so the book, the texts and the operator desk stay free of Nautilus.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from nautilus_trader.cache.cache import Cache
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import PositionOpened
from nautilus_trader.portfolio.portfolio import Portfolio

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.telegram import formatting as fmt


def utc(ts_ns: int) -> datetime:
    """Nanoseconds since the epoch as an aware UTC datetime (microsecond resolution)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ts_ns // 1_000)


def fees(position: object) -> Decimal:
    """The commissions a position paid so far (0 when the position is unknown)."""
    if position is None:
        return Decimal(0)
    return sum((m.as_decimal() for m in position.commissions()), Decimal(0))


def side_name(entry: OrderSide) -> str:
    """LONG for a position opened by a buy, SHORT otherwise."""
    return "LONG" if entry == OrderSide.BUY else "SHORT"


def fill_price(cache: Cache, instrument_id: object, value: float) -> Decimal:
    """An average fill price at the instrument's precision (3990.00, not 3990.0)."""
    instrument = cache.instrument(instrument_id)
    if instrument is None:
        return Decimal(str(value))
    return Decimal(str(instrument.make_price(value)))  # as_decimal() drops the zeros


def closed_trade(cache: Cache, closed: Any, paid: Decimal) -> ClosedTrade:
    """A round trip from a ``PositionClosed`` event or a closed ``Position`` (same fields)."""
    return ClosedTrade(
        instrument_id=str(closed.instrument_id),
        side=side_name(closed.entry),
        quantity=closed.peak_qty.as_decimal(),
        opened_at=utc(closed.ts_opened),
        closed_at=utc(closed.ts_closed),
        entry_price=fill_price(cache, closed.instrument_id, closed.avg_px_open),
        exit_price=fill_price(cache, closed.instrument_id, closed.avg_px_close),
        realized_pnl=closed.realized_pnl.as_decimal(),
        fees=paid,
    )


def cached_trades(cache: Cache) -> list[ClosedTrade]:
    """Round trips already in the cache (a cache database keeps them across restarts).

    A NETTING position id is reused when the book reopens: earlier round trips of it are
    the cache's position snapshots.
    """
    closed = list(cache.position_snapshots()) + list(cache.positions_closed())
    return [
        closed_trade(cache, p, fees(p))
        for p in closed
        if p.ts_closed and p.realized_pnl is not None
    ]


def entry_alert(cache: Cache, event: PositionOpened) -> str:
    """The ENTRY alert for a position just opened (fees so far, the entry's z-score tag)."""
    return fmt.entry_alert(
        str(event.instrument_id),
        side_name(event.entry),
        event.quantity.as_decimal(),
        fill_price(cache, event.instrument_id, event.avg_px_open),
        entry_z(cache, event),
        fees(cache.position(event.position_id)),
    )


def entry_z(cache: Cache, event: PositionOpened) -> float | None:
    """The z-score the strategy tagged the opening order with (``ZSCORE=``), if any."""
    order = cache.order(event.opening_order_id)
    for tag in (order.tags or []) if order is not None else []:
        name, _, value = str(tag).partition("=")
        if name == "ZSCORE":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def position_text(cache: Cache, portfolio: Portfolio) -> str:
    """The open positions with their open P&L, or ``flat``."""
    positions = cache.positions_open()
    if not positions:
        return "flat"
    parts = []
    for p in positions:
        pnl = portfolio.unrealized_pnl(p.instrument_id)
        parts.append(
            fmt.position_line(
                p.side.name,
                p.quantity,
                str(p.instrument_id),
                p.avg_px_open,
                pnl.as_decimal() if pnl is not None else None,
            )
        )
    return "; ".join(parts)
