"""Before the node starts: the day's executions IB reports, into the fill journal.

Nautilus 1.231's IB adapter reports only open orders at reconciliation, so the fills of an
order that completed while the node was down (a stop that filled) are dropped when no cache
database holds the order: the loss would never reach the risk state. ``quant-scalper live``
therefore reads IB's executions of the traded contract with the node's own client id (IB shows
a client the executions of its own orders) before building the node, and writes them to
``<state_dir>/<trader_id>/fills/``; the strategy replays them at start (``risk.bookkeeping``).

The same session reads the account's positions: a node trading the front month refuses to
start while IB holds a position in an older contract of the root (a roll that did not finish,
see ``live.roll``), since nothing would manage it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from quant_scalper.errors import QuantScalperError
from quant_scalper.live.config import LiveSettings
from quant_scalper.live.contract import LiveContract
from quant_scalper.live.errors import LiveRunError
from quant_scalper.risk.bookkeeping import ExternalFill
from quant_scalper.risk.fill_journal import FillJournal


def parse_ib_time(text: str) -> datetime:
    """IB's execution time (``20250301 14:31:05 US/Eastern`` or ``20250301-14:31:05`` UTC)."""
    if " " in text.strip():
        stamp, _, zone = text.strip().rpartition(" ")
        if ":" not in zone:  # "20250301 14:31:05 UTC"
            try:
                tz = ZoneInfo("UTC" if zone in ("Universal", "GMT") else zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone in IB time {text!r}") from None
        else:  # no zone: "20250301 14:31:05" is UTC
            stamp, tz = text.strip(), ZoneInfo("UTC")
    else:
        stamp, tz = text.strip().replace("-", " ", 1), ZoneInfo("UTC")
    return datetime.strptime(stamp, "%Y%m%d %H:%M:%S").replace(tzinfo=tz).astimezone(UTC)


def journal_ib_executions(
    settings: LiveSettings,
    contract: LiveContract,
    echo: Callable[[str], None] = print,
    timeout: float = 15.0,
) -> int:
    """Write IB's executions of ``contract`` (node's client id) to the fill journal; returns
    how many. A front-month node also journals the day's executions of the root's other
    contracts (the roll's close of the old one may have filled while no node ran).
    Raises LiveRunError when IB cannot list them (the node must not start blind)."""
    from quant_scalper.live.flatten import _Session

    ib = settings.ib
    local_symbol = contract.instrument_id.split(".")[0]
    session = _Session(ib.account_id)
    session.connect(ib.host, ib.port, ib.client_id)
    reader = threading.Thread(target=session.run, name="executions-ibapi", daemon=True)
    reader.start()
    try:
        if not session.wait(lambda: session.next_id is not None, timeout):
            raise LiveRunError(
                f"no API session with {ib.host}:{ib.port} as client id {ib.client_id} within "
                f"{timeout:g} s to read the day's executions: is that client id in use?"
            )
        executions = session.read_executions(contract.root, timeout)
        positions = session.read_positions(timeout) if contract.trade_until is not None else {}
    except QuantScalperError as exc:
        raise LiveRunError(f"cannot read IB's executions before starting: {exc}") from exc
    finally:
        session.close(reader)
    journal = FillJournal(settings.state_dir, settings.trader_id)
    count = 0
    others = 0
    for exec_id, (ib_contract, execution, fee) in executions.items():
        symbol = ib_contract.localSymbol or ib_contract.symbol
        if symbol != local_symbol:
            if contract.trade_until is None:
                continue  # a pinned contract: another month is not this node's business
            others += 1  # an older front month's close (the roll): replayed as flat
        else:
            count += 1
        journal.record(
            ExternalFill(
                exec_id=exec_id,
                symbol=symbol,
                buy=execution.side == "BOT",
                quantity=Decimal(str(execution.shares)),
                price=Decimal(str(execution.price)),
                commission=Decimal(str(fee)),
                at=parse_ib_time(execution.time),
            )
        )
    echo(
        f"quant-scalper live: {count} execution(s) of {local_symbol} today at IB, journaled"
        + (f" (and {others} of older {contract.root} contracts)" if others else "")
    )
    _refuse_roll_leftovers(contract, positions)
    return count


def _refuse_roll_leftovers(contract: LiveContract, positions: dict[int, tuple]) -> None:
    """LiveRunError when IB holds a position in an older contract of the traded root."""
    from quant_scalper.instruments import parse_contract_symbol
    from quant_scalper.live.roll import leftover_message, leftover_positions

    held = {}
    for ib_contract, qty in positions.values():
        symbol = ib_contract.localSymbol or ""
        if ib_contract.symbol != contract.root or ib_contract.secType != "FUT" or not symbol:
            continue
        try:
            month = parse_contract_symbol(symbol, decade_hint=contract.year)
        except QuantScalperError:
            continue
        expiry = str(ib_contract.lastTradeDateOrContractMonth or "")
        year = int(expiry[:4]) if expiry[:4].isdigit() else month.year
        held[symbol] = (year, month.month, Decimal(str(qty)))
    leftovers = leftover_positions(contract.root, (contract.year, contract.month), held)
    if leftovers:
        raise LiveRunError(leftover_message(contract.root, contract.local_symbol, leftovers))
