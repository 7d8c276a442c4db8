"""``quant-scalper walk-forward``: choose parameters in sample, trade them out of sample.

The catalog's statistics days (``analysis.stats.TradingCalendar``: CME trading days that hold at
least half a session, each with the evening fragment after it folded in) are cut into windows:
``train_days`` to choose on, then the next ``test_days`` to trade on; ``rolling`` windows slide
by ``step_days`` (default ``test_days``), ``anchored`` ones keep the first day and grow. On each
train window every point of the sweep's parameter space is backtested in Nautilus and the best
by ``objective`` (with at least ``min_trades`` trades) is chosen; that point alone is then
backtested on the test window. The test windows' trades are stitched into one out-of-sample
equity curve, whose statistics are the honest estimate of what the procedure earns.

Two numbers say how much to trust it:

- **walk-forward efficiency** (WFE): out-of-sample net P&L per trading day over the chosen
  points' in-sample net P&L per trading day (pooled over windows; None when in-sample P&L is not
  positive, where the ratio means nothing). About 0.5 or more is usually taken as robust; near
  zero or negative means the in-sample edge was fitted noise.
- **parameter stability**: per parameter, how often the most chosen value was chosen and how
  far the choices spread (their standard deviation over the span of the values tried), and how
  often the whole modal parameter set was chosen. Parameters that jump around between windows
  are being fitted to noise.

Each window's backtest starts flat with a fresh z-score (it warms up for ``window`` bars at the
start of every test window). A position still open at a test window's last bar is closed there
at market, as the backtest does at a contract's last bar (``oos_closed_at_end`` counts them per
window). The out-of-sample deflated Sharpe counts every configuration the train windows tried.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.analysis.stats import (
    HIGHER_IS_BETTER,
    PerformanceStats,
    TradingCalendar,
    compute_stats,
)
from quant_scalper.config import (
    check_dir_or_missing,
    check_int,
    check_keys,
    read_yaml,
    resolve_path,
)
from quant_scalper.errors import ConfigError
from quant_scalper.research.data import load_segments
from quant_scalper.research.errors import ResearchError, SweepConfigError
from quant_scalper.research.executor import open_executor, run_all
from quant_scalper.research.spec import SweepSpec, check_objective, load_sweep_spec
from quant_scalper.research.sweep import build_tasks
from quant_scalper.research.worker import STATUS_OK, PointResult, run_point

DEFAULT_WALK_FORWARD_CONFIG = Path("configs") / "walkforward.yaml"
MODES = ("rolling", "anchored")
# Objectives computed on daily returns, and the fewest train days that define them.
DAILY_OBJECTIVES = {
    "sharpe_ratio": 2,
    "sortino_ratio": 2,
    "deflated_sharpe": 3,
    "deflated_sharpe_probability": 3,
}
_KEYS = {
    "sweep": None,
    "train_days": None,
    "test_days": None,
    "step_days": None,
    "mode": None,
    "objective": None,
    "min_trades": None,
    "output": None,
    "workers": None,
}


@dataclass(frozen=True)
class WalkForwardSpec:
    """A validated walk-forward: the sweep's parameter space plus the window layout."""

    sweep: SweepSpec
    train_days: int
    test_days: int
    step_days: int
    mode: str
    objective: str
    min_trades: int
    output: Path
    workers: int | None = None


@dataclass(frozen=True)
class Window:
    """One train/test split, as trading days and the UTC bounds handed to the backtest."""

    index: int
    train_days: tuple[date, ...]
    test_days: tuple[date, ...]
    train_start: str
    train_end: str
    test_start: str
    test_end: str


@dataclass
class WalkForwardResult:
    """Every window's choice, the stitched out-of-sample trades and the summary numbers."""

    spec: WalkForwardSpec
    windows: pd.DataFrame
    train_table: pd.DataFrame
    oos_trades: list[ClosedTrade]
    oos_stats: PerformanceStats
    efficiency: float | None
    stability: dict[str, Any]
    files: dict[str, Path]
    oos_days: list[date] = dataclasses.field(default_factory=list)


