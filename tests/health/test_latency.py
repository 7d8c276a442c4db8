"""The latency histograms: buckets, percentiles, the last-hour ring, signal correlation."""

from __future__ import annotations

import random

from quant_scalper.live.latency import (
    MAX_PENDING,
    MINUTE_NS,
    N_BUCKETS,
    Histogram,
    LatencyRecorder,
    RollingHistogram,
    bucket_index,
    bucket_upper_ns,
    signal_stamp,
)


def test_buckets_cover_the_value_within_one_twentieth_decade() -> None:
    for value in (2, 10, 999, 1_000, 12_345, 10**9, 10**11):
        index = bucket_index(value)
        assert bucket_upper_ns(index - 1) < value <= bucket_upper_ns(index) * (1 + 1e-9)
    assert bucket_index(0) == 0 and bucket_index(10**15) == N_BUCKETS - 1


def test_percentiles_are_within_the_bucket_error_of_the_exact_ones() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(11, 1.5)) for _ in range(10_000)]
    hist = Histogram()
    for v in values:
        hist.record(v)
    ordered = sorted(values)
    for q in (0.5, 0.9, 0.99):
        exact = ordered[int(q * len(ordered)) - 1]
        assert exact <= hist.percentile(q) <= exact * 1.13
    assert hist.max == max(values) and hist.count == len(values)
    assert len(hist.counts) <= N_BUCKETS


def test_empty_and_single_value() -> None:
    hist = Histogram()
    assert hist.percentile(0.99) is None
    assert hist.summary()["p99_us"] is None
    hist.record(1_500)
    assert hist.percentile(0.5) == 1_500  # clipped to [min, max]
    assert hist.summary() == {
        "count": 1,
        "p50_us": 1.5,
        "p90_us": 1.5,
        "p99_us": 1.5,
        "max_us": 1.5,
    }


def test_rolling_window_forgets_values_older_than_an_hour() -> None:
    rolling = RollingHistogram(minutes=60)
    t0 = 1_000 * MINUTE_NS
    rolling.record(5_000, t0)
    rolling.record(7_000, t0 + 30 * MINUTE_NS)
    assert rolling.window(t0 + 59 * MINUTE_NS).count == 2
    assert rolling.window(t0 + 60 * MINUTE_NS).count == 1
    assert rolling.window(t0 + 120 * MINUTE_NS).count == 0
    for minute in range(500):  # memory: one histogram per minute, at most 60 kept
        rolling.record(1, t0 + minute * MINUTE_NS)
    assert len(rolling._ring) <= 60


def test_recorder_times_every_stage_of_a_signal() -> None:
    rec = LatencyRecorder()
    t = 10 * MINUTE_NS
    rec.on_signal(signal_stamp("O-1", t, t + 2_000_000, t + 2_050_000, t + 2_300_000))
    rec.on_submitted("O-1", t + 2_500_000)
    rec.on_accepted("O-1", t + 12_500_000)
    rec.on_filled("O-1", t + 13_500_000)
    rec.on_filled("O-1", t + 14_000_000)  # a second partial fill: counted once
    summary = rec.summary(t + 20_000_000)
    got = {stage: s["since_start"]["max_us"] for stage, s in summary.items()}
    assert got == {
        "bar_delivery": 2000.0,
        "bar_to_decision": 50.0,
        "decision_to_submit": 250.0,
        "submit_to_sent": 200.0,
        "bar_to_sent": 500.0,
        "sent_to_accepted": 10000.0,
        "accepted_to_filled": 1000.0,
        "data_age": 2050.0,
    }
    assert summary["bar_delivery"]["last_hour"]["count"] == 1
    assert rec.recent_p99_ns() == 250_000


def test_pending_signals_are_bounded_and_unknown_orders_ignored() -> None:
    rec = LatencyRecorder(recent=10)
    for i in range(MAX_PENDING + 50):
        rec.on_signal(signal_stamp(f"O-{i}", 0, 1, 2, 3))
    assert len(rec._pending) == MAX_PENDING
    assert len(rec.recent_signal_to_submit) == 10
    rec.on_submitted("O-0", 10)  # forgotten: nothing recorded
    rec.on_accepted("nope", 10)
    rec.forget("O-60")
    assert rec.total["submit_to_sent"].count == 0


def test_telegram_status_line_shows_last_hour_percentiles() -> None:
    from quant_scalper.telegram.formatting import latency_text

    rec = LatencyRecorder()
    rec.on_signal(signal_stamp("O-1", 0, 1_000_000, 1_000_000, 1_400_000))
    rec.on_submitted("O-1", 1_600_000)
    text = latency_text(rec.summary(2_000_000))
    assert (
        text
        == "latency (1 h, ms): signal->submit p50 0.40 / p99 0.40; bar->sent p50 0.60 / p99 0.60"
    )
    assert latency_text({}) == "latency (1 h, ms): no signals yet"
