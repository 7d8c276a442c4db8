"""Build and run the live ``TradingNode`` on Interactive Brokers from validated settings.

The order matters, because of how Nautilus 1.231's IB client behaves:

1. settings are validated (``live.config``) and the contract chosen (``live.contract``);
2. the gateway is probed with a TWS API handshake on a plain socket (``probe_gateway``):
   ``node.build()`` starts the IB client, whose connect loop retries forever while the gateway
   is down and ignores SIGTERM meanwhile, so we only build once something answers;
3. ``node.build()`` runs under a watchdog (``ib.build_timeout_secs``) that ends the process
   with a clear message if the handshake never completes (wrong client id, API not enabled);
4. the trading-state bridge is installed on the kernel's risk engine (the kill switch);
5. ``node.run()`` until SIGINT/SIGTERM, then a graceful stop: the bracket orders stay working
   at IB (``flatten_on_stop`` is off), the risk state is on disk (and in Redis if configured);
   or until the front month's roll is done (``live.roll``): flat on the old contract, the roll
   is recorded and the process exits with ``ROLL_EXIT_CODE`` so the supervisor restarts it on
   the next contract.

After a dropped connection the adapter reconnects by itself (5 s, then 5 s x 2^n up to 300 s,
plus jitter) and resubscribes. ``live.connection`` publishes every change of the connection on
the message bus; the strategy then holds all new orders while it is down and for
``resync_secs`` after it is back, and until ``live.position_sync`` has seen IB's position
equal to the node's (see ``risk.connection_guard``).
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from ibapi import comm
from ibapi.server_versions import MAX_CLIENT_VER, MIN_CLIENT_VER

from quant_scalper.errors import ServiceCheckError
from quant_scalper.live.config import LiveSettings, RedisSettings, mask_account
from quant_scalper.live.connection import start_connection_watch, stop_loop_task
from quant_scalper.live.contract import LiveContract
from quant_scalper.live.errors import GatewayUnreachableError, LiveRunError
from quant_scalper.live.position_sync import start_position_sync
from quant_scalper.live.roll import ROLL_EXIT_CODE
from quant_scalper.live.watchdog import start_watchdog, stop_watchdog, trading_ready
from quant_scalper.parameters import session_fields, strategy_fields, value_of

LOCK_FILE = "live.lock"
IB_CLIENT_KEY = "IB"  # the node's data/exec client name: account ids read IB-<account>
STRATEGY_PATH = "quant_scalper.strategy:ZScoreMeanReversion"
STRATEGY_CONFIG_PATH = "quant_scalper.strategy:ZScoreMeanReversionConfig"
STATUS_ACTOR_PATH = "quant_scalper.live.status:NodeStatus"
STATUS_CONFIG_PATH = "quant_scalper.live.status:NodeStatusConfig"
JOURNAL_ACTOR_PATH = "quant_scalper.journal.recorder:JournalRecorder"
JOURNAL_CONFIG_PATH = "quant_scalper.journal.recorder:JournalRecorderConfig"
HEALTH_ACTOR_PATH = "quant_scalper.live.health:NodeHealth"
HEALTH_CONFIG_PATH = "quant_scalper.live.health:NodeHealthConfig"
ROLL_ACTOR_PATH = "quant_scalper.live.roll_watch:RollWatch"
ROLL_CONFIG_PATH = "quant_scalper.live.roll_watch:RollWatchConfig"


def probe_gateway(host: str, port: int, timeout: float) -> int:
    """Open a socket and do the TWS API handshake; returns the gateway's server version.

    Raises GatewayUnreachableError with what to check when nothing (or something else) answers.
    The socket is closed right after the version exchange, before ``startApi``: the gateway
    sees a client that connected and left.
    """
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise GatewayUnreachableError(
            f"cannot reach IB Gateway/TWS at {where} ({exc.strerror or exc}): start it, log in, "
            "and enable the API (Configure > Settings > API: 'Enable ActiveX and Socket "
            "Clients', socket port = ib.port, 127.0.0.1 in Trusted IPs). Paper Gateway listens "
            "on 4002, live on 4001"
        ) from exc
    try:
        sock.settimeout(timeout)
        hello = comm.make_initial_msg(f"v{MIN_CLIENT_VER}..{MAX_CLIENT_VER}")
        sock.sendall(b"API\0" + hello)
        buffer = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                raise GatewayUnreachableError(
                    f"{where} closed the connection during the API handshake: is 127.0.0.1 in "
                    "the gateway's Trusted IPs, and is another session holding it?"
                )
            buffer += chunk
            _, msg, _ = comm.read_msg(buffer)
            if msg:
                fields = comm.read_fields(msg)
                return int(fields[0])
    except TimeoutError as exc:
        raise GatewayUnreachableError(
            f"{where} accepted the connection but did not answer the TWS API handshake within "
            f"{timeout:g} s: is this IB Gateway/TWS (not another service), and is its API enabled?"
        ) from exc
    except (OSError, ValueError, IndexError) as exc:
        raise GatewayUnreachableError(
            f"{where} did not complete the TWS API handshake: {exc}"
        ) from exc
    finally:
        sock.close()


def probe_redis(redis: RedisSettings) -> str:
    """Connect, authenticate and PING the Redis cache within ``cache.redis.timeout_secs``;
    returns the server's version. Raises ServiceCheckError with one line (never the password).

    Nautilus's Redis client retries a refused AUTH for minutes inside ``node.build()``, so a
    wrong password is found here, before the node exists.
    """
    where = f"Redis at {redis.host}:{redis.port}"
    timeout = redis.timeout_secs
    try:
        sock = socket.create_connection((redis.host, redis.port), timeout=timeout)
    except OSError as exc:
        raise ServiceCheckError(
            f"cannot reach {where} ({exc.strerror or exc}): start redis-server or fix "
            "cache.redis.host/port (or set cache.redis: null to run without it)"
        ) from None
    try:
        sock.settimeout(timeout)
        stream: Any = sock
        if redis.ssl:
            import ssl

            stream = ssl.create_default_context().wrap_socket(sock, server_hostname=redis.host)
        reader = stream.makefile("rb")
        if redis.password is not None:
            args = [redis.username, redis.password] if redis.username else [redis.password]
            reply = _redis_command(stream, reader, "AUTH", *args)
            if not reply.startswith("+"):
                raise ServiceCheckError(
                    f"{where} refused the credentials ({reply.split()[0].lstrip('-')}): check "
                    "cache.redis.password/username (the environment variable it names)"
                )
        reply = _redis_command(stream, reader, "PING")
        if reply.startswith("-NOAUTH"):
            raise ServiceCheckError(
                f"{where} requires a password: set cache.redis.password: ${{REDIS_PASSWORD}}"
            )
        if not reply.startswith("+PONG"):
            raise ServiceCheckError(f"{where} did not answer PING: is it a Redis server?")
        info = _redis_bulk(stream, reader, "INFO", "server")
        match = re.search(r"redis_version:(\d+)\.(\d+)", info)
        version = f"{match[1]}.{match[2]}" if match else "unknown"
        if match and (int(match[1]), int(match[2])) < (6, 2):
            raise ServiceCheckError(f"{where} runs Redis {version}: Nautilus needs Redis >= 6.2")
        return version
    except TimeoutError:
        raise ServiceCheckError(
            f"{where} accepted the connection but did not answer within {timeout:g} s "
            "(cache.redis.timeout_secs): is it Redis, and is cache.redis.ssl right?"
        ) from None
    except OSError as exc:
        raise ServiceCheckError(f"{where} failed the start-up check: {exc}") from None
    finally:
        sock.close()


def _redis_command(stream: Any, reader: Any, *args: str) -> str:
    """Send one RESP command; the first reply line, decoded."""
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = str(arg).encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    stream.sendall(payload)
    line = reader.readline(4096)
    if not line:
        raise OSError("the server closed the connection")
    return line.decode("utf-8", "replace").strip()


def _redis_bulk(stream: Any, reader: Any, *args: str) -> str:
    """Send one RESP command whose reply is a bulk string; its text ('' when not one)."""
    head = _redis_command(stream, reader, *args)
    if not head.startswith("$"):
        return ""
    size = int(head[1:])
    return reader.read(size + 2).decode("utf-8", "replace") if size > 0 else ""


def strategy_config(settings: LiveSettings, contract: LiveContract) -> dict[str, Any]:
    """The strategy's config dict: strategy and risk sections for the resolved contract."""
    config = strategy_fields(settings.strategy, settings.risk)
    config["instrument_id"] = contract.instrument_id
    config["bar_type"] = contract.bar_type
    config["order_id_tag"] = contract.local_symbol
    config["external_order_claims"] = [contract.instrument_id]
    config["control_poll_secs"] = settings.node.control_poll_secs
    config["resync_secs"] = resync_secs(settings)
    config["resync_position_sync"] = True  # live.position_sync runs beside every live node
    config.setdefault("fee_per_contract_usd", default_fee_per_contract())
    config.setdefault("subscribe_quote_ticks", True)
    if contract.trade_until is not None:  # the front month: no entries, flat from its roll
        config["trade_until"] = _iso(contract.trade_until)
    return config


