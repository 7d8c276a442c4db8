"""The pure modules import no ``nautilus_trader``, directly or transitively.

Pure logic stays apart from the Nautilus glue so it is tested in microseconds and reused by the
research tools. One fresh interpreter imports every pure module in turn; an import hook notes
which quant_scalper files were on the stack when ``nautilus_trader`` was first imported, so a
failure names the culprit line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PURE_MODULES = (
    "quant_scalper.signals",
    "quant_scalper.parameters",
    "quant_scalper.config",
    "quant_scalper.zscore",
    "quant_scalper.topics",
    "quant_scalper.errors",
    "quant_scalper.control",
    "quant_scalper.risk",
    "quant_scalper.risk.model",
    "quant_scalper.risk.session",
    "quant_scalper.risk.state_store",
    "quant_scalper.risk.bookkeeping",
    "quant_scalper.risk.connection_guard",
    "quant_scalper.risk.core",
    "quant_scalper.risk.persistence",
    "quant_scalper.risk.fill_journal",
    "quant_scalper.risk.trader_risk",
    "quant_scalper.operator_commands",
    "quant_scalper.risk.state_folder",
    "quant_scalper.analysis.stats",
    "quant_scalper.analysis.metrics",
    "quant_scalper.journal.rows",
    "quant_scalper.journal.schema",
    "quant_scalper.live.latency",
    "quant_scalper.telegram.formatting",
    "quant_scalper.telegram.commands",
    "quant_scalper.telegram.operator",
    "quant_scalper.telegram.trades",
    "quant_scalper.telegram.delivery",
    "quant_scalper.telegram.throttle",
    "quant_scalper.telegram.outbox",
    "quant_scalper.telegram.poller",
    "quant_scalper.telegram.client",
    "quant_scalper.telegram.errors",
)

PROBE = r"""
import importlib, json, sys, traceback

culprits = {}
current = [None]


class Watch:
    def find_spec(self, name, path=None, target=None):
        if (name == "nautilus_trader" or name.startswith("nautilus_trader.")) and (
            current[0] not in culprits
        ):
            culprits[current[0]] = [
                f"{f.filename.split('/quant_scalper/', 1)[-1]}:{f.lineno}"
                for f in traceback.extract_stack()
                if "/quant_scalper/" in f.filename
            ] + [name]
        return None


sys.meta_path.insert(0, Watch())
for module in sys.argv[1:]:
    current[0] = module
    importlib.import_module(module)
print(json.dumps(culprits))
"""


def test_pure_modules_import_no_nautilus() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *PURE_MODULES],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    culprits = json.loads(done.stdout.strip().splitlines()[-1])
    assert culprits == {}, "\n".join(
        f"{module} imports nautilus_trader via {' -> '.join(chain)}: move that import to the "
        "glue module or under TYPE_CHECKING"
        for module, chain in culprits.items()
    )
