"""A backtest's own record of fills and closed positions, kept as they happen (issue 14).

Nautilus's end-of-run reports read the cache, so the cache had to remember every order and
position of the run, and under NETTING the simulated venue walks all of a position's orders on
every fill: a run cost O(orders²). ``LedgerRecorder`` (an Actor: it only listens) keeps what the
reports need as the events arrive: each order that filled (the order object itself, so
Nautilus's ``ReportProvider`` renders exactly the report it always did) and a copy of each
position at its close (as Nautilus's own NETTING snapshot does). The run config then lets
Nautilus purge closed orders and positions from the cache during the run
(``ExecEngineConfig.purge_*``), and the runner builds its reports and statistics from the
ledger.

A closed copy keeps its position id (Cython makes it read-only), so under NETTING the positions
report repeats one id per round trip where Nautilus's snapshots appended a UUID to it.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.events import OrderFilled, PositionClosed
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position

LEDGER_ACTOR_PATH = "quant_scalper.backtest.ledger:LedgerRecorder"
LEDGER_CONFIG_PATH = "quant_scalper.backtest.ledger:LedgerRecorderConfig"


@dataclass
class RunLedger:
    """Every order that filled (in first-fill order) and every position closed, in order."""

    orders: dict[ClientOrderId, Order] = field(default_factory=dict)
    closed_positions: list[Position] = field(default_factory=list)

    def filled_orders(self) -> list[Order]:
        """The orders with at least one fill, in the order of their first fill."""
        return list(self.orders.values())


class LedgerRecorderConfig(ActorConfig, frozen=True):
    """
    Configuration for ``LedgerRecorder``.

    Parameters
    ----------
    reset_analyzer_every : int, default 200
        Clear the portfolio analyzer's in-run trade record after this many closed positions:
        Nautilus 1.231 appends each closed trade with ``pd.concat`` (O(trades) each); the
        runner recomputes the analyzer's statistics from the ledger after the run.
        0 keeps Nautilus's behaviour.

    """

    reset_analyzer_every: int = 200


class LedgerRecorder(Actor):
    """Records fills and closed positions from the message bus into a ``RunLedger``."""

    def __init__(self, config: LedgerRecorderConfig | None = None) -> None:
        super().__init__(config or LedgerRecorderConfig())
        self.ledger = RunLedger()

    def on_start(self) -> None:
        """Listen to every strategy's order and position events."""
        self.msgbus.subscribe(topic="events.order.*", handler=self._on_order_event)
        self.msgbus.subscribe(topic="events.position.*", handler=self._on_position_event)

    def _on_order_event(self, event: object) -> None:
        """Keep a filled order (its object: later fills update it in place)."""
        if not isinstance(event, OrderFilled):
            return
        orders = self.ledger.orders
        if event.client_order_id not in orders:
            order = self.cache.order(event.client_order_id)
            if order is not None:
                orders[event.client_order_id] = order

    def _on_position_event(self, event: object) -> None:
        """Copy a position at its close: under NETTING the same id reopens later."""
        if not isinstance(event, PositionClosed):
            return
        position = self.cache.position(event.position_id)
        if position is None:
            return
        copied: Position = pickle.loads(pickle.dumps(position))
        closed = self.ledger.closed_positions
        closed.append(copied)
        every = self.config.reset_analyzer_every
        if every and len(closed) % every == 0:
            self.portfolio.analyzer.reset()  # the runner recomputes it from the ledger


def find_ledger(actors: list[object]) -> RunLedger | None:
    """The ledger of the run's ``LedgerRecorder`` among the trader's actors, if there is one."""
    for actor in actors:
        if isinstance(actor, LedgerRecorder):
            return actor.ledger
    return None
