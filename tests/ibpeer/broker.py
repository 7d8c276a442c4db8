"""The peer's account and matching engine: orders, fills, positions, as IB reports them.

Pure logic, no I/O: ``Broker`` turns requests (place, cancel, a new market candle) into
``OrderUpdate``/``Fill``/``OrderError`` events for the server to send. It models what the
strategy relies on at IB:

- ``transmit=False`` orders are held until an order of the same family is transmitted (a
  bracket's last child), then the family goes live together;
- bracket children (``parentId``) stay ``PreSubmitted`` until the parent fills, then work as
  ``Submitted``; the children of one parent are one-cancels-all, and cancelling or rejecting
  the parent cancels them;
- market orders fill at the bid/ask, limits and stops against each new candle's range (a gap
  through the level fills at the open);
- positions net per contract with IB's ``avgCost`` (price x multiplier); commission per
  contract; realized P&L on closing fills;
- faults on request: the next entry refused with any IB code (``Refusal``: then ``Inactive``,
  ``Cancelled`` or no status at all, as for an order IB never created), a bracket child
  refused when its parent fills, and market orders filled in several executions
  (``fill_parts``), each one tick worse than the last, as when a market order walks the book.

State lives here, not in the server, so it survives the peer being "killed" and restarted
(IB keeps your orders and positions when the gateway restarts).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from ibapi.order import Order

from quant_scalper.instruments import SPECS
from tests.ibpeer.contracts import FutureContract

OPEN_STATUSES = ("PendingSubmit", "PreSubmitted", "Submitted")
SUPPORTED_TYPES = ("MKT", "LMT", "STP")
REJECT_CODE = 201
TICK = 0.25  # MES and ES


@dataclass(frozen=True)
class Refusal:
    """How the peer refuses an order: IB's error code and text, then the ``orderStatus`` IB
    sends (``Inactive``, ``Cancelled``) or None: no status at all (IB never created the order,
    e.g. 200 "No security definition"; the children get the same error)."""

    code: int
    message: str
    status: str | None = "Inactive"


@dataclass
class PeerOrder:
    """An order at the peer, with its IB identifiers and state."""

    order_id: int
    client_id: int
    perm_id: int
    contract: FutureContract
    order: Order
    status: str = "PendingSubmit"
    filled: Decimal = Decimal(0)
    avg_fill_price: float = 0.0
    transmitted: bool = False
    history: list[str] = field(default_factory=list)
    refused_with: tuple[int, str] = (0, "")  # the error code and text of a refusal

    @property
    def action(self) -> str:
        """BUY or SELL."""
        return self.order.action

    @property
    def quantity(self) -> Decimal:
        """Total quantity in contracts."""
        return Decimal(str(self.order.totalQuantity))

    @property
    def order_type(self) -> str:
        """IB order type (MKT, LMT, STP)."""
        return self.order.orderType

    @property
    def parent_id(self) -> int:
        """The bracket parent's order id (0: none)."""
        return int(self.order.parentId or 0)

    @property
    def is_open(self) -> bool:
        """True while the order can still fill or be cancelled."""
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        """Contracts not filled yet."""
        return self.quantity - self.filled

    @property
    def order_ref(self) -> str:
        """The client's reference (Nautilus: ``<client order id>:<order id>``)."""
        return self.order.orderRef

    def set_status(self, status: str) -> None:
        """Change the status and remember the transition."""
        self.status = status
        self.history.append(status)


@dataclass(frozen=True)
class PeerPosition:
    """A net position in one contract: signed quantity and average entry price."""

    contract: FutureContract
    quantity: Decimal
    avg_price: float

    @property
    def avg_cost(self) -> float:
        """IB's avgCost for futures: price x multiplier."""
        return self.avg_price * SPECS[self.contract.root].multiplier


@dataclass(frozen=True)
class Fill:
    """One execution with its commission report fields."""

    exec_id: str
    order: PeerOrder
    side: str  # BOT / SLD
    quantity: Decimal
    price: float
    time: datetime
    commission: float
    realized_pnl: float | None
    cum_qty: Decimal
    avg_price: float


@dataclass(frozen=True)
class OrderUpdate:
    """An order changed: send openOrder and orderStatus to its client."""

    order: PeerOrder


@dataclass(frozen=True)
class OrderError:
    """An error about one order (reject, cancel not found)."""

    client_id: int
    order_id: int
    code: int
    message: str


Event = OrderUpdate | Fill | OrderError


