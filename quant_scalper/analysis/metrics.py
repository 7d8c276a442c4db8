"""Trade statistics in exact money: pure logic over closed trades, no Nautilus imports.

Ratios that Nautilus's ``PortfolioAnalyzer`` already computes (Sharpe, Sortino, ...) are taken
from it by the backtest runner; this module does the dollar figures a trader checks against
limits (net P&L after fees, fees, drawdown in $ and %) with ``Decimal``, never floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip: what was traded, when, and its P&L net of fees (USD)."""

    instrument_id: str
    side: str  # "LONG" or "SHORT"
    quantity: Decimal
    opened_at: datetime
    closed_at: datetime
    entry_price: Decimal
    exit_price: Decimal
    realized_pnl: Decimal  # net of fees
    fees: Decimal

    @property
    def holding_time(self) -> timedelta:
        """How long the position was open."""
        return self.closed_at - self.opened_at


@dataclass(frozen=True, slots=True)
class TradeSummary:
    """The dollar and count statistics of a list of closed trades."""

    trades: int
    winners: int
    losers: int
    win_rate: float | None
    profit_factor: float | None
    net_pnl: Decimal
    gross_pnl: Decimal
    fees: Decimal
    max_drawdown_usd: Decimal
    max_drawdown_pct: float
    average_holding_time: timedelta | None
    long_trades: int
    short_trades: int


def summarize_trades(trades: Sequence[ClosedTrade], starting_balance: Decimal) -> TradeSummary:
    """Summarise closed trades; drawdown is on the realized equity curve at each trade close.

    A winner has net P&L > 0, a loser < 0 (a breakeven trade is neither). Profit factor is gross
    winning over gross losing net P&L (None without losers); win rate is None without trades.
    """
    ordered = sorted(trades, key=lambda t: t.closed_at)
    winners = [t for t in ordered if t.realized_pnl > 0]
    losers = [t for t in ordered if t.realized_pnl < 0]
    gross_win = sum((t.realized_pnl for t in winners), Decimal(0))
    gross_loss = -sum((t.realized_pnl for t in losers), Decimal(0))
    net = sum((t.realized_pnl for t in ordered), Decimal(0))
    fees = sum((t.fees for t in ordered), Decimal(0))
    dd_usd, dd_pct = max_drawdown(
        [starting_balance, *_cumulative(starting_balance, [t.realized_pnl for t in ordered])],
    )
    holding = [t.holding_time for t in ordered]
    return TradeSummary(
        trades=len(ordered),
        winners=len(winners),
        losers=len(losers),
        win_rate=len(winners) / len(ordered) if ordered else None,
        profit_factor=float(gross_win / gross_loss) if gross_loss > 0 else None,
        net_pnl=net,
        gross_pnl=net + fees,
        fees=fees,
        max_drawdown_usd=dd_usd,
        max_drawdown_pct=dd_pct,
        average_holding_time=sum(holding, timedelta()) / len(holding) if holding else None,
        long_trades=sum(1 for t in ordered if t.side == "LONG"),
        short_trades=sum(1 for t in ordered if t.side == "SHORT"),
    )


def max_drawdown(equity: Sequence[Decimal]) -> tuple[Decimal, float]:
    """Largest peak-to-trough fall of an equity curve, in $ and as a fraction of that peak."""
    peak: Decimal | None = None
    worst = Decimal(0)
    worst_pct = 0.0
    for value in equity:
        if peak is None or value > peak:
            peak = value
        fall = peak - value
        if fall > worst:
            worst = fall
        if peak > 0 and fall > 0:
            worst_pct = max(worst_pct, float(fall / peak))
    return worst, worst_pct


def _cumulative(start: Decimal, pnls: Sequence[Decimal]) -> list[Decimal]:
    out: list[Decimal] = []
    level = start
    for pnl in pnls:
        level += pnl
        out.append(level)
    return out
