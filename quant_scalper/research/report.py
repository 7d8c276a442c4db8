"""``quant-scalper report``: one self-contained HTML file and a Markdown summary.

The report answers "which parameters should I trade, and may I?". It takes the sweep results
and the walk-forward output (either or both), recommends parameters (``select.recommend``),
backtests them on the whole catalog, and shows: the recommendation and why, the pre-live gate,
every statistic, the equity curve and drawdown, monthly P&L, the sweep heatmap and best points,
the walk-forward table, and every trade. The HTML embeds plotly.js once, so it opens offline.

The pre-live gate (from the project's pre-live checklist) is checked line by line:
win rate > 45 %, profit factor > 1.2, max drawdown < 10 % of the account (``venue.
starting_balance``, the account size: 5,000 USD by default for one MES contract, see the
README), at least ``min_trades`` trades, and a deflated Sharpe > 0 (the Sharpe ratio beats the
best of the N points tried by luck alone). When a walk-forward ran, its stitched out-of-sample
trades decide the gate, deflated by the number of configurations each train window tried: the
in-sample backtest of parameters chosen on the same data is shown beside it, but would flatter
them. When nothing was profitable out of sample the report makes no recommendation and says why
(``select.recommend``); the base config is then backtested for reference only. Every statistic
comes from ``analysis.stats``; equity and drawdown are drawn on a trading-time axis.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_scalper.analysis.metrics import ClosedTrade
from quant_scalper.analysis.stats import (
    PerformanceStats,
    TradingCalendar,
    compute_stats,
    equity_curve,
    format_duration,
    monthly_pnl,
    session_ticks,
)
from quant_scalper.config import REPO_ROOT, load_backtest_settings
from quant_scalper.research.errors import ResearchError
from quant_scalper.research.select import Recommendation, recommend
from quant_scalper.research.spec import load_sweep_spec, set_dotted
from quant_scalper.research.sweep import TOP_COLUMNS, parameter_columns, rank

GATE_WIN_RATE = 0.45
GATE_PROFIT_FACTOR = 1.2
GATE_MAX_DRAWDOWN = 0.10
GATE_MIN_TRADES = 100
DEFAULT_OUTPUT = Path("output") / "report" / "report.html"


@dataclass(frozen=True)
class GateLine:
    """One line of the pre-live gate: the rule, the measured value, pass or fail."""

    name: str
    rule: str
    value: str
    passed: bool


@dataclass
class ReportData:
    """Everything the HTML and Markdown renderers show."""

    generated_at: str
    recommendation: Recommendation
    settings_summary: dict[str, Any]
    stats: PerformanceStats
    trades: list[ClosedTrade]
    starting_balance: Decimal
    gate_in_sample: list[GateLine]
    gate_oos: list[GateLine] | None
    oos_stats: PerformanceStats | None
    oos_trades: list[ClosedTrade]
    sweep: pd.DataFrame | None
    objective: str
    min_trades: int
    walk_forward: dict[str, Any] | None
    wf_windows: pd.DataFrame | None
    calendar: TradingCalendar | None = None
    oos_calendar: TradingCalendar | None = None

    @property
    def verdict(self) -> bool:
        """True when every line of the deciding gate passes (out of sample when available)."""
        if not self.recommendation.recommended:
            return False
        deciding = self.gate_oos if self.gate_oos is not None else self.gate_in_sample
        return all(line.passed for line in deciding)


def pre_live_gate(stats: PerformanceStats, min_trades: int = GATE_MIN_TRADES) -> list[GateLine]:
    """The pre-live checklist, line by line (a missing value fails its line)."""

    def line(
        name: str, rule: str, value: float | None, ok: Callable[[float], bool], fmt: str
    ) -> GateLine:
        shown = "n/a" if value is None else format(value, fmt)
        return GateLine(name, rule, shown, value is not None and ok(value))

    return [
        line("Win rate", "> 45 %", stats.win_rate, lambda v: v > GATE_WIN_RATE, ".1%"),
        line(
            "Profit factor", "> 1.2", stats.profit_factor, lambda v: v > GATE_PROFIT_FACTOR, ".2f"
        ),
        line(
            "Max drawdown",
            f"< 10 % of a ${stats.account_size:,.0f} account",
            stats.max_drawdown_pct,
            lambda v: v < GATE_MAX_DRAWDOWN,
            ".2%",
        ),
        line("Trades", f">= {min_trades}", stats.trades, lambda v: v >= min_trades, "d"),
        line(
            "Deflated Sharpe",
            f"> 0 (after {stats.n_trials} trials)",
            stats.deflated_sharpe,
            lambda v: v > 0,
            ".2f",
        ),
    ]


def build_report(
    sweep_config: Path | None = None,
    walk_forward_dir: Path | None = None,
    backtest_config: Path | None = None,
    overrides: Sequence[str] = (),
    out: Path | None = None,
    min_trades: int = GATE_MIN_TRADES,
) -> list[Path]:
    """Gather results, backtest the recommended parameters, write HTML and Markdown."""
    data = gather(sweep_config, walk_forward_dir, backtest_config, overrides, min_trades)
    html_path = (out or REPO_ROOT / DEFAULT_OUTPUT).resolve()
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(data), encoding="utf-8")
    md_path = html_path.with_suffix(".md")
    md_path.write_text(render_markdown(data), encoding="utf-8")
    return [html_path, md_path]


def gather(
    sweep_config: Path | None,
    walk_forward_dir: Path | None,
    backtest_config: Path | None,
    overrides: Sequence[str],
    min_trades: int = GATE_MIN_TRADES,
) -> ReportData:
    """Load the inputs, pick the parameters and run their backtest (no files written)."""
    from quant_scalper.backtest.runner import run_backtest
    from quant_scalper.config import backtest_settings_from_mapping
    from quant_scalper.research.data import catalog_calendar
    from quant_scalper.research.store import read_results
    from quant_scalper.research.walkforward import trades_from_frame

    sweep_table: pd.DataFrame | None = None
    objective, sweep_min_trades = "sharpe_ratio", 30
    spec = None
    if sweep_config is not None:
        spec = load_sweep_spec(sweep_config, overrides)
        sweep_table = read_results(spec.output)
        objective, sweep_min_trades = spec.objective, spec.min_trades
    walk_forward, wf_windows, oos_trades = None, None, []
    if walk_forward_dir is not None:
        summary_path = Path(walk_forward_dir) / "summary.json"
        if not summary_path.is_file():
            raise ResearchError(
                f"no walk-forward summary in {walk_forward_dir}: run `quant-scalper walk-forward`"
            )
        walk_forward = json.loads(summary_path.read_text())
        wf_windows = pd.read_parquet(Path(walk_forward_dir) / "windows.parquet")
        oos_trades = trades_from_frame(
            pd.read_parquet(Path(walk_forward_dir) / "oos_trades.parquet")
        )
        objective = walk_forward.get("objective", objective)
    if sweep_table is None and walk_forward is None and backtest_config is None:
        raise ResearchError(
            "nothing to report: pass --sweep (a sweep config whose results exist), "
            "--walk-forward (an output folder) and/or --backtest"
        )
    choice = recommend(sweep_table, objective, sweep_min_trades, walk_forward)
    if backtest_config is None and spec is not None:
        base_raw = spec.base_mapping()
        for key, value in choice.params.items():
            set_dotted(base_raw, key, value)
        settings = backtest_settings_from_mapping(base_raw, spec.backtest_config.parent)
    else:
        # The --set meaning: JSON is YAML, so each value parses back to itself.
        point = [f"{key}={json.dumps(value)}" for key, value in choice.params.items()]
        settings = load_backtest_settings(backtest_config, [*overrides, *point])
    settings = settings.replace(progress=False, write_tearsheet=False)
    outcome = run_backtest(settings, write_files=False)
    starting = Decimal(settings.venue.starting_balance.split()[0])
    trials, sharpes = 1, None
    if sweep_table is not None and not sweep_table.empty:
        ok = sweep_table[sweep_table["status"] == "ok"]
        trials = (
            int(ok["n_trials"].max())
            if "n_trials" in ok and ok["n_trials"].notna().any()
            else len(ok)
        )
        sharpes = [float(s) for s in ok.get("sharpe_ratio", []) if pd.notna(s)]
    calendar = outcome.calendar
    stats = compute_stats(
        outcome.trades,
        starting,
        calendar=calendar,
        n_trials=max(trials, 1),
        trial_sharpes=sharpes,
    )
    oos_stats = None
    gate_oos = None
    oos_calendar = None
    if walk_forward is not None:
        full = catalog_calendar(settings.replace(start=None, end=None))
        bars = full.bar_ts if full.bar_ts is not None else np.empty(0, "int64")
        keep = np.zeros(len(bars), dtype=bool)
        for start, end in walk_forward.get("oos_test_ranges", []):
            keep |= (bars > pd.Timestamp(start).value) & (bars <= pd.Timestamp(end).value)
        oos_calendar = TradingCalendar.from_bars(bars[keep])
        train_path = Path(walk_forward_dir) / "train_results.parquet"
        train_sharpes = None
        if train_path.is_file():
            train = pd.read_parquet(train_path)
            if "sharpe_ratio" in train.columns:
                train_sharpes = [float(s) for s in train["sharpe_ratio"] if pd.notna(s)]
        oos_stats = compute_stats(
            oos_trades,
            starting,
            calendar=oos_calendar,
            n_trials=max(int(walk_forward.get("points_per_window") or 1), 1),
            trial_sharpes=train_sharpes,
        )
        gate_oos = pre_live_gate(oos_stats, min_trades)
    return ReportData(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        recommendation=choice,
        settings_summary={
            "catalog": str(settings.catalog),
            "range": f"{settings.start or 'start'} .. {settings.end or 'end'}",
            "contracts": ", ".join(c.instrument_id for c in outcome.contracts),
            **{f"strategy.{k}": v for k, v in settings.strategy.items()},
            **{f"risk.{k}": v for k, v in settings.risk.items()},
        },
        stats=stats,
        trades=list(outcome.trades),
        starting_balance=starting,
        gate_in_sample=pre_live_gate(stats, min_trades),
        gate_oos=gate_oos,
        oos_stats=oos_stats,
        oos_trades=oos_trades,
        sweep=sweep_table,
        objective=objective,
        min_trades=sweep_min_trades,
        walk_forward=walk_forward,
        wf_windows=wf_windows,
        calendar=calendar,
        oos_calendar=oos_calendar,
    )


# -- rendering ---------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1150px;
color:#222;padding:0 1rem}h1{margin-bottom:.2rem}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}.pass{color:#0a7d2c;font-weight:600}
.fail{color:#b3261e;font-weight:600}.verdict{font-size:1.3rem;padding:.6rem 1rem;border-radius:6px;
display:inline-block}.verdict.pass{background:#e6f4ea}.verdict.fail{background:#fce8e6}
.muted{color:#666;font-size:.9rem}details{margin:.6rem 0}
"""


