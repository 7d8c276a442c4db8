"""After each reconnect, compare IB's position with the node's and publish whether they match.

Why: a bracket child can fill at IB while the gateway is down. The node hears nothing of it
and still believes in the position; an exit sent on that belief opens the opposite position
at IB (found by the kill-free soak: node flat, IB long 1). A fixed hold after the reconnect is
not enough: the adapter's own reconnect can take longer than the hold, and its order and
position requests time out while it resets. So the connection guard (``risk.connection_guard``)
holds every order after a reconnect until this check has seen IB's position equal the node's,
with no order of ours in flight. Nautilus's periodic position check
(``exec_engine.position_check_interval_secs``) is what corrects the node's position: it asks
IB for the missing fills and applies them; this module only tells the guard when that is done.

``position_difference`` is the pure rule; ``PositionSync`` runs on the node's loop: after a
``CONNECTION_TOPIC`` "connected" message it asks the IB client for positions every
``interval`` seconds (``get_positions``: None means unknown, never "flat") until they match,
publishing ``{"matched": bool, "detail": str, "node": str, "ib": str}`` on
``POSITION_SYNC_TOPIC`` after each answer. A mismatch that lasts ``alert_after`` seconds is
alerted once on ``RISK_TRIP_TOPIC`` (Telegram, journal) with what to do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from quant_scalper.risk.model import Rule, Trip
from quant_scalper.topics import CONNECTION_TOPIC, POSITION_SYNC_TOPIC, RISK_TRIP_TOPIC

INTERVAL_SECS = 1.0
ALERT_AFTER_SECS = 60.0
REQUEST_TIMEOUT_SECS = 15.0


def position_difference(node: Decimal, ib: Decimal | None, in_flight: int) -> str | None:
    """Why the node's position of a contract cannot be trusted yet (None: it equals IB's).

    ``ib`` None: IB's answer is unknown (the request failed); ``in_flight``: our orders sent
    and not yet acknowledged (a fill may be on its way, so a match would prove nothing).
    """
    if ib is None:
        return "IB's positions are not available yet"
    if in_flight:
        return f"{in_flight} order(s) of ours still in flight"
    if node != ib:
        return f"the node holds {_signed(node)}, IB holds {_signed(ib)}"
    return None


def _signed(qty: Decimal) -> str:
    return "flat" if qty == 0 else f"{qty:+} contract(s)"


class PositionSync:
    """Compares one contract's position at IB with the node's after each reconnect."""

    def __init__(
        self,
        local_symbol: str,
        ib_position: Callable[[], Awaitable[Decimal | None]],
        node_position: Callable[[], Decimal],
        in_flight: Callable[[], int],
        publish: Callable[[str, Any], None],
        alert_after: float = ALERT_AFTER_SECS,
        monotonic: Callable[[], float] = time.monotonic,
        timeout: float = REQUEST_TIMEOUT_SECS,
    ) -> None:
        self._symbol = local_symbol
        self._ib_position = ib_position
        self._node_position = node_position
        self._in_flight = in_flight
        self._publish = publish
        self._alert_after = alert_after
        self._monotonic = monotonic
        self._timeout = timeout
        self.pending_since: float | None = None  # a reconnect not yet verified
        self._alerted = False

    def on_connection(self, message: dict[str, Any]) -> None:
        """A connection change: verify after every reconnect (a drop cancels nothing)."""
        if message.get("connected"):
            self.pending_since = self._monotonic()
            self._alerted = False

    async def check(self) -> dict[str, Any] | None:
        """Compare once when a reconnect awaits verification; returns what was published."""
        if self.pending_since is None:
            return None
        reason = None
        try:
            ib = await asyncio.wait_for(self._ib_position(), self._timeout)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # our own task is being stopped
            # the adapter cancels its pending requests when it resets the connection
            ib, reason = None, "IB's position request was cancelled (the adapter reconnected)"
        except Exception as exc:  # a reconnecting client: unknown, not flat
            ib = None
            reason = f"IB's positions are not available yet ({type(exc).__name__}: {exc})"
        node = self._node_position()
        reason = reason or position_difference(node, ib, self._in_flight())
        message = {
            "matched": reason is None,
            "detail": f"{self._symbol}: "
            + (f"IB and the node both hold {_signed(node)}" if reason is None else reason),
            "node": str(node),
            "ib": None if ib is None else str(ib),
        }
        self._publish(POSITION_SYNC_TOPIC, message)
        if reason is None:
            self.pending_since = None
        elif not self._alerted and self._monotonic() - self.pending_since >= self._alert_after:
            self._alerted = True
            self._publish(
                RISK_TRIP_TOPIC,
                Trip(
                    datetime.now(UTC),
                    Rule.POSITION_MISMATCH,
                    f"after the IB reconnect, {message['detail']} for "
                    f"{self._monotonic() - self.pending_since:.0f} s: every order is held. "
                    "Check the position in TWS; restart the node (it reconciles with IB at "
                    "start) or flatten at IB",
                ),
            )
        return message

    async def run(self, interval: float = INTERVAL_SECS) -> None:
        """Check forever (cancel the task to stop). A check that fails is published as a
        mismatch and the loop goes on: the guard must never wait for a task that died."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._publish(
                    POSITION_SYNC_TOPIC,
                    {
                        "matched": False,
                        "detail": f"{self._symbol}: the position check failed "
                        f"({type(exc).__name__}: {exc}); retrying",
                        "node": None,
                        "ib": None,
                    },
                )


def start_position_sync(
    node: Any, host: str, port: int, client_id: int, account_id: str, instrument_id: str
) -> asyncio.Task:
    """Start the check on the node's loop (before ``node.run()``); stop it with
    ``connection.stop_loop_task``."""
    from nautilus_trader.adapters.interactive_brokers.factories import IB_CLIENTS
    from nautilus_trader.model.identifiers import InstrumentId

    client = IB_CLIENTS[(host, port, client_id)]
    cache = node.kernel.cache
    msgbus = node.kernel.msgbus
    instrument = InstrumentId.from_str(instrument_id)
    local_symbol = instrument.symbol.value

    async def ib_position() -> Decimal | None:
        if not client.is_ready:
            return None
        positions = await client.get_positions(account_id)
        if positions is None:
            return None
        return sum(
            (Decimal(p.quantity) for p in positions if p.contract.localSymbol == local_symbol),
            Decimal(0),
        )

    def node_position() -> Decimal:
        return sum(
            (p.signed_decimal_qty() for p in cache.positions_open(instrument_id=instrument)),
            Decimal(0),
        )

    sync = PositionSync(
        local_symbol,
        ib_position,
        node_position,
        in_flight=lambda: cache.orders_inflight_count(instrument_id=instrument),
        publish=msgbus.publish,
    )
    msgbus.subscribe(CONNECTION_TOPIC, sync.on_connection)
    return node.kernel.loop.create_task(sync.run(), name="quant-scalper-position-sync")
