"""Benchmark: backtest throughput of ``ZScoreMeanReversion`` against a no-op strategy.

What it measures
----------------
Bars per second of ``BacktestEngine.run()`` for two strategies on identical data and an identical
engine:

* ``no-op``     -- a ``Strategy`` whose ``on_start`` subscribes the bar type and whose ``on_bar``
  does nothing: the cost of pushing the data through Nautilus (quotes to the simulated venue,
  bars to the strategy) with no strategy work at all;
* ``strategy``  -- ``ZScoreMeanReversion`` configured exactly as ``quant-scalper backtest`` does
  (``configs/backtest.yaml`` with the contract pinned to MESZ3.CME, built by
  ``quant_scalper.backtest.run_config.build_run_config``): rolling z-score, bracket entries,
  exits and circuit breakers, trading against the venue.

The data is the bundled catalog's MESZ3.CME 1-minute LAST bars and bid/ask quote ticks, copied
end to end until there are at least 200,000 bars. Each copy is shifted by a whole number of
weeks of exchange wall-clock time (America/Chicago) beyond the previous copy's end, so
weekdays, session times (halts, breaks, the Sunday open) and the quote-before-bar order at equal
timestamps are those of the real data, and timestamps stay strictly increasing from copy to
copy. The instrument is the catalog's, with its expiry moved past the last copy (the simulated
venue rejects orders after expiry). Both strategies get the same venue as the real runner
(CME, NETTING, MARGIN, USD, ``PerContractFeeModel`` 0.62 USD, ``bar_execution=False``: fills and
bracket triggers use the quotes), the runner's engine config (risk engine limits) at log level
ERROR, and the runner's kill-switch wiring. Every measurement builds a fresh engine; only
``engine.run()`` is timed (``time.perf_counter``), as its two halves: the event loop
(``run(streaming=True)``) and ``end()`` (stopping and Nautilus's post-run analysis).

Why ratios
----------
This machine is shared and noisy (2 cores), so absolute bars/s move from run to run. Runs
alternate (no-op, strategy, no-op, strategy, ...) and the figure of merit is the ratio of the
strategy's bars/s to the no-op's in the same invocation: best against best (noise only ever
slows a run down) and median against median. Target (issue 14): ratio >= 0.40.

Issue 14 figures, all from this one run: event-loop seconds per data copy (a ``CopyClock`` actor
notes the time every copy's worth of bars), first vs last (linear cost: last/first <= 1.15);
the share of the strategy's extra time that is Nautilus's order lifecycle (full strategy minus
a signals-only run, which computes every z-score and rule but sends no order) and ours (the
signals-only run minus the no-op); the year's wall time (engine build + run + end + the
reports and statistics built from the ledger, target <= 90 s), process RSS at start and end of
each run and the peak; and the Rust pre-screen replaying the same data for one point, the
floor. Every engine carries the runner's ``LedgerRecorder`` and purging ``ExecEngineConfig``.

``--profile`` adds an attribution: a run with entries disabled (the strategy's own per-bar
logic), a run with every strategy callback timed (inclusive wall time per method, and the event
loop time per data copy), and a what-if run that purges closed orders hourly.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_backtest.py [--quick] [--repeats N]
[--profile]`` (a year: a few minutes; the default is 2 runs each).
The exit code is 0 whatever the ratio: this is a report, not a gate.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import resource
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
from nautilus_trader.analysis.analyzer import PortfolioAnalyzer
from nautilus_trader.analysis.reporter import ReportProvider
from nautilus_trader.backtest import node as nt_node
from nautilus_trader.backtest.config import BacktestEngineConfig, BacktestVenueConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.execution.config import ExecEngineConfig
from nautilus_trader.model.data import Bar, BarType, QuoteTick
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.instruments import FuturesContract, Instrument
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.trading.config import ImportableStrategyConfig, StrategyFactory
from nautilus_trader.trading.strategy import Strategy

from quant_scalper.backtest.ledger import LedgerRecorder
from quant_scalper.backtest.run_config import build_run_config, resolve_contracts
from quant_scalper.backtest.runner import _closed_trade, _wire_engine
from quant_scalper.config import load_backtest_settings
from quant_scalper.indicators import ZScore
from quant_scalper.risk import RiskCore
from quant_scalper.strategy import ZScoreMeanReversion

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "backtest.yaml"
INSTRUMENT_ID = "MESZ3.CME"
BAR_TYPE = f"{INSTRUMENT_ID}-1-MINUTE-LAST-EXTERNAL"
TARGET_RATIO = 0.40
TARGET_LINEARITY = 1.15  # seconds of the last copy over the first
TARGET_YEAR_S = 90.0
MIN_BARS = 350_000  # >= 24 copies of MESZ3's 15,002 bars: about a year of trading minutes
QUICK_MIN_BARS = 30_000
WEEK_NS = 7 * 24 * 3600 * 1_000_000_000


# -- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchData:
    """The replicated market data and the instrument it is traded on."""

    instrument: Instrument
    bars: list[Bar]
    quotes: list[QuoteTick]
    copies: int
    copy_bars: int
    weeks_apart: int
    first_ns: int
    last_ns: int


def load_and_replicate(catalog_path: Path, min_bars: int, tz: str) -> BenchData:
    """MESZ3 bars and quotes from the catalog, copied until there are >= ``min_bars`` bars."""
    catalog = ParquetDataCatalog(str(catalog_path))
    instruments = catalog.instruments(instrument_ids=[INSTRUMENT_ID])
    bars = catalog.bars(bar_types=[BAR_TYPE])
    quotes = catalog.quote_ticks(instrument_ids=[INSTRUMENT_ID])
    if not instruments or not bars or not quotes:
        raise SystemExit(f"{catalog_path} has no {INSTRUMENT_ID} instrument, bars or quotes")
    copies = max(1, math.ceil(min_bars / len(bars)))

    bar_ts = _column(bars, lambda b: b.ts_event, np.int64)
    bar_ts_init = _column(bars, lambda b: b.ts_init, np.int64)
    quote_ts = _column(quotes, lambda q: q.ts_event, np.int64)
    quote_ts_init = _column(quotes, lambda q: q.ts_init, np.int64)
    first = int(min(bar_ts.min(), quote_ts.min(), bar_ts_init.min(), quote_ts_init.min()))
    last = int(max(bar_ts.max(), quote_ts.max(), bar_ts_init.max(), quote_ts_init.max()))
    weeks = (last - first) // WEEK_NS + 1
    while int(_shift_weeks(np.array([first]), weeks, tz)[0]) <= last:
        weeks += 1  # a DST change inside the span can cost an hour

    def shifted(ts: np.ndarray) -> np.ndarray:
        out = np.concatenate([_shift_weeks(ts, k * weeks, tz) for k in range(copies)])
        return out.astype(np.uint64)

    bar_type = bars[0].bar_type
    new_bars = Bar.from_raw_arrays_to_list(
        bar_type,
        instruments[0].price_precision,
        bars[0].volume.precision,
        *(np.tile(_column(bars, f, np.float64), copies) for f in _BAR_FIELDS),
        shifted(bar_ts),
        shifted(bar_ts_init),
    )
    first_quote = quotes[0]
    new_quotes = QuoteTick.from_raw_arrays_to_list(
        first_quote.instrument_id,
        first_quote.bid_price.precision,
        first_quote.bid_size.precision,
        *(np.tile(_column(quotes, f, np.float64), copies) for f in _QUOTE_FIELDS),
        shifted(quote_ts),
        shifted(quote_ts_init),
    )
    _check_replica(bars, new_bars, copies)
    _check_replica(quotes, new_quotes, copies)

    # The venue rejects orders after the contract's expiry: move it past the last copy.
    values = FuturesContract.to_dict(instruments[0])
    last_shift = int(_shift_weeks(np.array([last]), (copies - 1) * weeks, tz)[0]) - last
    values["expiration_ns"] = int(values["expiration_ns"]) + last_shift
    instrument = FuturesContract.from_dict(values)
    return BenchData(
        instrument=instrument,
        bars=new_bars,
        quotes=new_quotes,
        copies=copies,
        copy_bars=len(bars),
        weeks_apart=weeks,
        first_ns=int(new_bars[0].ts_event),
        last_ns=int(new_bars[-1].ts_event),
    )


_BAR_FIELDS: tuple[Callable[[Bar], float], ...] = (
    lambda b: b.open.as_double(),
    lambda b: b.high.as_double(),
    lambda b: b.low.as_double(),
    lambda b: b.close.as_double(),
    lambda b: b.volume.as_double(),
)
_QUOTE_FIELDS: tuple[Callable[[QuoteTick], float], ...] = (
    lambda q: q.bid_price.as_double(),
    lambda q: q.ask_price.as_double(),
    lambda q: q.bid_size.as_double(),
    lambda q: q.ask_size.as_double(),
)


def _column(items: Sequence[Any], get: Callable[[Any], Any], dtype: type) -> np.ndarray:
    return np.fromiter((get(x) for x in items), dtype=dtype, count=len(items))


def _shift_weeks(ts_ns: np.ndarray, weeks: int, tz: str) -> np.ndarray:
    """UTC nanoseconds moved ``weeks`` weeks later in ``tz`` wall-clock time."""
    if weeks == 0:
        return ts_ns.astype(np.int64)
    local = pd.DatetimeIndex(pd.to_datetime(ts_ns, unit="ns", utc=True)).tz_convert(tz)
    wall = local.tz_localize(None).asi8 + weeks * WEEK_NS
    # CME is closed around the DST switches (early Sunday), so no time is ambiguous or missing.
    moved = pd.DatetimeIndex(wall.view("datetime64[ns]")).tz_localize(
        tz, ambiguous="raise", nonexistent="raise"
    )
    return moved.tz_convert("UTC").asi8


def _check_replica(original: Sequence[Any], copied: Sequence[Any], copies: int) -> None:
    """The first copy equals the catalog data; timestamps never go backwards."""
    n = len(original)
    if len(copied) != n * copies:
        raise AssertionError(f"expected {n * copies} items, built {len(copied)}")
    if any(a != b for a, b in zip(original, copied[:n], strict=True)):
        raise AssertionError("the first copy differs from the catalog data")
    ts = np.fromiter((x.ts_init for x in copied), dtype=np.int64, count=len(copied))
    if np.any(np.diff(ts) < 0):
        raise AssertionError("replicated timestamps are not in order")
    for k in range(1, copies):
        if ts[k * n] <= ts[k * n - 1]:
            raise AssertionError(f"copy {k} does not start after copy {k - 1} ends")


# -- engines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineSetup:
    """Everything needed to build identical engines: the real runner's configs plus the data."""

    data: BenchData
    engine_config: BacktestEngineConfig
    venue_config: BacktestVenueConfig
    strategy_config: ImportableStrategyConfig
    bar_type: BarType
    session_tz: str


