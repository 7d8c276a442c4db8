"""Read the journal back: round trips of a book as ``ClosedTrade`` (Telegram, reports)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.journal import schema
from quant_scalper.journal.db import open_journal
from quant_scalper.journal.rows import utc


def load_trades(
    target: str, book: str, since_ns: int = 0, password_env: str | None = None
) -> list[ClosedTrade]:
    """The book's round trips closed at or after ``since_ns``, oldest first (the journal must
    exist: a missing one is not created here)."""
    journal = open_journal(target, password_env, create=False)
    t = schema.trades
    try:
        with journal.engine.connect() as conn:
            found = conn.execute(
                select(t)
                .where(t.c.book == book)
                .where(t.c.exit_ns >= since_ns)
                .order_by(t.c.exit_ns, t.c.id)
            ).mappings()
            return [trade_from_row(r) for r in found]
    finally:
        journal.dispose()


def trade_from_row(row: object) -> ClosedTrade:
    """A ``trades`` row as a ``ClosedTrade`` (money from integer cents, prices from text)."""
    return ClosedTrade(
        instrument_id=row["instrument_id"],
        side=row["side"],
        quantity=Decimal(row["quantity"]),
        opened_at=utc(row["entry_ns"]),
        closed_at=utc(row["exit_ns"]),
        entry_price=Decimal(row["entry_price"]),
        exit_price=Decimal(row["exit_price"]),
        realized_pnl=Decimal(row["net_pnl_cents"]) / 100,
        fees=Decimal(row["fees_cents"]) / 100,
    )
