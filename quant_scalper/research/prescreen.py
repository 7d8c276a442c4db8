"""The Rust pre-screen: rank thousands of parameter points in seconds, then confirm the best.

``quant_scalper._core.prescreen`` simulates the strategy's rules (z-score entries and exits on
bar closes, the bracket's stop and target, fees per contract per side, max holding time) on the
catalog's bars and quote ticks, the same data the Nautilus backtest replays; points with the
same window share one z-score series. The rules and fill model are documented in
``rust_ext/src/prescreen.rs``; in short, market orders fill at the latest quote, a stop fills
at the quote that triggers it, a target at its price, and ``intrabar`` decides a bar whose
quotes reach both: ``stop_first`` (conservative: the stop) or ``ticks`` (the quote order, as the
Nautilus matching engine does; trade-for-trade parity, see tests/research/test_prescreen.py).

The circuit breakers are modelled too, from the same ``risk`` settings: the daily loss limit
(realized + the open P&L marked at each bar close; a trip flattens at that bar and blocks the
rest of the trading day), the losing-streak pause, the session guard (entries blocked near and
in the halt and the intraday breaks, computed here with ``SessionSchedule``) and
flatten-before-halt (an exit at the alert time, like max holding). The contract roll too: a
position still open at the last bar of a contract that a later one follows closes at that
minute's quote, with no entry after it (the strategy's ``trade_until``). The gap rule too: a gap
between bars longer than ``strategy.max_bar_gap_minutes`` restarts the z-score's warm-up. Not
modelled: the kill switch and operator commands, order refusals, and a stop inside the spread
at entry.

The Sharpe ratio is not computed in Rust: the simulator returns each point's P&L per statistics
day (the ``TradingCalendar`` of the bars) and ``analysis.stats.sharpe_ratios``, the function
every Nautilus run's statistics use, turns it into the ratio, so both rank on one objective.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.analysis.stats import HIGHER_IS_BETTER, TradingCalendar, sharpe_ratios
from quant_scalper.config import BacktestSettings
from quant_scalper.errors import ConfigError
from quant_scalper.parameters import default, value_of
from quant_scalper.research.data import load_segments
from quant_scalper.research.errors import SweepConfigError
from quant_scalper.research.spec import SweepSpec, point_id
from quant_scalper.signals import usd_to_points

if TYPE_CHECKING:
    from quant_scalper._core import Market

NS_PER_MINUTE = 60_000_000_000
NEVER = np.iinfo(np.int64).max
COST_NAMES = ("multiplier", "fee_per_side", "quantity", "starting_balance")
"""The names of ``sim_costs``' figures, as ``_core.prescreen`` takes them."""
# Risk settings that change the market arrays rather than a point's parameters.
SESSION_KEYS = (
    "entry_guard_minutes",
    "flatten_before_halt",
    "session_halt",
    "session_open",
    "session_breaks",
    "session_tz",
    "session_always_open",
)
# Statistics the pre-screen computes (a sweep objective outside these ranks by Sharpe).
PRESCREEN_STATS = (
    "trades",
    "net_pnl",
    "win_rate",
    "profit_factor",
    "expectancy",
    "sharpe_ratio",
    "max_drawdown_usd",
    "max_drawdown_pct",
)


