"""The page in a real headless Chromium (Debian's, driven by Playwright): offline, sortable and
filterable table, the equity chart's points, live updates without a reload, the banners."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from quant_scalper.dashboard.settings import DashboardSettings
from tests.dashboard.journal_fixture import Journal, add_trade, build_journal, touch_status
from tests.dashboard.server import CHROMIUM, dashboard_server

sync_api = pytest.importorskip("playwright.sync_api")
if shutil.which(CHROMIUM) is None:
    pytest.skip(
        f"{CHROMIUM} is not installed (make test installs chromium)", allow_module_level=True
    )

WAIT_MS = 5000


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    return build_journal(tmp_path_factory.mktemp("page") / "journal.sqlite")


@pytest.fixture(scope="module")
def base_url(live: Journal) -> Iterator[str]:
    settings = DashboardSettings(journal=str(live.path), daily_loss_limit_cents=50_000)
    with dashboard_server(settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser, base_url: str, tmp_path_factory: pytest.TempPathFactory):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.requests = []  # every URL the page asked for
    page.outside = []
    page.errors = []

    def guard(route) -> None:
        url = route.request.url
        page.requests.append(url)
        if url.startswith(base_url + "/") or url == base_url:
            route.continue_()
        else:
            page.outside.append(url)
            route.abort()

    page.route("**/*", guard)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_function("Number(document.body.dataset.polls || 0) >= 1", timeout=15_000)
    page.wait_for_function("Number(document.body.dataset.charts || 0) >= 1", timeout=15_000)
    page.evaluate("window.__same_document = true")
    page.shots = tmp_path_factory.mktemp("screenshots")
    yield page
    context.close()


def rows(page) -> list[dict]:
    """The trade table's rows as the page shows them."""
    return page.eval_on_selector_all(
        "#trades tbody tr[data-id]",
        """trs => trs.map(tr => ({id: Number(tr.dataset.id),
             side: tr.children[3].innerText.trim(), net: tr.children[12].innerText.trim()}))""",
    )


MINUS = "\u2212"  # the page prints a real minus sign


def money(text: str) -> int:
    sign = -1 if text.startswith(MINUS) else 1
    return sign * round(float(text.lstrip(MINUS + "$").replace(",", "")) * 100)


def row_count_is(n: int) -> str:
    return f"document.querySelectorAll('#trades tbody tr[data-id]').length == {n}"


def test_page_loads_offline_and_shows_the_state(page, live: Journal) -> None:
    assert page.outside == [], page.outside
    assert any(u.endswith("/vendor/plotly.min.js") for u in page.requests)
    assert page.errors == []
    assert page.inner_text("#conn") == "live · connected"
    position = page.inner_text("#position")
    assert "LONG" in position and "5812.25" in position and "5772.25" in position
    assert "$62.50" in position
    risk = page.inner_text("#risk")
    assert f"{MINUS}$185.00" in risk and f"{MINUS}$500.00" in risk
    assert page.is_hidden("#banner")
    assert len(rows(page)) == len(live.trades)
    breakers = page.inner_text("#breakers")
    assert "consecutive_losses" in breakers and "trip" in breakers
    page.screenshot(path=str(page.shots / "dashboard.png"), full_page=True)


def test_equity_chart_has_the_expected_points(page, base_url: str) -> None:
    api = httpx.get(f"{base_url}/api/v1/equity").json()
    assert api["points"] == 1950 and api["returned"] < api["points"]  # downsampled
    drawn = page.evaluate("document.getElementById('equity').data[0].x.length")
    assert drawn == api["returned"]
    assert page.evaluate("document.getElementById('equity').data[0].x") == api["index"]
    assert page.evaluate("document.getElementById('equity').layout.xaxis.type") == "linear"
    bars = page.evaluate("document.getElementById('pnl').data[0].x.length")
    assert bars == 5


