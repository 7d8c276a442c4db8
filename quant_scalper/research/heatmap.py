"""A heatmap of any sweep statistic over two parameters (HTML, self-contained).

When the sweep varied more than the two plotted parameters, each cell aggregates every point
with that pair of values (``median`` by default: the typical result of the pair, not the luckiest
combination of the others; ``max`` shows the best case, which is the overfit view). Each cell's
hover text says how many points it aggregates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from quant_scalper.research.errors import ResearchError
from quant_scalper.research.worker import STATUS_OK

AGGREGATES = ("median", "mean", "max", "min")


def heatmap_table(
    table: pd.DataFrame, x: str, y: str, stat: str, agg: str = "median"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(values, counts): ``stat`` aggregated per (y, x) pair over the finished points."""
    for column in (x, y, stat):
        if column not in table.columns:
            raise ResearchError(
                f"{column!r} is not a column of the results; parameters: "
                f"{', '.join(c for c in table.columns if '.' in c)}; statistics include "
                "sharpe_ratio, net_pnl, win_rate, profit_factor, max_drawdown_pct"
            )
    if agg not in AGGREGATES:
        raise ResearchError(f"--agg must be one of {', '.join(AGGREGATES)}, was {agg!r}")
    if x == y:
        raise ResearchError("the heatmap needs two different parameters for x and y")
    ok = table[table["status"] == STATUS_OK]
    if ok.empty:
        raise ResearchError("the results have no finished point to plot")
    grouped = ok.groupby([y, x])[stat]
    values = grouped.agg(agg).unstack(x).sort_index().sort_index(axis=1)
    counts = grouped.count().unstack(x).reindex_like(values)
    return values, counts


def heatmap_figure(
    table: pd.DataFrame, x: str, y: str, stat: str, agg: str = "median", title: str | None = None
) -> Any:
    """A plotly heatmap figure of ``stat`` over ``x`` and ``y``."""
    import plotly.graph_objects as go

    values, counts = heatmap_table(table, x, y, stat, agg)
    text = [
        [
            f"{stat}={v:.4g}<br>{int(c) if c == c else 0} point(s)" if v == v else ""
            for v, c in zip(vr, cr, strict=True)
        ]
        for vr, cr in zip(values.to_numpy(), counts.to_numpy(), strict=True)
    ]
    figure = go.Figure(
        go.Heatmap(
            z=values.to_numpy(),
            x=[str(v) for v in values.columns],
            y=[str(v) for v in values.index],
            text=text,
            hoverinfo="text",
            texttemplate="%{z:.3g}",
            colorscale="RdYlGn",
            colorbar={"title": stat},
        )
    )
    figure.update_layout(
        title=title or f"{stat} ({agg} over other parameters)",
        xaxis_title=x,
        yaxis_title=y,
        xaxis_type="category",
        yaxis_type="category",
    )
    return figure


def write_heatmap(
    table: pd.DataFrame, path: Path, x: str, y: str, stat: str, agg: str = "median"
) -> Path:
    """Write the heatmap as a self-contained HTML file (plotly.js inlined) and return the path."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise ResearchError(f"heatmaps are written as HTML: name the file .html, not {path.name}")
    figure = heatmap_figure(table, x, y, stat, agg)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path
