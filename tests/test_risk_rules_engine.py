"""Each circuit breaker through Nautilus's backtest engine, on crafted MES bars.

A "cycle" is ten quiet bars around price p, then a dip bar at p - 10 that the strategy buys
(z <= -2 at window 10), then an outcome bar: a crash through the 40-point stop (a $200 loss
plus $1.24 fees) or a recovery to p (a z-score exit, a winner).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import OrderStatus, OrderType, TradingState

from quant_scalper.risk import RiskStateStore, Rule
from quant_scalper.strategy import ZScoreMeanReversion
from quant_scalper.topics import CONTROL_RESULT_TOPIC, CONTROL_TOPIC, TRADING_STATE_TOPIC
from tests.engine_support import Candle, build_engine, flat_candle, strategy_config, zscores

CT = ZoneInfo("America/Chicago")
P = 4000.0
WINDOW = 10
NO_PAUSE = {"max_consecutive_losses": 50}


def calm(p: float = P) -> list[Candle]:
    return [flat_candle(p), flat_candle(p + 0.25)] * 5


def stop_cycle(p: float = P) -> list[Candle]:
    """Buy the dip at p-10; the next bar trades down to p-49.75 (bid p-50: the stop) and back."""
    return [*calm(p), flat_candle(p - 10), Candle(p - 10, p, p - 49.75, p)]


def win_cycle(p: float = P) -> list[Candle]:
    """Buy the dip at p-10; the next bar is back at p: |z| <= 0.5, exit at the bid p-0.25."""
    return [*calm(p), flat_candle(p - 10), flat_candle(p)]


def timeline(*blocks: tuple[datetime, list[Candle]]) -> tuple[list[Candle], list[datetime]]:
    """Concatenate candle blocks, each starting at its own (Chicago) time, one bar a minute."""
    candles: list[Candle] = []
    times: list[datetime] = []
    for start, block in blocks:
        for i, candle in enumerate(block):
            candles.append(candle)
            times.append((start + timedelta(minutes=i + 1)).astimezone(UTC))
    return candles, times


def ct(hour: int, minute: int, day: int = 8) -> datetime:
    return datetime(2013, 10, day, hour, minute, tzinfo=CT)


def run(candles, times, strategy=None, **config):
    config.setdefault("window", WINDOW)
    engine = build_engine(candles, strategy=strategy, times=times, **config)
    states: list[str] = []
    engine.kernel.msgbus.subscribe(TRADING_STATE_TOPIC, states.append)
    engine.run()
    return engine, states


def entries(engine) -> list[pd.Timestamp]:
    return sorted(
        pd.Timestamp(o.ts_init, tz="UTC")
        for o in engine.cache.orders()
        if o.order_type == OrderType.MARKET
        and "EXIT" not in (o.tags or [])
        and o.parent_order_id is None
        and o.linked_order_ids
    )


def strategy_of(engine) -> ZScoreMeanReversion:
    return next(s for s in engine.trader.strategies() if isinstance(s, ZScoreMeanReversion))


def trips(engine, rule: Rule):
    return [t for t in strategy_of(engine).trips if t.rule is rule]


def test_daily_loss_limit_trips_at_500_including_fees_and_resumes_after_1700_ct() -> None:
    sag = [*calm(), flat_candle(P - 10), flat_candle(P - 29.25), flat_candle(P - 29.5)]
    candles, times = timeline(
        (ct(9, 0), stop_cycle() + stop_cycle() + sag),
        (ct(11, 0), win_cycle() + win_cycle()),  # signals later that day: must be ignored
        (ct(17, 30), win_cycle()),  # the next trading day (rolls at 17:00 CT)
    )
    engine, _ = run(candles, times, **NO_PAUSE)
    sag1_time, sag2_time = times[35], times[36]

    limit_trips = trips(engine, Rule.DAILY_LOSS_LIMIT)
    assert len(limit_trips) == 1
    # Two stops (-$201.24 each, fees included) and an open loss of 19.75 points at the bid:
    # -402.48 - 98.75 = -501.23 trips; a bar earlier -402.48 - 97.50 = -499.98 did not.
    assert limit_trips[0].at == sag2_time
    assert sag1_time < limit_trips[0].at

    entry_times = entries(engine)
    assert [t for t in entry_times if sag2_time < t < ct(17, 0)] == []
    assert any(t > ct(17, 0) for t in entry_times), "entries resume on the next trading day"

    closed = engine.cache.position_snapshots()
    day_pnl = sum(p.realized_pnl.as_decimal() for p in closed)
    assert day_pnl <= Decimal(-500)


def test_three_losses_pause_entries_exactly_30_minutes() -> None:
    blocks = [(ct(9, 0), stop_cycle() * 3)]
    # Dips keep coming every 12 minutes after the third loss.
    blocks += [(ct(9, 36) + timedelta(minutes=12 * k), win_cycle()) for k in range(5)]
    candles, times = timeline(*blocks)
    engine, _ = run(candles, times, daily_loss_limit_usd=Decimal(10_000))

    pause = trips(engine, Rule.CONSECUTIVE_LOSSES)
    assert len(pause) == 1
    third_loss_at = pause[0].at
    resume_at = third_loss_at + timedelta(minutes=30)
    later = [t for t in entries(engine) if t > third_loss_at]
    assert later, "entries resume after the pause"
    assert all(t >= resume_at for t in later)
    assert later[0] - resume_at < timedelta(minutes=13), "the first dip after the pause is taken"
    # Without the pause the dip at k=0 (about 12 minutes after the loss) would have been bought.
    assert later[0] - third_loss_at >= timedelta(minutes=30)


def test_position_closed_at_max_holding_time() -> None:
    entry = [*calm(), flat_candle(P - 10)]
    drift = [flat_candle(P - 10 - 0.25 * k) for k in range(1, 140)]  # z stays near -1.5
    candles, times = timeline((ct(9, 0), entry + drift))
    engine, _ = run(candles, times, max_holding_minutes=120)

    position = engine.cache.positions()[0]
    assert position.is_closed
    held = pd.Timedelta(position.ts_closed - position.ts_opened)
    assert timedelta(minutes=120) <= held <= timedelta(minutes=121)
    assert trips(engine, Rule.MAX_HOLDING_TIME)


def test_session_guard_blocks_entries_near_the_halt() -> None:
    candles, times = timeline((ct(15, 39), win_cycle()))  # the dip prints at 15:50 CT
    engine, _ = run(candles, times)
    assert entries(engine) == []


def test_flatten_before_the_halt() -> None:
    entry = [*calm(), flat_candle(P - 10)]  # bought at 15:40 CT
    drift = [flat_candle(P - 10 - 0.25 * k) for k in range(1, 15)]
    candles, times = timeline((ct(15, 29), entry + drift))
    engine, _ = run(candles, times)
    position = engine.cache.positions()[0]
    assert position.is_closed
    assert pd.Timestamp(position.ts_closed, tz="UTC") == pd.Timestamp(ct(15, 45))
    assert trips(engine, Rule.SESSION_GUARD)


class KillThenResume(ZScoreMeanReversion):
    """Presses the kill switch at one bar and resume at a later one (an operator's hands)."""

    kill_at: datetime | None = None
    resume_at: datetime | None = None

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        now = pd.Timestamp(bar.ts_event, tz="UTC")
        if self.kill_at is not None and now == self.kill_at:
            self.kill("test kill")
        if self.resume_at is not None and now == self.resume_at:
            self.resume("test resume")


def test_kill_switch_flattens_under_reducing_then_halts_until_resumed() -> None:
    entry = [*calm(), flat_candle(P - 10)]
    drift = [flat_candle(P - 10 - 0.25 * k) for k in range(1, 5)]
    candles, times = timeline(
        (ct(9, 0), entry + drift),
        (ct(10, 0), win_cycle()),  # a dip while halted: ignored
        (ct(11, 0), win_cycle()),  # a dip after resume: bought
    )
    strategy = KillThenResume(strategy_config(window=WINDOW))
    strategy.kill_at = pd.Timestamp(times[13])
    strategy.resume_at = pd.Timestamp(times[26])  # the last bar of the 10:00 block
    engine, states = run(candles, times, strategy=strategy)

    assert states[:2] == ["REDUCING", "HALTED"]
    assert states[-1] == "ACTIVE"
    first = engine.cache.position_snapshots()[0] if engine.cache.position_snapshots() else None
    closed_at = first.ts_closed if first else engine.cache.positions()[0].ts_closed
    assert pd.Timestamp(closed_at, tz="UTC") == strategy.kill_at
    entry_times = entries(engine)
    assert not [t for t in entry_times if strategy.kill_at < t < strategy.resume_at]
    assert [t for t in entry_times if t > strategy.resume_at]
    assert engine.kernel.risk_engine.trading_state == TradingState.ACTIVE


def test_kill_switch_survives_restart_through_the_state_file(tmp_path: Path) -> None:
    entry = [*calm(), flat_candle(P - 10), flat_candle(P - 10.25)]
    candles, times = timeline((ct(9, 0), entry))
    strategy = KillThenResume(strategy_config(window=WINDOW, state_dir=str(tmp_path)))
    strategy.kill_at = pd.Timestamp(times[-1])
    run(candles, times, strategy=strategy)

    saved = RiskStateStore(tmp_path, "TESTER-001").load()
    assert saved is not None and saved.halted and saved.halt_reason == "test kill"

    # A new engine on later data, same state folder: starts halted, takes no entry.
    candles, times = timeline((ct(9, 0, day=9), win_cycle()))
    engine, states = run(candles, times, state_dir=str(tmp_path))
    assert entries(engine) == []
    assert "HALTED" in states
    assert strategy_of(engine).breakers.state.halted


def test_corrupt_state_file_refuses_to_trade(tmp_path: Path) -> None:
    path = RiskStateStore(tmp_path, "TESTER-001").path
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    candles, times = timeline((ct(9, 0), win_cycle()))
    engine, states = run(candles, times, state_dir=str(tmp_path))
    assert entries(engine) == []
    state = strategy_of(engine).breakers.state
    assert state.halted
    assert str(path) in state.halt_reason and "corrupt" in state.halt_reason
    assert path.read_text() == "{not json", "the evidence is kept, never silently reset"
    assert "HALTED" in states


def test_denied_entry_is_logged_once_per_signal_not_retried() -> None:
    slide = [flat_candle(P - d) for d in (5, 12, 20, 30)]
    candles, times = timeline((ct(9, 0), [*calm(), *slide, *calm(), flat_candle(P - 10)]))
    z = zscores([c.close for c in candles], WINDOW)
    assert sum(1 for v in z[10:14] if v <= -2.0) >= 3, "several bars in a row signal"
    engine = build_engine(candles, times=times, window=WINDOW)
    # The risk engine refuses every order (as it would when HALTED by hand or by a limit).
    engine.kernel.risk_engine.set_trading_state(TradingState.HALTED)
    engine.run()
    denied = [
        o
        for o in engine.cache.orders()
        if o.status == OrderStatus.DENIED and o.order_type == OrderType.MARKET
    ]
    assert len(denied) == 2, "one denial per signal episode, never a retry loop"
    assert engine.cache.positions() == []


class CommandAt(ZScoreMeanReversion):
    """Sends one operator command over the message bus at a given bar."""

    at: datetime | None = None
    message: dict | None = None
    results: list[dict]

    def on_start(self) -> None:
        super().on_start()
        self.results = []
        self.msgbus.subscribe(CONTROL_RESULT_TOPIC, self.results.append)

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if self.at is not None and pd.Timestamp(bar.ts_event, tz="UTC") == self.at:
            self.msgbus.publish(CONTROL_TOPIC, self.message)


def test_pause_command_blocks_entries_for_the_minutes_given() -> None:
    blocks = [(ct(9, 0) + timedelta(minutes=12 * k), win_cycle()) for k in range(6)]
    candles, times = timeline(*blocks)
    strategy = CommandAt(strategy_config(window=WINDOW))
    strategy.at = pd.Timestamp(times[0])
    strategy.message = {"command": "pause", "minutes": 40, "reason": "news", "source": "test"}
    engine, _ = run(candles, times, strategy=strategy)
    assert strategy.results == [
        {"command": "pause", "result": "entries paused for 40 min", "source": "test"}
    ]
    entry_times = entries(engine)
    assert entry_times and all(t >= strategy.at + timedelta(minutes=40) for t in entry_times)
    assert trips(engine, Rule.MANUAL_PAUSE)


def test_flatten_command_closes_the_position_without_halting() -> None:
    entry = [*calm(), flat_candle(P - 10)]
    drift = [flat_candle(P - 10 - 0.25 * k) for k in range(1, 6)]
    candles, times = timeline((ct(9, 0), entry + drift), (ct(10, 0), win_cycle()))
    strategy = CommandAt(strategy_config(window=WINDOW))
    strategy.at = pd.Timestamp(times[12])
    strategy.message = {"command": "flatten", "reason": "operator", "source": "test"}
    engine, states = run(candles, times, strategy=strategy)
    assert strategy.results[0]["result"] == "flattening the LONG position"
    first = engine.cache.position_snapshots()[0]
    assert pd.Timestamp(first.ts_closed, tz="UTC") == strategy.at
    assert [t for t in entries(engine) if t > pd.Timestamp(ct(10, 0))], "not halted"
    assert "HALTED" not in states


def test_trade_until_flattens_at_that_bar_and_blocks_later_entries() -> None:
    entry = [*calm(), flat_candle(P - 10)]  # long at the ask P-10 on bar 10
    drift = [flat_candle(P - 10 - 0.25 * k) for k in range(1, 11)]  # z near -1.5: no exit
    candles, times = timeline((ct(9, 0), entry + drift), (ct(12, 0), win_cycle()))
    roll = times[15]  # the contract's last bar in the run (a drift bar)
    control, _ = run(candles, times)
    assert [t for t in entries(control) if t > roll], "without trade_until 12:00 trades"
    held = min(control.cache.positions(), key=lambda p: p.ts_opened)
    assert pd.Timestamp(held.ts_closed, tz="UTC") > pd.Timestamp(roll), "held past the roll"

    engine, _ = run(candles, times, trade_until=roll.isoformat())
    assert entries(engine) == [pd.Timestamp(times[10])]
    [position] = engine.cache.positions()
    assert position.is_closed
    assert pd.Timestamp(position.ts_closed, tz="UTC") == pd.Timestamp(roll)
    # A market sell at that minute's close quote: the bid, close - 0.25.
    assert position.avg_px_close == candles[15].close - 0.25
    assert not engine.cache.orders_open()