def render_html(data: ReportData) -> str:
    """The self-contained HTML report (plotly.js inlined once)."""
    figures = _figures(data)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>quant-scalper report</title>",
        f"<style>{_CSS}</style>",
        _plotly_js(),
        "</head><body>",
        "<h1>quant-scalper research report</h1>",
        f"<p class='muted'>Generated {data.generated_at}. Data: CME ES front-month prices traded "
        "with the MES contract spec (see catalog/README.md).</p>",
        _verdict_html(data),
        "<h2>Recommended parameters</h2>" if data.recommendation.recommended else "",
        "<h2>No recommendation</h2>" if not data.recommendation.recommended else "",
        _table_html(["Parameter", "Value"], [[k, v] for k, v in data.recommendation.params.items()])
        if data.recommendation.params
        else (
            "<p>The base config's values.</p>"
            if data.recommendation.recommended
            else "<p>No parameters are recommended; the figures below are the base config's, "
            "for reference only.</p>"
        ),
        f"<p>Source: <b>{html.escape(data.recommendation.source)}</b>.</p>",
        "<ul>"
        + "".join(f"<li>{html.escape(r)}</li>" for r in data.recommendation.reasons)
        + "</ul>",
        "<h2>Pre-live gate</h2>",
        _gate_html(data),
        "<h2>Statistics</h2>",
        f"<p class='muted'>{html.escape(_definition(data))}</p>",
        _table_html(["Statistic", *_stat_columns(data)], _stat_rows(data)),
        "<h2>Equity and drawdown</h2>",
        figures.get("equity", ""),
        figures.get("drawdown", ""),
        "<h2>Monthly P&amp;L</h2>",
        _table_html(
            ["Month", "Net P&L (USD)"],
            [[m, f"{v:,.2f}"] for m, v in monthly_pnl(data.trades).items()],
        ),
        figures.get("monthly", ""),
    ]
    if data.sweep is not None:
        parts += ["<h2>Parameter sweep</h2>", figures.get("heatmap", ""), _sweep_top_html(data)]
    if data.walk_forward is not None:
        parts += ["<h2>Walk-forward</h2>", _walk_forward_html(data), figures.get("oos", "")]
    parts += [
        "<h2>Trades</h2>",
        f"<details><summary>{len(data.trades)} trades of the "
        f"{'recommended' if data.recommendation.recommended else 'base config'} parameters"
        "</summary>",
        _trades_html(data.trades),
        "</details>",
        "<h2>Settings</h2>",
        _table_html(["Setting", "Value"], [[k, v] for k, v in data.settings_summary.items()]),
        "</body></html>",
    ]
    return "\n".join(parts)


