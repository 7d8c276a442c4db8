"""``quant-scalper live``, ``flatten`` and ``data fetch``: the Interactive Brokers commands.

Heavy imports (Nautilus, ibapi) happen inside the handlers so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from quant_scalper.config import check_dir_or_missing, check_int, check_number
from quant_scalper.errors import ConfigError
from quant_scalper.live.errors import LiveModeNotConfirmedError

if TYPE_CHECKING:
    from quant_scalper.live.config import LiveSettings

LIVE_FLAG = "--i-understand-this-is-live"


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``live``, ``flatten`` and ``data fetch`` to the ``quant-scalper`` command line."""
    live = commands.add_parser(
        "live", help="run the strategy on Interactive Brokers (IB Gateway/TWS)"
    )
    _common(live)
    live.add_argument(
        "--check",
        action="store_true",
        help="validate the config, choose the contract, probe the gateway, then exit",
    )
    live.set_defaults(handler=_live)

    flatten = commands.add_parser(
        "flatten",
        help="emergency: cancel all working orders and close all positions at market",
    )
    _common(flatten)
    flatten.add_argument(
        "--client-id",
        type=int,
        default=None,
        help="API client id for this session (default: ib.client_id + 100, so a running node "
        "keeps its session)",
    )
    flatten.add_argument(
        "--all-instruments",
        action="store_true",
        help="close every position of the account, not only the strategy's futures root",
    )
    flatten.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for cancels and fills"
    )
    flatten.set_defaults(handler=_flatten)

    data = commands.add_parser("data", help="market data from Interactive Brokers")
    data_commands = data.add_subparsers(title="data commands")
    fetch = data_commands.add_parser(
        "fetch",
        help="download historical 1-minute bars from IB into the Parquet catalog (resumable)",
    )
    fetch.add_argument("--config", type=Path, required=True, help="live YAML (ib: connection)")
    fetch.add_argument(
        "--instrument",
        required=True,
        help="MESZ6.CME (one contract) or MES.CME / ES.CME (IB's continuous future)",
    )
    fetch.add_argument("--start", required=True, help="first day, YYYY-MM-DD (UTC)")
    fetch.add_argument("--end", required=True, help="day after the last one, YYYY-MM-DD (UTC)")
    fetch.add_argument("--catalog", type=Path, required=True, help="catalog folder to write")
    fetch.add_argument(
        "--bid-ask", action="store_true", help="also fetch BID and ASK bars as quote ticks"
    )
    fetch.add_argument(
        "--chunk-days", type=int, default=1, help="days per request (IB: 1-minute bars, 1 D)"
    )
    fetch.add_argument(
        "--pace-secs",
        type=float,
        default=10.5,
        help="minimum seconds between requests (IB: 60 requests per 10 minutes)",
    )
    fetch.add_argument(
        "--backoff-secs",
        type=float,
        default=60.0,
        help="wait after a pacing violation (IB error 162) before retrying the chunk",
    )
    fetch.add_argument("--client-id", type=int, default=None, help="default: ib.client_id + 200")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar (logs/CI)")
    fetch.set_defaults(handler=_data_fetch)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        required=True,
        help="live YAML, e.g. configs/live.paper.yaml",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set ib.client_id=7 (repeatable)",
    )
    parser.add_argument(
        LIVE_FLAG,
        dest="live_confirmed",
        action="store_true",
        help="required when the config trades real money (ib.trading_mode: live)",
    )


def _load(args: argparse.Namespace) -> LiveSettings:
    from quant_scalper.live.config import load_live_settings

    settings = load_live_settings(args.config, args.overrides)
    if settings.ib.is_live and not args.live_confirmed:
        raise LiveModeNotConfirmedError(
            f"{args.config} trades REAL MONEY (ib.trading_mode: live, port {settings.ib.port}). "
            f"Run it again with {LIVE_FLAG} if that is what you want; paper-trade with "
            "configs/live.paper.yaml first"
        )
    return settings


def _check_risk_state(settings: LiveSettings) -> None:
    """Read the saved risk state once before anything connects: a file the node could not even
    parse (nested 100,000 deep, unreadable) stops here with one line and exit 2, instead of
    failing inside the running node. A corrupt-but-parseable file is left to the node, which
    starts HALTED on it (see README, risk state)."""
    from quant_scalper.risk.state_store import RiskStateError, RiskStateStore

    store = RiskStateStore(settings.state_dir, settings.trader_id)
    try:
        store.load()
    except RiskStateError:
        return  # the node starts HALTED and says why
    except RecursionError:
        raise ConfigError(
            f"risk state {store.path} is nested too deeply to be a risk state: move it aside "
            "(the node then starts with a fresh state) or restore it from a backup"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"risk state {store.path} cannot be read: {exc}") from None


