"""The live contract roll: when the traded front month stops being front, and what comes next.

A node trading the root (``MES.CME``) picks the front month of the current CME trading day and
trades it until the start of the first trading day on which another contract is front (17:00
America/Chicago the evening before, e.g. Wednesday 17:00 for CME's Thursday roll date with
``roll_offset_days: 8``). That moment is the strategy's ``trade_until``: from the first bar at
or after it, no entries, cancel, close at market. Once flat, the node records the roll
(``<state_dir>/<trader_id>/contract_roll.json``) and exits with ``ROLL_EXIT_CODE``; the
supervisor starts it again and it trades the next contract. The record keeps the restarted
node on the new contract even if the machine's clock is behind the exchange's bars (the bars
decided the roll), and the start-up check refuses to trade while IB still holds a position in
an older contract of the root (a crash at the roll). Pinned contracts never roll.

Pure logic: no Nautilus imports.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from quant_scalper.instruments import contract_symbol, expiry_date, front_month

CHICAGO = ZoneInfo("America/Chicago")
CME_DAY_START = time(17, 0)  # the CME trading day starts the evening before, Chicago time
ROLL_EXIT_CODE = 75  # EX_TEMPFAIL: "try again", restarted by systemd's Restart=on-failure
RECORD_FILE = "contract_roll.json"


def trading_day(now: datetime | None = None) -> date:
    """The CME trading day at ``now``: the Chicago date, or the next one from 17:00 Chicago."""
    local = (now or datetime.now(UTC)).astimezone(CHICAGO)
    return local.date() + timedelta(days=1) if local.time() >= CME_DAY_START else local.date()


def day_start(day: date) -> datetime:
    """When the CME trading day ``day`` starts: 17:00 Chicago the calendar day before (UTC)."""
    return datetime.combine(day - timedelta(days=1), CME_DAY_START, tzinfo=CHICAGO).astimezone(UTC)


def roll_day(year: int, month: int, roll_offset_days: int) -> date:
    """The first trading day on which the contract is no longer the front month
    (``quant_scalper.instruments.front_month``: expiry minus the offset)."""
    return expiry_date(year, month) - timedelta(days=roll_offset_days)


def roll_moment(year: int, month: int, roll_offset_days: int) -> datetime:
    """When the contract stops being the front month: the start of its roll day (UTC)."""
    return day_start(roll_day(year, month, roll_offset_days))


def next_front(root: str, year: int, month: int, roll_offset_days: int) -> tuple[int, int]:
    """The (year, month) that is front on the contract's roll day."""
    return front_month(root, roll_day(year, month, roll_offset_days), roll_offset_days)


@dataclass(frozen=True)
class RollRecord:
    """A roll the node completed: flat on ``from_symbol``, restarting on ``to``."""

    root: str
    from_symbol: str  # e.g. MESZ6
    to_year: int
    to_month: int
    at: str  # ISO-8601 UTC: the roll moment

    @property
    def to_symbol(self) -> str:
        """IB's localSymbol of the contract rolled to."""
        return contract_symbol(self.root, self.to_year, self.to_month)


def record_path(state_dir: Path, trader_id: str) -> Path:
    """Where the roll record of a trader lives."""
    return Path(state_dir) / trader_id / RECORD_FILE


def write_record(state_dir: Path, trader_id: str, record: RollRecord) -> Path:
    """Write the record atomically (temp file, fsync, rename); returns its path."""
    path = record_path(state_dir, trader_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    data = json.dumps(record.__dict__, sort_keys=True).encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def read_record(state_dir: Path, trader_id: str) -> RollRecord | None:
    """The last roll record, or None when there is none or it cannot be read (a bad record is
    ignored: the calendar alone then picks the contract)."""
    try:
        raw = json.loads(record_path(state_dir, trader_id).read_text(encoding="utf-8"))
        return RollRecord(
            root=str(raw["root"]),
            from_symbol=str(raw["from_symbol"]),
            to_year=int(raw["to_year"]),
            to_month=int(raw["to_month"]),
            at=str(raw["at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def leftover_positions(
    root: str,
    traded: tuple[int, int],
    positions: dict[str, tuple[int, int, Decimal]],
) -> dict[str, Decimal]:
    """Positions IB holds in contracts of ``root`` expiring before the traded one (symbol ->
    signed quantity): left over from a roll the node did not finish. ``positions`` maps IB's
    localSymbol to (year, month, quantity) for the root's contracts."""
    return {
        symbol: qty
        for symbol, (year, month, qty) in positions.items()
        if qty != 0 and (year, month) < traded
    }


def leftover_message(root: str, traded_symbol: str, leftovers: dict[str, Decimal]) -> str:
    """The refusal a trader can act on when old-contract positions are left at IB."""
    held = ", ".join(f"{symbol} {qty:+}" for symbol, qty in sorted(leftovers.items()))
    return (
        f"refusing to start on {traded_symbol}: IB holds {held}, an older {root} contract this "
        "node no longer trades (a roll that did not finish: crash or stop before its flatten "
        "filled). Its bracket, if any, still works at IB. Close it in TWS, or stop the node and "
        "run `quant-scalper flatten --config ...` (closes every position of the root), then "
        "start again"
    )