def _iso(moment: Any) -> str:
    """An aware datetime as ISO-8601 UTC (``2026-12-09T23:00:00Z``)."""
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def roll_actor_config(contract: LiveContract) -> Any:
    """The roll watch of a front-month contract (``live.roll_watch``)."""
    from nautilus_trader.common.config import ImportableActorConfig

    venue = contract.instrument_id.split(".", 1)[1]
    return ImportableActorConfig(
        actor_path=ROLL_ACTOR_PATH,
        config_path=ROLL_CONFIG_PATH,
        config={
            "instrument_id": contract.instrument_id,
            "bar_type": contract.bar_type,
            "trade_until": _iso(contract.trade_until),
            "next_instrument_id": f"{contract.next_symbol}.{venue}",
        },
    )


def default_fee_per_contract() -> str:
    """The per-contract fee for fills Nautilus infers with no commission: the backtest venue's
    ``commission_per_contract`` default (IB's MES fee), as a USD amount string."""
    from quant_scalper.config import VenueSettings

    return VenueSettings.commission_per_contract.split()[0]


def resync_secs(settings: LiveSettings) -> int:
    """How long the strategy holds orders after a reconnect: ``node.resync_secs``, else two
    position checks plus a margin (2 x ``exec_engine.position_check_interval_secs`` + 5; the
    check's 10 s default when it is off), so IB's positions have been compared at least once."""
    if settings.node.resync_secs is not None:
        return settings.node.resync_secs
    interval = settings.exec_engine.position_check_interval_secs or 10.0
    return math.ceil(2 * interval + 5)


