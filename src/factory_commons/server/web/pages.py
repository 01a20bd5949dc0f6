"""What the dashboard and the commons pages share: who calls a page or posts a form, the way to
the login page, a template rendered in the page's language, a message page, and the two shapes
of a route: a page behind the login (`Pages.page`) and a form post that acts and goes back to
its page with the id it made or the error in the page's language (`Pages.form_post`).

A page's session cookie and a form's CSRF token are checked by the API's own `authenticate`,
so a page sees exactly what the API would show the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import FormData

from ...accounts import Accounts
from ..auth import CSRF_COOKIE, Caller, Denied, authenticate
from .i18n import LANG_COOKIE, LANGS, WEB, Translate, lang_name, pick_lang, translator

HERE = Path(__file__).parent.parent  # server/: templates/ and static/
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))


class Refused(Exception):
    """An action that may not go on: a message page with this catalog key and HTTP status."""

    def __init__(self, key: str = "not_allowed", status: int = 403) -> None:
        super().__init__(key)
        self.key, self.status = key, status


class FormError(ValueError):
    """A bad form field: the field and a catalog key (with its parameters) saying why."""

    def __init__(self, field: str, key: str, **params: object) -> None:
        super().__init__(f"{field}: {key}")
        self.field, self.key, self.params = field, key, params

    def text(self, t: Translate) -> str:
        return f"{self.field}: {t(self.key, **self.params)}"


class Form:
    """The fields of a posted form: `form.get(name)` (stripped text), `form.getlist(name)`."""

    def __init__(self, data: FormData) -> None:
        self.data = data

    def get(self, name: str, default: str = "") -> str:
        value = self.data.get(name)
        return str(value).strip() if value is not None else default

    def getlist(self, name: str) -> list[str]:
        return [str(v) for v in self.data.getlist(name)]


def error_text(e: Exception, lang: str, t: Translate) -> str:
    """What went wrong, for the page: the field and why, in `lang` where the error knows it."""
    if isinstance(e, ValidationError):
        return "; ".join(f"{'.'.join(str(x) for x in d['loc'])}: {d['msg']}" for d in e.errors())
    if isinstance(e, FormError):
        return e.text(t)
    if isinstance(e, HTTPException):
        return str(e.detail)
    message = getattr(e, "message", None)  # cooperate's CommonsError: message(lang)
    return message(lang) if callable(message) else str(e)


def back(path: str, ok: str = "", err: str = "", anchor: str = "") -> RedirectResponse:
    """303 to a page, with `?ok=` (the id made) or `?err=` (what went wrong) when there is one."""
    query = urlencode({"err": err[:300]} if err else {"ok": ok} if ok else {})
    return RedirectResponse(f"{path}{'?' + query if query else ''}{anchor}", status_code=303)


def here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


class Pages:
    """The page helpers of one group of pages; `translate(lang, caller)` gives its `t`."""

    def __init__(
        self,
        accounts: Accounts,
        now: Callable[[], datetime],
        translate: Callable[[str, Caller | None], Translate],
        **globals_: Any,
    ) -> None:
        self.accounts, self.now, self.translate, self.globals = accounts, now, translate, globals_

    def lang(self, request: Request) -> str:
        return pick_lang(request.cookies.get(LANG_COOKIE))

    def t(self, request: Request, c: Caller | None = None) -> Translate:
        return self.translate(self.lang(request), c)

    def caller(self, request: Request) -> Caller | None:
        """The logged-in caller of a page, or None."""
        try:
            return authenticate(request, self.accounts, self.now())
        except Denied:
            raise  # logged in, but the role may not open this page: `denied_answer`, 403
        except HTTPException:
            return None

    def form_caller(self, request: Request, csrf_token: str) -> Caller:
        """The caller of a form post: the API's check, with the form's token as the CSRF header."""
        scope = dict(request.scope)
        headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"x-csrf-token"]
        scope["headers"] = [*headers, (b"x-csrf-token", csrf_token.encode())]
        return authenticate(Request(scope), self.accounts, self.now())

    def to_login(self, request: Request) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(here(request))}", status_code=303)

    def render(
        self, request: Request, name: str, c: Caller | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        lang = self.lang(request)
        return TEMPLATES.TemplateResponse(
            request,
            name,
            {
                "t": self.translate(lang, c),
                "lang": lang,
                "langs": LANGS,
                "lang_name": lang_name,
                "user": c.user if c else None,
                "firm": c.firm if c else None,
                "csrf": request.cookies.get(CSRF_COOKIE, ""),
                "here": quote(here(request)),
                **self.globals,
                **ctx,
            },
            status_code=status,
        )

    def message(
        self, request: Request, c: Caller | None, key: str, status: int, **params: object
    ) -> HTMLResponse:
        """A page with one message (a catalog key) in the page's language."""
        text = self.t(request, c)(key, **params)
        return self.render(request, "message.html", c, status=status, message=text)

    def page(self, router: APIRouter, path: str, template: str, name: str, flash: bool = False) -> Callable:
        """Register `view(request, caller, **path_params) -> context | Response` as a GET page
        behind the login; `flash` passes the `ok` and `err` of a form post back to it."""

        def register(view: Callable[..., dict[str, Any] | Response]) -> Callable:
            def endpoint(request: Request) -> Response:
                c = self.caller(request)
                if c is None:
                    return self.to_login(request)
                out = view(request, c, **request.path_params)
                if isinstance(out, Response):
                    return out
                q = request.query_params
                shown = {"ok": q.get("ok", "")[:200], "err": q.get("err", "")[:500]} if flash else {}
                return self.render(request, template, c, page=name, **{**shown, **out})

            endpoint.__name__ = view.__name__
            router.add_api_route(path, endpoint, methods=["GET"], response_class=HTMLResponse)
            return view

        return register

    def form_post(
        self, router: APIRouter, path: str, back_to: str, roles: Collection[str] | None, anchor: str = ""
    ) -> Callable:
        """Register `action(request, caller, form, **path_params) -> id | Response` as a form
        post: the caller (session and the form's CSRF token), the role check (`roles`; None: any
        role), the action, then 303
        back to `back_to` (its `{names}` filled with the path's parameters) with `?ok=<id>` (and
        `anchor`, formatted with `ok`) or with `?err=`,
        the error in the page's language. `Refused` shows a message page instead."""

        def register(action: Callable[..., str | Response]) -> Callable:
            async def endpoint(request: Request) -> Response:
                form = Form(await request.form())
                c = self.form_caller(request, form.get("csrf_token"))
                lang = self.lang(request)
                params = {k: quote(str(v), safe="") for k, v in request.path_params.items()}
                to = back_to.format(**params)  # e.g. "/commons/requests/{request_id}"
                try:
                    if roles is not None and c.user.role not in roles:
                        raise Refused()
                    made = action(request, c, form, **request.path_params)
                except Refused as e:
                    return self.message(request, c, e.key, e.status)
                except (ValueError, HTTPException) as e:
                    return back(to, err=error_text(e, lang, self.translate(lang, c)))
                if isinstance(made, Response):
                    return made
                return back(to, ok=made, anchor=anchor.format(ok=made) if made else "")

            endpoint.__name__ = action.__name__
            router.add_api_route(path, endpoint, methods=["POST"])
            return action

        return register


def denied_answer(request: Request, exc: Exception) -> Response:
    """The 403 of `auth.Denied` (a role without the route's permission): JSON under /api, a
    message page in the page's language elsewhere (app.py registers it)."""
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": detail}, status_code=403)
    pages = Pages(None, lambda: None, lambda lang, c: translator(lang, (), (WEB,)))  # type: ignore[arg-type]
    return pages.message(request, None, "not_allowed", 403)
