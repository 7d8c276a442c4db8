"""``quant-scalper data fetch``: historical 1-minute bars from IB into the Parquet catalog.

Downloads go through Nautilus's ``HistoricInteractiveBrokersClient`` (the adapter's own
historical requests), one request per chunk of ``chunk_days`` days and bar kind:

- **Contracts**: ``MESZ5.CME`` fetches that contract; a root (``MES.CME``/``ES.CME``) fetches,
  for each chunk, the front month of that day by expiry (``instrument.roll_offset_days``), so
  the catalog gets the same per-contract bars the backtest reads. IB's continuous future
  (CONTFUT) is not used: its requests always end "now" and cannot be chunked or resumed.
- **Resumable**: each finished chunk is recorded in ``<catalog>/.ib-fetch/<name>.json`` after its
  bars are written; a rerun of the same command skips finished chunks (a chunk interrupted
  half-way is fetched again; the catalog file of a chunk is rewritten, not duplicated).
- **Pacing**: at most one request every ``pace_secs`` (IB: 60 historical requests per 10 min);
  a pacing violation (error 162) waits ``backoff_secs`` and retries the chunk.
- Bars are stored with ``ts_event`` at the bar's close (the adapter stamps the start).
- ``--bid-ask`` also fetches BID and ASK 1-minute bars and stores one quote tick per minute
  (bid close / ask close at the bar's close time), as in the bundled catalog.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from quant_scalper.errors import ConfigError
from quant_scalper.instruments import (
    SPECS,
    contract_symbol,
    front_month,
    parse_contract_symbol,
)
from quant_scalper.live.config import LiveSettings
from quant_scalper.live.errors import DataFetchError
from quant_scalper.live.node import probe_gateway

PROGRESS_DIR = ".ib-fetch"
MAX_RETRIES = 3
PACING_TEXT = "pacing violation"
NO_DATA_TEXT = "no data"


@dataclass(frozen=True)
class FetchRequest:
    """What to download: instrument, UTC day range [start, end), chunking and pacing."""

    instrument: str
    start: date
    end: date
    catalog: Path
    bid_ask: bool = False
    chunk_days: int = 1
    pace_secs: float = 10.5
    backoff_secs: float = 60.0

    @classmethod
    def parse(
        cls,
        instrument: str,
        start: str,
        end: str,
        catalog: Path,
        bid_ask: bool = False,
        chunk_days: int = 1,
        pace_secs: float = 10.5,
        backoff_secs: float = 60.0,
    ) -> FetchRequest:
        """Validate the command-line values; errors name the option."""
        symbol, _, venue = instrument.partition(".")
        if venue != "CME":
            raise ConfigError(f"--instrument {instrument!r}: use MES.CME, ES.CME or MESZ5.CME")
        if symbol not in SPECS:
            try:
                parse_contract_symbol(symbol, decade_hint=2020)
            except ConfigError as exc:
                raise ConfigError(f"--instrument {instrument!r}: {exc}") from exc
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError as exc:
            raise ConfigError(f"--start/--end must be YYYY-MM-DD dates: {exc}") from exc
        if first >= last:
            raise ConfigError(f"--end {end} must be after --start {start} (end is exclusive)")
        if not 1 <= chunk_days <= 30:
            raise ConfigError(f"--chunk-days must be 1-30, was {chunk_days}")
        if pace_secs < 0 or backoff_secs < 0:
            raise ConfigError("--pace-secs and the backoff must be >= 0")
        return cls(
            instrument, first, last, Path(catalog), bid_ask, chunk_days, pace_secs, backoff_secs
        )

    def chunks(self, roll_offset_days: int) -> list[Chunk]:
        """The chunks to fetch, each with the contract traded on its first day."""
        symbol = self.instrument.split(".")[0]
        result = []
        day = self.start
        while day < self.end:
            stop = min(day + timedelta(days=self.chunk_days), self.end)
            if symbol in SPECS:
                year, month = front_month(symbol, day, roll_offset_days)
                root = symbol
            else:
                parsed = parse_contract_symbol(symbol, decade_hint=day.year)
                root, year, month = parsed.root, parsed.year, parsed.month
            result.append(Chunk(day, stop, root, year, month))
            day = stop
        return result


@dataclass(frozen=True)
class Chunk:
    """Days [start, end) of one contract."""

    start: date
    end: date
    root: str
    year: int
    month: int

    @property
    def local_symbol(self) -> str:
        """IB's localSymbol, e.g. ``MESZ5``."""
        return contract_symbol(self.root, self.year, self.month)

    @property
    def key(self) -> str:
        """The progress-file key."""
        return f"{self.local_symbol}:{self.start.isoformat()}:{self.end.isoformat()}"


