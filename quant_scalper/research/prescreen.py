"""The Rust pre-screen: rank thousands of parameter points in seconds, then confirm the best.

``quant_scalper._core.prescreen`` simulates the strategy's rules (z-score entries and exits on
bar closes, the bracket's stop and target, fees per contract per side, max holding time) on the
catalog's bars and quote ticks, the same data the Nautilus backtest replays; points with the
same window share one z-score series. The rules and fill model are documented in
``rust_ext/src/prescreen.rs``; in short, market orders fill at the latest quote, a stop fills
at the quote that triggers it, a target at its price, and ``intrabar`` decides a bar whose
quotes reach both: ``stop_first`` (conservative: the stop) or ``ticks`` (the quote order, as the
Nautilus matching engine does; trade-for-trade parity, see tests/research/test_prescreen.py).

Not modelled: the circuit breakers other than max holding time (daily loss limit, losing-streak
pause, session guard, flatten before the halt). They only ever remove trades, so the pre-screen
ranks the raw rules; the Nautilus confirmation of the top K applies them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.analysis.stats import HIGHER_IS_BETTER, trading_days_of_ns
from quant_scalper.config import BacktestSettings
from quant_scalper.errors import ConfigError
from quant_scalper.research.data import load_segments
from quant_scalper.research.errors import SweepConfigError
from quant_scalper.research.spec import SweepSpec, point_id
from quant_scalper.signals import usd_to_points

NS_PER_MINUTE = 60_000_000_000
NEVER = np.iinfo(np.int64).max
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
    bar_day: np.ndarray
    n_days: int
    quote_ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bar_offsets: np.ndarray
    quote_offsets: np.ndarray
    expiry_ns: np.ndarray
    end_ns: int
    multiplier: Decimal
    tick: Decimal

    def arrays(self) -> tuple[Any, ...]:
        """The positional market arguments of ``_core.prescreen``."""
        return (
            self.bar_ts,
            self.close,
            self.bar_day,
            self.n_days,
            self.quote_ts,
            self.bid,
            self.ask,
            self.bar_offsets,
            self.quote_offsets,
            self.expiry_ns,
            self.end_ns,
        )

    def replicate(self, times: int) -> PrescreenMarket:
        """The same data ``times`` times end to end, shifted in time (for benchmarks)."""
        span_bars = int(self.bar_ts[-1] - self.bar_ts[0]) + NS_PER_MINUTE
        span_quotes = int(self.quote_ts[-1] - self.quote_ts[0]) + NS_PER_MINUTE
        span = max(span_bars, span_quotes, 1)
        shift = np.arange(times, dtype="int64") * span

        def tile(a: np.ndarray) -> np.ndarray:
            return np.tile(a, times)

        def offsets(o: np.ndarray, length: int) -> np.ndarray:
            return np.concatenate([[0], *[o[1:] + k * length for k in range(times)]]).astype(
                "int64"
            )

        return PrescreenMarket(
            bar_ts=(self.bar_ts[None, :] + shift[:, None]).ravel(),
            close=tile(self.close),
            bar_day=(self.bar_day[None, :] + (np.arange(times) * self.n_days)[:, None])
            .ravel()
            .astype("uint32"),
            n_days=self.n_days * times,
            quote_ts=(self.quote_ts[None, :] + shift[:, None]).ravel(),
            bid=tile(self.bid),
            ask=tile(self.ask),
            bar_offsets=offsets(self.bar_offsets, len(self.bar_ts)),
            quote_offsets=offsets(self.quote_offsets, len(self.quote_ts)),
            expiry_ns=np.full(len(self.expiry_ns) * times, NEVER, dtype="int64"),
            end_ns=int(self.end_ns + shift[-1]),
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
    symbol = segments[0].instrument_id.split(".")[0]
    spec = spec_for(symbol if symbol in SPECS else _root_of(symbol))
    bar_ts = np.concatenate([s.bar_ts for s in segments]).astype("int64")
    days = trading_days_of_ns(bar_ts)
    unique = sorted(set(days))
    index = {d: i for i, d in enumerate(unique)}
    return PrescreenMarket(
        bar_ts=bar_ts,
        close=np.concatenate([s.bar_close for s in segments]).astype("float64"),
        bar_day=np.array([index[d] for d in days], dtype="uint32"),
        n_days=len(unique),
        quote_ts=np.concatenate([s.quote_ts for s in segments]).astype("int64"),
        bid=np.concatenate([s.bid for s in segments]).astype("float64"),
        ask=np.concatenate([s.ask for s in segments]).astype("float64"),
        bar_offsets=np.cumsum([0, *[len(s.bar_ts) for s in segments]]).astype("int64"),
        quote_offsets=np.cumsum([0, *[len(s.quote_ts) for s in segments]]).astype("int64"),
        expiry_ns=np.array([_expiry_ns(settings, s.instrument_id) for s in segments], "int64"),
        # Nautilus runs its clock to the last data point (timers and expiries up to there fire).
        end_ns=int(max(max(s.bar_ts[-1], s.quote_ts[-1]) for s in segments if len(s.bar_ts))),
        multiplier=Decimal(spec.multiplier),
        tick=spec.tick,
    )


def _expiry_ns(settings: BacktestSettings, instrument_id: str) -> int:
    import pyarrow.parquet as pq

    files = sorted(
        (settings.catalog / "data" / "futures_contract" / instrument_id).glob("*.parquet")
    )
    if not files:
        return int(NEVER)
    return int(pq.read_table(files[-1], columns=["expiration_ns"]).column(0)[0].as_py())


@dataclass(frozen=True)
class SimPoint:
    """One point in the simulator's units (points and nanoseconds)."""

    window: int
    entry_z: float
    exit_z: float
    stop: float
    target: float
    max_holding_ns: int  # 0: off


