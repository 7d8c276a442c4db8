"""systemd's notify protocol for the live node: READY, WATCHDOG heartbeats, STOPPING.

With ``Type=notify`` and ``WatchdogSec=30`` systemd restarts a node that stops sending
``WATCHDOG=1``, so a hung node is restarted like a crashed one. The heartbeats come from an
asyncio task on the node's own event loop: if the loop blocks (a stuck callback, a deadlock),
they stop. ``READY=1`` is sent once trading is possible (node running, broker connected).

The protocol is one datagram per message to the AF_UNIX socket named by ``$NOTIFY_SOCKET``
(a leading ``@`` is Linux's abstract namespace). No extra dependency; a no-op without
``$NOTIFY_SOCKET`` (not run by systemd).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from typing import Any

DEFAULT_INTERVAL_SECS = 10.0


class Notifier:
    """Sends notify messages to ``$NOTIFY_SOCKET`` (silently nothing when it is unset)."""

    def __init__(self, address: str | None = None) -> None:
        address = os.environ.get("NOTIFY_SOCKET") if address is None else address
        self.address: str | None = None
        if address:
            self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock: socket.socket | None = None
        self.sent = 0

    @property
    def enabled(self) -> bool:
        """True when a notify socket is configured."""
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one message (e.g. ``READY=1``); False if it could not be delivered."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self.address)
        except OSError:
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(default: float = DEFAULT_INTERVAL_SECS) -> float:
    """Half of systemd's ``$WATCHDOG_USEC`` (its advice), else ``default`` seconds."""
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return default
    return max(usec / 2e6, 0.05) if usec > 0 else default


async def heartbeat(
    notifier: Notifier,
    ready: Callable[[], bool],
    interval: float,
    poll: float = 0.2,
) -> None:
    """Send READY=1 once ``ready()`` holds, then WATCHDOG=1 every ``interval`` s (forever)."""
    while not ready():
        await asyncio.sleep(poll)
    notifier.notify("READY=1\nSTATUS=trading")
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def start_watchdog(
    loop: asyncio.AbstractEventLoop, ready: Callable[[], bool], notifier: Notifier | None = None
) -> tuple[Notifier, asyncio.Task | None]:
    """Start the heartbeat task on ``loop`` (none without ``$NOTIFY_SOCKET``)."""
    notifier = notifier or Notifier()
    if not notifier.enabled:
        return notifier, None
    task = loop.create_task(
        heartbeat(notifier, ready, watchdog_interval()), name="quant-scalper-watchdog"
    )
    return notifier, task


def stop_watchdog(notifier: Notifier, task: asyncio.Task | None) -> None:
    """Send STOPPING=1 and cancel the heartbeats."""
    notifier.notify("STOPPING=1")
    if task is not None and not task.done():
        task.cancel()
    notifier.close()


def trading_ready(node: Any, host: str, port: int, client_id: int) -> Callable[[], bool]:
    """A predicate: the node runs and its IB client has an API session."""
    from nautilus_trader.adapters.interactive_brokers.factories import IB_CLIENTS

    from quant_scalper.live.connection import ib_client_connected

    def _ready() -> bool:
        client = IB_CLIENTS.get((host, port, client_id))
        try:
            return bool(node.is_running() and client is not None and ib_client_connected(client))
        except Exception:
            return False

    return _ready
