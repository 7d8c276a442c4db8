"""Run clock callbacks on the node's event-loop thread.

Nautilus 1.231's ``LiveClock`` calls timer and time-alert callbacks on threads owned by its
Rust runtime, while data and order events run on the node's asyncio loop. A strategy whose
timers submit or cancel orders would then race its own ``on_bar``; hopping every callback onto
the loop keeps one thread in charge. Backtests (``TestClock``) call back on the engine's thread
already and are left alone, also inside a notebook whose own event loop is running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from nautilus_trader.common.component import Clock, LiveClock


def node_loop(clock: Clock) -> asyncio.AbstractEventLoop | None:
    """The running loop of a live node (call from ``on_start``), or ``None`` in a backtest."""
    if not isinstance(clock, LiveClock):
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None  # a live clock outside a running node (a script): call back in place


def on_loop(
    loop: asyncio.AbstractEventLoop | None,
    callback: Callable[[Any], None],
) -> Callable[[Any], None]:
    """Wrap ``callback`` so that it runs on ``loop``; unchanged when ``loop`` is ``None``."""
    if loop is None:
        return callback

    def hop(event: Any) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(callback, event)

    return hop
