"""Research subcommands: ``sweep``, ``heatmap``, ``prescreen``, ``walk-forward``, ``report``.

Heavy imports (Nautilus, Dask, plotly) happen inside the handlers so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the research subcommands on the ``quant-scalper`` parser."""
    _add_sweep(commands)
    _add_heatmap(commands)
    _add_prescreen(commands)
    _add_walk_forward(commands)
    _add_report(commands)


def _common(parser: argparse.ArgumentParser, what: str, default: str) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help=f"{what} YAML (default: {default})"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the base backtest config, e.g. --set start=2013-10-07 "
        "(repeatable)",
    )


def _executor_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run the backtests on this Dask scheduler's workers (default: local processes)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: all cores)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_sweep(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser(
        "sweep", help="backtest every point of a parameter grid or random search"
    )
    _common(sweep, "sweep", "configs/sweep.yaml")
    _executor_args(sweep)
    sweep.add_argument("--output", type=Path, default=None, help="results Parquet file")
    sweep.add_argument(
        "--fresh", action="store_true", help="discard earlier results instead of resuming"
    )
    sweep.add_argument(
        "--prescreen-top",
        type=int,
        default=None,
        metavar="K",
        help="rank every point with the Rust pre-screen and backtest only the best K",
    )
    sweep.add_argument(
        "--heatmap",
        nargs=2,
        metavar=("X", "Y"),
        default=None,
        help="also write a heatmap over these two parameters (beside the results)",
    )
    sweep.add_argument("--stat", default=None, help="heatmap statistic (default: the objective)")
    sweep.set_defaults(handler=_sweep)


def _add_heatmap(commands: argparse._SubParsersAction) -> None:
    heat = commands.add_parser("heatmap", help="plot a sweep statistic over two parameters")
    heat.add_argument("results", type=Path, help="the sweep's results Parquet file")
    heat.add_argument("--x", required=True, help="parameter on the x axis, e.g. strategy.entry_z")
    heat.add_argument("--y", required=True, help="parameter on the y axis, e.g. strategy.window")
    heat.add_argument("--stat", default="sharpe_ratio", help="statistic (default: sharpe_ratio)")
    heat.add_argument(
        "--agg", default="median", help="aggregate over other parameters: median|mean|max|min"
    )
    heat.add_argument("--out", type=Path, default=None, help="HTML file (default: beside results)")
    heat.set_defaults(handler=_heatmap)


def _add_prescreen(commands: argparse._SubParsersAction) -> None:
    pre = commands.add_parser(
        "prescreen", help="rank a sweep's points with the fast Rust simulator (no Nautilus)"
    )
    _common(pre, "sweep", "configs/sweep.yaml")
    pre.add_argument("--top", type=int, default=20, help="how many of the best to print")
    pre.add_argument("--output", type=Path, default=None, help="write every ranked point here")
    pre.set_defaults(handler=_prescreen)


def _add_walk_forward(commands: argparse._SubParsersAction) -> None:
    wf = commands.add_parser(
        "walk-forward", help="choose parameters on each train window, trade them on the next"
    )
    _common(wf, "walk-forward", "configs/walkforward.yaml")
    _executor_args(wf)
    wf.add_argument("--output", type=Path, default=None, help="output folder")
    wf.set_defaults(handler=_walk_forward)


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report", help="HTML + Markdown report: recommended parameters and the pre-live gate"
    )
    report.add_argument(
        "--sweep", type=Path, default=None, help="sweep config whose results to use"
    )
    report.add_argument(
        "--walk-forward",
        dest="walk_forward",
        type=Path,
        default=None,
        help="walk-forward output folder to include",
    )
    report.add_argument(
        "--backtest", type=Path, default=None, help="backtest config (default: the sweep's base)"
    )
    report.add_argument("--out", type=Path, default=None, help="HTML file to write")
    report.add_argument(
        "--min-trades",
        dest="min_trades",
        type=int,
        default=None,
        help="the pre-live gate's minimum number of trades (default: 100)",
    )
    report.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the backtest config (repeatable)",
    )
    report.set_defaults(handler=_report)


def _check_args(args: argparse.Namespace) -> None:
    """The numeric command-line options, checked before any work starts."""
    from quant_scalper.config import check_int

    for name, minimum in (("workers", 1), ("prescreen_top", 1), ("top", 0), ("min_trades", 0)):
        value = getattr(args, name, None)
        if value is not None:
            check_int(f"--{name.replace('_', '-')}", value, minimum=minimum)


