"""Sign-up for requesters (designers, consumers, buyers abroad): /signup and /signup/verify.

A person gives a name, an e-mail address and a password (the password rules of
accounts/passwords.py); the server makes a requester account of its own (a firm without
machines whose owner is the person, `Accounts.sign_up`), inactive until the e-mail is
confirmed, and writes the confirmation mail with its link to the local outbox
(accounts/mail.py: `FC_MAIL_OUTBOX` or beside the accounts file). Following the link activates
the account; then the person logs in and posts requests on /commons/requests.

Sign-ups are throttled like logins (server/ratelimit.py: per e-mail and per client address,
growing delays, 429 with Retry-After). A taken e-mail gets the same answer as a new one (the
page never tells whether an address has an account); its owner gets a mail saying so instead.
Texts: the `commons_pages` catalog.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from ...accounts import AccountError, Accounts, PasswordError
from ...accounts.mail import outbox_dir, send
from .pages import Form, Pages

SIGNUP_CSRF_COOKIE = "fc_signup_csrf"
KINDS = ("designer", "consumer", "buyer")


def add_signup_pages(app: FastAPI, accounts: Accounts, now: Callable[[], datetime], pages: Pages) -> None:
    """Mount GET/POST /signup and GET /signup/verify on `app`."""
    router = APIRouter(include_in_schema=False)
    outbox = outbox_dir(accounts.path)

    def form_page(request: Request, status: int = 200, **ctx: object) -> Response:
        token = secrets.token_urlsafe(24)
        r = pages.render(request, "signup.html", None, status=status, signup_csrf=token, kinds=KINDS, **ctx)
        secure = request.url.scheme == "https"
        r.set_cookie(SIGNUP_CSRF_COOKIE, token, httponly=True, max_age=3600, secure=secure, samesite="lax")
        return r

    @router.get("/signup", response_class=HTMLResponse)
    def signup_page(request: Request) -> Response:
        return form_page(request, v={})

    @router.post("/signup", response_class=HTMLResponse)
    async def signup_post(request: Request) -> Response:
        form = Form(await request.form())
        expected = request.cookies.get(SIGNUP_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, form.get("csrf_token")):
            return pages.message(request, None, "not_allowed", 403)
        t = pages.t(request)
        name, email = form.get("name")[:100], form.get("email")[:254].lower()
        password, again = form.get("password"), form.get("password2")
        kind = form.get("kind") if form.get("kind") in KINDS else "designer"
        values = {"name": name, "email": email, "kind": kind}
        errors: dict[str, str] = {}
        if not name:
            errors["name"] = t("pf_err_required")
        if "@" not in email or " " in email or email.startswith("@") or email.endswith("@"):
            errors["email"] = t("pf_err_email", value=email)
        if password != again:
            errors["password2"] = t("su_err_again")
        if errors:
            return form_page(request, 422, v=values, errors=errors)
        limiter = app.state.login_limiter.bind(accounts)  # counted like logins (ratelimit.py)
        wait = limiter.attempt(f"signup:{email}", limiter.address(request))
        if wait is not None:
            r = pages.message(request, None, "too_many_logins", 429, wait=wait)
            r.headers["Retry-After"] = str(wait)
            return r
        base = str(request.base_url).rstrip("/")
        try:
            _, token = accounts.sign_up(email, name, password, now())
        except PasswordError as e:
            return form_page(request, 422, v=values, errors={"password": str(e)})
        except AccountError:  # the address has an account: tell its owner, not this page
            send(
                outbox, email, t("su_mail_taken_subject"), t("su_mail_taken_body", url=f"{base}/login"), now()
            )
            return pages.render(request, "signup.html", None, sent=True, email=email, v={}, kinds=KINDS)
        link = f"{base}/signup/verify?token={token}"
        send(
            outbox,
            email,
            t("su_mail_subject"),
            t("su_mail_body", name=name, url=link, kind=t(f"su_kind_{kind}")),
            now(),
        )
        return pages.render(request, "signup.html", None, sent=True, email=email, v={}, kinds=KINDS)

    @router.get("/signup/verify", response_class=HTMLResponse)
    def verify(request: Request, token: str = "") -> Response:
        user = accounts.confirm_email(token[:200], now()) if token else None
        if user is None:
            return pages.message(request, None, "su_bad_link", 400)
        return pages.render(request, "signup.html", None, verified=True, email=user.email, v={}, kinds=KINDS)

    app.include_router(router)
