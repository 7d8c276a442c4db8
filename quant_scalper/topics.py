"""Message-bus topics quant-scalper's components talk over (strategy, actors, node glue)."""

TRADING_STATE_TOPIC = "quant_scalper.trading_state"
"""str payload: a ``TradingState`` name the risk engine should take (see ``trading_state``)."""

CONTROL_TOPIC = "quant_scalper.control"
"""dict payload ``{"command": "kill"|"resume"|"pause"|"flatten", "reason": str,
"minutes": int (pause only), "source": str}``: an operator's command to the strategy."""

CONTROL_RESULT_TOPIC = "quant_scalper.control.result"
"""dict payload ``{"command": str, "result": str, "source": str}``: what a command did."""

RISK_TRIP_TOPIC = "quant_scalper.risk.trip"
"""``quant_scalper.risk.Trip`` payload: every circuit-breaker trip, as it happens."""

CONNECTION_TOPIC = "quant_scalper.connection"
"""dict payload ``{"connected": bool, "detail": str}``: the broker connection dropped or came
back (published on every change by ``quant_scalper.live.connection``; the strategy holds orders,
the Telegram actor alerts)."""

POSITION_SYNC_TOPIC = "quant_scalper.position_sync"
"""dict payload ``{"matched": bool, "detail": str, "node": str, "ib": str | None}``: after a
reconnect, whether IB's position equals the node's (``quant_scalper.live.position_sync``); the
connection guard holds orders until it does."""

SIGNAL_TIMING_TOPIC = "quant_scalper.signal.timing"
"""dict payload from ``quant_scalper.live.latency.signal_stamp``: when an entry's bar closed,
arrived, was decided on and submitted (ns, the node's clock); the health actor times it."""

HEALTH_TOPIC = "quant_scalper.health"
"""dict payload ``{"latency": {...}, "health": {...}}``: the health actor's periodic summary
(the status actor puts it in status.json)."""

HEALTH_ALERT_TOPIC = "quant_scalper.health.alert"
"""str payload: a health alert (latency over budget, event-loop lag, RSS growth), for Telegram."""

ROLL_TOPIC = "quant_scalper.contract_roll"
"""dict payload ``{"from": instrument id, "to": instrument id}``: the front month's roll is
done (past its roll moment, flat, no working orders); ``live.node`` stops for the restart."""
