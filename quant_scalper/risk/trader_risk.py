"""One trader's risk: the breakers, their state file, the trips, the fill journal and bookings.

The circuit breakers belong to the trader, not to one contract: the backtest's front-month
expansion runs one strategy instance per contract and a live node keeps one risk state across
a roll, so every instance shares one ``TraderRisk`` (the first to start opens it, the others
are handed it explicitly). It loads the newest of the state file and Nautilus's cached state
(an unreadable one starts halted), saves the state whenever its version moved (reporting
failures so the strategy goes reduce-only), and books closed trades once each: the ones the
strategy sees close and the ones IB executed while the node was down. Pure: no Nautilus import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from quant_scalper.control import ControlChannel
from quant_scalper.risk.bookkeeping import (
    Booking,
    ClosedTrade,
    ExternalFill,
    booked_as_inferred,
    booking_for,
    match_external,
    round_trips,
)
from quant_scalper.risk.core import RiskCore, SubCentAmountError
from quant_scalper.risk.fill_journal import FillJournal
from quant_scalper.risk.model import RiskLimits, RiskState, Trip
from quant_scalper.risk.persistence import SaveOutcome, StateSaver
from quant_scalper.risk.session import SessionSchedule
from quant_scalper.risk.state_store import CorruptRiskStateError, RiskStateError, RiskStateStore


@dataclass(frozen=True, slots=True)
class Booked:
    """A trade booked in the risk state: what was booked and the trips it caused."""

    booking: Booking
    trips: list[Trip]


class TraderRisk:
    """The breakers and everything kept with them for one trader (see the module docstring)."""

    def __init__(
        self,
        breakers: RiskCore,
        store: RiskStateStore | None = None,
        *,
        state_dir: str | Path | None = None,
        trader_id: str = "",
    ) -> None:
        self.breakers = breakers
        self.store = store
        self.saver = StateSaver(store)
        self.trips: list[Trip] = []
        """Every trip of the run, in order (the state file keeps only the newest)."""
        self.control: ControlChannel | None = None
        self.journal: FillJournal | None = None
        if state_dir is not None:
            self.control = ControlChannel(state_dir, trader_id)
            self.journal = FillJournal(state_dir, trader_id)

    @classmethod
    def open(
        cls,
        limits: RiskLimits,
        schedule: SessionSchedule,
        *,
        now: datetime,
        state_dir: str | Path | None,
        trader_id: str,
        cached: RiskState | None = None,
        cached_error: RiskStateError | None = None,
        on_trip: Callable[[Trip], None] | None = None,
    ) -> tuple[TraderRisk, RiskStateError | None]:
        """The trader's risk from the newest of its state file and ``cached`` (Nautilus's
        cache); with the problem when one is unreadable, in which case it starts halted."""
        store = RiskStateStore(state_dir, trader_id) if state_dir is not None else None
        state, problem = _newest_state(store, cached, cached_error)
        risk: TraderRisk

        def record(trip: Trip) -> None:
            risk.trips.append(trip)
            if on_trip is not None:
                on_trip(trip)

        breakers = RiskCore(limits, schedule, on_trip=record)
        risk = cls(breakers, store, state_dir=state_dir, trader_id=trader_id)
        if state is not None:
            try:
                breakers.load_state(state)
            except SubCentAmountError as exc:
                problem = CorruptRiskStateError(f"risk state amounts are not whole cents: {exc}")
        if problem is not None:
            breakers.kill(now, f"risk state unreadable: {problem}")
        return risk, problem

    @property
    def state(self) -> RiskState:
        """A snapshot of the breakers' state."""
        return self.breakers.state

    @property
    def halted(self) -> bool:
        """True while the kill switch is on (or the state was unreadable at start)."""
        return self.breakers.state.halted

    def persist(self) -> SaveOutcome:
        """Write the state file when the state changed (or a save is being retried)."""
        if not self.saver.pending(self.breakers.version):
            return SaveOutcome.UNCHANGED
        return self.saver.save(self.breakers.state)

    # -- booking -------------------------------------------------------------------------------

    def book_closed(
        self, now: datetime, trade: ClosedTrade, fee_per_contract: Decimal | None
    ) -> Booked | None:
        """Book a trade the strategy saw close (None: booked already), with the configured fee
        for fills Nautilus inferred and a flatten's real price and fee."""
        pending = self.journal.pending() if self.journal is not None else []
        external = match_external(trade, pending, self.breakers.state.booked_trades)
        return self._book(now, booking_for(trade, fee_per_contract, external))

    def replay_executions(
        self,
        now: datetime,
        symbol: str,
        position: Decimal,
        multiplier: Decimal,
        log: Callable[[str], None],
        *,
        others_flat: bool = False,
    ) -> list[Booked]:
        """At start: turn the trading day's executions of ``symbol`` in the fill journal (IB's,
        written before the node started, and the flatten's) into round trips and book each one
        not booked yet, so a close made while the node was down reaches the risk state once,
        with its real fees. With ``others_flat`` (a front-month node after a roll) the day's
        executions of the journal's other contracts are replayed too, as ending flat (the node
        refuses to start while IB holds an older contract). ``log`` gets one line per note."""
        if self.journal is None:
            return []
        schedule = self.breakers.schedule
        day = schedule.trading_day(now)
        by_symbol: dict[str, list[ExternalFill]] = {}
        for fill in self.journal.pending():
            if (fill.symbol == symbol or others_flat) and schedule.trading_day(fill.at) == day:
                by_symbol.setdefault(fill.symbol, []).append(fill)
        booked: list[Booked] = []
        for name in sorted(by_symbol, key=lambda n: (n == symbol, n)):  # older contracts first
            end = position if name == symbol else Decimal(0)
            booked += self._replay(now, name, by_symbol[name], end, multiplier, log)
        return booked

    def _replay(
        self,
        now: datetime,
        symbol: str,
        fills: list[ExternalFill],
        position: Decimal,
        multiplier: Decimal,
        log: Callable[[str], None],
    ) -> list[Booked]:
        bookings, notes = round_trips(fills, position, multiplier)
        for note in notes:
            log(f"Replaying {symbol} executions: {note}")
        booked: list[Booked] = []
        for booking in bookings:
            known = self.breakers.state.booked_trades
            twin = booked_as_inferred(booking, known)
            if twin is not None and booking.key not in known:
                log(f"Execution {booking.key} was booked live as {twin}: not again")
                continue
            done = self._book(now, booking)
            if done is not None:
                booked.append(done)
        return booked

    def _book(self, now: datetime, booking: Booking) -> Booked | None:
        trips = self.breakers.book_closed_trade(
            now, booking.key, booking.closed_at, booking.pnl_net
        )
        return None if trips is None else Booked(booking, trips)


def _newest_state(
    store: RiskStateStore | None,
    cached: RiskState | None,
    cached_error: RiskStateError | None,
) -> tuple[RiskState | None, RiskStateError | None]:
    """The newest of the state file and the cached state; an unreadable one is a problem."""
    from_file: RiskState | None = None
    if store is not None:
        try:
            from_file = store.load()
        except RiskStateError as exc:
            return None, exc
    if cached_error is not None:
        return None, cached_error
    candidates: Sequence[RiskState] = [s for s in (from_file, cached) if s is not None]
    if not candidates:
        return None, None
    return max(candidates, key=lambda s: s.version), None
