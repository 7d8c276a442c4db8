"""A TWS-API peer on 127.0.0.1: the stand-in for IB Gateway in the live end-to-end tests.

Test support, not a product feature. ``IBPeer`` speaks the TWS API wire protocol (ibapi's own
framing and protobuf messages) well enough for Nautilus's Interactive Brokers adapter:
handshake, startApi, managed accounts, next valid id, contract details for CME MES/ES futures,
account summary, positions, open orders, executions, bracket orders with working children,
keepUpToDate 1-minute bars, 5-second real-time bars, quotes, historical bars, errors
(rejects, 1100/1102, 326), and a stop/restart that keeps the account like a gateway restart.
Run it by hand with ``python -m tests.ibpeer --port 4002``.
"""

from tests.ibpeer.market import Candle, TimedCandle, candles_from_closes, catalog_bars, flat
from tests.ibpeer.server import IBPeer, OrderView, Snapshot

__all__ = [
    "Candle",
    "IBPeer",
    "OrderView",
    "Snapshot",
    "TimedCandle",
    "candles_from_closes",
    "catalog_bars",
    "flat",
]
