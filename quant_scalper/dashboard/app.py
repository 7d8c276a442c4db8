"""The dashboard's FastAPI app: REST ``/api/v1`` over a read-only journal, one page, /docs.

Everything is served from installed packages (plotly's bundled plotly.js, Swagger UI from
``fastapi-offline``): the page and /docs work with no internet.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from quant_scalper.control import COMMANDS, ControlChannel, ControlChannelError
from quant_scalper.dashboard import security
from quant_scalper.dashboard.errors import JournalReadError
from quant_scalper.dashboard.series import PERIODS, aggregate_pnl, downsample_indices, losing_streak
from quant_scalper.dashboard.settings import DashboardSettings
from quant_scalper.dashboard.store import TRADE_SORT_COLUMNS, JournalStore, TradeQuery
from quant_scalper.journal import schema

STATIC_DIR = Path(__file__).parent / "static"
API = "/api/v1"
PUBLIC_PATHS = ("/login", "/static/", "/vendor/", "/_docs/", f"{API}/health", "/favicon.ico")
BOOKS_CACHE_SECS = 5.0
CONTROL_PROMPTS = {
    "kill": "Kill switch: cancel every order, flatten the position, then halt until resume.",
    "resume": "Resume trading: clear the kill switch (a daily loss limit hit today stays).",
}


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the installed ``plotly`` package."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def swagger_dir() -> Path:
    """Swagger UI's files as shipped inside the installed ``fastapi-offline`` package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def bad_input(param: str, message: str) -> HTTPException:
    """A 422 naming the query parameter, in FastAPI's own validation-error shape."""
    return HTTPException(
        status_code=422,
        detail=[{"loc": ["query", param], "msg": message, "type": "value_error"}],
    )


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


_ALLOWED: dict[int, frozenset[str]] = {}


def _allowed_params(route: APIRoute) -> frozenset[str]:
    allowed = _ALLOWED.get(id(route))
    if allowed is None:
        allowed = _ALLOWED[id(route)] = frozenset(_query_names(route.dependant))
    return allowed


async def reject_unknown_params(request: Request) -> None:
    """422 for any query parameter the endpoint does not take (a typo must not be ignored)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = _allowed_params(route)
    for name in request.query_params:
        if name not in allowed:
            raise bad_input(
                name,
                f"unknown query parameter {name!r}; this endpoint takes: "
                f"{', '.join(sorted(allowed)) or 'none'}",
            )


BookParam = Annotated[
    str | None, Query(max_length=200, description="live:<trader_id> or backtest:<run_id>")
]
DayParam = Annotated[date | None, Query(description="a CME trading day, YYYY-MM-DD")]
FateParam = Annotated[Literal[*schema.ORDER_FATES] | None, Query()]  # type: ignore[valid-type]
PeriodParam = Annotated[Literal[*PERIODS], Query()]  # type: ignore[valid-type]


class ControlRequest(BaseModel):
    """An operator action's first step: what and why."""

    reason: str = Field(default="", max_length=200)


class ConfirmRequest(BaseModel):
    """An operator action's second step: the confirmation id of the first."""

    confirm_id: str = Field(min_length=8, max_length=64)


