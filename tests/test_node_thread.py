"""Clock callbacks of a live node run on its event-loop thread (Nautilus 1.231 calls them on
Rust-owned threads otherwise)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from nautilus_trader.common.component import LiveClock, TestClock

from quant_scalper.node_thread import node_loop, on_loop


def test_live_clock_alert_hops_to_the_loop_thread() -> None:
    async def main() -> tuple[str, str]:
        clock = LiveClock()
        loop = node_loop(clock)
        assert loop is asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()
        clock.set_time_alert(
            "alert",
            clock.utc_now() + timedelta(milliseconds=20),
            on_loop(loop, lambda _: done.set_result(threading.current_thread().name)),
        )
        return threading.current_thread().name, await asyncio.wait_for(done, 10)

    loop_thread, callback_thread = asyncio.run(main())
    assert callback_thread == loop_thread


def test_without_the_hop_the_live_clock_calls_back_elsewhere() -> None:
    """The trap itself: if this starts failing, Nautilus changed and the hop may go."""
    clock = LiveClock()
    called = threading.Event()
    names: list[str] = []

    def callback(_: object) -> None:
        names.append(threading.current_thread().name)
        called.set()

    clock.set_time_alert("alert", clock.utc_now() + timedelta(milliseconds=20), callback)
    assert called.wait(10)
    assert names != [threading.main_thread().name]


def test_backtest_clock_is_left_alone_even_inside_a_running_loop() -> None:
    async def main() -> object:
        return node_loop(TestClock())

    assert asyncio.run(main()) is None
    callback = print
    assert on_loop(None, callback) is callback