def runner_setup(min_bars: int) -> EngineSetup:
    """The real backtest's configs (``configs/backtest.yaml``, pinned to MESZ3) and the data."""
    settings = load_backtest_settings(
        CONFIG,
        [
            f"strategy.instrument_id={INSTRUMENT_ID}",
            f"strategy.bar_type={BAR_TYPE}",
            "progress=false",
            "log_level=ERROR",
        ],
    )
    run_config = build_run_config(settings, resolve_contracts(settings))
    tz = str(settings.risk.get("session_tz") or "America/Chicago")
    data = load_and_replicate(settings.catalog, min_bars, tz)
    engine_config = msgspec.structs.replace(
        run_config.engine,
        strategies=[],
        actors=[],
        logging=LoggingConfig(log_level="ERROR"),
    )
    return EngineSetup(
        data=data,
        engine_config=engine_config,
        venue_config=run_config.venues[0],
        strategy_config=run_config.engine.strategies[0],
        bar_type=BarType.from_str(BAR_TYPE),
        session_tz=tz,
    )


def build_engine(
    setup: EngineSetup,
    strategy: Strategy,
    exec_engine: ExecEngineConfig | None = None,
) -> BacktestEngine:
    """A fresh engine as ``BacktestNode`` builds it for the real run, with ``strategy`` added."""
    config = setup.engine_config
    if exec_engine is not None:
        config = msgspec.structs.replace(config, exec_engine=exec_engine)
    engine = BacktestEngine(config=config)
    _add_venue(engine, setup.venue_config)
    engine.add_instrument(setup.data.instrument)
    # Quotes before bars, then one stable sort: at equal timestamps the quote reaches the venue
    # before the bar reaches the strategy (the runner's data config order).
    engine.add_data(setup.data.quotes, sort=False)
    engine.add_data(setup.data.bars, sort=False)
    engine.sort_data()
    engine.add_strategy(strategy)
    engine.add_actor(LedgerRecorder())
    engine.add_actor(
        CopyClock(CopyClockConfig(bar_type=setup.bar_type, every=setup.data.copy_bars))
    )
    _wire_engine(engine)
    return engine


