"""A small, blocking Telegram Bot API client (``sendMessage``, ``getUpdates``) on httpx.

Blocking on purpose: it runs only on the side channel's own threads (``outbox``, ``poller``),
never on the Nautilus event loop. Every request has a timeout; every failure becomes one of the
exceptions in ``quant_scalper.telegram.errors`` so callers know whether to retry.

The token is part of every Bot API URL (``/bot<token>/<method>``). It is kept out of our
messages and exceptions, and a logging filter on the ``httpx``/``httpcore`` loggers replaces
it with ``<token>`` in case the process routes those libraries' request logs somewhere.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from quant_scalper.telegram.errors import (
    TelegramAuthError,
    TelegramConfigError,
    TelegramMalformedResponseError,
    TelegramRateLimitError,
    TelegramRequestError,
    TelegramServerError,
    TelegramTimeoutError,
    TelegramUnavailableError,
)

DEFAULT_API_URL = "https://api.telegram.org"
MAX_MESSAGE_CHARS = 4096
"""Telegram's limit for one message's text; longer texts are cut with an ellipsis."""

_REDACTED = "<token>"
_HTTP_LOGGERS = ("httpx", "httpcore")


@dataclass(frozen=True, slots=True)
class Update:
    """One incoming Bot API update reduced to what the command desk needs.

    ``text`` is empty for updates that carry no text message (stickers, edits, joins): they are
    acknowledged (the offset moves past them) but never treated as commands.
    """

    update_id: int
    chat_id: int
    text: str
    sent_at: float
    """When the message was sent (UNIX seconds, Telegram's ``date``), 0.0 when unknown."""
    sender: str = ""


class _RedactToken(logging.Filter):
    """Replaces the bot token in a log record's text (httpx logs request URLs at INFO)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record: leave it to the logging machinery
            return True
        if self._token in text:
            record.msg = text.replace(self._token, _REDACTED)
            record.args = None
        return True


def check_token(token: str) -> str:
    """Return ``token`` stripped, or raise TelegramConfigError (without echoing it)."""
    token = (token or "").strip()
    if not token:
        raise TelegramConfigError(
            "the Telegram bot token is empty: set TELEGRAM_BOT_TOKEN to the token @BotFather gave"
        )
    if re.search(r"[\s/?#]", token):
        raise TelegramConfigError(
            "the Telegram bot token contains spaces or URL characters: copy it again from "
            "@BotFather into TELEGRAM_BOT_TOKEN (it looks like 123456789:AA...)"
        )
    return token


class TelegramClient:
    """Blocking Bot API calls with timeouts; one instance per thread.

    Parameters
    ----------
    token : str
        The bot token (from TELEGRAM_BOT_TOKEN); never logged.
    base_url : str
        The Bot API root, ``https://api.telegram.org`` unless a proxy or a test peer is used.
    timeout_secs : float
        Connect/read/write timeout of one request (a long poll adds its own wait to it).
    transport : httpx.BaseTransport, optional
        For tests only.

    """

    def __init__(
        self,
        token: str,
        base_url: str = DEFAULT_API_URL,
        timeout_secs: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token = check_token(token)
        if timeout_secs <= 0:
            raise TelegramConfigError(f"timeout_secs must be > 0, was {timeout_secs!r}")
        root = base_url.rstrip("/")
        if not root.startswith(("http://", "https://")):
            raise TelegramConfigError(
                f"telegram.api_url must start with http:// or https://, was {base_url!r}"
            )
        self._host = httpx.URL(root).host or root
        self._timeout = timeout_secs
        self._filter = _RedactToken(self._token)
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        self._http = httpx.Client(
            base_url=f"{root}/bot{self._token}/",
            timeout=httpx.Timeout(timeout_secs),
            transport=transport,
            headers={"User-Agent": "quant-scalper-telegram"},
        )

    def __repr__(self) -> str:
        return f"TelegramClient(host={self._host!r})"

    def close(self) -> None:
        """Close the connection pool and remove the log filter."""
        self._http.close()
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    def redact(self, text: str) -> str:
        """``text`` with the token replaced, for anything that might reach a log."""
        return text.replace(self._token, _REDACTED)

    def send_message(self, chat_id: int | str, text: str) -> int:
        """Send a plain-text message; returns Telegram's message id.

        Plain text (no ``parse_mode``) so a price or a reason can never break Markdown parsing
        and bounce the alert. Texts over 4096 characters are cut.
        """
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[: MAX_MESSAGE_CHARS - 1] + "…"
        result = self._call(
            "sendMessage",
            {"chat_id": chat_id, "text": text, "disable_web_page_preview": True},
            self._timeout,
        )
        if isinstance(result, dict) and isinstance(result.get("message_id"), int):
            return int(result["message_id"])
        raise TelegramMalformedResponseError("sendMessage: the result has no message_id")

    def get_updates(self, offset: int | None, wait_secs: int) -> list[Update]:
        """Long-poll for updates after ``offset``; waits up to ``wait_secs`` for the first one.

        The request timeout is ``wait_secs`` plus the client timeout, so a quiet long poll is
        not mistaken for a dead peer.
        """
        payload: dict[str, Any] = {"timeout": int(wait_secs), "allowed_updates": ["message"]}
        if offset is not None:
            payload["offset"] = int(offset)
        result = self._call("getUpdates", payload, self._timeout + max(wait_secs, 0))
        if not isinstance(result, list):
            raise TelegramMalformedResponseError("getUpdates: the result is not a list")
        return [_parse_update(item) for item in result]

    # -- internals ---------------------------------------------------------------------------

    def _call(self, method: str, payload: dict[str, Any], timeout: float) -> Any:
        try:
            response = self._http.post(method, json=payload, timeout=timeout)
        except httpx.TimeoutException:
            raise TelegramTimeoutError(
                f"{method}: {self._host} did not answer within {timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            reason = self.redact(str(exc)) or type(exc).__name__
            raise TelegramUnavailableError(
                f"{method}: cannot reach {self._host}: {reason}"
            ) from None
        status = response.status_code
        if status >= 500:
            raise TelegramServerError(f"{method}: {self._host} answered HTTP {status}")
        body = self._json(method, response)
        if status == 429:
            raise TelegramRateLimitError(
                f"{method}: rate limited by Telegram (HTTP 429)", _retry_after(body, response)
            )
        if status == 200 and body.get("ok") is True and "result" in body:
            return body["result"]
        description = self.redact(str(body.get("description") or "no description"))
        if status in (401, 404):
            raise TelegramAuthError(
                f"{method}: Telegram refused the bot token (HTTP {status}: {description}); "
                "check TELEGRAM_BOT_TOKEN and telegram.api_url",
                status,
                description,
            )
        if 400 <= status < 500:
            hint = ""
            if "chat not found" in description.lower():
                hint = "; check TELEGRAM_CHAT_ID (send the bot a message first)"
            elif status == 409:
                hint = (
                    "; another process polls this bot (a second node with the same token?) or a "
                    "webhook is set (deleteWebhook): one poller per bot token"
                )
            raise TelegramRequestError(
                f"{method}: Telegram refused the request (HTTP {status}: {description}){hint}",
                status,
                description,
            )
        raise TelegramMalformedResponseError(
            f"{method}: unexpected answer (HTTP {status}, ok={body.get('ok')!r})"
        )

    def _json(self, method: str, response: httpx.Response) -> dict[str, Any]:
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise TelegramMalformedResponseError(
                f"{method}: HTTP {response.status_code} with a body that is not JSON "
                f"({len(response.content)} bytes)"
            ) from None
        if not isinstance(body, dict):
            raise TelegramMalformedResponseError(f"{method}: the JSON body is not an object")
        return body


def _retry_after(body: dict[str, Any], response: httpx.Response) -> float:
    params = body.get("parameters")
    value: Any = params.get("retry_after") if isinstance(params, dict) else None
    if value is None:
        value = response.headers.get("Retry-After")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 1.0
    return seconds if seconds > 0 else 1.0


def _parse_update(item: Any) -> Update:
    if not isinstance(item, dict) or not isinstance(item.get("update_id"), int):
        raise TelegramMalformedResponseError("getUpdates: an update has no integer update_id")
    update_id = int(item["update_id"])
    message = item.get("message")
    if not isinstance(message, dict):
        return Update(update_id=update_id, chat_id=0, text="", sent_at=0.0)
    chat = message.get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    text = message.get("text")
    if not isinstance(chat_id, int) or not isinstance(text, str):
        return Update(update_id=update_id, chat_id=0, text="", sent_at=0.0)
    sender = message.get("from")
    name = ""
    if isinstance(sender, dict):
        name = str(sender.get("username") or sender.get("first_name") or sender.get("id") or "")
    date = message.get("date")
    return Update(
        update_id=update_id,
        chat_id=chat_id,
        text=text,
        sent_at=float(date) if isinstance(date, int | float) else 0.0,
        sender=name,
    )
