"""Telegram alerts and operator commands that never get in the way of trading.

``TelegramAlerts`` (a Nautilus actor) sends alerts from a bounded outbox on its own thread and
relays commands fetched by a long-polling thread to the strategy over the message bus, on the
node's own thread. ``telegram_actor_config`` turns the ``telegram:`` YAML section into the
``ImportableActorConfig`` a node config lists under ``actors``.
"""

from quant_scalper.telegram.actor import CONNECTION_TOPIC, TelegramAlerts, TelegramAlertsConfig
from quant_scalper.telegram.client import TelegramClient, Update
from quant_scalper.telegram.commands import Command, CommandError, ConfirmationGate, parse_command
from quant_scalper.telegram.errors import TelegramConfigError, TelegramError
from quant_scalper.telegram.outbox import Outbox, OutboxStats
from quant_scalper.telegram.settings import telegram_actor_config

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