def build_node_config(settings: LiveSettings, contract: LiveContract) -> Any:
    """The ``TradingNodeConfig`` for this settings/contract (no connection is made)."""
    from ibapi.common import MarketDataTypeEnum
    from nautilus_trader.adapters.interactive_brokers.config import (
        InteractiveBrokersDataClientConfig,
        InteractiveBrokersExecClientConfig,
        InteractiveBrokersInstrumentProviderConfig,
        SymbologyMethod,
    )
    from nautilus_trader.common.config import ImportableActorConfig
    from nautilus_trader.config import (
        CacheConfig,
        DatabaseConfig,
        LiveDataEngineConfig,
        LiveExecEngineConfig,
        LiveRiskEngineConfig,
        LoggingConfig,
        TradingNodeConfig,
    )
    from nautilus_trader.model.identifiers import InstrumentId, TraderId
    from nautilus_trader.trading.config import ImportableStrategyConfig

    from quant_scalper.backtest.run_config import risk_engine_config
    from quant_scalper.live.health import health_actor_config

    ib = settings.ib
    provider = InteractiveBrokersInstrumentProviderConfig(
        symbology_method=SymbologyMethod.IB_SIMPLIFIED,
        load_ids=frozenset([InstrumentId.from_str(contract.instrument_id)]),
    )
    market_data_type = getattr(MarketDataTypeEnum, ib.market_data_type)
    data_client = InteractiveBrokersDataClientConfig(
        ibg_host=ib.host,
        ibg_port=ib.port,
        ibg_client_id=ib.client_id,
        use_regular_trading_hours=False,  # Globex trades ~23 h: RTH-only bars would skip nights
        market_data_type=market_data_type,
        instrument_provider=provider,
        connection_timeout=ib.connection_timeout_secs,
        request_timeout_secs=ib.request_timeout_secs,
    )
    exec_client = InteractiveBrokersExecClientConfig(
        ibg_host=ib.host,
        ibg_port=ib.port,
        ibg_client_id=ib.client_id,
        account_id=ib.account_id,
        instrument_provider=provider,
        connection_timeout=ib.connection_timeout_secs,
        request_timeout_secs=ib.request_timeout_secs,
    )
    shared = risk_engine_config(
        settings.risk_engine,
        int(value_of(settings.strategy, "trade_size")),
        [contract.instrument_id],
    )
    risk_engine = LiveRiskEngineConfig(
        bypass=shared.bypass,
        max_order_submit_rate=shared.max_order_submit_rate,
        max_order_modify_rate=shared.max_order_modify_rate,
        max_notional_per_order=shared.max_notional_per_order,
    )
    engine = settings.exec_engine
    exec_engine = LiveExecEngineConfig(
        reconciliation=True,
        reconciliation_lookback_mins=engine.reconciliation_lookback_mins,
        inflight_check_interval_ms=engine.inflight_check_interval_ms,
        inflight_check_threshold_ms=engine.inflight_check_threshold_ms,
        open_check_interval_secs=engine.open_check_interval_secs,
        position_check_interval_secs=engine.position_check_interval_secs,
        # Closed orders and positions leave the in-memory cache once closed for the buffer
        # (kept in Redis: purge_from_database stays False). The buffer outlasts the 60-minute
        # lookback of Nautilus's position and open-order checks, so a fill they fetch again
        # always finds its order.
        purge_closed_orders_interval_mins=engine.purge_interval_mins,
        purge_closed_orders_buffer_mins=engine.purge_buffer_mins,
        purge_closed_positions_interval_mins=engine.purge_interval_mins,
        purge_closed_positions_buffer_mins=engine.purge_buffer_mins,
        purge_account_events_interval_mins=engine.purge_interval_mins,
        purge_account_events_lookback_mins=engine.purge_buffer_mins,
    )
    cache = None
    if settings.redis is not None:
        redis = settings.redis
        cache = CacheConfig(
            database=DatabaseConfig(
                type="redis",
                host=redis.host,
                port=redis.port,
                username=None if redis.username is None else str(redis.username),
                password=None if redis.password is None else str(redis.password),
                ssl=redis.ssl,
            ),
            encoding="msgpack",
            buffer_interval_ms=100,
        )
    log = settings.logging
    log_dir = log.directory or (settings.state_dir / "logs")
    log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # Nautilus logs the account id
    logging = LoggingConfig(
        log_level=log.level,
        log_level_file=log.file_level,
        log_directory=str(log_dir),
        log_file_name=log.file_name or f"quant-scalper-{settings.trader_id}",
        log_file_max_size=log.max_file_mb * 1024 * 1024,
        log_file_max_backup_count=log.backup_count,
        log_colors=log.colors,
    )
    node = settings.node
    return TradingNodeConfig(
        trader_id=TraderId(settings.trader_id),
        logging=logging,
        cache=cache,
        data_engine=LiveDataEngineConfig(),
        risk_engine=risk_engine,
        exec_engine=exec_engine,
        data_clients={IB_CLIENT_KEY: data_client},
        exec_clients={IB_CLIENT_KEY: exec_client},
        strategies=[
            ImportableStrategyConfig(
                strategy_path=STRATEGY_PATH,
                config_path=STRATEGY_CONFIG_PATH,
                config=strategy_config(settings, contract),
            )
        ],
        actors=[
            ImportableActorConfig(
                actor_path=STATUS_ACTOR_PATH,
                config_path=STATUS_CONFIG_PATH,
                config={
                    "state_dir": str(settings.state_dir),
                    "interval_secs": node.status_interval_secs,
                    "bar_type": contract.bar_type,
                },
            ),
            ImportableActorConfig(
                actor_path=HEALTH_ACTOR_PATH,
                config_path=HEALTH_CONFIG_PATH,
                config=health_actor_config(settings, contract),
            ),
            *([journal_actor_config(settings, contract)] if settings.journal.enabled else []),
            *([roll_actor_config(contract)] if contract.trade_until is not None else []),
            *([telegram_actor(settings)] if settings.telegram is not None else []),
        ],
        save_state=settings.redis is not None,
        load_state=settings.redis is not None,
        timeout_connection=node.timeout_connection,
        timeout_reconciliation=node.timeout_reconciliation,
        timeout_portfolio=node.timeout_portfolio,
        timeout_disconnection=node.timeout_disconnection,
        timeout_post_stop=node.timeout_post_stop,
    )


