"""Who may see the dashboard and who may act through it.

- It binds 127.0.0.1 by default; any other address needs a token in ``QS_DASHBOARD_TOKEN``,
  or it refuses to start. With a token set, every page and API call needs it (constant-time
  comparison), sent as ``Authorization: Bearer <token>`` or the session cookie that the login
  form sets (an HMAC of the token, never the token itself).
- Operator actions need ``dashboard.allow_control: true`` *and* a token, a custom header (which
  a cross-site form cannot send, and which makes a cross-site ``fetch`` preflight we never
  answer) and a same-origin ``Origin``/``Referer``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request

from quant_scalper.dashboard.errors import DashboardSecurityError

TOKEN_ENV = "QS_DASHBOARD_TOKEN"
MIN_TOKEN_LENGTH = 16
COOKIE_NAME = "qs_dashboard_session"
CONTROL_HEADER = "X-QS-Control"
CONFIRM_TTL_SECS = 60.0


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_from_env(env: Mapping[str, str]) -> str | None:
    """The dashboard token from the environment, or None; a weak token is refused."""
    token = env.get(TOKEN_ENV)
    if token is None or token == "":
        return None
    if len(token) < MIN_TOKEN_LENGTH or token.strip() != token:
        raise DashboardSecurityError(
            f"{TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} characters without surrounding "
            "spaces: generate one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    return token


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not is_loopback(host) and token is None:
        raise DashboardSecurityError(
            f"refusing to bind the dashboard to {host}: anything but 127.0.0.1 needs a token, "
            f"set {TOKEN_ENV} (at least {MIN_TOKEN_LENGTH} characters) or use --host 127.0.0.1"
        )


def session_value(token: str) -> str:
    """The session cookie's value: derived from the token, so the cookie never holds it."""
    return hmac.new(token.encode(), b"quant-scalper dashboard session", hashlib.sha256).hexdigest()


def authorized(request: Request, token: str | None) -> bool:
    """True when no token is configured, or the request carries it (header or cookie)."""
    if token is None:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE_NAME, "")
    return hmac.compare_digest(cookie.encode(), session_value(token).encode())


def same_origin(request: Request) -> bool:
    """True when the request's Origin (or Referer) is this dashboard itself."""
    host = request.headers.get("host", "")
    if not host:
        return False
    allowed = {f"http://{host}", f"https://{host}"}
    origin = request.headers.get("origin")
    if origin is not None:
        return origin in allowed
    referer = request.headers.get("referer", "")
    return any(referer == a or referer.startswith(a + "/") for a in allowed)


@dataclass
class Confirmations:
    """Operator actions waiting for their confirmation: one-use ids that expire."""

    ttl_secs: float = CONFIRM_TTL_SECS
    _pending: dict[str, tuple[str, str, float]] = field(default_factory=dict)

    def request(self, command: str, reason: str) -> str:
        """A confirmation id for ``command``."""
        now = time.monotonic()
        self._pending = {k: v for k, v in self._pending.items() if v[2] > now}
        confirm_id = secrets.token_urlsafe(16)
        self._pending[confirm_id] = (command, reason, now + self.ttl_secs)
        return confirm_id

    def take(self, confirm_id: str) -> tuple[str, str] | None:
        """The ``(command, reason)`` confirmed by ``confirm_id`` (once), or None if unknown."""
        entry = self._pending.pop(confirm_id, None)
        if entry is None or entry[2] < time.monotonic():
            return None
        return entry[0], entry[1]
