"""Run a backtest through Nautilus's ``BacktestNode`` and collect what the report needs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from nautilus_trader.analysis import MaxDrawdown
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.node import BacktestNode
from nautilus_trader.backtest.results import BacktestResult
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.position import Position

from quant_scalper.analysis.metrics import ClosedTrade, TradeSummary, summarize_trades
from quant_scalper.backtest.run_config import TradedContract, build_run_config, resolve_contracts
from quant_scalper.config import BacktestSettings
from quant_scalper.errors import BacktestError
from quant_scalper.risk import Trip
from quant_scalper.strategy import ZScoreMeanReversion
from quant_scalper.trading_state import install_trading_state_bridge


@dataclass
class BacktestOutcome:
    """What one backtest produced: trades, summary, Nautilus's statistics and file paths."""

    settings: BacktestSettings
    contracts: list[TradedContract]
    trades: list[ClosedTrade]
    open_positions: list[str]
    summary: TradeSummary
    nautilus_stats: dict[str, Any]
    bars_processed: int
    trips: list[Trip] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def run_backtest(settings: BacktestSettings, write_files: bool = True) -> BacktestOutcome:
    """Run the configured backtest on the catalog and return its outcome (files optional)."""
    contracts = resolve_contracts(settings)
    run_config = build_run_config(settings, contracts)
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
        outcome = _collect(settings, contracts, engine, results[0])
        if write_files:
            outcome.files = _write_files(settings, engine, outcome)
        return outcome
    finally:
        node.dispose()


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
    result: BacktestResult,
) -> BacktestOutcome:
    positions = engine.cache.positions()
    # A NETTING position id is reused when the book reopens: earlier round trips live on as
    # snapshots, so every closed round trip is a snapshot or a closed current position.
    closed = list(engine.cache.position_snapshots()) + [p for p in positions if p.is_closed]
    trades = sorted((_closed_trade(p) for p in closed), key=lambda t: t.closed_at)
    open_positions = [
        f"{p.instrument_id} {p.side.name} {p.quantity} @ {p.avg_px_open}"
        for p in positions
        if p.is_open
    ]
    starting = Decimal(settings.venue.starting_balance.split()[0])
    trips: list[Trip] = []
    for strategy in engine.trader.strategies():
        for trip in getattr(strategy, "trips", []):
            if trip not in trips:
                trips.append(trip)
    return BacktestOutcome(
        settings=settings,
        contracts=contracts,
        trades=trades,
        open_positions=open_positions,
        summary=summarize_trades(trades, starting),
        nautilus_stats=_nautilus_stats(engine, result),
        bars_processed=sum(c.bar_count for c in contracts),
        trips=sorted(trips, key=lambda t: t.at),
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


def _nautilus_stats(engine: BacktestEngine, result: BacktestResult) -> dict[str, Any]:
    """Nautilus's own PnL and returns statistics, plus its max drawdown of returns."""
    stats: dict[str, Any] = {}
    for currency, values in result.stats_pnls.items():
        for name, value in values.items():
            stats[f"{name} ({currency})"] = value
    analyzer = engine.portfolio.analyzer
    analyzer.register_statistic(MaxDrawdown())  # not registered by default in 1.231
    stats.update(analyzer.get_performance_stats_returns())
    return stats


def _write_files(
    settings: BacktestSettings,
    engine: BacktestEngine,
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
    engine.trader.generate_order_fills_report().to_csv(files["fills"])
    engine.trader.generate_positions_report().to_csv(files["positions"])
    engine.trader.generate_account_report(venue=_venue(settings)).to_csv(files["account"])
    files["summary"].write_text(json.dumps(summary_dict(outcome), indent=2, default=str) + "\n")
    if settings.write_tearsheet:
        from nautilus_trader.analysis.tearsheet import create_tearsheet

        files["tearsheet"] = out / "tearsheet.html"
        create_tearsheet(
            engine, output_path=str(files["tearsheet"]), title="quant-scalper backtest"
        )
    return files


def summary_dict(outcome: BacktestOutcome) -> dict[str, Any]:
    """A JSON-ready view of the outcome (the numbers the report prints)."""
    s = outcome.summary
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
        "average_holding_time": str(s.average_holding_time) if s.average_holding_time else None,
        "long_trades": s.long_trades,
        "short_trades": s.short_trades,
        "open_positions": outcome.open_positions,
        "risk_trips": [
            {"at": t.at.isoformat(), "rule": t.rule.value, "reason": t.reason}
            for t in outcome.trips
        ],
        "nautilus": {k: _jsonable(v) for k, v in outcome.nautilus_stats.items()},
    }


def _jsonable(value: Any) -> Any:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if f != f else f


def _venue(settings: BacktestSettings):
    from nautilus_trader.model.identifiers import Venue

    return Venue(settings.venue.name)