def telegram_actor(settings: LiveSettings) -> Any:
    """The Telegram actor's config, pointed at the trade journal (``/pnl``, ``/trades``)."""
    from nautilus_trader.common.config import ImportableActorConfig

    telegram = settings.telegram
    if not settings.journal.enabled:
        return telegram
    return ImportableActorConfig(
        actor_path=telegram.actor_path,
        config_path=telegram.config_path,
        config={
            **telegram.config,
            "journal_url": str(settings.journal.url),
            "journal_password_env": settings.journal.password_env,
            "journal_book": f"live:{settings.trader_id}",
        },
    )


def journal_actor_config(settings: LiveSettings, contract: LiveContract) -> Any:
    """The journal recorder of a live node: book ``live:<trader_id>`` (one book across
    restarts), the strategy's session schedule, the risk state folder for the status."""
    import hashlib
    import json

    from nautilus_trader.common.config import ImportableActorConfig

    journal = settings.journal
    risk = settings.risk
    rules = {"strategy": dict(settings.strategy), "risk": dict(risk)}
    session = session_fields(risk)
    return ImportableActorConfig(
        actor_path=JOURNAL_ACTOR_PATH,
        config_path=JOURNAL_CONFIG_PATH,
        config={
            "url": str(journal.url),
            "password_env": journal.password_env,
            "book": f"live:{settings.trader_id}",
            "kind": "live",
            "buffer_rows": journal.buffer_rows,
            "status_interval_secs": journal.status_interval_secs,
            "config_hash": hashlib.sha256(
                json.dumps(rules, sort_keys=True, default=str).encode("utf-8")
            ).hexdigest(),
            "config_path": str(settings.config_path),
            "instrument_id": contract.instrument_id,
            "risk_state_dir": str(settings.state_dir),
            "daily_loss_limit_cents": int(
                Decimal(str(value_of(risk, "daily_loss_limit_usd"))) * 100
            ),
            **session,
        },
    )


