"""The plain-text backtest report printed by ``quant-scalper backtest``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from quant_scalper.backtest.runner import BacktestOutcome

DATA_NOTE = (
    "Data: CME E-mini S&P 500 (ES) front-month 1-minute bars and bid/ask (QuantConnect LEAN, "
    "Apache-2.0), traded with the MES contract spec (same index, multiplier 5 = 1/10 of ES)."
)


def format_report(outcome: BacktestOutcome) -> str:
    """Render the outcome as the aligned text table traders read in a terminal."""
    s = outcome.summary
    stats = outcome.nautilus_stats
    rows: list[tuple[str, str]] = [
        (
            "Contracts",
            ", ".join(f"{c.instrument_id} ({c.bar_count} bars)" for c in outcome.contracts),
        ),
        ("Trades", f"{s.trades} (long {s.long_trades} / short {s.short_trades})"),
        ("Win rate", _pct(s.win_rate)),
        ("Profit factor", _ratio(s.profit_factor)),
        ("Net P&L after fees", _usd(s.net_pnl)),
        ("Fees", _usd(s.fees)),
        ("Sharpe (daily, annualised)", _ratio(_stat(stats, "Sharpe Ratio"))),
        ("Max drawdown", f"{_usd(s.max_drawdown_usd)} ({_pct(s.max_drawdown_pct)})"),
        ("Average holding time", str(s.average_holding_time) if s.average_holding_time else "n/a"),
    ]
    if outcome.open_positions:
        rows.append(("Open at end", "; ".join(outcome.open_positions)))
    rows.append(("Circuit-breaker trips", str(len(outcome.trips))))
    width = max(len(label) for label, _ in rows)
    lines = ["quant-scalper backtest", DATA_NOTE, ""]
    lines += [f"{label:<{width}}  {value}" for label, value in rows]
    if outcome.trips:
        lines += ["", "Circuit-breaker trips (UTC):"]
        lines += [f"  {t.at:%Y-%m-%d %H:%M}  {t.rule.value:<18} {t.reason}" for t in outcome.trips]
    if outcome.files:
        lines += ["", "Files:"] + [f"  {name:<10} {path}" for name, path in outcome.files.items()]
    return "\n".join(lines)


def _stat(stats: dict[str, Any], prefix: str) -> float | None:
    for name, value in stats.items():
        if name.startswith(prefix):
            try:
                f = float(value)
            except (TypeError, ValueError):
                return None
            return None if f != f else f
    return None


def _usd(value: Decimal) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f} %"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
