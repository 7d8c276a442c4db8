"""The closed round trips /pnl, /trades and the summaries report (pure: no Nautilus imports).

The book starts from the node's cache (round trips since the cache began) and merges the trade
journal's, read on a thread so a slow or dead database never holds the node.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.risk import SessionSchedule
from quant_scalper.telegram import formatting as fmt

JOURNAL_LOOKBACK_NS = 40 * 86_400 * 10**9
"""How far back the journal is read (~5 weeks: covers ``/pnl month`` and ``/trades``)."""


class TradeBook:
    """Closed round trips, oldest first, and the period queries the alerts answer with."""

    def __init__(self, schedule: SessionSchedule) -> None:
        self.schedule = schedule
        self.trades: list[ClosedTrade] = []

    def replace(self, trades: Iterable[ClosedTrade]) -> None:
        """Start over from these round trips (the cache's), each once, by close time."""
        self.trades = sorted(set(trades), key=lambda t: t.closed_at)

    def add(self, trade: ClosedTrade) -> None:
        """Record a round trip that just closed."""
        self.trades.append(trade)

    def merge(self, trades: Iterable[ClosedTrade]) -> None:
        """Add journal round trips; one per instrument and close time (the journal's wins)."""
        merged = {(t.instrument_id, t.closed_at): t for t in self.trades}
        merged.update({(t.instrument_id, t.closed_at): t for t in trades})
        self.trades = sorted(merged.values(), key=lambda t: t.closed_at)

    def period(self, now: datetime, period: str) -> list[ClosedTrade]:
        """The round trips of today's trading day, this ISO week or this month."""
        return fmt.in_period(self.trades, self.schedule, now, period)

    def summary(self, now: datetime, period: str = "day") -> fmt.PeriodSummary:
        """The P&L summary of ``period`` (the day unless told)."""
        return fmt.summarize(self.period(now, period))

    def on_day(self, day: date) -> list[ClosedTrade]:
        """The round trips whose CME trading day is ``day``."""
        return [t for t in self.trades if self.schedule.trading_day(t.closed_at) == day]


def read_journal(
    url: str,
    book: str,
    since_ns: int,
    password_env: str | None,
    deliver: Callable[[list[ClosedTrade]], None],
    warn: Callable[[str], None],
    loop: asyncio.AbstractEventLoop | None,
) -> None:
    """Read the journal's round trips since ``since_ns`` and hand them to ``deliver``.

    With a loop (live) the read runs on a daemon thread and ``deliver`` runs on the loop's
    thread; without one (backtest) everything runs here. A failure is one warning, no trades.
    """

    def work() -> None:
        from quant_scalper.journal.read import load_trades

        try:
            trades = load_trades(url, book, since_ns, password_env)
        except Exception as exc:
            warn(f"Telegram: trade journal not read ({type(exc).__name__}: {exc})")
            return
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(deliver, trades)
        else:
            deliver(trades)

    if loop is None:
        work()
    else:
        threading.Thread(target=work, name="telegram-journal", daemon=True).start()
