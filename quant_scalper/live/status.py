"""A status file for operators (and tests): what the running node believes it holds.

``<state_dir>/<trader_id>/status.json`` is rewritten atomically every ``interval_secs``: open
positions, working orders and the last bar seen, from Nautilus's cache. Compare it with what
TWS shows (Portfolio, Orders) when in doubt; README.md "Live trading" lists what to check.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType

from quant_scalper.order_view import order_view
from quant_scalper.risk.state_folder import (
    UnsafeStateFolderError,
    ensure_private_dir,
    write_file_atomic,
)
from quant_scalper.topics import CONNECTION_TOPIC, HEALTH_TOPIC, POSITION_SYNC_TOPIC

STATUS_FILE = "status.json"


class NodeStatusConfig(ActorConfig, frozen=True):
    """
    Configuration for ``NodeStatus``.

    Parameters
    ----------
    state_dir : str
        The risk state folder; the file goes to ``<state_dir>/<trader_id>/status.json``.
    interval_secs : float, default 5.0
        How often the file is rewritten.
    bar_type : str, optional
        Also record the last bar of this type (a sign the data feed is alive).

    """

    state_dir: str
    interval_secs: float = 5.0
    bar_type: str | None = None


class NodeStatus(Actor):
    """Writes the node's positions and working orders to a JSON file on a timer."""

    def __init__(self, config: NodeStatusConfig) -> None:
        super().__init__(config)
        self._path: Path | None = None
        self._last_bar: Bar | None = None
        self._bars = 0
        self._health: dict[str, Any] = {}  # the health actor's last summary (HEALTH_TOPIC)
        # The broker link as the node sees it: up since the node was built, then each
        # CONNECTION_TOPIC change, and the last comparison with IB's position after a reconnect
        self._broker: dict[str, Any] = {"connected": True, "since": _now_iso()}
        self._position_sync: dict[str, Any] | None = None

    def on_start(self) -> None:
        """Create the folder, subscribe the bars (if any) and start the timer."""
        self._path = Path(self.config.state_dir) / self.trader_id.value / STATUS_FILE
        ensure_private_dir(self._path.parent, root=Path(self.config.state_dir))
        if self.config.bar_type:
            self.subscribe_bars(BarType.from_str(self.config.bar_type))
        self.msgbus.subscribe(HEALTH_TOPIC, self._on_health)
        self.msgbus.subscribe(CONNECTION_TOPIC, self._on_connection)
        self.msgbus.subscribe(POSITION_SYNC_TOPIC, self._on_position_sync)
        self.clock.set_timer(
            f"status-{self.id}",
            timedelta(seconds=self.config.interval_secs),
            callback=lambda _: self.write(),
        )
        self.write()

    def on_bar(self, bar: Bar) -> None:
        """Remember the last bar."""
        self._last_bar = bar
        self._bars += 1

    def _on_health(self, summary: dict[str, Any]) -> None:
        """Keep the health actor's latest summary for the next snapshot."""
        self._health = summary

    def _on_connection(self, message: dict[str, Any]) -> None:
        """Record a broker link change (the connection watch's message)."""
        connected = bool(message.get("connected"))
        if connected != self._broker.get("connected"):
            self._broker = {"connected": connected, "since": _now_iso()}

    def _on_position_sync(self, message: dict[str, Any]) -> None:
        """Record the last comparison of IB's position with the node's."""
        self._position_sync = {
            "matched": bool(message.get("matched")),
            "detail": str(message.get("detail", "")),
            "at": _now_iso(),
        }

    def on_stop(self) -> None:
        """A last snapshot, marked stopped."""
        self.write(running=False)

    def write(self, running: bool = True) -> None:
        """Rewrite the status file (temp file and rename: readers never see half a file)."""
        if self._path is None:
            return
        payload = self.snapshot(running)
        data = (json.dumps(payload, indent=1) + "\n").encode("utf-8")
        try:  # exclusive random temp file, no symlink followed (see risk.state_folder)
            write_file_atomic(self._path, data, durable=False)
        except (OSError, UnsafeStateFolderError) as exc:
            self.log.error(f"Could not write the status file {self._path}: {exc}")

    def snapshot(self, running: bool = True) -> dict[str, Any]:
        """The status as a JSON-ready dict."""
        positions = [
            {
                "instrument_id": str(p.instrument_id),
                "side": p.side.name,
                "quantity": str(p.quantity),
                "signed_qty": p.signed_qty,
                "avg_px_open": p.avg_px_open,
                "strategy_id": str(p.strategy_id),
                "position_id": str(p.id),
            }
            for p in self.cache.positions_open()
        ]
        orders = [order_view(o) for o in self.cache.orders_open()]
        # Sent and never acknowledged by IB (SUBMITTED; PENDING_* are listed as open): the
        # strategy places no entry while one of its orders is here, so idle = both lists empty.
        in_flight = [order_view(o) for o in self.cache.orders_inflight() if not o.is_open]
        bar = self._last_bar
        return {
            "trader_id": self.trader_id.value,
            "running": running,
            "updated_at": datetime.now(UTC).isoformat(),
            "positions": positions,
            "open_orders": orders,
            "orders_in_flight": in_flight,
            "orders_total": len(self.cache.orders()),
            "broker": {**self._broker, "position_sync": self._position_sync},
            "bars_received": self._bars,
            "last_bar": None
            if bar is None
            else {"close": str(bar.close), "ts_event": bar.ts_event, "ts_init": bar.ts_init},
            "latency": self._health.get("latency"),
            "health": self._health.get("health"),
        }


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()
