"""Run a backtest through Nautilus's ``BacktestNode`` and collect what the report needs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.analysis.reporter import ReportProvider
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.position import Position

from quant_scalper.analysis.metrics import ClosedTrade, TradeSummary, summarize_trades
from quant_scalper.analysis.stats import (
    PerformanceStats,
    TradingCalendar,
    compute_stats,
    daily_returns,
    format_duration,
)
from quant_scalper.backtest.ledger import RunLedger, find_ledger
from quant_scalper.backtest.run_config import TradedContract, build_run_config, resolve_contracts
from quant_scalper.config import BacktestSettings
from quant_scalper.errors import BacktestError
from quant_scalper.risk import Rule, Trip
from quant_scalper.strategy import ZScoreMeanReversion
from quant_scalper.trading_state import install_trading_state_bridge


@dataclass
class BacktestOutcome:
    """What one backtest produced: trades, their statistics, risk events and file paths.

    ``stats`` (``analysis.stats``, per CME trading day with data) holds every figure the
    report prints; ``nautilus_pnl`` keeps Nautilus's own trade P&L statistics for reference
    (its returns statistics resample to calendar days and are not used). ``trips`` are the
    circuit-breaker trips, ``day_rolls`` the trading-day rolls the breakers logged.
    """

    settings: BacktestSettings
    contracts: list[TradedContract]
    trades: list[ClosedTrade]
    open_positions: list[str]
    summary: TradeSummary
    stats: PerformanceStats
    calendar: TradingCalendar
    nautilus_pnl: dict[str, Any]
    bars_processed: int
    trips: list[Trip] = field(default_factory=list)
    day_rolls: list[Trip] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    journal_book: str | None = None  # the run's book in settings.journal, when one is written


def run_backtest(settings: BacktestSettings, write_files: bool = True) -> BacktestOutcome:
    """Run the configured backtest on the catalog and return its outcome (files optional)."""
    contracts = resolve_contracts(settings)
    run_id = None
    if settings.journal:
        from quant_scalper.journal.db import open_journal

        # refuse a newer, corrupt or unreachable journal now, in one line, not mid-run
        open_journal(settings.journal, settings.journal_password_env).dispose()
        run_id = journal_run_id()
    run_config = build_run_config(settings, contracts, journal_run_id=run_id)
    node = BacktestNode(configs=[run_config])
    try:
        try:
            node.build()
            _wire_engine(node.get_engine(run_config.id))
            results = node.run()
        except Exception as exc:  # Nautilus raises bare exceptions from deep inside the engine
            raise BacktestError(f"the backtest failed: {type(exc).__name__}: {exc}") from exc
        engine = node.get_engine(run_config.id)
        if engine is None or not results:
            raise BacktestError(
                "the backtest produced no result: run with log_level=INFO to see why"
            )
        ledger = find_ledger(engine.trader.actors())
        if ledger is None:
            raise BacktestError("the backtest ran without its ledger recorder (run config)")
        outcome = _collect(settings, contracts, engine, ledger)
        if run_id is not None:
            outcome.journal_book = f"backtest:{run_id}"
        if write_files:
            outcome.files = _write_files(settings, engine, ledger, outcome)
        return outcome
    finally:
        node.dispose()


def journal_run_id() -> str:
    """A backtest run's id in the journal: UTC start time and a random suffix (unique)."""
    import secrets
    from datetime import UTC, datetime

    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _wire_engine(engine: BacktestEngine) -> None:
    """Give the kill switch its risk-engine bridge, and all contracts one risk state.

    The front-month expansion runs one strategy instance per contract; the circuit breakers
    (daily loss, losing streak, kill switch) belong to the trader, so every instance shares the
    first one's breakers, as a live node keeps one risk state across a roll.
    """
    install_trading_state_bridge(engine.kernel.msgbus, engine.kernel.risk_engine)
    strategies = [s for s in engine.trader.strategies() if isinstance(s, ZScoreMeanReversion)]
    for follower in strategies[1:]:
        follower.share_risk_with(strategies[0])


