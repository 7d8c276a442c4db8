"""Pure row builders: cents, tags, exit reasons, fates, breaker kinds, one mark a minute."""

from __future__ import annotations

from decimal import Decimal

from quant_scalper.journal import rows
from quant_scalper.risk.session import SessionSchedule


def test_cents_are_exact_integers() -> None:
    assert rows.cents(Decimal("-1548.72")) == -154872
    assert rows.cents("0.62") == 62
    assert rows.cents(Decimal("0.005")) == 0 and rows.cents(Decimal("0.015")) == 2  # half-even


def test_exit_reason_from_tags_or_bracket_child() -> None:
    assert rows.exit_reason(["EXIT", "EXIT_REASON=kill"], False, "MARKET") == "kill"
    assert rows.exit_reason(None, True, "STOP_MARKET") == "stop"
    assert rows.exit_reason(None, True, "LIMIT") == "target"
    assert rows.exit_reason(["EXIT"], False, "MARKET") == "external"
    assert rows.exit_reason(None, False, None) == "unknown"


def test_entry_z_and_fates() -> None:
    assert rows.entry_z(["ZSCORE=-2.3111"]) == -2.3111
    assert rows.entry_z(["ZSCORE=oops"]) is None and rows.entry_z(None) is None
    assert rows.order_fate("CANCELED") == "cancelled"
    assert rows.order_fate("PARTIALLY_FILLED") == "working"


def test_breaker_resets_and_trading_day() -> None:
    assert rows.breaker_row("b", ts_ns=1, rule="resume", reason="", day="d")["kind"] == "reset"
    assert rows.breaker_row("b", ts_ns=1, rule="kill_switch", reason="", day="d")["kind"] == "trip"
    schedule = SessionSchedule()
    # Tuesday 2023-11-14 22:30 UTC = 16:30 CT (halt): still Tuesday's day; 23:30 UTC: Wednesday
    assert rows.trading_day(schedule, 1_700_001_000 * 10**9) == "2023-11-14"
    assert rows.trading_day(schedule, 1_700_004_600 * 10**9) == "2023-11-15"


def test_one_equity_mark_a_minute() -> None:
    marker = rows.EquityMarker("b", realized_cents=100)
    minute = 60 * 10**9
    first = marker.mark(10 * minute + 5, 7, "d")
    assert first is not None and first["ts_ns"] == 10 * minute and first["realized_cents"] == 100
    assert marker.mark(10 * minute + 30 * 10**9, 8, "d") is None
    marker.book_trade(-250)
    assert marker.mark(11 * minute, 0, "d")["realized_cents"] == -150


def test_trade_row_gross_is_net_plus_fees() -> None:
    row = rows.trade_row(
        "b",
        closing_trade_id="T-1",
        position_id="P",
        instrument_id="MESZ3.CME",
        long=False,
        quantity="1",
        entry_ns=1,
        exit_ns=2,
        entry_price="1.00",
        exit_price="2.00",
        net_pnl=Decimal("-6.24"),
        fees=Decimal("1.24"),
        z=2.1,
        reason="signal",
        day="d",
    )
    assert (row["gross_pnl_cents"], row["trade_key"], row["side"]) == (-500, "T-1@2", "SHORT")
