"""Run a live-clock TradingNode: replayed MES data, Nautilus's sandbox venue, our strategy.

``python -m tests.sim.run_node --state-dir DIR --pattern losses [--redis-port N]``. The tests
start it as a subprocess, watch its risk state file and SIGKILL or SIGTERM it.
"""

from __future__ import annotations

import argparse
import signal
from decimal import Decimal

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.config import (
    CacheConfig,
    DatabaseConfig,
    ImportableActorConfig,
    LoggingConfig,
    TradingNodeConfig,
)
from nautilus_trader.live.node import TradingNode
from nautilus_trader.trading.config import ImportableStrategyConfig

from quant_scalper.trading_state import install_trading_state_bridge
from tests.sim.replay import (
    BAR_TYPE,
    INSTRUMENT,
    ReplayDataClientConfig,
    ReplayDataClientFactory,
)

TRADER_ID = "SIM-001"


def build_node(args: argparse.Namespace) -> TradingNode:
    """The node: one replay data client, one sandbox execution client, one strategy."""
    strategy = {
        "instrument_id": str(INSTRUMENT.id),
        "bar_type": str(BAR_TYPE),
        "window": 10,
        "subscribe_quote_ticks": True,
        "session_always_open": True,
        "max_holding_minutes": None,
        "state_dir": args.state_dir,
        "control_poll_secs": 1,
        "daily_loss_limit_usd": args.daily_limit,
        "max_consecutive_losses": args.max_losses,
        "pause_minutes": 30,
    }
    actors = []
    if getattr(args, "telegram_url", None):
        actors.append(_telegram_actor(args))
    cache = None
    if args.redis_port:
        cache = CacheConfig(
            database=DatabaseConfig(type="redis", host="127.0.0.1", port=args.redis_port),
        )
    config = TradingNodeConfig(
        trader_id=TRADER_ID,
        data_clients={"CME": ReplayDataClientConfig(pattern=args.pattern)},
        exec_clients={
            "CME": SandboxExecutionClientConfig(
                venue="CME",
                starting_balances=["100000 USD"],
                base_currency="USD",
                oms_type="NETTING",
                account_type="MARGIN",
                bar_execution=False,
                # The sandbox checks a bracket child's reduce-only flag before the entry fill
                # reaches its position; IB holds children natively, so don't model that race.
                use_reduce_only=False,
            ),
        },
        strategies=[
            ImportableStrategyConfig(
                strategy_path="quant_scalper.strategy:ZScoreMeanReversion",
                config_path="quant_scalper.strategy:ZScoreMeanReversionConfig",
                config=strategy,
            ),
        ],
        actors=actors,
        cache=cache,
        save_state=bool(args.redis_port),
        load_state=bool(args.redis_port),
        logging=LoggingConfig(log_level="INFO", log_colors=False),
    )
    node = TradingNode(config=config)
    node.add_data_client_factory("CME", ReplayDataClientFactory)
    node.add_exec_client_factory("CME", SandboxLiveExecClientFactory)
    node.build()
    node.kernel.cache.add_instrument(INSTRUMENT)
    install_trading_state_bridge(node.kernel.msgbus, node.kernel.risk_engine)
    return node


def _telegram_actor(args: argparse.Namespace) -> ImportableActorConfig:
    """The Telegram actor against a test Bot API peer (token/chat from the environment)."""
    from quant_scalper.telegram import telegram_actor_config

    section = {
        "mode": "send",
        "api_url": args.telegram_url,
        "allowed_chat_ids": [int(c) for c in args.telegram_allow.split(",") if c],
        "request_timeout_secs": 1.0,
        "poll_wait_secs": 1,
        "max_backoff_secs": 1.0,
        "confirm_secs": args.telegram_confirm_secs,
        "tick_ms": 100,
        "stale_data_secs": 30,
        "stop_flush_secs": 3.0,
        "session_always_open": True,
    }
    risk = {"state_dir": args.state_dir} if args.state_dir else None
    return telegram_actor_config(section, risk=risk)


def main() -> None:
    """Parse arguments, run the node until SIGTERM/SIGINT, then stop it gracefully."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--pattern", default="losses", choices=["losses", "wins"])
    parser.add_argument("--redis-port", type=int, default=0)
    parser.add_argument("--daily-limit", type=Decimal, default=Decimal(500))
    parser.add_argument("--max-losses", type=int, default=3)
    parser.add_argument("--telegram-url", default=None, help="add the Telegram actor (test peer)")
    parser.add_argument("--telegram-allow", default="", help="extra allowed chat ids, a,b")
    parser.add_argument("--telegram-confirm-secs", type=int, default=30)
    args = parser.parse_args()
    node = build_node(args)

    def _graceful(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _graceful)
    try:
        node.run()
    except KeyboardInterrupt:
        pass
    finally:
        node.stop()
        node.dispose()


if __name__ == "__main__":
    main()
