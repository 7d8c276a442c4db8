"""Dollar statistics over closed trades."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from quant_scalper.analysis.metrics import ClosedTrade, max_drawdown, summarize_trades

T0 = datetime(2013, 10, 7, 14, 0, tzinfo=UTC)


def _trade(pnl: str, minutes: int, side: str = "LONG", offset: int = 0) -> ClosedTrade:
    opened = T0 + timedelta(hours=offset)
    return ClosedTrade(
        instrument_id="MESZ3.CME",
        side=side,
        quantity=Decimal(1),
        opened_at=opened,
        closed_at=opened + timedelta(minutes=minutes),
        entry_price=Decimal("1676.50"),
        exit_price=Decimal("1677.00"),
        realized_pnl=Decimal(pnl),
        fees=Decimal("1.24"),
    )


def test_summary_counts_and_money() -> None:
    trades = [
        _trade("100", 10, offset=0),
        _trade("-50", 20, "SHORT", offset=1),
        _trade("0", 30, offset=2),
    ]
    s = summarize_trades(trades, Decimal(1000))
    assert (s.trades, s.winners, s.losers) == (3, 1, 1)
    assert s.win_rate == 1 / 3
    assert s.profit_factor == 2.0
    assert s.net_pnl == Decimal(50)
    assert s.fees == Decimal("3.72")
    assert s.gross_pnl == Decimal("53.72")
    assert s.max_drawdown_usd == Decimal(50)
    assert s.average_holding_time == timedelta(minutes=20)
    assert (s.long_trades, s.short_trades) == (2, 1)


def test_summary_without_trades() -> None:
    s = summarize_trades([], Decimal(1000))
    assert s.trades == 0 and s.win_rate is None and s.profit_factor is None
    assert s.max_drawdown_usd == 0 and s.average_holding_time is None


def test_max_drawdown_percent_of_peak() -> None:
    usd, pct = max_drawdown([Decimal(100), Decimal(120), Decimal(90), Decimal(130), Decimal(125)])
    assert usd == Decimal(30)
    assert pct == 0.25