def sim_point(settings: BacktestSettings, market: PrescreenMarket) -> SimPoint:
    """The simulator's view of a point's validated settings (USD distances to ticks)."""
    strategy, risk = settings.strategy, settings.risk
    holding = risk.get("max_holding_minutes")
    return SimPoint(
        window=int(strategy.get("window", 20)),
        entry_z=float(strategy.get("entry_z", 2.0)),
        exit_z=float(strategy.get("exit_z", 0.5)),
        stop=float(
            usd_to_points(
                Decimal(str(strategy.get("stop_loss_usd_per_contract", 200))),
                market.multiplier,
                market.tick,
            )
        ),
        target=float(
            usd_to_points(
                Decimal(str(strategy.get("take_profit_usd_per_contract", 300))),
                market.multiplier,
                market.tick,
            )
        ),
        max_holding_ns=int(holding) * NS_PER_MINUTE if holding else 0,
    )


def sim_costs(settings: BacktestSettings, market: PrescreenMarket) -> tuple[float, ...]:
    """(multiplier, fee per contract per side, contracts, starting balance) for ``screen``."""
    fee = Decimal(settings.venue.commission_per_contract.split()[0])
    balance = Decimal(settings.venue.starting_balance.split()[0])
    quantity = int(settings.strategy.get("trade_size", 1))
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
    }
    try:
        raw = prescreen(
            *market.arrays(), *columns.values(), *costs, intrabar=intrabar, threads=threads
        )
    except ValueError as exc:
        raise SweepConfigError(f"the pre-screen refused its input: {exc}") from exc
    frame = pd.concat([pd.DataFrame(columns), pd.DataFrame(raw)], axis=1)
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
    are left out. Columns: ``params`` (the point), ``point_id``, each parameter, the pre-screen
    statistics and ``enough_trades``.
    """
    base = spec.settings_for({}, base_raw)
    market = load_market(base)
    valid: list[Mapping[str, Any]] = []
    sims: list[SimPoint] = []
    for point in points:
        try:
            settings = spec.settings_for(point, base_raw)
        except ConfigError:
            continue
        valid.append(point)
        sims.append(sim_point(settings, market))
    if not sims:
        raise SweepConfigError("no valid point to pre-screen: check the parameter ranges")
    stats = screen(market, sims, sim_costs(base, market), spec.intrabar, threads)
    frame = pd.DataFrame(
        {
            "params": [dict(p) for p in valid],
            "point_id": [point_id(p) for p in valid],
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
        *market.arrays(),
        p.window,
        p.entry_z,
        p.exit_z,
        p.stop,
        p.target,
        p.max_holding_ns,
        multiplier,
        fee,
        quantity,
        balance,
        intrabar=intrabar,
    )
    contract = _contract_of(market, settings)
    out = []
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
    return out


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
