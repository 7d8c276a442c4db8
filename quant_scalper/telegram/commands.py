"""Operator commands typed in Telegram: parsing and the /flatten confirmation (pure logic).

No Nautilus and no network here: the actor feeds texts, chat ids and times in and acts on the
answers. Parsing is strict about arguments (a typo like ``/pause 5m`` gets a reply saying what
is expected, never a silent default) and lenient about form (``/PNL``, ``/pnl@my_bot week``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from quant_scalper.telegram.errors import TelegramError

PNL_PERIODS = ("day", "week", "month")
MAX_TRADES = 50
MAX_PAUSE_MINUTES = 24 * 60

HELP_TEXT = "\n".join(
    [
        "quant-scalper commands:",
        "/status - position, open and day P&L, breakers, connection",
        "/pnl [day|week|month] - P&L, trades, win rate, fees (default day)",
        f"/trades [n] - the last n closed trades (default 5, max {MAX_TRADES})",
        "/pause [minutes] - no new entries for a while (default: the strategy's pause)",
        "/resume - clear a pause or the kill switch (a daily loss limit stays)",
        "/flatten - close the position at market (asks for /confirm)",
        "/confirm - confirm a /flatten within its time window",
        "/kill - kill switch: cancel all, flatten, halt until /resume",
        "/help - this list",
    ]
)


class CommandError(TelegramError):
    """A command the desk cannot run as typed; the message is the reply to the operator."""


class Verb(StrEnum):
    """The commands the desk understands."""

    STATUS = "status"
    PNL = "pnl"
    TRADES = "trades"
    PAUSE = "pause"
    RESUME = "resume"
    FLATTEN = "flatten"
    CONFIRM = "confirm"
    KILL = "kill"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: the verb and its (validated) argument, if any."""

    verb: Verb
    period: str = "day"
    count: int = 5
    minutes: int | None = None


def parse_command(text: str, bot_username: str | None = None) -> Command | None:
    """Parse one message; None when it is not a command (plain chat is ignored).

    Raises CommandError for an unknown command or a bad argument, with the reply to send.
    """
    words = text.strip().split()
    if not words or not words[0].startswith("/"):
        return None
    head = words[0][1:]
    name, _, addressee = head.partition("@")
    if addressee and bot_username and addressee.lower() != bot_username.lower():
        return None  # addressed to another bot in a group chat
    name = name.lower()
    if name == "start":
        name = "help"  # Telegram sends /start when a chat first opens the bot
    try:
        verb = Verb(name)
    except ValueError:
        raise CommandError(f"unknown command /{name}: send /help for the list") from None
    args = words[1:]
    if verb is Verb.PNL:
        _at_most(verb, args, 1)
        period = args[0].lower() if args else "day"
        if period not in PNL_PERIODS:
            raise CommandError(f"/pnl takes day, week or month, not {args[0]!r}")
        return Command(verb, period=period)
    if verb is Verb.TRADES:
        _at_most(verb, args, 1)
        count = _int_arg(verb, args[0], 1, MAX_TRADES) if args else 5
        return Command(verb, count=count)
    if verb is Verb.PAUSE:
        _at_most(verb, args, 1)
        minutes = _int_arg(verb, args[0], 1, MAX_PAUSE_MINUTES) if args else None
        return Command(verb, minutes=minutes)
    _at_most(verb, args, 0)
    return Command(verb)


def _at_most(verb: Verb, args: list[str], n: int) -> None:
    if len(args) > n:
        usage = {0: "no argument", 1: "one argument"}[n]
        raise CommandError(f"/{verb.value} takes {usage}: send /help for the usage")


def _int_arg(verb: Verb, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"/{verb.value} takes a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise CommandError(f"/{verb.value} takes a number from {low} to {high}, not {value}")
    return value


class Confirm(StrEnum):
    """The outcome of a /confirm."""

    CONFIRMED = "confirmed"
    NOTHING_PENDING = "nothing_pending"
    EXPIRED = "expired"
    OTHER_CHAT = "other_chat"


class ConfirmationGate:
    """One pending /flatten per node: confirmed only by the same chat within ``window_secs``.

    Times are seconds on any monotonic scale, passed in by the caller.
    """

    def __init__(self, window_secs: float = 30.0) -> None:
        if window_secs <= 0:
            raise ValueError(f"the confirmation window must be > 0 s, was {window_secs}")
        self.window_secs = window_secs
        self._chat: int | None = None
        self._deadline = 0.0

    @property
    def pending_chat(self) -> int | None:
        """The chat whose /flatten awaits /confirm, if any."""
        return self._chat

    def request(self, chat_id: int, now: float) -> None:
        """Open (or restart) the window for ``chat_id``, replacing any pending request."""
        self._chat = chat_id
        self._deadline = now + self.window_secs

    def confirm(self, chat_id: int, now: float) -> Confirm:
        """Consume the pending request if ``chat_id`` made it and it has not expired."""
        if self._chat is None:
            return Confirm.NOTHING_PENDING
        if chat_id != self._chat:
            return Confirm.OTHER_CHAT
        expired = now > self._deadline
        self._chat = None
        return Confirm.EXPIRED if expired else Confirm.CONFIRMED

    def expire(self, now: float) -> int | None:
        """Drop a request whose window has passed; returns its chat (to tell it), else None."""
        if self._chat is not None and now > self._deadline:
            chat, self._chat = self._chat, None
            return chat
        return None
