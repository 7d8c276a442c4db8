"""``quant-scalper dashboard``: the web dashboard in its own process under uvicorn.

It only reads the journal, so it may crash, hang or be slow without touching a trading node.
"""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from quant_scalper.dashboard.errors import DashboardError
from quant_scalper.dashboard.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_STALE_AFTER_SECS,
    DashboardSettings,
)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``dashboard`` to the ``quant-scalper`` command line."""
    parser = commands.add_parser(
        "dashboard", help="web dashboard over the trade journal (read-only by default)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", type=Path, help="live config: its journal, trader id and dashboard: section"
    )
    source.add_argument("--journal", help="journal file (journal.sqlite) or database URL")
    parser.add_argument("--host", default=None, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=None, help=f"port to listen on (default {DEFAULT_PORT})"
    )
    parser.add_argument("--book", default=None, help="book to show: live:<id> or backtest:<run>")
    parser.set_defaults(handler=_run)


def build_settings(args: argparse.Namespace, env: dict[str, str]) -> DashboardSettings:
    """The dashboard's settings from the command line, the config file and the environment."""
    from quant_scalper.config import check_bool
    from quant_scalper.dashboard.security import check_bind, token_from_env
    from quant_scalper.dashboard.settings import read_config

    token = token_from_env(env)
    host, port, allow_control, stale = DEFAULT_HOST, DEFAULT_PORT, False, DEFAULT_STALE_AFTER_SECS
    journal, password, trader_id, state_dir, limit, book = (
        args.journal,
        None,
        None,
        None,
        None,
        None,
    )
    if args.config is not None:
        view = read_config(args.config, env)
        journal, password, trader_id = view.journal, view.journal_password, view.trader_id
        state_dir, limit = view.state_dir, view.daily_loss_limit_cents
        book = f"live:{trader_id}"
        section = view.dashboard
        host = str(section.get("host", host))
        port = section.get("port", port)
        allow_control = check_bool("dashboard.allow_control", section.get("allow_control", False))
        stale = section.get("stale_after_secs", stale)
        if isinstance(stale, bool) or not isinstance(stale, int | float) or stale <= 0:
            raise DashboardError(
                f"dashboard.stale_after_secs must be a number of seconds > 0, was {stale!r}"
            )
    host = args.host if args.host is not None else host
    port = args.port if args.port is not None else port
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise DashboardError(f"the dashboard port must be 1-65535, was {port!r}")
    check_bind(host, token)
    return DashboardSettings(
        journal=str(journal),
        journal_password=password,
        host=host,
        port=port,
        book=args.book or book,
        token=token,
        allow_control=allow_control,
        state_dir=state_dir,
        trader_id=trader_id,
        daily_loss_limit_cents=limit,
        stale_after_secs=float(stale),
    )


def _check_port(host: str, port: int) -> None:
    """Fail with one line before uvicorn starts when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise DashboardError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): pick another --port "
                "or stop what uses it"
            ) from None


def _run(args: argparse.Namespace) -> int:
    import uvicorn

    from quant_scalper.dashboard.app import create_app

    settings = build_settings(args, dict(os.environ))
    app = create_app(settings)
    _check_port(settings.host, settings.port)
    where = f"http://{settings.host}:{settings.port}/"
    auth = "token required" if settings.token else "no token (loopback only)"
    control = "enabled" if settings.allow_control and settings.token else "disabled"
    print(f"dashboard: {where} over {app.state.store.label} ({auth}; operator actions {control})")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0
