"""The web dashboard: server-rendered pages (Jinja2) over the same store, accounts and scoping as the API.

Pages: /login, /logout, / (plant overview with live states), /oee (OEE, loss waterfall, by line
and machine), /downtime (Pareto), /machines/{path} (signal trends, alarms) and /stops (the
operator's tablet screen). Every page authenticates with the API's session cookie
(`auth.authenticate`, through server/web/pages.py) and shows only what the caller's `Caller`
may read; forms carry the session's CSRF token, checked by the API's own double-submit check.
Korean by default, English on request (cookie `lang`); the text is in the `web`, `dashboard`,
`states`, `kpi` and `collect_alerts` catalogs, a firm's stop reasons as the firm wrote them. Machines are shown
by their display names (the path on hover). The overview, /oee, /downtime and the machine page
show a period: plant-local days `?from=YYYY-MM-DD&to=YYYY-MM-DD`, a preset `?range=` or the
last `?days=N` (dashboard_range.py); a bad one is named on the page (HTTP 400), never a 500.
The overview and the machine page list the collection alerts of their machines: stale sources
and gaps the collector recorded (dashboard_data.collection_alerts, template _alerts.html).
See docs/server.md, "The dashboard".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from ...accounts import Accounts
from ...accounts.passwords import SECURITY
from ...accounts.stop_reasons import DEFAULT_STOP_REASONS, firm_stop_reasons, set_stop_reason
from ...i18n import KPI, STATES, Catalog
from ...store.base import Store
from ..auth import CSRF_COOKIE, PERMISSIONS, SESSION_COOKIE, Caller, allowed, route_permission
from .dashboard_data import (
    collection_alerts,
    downtime_view,
    live_states,
    machine_status,
    machine_view,
    oee_view,
    overview_view,
)
from .dashboard_range import PRESETS, Period, RangeError, machine_names, parse_period, plant_zone, rolling
from .i18n import LANG_COOKIE, WEB, pick_lang, translator
from .pages import HERE, Pages, back
from .pages import Form as PostedForm
from .settings import add_settings_pages

DISPLAY_TZ = ZoneInfo("Asia/Seoul")  # where the store keeps no plant zone (dashboard_range.plant_zone)
DASHBOARD = Catalog("dashboard")
COLLECT_ALERTS = Catalog("collect_alerts")  # stale sources and gaps the collector recorded
CATALOGS = (WEB, DASHBOARD, STATES, KPI, SECURITY, COLLECT_ALERTS)  # SECURITY: the login's TOTP field
LOGIN_CSRF_COOKIE = "fc_login_csrf"
#: the errors the stop-reason screen may be sent back with (catalog keys)
STOP_ERRORS = ("not_allowed", "not_stopped")
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
    app.state.stop_reasons = stop_reasons
    app.state.live_refresh_ms = 10_000  # how often the overview refreshes its live states
    router = APIRouter(include_in_schema=False)
    cookie_kw: dict[str, Any] = {"secure": secure_cookies, "samesite": "lax", "path": "/"}

    def reasons_of(c: Caller | None) -> StopReasons:
        """The stop reasons offered to the caller's firm: its own list, else the app's."""
        default = app.state.stop_reasons
        return firm_stop_reasons(accounts, c.firm.id, default) if c else default

    def labels_of(c: Caller | None) -> StopReasons:
        """Reason labels: the app's, then the firm's (codes used before a change keep theirs)."""
        return (*app.state.stop_reasons, *reasons_of(c)) if c else app.state.stop_reasons

    pages = Pages(
        accounts,
        now,
        lambda lang, c: translator(lang, labels_of(c), CATALOGS),
        Markup=Markup,
        presets=PRESETS,
    )

    # -- language, login, logout -------------------------------------------------------------
    @router.get("/lang/{code}")
    def set_lang(code: str, next: str | None = None) -> Response:
        r = RedirectResponse(_safe_next(next), status_code=303)
        r.set_cookie(LANG_COOKIE, pick_lang(code), max_age=365 * 24 * 3600, **cookie_kw)
        return r

    def login_form(request: Request, next: str | None, status: int = 200, failed: bool = False) -> Response:
        token = secrets.token_urlsafe(24)
        r = pages.render(
            request, "login.html", None, status=status, next=_safe_next(next), login_csrf=token, failed=failed
        )
        r.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, max_age=3600, **cookie_kw)
        return r

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None) -> Response:
        return login_form(request, next)

    @router.post("/login", response_class=HTMLResponse)
    def login_post(
        request: Request,
        email: str = Form(...),
        password: str = Form(...),
        csrf_token: str = Form(""),
        next: str = Form("/"),
        code: str = Form(""),
    ) -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, csrf_token):
            return pages.message(request, None, "not_allowed", 403)
        limiter = app.state.login_limiter.bind(accounts)  # shared with the API login (ratelimit.py)
        result = limiter.login(email, password, limiter.address(request), code or None)
        if result.wait is not None:
            r = pages.message(request, None, "too_many_logins", 429, wait=result.wait)
            r.headers["Retry-After"] = str(result.wait)
            return r
        user = result.user
        if user is None:
            return login_form(request, next, status=401, failed=True)
        session, csrf = accounts.create_session(user.id, now())
        target = _safe_next(next)
        if target == "/" and not allowed(user.role, route_permission("GET", "/") or "read_kpi"):
            target = "/catalog"  # e.g. the hub admin, who reads no shop-floor data: the commons
        r = RedirectResponse(target, status_code=303)
        r.set_cookie(SESSION_COOKIE, session, httponly=True, **cookie_kw)
        r.set_cookie(CSRF_COOKIE, csrf, httponly=False, **cookie_kw)
        r.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return r

    @router.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")) -> Response:
        pages.form_caller(request, csrf_token)
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

    def names_of(paths: list[str]) -> dict[str, str]:
        return machine_names(store.machines(), paths)

    def ranged(path: str, template: str, name: str, default: str | int) -> Callable:
        """A page over a period: `view(request, caller, period, **path_params)`; the period
        from the query (else `default`); a bad one is shown above the default's figures, 400."""

        def register(view: Callable[..., dict[str, Any] | Response]) -> Callable:
            @pages.page(router, path, template, name)
            def endpoint(request: Request, c: Caller, **params: str) -> dict[str, Any] | Response:
                at, tz = now(), plant_zone(store)
                error = None
                try:
                    period = parse_period(request.query_params, at, tz, default)
                except RangeError as e:
                    t = pages.t(request, c)
                    error = f"{t('dash_field_' + e.field)}: {t(e.key, **e.params)}"
                    period = parse_period({}, at, tz, default)
                out = view(request, c, period, **params)
                if isinstance(out, Response):
                    return out
                ctx = {
                    "period": period,
                    "range_query": period.query() if request.query_params else "",
                    "range_error": error,
                    **out,
                }
                if error:
                    return pages.render(request, template, c, status=400, page=name, **ctx)
                return ctx

            endpoint.__name__ = view.__name__
            return view

        return register

    @ranged("/", "overview.html", "overview", "today")
    def overview(request: Request, c: Caller, period: Period) -> dict[str, Any]:
        if period.preset == "today" and period.end - period.start < timedelta(hours=1):
            period = rolling(1, period.end, period.tz)  # just after midnight: the last 24 hours
        paths = visible_paths(c)
        names, t = names_of(paths), pages.t(request, c)
        view = overview_view(store, paths, now(), period, names, t)
        alerts = collection_alerts(store, paths, now(), period, names, t)
        return {"refresh_ms": app.state.live_refresh_ms, "period": period, "alerts": alerts, **view}

    @router.get("/live.json")
    def live(request: Request) -> Response:
        c = pages.caller(request)
        if c is None:
            return JSONResponse({"detail": "login required"}, status_code=401)
        status = machine_status(store, visible_paths(c), now(), plant_zone(store), pages.t(request, c))
        return JSONResponse({p: {k: s[k] for k in ("state", "label", "since")} for p, s in status.items()})

    @ranged("/oee", "oee.html", "oee", "7d")
    def oee(request: Request, c: Caller, period: Period) -> dict[str, Any]:
        paths = visible_paths(c)
        return oee_view(store, paths, period, names_of(paths), pages.t(request, c), pages.lang(request))

    @ranged("/downtime", "downtime.html", "downtime", "7d")
    def downtime(request: Request, c: Caller, period: Period) -> dict[str, Any]:
        paths = visible_paths(c)
        return downtime_view(store, paths, period, names_of(paths), pages.t(request, c))

    @ranged("/machines/{path:path}", "machine.html", "machine", 1)
    def machine(request: Request, c: Caller, period: Period, path: str) -> dict[str, Any] | Response:
        if path not in {m.path for m in store.machines()} or not c.may_read(path):
            return pages.message(request, c, "not_found", 404)
        c.audit_reads([path])
        names, t = names_of([path]), pages.t(request, c)
        view = machine_view(store, path, now(), period, t)
        alerts = collection_alerts(store, [path], now(), period, names, t)
        return {"path": path, "machine_name": names[path], "alerts": alerts, **view}

    @pages.page(router, "/stops", "stops.html", "stops", flash=True)
    def stops(request: Request, c: Caller) -> dict[str, Any]:
        own = [p for p in visible_paths(c) if c.owns(p)]
        states = live_states(store, own, now(), plant_zone(store))
        err = request.query_params.get("err")
        return {
            "stopped": [(p, s) for p, s in states.items() if s["state"] != "running"],
            "names": names_of(own),
            "reasons": reasons_of(c),
            "may_record": c.user.role in PERMISSIONS["stop_reasons"],
            "err": err if err in STOP_ERRORS else None,
        }

    @pages.form_post(router, "/stops", "/stops", PERMISSIONS["stop_reasons"])
    def stops_post(request: Request, c: Caller, form: PostedForm) -> str | Response:
        machine, reason = form.get("machine"), form.get("reason")
        if not c.owns(machine) or reason not in {code for code, _, _ in reasons_of(c)}:
            return back("/stops", err="not_allowed")
        current = live_states(store, [machine], now(), plant_zone(store)).get(machine)
        if current is None or current["state"] == "running":
            return back("/stops", err="not_stopped")
        set_stop_reason(store, machine, current["ts"], current["state"], reason)
        return machine

    add_settings_pages(router, pages, reasons_of)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
