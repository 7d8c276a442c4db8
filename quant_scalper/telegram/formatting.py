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
    Rule.ORDER_REFUSED: "ORDER REFUSED",
    Rule.POSITION_MISMATCH: "POSITION MISMATCH",
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


# -- lifecycle, heartbeat and feed alerts ---------------------------------------------------


def started_text(trader_id: str, mode: str) -> str:
    """The alert sent when the actor starts."""
    return f"node {trader_id} started ({mode})"


def stopping_text(trader_id: str, day_pnl: Decimal) -> str:
    """The alert sent when the node stops."""
    return f"node {trader_id} stopping; day P&L {usd(day_pnl)}"


def heartbeat_text(trader_id: str, position: str, day_pnl: Decimal) -> str:
    """The periodic proof of life: position and the day's realized P&L."""
    return f"heartbeat: node {trader_id} alive, {position}, day P&L {usd(day_pnl)}"


def daily_summary_title(day: date) -> str:
    """The title of the summary sent at the session close."""
    return f"DAILY SUMMARY {day}"


def pnl_title(period: str) -> str:
    """The title of a /pnl reply."""
    return f"P&L this {period}"


def connection_lost_text(detail: str) -> str:
    """The alert for a broker connection lost (the detail may be empty)."""
    return f"CONNECTION LOST: {detail}".rstrip(": ")


def connection_restored_text(detail: str) -> str:
    """The alert for a broker connection back after a loss."""
    return f"CONNECTION RESTORED: {detail}".rstrip(": ")


def stale_data_text(age_secs: float) -> str:
    """The alert for no market data while the market is open."""
    return f"CONNECTION LOST? no market data for {age_secs:.0f} s while the market is open"


DATA_RESTORED_TEXT = "CONNECTION RESTORED: market data flowing again"


def health_alert_text(text: str) -> str:
    """An alert relayed from the health actor."""
    return f"HEALTH: {text}"


def order_error_text(kind: str, order_id: str, reason: str, suppressed: int) -> str:
    """The alert for a denied or rejected order, counting the similar ones held back."""
    more = f" (+{suppressed} similar suppressed)" if suppressed else ""
    return f"ERROR {kind} {order_id}: {reason}{more}"


# -- operator command replies ----------------------------------------------------------------


def command_failed_text(exc: Exception) -> str:
    """The reply when running a command raised."""
    return f"command failed: {type(exc).__name__}: {exc}"


def stale_command_text(verb: str, age_secs: float) -> str:
    """The reply to a command sent while the node was not listening."""
    return (
        f"ignored /{verb}: sent {age_secs:.0f} s ago while the node was not "
        "listening; send it again if you still mean it"
    )


def flatten_prompt_text(confirm_secs: int) -> str:
    """The reply to /flatten: it needs a /confirm."""
    return f"flatten: send /confirm within {confirm_secs} s to close the position at market"


def flatten_cancelled_text(confirm_secs: int) -> str:
    """The message when a /flatten was not confirmed in time."""
    return f"flatten cancelled: no /confirm within {confirm_secs} s"


CONFIRM_EXPIRED_TEXT = "too late: the /flatten expired; send /flatten again"
CONFIRM_OTHER_CHAT_TEXT = "the pending /flatten was asked in another chat: confirm it there"
CONFIRM_NOTHING_TEXT = "nothing to confirm: send /flatten first"


def no_answer_text(command: str) -> str:
    """The reply when no strategy answered a control command."""
    return f"{command}: no strategy answered (is it running?)"


def control_result_text(command: object, result: object) -> str:
    """The reply carrying what the strategy did with a command."""
    return f"{command}: {result}"


# -- /status ------------------------------------------------------------------------------


def position_line(
    side: str, quantity: object, instrument: str, avg_px: object, open_pnl: Decimal | None
) -> str:
    """One open position for /status and the heartbeat."""
    pnl = f", open P&L {usd(open_pnl)}" if open_pnl is not None else ""
    return f"{side} {quantity} {instrument} @ {avg_px}{pnl}"


def day_line(state: RiskState | None, day: PeriodSummary) -> str:
    """The day's P&L: the breakers' figures when their state is readable, else the trades'."""
    if state is not None:
        return (
            f"day P&L {usd(state.daily_pnl)} (realized {usd(state.realized_pnl)}, "
            f"open {usd(state.open_pnl)}), {state.trades_today} trade(s)"
        )
    return f"day P&L realized {usd(day.net_pnl)}, {day.trades} trade(s)"


def data_line(stalled: bool, age_secs: float | None, connected: bool | None) -> str:
    """Market data freshness (``age_secs`` None: nothing yet) and the broker link."""
    if stalled:
        text = "market data: STALLED"
    elif age_secs is not None:
        text = f"market data: {age_secs:.0f} s ago"
    else:
        text = "market data: none yet"
    if connected is not None:
        text += f", broker {'connected' if connected else 'DISCONNECTED'}"
    return text


def outbox_line(sent: int, pending: int, dropped: int) -> str:
    """The outbox's counters for /status."""
    return f"telegram: sent {sent}, queued {pending}, dropped {dropped}"


def status_header(now: datetime, trading_day: date) -> str:
    """The first /status line: the time and the CME trading day."""
    return f"status {now:%Y-%m-%d %H:%M:%S} UTC, trading day {trading_day}"
