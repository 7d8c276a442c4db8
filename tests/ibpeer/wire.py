"""TWS API framing for the peer, on ibapi's own codec: no parallel implementation.

What the wire looks like (ibapi 10.45 as used by Nautilus 1.231's IB adapter):

1. The client opens with ``b"API\\0"`` then a length-prefixed text ``"v100..223"`` (its
   ``MIN_CLIENT_VER``..``MAX_CLIENT_VER``, optionally followed by connect options).
2. The server answers with one length-prefixed text message of two NUL-terminated fields: the
   server version it picked in that range and its connection time (``comm.make_initial_msg``).
3. From then on every message is ``[4-byte length][4-byte message id][body]`` (raw-int message
   ids from ``MIN_SERVER_VER_PROTOBUF`` = 201 on). A message id above ``PROTOBUF_MSG_ID`` (200)
   means the body is a protobuf message of id ``msg_id - 200``; otherwise NUL-separated text.

The peer picks the highest version the client offers, capped at this ibapi's ``MAX_CLIENT_VER``
(223), and refuses clients that cannot reach ``MIN_SERVER_VER_PROTOBUF_REST_MESSAGES_3`` (213):
from 213 on, every request the adapter sends (startApi, reqIds, placeOrder, reqPositions, ...)
is protobuf, and the decoder accepts a protobuf form of every response the peer emits. So the
peer encodes and decodes with the generated classes in ``ibapi.protobuf`` and ibapi's own
helpers (``client_utils.createContractProto``/``createOrderProto``,
``decoder_utils.decodeContract``/``decodeOrder``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from ibapi import comm
from ibapi.common import PROTOBUF_MSG_ID
from ibapi.message import IN, OUT
from ibapi.protobuf.AccountDataRequest_pb2 import AccountDataRequest
from ibapi.protobuf.AccountSummaryRequest_pb2 import AccountSummaryRequest
from ibapi.protobuf.AllOpenOrdersRequest_pb2 import AllOpenOrdersRequest
from ibapi.protobuf.AutoOpenOrdersRequest_pb2 import AutoOpenOrdersRequest
from ibapi.protobuf.CancelAccountSummary_pb2 import CancelAccountSummary
from ibapi.protobuf.CancelHeadTimestamp_pb2 import CancelHeadTimestamp
from ibapi.protobuf.CancelHistoricalData_pb2 import CancelHistoricalData
from ibapi.protobuf.CancelMarketData_pb2 import CancelMarketData
from ibapi.protobuf.CancelOrderRequest_pb2 import CancelOrderRequest
from ibapi.protobuf.CancelPositions_pb2 import CancelPositions
from ibapi.protobuf.CancelRealTimeBars_pb2 import CancelRealTimeBars
from ibapi.protobuf.CancelTickByTick_pb2 import CancelTickByTick
from ibapi.protobuf.CompletedOrdersRequest_pb2 import CompletedOrdersRequest
from ibapi.protobuf.ContractDataRequest_pb2 import ContractDataRequest
from ibapi.protobuf.CurrentTimeInMillisRequest_pb2 import CurrentTimeInMillisRequest
from ibapi.protobuf.CurrentTimeRequest_pb2 import CurrentTimeRequest
from ibapi.protobuf.ExecutionRequest_pb2 import ExecutionRequest
from ibapi.protobuf.GlobalCancelRequest_pb2 import GlobalCancelRequest
from ibapi.protobuf.HeadTimestampRequest_pb2 import HeadTimestampRequest
from ibapi.protobuf.HistoricalDataRequest_pb2 import HistoricalDataRequest
from ibapi.protobuf.HistoricalTicksRequest_pb2 import HistoricalTicksRequest
from ibapi.protobuf.IdsRequest_pb2 import IdsRequest
from ibapi.protobuf.ManagedAccountsRequest_pb2 import ManagedAccountsRequest
from ibapi.protobuf.MarketDataRequest_pb2 import MarketDataRequest
from ibapi.protobuf.MarketDataTypeRequest_pb2 import MarketDataTypeRequest
from ibapi.protobuf.OpenOrdersRequest_pb2 import OpenOrdersRequest
from ibapi.protobuf.PlaceOrderRequest_pb2 import PlaceOrderRequest
from ibapi.protobuf.PositionsRequest_pb2 import PositionsRequest
from ibapi.protobuf.RealTimeBarsRequest_pb2 import RealTimeBarsRequest
from ibapi.protobuf.StartApiRequest_pb2 import StartApiRequest
from ibapi.protobuf.TickByTickRequest_pb2 import TickByTickRequest
from ibapi.server_versions import (
    MAX_CLIENT_VER,
    MIN_SERVER_VER_PROTOBUF_REST_MESSAGES_3,
)

HANDSHAKE_PREFIX = b"API\0"
PEER_MAX_VERSION = MAX_CLIENT_VER
PEER_MIN_VERSION = MIN_SERVER_VER_PROTOBUF_REST_MESSAGES_3

# Requests the peer understands: OUT message id -> protobuf request class.
REQUEST_CLASSES: dict[int, type[Message]] = {
    OUT.START_API: StartApiRequest,
    OUT.REQ_IDS: IdsRequest,
    OUT.REQ_CURRENT_TIME: CurrentTimeRequest,
    OUT.REQ_CURRENT_TIME_IN_MILLIS: CurrentTimeInMillisRequest,
    OUT.REQ_MANAGED_ACCTS: ManagedAccountsRequest,
    OUT.REQ_CONTRACT_DATA: ContractDataRequest,
    OUT.REQ_MARKET_DATA_TYPE: MarketDataTypeRequest,
    OUT.REQ_MKT_DATA: MarketDataRequest,
    OUT.CANCEL_MKT_DATA: CancelMarketData,
    OUT.REQ_TICK_BY_TICK_DATA: TickByTickRequest,
    OUT.CANCEL_TICK_BY_TICK_DATA: CancelTickByTick,
    OUT.REQ_HISTORICAL_DATA: HistoricalDataRequest,
    OUT.CANCEL_HISTORICAL_DATA: CancelHistoricalData,
    OUT.REQ_HEAD_TIMESTAMP: HeadTimestampRequest,
    OUT.CANCEL_HEAD_TIMESTAMP: CancelHeadTimestamp,
    OUT.REQ_HISTORICAL_TICKS: HistoricalTicksRequest,
    OUT.REQ_REAL_TIME_BARS: RealTimeBarsRequest,
    OUT.CANCEL_REAL_TIME_BARS: CancelRealTimeBars,
    OUT.REQ_ACCOUNT_SUMMARY: AccountSummaryRequest,
    OUT.CANCEL_ACCOUNT_SUMMARY: CancelAccountSummary,
    OUT.REQ_ACCT_DATA: AccountDataRequest,
    OUT.REQ_POSITIONS: PositionsRequest,
    OUT.CANCEL_POSITIONS: CancelPositions,
    OUT.PLACE_ORDER: PlaceOrderRequest,
    OUT.CANCEL_ORDER: CancelOrderRequest,
    OUT.REQ_GLOBAL_CANCEL: GlobalCancelRequest,
    OUT.REQ_OPEN_ORDERS: OpenOrdersRequest,
    OUT.REQ_ALL_OPEN_ORDERS: AllOpenOrdersRequest,
    OUT.REQ_AUTO_OPEN_ORDERS: AutoOpenOrdersRequest,
    OUT.REQ_COMPLETED_ORDERS: CompletedOrdersRequest,
    OUT.REQ_EXECUTIONS: ExecutionRequest,
}

OUT_NAMES: dict[int, str] = {
    value: name for name, value in vars(OUT).items() if not name.startswith("_")
}


class ProtocolError(Exception):
    """The client sent something the peer cannot parse (the session is closed)."""


@dataclass(frozen=True)
class Request:
    """One decoded client message: its OUT id and the protobuf (or raw text fields)."""

    out_id: int
    proto: Message | None
    fields: tuple[bytes, ...] = ()

    @property
    def name(self) -> str:
        """The OUT constant's name, e.g. ``PLACE_ORDER``."""
        return OUT_NAMES.get(self.out_id, f"OUT#{self.out_id}")


