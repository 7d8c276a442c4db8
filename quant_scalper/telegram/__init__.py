"""Telegram alerts and operator commands that never get in the way of trading.

``TelegramAlerts`` (a Nautilus actor) sends alerts from a bounded outbox on its own thread and
relays commands fetched by a long-polling thread to the strategy over the message bus, on the
node's own thread. ``telegram_actor_config`` turns the ``telegram:`` YAML section into the
``ImportableActorConfig`` a node config lists under ``actors``.

The actor and its config (which import Nautilus) load on first use, so the pure modules of this
package (``formatting``, ``commands``, ``operator``, ``trades``, ``delivery``...) import no
Nautilus.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from quant_scalper.telegram.client import TelegramClient, Update
from quant_scalper.telegram.commands import Command, CommandError, ConfirmationGate, parse_command
from quant_scalper.telegram.errors import TelegramConfigError, TelegramError
from quant_scalper.telegram.outbox import Outbox, OutboxStats
from quant_scalper.topics import CONNECTION_TOPIC

if TYPE_CHECKING:
    from quant_scalper.telegram.actor import TelegramAlerts, TelegramAlertsConfig
    from quant_scalper.telegram.settings import telegram_actor_config

_LAZY = {
    "TelegramAlerts": "quant_scalper.telegram.actor",
    "TelegramAlertsConfig": "quant_scalper.telegram.actor",
    "telegram_actor_config": "quant_scalper.telegram.settings",
}

__all__ = [
    "CONNECTION_TOPIC",
    "Command",
    "CommandError",
    "ConfirmationGate",
    "Outbox",
    "OutboxStats",
    "TelegramAlerts",
    "TelegramAlertsConfig",
    "TelegramClient",
    "TelegramConfigError",
    "TelegramError",
    "Update",
    "parse_command",
    "telegram_actor_config",
]


def __getattr__(name: str) -> Any:
    """Import the Nautilus-bound names (the actor, its config, the YAML builder) on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'quant_scalper.telegram' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