def render_markdown(data: ReportData) -> str:
    """The Markdown summary: verdict, recommendation, gate, key statistics, walk-forward."""
    lines = [
        "# quant-scalper research report",
        "",
        f"Generated {data.generated_at}.",
        "",
        f"**Pre-live gate: {'PASS' if data.verdict else 'FAIL'}** ({_basis(data)} decides)",
        "",
        "## Recommended parameters" if data.recommendation.recommended else "## No recommendation",
        "",
        _md_table(["Parameter", "Value"], [[k, v] for k, v in data.recommendation.params.items()])
        if data.recommendation.params
        else (
            "The base config's values."
            if data.recommendation.recommended
            else "No parameters are recommended; the figures below are the base config's, for "
            "reference only."
        ),
        "",
        f"Source: {data.recommendation.source}.",
        "",
        *[f"- {r}" for r in data.recommendation.reasons],
        "",
        "## Pre-live gate",
        "",
    ]
    for title, gate in _gates(data):
        lines += [
            f"{title}:",
            "",
            _md_table(
                ["Check", "Rule", "Value", "Result"],
                [[g.name, g.rule, g.value, "PASS" if g.passed else "FAIL"] for g in gate],
            ),
            "",
        ]
    lines += [
        "## Statistics",
        "",
        _definition(data),
        "",
        _md_table(["Statistic", *_stat_columns(data)], _stat_rows(data)),
        "",
    ]
    months = monthly_pnl(data.trades)
    if not months.empty:
        lines += [
            "## Monthly P&L (recommended parameters)",
            "",
            _md_table(["Month", "Net P&L (USD)"], [[m, f"{v:,.2f}"] for m, v in months.items()]),
            "",
        ]
    if data.walk_forward is not None:
        wfe = data.walk_forward.get("walk_forward_efficiency")
        lines += [
            "## Walk-forward",
            "",
            f"Walk-forward efficiency: {_format(wfe, '.2f')}; modal parameters chosen in "
            f"{data.walk_forward['stability'].get('modal_parameters_share', 0):.0%} of windows.",
            "",
        ]
        if data.wf_windows is not None and not data.wf_windows.empty:
            columns = [c for c in _MD_WF_COLUMNS if c in data.wf_windows.columns]
            lines += [
                _md_table(
                    columns,
                    [
                        [_format(row[c], ".4g") for c in columns]
                        for _, row in data.wf_windows.iterrows()
                    ],
                ),
                "",
            ]
    return "\n".join(lines) + "\n"