@dataclass
class FetchSummary:
    """What a fetch did."""

    catalog: Path
    chunks_total: int = 0
    chunks_skipped: int = 0  # already done by an earlier run
    chunks_fetched: int = 0
    bars: int = 0
    quotes: int = 0
    requests: int = 0
    pacing_retries: int = 0
    contracts: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The report printed by the command."""
        lines = [
            f"data fetch into {self.catalog}: {self.chunks_fetched} chunk(s) fetched, "
            f"{self.chunks_skipped} already done (of {self.chunks_total}); {self.bars} bars, "
            f"{self.quotes} quote ticks, {self.requests} requests, "
            f"{self.pacing_retries} pacing retries; contracts: "
            f"{', '.join(sorted(self.contracts)) or '-'}"
        ]
        for failure in self.failed:
            lines.append(f"  FAILED {failure}")
        if self.failed:
            lines.append("  run the same command again to resume the failed chunks")
        return "\n".join(lines)


class ProgressFile:
    """The finished chunks of one instrument/kind, written atomically after each chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.done: set[str] = set(json.loads(path.read_text())["done"])
        except FileNotFoundError:
            self.done = set()
        except (ValueError, KeyError, TypeError) as exc:
            raise DataFetchError(
                f"{path} is not a fetch progress file ({exc}): delete it to start over"
            ) from exc

    def mark(self, key: str) -> None:
        """Record a finished chunk."""
        self.done.add(key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"done": sorted(self.done)}, indent=1) + "\n")
        os.replace(tmp, self.path)


def fetch_bars(
    settings: LiveSettings,
    request: FetchRequest,
    client_id: int,
    progress: bool = True,
) -> FetchSummary:
    """Download the request's bars into the catalog (resumable); returns a summary."""
    ib = settings.ib
    probe_gateway(ib.host, ib.port, ib.probe_timeout_secs)
    return asyncio.run(_fetch(settings, request, client_id, progress))


async def _fetch(
    settings: LiveSettings, request: FetchRequest, client_id: int, progress: bool
) -> FetchSummary:
    from nautilus_trader.adapters.interactive_brokers.historical.client import (
        HistoricInteractiveBrokersClient,
    )
    from nautilus_trader.persistence.catalog import ParquetDataCatalog
    from tqdm import tqdm

    ib = settings.ib
    request.catalog.mkdir(parents=True, exist_ok=True)
    catalog = ParquetDataCatalog(str(request.catalog))
    kind = "last+bidask" if request.bid_ask else "last"
    state = ProgressFile(
        request.catalog / PROGRESS_DIR / f"{request.instrument}-{kind}.json".replace("/", "_")
    )
    chunks = request.chunks(settings.instrument.roll_offset_days)
    summary = FetchSummary(request.catalog, chunks_total=len(chunks))
    todo = [c for c in chunks if c.key not in state.done]
    summary.chunks_skipped = len(chunks) - len(todo)
    if not todo:
        return summary

    client = HistoricInteractiveBrokersClient(
        host=ib.host, port=ib.port, client_id=client_id, log_level="WARNING"
    )
    errors = _capture_request_errors(client)
    await client.connect()
    pacer = _Pacer(request.pace_secs)
    written_instruments: set[str] = set()
    bar = tqdm(
        total=len(chunks), initial=summary.chunks_skipped, unit="chunk", disable=not progress
    )
    try:
        for chunk in todo:
            bar.set_description(f"{chunk.local_symbol} {chunk.start}")
            contract = _ib_contract(chunk)
            if chunk.local_symbol not in written_instruments:
                instruments = await client.request_instruments(contracts=[contract])
                if not instruments:
                    summary.failed.append(f"{chunk.key}: IB does not know {chunk.local_symbol}")
                    bar.update(1)
                    continue
                catalog.write_data(instruments)
                written_instruments.add(chunk.local_symbol)
            specs = [
                "1-MINUTE-LAST",
                *(["1-MINUTE-BID", "1-MINUTE-ASK"] if request.bid_ask else []),
            ]
            fetched: dict[str, list[Any]] = {}
            failure = None
            for spec in specs:
                bars, failure = await _request_chunk(
                    client, errors, pacer, contract, chunk, spec, request, summary
                )
                if failure:
                    break
                fetched[spec] = bars
            if failure:
                summary.failed.append(f"{chunk.key} {failure}")
                bar.update(1)
                continue
            last = fetched["1-MINUTE-LAST"]
            if last:
                catalog.write_data(last)
            quotes = _quotes(fetched.get("1-MINUTE-BID", []), fetched.get("1-MINUTE-ASK", []))
            if quotes:
                catalog.write_data(quotes)
            state.mark(chunk.key)
            summary.chunks_fetched += 1
            summary.bars += len(last)
            summary.quotes += len(quotes)
            summary.contracts.add(chunk.local_symbol)
            bar.update(1)
    finally:
        bar.close()
        await _disconnect(client)
    return summary


