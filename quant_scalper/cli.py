"""The ``quant-scalper`` command line: backtests, catalog building and the other verbs."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from quant_scalper.errors import QuantScalperError

# Modules that add their own subcommands: each has ``add_commands(subparsers) -> None`` and
# imports its heavy dependencies only inside its handlers, so `--help` stays fast.
COMMAND_MODULES: tuple[str, ...] = (
    "quant_scalper.control",
    "quant_scalper.research.cli",
    "quant_scalper.live.cli",
    "quant_scalper.dashboard.cli",
)


EXIT_USAGE = 2  # a bad input: config, path, argument (argparse uses 2 too)
EXIT_BUG = 70  # EX_SOFTWARE: an unexpected exception, i.e. a quant-scalper bug
DEBUG_ENV = "QUANT_SCALPER_DEBUG"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``quant-scalper`` console script; returns the process exit code.

    Every deliberate error (``QuantScalperError``) prints one line and exits 2. Anything else is
    a bug: one line naming the exception and a crash file holding the traceback, exit 70; the
    traceback goes to the terminal only with ``--debug`` (or ``QUANT_SCALPER_DEBUG=1``).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV) == "1"
    try:
        return args.handler(args)
    except QuantScalperError as exc:
        print(f"quant-scalper: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("quant-scalper: interrupted", file=sys.stderr)
        return 130
    except RecursionError:
        print(
            "quant-scalper: error: an input is nested too deeply to be read (RecursionError): "
            "check the files this command reads (config, risk state)",
            file=sys.stderr,
        )
        if debug:
            traceback.print_exc()
        return EXIT_USAGE
    except Exception as exc:  # the last line of defence: one line, not a traceback
        crash = _report_bug(debug)
        print(
            f"quant-scalper: internal error: {type(exc).__name__}: {one_line(str(exc))[:300]} "
            f"(a bug: please report it with {crash or 'the output of --debug'})",
            file=sys.stderr,
        )
        return EXIT_BUG


def one_line(text: str) -> str:
    """``text`` with its line breaks folded, so every error is one line on the terminal."""
    return " ".join(text.split())


def _report_bug(debug: bool) -> str | None:
    """Write the current traceback to a crash file (and stderr with --debug); its path."""
    text = traceback.format_exc()
    if debug:
        print(text, file=sys.stderr, end="")
    try:
        fd, path = tempfile.mkstemp(prefix="quant-scalper-crash-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError:
        return None
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quant-scalper",
        description="Z-score mean reversion on CME MES futures with NautilusTrader.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="print the traceback of an unexpected error (also QUANT_SCALPER_DEBUG=1)",
    )
    commands = parser.add_subparsers(title="commands")

    backtest = commands.add_parser("backtest", help="run a backtest on the Parquet catalog")
    backtest.add_argument(
        "--config", type=Path, default=None, help="YAML config (default: configs/backtest.yaml)"
    )
    backtest.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set strategy.entry_z=2.5 (repeatable)",
    )
    backtest.add_argument(
        "--journal",
        default=None,
        metavar="PATH|URL",
        help="trade journal to write (default: <output_dir>/journal.sqlite; 'none': no journal)",
    )
    backtest.add_argument(
        "--journal-password-env",
        default=None,
        metavar="VAR",
        help="environment variable holding the journal database password (PostgreSQL)",
    )
    backtest.set_defaults(handler=_backtest)

    catalog = commands.add_parser("catalog", help="build the bundled data catalog")
    catalog_commands = catalog.add_subparsers(title="catalog commands")
    build = catalog_commands.add_parser("build", help="rebuild catalog/ from the LEAN ES zips")
    build.add_argument("--source", type=Path, default=None, help="folder of LEAN daily zips")
    build.add_argument("--catalog", type=Path, default=None, help="catalog folder to write")
    build.set_defaults(handler=_catalog_build)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(commands)
    return parser


def _backtest(args: argparse.Namespace) -> int:
    from quant_scalper.backtest.report import format_report
    from quant_scalper.backtest.runner import run_backtest
    from quant_scalper.config import load_backtest_settings

    settings = load_backtest_settings(args.config, args.overrides)
    journal = args.journal or str(settings.output_dir / "journal.sqlite")
    if journal.lower() != "none":
        settings = settings.replace(journal=journal, journal_password_env=args.journal_password_env)
    outcome = run_backtest(settings)
    print(format_report(outcome))
    if settings.journal:
        from quant_scalper.journal.db import mask

        print(f"  journal    {mask(settings.journal)} (book {outcome.journal_book})")
    return 0


def _catalog_build(args: argparse.Namespace) -> int:
    from quant_scalper.data import catalog_builder

    source = args.source or catalog_builder.DEFAULT_SOURCE_DIR
    target = args.catalog or catalog_builder.DEFAULT_CATALOG_DIR
    summary = catalog_builder.build_catalog(source, target)
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
