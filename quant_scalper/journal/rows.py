"""Journal rows from plain values (no Nautilus types): the recorder's pure half.

Every builder returns a dict with every column of its table except the surrogate ``id``, so
the writer can batch rows of one table in one statement. Money arrives as ``Decimal`` and
leaves as integer cents; prices and quantities as the text Nautilus prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from quant_scalper.risk.session import SessionSchedule

NS_PER_MINUTE = 60_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EXIT_REASON_TAG = "EXIT_REASON="
ZSCORE_TAG = "ZSCORE="

_FATES = {
    "FILLED": "filled",
    "ACCEPTED": "accepted",
    "REJECTED": "rejected",
    "DENIED": "denied",
    "CANCELED": "cancelled",
    "EXPIRED": "expired",
}

_RESET_RULES = frozenset({"resume", "day_roll"})


def cents(amount: Decimal | int | str) -> int:
    """US dollars as integer cents (half-even at a sub-cent remainder, never a float)."""
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def utc(ts_ns: int) -> datetime:
    """UNIX nanoseconds as an aware UTC datetime (microsecond resolution)."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1_000)


def trading_day(schedule: SessionSchedule, ts_ns: int) -> str:
    """The CME trading day of ``ts_ns`` as ``YYYY-MM-DD`` (``SessionSchedule`` rolls it)."""
    return schedule.trading_day(utc(ts_ns)).isoformat()


def tag_value(tags: Iterable[str] | None, prefix: str) -> str | None:
    """The value of the first ``PREFIX=value`` tag, or None."""
    for tag in tags or ():
        if tag.startswith(prefix):
            return tag[len(prefix) :]
    return None


def entry_z(tags: Iterable[str] | None) -> float | None:
    """The z-score the entry order was tagged with (``ZSCORE=-2.1234``), or None."""
    value = tag_value(tags, ZSCORE_TAG)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def exit_reason(tags: Iterable[str] | None, is_child: bool, order_type: str | None) -> str:
    """Why a round trip closed, from the closing order: its ``EXIT_REASON=`` tag, else a
    bracket child (stop or target), else "external" (an order the strategy did not send)."""
    reason = tag_value(tags, EXIT_REASON_TAG)
    if reason:
        return reason
    if is_child:
        if order_type in ("STOP_MARKET", "STOP_LIMIT", "TRAILING_STOP_MARKET"):
            return "stop"
        if order_type in ("LIMIT", "MARKET_IF_TOUCHED", "LIMIT_IF_TOUCHED"):
            return "target"
    if order_type is None:
        return "unknown"
    return "external"


def order_fate(status: str) -> str:
    """An order status name (``ACCEPTED``, ``CANCELED``...) as an ``orders.fate`` value."""
    return _FATES.get(status, "working")


def fill_row(
    book: str,
    *,
    trade_id: str,
    client_order_id: str,
    venue_order_id: str | None,
    position_id: str | None,
    instrument_id: str,
    side: str,
    quantity: str,
    price: str,
    commission: Decimal,
    ts_event_ns: int,
    day: str,
    found_at_reconciliation: bool = False,
) -> dict[str, Any]:
    """A ``fills`` row."""
    return {
        "book": book,
        "trade_id": trade_id,
        "client_order_id": client_order_id,
        "venue_order_id": venue_order_id,
        "position_id": position_id,
        "instrument_id": instrument_id,
        "side": side,
        "quantity": quantity,
        "price": price,
        "commission_cents": cents(commission),
        "ts_event_ns": ts_event_ns,
        "trading_day": day,
        "found_at_reconciliation": found_at_reconciliation,
    }


def trade_key(closing_trade_id: str, ts_closed_ns: int) -> str:
    """A round trip's natural key: its closing fill ``<trade_id>@<ts_ns>``."""
    return f"{closing_trade_id}@{ts_closed_ns}"


def trade_row(
    book: str,
    *,
    closing_trade_id: str,
    position_id: str | None,
    instrument_id: str,
    long: bool,
    quantity: str,
    entry_ns: int,
    exit_ns: int,
    entry_price: str,
    exit_price: str,
    net_pnl: Decimal,
    fees: Decimal,
    z: float | None,
    reason: str,
    day: str,
    found_at_reconciliation: bool = False,
) -> dict[str, Any]:
    """A ``trades`` row: net P&L is Nautilus's realized P&L (fees included), gross adds fees."""
    net = cents(net_pnl)
    fee = cents(fees)
    return {
        "book": book,
        "trade_key": trade_key(closing_trade_id, exit_ns),
        "position_id": position_id,
        "instrument_id": instrument_id,
        "side": "LONG" if long else "SHORT",
        "quantity": quantity,
        "entry_ns": entry_ns,
        "exit_ns": exit_ns,
        "entry_price": entry_price,
        "exit_price": exit_price,
        "gross_pnl_cents": net + fee,
        "fees_cents": fee,
        "net_pnl_cents": net,
        "entry_z": z,
        "exit_reason": reason,
        "trading_day": day,
        "found_at_reconciliation": found_at_reconciliation,
    }


