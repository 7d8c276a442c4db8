"""The golden summary of the bundled backtest: every fill, position and statistic, canonical.

``tests/golden/backtest_summary.json`` holds it; ``make golden`` regenerates it and
``tests/test_backtest_golden.py`` compares a fresh run to it, so a change meant to be a pure
speed-up (issue 14) cannot move a single fill. Random identifiers (UUIDs of order inits and of
NETTING position snapshots) are dropped; everything else is kept.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from quant_scalper.backtest.runner import BacktestOutcome, run_backtest, summary_dict
from quant_scalper.config import load_backtest_settings

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "backtest.yaml"
GOLDEN = REPO / "tests" / "golden" / "backtest_summary.json"

# Columns whose values are random per run (UUID4) or are the report's row bookkeeping.
FILL_COLUMNS = [
    "client_order_id",
    "strategy_id",
    "instrument_id",
    "venue_order_id",
    "account_id",
    "type",
    "side",
    "quantity",
    "time_in_force",
    "is_reduce_only",
    "filled_qty",
    "liquidity_side",
    "avg_px",
    "slippage",
    "commissions",
    "status",
    "contingency_type",
    "order_list_id",
    "linked_order_ids",
    "parent_order_id",
    "tags",
    "ts_init",
    "ts_last",
]
POSITION_COLUMNS = [
    "strategy_id",
    "instrument_id",
    "account_id",
    "opening_order_id",
    "closing_order_id",
    "entry",
    "side",
    "quantity",
    "peak_qty",
    "ts_opened",
    "ts_closed",
    "duration_ns",
    "avg_px_open",
    "avg_px_close",
    "commissions",
    "realized_return",
    "realized_pnl",
]


def _rows(frame: pd.DataFrame, columns: list[str], sort_by: list[str]) -> list[list[str]]:
    """The frame's chosen columns as strings, in a canonical row order."""
    picked = frame[columns].astype(str).sort_values(sort_by, kind="stable")
    return picked.values.tolist()


def _sha(rows: list[Any]) -> str:
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def golden_summary(outcome: BacktestOutcome) -> dict[str, Any]:
    """The canonical record of one backtest: trades in full, fills/positions/account hashed."""
    fills = pd.read_csv(outcome.files["fills"], dtype=str, keep_default_na=False)
    positions = pd.read_csv(outcome.files["positions"], dtype=str, keep_default_na=False)
    account = pd.read_csv(outcome.files["account"], dtype=str, keep_default_na=False)
    fill_rows = _rows(fills, FILL_COLUMNS, ["ts_last", "client_order_id"])
    position_rows = _rows(positions, POSITION_COLUMNS, ["ts_closed", "opening_order_id"])
    account_rows = account.values.tolist()
    trades = [
        [
            t.instrument_id,
            t.side,
            str(t.quantity),
            t.opened_at.isoformat(),
            t.closed_at.isoformat(),
            str(t.entry_price),
            str(t.exit_price),
            str(t.realized_pnl),
            str(t.fees),
        ]
        for t in outcome.trades
    ]
    summary = json.loads(json.dumps(summary_dict(outcome), default=str))
    return {
        "about": "tests/golden_summary.py: `make golden` regenerates; a change must be meant",
        "summary": summary,
        "fills": {"count": len(fill_rows), "sha256": _sha(fill_rows)},
        "positions": {"count": len(position_rows), "sha256": _sha(position_rows)},
        "account_states": {"count": len(account_rows), "sha256": _sha(account_rows)},
        "trade_columns": [
            "instrument_id",
            "side",
            "quantity",
            "opened_at",
            "closed_at",
            "entry_price",
            "exit_price",
            "net_pnl",
            "fees",
        ],
        "trades": trades,
    }


def bundled_outcome(output_dir: Path) -> BacktestOutcome:
    """The default backtest (configs/backtest.yaml) on the bundled catalog, files written."""
    settings = load_backtest_settings(CONFIG, ["progress=false"])
    return run_backtest(settings.replace(output_dir=output_dir))


def main() -> int:
    """Regenerate the golden summary file from a fresh run."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        golden = golden_summary(bundled_outcome(Path(tmp) / "out"))
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(golden, indent=1) + "\n")
    print(f"wrote {GOLDEN}: {len(golden['trades'])} trades, {golden['fills']['count']} fills")
    return 0


if __name__ == "__main__":
    sys.exit(main())
