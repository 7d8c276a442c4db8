"""``quant-scalper flatten``: cancel every working order and close positions at market.

The emergency procedure talks to IB Gateway/TWS with ``ibapi`` directly, not through a Nautilus
node: it must work when the node is dead, hung or cannot reconcile. It uses its own API client
id (``ib.client_id + 100`` by default), so a running node keeps its session:

1. connect, read the positions and every working order of the account (all client ids);
2. ``reqGlobalCancel`` (cancels orders of every API client and of TWS), then re-read the open
   orders until none is left (orders of other client ids send no status to this session);
3. one market order per open position of the strategy's root (or of every instrument with
   ``--all-instruments``), and wait for the fills;
4. read the positions again, print what was done, disconnect.

Stop the node first (``systemctl stop``/Ctrl-C) or kill its strategy (``quant-scalper kill``):
a running strategy could enter again after the flatten.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.order_cancel import OrderCancel
from ibapi.wrapper import EWrapper

from quant_scalper.errors import QuantScalperError
from quant_scalper.instruments import SPECS, parse_contract_symbol
from quant_scalper.live.config import LiveSettings, mask_account
from quant_scalper.live.errors import FlattenError
from quant_scalper.live.node import probe_gateway

ORDER_REF = "quant-scalper-flatten"
DONE_STATUSES = ("Filled", "Cancelled", "ApiCancelled", "Inactive")
# Notices that are not errors (data farm status, order-cancelled confirmations, ...).
INFO_CODES = frozenset({202, 2104, 2106, 2107, 2108, 2158, 10147, 10148})


@dataclass(frozen=True)
class WorkingOrder:
    """An order that was working when the flatten started."""

    order_id: int
    client_id: int
    perm_id: int
    symbol: str
    action: str
    quantity: Decimal
    order_type: str

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"{self.symbol} {self.action} {self.quantity} {self.order_type} "
            f"(order {self.order_id}, client {self.client_id}, perm {self.perm_id})"
        )


@dataclass(frozen=True)
class Close:
    """A market order that closed (or tried to close) one position."""

    symbol: str
    action: str
    quantity: Decimal
    status: str
    avg_price: float

    def describe(self) -> str:
        """One line for the report."""
        price = f" @ {self.avg_price:g}" if self.status == "Filled" else ""
        return f"{self.symbol} {self.action} {self.quantity} MKT: {self.status}{price}"


@dataclass
class FlattenReport:
    """What the flatten found and did."""

    account: str
    cancelled: list[WorkingOrder] = field(default_factory=list)
    closes: list[Close] = field(default_factory=list)
    skipped: dict[str, Decimal] = field(default_factory=dict)  # other instruments, left alone
    orders_left: list[WorkingOrder] = field(default_factory=list)
    positions_left: dict[str, Decimal] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when no targeted order is working and no targeted position is open."""
        return not self.orders_left and not self.positions_left

    def describe(self) -> str:
        """The report printed by the command."""
        lines = [f"flatten of account {mask_account(self.account)}:"]
        lines.append(f"  cancelled {len(self.cancelled)} working order(s)")
        lines += [f"    - {order.describe()}" for order in self.cancelled]
        lines.append(f"  closed {len(self.closes)} position(s) at market")
        lines += [f"    - {close.describe()}" for close in self.closes]
        for symbol, qty in self.skipped.items():
            lines.append(f"  left alone: {symbol} {qty} (not the strategy's; --all-instruments)")
        for error in self.errors:
            lines.append(f"  gateway said: {error}")
        if self.complete:
            lines.append("  result: FLAT, no working orders (check TWS: Portfolio and Orders)")
        else:
            for order in self.orders_left:
                lines.append(f"  STILL WORKING: {order.describe()}")
            for symbol, qty in self.positions_left.items():
                lines.append(f"  STILL OPEN: {symbol} {qty}")
            lines.append("  result: INCOMPLETE: close the rest in TWS by hand now")
        return "\n".join(lines)