_MD_WF_COLUMNS = (
    "window",
    "train_first_day",
    "test_first_day",
    "test_last_day",
    "chosen",
    "is_net_pnl",
    "oos_net_pnl",
    "oos_trades",
)


def _gates(data: ReportData) -> list[tuple[str, list[GateLine]]]:
    gates = []
    if data.gate_oos is not None:
        gates.append(("Walk-forward out of sample (decides)", data.gate_oos))
    what = "Recommended parameters" if data.recommendation.recommended else "Base config"
    gates.append(
        (
            f"{what}, full backtest (in sample"
            + (")" if data.gate_oos is not None else ", decides)"),
            data.gate_in_sample,
        )
    )
    return gates


def _definition(data: ReportData) -> str:
    from quant_scalper.backtest.runner import STATISTICS_DEFINITION

    days = data.calendar.day_kinds() if data.calendar is not None else None
    text = STATISTICS_DEFINITION
    if days:
        text += (
            f" The full backtest has {days['statistics_days']} trading days with data "
            f"({days['session_days']} sessions, {days['fragment_days']} evening fragments "
            f"folded in)."
        )
    if data.stats.sharpe_warning:
        text += f" Warning: {data.stats.sharpe_warning}."
    return text


def _verdict_html(data: ReportData) -> str:
    if not data.recommendation.recommended:
        return (
            "<p class='verdict fail'>No recommendation</p>"
            f"<p class='muted'>{html.escape(data.recommendation.reasons[0])}</p>"
        )
    word = "PASS" if data.verdict else "FAIL"
    css = "pass" if data.verdict else "fail"
    return (
        f"<p class='verdict {css}'>Pre-live gate: {word}</p>"
        f"<p class='muted'>Decided on the {_basis(data)}.</p>"
    )