def build_node(settings: LiveSettings, contract: LiveContract) -> Any:
    """Create and build the ``TradingNode`` (connects to the gateway) with the kill-switch
    bridge installed. Probe the gateway first (``probe_gateway``)."""
    from nautilus_trader.adapters.interactive_brokers.factories import (
        InteractiveBrokersLiveDataClientFactory,
        InteractiveBrokersLiveExecClientFactory,
    )
    from nautilus_trader.live.node import TradingNode

    from quant_scalper.live.health import watch_queues
    from quant_scalper.trading_state import install_trading_state_bridge

    node = TradingNode(config=build_node_config(settings, contract))
    install_stop_signals(node, settings.node.stop_timeout_secs)
    node.add_data_client_factory(IB_CLIENT_KEY, InteractiveBrokersLiveDataClientFactory)
    node.add_exec_client_factory(IB_CLIENT_KEY, InteractiveBrokersLiveExecClientFactory)
    with _watchdog(settings.ib.build_timeout_secs, _session_timeout_message(settings)):
        node.build()
    install_trading_state_bridge(node.kernel.msgbus, node.kernel.risk_engine)
    watch_queues(node.trader.actors())
    return node


def _session_timeout_message(settings: LiveSettings) -> str:
    return (
        f"the TWS API session with {settings.ib.host}:{settings.ib.port} did not start within "
        f"{settings.ib.build_timeout_secs} s (client id {settings.ib.client_id} in use by "
        "another session? read-only API? check the gateway's API log)"
    )


