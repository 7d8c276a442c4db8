"""Command parsing and the /flatten confirmation gate (pure logic)."""

from __future__ import annotations

import pytest

from quant_scalper.telegram.commands import (
    HELP_TEXT,
    Command,
    CommandError,
    Confirm,
    ConfirmationGate,
    Verb,
    parse_command,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/status", Command(Verb.STATUS)),
        ("  /STATUS  ", Command(Verb.STATUS)),
        ("/status@quant_bot", Command(Verb.STATUS)),
        ("/pnl", Command(Verb.PNL, period="day")),
        ("/pnl Week", Command(Verb.PNL, period="week")),
        ("/pnl@quant_bot month", Command(Verb.PNL, period="month")),
        ("/trades", Command(Verb.TRADES, count=5)),
        ("/trades 12", Command(Verb.TRADES, count=12)),
        ("/pause", Command(Verb.PAUSE, minutes=None)),
        ("/pause 45", Command(Verb.PAUSE, minutes=45)),
        ("/resume", Command(Verb.RESUME)),
        ("/flatten", Command(Verb.FLATTEN)),
        ("/confirm", Command(Verb.CONFIRM)),
        ("/kill", Command(Verb.KILL)),
        ("/help", Command(Verb.HELP)),
        ("/start", Command(Verb.HELP)),
    ],
)
def test_parses_every_command(text: str, expected: Command) -> None:
    assert parse_command(text, bot_username="quant_bot") == expected


@pytest.mark.parametrize("text", ["", "   ", "hello", "status", "what about /kill"])
def test_plain_chat_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


def test_command_for_another_bot_is_ignored() -> None:
    assert parse_command("/kill@other_bot", bot_username="quant_bot") is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/sell", "unknown command /sell"),
        ("/pnl year", "day, week or month"),
        ("/pnl day week", "one argument"),
        ("/trades x", "whole number"),
        ("/trades 0", "from 1 to 50"),
        ("/trades 51", "from 1 to 50"),
        ("/pause 5m", "whole number"),
        ("/pause 0", "from 1 to 1440"),
        ("/pause 1441", "from 1 to 1440"),
        ("/kill now", "no argument"),
        ("/flatten all", "no argument"),
    ],
)
def test_bad_commands_say_what_is_expected(text: str, needle: str) -> None:
    with pytest.raises(CommandError, match=needle):
        parse_command(text)


def test_help_lists_every_command() -> None:
    for verb in Verb:
        assert f"/{verb.value}" in HELP_TEXT


def test_confirm_within_window_same_chat() -> None:
    gate = ConfirmationGate(30)
    gate.request(1, now=100.0)
    assert gate.pending_chat == 1
    assert gate.confirm(1, now=129.9) is Confirm.CONFIRMED
    assert gate.pending_chat is None
    assert gate.confirm(1, now=130.0) is Confirm.NOTHING_PENDING


def test_confirm_after_window_is_expired_and_consumed() -> None:
    gate = ConfirmationGate(30)
    gate.request(1, now=100.0)
    assert gate.confirm(1, now=130.1) is Confirm.EXPIRED
    assert gate.confirm(1, now=130.2) is Confirm.NOTHING_PENDING


def test_confirm_from_another_chat_does_not_consume() -> None:
    gate = ConfirmationGate(30)
    gate.request(1, now=0.0)
    assert gate.confirm(2, now=1.0) is Confirm.OTHER_CHAT
    assert gate.confirm(1, now=2.0) is Confirm.CONFIRMED


def test_expire_reports_the_chat_once() -> None:
    gate = ConfirmationGate(30)
    gate.request(7, now=0.0)
    assert gate.expire(now=29.0) is None
    assert gate.expire(now=30.5) == 7
    assert gate.expire(now=31.0) is None
    assert gate.confirm(7, now=31.0) is Confirm.NOTHING_PENDING


def test_a_new_request_restarts_the_window() -> None:
    gate = ConfirmationGate(30)
    gate.request(1, now=0.0)
    gate.request(1, now=20.0)
    assert gate.confirm(1, now=45.0) is Confirm.CONFIRMED


def test_gate_rejects_a_zero_window() -> None:
    with pytest.raises(ValueError, match="> 0"):
        ConfirmationGate(0)