def _basis(data: ReportData) -> str:
    return (
        "walk-forward out-of-sample trades" if data.gate_oos is not None else "in-sample backtest"
    )


def _gate_html(data: ReportData) -> str:
    out = []
    for title, gate in _gates(data):
        rows = [
            [
                html.escape(g.name),
                html.escape(g.rule),
                html.escape(g.value),
                f"<span class='{'pass' if g.passed else 'fail'}'>"
                f"{'PASS' if g.passed else 'FAIL'}</span>",
            ]
            for g in gate
        ]
        out.append(
            f"<h3>{html.escape(title)}</h3>"
            + _table_html(["Check", "Rule", "Value", "Result"], rows, escape=False)
        )
    return "\n".join(out)


_STAT_LABELS = [
    ("trades", "Trades", "d"),
    ("win_rate", "Win rate", ".1%"),
    ("profit_factor", "Profit factor", ".2f"),
    ("expectancy", "Expectancy (USD/trade)", ".2f"),
    ("payoff_ratio", "Payoff ratio", ".2f"),
    ("net_pnl", "Net P&L (USD)", ",.2f"),
    ("fees", "Fees (USD)", ",.2f"),
    ("sharpe_ratio", "Sharpe (per trading day, annualised)", ".2f"),
    ("sharpe_ci_low", "Sharpe 95 % interval, low (Lo 2002)", ".2f"),
    ("sharpe_ci_high", "Sharpe 95 % interval, high", ".2f"),
    ("sortino_ratio", "Sortino (per trading day, annualised)", ".2f"),
    ("returns_volatility", "Volatility (per trading day, annualised)", ".2%"),
    ("trading_days", "Trading days with data (sessions)", "d"),
    ("fragment_days", "Evening fragments folded in", "d"),
    ("account_size", "Account size (USD)", ",.0f"),
    ("max_drawdown_usd", "Max drawdown (USD)", ",.2f"),
    ("max_drawdown_pct", "Max drawdown (%)", ".2%"),
    ("max_drawdown_duration_min", "Max drawdown duration (trading time)", "hms"),
    ("trades_per_day", "Trades per trading day", ".1f"),
    ("average_holding_min", "Average holding time", "hms"),
    ("max_consecutive_losses", "Max consecutive losses", "d"),
    ("long_trades", "Long trades", "d"),
    ("long_net_pnl", "Long net P&L (USD)", ",.2f"),
    ("short_trades", "Short trades", "d"),
    ("short_net_pnl", "Short net P&L (USD)", ",.2f"),
    ("n_trials", "Points tried (N)", "d"),
    ("deflated_sharpe", "Deflated Sharpe", ".2f"),
    ("deflated_sharpe_probability", "P(true Sharpe > best of N by luck)", ".1%"),
    ("bootstrap_dd_p50_pct", "Bootstrap max drawdown, median", ".2%"),
    ("bootstrap_dd_p95_pct", "Bootstrap max drawdown, 95th pct", ".2%"),
    ("bootstrap_dd_p99_pct", "Bootstrap max drawdown, 99th pct", ".2%"),
]


