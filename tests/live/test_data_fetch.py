"""``quant-scalper data fetch`` against the TWS peer: chunks, pacing, resume, catalog contents."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from quant_scalper.errors import ConfigError
from quant_scalper.live.data_fetch import FetchRequest
from tests.ibpeer import IBPeer, TimedCandle, flat
from tests.live.harness import ACCOUNT, REPO, node_env, wait_for, write_config

DAYS = [datetime(2025, 11, day, tzinfo=UTC) for day in (3, 4, 5, 6)]
PER_DAY = 48  # one bar every 30 minutes keeps the catalog small


def _history() -> dict[str, list[TimedCandle]]:
    """MESZ5 (the front month in early November 2025) at half-hour steps."""
    bars = [
        TimedCandle(day + timedelta(minutes=30 * i), flat(6000.0 + i * 0.25))
        for day in DAYS
        for i in range(PER_DAY)
    ]
    return {"MESZ5": bars}


def _command(config: Path, catalog: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "quant_scalper.cli",
        "data",
        "fetch",
        "--config",
        str(config),
        "--instrument",
        "MES.CME",
        "--start",
        "2025-11-03",
        "--end",
        "2025-11-07",
        "--catalog",
        str(catalog),
        "--no-progress",
        *extra,
    ]


def _run(config: Path, catalog: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(config, catalog, *extra),
        cwd=REPO,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _per_day(catalog: Path) -> Counter:
    bars = ParquetDataCatalog(str(catalog)).bars()
    return Counter(datetime.fromtimestamp(b.ts_event / 1e9, UTC).date().day for b in bars)


def test_fetch_chunks_with_bid_ask_and_retries_pacing_violations(tmp_path: Path) -> None:
    """Four daily chunks of LAST + BID/ASK; the peer's pacing limit forces retries."""
    with IBPeer(account=ACCOUNT, history=_history()) as peer:
        peer.history_pacing = (3, 1.0)  # more than 3 requests per second: error 162
        config = write_config(tmp_path, peer.port)
        catalog = tmp_path / "catalog"
        result = _run(config, catalog, "--bid-ask", "--pace-secs", "0", "--backoff-secs", "1.2")
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        assert "4 chunk(s) fetched, 0 already done (of 4)" in result.stdout
        assert "192 bars, 192 quote ticks" in result.stdout
        retries = int(result.stdout.split(" pacing retries")[0].rsplit(" ", 1)[1])
        assert retries >= 1
        assert peer.snapshot().count("REQ_HISTORICAL_DATA") == 12 + retries
    cat = ParquetDataCatalog(str(catalog))
    assert [str(i.id) for i in cat.instruments()] == ["MESZ5.CME"]
    bars = cat.bars()
    assert _per_day(catalog) == {3: PER_DAY, 4: PER_DAY, 5: PER_DAY, 6: PER_DAY}
    # ts_event is the bar's close (the adapter stamps the start): first bar 00:00-00:01.
    assert datetime.fromtimestamp(bars[0].ts_event / 1e9, UTC) == DAYS[0] + timedelta(minutes=1)
    quotes = cat.quote_ticks()
    assert len(quotes) == 192
    assert all(q.ask_price.as_double() - q.bid_price.as_double() == 0.25 for q in quotes)


def test_fetch_resumes_after_a_kill_without_duplicates(tmp_path: Path) -> None:
    """SIGKILL during the download; the rerun fetches only what is missing."""
    with IBPeer(account=ACCOUNT, history=_history()) as peer:
        config = write_config(tmp_path, peer.port)
        catalog = tmp_path / "catalog"
        progress = catalog / ".ib-fetch" / "MES.CME-last.json"
        proc = subprocess.Popen(
            _command(config, catalog, "--pace-secs", "1.0"),
            cwd=REPO,
            env=node_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(progress.exists, 60, "the first finished chunk")
        finally:
            proc.kill()
            proc.wait(timeout=10)
        done = len(json.loads(progress.read_text())["done"])
        assert 1 <= done < 4
        requests = peer.snapshot().count("REQ_HISTORICAL_DATA")

        result = _run(config, catalog, "--pace-secs", "0")
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        assert f"{4 - done} chunk(s) fetched, {done} already done (of 4)" in result.stdout
        assert peer.snapshot().count("REQ_HISTORICAL_DATA") - requests == 4 - done
        assert _per_day(catalog) == {3: PER_DAY, 4: PER_DAY, 5: PER_DAY, 6: PER_DAY}

        again = _run(config, catalog, "--pace-secs", "0")  # all done: no request at all
        assert "0 chunk(s) fetched, 4 already done (of 4)" in again.stdout
        assert peer.snapshot().count("REQ_HISTORICAL_DATA") - requests == 4 - done

        shutil.rmtree(catalog / ".ib-fetch")  # forget the progress: rewrites, no duplicates
        assert _run(config, catalog, "--pace-secs", "0").returncode == 0
        assert _per_day(catalog) == {3: PER_DAY, 4: PER_DAY, 5: PER_DAY, 6: PER_DAY}


def test_chunks_follow_the_front_month_across_the_roll(tmp_path: Path) -> None:
    """MES.CME is fetched per contract: MESZ5 until 8 days before its expiry, then MESH6."""
    request = FetchRequest.parse("MES.CME", "2025-12-09", "2025-12-13", tmp_path, chunk_days=1)
    chunks = request.chunks(roll_offset_days=8)
    assert [(c.start.day, c.local_symbol) for c in chunks] == [
        (9, "MESZ5"),
        (10, "MESZ5"),
        (11, "MESH6"),  # expiry 2025-12-19 minus 8 days: the CME roll date
        (12, "MESH6"),
    ]
    pinned = FetchRequest.parse("ESZ5.CME", "2025-12-09", "2025-12-20", tmp_path, chunk_days=5)
    assert [(c.start.day, c.end.day, c.local_symbol) for c in pinned.chunks(8)] == [
        (9, 14, "ESZ5"),
        (14, 19, "ESZ5"),
        (19, 20, "ESZ5"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("MES.GLOBEX", "2025-01-01", "2025-01-02"), "--instrument"),
        (("MES.CME", "2025-01-02", "2025-01-01"), "--end"),
        (("MES.CME", "yesterday", "2025-01-01"), "--start"),
        (("MESX5.CME", "2025-01-01", "2025-01-02"), "MESX5"),
    ],
)
def test_bad_fetch_arguments_name_the_option(
    tmp_path: Path, args: tuple[str, str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        FetchRequest.parse(*args, catalog=tmp_path)
