"""A local Telegram Bot API peer on 127.0.0.1 for tests: sendMessage and getUpdates.

A real HTTP server (``ThreadingHTTPServer`` on its own threads) so the code under test goes
through httpx, sockets and timeouts exactly as against api.telegram.org. Failure modes are
queued per method (``fail(method, "500", "429:2", "malformed", "timeout")``) or held on
(``stall()`` blocks every sendMessage until ``heal()``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:TEST-token_do-not-log"


@dataclass
class Sent:
    """One message the peer accepted."""

    chat_id: int
    text: str
    at: float


class BotPeer:
    """The peer's state; ``url`` is the Bot API root to configure."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.sent: list[Sent] = []
        self.requests: list[str] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._next_message = 1
        self._faults: dict[str, deque[str]] = {"sendMessage": deque(), "getUpdates": deque()}
        self._flowing = threading.Event()  # cleared while stalled: handlers block on it
        self._flowing.set()
        self._cond = threading.Condition()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                peer._handle(self)

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        """The Bot API root, e.g. http://127.0.0.1:40123."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BotPeer:
        """Serve on a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Release stalled requests and stop serving."""
        self.heal()
        self._server.shutdown()
        self._server.server_close()

    # -- test controls -----------------------------------------------------------------------

    def push(self, chat_id: int, text: str, date: float | None = None) -> None:
        """Queue an incoming text message from ``chat_id`` for getUpdates."""
        with self._cond:
            self._updates.append(
                {
                    "update_id": self._next_update,
                    "message": {
                        "message_id": self._next_update,
                        "date": int(date if date is not None else time.time()),
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": chat_id, "username": f"user{chat_id}"},
                        "text": text,
                    },
                }
            )
            self._next_update += 1
            self._cond.notify_all()

    def fail(self, method: str, *faults: str) -> None:
        """Answer the next calls of ``method`` with these faults, one each, in order."""
        with self._cond:
            self._faults[method].extend(faults)

    def stall(self) -> None:
        """Hold every sendMessage without answering until ``heal``."""
        self._flowing.clear()

    def heal_stall_only(self) -> None:
        """Stop stalling but keep queued faults."""
        self._flowing.set()

    def heal(self) -> None:
        """Stop stalling and clear queued faults."""
        with self._cond:
            for faults in self._faults.values():
                faults.clear()
        self._flowing.set()

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts accepted so far (for one chat, or all)."""
        with self._cond:
            return [s.text for s in self.sent if chat_id is None or s.chat_id == chat_id]

    def chunks(self, chat_id: int | None = None) -> list[str]:
        """The alerts inside the accepted texts (the outbox joins queued ones with a blank line)."""
        return [part for text in self.texts(chat_id) for part in text.split("\n\n")]

    def wait_for(
        self, predicate: Callable[[Sent], bool], timeout: float = 15.0, what: str = "a message"
    ) -> Sent:
        """The first accepted message matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for s in self.sent:
                    if predicate(s):
                        return s
                left = deadline - time.monotonic()
                if left <= 0:
                    texts = "\n---\n".join(s.text for s in self.sent[-15:])
                    raise AssertionError(f"timed out waiting for {what}; last sent:\n{texts}")
                self._cond.wait(min(left, 0.1))

    def wait_text(self, needle: str, chat_id: int | None = None, timeout: float = 15.0) -> Sent:
        """The first message containing ``needle`` (to ``chat_id`` if given)."""
        return self.wait_for(
            lambda s: needle in s.text and (chat_id is None or s.chat_id == chat_id),
            timeout,
            f"{needle!r} to {chat_id}",
        )

    # -- HTTP --------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length)
        prefix = f"/bot{self.token}/"
        if not h.path.startswith(prefix):
            self._reply(h, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        method = h.path[len(prefix) :]
        self.requests.append(method)
        if method not in self._faults:
            self._reply(h, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        with self._cond:
            fault = self._faults[method].popleft() if self._faults[method] else None
        if fault is not None and self._fault(h, fault):
            return
        payload = json.loads(body or b"{}")
        if method == "sendMessage":
            self._flowing.wait()  # blocks without polling (no GIL churn in benchmarks)
            self._send_message(h, payload)
        else:
            self._get_updates(h, payload)

    def _fault(self, h: BaseHTTPRequestHandler, fault: str) -> bool:
        if fault == "500":
            self._reply(h, 500, {"ok": False, "error_code": 500, "description": "Internal"})
        elif fault.startswith("429"):
            retry = int(fault.split(":")[1]) if ":" in fault else 1
            self._reply(
                h,
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry}",
                    "parameters": {"retry_after": retry},
                },
            )
        elif fault == "malformed":
            raw = b"<html>502 Bad Gateway</html>"
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(len(raw)))
            h.end_headers()
            h.wfile.write(raw)
        elif fault == "timeout":
            time.sleep(3.0)  # longer than the tests' client timeouts
            return True
        elif fault == "conflict":
            body = {
                "ok": False,
                "error_code": 409,
                "description": "Conflict: terminated by other getUpdates request",
            }
            self._reply(h, 409, body)
        elif fault == "chat_not_found":
            self._reply(
                h,
                400,
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
            )
        else:
            raise ValueError(f"unknown fault {fault!r}")
        return True

    def _send_message(self, h: BaseHTTPRequestHandler, payload: dict[str, Any]) -> None:
        with self._cond:
            message_id = self._next_message
            self._next_message += 1
            self.sent.append(Sent(int(payload["chat_id"]), str(payload["text"]), time.time()))
            self._cond.notify_all()
        self._reply(h, 200, {"ok": True, "result": {"message_id": message_id}})

    def _get_updates(self, h: BaseHTTPRequestHandler, payload: dict[str, Any]) -> None:
        offset = int(payload.get("offset") or 0)
        deadline = time.monotonic() + float(payload.get("timeout") or 0)
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(min(deadline - time.monotonic(), 0.1))
            result = list(self._updates)
        self._reply(h, 200, {"ok": True, "result": result})

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout)
            h.wfile.write(raw)