def _stat_columns(data: ReportData) -> list[str]:
    cols = [
        "Recommended, full backtest"
        if data.recommendation.recommended
        else "Base config (reference), full backtest"
    ]
    if data.oos_stats is not None:
        cols.append("Walk-forward out of sample")
    return cols


def _stat_rows(data: ReportData) -> list[list[str]]:
    rows_by = [data.stats.as_row()] + ([data.oos_stats.as_row()] if data.oos_stats else [])
    out = []
    for key, label, fmt in _STAT_LABELS:
        out.append([label, *[_format(r.get(key), fmt) for r in rows_by]])
    return out


def _sweep_top_html(data: ReportData) -> str:
    assert data.sweep is not None
    ranked = rank(data.sweep, data.objective, data.min_trades).head(10)
    columns = [*parameter_columns(data.sweep), *TOP_COLUMNS]
    columns = [c for c in columns if c in ranked.columns]
    rows = [[_format(r[c], ".4g") for c in columns] for _, r in ranked.iterrows()]
    n = len(data.sweep)
    ok = int((data.sweep["status"] == "ok").sum())
    return (
        f"<p>{n} points in the table, {ok} backtested; best 10 by {html.escape(data.objective)} "
        f"with at least {data.min_trades} trades:</p>" + _table_html(columns, rows)
    )


def _walk_forward_html(data: ReportData) -> str:
    assert data.walk_forward is not None and data.wf_windows is not None
    wf = data.walk_forward
    wfe = wf.get("walk_forward_efficiency")
    stability = wf.get("stability", {})
    lines = [
        f"<p>{html.escape(str(wf.get('mode')))} windows: train {wf.get('train_days')} / test "
        f"{wf.get('test_days')} trading days, {wf.get('points_per_window')} points per train "
        f"window, ranked by {html.escape(str(wf.get('objective')))}. Walk-forward efficiency "
        f"(out-of-sample over in-sample P&amp;L per day): <b>{_format(wfe, '.2f')}</b>. "
        f"Modal parameters chosen in {stability.get('modal_parameters_share', 0):.0%} of "
        "windows.</p>",
        _table_html(
            list(data.wf_windows.columns),
            [[_format(v, ".4g") for v in row] for row in data.wf_windows.itertuples(index=False)],
        ),
    ]
    per = stability.get("parameters", {})
    if per:
        lines.append(
            _table_html(
                ["Parameter", "Chosen per window", "Modal value", "Modal share", "Spread"],
                [
                    [
                        k,
                        ", ".join(map(str, v["chosen"])),
                        v["modal_value"],
                        f"{v['modal_share']:.0%}",
                        _format(v.get("spread"), ".2f"),
                    ]
                    for k, v in per.items()
                ],
            )
        )
    return "\n".join(lines)


def _trades_html(trades: Sequence[ClosedTrade]) -> str:
    rows = [
        [
            t.instrument_id,
            t.side,
            f"{t.opened_at:%Y-%m-%d %H:%M:%S}",
            f"{t.closed_at:%Y-%m-%d %H:%M:%S}",
            f"{t.entry_price}",
            f"{t.exit_price}",
            f"{t.realized_pnl}",
            f"{t.fees}",
        ]
        for t in trades
    ]
    return _table_html(
        ["Contract", "Side", "Opened (UTC)", "Closed (UTC)", "Entry", "Exit", "Net P&L", "Fees"],
        rows,
    )