def test_table_sorts_by_clicking_headers(page, live: Journal) -> None:
    page.click('#trades th[data-col="net_pnl_cents"]')
    page.wait_for_selector('#trades th[data-col="net_pnl_cents"].sorted')
    page.wait_for_function(
        "document.querySelector('#trades th[data-col=\"net_pnl_cents\"]').innerText.includes('▲')"
    )
    page.wait_for_timeout(300)
    nets = [money(r["net"]) for r in rows(page)]
    assert nets == sorted(t["net_pnl_cents"] for t in live.trades)
    page.click('#trades th[data-col="net_pnl_cents"]')
    page.wait_for_function(
        "document.querySelector('#trades th[data-col=\"net_pnl_cents\"]').innerText.includes('▼')"
    )
    page.wait_for_timeout(300)
    nets = [money(r["net"]) for r in rows(page)]
    assert nets == sorted((t["net_pnl_cents"] for t in live.trades), reverse=True)
    page.click('#trades th[data-col="exit_ns"]')  # back to newest first
    page.wait_for_timeout(300)


def test_table_filters(page, live: Journal) -> None:
    shorts = [t for t in live.trades if t["side"] == "SHORT"]
    page.select_option('#filters [name="side"]', "SHORT")
    page.wait_for_function(row_count_is(len(shorts)))
    assert {r["side"] for r in rows(page)} == {"SHORT"}
    page.select_option('#filters [name="outcome"]', "losers")
    expected = [t for t in shorts if t["net_pnl_cents"] < 0]
    page.wait_for_function(row_count_is(len(expected)))
    assert all(money(r["net"]) < 0 for r in rows(page))
    page.fill('#filters [name="from"]', live.days[1])
    page.fill('#filters [name="to"]', live.days[1])
    page.dispatch_event("#filters [name='to']", "change")
    expected = [t for t in expected if t["trading_day"] == live.days[1]]
    page.wait_for_function(row_count_is(len(expected)))
    page.screenshot(path=str(page.shots / "filtered.png"), full_page=True)
    page.click("#filters button[type=reset]")
    page.wait_for_function(row_count_is(len(live.trades)))


def test_a_new_trade_shows_without_reload(page, live: Journal) -> None:
    before = page.evaluate("Number(document.body.dataset.polls)")
    add_trade(live.path, live, net_cents=12_345)
    page.wait_for_function(
        "[...document.querySelectorAll('#trades tbody tr td:nth-child(13)')]"
        ".some(td => td.innerText.includes('$123.45'))",
        timeout=WAIT_MS,
    )
    assert page.evaluate("window.__same_document === true")  # no reload happened
    assert page.evaluate("Number(document.body.dataset.polls)") > before


def test_stale_snapshot_banner(page, live: Journal) -> None:
    touch_status(live.path, live.book, age_secs=120)
    page.wait_for_selector("#banner.banner-amber", state="visible", timeout=WAIT_MS)
    assert "old" in page.inner_text("#banner") and page.inner_text("#conn") == "stale"
    page.screenshot(path=str(page.shots / "stale.png"))
    touch_status(live.path, live.book, age_secs=0)
    page.wait_for_selector("#banner", state="hidden", timeout=WAIT_MS)


def test_unreadable_journal_banner(browser, tmp_path: Path) -> None:
    journal = build_journal(tmp_path / "journal.sqlite", days=1)
    with dashboard_server(DashboardSettings(journal=str(journal.path))) as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_function("Number(document.body.dataset.polls || 0) >= 1", timeout=15_000)
        journal.path.write_bytes(b"not a database " * 1000)
        page.wait_for_selector("#banner.banner-red", state="visible", timeout=WAIT_MS)
        text = page.inner_text("#banner")
        assert "journal cannot be read" in text and str(journal.path) in text
        assert page.inner_text("#conn") == "journal unreadable"
        page.screenshot(path=str(tmp_path / "unreadable.png"))
        page.close()
