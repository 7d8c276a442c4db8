"""``IBPeer``: an asyncio TCP server on 127.0.0.1 that speaks the TWS API to Nautilus's adapter.

The server runs its own event loop in a daemon thread, so a test (or ``python -m tests.ibpeer``)
drives it through thread-safe methods: ``start``/``stop`` (a gateway restart: sockets dropped,
orders and positions kept), ``push`` (a new market minute), ``play`` (accelerated replay),
``reject_orders``, ``refuse_next`` / ``refuse_child`` (any IB error code), ``fill_in_parts``
(partial fills), ``send_error`` (1100/1102), ``snapshot`` and ``wait_until``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

from google.protobuf.message import Message
from ibapi.client_utils import createContractProto, createOrderProto
from ibapi.decoder_utils import decodeContract, decodeOrder
from ibapi.message import IN, OUT
from ibapi.protobuf.AccountSummary_pb2 import AccountSummary
from ibapi.protobuf.AccountSummaryEnd_pb2 import AccountSummaryEnd
from ibapi.protobuf.CommissionAndFeesReport_pb2 import CommissionAndFeesReport
from ibapi.protobuf.CompletedOrdersEnd_pb2 import CompletedOrdersEnd
from ibapi.protobuf.ContractData_pb2 import ContractData
from ibapi.protobuf.ContractDataEnd_pb2 import ContractDataEnd
from ibapi.protobuf.CurrentTime_pb2 import CurrentTime
from ibapi.protobuf.CurrentTimeInMillis_pb2 import CurrentTimeInMillis
from ibapi.protobuf.ErrorMessage_pb2 import ErrorMessage
from ibapi.protobuf.Execution_pb2 import Execution
from ibapi.protobuf.ExecutionDetails_pb2 import ExecutionDetails
from ibapi.protobuf.ExecutionDetailsEnd_pb2 import ExecutionDetailsEnd
from ibapi.protobuf.HeadTimestamp_pb2 import HeadTimestamp
from ibapi.protobuf.HistoricalData_pb2 import HistoricalData
from ibapi.protobuf.HistoricalDataBar_pb2 import HistoricalDataBar
from ibapi.protobuf.HistoricalDataEnd_pb2 import HistoricalDataEnd
from ibapi.protobuf.HistoricalDataUpdate_pb2 import HistoricalDataUpdate
from ibapi.protobuf.ManagedAccounts_pb2 import ManagedAccounts
from ibapi.protobuf.MarketDataType_pb2 import MarketDataType
from ibapi.protobuf.NextValidId_pb2 import NextValidId
from ibapi.protobuf.OpenOrder_pb2 import OpenOrder
from ibapi.protobuf.OpenOrdersEnd_pb2 import OpenOrdersEnd
from ibapi.protobuf.OrderState_pb2 import OrderState
from ibapi.protobuf.OrderStatus_pb2 import OrderStatus
from ibapi.protobuf.Position_pb2 import Position
from ibapi.protobuf.PositionEnd_pb2 import PositionEnd
from ibapi.protobuf.RealTimeBarTick_pb2 import RealTimeBarTick
from ibapi.protobuf.TickPrice_pb2 import TickPrice

from tests.ibpeer import wire
from tests.ibpeer.broker import (
    Broker,
    Event,
    Fill,
    OrderError,
    OrderUpdate,
    PeerOrder,
    PeerPosition,
    Refusal,
)
from tests.ibpeer.contracts import FutureContract, parse_local_symbol, resolve
from tests.ibpeer.market import Candle, LiveMarket, TimedCandle

log = logging.getLogger("ibpeer")

T = TypeVar("T")
UNSET_DOUBLE = 1.7976931348623157e308
TICK_BID, TICK_ASK = 1, 2
FARM_OK = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefil"),
)
BAR_SECONDS = {"1 min": 60, "1 mins": 60, "5 secs": 5, "1 secs": 1, "1 hour": 3600}
DURATION_UNITS = {"S": 1, "D": 86_400, "W": 604_800}


@dataclass(frozen=True)
class RequestRecord:
    """One request the peer received (for assertions)."""

    at: float  # time.monotonic()
    client_id: int | None
    name: str
    detail: str


@dataclass(frozen=True)
class OrderView:
    """A read-only view of a peer order."""

    order_id: int
    client_id: int
    perm_id: int
    symbol: str
    action: str
    quantity: Decimal
    order_type: str
    limit: float | None
    stop: float | None
    parent_id: int
    status: str
    order_ref: str
    history: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    """The peer's state at one moment: what the test compares the node against."""

    positions: dict[str, Decimal]  # local symbol -> signed quantity (non-zero only)
    avg_prices: dict[str, float]
    orders: tuple[OrderView, ...]
    fills: tuple[tuple[str, str, Decimal, float], ...]  # (symbol, BOT/SLD, qty, price)
    requests: tuple[RequestRecord, ...]
    sessions: tuple[int | None, ...]  # connected client ids
    bars_pushed: int
    realized: float = 0.0  # the account's realized P&L of closing fills (USD, before fees)
    commissions: float = 0.0  # every fill's commission (USD)

    @property
    def working(self) -> tuple[OrderView, ...]:
        """Orders still working (submitted or held as bracket children)."""
        return tuple(o for o in self.orders if o.status in ("PreSubmitted", "Submitted"))

    def count(self, name: str, since: float = 0.0) -> int:
        """How many requests named ``name`` (e.g. PLACE_ORDER) arrived since ``since``."""
        return sum(1 for r in self.requests if r.name == name and r.at >= since)