def _figures(data: ReportData) -> dict[str, str]:
    import plotly.graph_objects as go

    def div(fig: Any) -> str:
        fig.update_layout(height=360, margin={"l": 50, "r": 20, "t": 40, "b": 40})
        return fig.to_html(include_plotlyjs=False, full_html=False)

    def on_trading_time(fig: Any, calendar: TradingCalendar | None) -> Any:
        if calendar is not None:
            ticks, labels = session_ticks(calendar)
            step = max(1, len(ticks) // 12)
            fig.update_xaxes(
                tickvals=ticks[::step],
                ticktext=labels[::step],
                title="trading time (sessions with data; halts and gaps take no room)",
            )
        return fig

    def x_of(curve: pd.Series, calendar: TradingCalendar | None) -> Any:
        if calendar is None:
            return curve.index
        return calendar.trading_minutes(curve.index.as_unit("ns").asi8)

    out: dict[str, str] = {}
    curve = equity_curve(data.trades, data.starting_balance)
    if not curve.empty:
        x = x_of(curve, data.calendar)
        text = [f"{t:%Y-%m-%d %H:%M} UTC" for t in curve.index]
        out["equity"] = div(
            on_trading_time(
                go.Figure(
                    go.Scatter(x=x, y=curve.to_numpy(), text=text, mode="lines", line_shape="hv")
                ).update_layout(title="Realized equity (USD), recommended parameters"),
                data.calendar,
            )
        )
        peak = curve.cummax()
        out["drawdown"] = div(
            on_trading_time(
                go.Figure(
                    go.Scatter(
                        x=x,
                        y=(curve - peak).to_numpy(),
                        text=text,
                        fill="tozeroy",
                        mode="lines",
                        line_shape="hv",
                        line_color="#b3261e",
                    )
                ).update_layout(title="Drawdown (USD)"),
                data.calendar,
            )
        )
    months = monthly_pnl(data.trades)
    if not months.empty:
        out["monthly"] = div(
            go.Figure(
                go.Bar(
                    x=list(months.index),
                    y=months.to_numpy(),
                    marker_color=["#0a7d2c" if v >= 0 else "#b3261e" for v in months],
                )
            ).update_layout(title="Net P&L per month (USD)", xaxis_type="category")
        )
    if data.sweep is not None:
        axes = _heatmap_axes(data.sweep)
        if axes is not None:
            from quant_scalper.research.heatmap import heatmap_figure

            with contextlib.suppress(ResearchError):  # e.g. the objective is all n/a
                out["heatmap"] = div(heatmap_figure(data.sweep, axes[0], axes[1], data.objective))
    if data.oos_trades:
        oos = equity_curve(data.oos_trades, data.starting_balance)
        out["oos"] = div(
            on_trading_time(
                go.Figure(
                    go.Scatter(
                        x=x_of(oos, data.oos_calendar),
                        y=oos.to_numpy(),
                        mode="lines",
                        line_shape="hv",
                    )
                ).update_layout(
                    title="Walk-forward out-of-sample equity (stitched test windows, USD)"
                ),
                data.oos_calendar,
            )
        )
    return out


def _heatmap_axes(table: pd.DataFrame) -> tuple[str, str] | None:
    ok = table[table["status"] == "ok"]
    columns = sorted(parameter_columns(table), key=lambda c: -ok[c].nunique())
    columns = [c for c in columns if ok[c].nunique() > 1]
    return (columns[0], columns[1]) if len(columns) >= 2 else None


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return f"<script type='text/javascript'>{get_plotlyjs()}</script>"


def _table_html(headers: Sequence[Any], rows: Sequence[Sequence[Any]], escape: bool = True) -> str:
    def cell(v: Any) -> str:
        return html.escape(str(v)) if escape else str(v)

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(headers: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _format(value: Any, fmt: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and value != value:
        return "n/a"
    try:
        if fmt == "hms":
            from datetime import timedelta

            return format_duration(timedelta(minutes=float(value)))
        if fmt == "d":
            return f"{int(value):d}"
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return str(value)
