"""CME E-mini (ES) and Micro E-mini (MES) S&P 500 futures as Nautilus ``FuturesContract``\\s.

Instrument ids follow the Interactive Brokers adapter's default symbology (``IB_SIMPLIFIED``):
a futures contract is ``{localSymbol}.{exchange}`` with IB's one-digit year, e.g. ``MESZ3.CME``,
and a contract root alone (``MES.CME``) is IB's continuous future. The fields mirror what
``nautilus_trader.adapters.interactive_brokers.parsing.instruments.parse_futures_contract``
builds from IB ``ContractDetails`` (raw_symbol = localSymbol, underlying = the root, asset class
INDEX, lot size 1, no margin or fee fields), so a backtest config runs unchanged against IB.

Two fields are deliberately more precise than the adapter's:

- expiration: trading terminates at 09:30 America/New_York on the third Friday of the contract
  month (the preceding NYSE business day when that Friday is an NYSE holiday: Good Friday,
  Juneteenth). The adapter uses IB's last trade date plus its session close instead.
- activation: when CME lists the contract under a five-quarter listing cycle, i.e. at the
  expiry of the contract five quarters earlier (the adapter uses expiration - 90 days, which
  would make a contract "inactive" during the days before a roll when it is already front).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AssetClass
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import FuturesContract
from nautilus_trader.model.objects import Currency, Price, Quantity

from quant_scalper.errors import ConfigError

NEW_YORK: Final = ZoneInfo("America/New_York")
UTC: Final = ZoneInfo("UTC")
TERMINATION_TIME: Final = time(9, 30)  # America/New_York, on the last trading day
DEFAULT_VENUE: Final = "CME"  # IB's exchange for ES/MES (``XCME`` with MIC venue conversion)
DEFAULT_ROLL_OFFSET_DAYS: Final = 8  # CME's roll date: the Thursday 8 days before expiry
LISTING_QUARTERS: Final = 5  # a contract is listed when the one five quarters earlier expires

MONTH_CODES: Final[MappingProxyType[int, str]] = MappingProxyType(
    dict(zip(range(1, 13), "FGHJKMNQUVXZ", strict=True)),
)
CODE_MONTHS: Final[MappingProxyType[str, int]] = MappingProxyType(
    {code: month for month, code in MONTH_CODES.items()},
)
QUARTERLY_MONTHS: Final = (3, 6, 9, 12)

_SYMBOL_RE: Final = re.compile(r"^(?P<root>[A-Z]{1,4})(?P<code>[FGHJKMNQUVXZ])(?P<digit>\d)$")


@dataclass(frozen=True)
class ContractSpec:
    """The exchange specification shared by every contract month of one futures root."""

    root: str
    multiplier: int  # USD per index point
    tick: Decimal  # minimum price increment, index points
    description: str
    currency: str = "USD"
    months: tuple[int, ...] = QUARTERLY_MONTHS

    @property
    def price_precision(self) -> int:
        """Decimal places of a price (2 for a 0.25 tick)."""
        return max(0, -self.tick.normalize().as_tuple().exponent)

    @property
    def tick_value(self) -> Decimal:
        """USD value of one tick for one contract ($1.25 MES, $12.50 ES)."""
        return self.tick * self.multiplier


SPECS: Final[MappingProxyType[str, ContractSpec]] = MappingProxyType(
    {
        "MES": ContractSpec("MES", 5, Decimal("0.25"), "Micro E-mini S&P 500 futures (CME)"),
        "ES": ContractSpec("ES", 50, Decimal("0.25"), "E-mini S&P 500 futures (CME)"),
    },
)


@dataclass(frozen=True, order=True)
class ContractMonth:
    """One contract of a root, e.g. MES December 2013 (``MESZ3``)."""

    root: str
    year: int
    month: int

    @property
    def symbol(self) -> str:
        """IB's localSymbol: root, month code, last digit of the year (``MESZ3``)."""
        return contract_symbol(self.root, self.year, self.month)

    @property
    def expiry(self) -> date:
        """The last trading day."""
        return expiry_date(self.year, self.month)

    def instrument_id(self, venue: str = DEFAULT_VENUE) -> InstrumentId:
        """The IB_SIMPLIFIED instrument id, e.g. ``MESZ3.CME``."""
        return contract_instrument_id(self.root, self.year, self.month, venue)


def spec_for(root: str) -> ContractSpec:
    """The ``ContractSpec`` of a root, or a ``ConfigError`` naming the supported roots."""
    try:
        return SPECS[root]
    except KeyError:
        raise ConfigError(
            f"unknown futures root {root!r}: quant-scalper defines {', '.join(SPECS)} "
            "(CME E-mini and Micro E-mini S&P 500)",
        ) from None


