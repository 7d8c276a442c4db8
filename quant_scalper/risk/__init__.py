"""Risk controls: session calendar, circuit breakers (the Rust core) and their persisted state.

No Nautilus imports here; the strategy feeds these classes events and explicit times and acts on
their answers (cancel, flatten, block entries, persist).
"""

from quant_scalper.risk.core import RiskCore, SubCentAmountError
from quant_scalper.risk.model import (
    MAX_TRIPS_KEPT,
    Decision,
    RiskLimits,
    RiskState,
    Rule,
    Trip,
)
from quant_scalper.risk.session import (
    CME_EQUITY_INDEX,
    CME_EQUITY_INDEX_2013,
    RiskConfigError,
    SessionSchedule,
    parse_clock_range,
    parse_clock_time,
)
from quant_scalper.risk.state_store import (
    RISK_STATE_KEY,
    RISK_STATE_SCHEMA_VERSION,
    CorruptRiskStateError,
    RiskStateError,
    RiskStateStore,
    UnknownRiskStateVersionError,
    risk_state_from_bytes,
    risk_state_to_bytes,
)

__all__ = [
    "CME_EQUITY_INDEX",
    "CME_EQUITY_INDEX_2013",
    "MAX_TRIPS_KEPT",
    "RISK_STATE_KEY",
    "RISK_STATE_SCHEMA_VERSION",
    "CorruptRiskStateError",
    "Decision",
    "RiskConfigError",
    "RiskCore",
    "RiskLimits",
    "RiskState",
    "RiskStateError",
    "RiskStateStore",
    "Rule",
    "SessionSchedule",
    "SubCentAmountError",
    "Trip",
    "UnknownRiskStateVersionError",
    "parse_clock_range",
    "parse_clock_time",
    "risk_state_from_bytes",
    "risk_state_to_bytes",
]
