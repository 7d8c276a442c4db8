"""The connection guard: its hold/resume rule (pure logic) and the strategy's use of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nautilus_trader.model.enums import OrderSide, OrderType

from quant_scalper.risk.connection_guard import ConnectionGuard, Link
from quant_scalper.strategy import ZScoreMeanReversion
from quant_scalper.topics import CONNECTION_TOPIC
from tests.engine_support import bar_time, build_engine, flat_candle, strategy_config

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_off_without_resync_secs_ignores_every_change() -> None:
    guard = ConnectionGuard(None)
    assert not guard.enabled
    assert guard.on_connection(False, at(0)) is None
    assert guard.hold_reason(at(1)) is None


def test_holds_while_disconnected_and_for_the_resync_period_then_resumes() -> None:
    guard = ConnectionGuard(25)
    assert guard.hold_reason(at(0)) is None
    assert guard.on_connection(False, at(0)) is Link.DISCONNECTED
    assert guard.hold_reason(at(600)) == "IB disconnected"  # however long the outage
    assert guard.on_connection(True, at(600)) is Link.RESYNCING
    assert "resyncing positions (25 s left)" in guard.hold_reason(at(600))
    assert guard.hold_reason(at(624.9)) is not None
    assert guard.hold_reason(at(625)) is None
    assert guard.link is Link.CONNECTED


def test_repeated_messages_change_nothing() -> None:
    guard = ConnectionGuard(10)
    assert guard.on_connection(True, at(0)) is None  # connected at start already
    assert guard.on_connection(False, at(1)) is Link.DISCONNECTED
    assert guard.on_connection(False, at(2)) is None
    assert guard.disconnected_at == at(1)
    assert guard.on_connection(True, at(3)) is Link.RESYNCING
    assert guard.on_connection(True, at(12)) is None  # does not extend the resync period
    assert guard.hold_reason(at(13)) is None


def test_a_drop_during_the_resync_period_starts_over() -> None:
    guard = ConnectionGuard(10)
    guard.on_connection(False, at(0))
    guard.on_connection(True, at(5))
    assert guard.on_connection(False, at(8)) is Link.DISCONNECTED
    assert guard.hold_reason(at(20)) == "IB disconnected"
    guard.on_connection(True, at(30))
    assert guard.hold_reason(at(39)) is not None
    assert guard.hold_reason(at(40)) is None


def test_position_sync_holds_past_the_resync_period_until_ib_matches() -> None:
    guard = ConnectionGuard(3, position_sync=True)
    guard.on_connection(False, at(0))
    guard.on_connection(True, at(20))
    assert "3 s left" in guard.hold_reason(at(20))
    reason = guard.hold_reason(at(60))  # long after the fixed period: IB not compared yet
    assert reason == "IB reconnected, waiting for IB's position to match (not compared with IB yet)"
    assert not guard.on_position_sync(False, "the node holds +1 contract(s), IB holds flat")
    assert "the node holds +1 contract(s), IB holds flat" in guard.hold_reason(at(61))
    assert guard.on_position_sync(True, "both flat")
    assert guard.hold_reason(at(62)) is None
    assert guard.link is Link.CONNECTED


def test_position_sync_a_match_before_the_period_ends_still_waits_for_it() -> None:
    guard = ConnectionGuard(10, position_sync=True)
    guard.on_connection(False, at(0))
    guard.on_connection(True, at(1))
    assert guard.on_position_sync(True, "both flat")
    assert guard.hold_reason(at(5)) is not None
    assert guard.hold_reason(at(11)) is None


def test_position_sync_matches_outside_a_resync_change_nothing() -> None:
    guard = ConnectionGuard(10, position_sync=True)
    assert not guard.on_position_sync(False, "stale")  # connected since start
    assert guard.hold_reason(at(0)) is None
    guard.on_connection(False, at(1))
    assert not guard.on_position_sync(True, "a match during the outage")
    guard.on_connection(True, at(2))  # a reconnect needs its own match
    assert guard.hold_reason(at(30)).startswith("IB reconnected, waiting for IB's position")


@pytest.mark.parametrize("bad", [0, -1])
def test_resync_secs_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="resync_secs"):
        ConnectionGuard(bad)


# -- the strategy glue, in a backtest: connection messages published from the bar handler ----

CALM = [4000.0, 4000.25] * 5
DROP = [3990.0, 3990.0, 3995.0, 4000.0, 4000.0]  # a long entry, then the way back (exit)


class _Outage(ZScoreMeanReversion):
    """Publishes connection changes (and operator commands) before given bars."""

    def __init__(self, config, script: dict[int, list]) -> None:
        super().__init__(config)
        self.script = script
        self.results: dict[int, list[str]] = {}
        self.bars = 0

    def on_bar(self, bar) -> None:
        for step in self.script.get(self.bars, []):
            if isinstance(step, bool):
                self.msgbus.publish(CONNECTION_TOPIC, {"connected": step, "detail": "test"})
            else:
                result = self.apply_command({"command": step})
                self.results.setdefault(self.bars, []).append(result)
        self.bars += 1
        super().on_bar(bar)


def _run(script: dict[int, list], closes: list[float]) -> tuple[_Outage, list]:
    strategy = _Outage(strategy_config(window=10, resync_secs=120), script)
    engine = build_engine([flat_candle(c) for c in closes], strategy=strategy)
    engine.run()
    orders = sorted(engine.cache.orders(), key=lambda o: o.ts_init)
    return strategy, orders


def test_no_entry_while_disconnected_or_resyncing_then_trading_resumes() -> None:
    closes = [*CALM, *DROP, *CALM, *DROP]
    strategy, orders = _run({9: [False], 14: [True]}, closes)
    # The first drop (bar 10) falls in the outage: nothing. Resync: bars 14-15 (120 s).
    # The second drop (bar 25) trades as usual.
    assert orders, "trading resumes after the resync period"
    first = min(o.ts_init for o in orders)
    assert first >= bar_time(len(CALM) + len(DROP) + len(CALM)).value
    assert strategy.guard.link is Link.CONNECTED


def test_exit_is_held_and_flatten_refused_during_the_hold_kill_halts() -> None:
    closes = [*CALM, *DROP, *CALM, *DROP]
    # Long from bar 10; the connection drops at bar 11, before the exit bars.
    strategy, orders = _run({11: [False, "flatten", "kill"], 13: [True]}, closes)
    flatten, kill = strategy.results[11]
    assert flatten.startswith("not flattened: IB disconnected")
    assert "quant-scalper flatten" in flatten
    assert "halted" in kill and "flattened once IB has resynced" in kill
    entries = [o for o in orders if o.side == OrderSide.BUY and o.order_type == OrderType.MARKET]
    closing = [o for o in orders if o.side == OrderSide.SELL and o.order_type == OrderType.MARKET]
    assert len(entries) == 1  # halted: the second drop does not trade
    assert len(closing) == 1  # the kill's flatten, deferred until the resync ended
    assert closing[0].ts_init >= bar_time(15).value
    assert strategy.breakers.state.halted
