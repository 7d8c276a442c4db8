"""Build a Nautilus BacktestEngine on hand-made MES bars and quotes, for rule tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.backtest.models import PerContractFeeModel
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

from quant_scalper.instruments import bar_type_for, futures_contract
from quant_scalper.strategy import ZScoreMeanReversion, ZScoreMeanReversionConfig
from quant_scalper.trading_state import install_trading_state_bridge

INSTRUMENT = futures_contract("MES", 2013, 12)
BAR_TYPE = bar_type_for(INSTRUMENT.id)
T0 = datetime(2013, 10, 8, 14, 0, tzinfo=UTC)  # 09:00 CT, mid-session on a Tuesday
SPREAD = 0.25


@dataclass(frozen=True)
class Candle:
    """One minute: trade bar OHLC; the quote at the close is close - spread / close."""

    open: float
    high: float
    low: float
    close: float


def flat_candle(price: float) -> Candle:
    """A bar that opens, trades and closes at one price."""
    return Candle(price, price, price, price)


def make_data(
    candles: Sequence[Candle],
    start: datetime = T0,
    step: timedelta = timedelta(minutes=1),
    times: Sequence[datetime] | None = None,
) -> tuple[list[QuoteTick], list[Bar]]:
    """Bars stamped at their close, and quotes: one at each bar's low/high and one at its close.

    The intrabar quotes (1 s before the close) let stops and targets trigger on the bar's range;
    the close quote (bid = close - 0.25, ask = close) is where market orders from on_bar fill.
    """
    quotes: list[QuoteTick] = []
    bars: list[Bar] = []
    for i, c in enumerate(candles):
        ts = _ns(times[i]) if times is not None else _ns(start + step * (i + 1))
        for offset, bid in ((3, c.open - SPREAD), (2, c.low - SPREAD), (1, c.high - SPREAD)):
            quotes.append(quote(bid, ts - offset * 1_000_000_000))
        quotes.append(quote(c.close - SPREAD, ts))
        bars.append(
            Bar(
                BAR_TYPE,
                Price(c.open, 2),
                Price(c.high, 2),
                Price(c.low, 2),
                Price(c.close, 2),
                Quantity.from_int(100),
                ts,
                ts,
            ),
        )
    return quotes, bars


def build_engine(
    candles: Sequence[Candle],
    strategy: Strategy | None = None,
    start: datetime = T0,
    times: Sequence[datetime] | None = None,
    **config: Any,
) -> BacktestEngine:
    """An engine on an IB-like CME venue with the strategy (default config plus overrides)."""
    engine = BacktestEngine(
        BacktestEngineConfig(trader_id="TESTER-001", logging=LoggingConfig(log_level="ERROR")),
    )
    engine.add_venue(
        venue=Venue("CME"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(100_000, USD)],
        fee_model=PerContractFeeModel(Money(0.62, USD)),
        bar_execution=False,
    )
    engine.add_instrument(INSTRUMENT)
    quotes, bars = make_data(candles, start, times=times)
    engine.add_data(quotes)
    engine.add_data(bars)
    if strategy is None:
        strategy = ZScoreMeanReversion(strategy_config(**config))
    engine.add_strategy(strategy)
    install_trading_state_bridge(engine.kernel.msgbus, engine.kernel.risk_engine)
    return engine


def strategy_config(**overrides: Any) -> ZScoreMeanReversionConfig:
    """The default strategy config on the test contract."""
    values: dict[str, Any] = {"instrument_id": INSTRUMENT.id, "bar_type": BAR_TYPE, "window": 5}
    values.update(overrides)
    return ZScoreMeanReversionConfig(**values)


def zscores(closes: Sequence[float], window: int) -> list[float]:
    """Independent pandas z-scores (ddof=1) of the closes, NaN during warm-up."""
    s = pd.Series(closes, dtype="float64")
    return list((s - s.rolling(window).mean()) / s.rolling(window).std(ddof=1))


def bar_time(i: int, start: datetime = T0) -> pd.Timestamp:
    """The close time of bar ``i`` (0-based)."""
    return pd.Timestamp(start + timedelta(minutes=i + 1))


def quote(bid: float, ts: int, instrument_id: InstrumentId = INSTRUMENT.id) -> QuoteTick:
    """A quote one spread wide with 50 lots a side."""
    return QuoteTick(
        instrument_id,
        Price(bid, 2),
        Price(bid + SPREAD, 2),
        Quantity.from_int(50),
        Quantity.from_int(50),
        ts,
        ts,
    )


def _ns(moment: datetime) -> int:
    return int(pd.Timestamp(moment).value)