@dataclass(frozen=True)
class PrescreenMarket:
    """The catalog's bars and quotes of every traded contract, as the Rust simulator takes."""

    bar_ts: np.ndarray
    close: np.ndarray
    day_open_ns: np.ndarray
    max_gap_ns: int
    quote_ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bar_offsets: np.ndarray
    quote_offsets: np.ndarray
    roll_ns: np.ndarray
    end_ns: int
    day_starts: np.ndarray
    entry_allowed: np.ndarray
    flatten_ns: np.ndarray
    multiplier: Decimal
    tick: Decimal

    @functools.cached_property
    def core(self) -> Market:
        """The market as ``_core.Market``: built once from the named arrays (copied and checked
        in Rust; a bad array raises ValueError) and shared by every simulation call."""
        from quant_scalper._core import Market

        return Market(
            bar_ts=self.bar_ts,
            close=self.close,
            day_open_ns=self.day_open_ns,
            max_gap_ns=self.max_gap_ns,
            quote_ts=self.quote_ts,
            bid=self.bid,
            ask=self.ask,
            bar_offsets=self.bar_offsets,
            quote_offsets=self.quote_offsets,
            roll_ns=self.roll_ns,
            end_ns=self.end_ns,
            day_starts=self.day_starts,
            entry_allowed=self.entry_allowed,
            flatten_ns=self.flatten_ns,
        )

    def replicate(self, times: int) -> PrescreenMarket:
        """The same data ``times`` times end to end, shifted in time (for benchmarks)."""
        span_bars = int(self.bar_ts[-1] - self.bar_ts[0]) + NS_PER_MINUTE
        span_quotes = int(self.quote_ts[-1] - self.quote_ts[0]) + NS_PER_MINUTE
        span = max(span_bars, span_quotes, 1)
        shift = np.arange(times, dtype="int64") * span

        first = min(int(self.bar_ts[0]), int(self.quote_ts[0]))

        def inside(times: np.ndarray) -> np.ndarray:
            return times[(times > first) & (times < first + span)]

        def tile(a: np.ndarray) -> np.ndarray:
            return np.tile(a, times)

        def offsets(o: np.ndarray, length: int) -> np.ndarray:
            return np.concatenate([[0], *[o[1:] + k * length for k in range(times)]]).astype(
                "int64"
            )

        return PrescreenMarket(
            bar_ts=(self.bar_ts[None, :] + shift[:, None]).ravel(),
            close=tile(self.close),
            day_open_ns=(self.day_open_ns[None, :] + shift[:, None]).ravel(),
            max_gap_ns=self.max_gap_ns,
            quote_ts=(self.quote_ts[None, :] + shift[:, None]).ravel(),
            bid=tile(self.bid),
            ask=tile(self.ask),
            bar_offsets=offsets(self.bar_offsets, len(self.bar_ts)),
            quote_offsets=offsets(self.quote_offsets, len(self.quote_ts)),
            roll_ns=np.full(len(self.roll_ns) * times, NEVER, dtype="int64"),
            end_ns=int(self.end_ns + shift[-1]),
            day_starts=(inside(self.day_starts)[None, :] + shift[:, None]).ravel(),
            flatten_ns=(inside(self.flatten_ns)[None, :] + shift[:, None]).ravel(),
            entry_allowed=tile(self.entry_allowed),
            multiplier=self.multiplier,
            tick=self.tick,
        )


def load_market(settings: BacktestSettings) -> PrescreenMarket:
    """Bars and quotes of the contracts ``settings`` would trade, in its date range."""
    from quant_scalper.backtest.run_config import _root_of
    from quant_scalper.instruments import SPECS, spec_for

    segments = load_segments(settings, with_quotes=True)
    if not segments:
        raise ConfigError("no bars to pre-screen in the backtest's date range")
    end_ns = int(max(max(s.bar_ts[-1], s.quote_ts[-1]) for s in segments if len(s.bar_ts)))
    symbol = segments[0].instrument_id.split(".")[0]
    spec = spec_for(symbol if symbol in SPECS else _root_of(symbol))
    bar_ts = np.concatenate([s.bar_ts for s in segments]).astype("int64")
    gap = value_of(settings.strategy, "max_bar_gap_minutes")
    return PrescreenMarket(
        bar_ts=bar_ts,
        close=np.concatenate([s.bar_close for s in segments]).astype("float64"),
        day_open_ns=TradingCalendar.from_bars(bar_ts).stat_open_ns,
        max_gap_ns=0 if gap is None else int(gap) * NS_PER_MINUTE,
        quote_ts=np.concatenate([s.quote_ts for s in segments]).astype("int64"),
        bid=np.concatenate([s.bid for s in segments]).astype("float64"),
        ask=np.concatenate([s.ask for s in segments]).astype("float64"),
        bar_offsets=np.cumsum([0, *[len(s.bar_ts) for s in segments]]).astype("int64"),
        quote_offsets=np.cumsum([0, *[len(s.quote_ts) for s in segments]]).astype("int64"),
        # The roll, as the backtest's trade_until: every contract but the last one stops at its
        # last bar in the run (flattened at that minute's quote).
        roll_ns=np.array([*[s.bar_ts[-1] for s in segments[:-1]], NEVER], dtype="int64"),
        # Nautilus runs its clock to the last data point (timers and expiries up to there fire).
        end_ns=end_ns,
        **_session_arrays(settings, bar_ts, end_ns),
        multiplier=Decimal(spec.multiplier),
        tick=spec.tick,
    )