class _Session(EWrapper, EClient):
    """A minimal ibapi client: collects orders, positions and fills, with waitable events."""

    def __init__(self, account: str = "") -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.account = account
        self.lock = threading.Condition()
        self.next_id: int | None = None
        self.open_orders: dict[int, WorkingOrder] = {}
        self.orders_done = False
        self.positions: dict[int, tuple[Contract, Decimal]] = {}
        self.positions_done = False
        self.statuses: dict[int, tuple[str, Decimal, float]] = {}
        self.errors: list[str] = []
        self.order_errors: dict[int, str] = {}
        self.executions: dict[str, tuple[int, Contract, Any]] = {}  # execId -> order, execution
        self.fees: dict[str, float] = {}  # execId -> commission and fees
        self.executions_done = False

    def execDetails(self, reqId: int, contract: Contract, execution: Any) -> None:
        with self.lock:
            self.executions[execution.execId] = (execution.orderId, contract, execution)
            self.lock.notify_all()

    def execDetailsEnd(self, reqId: int) -> None:
        with self.lock:
            self.executions_done = True
            self.lock.notify_all()

    def commissionAndFeesReport(self, commissionAndFeesReport: Any) -> None:
        with self.lock:
            report = commissionAndFeesReport
            self.fees[report.execId] = float(report.commissionAndFees)
            self.lock.notify_all()

    # -- wrapper callbacks (reader thread) ------------------------------------------------------

    def nextValidId(self, orderId: int) -> None:
        with self.lock:
            self.next_id = orderId
            self.lock.notify_all()

    def openOrder(self, orderId: int, contract: Contract, order: Order, orderState: Any) -> None:
        with self.lock:
            if orderState.status in DONE_STATUSES:
                return
            self.open_orders[order.permId or orderId] = WorkingOrder(
                order_id=orderId,
                client_id=order.clientId,
                perm_id=order.permId,
                symbol=contract.localSymbol or contract.symbol,
                action=order.action,
                quantity=Decimal(str(order.totalQuantity)),
                order_type=order.orderType,
            )

    def openOrderEnd(self) -> None:
        with self.lock:
            self.orders_done = True
            self.lock.notify_all()

    def orderStatus(
        self,
        orderId: int,
        status: str,
        filled: Decimal,
        remaining: Decimal,
        avgFillPrice: float,
        *args: Any,
    ) -> None:
        with self.lock:
            self.statuses[orderId] = (status, Decimal(str(filled)), float(avgFillPrice))
            self.lock.notify_all()

    def position(self, account: str, contract: Contract, position: Decimal, avgCost: float) -> None:
        if self.account and account != self.account:
            return  # an advisor login sees other accounts: only ib.account_id is flattened
        with self.lock:
            self.positions[contract.conId] = (contract, Decimal(str(position)))

    def positionEnd(self) -> None:
        with self.lock:
            self.positions_done = True
            self.lock.notify_all()

    def error(
        self,
        reqId: int,
        errorTime: int,
        errorCode: int,
        errorString: str,
        advancedOrderRejectJson: str = "",
    ) -> None:
        if errorCode in INFO_CODES:
            return
        with self.lock:
            self.errors.append(f"{errorCode} {errorString}")
            if reqId > 0:
                self.order_errors[reqId] = errorString
            self.lock.notify_all()

    # -- helpers (caller thread) ---------------------------------------------------------------

    def close(self, reader: threading.Thread) -> None:
        """Disconnect for good: shut the socket down first (a plain close while the reader
        thread sits in recv() sends no FIN, and the gateway would keep the client id busy)."""
        sock = getattr(self.conn, "socket", None) if self.conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.disconnect()
        reader.join(timeout=5)

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate`` (read under the lock) holds; False on timeout."""
        with self.lock:
            return self.lock.wait_for(predicate, timeout)

    def read_orders(self, timeout: float) -> dict[int, WorkingOrder]:
        """Every working order of the account (all API clients and TWS)."""
        with self.lock:
            self.open_orders.clear()
            self.orders_done = False
        self.reqAllOpenOrders()
        if not self.wait(lambda: self.orders_done, timeout):
            raise FlattenError(f"the gateway did not list the open orders within {timeout:g} s")
        with self.lock:
            return dict(self.open_orders)

    def read_positions(self, timeout: float) -> dict[int, tuple[Contract, Decimal]]:
        """The account's positions by conId (zero positions dropped)."""
        with self.lock:
            self.positions.clear()
            self.positions_done = False
        self.reqPositions()
        if not self.wait(lambda: self.positions_done, timeout):
            raise FlattenError(f"the gateway did not list the positions within {timeout:g} s")
        self.cancelPositions()
        with self.lock:
            return {k: v for k, v in self.positions.items() if v[1] != 0}

    def read_executions(self, root: str, timeout: float) -> dict[str, tuple[Contract, Any, float]]:
        """The account's executions in futures of ``root`` IB still reports (the current day
        for this client id), by execId, each with its commission and fees."""
        from ibapi.execution import ExecutionFilter

        with self.lock:
            self.executions.clear()
            self.executions_done = False
        flt = ExecutionFilter()
        flt.acctCode = self.account
        flt.symbol = root
        flt.secType = "FUT"
        self.reqExecutions(9001, flt)
        if not self.wait(lambda: self.executions_done, timeout):
            raise FlattenError(f"the gateway did not list the executions within {timeout:g} s")
        self.wait(lambda: all(e in self.fees for e in self.executions), min(timeout, 5.0))
        with self.lock:
            missing = [e for e in self.executions if e not in self.fees]
            if missing:
                raise FlattenError(f"no commission report for execution(s) {missing}")
            return {e: (c, x, self.fees[e]) for e, (_, c, x) in self.executions.items()}


