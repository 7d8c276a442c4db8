"""The dashboard over a live node's journal: a paper-trading node on the TWS peer, the page open
in a real headless Chromium; a fill at the peer shows on the page within 5 s, without a reload,
and the closed trade reaches the table (issue 12, "the live e2e shows a node updating live")."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from quant_scalper.dashboard.settings import DashboardSettings
from tests.dashboard.server import CHROMIUM, dashboard_server
from tests.ibpeer import IBPeer, candles_from_closes
from tests.live import scenario
from tests.live.harness import TRADER_ID, LiveNode, wait_for, write_config
from tests.live.test_node_e2e import STEP, _bracket_working, _ready

sync_api = pytest.importorskip("playwright.sync_api")
if shutil.which(CHROMIUM) is None:
    pytest.skip(
        f"{CHROMIUM} is not installed (make test installs chromium)", allow_module_level=True
    )

SHOWN_WITHIN_MS = 5000


def test_a_fill_at_the_peer_shows_on_the_open_page_within_5_s(
    peer: IBPeer, start_node: Callable[..., LiveNode], tmp_path: Path
) -> None:
    config = write_config(tmp_path, peer.port, journal={"status_interval_secs": 0.5})
    journal = tmp_path / "state" / TRADER_ID / "journal.sqlite"
    node = start_node(config)
    _ready(peer, node)
    wait_for(lambda: journal.exists() or None, STEP, "the node's journal file", node)
    settings = DashboardSettings(journal=str(journal), book=f"live:{TRADER_ID}")
    with dashboard_server(settings) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        outside: list[str] = []
        page.on(
            "request",
            lambda r: None if r.url.startswith("http://127.0.0.1:") else outside.append(r.url),
        )
        page.goto(url + "/")
        page.wait_for_function("Number(document.body.dataset.polls || 0) >= 1", timeout=15_000)
        page.wait_for_function(
            "document.querySelector('#conn').textContent.includes('connected')", timeout=15_000
        )
        page.evaluate("window.__same_document = true")
        assert "flat" in page.inner_text("#position")

        peer.push(*scenario.entry_path())
        peer.wait_until(_bracket_working, STEP, "a filled entry with two working children")
        filled_at = time.monotonic()
        page.wait_for_function(
            "document.querySelector('#position').innerText.includes('LONG')",
            timeout=SHOWN_WITHIN_MS,
        )
        shown_after = time.monotonic() - filled_at
        page.screenshot(path=str(tmp_path / "dashboard-live-position.png"), full_page=True)

        peer.push(candles_from_closes([scenario.DROP])[0], scenario.take_profit_candle())
        peer.wait_until(lambda s: not s.positions, STEP, "the target to fill")
        page.wait_for_function(
            "document.querySelectorAll('#trades tbody tr[data-id]').length >= 1",
            timeout=SHOWN_WITHIN_MS,
        )
        page.wait_for_function(
            "document.querySelector('#position').innerText.includes('flat')",
            timeout=SHOWN_WITHIN_MS,
        )
        assert "target" in page.inner_text("#trades tbody")
        assert page.evaluate("window.__same_document === true")  # updated without a reload
        page.screenshot(path=str(tmp_path / "dashboard-live-trade.png"), full_page=True)
        browser.close()
    assert not outside, outside
    assert shown_after < SHOWN_WITHIN_MS / 1000
    assert node.stop() == 0