def risk_value(settings: BacktestSettings, key: str) -> Any:
    """A ``risk`` setting as the strategy sees it (its config default when the YAML omits it)."""
    if key in settings.risk:
        return settings.risk[key]
    return default(key)


def _session_arrays(settings: BacktestSettings, bar_ts: np.ndarray, end_ns: int) -> dict:
    """Trading-day starts, the session-guard flag per bar, and flatten-before-halt alert times."""
    from quant_scalper.risk import SessionSchedule, parse_clock_range, parse_clock_time

    schedule = SessionSchedule(
        halt_start=parse_clock_time("session_halt", str(risk_value(settings, "session_halt"))),
        session_open=parse_clock_time("session_open", str(risk_value(settings, "session_open"))),
        tz=str(risk_value(settings, "session_tz")),
        breaks=tuple(parse_clock_range(b) for b in risk_value(settings, "session_breaks") or ()),
        always_open=bool(risk_value(settings, "session_always_open")),
    )
    guard = int(risk_value(settings, "entry_guard_minutes"))
    stamps = [_utc(int(ts)) for ts in bar_ts]
    # Where the trading day rolls: each calendar day's session open, if the day changes there.
    starts: list[int] = []
    if stamps:
        local_open = parse_clock_time("session_open", str(risk_value(settings, "session_open")))
        day = stamps[0].astimezone(schedule.zone).date() - timedelta(days=2)
        last = _utc(end_ns).astimezone(schedule.zone).date() + timedelta(days=2)
        while day <= last:
            boundary = datetime.combine(day, local_open, tzinfo=schedule.zone)
            ns = int(boundary.timestamp()) * 1_000_000_000
            before = schedule.trading_day(boundary - timedelta(microseconds=1))
            if schedule.trading_day(boundary) != before:
                starts.append(ns)
            day += timedelta(days=1)
    flatten: list[int] = []
    if bool(risk_value(settings, "flatten_before_halt")) and not schedule.always_open and stamps:
        # The strategy arms an alert guard minutes before each daily halt, from its start on.
        halt = schedule.next_halt(stamps[0])
        while (at := int((halt - timedelta(minutes=guard)).timestamp()) * 1_000_000_000) <= end_ns:
            if at > int(bar_ts[0]):
                flatten.append(at)
            halt = schedule.next_halt(halt)
    return {
        "day_starts": np.array(starts, dtype="int64"),
        "entry_allowed": np.array(
            [not schedule.in_entry_guard(ts, guard) for ts in stamps], dtype="uint8"
        ),
        "flatten_ns": np.array(flatten, dtype="int64"),
    }


@dataclass(frozen=True)
class SimPoint:
    """One point in the simulator's units (points and nanoseconds)."""

    window: int
    entry_z: float
    exit_z: float
    stop: float
    target: float
    max_holding_ns: int  # 0: off
    daily_loss_limit: float  # USD, inf: off
    max_losses: int
    pause_ns: int