def contract_month_code(month: int) -> str:
    """The futures month code of a calendar month (3 -> ``H``, 12 -> ``Z``)."""
    try:
        return MONTH_CODES[month]
    except (KeyError, TypeError):
        raise ConfigError(f"month must be an integer 1-12, got {month!r}") from None


def expiry_date(year: int, month: int) -> date:
    """The last trading day of an equity index future: the third Friday of the month.

    When that Friday is an NYSE holiday (Good Friday, Juneteenth observed) the index is not
    settled that day and trading terminates on the preceding business day (e.g. June 2026).
    """
    contract_month_code(month)  # validates month
    first = date(year, month, 1)
    third_friday = first + timedelta(days=(4 - first.weekday()) % 7 + 14)
    day = third_friday
    while _is_nyse_holiday(day):
        day -= timedelta(days=1)
    return day


def expiry_time(year: int, month: int) -> datetime:
    """When trading terminates: 09:30 America/New_York on the expiry date (tz-aware, UTC)."""
    local = datetime.combine(expiry_date(year, month), TERMINATION_TIME, tzinfo=NEW_YORK)
    return local.astimezone(UTC)


def activation_time(year: int, month: int) -> datetime:
    """When the contract is listed (tz-aware, UTC), approximately.

    Under a five-quarter listing cycle (MES's; ES lists further out) a contract is listed when
    the contract five quarters before it expires. Only used as the instrument's activation, so
    it just has to precede every bar the contract can have as the front month.
    """
    months_back = 3 * LISTING_QUARTERS
    index = year * 12 + (month - 1) - months_back
    return expiry_time(index // 12, index % 12 + 1)


def contract_symbol(root: str, year: int, month: int) -> str:
    """IB's localSymbol of a contract: ``MESZ3`` for MES December 2013."""
    spec = spec_for(root)
    _check_month(spec, month)
    return f"{root}{contract_month_code(month)}{year % 10}"


def contract_instrument_id(
    root: str,
    year: int,
    month: int,
    venue: str = DEFAULT_VENUE,
) -> InstrumentId:
    """The IB_SIMPLIFIED instrument id of a contract, e.g. ``MESZ3.CME``."""
    return InstrumentId(Symbol(contract_symbol(root, year, month)), Venue(_check_venue(venue)))


def futures_contract(
    root: str,
    year: int,
    month: int,
    venue: str = DEFAULT_VENUE,
) -> FuturesContract:
    """A Nautilus ``FuturesContract`` for one contract month, with CME's specification.

    ``ts_event``/``ts_init`` are the activation time, so the same arguments always build an
    identical instrument (the catalog build is reproducible).
    """
    spec = spec_for(root)
    instrument_id = contract_instrument_id(root, year, month, venue)
    activation_ns = _to_ns(activation_time(year, month))
    expiration_ns = _to_ns(expiry_time(year, month))
    return FuturesContract(
        instrument_id=instrument_id,
        raw_symbol=instrument_id.symbol,
        asset_class=AssetClass.INDEX,
        currency=Currency.from_str(spec.currency),
        price_precision=spec.price_precision,
        price_increment=Price(spec.tick, spec.price_precision),
        multiplier=Quantity.from_int(spec.multiplier),
        lot_size=Quantity.from_int(1),
        underlying=spec.root,
        activation_ns=activation_ns,
        expiration_ns=expiration_ns,
        ts_event=activation_ns,
        ts_init=activation_ns,
    )


def parse_contract_symbol(symbol: str, decade_hint: int) -> ContractMonth:
    """Parse an IB localSymbol like ``MESZ3`` (one-digit year) into a ``ContractMonth``.

    ``decade_hint`` is any year of the intended decade (2013 or 2010 make ``MESZ3`` 2013;
    2020 makes it 2023): IB's one-digit year cannot say which decade is meant.
    """
    match = _SYMBOL_RE.match(symbol)
    if match is None:
        raise ConfigError(
            f"{symbol!r} is not a futures contract symbol like MESZ3 "
            "(root, month code H/M/U/Z, one-digit year)",
        )
    spec = spec_for(match["root"])
    month = CODE_MONTHS[match["code"]]
    _check_month(spec, month)
    year = (decade_hint // 10) * 10 + int(match["digit"])
    return ContractMonth(spec.root, year, month)


def front_month(
    root: str,
    on: date,
    roll_offset_days: int = DEFAULT_ROLL_OFFSET_DAYS,
) -> tuple[int, int]:
    """The (year, month) of the front contract on a date, rolling ``roll_offset_days`` early.

    The front is the nearest listed month whose expiry is more than ``roll_offset_days``
    calendar days after ``on``. The default 8 rolls on CME's roll date, the Thursday before the
    expiry week (e.g. ESZ3 -> ESH4 on 2013-12-12).
    """
    spec = spec_for(root)
    if roll_offset_days < 0:
        raise ConfigError(f"roll_offset_days must be >= 0, got {roll_offset_days}")
    for year in (on.year, on.year + 1):
        for month in spec.months:
            if expiry_date(year, month) - timedelta(days=roll_offset_days) > on:
                return year, month
    raise AssertionError("unreachable: a quarterly contract always expires within a year")


def listed_contracts(root: str, on: date, count: int = LISTING_QUARTERS) -> list[ContractMonth]:
    """The next ``count`` contracts of ``root`` not yet expired on ``on`` (nearest first)."""
    spec = spec_for(root)
    out: list[ContractMonth] = []
    year = on.year
    while len(out) < count:
        for month in spec.months:
            if expiry_date(year, month) >= on and len(out) < count:
                out.append(ContractMonth(spec.root, year, month))
        year += 1
    return out


def check_listed(root: str, year: int, month: int, on: date) -> ContractMonth:
    """``ContractMonth`` for root/year/month if it trades on ``on``; else a ConfigError saying
    why (expired, or not listed yet under the five-quarter cycle) and what trades instead."""
    contract = ContractMonth(spec_for(root).root, year, month)
    _check_month(spec_for(root), month)
    listed = listed_contracts(root, on)
    names = ", ".join(f"{c.symbol} ({c.year}-{c.month:02d})" for c in listed)
    if contract.expiry < on:
        raise ConfigError(
            f"{contract.symbol} ({year}-{month:02d}) expired on {contract.expiry}: trade the "
            f"front month ({root}.CME) or a listed contract: {names}"
        )
    if activation_time(year, month).date() > on:
        raise ConfigError(
            f"{contract.symbol} ({year}-{month:02d}) is not listed on {on} (CME lists "
            f"{LISTING_QUARTERS} quarters ahead): trade the front month ({root}.CME) or a "
            f"listed contract: {names}"
        )
    return contract


def resolve_contract_symbol(symbol: str, on: date) -> ContractMonth:
    """The contract an IB localSymbol (``MESZ6``, one-digit year) names on ``on``.

    The one-digit year is read as the listed contract it can be: never an expired one, never one
    a decade away (``MESZ5`` in December 2026 is refused with an explanation, not read as 2035).
    """
    parsed = parse_contract_symbol(symbol, decade_hint=on.year)
    candidates = [
        ContractMonth(parsed.root, parsed.year + shift, parsed.month) for shift in (-10, 0, 10)
    ]
    for contract in candidates:
        if contract.expiry >= on and activation_time(contract.year, contract.month).date() <= on:
            return contract
    nearest = min(candidates, key=lambda c: abs((c.expiry - on).days))
    return check_listed(parsed.root, nearest.year, nearest.month, on)


def bar_type_for(instrument_id: InstrumentId | str, spec: str = "1-MINUTE-LAST") -> BarType:
    """The EXTERNAL bar type of an instrument, e.g. ``MESZ3.CME-1-MINUTE-LAST-EXTERNAL``."""
    text = f"{instrument_id}-{spec}-EXTERNAL"
    try:
        return BarType.from_str(text)
    except ValueError as exc:
        raise ConfigError(
            f"{text!r} is not a valid bar type: spec must look like 1-MINUTE-LAST ({exc})",
        ) from exc


def _check_month(spec: ContractSpec, month: int) -> None:
    if month not in spec.months:
        listed = ", ".join(f"{contract_month_code(m)} ({m})" for m in spec.months)
        raise ConfigError(
            f"{spec.root} has no contract in month {month!r}: it lists only {listed}",
        )


def _check_venue(venue: str) -> str:
    if not venue or not venue.isalnum() or not venue.isupper():
        raise ConfigError(f"venue must be an upper-case exchange code like CME, got {venue!r}")
    return venue


def _to_ns(moment: datetime) -> int:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    delta = moment - epoch
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _is_nyse_holiday(day: date) -> bool:
    """The NYSE holidays that can fall on a third Friday: Good Friday and Juneteenth."""
    if day == _easter_sunday(day.year) - timedelta(days=2):
        return True
    if day.year >= 2022:  # NYSE has observed Juneteenth since 2022
        juneteenth = date(day.year, 6, 19)
        observed = {5: juneteenth - timedelta(days=1), 6: juneteenth + timedelta(days=1)}.get(
            juneteenth.weekday(),
            juneteenth,
        )
        return day == observed
    return False


def _easter_sunday(year: int) -> date:
    """Western (Gregorian) Easter Sunday, by the anonymous Gregorian algorithm."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)
