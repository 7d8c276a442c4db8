"""Which futures contract the live node trades today, and its bar type.

``strategy.instrument_id`` is either a root in IB's symbology (``MES.CME``: trade the front
month) or one contract (``MESZ6.CME``). The front month is chosen by expiry with
``quant_scalper.instruments.front_month``: the nearest quarterly contract expiring more than
``instrument.roll_offset_days`` days after the current CME trading day (from 17:00 Chicago the
next date), or ``instrument.contract_month`` when pinned. A front-month contract carries the
moment it stops being front (``trade_until``): the node flattens it there and restarts on the
next contract (``quant_scalper.live.roll``). A contract the node already rolled to (its roll
record) is kept even if the calendar still says the older one. Pinned contracts never roll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from quant_scalper.errors import ConfigError
from quant_scalper.instruments import (
    SPECS,
    check_listed,
    contract_instrument_id,
    contract_symbol,
    expiry_date,
    front_month,
    resolve_contract_symbol,
)
from quant_scalper.live.config import LiveSettings
from quant_scalper.live.errors import LiveConfigError
from quant_scalper.live.roll import CHICAGO, next_front, read_record, roll_moment, trading_day


@dataclass(frozen=True)
class LiveContract:
    """The contract a live node trades and the bars it subscribes."""

    root: str
    year: int
    month: int
    instrument_id: str  # e.g. MESZ6.CME
    bar_type: str  # e.g. MESZ6.CME-1-MINUTE-LAST-EXTERNAL
    trade_until: datetime | None = None  # front month only: when it stops being front (UTC)
    next_month: tuple[int, int] | None = None  # front month only: the contract rolled to

    @property
    def expiry(self) -> date:
        """The last trading day."""
        return expiry_date(self.year, self.month)

    @property
    def local_symbol(self) -> str:
        """IB's localSymbol (``MESZ6``)."""
        return self.instrument_id.split(".")[0]

    @property
    def next_symbol(self) -> str | None:
        """IB's localSymbol of the contract this one rolls to (None when pinned)."""
        if self.next_month is None:
            return None
        return contract_symbol(self.root, *self.next_month)


def chicago_today(now: datetime | None = None) -> date:
    """Today's date in Chicago (CME's calendar)."""
    return (now or datetime.now(UTC)).astimezone(CHICAGO).date()


def select_contract(settings: LiveSettings, today: date | None = None) -> LiveContract:
    """Resolve ``strategy.instrument_id``/``bar_type`` to the contract of the trading day
    ``today`` (default: the current one, ``live.roll.trading_day``)."""
    today = today or trading_day()
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
                record = read_record(settings.state_dir, settings.trader_id)
                if record is not None and record.root == root:
                    rolled_to = (record.to_year, record.to_month)
                    if rolled_to > (year, month) and expiry_date(*rolled_to) >= today:
                        year, month = rolled_to
                        where = f"the contract rolled to ({record.to_symbol}, {record.at})"
            check_listed(root, year, month, today)
        else:
            contract = resolve_contract_symbol(symbol, today)
            root, year, month = contract.root, contract.year, contract.month
    except ConfigError as exc:
        raise LiveConfigError(f"{where}: {exc}") from exc
    resolved = str(contract_instrument_id(root, year, month, venue))
    if symbol not in SPECS or settings.instrument.contract_month:
        return LiveContract(root, year, month, resolved, resolved + bar_suffix)
    offset = settings.instrument.roll_offset_days
    return LiveContract(
        root,
        year,
        month,
        resolved,
        resolved + bar_suffix,
        trade_until=roll_moment(year, month, offset),
        next_month=next_front(root, year, month, offset),
    )