def sim_point(settings: BacktestSettings, market: PrescreenMarket) -> SimPoint:
    """The simulator's view of a point's validated settings (USD distances to ticks)."""
    strategy = settings.strategy
    holding = risk_value(settings, "max_holding_minutes")
    return SimPoint(
        window=int(value_of(strategy, "window")),
        entry_z=float(value_of(strategy, "entry_z")),
        exit_z=float(value_of(strategy, "exit_z")),
        stop=float(
            usd_to_points(
                Decimal(str(value_of(strategy, "stop_loss_usd_per_contract"))),
                market.multiplier,
                market.tick,
            )
        ),
        target=float(
            usd_to_points(
                Decimal(str(value_of(strategy, "take_profit_usd_per_contract"))),
                market.multiplier,
                market.tick,
            )
        ),
        max_holding_ns=int(holding) * NS_PER_MINUTE if holding else 0,
        daily_loss_limit=float(Decimal(str(risk_value(settings, "daily_loss_limit_usd")))),
        max_losses=int(risk_value(settings, "max_consecutive_losses")),
        pause_ns=int(risk_value(settings, "pause_minutes")) * NS_PER_MINUTE,
    )


def sim_costs(settings: BacktestSettings, market: PrescreenMarket) -> tuple[float, ...]:
    """(multiplier, fee per contract per side, contracts, starting balance) for ``screen``."""
    fee = Decimal(settings.venue.commission_per_contract.split()[0])
    balance = Decimal(settings.venue.starting_balance.split()[0])
    quantity = int(value_of(settings.strategy, "trade_size"))
    return float(market.multiplier), float(fee), float(quantity), float(balance)


def screen(
    market: PrescreenMarket,
    points: Sequence[SimPoint],
    costs: tuple[float, ...],
    intrabar: str = "stop_first",
    threads: int = 0,
) -> pd.DataFrame:
    """Simulate every point (Rust, all cores by default): its parameters and statistics."""
    from quant_scalper._core import prescreen

    columns = {
        "window": np.array([p.window for p in points], dtype="int64"),
        "entry_z": np.array([p.entry_z for p in points], dtype="float64"),
        "exit_z": np.array([p.exit_z for p in points], dtype="float64"),
        "stop": np.array([p.stop for p in points], dtype="float64"),
        "target": np.array([p.target for p in points], dtype="float64"),
        "max_holding_ns": np.array([p.max_holding_ns for p in points], dtype="int64"),
        "daily_loss_limit": np.array([p.daily_loss_limit for p in points], dtype="float64"),
        "max_losses": np.array([p.max_losses for p in points], dtype="int64"),
        "pause_ns": np.array([p.pause_ns for p in points], dtype="int64"),
    }
    try:
        raw = prescreen(
            market.core,
            **columns,
            **dict(zip(COST_NAMES, costs, strict=True)),
            intrabar=intrabar,
            threads=threads,
        )
    except ValueError as exc:
        raise SweepConfigError(f"the pre-screen refused its input: {exc}") from exc
    daily = raw.pop("daily_pnl")
    frame = pd.concat([pd.DataFrame(columns), pd.DataFrame(raw)], axis=1)
    frame["sharpe_ratio"] = sharpe_ratios(daily, costs[3])
    trades = frame["trades"].replace(0, np.nan)
    frame["win_rate"] = frame["winners"] / trades
    frame["expectancy"] = frame["net_pnl"] / trades
    frame["profit_factor"] = frame["gross_profit"] / frame["gross_loss"].replace(0.0, np.nan)
    return frame


