"""The REST API on a real SQLite journal: filters, sorting, paging, periods, equity, 422s."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from tests.dashboard.journal_fixture import BACKTEST_BOOK, LIVE_BOOK

API = "/api/v1"


def get(client, path: str, **params):
    response = client.get(f"{API}/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_health_books_and_default_book(client) -> None:
    assert get(client, "health") == {"ok": True, "journal": {"ok": True, "schema_version": 1}}
    books = get(client, "books")
    assert [b["book"] for b in books["books"]] == [LIVE_BOOK, BACKTEST_BOOK]
    assert books["default"] == LIVE_BOOK  # a live node is preferred over backtests


def test_status_has_snapshot_age_position_and_risk(client) -> None:
    status = get(client, "status")
    snap = status["snapshot"]
    assert snap["running"] and snap["connected"] and not snap["stale"]
    assert 0 <= snap["age_secs"] < 15
    (position,) = status["positions"]
    assert position["side"] == "LONG" and position["entry_price"] == "5812.25"
    assert position["stop_price"] == "5772.25" and position["target_price"] == "5872.25"
    assert position["open_pnl_cents"] == 6250 and position["age_secs"] >= 754
    risk = status["risk"]
    assert risk["consecutive_losses"] == 2 and risk["day_pnl_cents"] == -18_500
    assert risk["daily_loss_limit_cents"] == 50_000
    assert status["control"] == {"enabled": False, "commands": []}


def test_no_secret_in_any_answer(client) -> None:
    for path in ("status", "positions", "orders", "books", "trades", "events", "health"):
        text = client.get(f"{API}/{path}").text
        assert "DU9999999" not in text and "account_id" not in text, path
        assert "/secret/place" not in text, path  # config paths are not shown


def test_backtest_book_has_no_snapshot_and_derives_risk_from_trades(client) -> None:
    status = get(client, "status", book=BACKTEST_BOOK)
    assert status["kind"] == "backtest" and status["snapshot"] is None
    assert status["risk"]["day_pnl_cents"] == 500 * 3
    assert status["risk"]["consecutive_losses"] == 0


def test_trades_default_order_is_newest_exit_first(client, journal) -> None:
    page = get(client, "trades", page_size=10)
    assert page["summary"]["total"] == len(journal.trades)
    exits = [t["exit_ns"] for t in page["trades"]]
    assert exits == sorted((t["exit_ns"] for t in journal.trades), reverse=True)[:10]
    assert page["pages"] == -(-len(journal.trades) // 10)


@pytest.mark.parametrize(
    "column",
    [
        "net_pnl_cents",
        "entry_price",
        "exit_price",
        "holding_secs",
        "side",
        "exit_reason",
        "id",
        "entry_z",
        "trading_day",
        "quantity",
        "fees_cents",
        "gross_pnl_cents",
        "entry_ns",
        "instrument_id",
        "exit_ns",
    ],
)
def test_trades_sort_by_every_column_both_ways(client, journal, column) -> None:
    def key(t):
        if column == "holding_secs":
            return t["exit_ns"] - t["entry_ns"]
        if column in ("entry_price", "exit_price", "quantity"):
            return float(t[column])
        return t[column]

    for order in ("asc", "desc"):
        got = get(client, "trades", sort=column, order=order, page_size=1000)["trades"]
        values = [key(t) for t in got]
        assert values == sorted(values, reverse=order == "desc"), (column, order)
        assert len(got) == len(journal.trades)


def test_trades_filters_match_a_direct_count(client, journal) -> None:
    trades = journal.trades
    day = journal.days[1]
    cases = [
        ({"from": day, "to": day}, lambda t: t["trading_day"] == day),
        ({"from": journal.days[2]}, lambda t: t["trading_day"] >= journal.days[2]),
        ({"side": "short"}, lambda t: t["side"] == "SHORT"),
        ({"exit_reason": "stop,target"}, lambda t: t["exit_reason"] in ("stop", "target")),
        ({"outcome": "winners"}, lambda t: t["net_pnl_cents"] > 0),
        (
            {"outcome": "losers", "side": "LONG"},
            lambda t: t["net_pnl_cents"] < 0 and t["side"] == "LONG",
        ),
        ({"instrument": "MESZ6.CME"}, lambda t: True),
        ({"instrument": "ESZ6.CME"}, lambda t: False),
    ]
    for params, keep in cases:
        got = get(client, "trades", page_size=1000, **params)
        expected = [t for t in trades if keep(t)]
        assert got["summary"]["total"] == len(expected), params
        assert got["summary"]["net_cents"] == sum(t["net_pnl_cents"] for t in expected), params
        assert sorted(t["trade_key"] for t in got["trades"]) == sorted(
            t["trade_key"] for t in expected
        ), params


def test_trades_pages_cover_everything_once(client, journal) -> None:
    keys = []
    for page in range(1, 6):
        keys += [t["trade_key"] for t in get(client, "trades", page=page, page_size=9)["trades"]]
    assert sorted(keys) == sorted(t["trade_key"] for t in journal.trades)
    assert get(client, "trades", page=99, page_size=9)["trades"] == []


def test_pnl_by_day_week_month_sums_trading_days(client, journal) -> None:
    by_day = defaultdict(int)
    for t in journal.trades:
        by_day[t["trading_day"]] += t["net_pnl_cents"]
    days = get(client, "pnl", period="day")["rows"]
    assert {r["period"]: r["net_cents"] for r in days} == dict(by_day)
    assert days[-1]["cumulative_cents"] == sum(by_day.values())
    weeks = get(client, "pnl", period="week")["rows"]
    by_week = defaultdict(int)
    for d, net in by_day.items():
        iso = date.fromisoformat(d).isocalendar()
        by_week[f"{iso.year}-W{iso.week:02d}"] += net
    assert {r["period"]: r["net_cents"] for r in weeks} == dict(by_week)
    months = get(client, "pnl", period="month")["rows"]
    assert sum(r["net_cents"] for r in months) == sum(by_day.values())
    one = get(client, "pnl", period="day", **{"from": journal.days[0], "to": journal.days[0]})
    assert [r["period"] for r in one["rows"]] == [journal.days[0]]


def test_equity_is_downsampled_on_a_trading_time_axis(client, journal) -> None:
    full = get(client, "equity", max_points=20_000)
    assert full["points"] == full["returned"] == journal.marks
    assert full["index"] == list(range(journal.marks))  # positions, so gaps are not drawn
    assert full["ts_ns"] == sorted(full["ts_ns"])
    eq = full["equity_cents"]
    assert all(
        e == r + o for e, r, o in zip(eq, full["realized_cents"], full["open_cents"], strict=True)
    )
    assert full["day_starts"]["trading_day"] == journal.days
    assert full["day_starts"]["index"] == [i * 390 for i in range(len(journal.days))]
    small = get(client, "equity", max_points=100)
    assert small["points"] == journal.marks and small["returned"] <= 100
    assert small["max_drawdown_cents"] == full["max_drawdown_cents"] == max(full["drawdown_cents"])
    assert min(small["equity_cents"]) == min(eq) and max(small["equity_cents"]) == max(eq)
    one_day = get(
        client, "equity", max_points=20_000, **{"from": journal.days[1], "to": journal.days[1]}
    )
    assert one_day["points"] == 390


def test_breakers_events_orders(client) -> None:
    breakers = get(client, "breakers")["events"]
    assert [b["kind"] for b in breakers] == ["reset", "trip"]
    assert breakers[1]["rule"] == "consecutive_losses"
    events = get(client, "events", limit=3)["events"]
    assert len(events) == 3 and events[0]["ts_ns"] >= events[1]["ts_ns"]
    orders = get(client, "orders", fate="rejected")
    assert orders["total"] == 3 and all(o["fate"] == "rejected" for o in orders["orders"])
    assert {o["client_order_id"] for o in orders["working"]} == {"O-STOP", "O-TARGET"}


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("trades", {"sortt": "id"}, "sortt"),
        ("trades", {"from": "2026-02-30"}, "from"),
        ("trades", {"from": "yesterday"}, "from"),
        ("trades", {"from": "2026-11-27", "to": "2026-11-23"}, "from"),
        ("trades", {"page_size": "1001"}, "page_size"),
        ("trades", {"page_size": "0"}, "page_size"),
        ("trades", {"page": "-1"}, "page"),
        ("trades", {"sort": "password"}, "sort"),
        ("trades", {"order": "up"}, "order"),
        ("trades", {"side": "FLAT"}, "side"),
        ("trades", {"exit_reason": "signal,boredom"}, "exit_reason"),
        ("trades", {"outcome": "breakeven"}, "outcome"),
        ("trades", {"book": "live:NOBODY"}, "book"),
        ("pnl", {"period": "year"}, "period"),
        ("pnl", {"periods": "day"}, "periods"),
        ("equity", {"max_points": "5"}, "max_points"),
        ("equity", {"max_points": "many"}, "max_points"),
        ("orders", {"fate": "lost"}, "fate"),
        ("breakers", {"limit": "100000"}, "limit"),
        ("status", {"verbose": "1"}, "verbose"),
    ],
)
def test_bad_input_is_a_422_naming_the_parameter(client, path, params, param) -> None:
    response = client.get(f"{API}/{path}", params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(d["loc"][-1] == param for d in detail), detail


def test_docs_and_assets_are_served_locally(client) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/_docs/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert "http://" not in docs.text and "https://" not in docs.text
    assert client.get("/_docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["paths"][f"{API}/trades"]
    plotly = client.get("/vendor/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    page = client.get("/")
    assert page.status_code == 200 and "/vendor/plotly.min.js" in page.text
