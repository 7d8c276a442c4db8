"""Which parameters to recommend, and why, from a sweep table and a walk-forward summary.

The best point of a sweep is the one most likely to be overfit: its score is the maximum of
many noisy estimates. So the recommendation prefers, in order:

1. the walk-forward's modal parameter set (the one its train windows chose most often), when
   a walk-forward ran: it was chosen repeatedly on different data;
2. otherwise the sweep point with the best *neighbourhood*: the median objective of the point
   and its grid neighbours (one step away in one parameter). A point on a plateau of good
   results beats a lone spike;
3. otherwise the base config as it is.

It is hedged: when nothing made money out of sample (the walk-forward's stitched test windows
lost, or without a walk-forward every sweep point lost) there is **no recommendation** (source
``"none"``), with the reasons; a chosen value at the edge of the values tried is flagged (the
best may lie beyond the grid). Each recommendation carries the sentences that explain it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quant_scalper.analysis.stats import HIGHER_IS_BETTER
from quant_scalper.research.sweep import parameter_columns, rank


@dataclass(frozen=True)
class Recommendation:
    """Recommended parameter values, where they came from, and the reasons in words."""

    params: Mapping[str, Any]
    source: str  # "walk-forward", "sweep", "base config" or "none" (no recommendation)
    reasons: list[str] = field(default_factory=list)
    edge_flags: list[str] = field(default_factory=list)

    @property
    def recommended(self) -> bool:
        """False when the evidence supports no parameters at all."""
        return self.source != "none"


def recommend(
    table: pd.DataFrame | None,
    objective: str,
    min_trades: int,
    walk_forward: Mapping[str, Any] | None = None,
) -> Recommendation:
    """The recommendation for a sweep table and/or a walk-forward summary (see module)."""
    choice = _recommend(table, objective, min_trades, walk_forward)
    if not choice.recommended or table is None:
        return choice
    flags = edge_flags(table, choice.params)
    return Recommendation(choice.params, choice.source, [*choice.reasons, *flags], flags)


def no_recommendation_reason(
    table: pd.DataFrame | None, walk_forward: Mapping[str, Any] | None
) -> str | None:
    """Why nothing can be recommended (nothing profitable out of sample), or None."""
    if walk_forward:
        oos = walk_forward.get("oos") or {}
        net, trades = oos.get("net_pnl"), oos.get("trades")
        if not walk_forward.get("stability", {}).get("modal_parameters"):
            return (
                "No recommendation: no walk-forward train window had a point with enough trades, "
                "so nothing was tested out of sample."
            )
        if net is None or float(net) <= 0:
            wfe = walk_forward.get("walk_forward_efficiency")
            return (
                "No recommendation: nothing was profitable out of sample. The walk-forward's "
                f"stitched test windows made {_money(net)} over {trades or 0} trades "
                f"(walk-forward efficiency {'n/a' if wfe is None else f'{wfe:.2f}'}). "
                "Parameters chosen in sample did not carry over; do not trade them."
            )
        return None
    if table is not None and "net_pnl" in table.columns:
        ok = table[table["status"] == "ok"]
        if not ok.empty and not (ok["net_pnl"] > 0).any():
            return (
                f"No recommendation: every one of the {len(ok)} sweep points lost money "
                "(net of fees) on the whole test; there is no edge to choose between."
            )
    return None


def edge_flags(table: pd.DataFrame, params: Mapping[str, Any]) -> list[str]:
    """A warning for each chosen value at the lowest or highest value the sweep tried."""
    flags = []
    for column in parameter_columns(table):
        if column not in params:
            continue
        tried = sorted(
            {_key(v) for v in table[column].dropna().tolist()},
            key=_sort_key,
        )
        numeric = [v for v in tried if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numeric) < 2 or len(numeric) != len(tried):
            continue
        value = _key(params[column])
        if value in (numeric[0], numeric[-1]):
            side = "lowest" if value == numeric[0] else "highest"
            flags.append(
                f"Edge of the grid: {column} = {value} is the {side} value tried "
                f"({numeric[0]} .. {numeric[-1]}); the best may lie beyond it, widen the range "
                "before trusting this choice."
            )
    return flags


def _recommend(
    table: pd.DataFrame | None,
    objective: str,
    min_trades: int,
    walk_forward: Mapping[str, Any] | None,
) -> Recommendation:
    reason = no_recommendation_reason(table, walk_forward)
    if reason is not None:
        return Recommendation({}, "none", [reason])
    if walk_forward and walk_forward.get("stability", {}).get("modal_parameters"):
        stability = walk_forward["stability"]
        share = stability["modal_parameters_share"]
        n = stability["windows_with_choice"]
        reasons = [
            f"The walk-forward's train windows chose these values in {round(share * n)} of {n} "
            f"windows ({share:.0%}), ranking by {walk_forward.get('objective')}.",
        ]
        wfe = walk_forward.get("walk_forward_efficiency")
        reasons.append(
            "Walk-forward efficiency (out-of-sample over in-sample P&L per day): "
            + ("n/a, the in-sample P&L was not positive." if wfe is None else f"{wfe:.2f}.")
        )
        if table is not None:
            reasons += _sweep_context(table, stability["modal_parameters"], objective, min_trades)
        return Recommendation(dict(stability["modal_parameters"]), "walk-forward", reasons)
    if table is not None:
        ranked = rank(table, objective, min_trades)
        if not ranked.empty:
            scores = neighbourhood_scores(ranked, table, objective)
            sign = 1.0 if HIGHER_IS_BETTER[objective] else -1.0
            best_id = max(scores, key=lambda pid: (sign * scores[pid], -_position(ranked, pid)))
            row = ranked.set_index("point_id").loc[best_id]
            params = {c: _plain(row[c]) for c in parameter_columns(table)}
            reasons = [
                f"Best neighbourhood in the sweep: the median {objective} of this point and its "
                f"grid neighbours is {scores[best_id]:.4g} (the point itself: "
                f"{row[objective]:.4g}, rank {_position(ranked, best_id) + 1} of {len(ranked)} "
                f"points with at least {min_trades} trades).",
            ]
            reasons += _sweep_context(table, params, objective, min_trades)
            return Recommendation(params, "sweep", reasons)
    return Recommendation({}, "base config", ["No sweep or walk-forward results: the base config."])


def neighbourhood_scores(
    ranked: pd.DataFrame, table: pd.DataFrame, objective: str
) -> dict[str, float]:
    """Median objective over each ranked point and its one-step grid neighbours."""
    columns = parameter_columns(table)
    steps = {c: sorted(table[c].dropna().unique().tolist(), key=_sort_key) for c in columns}
    values = {tuple(_key(r[c]) for c in columns): r[objective] for _, r in ranked.iterrows()}
    scores = {}
    for _, row in ranked.iterrows():
        here = tuple(_key(row[c]) for c in columns)
        found = [row[objective]]
        for i, column in enumerate(columns):
            order = [_key(v) for v in steps[column]]
            if here[i] not in order:
                continue
            at = order.index(here[i])
            for j in (at - 1, at + 1):
                if 0 <= j < len(order):
                    neighbour = (*here[:i], order[j], *here[i + 1 :])
                    if neighbour in values:
                        found.append(values[neighbour])
        scores[row["point_id"]] = float(np.median(found))
    return scores


def _sweep_context(
    table: pd.DataFrame, params: Mapping[str, Any], objective: str, min_trades: int
) -> list[str]:
    ranked = rank(table, objective, min_trades)
    if ranked.empty:
        return [f"No sweep point had {min_trades} trades or more."]
    best = ranked.iloc[0]
    tried = int(best.get("n_trials") or len(table))
    lines = [
        f"The sweep tried {tried} points; its best {objective} was {best[objective]:.4g} "
        f"(deflated Sharpe {_fmt(best.get('deflated_sharpe'))}, probability the true Sharpe "
        f"beats the best of {tried} unskilled tries "
        f"{_fmt(best.get('deflated_sharpe_probability'))}).",
    ]
    match = _find(table, params)
    if match is not None and match["point_id"] != best["point_id"]:
        lines.append(
            f"The recommended point scored {_fmt(match.get(objective))} in the sweep "
            f"({_fmt(match.get('trades'))} trades)."
        )
    return lines


def _find(table: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series | None:
    mask = pd.Series(True, index=table.index)
    for key, value in params.items():
        if key not in table.columns:
            return None
        mask &= table[key].map(_key) == _key(value)
    hits = table[mask]
    return None if hits.empty else hits.iloc[0]


def _position(ranked: pd.DataFrame, pid: str) -> int:
    return int(np.flatnonzero(ranked["point_id"].to_numpy() == pid)[0])


def _key(value: Any) -> Any:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return round(float(value), 10)
    return json.dumps(value) if isinstance(value, list | dict) else value


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, float(value)) if isinstance(value, int | float | np.number) else (1, str(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        f = float(value)
        return int(f) if f.is_integer() and abs(f) < 1e15 else f
    return value


def _money(value: Any) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"-${-f:,.2f}" if f < 0 else f"${f:,.2f}"


def _fmt(value: Any) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if f != f else f"{f:.4g}"