def create_app(settings: DashboardSettings, store: JournalStore | None = None) -> FastAPI:
    """The dashboard app over ``settings.journal`` (opened read-only and checked now)."""
    store = store or JournalStore(settings.journal, settings.journal_password)
    store.check()
    app = FastAPI(
        title="quant-scalper dashboard",
        version="1",
        description="Read-only view of the trade journal: positions, trades, P&L, equity.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.store = store
    app.state.settings = settings
    confirmations = security.Confirmations()
    books_cache: dict[str, Any] = {"at": 0.0, "books": []}
    equity_cache: dict[tuple, dict[str, Any]] = {}  # marks are immutable: keyed by last id

    @app.exception_handler(JournalReadError)
    async def _journal_error(_: Request, exc: JournalReadError) -> JSONResponse:
        return JSONResponse(
            status_code=503, content={"detail": str(exc), "journal_error": type(exc).__name__}
        )

    @app.middleware("http")
    async def _auth(request: Request, call_next: Any) -> Response:
        path = request.url.path
        public = any(path == p or path.startswith(p) for p in PUBLIC_PATHS)
        if not public and not security.authorized(request, settings.token):
            if path.startswith("/api/") or path == "/openapi.json":
                return JSONResponse(
                    status_code=401,
                    content={"detail": "a valid dashboard token is required"},
                    headers={"WWW-Authenticate": "Bearer"},
                )
            return RedirectResponse("/login", status_code=303)
        response: Response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-eval' 'unsafe-inline'; connect-src 'self'; "
            "frame-ancestors 'none'",
        )
        if path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    # -- page, assets, docs ------------------------------------------------------------------

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/_docs", StaticFiles(directory=swagger_dir()), name="docs-assets")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="text/javascript")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(swagger_dir() / "favicon.png", media_type="image/png")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="quant-scalper dashboard API",
            swagger_js_url="/_docs/swagger-ui-bundle.js",
            swagger_css_url="/_docs/swagger-ui.css",
            swagger_favicon_url="/_docs/favicon.png",
        )

    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "login.html")

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if settings.token is None:
            return RedirectResponse("/", status_code=303)
        if request.headers.get("origin") is not None and not security.same_origin(request):
            return JSONResponse(status_code=403, content={"detail": "cross-site login refused"})
        from urllib.parse import parse_qs

        body = (await request.body())[:4096].decode("utf-8", "replace")
        given = (parse_qs(body).get("token") or [""])[0]
        import hmac

        if not hmac.compare_digest(given.encode(), settings.token.encode()):
            return RedirectResponse("/login?failed=1", status_code=303)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            security.COOKIE_NAME,
            security.session_value(settings.token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    # -- API ---------------------------------------------------------------------------------

    api = APIRouter(prefix=API, dependencies=[Depends(reject_unknown_params)])

    def books() -> list[dict[str, Any]]:
        now = time.monotonic()
        if now - books_cache["at"] > BOOKS_CACHE_SECS:
            books_cache["books"] = store.books()
            books_cache["at"] = now
        return books_cache["books"]

    def resolve_book(book: str | None) -> str:
        known = books()
        names = [b["book"] for b in known]
        if book is not None:
            if book not in names:
                books_cache["at"] = 0.0
                names = [b["book"] for b in books()]
            if book not in names:
                raise bad_input(
                    "book",
                    f"book {book!r} is not in the journal; books: {', '.join(names) or 'none yet'}",
                )
            return book
        if settings.book is not None:
            return settings.book
        live = [b for b in known if b.get("kind") == "live"]
        if live:
            return str(live[0]["book"])
        if names:
            return names[0]
        raise HTTPException(
            status_code=404,
            detail=f"the journal {store.label} holds no run yet: start the node or a backtest",
        )

    def day_range(from_: date | None, to: date | None) -> tuple[str | None, str | None]:
        if from_ is not None and to is not None and from_ > to:
            raise bad_input("from", f"from ({from_}) is after to ({to})")
        return (from_.isoformat() if from_ else None, to.isoformat() if to else None)

    @api.get("/health", summary="Is the journal readable?")
    def health() -> dict[str, Any]:
        try:
            version = store.check()
        except JournalReadError as exc:
            return {"ok": False, "journal": {"ok": False, "error": str(exc)}}
        return {"ok": True, "journal": {"ok": True, "schema_version": version}}

    @api.get("/books", summary="Every run in the journal (live nodes, backtests)")
    def list_books() -> dict[str, Any]:
        books_cache["at"] = 0.0
        return {"books": books(), "default": _default_or_none()}

    def _default_or_none() -> str | None:
        try:
            return resolve_book(None)
        except HTTPException:
            return None

    @api.get("/status", summary="The node's snapshot, its age, today's risk, control state")
    def status(book: BookParam = None) -> dict[str, Any]:
        name = resolve_book(book)
        return _status(name)

    def _status(name: str) -> dict[str, Any]:
        now_ns = time.time_ns()
        snap = store.status(name)
        run = store.run(name)
        kind = (run or {}).get("kind") or name.split(":", 1)[0]
        snapshot = None
        risk: dict[str, Any] = {}
        if snap is not None:
            updated_ns, payload = snap
            age = max(0.0, (now_ns - updated_ns) / 1e9)
            snapshot = {
                "updated_at_ns": updated_ns,
                "age_secs": round(age, 1),
                "stale": age > settings.stale_after_secs,
                "running": bool(payload.get("running")),
                "connected": payload.get("connected"),
                "last_bar_ns": payload.get("last_bar_ns"),
                "last_bar_age_secs": None
                if payload.get("last_bar_ns") is None
                else round(max(0.0, (now_ns - int(payload["last_bar_ns"])) / 1e9), 1),
                "journal": payload.get("journal") or {},
                "error": payload.get("error"),
            }
            risk = dict(payload.get("risk") or {})
        nets = store.latest_nets(name)
        if "consecutive_losses" not in risk:
            risk["consecutive_losses"] = losing_streak(nets)
        if "day_pnl_cents" not in risk:
            days = store.pnl_days(name, None, None)
            if days:
                risk["trading_day"] = days[-1].trading_day
                risk["day_pnl_cents"] = days[-1].net_cents
                risk["trades_today"] = days[-1].trades
        risk.setdefault("daily_loss_limit_cents", settings.daily_loss_limit_cents)
        return {
            "book": name,
            "kind": kind,
            "now_ns": now_ns,
            "stale_after_secs": settings.stale_after_secs,
            "snapshot": snapshot,
            "risk": risk,
            "run": run,
            "positions": _positions(snap, now_ns),
            "control": {
                "enabled": _control_enabled(),
                "commands": list(COMMANDS) if _control_enabled() else [],
            },
        }

    def _positions(snap: tuple[int, dict[str, Any]] | None, now_ns: int) -> list[dict[str, Any]]:
        if snap is None:
            return []
        payload = snap[1]
        orders = [o for o in payload.get("orders") or [] if isinstance(o, dict)]
        result = []
        for p in payload.get("positions") or []:
            if not isinstance(p, dict):
                continue
            mine = [o for o in orders if o.get("instrument_id") == p.get("instrument_id")]
            stop = next(
                (o.get("trigger_price") for o in mine if "STOP" in str(o.get("type", ""))), None
            )
            target = next((o.get("price") for o in mine if str(o.get("type", "")) == "LIMIT"), None)
            opened = p.get("ts_opened_ns")
            result.append(
                {
                    "instrument_id": p.get("instrument_id"),
                    "side": p.get("side"),
                    "quantity": p.get("quantity"),
                    "entry_price": p.get("avg_px_open"),
                    "open_pnl_cents": p.get("open_pnl_cents"),
                    "stop_price": stop,
                    "target_price": target,
                    "opened_at_ns": opened,
                    "age_secs": None if opened is None else max(0, (now_ns - int(opened)) // 10**9),
                }
            )
        return result

    @api.get("/positions", summary="Open positions from the node's snapshot, with stop/target")
    def positions(book: BookParam = None) -> dict[str, Any]:
        name = resolve_book(book)
        snap = store.status(name)
        return {"book": name, "positions": _positions(snap, time.time_ns())}

    @api.get("/orders", summary="Orders and their fate, newest first")
    def orders(
        book: BookParam = None,
        fate: FateParam = None,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        name = resolve_book(book)
        rows, total = store.orders(name, fate, page, page_size)
        working = []
        snap = store.status(name)
        if snap is not None:
            working = [o for o in snap[1].get("orders") or [] if isinstance(o, dict)]
        return {
            "book": name,
            "page": page,
            "page_size": page_size,
            "total": total,
            "orders": rows,
            "working": working,
        }

    @api.get("/trades", summary="Closed round trips: filter, sort by any column, page")
    def trades(
        book: BookParam = None,
        from_: Annotated[date | None, Query(alias="from", description="first trading day")] = None,
        to: DayParam = None,
        instrument: Annotated[str | None, Query(max_length=100)] = None,
        side: Annotated[str | None, Query(description="LONG or SHORT")] = None,
        exit_reason: Annotated[
            str | None, Query(max_length=400, description="one or more, comma-separated")
        ] = None,
        outcome: Annotated[Literal["winners", "losers"] | None, Query()] = None,
        sort: Annotated[str, Query(description=", ".join(TRADE_SORT_COLUMNS))] = "exit_ns",
        order: Annotated[Literal["asc", "desc"], Query()] = "desc",
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        name = resolve_book(book)
        first, last = day_range(from_, to)
        if sort not in TRADE_SORT_COLUMNS:
            raise bad_input("sort", f"cannot sort by {sort!r}; use one of {TRADE_SORT_COLUMNS}")
        if side is not None and side.upper() not in ("LONG", "SHORT"):
            raise bad_input("side", f"side must be LONG or SHORT, got {side!r}")
        reasons: tuple[str, ...] = ()
        if exit_reason:
            reasons = tuple(r.strip() for r in exit_reason.split(",") if r.strip())
            wrong = [r for r in reasons if r not in schema.EXIT_REASONS]
            if wrong:
                raise bad_input(
                    "exit_reason",
                    f"unknown exit reason(s) {', '.join(wrong)}; use {schema.EXIT_REASONS}",
                )
        query = TradeQuery(
            book=name,
            from_day=first,
            to_day=last,
            instrument=instrument or None,
            side=side.upper() if side else None,
            exit_reasons=reasons,
            outcome=outcome,
            sort=sort,
            descending=order == "desc",
            page=page,
            page_size=page_size,
        )
        rows, summary = store.trades(query)
        return {
            "book": name,
            "page": page,
            "page_size": page_size,
            "pages": max(1, -(-summary["total"] // page_size)),
            "sort": sort,
            "order": order,
            "summary": summary,
            "trades": rows,
        }

    @api.get("/instruments", summary="Instruments the book traded")
    def instruments(book: BookParam = None) -> dict[str, Any]:
        name = resolve_book(book)
        return {"book": name, "instruments": store.instruments(name)}

    @api.get("/pnl", summary="Net P&L per CME trading day, ISO week or month of trading days")
    def pnl(
        period: PeriodParam = "day",
        book: BookParam = None,
        from_: Annotated[date | None, Query(alias="from")] = None,
        to: DayParam = None,
    ) -> dict[str, Any]:
        name = resolve_book(book)
        first, last = day_range(from_, to)
        rows = aggregate_pnl(store.pnl_days(name, first, last), period)
        return {"book": name, "period": period, "rows": rows}

    @api.get("/equity", summary="Equity (realized + open) and drawdown, downsampled")
    def equity(
        book: BookParam = None,
        from_: Annotated[date | None, Query(alias="from")] = None,
        to: DayParam = None,
        max_points: Annotated[int, Query(ge=10, le=20_000)] = 1500,
    ) -> dict[str, Any]:
        name = resolve_book(book)
        first, last = day_range(from_, to)
        series = store.equity(name, first, last)
        key = (name, series["last_id"], first, last, max_points)
        hit = equity_cache.get(key)
        if hit is not None:
            return hit
        answer = _equity_answer(name, series, max_points)
        if len(equity_cache) > 32:
            equity_cache.clear()
        equity_cache[key] = answer
        return answer

    def _equity_answer(name: str, series: dict[str, Any], max_points: int) -> dict[str, Any]:
        eq, dd = series["equity"], series["drawdown"]
        picks = downsample_indices(eq, dd, max_points)
        ts = series["ts"]
        days = series["day"]
        day_starts = np.flatnonzero(np.diff(days) != 0) + 1 if days.size else days
        if days.size:
            day_starts = np.concatenate((np.array([0], dtype=np.int64), day_starts))
        if day_starts.size > 400:
            day_starts = day_starts[np.linspace(0, day_starts.size - 1, 400).astype(np.int64)]
        run = store.run(name) or {}
        return {
            "book": name,
            "points": int(eq.size),
            "returned": int(picks.size),
            "index": picks.tolist(),
            "ts_ns": ts[picks].tolist(),
            "equity_cents": eq[picks].tolist(),
            "realized_cents": series["realized"][picks].tolist(),
            "open_cents": series["open"][picks].tolist(),
            "drawdown_cents": dd[picks].tolist(),
            "max_drawdown_cents": int(dd.max()) if dd.size else 0,
            "last_equity_cents": int(eq[-1]) if eq.size else 0,
            "day_starts": {
                "index": day_starts.tolist(),
                "trading_day": [_day_text(int(d)) for d in days[day_starts]],
            },
            "account_size_cents": run.get("account_size_cents"),
        }

    @api.get("/breakers", summary="Circuit-breaker trips and resets, newest first")
    def breakers(
        book: BookParam = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> dict[str, Any]:
        name = resolve_book(book)
        return {"book": name, "events": store.breakers(name, limit)}

    @api.get("/events", summary="Node events (start, stop, connected, ...), newest first")
    def events(
        book: BookParam = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> dict[str, Any]:
        name = resolve_book(book)
        return {"book": name, "events": store.events(name, limit)}

    # -- operator actions --------------------------------------------------------------------

    def _control_enabled() -> bool:
        return (
            settings.allow_control
            and settings.token is not None
            and settings.state_dir is not None
            and settings.trader_id is not None
        )

    def _check_control(request: Request) -> None:
        if not settings.allow_control:
            raise HTTPException(
                403, "operator actions are disabled: set dashboard.allow_control: true"
            )
        if settings.token is None:
            raise HTTPException(403, f"operator actions need a token: set {security.TOKEN_ENV}")
        if settings.state_dir is None or settings.trader_id is None:
            raise HTTPException(409, "operator actions need the node's config: start with --config")
        if request.headers.get(security.CONTROL_HEADER) != "1":
            raise HTTPException(403, f"operator actions need the {security.CONTROL_HEADER} header")
        if not security.same_origin(request):
            raise HTTPException(403, "cross-site request refused")

    @api.post("/control/{command}", summary="Step 1 of an operator action: ask to confirm")
    def control(command: str, body: ControlRequest, request: Request) -> dict[str, Any]:
        _check_control(request)
        if command not in COMMANDS:
            raise HTTPException(422, f"unknown command {command!r}: use one of {COMMANDS}")
        reason = body.reason.strip() or f"{command} from the dashboard"
        confirm_id = confirmations.request(command, reason)
        return {
            "command": command,
            "prompt": CONTROL_PROMPTS.get(command, command),
            "confirm_id": confirm_id,
            "expires_in_secs": confirmations.ttl_secs,
        }

    @api.post("/control-confirm", summary="Step 2 of an operator action: confirm and send")
    def control_confirm(body: ConfirmRequest, request: Request) -> dict[str, Any]:
        _check_control(request)
        taken = confirmations.take(body.confirm_id)
        if taken is None:
            raise HTTPException(409, "unknown or expired confirmation: start the action again")
        command, reason = taken
        assert settings.state_dir is not None and settings.trader_id is not None
        channel = ControlChannel(settings.state_dir, settings.trader_id)
        try:
            sent = channel.submit(command, f"{reason} (dashboard)")
        except ControlChannelError as exc:
            raise HTTPException(500, str(exc)) from None
        result = channel.result(sent.id)
        deadline = time.monotonic() + settings.control_wait_secs
        while result is None and time.monotonic() < deadline:
            result = channel.result(sent.id)
            if result is None:
                time.sleep(0.2)
        return {"command": command, "id": sent.id, "result": result, "queued": result is None}

    app.include_router(api)
    return app


def _day_text(day: int) -> str:
    """YYYYMMDD as ``YYYY-MM-DD``."""
    return f"{day // 10_000:04d}-{day // 100 % 100:02d}-{day % 100:02d}"
