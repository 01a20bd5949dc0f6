"""The settings page of the dashboard: the firm's stop reasons, edited as lines of text.

GET /settings/stop-reasons shows the list as `code | 한국어 | English` lines; POST saves it
(owner, engineer; CSRF token of the session in the form), or shows the problems naming the
line and field and keeps the old list. The same validation as PUT /api/settings/stop-reasons
(stops.check_stop_reasons).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...accounts import Accounts
from ...accounts.stop_reasons import check_stop_reasons, parse_reason_lines
from ..auth import PERMISSIONS, Caller

StopReasons = tuple[tuple[str, str, str], ...]


def reasons_text(reasons: StopReasons) -> str:
    return "".join(f"{c} | {ko} | {en}\n" for c, ko, en in reasons)


def add_settings_pages(
    router: APIRouter,
    accounts: Accounts,
    page_caller: Callable[[Request], Caller | None],
    form_caller: Callable[[Request, str], Caller],
    render: Callable[..., HTMLResponse],
    to_login: Callable[[Request], Response],
    reasons_of: Callable[[Caller], StopReasons],
) -> None:
    """Add the settings pages to the dashboard's router (web.py passes its helpers)."""

    def may_edit(c: Caller) -> bool:
        return c.user.role in PERMISSIONS["configure"]

    def page(request: Request, c: Caller, text: str, errors: list[str], status: int = 200, **kw: Any):
        return render(
            request,
            "settings.html",
            c,
            status=status,
            page="settings",
            text=text,
            errors=errors,
            may_edit=may_edit(c),
            is_default=accounts.stop_reasons(c.firm.id) is None,
            **kw,
        )

    @router.get("/settings/stop-reasons", response_class=HTMLResponse)
    def settings(request: Request, saved: int = 0) -> Response:
        c = page_caller(request)
        if c is None:
            return to_login(request)
        if not may_edit(c):
            raise HTTPException(403, "권한이 없습니다 / not allowed")
        return page(request, c, reasons_text(reasons_of(c)), [], saved=bool(saved))

    @router.post("/settings/stop-reasons", response_class=HTMLResponse)
    def settings_post(request: Request, reasons: str = Form(""), csrf_token: str = Form("")) -> Response:
        c = form_caller(request, csrf_token)
        c.require("configure")
        items, errors = parse_reason_lines(reasons)
        checked, problems = check_stop_reasons(items)
        for p in problems:
            where = (
                f"{items[p.index]['line']}행 / line {items[p.index]['line']}" if p.index < len(items) else ""
            )
            errors.append(f"{where} {p.field}: {p.why}".strip())
        if errors:
            return page(request, c, reasons, errors, status=422)
        accounts.set_stop_reasons(c.firm.id, checked)
        return RedirectResponse("/settings/stop-reasons?saved=1", status_code=303)
