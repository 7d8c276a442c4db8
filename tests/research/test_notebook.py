"""The example notebook runs top to bottom on the bundled catalog."""

from __future__ import annotations

import pytest

from tests.research.support import REPO

nbclient = pytest.importorskip("nbclient", reason="pip install -e '.[test]' (nbclient)")
nbformat = pytest.importorskip("nbformat", reason="pip install -e '.[test]' (nbformat)")


def test_backtest_notebook_executes() -> None:
    path = REPO / "notebooks" / "backtest.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "\n".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "closed trades on MESZ3.CME, MESH4.CME, MESH0.CME" in text
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 3  # equity and drawdown, monthly P&L, pre-screen heatmap
