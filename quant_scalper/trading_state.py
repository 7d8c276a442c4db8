"""A message-bus bridge that lets a strategy ask the risk engine for a trading state.

Nautilus 1.231 has no strategy API to set the ``TradingState``; the kernel's risk engine has
``set_trading_state``. The node builder (backtest or live) installs this bridge once, so the
kill switch can move the whole node to REDUCING (only reducing orders pass) and then HALTED.
"""

from __future__ import annotations

from nautilus_trader.common.component import MessageBus
from nautilus_trader.model.enums import TradingState
from nautilus_trader.risk.engine import RiskEngine

from quant_scalper.topics import TRADING_STATE_TOPIC

__all__ = ["TRADING_STATE_TOPIC", "install_trading_state_bridge"]


def install_trading_state_bridge(msgbus: MessageBus, risk_engine: RiskEngine) -> None:
    """Subscribe a handler that applies requested states (names like "HALTED") to the engine."""

    def _apply(state_name: str) -> None:
        state = TradingState[state_name]
        if risk_engine.trading_state != state:
            risk_engine.set_trading_state(state)

    msgbus.subscribe(topic=TRADING_STATE_TOPIC, handler=_apply)