async def _request_chunk(
    client: Any,
    errors: list[tuple[int, int, str]],
    pacer: _Pacer,
    contract: Any,
    chunk: Chunk,
    spec: str,
    request: FetchRequest,
    summary: FetchSummary,
) -> tuple[list[Any], str | None]:
    """One chunk of one bar kind, retried after pacing violations; (bars, failure)."""
    start = datetime.combine(chunk.start, datetime.min.time(), UTC)
    end = datetime.combine(chunk.end, datetime.min.time(), UTC)
    days = (chunk.end - chunk.start).days
    for _ in range(MAX_RETRIES + 1):
        await pacer.wait()
        errors.clear()
        summary.requests += 1
        bars = await client.request_bars(
            bar_specifications=[spec],
            end_date_time=end.replace(tzinfo=None),  # naive + tz_name (it refuses aware times)
            duration=f"{days} D",
            tz_name="UTC",
            contracts=[contract],
            use_rth=False,
            timeout=60,
        )
        problems = [text for _, code, text in errors if code not in (200, 2104, 2106, 2158)]
        if any(PACING_TEXT in text.lower() for text in problems):
            summary.pacing_retries += 1
            await asyncio.sleep(request.backoff_secs)
            continue
        real = [text for text in problems if NO_DATA_TEXT not in text.lower()]
        if real and not bars:
            return [], f"{spec}: {real[-1]}"
        lo, hi = int(start.timestamp() * 1e9), int(end.timestamp() * 1e9)
        return [_stamped_at_close(b) for b in bars if lo < b.ts_init <= hi], None
    return [], f"{spec}: still paced out after {MAX_RETRIES} retries"


async def _disconnect(client: Any) -> None:
    """Stop the IB client and let its tasks wind down (no public disconnect in 1.231)."""
    client._client.stop()
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if pending:
        await asyncio.wait(pending, timeout=5)


def _capture_request_errors(client: Any) -> list[tuple[int, int, str]]:
    """Record the errors IB sends for requests, and end the failed request at once.

    Nautilus 1.231 handles an error on a historical request (pacing violation, no data, no
    permissions) by dropping the request without resolving its future: the caller waits the
    whole request timeout and then gets an empty list, indistinguishable from a quiet day.
    The fetch needs the error (to retry or to leave the chunk unfinished) and no wait, so it
    wraps the client's error dispatch.
    """
    errors: list[tuple[int, int, str]] = []
    inner = client._client
    original = inner.process_error

    async def _process_error(**kwargs: Any) -> None:
        req_id = kwargs.get("req_id", -1)
        request = inner._requests.get(req_id=req_id) if req_id != -1 else None
        if req_id != -1:
            errors.append((req_id, kwargs["error_code"], kwargs["error_string"]))
        await original(**kwargs)
        if request is not None and not request.future.done():
            request.future.set_result([])

    inner.process_error = _process_error
    return errors


def _stamped_at_close(bar: Any) -> Any:
    """The bar with ``ts_event`` at its close, like the bundled catalog.

    The IB adapter stamps ``ts_event`` with the bar's start (and ``ts_init`` with its close);
    a backtest must not see a bar before it closed.
    """
    from nautilus_trader.model.data import Bar

    return Bar(
        bar.bar_type, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.ts_init, bar.ts_init
    )


def _ib_contract(chunk: Chunk) -> Any:
    from nautilus_trader.adapters.interactive_brokers.common import IBContract

    return IBContract(
        secType="FUT",
        exchange="CME",
        symbol=chunk.root,
        localSymbol=chunk.local_symbol,
        lastTradeDateOrContractMonth=f"{chunk.year:04d}{chunk.month:02d}",
        includeExpired=True,  # past contracts are expired at IB
    )


def _quotes(bids: list[Any], asks: list[Any]) -> list[Any]:
    """One quote tick per minute where both a BID and an ASK bar exist (close prices)."""
    from nautilus_trader.model.data import QuoteTick
    from nautilus_trader.model.objects import Quantity

    by_time = {b.ts_event: b for b in bids}
    quotes = []
    size = Quantity.from_int(1)
    for ask in asks:
        bid = by_time.get(ask.ts_event)
        if bid is None or bid.close > ask.close:
            continue
        quotes.append(
            QuoteTick(
                instrument_id=ask.bar_type.instrument_id,
                bid_price=bid.close,
                ask_price=ask.close,
                bid_size=size,
                ask_size=size,
                ts_event=ask.ts_event,
                ts_init=ask.ts_event,
            )
        )
    return quotes


class _Pacer:
    """At most one request every ``interval`` seconds (monotonic clock)."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: float | None = None

    async def wait(self) -> None:
        """Sleep until the next request is allowed."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            await asyncio.sleep(self.interval - (now - self._last))
        self._last = self.clock()
