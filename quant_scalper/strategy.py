"""The Z-score mean-reversion strategy: thin Nautilus glue around ``signals`` and ``ZScore``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from nautilus_trader.common.events import TimeEvent
from nautilus_trader.config import NonNegativeInt, PositiveInt, StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import (
    ContingencyType,
    OrderSide,
    TimeInForce,
)
from nautilus_trader.model.events import (
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderRejected,
    PositionClosed,
    PositionOpened,
)
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Price
from nautilus_trader.model.orders import Order
from nautilus_trader.trading.strategy import Strategy

from quant_scalper.config import parse_utc_timestamp
from quant_scalper.indicators import ZScore
from quant_scalper.live.ib_errors import explain_refusal
from quant_scalper.live.latency import signal_stamp
from quant_scalper.node_thread import node_loop, on_loop
from quant_scalper.operator_commands import OperatorCommands
from quant_scalper.parameters import default
from quant_scalper.risk import (
    RISK_STATE_KEY,
    RiskCore,
    RiskLimits,
    RiskState,
    RiskStateError,
    Rule,
    SessionSchedule,
    Trip,
    parse_clock_range,
    parse_clock_time,
    risk_state_from_bytes,
    risk_state_to_bytes,
)
from quant_scalper.risk.connection_guard import ConnectionGuard, Link
from quant_scalper.risk.persistence import SaveOutcome
from quant_scalper.risk.trader_risk import Booked, TraderRisk
from quant_scalper.signals import (
    Action,
    Side,
    SignalRules,
    usd_to_points,
)
from quant_scalper.topics import (
    CONNECTION_TOPIC,
    CONTROL_RESULT_TOPIC,
    CONTROL_TOPIC,
    POSITION_SYNC_TOPIC,
    RISK_TRIP_TOPIC,
    SIGNAL_TIMING_TOPIC,
    TRADING_STATE_TOPIC,
)
from quant_scalper.trade_booking import closed_trade
from quant_scalper.working_orders import (
    has_working_orders,
    orphan_orders,
    refused_child,
    uncancelled_orders,
)


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
    max_bar_gap_minutes : int or None, default 10
        A gap between bars longer than this restarts the z-score's warm-up (a halt, weekend
        or feed outage; see ``quant_scalper.signals``). None disables the rule.
    trade_size : int, default 1
        Contracts per entry; at most ``max_position_contracts``.
    max_position_contracts : int, default 2
        The largest net position (contracts, either side) the strategy may hold: an entry that
        would take the position beyond it is not submitted. Nautilus 1.231 skips its notional
        check for margin accounts, so this is the position-size limit.
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
    daily_loss_limit_usd : Decimal, default 500
        Realized (net of fees) plus open P&L of the CME trading day at or below minus this:
        cancel, flatten, no new entries until the next trading day (17:00 America/Chicago).
    max_consecutive_losses : int, default 3
        This many losing trades in a row (net of fees) pause new entries...
    pause_minutes : int, default 30
        ...for this many minutes. A winner resets the count.
    max_holding_minutes : int or None, default 120
        Close a position at market when it is this old (None disables).
    entry_guard_minutes : int, default 15
        No new entries this close to the daily halt, a session break, or during them.
    flatten_before_halt : bool, default True
        Close any position ``entry_guard_minutes`` before the daily halt.
    session_halt : str, default "16:00"
        The daily halt (CME equity index: 16:00 America/Chicago; 16:15 before 2021).
    session_open : str, default "17:00"
        The daily re-open, where the trading day rolls.
    session_breaks : tuple[str, ...], default ()
        Extra intraday halts as "HH:MM-HH:MM" (the bundled 2013/2020 data has "15:15-15:30").
    session_tz : str, default "America/Chicago"
        The exchange time zone of the session times.
    session_always_open : bool, default False
        Treat the market as never halting (sandbox replays and tests only: no session guard,
        no flatten before the halt; the trading day still rolls at ``session_open``).
    state_dir : str, optional
        Folder of the crash-safe risk state file (``<state_dir>/<trader_id>/risk_state.json``).
        None keeps the state in memory and in Nautilus's cache (``on_save``/``on_load``) only.
    control_poll_secs : int, optional
        Poll the control folder (``quant-scalper kill`` / ``resume``) this often; needs
        ``state_dir``. Pending commands are always applied at start when ``state_dir`` is set.
    trade_until : str, optional
        ISO-8601 UTC time of this contract's last bar in the run (the backtest sets it at each
        roll): from the bar at or after it, cancel, close at market, and enter no more. None
        (live) trades on.
    fee_per_contract_usd : Decimal, optional
        The broker's fee per contract per side (live). A fill that carries no commission
        (Nautilus infers fills at reconciliation with commission 0) is booked in the risk
        state with this fee, and the log says so. None (backtests: the fee model charges
        every fill) books Nautilus's figures as they are.
    resync_secs : int, optional
        The connection guard (live): hold every new order, exits included, while the broker
        connection is down (``CONNECTION_TOPIC``) and for this many seconds after it is back,
        so the position check can correct the cached position first (the bracket at the broker
        protects the position meanwhile). None (backtests) turns it off.
    resync_position_sync : bool, default False
        Live: a resync also lasts until IB's position has been seen equal to the node's
        (``POSITION_SYNC_TOPIC``, published by ``live.position_sync``).

    """

    instrument_id: InstrumentId
    bar_type: BarType
    window: PositiveInt = default("window")
    entry_z: float = default("entry_z")
    exit_z: float = default("exit_z")
    max_bar_gap_minutes: PositiveInt | None = default("max_bar_gap_minutes")
    trade_size: PositiveInt = default("trade_size")
    max_position_contracts: PositiveInt = default("max_position_contracts")
    stop_loss_usd_per_contract: Decimal = default("stop_loss_usd_per_contract")
    take_profit_usd_per_contract: Decimal = default("take_profit_usd_per_contract")
    subscribe_quote_ticks: bool = default("subscribe_quote_ticks")
    flatten_on_stop: bool = default("flatten_on_stop")
    daily_loss_limit_usd: Decimal = default("daily_loss_limit_usd")
    max_consecutive_losses: PositiveInt = default("max_consecutive_losses")
    pause_minutes: NonNegativeInt = default("pause_minutes")
    max_holding_minutes: PositiveInt | None = default("max_holding_minutes")
    entry_guard_minutes: NonNegativeInt = default("entry_guard_minutes")
    flatten_before_halt: bool = default("flatten_before_halt")
    session_halt: str = default("session_halt")
    session_open: str = default("session_open")
    session_breaks: tuple[str, ...] = default("session_breaks")
    session_tz: str = default("session_tz")
    session_always_open: bool = default("session_always_open")
    state_dir: str | None = default("state_dir")
    control_poll_secs: PositiveInt | None = default("control_poll_secs")
    trade_until: str | None = default("trade_until")
    resync_secs: PositiveInt | None = default("resync_secs")
    resync_position_sync: bool = default("resync_position_sync")
    fee_per_contract_usd: Decimal | None = default("fee_per_contract_usd")

    def risk_limits(self) -> RiskLimits:
        """The circuit-breaker limits of this config (validated)."""
        return RiskLimits(
            daily_loss_limit=self.daily_loss_limit_usd,
            max_consecutive_losses=self.max_consecutive_losses,
            pause_minutes=self.pause_minutes,
            max_holding_minutes=self.max_holding_minutes,
            entry_guard_minutes=self.entry_guard_minutes,
            flatten_before_halt=self.flatten_before_halt,
        )

    def session_schedule(self) -> SessionSchedule:
        """The CME session calendar of this config (validated)."""
        return SessionSchedule(
            halt_start=parse_clock_time("session_halt", self.session_halt),
            session_open=parse_clock_time("session_open", self.session_open),
            tz=self.session_tz,
            breaks=tuple(parse_clock_range(b) for b in self.session_breaks),
            always_open=self.session_always_open,
        )

    def __post_init__(self) -> None:
        if self.window < 2:
            raise ValueError(
                f"window must be >= 2 (a standard deviation needs 2 values), was {self.window}"
            )
        SignalRules(entry_z=self.entry_z, exit_z=self.exit_z)
        if self.trade_size > self.max_position_contracts:
            raise ValueError(
                f"trade_size ({self.trade_size}) is above max_position_contracts "
                f"({self.max_position_contracts}): lower trade_size or raise the maximum"
            )
        for name in ("stop_loss_usd_per_contract", "take_profit_usd_per_contract"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 USD, was {getattr(self, name)}")
        if self.bar_type.instrument_id != self.instrument_id:
            raise ValueError(
                f"bar_type {self.bar_type} is not for instrument_id {self.instrument_id}: "
                "use bars of the traded contract",
            )
        self.risk_limits()
        self.session_schedule()
        if self.control_poll_secs is not None and self.state_dir is None:
            raise ValueError("control_poll_secs needs state_dir: the control folder lives there")
        if self.trade_until is not None:
            parse_utc_timestamp("trade_until", self.trade_until)
        fee = self.fee_per_contract_usd
        if fee is not None and (not fee.is_finite() or fee < 0):
            raise ValueError(f"fee_per_contract_usd must be a USD amount >= 0, was {fee}")


class ZScoreMeanReversion(Strategy):
    """
    Mean reversion on the z-score of bar closes, entering with bracket orders, under circuit
    breakers.

    Entries are a market order with a stop-loss and a take-profit child (OCO) placed
    ``stop_loss_usd_per_contract`` / ``take_profit_usd_per_contract`` away from the current
    bid/ask (or the bar close when no quote is cached). Exits cancel the bracket children
    first, then close at market. See ``quant_scalper.signals`` for the rules and
    ``quant_scalper.risk`` for the breakers; exits are never blocked by a breaker.
    """

    def __init__(self, config: ZScoreMeanReversionConfig) -> None:
        super().__init__(config)
        self.rules = SignalRules(entry_z=config.entry_z, exit_z=config.exit_z)
        self.zscore = ZScore(config.window, config.max_bar_gap_minutes)
        self.instrument: Instrument | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # live: clock callbacks hop here
        self.risk: TraderRisk | None = None
        """The trader's risk (breakers, state file, trips), shared across contract rolls."""
        self.commands: OperatorCommands | None = None
        self._cached_state: RiskState | None = None
        self._cached_state_error: RiskStateError | None = None
        self._risk_from: ZScoreMeanReversion | None = None
        self._sl_points = Decimal(0)
        self._tp_points = Decimal(0)
        self._exit_pending = False
        self._entry_blocked_until_reset = False
        self._entry_id: ClientOrderId | None = None  # the last entry submitted
        self._trade_until_ns: int | None = None
        if config.trade_until is not None:
            until = parse_utc_timestamp("trade_until", config.trade_until)
            self._trade_until_ns = (until - _EPOCH) // timedelta(microseconds=1) * 1_000
        self._rolled = False
        self.guard = ConnectionGuard(config.resync_secs, config.resync_position_sync)
        self._deferred_exit: str | None = None  # an exit wanted while the guard held orders
        self._deferred_kind = "signal"  # its journal exit reason (EXIT_REASON tag)

    def now(self) -> datetime:
        """The strategy clock's time as an aware UTC datetime."""
        return _utc(self.clock.timestamp_ns())

    _now = now

    @property
    def breakers(self) -> RiskCore | None:
        """The circuit breakers (None before ``on_start``)."""
        return None if self.risk is None else self.risk.breakers

    @property
    def trips(self) -> list[Trip]:
        """Every trip of the trader's risk so far, in order (for the report)."""
        return [] if self.risk is None else self.risk.trips

    def share_risk_with(self, leader: ZScoreMeanReversion) -> None:
        """Use ``leader``'s ``TraderRisk`` once it has started: one risk state per trader,
        across contract rolls (the backtest's front-month expansion)."""
        self._risk_from = leader

    # -- lifecycle ---------------------------------------------------------------------------

    def on_start(self) -> None:
        """Resolve the instrument, load the risk state, arm session alerts and subscribe."""
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
        self._loop = node_loop(self.clock)
        self._start_risk()
        self._book_from_journal()
        if self._side() is Side.FLAT:
            self._cancel_orphans()  # live restart: children adopted from IB with no position
        if self.guard.enabled:
            self.msgbus.subscribe(CONNECTION_TOPIC, self._on_connection)
            if self.guard.position_sync:
                self.msgbus.subscribe(POSITION_SYNC_TOPIC, self._on_position_sync)
        self.register_indicator_for_bars(self.config.bar_type, self.zscore)
        self.subscribe_bars(self.config.bar_type)
        if self.config.subscribe_quote_ticks:
            self.subscribe_quote_ticks(self.config.instrument_id)

    def on_stop(self) -> None:
        """Optionally flatten; by default leave the bracket protecting the position."""
        if self.config.flatten_on_stop:
            self.cancel_all_orders(self.config.instrument_id)
            self.close_all_positions(
                self.config.instrument_id, tags=["EXIT", "EXIT_REASON=flatten"]
            )
        self._persist()

    def on_reset(self) -> None:
        """Forget indicator state and pending flags between backtest runs."""
        self.zscore.reset()
        self._exit_pending = False
        self._entry_blocked_until_reset = False
        self._entry_id = None
        self._rolled = False
        self._deferred_exit = None

    def on_save(self) -> dict[str, bytes]:
        """The risk state, for Nautilus's cache database (graceful restarts)."""
        if self.risk is None:
            return {}
        return {RISK_STATE_KEY: risk_state_to_bytes(self.risk.state)}

    def on_load(self, state: dict[str, bytes]) -> None:
        """Keep the cached risk state; ``on_start`` reconciles it with the state file."""
        data = state.get(RISK_STATE_KEY)
        if data is None:
            return
        try:
            self._cached_state = risk_state_from_bytes(data, source="the Nautilus cache")
        except RiskStateError as exc:
            self._cached_state_error = exc

    # -- decisions ---------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """Mark open P&L for the loss limit, then apply the signal rules to this bar's z."""
        if self.risk.saver.failing:
            self._persist()  # keep retrying: entries stay blocked until a save works
        side = self._side()
        if side is not Side.FLAT:
            self._mark_open_pnl()
        if self._trade_until_ns is not None and bar.ts_event >= self._trade_until_ns:
            self._roll_out()
            return
        z = self.zscore.value
        hold = self._hold_reason()
        if hold is not None:
            action = self.rules.decide(z, side)
            if action is not Action.HOLD:
                self.log.info(f"Held, no order: {action.name} z={z:.3f} ({hold})")
            return
        if self._deferred_exit is not None:
            self._apply_deferred_exit()
        if side is Side.FLAT and self.guard.enabled:  # live only: orphans come from restarts
            self._cancel_orphans()
        if z is None:
            return
        if self._entry_blocked_until_reset and abs(z) <= self.config.exit_z:
            self._entry_blocked_until_reset = False
        action = self.rules.decide(z, side)
        if action is Action.EXIT:
            self._exit(f"z={z:.3f}", "signal")
        elif action is Action.ENTER_LONG:
            self._enter(OrderSide.BUY, bar, z)
        elif action is Action.ENTER_SHORT:
            self._enter(OrderSide.SELL, bar, z)

    def _roll_out(self) -> None:
        """The contract's last bar in this run: flatten here, not at its expiry; no entries."""
        if not self._rolled:
            self._rolled = True
            self.log.info(f"Last bar of {self.config.instrument_id}: no entries from here on")
        if self._side() is Side.FLAT:
            if self._has_working_orders():
                self.cancel_all_orders(self.config.instrument_id)
            return
        self._exit(f"contract roll: last bar of {self.config.instrument_id} in this run", "roll")

    def _side(self) -> Side:
        if self.portfolio.is_net_long(self.config.instrument_id):
            return Side.LONG
        if self.portfolio.is_net_short(self.config.instrument_id):
            return Side.SHORT
        return Side.FLAT

    def _orders_in_flight(self) -> int:
        """Live only: our orders sent and not yet acknowledged, or pending a cancel/update
        (backtests acknowledge at once, so they never defer an exit)."""
        if not self.guard.enabled:
            return 0
        return self.cache.orders_inflight_count(
            instrument_id=self.config.instrument_id, strategy_id=self.id
        )

    def _has_working_orders(self) -> bool:
        """True while an order of ours is working or the last entry is still on its way."""
        return has_working_orders(self.cache, self.id, self.config.instrument_id, self._entry_id)

    def _cancel_orphans(self) -> None:
        """Cancel the orphans (``orphan_orders``) at the broker, one line per order."""
        for order in orphan_orders(self.cache, self.id, self.config.instrument_id):
            self.log.warning(
                f"Cancelling {order.client_order_id} ({order.side_string()} "
                f"{order.type_string()} {order.quantity}): working while flat, its position "
                "is gone (left at IB by an earlier run?)"
            )
            self.cancel_order(order)

    def _enter(self, side: OrderSide, bar: Bar, z: float) -> None:
        decided_ns = self.clock.timestamp_ns()  # latency: the decision (quant_scalper.live.latency)
        if self._holding(f"entry {side.name}"):
            return
        if self._entry_blocked_until_reset or self._has_working_orders():
            return
        if self.risk.saver.failing:
            self.log.warning(
                f"Entry {side.name} z={z:.3f} held (reduce-only): {self.risk.saver.error}"
            )
            return
        decision = self.breakers.entry_decision(self._now())
        if not decision.allowed:
            self.log.debug(f"Entry {side.name} z={z:.3f} blocked: {decision.reason}")
            self._persist()  # a day roll inside the decision is a durable change
            return
        if not self._within_position_limit(side):
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
        self._entry_id = order_list.first.client_order_id
        self.submit_order_list(order_list)
        self.msgbus.publish(
            SIGNAL_TIMING_TOPIC,
            signal_stamp(
                order_list.first.client_order_id.value,
                bar.ts_event,
                bar.ts_init,
                decided_ns,
                self.clock.timestamp_ns(),
            ),
        )

    def _within_position_limit(self, side: OrderSide) -> bool:
        """True when ``trade_size`` more contracts on ``side`` stay within
        ``max_position_contracts`` (net position, working entry orders included)."""
        net = Decimal(str(self.portfolio.net_position(self.config.instrument_id)))
        step = Decimal(self.config.trade_size) * (1 if side == OrderSide.BUY else -1)
        if abs(net + step) <= self.config.max_position_contracts:
            return True
        self.log.warning(
            f"Entry {side.name} {self.config.trade_size} not submitted: the position would be "
            f"{net + step} contracts, beyond max_position_contracts "
            f"{self.config.max_position_contracts}"
        )
        return False

    def _reference_price(self, side: OrderSide, bar: Bar) -> Decimal:
        """The price the bracket is measured from: the side we would pay, else the bar close."""
        quote = self.cache.quote_tick(self.config.instrument_id)
        price: Price = bar.close
        if quote is not None and quote.ts_event >= bar.ts_event - bar.bar_type.spec.timedelta.value:
            price = quote.ask_price if side == OrderSide.BUY else quote.bid_price
        return price.as_decimal()

    def _exit(self, reason: str, kind: str, deferred: bool = False) -> None:
        """Cancel the bracket children and close at market, once per position; the closing
        order is tagged ``EXIT_REASON=<kind>`` (the journal's exit reason). ``deferred``: a
        retry of an exit wanted earlier (held, or waiting for the bracket's cancels)."""
        if self._exit_pending or self._side() is Side.FLAT:
            return
        if self._holding(f"exit ({reason})"):
            if self._deferred_exit is None:
                self._deferred_exit, self._deferred_kind = reason, kind
            return
        if self.guard.enabled:  # live: cancel the bracket, and close once IB confirms
            working = uncancelled_orders(self.cache, self.id, self.config.instrument_id)
            in_flight = self._orders_in_flight()
            if working or in_flight:
                # A market close sent next to working or unacknowledged children can meet a
                # child's fill and open the opposite position at IB (the kill-free soak: the
                # stop filled 4-11 s before the node heard of it). So cancel them first and
                # close when none is left; if a child fills instead, the position is flat and
                # there is nothing to close. Retried on each order event and bar.
                if working:
                    self.cancel_all_orders(self.config.instrument_id)
                if self._deferred_exit is None:
                    if not deferred:  # one line per exit, not one per retry
                        self.log.info(
                            f"Exit ({reason}): cancelling the bracket first ({len(working)} "
                            f"working, {in_flight} in flight); closing at market once IB confirms"
                        )
                    self._deferred_exit, self._deferred_kind = reason, kind
                return
        self._exit_pending = True
        self.log.info(f"Exit: {reason}" + (" (deferred)" if deferred else ""))
        self.cancel_all_orders(self.config.instrument_id)
        self.close_all_positions(self.config.instrument_id, tags=["EXIT", f"EXIT_REASON={kind}"])

    # -- connection guard --------------------------------------------------------------------

    def _on_connection(self, message: dict) -> None:
        """Record a broker connection change (``CONNECTION_TOPIC``) with the guard."""
        link = self.guard.on_connection(bool(message.get("connected")), self._now())
        if link is Link.DISCONNECTED:
            self.log.warning(
                "IB disconnected: holding orders; the bracket at IB protects the position"
            )
        elif link is Link.RESYNCING:
            self.log.warning(
                f"IB reconnected: holding orders {self.config.resync_secs} s more while the "
                "position check resyncs the position with IB"
                + (", and until IB's position matches ours" if self.guard.position_sync else "")
            )

    def _on_position_sync(self, message: dict) -> None:
        """Record a comparison of IB's position with ours (``POSITION_SYNC_TOPIC``)."""
        matched, detail = bool(message.get("matched")), str(message.get("detail", ""))
        was = self.guard.sync_detail
        if self.guard.on_position_sync(matched, detail):
            self.log.warning(f"Position resynced with IB: {detail}")
        elif not matched and detail != was and self.guard.link is Link.RESYNCING:
            self.log.warning(f"Holding orders until IB's position matches: {detail}")

    def _hold_reason(self) -> str | None:
        """Why the connection guard holds every order now (None: trade on)."""
        if not self.guard.enabled:
            return None  # backtests: no clock read on every bar
        was = self.guard.link
        reason = self.guard.hold_reason(self._now())
        if reason is None and was is not Link.CONNECTED:
            self.log.warning(f"Resynced with IB: trading on, position {self._side().value}")
        return reason

    def _holding(self, what: str) -> bool:
        """True (and a log line) when the connection guard holds orders now."""
        reason = self._hold_reason()
        if reason is None:
            return False
        self.log.info(f"Held, no order: {what} ({reason})")
        return True

    def _apply_deferred_exit(self) -> None:
        """After a hold: an exit wanted meanwhile (kill, loss limit, max holding...) goes now,
        on the cache's position (flat: nothing to do)."""
        reason, self._deferred_exit = self._deferred_exit, None
        if self._side() is Side.FLAT:
            if self.risk.halted:
                self._request_trading_state("HALTED")
            return
        if self.risk.halted:
            self._request_trading_state("REDUCING")
        self._exit(reason, self._deferred_kind, deferred=True)

    # -- risk --------------------------------------------------------------------------------

    def kill(self, reason: str) -> None:
        """Kill switch: cancel everything, flatten under REDUCING, then HALTED until resumed."""
        self.breakers.kill(self._now(), reason)
        self._persist()
        if self._hold_reason() is not None:
            # Nothing trades (HALTED); the flatten waits for the resync (see _on_bar).
            self._request_trading_state("HALTED")
            self._deferred_exit, self._deferred_kind = f"kill switch: {reason}", "kill"
            return
        self._request_trading_state("REDUCING")
        self.cancel_all_orders(self.config.instrument_id)
        if self._side() is Side.FLAT:
            self._request_trading_state("HALTED")
        else:
            self._exit(f"kill switch: {reason}", "kill")

    def resume(self, reason: str = "resumed by operator") -> None:
        """Clear the kill switch (a daily loss limit hit today stays in force)."""
        if self.breakers.resume(self._now(), reason) is not None:
            self._persist()
            self._request_trading_state("ACTIVE")

    def flatten(self, reason: str) -> str:
        """Operator flatten: cancel our orders and close the position; says what it did."""
        self.cancel_all_orders(self.config.instrument_id)
        was = self._side()
        self._exit(f"flatten: {reason}", "flatten")
        return "flat already" if was is Side.FLAT else f"flattening the {was.value} position"

    def hold_reason(self) -> str | None:
        """Why the connection guard holds every order now (None: trade on)."""
        return self._hold_reason()

    def persist(self) -> None:
        """Save the risk state if it changed (reduce-only while that fails)."""
        self._persist()

    def apply_command(self, message: dict) -> str:
        """Apply an operator command (kill, resume, pause, flatten); returns what it did."""
        if self.commands is None:
            return f"{message.get('command', '')}: not applied, the strategy has not started"
        return self.commands.apply(message)

    def _start_risk(self) -> None:
        """Open the trader's risk (or use the one shared with an earlier contract's instance),
        halting when the state is unreadable, and start polling the control folder."""
        if self._risk_from is not None and self._risk_from.risk is not None:
            self.risk = self._risk_from.risk
            self._arm_halt_alert()
            return
        self.risk, problem = TraderRisk.open(
            self.config.risk_limits(),
            self.config.session_schedule(),
            now=self._now(),
            state_dir=self.config.state_dir,
            trader_id=self.trader_id.value,
            cached=self._cached_state,
            cached_error=self._cached_state_error,
            on_trip=self._on_trip,
        )
        if problem is not None:
            self.log.error(f"Refusing to trade: {problem}")  # the unreadable file stays as is
        else:
            self._persist()
        s = self.risk.state
        self.log.info(
            f"Risk state: day {s.trading_day} realized {s.realized_pnl} USD, "
            f"{s.consecutive_losses} losses in a row, paused until {s.paused_until}, "
            f"daily limit hit {s.daily_limit_hit}, halted {s.halted} ({s.halt_reason})",
        )
        if s.halted:
            self._request_trading_state("REDUCING")
            if self.portfolio.is_flat(self.config.instrument_id):
                self._request_trading_state("HALTED")
        self._arm_halt_alert()
        self.commands = OperatorCommands(
            self, self.risk, self.config.pause_minutes, self.log.warning, self.log.error
        )
        self.msgbus.subscribe(CONTROL_TOPIC, self._on_control_message)
        control = self.risk.control
        if control is not None:
            self.commands.poll(control)
            if self.config.control_poll_secs is not None:
                self.clock.set_timer(
                    f"control-{self.id}",
                    timedelta(seconds=self.config.control_poll_secs),
                    callback=on_loop(self._loop, lambda _: self.commands.poll(control)),
                )

    def _on_control_message(self, message: dict) -> None:
        result = self.apply_command(message)
        self.msgbus.publish(
            CONTROL_RESULT_TOPIC,
            {"command": message.get("command"), "result": result, "source": message.get("source")},
        )

    def _on_trip(self, trip: Trip) -> None:
        """Log and publish a trip (``TraderRisk`` keeps it in ``trips``)."""
        self.log.warning(f"Risk {trip.rule.value}: {trip.reason}")
        self.msgbus.publish(RISK_TRIP_TOPIC, trip)

    def _persist(self) -> None:
        """Write the risk state file when it changed; while that fails, reduce-only + alert."""
        if self.risk is None:
            return
        outcome = self.risk.persist()
        saver = self.risk.saver
        if outcome is SaveOutcome.FAILED:
            self._alert(
                f"{saver.error}. REDUCE-ONLY: no new entries until the risk state can "
                "be saved (exits still work); retrying on every change and bar",
            )
        elif outcome is SaveOutcome.STILL_FAILING:
            self.log.error(f"Still reduce-only: {saver.error}")
        elif outcome is SaveOutcome.RECOVERED:
            self._alert(f"risk state saved again to {saver.store.path}: entries allowed again")

    def _alert(self, reason: str) -> None:
        """Log an error and publish it on the risk-trip topic (the Telegram actor sends it)."""
        self.log.error(reason)
        self.msgbus.publish(RISK_TRIP_TOPIC, Trip(self._now(), Rule.STATE_UNWRITABLE, reason))

    def _mark_open_pnl(self) -> None:
        open_pnl = self.portfolio.unrealized_pnl(self.config.instrument_id)
        if open_pnl is None:
            return
        trips = self.breakers.record_mark(self._now(), open_pnl.as_decimal())
        self._act_on(trips)

    def _act_on(self, trips: list[Trip]) -> None:
        if any(t.rule is Rule.DAILY_LOSS_LIMIT for t in trips):
            self.cancel_all_orders(self.config.instrument_id)
            self._exit("daily loss limit", "daily_limit")
        self._persist()

    def _request_trading_state(self, state: str) -> None:
        """Ask the risk engine (through the node's bridge) for a trading state."""
        self.msgbus.publish(TRADING_STATE_TOPIC, state)

    def _arm_halt_alert(self) -> None:
        """Flatten ``entry_guard_minutes`` before the next daily halt (if configured)."""
        if not self.config.flatten_before_halt or self.config.session_always_open:
            return
        now = self._now()
        halt = self.breakers.schedule.next_halt(now)
        at = halt - timedelta(minutes=self.config.entry_guard_minutes)
        if at <= now:
            at = self.breakers.schedule.next_halt(halt) - timedelta(
                minutes=self.config.entry_guard_minutes,
            )
        self.clock.set_time_alert(
            f"flatten-before-halt-{self.id}",
            at,
            on_loop(self._loop, self._on_halt_alert),
            override=True,
        )

    def _on_halt_alert(self, event: TimeEvent) -> None:
        if self._side() is not Side.FLAT:
            self.breakers.exit_reason(self._now(), self._opened_at())
            self._exit("flatten before the daily halt", "session")
            self._persist()
        self._arm_halt_alert()

    def _on_max_holding_alert(self, event: TimeEvent) -> None:
        opened_at = self._opened_at()
        if opened_at is None or event.name != self._holding_alert_name(opened_at):
            return  # that position is gone; a newer one has its own alert
        self.breakers.exit_reason(self._now(), opened_at)
        self._exit(f"max holding time {self.config.max_holding_minutes} min", "max_holding")
        self._persist()

    def _opened_at(self) -> datetime | None:
        positions = self.cache.positions_open(
            instrument_id=self.config.instrument_id, strategy_id=self.id
        )
        if not positions:
            return None
        return _utc(positions[0].ts_opened)

    def _holding_alert_name(self, opened_at: datetime) -> str:
        return f"max-holding-{self.id}-{int(opened_at.timestamp() * 1e9)}"

    # -- events ------------------------------------------------------------------------------

    def on_position_opened(self, event: PositionOpened) -> None:
        """Flatten if the entry lost a bracket child; arm the max-holding-time alert."""
        self._exit_pending = False
        self._flatten_if_unprotected()
        if self.config.max_holding_minutes is None:
            return
        opened_at = _utc(event.ts_opened)
        self.clock.set_time_alert(
            self._holding_alert_name(opened_at),
            opened_at + timedelta(minutes=self.config.max_holding_minutes),
            on_loop(self._loop, self._on_max_holding_alert),
            override=True,
        )

    def on_position_closed(self, event: PositionClosed) -> None:
        """Book the trade with the breakers (once), cancel leftover children, halt if killed."""
        self._exit_pending = False
        self.cancel_all_orders(self.config.instrument_id)
        position = self.cache.position(event.position_id)
        self.log.info(f"Closed {event.position_id}: realized {event.realized_pnl}")
        if position is not None and position.is_closed:
            done = self.risk.book_closed(
                self._now(), closed_trade(position), self.config.fee_per_contract_usd
            )
            if done is not None:
                self._booked(done, "now")
        if self.risk.halted:
            self._request_trading_state("HALTED")

    def _book_from_journal(self) -> None:
        """At start: book the day's executions IB made while the node was down (once each)."""
        booked = self.risk.replay_executions(
            self._now(),
            self.config.instrument_id.symbol.value,
            self.portfolio.net_position(self.config.instrument_id),
            self.instrument.multiplier.as_decimal(),
            self.log.warning,
            others_flat=self.config.trade_until is not None,  # front month: a roll's close
        )
        for done in booked:
            self._booked(done, "while the node was down")
        self._persist()

    def _booked(self, done: Booked, when: str) -> None:
        """Log a booked trade and act on its trips (flatten at the daily limit, persist)."""
        b = done.booking
        self.log.warning(
            f"Booked trade {b.key} closed {when} at {b.closed_at:%Y-%m-%d %H:%M:%S} "
            f"UTC: {b.pnl_net} USD net" + "".join(f"; {n}" for n in b.notes),
        )
        self._act_on(done.trips)

    def on_order_event(self, event: OrderEvent) -> None:
        """An exit waiting for our orders in flight goes as soon as the last one is answered
        (not only at the next bar), unless the connection guard holds orders. Not on a fill:
        Nautilus publishes it before it updates the position (the position events follow)."""
        if (
            self._deferred_exit is not None
            and not isinstance(event, OrderFilled)
            and self.guard.enabled
            and self._hold_reason() is None
        ):
            self._apply_deferred_exit()

    def on_order_denied(self, event: OrderDenied) -> None:
        """Log the risk engine's reason; wait for a fresh signal instead of retrying."""
        self._after_refusal(event, f"denied by the risk engine: {event.reason}")

    def on_order_rejected(self, event: OrderRejected) -> None:
        """Log the venue's reason; wait for a fresh signal instead of retrying."""
        self._after_refusal(event, f"rejected by the venue: {event.reason}")

    def _after_refusal(self, event: OrderDenied | OrderRejected, why: str) -> None:
        order = self.cache.order(event.client_order_id)
        hint = explain_refusal(str(event.reason))
        advice = f" {hint.line()}." if hint is not None else ""
        self.log.error(
            f"Order {event.client_order_id} {why}.{advice} No retry: entries resume after "
            "|z| <= exit_z."
        )
        self._entry_blocked_until_reset = True
        self._exit_pending = False
        if order is None or order.parent_order_id is None:
            return
        if self._side() is not Side.FLAT:
            # A stop or target child refused while its entry filled: never sit unprotected.
            self._alert_refused_child(order, str(event.reason), "the position is open: flattening")
            self._exit(
                f"protective order {order.client_order_id} refused: flattening", "refused_child"
            )
            return
        parent = self.cache.order(order.parent_order_id)
        if parent is not None and (parent.is_open or parent.is_inflight):
            # Refused before the entry filled: the entry would open a position unprotected.
            self._alert_refused_child(order, str(event.reason), "cancelling its entry")
            self.cancel_order(parent)

    def _flatten_if_unprotected(self) -> None:
        """A position whose entry's stop or target was refused before the fill (the market
        entry filled before our cancel reached IB) is flattened, with an alert."""
        child = refused_child(self.cache, self._entry_id)
        if child is not None:
            self._alert_refused_child(child, "before the fill", "the position is open: flattening")
            self._exit(
                f"protective order {child.client_order_id} refused: flattening", "refused_child"
            )

    def _alert_refused_child(self, order: Order, reason: str, action: str) -> None:
        """Alert (log + ``RISK_TRIP_TOPIC``: Telegram, journal) on a refused bracket child."""
        text = (
            f"protective {order.type_string()} {order.client_order_id} of entry "
            f"{order.parent_order_id} refused by IB ({reason}): {action}"
        )
        self.log.error(text)
        self.msgbus.publish(RISK_TRIP_TOPIC, Trip(self._now(), Rule.ORDER_REFUSED, text))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(ts_ns: int) -> datetime:
    """UNIX nanoseconds as an aware UTC datetime (microseconds: what the state file keeps)."""
    return _EPOCH + timedelta(microseconds=ts_ns // 1_000)