class CopyClockConfig(ActorConfig, frozen=True):
    """Configuration of ``CopyClock``."""

    bar_type: BarType
    every: int


class CopyClock(Actor):
    """Notes ``time.perf_counter()`` at the first bar and after every ``every`` bars."""

    def __init__(self, config: CopyClockConfig) -> None:
        super().__init__(config)
        self.marks: list[float] = []
        self._seen = 0

    def on_start(self) -> None:
        """Subscribe to the benchmark's bars."""
        self.subscribe_bars(self.config.bar_type)

    def on_bar(self, bar: Bar) -> None:
        """Count; mark the time at each copy's boundary."""
        if self._seen % self.config.every == 0:
            self.marks.append(time.perf_counter())
        self._seen += 1


def _rss_mb() -> float:
    """This process's resident set size now (MB, from /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    """This process's peak resident set size so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _add_venue(engine: BacktestEngine, vc: BacktestVenueConfig) -> None:
    """``BacktestNode._create_engine``'s ``add_venue`` call for a ``BacktestVenueConfig``."""
    engine.add_venue(
        venue=Venue(vc.name),
        oms_type=nt_node.get_oms_type(vc),
        account_type=nt_node.get_account_type(vc),
        base_currency=nt_node.get_base_currency(vc),
        starting_balances=nt_node.get_starting_balances(vc),
        default_leverage=Decimal(vc.default_leverage),
        leverages=nt_node.get_leverages(vc),
        margin_model=nt_node.get_margin_model(vc),
        book_type=nt_node.get_book_type(vc),
        routing=vc.routing,
        fill_model=nt_node.get_fill_model(vc),
        fee_model=nt_node.get_fee_model(vc),
        latency_model=nt_node.get_latency_model(vc),
        frozen_account=vc.frozen_account,
        reject_stop_orders=vc.reject_stop_orders,
        support_gtd_orders=vc.support_gtd_orders,
        support_contingent_orders=vc.support_contingent_orders,
        oto_trigger_mode=nt_node.get_oto_trigger_mode(vc),
        use_position_ids=vc.use_position_ids,
        use_random_ids=vc.use_random_ids,
        use_reduce_only=vc.use_reduce_only,
        use_market_order_acks=vc.use_market_order_acks,
        bar_execution=vc.bar_execution,
        bar_adaptive_high_low_ordering=vc.bar_adaptive_high_low_ordering,
        trade_execution=vc.trade_execution,
        liquidity_consumption=vc.liquidity_consumption,
        queue_position=vc.queue_position,
        allow_cash_borrowing=vc.allow_cash_borrowing,
        price_protection_points=nt_node.get_price_protection_points(vc),
        settlement_prices=vc.settlement_prices,
    )