def _collect(
    settings: BacktestSettings,
    contracts: list[TradedContract],
    engine: BacktestEngine,
    ledger: RunLedger,
) -> BacktestOutcome:
    from quant_scalper.research.data import catalog_calendar

    # Every closed round trip is in the ledger (the cache purges closed positions in the run);
    # open positions are never purged.
    trades = sorted((_closed_trade(p) for p in ledger.closed_positions), key=lambda t: t.closed_at)
    still_open = engine.cache.positions_open()
    open_positions = [
        f"{p.instrument_id} {p.side.name} {p.quantity} @ {p.avg_px_open}" for p in still_open
    ]
    starting = Decimal(settings.venue.starting_balance.split()[0])
    events: list[Trip] = []
    for strategy in engine.trader.strategies():
        for trip in getattr(strategy, "trips", []):
            if trip not in events:
                events.append(trip)
    events.sort(key=lambda t: t.at)
    calendar = catalog_calendar(settings)
    return BacktestOutcome(
        settings=settings,
        contracts=contracts,
        trades=trades,
        open_positions=open_positions,
        summary=summarize_trades(trades, starting),
        stats=compute_stats(trades, starting, calendar=calendar),
        calendar=calendar,
        nautilus_pnl=_nautilus_pnl(engine, settings, ledger.closed_positions + still_open),
        bars_processed=sum(c.bar_count for c in contracts),
        trips=[t for t in events if t.rule is not Rule.DAY_ROLL],
        day_rolls=[t for t in events if t.rule is Rule.DAY_ROLL],
    )


def _closed_trade(position: Position) -> ClosedTrade:
    fees = sum((m.as_decimal() for m in position.commissions()), Decimal(0))
    return ClosedTrade(
        instrument_id=str(position.instrument_id),
        side="LONG" if position.entry == OrderSide.BUY else "SHORT",
        quantity=position.peak_qty.as_decimal(),
        opened_at=pd.Timestamp(position.ts_opened, tz="UTC").to_pydatetime(),
        closed_at=pd.Timestamp(position.ts_closed, tz="UTC").to_pydatetime(),
        entry_price=Decimal(str(position.avg_px_open)),
        exit_price=Decimal(str(position.avg_px_close)),
        realized_pnl=position.realized_pnl.as_decimal(),
        fees=fees,
    )


def _nautilus_pnl(
    engine: BacktestEngine, settings: BacktestSettings, positions: list[Position]
) -> dict[str, Any]:
    """Nautilus's own trade P&L statistics (not its returns statistics: see the class).

    Recomputed by the portfolio's analyzer from every position of the run (the ledger's closed
    ones and the open ones), as Nautilus's end of run does from its cache when nothing is
    purged; the analyzer is reset first, since the ledger recorder clears it in the run.
    """
    analyzer = engine.portfolio.analyzer
    account = engine.cache.account_for_venue(_venue(settings))
    analyzer.reset()
    if account is None:
        return {}
    analyzer.calculate_statistics(account, positions)
    stats: dict[str, Any] = {}
    for currency in analyzer.currencies:
        for name, value in analyzer.get_performance_stats_pnls(currency).items():
            stats[f"{name} ({currency.code})"] = value
    return stats


def _write_files(
    settings: BacktestSettings,
    engine: BacktestEngine,
    ledger: RunLedger,
    outcome: BacktestOutcome,
) -> dict[str, Path]:
    out = settings.output_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BacktestError(
            f"cannot create the output folder {out}: {exc}; set output_dir"
        ) from exc
    files = {
        "fills": out / "fills.csv",
        "positions": out / "positions.csv",
        "account": out / "account.csv",
        "summary": out / "summary.json",
    }
    # From the ledger, with Nautilus's own report builder: the cache purged closed items.
    ReportProvider.generate_order_fills_report(ledger.filled_orders()).to_csv(files["fills"])
    ReportProvider.generate_positions_report(
        engine.cache.positions_open(), ledger.closed_positions
    ).to_csv(files["positions"])
    engine.trader.generate_account_report(venue=_venue(settings)).to_csv(files["account"])
    files["summary"].write_text(json.dumps(summary_dict(outcome), indent=2, default=str) + "\n")
    if settings.write_tearsheet:
        files["tearsheet"] = out / "tearsheet.html"
        _write_tearsheet(engine, outcome, files["tearsheet"])
    return files