@dataclass
class Subscription:
    """A market-data request of one session."""

    kind: str  # "bars" (keepUpToDate), "rtb" (5 s real-time bars), "quotes"
    contract: FutureContract


class Session:
    """One API client connection."""

    def __init__(self, peer: IBPeer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self.client_id: int | None = None
        self.version = 0
        self.subscriptions: dict[int, Subscription] = {}

    def send(self, in_id: int, proto: Message) -> None:
        """Frame and queue one response."""
        if self.writer.is_closing():
            return
        self.writer.write(wire.encode(in_id, proto))

    def error(self, req_id: int, code: int, message: str) -> None:
        """An error/warning message (``id`` -1 for connection-level notices)."""
        self.send(
            IN.ERR_MSG,
            ErrorMessage(
                id=req_id, errorTime=int(time.time() * 1000), errorCode=code, errorMsg=message
            ),
        )

    def abort(self) -> None:
        """Drop the connection at once (the gateway died)."""
        transport = self.writer.transport
        if transport is not None:
            transport.abort()

    async def run(self) -> None:
        """Handshake, then serve requests until the client goes away."""
        buffer = b""
        try:
            while len(buffer) < len(wire.HANDSHAKE_PREFIX):
                chunk = await self.reader.read(4096)
                if not chunk:
                    return
                buffer += chunk
            if not buffer.startswith(wire.HANDSHAKE_PREFIX):
                raise wire.ProtocolError(f"no API prefix: {buffer[:8]!r}")
            buffer = buffer[len(wire.HANDSHAKE_PREFIX) :]
            frames: list[bytes] = []
            while not frames:
                frames, buffer = wire.split_frames(buffer)
                if frames:
                    break
                chunk = await self.reader.read(4096)
                if not chunk:
                    return
                buffer += chunk
            self.version = wire.negotiate(*wire.parse_version_range(frames[0]))
            self.writer.write(wire.server_hello(self.version))
            pending = frames[1:]
            while True:
                for payload in pending:
                    self.peer._handle(self, wire.parse_request(payload))
                await self.writer.drain()
                chunk = await self.reader.read(65536)
                if not chunk:
                    return
                buffer += chunk
                pending, buffer = wire.split_frames(buffer)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except wire.ProtocolError as exc:
            log.warning("closing session: %s", exc)
        finally:
            self.peer._sessions.discard(self)
            with contextlib.suppress(Exception):
                self.writer.close()


class IBPeer:
    """A stand-in for IB Gateway on 127.0.0.1, for end-to-end tests of the live node.

    Parameters
    ----------
    account : str
        The single managed account (a paper-style ``DU`` number by default).
    port : int
        0 picks a free port on ``start``; a restart reuses the port.
    today : date, optional
        The date contracts are resolved on (front month, expiry); default: today (UTC).
    history : dict[str, list[TimedCandle]], optional
        Historical bars served to non-streaming ``reqHistoricalData`` (by local symbol).
    market_start : datetime, optional
        The virtual minute of the first pushed bar (default: the current minute). A later start
        replays a chosen moment, e.g. the minutes before a contract roll.

    """

    def __init__(
        self,
        account: str = "DU1234567",
        port: int = 0,
        today: date | None = None,
        history: dict[str, list[TimedCandle]] | None = None,
        commission_per_contract: float = 0.62,
        market_start: datetime | None = None,
    ) -> None:
        self.account = account
        self.host = "127.0.0.1"
        self.port = port
        self.today = today or datetime.now(UTC).date()
        self.history = dict(history or {})
        self.broker = Broker(account, self._route, commission_per_contract)
        self.market = LiveMarket(market_start)
        self.requests: list[RequestRecord] = []
        self.history_pacing: tuple[int, float] | None = None  # (max requests, per seconds)
        self._history_times: list[float] = []
        self._sessions: set[Session] = set()
        self._server: asyncio.base_events.Server | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ibpeer", daemon=True)
        self._thread.start()
        self._player: asyncio.Task | None = None
        self._paused = False
        self.quote_messages = 0  # quotes sent by quote_burst

    # -- lifecycle (thread-safe) ---------------------------------------------------------------

    def start(self) -> int:
        """Listen on 127.0.0.1 (again); returns the port."""
        return self._call(self._start)

    def stop(self) -> None:
        """Kill the "gateway": stop listening and drop every connection at once."""
        self._call(self._stop)

    def close(self) -> None:
        """Stop and end the peer's thread (idempotent)."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> IBPeer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def listening(self) -> bool:
        """True while the server accepts connections."""
        return self._server is not None

    # -- market and faults (thread-safe) -------------------------------------------------------

    def push(self, *candles: Candle) -> None:
        """Trade the next minute(s): fill what the range reaches, stream the bar and quotes."""
        self._call(self._push_all, candles)

    def play(self, candles: Sequence[Candle], interval: float) -> None:
        """Push ``candles`` one every ``interval`` seconds in the background (paused while the
        peer is stopped or ``pause`` was called)."""
        self._call(self._play, list(candles), interval)

    def pause(self, paused: bool = True) -> None:
        """Hold (or resume) the background replay."""
        self._paused = paused

    def set_position(self, local_symbol: str, quantity: float, avg_price: float) -> None:
        """Give the account a position, as if traded by hand in TWS (e.g. ``ESZ6``, -2)."""
        contract = parse_local_symbol(local_symbol, self.today)
        if contract is None:
            raise ValueError(f"the peer does not list {local_symbol}")
        position = PeerPosition(contract, Decimal(str(quantity)), avg_price)
        self._call(self.broker.positions.__setitem__, contract.con_id, position)

    def reject_orders(self, reason: str | None) -> None:
        """Reject every new order with this reason (error 201); None accepts again."""
        self._call(setattr, self.broker, "reject_reason", reason)

    def refuse_next(self, code: int, message: str, status: str | None = "Inactive") -> None:
        """Refuse the next entry (and so its bracket) with IB error ``code``, then ``status``
        (None: no status, as for an order IB never created; its children get the same error)."""
        self._call(setattr, self.broker, "refuse_next", Refusal(code, message, status))

    def refuse_child(
        self,
        order_type: str,
        code: int,
        message: str,
        status: str | None = "Inactive",
        at_submit: bool = False,
    ) -> None:
        """Refuse the next bracket child of ``order_type`` (STP, LMT) when its parent fills, or
        with ``at_submit`` as it arrives (its market parent then fills at once, as at IB)."""
        how = (order_type, Refusal(code, message, status), at_submit)
        self._call(setattr, self.broker, "refuse_child", how)

    def fill_in_parts(self, parts: int) -> None:
        """Fill market orders in ``parts`` executions (1: whole), each one tick worse."""
        self._call(setattr, self.broker, "fill_parts", parts)

    def send_error(self, code: int, message: str) -> None:
        """Send a connection-level notice (id -1), e.g. 1100 lost / 1102 restored."""
        self._call(self._broadcast_error, code, message)

    def quote_burst(self, seconds: float, rate: float) -> None:
        """Stress: stream the current bid/ask to every quote subscription at about ``rate``
        messages/s for ``seconds``, in the background (``quote_messages`` counts them)."""
        self._call(self._start_burst, seconds, rate)

    def snapshot(self) -> Snapshot:
        """A consistent copy of the peer's state."""
        return self._call(self._snapshot)

    def fill_trail(self) -> list[str]:
        """Every execution in order, one tab-separated line each (time, exec id, order ref,
        order id, client id, type, side, qty, price, the symbol's position after): the audit
        trail that ties an unexpected position to the order that made it."""
        return self._call(self._fill_trail)

    def wait_until(
        self, predicate: Callable[[Snapshot], bool], timeout: float, what: str = "condition"
    ) -> Snapshot:
        """Poll ``snapshot()`` until ``predicate`` holds; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            if time.monotonic() >= deadline:
                raise AssertionError(f"peer: timed out after {timeout:g} s waiting for {what}")
            time.sleep(0.05)

    # -- loop-side implementation --------------------------------------------------------------

    def _call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        async def _run() -> T:
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(_run(), self._loop).result(timeout)

    async def _start(self) -> int:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, self.host, self.port, reuse_address=True
            )
            self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for session in list(self._sessions):
            session.abort()
        self._sessions.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _shutdown(self) -> None:
        if self._player is not None:
            self._player.cancel()
        await self._stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:
            writer.transport.abort()
            return
        session = Session(self, reader, writer)
        self._sessions.add(session)
        await session.run()

    def _record(self, session: Session | None, name: str, detail: str = "") -> None:
        self.requests.append(
            RequestRecord(time.monotonic(), session.client_id if session else None, name, detail)
        )

    def _handle(self, session: Session, request: wire.Request) -> None:
        proto = request.proto
        self._record(session, request.name, wire.describe(proto) if proto is not None else "")
        if session.client_id is None and request.out_id != OUT.START_API:
            return  # TWS ignores requests before startApi
        handler = self._handlers.get(request.out_id)
        if handler is None or proto is None:
            log.debug("ignoring %s", request.name)
            return
        try:
            handler(self, session, proto)
        except Exception:  # a peer bug must show in the test log, not kill the session silently
            log.exception("peer failed handling %s", request.name)
            self._record(session, "PEER_ERROR", request.name)

    def _start_api(self, session: Session, proto: Any) -> None:
        client_id = proto.clientId
        if any(s.client_id == client_id for s in self._sessions if s is not session):
            session.error(-1, 326, "Unable to connect as the client id is already in use.")
            session.abort()
            return
        session.client_id = client_id
        session.send(IN.MANAGED_ACCTS, ManagedAccounts(accountsList=self.account))
        session.send(IN.NEXT_VALID_ID, NextValidId(orderId=self.broker.next_valid_id(client_id)))
        for code, text in FARM_OK:
            session.error(-1, code, text)

    def _req_ids(self, session: Session, proto: Any) -> None:
        client_id = session.client_id or 0
        session.send(IN.NEXT_VALID_ID, NextValidId(orderId=self.broker.next_valid_id(client_id)))

    def _current_time(self, session: Session, proto: Any) -> None:
        session.send(IN.CURRENT_TIME, CurrentTime(currentTime=int(time.time())))

    def _current_time_ms(self, session: Session, proto: Any) -> None:
        session.send(
            IN.CURRENT_TIME_IN_MILLIS,
            CurrentTimeInMillis(currentTimeInMillis=int(time.time() * 1000)),
        )

    def _managed_accounts(self, session: Session, proto: Any) -> None:
        session.send(IN.MANAGED_ACCTS, ManagedAccounts(accountsList=self.account))

    def _contract_data(self, session: Session, proto: Any) -> None:
        query = decodeContract(proto.contract)
        include_expired = (
            proto.contract.includeExpired if proto.contract.HasField("includeExpired") else False
        )
        matches = resolve(query, self.today, include_expired)
        if not matches:
            session.error(proto.reqId, 200, "No security definition has been found for the request")
            return
        for contract in matches:
            session.send(
                IN.CONTRACT_DATA,
                ContractData(
                    reqId=proto.reqId,
                    contract=contract.contract_proto(),
                    contractDetails=contract.details_proto(),
                ),
            )
        session.send(IN.CONTRACT_DATA_END, ContractDataEnd(reqId=proto.reqId))

    def _resolve_one(
        self, session: Session, req_id: int, contract_proto: Any
    ) -> FutureContract | None:
        query = decodeContract(contract_proto)
        matches = resolve(query, self.today, include_expired=True)
        if len(matches) != 1:
            session.error(req_id, 200, "No security definition has been found for the request")
            return None
        return matches[0]

    def _market_data(self, session: Session, proto: Any) -> None:
        contract = self._resolve_one(session, proto.reqId, proto.contract)
        if contract is None:
            return
        session.subscriptions[proto.reqId] = Subscription("quotes", contract)
        session.send(IN.MARKET_DATA_TYPE, MarketDataType(reqId=proto.reqId, marketDataType=1))
        self._send_quote(session, proto.reqId)

    def _cancel_subscription(self, session: Session, proto: Any) -> None:
        session.subscriptions.pop(proto.reqId, None)

    def _real_time_bars(self, session: Session, proto: Any) -> None:
        contract = self._resolve_one(session, proto.reqId, proto.contract)
        if contract is not None:
            session.subscriptions[proto.reqId] = Subscription("rtb", contract)

    def _historical_data(self, session: Session, proto: Any) -> None:
        contract = self._resolve_one(session, proto.reqId, proto.contract)
        if contract is None:
            return
        seconds = BAR_SECONDS.get(proto.barSizeSetting.strip())
        if seconds != 60:
            session.error(
                proto.reqId,
                162,
                "Historical Market Data Service error message:"
                f"bar size {proto.barSizeSetting!r} not served by the peer",
            )
            return
        if proto.keepUpToDate:
            bars = self.market.history(min(self._duration_secs(proto.duration) // 60, 2000))
            session.subscriptions[proto.reqId] = Subscription("bars", contract)
            self._send_history(session, proto.reqId, bars, proto.whatToShow)
            return
        if self.history_pacing is not None:
            limit, window = self.history_pacing
            now = time.monotonic()
            self._history_times = [t for t in self._history_times if now - t < window]
            if len(self._history_times) >= limit:
                session.error(
                    proto.reqId,
                    162,
                    "Historical Market Data Service error message:API historical data query "
                    "cancelled: pacing violation",
                )
                return
            self._history_times.append(now)
        end = _parse_ib_datetime(proto.endDateTime) if proto.endDateTime else datetime.now(UTC)
        start = end - timedelta(seconds=self._duration_secs(proto.duration))
        bars = [b for b in self.history.get(contract.local_symbol, []) if start <= b.start < end]
        self._send_history(session, proto.reqId, bars, proto.whatToShow, start, end)

    def _send_history(
        self,
        session: Session,
        req_id: int,
        bars: Iterable[TimedCandle],
        what: str,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        message = HistoricalData(reqId=req_id)
        message.historicalDataBars.extend(_bar_proto(b, what) for b in bars)
        session.send(IN.HISTORICAL_DATA, message)
        session.send(
            IN.HISTORICAL_DATA_END,
            HistoricalDataEnd(
                reqId=req_id,
                startDateStr=(start or datetime.now(UTC)).strftime("%Y%m%d %H:%M:%S"),
                endDateStr=(end or datetime.now(UTC)).strftime("%Y%m%d %H:%M:%S"),
            ),
        )

    def _head_timestamp(self, session: Session, proto: Any) -> None:
        contract = self._resolve_one(session, proto.reqId, proto.contract)
        if contract is None:
            return
        bars = self.history.get(contract.local_symbol, [])
        first = bars[0].start if bars else datetime.now(UTC)
        session.send(
            IN.HEAD_TIMESTAMP,
            HeadTimestamp(reqId=proto.reqId, headTimestamp=str(int(first.timestamp()))),
        )

    @staticmethod
    def _duration_secs(duration: str) -> int:
        try:
            amount, unit = duration.split()
            return int(amount) * DURATION_UNITS[unit.upper()]
        except (ValueError, KeyError):
            return 86_400

    def _account_summary(self, session: Session, proto: Any) -> None:
        for tag, value in self.broker.account_values().items():
            session.send(
                IN.ACCOUNT_SUMMARY,
                AccountSummary(
                    reqId=proto.reqId,
                    account=self.account,
                    tag=tag,
                    value=f"{value:.2f}",
                    currency="USD",
                ),
            )
        session.send(IN.ACCOUNT_SUMMARY_END, AccountSummaryEnd(reqId=proto.reqId))

    def _positions(self, session: Session, proto: Any) -> None:
        for position in self.broker.positions.values():
            if position.quantity == 0:
                continue
            session.send(
                IN.POSITION_DATA,
                Position(
                    account=self.account,
                    contract=position.contract.contract_proto(),
                    position=str(position.quantity),
                    avgCost=position.avg_cost,
                ),
            )
        session.send(IN.POSITION_END, PositionEnd())

    def _open_orders(self, session: Session, proto: Any) -> None:
        for order in self.broker.open_orders(session.client_id):
            self._send_order(session, order)
        session.send(IN.OPEN_ORDER_END, OpenOrdersEnd())

    def _all_open_orders(self, session: Session, proto: Any) -> None:
        for order in self.broker.open_orders():
            self._send_order(session, order)
        session.send(IN.OPEN_ORDER_END, OpenOrdersEnd())

    def _completed_orders(self, session: Session, proto: Any) -> None:
        session.send(IN.COMPLETED_ORDERS_END, CompletedOrdersEnd())

    def _executions(self, session: Session, proto: Any) -> None:
        flt = proto.executionFilter
        since = _parse_ib_datetime(flt.time) if flt.HasField("time") and flt.time else None
        for fill in self.broker.fills:
            if flt.HasField("acctCode") and flt.acctCode and flt.acctCode != self.account:
                continue
            if flt.HasField("symbol") and flt.symbol and flt.symbol != fill.order.contract.root:
                continue
            if since is not None and fill.time < since:
                continue
            self._send_fill(session, fill, proto.reqId)
        session.send(IN.EXECUTION_DATA_END, ExecutionDetailsEnd(reqId=proto.reqId))

    def _place_order(self, session: Session, proto: Any) -> None:
        contract = self._resolve_one(session, proto.orderId, proto.contract)
        if contract is None:
            return
        order = decodeOrder(proto.orderId, proto.contract, proto.order)
        transmit = proto.order.HasField("transmit") and proto.order.transmit
        self.broker.place(session.client_id or 0, proto.orderId, contract, order, transmit)

    def _cancel_order(self, session: Session, proto: Any) -> None:
        self.broker.cancel(session.client_id or 0, proto.orderId)

    def _global_cancel(self, session: Session, proto: Any) -> None:
        self.broker.cancel_all()

    def _ignore(self, session: Session, proto: Any) -> None:
        return None

    _handlers: ClassVar[dict[int, Callable[[IBPeer, Session, Any], None]]] = {
        OUT.START_API: _start_api,
        OUT.REQ_IDS: _req_ids,
        OUT.REQ_CURRENT_TIME: _current_time,
        OUT.REQ_CURRENT_TIME_IN_MILLIS: _current_time_ms,
        OUT.REQ_MANAGED_ACCTS: _managed_accounts,
        OUT.REQ_CONTRACT_DATA: _contract_data,
        OUT.REQ_MARKET_DATA_TYPE: _ignore,
        OUT.REQ_MKT_DATA: _market_data,
        OUT.CANCEL_MKT_DATA: _cancel_subscription,
        OUT.REQ_REAL_TIME_BARS: _real_time_bars,
        OUT.CANCEL_REAL_TIME_BARS: _cancel_subscription,
        OUT.REQ_HISTORICAL_DATA: _historical_data,
        OUT.CANCEL_HISTORICAL_DATA: _cancel_subscription,
        OUT.REQ_HEAD_TIMESTAMP: _head_timestamp,
        OUT.REQ_ACCOUNT_SUMMARY: _account_summary,
        OUT.CANCEL_ACCOUNT_SUMMARY: _ignore,
        OUT.REQ_ACCT_DATA: _ignore,
        OUT.REQ_POSITIONS: _positions,
        OUT.CANCEL_POSITIONS: _ignore,
        OUT.REQ_OPEN_ORDERS: _open_orders,
        OUT.REQ_ALL_OPEN_ORDERS: _all_open_orders,
        OUT.REQ_AUTO_OPEN_ORDERS: _ignore,
        OUT.REQ_COMPLETED_ORDERS: _completed_orders,
        OUT.REQ_EXECUTIONS: _executions,
        OUT.PLACE_ORDER: _place_order,
        OUT.CANCEL_ORDER: _cancel_order,
        OUT.REQ_GLOBAL_CANCEL: _global_cancel,
    }

    # -- outbound ------------------------------------------------------------------------------

    def _route(self, event: Event) -> None:
        """Deliver a broker event to the sessions of the order's client id."""
        if isinstance(event, OrderError):
            for session in self._client_sessions(event.client_id):
                session.error(event.order_id, event.code, event.message)
            return
        order = event.order
        for session in self._client_sessions(order.client_id):
            if isinstance(event, Fill):
                self._send_fill(session, event, -1)
            elif isinstance(event, OrderUpdate):
                self._send_order(session, order)

    def _client_sessions(self, client_id: int) -> list[Session]:
        return [s for s in self._sessions if s.client_id == client_id]

    def _send_order(self, session: Session, order: PeerOrder) -> None:
        if order.status != "Cancelled":
            session.send(
                IN.OPEN_ORDER,
                OpenOrder(
                    orderId=order.order_id,
                    contract=createContractProto(order.contract.ib_contract(), order.order),
                    order=createOrderProto(order.order),
                    orderState=OrderState(status=order.status),
                ),
            )
        session.send(
            IN.ORDER_STATUS,
            OrderStatus(
                orderId=order.order_id,
                status=order.status,
                filled=str(order.filled),
                remaining=str(order.remaining if order.is_open else Decimal(0)),
                avgFillPrice=order.avg_fill_price,
                permId=order.perm_id,
                parentId=order.parent_id,
                lastFillPrice=order.avg_fill_price,
                clientId=order.client_id,
                whyHeld="",
                mktCapPrice=0.0,
            ),
        )

    def _send_fill(self, session: Session, fill: Fill, req_id: int) -> None:
        order = fill.order
        execution = Execution(
            orderId=order.order_id,
            execId=fill.exec_id,
            time=wire.ib_time(fill.time),
            acctNumber=self.account,
            exchange="CME",
            side=fill.side,
            shares=str(fill.quantity),
            price=fill.price,
            permId=order.perm_id,
            clientId=order.client_id,
            isLiquidation=False,
            cumQty=str(fill.cum_qty),
            avgPrice=fill.avg_price,
            orderRef=order.order_ref,
        )
        session.send(
            IN.EXECUTION_DATA,
            ExecutionDetails(
                reqId=req_id, contract=order.contract.contract_proto(), execution=execution
            ),
        )
        session.send(
            IN.COMMISSION_AND_FEES_REPORT,
            CommissionAndFeesReport(
                execId=fill.exec_id,
                commissionAndFees=fill.commission,
                currency="USD",
                realizedPNL=UNSET_DOUBLE if fill.realized_pnl is None else fill.realized_pnl,
            ),
        )

    def _send_quote(self, session: Session, req_id: int) -> None:
        bid, ask = self.market.bid, self.market.ask
        if bid is None or ask is None:
            return
        session.send(
            IN.TICK_PRICE,
            TickPrice(reqId=req_id, tickType=TICK_BID, price=bid, size="10", attrMask=1),
        )
        session.send(
            IN.TICK_PRICE,
            TickPrice(reqId=req_id, tickType=TICK_ASK, price=ask, size="12", attrMask=1),
        )

    def _start_burst(self, seconds: float, rate: float) -> None:
        async def _burst() -> None:
            end = self._loop.time() + seconds
            pairs = max(1, int(rate / 200))  # two messages per quote, 100 slices a second
            while self._loop.time() < end:
                for session in list(self._sessions):
                    for req_id, sub in list(session.subscriptions.items()):
                        if sub.kind == "quotes":
                            for _ in range(pairs):
                                self._send_quote(session, req_id)
                                self.quote_messages += 2
                await asyncio.sleep(0.01)

        self._loop.create_task(_burst())

    def _broadcast_error(self, code: int, message: str) -> None:
        for session in list(self._sessions):
            session.error(-1, code, message)

    def _push_all(self, candles: Sequence[Candle]) -> None:
        for candle in candles:
            self._push(candle)

    def _push(self, candle: Candle) -> None:
        timed = self.market.push(candle)
        self.broker.on_candle(candle.open, candle.high, candle.low, candle.close)
        for session in list(self._sessions):
            for req_id, sub in list(session.subscriptions.items()):
                if sub.kind == "bars":
                    session.send(
                        IN.HISTORICAL_DATA_UPDATE,
                        HistoricalDataUpdate(
                            reqId=req_id, historicalDataBar=_bar_proto(timed, "TRADES")
                        ),
                    )
                elif sub.kind == "rtb":
                    for start, bar in self.market.five_second_bars(timed):
                        session.send(
                            IN.REAL_TIME_BARS,
                            RealTimeBarTick(
                                reqId=req_id,
                                time=start,
                                open=bar.open,
                                high=bar.high,
                                low=bar.low,
                                close=bar.close,
                                volume=str(bar.volume),
                                WAP=str(bar.close),
                                count=max(bar.volume // 4, 1),
                            ),
                        )
                elif sub.kind == "quotes":
                    self._send_quote(session, req_id)

    async def _play(self, candles: list[Candle], interval: float) -> None:
        if self._player is not None:
            self._player.cancel()

        async def _replay() -> None:
            for candle in candles:
                while self._paused or self._server is None:
                    await asyncio.sleep(0.05)
                self._push(candle)
                await asyncio.sleep(interval)

        self._player = self._loop.create_task(_replay())

    def _fill_trail(self) -> list[str]:
        lines: list[str] = []
        held: dict[str, Decimal] = {}
        for f in self.broker.fills:
            o = f.order
            symbol = o.contract.local_symbol
            held[symbol] = held.get(symbol, Decimal(0)) + (
                f.quantity if f.side == "BOT" else -f.quantity
            )
            lines.append(
                "\t".join(
                    str(v)
                    for v in (
                        f.time.isoformat(),
                        f.exec_id,
                        o.order_ref,
                        o.order_id,
                        o.client_id,
                        o.order_type,
                        f.side,
                        f.quantity,
                        f.price,
                        held[symbol],
                    )
                )
            )
        return lines

    def _snapshot(self) -> Snapshot:
        positions = {
            p.contract.local_symbol: p.quantity
            for p in self.broker.positions.values()
            if p.quantity != 0
        }
        avg = {
            p.contract.local_symbol: p.avg_price
            for p in self.broker.positions.values()
            if p.quantity != 0
        }
        orders = tuple(
            OrderView(
                order_id=o.order_id,
                client_id=o.client_id,
                perm_id=o.perm_id,
                symbol=o.contract.local_symbol,
                action=o.action,
                quantity=o.quantity,
                order_type=o.order_type,
                limit=_price_or_none(o.order.lmtPrice),
                stop=_price_or_none(o.order.auxPrice),
                parent_id=o.parent_id,
                status=o.status,
                order_ref=o.order_ref,
                history=tuple(o.history),
            )
            for o in self.broker.orders.values()
        )
        fills = tuple(
            (f.order.contract.local_symbol, f.side, f.quantity, f.price) for f in self.broker.fills
        )
        return Snapshot(
            positions=positions,
            avg_prices=avg,
            orders=orders,
            fills=fills,
            requests=tuple(self.requests),
            sessions=tuple(s.client_id for s in self._sessions),
            bars_pushed=len(self.market.bars),
            realized=self.broker.realized,
            commissions=self.broker.commissions,
        )


def _bar_proto(timed: TimedCandle, what: str) -> HistoricalDataBar:
    c = timed.candle
    shift = {"BID": -0.25, "ASK": 0.0}.get(what.upper(), 0.0)
    return HistoricalDataBar(
        date=str(int(timed.start.timestamp())),
        open=c.open + shift,
        high=c.high + shift,
        low=c.low + shift,
        close=c.close + shift,
        volume=str(c.volume),
        WAP=str(c.close),
        barCount=max(c.volume // 4, 1),
    )


def _price_or_none(value: float | None) -> float | None:
    if value is None or value == UNSET_DOUBLE:
        return None
    return float(value)


def _parse_ib_datetime(text: str) -> datetime:
    """IB request times: ``20231008 14:00:00 UTC``, ``20231008-14:00:00`` or with a tz name."""
    parts = text.strip().replace("-", " ").split()
    stamp = " ".join(parts[:2])
    zone = parts[2] if len(parts) > 2 else "UTC"
    moment = datetime.strptime(stamp, "%Y%m%d %H:%M:%S")
    tz = UTC if zone in ("UTC", "GMT", "Universal") else ZoneInfo(zone)
    return moment.replace(tzinfo=tz).astimezone(UTC)