def parse_version_range(text: bytes) -> tuple[int, int]:
    """Parse the client's ``v100..223[ options]`` into (min, max)."""
    try:
        spec = text.decode("ascii").split()[0]
        low, high = spec.removeprefix("v").split("..")
        return int(low), int(high)
    except (UnicodeDecodeError, ValueError, IndexError) as exc:
        raise ProtocolError(f"bad version range {text!r}") from exc


def negotiate(client_min: int, client_max: int) -> int:
    """The server version the peer speaks with this client, or ProtocolError."""
    version = min(client_max, PEER_MAX_VERSION)
    if version < PEER_MIN_VERSION or version < client_min:
        raise ProtocolError(
            f"client offers v{client_min}..{client_max}; the peer needs >= v{PEER_MIN_VERSION}"
        )
    return version


def server_hello(version: int, now: datetime | None = None) -> bytes:
    """The handshake answer: server version and connection time, as TWS sends them."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%d %H:%M:%S UTC")
    return comm.make_initial_msg(comm.make_field(version) + comm.make_field(moment))


def parse_request(payload: bytes) -> Request:
    """Decode one framed message body (after the length prefix) sent by the client."""
    if len(payload) < 4:
        raise ProtocolError(f"message too short: {payload!r}")
    msg_id = int.from_bytes(payload[:4], "big")
    body = payload[4:]
    if msg_id > PROTOBUF_MSG_ID:
        out_id = msg_id - PROTOBUF_MSG_ID
        cls = REQUEST_CLASSES.get(out_id)
        if cls is None:
            return Request(out_id, None)
        try:
            return Request(out_id, cls.FromString(body))
        except Exception as exc:  # protobuf raises DecodeError, a bare Exception subclass
            raise ProtocolError(f"cannot decode {OUT_NAMES.get(out_id)}: {exc}") from exc
    return Request(msg_id, None, tuple(comm.read_fields(body)))


def encode(in_id: int, proto: Message) -> bytes:
    """Frame a protobuf response of IN message ``in_id`` (ibapi's ``make_msg_proto``)."""
    return comm.make_msg_proto(in_id + PROTOBUF_MSG_ID, proto.SerializeToString())


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Cut complete length-prefixed messages off ``buffer`` (ibapi's ``read_msg``)."""
    frames: list[bytes] = []
    while True:
        size, msg, rest = comm.read_msg(buffer)
        if not msg:
            if size and len(buffer) - 4 >= size:  # an empty message is still a frame
                frames.append(b"")
                buffer = rest
                continue
            return frames, buffer
        frames.append(msg)
        buffer = rest


def ib_time(moment: datetime) -> str:
    """IB's execution/order time format (``20250301 14:31:05 UTC``)."""
    return moment.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")


def in_name(in_id: int) -> str:
    """The IN constant's name, for logs."""
    for name, value in vars(IN).items():
        if value == in_id and not name.startswith("_"):
            return name
    return f"IN#{in_id}"


def describe(proto: Any) -> str:
    """A one-line text form of a protobuf message, for the peer's request log."""
    return " ".join(str(proto).split())
