"""The plain-text backtest report printed by ``quant-scalper backtest``.

Every figure comes from ``outcome.stats`` (``quant_scalper.analysis.stats``); the report states
how return statistics are defined and how many days of what kind the data holds.
"""

from __future__ import annotations

from decimal import Decimal

from quant_scalper.analysis.stats import MIN_SHARPE_DAYS, SharpeEstimate, format_duration
from quant_scalper.backtest.runner import STATISTICS_DEFINITION, BacktestOutcome

DATA_NOTE = (
    "Data: CME E-mini S&P 500 (ES) front-month 1-minute bars and bid/ask (QuantConnect LEAN, "
    "Apache-2.0), traded with the MES contract spec (same index, multiplier 5 = 1/10 of ES)."
)


def format_report(outcome: BacktestOutcome) -> str:
    """Render the outcome as the aligned text table traders read in a terminal."""
    s = outcome.summary
    stats = outcome.stats
    days = outcome.calendar.day_kinds()
    sharpe = stats.sharpe
    rows: list[tuple[str, str]] = [
        (
            "Contracts",
            ", ".join(f"{c.instrument_id} ({c.bar_count} bars)" for c in outcome.contracts),
        ),
        (
            "Trading days",
            f"{days['statistics_days']} with data ({days['session_days']} sessions, "
            f"{days['fragment_days']} evening fragments under half a session folded in; "
            f"{days['session_equivalents']:.2f} full sessions of bars)",
        ),
        ("Account size", _usd(stats.account_size)),
        ("Trades", f"{s.trades} (long {s.long_trades} / short {s.short_trades})"),
        ("Win rate", _pct(s.win_rate)),
        ("Profit factor", _ratio(s.profit_factor)),
        ("Net P&L after fees", _usd(s.net_pnl)),
        ("Fees", _usd(s.fees)),
        ("Sharpe (per trading day, annualised)", _sharpe(sharpe)),
        ("Sortino (per trading day, annualised)", _ratio(stats.sortino_ratio)),
        ("Max drawdown", f"{_usd(s.max_drawdown_usd)} ({_pct(s.max_drawdown_pct)})"),
        ("Max drawdown duration", f"{format_duration(stats.max_drawdown_duration)} trading time"),
        ("Average holding time", format_duration(s.average_holding_time)),
    ]
    if outcome.open_positions:
        rows.append(("Open at end", "; ".join(outcome.open_positions)))
    rows.append(("Circuit-breaker trips", str(len(outcome.trips))))
    rows.append(("Trading-day rolls", str(len(outcome.day_rolls))))
    width = max(len(label) for label, _ in rows)
    lines = ["quant-scalper backtest", DATA_NOTE, ""]
    lines += [f"{label:<{width}}  {value}" for label, value in rows]
    lines += ["", f"Statistics: {STATISTICS_DEFINITION}"]
    if sharpe.warning:
        lines.append(f"Warning: {sharpe.warning} (the interval says how little it pins down).")
    if outcome.trips:
        lines += ["", "Circuit-breaker trips (UTC):"]
        lines += [f"  {t.at:%Y-%m-%d %H:%M}  {t.rule.value:<18} {t.reason}" for t in outcome.trips]
    if outcome.files:
        lines += ["", "Files:"] + [f"  {name:<10} {path}" for name, path in outcome.files.items()]
    return "\n".join(lines)


def _sharpe(sharpe: SharpeEstimate) -> str:
    if sharpe.sharpe is None:
        return f"n/a ({sharpe.days} trading days)"
    flag = "" if sharpe.days >= MIN_SHARPE_DAYS else f", fewer than {MIN_SHARPE_DAYS}: noise"
    return (
        f"{sharpe.sharpe:.2f} (95 % CI {sharpe.ci_low:.2f} .. {sharpe.ci_high:.2f}, "
        f"{sharpe.days} days{flag})"
    )


def _usd(value: Decimal) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