def prescreen_points(
    spec: SweepSpec,
    points: Sequence[Mapping[str, Any]],
    base_raw: Mapping[str, Any],
    threads: int = 0,
) -> pd.DataFrame:
    """Rank ``points`` by the sweep's objective (Sharpe if the pre-screen lacks it), best first.

    Points with fewer than the sweep's ``min_trades`` come after all the others; invalid points
    are left out. Columns: ``params`` (the point), ``point_id``, ``status``, each parameter, the
    pre-screen statistics and ``enough_trades``.
    """
    base = spec.settings_for({}, base_raw)
    valid: list[Mapping[str, Any]] = []
    settings_of: list[BacktestSettings] = []
    for point in points:
        try:
            settings_of.append(spec.settings_for(point, base_raw))
        except ConfigError:
            continue
        valid.append(point)
    if not valid:
        raise SweepConfigError("no valid point to pre-screen: check the parameter ranges")
    # The session settings and the gap limit shape the market arrays (guard, flatten alerts,
    # day starts, warm-up restarts): one market per distinct set, usually just one.
    groups: dict[tuple, list[int]] = {}
    for i, settings in enumerate(settings_of):
        key = (
            *(str(risk_value(settings, k)) for k in SESSION_KEYS),
            str(value_of(settings.strategy, "max_bar_gap_minutes")),
        )
        groups.setdefault(key, []).append(i)
    parts = []
    for members in groups.values():
        market = load_market(settings_of[members[0]])
        sims = [sim_point(settings_of[i], market) for i in members]
        part = screen(market, sims, sim_costs(base, market), spec.intrabar, threads)
        parts.append(part.set_index(pd.Index(members)))
    stats = pd.concat(parts).sort_index()
    frame = pd.DataFrame(
        {
            "params": [dict(p) for p in valid],
            "point_id": [point_id(p) for p in valid],
            "status": "ok",  # like a sweep table, so `quant-scalper heatmap` reads it
            **{p.key: [v.get(p.key) for v in valid] for p in spec.parameters},
        }
    )
    keep = [*PRESCREEN_STATS, "stops", "ambiguous_bars", "open_at_end"]
    frame = pd.concat([frame, stats[keep].reset_index(drop=True)], axis=1)
    objective = spec.objective if spec.objective in PRESCREEN_STATS else "sharpe_ratio"
    ascending = not HIGHER_IS_BETTER[objective]
    # Points with too few trades are never recommended: they go last, whatever their score.
    frame["enough_trades"] = frame["trades"] >= spec.min_trades
    frame = frame.sort_values(
        ["enough_trades", objective, "net_pnl"],
        ascending=[False, ascending, False],
        na_position="last",
        kind="stable",
    )
    return frame.reset_index(drop=True)


def simulate_trades(settings: BacktestSettings, intrabar: str = "ticks") -> list[ClosedTrade]:
    """The pre-screen's trades for one backtest config, as ``ClosedTrade`` (parity checks)."""
    from quant_scalper._core import prescreen_trades

    market = load_market(settings)
    p = sim_point(settings, market)
    multiplier, fee, quantity, balance = sim_costs(settings, market)
    raw = prescreen_trades(
        market.core,
        window=p.window,
        entry_z=p.entry_z,
        exit_z=p.exit_z,
        stop=p.stop,
        target=p.target,
        max_holding_ns=p.max_holding_ns,
        daily_loss_limit=p.daily_loss_limit,
        max_losses=p.max_losses,
        pause_ns=p.pause_ns,
        multiplier=multiplier,
        fee_per_side=fee,
        quantity=quantity,
        starting_balance=balance,
        intrabar=intrabar,
    )
    contract = _contract_of(market, settings)
    out: list[ClosedTrade] = []
    for i in range(len(raw["side"])):
        entry_ts = int(raw["entry_ts"][i])
        out.append(
            ClosedTrade(
                instrument_id=contract(entry_ts),
                side="LONG" if raw["side"][i] > 0 else "SHORT",
                quantity=Decimal(int(quantity)),
                opened_at=_utc(entry_ts),
                closed_at=_utc(int(raw["exit_ts"][i])),
                entry_price=_price(raw["entry_price"][i], market.tick),
                exit_price=_price(raw["exit_price"][i], market.tick),
                realized_pnl=Decimal(str(round(float(raw["pnl"][i]), 2))),
                fees=Decimal(str(fee)) * 2 * int(quantity),
            )
        )
    return sorted(out, key=lambda t: t.closed_at)  # as the backtest runner lists them


def _contract_of(market: PrescreenMarket, settings: BacktestSettings) -> Any:
    segments = load_segments(settings, with_quotes=False)
    starts = [int(s.bar_ts[0]) for s in segments]
    ids = [s.instrument_id for s in segments]

    def find(ts: int) -> str:
        index = int(np.searchsorted(starts, ts, side="right")) - 1
        return ids[max(index, 0)]

    return find


def _price(value: float, tick: Decimal) -> Decimal:
    places = max(0, -tick.normalize().as_tuple().exponent)
    return Decimal(str(round(float(value), places))).quantize(Decimal(1).scaleb(-places))


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).replace(
        microsecond=(ns % 1_000_000_000) // 1_000
    )
