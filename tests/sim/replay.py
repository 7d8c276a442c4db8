"""A live-clock replay data client: crafted MES minutes pushed in real time, for restart tests.

Each "minute" is emitted as four quote ticks (open, low, high, close of the bid/ask) and then
the trade bar, every ``interval_secs`` of wall time, stamped with the live clock's now, so the
strategy, its clock alerts and its risk state all run on real time.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import Bar
from nautilus_trader.model.identifiers import ClientId, Venue
from nautilus_trader.model.objects import Price, Quantity

from quant_scalper.instruments import bar_type_for, futures_contract
from tests.engine_support import SPREAD, quote

P = 4000.0
# A contract that has not expired (the sandbox venue rejects orders for expired ones).
INSTRUMENT = futures_contract("MES", datetime.now(UTC).year + 1, 12)
BAR_TYPE = bar_type_for(INSTRUMENT.id)


class ReplayDataClientConfig(LiveDataClientConfig, frozen=True):
    """``pattern``: "losses" (every dip is stopped out) or "wins" (every dip reverts)."""

    pattern: str = "losses"
    interval_secs: float = 0.05


def pattern_minutes(pattern: str):
    """An endless stream of (open, high, low, close) minutes: quiet bars, a dip, an outcome."""
    calm = [(P, P, P, P), (P + 0.25,) * 4] * 5
    dip = [(P - 10,) * 4]
    outcome = [(P - 10, P, P - 49.75, P)] if pattern == "losses" else [(P,) * 4]
    return itertools.cycle(calm + dip + outcome)


class ReplayDataClient(LiveMarketDataClient):
    """Pushes the pattern's minutes for the MES test contract once bars are subscribed."""

    def __init__(self, loop, msgbus, cache, clock, config: ReplayDataClientConfig) -> None:
        super().__init__(
            loop=loop,
            client_id=ClientId("CME"),
            venue=Venue("CME"),
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=InstrumentProvider(),
            config=config,
        )
        self._pattern = config.pattern
        self._interval = config.interval_secs
        self._task: asyncio.Task | None = None

    async def _connect(self) -> None:
        self._handle_data(INSTRUMENT)

    async def _disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _subscribe_bars(self, command) -> None:
        if self._task is None:
            self._task = self.create_task(self._replay())

    async def _subscribe_quote_ticks(self, command) -> None:
        return  # quotes come with the bars

    async def _unsubscribe_bars(self, command) -> None:
        return

    async def _unsubscribe_quote_ticks(self, command) -> None:
        return

    async def _replay(self) -> None:
        for o, h, l, c in pattern_minutes(self._pattern):  # noqa: E741
            await asyncio.sleep(self._interval)
            now = self._clock.timestamp_ns()
            for i, bid in enumerate((o - SPREAD, l - SPREAD, h - SPREAD, c - SPREAD)):
                self._handle_data(quote(bid, now - (3 - i) * 1_000, INSTRUMENT.id))
            bar = Bar(
                BAR_TYPE,
                Price(o, 2),
                Price(h, 2),
                Price(l, 2),
                Price(c, 2),
                Quantity.from_int(100),
                now,
                now,
            )
            self._handle_data(bar)


class ReplayDataClientFactory(LiveDataClientFactory):
    """Nautilus factory for ``ReplayDataClient``."""

    @staticmethod
    def create(loop, name, config, msgbus, cache, clock):
        return ReplayDataClient(loop, msgbus, cache, clock, config)
