"""The peer's security master: CME MES/ES futures as IB describes them.

Contract months, expiries and specifications come from ``quant_scalper.instruments`` (the same
CME calendar the project uses), so what the adapter builds from the peer's ``ContractDetails``
matches what the backtest uses: ``MESZ6.CME``, multiplier 5, tick 0.25, USD, expiry 08:30
US/Central (09:30 New York) on the third Friday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ibapi.client_utils import createContractProto
from ibapi.contract import Contract
from ibapi.protobuf.Contract_pb2 import Contract as ContractProto
from ibapi.protobuf.ContractDetails_pb2 import ContractDetails as ContractDetailsProto

from quant_scalper.instruments import (
    CODE_MONTHS,
    SPECS,
    contract_symbol,
    expiry_date,
    front_month,
)

EXCHANGE = "CME"
CONID_BASE = {"MES": 700_000_000, "ES": 600_000_000}
UNDERLYING_CONID = {"MES": 362_673_777, "ES": 11_004_968}
LONG_NAMES = {
    "MES": "Micro E-Mini S&P 500 Stock Price Index",
    "ES": "E-mini S&P 500",
}
SEARCH_YEARS = 12  # contracts the peer knows: this many years back, two ahead


@dataclass(frozen=True, order=True)
class FutureContract:
    """One listed contract month of a root."""

    root: str
    year: int
    month: int

    @property
    def local_symbol(self) -> str:
        """IB's localSymbol, e.g. ``MESZ6``."""
        return contract_symbol(self.root, self.year, self.month)

    @property
    def con_id(self) -> int:
        """A stable, unique contract id."""
        return CONID_BASE[self.root] + self.year * 100 + self.month

    @property
    def expiry(self) -> date:
        """The last trading day."""
        return expiry_date(self.year, self.month)

    def ib_contract(self) -> Contract:
        """The ibapi ``Contract`` as IB qualifies it."""
        contract = Contract()
        contract.conId = self.con_id
        contract.symbol = self.root
        contract.secType = "FUT"
        contract.lastTradeDateOrContractMonth = self.expiry.strftime("%Y%m%d")
        contract.multiplier = str(SPECS[self.root].multiplier)
        contract.exchange = EXCHANGE
        contract.currency = "USD"
        contract.localSymbol = self.local_symbol
        contract.tradingClass = self.root
        return contract

    def contract_proto(self) -> ContractProto:
        """The contract as a protobuf (ibapi's own converter)."""
        return createContractProto(self.ib_contract(), None)

    def details_proto(self) -> ContractDetailsProto:
        """``ContractDetails`` as IB sends them for a CME equity-index future."""
        spec = SPECS[self.root]
        expiry = self.expiry
        day_before = expiry - timedelta(days=1)
        details = ContractDetailsProto()
        details.marketName = self.root
        details.minTick = str(spec.tick)
        details.orderTypes = (
            "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,AVGCOST,BASKET,GAT,GTC,LMT,MIT,MKT,STP,STPLMT,TRAIL"
        )
        details.validExchanges = f"{EXCHANGE},QBALGO"
        details.priceMagnifier = 1
        details.underConId = UNDERLYING_CONID[self.root]
        details.longName = LONG_NAMES[self.root]
        details.contractMonth = f"{self.year:04d}{self.month:02d}"
        details.timeZoneId = "US/Central"
        details.tradingHours = (
            f"{day_before:%Y%m%d}:1700-{expiry:%Y%m%d}:0830"  # the last session ends at expiry
        )
        details.liquidHours = f"{expiry:%Y%m%d}:0830-{expiry:%Y%m%d}:0830"
        details.underSymbol = self.root
        details.underSecType = "IND"
        details.marketRuleIds = "67"
        details.realExpirationDate = expiry.strftime("%Y%m%d")
        details.minSize = "1"
        details.sizeIncrement = "1"
        details.suggestedSizeIncrement = "1"
        return details


def listed(root: str, today: date) -> list[FutureContract]:
    """Every quarterly contract of ``root`` the peer knows, oldest first."""
    return [
        FutureContract(root, year, month)
        for year in range(today.year - SEARCH_YEARS, today.year + 3)
        for month in SPECS[root].months
    ]


def resolve(query: Contract, today: date, include_expired: bool = False) -> list[FutureContract]:
    """The contracts matching a ``reqContractDetails`` query (IB's matching rules, simplified).

    Matches by conId, by localSymbol (the one-digit year picks the nearest unexpired contract,
    or the nearest expired one with ``includeExpired``), by symbol plus contract month/date, or
    a CONTFUT query (the front month). Only FUT/CONTFUT on CME of a known root match.
    """
    candidates = [c for root in SPECS for c in listed(root, today)]
    if query.conId:
        return [c for c in candidates if c.con_id == query.conId]
    if query.secType not in ("FUT", "CONTFUT", ""):
        return []
    if query.exchange and query.exchange not in (EXCHANGE, "GLOBEX", "SMART"):
        return []
    alive = [c for c in candidates if include_expired or c.expiry >= today]
    if query.localSymbol:
        symbol = query.localSymbol
        matches = [c for c in alive if c.local_symbol == symbol]
        if not matches:
            return []
        matches.sort(key=lambda c: abs((c.expiry - today).days))
        unexpired = [c for c in matches if c.expiry >= today]
        return [unexpired[0] if unexpired else matches[0]]
    root = query.symbol
    if root not in SPECS:
        return []
    if query.secType == "CONTFUT":
        year, month = front_month(root, today, 0)
        return [FutureContract(root, year, month)]
    month_spec = query.lastTradeDateOrContractMonth
    matches = [c for c in alive if c.root == root]
    if month_spec:
        matches = [
            c
            for c in matches
            if f"{c.year:04d}{c.month:02d}" == month_spec[:6]
            and (len(month_spec) < 8 or c.expiry.strftime("%Y%m%d") == month_spec)
        ]
    return matches


def by_con_id(con_id: int, today: date) -> FutureContract | None:
    """The contract with this conId, if the peer lists it."""
    for root in SPECS:
        for contract in listed(root, today):
            if contract.con_id == con_id:
                return contract
    return None


def parse_local_symbol(symbol: str, today: date) -> FutureContract | None:
    """``MESZ6`` -> the nearest unexpired (else nearest) contract with that symbol."""
    for root in sorted(SPECS, key=len, reverse=True):
        rest = symbol.removeprefix(root)
        if rest != symbol and len(rest) == 2 and rest[0] in CODE_MONTHS and rest[1].isdigit():
            query = Contract()
            query.localSymbol = symbol
            found = resolve(query, today, include_expired=True)
            return found[0] if found else None
    return None