def _sweep(args: argparse.Namespace) -> int:
    from quant_scalper.config import check_output_file
    from quant_scalper.research.heatmap import write_heatmap
    from quant_scalper.research.spec import check_points_runnable, load_sweep_spec
    from quant_scalper.research.sweep import format_top, run_sweep

    _check_args(args)
    spec = load_sweep_spec(args.config, args.overrides, output=args.output)
    if args.heatmap:
        stat = args.stat or spec.objective
        check_output_file("the heatmap", spec.output.with_name(f"heatmap_{stat}.html"))
    check_points_runnable(spec, spec.points(), spec.base_mapping())
    run = run_sweep(
        spec,
        scheduler=args.scheduler,
        workers=args.workers,
        fresh=args.fresh,
        progress=not args.no_progress,
        prescreen_top=args.prescreen_top,
    )
    print(
        f"sweep: {run.points} points, {run.ran} run, {run.skipped} already done, "
        f"{run.invalid} invalid, {run.failed} failed, {run.trials} tried in all, "
        f"{run.elapsed_s:.1f} s -> {run.path}"
    )
    print(f"\nbest by {spec.objective} (at least {spec.min_trades} trades):")
    print(format_top(run.table, spec.objective, spec.min_trades))
    if args.heatmap:
        x, y = args.heatmap
        stat = args.stat or spec.objective
        out = run.path.with_name(f"heatmap_{stat}.html")
        print(f"\nheatmap: {write_heatmap(run.table, out, x, y, stat)}")
    return 0 if run.failed == 0 else 1


def _heatmap(args: argparse.Namespace) -> int:
    from quant_scalper.config import check_output_file
    from quant_scalper.errors import ConfigError
    from quant_scalper.research.heatmap import write_heatmap
    from quant_scalper.research.store import read_results

    if not args.results.is_file():
        raise ConfigError(f"sweep results {args.results} is not a file: pass the results Parquet")
    out = args.out or args.results.with_name(f"heatmap_{args.stat}.html")
    check_output_file("--out", out.resolve())
    table = read_results(args.results)
    print(write_heatmap(table, out, args.x, args.y, args.stat, args.agg))
    return 0


def _prescreen(args: argparse.Namespace) -> int:
    from quant_scalper.config import check_output_file
    from quant_scalper.research.prescreen import prescreen_points
    from quant_scalper.research.spec import check_points_runnable, load_sweep_spec

    _check_args(args)
    if args.output is not None:
        check_output_file("--output", args.output.resolve())
    spec = load_sweep_spec(args.config, args.overrides)
    points, base = spec.points(), spec.base_mapping()
    check_points_runnable(spec, points, base)
    ranked = prescreen_points(spec, points, base)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        ranked.drop(columns=["params"]).to_parquet(args.output, index=False)
    print(ranked.drop(columns=["params"]).head(args.top).to_string(index=False))
    return 0


def _walk_forward(args: argparse.Namespace) -> int:
    from quant_scalper.config import check_dir_or_missing
    from quant_scalper.research.walkforward import (
        format_walk_forward,
        load_walk_forward_spec,
        run_walk_forward,
    )

    _check_args(args)
    if args.output is not None:
        check_dir_or_missing("--output", args.output.resolve())
    spec = load_walk_forward_spec(args.config, args.overrides, output=args.output)
    result = run_walk_forward(
        spec, scheduler=args.scheduler, workers=args.workers, progress=not args.no_progress
    )
    print(format_walk_forward(result))
    return 0


def _report(args: argparse.Namespace) -> int:
    from quant_scalper.config import check_dir_or_missing, check_output_file
    from quant_scalper.research.report import GATE_MIN_TRADES, build_report

    _check_args(args)
    if args.out is not None:
        check_output_file("--out", args.out.resolve())
    if args.walk_forward is not None:
        check_dir_or_missing("--walk-forward", args.walk_forward.resolve())

    paths = build_report(
        sweep_config=args.sweep,
        walk_forward_dir=args.walk_forward,
        backtest_config=args.backtest,
        overrides=args.overrides,
        out=args.out,
        min_trades=GATE_MIN_TRADES if args.min_trades is None else args.min_trades,
    )
    for path in paths:
        print(path)
    return 0
