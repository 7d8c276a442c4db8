"""The operator desk and the trade book without Nautilus: commands in, replies and controls out."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.risk import CME_EQUITY_INDEX
from quant_scalper.telegram.client import Update
from quant_scalper.telegram.operator import OperatorDesk
from quant_scalper.telegram.trades import TradeBook

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday, market open
ALERTS = 111


class Log:
    """Keeps what the desk logs, by level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warning(self, message: str) -> None:
        self.lines.append(("warning", message))

    def error(self, message: str) -> None:
        self.lines.append(("error", message))


def trade(closed: datetime, pnl: str) -> ClosedTrade:
    return ClosedTrade(
        instrument_id="MESH6.CME",
        side="LONG",
        quantity=Decimal(1),
        opened_at=closed - timedelta(minutes=5),
        closed_at=closed,
        entry_price=Decimal("6000.25"),
        exit_price=Decimal("6002.00"),
        realized_pnl=Decimal(pnl),
        fees=Decimal("1.24"),
    )


def make_desk(answer: bool = True, confirm_secs: int = 30):
    sent: list[tuple[str, int | None]] = []
    published: list[dict[str, Any]] = []
    book = TradeBook(CME_EQUITY_INDEX)
    log = Log()
    desk: OperatorDesk

    def publish(message: dict[str, Any]) -> None:
        published.append(message)
        if answer:  # the strategy answers on the same thread, inside the publish
            desk.on_control_result(
                {"command": message["command"], "result": "done", "source": message["source"]}
            )

    desk = OperatorDesk(
        allowed_chats=[ALERTS],
        confirm_secs=confirm_secs,
        max_command_age_secs=120,
        emit=lambda text, chat: sent.append((text, chat)),
        publish=publish,
        status=lambda: "status text",
        book=book,
        now=lambda: NOW,
        log=log,
    )
    return desk, sent, published, book, log


def say(text: str, chat: int = ALERTS, age: float = 0.0) -> Update:
    return Update(update_id=1, chat_id=chat, text=text, sent_at=time.time() - age)


def test_queries_pause_and_unknown_chat() -> None:
    desk, sent, published, book, log = make_desk()
    book.replace([trade(NOW - timedelta(hours=1), "5.00"), trade(NOW - timedelta(hours=2), "-1")])
    desk.receive(say("/status"))
    desk.receive(say("/pnl"))
    desk.receive(say("/trades 1"))
    desk.receive(say("/pause 15"))
    desk.receive(say("/pause 15", chat=999))
    desk.receive(say("/pause 15", chat=999))
    texts = [text for text, _ in sent]
    assert texts[0] == "status text"
    assert texts[1].startswith("P&L this day\ntrades 2, win rate 50%")
    assert texts[2].startswith("last 1 trade(s), newest first:")
    assert texts[3] == "pause: done"
    assert {chat for _, chat in sent} == {ALERTS}
    assert published == [
        {
            "command": "pause",
            "reason": f"/pause from Telegram chat {ALERTS}",
            "source": f"telegram:{ALERTS}",
            "minutes": 15,
        }
    ]
    assert sum("ignoring chat 999" in line for _, line in log.lines) == 1


def test_flatten_needs_confirm_and_nobody_answering_is_said() -> None:
    desk, sent, published, _, _ = make_desk(answer=False)
    desk.receive(say("/confirm"))
    desk.receive(say("/flatten"))
    desk.receive(say("/confirm"))
    assert [m["command"] for m in published] == ["flatten"]
    assert [text for text, _ in sent] == [
        "nothing to confirm: send /flatten first",
        "flatten: send /confirm within 30 s to close the position at market",
        "flatten: no strategy answered (is it running?)",
    ]


def test_flatten_window_expires_and_old_or_bad_commands_are_refused() -> None:
    desk, sent, published, _, _ = make_desk()
    desk.receive(say("/flatten"))
    desk.expire(time.monotonic() + 31)
    desk.receive(say("/kill", age=600))
    desk.receive(say("/pause 5m"))
    assert published == []
    assert sent[1] == ("flatten cancelled: no /confirm within 30 s", ALERTS)
    assert sent[2][0].startswith("ignored /kill: sent 600 s ago")
    assert sent[3][0] == "/pause takes a whole number, not '5m'"


def test_the_book_merges_the_journal_once_per_close() -> None:
    book = TradeBook(CME_EQUITY_INDEX)
    first, second = trade(NOW - timedelta(hours=2), "1"), trade(NOW - timedelta(hours=1), "2")
    book.replace([second, first, second])
    assert book.trades == [first, second]
    journal = trade(NOW - timedelta(hours=1), "2.50")  # the journal's figure wins
    book.merge([journal, trade(NOW - timedelta(days=8), "-4")])
    assert len(book.trades) == 3 and book.trades[-1] is journal
    assert book.summary(NOW).net_pnl == Decimal("3.50")
    assert len(book.period(NOW, "month")) == 2  # the 8-days-old one closed in February
