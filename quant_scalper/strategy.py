"""The Z-score mean-reversion strategy: thin Nautilus glue around ``signals`` and ``ZScore``."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.config import PositiveInt, StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import ContingencyType, OrderSide, TimeInForce
from nautilus_trader.model.events import (
    OrderDenied,
    OrderRejected,
    PositionClosed,
    PositionOpened,
)
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.trading.strategy import Strategy

from quant_scalper.indicators import ZScore
from quant_scalper.signals import Action, Side, SignalRules, usd_to_points


class ZScoreMeanReversionConfig(StrategyConfig, frozen=True):
    """
    Configuration for ``ZScoreMeanReversion`` instances.

    Parameters
    ----------
    instrument_id : InstrumentId
        The futures contract to trade, in IB simplified symbology (e.g. ``MESZ5.CME``).
    bar_type : BarType
        The bars the z-score is computed on (e.g. ``MESZ5.CME-1-MINUTE-LAST-EXTERNAL``).
    window : int, default 20
        How many bar closes the rolling mean and standard deviation cover (>= 2).
    entry_z : float, default 2.0
        Enter when flat and |z| >= entry_z (short above, long below the mean).
    exit_z : float, default 0.5
        Close when |z| <= exit_z; must be smaller than ``entry_z``.
    trade_size : int, default 1
        Contracts per entry.
    stop_loss_usd_per_contract : Decimal, default 200
        Stop-loss distance in USD per contract, converted to points through the multiplier.
    take_profit_usd_per_contract : Decimal, default 300
        Take-profit distance in USD per contract, converted to points through the multiplier.
    subscribe_quote_ticks : bool, default False
        Subscribe to quotes so brackets are priced off the current bid/ask (turn on live;
        backtests already have the venue's quotes in the cache).
    flatten_on_stop : bool, default False
        Cancel orders and flatten when the strategy stops. Off by default: a restart should
        leave the position protected by its bracket at the broker, not close it.

    """

    instrument_id: InstrumentId
    bar_type: BarType
    window: PositiveInt = 20
    entry_z: float = 2.0
    exit_z: float = 0.5
    trade_size: PositiveInt = 1
    stop_loss_usd_per_contract: Decimal = Decimal(200)
    take_profit_usd_per_contract: Decimal = Decimal(300)
    subscribe_quote_ticks: bool = False
    flatten_on_stop: bool = False

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(
                f"window must be >= 2 (a standard deviation needs 2 values), was {self.window}"
            )
        SignalRules(entry_z=self.entry_z, exit_z=self.exit_z)
        for name in ("stop_loss_usd_per_contract", "take_profit_usd_per_contract"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 USD, was {getattr(self, name)}")
        if self.bar_type.instrument_id != self.instrument_id:
            raise ValueError(
                f"bar_type {self.bar_type} is not for instrument_id {self.instrument_id}: "
                "use bars of the traded contract",
            )


class ZScoreMeanReversion(Strategy):
    """
    Mean reversion on the z-score of bar closes, entering with bracket orders.

    Entries are a market order with a stop-loss and a take-profit child (OCO) placed
    ``stop_loss_usd_per_contract`` / ``take_profit_usd_per_contract`` away from the current
    bid/ask (or the bar close when no quote is cached). Exits cancel the bracket children
    first, then close at market. See ``quant_scalper.signals`` for the rules.
    """

    def __init__(self, config: ZScoreMeanReversionConfig) -> None:
        super().__init__(config)
        self.rules = SignalRules(entry_z=config.entry_z, exit_z=config.exit_z)
        self.zscore = ZScore(config.window)
        self.instrument: Instrument | None = None
        self._sl_points = Decimal(0)
        self._tp_points = Decimal(0)
        self._exit_pending = False
        self._entry_blocked_until_reset = False

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        """Resolve the instrument, size the bracket in points and subscribe to bars."""
        self.instrument = self.cache.instrument(self.config.instrument_id)
        if self.instrument is None:
            self.log.error(
                f"Instrument {self.config.instrument_id} is not in the cache: load it from the "
                "catalog (backtest) or the IB instrument provider (live), then restart",
            )
            self.stop()
            return
        multiplier = self.instrument.multiplier.as_decimal()
        tick = self.instrument.price_increment.as_decimal()
        self._sl_points = usd_to_points(self.config.stop_loss_usd_per_contract, multiplier, tick)
        self._tp_points = usd_to_points(self.config.take_profit_usd_per_contract, multiplier, tick)
        self.log.info(
            f"Bracket: stop {self._sl_points} pts, target {self._tp_points} pts "
            f"(multiplier {multiplier}, tick {tick})",
        )
        self.register_indicator_for_bars(self.config.bar_type, self.zscore)
        self.subscribe_bars(self.config.bar_type)
        if self.config.subscribe_quote_ticks:
            self.subscribe_quote_ticks(self.config.instrument_id)

    def on_stop(self) -> None:
        """Optionally flatten; by default leave the bracket protecting the position."""
        if self.config.flatten_on_stop:
            self.cancel_all_orders(self.config.instrument_id)
            self.close_all_positions(self.config.instrument_id)

    def on_reset(self) -> None:
        """Forget indicator state and pending flags between backtest runs."""
        self.zscore.reset()
        self._exit_pending = False
        self._entry_blocked_until_reset = False

    # -- decisions ---------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Apply the signal rules to the z-score of this bar's close."""
        z = self.zscore.value
        if z is None:
            return
        if self._entry_blocked_until_reset and abs(z) <= self.config.exit_z:
            self._entry_blocked_until_reset = False
        action = self.rules.decide(z, self._side())
        if action is Action.EXIT:
            self._exit(f"z={z:.3f}")
        elif action is Action.ENTER_LONG:
            self._enter(OrderSide.BUY, bar, z)
        elif action is Action.ENTER_SHORT:
            self._enter(OrderSide.SELL, bar, z)

    def _side(self) -> Side:
        if self.portfolio.is_net_long(self.config.instrument_id):
            return Side.LONG
        if self.portfolio.is_net_short(self.config.instrument_id):
            return Side.SHORT
        return Side.FLAT

    def _has_working_orders(self) -> bool:
        instrument_id = self.config.instrument_id
        return (
            self.cache.orders_open_count(instrument_id=instrument_id, strategy_id=self.id) > 0
            or self.cache.orders_inflight_count(instrument_id=instrument_id, strategy_id=self.id)
            > 0
        )

    def _enter(self, side: OrderSide, bar: Bar, z: float) -> None:
        if self._entry_blocked_until_reset or self._has_working_orders():
            return
        reference = self._reference_price(side, bar)
        sign = Decimal(1) if side == OrderSide.BUY else Decimal(-1)
        sl = self.instrument.make_price(reference - sign * self._sl_points)
        tp = self.instrument.make_price(reference + sign * self._tp_points)
        order_list = self.order_factory.bracket(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(self.config.trade_size),
            time_in_force=TimeInForce.GTC,
            contingency_type=ContingencyType.OCO,
            sl_trigger_price=sl,
            tp_price=tp,
            tp_post_only=False,  # IB rejects post-only children, killing the whole bracket
            entry_tags=[f"ZSCORE={z:.4f}"],
        )
        self.log.info(f"Entry {side.name} z={z:.3f} ref={reference} stop={sl} target={tp}")
        self.submit_order_list(order_list)

    def _reference_price(self, side: OrderSide, bar: Bar) -> Decimal:
        """The price the bracket is measured from: the side we would pay, else the bar close."""
        quote = self.cache.quote_tick(self.config.instrument_id)
        price: Price = bar.close
        if quote is not None and quote.ts_event >= bar.ts_event - bar.bar_type.spec.timedelta.value:
            price = quote.ask_price if side == OrderSide.BUY else quote.bid_price
        return price.as_decimal()

    def _exit(self, reason: str) -> None:
        if self._exit_pending:
            return
        self._exit_pending = True
        self.log.info(f"Exit: {reason}")
        self.cancel_all_orders(self.config.instrument_id)
        self.close_all_positions(self.config.instrument_id, tags=["EXIT"])

    # -- events ------------------------------------------------------------------------------

    def on_position_opened(self, event: PositionOpened) -> None:
        """A fresh position has no exit in flight."""
        self._exit_pending = False

    def on_position_closed(self, event: PositionClosed) -> None:
        """Clear the exit flag and cancel any bracket child left working."""
        self._exit_pending = False
        self.cancel_all_orders(self.config.instrument_id)
        self.log.info(f"Closed {event.position_id}: realized {event.realized_pnl}")

    def on_order_denied(self, event: OrderDenied) -> None:
        """Log the risk engine's reason; wait for a fresh signal instead of retrying."""
        self._after_refusal(f"denied by the risk engine: {event.reason}")

    def on_order_rejected(self, event: OrderRejected) -> None:
        """Log the venue's reason; wait for a fresh signal instead of retrying."""
        self._after_refusal(f"rejected by the venue: {event.reason}")

    def _after_refusal(self, why: str) -> None:
        self.log.error(f"Order {why}. No retry: entries resume after |z| <= exit_z.")
        self._entry_blocked_until_reset = True
        self._exit_pending = False
