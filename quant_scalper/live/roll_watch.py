"""``RollWatch``: the actor that tells the node when the old contract's roll is done.

The strategy stops entering and flattens from the first bar at or after its ``trade_until``
(``quant_scalper.strategy``). This actor watches the same bars; once one at or after the roll
moment has arrived and the node holds no position and no working order in the contract, it
publishes ``ROLL_TOPIC`` once. ``live.node`` then records the roll and stops the node with
``live.roll.ROLL_EXIT_CODE`` so the supervisor restarts it on the next contract.
"""

from __future__ import annotations

from datetime import timedelta

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.common.events import TimeEvent
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.identifiers import InstrumentId

from quant_scalper.config import parse_utc_timestamp
from quant_scalper.node_thread import node_loop, on_loop
from quant_scalper.topics import ROLL_TOPIC

CHECK_TIMER = "roll-watch"


class RollWatchConfig(ActorConfig, frozen=True):
    """
    Configuration of ``RollWatch``.

    Parameters
    ----------
    instrument_id : InstrumentId
        The contract being rolled out of.
    bar_type : BarType
        The strategy's bars: the first at or after ``trade_until`` starts the roll.
    trade_until : str
        ISO-8601 UTC: when the contract stops being the front month.
    next_instrument_id : str
        The contract the node restarts on (for the message).
    check_secs : float, default 1.0
        How often the flat check repeats once the roll has started (fills land between bars).

    """

    instrument_id: InstrumentId
    bar_type: BarType
    trade_until: str
    next_instrument_id: str
    check_secs: float = 1.0


class RollWatch(Actor):
    """Publish ``ROLL_TOPIC`` once the contract is past its roll moment and flat."""

    def __init__(self, config: RollWatchConfig) -> None:
        super().__init__(config)
        until = parse_utc_timestamp("trade_until", config.trade_until)
        self._until_ns = int(until.timestamp()) * 1_000_000_000
        self._started = False
        self._done = False
        self._loop = None

    def on_start(self) -> None:
        """Watch the strategy's bars."""
        self._loop = node_loop(self.clock)  # timer callbacks hop onto the node's loop
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        """The first bar at or after the roll moment starts the roll; check on every bar."""
        if bar.ts_event >= self._until_ns and not self._started:
            self._started = True
            self.log.warning(
                f"Contract roll: {self.config.instrument_id} is no longer the front month "
                f"(from {self.config.trade_until}); waiting to be flat, then restarting on "
                f"{self.config.next_instrument_id}"
            )
            self.clock.set_timer(
                CHECK_TIMER,
                interval=timedelta(seconds=self.config.check_secs),
                callback=on_loop(self._loop, self._on_timer),
            )
        self._check()

    def on_stop(self) -> None:
        """Cancel the check timer."""
        if CHECK_TIMER in self.clock.timer_names:
            self.clock.cancel_timer(CHECK_TIMER)

    def _on_timer(self, _event: TimeEvent) -> None:
        self._check()

    def _check(self) -> None:
        if not self._started or self._done:
            return
        instrument_id = self.config.instrument_id
        if self.cache.positions_open_count(instrument_id=instrument_id) > 0:
            return
        if (
            self.cache.orders_open_count(instrument_id=instrument_id) > 0
            or self.cache.orders_inflight_count(instrument_id=instrument_id) > 0
        ):
            return
        self._done = True
        self.log.warning(
            f"Contract roll: flat on {instrument_id}, no working orders: restarting on "
            f"{self.config.next_instrument_id}"
        )
        self.msgbus.publish(
            ROLL_TOPIC,
            {"from": str(instrument_id), "to": self.config.next_instrument_id},
        )
