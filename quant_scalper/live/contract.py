"""Which futures contract the live node trades today, and its bar type.

``strategy.instrument_id`` is either a root in IB's symbology (``MES.CME``: trade the front
month) or one contract (``MESZ6.CME``). The front month is chosen by expiry with
``quant_scalper.instruments.front_month``: the nearest quarterly contract expiring more than
``instrument.roll_offset_days`` days after today (Chicago date), or ``instrument.contract_month``
when pinned. The choice is made once at start: a node running across the roll date keeps its
contract until it is restarted (the daily gateway restart is the natural moment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from quant_scalper.errors import ConfigError
from quant_scalper.instruments import (
    SPECS,
    check_listed,
    contract_instrument_id,
    expiry_date,
    front_month,
    resolve_contract_symbol,
)
from quant_scalper.live.config import LiveSettings
from quant_scalper.live.errors import LiveConfigError

CHICAGO = ZoneInfo("America/Chicago")


@dataclass(frozen=True)
class LiveContract:
    """The contract a live node trades and the bars it subscribes."""

    root: str
    year: int
    month: int
    instrument_id: str  # e.g. MESZ6.CME
    bar_type: str  # e.g. MESZ6.CME-1-MINUTE-LAST-EXTERNAL

    @property
    def expiry(self) -> date:
        """The last trading day."""
        return expiry_date(self.year, self.month)

    @property
    def local_symbol(self) -> str:
        """IB's localSymbol (``MESZ6``)."""
        return self.instrument_id.split(".")[0]


def chicago_today(now: datetime | None = None) -> date:
    """Today's date in Chicago (CME's calendar)."""
    return (now or datetime.now(UTC)).astimezone(CHICAGO).date()


def select_contract(settings: LiveSettings, today: date | None = None) -> LiveContract:
    """Resolve ``strategy.instrument_id``/``bar_type`` to today's contract."""
    today = today or chicago_today()
    instrument_id = str(settings.strategy["instrument_id"])
    symbol, venue = instrument_id.split(".", 1)
    bar_suffix = str(settings.strategy["bar_type"])[len(instrument_id) :]  # -1-MINUTE-LAST-...
    where = f"strategy.instrument_id {instrument_id}"
    try:
        if symbol in SPECS:
            root = symbol
            if settings.instrument.contract_month:
                year, month = (int(part) for part in settings.instrument.contract_month.split("-"))
                where = "instrument.contract_month"
            else:
                year, month = front_month(root, today, settings.instrument.roll_offset_days)
                where = "the front month"
            check_listed(root, year, month, today)
        else:
            contract = resolve_contract_symbol(symbol, today)
            root, year, month = contract.root, contract.year, contract.month
    except ConfigError as exc:
        raise LiveConfigError(f"{where}: {exc}") from exc
    resolved = str(contract_instrument_id(root, year, month, venue))
    return LiveContract(root, year, month, resolved, resolved + bar_suffix)
