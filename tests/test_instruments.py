"""CME ES/MES contract definitions: specs, expiries, IB symbology, front month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nautilus_trader.model.enums import AggregationSource, AssetClass
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import FuturesContract

from quant_scalper.errors import ConfigError
from quant_scalper.instruments import (
    SPECS,
    ContractMonth,
    activation_time,
    bar_type_for,
    contract_instrument_id,
    contract_month_code,
    expiry_date,
    expiry_time,
    front_month,
    futures_contract,
    parse_contract_symbol,
    spec_for,
)


def _points_for_usd(usd: int, multiplier: Decimal, tick: Decimal) -> Decimal:
    return ((Decimal(usd) / multiplier / tick).quantize(Decimal(1), ROUND_HALF_UP)) * tick


def test_specs_mes_and_es() -> None:
    mes, es = SPECS["MES"], SPECS["ES"]
    assert (mes.multiplier, mes.tick, mes.tick_value, mes.price_precision) == (
        5,
        Decimal("0.25"),
        Decimal("1.25"),
        2,
    )
    assert (es.multiplier, es.tick, es.tick_value) == (50, Decimal("0.25"), Decimal("12.50"))


def test_mes_contract_fields() -> None:
    contract = futures_contract("MES", 2013, 12)
    assert contract.id == InstrumentId.from_str("MESZ3.CME")
    assert contract.raw_symbol.value == "MESZ3"
    assert contract.underlying == "MES"
    assert contract.asset_class == AssetClass.INDEX
    assert contract.quote_currency.code == "USD"
    assert contract.multiplier.as_decimal() == 5
    assert str(contract.price_increment) == "0.25"
    assert contract.price_precision == 2
    assert contract.size_precision == 0
    assert contract.size_increment.as_decimal() == 1
    assert contract.lot_size.as_decimal() == 1
    # $200 and $300 per contract, the strategy's default stop/target, in points
    multiplier, tick = contract.multiplier.as_decimal(), contract.price_increment.as_decimal()
    assert _points_for_usd(200, multiplier, tick) == Decimal("40.00")
    assert _points_for_usd(300, multiplier, tick) == Decimal("60.00")
    # one tick is $1.25 of P&L
    assert tick * multiplier == Decimal("1.25")


def test_es_contract_fields() -> None:
    contract = futures_contract("ES", 2014, 3)
    assert str(contract.id) == "ESH4.CME"
    assert contract.multiplier.as_decimal() == 50
    assert contract.price_increment.as_decimal() * contract.multiplier.as_decimal() == Decimal(
        "12.50",
    )
    multiplier, tick = contract.multiplier.as_decimal(), contract.price_increment.as_decimal()
    assert _points_for_usd(200, multiplier, tick) == Decimal("4.00")


def test_contract_is_deterministic() -> None:
    first, second = futures_contract("MES", 2013, 12), futures_contract("MES", 2013, 12)
    assert FuturesContract.to_dict(first) == FuturesContract.to_dict(second)
    assert first.ts_init == first.activation_ns


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2013, 12, date(2013, 12, 20)),
        (2014, 3, date(2014, 3, 21)),
        (2020, 3, date(2020, 3, 20)),
        (2023, 12, date(2023, 12, 15)),
        (2008, 3, date(2008, 3, 20)),  # third Friday was Good Friday: Thursday
        (2026, 6, date(2026, 6, 18)),  # third Friday is Juneteenth: Thursday
        (2027, 6, date(2027, 6, 17)),  # Juneteenth observed on Friday the 18th
    ],
)
def test_expiry_date(year: int, month: int, expected: date) -> None:
    assert expiry_date(year, month) == expected


def test_expiry_time_is_0930_new_york() -> None:
    assert expiry_time(2013, 12) == datetime(2013, 12, 20, 14, 30, tzinfo=UTC)  # EST
    assert expiry_time(2014, 6) == datetime(2014, 6, 20, 13, 30, tzinfo=UTC)  # EDT
    contract = futures_contract("MES", 2013, 12)
    assert contract.expiration_ns == int(expiry_time(2013, 12).timestamp()) * 1_000_000_000


def test_activation_precedes_the_front_month_period() -> None:
    # listed five quarters earlier: well before the roll into the contract
    assert activation_time(2014, 3) == expiry_time(2012, 12)
    contract = futures_contract("ES", 2014, 3)
    assert contract.activation_ns < int(datetime(2013, 9, 1, tzinfo=UTC).timestamp() * 1e9)
    assert contract.activation_ns < contract.expiration_ns


@given(st.integers(min_value=1990, max_value=2100), st.integers(min_value=1, max_value=12))
def test_expiry_is_third_friday_or_the_day_before(year: int, month: int) -> None:
    day = expiry_date(year, month)
    assert (day.year, day.month) == (year, month)
    assert 14 <= day.day <= 21
    assert day.weekday() in (3, 4)  # Thursday only when Friday is an NYSE holiday


def test_instrument_ids_follow_ib_simplified() -> None:
    assert contract_instrument_id("MES", 2013, 12) == InstrumentId.from_str("MESZ3.CME")
    assert str(contract_instrument_id("ES", 2014, 3)) == "ESH4.CME"
    assert str(contract_instrument_id("ES", 2020, 3)) == "ESH0.CME"
    assert str(contract_instrument_id("MES", 2025, 12, venue="XCME")) == "MESZ5.XCME"
    assert ContractMonth("MES", 2013, 12).symbol == "MESZ3"
    assert contract_month_code(3) == "H"
    assert contract_month_code(12) == "Z"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_matches_the_ib_adapter() -> None:
    """The IB adapter parses IB ContractDetails into the same id and fields."""
    common = pytest.importorskip("nautilus_trader.adapters.interactive_brokers.common")
    parsing = pytest.importorskip(
        "nautilus_trader.adapters.interactive_brokers.parsing.instruments",
    )
    ib_contract = common.IBContract(
        secType="FUT",
        exchange="CME",
        symbol="MES",
        localSymbol="MESZ3",
        tradingClass="MES",
        lastTradeDateOrContractMonth="20131220",
        multiplier="5",
        currency="USD",
    )
    details = common.IBContractDetails(
        contract=ib_contract,
        minTick=0.25,
        timeZoneId="US/Central",
        tradingHours="20131219:1700-20131220:0830",
        underSymbol="MES",
        underSecType="IND",
        minSize=1,
        sizeIncrement=1,
    )
    theirs = parsing.parse_instrument(details, "CME")
    ours = futures_contract("MES", 2013, 12)
    for name in (
        "id",
        "raw_symbol",
        "asset_class",
        "instrument_class",
        "quote_currency",
        "underlying",
        "price_precision",
        "price_increment",
        "size_precision",
        "size_increment",
        "multiplier",
        "lot_size",
        "margin_init",
        "margin_maint",
        "expiration_ns",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    back = parsing.instrument_id_to_ib_contract(ours.id, "CME")
    assert (back.secType, back.localSymbol) == ("FUT", "MESZ3")


def test_parse_contract_symbol() -> None:
    assert parse_contract_symbol("MESZ3", 2013) == ContractMonth("MES", 2013, 12)
    assert parse_contract_symbol("ESH4", 2010) == ContractMonth("ES", 2014, 3)
    assert parse_contract_symbol("ESH0", 2020) == ContractMonth("ES", 2020, 3)
    assert parse_contract_symbol("MESZ3", 2020) == ContractMonth("MES", 2023, 12)


@pytest.mark.parametrize("symbol", ["MESZ", "MES", "mesz3", "MESZ23", "ES.H4", ""])
def test_parse_contract_symbol_rejects_garbage(symbol: str) -> None:
    with pytest.raises(ConfigError, match="like MESZ3"):
        parse_contract_symbol(symbol, 2013)


def test_unknown_root_and_month_errors_name_the_choices() -> None:
    with pytest.raises(ConfigError, match="MES, ES"):
        spec_for("NQ")
    with pytest.raises(ConfigError, match="MES, ES"):
        parse_contract_symbol("NQZ3", 2013)
    with pytest.raises(ConfigError, match=r"H \(3\), M \(6\), U \(9\), Z \(12\)"):
        futures_contract("MES", 2013, 11)
    with pytest.raises(ConfigError, match=r"H \(3\)"):
        parse_contract_symbol("MESF4", 2013)
    with pytest.raises(ConfigError, match="1-12"):
        contract_month_code(13)
    with pytest.raises(ConfigError, match="1-12"):
        expiry_date(2013, 0)
    with pytest.raises(ConfigError, match="upper-case exchange"):
        contract_instrument_id("MES", 2013, 12, venue="cme")


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (date(2013, 10, 6), (2013, 12)),
        (date(2013, 12, 3), (2013, 12)),
        (date(2013, 12, 11), (2013, 12)),
        (date(2013, 12, 12), (2014, 3)),  # CME roll date: 8 days before the 12-20 expiry
        (date(2013, 12, 18), (2014, 3)),
        (date(2013, 12, 20), (2014, 3)),
        (date(2020, 1, 6), (2020, 3)),
        (date(2020, 12, 31), (2021, 3)),
    ],
)
def test_front_month(on: date, expected: tuple[int, int]) -> None:
    assert front_month("MES", on) == expected
    assert front_month("ES", on) == expected


def test_front_month_roll_offset() -> None:
    assert front_month("ES", date(2013, 12, 18), roll_offset_days=0) == (2013, 12)
    assert front_month("ES", date(2013, 12, 20), roll_offset_days=0) == (2014, 3)
    with pytest.raises(ConfigError, match="roll_offset_days"):
        front_month("ES", date(2013, 12, 18), roll_offset_days=-1)


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
    st.integers(min_value=0, max_value=30),
)
def test_front_month_is_the_nearest_contract_not_yet_rolled(on: date, offset: int) -> None:
    year, month = front_month("MES", on, offset)
    assert expiry_date(year, month) - timedelta(days=offset) > on
    previous = (year, month - 3) if month > 3 else (year - 1, 12)
    assert expiry_date(*previous) - timedelta(days=offset) <= on


def test_bar_type_for() -> None:
    bar_type = bar_type_for(contract_instrument_id("MES", 2013, 12))
    assert str(bar_type) == "MESZ3.CME-1-MINUTE-LAST-EXTERNAL"
    assert bar_type.aggregation_source == AggregationSource.EXTERNAL
    assert str(bar_type_for("ESH4.CME", "5-MINUTE-LAST")) == "ESH4.CME-5-MINUTE-LAST-EXTERNAL"
    with pytest.raises(ConfigError, match="1-MINUTE-LAST"):
        bar_type_for("ESH4.CME", "ONE-MINUTE")