def flatten_account(
    settings: LiveSettings,
    client_id: int,
    all_instruments: bool = False,
    timeout: float = 30.0,
    echo: Callable[[str], None] = print,
) -> FlattenReport:
    """Cancel all working orders and close the positions at market; returns what was done.

    Every working order of the account is cancelled (a global cancel cannot be narrowed);
    positions are closed for the strategy's futures root only, unless ``all_instruments``.
    """
    ib = settings.ib
    probe_gateway(ib.host, ib.port, ib.probe_timeout_secs)
    root = _root(str(settings.strategy["instrument_id"]))

    def targeted(contract: Contract) -> bool:
        return all_instruments or contract.symbol == root

    session = _Session(ib.account_id)
    session.connect(ib.host, ib.port, client_id)
    reader = threading.Thread(target=session.run, name="flatten-ibapi", daemon=True)
    reader.start()
    report = FlattenReport(account=ib.account_id)
    try:
        if not session.wait(lambda: session.next_id is not None, timeout):
            raise FlattenError(
                f"no API session with {ib.host}:{ib.port} as client id {client_id} within "
                f"{timeout:g} s: is that client id in use? pass another with --client-id"
            )
        echo(f"connected to {ib.host}:{ib.port} as client id {client_id}")
        working = session.read_orders(timeout)
        if working:
            echo(f"cancelling {len(working)} working order(s) (global cancel)")
            session.reqGlobalCancel(OrderCancel())
            deadline = time.monotonic() + timeout
            while True:
                remaining = session.read_orders(timeout)
                if not remaining or time.monotonic() >= deadline:
                    break
                time.sleep(0.2)
            report.cancelled = [o for key, o in working.items() if key not in remaining]
            report.orders_left = list(remaining.values())
        positions = session.read_positions(timeout)
        placed: dict[int, tuple[str, str, Decimal]] = {}
        for contract, qty in positions.values():
            symbol = contract.localSymbol or contract.symbol
            if not targeted(contract):
                report.skipped[symbol] = qty
                continue
            order_id = session.next_id or 1
            session.next_id = order_id + 1
            action = "SELL" if qty > 0 else "BUY"
            session.placeOrder(order_id, _routable(contract), _market(action, abs(qty), ib))
            placed[order_id] = (symbol, action, abs(qty))
            echo(f"closing {symbol} {qty:+} with a {action} {abs(qty)} market order")
        session.wait(
            lambda: all(
                session.statuses.get(i, ("",))[0] in DONE_STATUSES or i in session.order_errors
                for i in placed
            ),
            timeout,
        )
        _journal_fills(settings, session, set(placed), timeout, report)
        for order_id, (symbol, action, qty) in placed.items():
            status, _, price = session.statuses.get(order_id, ("no answer", Decimal(0), 0.0))
            if order_id in session.order_errors:
                status = f"rejected ({session.order_errors[order_id]})"
            report.closes.append(Close(symbol, action, qty, status, price))
        deadline = time.monotonic() + timeout
        while True:  # IB updates positions a moment after the fills: poll until they settle
            left = {
                (c.localSymbol or c.symbol): q
                for c, q in session.read_positions(timeout).values()
                if targeted(c)
            }
            if not left or not placed or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        report.positions_left = left
        report.errors = list(session.errors)
        return report
    finally:
        session.close(reader)


