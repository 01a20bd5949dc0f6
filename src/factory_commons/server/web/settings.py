"""The settings page of the dashboard: the firm's stop reasons, edited as lines of text.

GET /settings/stop-reasons shows the list as `code | 한국어 | English` lines; POST saves it
(owner, engineer; CSRF token of the session in the form), or shows the problems naming the
line and field and keeps the old list. The same validation as PUT /api/settings/stop-reasons
(stops.check_stop_reasons).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...accounts.stop_reasons import check_stop_reasons, parse_reason_lines
from ..auth import PERMISSIONS, Caller
from .i18n import WEB
from .pages import Pages

StopReasons = tuple[tuple[str, str, str], ...]


def reasons_text(reasons: StopReasons) -> str:
    return "".join(f"{c} | {ko} | {en}\n" for c, ko, en in reasons)


def add_settings_pages(router: APIRouter, pages: Pages, reasons_of: Callable[[Caller], StopReasons]) -> None:
    """Add the settings pages to the dashboard's router (dashboard.py passes its page helpers)."""

    def may_edit(c: Caller) -> bool:
        return c.user.role in PERMISSIONS["configure"]

    def context(c: Caller, text: str, errors: list[str], **kw: Any) -> dict[str, Any]:
        default = pages.accounts.stop_reasons(c.firm.id) is None
        return {"text": text, "errors": errors, "may_edit": may_edit(c), "is_default": default, **kw}

    @pages.page(router, "/settings/stop-reasons", "settings.html", "settings")
    def settings(request: Request, c: Caller) -> dict[str, Any] | Response:
        if not may_edit(c):
            return pages.message(request, c, "not_allowed", 403)
        saved = request.query_params.get("saved") == "1"
        return context(c, reasons_text(reasons_of(c)), [], saved=saved)

    @router.post("/settings/stop-reasons", response_class=HTMLResponse)
    def settings_post(request: Request, reasons: str = Form(""), csrf_token: str = Form("")) -> Response:
        c = pages.form_caller(request, csrf_token)
        c.require("configure")
        items, errors = parse_reason_lines(reasons)
        checked, problems = check_stop_reasons(items)
        for p in problems:
            # the line in both languages, like the messages of parse_reason_lines beside it
            where = WEB.both("line_n", " / ").format(n=items[p.index]["line"]) if p.index < len(items) else ""
            errors.append(f"{where} {p.field}: {p.why}".strip())
        if errors:
            return pages.render(
                request, "settings.html", c, status=422, page="settings", **context(c, reasons, errors)
            )
        pages.accounts.set_stop_reasons(c.firm.id, checked, by=c.user)
        return RedirectResponse("/settings/stop-reasons?saved=1", status_code=303)
