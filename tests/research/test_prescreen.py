"""The Rust pre-screen against the Nautilus backtest: same trades, and a bounded stop-first rule.

The whole bundled catalog is used (three contracts: contract rolls, positions open at a roll
flattened at the contract's last bar), with the circuit breakers off (``RULES_ONLY``) and on:
the shipped config, a daily loss limit that trips, a short losing-streak pause with max holding
time, a wider session guard. Only the kill switch and operator commands are outside the pre-screen.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.analysis.stats import compute_stats, deflated_sharpe_from_moments
from quant_scalper.backtest.runner import run_backtest
from quant_scalper.config import BacktestSettings
from quant_scalper.research.data import catalog_calendar
from quant_scalper.research.prescreen import (
    load_market,
    prescreen_points,
    screen,
    sim_costs,
    sim_point,
    simulate_trades,
)
from quant_scalper.research.spec import SweepSpec, load_sweep_spec, point_id
from quant_scalper.research.sweep import run_sweep
from tests.research.support import RULES_ONLY, SHORT_RANGE, write_spec

TIGHT = {  # rules only; small stop and target: many stop/target exits, some bars touch both
    **RULES_ONLY,
    "strategy.window": 20,
    "strategy.entry_z": 2.0,
    "strategy.exit_z": 0.5,
    "strategy.stop_loss_usd_per_contract": 5,
    "strategy.take_profit_usd_per_contract": 3.75,
}
ROLL = {  # rules only, the shipped stop and target: a MESH4 position is open at its last bar
    **RULES_ONLY,
    "strategy.window": 30,
    "strategy.entry_z": 1.5,
    "strategy.exit_z": 0.25,
}
SHIPPED: dict = {}  # configs/backtest.yaml as it is: pauses, max holding, session guard trip
DAILY_LIMIT = {  # the $25 daily loss limit trips on 14 days
    "strategy.stop_loss_usd_per_contract": 5,
    "strategy.take_profit_usd_per_contract": 3.75,
    "risk.daily_loss_limit_usd": 25,
}
STREAK = {  # 2 losses pause 45 min; 7-minute max holding; $40 daily limit
    "strategy.window": 40,
    "strategy.entry_z": 2.5,
    "strategy.exit_z": 0.0,
    "risk.max_holding_minutes": 7,
    "risk.max_consecutive_losses": 2,
    "risk.pause_minutes": 45,
    "risk.daily_loss_limit_usd": 40,
}
ACROSS = {  # no holding limit or flatten: a MESZ3 position is open at the roll to MESH4
    "strategy.window": 60,
    "strategy.entry_z": 2.0,
    "strategy.exit_z": 0.0,
    "risk.daily_loss_limit_usd": 60,
    "risk.max_holding_minutes": None,
    "risk.flatten_before_halt": False,
}
GUARD = {  # a 30-minute session guard, no max holding
    "strategy.window": 30,
    "strategy.entry_z": 1.5,
    "strategy.exit_z": 0.25,
    "risk.entry_guard_minutes": 30,
    "risk.max_holding_minutes": None,
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> SweepSpec:
    """The full catalog, breakers on as shipped (points add ``RULES_ONLY`` to switch them off)."""
    folder = tmp_path_factory.mktemp("prescreen")
    return load_sweep_spec(write_spec(folder / "s.yaml", {"strategy.window": [20]}, set={}))


def _settings(spec: SweepSpec, point: dict) -> BacktestSettings:
    return spec.settings_for(point, spec.base_mapping())


def _key(t: ClosedTrade) -> tuple:
    return (
        t.instrument_id,
        t.side,
        t.opened_at,
        t.closed_at,
        t.entry_price,
        t.exit_price,
        t.realized_pnl,
        t.fees,
    )


@pytest.mark.parametrize(
    ("point", "trips"),
    [
        (TIGHT, set()),
        (ROLL, set()),
        (SHIPPED, {"consecutive_losses", "max_holding_time", "session_guard"}),
        (DAILY_LIMIT, {"daily_loss_limit", "consecutive_losses", "max_holding_time"}),
        (STREAK, {"daily_loss_limit", "consecutive_losses", "max_holding_time"}),
        (GUARD, {"consecutive_losses", "session_guard"}),
        (ACROSS, {"daily_loss_limit", "consecutive_losses"}),
    ],
    ids=["rules-tight", "rules-roll", "shipped", "daily-limit", "streak", "guard", "across"],
)
def test_ticks_mode_gives_the_nautilus_trades(spec: SweepSpec, point: dict, trips: set) -> None:
    settings = _settings(spec, point)
    outcome = run_backtest(settings, write_files=False)
    assert {t.rule.value for t in outcome.trips} - {"day_roll"} == trips  # the rules exercised
    ours = simulate_trades(settings, intrabar="ticks")
    assert len(outcome.trades) > 100
    assert [_key(t) for t in ours] == [_key(t) for t in outcome.trades]


def test_stop_first_differs_only_in_bars_touching_both(spec: SweepSpec) -> None:
    """The bound: same trade sequence; only trades whose bar hit target then stop change."""
    settings = _settings(spec, TIGHT)
    ticks = simulate_trades(settings, intrabar="ticks")
    stop_first = simulate_trades(settings, intrabar="stop_first")
    assert len(ticks) == len(stop_first)
    stop_pts, target_pts = Decimal("1.00"), Decimal("0.75")
    changed = []
    for a, b in zip(ticks, stop_first, strict=True):
        assert (a.instrument_id, a.side, a.opened_at, a.entry_price) == (
            b.instrument_id,
            b.side,
            b.opened_at,
            b.entry_price,
        )
        if _key(a) != _key(b):
            changed.append((a, b))
            sign = 1 if a.side == "LONG" else -1
            # Nautilus took the target; stop-first takes the stop (at or beyond its trigger) in
            # the same minute, so the position is flat at that bar's close either way.
            assert a.exit_price == a.entry_price + sign * target_pts
            assert sign * (b.exit_price - b.entry_price) <= -stop_pts
            assert a.closed_at.replace(second=0, microsecond=0) == b.closed_at.replace(
                second=0, microsecond=0
            )
            assert b.realized_pnl < a.realized_pnl
    # On the bundled catalog (gap rule on): 2 of 1,126 trades, $18.75 of net P&L.
    assert len(ticks) == 1126 and len(changed) == 2
    diff = sum(a.realized_pnl - b.realized_pnl for a, b in changed)
    assert diff == Decimal("18.75")
    market = load_market(settings)
    row = screen(market, [sim_point(settings, market)], sim_costs(settings, market), "stop_first")
    assert row["ambiguous_bars"].iloc[0] >= len(changed)


def test_screen_statistics_are_the_shared_statistics(spec: SweepSpec) -> None:
    settings = _settings(spec, TIGHT)
    trades = simulate_trades(settings, intrabar="ticks")
    stats = compute_stats(
        trades,
        Decimal(settings.venue.starting_balance.split()[0]),
        calendar=catalog_calendar(settings),
        bootstrap_samples=0,
    )
    market = load_market(settings)
    costs = sim_costs(settings, market)
    row = screen(market, [sim_point(settings, market)], costs, "ticks").iloc[0]
    assert row["trades"] == stats.trades
    assert row["net_pnl"] == pytest.approx(float(stats.net_pnl), abs=1e-6)
    assert row["win_rate"] == pytest.approx(stats.win_rate)
    assert row["profit_factor"] == pytest.approx(stats.profit_factor)
    assert row["max_drawdown_usd"] == pytest.approx(float(stats.max_drawdown_usd), abs=1e-6)
    assert row["max_drawdown_pct"] == pytest.approx(stats.max_drawdown_pct, rel=1e-6)
    # One Sharpe: the Rust daily P&L through analysis.stats.sharpe_ratios, as compute_stats.
    assert row["sharpe_ratio"] == pytest.approx(stats.sharpe_ratio, rel=1e-9)


def test_the_pre_screen_sharpe_is_the_nautilus_runs_sharpe(spec: SweepSpec) -> None:
    """On identical trades the two Sharpe ratios are the same number (they differed:
    -22.24 vs -22.79 at window 40 / entry 1.5 / exit 0.5)."""
    point = {"strategy.window": 40, "strategy.entry_z": 1.5, "strategy.exit_z": 0.5}
    settings = _settings(spec, point)
    outcome = run_backtest(settings, write_files=False)
    assert [_key(t) for t in simulate_trades(settings, "ticks")] == [
        _key(t) for t in outcome.trades
    ]
    market = load_market(settings)
    row = screen(market, [sim_point(settings, market)], sim_costs(settings, market), "ticks")
    assert row["sharpe_ratio"].iloc[0] == pytest.approx(outcome.stats.sharpe_ratio, rel=1e-12)


def _entries_after_gaps(settings: BacktestSettings, trades: list[ClosedTrade]) -> int:
    """Entries on one of the first ``window`` bars after a gap of more than 10 minutes."""
    import numpy as np

    market = load_market(settings)
    ts = market.bar_ts
    window = int(settings.strategy.get("window", 20))
    fresh = np.zeros(len(ts), dtype=bool)
    for start in np.flatnonzero(np.diff(ts) > 10 * 60 * 10**9) + 1:
        fresh[start : start + window - 1] = True
    stale = set(ts[fresh].tolist())
    return sum(1 for t in trades if int(pd.Timestamp(t.opened_at).value) in stale)


def test_gap_rule_on_the_bundled_data(spec: SweepSpec) -> None:
    """Without the rule the first bars after the data's gaps (weekends, the 15-minute break,
    the daily halt) enter on a stale window; with it (the default) none does."""
    settings = _settings(spec, {})
    assert settings.strategy.get("max_bar_gap_minutes", 10) == 10
    with_rule = simulate_trades(settings, "ticks")
    assert _entries_after_gaps(settings, with_rule) == 0
    off = _settings(spec, {"strategy.max_bar_gap_minutes": None})
    stale = _entries_after_gaps(off, simulate_trades(off, "ticks"))
    assert stale >= 10


def test_points_sharing_a_window_match_points_run_alone(spec: SweepSpec) -> None:
    settings = _settings(spec, DAILY_LIMIT)
    market = load_market(settings)
    base = sim_point(settings, market)
    points = [
        replace(base, window=w, entry_z=e, stop=s)
        for w in (20, 35)
        for e in (1.5, 2.5)
        for s in (1.0, 40.0)
    ]
    costs = sim_costs(settings, market)
    together = screen(market, points[::-1], costs, "ticks", threads=2).iloc[::-1]
    alone = pd.concat([screen(market, [p], costs, "ticks", threads=1) for p in points])
    pd.testing.assert_frame_equal(together.reset_index(drop=True), alone.reset_index(drop=True))


def test_sweep_backtests_the_prescreen_top_and_counts_every_point(tmp_path: Path) -> None:
    grid = {"strategy.window": [20, 40], "strategy.entry_z": [1.5, 2.0, 2.5]}
    sessions = {"start": "2013-12-18T00:00:00Z"}  # 3 sessions: a (deflated) Sharpe
    spec = load_sweep_spec(write_spec(tmp_path / "s.yaml", grid, set=sessions))
    ranked = prescreen_points(spec, spec.points(), spec.base_mapping())
    assert len(ranked) == 6 and ranked["enough_trades"].all()
    assert ranked["sharpe_ratio"].is_monotonic_decreasing
    run = run_sweep(spec, workers=1, progress=False, prescreen_top=2)
    assert run.ran == 2 and run.trials == 6
    assert set(run.table["point_id"]) == set(ranked["point_id"].head(2))
    assert (run.table["n_trials"] == 6).all()
    # The trials' Sharpe spread is the pre-screen's over all 6 points, not the 2 survivors'.
    every = [float(v) for v in ranked["sharpe_ratio"]]
    for row in run.table.to_dict(orient="records"):
        expected, _ = deflated_sharpe_from_moments(
            row["sharpe_ratio"],
            row["trading_days"],
            row["returns_skewness"],
            row["returns_kurtosis"],
            6,
            every,
        )
        assert expected is not None
        assert row["deflated_sharpe"] == pytest.approx(expected, rel=1e-12)


def test_prescreen_command_ranks_and_writes_every_point(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from quant_scalper.cli import main

    grid = {"strategy.window": [20, 40], "strategy.entry_z": [0.4, 2.0, 2.5]}  # 0.4 <= exit_z
    config = write_spec(tmp_path / "s.yaml", grid, set=SHORT_RANGE)
    out = tmp_path / "ranked.parquet"
    assert main(["prescreen", "--config", str(config), "--top", "2", "--output", str(out)]) == 0
    ranked = pd.read_parquet(out)
    assert len(ranked) == 4  # the two invalid points are left out
    assert "sharpe_ratio" in capsys.readouterr().out
    heat = tmp_path / "heat.html"
    args = ["heatmap", str(out), "--x", "strategy.entry_z", "--y", "strategy.window"]
    assert main([*args, "--out", str(heat)]) == 0
    assert heat.stat().st_size > 1000


def test_session_settings_can_be_swept(tmp_path: Path) -> None:
    grid = {"risk.entry_guard_minutes": [5, 60], "strategy.entry_z": [1.5, 2.0]}
    spec = load_sweep_spec(write_spec(tmp_path / "s.yaml", grid, set=SHORT_RANGE, min_trades=0))
    ranked = prescreen_points(spec, spec.points(), spec.base_mapping()).set_index("point_id")
    for point in spec.points():
        alone = simulate_trades(spec.settings_for(point, spec.base_mapping()), "stop_first")
        row = ranked.loc[point_id(point)]
        assert row["trades"] == len(alone)
        assert row["net_pnl"] == pytest.approx(float(sum(t.realized_pnl for t in alone)))
    by_guard = ranked.groupby("risk.entry_guard_minutes")["trades"].sum()
    assert by_guard[60] < by_guard[5]  # a wider guard blocks entries
