"""The web dashboard: server-rendered pages (Jinja2) over the same store, accounts and scoping as the API.

Pages: /login, /logout, / (plant overview with live states), /oee (OEE, loss waterfall, by line
and machine), /downtime (Pareto), /machines/{path} (signal trends, alarms) and /stops (the
operator's tablet screen). Every page authenticates with the API's session cookie
(`auth.authenticate`) and shows only what the caller's `Caller` may read; forms carry the
session's CSRF token, checked by the API's own double-submit check. Korean by default,
English on request (cookie `lang`). See docs/server.md, "The dashboard".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from ...accounts import Accounts
from ...accounts.stop_reasons import DEFAULT_STOP_REASONS, firm_stop_reasons, set_stop_reason
from ...store.base import Store
from ..auth import CSRF_COOKIE, SESSION_COOKIE, Caller, authenticate
from .dashboard_data import downtime_view, live_states, machine_view, oee_view, overview_view
from .i18n import LANG_COOKIE, WEB_LABELS, pick_lang, translator
from .settings import add_settings_pages

HERE = Path(__file__).parent.parent  # server/: templates/ and static/
DISPLAY_TZ = ZoneInfo("Asia/Seoul")
LOGIN_CSRF_COOKIE = "fc_login_csrf"
StopReasons = tuple[tuple[str, str, str], ...]


def _safe_next(value: str | None) -> str:
    """A local path to go to after login or a language switch (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def add_dashboard(
    app: FastAPI,
    store: Store,
    accounts: Accounts,
    now: Callable[[], datetime],
    secure_cookies: bool = False,
    stop_reasons: StopReasons = DEFAULT_STOP_REASONS,
) -> None:
    """Mount the dashboard pages and their static files on `app` (kept out of the OpenAPI document)."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.stop_reasons = stop_reasons
    app.state.live_refresh_ms = 10_000  # how often the overview refreshes its live states
    router = APIRouter(include_in_schema=False)
    cookie_kw: dict[str, Any] = {"secure": secure_cookies, "samesite": "lax", "path": "/"}

    def lang_of(request: Request) -> str:
        return pick_lang(request.cookies.get(LANG_COOKIE))

    def reasons_of(c: Caller | None) -> StopReasons:
        """The stop reasons offered to the caller's firm: its own list, else the app's."""
        default = app.state.stop_reasons
        return firm_stop_reasons(accounts, c.firm.id, default) if c else default

    def labels_of(c: Caller | None) -> StopReasons:
        """Reason labels: the app's, then the firm's (codes used before a change keep theirs)."""
        return (*app.state.stop_reasons, *reasons_of(c)) if c else app.state.stop_reasons

    def page_caller(request: Request) -> Caller | None:
        try:
            return authenticate(request, accounts, now())
        except HTTPException:
            return None

    def form_caller(request: Request, csrf_token: str) -> Caller:
        """The caller of a form post: the API's check, with the form's token as the CSRF header."""
        scope = dict(request.scope)
        headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"x-csrf-token"]
        scope["headers"] = [*headers, (b"x-csrf-token", csrf_token.encode())]
        return authenticate(Request(scope), accounts, now())

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    def render(request: Request, name: str, c: Caller | None, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return templates.TemplateResponse(
            request,
            name,
            {
                "t": translator(lang, labels_of(c)),
                "lang": lang,
                "user": c.user if c else None,
                "firm": c.firm if c else None,
                "csrf": request.cookies.get(CSRF_COOKIE, ""),
                "here": quote(here),
                "Markup": Markup,
                **ctx,
            },
            status_code=status,
        )

    def not_found(request: Request, c: Caller) -> HTMLResponse:
        return render(request, "message.html", c, status=404, message="찾을 수 없습니다 / not found")

    # -- language, login, logout -------------------------------------------------------------
    @router.get("/lang/{code}")
    def set_lang(code: str, next: str | None = None) -> Response:
        r = RedirectResponse(_safe_next(next), status_code=303)
        r.set_cookie(LANG_COOKIE, pick_lang(code), max_age=365 * 24 * 3600, **cookie_kw)
        return r

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None) -> Response:
        token = secrets.token_urlsafe(24)
        r = render(request, "login.html", None, next=_safe_next(next), login_csrf=token, failed=False)
        r.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, max_age=3600, **cookie_kw)
        return r

    @router.post("/login", response_class=HTMLResponse)
    def login_post(
        request: Request,
        email: str = Form(...),
        password: str = Form(...),
        csrf_token: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, csrf_token):
            return render(request, "message.html", None, status=403, message=WEB_LABELS["not_allowed"][0])
        limiter = getattr(app.state, "login_limiter", None)  # set by create_app (ratelimit.py)
        address = request.client.host if request.client else None
        wait = limiter.retry_after(email, address) if limiter else None
        if wait is not None:
            msg = f"로그인 실패가 너무 많습니다. {wait}초 후 다시 시도하세요 / too many failed logins; try again in {wait} s"
            r = render(request, "message.html", None, status=429, message=msg)
            r.headers["Retry-After"] = str(wait)
            return r
        user = accounts.authenticate(email, password)
        if user is None:
            if limiter:
                limiter.failed(email, address)
            token = secrets.token_urlsafe(24)
            r = render(
                request, "login.html", None, status=401, next=_safe_next(next), login_csrf=token, failed=True
            )
            r.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, max_age=3600, **cookie_kw)
            return r
        if limiter:
            limiter.succeeded(email)
        session, csrf = accounts.create_session(user.id, now())
        r = RedirectResponse(_safe_next(next), status_code=303)
        r.set_cookie(SESSION_COOKIE, session, httponly=True, **cookie_kw)
        r.set_cookie(CSRF_COOKIE, csrf, httponly=False, **cookie_kw)
        r.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return r

    @router.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        form_caller(request, csrf_token)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            accounts.end_session(token)
        r = RedirectResponse("/login", status_code=303)
        r.delete_cookie(SESSION_COOKIE, path="/")
        r.delete_cookie(CSRF_COOKIE, path="/")
        return r

    # -- pages -------------------------------------------------------------------------------
    def visible_paths(c: Caller) -> list[str]:
        paths = c.visible(m.path for m in store.machines())
        c.audit_reads(paths)
        return paths

    @router.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        view = overview_view(store, visible_paths(c), now(), DISPLAY_TZ)
        return render(
            request, "overview.html", c, page="overview", refresh_ms=app.state.live_refresh_ms, **view
        )

    @router.get("/live.json")
    def live(request: Request) -> Response:
        c = page_caller(request)
        if c is None:
            return JSONResponse({"detail": "login required"}, status_code=401)
        t = translator(lang_of(request), labels_of(c))
        states = live_states(store, visible_paths(c), now(), DISPLAY_TZ)
        return JSONResponse(
            {p: {"state": s["state"], "label": t(s["state"]), "since": s["since"]} for p, s in states.items()}
        )

    @router.get("/oee", response_class=HTMLResponse)
    def oee(request: Request, days: int = 7) -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        days = min(max(days, 1), 92)
        t = translator(lang_of(request), labels_of(c))
        view = oee_view(store, visible_paths(c), now(), days, t)
        return render(request, "oee.html", c, page="oee", days=days, **view)

    @router.get("/downtime", response_class=HTMLResponse)
    def downtime(request: Request, days: int = 7) -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        days = min(max(days, 1), 92)
        t = translator(lang_of(request), labels_of(c))
        view = downtime_view(store, visible_paths(c), now(), days, t)
        return render(request, "downtime.html", c, page="downtime", days=days, **view)

    @router.get("/machines/{path:path}", response_class=HTMLResponse)
    def machine(request: Request, path: str, days: int = 1) -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        if path not in {m.path for m in store.machines()} or not c.may_read(path):
            return not_found(request, c)
        c.audit_reads([path])
        view = machine_view(store, path, now(), DISPLAY_TZ, min(max(days, 1), 92))
        return render(request, "machine.html", c, page="machine", path=path, **view)

    @router.get("/stops", response_class=HTMLResponse)
    def stops(request: Request, ok: str | None = None, err: str | None = None) -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        own = [p for p in visible_paths(c) if c.owns(p)]
        states = live_states(store, own, now(), DISPLAY_TZ)
        stopped = [(p, s) for p, s in states.items() if s["state"] != "running"]
        return render(
            request,
            "stops.html",
            c,
            page="stops",
            stopped=stopped,
            reasons=reasons_of(c),
            may_record=c.user.role in ("owner", "engineer", "operator"),
            ok=ok,
            err=err if err in WEB_LABELS else None,
        )

    @router.post("/stops")
    def stops_post(
        request: Request, machine: str = Form(...), reason: str = Form(...), csrf_token: str = Form("")
    ) -> Response:
        c = form_caller(request, csrf_token)
        c.require("stop_reasons")
        if not c.owns(machine) or reason not in {code for code, _, _ in reasons_of(c)}:
            return RedirectResponse("/stops?err=not_allowed", status_code=303)
        at = now()
        current = live_states(store, [machine], at, DISPLAY_TZ).get(machine)
        if current is None or current["state"] == "running":
            return RedirectResponse("/stops?err=not_stopped", status_code=303)
        set_stop_reason(store, machine, current["ts"], current["state"], reason)
        return RedirectResponse(f"/stops?ok={quote(machine)}", status_code=303)

    add_settings_pages(router, accounts, page_caller, form_caller, render, to_login, reasons_of)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
