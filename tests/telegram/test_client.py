"""The Bot API client, outbox and poller against a real HTTP peer on 127.0.0.1."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from quant_scalper.telegram.client import TelegramClient, check_token
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
from quant_scalper.telegram.outbox import Outbox
from quant_scalper.telegram.poller import UpdatePoller
from tests.telegram.peer import TOKEN, BotPeer


def client(peer: BotPeer, timeout: float = 1.0, token: str = TOKEN) -> TelegramClient:
    return TelegramClient(token, peer.url, timeout_secs=timeout)


def test_send_and_receive(peer: BotPeer) -> None:
    c = client(peer)
    assert c.send_message(42, "hello") == 1
    assert peer.texts(42) == ["hello"]
    peer.push(42, "/status")
    updates = c.get_updates(None, 1)
    assert [(u.chat_id, u.text, u.sender) for u in updates] == [(42, "/status", "user42")]
    assert c.get_updates(updates[-1].update_id + 1, 0) == []
    c.close()


def test_long_message_is_cut_to_telegram_limit(peer: BotPeer) -> None:
    client(peer).send_message(1, "x" * 5000)
    assert len(peer.texts(1)[0]) == 4096


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("500", TelegramServerError),
        ("malformed", TelegramMalformedResponseError),
        ("timeout", TelegramTimeoutError),
        ("chat_not_found", TelegramRequestError),
    ],
)
def test_failure_modes_map_to_specific_errors(peer: BotPeer, fault: str, error: type) -> None:
    peer.fail("sendMessage", fault)
    with pytest.raises(error):
        client(peer, timeout=0.5).send_message(1, "x")


def test_429_carries_retry_after(peer: BotPeer) -> None:
    peer.fail("sendMessage", "429:7")
    with pytest.raises(TelegramRateLimitError) as info:
        client(peer).send_message(1, "x")
    assert info.value.retry_after == 7


def test_chat_not_found_hints_at_the_chat_id(peer: BotPeer) -> None:
    peer.fail("sendMessage", "chat_not_found")
    with pytest.raises(TelegramRequestError, match="TELEGRAM_CHAT_ID"):
        client(peer).send_message(1, "x")


def test_a_second_poller_is_explained(peer: BotPeer) -> None:
    peer.fail("getUpdates", "conflict")
    with pytest.raises(TelegramRequestError, match="one poller per bot token"):
        client(peer).get_updates(None, 0)


def test_token_never_appears_in_errors_or_logs(peer: BotPeer, caplog) -> None:
    wrong = "999:WRONG-secret"
    caplog.set_level(logging.DEBUG)
    c = client(peer, token=wrong)
    with pytest.raises(TelegramAuthError) as info:
        c.send_message(1, "x")
    assert wrong not in str(info.value) and "TELEGRAM_BOT_TOKEN" in str(info.value)
    assert wrong not in repr(c)
    c.close()
    down = TelegramClient(TOKEN, "http://127.0.0.1:9", timeout_secs=0.5)  # nothing listens
    caplog.set_level(logging.DEBUG, logger="httpx")
    with pytest.raises(TelegramUnavailableError) as info2:
        down.send_message(1, "x")
    assert TOKEN not in str(info2.value)
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert all(wrong not in r.getMessage() for r in caplog.records)
    assert any("<token>" in r.getMessage() for r in caplog.records)  # httpx logged, redacted
    down.close()


def test_bad_settings_fail_with_actionable_messages() -> None:
    with pytest.raises(TelegramConfigError, match="TELEGRAM_BOT_TOKEN"):
        check_token("  ")
    with pytest.raises(TelegramConfigError, match="@BotFather"):
        check_token("12 34")
    with pytest.raises(TelegramConfigError, match="http"):
        TelegramClient(TOKEN, "api.telegram.org")


def test_outbox_put_never_blocks_while_the_peer_stalls(peer: BotPeer) -> None:
    peer.stall()
    outbox = Outbox(client(peer, timeout=0.3).send_message, capacity=3, max_backoff_secs=0.2)
    outbox.start()
    accepted = [outbox.put(1, f"m{i}") for i in range(6)]
    # Six puts against a stalled peer returned (no thread handshake, no I/O): structural, the
    # calls finished while the sender thread was still stuck in its first request.
    assert outbox.stats().sent == 0
    assert accepted[:3] == [True, True, True] and not all(accepted)
    event = outbox.events.get(timeout=5)
    assert event.kind == "unavailable"
    peer.heal()
    peer.wait_text("alert(s) could not be delivered", timeout=10)
    stats = outbox.close(flush_secs=5)
    assert stats.dropped_full == 3 and stats.pending == 0
    texts = peer.chunks(1)
    # The newest survive (the oldest went, except one already in flight).
    assert "m5" in texts and "m4" in texts
    assert outbox.events.get(timeout=1).kind == "recovered"


def test_outbox_delivers_in_order_after_500_429_and_malformed(peer: BotPeer) -> None:
    peer.fail("sendMessage", "500", "429:1", "malformed", "500")
    outbox = Outbox(client(peer).send_message, base_backoff_secs=0.05, max_backoff_secs=0.2)
    outbox.start()
    for i in range(5):
        outbox.put(1, f"m{i}")
    peer.wait_text("m4", timeout=10)
    stats = outbox.close(flush_secs=2)
    assert peer.chunks(1) == [f"m{i}" for i in range(5)]
    assert len(peer.texts(1)) < 5, "the backlog went out batched"
    assert stats.sent == 5 and stats.retries == 4 and stats.dropped == 0 and stats.healthy
    kinds = []
    while not outbox.events.empty():
        kinds.append(outbox.events.get_nowait().kind)
    assert kinds == ["unavailable", "recovered"]  # one warning per outage, not per failure


def test_outbox_honours_retry_after(peer: BotPeer) -> None:
    peer.fail("sendMessage", "429:1")
    outbox = Outbox(client(peer).send_message, base_backoff_secs=0.01, max_backoff_secs=0.02)
    outbox.start()
    started = time.time()
    outbox.put(1, "after the wait")
    sent = peer.wait_text("after the wait", timeout=5)
    outbox.close()
    assert sent.at - started >= 0.9  # waited the 1 s Telegram asked for, not the 0.02 s backoff


def test_outbox_drops_refused_messages_and_reports(peer: BotPeer) -> None:
    # The batch "refused" + "ok" is refused, then "refused" alone is refused again.
    peer.fail("sendMessage", "chat_not_found", "chat_not_found")
    outbox = Outbox(client(peer).send_message)
    outbox.put(1, "refused")
    outbox.put(1, "ok")
    outbox.start()
    peer.wait_text("could not be delivered", timeout=5)
    stats = outbox.close(flush_secs=2)
    # Refused as a batch, then retried one by one: only the bad message is dropped.
    assert peer.chunks(1)[0] == "ok" and stats.dropped_refused == 1 and stats.sent == 2
    assert outbox.events.get(timeout=1).kind == "refused"


def test_poller_survives_failures_and_keeps_offsets(peer: BotPeer) -> None:
    peer.fail("getUpdates", "500", "malformed", "429:1")
    poller = UpdatePoller(client(peer).get_updates, wait_secs=1, max_backoff_secs=0.2)
    poller.start()
    peer.push(5, "/help")
    first = poller.inbox.get(timeout=10)
    peer.push(5, "/status")
    second = poller.inbox.get(timeout=10)
    poller.stop()
    assert (first.text, second.text) == ("/help", "/status")
    kinds = [poller.events.get_nowait().kind for _ in range(poller.events.qsize())]
    assert kinds == ["poll_unavailable", "poll_recovered"]


def test_httpx_is_what_the_client_uses() -> None:
    assert httpx.__version__


def test_outbox_batches_a_backlog_per_chat_within_telegram_limits(peer: BotPeer) -> None:
    peer.stall()
    outbox = Outbox(client(peer, timeout=0.3).send_message, max_backoff_secs=0.2)
    outbox.start()
    for i in range(30):
        outbox.put(1, f"alert {i} " + "x" * 300)
    outbox.put(2, "other chat")
    outbox.put(1, "last")
    peer.heal()
    peer.wait_text("last", timeout=10)
    outbox.close(flush_secs=2)
    assert all(len(text) <= 4000 for text in peer.texts())
    ones = [c for c in peer.chunks(1) if c.startswith("alert")]
    assert ones[-30:] == [f"alert {i} " + "x" * 300 for i in range(30)]
    assert peer.texts(2) == ["other chat"]
    assert peer.chunks(1)[-1] == "last"