class NoopConfig(StrategyConfig, frozen=True):
    """Configuration of ``NoopStrategy``."""

    bar_type: BarType


class NoopStrategy(Strategy):
    """Subscribes the bars and does nothing with them: the engine's own cost per bar."""

    def __init__(self, config: NoopConfig) -> None:
        super().__init__(config)
        self.bar_type = config.bar_type

    def on_start(self) -> None:
        """Subscribe to the benchmark's bars."""
        self.subscribe_bars(self.bar_type)

    def on_bar(self, bar: Bar) -> None:
        """Do nothing."""


class SignalsOnly(ZScoreMeanReversion):
    """The real strategy with every entry dropped: z-score and rules per bar, never an order."""

    def _enter(self, *args: Any, **kwargs: Any) -> None:
        return


def make_noop(setup: EngineSetup) -> Strategy:
    """A no-op strategy on the benchmark's bar type."""
    return NoopStrategy(NoopConfig(bar_type=setup.bar_type, order_id_tag="NOOP"))


def make_strategy(setup: EngineSetup) -> Strategy:
    """``ZScoreMeanReversion`` created from the runner's ``ImportableStrategyConfig``."""
    return StrategyFactory.create(setup.strategy_config)


def make_signals_only(setup: EngineSetup) -> Strategy:
    """``SignalsOnly`` with the runner's strategy config."""
    return SignalsOnly(make_strategy(setup).config)


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Measurement:
    """One timed ``engine.run()`` and what the strategy did in it."""

    kind: str
    bars: int
    loop_s: float
    end_s: float
    data_points: int
    orders: int = 0
    fills: int = 0
    round_trips: int = 0
    breaker_trips: int = 0
    build_s: float = 0.0
    reports_s: float = 0.0
    per_copy_s: list[float] = field(default_factory=list)
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0

    @property
    def run_s(self) -> float:
        """Seconds of ``engine.run()``: event loop plus ``end()``."""
        return self.loop_s + self.end_s

    @property
    def bars_per_s(self) -> float:
        """Throughput of the whole ``engine.run()``."""
        return self.bars / self.run_s


