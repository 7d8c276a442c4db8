"""After a reconnect, IB's position against the node's (``live.position_sync``): pure rule and
the checker's publishing, with an in-memory IB answer (the e2e test uses the TWS peer)."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

from quant_scalper.live.position_sync import PositionSync, position_difference
from quant_scalper.risk.model import Rule, Trip
from quant_scalper.topics import POSITION_SYNC_TOPIC, RISK_TRIP_TOPIC


def test_difference_names_what_is_not_known_or_not_equal() -> None:
    assert position_difference(Decimal(0), Decimal(0), 0) is None
    assert position_difference(Decimal(-1), Decimal(-1), 0) is None
    assert position_difference(Decimal(0), None, 0) == "IB's positions are not available yet"
    assert position_difference(Decimal(1), Decimal(1), 2) == "2 order(s) of ours still in flight"
    assert (
        position_difference(Decimal(-1), Decimal(0), 0)
        == "the node holds -1 contract(s), IB holds flat"
    )


class _Checker:
    """A PositionSync over scripted IB answers and a hand-set clock."""

    def __init__(self, answers: list[Any], node: Decimal = Decimal(0)) -> None:
        self.answers = answers
        self.node = node
        self.now = 0.0
        self.published: list[tuple[str, Any]] = []

        async def ib() -> Decimal | None:
            answer = self.answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer

        self.sync = PositionSync(
            "MESZ6",
            ib,
            lambda: self.node,
            in_flight=lambda: 0,
            publish=lambda topic, msg: self.published.append((topic, msg)),
            alert_after=60,
            monotonic=lambda: self.now,
        )

    def check(self) -> dict[str, Any] | None:
        return asyncio.run(self.sync.check())


def test_nothing_is_asked_until_a_reconnect() -> None:
    checker = _Checker([])
    assert checker.check() is None
    checker.sync.on_connection({"connected": False})
    assert checker.check() is None and checker.published == []


def test_checks_until_a_match_then_stops_and_alerts_once_after_a_minute() -> None:
    checker = _Checker([None, ConnectionError("disconnected"), Decimal(0), Decimal(0), Decimal(1)])
    checker.node = Decimal(1)  # the target filled at IB while the node could not hear it
    checker.sync.on_connection({"connected": True})
    first = checker.check()
    assert first["matched"] is False and first["detail"] == (
        "MESZ6: IB's positions are not available yet"
    )
    assert "ConnectionError: disconnected" in checker.check()["detail"]
    checker.now = 61
    third = checker.check()
    assert third["detail"] == "MESZ6: the node holds +1 contract(s), IB holds flat"
    alerts = [m for t, m in checker.published if t == RISK_TRIP_TOPIC]
    assert len(alerts) == 1 and isinstance(alerts[0], Trip)
    assert alerts[0].rule is Rule.POSITION_MISMATCH
    assert "every order is held" in alerts[0].reason and "restart the node" in alerts[0].reason
    checker.check()  # still different: no second alert
    assert len([1 for t, _ in checker.published if t == RISK_TRIP_TOPIC]) == 1
    matched = checker.check()  # Nautilus's position check applied the missed fill
    assert matched == {
        "matched": True,
        "detail": "MESZ6: IB and the node both hold +1 contract(s)",
        "node": "1",
        "ib": "1",
    }
    assert checker.check() is None  # verified: nothing more until the next reconnect
    assert [t for t, _ in checker.published].count(POSITION_SYNC_TOPIC) == 5


def test_a_request_cancelled_by_the_adapters_reset_does_not_end_the_checks() -> None:
    """The kill-free soak: the adapter cancels pending requests when it resets the socket;
    that CancelledError killed the checker's task and the guard then held orders for good."""

    async def scenario() -> list[dict]:
        checker = _Checker([asyncio.CancelledError(), Decimal(0)])
        checker.sync.on_connection({"connected": True})
        task = asyncio.ensure_future(checker.sync.run(interval=0.001))
        for _ in range(2000):
            if len(checker.published) >= 2 or task.done():
                break
            await asyncio.sleep(0.001)
        assert not task.done(), "the checker's task ended"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()  # our own cancel still stops it
        return [m for _, m in checker.published]

    first, second = asyncio.run(scenario())
    assert first["matched"] is False and "request was cancelled" in first["detail"]
    assert second["matched"] is True