def _live(args: argparse.Namespace) -> int:
    from quant_scalper.live.config import mask_account
    from quant_scalper.live.contract import select_contract
    from quant_scalper.live.node import probe_gateway, probe_redis, run_live

    settings = _load(args)
    contract = select_contract(settings)
    _check_risk_state(settings)
    _check_journal(settings)
    if args.check:
        ib = settings.ib
        version = probe_gateway(ib.host, ib.port, ib.probe_timeout_secs)
        redis = ""
        if settings.redis is not None:
            redis_version = probe_redis(settings.redis)
            redis = f"; Redis {settings.redis.host}:{settings.redis.port} v{redis_version} OK"
        print(
            f"config OK: trader {settings.trader_id}, {ib.trading_mode} account "
            f"{mask_account(ib.account_id)}, {contract.instrument_id} (expires "
            f"{contract.expiry}), bars {contract.bar_type}; gateway {ib.host}:{ib.port} "
            f"answers (API v{version}){redis}"
        )
        return 0
    return run_live(settings, contract)


def _check_journal(settings: LiveSettings) -> None:
    """Refuse a newer, corrupt or misconfigured journal before connecting (one line); a
    database that is only down is reported and the node starts (the recorder buffers)."""
    import sys

    from quant_scalper.journal.db import open_journal
    from quant_scalper.journal.errors import JournalUnavailableError

    journal = settings.journal
    if not journal.enabled:
        return
    try:
        open_journal(journal.url, journal.password_env).dispose()
    except JournalUnavailableError as exc:
        print(f"warning: {exc}; starting anyway, journal rows are buffered", file=sys.stderr)


def _flatten(args: argparse.Namespace) -> int:
    from quant_scalper.live.flatten import flatten_account

    settings = _load(args)
    _check_client_id(args.client_id)
    check_number("--timeout", args.timeout, positive=True)
    client_id = args.client_id if args.client_id is not None else settings.ib.client_id + 100
    report = flatten_account(
        settings,
        client_id=client_id,
        all_instruments=args.all_instruments,
        timeout=args.timeout,
    )
    print(report.describe())
    return 0 if report.complete else 1


def _check_client_id(client_id: int | None) -> None:
    from quant_scalper.live.config import MAX_CLIENT_ID

    if client_id is not None:
        check_int("--client-id", client_id, minimum=0, maximum=MAX_CLIENT_ID)


def _check_fetch_dates(start: str, end: str) -> None:
    """IB has no bars from the future: --start must be before today (UTC) and --end at most
    tomorrow (end is exclusive); refused with a message instead of "0 bars" and exit 0."""
    from datetime import UTC, date, datetime, timedelta

    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        raise ConfigError(
            f"--start/--end must be YYYY-MM-DD dates, were {start!r} and {end!r}"
        ) from None
    today = datetime.now(UTC).date()
    if first > today:
        raise ConfigError(
            f"--start {first} is in the future (today is {today} UTC): IB has no bars yet"
        )
    if last > today + timedelta(days=1):
        raise ConfigError(
            f"--end {last} is after tomorrow (today is {today} UTC, end is exclusive): "
            f"use --end {today + timedelta(days=1)} at the latest"
        )


def _data_fetch(args: argparse.Namespace) -> int:
    from quant_scalper.live.config import load_live_settings
    from quant_scalper.live.data_fetch import FetchRequest, fetch_bars

    settings = load_live_settings(args.config)
    _check_client_id(args.client_id)
    for name in ("pace_secs", "backoff_secs"):
        value = check_number(f"--{name.replace('_', '-')}", getattr(args, name))
        if value < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 0, was {value}")
    check_dir_or_missing("--catalog", args.catalog.resolve())
    _check_fetch_dates(args.start, args.end)
    client_id = args.client_id if args.client_id is not None else settings.ib.client_id + 200
    request = FetchRequest.parse(
        instrument=args.instrument,
        start=args.start,
        end=args.end,
        catalog=args.catalog,
        bid_ask=args.bid_ask,
        chunk_days=args.chunk_days,
        pace_secs=args.pace_secs,
        backoff_secs=args.backoff_secs,
    )
    summary = fetch_bars(settings, request, client_id=client_id, progress=not args.no_progress)
    print(summary.describe())
    return 1 if summary.failed else 0