def measure(
    setup: EngineSetup,
    kind: str,
    strategy: Strategy,
    exec_engine: ExecEngineConfig | None = None,
) -> Measurement:
    """Build a fresh engine for ``strategy``, time ``engine.run()`` and count its trading.

    Counts come from the ledger (the cache purges closed orders and positions in the run);
    ``reports_s`` times the runner's end-of-run work from it: fills and positions reports,
    the trade list.
    """
    gc.collect()
    rss_start = _rss_mb()
    b0 = time.perf_counter()
    engine = build_engine(setup, strategy, exec_engine)
    gc.collect()
    t0 = time.perf_counter()
    engine.run(streaming=True)  # run() == run(streaming=True) + end(); timed as two halves
    t1 = time.perf_counter()
    engine.end()
    t2 = time.perf_counter()
    actors = engine.trader.actors()
    ledger = next(a.ledger for a in actors if isinstance(a, LedgerRecorder))
    clock = next(a for a in actors if isinstance(a, CopyClock))
    orders = ledger.filled_orders()
    if orders:
        ReportProvider.generate_order_fills_report(orders)
        ReportProvider.generate_positions_report(
            engine.cache.positions_open(), ledger.closed_positions
        )
        sorted((_closed_trade(p) for p in ledger.closed_positions), key=lambda t: t.closed_at)
    t3 = time.perf_counter()
    marks = [*clock.marks, t1]
    result = Measurement(
        kind=kind,
        bars=len(setup.data.bars),
        loop_s=t1 - t0,
        end_s=t2 - t1,
        data_points=engine.iteration,
        orders=len(orders),  # orders with a fill (the cache purged the closed ones)
        fills=sum(1 for o in orders if o.status == OrderStatus.FILLED),
        round_trips=len(ledger.closed_positions),
        breaker_trips=len(getattr(strategy, "trips", ())),
        build_s=t0 - b0,
        reports_s=t3 - t2,
        per_copy_s=[b - a for a, b in itertools.pairwise(marks)],
        rss_end_mb=_rss_mb(),
        rss_start_mb=rss_start,
    )
    engine.dispose()
    del engine, orders, ledger, actors, clock
    gc.collect()
    return result