def run_live(
    settings: LiveSettings,
    contract: LiveContract,
    echo: Callable[[str], None] = print,
) -> int:
    """Probe, build and run the node until SIGINT/SIGTERM; returns the exit code."""
    from quant_scalper.risk.state_folder import UnsafeStateFolderError, check_state_folders

    try:
        check_state_folders(settings.state_dir, settings.trader_id)
    except UnsafeStateFolderError as exc:
        raise LiveRunError(f"refusing to start: {exc}") from exc
    lock = single_instance_lock(settings.state_dir / settings.trader_id / LOCK_FILE)
    try:
        return _run_locked(settings, contract, echo)
    finally:
        lock.close()


def single_instance_lock(path: Path) -> IO[str]:
    """Hold an exclusive lock on ``path`` for this process, or raise LiveRunError.

    Two nodes with one config would trade the account twice: the IB adapter answers a
    "client id in use" (326) by retrying and, after three collisions, by connecting with the
    next client id. The kernel drops the lock when the process dies, even by SIGKILL.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:  # never through a planted symlink
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise LiveRunError(
            f"cannot open the lock file {path} ({exc}): a symlink there is refused; delete it"
        ) from exc
    handle = open(fd, "r+", encoding="utf-8")  # noqa: SIM115 - held for the process lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise LiveRunError(
            f"another `quant-scalper live` holds {path} (pid {owner}): one node per trader_id "
            "and state_dir; stop it first (systemctl stop / kill -TERM <pid>)"
        ) from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _run_locked(
    settings: LiveSettings,
    contract: LiveContract,
    echo: Callable[[str], None],
) -> int:
    ib = settings.ib
    version = probe_gateway(ib.host, ib.port, ib.probe_timeout_secs)
    echo(
        f"quant-scalper live: {'LIVE' if ib.is_live else 'paper'} account "
        f"{mask_account(ib.account_id)} via {ib.host}:{ib.port} (API v{version}), "
        f"client id {ib.client_id}; trading {contract.instrument_id} "
        f"(expires {contract.expiry}) on {contract.bar_type}; trader {settings.trader_id}"
        + (
            f"; front month until {_iso(contract.trade_until)}, then {contract.next_symbol}"
            if contract.trade_until is not None
            else ""
        )
    )
    if settings.redis is not None:
        probe_redis(settings.redis)
    from quant_scalper.live.executions import journal_ib_executions

    with _watchdog(settings.ib.build_timeout_secs, _session_timeout_message(settings)):
        journal_ib_executions(settings, contract, echo, timeout=settings.ib.build_timeout_secs + 5)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            node = build_node(settings, contract)
        except Exception as exc:  # Nautilus raises bare exceptions from its builders
            raise LiveRunError(
                f"the trading node could not be built: {type(exc).__name__}: {exc}"
            ) from exc
        watch = start_connection_watch(node, ib.host, ib.port, ib.client_id)
        sync = start_position_sync(
            node, ib.host, ib.port, ib.client_id, ib.account_id, contract.instrument_id
        )
        ready = trading_ready(node, ib.host, ib.port, ib.client_id)
        notifier, heartbeat = start_watchdog(node.kernel.loop, ready)  # systemd Type=notify
        rolled = watch_roll(node, settings, contract)
        try:
            node.run()
        except KeyboardInterrupt:
            if rolled:
                echo(
                    f"quant-scalper live: contract roll: flat on {contract.local_symbol}, "
                    f"restarting on {contract.next_symbol} (exit {ROLL_EXIT_CODE})"
                )
            else:
                flatten = bool(value_of(settings.strategy, "flatten_on_stop"))
                echo(
                    "quant-scalper live: stopping ("
                    + ("flattening first" if flatten else "working orders stay at IB")
                    + ")"
                )
        finally:
            try:
                stop_watchdog(notifier, heartbeat)
                stop_loop_task(sync)
                stop_loop_task(watch)
                node.stop()
            finally:
                node.dispose()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ROLL_EXIT_CODE if rolled else 0


def watch_roll(node: Any, settings: LiveSettings, contract: LiveContract) -> list[str]:
    """On ``ROLL_TOPIC`` (the roll watch: past the roll moment and flat), write the roll
    record and stop the node as SIGTERM would; returns a list that holds the contract rolled
    to once that happened (empty for pinned contracts)."""
    from quant_scalper.live.roll import RollRecord, write_record
    from quant_scalper.topics import ROLL_TOPIC

    rolled: list[str] = []
    if contract.trade_until is None or contract.next_month is None:
        return rolled

    def _on_roll(message: dict[str, str]) -> None:
        if rolled:
            return
        year, month = contract.next_month
        at = _iso(contract.trade_until)
        record = RollRecord(contract.root, contract.local_symbol, year, month, at)
        write_record(settings.state_dir, settings.trader_id, record)
        rolled.append(str(message.get("to")))
        # the graceful-stop path of SIGTERM (install_stop_signals), with its deadline
        node.kernel.loop.call_soon(signal.raise_signal, signal.SIGTERM)

    node.kernel.msgbus.subscribe(ROLL_TOPIC, _on_roll)
    return rolled


def install_stop_signals(node: Any, stop_timeout_secs: float) -> None:
    """SIGTERM/SIGINT stop the node within ``stop_timeout_secs``, whatever it is doing.

    The kernel registers event-loop handlers that only schedule a stop task, which waits
    behind the IB client's connect loop (seen ignoring SIGTERM for 25-30 s). They are replaced:
    the first signal raises KeyboardInterrupt in the main thread (``run_live`` then stops the
    node gracefully, flattening only when ``strategy.flatten_on_stop``) and arms a deadline
    that ends the process (exit 143) if the graceful stop has not finished by then; a second
    signal ends it at once.
    """
    loop = node.kernel.loop
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
    state = {"signalled": False}

    def _on_signal(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if state["signalled"]:
            print(f"quant-scalper: {name} again: exiting now", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        state["signalled"] = True
        timer = threading.Timer(stop_timeout_secs, _deadline, args=(name, signum))
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    def _deadline(name: str, signum: int) -> None:
        print(
            f"quant-scalper: error: the node did not stop within {stop_timeout_secs:g} s of "
            f"{name} (node.stop_timeout_secs): exiting; the risk state is on disk",
            file=sys.stderr,
            flush=True,
        )
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)


class _watchdog:
    """End the process with ``message`` if the block takes longer than ``seconds``.

    Only used around ``node.build()``: nothing has been sent to the market yet, and the IB
    client's connect loop cannot be interrupted any other way.
    """

    def __init__(self, seconds: float, message: str) -> None:
        self._timer = threading.Timer(seconds, self._fire, args=(message,))
        self._timer.daemon = True

    @staticmethod
    def _fire(message: str) -> None:
        print(f"quant-scalper: error: {message}", file=sys.stderr, flush=True)
        os._exit(3)

    def __enter__(self) -> _watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
