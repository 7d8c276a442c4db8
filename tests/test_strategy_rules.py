"""The strategy's rules through Nautilus's backtest engine, on hand-built MES bars."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from nautilus_trader.model.enums import OrderSide, OrderStatus, OrderType
from nautilus_trader.trading.config import ImportableStrategyConfig, StrategyFactory

from quant_scalper.strategy import ZScoreMeanReversion, ZScoreMeanReversionConfig
from tests.engine_support import (
    BAR_TYPE,
    INSTRUMENT,
    Candle,
    bar_time,
    build_engine,
    flat_candle,
    strategy_config,
    zscores,
)

WINDOW = 10
CALM = [4000.0, 4000.25] * 5  # ten quiet bars to fill the window


def _run(closes: list[float], candles: list[Candle] | None = None, **config):
    candles = candles or [flat_candle(c) for c in closes]
    engine = build_engine(candles, window=WINDOW, **config)
    engine.run()
    return engine


def _first(z: list[float], start: int, predicate) -> int:
    return next(i for i in range(start, len(z)) if not math.isnan(z[i]) and predicate(z[i]))


def test_long_below_minus_entry_with_exact_bracket() -> None:
    closes = [*CALM, 3990.0, 3991.0, 3994.0, 3999.0, 4000.0, 4000.0]
    z = zscores(closes, WINDOW)
    entry_bar = _first(z, 0, lambda v: v <= -2.0)
    assert entry_bar == 10
    exit_bar = _first(z, entry_bar + 1, lambda v: abs(v) <= 0.5 or v >= 2.0)

    engine = _run(closes)
    orders = engine.cache.orders()
    entry = next(o for o in orders if o.order_type == OrderType.MARKET and o.side == OrderSide.BUY)
    stop = next(o for o in orders if o.order_type == OrderType.STOP_MARKET)
    target = next(o for o in orders if o.order_type == OrderType.LIMIT)
    assert entry.ts_init == bar_time(entry_bar).value
    assert entry.avg_px == 3990.00  # the ask at the bar close
    assert stop.trigger_price.as_decimal() == Decimal("3950.00")  # $200 / 5 = 40 points below
    assert target.price.as_decimal() == Decimal("4050.00")  # $300 / 5 = 60 points above
    assert stop.side == target.side == OrderSide.SELL
    assert not target.is_post_only
    assert any(tag.startswith("ZSCORE=-") for tag in entry.tags)

    positions = engine.cache.positions()
    assert len(positions) == 1
    position = positions[0]
    assert position.is_closed
    assert position.ts_closed == bar_time(exit_bar).value
    assert position.avg_px_close == closes[exit_bar] - 0.25  # sold at the bid
    assert stop.status == OrderStatus.CANCELED and target.status == OrderStatus.CANCELED
    assert engine.cache.orders_open_count() == 0


def test_short_above_plus_entry() -> None:
    closes = [*CALM, 4010.0, 4009.0, 4004.0, 4000.5, 4000.0, 4000.0]
    z = zscores(closes, WINDOW)
    entry_bar = _first(z, 0, lambda v: v >= 2.0)
    engine = _run(closes)
    entry = next(o for o in engine.cache.orders() if o.order_type == OrderType.MARKET)
    stop = next(o for o in engine.cache.orders() if o.order_type == OrderType.STOP_MARKET)
    target = next(o for o in engine.cache.orders() if o.order_type == OrderType.LIMIT)
    assert entry.side == OrderSide.SELL
    assert entry.ts_init == bar_time(entry_bar).value
    assert entry.avg_px == 4009.75  # the bid at the bar close
    assert stop.trigger_price.as_decimal() == Decimal("4049.75")
    assert target.price.as_decimal() == Decimal("3949.75")
    assert engine.cache.positions()[0].is_closed


def test_no_entry_inside_the_band() -> None:
    noisy = [4000.0, 4002.0, 3998.0, 4001.0, 3999.0] * 2
    closes = [*noisy, 4001.0, 3999.5, 4000.5, 4000.0, 4002.5, 3998.0]
    z = zscores(closes, WINDOW)
    assert all(math.isnan(v) or abs(v) < 2.0 for v in z)
    engine = _run(closes)
    assert engine.cache.orders() == []


def test_opposite_extreme_closes_without_reversing_on_the_same_bar() -> None:
    # Long at the dip, then a spike far above the mean: the long closes on that bar, and the
    # short (if the extreme persists) only comes on a later bar.
    closes = [*CALM, 3990.0, 4030.0, 4031.0, 4031.0]
    z = zscores(closes, WINDOW)
    assert z[10] <= -2.0 and z[11] >= 2.0
    engine = _run(closes)
    positions = sorted(engine.cache.positions(), key=lambda p: p.ts_opened)
    first = positions[0]
    assert first.entry == OrderSide.BUY
    assert first.ts_closed == bar_time(11).value
    later = [p for p in positions[1:]]
    assert all(p.ts_opened > bar_time(11).value for p in later)
    for p in later:
        assert p.entry == OrderSide.SELL
        assert z[_bar_index(p.ts_opened)] >= 2.0


def test_stop_loss_closes_at_the_stop() -> None:
    closes = [*CALM, 3990.0]
    candles = [flat_candle(c) for c in closes] + [Candle(3989.0, 3989.0, 3945.0, 3946.0)]
    engine = _run(closes, candles=candles)
    stop = next(o for o in engine.cache.orders() if o.order_type == OrderType.STOP_MARKET)
    target = next(o for o in engine.cache.orders() if o.order_type == OrderType.LIMIT)
    assert stop.status == OrderStatus.FILLED
    assert target.status == OrderStatus.CANCELED  # OCO
    # Sell stop at 3950.00 triggers when the bid reaches it; the market fill is at that bid.
    assert stop.avg_px <= 3950.0
    first_round_trip = engine.cache.position_snapshots()[0]
    assert first_round_trip.realized_pnl.as_decimal() <= Decimal(-200) - Decimal("1.24")


def test_fees_are_charged_per_contract_per_side() -> None:
    closes = [*CALM, 3990.0, 3991.0, 3994.0, 3999.0, 4000.0, 4000.0]
    engine = _run(closes, trade_size=2)
    position = engine.cache.positions()[0]
    assert position.peak_qty.as_double() == 2
    assert sum(m.as_decimal() for m in position.commissions()) == Decimal("2.48")


def test_loads_through_importable_strategy_config() -> None:
    importable = ImportableStrategyConfig(
        strategy_path="quant_scalper.strategy:ZScoreMeanReversion",
        config_path="quant_scalper.strategy:ZScoreMeanReversionConfig",
        config={
            "instrument_id": str(INSTRUMENT.id),
            "bar_type": str(BAR_TYPE),
            "window": 30,
            "entry_z": 2.5,
            "stop_loss_usd_per_contract": "250",
        },
    )
    strategy = StrategyFactory.create(importable)
    assert isinstance(strategy, ZScoreMeanReversion)
    assert strategy.config.window == 30
    assert strategy.config.stop_loss_usd_per_contract == Decimal(250)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"window": 1}, "window must be >= 2"),
        ({"entry_z": 0.5, "exit_z": 0.5}, "must be greater than exit_z"),
        ({"stop_loss_usd_per_contract": Decimal(0)}, "stop_loss_usd_per_contract must be > 0"),
    ],
)
def test_config_rejects_bad_values(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        strategy_config(**overrides)


def test_config_rejects_a_bad_trade_until() -> None:
    from quant_scalper.config import validate_strategy_values
    from quant_scalper.errors import ConfigError

    with pytest.raises(ConfigError, match="trade_until must be an ISO-8601 UTC timestamp"):
        strategy_config(trade_until="Dec 12")
    with pytest.raises(ConfigError, match=r"strategy\.trade_until"):
        validate_strategy_values({"trade_until": "2013-13-40T00:00:00Z"})
    assert strategy_config(trade_until="2013-12-12T20:59:00Z").trade_until is not None


def test_config_rejects_bars_of_another_instrument() -> None:
    from nautilus_trader.model.data import BarType

    with pytest.raises(ValueError, match="is not for instrument_id"):
        ZScoreMeanReversionConfig(
            instrument_id=INSTRUMENT.id,
            bar_type=BarType.from_str("MESH4.CME-1-MINUTE-LAST-EXTERNAL"),
        )


def _bar_index(ts_ns: int) -> int:
    for i in range(10_000):
        if bar_time(i).value == ts_ns:
            return i
    raise AssertionError(ts_ns)


def test_max_position_contracts_caps_trade_size_and_entries() -> None:
    """Issue 10: a configured maximum position size (Nautilus 1.231 skips the notional check
    for margin accounts). trade_size above it is refused; an entry that would take the net
    position beyond it is not submitted."""
    with pytest.raises(ValueError, match="trade_size \\(3\\) is above max_position_contracts"):
        strategy_config(trade_size=3)  # the default maximum is 2
    assert strategy_config(trade_size=2).max_position_contracts == 2
    engine = _run([*CALM, 3990.0], trade_size=1, max_position_contracts=1)
    strategy = engine.trader.strategies()[0]
    assert engine.cache.positions_open_count() == 1  # long 1 from the entry on the last bar
    assert not strategy._within_position_limit(OrderSide.BUY)  # 1 + 1 > 1: not submitted
    assert strategy._within_position_limit(OrderSide.SELL)


def test_a_gap_longer_than_the_limit_restarts_the_warm_up() -> None:
    """The 3990 close after 20 minutes without bars is the first of a fresh window: no entry.
    Without the rule (or with a limit above the gap) the stale window enters long there."""
    from datetime import timedelta

    from tests.engine_support import T0

    closes = [*CALM, 3990.0, 3991.0, 3994.0, 3999.0, 4000.0, 4000.0]
    times = [T0 + timedelta(minutes=i + 1 + (20 if i >= 10 else 0)) for i in range(len(closes))]
    candles = [flat_candle(c) for c in closes]

    def entries(**config) -> int:
        engine = build_engine(candles, window=WINDOW, times=times, **config)
        engine.run()
        return sum(1 for o in engine.cache.orders() if o.order_type == OrderType.MARKET)

    assert entries() == 0  # default: 10 minutes
    strategy = next(iter(build_engine(candles, window=WINDOW, times=times).trader.strategies()))
    assert strategy.zscore.max_gap_minutes == 10
    assert entries(max_bar_gap_minutes=None) == 2  # the stale entry and its exit
    assert entries(max_bar_gap_minutes=30) == 2