class Broker:
    """One IB account: orders, positions, executions and a simple matching engine."""

    def __init__(
        self,
        account: str,
        sink: Callable[[Event], None],
        commission_per_contract: float = 0.62,
        starting_cash: float = 100_000.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.account = account
        self.sink = sink
        self.commission_per_contract = commission_per_contract
        self.starting_cash = starting_cash
        self.clock = clock or (lambda: datetime.now(UTC))
        self.orders: dict[int, PeerOrder] = {}  # by permId
        self._by_client: dict[tuple[int, int], int] = {}  # (client id, order id) -> permId
        self.positions: dict[int, PeerPosition] = {}  # by conId
        self.fills: list[Fill] = []
        self.realized = 0.0
        self.commissions = 0.0
        self.bid: float | None = None
        self.ask: float | None = None
        self.reject_reason: str | None = None
        self.rejected: list[PeerOrder] = []
        self.refuse_next: Refusal | None = None  # the next entry (family root), once
        self.refuse_child: tuple[str, Refusal, bool] | None = None  # (STP/LMT, how, at
        # submission: before the parent fills; else when it fills), once
        self.fill_parts = 1  # executions per market order (quantity permitting)
        self._perm_ids = itertools.count(1_000_001)
        self._exec_ids = itertools.count(1)
        self._next_ids: dict[int, int] = {}

    # -- ids -----------------------------------------------------------------------------------

    def next_valid_id(self, client_id: int) -> int:
        """The next order id this client may use (above every id it used)."""
        return self._next_ids.get(client_id, 1)

    def order(self, client_id: int, order_id: int) -> PeerOrder | None:
        """An order by the client's id for it."""
        perm = self._by_client.get((client_id, order_id))
        return None if perm is None else self.orders[perm]

    def open_orders(self, client_id: int | None = None) -> list[PeerOrder]:
        """Working orders (of one client id, or all), oldest first."""
        return [
            o
            for o in self.orders.values()
            if o.is_open and o.transmitted and (client_id is None or o.client_id == client_id)
        ]

    # -- requests ------------------------------------------------------------------------------

    def place(
        self,
        client_id: int,
        order_id: int,
        contract: FutureContract,
        order: Order,
        transmit: bool = True,
    ) -> None:
        """placeOrder: a new order (held until transmitted) or a modification.

        ``transmit`` comes from the request itself: ibapi's protobuf encoder only sets the
        field when true and its decoder leaves ``Order.transmit`` at its default (True).
        """
        self._next_ids[client_id] = max(self._next_ids.get(client_id, 1), order_id + 1)
        existing = self.order(client_id, order_id)
        if existing is not None:
            self._modify(existing, order)
            return
        peer_order = PeerOrder(
            order_id=order_id,
            client_id=client_id,
            perm_id=next(self._perm_ids),
            contract=contract,
            order=order,
        )
        order.permId = peer_order.perm_id
        order.clientId = client_id
        order.orderId = order_id
        order.account = order.account or self.account
        self.orders[peer_order.perm_id] = peer_order
        self._by_client[(client_id, order_id)] = peer_order.perm_id
        order.transmit = transmit
        if transmit:
            self._transmit_family(peer_order)

    def cancel(self, client_id: int, order_id: int) -> None:
        """cancelOrder: cancel a working order (and a parent's children)."""
        order = self.order(client_id, order_id)
        if order is None or not order.is_open:
            self.sink(
                OrderError(
                    client_id,
                    order_id,
                    10147,
                    f"OrderId {order_id} that needs to be cancelled is not found.",
                )
            )
            return
        self._cancel(order)

    def cancel_all(self) -> None:
        """reqGlobalCancel: cancel every working order of the account."""
        for order in list(self.orders.values()):
            if order.is_open:
                self._cancel(order)

    def on_candle(self, open_: float, high: float, low: float, close: float) -> None:
        """A new minute traded: fill what its range reaches, then quote at its close."""
        for order in self._working_in_priority():
            if not order.is_open or order.status != "Submitted":
                continue
            price = self._candle_fill_price(order, open_, high, low)
            if price is not None:
                self._fill(order, price)
        self.bid, self.ask = close - 0.25, close
        for order in self._working_in_priority():
            if order.is_open and order.status == "Submitted":
                self._try_fill_at_quote(order)

    # -- internals -----------------------------------------------------------------------------

    def _transmit_family(self, order: PeerOrder) -> None:
        root = order
        while root.parent_id:
            parent = self.order(root.client_id, root.parent_id)
            if parent is None:
                break
            root = parent
        family = [root, *self._descendants(root)]
        for member in family:
            if member.transmitted:
                continue
            member.transmitted = True
            if member is root:
                self._activate_root(member)
        if root.status in (*OPEN_STATUSES, "Filled"):
            for child in self._descendants(root):
                if child.status == "PendingSubmit":
                    if root.status == "Filled":
                        self._activate_child(child)
                    elif not self._refused_child(child, at_submit=True):
                        child.set_status("PreSubmitted")
                        self.sink(OrderUpdate(child))
        elif root.status == "Unknown":  # never created at IB: neither are its children
            for child in self._descendants(root):
                if child.status == "PendingSubmit":
                    child.set_status("Unknown")
                    self.sink(OrderError(child.client_id, child.order_id, *root.refused_with))
        else:
            for child in self._descendants(root):
                if child.status == "PendingSubmit":
                    self._cancel(child)
        if root.status == "Submitted":
            self._try_fill_at_quote(root)

    def _activate_root(self, order: PeerOrder) -> None:
        if self.refuse_next is not None:
            refusal, self.refuse_next = self.refuse_next, None
            self._refuse(order, refusal)
            return
        reason = self._rejection(order)
        if reason is not None:
            order.set_status("Inactive")
            self.rejected.append(order)
            self.sink(
                OrderError(
                    order.client_id,
                    order.order_id,
                    REJECT_CODE,
                    f"Order rejected - reason:{reason}",
                )
            )
            return
        order.set_status("Submitted")
        self.sink(OrderUpdate(order))

    def _refuse(self, order: PeerOrder, refusal: Refusal) -> None:
        """Send IB's error for ``order``, then its status (none: IB never created it)."""
        self.rejected.append(order)
        order.refused_with = (refusal.code, refusal.message)
        self.sink(OrderError(order.client_id, order.order_id, refusal.code, refusal.message))
        if refusal.status is None:
            order.set_status("Unknown")
            return
        order.set_status(refusal.status)
        self.sink(OrderUpdate(order))

    def _refused_child(self, child: PeerOrder, at_submit: bool) -> bool:
        """Refuse ``child`` if ``refuse_child`` asks for it at this moment (once)."""
        if self.refuse_child is None:
            return False
        order_type, refusal, on_submit = self.refuse_child
        if order_type != child.order_type or on_submit != at_submit:
            return False
        self.refuse_child = None
        self._refuse(child, refusal)
        return True

    def _activate_child(self, child: PeerOrder) -> None:
        """A bracket child goes live (its parent filled), unless told to refuse it."""
        if self._refused_child(child, at_submit=False):
            return
        child.set_status("Submitted")
        self.sink(OrderUpdate(child))
        self._try_fill_at_quote(child)

    def _rejection(self, order: PeerOrder) -> str | None:
        if self.reject_reason is not None:
            return self.reject_reason
        if order.order_type not in SUPPORTED_TYPES:
            return f"order type {order.order_type} is not supported by the peer"
        if order.quantity <= 0:
            return "order quantity must be positive"
        if order.order_type == "LMT" and order.order.lmtPrice in (None, 0):
            return "limit price missing"
        return None

    def _descendants(self, parent: PeerOrder) -> list[PeerOrder]:
        return [
            o
            for o in self.orders.values()
            if o.client_id == parent.client_id
            and o.parent_id == parent.order_id
            and o is not parent
        ]

    def _siblings(self, order: PeerOrder) -> list[PeerOrder]:
        siblings = []
        if order.parent_id:
            parent = self.order(order.client_id, order.parent_id)
            if parent is not None:
                siblings = [o for o in self._descendants(parent) if o is not order]
        group = order.order.ocaGroup
        if group:
            siblings += [
                o
                for o in self.orders.values()
                if o is not order and o.order.ocaGroup == group and o not in siblings
            ]
        return siblings

    def _modify(self, order: PeerOrder, new: Order) -> None:
        if not order.is_open:
            self.sink(
                OrderError(order.client_id, order.order_id, 10148, "Order cannot be modified")
            )
            return
        order.order.totalQuantity = new.totalQuantity
        order.order.lmtPrice = new.lmtPrice
        order.order.auxPrice = new.auxPrice
        self.sink(OrderUpdate(order))
        if order.status == "Submitted":
            self._try_fill_at_quote(order)

    def _cancel(self, order: PeerOrder) -> None:
        if not order.is_open:
            return
        order.set_status("Cancelled")
        if order.transmitted:
            self.sink(OrderUpdate(order))
        for child in self._descendants(order):
            self._cancel(child)

    def _working_in_priority(self) -> list[PeerOrder]:
        """Stops before limits before market orders: the conservative order inside a bar."""
        rank = {"STP": 0, "LMT": 1, "MKT": 2}
        working = [o for o in self.orders.values() if o.is_open and o.transmitted]
        return sorted(working, key=lambda o: (rank.get(o.order_type, 3), o.perm_id))

    def _candle_fill_price(
        self, order: PeerOrder, open_: float, high: float, low: float
    ) -> float | None:
        buy = order.action == "BUY"
        if order.order_type == "MKT":
            return open_
        if order.order_type == "LMT":
            limit = float(order.order.lmtPrice)
            if buy and low <= limit:
                return min(limit, open_)
            if not buy and high >= limit:
                return max(limit, open_)
        if order.order_type == "STP":
            stop = float(order.order.auxPrice)
            if buy and high >= stop:
                return max(stop, open_)
            if not buy and low <= stop:
                return min(stop, open_)
        return None

    def _try_fill_at_quote(self, order: PeerOrder) -> None:
        if self.bid is None or self.ask is None:
            return
        buy = order.action == "BUY"
        touch = self.ask if buy else self.bid
        if order.order_type == "MKT":
            self._fill(order, touch)
        elif order.order_type == "LMT":
            limit = float(order.order.lmtPrice)
            if (buy and touch <= limit) or (not buy and touch >= limit):
                self._fill(order, touch)
        elif order.order_type == "STP":
            stop = float(order.order.auxPrice)
            if (buy and touch >= stop) or (not buy and touch <= stop):
                self._fill(order, touch)

    def _fill(self, order: PeerOrder, price: float) -> None:
        """Fill what remains: market orders in ``fill_parts`` executions, each a tick worse."""
        parts = self._parts(order)
        worse = TICK if order.action == "BUY" else -TICK
        for k, qty in enumerate(parts):
            self._execute(order, qty, price + k * worse)
        for sibling in self._siblings(order):
            self._cancel(sibling)
        for child in self._descendants(order):
            if child.status == "PreSubmitted":
                self._activate_child(child)

    def _parts(self, order: PeerOrder) -> list[Decimal]:
        remaining = order.remaining
        n = min(self.fill_parts, int(remaining)) if order.order_type == "MKT" else 1
        if n <= 1:
            return [remaining]
        size = Decimal(int(remaining) // n)
        return [size] * (n - 1) + [remaining - size * (n - 1)]

    def _execute(self, order: PeerOrder, qty: Decimal, price: float) -> None:
        """One execution of ``qty`` at ``price``: position, fees, the fill and the status."""
        signed = qty if order.action == "BUY" else -qty
        realized = self._apply_position(order.contract, signed, price)
        commission = float(qty) * self.commission_per_contract
        self.commissions += commission
        if realized is not None:
            self.realized += realized
        cum = order.filled + qty
        order.avg_fill_price = (
            order.avg_fill_price * float(order.filled) + price * float(qty)
        ) / float(cum)
        order.filled = cum
        fill = Fill(
            exec_id=f"0000e1a7.{next(self._exec_ids):08d}.01.01",
            order=order,
            side="BOT" if order.action == "BUY" else "SLD",
            quantity=qty,
            price=price,
            time=self.clock(),
            commission=commission,
            realized_pnl=realized,
            cum_qty=cum,
            avg_price=order.avg_fill_price,
        )
        self.fills.append(fill)
        if order.remaining == 0:
            order.set_status("Filled")
        self.sink(fill)
        self.sink(OrderUpdate(order))

    def _apply_position(
        self, contract: FutureContract, signed_qty: Decimal, price: float
    ) -> float | None:
        """Net a fill into the position; returns the realized P&L of the closed part."""
        multiplier = SPECS[contract.root].multiplier
        current = self.positions.get(contract.con_id)
        qty = current.quantity if current else Decimal(0)
        avg = current.avg_price if current else 0.0
        realized: float | None = None
        if qty == 0 or (qty > 0) == (signed_qty > 0):
            total = qty + signed_qty
            avg = (avg * float(abs(qty)) + price * float(abs(signed_qty))) / float(abs(total))
            qty = total
        else:
            closing = min(abs(qty), abs(signed_qty))
            direction = 1 if qty > 0 else -1
            realized = direction * float(closing) * (price - avg) * multiplier
            qty += signed_qty
            if qty == 0:
                avg = 0.0
            elif (qty > 0) != (direction > 0):
                avg = price  # flipped through zero: the remainder opened at this price
        self.positions[contract.con_id] = PeerPosition(contract, qty, avg)
        return realized

    def account_values(self) -> dict[str, float]:
        """The account summary tags the adapter needs (USD)."""
        cash = self.starting_cash + self.realized - self.commissions
        margin = sum(
            abs(float(p.quantity)) * 2_500.0 * SPECS[p.contract.root].multiplier / 5
            for p in self.positions.values()
        )
        return {
            "NetLiquidation": cash,
            "TotalCashValue": cash,
            "FullAvailableFunds": cash - margin,
            "FullInitMarginReq": margin,
            "FullMaintMarginReq": margin * 0.9,
            "BuyingPower": (cash - margin) * 4,
            "EquityWithLoanValue": cash,
        }
