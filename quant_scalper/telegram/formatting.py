"""Alert and reply texts (pure: Decimal money, explicit times, no Nautilus imports).

Plain text on purpose (no Markdown): a reason or a symbol can never break the parser and bounce
the message. Money is always ``Decimal`` and printed to the cent with its sign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from quant_scalper.analysis.metrics import ClosedTrade, max_drawdown
from quant_scalper.risk import RiskState, Rule, SessionSchedule, Trip

_CENT = Decimal("0.01")


def usd(value: Decimal, signed: bool = True) -> str:
    """``Decimal('-12.5')`` as ``-$12.50`` (``+$`` for gains when ``signed``)."""
    amount = value.quantize(_CENT, rounding=ROUND_HALF_EVEN)
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    return f"{sign}${abs(amount):,.2f}"


def held(duration: timedelta) -> str:
    """A holding time as ``1h 05m`` / ``4m 10s``."""
    secs = max(int(duration.total_seconds()), 0)
    hours, rest = divmod(secs, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def entry_alert(
    instrument: str, side: str, quantity: Decimal, price: Decimal, z: float | None, fees: Decimal
) -> str:
    """The alert for a position opened by an entry fill."""
    z_text = f", z={z:+.2f}" if z is not None else ""
    return f"ENTRY {side} {quantity} {instrument} @ {price}{z_text}\nfees {usd(fees, signed=False)}"


def exit_alert(trade: ClosedTrade, day_pnl: Decimal | None = None) -> str:
    """The alert for a closed round trip: prices, net P&L, fees, holding time."""
    lines = [
        f"EXIT {trade.side} {trade.quantity} {trade.instrument_id} @ {trade.exit_price} "
        f"(in @ {trade.entry_price})",
        f"P&L {usd(trade.realized_pnl)} net, fees {usd(trade.fees, signed=False)}, "
        f"held {held(trade.holding_time)}",
    ]
    if day_pnl is not None:
        lines.append(f"day realized {usd(day_pnl)}")
    return "\n".join(lines)


_TRIP_TITLES = {
    Rule.DAILY_LOSS_LIMIT: "BREAKER daily loss limit",
    Rule.CONSECUTIVE_LOSSES: "BREAKER losing streak",
    Rule.MAX_HOLDING_TIME: "BREAKER max holding time",
    Rule.SESSION_GUARD: "BREAKER session guard",
    Rule.KILL_SWITCH: "KILL SWITCH",
    Rule.RESUME: "RESET resumed",
    Rule.DAY_ROLL: "RESET new trading day",
    Rule.MANUAL_PAUSE: "PAUSE",
}


def trip_alert(trip: Trip) -> str:
    """The alert for a circuit-breaker trip or reset."""
    title = _TRIP_TITLES.get(trip.rule, f"RISK {trip.rule.value}")
    return f"{title}: {trip.reason} ({trip.at:%Y-%m-%d %H:%M:%S} UTC)"


@dataclass(frozen=True, slots=True)
class PeriodSummary:
    """What /pnl and the daily summary report about a set of closed trades."""

    trades: int
    winners: int
    net_pnl: Decimal
    fees: Decimal
    worst_drawdown: Decimal

    @property
    def win_rate(self) -> float | None:
        """Winners over trades, None without trades."""
        return self.winners / self.trades if self.trades else None


def summarize(trades: Sequence[ClosedTrade]) -> PeriodSummary:
    """Count, win rate, net P&L, fees and the worst drawdown of the realized P&L from zero."""
    ordered = sorted(trades, key=lambda t: t.closed_at)
    curve = [Decimal(0)]
    for trade in ordered:
        curve.append(curve[-1] + trade.realized_pnl)
    worst, _ = max_drawdown(curve)
    return PeriodSummary(
        trades=len(ordered),
        winners=sum(1 for t in ordered if t.realized_pnl > 0),
        net_pnl=curve[-1],
        fees=sum((t.fees for t in ordered), Decimal(0)),
        worst_drawdown=worst,
    )


def in_period(
    trades: Sequence[ClosedTrade], schedule: SessionSchedule, now: datetime, period: str
) -> list[ClosedTrade]:
    """The trades whose CME trading day is today's, this ISO week's or this month's."""
    today = schedule.trading_day(now)

    def same(day: date) -> bool:
        if period == "day":
            return day == today
        if period == "week":
            return day.isocalendar()[:2] == today.isocalendar()[:2]
        if period == "month":
            return (day.year, day.month) == (today.year, today.month)
        raise ValueError(f"period must be day, week or month, was {period!r}")

    return [t for t in trades if same(schedule.trading_day(t.closed_at))]


def summary_text(title: str, summary: PeriodSummary) -> str:
    """A P&L summary block (daily summary at the session close and /pnl)."""
    rate = f"{summary.win_rate:.0%}" if summary.win_rate is not None else "n/a"
    return "\n".join(
        [
            title,
            f"trades {summary.trades}, win rate {rate}",
            f"P&L {usd(summary.net_pnl)} net of fees {usd(summary.fees, signed=False)}",
            f"worst drawdown {usd(-summary.worst_drawdown) if summary.worst_drawdown else '$0.00'}",
        ]
    )


def trades_text(trades: Sequence[ClosedTrade], count: int) -> str:
    """The last ``count`` closed trades, newest first."""
    recent = sorted(trades, key=lambda t: t.closed_at)[-count:][::-1]
    if not recent:
        return "no closed trades since the node started"
    lines = [f"last {len(recent)} trade(s), newest first:"]
    for t in recent:
        lines.append(
            f"{t.closed_at:%m-%d %H:%M} {t.side} {t.quantity} {t.entry_price}->{t.exit_price} "
            f"{usd(t.realized_pnl)} (fees {usd(t.fees, signed=False)})"
        )
    return "\n".join(lines)


def breakers_text(state: RiskState | None, now: datetime) -> str:
    """One line on the circuit breakers, from the strategy's persisted risk state."""
    if state is None:
        return "breakers: state not available (set risk.state_dir)"
    parts = []
    if state.halted:
        parts.append(f"HALTED ({state.halt_reason})")
    if state.daily_limit_hit:
        parts.append("daily loss limit hit")
    if state.paused_until is not None and state.paused_until > now:
        parts.append(f"paused until {state.paused_until:%H:%M} UTC")
    parts.append(f"{state.consecutive_losses} loss(es) in a row")
    return "breakers: " + ", ".join(parts)


def latency_text(latency: dict) -> str:
    """One /status line: p50/p99 (last hour) of the in-process and IB stages, in ms."""
    parts = []
    for stage, label in (
        ("decision_to_submit", "signal->submit"),
        ("bar_to_sent", "bar->sent"),
        ("sent_to_accepted", "IB ack"),
    ):
        hour = (latency.get(stage) or {}).get("last_hour") or {}
        if hour.get("count"):
            parts.append(f"{label} p50 {hour['p50_us'] / 1e3:.2f} / p99 {hour['p99_us'] / 1e3:.2f}")
    return "latency (1 h, ms): " + ("; ".join(parts) if parts else "no signals yet")
