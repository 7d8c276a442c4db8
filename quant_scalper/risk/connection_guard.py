"""Hold every new order while the broker connection is down and until positions have resynced.

Why: when the IB gateway drops (1100, a gateway restart) a bracket child can fill at IB while the
node cannot hear it. The node keeps believing in the position until the execution engine's
periodic position check compares it with IB's. An exit in that window sends a closing market
order that, at IB, opens the opposite position. The bracket at IB still protects the real
position, so the safe move is to send nothing: not while disconnected, and not for
``resync_secs`` after the reconnect (long enough for the position check to run), then decide
on what the cache says. With ``position_sync`` (live), the hold also lasts until IB's position
has been seen equal to the node's after the reconnect (``on_position_sync``, fed by
``live.position_sync``): a fixed time alone was beaten by the adapter's own reconnect, which
can outlast it (the kill-free soak's lost fills).

Pure logic with explicit times (no Nautilus imports); the strategy feeds it connection changes
and asks ``hold_reason`` before it submits anything.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta


class Link(enum.Enum):
    """The broker connection as the guard sees it."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RESYNCING = "resyncing"


class ConnectionGuard:
    """The hold/resume rule. ``resync_secs`` None turns the guard off (backtests);
    ``position_sync`` makes a resync also wait for a position match."""

    def __init__(self, resync_secs: float | None, position_sync: bool = False) -> None:
        if resync_secs is not None and resync_secs <= 0:
            raise ValueError(f"resync_secs must be > 0 or None (off), was {resync_secs}")
        self.resync_secs = resync_secs
        self.position_sync = position_sync
        self.link = Link.CONNECTED
        self.disconnected_at: datetime | None = None
        self.resync_until: datetime | None = None
        self.positions_match = True
        self.sync_detail = ""

    @property
    def enabled(self) -> bool:
        """True when the guard acts on connection changes."""
        return self.resync_secs is not None

    def on_connection(self, connected: bool, now: datetime) -> Link | None:
        """Record a connection change; returns the new link state, or None when unchanged."""
        if not self.enabled:
            return None
        if not connected:
            if self.link is Link.DISCONNECTED:
                return None
            self.link = Link.DISCONNECTED
            self.disconnected_at = now
            self.resync_until = None
            return self.link
        if self.link is not Link.DISCONNECTED:
            return None
        self.link = Link.RESYNCING
        self.resync_until = now + timedelta(seconds=self.resync_secs)
        self.positions_match = not self.position_sync
        self.sync_detail = "not compared with IB yet"
        return self.link

    def on_position_sync(self, matched: bool, detail: str) -> bool:
        """Record a comparison of IB's position with the node's (``position_sync``); returns
        True when it ends the wait for a match. Ignored outside a resync."""
        if self.link is not Link.RESYNCING or self.positions_match:
            return False
        self.sync_detail = detail
        self.positions_match = matched
        return matched

    def hold_reason(self, now: datetime) -> str | None:
        """Why no order may be sent now, or None when trading may go on.

        A resync period that has run out ends here: the link is CONNECTED again.
        """
        if self.link is Link.DISCONNECTED:
            return "IB disconnected"
        if self.link is Link.RESYNCING:
            if now < self.resync_until:
                left = (self.resync_until - now).total_seconds()
                return f"IB reconnected, resyncing positions ({left:.0f} s left)"
            if not self.positions_match:
                return f"IB reconnected, waiting for IB's position to match ({self.sync_detail})"
            self.link = Link.CONNECTED
            self.disconnected_at = None
            self.resync_until = None
        return None
