"""Executions made outside the node, for the risk state: ``<state_dir>/<trader_id>/fills/``.

``quant-scalper flatten`` talks to IB with its own client id, so a running node never sees its
executions: Nautilus's position check only finds the position gone and infers a close at the
last quote with no fee. The flatten records each of its fills here (exec id, price, real
commission); the node prices such an inferred close with the recorded fill. At start,
``quant-scalper live`` adds the day's executions IB reports for the node's client id, and the
strategy replays them all into round trips: a close made while the node was down is booked once
(keyed by its execution id) with its real price and fees. Same folder rules as the rest of the
state (``state_folder``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from quant_scalper.risk.bookkeeping import ExternalFill
from quant_scalper.risk.state_folder import (
    UnsafeStateFolderError,
    ensure_private_dir,
    read_file,
    write_file_atomic,
)

FILLS_FOLDER = "fills"


class FillJournal:
    """The fills folder of one trader id."""

    def __init__(self, state_dir: Path | str, trader_id: str) -> None:
        self.root = Path(state_dir)
        self.folder = self.root / trader_id / FILLS_FOLDER

    def record(self, fill: ExternalFill) -> Path:
        """Write one fill (atomic, exclusive temp file; refuses symlinks)."""
        ensure_private_dir(self.folder, root=self.root)
        path = self.folder / f"{_safe(fill.exec_id)}.json"
        document = {
            "exec_id": fill.exec_id,
            "symbol": fill.symbol,
            "side": "BUY" if fill.buy else "SELL",
            "quantity": str(fill.quantity),
            "price": str(fill.price),
            "commission": str(fill.commission),
            "at": fill.at.isoformat(),
        }
        write_file_atomic(path, (json.dumps(document) + "\n").encode("utf-8"))
        return path

    def pending(self) -> list[ExternalFill]:
        """Recorded fills not booked yet, oldest first (unreadable records are skipped)."""
        if not os.path.lexists(self.folder):
            return []
        try:
            ensure_private_dir(self.folder, root=self.root)
        except UnsafeStateFolderError:
            return []  # the node's start check reports it; never trust such a folder's files
        fills: list[ExternalFill] = []
        for path in self.folder.glob("*.json"):
            try:
                data, _ = read_file(path)
                raw = json.loads(data.decode("utf-8"))
                fills.append(
                    ExternalFill(
                        exec_id=str(raw["exec_id"]),
                        symbol=str(raw["symbol"]),
                        buy=raw["side"] == "BUY",
                        quantity=Decimal(raw["quantity"]),
                        price=Decimal(raw["price"]),
                        commission=Decimal(raw["commission"]),
                        at=datetime.fromisoformat(raw["at"]),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError, ArithmeticError):
                continue
            except UnsafeStateFolderError:
                continue
        return sorted(fills, key=lambda f: f.at)


def _safe(exec_id: str) -> str:
    """IB exec ids (``0000e0d5.65f1a2b3.01.01``) as a file name."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in exec_id).lstrip(".")
