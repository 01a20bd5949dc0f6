"""The HTTP API (FastAPI): hierarchy, records, KPIs, downtime, alarms, stop reasons, users, grants.

`create_app(store, accounts=...)` builds the app over any Store. Every endpoint under /api
needs a logged-in caller (session cookie + CSRF, or a bearer API token) and sees only the
machines of the caller's firm, or, for an outside expert, those of active grants (audited).
The OpenAPI document is served at /openapi.json. See docs/server.md.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request

from .. import __version__
from ..accounts import Accounts
from ..cooperate.db import CommonsDB
from ..knowhow.db import KnowhowDB
from ..store.base import Store
from .api.accounts import account_router
from .api.common import document_framework_errors
from .api.commons import commons_router
from .api.knowhow import knowhow_router
from .api.plant import plant_router
from .api.region import region_router
from .api.tenancy import tenancy_router
from .auth import Caller, Denied, api_text, authenticate
from .headers import SecurityHeaders, add_docs_page
from .limits import BodyLimit, Limits
from .ratelimit import LoginLimiter
from .web.commons import add_commons_pages
from .web.commons_requests import add_request_pages
from .web.dashboard import add_dashboard
from .web.knowhow import add_knowhow_pages
from .web.pages import denied_answer
from .web.region import add_region_pages
from .web.retrofit import add_retrofit_pages
from .web.upload import add_upload_pages


def create_app(
    store: Store,
    accounts: Accounts | str | None = None,
    clock: Callable[[], datetime] | None = None,
    secure_cookies: bool = False,
    commons: CommonsDB | str | None = None,
    login_limiter: LoginLimiter | None = None,
    limits: Limits | None = None,
    uploads: str | Path | None = None,
    knowhow: KnowhowDB | str | None = None,
) -> FastAPI:
    """The API over `store`.

    `accounts` is an Accounts database or where to open one (SQLite path, PostgreSQL URL;
    default: in memory); `clock` gives the current time (default: UTC now; tests inject one);
    `commons` is the commons database or where to open one (default: in memory; see
    cooperate/db.py `default_commons_path`); `login_limiter` refuses logins after too many
    failures (default: server/ratelimit.py limits on the same clock); `limits` the request
    size limits and quotas (default: `Limits.from_env()`, server/limits.py); `uploads` the
    folder of the upload page's files (default: a temporary one; see web/upload.py
    `default_uploads_path`); `knowhow` the know-how database or where to open one (default: in
    memory; see knowhow/db.py `default_knowhow_path`).
    """
    accounts = Accounts(accounts) if isinstance(accounts, str) else accounts or Accounts(":memory:")
    commons = CommonsDB(commons) if isinstance(commons, str) else commons or CommonsDB(":memory:")
    now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
    app = FastAPI(
        title="Factory Commons API",
        version=__version__,
        description=api_text("app_description"),
        docs_url=None,  # /docs from the vendored Swagger UI, not a CDN (headers.add_docs_page)
        redoc_url=None,
    )
    add_docs_page(app)
    app.state.store, app.state.accounts = store, accounts
    app.state.limits = limits = limits or Limits.from_env()
    app.add_middleware(BodyLimit, limits=limits)  # body sizes and the text policy, before any parsing
    app.add_middleware(SecurityHeaders)  # CSP, nosniff, frame-ancestors, HSTS and Secure cookies behind TLS
    app.add_exception_handler(Denied, denied_answer)  # a role without the route's permission (auth.ROUTES)
    app.state.login_limiter = limiter = login_limiter or LoginLimiter(clock=now)

    def caller(request: Request) -> Caller:
        return authenticate(request, accounts, now())

    app.include_router(tenancy_router(accounts, caller, now, limiter, secure_cookies))  # api/tenancy.py
    app.include_router(plant_router(store, caller, now))  # api/plant.py
    app.state.commons = commons
    app.include_router(commons_router(commons, caller, now, store, accounts))  # /api/commons (api/commons.py)
    reasons = lambda: app.state.stop_reasons  # noqa: E731 - set by add_dashboard below
    app.include_router(account_router(accounts, caller, now, reasons))  # users, tokens (api/accounts.py)
    add_dashboard(app, store, accounts, now, secure_cookies)  # the web pages (web/dashboard.py)
    add_commons_pages(app, commons, accounts, now, store)  # commons pages and /catalog (web/commons.py)
    add_request_pages(app, commons, accounts, now)  # requests, quotes, orders (web/commons_requests.py)
    add_upload_pages(app, store, accounts, now, uploads)  # /upload: files to the store (web/upload.py)
    add_retrofit_pages(
        app, store, accounts, now
    )  # /retrofit: a current sensor's trace and states (web/retrofit.py)
    app.include_router(region_router(commons, caller, now, accounts))  # /api/region (api/region.py)
    add_region_pages(app, commons, accounts, now)  # /region: funders, report, self-assessment (web/region.py)
    knowhow = KnowhowDB(knowhow) if isinstance(knowhow, str) else knowhow or KnowhowDB(":memory:")
    app.include_router(knowhow_router(knowhow, store, caller))  # /api/knowhow (api/knowhow.py)
    add_knowhow_pages(app, store, accounts, now, knowhow)  # /knowhow: capture and search (web/knowhow.py)
    document_framework_errors(app)  # 400, 413, 422 of every API route in the document (api/common.py)
    return app