def _median_run(runs: Sequence[Measurement]) -> Measurement:
    """The run with the median (lower median) ``engine.run()`` time."""
    return sorted(runs, key=lambda m: m.run_s)[(len(runs) - 1) // 2]


def _best_median(runs: Sequence[Measurement]) -> tuple[float, float]:
    rates = [m.bars_per_s for m in runs]
    return max(rates), statistics.median(rates)


# -- profiling ----------------------------------------------------------------------------------


@dataclass
class CallbackTimes:
    """Inclusive wall time and call counts per wrapped method, plus loop time per data copy."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    copy_marks: list[float] = field(default_factory=list)


# (label, class, method, indent): a method's time is also inside its caller's.
_TIMED: tuple[tuple[str, type, str, int], ...] = (
    ("ZScore.handle_bar (indicator update)", ZScore, "handle_bar", 0),
    ("on_bar", ZScoreMeanReversion, "on_bar", 0),
    ("_side (portfolio.is_net_long/short)", ZScoreMeanReversion, "_side", 1),
    ("_mark_open_pnl", ZScoreMeanReversion, "_mark_open_pnl", 1),
    ("RiskCore.record_mark", RiskCore, "record_mark", 2),
    ("_enter", ZScoreMeanReversion, "_enter", 1),
    ("_has_working_orders", ZScoreMeanReversion, "_has_working_orders", 2),
    ("RiskCore.entry_decision", RiskCore, "entry_decision", 2),
    ("submit_order_list (Nautilus)", ZScoreMeanReversion, "submit_order_list", 2),
    ("_exit", ZScoreMeanReversion, "_exit", 1),
    ("cancel_all_orders (Nautilus)", ZScoreMeanReversion, "cancel_all_orders", 2),
    ("close_all_positions (Nautilus)", ZScoreMeanReversion, "close_all_positions", 2),
    ("on_position_opened", ZScoreMeanReversion, "on_position_opened", 0),
    ("on_position_closed", ZScoreMeanReversion, "on_position_closed", 0),
    ("RiskCore.book_closed_trade", RiskCore, "book_closed_trade", 1),
    ("_on_halt_alert (timer)", ZScoreMeanReversion, "_on_halt_alert", 0),
    ("_on_max_holding_alert (timer)", ZScoreMeanReversion, "_on_max_holding_alert", 0),
    ("on_order_denied", ZScoreMeanReversion, "on_order_denied", 0),
    ("on_order_rejected", ZScoreMeanReversion, "on_order_rejected", 0),
    # Nautilus's own bookkeeping, called by the portfolio on each closed position (indent -1:
    # not a strategy callback). In 1.231 it appends with ``pd.concat``, so it grows with trades.
    ("PortfolioAnalyzer.record_trade (Nautilus)", PortfolioAnalyzer, "record_trade", -1),
)
_TOP_LEVEL = tuple(label for label, _, _, indent in _TIMED if indent == 0)


@contextmanager
def timed_callbacks(copy_bars: int) -> Iterator[CallbackTimes]:
    """Wrap the strategy's callbacks (class-level, restored on exit) with wall-clock timers."""
    times = CallbackTimes()
    saved: list[tuple[type, str, Any]] = []
    perf = time.perf_counter
    for label, cls, name, _ in _TIMED:
        original = getattr(cls, name, None)
        if original is None:
            continue
        times.seconds[label] = 0.0
        times.calls[label] = 0
        saved.append((cls, name, cls.__dict__.get(name)))
        marks = copy_bars if (cls, name) == (ZScoreMeanReversion, "on_bar") else 0
        setattr(cls, name, _timer(original, label, times, perf, marks))
    try:
        yield times
    finally:
        for cls, name, previous in reversed(saved):
            if previous is None:
                delattr(cls, name)
            else:
                setattr(cls, name, previous)


def _timer(
    original: Callable[..., Any],
    label: str,
    times: CallbackTimes,
    perf: Callable[[], float],
    mark_every: int,
) -> Callable[..., Any]:
    seconds = times.seconds
    calls = times.calls

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = perf()
        try:
            return original(self, *args, **kwargs)
        finally:
            end = perf()
            seconds[label] += end - start
            calls[label] += 1
            if mark_every and (calls[label] == 1 or calls[label] % mark_every == 0):
                times.copy_marks.append(end)

    return wrapper


def profile(setup: EngineSetup, noop: Measurement, strategy: Measurement) -> None:
    """Attribute the strategy's extra time: per-bar logic, callbacks, engine, post-run."""
    data = setup.data
    print(f"\n--- profile: where the strategy's time goes (one run each, {len(data.bars):,} bars)")
    signals = measure(setup, "signals only", make_signals_only(setup))
    _progress(signals)

    with timed_callbacks(data.copy_bars) as times:
        timed = measure(setup, "strategy, callbacks timed", make_strategy(setup))
    _progress(timed)

    purge = msgspec.structs.replace(
        setup.engine_config.exec_engine or ExecEngineConfig(),
        purge_closed_orders_interval_mins=60,
        purge_closed_orders_buffer_mins=10,
    )
    purged = measure(setup, "strategy, closed orders purged hourly", make_strategy(setup), purge)
    _progress(purged)

    bars = len(data.bars)
    print()
    _row("no-op (median run)", noop, noop)
    _row("signals only: entries dropped, no orders", signals, noop)
    _row("full strategy (median run)", strategy, noop)
    _row("full strategy, callbacks timed", timed, noop)
    _row("what-if: closed orders purged hourly", purged, noop)
    per_bar_us = (signals.loop_s - noop.loop_s) / bars * 1e6
    print(f"  strategy logic without orders: {per_bar_us:+.1f} us/bar over the no-op")
    if strategy.round_trips:
        per_trip_ms = (strategy.loop_s - signals.loop_s) / strategy.round_trips * 1e3
        purged_ms = (purged.loop_s - signals.loop_s) / max(purged.round_trips, 1) * 1e3
        print(
            f"  trading: {per_trip_ms:.2f} ms of event loop per round trip "
            f"({strategy.round_trips:,} round trips, {strategy.orders:,} orders); "
            f"{purged_ms:.2f} ms with closed orders purged",
        )

    print("\n  inclusive wall time in strategy callbacks (full strategy, callbacks timed):")
    print(f"    {'method':44s} {'calls':>9s} {'total s':>8s} {'us/call':>9s} {'us/bar':>7s}")
    for label, _, _, indent in _TIMED:
        n = times.calls.get(label, 0)
        if label not in times.calls or n == 0:
            continue
        s = times.seconds[label]
        name = "  " * max(indent, 0) + label
        if indent < 0:
            print("    outside the strategy, inside Nautilus's portfolio:")
        print(f"    {name:44s} {n:9,d} {s:8.2f} {s / n * 1e6:9.1f} {s / bars * 1e6:7.2f}")
    in_callbacks = sum(times.seconds.get(label, 0.0) for label in _TOP_LEVEL)
    outside = timed.loop_s - in_callbacks
    print(
        f"    {'all callbacks':44s} {'':9s} {in_callbacks:8.2f} {'':9s} "
        f"{in_callbacks / bars * 1e6:7.2f}",
    )
    print(
        f"  event loop outside the callbacks: {outside:.2f} s (no-op loop {noop.loop_s:.2f} s): "
        f"{outside - noop.loop_s:+.2f} s of venue matching, fills, order/position events, "
        "portfolio",
    )
    print(f"  end() (Nautilus post-run analysis): {strategy.end_s:.2f} s vs {noop.end_s:.2f} s")
    marks = times.copy_marks
    if len(marks) > 1:
        per_copy = [b - a for a, b in itertools.pairwise(marks)]
        shown = " ".join(f"{s:.1f}" for s in per_copy)
        print(f"  event-loop seconds per {data.copy_bars:,}-bar copy, in order: {shown}")
    print(
        "  (timer overhead ~0.2 us per wrapped call; a rising per-copy time means a cost that "
        "grows with the orders already in the cache)",
    )


def issue14(
    setup: EngineSetup, noop: Measurement, strategy: Measurement, runs: Sequence[Measurement]
) -> None:
    """Linearity, lifecycle vs our share, the year's wall time and RSS, the pre-screen floor."""
    data = setup.data
    print(f"\n--- issue 14: linear cost ({data.copies} copies of {data.copy_bars:,} bars)")
    for m in (noop, *runs):
        copies = m.per_copy_s
        if len(copies) < 2:
            continue
        shown = " ".join(f"{c:.1f}" for c in copies)
        print(
            f"  {m.kind:24s} s per copy: first {copies[0]:.2f}, last {copies[-1]:.2f}, "
            f"last/first {copies[-1] / copies[0]:.2f} (target <= {TARGET_LINEARITY:.2f}); "
            f"max/min {max(copies) / min(copies):.2f}\n    [{shown}]"
        )
    signals = measure(setup, "signals only (no orders)", make_signals_only(setup))
    _progress(signals)
    extra = strategy.run_s - noop.run_s
    ours = signals.run_s - noop.run_s
    lifecycle = strategy.run_s - signals.run_s
    if extra > 0:
        print(
            f"  strategy's extra time over the no-op: {extra:.1f} s = ours (z-score, rules, "
            f"ledger; signals-only minus no-op) {ours:.1f} s ({ours / extra:.0%}) + order "
            f"lifecycle (orders sent, matched, filled, position/portfolio events, our order "
            f"callbacks; full minus signals-only) {lifecycle:.1f} s ({lifecycle / extra:.0%}); "
            f"{lifecycle / max(strategy.round_trips, 1) * 1e3:.2f} ms per round trip"
        )
    year = strategy.build_s + strategy.run_s + strategy.reports_s
    verdict = "MET" if year <= TARGET_YEAR_S else "MISSED"
    print(
        f"  the year ({len(data.bars):,} bars, {len(data.quotes):,} quotes): wall "
        f"{year:.1f} s = build {strategy.build_s:.1f} + loop {strategy.loop_s:.1f} + end "
        f"{strategy.end_s:.1f} + reports from the ledger {strategy.reports_s:.1f} "
        f"(target <= {TARGET_YEAR_S:.0f} s) {verdict}"
    )
    print(
        f"  RSS: start {strategy.rss_start_mb:,.0f} MB, end {strategy.rss_end_mb:,.0f} MB "
        f"(data held by the benchmark included); process peak {_peak_rss_mb():,.0f} MB"
    )
    prescreen_floor(setup, strategy)


def prescreen_floor(setup: EngineSetup, strategy: Measurement) -> None:
    """The Rust pre-screen on a year of the bundled data (at least as many bars), one point.

    The pre-screen's own ``replicate`` copies the whole bundled catalog (three contracts, as
    ``bench_prescreen.py``); one contract's copies do not keep its day opens in order.
    """
    from quant_scalper.research.prescreen import load_market, screen, sim_costs, sim_point

    settings = load_backtest_settings(CONFIG, []).replace(progress=False)
    base = load_market(settings)
    market = base.replicate(-(-len(setup.data.bars) // len(base.bar_ts)))
    point = sim_point(settings, base)
    costs = sim_costs(settings, base)
    t0 = time.perf_counter()
    result = screen(market, [point], costs, intrabar="ticks", threads=1)
    elapsed = time.perf_counter() - t0
    print(
        f"  Rust pre-screen, {len(market.bar_ts):,} bars, one point, ticks, 1 thread: "
        f"{elapsed:.2f} s ({int(result['trades'].iloc[0]):,} trades); Nautilus engine.run() "
        f"{strategy.run_s:.1f} s = {strategy.run_s / elapsed:,.0f}x the floor"
    )


def _row(label: str, m: Measurement, noop: Measurement) -> None:
    print(
        f"  {label:42s}: loop {m.loop_s:6.2f} s + end {m.end_s:5.2f} s = {m.run_s:6.2f} s  "
        f"{m.bars_per_s:8,.0f} bars/s  ratio {m.bars_per_s / noop.bars_per_s:4.2f}",
    )


def _progress(m: Measurement) -> None:
    extra = f", {m.round_trips:,} round trips" if m.orders else ""
    print(
        f"  {m.kind:38s} {m.run_s:6.2f} s (loop {m.loop_s:.2f} + end {m.end_s:.2f}) "
        f"{m.bars_per_s:8,.0f} bars/s{extra}; RSS {m.rss_start_mb:,.0f} -> "
        f"{m.rss_end_mb:,.0f} MB",
        flush=True,
    )


# -- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; always returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="~30k bars, 2 repeats (smoke test)")
    parser.add_argument("--repeats", type=int, help="runs per strategy (default 3, quick 2)")
    parser.add_argument("--min-bars", type=int, help=f"bars to replicate to (default {MIN_BARS:,})")
    parser.add_argument(
        "--profile", action="store_true", help="attribute the strategy's time (3 more runs)"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or 2
    if repeats < 1:
        parser.error("--repeats must be >= 1")
    min_bars = args.min_bars or (QUICK_MIN_BARS if args.quick else MIN_BARS)

    t0 = time.perf_counter()
    setup = runner_setup(min_bars)
    data = setup.data
    span = (
        f"{pd.Timestamp(data.first_ns, unit='ns'):%Y-%m-%d} .. "
        f"{pd.Timestamp(data.last_ns, unit='ns'):%Y-%m-%d}"
    )
    print(
        f"data: {INSTRUMENT_ID} x {data.copies} copies {data.weeks_apart} weeks apart ({span}), "
        f"built in {time.perf_counter() - t0:.1f} s; {repeats} runs each, alternating",
        flush=True,
    )

    runs: dict[str, list[Measurement]] = {"no-op": [], "strategy": []}
    for i in range(repeats):
        for kind, make in (("no-op", make_noop), ("strategy", make_strategy)):
            m = measure(setup, f"run {i + 1}/{repeats} {kind}", make(setup))
            runs[kind].append(m)
            _progress(m)

    noop_best, noop_median = _best_median(runs["no-op"])
    strat_best, strat_median = _best_median(runs["strategy"])
    last = runs["strategy"][-1]
    noop_runs = runs["no-op"]
    if {m.data_points for m in noop_runs + runs["strategy"]} != {noop_runs[0].data_points}:
        print("WARNING: the runs did not all process the same number of data points")
    ratio_best = strat_best / noop_best
    ratio_median = strat_median / noop_median
    verdict = "PASS" if ratio_best >= TARGET_RATIO else "FAIL"
    median_run = _median_run(runs["strategy"])
    median_noop = _median_run(noop_runs)

    print()
    print(f"bars: {len(data.bars):,}  quote ticks: {len(data.quotes):,}")
    print(f"no-op strategy      : {noop_best:,.0f} bars/s (best), {noop_median:,.0f} (median)")
    print(
        f"ZScoreMeanReversion : {strat_best:,.0f} bars/s (best), {strat_median:,.0f} (median), "
        f"trades: {last.round_trips:,}",
    )
    print(
        f"  per run: {last.orders:,} orders with fills ({last.fills:,} filled), "
        f"{last.round_trips:,} round trips, {last.breaker_trips:,} circuit-breaker trips; "
        f"median engine.run() "
        f"{median_run.run_s:.1f} s = event loop {median_run.loop_s:.1f} s + end() "
        f"{median_run.end_s:.1f} s (no-op {median_noop.run_s:.1f} s)",
    )
    if last.round_trips == 0:
        print("WARNING: the strategy did not trade: this measures an idle strategy")
    print(
        f"ratio (strategy / no-op): {ratio_best:.2f} (target >= {TARGET_RATIO:.2f}) {verdict}"
        f"  [median/median {ratio_median:.2f}]",
    )

    issue14(setup, median_noop, median_run, runs["strategy"])

    if args.profile:
        profile(setup, median_noop, median_run)
    elif verdict == "FAIL":
        print("below target: rerun with --profile for a breakdown of the strategy's time")
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
