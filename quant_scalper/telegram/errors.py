"""Exceptions of the Telegram side channel, split by what the sender should do about them.

``TelegramRetryableError`` subclasses mean "Telegram (or the network) is unwell, try again
later": the outbox keeps the message and retries with backoff. ``TelegramRequestError``
subclasses mean "this request will never succeed as sent" (bad token, unknown chat, a
malformed message): the outbox drops the message, counts it and warns once. Messages never
contain the bot token.
"""

from __future__ import annotations

from quant_scalper.errors import ConfigError, QuantScalperError


class TelegramError(QuantScalperError):
    """Base class of every Telegram error quant-scalper raises."""


class TelegramConfigError(TelegramError, ConfigError):
    """The ``telegram:`` section or the TELEGRAM_* environment variables are invalid."""


class TelegramRetryableError(TelegramError):
    """A transient failure: the request may succeed if sent again later."""

    retry_after: float | None = None


class TelegramUnavailableError(TelegramRetryableError):
    """Telegram could not be reached (connection refused/reset, DNS, TLS)."""


class TelegramTimeoutError(TelegramRetryableError):
    """Telegram did not answer within the configured timeout."""


class TelegramServerError(TelegramRetryableError):
    """Telegram answered with a 5xx status."""


class TelegramMalformedResponseError(TelegramRetryableError):
    """The answer was not the Bot API's JSON envelope (a proxy error page, a truncated body)."""


class TelegramRateLimitError(TelegramRetryableError):
    """HTTP 429: Telegram asks to wait ``retry_after`` seconds before the next request."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TelegramRequestError(TelegramError):
    """Telegram refused the request for good (4xx other than 429); resending will not help."""

    def __init__(self, message: str, status: int, description: str) -> None:
        super().__init__(message)
        self.status = status
        self.description = description


class TelegramAuthError(TelegramRequestError):
    """401/404: the bot token is wrong or revoked. Fix TELEGRAM_BOT_TOKEN and restart."""
