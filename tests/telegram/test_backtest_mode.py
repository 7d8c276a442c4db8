"""The actor in Nautilus's backtest engine: never sends, optionally records alerts to a file.

Recording makes the clock-driven alerts testable deterministically: the daily summary at the
16:00 CT close, the heartbeat, fills, breaker trips, throttled error alerts.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from quant_scalper.telegram import CONNECTION_TOPIC, TelegramAlerts, TelegramAlertsConfig
from quant_scalper.topics import CONTROL_TOPIC, TRADING_STATE_TOPIC
from tests.engine_support import Candle, build_engine, flat_candle

CT = ZoneInfo("America/Chicago")
P = 4000.0


def win_cycle() -> list[Candle]:
    calm = [flat_candle(P), flat_candle(P + 0.25)] * 5
    return [*calm, flat_candle(P - 10), flat_candle(P)]


def session_close_timeline() -> tuple[list[Candle], list[datetime]]:
    """Three winning round trips from 14:00 CT, then one bar after the 16:00 CT halt."""
    candles = win_cycle() * 3 + [flat_candle(P)]
    start = datetime(2013, 10, 8, 14, 0, tzinfo=CT)
    times = [start + timedelta(minutes=i + 1) for i in range(len(candles) - 1)]
    times.append(datetime(2013, 10, 8, 16, 30, tzinfo=CT))
    return candles, [t.astimezone(UTC) for t in times]


def run_with_actor(config: TelegramAlertsConfig, before_run=None):
    candles, times = session_close_timeline()
    engine = build_engine(candles, times=times, window=10)
    actor = TelegramAlerts(config)
    engine.add_actor(actor)
    if before_run is not None:
        before_run(engine)
    engine.run()
    return engine, actor


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_backtest_records_alerts_and_the_daily_summary(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    engine, actor = run_with_actor(
        TelegramAlertsConfig(record_path=str(path), heartbeat_minutes=30)
    )
    assert actor.mode == "record"
    texts = [r["text"] for r in records(path)]
    assert texts[0] == "node TESTER-001 started (record)"
    assert sum(t.startswith("ENTRY LONG 1 MESZ3.CME @ ") for t in texts) == 3
    exits = [t for t in texts if t.startswith("EXIT LONG")]
    assert len(exits) == 3 and all("fees $1.24" in t for t in exits)
    assert sum(t.startswith("heartbeat: node TESTER-001 alive") for t in texts) >= 2
    summary = next(t for t in texts if t.startswith("DAILY SUMMARY 2013-10-08"))
    assert "trades 3, win rate 100%" in summary and "net of fees $3.72" in summary
    stamp = next(r["ts"] for r in records(path) if r["text"].startswith("DAILY SUMMARY"))
    assert stamp == datetime(2013, 10, 8, 16, 0, tzinfo=CT).astimezone(UTC).isoformat()
    # A restarted actor rebuilds the same ledger from the cache (snapshots of the reused
    # NETTING position id plus the closed position).
    seen = list(actor.book.trades)
    actor._load_trades()
    assert actor.book.trades == seen and len(seen) == 3
    engine.dispose()


def test_backtest_never_sends_nor_starts_threads(tmp_path: Path) -> None:
    threads_before = {t.name for t in threading.enumerate()}
    engine, actor = run_with_actor(TelegramAlertsConfig(mode="send"))
    assert actor.mode == "off"
    started = {t.name for t in threading.enumerate()} - threads_before
    assert not any(name.startswith("telegram") for name in started)
    engine.dispose()
    _, off = run_with_actor(TelegramAlertsConfig())
    assert off.mode == "off"


def test_errors_are_deduplicated_and_trips_and_connection_alerted(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"

    def halt_the_risk_engine(engine) -> None:
        # Every entry is denied by the risk engine (same reason): one error alert.
        engine.kernel.msgbus.publish(TRADING_STATE_TOPIC, "HALTED")

    engine, _ = run_with_actor(
        TelegramAlertsConfig(record_path=str(path), daily_summary=False), halt_the_risk_engine
    )
    bus = engine.kernel.msgbus
    bus.publish(CONTROL_TOPIC, {"command": "kill", "reason": "drill", "source": "cli"})
    bus.publish(CONNECTION_TOPIC, {"connected": True, "detail": "IB 1102"})
    bus.publish(CONNECTION_TOPIC, {"connected": False, "detail": "IB 1100"})
    bus.publish(CONNECTION_TOPIC, {"connected": False, "detail": "IB 1100"})
    bus.publish(CONNECTION_TOPIC, {"connected": True, "detail": "IB 1102"})
    texts = [r["text"] for r in records(path)]
    denied = [t for t in texts if t.startswith("ERROR OrderDenied")]
    # Three brackets (3 orders each) denied 12 simulated minutes apart; dedup is 5 minutes of
    # the node's clock: one alert per bracket, each later one counting the repeats held back.
    assert len(denied) == 3, texts
    assert all(t.endswith("TradingState.HALTED") for t in denied[:1]), denied
    assert all(t.endswith("TradingState.HALTED (+2 similar suppressed)") for t in denied[1:])
    assert any(t.startswith("KILL SWITCH: kill switch on: drill") for t in texts), texts
    assert [t for t in texts if t.startswith("CONNECTION")] == [
        "CONNECTION LOST: IB 1100",
        "CONNECTION RESTORED: IB 1102",
    ]
    engine.dispose()


def test_stale_market_data_during_the_session_is_alerted_once(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    candles = win_cycle()  # from 09:00 CT, market open
    engine = build_engine(candles, window=10)
    actor = TelegramAlerts(TelegramAlertsConfig(record_path=str(path), stale_data_secs=60))
    engine.add_actor(actor)
    engine.run()
    assert actor._last_data_ns == engine.kernel.clock.timestamp_ns()  # quotes and bars seen
    actor._check_stale_data()
    actor._last_data_ns -= 61 * 1_000_000_000  # the feed went quiet a minute ago
    actor._check_stale_data()
    actor._check_stale_data()
    actor._last_data_ns = engine.kernel.clock.timestamp_ns()
    actor._check_stale_data()
    texts = [r["text"] for r in records(path)]
    assert [t for t in texts if t.startswith("CONNECTION")] == [
        "CONNECTION LOST? no market data for 61 s while the market is open",
        "CONNECTION RESTORED: market data flowing again",
    ]
    engine.dispose()