def _write_tearsheet(engine: BacktestEngine, outcome: BacktestOutcome, path: Path) -> None:
    """Nautilus's tearsheet fed with our statistics and per-trading-day returns.

    Nautilus's own returns statistics (calendar-day Sharpe, a returns-based profit factor)
    are replaced by ``analysis.stats``; its returns series by the per-trading-day one, so the
    equity chart has one point per trading day with data.
    """
    from nautilus_trader.analysis.tearsheet import create_tearsheet_from_stats

    s = outcome.stats
    analyzer = engine.portfolio.analyzer
    starting = Decimal(outcome.settings.venue.starting_balance.split()[0])
    returns = daily_returns(outcome.trades, starting, outcome.calendar)
    create_tearsheet_from_stats(
        stats_pnls={k: v for k, v in outcome.nautilus_pnl.items()},
        stats_returns={
            "Sharpe (per trading day, annualised)": s.sharpe_ratio,
            "Sharpe 95 % CI low (Lo 2002)": s.sharpe_ci_low,
            "Sharpe 95 % CI high (Lo 2002)": s.sharpe_ci_high,
            "Sortino (per trading day, annualised)": s.sortino_ratio,
            "Volatility (per trading day, annualised)": s.returns_volatility,
            "Profit factor (trades)": s.profit_factor,
            "Trading days with data": s.trading_days,
        },
        stats_general=analyzer.get_performance_stats_general(),
        returns=returns,
        output_path=str(path),
        title="quant-scalper backtest (statistics per CME trading day with data)",
        account_info={"Account size (USD)": str(starting)},
    )


def summary_dict(outcome: BacktestOutcome) -> dict[str, Any]:
    """A JSON-ready view of the outcome (the numbers the report prints)."""
    s = outcome.summary
    stats = outcome.stats
    return {
        "contracts": [c.instrument_id for c in outcome.contracts],
        "trades": s.trades,
        "winners": s.winners,
        "losers": s.losers,
        "win_rate": s.win_rate,
        "profit_factor": s.profit_factor,
        "net_pnl_usd": str(s.net_pnl),
        "gross_pnl_usd": str(s.gross_pnl),
        "fees_usd": str(s.fees),
        "max_drawdown_usd": str(s.max_drawdown_usd),
        "max_drawdown_pct": s.max_drawdown_pct,
        "average_holding_time": format_duration(s.average_holding_time)
        if s.average_holding_time
        else None,
        "account_size_usd": str(stats.account_size),
        "sharpe_ratio": stats.sharpe_ratio,
        "sharpe_standard_error": stats.sharpe_se,
        "sharpe_ci95": [stats.sharpe_ci_low, stats.sharpe_ci_high],
        "sharpe_warning": stats.sharpe_warning,
        "sortino_ratio": stats.sortino_ratio,
        "returns_volatility": stats.returns_volatility,
        "statistics_definition": STATISTICS_DEFINITION,
        "days": outcome.calendar.day_kinds(),
        "max_drawdown_duration_trading": format_duration(stats.max_drawdown_duration),
        "statistics": stats.as_row(),
        "long_trades": s.long_trades,
        "short_trades": s.short_trades,
        "open_positions": outcome.open_positions,
        "risk_trips": [
            {"at": t.at.isoformat(), "rule": t.rule.value, "reason": t.reason}
            for t in outcome.trips
        ],
        "day_rolls": len(outcome.day_rolls),
        "nautilus_pnl": {k: _jsonable(v) for k, v in outcome.nautilus_pnl.items()},
    }


STATISTICS_DEFINITION = (
    "Return statistics (Sharpe, Sortino, volatility) from net P&L per CME trading day that had "
    "bars (17:00 America/Chicago roll; evening fragments under half a session folded into the "
    "session before), over the equity at the day's start, annualised with 252 days; Sharpe "
    "interval: Lo (2002). Profit factor: gross won over gross lost per trade, net of fees."
)


def _jsonable(value: Any) -> Any:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if f != f else f


def _venue(settings: BacktestSettings):
    from nautilus_trader.model.identifiers import Venue

    return Venue(settings.venue.name)
