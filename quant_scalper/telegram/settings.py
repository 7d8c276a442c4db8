"""The ``telegram:`` YAML section: validated into an ``ImportableActorConfig`` for any node.

The live node (or any ``TradingNodeConfig``) adds the result to its ``actors`` list. Secrets
never appear here: the token and chat id come from the environment variables named by
``token_env`` / ``chat_id_env`` when the actor starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nautilus_trader.config import ImportableActorConfig

from quant_scalper.config import check_keys, resolve_path
from quant_scalper.telegram.actor import TelegramAlertsConfig
from quant_scalper.telegram.errors import TelegramConfigError

ACTOR_PATH = "quant_scalper.telegram.actor:TelegramAlerts"
CONFIG_PATH = "quant_scalper.telegram.actor:TelegramAlertsConfig"

_NOT_FROM_YAML = {"component_id", "log_events", "log_commands"}
TELEGRAM_KEYS = (
    "enabled",
    *(f for f in TelegramAlertsConfig.__struct_fields__ if f not in _NOT_FROM_YAML),
)
_FROM_RISK = ("session_halt", "session_open", "session_tz", "session_always_open")


def telegram_actor_config(
    section: Mapping[str, Any] | None,
    base_dir: Path | str = ".",
    risk: Mapping[str, Any] | None = None,
) -> ImportableActorConfig | None:
    """Validate a ``telegram:`` section; None when it is absent or ``enabled: false``.

    ``risk`` (the config's ``risk:`` section, already path-resolved) supplies the session times
    and ``state_dir`` unless the telegram section sets them; relative paths resolve against
    ``base_dir`` (the YAML file's folder).
    """
    if section is None:
        return None
    check_keys("telegram", section, dict.fromkeys(TELEGRAM_KEYS))
    values = dict(section)
    if not values.pop("enabled", True):
        return None
    for key in _FROM_RISK:
        if risk and key in risk and key not in values:
            values[key] = risk[key]
    if risk and risk.get("state_dir") is not None and "risk_state_dir" not in values:
        values["risk_state_dir"] = str(risk["state_dir"])
    for key in ("record_path", "risk_state_dir"):
        if values.get(key) is not None:
            values[key] = str(resolve_path(values[key], Path(base_dir)))
    if "allowed_chat_ids" in values:
        ids = values["allowed_chat_ids"] or []
        if isinstance(ids, str | int) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise TelegramConfigError(
                "telegram.allowed_chat_ids must be a list of numeric chat ids, e.g. [123456789]"
            )
        values["allowed_chat_ids"] = list(ids)
    try:
        TelegramAlertsConfig.parse(json.dumps(values))
    except TelegramConfigError:
        raise
    except Exception as exc:  # msgspec.ValidationError names the field
        raise TelegramConfigError(f"telegram: {exc}") from None
    return ImportableActorConfig(actor_path=ACTOR_PATH, config_path=CONFIG_PATH, config=values)