def _journal_fills(
    settings: LiveSettings,
    session: _Session,
    order_ids: set[int],
    timeout: float,
    report: FlattenReport,
) -> None:
    """Record the flatten's executions with their real fees in the node's fill journal, so a
    running (or restarted) node books the close at the real price (see ``risk.fill_journal``)."""
    from quant_scalper.live.executions import parse_ib_time
    from quant_scalper.risk.bookkeeping import ExternalFill
    from quant_scalper.risk.fill_journal import FillJournal

    def ours() -> list[str]:
        return [e for e, (oid, _, _) in session.executions.items() if oid in order_ids]

    session.wait(lambda: all(e in session.fees for e in ours()), min(timeout, 5.0))
    journal = FillJournal(settings.state_dir, settings.trader_id)
    with session.lock:
        found = [(e, session.executions[e], session.fees.get(e)) for e in ours()]
    for exec_id, (_, contract, execution), fee in found:
        if fee is None:
            report.errors.append(f"no commission report for execution {exec_id}")
            continue
        try:
            journal.record(
                ExternalFill(
                    exec_id=exec_id,
                    symbol=contract.localSymbol or contract.symbol,
                    buy=execution.side == "BOT",
                    quantity=Decimal(str(execution.shares)),
                    price=Decimal(str(execution.price)),
                    commission=Decimal(str(fee)),
                    at=parse_ib_time(execution.time),
                )
            )
        except (OSError, QuantScalperError) as exc:
            report.errors.append(f"execution {exec_id} not recorded for the risk state: {exc}")


def _root(instrument_id: str) -> str:
    """The futures root of ``MES.CME`` or ``MESZ6.CME`` (IB's ``symbol`` of the position)."""
    symbol = instrument_id.split(".")[0]
    if symbol in SPECS:
        return symbol
    return parse_contract_symbol(symbol, decade_hint=date.today().year).root


def _routable(contract: Contract) -> Contract:
    """The position's contract with an exchange (IB leaves it empty in position callbacks)."""
    order_contract = Contract()
    order_contract.conId = contract.conId
    order_contract.symbol = contract.symbol
    order_contract.secType = contract.secType
    order_contract.localSymbol = contract.localSymbol
    order_contract.currency = contract.currency
    order_contract.lastTradeDateOrContractMonth = contract.lastTradeDateOrContractMonth
    order_contract.multiplier = contract.multiplier
    order_contract.exchange = (
        contract.exchange
        or contract.primaryExchange
        or ("CME" if contract.secType == "FUT" else "SMART")
    )
    return order_contract


def _market(action: str, quantity: Decimal, ib: Any) -> Order:
    order = Order()
    order.action = action
    order.orderType = "MKT"
    order.totalQuantity = quantity
    order.account = ib.account_id
    order.tif = "DAY"
    order.orderRef = ORDER_REF
    order.transmit = True
    return order