def order_row(
    book: str,
    *,
    client_order_id: str,
    venue_order_id: str | None,
    parent_order_id: str | None,
    instrument_id: str,
    side: str,
    order_type: str,
    quantity: str,
    price: str | None,
    trigger_price: str | None,
    tags: Iterable[str] | None,
    status: str,
    reason: str | None,
    ts_init_ns: int,
    ts_last_ns: int,
) -> dict[str, Any]:
    """An ``orders`` row (upserted: the latest fate wins)."""
    return {
        "book": book,
        "client_order_id": client_order_id,
        "venue_order_id": venue_order_id,
        "parent_order_id": parent_order_id,
        "instrument_id": instrument_id,
        "side": side,
        "order_type": order_type,
        "quantity": quantity,
        "price": price,
        "trigger_price": trigger_price,
        "tags": ",".join(tags) if tags else None,
        "fate": order_fate(status),
        "reason": reason,
        "ts_init_ns": ts_init_ns,
        "ts_last_ns": ts_last_ns,
    }


def breaker_row(book: str, *, ts_ns: int, rule: str, reason: str, day: str) -> dict[str, Any]:
    """A ``breaker_events`` row: resume and day roll are resets, every other rule a trip."""
    return {
        "book": book,
        "ts_ns": ts_ns,
        "rule": rule,
        "kind": "reset" if rule in _RESET_RULES else "trip",
        "reason": reason,
        "trading_day": day,
    }


def node_event_row(book: str, *, ts_ns: int, kind: str, detail: str = "") -> dict[str, Any]:
    """A ``node_events`` row."""
    return {"book": book, "ts_ns": ts_ns, "kind": kind, "detail": detail}


def status_row(book: str, *, ts_ns: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    """A ``node_status`` row (upserted): the payload as JSON text."""
    return {
        "book": book,
        "updated_at_ns": ts_ns,
        "payload": json.dumps(payload, sort_keys=True, default=str),
    }


def run_row(
    book: str,
    *,
    kind: str,
    trader_id: str,
    config_hash: str,
    config_path: str | None,
    instrument_id: str | None,
    account_size_cents: int | None,
    started_at_ns: int,
    ended_at_ns: int | None = None,
) -> dict[str, Any]:
    """A ``runs`` row (upserted; the first start time stays)."""
    return {
        "book": book,
        "kind": kind,
        "trader_id": trader_id,
        "config_hash": config_hash,
        "config_path": config_path,
        "instrument_id": instrument_id,
        "account_size_cents": account_size_cents,
        "started_at_ns": started_at_ns,
        "ended_at_ns": ended_at_ns,
    }


class EquityMarker:
    """At most one equity mark a minute: realized (cumulative net) plus open P&L."""

    def __init__(self, book: str, realized_cents: int = 0) -> None:
        self.book = book
        self.realized_cents = realized_cents
        self._last_minute: int | None = None

    def book_trade(self, net_cents: int) -> None:
        """Add a closed trade's net P&L to the realized total."""
        self.realized_cents += net_cents

    def mark(self, ts_ns: int, open_cents: int, day: str) -> dict[str, Any] | None:
        """An ``equity_marks`` row for ``ts_ns``'s minute, or None if it has one already."""
        minute = ts_ns - ts_ns % NS_PER_MINUTE
        if self._last_minute is not None and minute <= self._last_minute:
            return None
        self._last_minute = minute
        return {
            "book": self.book,
            "ts_ns": minute,
            "realized_cents": self.realized_cents,
            "open_cents": open_cents,
            "trading_day": day,
        }


def round_trip_from_fills(
    book: str,
    *,
    instrument_id: str,
    fills: list[dict[str, Any]],
    multiplier: Decimal,
    reason: str,
    z: float | None,
    day: str,
    found_at_reconciliation: bool = True,
) -> dict[str, Any] | None:
    """A ``trades`` row from ``fills`` rows (oldest first) that open and close one position,
    e.g. a close the node learns only at a restart; None if they do not end flat."""
    if not fills:
        return None
    net = Decimal(0)
    entry_qty = entry_cost = exit_qty = exit_cost = Decimal(0)
    fees = 0
    opening_buy = fills[0]["side"] == "BUY"
    for fill in fills:
        qty = Decimal(fill["quantity"])
        price = Decimal(fill["price"])
        buy = fill["side"] == "BUY"
        net += qty if buy else -qty
        fees += fill["commission_cents"]
        if buy == opening_buy:
            entry_qty += qty
            entry_cost += qty * price
        else:
            exit_qty += qty
            exit_cost += qty * price
    if net != 0 or entry_qty != exit_qty or entry_qty == 0:
        return None
    entry_px = entry_cost / entry_qty
    exit_px = exit_cost / exit_qty
    sign = 1 if opening_buy else -1
    gross = cents((exit_px - entry_px) * entry_qty * multiplier * sign)
    last = fills[-1]
    return {
        "book": book,
        "trade_key": trade_key(last["trade_id"], last["ts_event_ns"]),
        "position_id": last.get("position_id"),
        "instrument_id": instrument_id,
        "side": "LONG" if opening_buy else "SHORT",
        "quantity": str(entry_qty),
        "entry_ns": fills[0]["ts_event_ns"],
        "exit_ns": last["ts_event_ns"],
        "entry_price": str(entry_px),
        "exit_price": str(exit_px),
        "gross_pnl_cents": gross,
        "fees_cents": fees,
        "net_pnl_cents": gross - fees,
        "entry_z": z,
        "exit_reason": reason,
        "trading_day": day,
        "found_at_reconciliation": found_at_reconciliation,
    }
