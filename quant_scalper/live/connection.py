"""Publish the IB connection state on the message bus (``topics.CONNECTION_TOPIC``).

The signal: the IB client's ``_is_ib_connected`` event together with its socket
(``_eclient.isConnected()``). The adapter clears that event on every way the session can end:
a connectivity-lost code (1100, 1300, 2110, 326) in ``_process_error``, the socket reader seeing
the gateway close (``_run_tws_incoming_msg_reader``), ``connectionClosed`` and its own
disconnect; it sets it again only when the new session is usable (``nextValidId`` /
``managedAccounts`` after a reconnect, or 1101/1102 on a live socket). The adapter's public
``is_ready`` must be set too: its 1 s watchdog clears it on any loss ("Degrading") and sets it
only when its own reset and reconnect are done. On 1100 then 1102 the event comes back at once
but the adapter still resets the socket ~5 s later, refusing every order and cancel meanwhile
("client is not ready"); the kill-free soak traded into that window. The data and execution
clients' ``is_connected`` flags are not used: they are set once at start and stay True through
an outage. Nautilus offers no callback for the event, so an asyncio task on the node's loop polls
it (every ``POLL_SECS``) and publishes ``{"connected": bool, "detail": str}`` on each change:
the strategy (its connection guard) and the Telegram actor subscribe. Running on the node's
loop, the handlers run on the same thread as bars and order events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from quant_scalper.topics import CONNECTION_TOPIC

POLL_SECS = 0.2


class ConnectionWatch:
    """Turns polls of ``probe`` (True = connected) into change messages for ``publish``."""

    def __init__(
        self,
        probe: Callable[[], bool],
        publish: Callable[[dict[str, Any]], None],
        where: str,
        connected: bool = True,
    ) -> None:
        self._probe = probe
        self._publish = publish
        self._where = where
        self.connected = connected  # the node was built: the API session is up

    def check(self) -> dict[str, Any] | None:
        """Poll once; publish and return the message when the state changed."""
        try:
            connected = bool(self._probe())
        except Exception:  # a half-built client during a reconnect counts as down
            connected = False
        if connected == self.connected:
            return None
        self.connected = connected
        message = {
            "connected": connected,
            "detail": f"IB gateway {self._where} "
            + ("API session up again" if connected else "connection lost"),
        }
        self._publish(message)
        return message

    async def run(self, interval: float = POLL_SECS) -> None:
        """Poll forever (cancel the task to stop)."""
        while True:
            self.check()
            await asyncio.sleep(interval)


def ib_client_connected(client: Any) -> bool:
    """True while the adapter's IB client has a usable API session (see the module doc) and
    the adapter is ready for order requests (``is_ready``: it refuses orders and cancels
    while it is not, e.g. from its watchdog's degrade until its own reconnect is done)."""
    return bool(
        client.is_ready and client._is_ib_connected.is_set() and client._eclient.isConnected()
    )


def start_connection_watch(node: Any, host: str, port: int, client_id: int) -> asyncio.Task:
    """Start the watch on the node's loop (before ``node.run()``); cancel the task at stop."""
    from nautilus_trader.adapters.interactive_brokers.factories import IB_CLIENTS

    client = IB_CLIENTS[(host, port, client_id)]
    msgbus = node.kernel.msgbus
    watch = ConnectionWatch(
        probe=lambda: ib_client_connected(client),
        publish=lambda message: msgbus.publish(CONNECTION_TOPIC, message),
        where=f"{host}:{port}",
    )
    return node.kernel.loop.create_task(watch.run(), name="quant-scalper-connection-watch")


def stop_loop_task(task: asyncio.Task | None) -> None:
    """Cancel a task of ours on the node's loop (the watch, the position sync; idempotent)."""
    if task is None or task.done():
        return
    task.cancel()
    loop = task.get_loop()
    if not loop.is_running() and not loop.is_closed():
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