def load_walk_forward_spec(
    path: Path | str | None = None,
    overrides: Sequence[str] = (),
    *,
    output: Path | None = None,
) -> WalkForwardSpec:
    """Read a walk-forward YAML; ``overrides`` are ``--set`` items for the base backtest."""
    from quant_scalper.config import REPO_ROOT

    if path is None:
        local = Path.cwd() / DEFAULT_WALK_FORWARD_CONFIG
        path = local if local.is_file() else REPO_ROOT / DEFAULT_WALK_FORWARD_CONFIG
    path = Path(path).expanduser().resolve()
    raw = read_yaml(path)
    try:
        check_keys(f"the walk-forward config {path}", raw, _KEYS)
    except ConfigError as exc:
        raise SweepConfigError(str(exc)) from exc
    try:
        sweep_path = resolve_path(raw.get("sweep") or "sweep.yaml", path.parent)
    except ConfigError as exc:
        raise SweepConfigError(str(exc)) from exc
    sweep = load_sweep_spec(sweep_path, overrides)
    train, test = raw.get("train_days"), raw.get("test_days")
    for name, value in (("train_days", train), ("test_days", test)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SweepConfigError(
                f"{name} must be a whole number of trading days >= 1, was {value!r}"
            )
    step = raw.get("step_days") or test
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        raise SweepConfigError(f"step_days must be a whole number >= 1 or null, was {step!r}")
    mode = str(raw.get("mode", "rolling"))
    if mode not in MODES:
        raise SweepConfigError(f"mode must be rolling or anchored, was {mode!r}")
    objective = str(raw.get("objective") or sweep.objective)
    check_objective(objective)
    if objective in DAILY_OBJECTIVES and train < DAILY_OBJECTIVES[objective]:
        raise SweepConfigError(
            f"objective {objective} is computed on daily returns and needs train_days >= "
            f"{DAILY_OBJECTIVES[objective]} (was {train}): lengthen the train window or rank "
            "by net_pnl, profit_factor or expectancy"
        )
    try:
        min_trades = check_int("min_trades", raw.get("min_trades", sweep.min_trades), minimum=0)
        out = output or resolve_path(raw.get("output") or "../output/walkforward", path.parent)
        check_dir_or_missing("the walk-forward output", out)
        workers = raw.get("workers", sweep.workers)
        if workers is not None:
            check_int("workers", workers, minimum=1)
    except SweepConfigError:
        raise
    except ConfigError as exc:
        raise SweepConfigError(str(exc)) from exc
    return WalkForwardSpec(
        sweep=sweep,
        train_days=train,
        test_days=test,
        step_days=step,
        mode=mode,
        objective=objective,
        min_trades=min_trades,
        output=out,
        workers=workers,
    )


def make_windows(
    day_bounds: Sequence[tuple[date, int, int]],
    train_days: int,
    test_days: int,
    step_days: int,
    mode: str,
) -> list[Window]:
    """Train/test windows over trading days given as (day, first bar ns, last bar ns)."""
    days = sorted(day_bounds)
    windows: list[Window] = []
    k = 0
    while True:
        test_from = train_days + k * step_days
        train_from = 0 if mode == "anchored" else k * step_days
        if test_from + test_days > len(days):
            break
        train = days[train_from:test_from]
        test = days[test_from : test_from + test_days]
        windows.append(
            Window(
                index=k,
                train_days=tuple(d for d, _, _ in train),
                test_days=tuple(d for d, _, _ in test),
                train_start=_iso(train[0][1] - 60_000_000_000),
                train_end=_iso(train[-1][2]),
                test_start=_iso(test[0][1] - 60_000_000_000),
                test_end=_iso(test[-1][2]),
            )
        )
        k += 1
    if not windows:
        raise ResearchError(
            f"the catalog has {len(days)} trading days in range, fewer than train_days "
            f"({train_days}) + test_days ({test_days}): shorten the windows or widen the range"
        )
    return windows


def trading_day_bounds(spec: WalkForwardSpec) -> list[tuple[date, int, int]]:
    """(statistics day, first bar ns, last bar ns) of every statistics day in range.

    A fragment of a session (less than half of one) belongs to the statistics day it is folded
    into, so windows are made of sessions with data.
    """
    stamps = _bar_stamps(spec)
    calendar = TradingCalendar.from_bars(stamps)
    frame = pd.DataFrame({"ts": stamps, "day": calendar.day_index(stamps)})
    grouped = frame.groupby("day")["ts"].agg(["min", "max"])
    return [
        (calendar.stat_days[int(i)], int(row["min"]), int(row["max"]))
        for i, row in grouped.iterrows()
    ]


def _bar_stamps(spec: WalkForwardSpec) -> np.ndarray:
    segments = load_segments(spec.sweep.base_settings(), False)
    stamps = np.concatenate([s.bar_ts for s in segments]) if segments else np.empty(0, "int64")
    if len(stamps) == 0:
        raise ResearchError("the catalog has no bars in the configured range")
    return np.sort(stamps)


def run_walk_forward(
    spec: WalkForwardSpec,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> WalkForwardResult:
    """Run every window (train sweeps, then the chosen points' tests) and write the outputs."""
    windows = make_windows(
        trading_day_bounds(spec), spec.train_days, spec.test_days, spec.step_days, spec.mode
    )
    base_raw = spec.sweep.base_mapping()
    points = spec.sweep.points()
    train_tasks = []
    for window in windows:
        raw = {**base_raw, "start": window.train_start, "end": window.train_end}
        tasks, _, _ = build_tasks(spec.sweep, points, raw)
        train_tasks += [
            dataclasses.replace(t, point_id=f"{window.index}:{t.point_id}") for t in tasks
        ]
    if not train_tasks:
        raise ResearchError("no valid parameter point to train: check the sweep's parameters")
    with (
        open_executor(scheduler, workers or spec.workers) as executor,
        tqdm(
            total=len(train_tasks) + len(windows),
            desc="walk-forward",
            unit="bt",
            disable=None if progress else True,
        ) as bar,
    ):
        train_results: list[PointResult] = []
        for result in run_all(executor, run_point, train_tasks):
            train_results.append(result)
            bar.update(1)
        train_table = _train_table(train_results)
        chosen = {w.index: _choose(train_table, w.index, spec) for w in windows}
        test_tasks = []
        for window in windows:
            if chosen[window.index] is None:
                bar.update(1)
                continue
            raw = {**base_raw, "start": window.test_start, "end": window.test_end}
            tasks, _, _ = build_tasks(
                spec.sweep, [chosen[window.index]["params"]], raw, return_trades=True
            )
            test_tasks += [
                dataclasses.replace(
                    t,
                    point_id=str(window.index),
                    settings=t.settings.replace(flatten_at_end=True),
                )
                for t in tasks
            ]
        test_results = {}
        for result in run_all(executor, run_point, test_tasks):
            test_results[int(result.point_id)] = result
            bar.update(1)
    return _summarise(spec, windows, train_table, chosen, test_results, _bar_stamps(spec))


def _train_table(results: Sequence[PointResult]) -> pd.DataFrame:
    rows = []
    for result in results:
        window, _, pid = result.point_id.partition(":")
        rows.append(
            {
                "window": int(window),
                "point_id": pid,
                "status": result.status,
                "error": result.error,
                **result.params,
                **result.stats,
                "params": json.dumps(dict(result.params), sort_keys=True),
            }
        )
    return pd.DataFrame(rows)


def _choose(table: pd.DataFrame, window: int, spec: WalkForwardSpec) -> dict[str, Any] | None:
    rows = table[(table["window"] == window) & (table["status"] == STATUS_OK)]
    if "trades" not in rows.columns:
        return None
    rows = rows[(rows["trades"] >= spec.min_trades) & rows[spec.objective].notna()]
    if rows.empty:
        return None
    best = rows.sort_values(
        spec.objective, ascending=not HIGHER_IS_BETTER[spec.objective], kind="stable"
    ).iloc[0]
    return {"params": json.loads(best["params"]), "row": best.to_dict()}


def _summarise(
    spec: WalkForwardSpec,
    windows: Sequence[Window],
    train_table: pd.DataFrame,
    chosen: Mapping[int, dict[str, Any] | None],
    tests: Mapping[int, PointResult],
    bar_stamps: np.ndarray,
) -> WalkForwardResult:
    starting = Decimal(spec.sweep.base_settings().venue.starting_balance.split()[0])
    rows = []
    oos_trades: list[ClosedTrade] = []
    is_pnl = is_days = 0.0
    for window in windows:
        pick = chosen[window.index]
        test = tests.get(window.index)
        row: dict[str, Any] = {
            "window": window.index,
            "train_first_day": window.train_days[0].isoformat(),
            "train_last_day": window.train_days[-1].isoformat(),
            "test_first_day": window.test_days[0].isoformat(),
            "test_last_day": window.test_days[-1].isoformat(),
            "test_start": window.test_start,
            "test_end": window.test_end,
            "chosen": json.dumps(pick["params"], sort_keys=True) if pick else None,
            "is_" + spec.objective: pick["row"][spec.objective] if pick else None,
            "is_trades": pick["row"]["trades"] if pick else None,
            "is_net_pnl": pick["row"]["net_pnl"] if pick else None,
        }
        if pick:
            is_pnl += float(pick["row"]["net_pnl"])
            is_days += len(window.train_days)
        if test is not None and test.status == STATUS_OK:
            oos_trades += test.trades or []
            row.update(
                {
                    "oos_" + spec.objective: test.stats.get(spec.objective),
                    "oos_trades": test.stats["trades"],
                    "oos_net_pnl": test.stats["net_pnl"],
                    "oos_win_rate": test.stats["win_rate"],
                    "oos_closed_at_end": test.stats.get("closed_at_end", 0),
                    "oos_open_at_end": test.stats["open_positions_at_end"],
                }
            )
            is_rate = row["is_net_pnl"] / len(window.train_days)
            row["wfe"] = (
                (test.stats["net_pnl"] / len(window.test_days)) / is_rate if is_rate > 0 else None
            )
        elif test is not None:
            row["oos_error"] = test.error
        rows.append(row)
    test_days = sorted({d for w in windows if chosen[w.index] for d in w.test_days})
    in_test = np.zeros(len(bar_stamps), dtype=bool)
    for w in windows:
        if chosen[w.index]:
            start, end = pd.Timestamp(w.test_start).value, pd.Timestamp(w.test_end).value
            in_test |= (bar_stamps > start) & (bar_stamps <= end)
    configurations = max(len(spec.sweep.points()), 1)
    trial_sharpes = (
        [float(s) for s in train_table["sharpe_ratio"] if pd.notna(s)]
        if "sharpe_ratio" in train_table.columns
        else None
    )
    oos_stats = compute_stats(
        oos_trades,
        starting,
        calendar=TradingCalendar.from_bars(bar_stamps[in_test]),
        n_trials=configurations,
        trial_sharpes=trial_sharpes,
        seed=spec.sweep.seed,
        bootstrap_samples=spec.sweep.bootstrap_samples,
    )
    oos_rate = float(oos_stats.net_pnl) / len(test_days) if test_days else 0.0
    is_rate = is_pnl / is_days if is_days else 0.0
    efficiency = oos_rate / is_rate if is_rate > 0 else None
    choices = [c["params"] for c in chosen.values() if c]
    stability = parameter_stability(choices, spec.sweep)
    result = WalkForwardResult(
        spec=spec,
        windows=pd.DataFrame(rows),
        train_table=train_table,
        oos_trades=sorted(oos_trades, key=lambda t: t.closed_at),
        oos_stats=oos_stats,
        efficiency=efficiency,
        stability=stability,
        files={},
        oos_days=test_days,
    )
    result.files = write_outputs(result)
    return result


def parameter_stability(choices: Sequence[Mapping[str, Any]], sweep: SweepSpec) -> dict[str, Any]:
    """How consistently the windows chose each parameter (see the module docstring)."""
    out: dict[str, Any] = {"windows_with_choice": len(choices)}
    if not choices:
        return out
    sets = Counter(json.dumps(dict(c), sort_keys=True) for c in choices)
    modal_set, count = sets.most_common(1)[0]
    out["modal_parameters"] = json.loads(modal_set)
    out["modal_parameters_share"] = count / len(choices)
    per_parameter = {}
    for parameter in sweep.parameters:
        values = [c.get(parameter.key) for c in choices]
        modal, modal_count = Counter(map(json.dumps, values)).most_common(1)[0]
        entry: dict[str, Any] = {
            "chosen": values,
            "distinct": len(set(map(json.dumps, values))),
            "modal_value": json.loads(modal),
            "modal_share": modal_count / len(values),
        }
        numeric = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        tried = _tried_values(parameter)
        if len(numeric) == len(values) and tried and max(tried) > min(tried):
            entry["spread"] = float(np.std(numeric)) / (max(tried) - min(tried))
        per_parameter[parameter.key] = entry
    out["parameters"] = per_parameter
    return out


def write_outputs(result: WalkForwardResult) -> dict[str, Path]:
    """windows.parquet, train_results.parquet, oos_trades.parquet and summary.json."""
    out = result.spec.output
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "windows": out / "windows.parquet",
        "train": out / "train_results.parquet",
        "oos_trades": out / "oos_trades.parquet",
        "summary": out / "summary.json",
    }
    result.windows.to_parquet(files["windows"], index=False)
    result.train_table.to_parquet(files["train"], index=False)
    trades_to_frame(result.oos_trades).to_parquet(files["oos_trades"], index=False)
    summary = {
        "mode": result.spec.mode,
        "train_days": result.spec.train_days,
        "test_days": result.spec.test_days,
        "step_days": result.spec.step_days,
        "objective": result.spec.objective,
        "min_trades": result.spec.min_trades,
        "points_per_window": len(result.spec.sweep.points()),
        "walk_forward_efficiency": result.efficiency,
        "oos_trading_days": [d.isoformat() for d in result.oos_days],
        "oos_test_ranges": [
            [row["test_start"], row["test_end"]]
            for _, row in result.windows.iterrows()
            if row.get("chosen")
        ],
        "stability": result.stability,
        "oos": result.oos_stats.as_row(),
    }
    files["summary"].write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return files


def trades_to_frame(trades: Sequence[ClosedTrade]) -> pd.DataFrame:
    """Closed trades as a table (money as float, times as UTC timestamps)."""
    return pd.DataFrame(
        [
            {
                "instrument_id": t.instrument_id,
                "side": t.side,
                "quantity": float(t.quantity),
                "opened_at": pd.Timestamp(t.opened_at),
                "closed_at": pd.Timestamp(t.closed_at),
                "entry_price": float(t.entry_price),
                "exit_price": float(t.exit_price),
                "realized_pnl": float(t.realized_pnl),
                "fees": float(t.fees),
            }
            for t in trades
        ],
        columns=[
            "instrument_id",
            "side",
            "quantity",
            "opened_at",
            "closed_at",
            "entry_price",
            "exit_price",
            "realized_pnl",
            "fees",
        ],
    )


def trades_from_frame(frame: pd.DataFrame) -> list[ClosedTrade]:
    """The inverse of ``trades_to_frame`` (prices and money back to Decimal)."""
    return [
        ClosedTrade(
            instrument_id=str(r.instrument_id),
            side=str(r.side),
            quantity=Decimal(str(r.quantity)),
            opened_at=pd.Timestamp(r.opened_at).to_pydatetime(),
            closed_at=pd.Timestamp(r.closed_at).to_pydatetime(),
            entry_price=Decimal(str(r.entry_price)),
            exit_price=Decimal(str(r.exit_price)),
            realized_pnl=Decimal(str(round(r.realized_pnl, 2))),
            fees=Decimal(str(round(r.fees, 2))),
        )
        for r in frame.itertuples(index=False)
    ]


def format_walk_forward(result: WalkForwardResult) -> str:
    """The terminal summary: windows, WFE, stability, out-of-sample statistics, files."""
    s = result.oos_stats
    lines = [
        f"walk-forward ({result.spec.mode}, train {result.spec.train_days} / test "
        f"{result.spec.test_days} trading days, objective {result.spec.objective})",
        "",
        result.windows.to_string(index=False, float_format=lambda v: f"{v:.4g}"),
        "",
        f"walk-forward efficiency: {_fmt(result.efficiency)} (out-of-sample over in-sample "
        "P&L per day)",
        f"modal parameters chosen in {result.stability.get('modal_parameters_share', 0):.0%} of "
        f"windows: {result.stability.get('modal_parameters')}",
        f"out of sample: {s.trades} trades, net {s.net_pnl} USD, win rate {_fmt(s.win_rate)}, "
        f"profit factor {_fmt(s.profit_factor)}, max drawdown {s.max_drawdown_pct:.2%}",
        f"out-of-sample Sharpe per trading day: {s.sharpe.describe()}",
        f"out-of-sample deflated Sharpe after {s.n_trials} configurations: "
        f"{_fmt(s.deflated_sharpe)} (probability {_fmt(s.deflated_sharpe_probability)})",
        f"positions closed at a test window's last bar: "
        f"{int(result.windows.get('oos_closed_at_end', pd.Series(dtype=float)).fillna(0).sum())}",
        "",
        *[f"{name}: {path}" for name, path in result.files.items()],
    ]
    return "\n".join(lines)


def _tried_values(parameter: Any) -> list[float]:
    try:
        values = parameter.grid_values()
    except SweepConfigError:
        values = (parameter.low, parameter.high)
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").isoformat()


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
