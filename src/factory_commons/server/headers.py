"""Security headers on every answer of the server, and Secure cookies behind TLS.

`SecurityHeaders` is an ASGI middleware (app.py adds it) that adds to every HTTP answer:

- `Content-Security-Policy`: everything from the server itself (`default-src 'self'`), no
  inline script (the pages load their scripts from /static), no plugins, no framing
  (`frame-ancestors 'none'`), forms post only to the server. Styles allow 'unsafe-inline'
  because a few templates size bars with a `style` attribute (no script can run from one).
- `X-Frame-Options: DENY` (older browsers), `X-Content-Type-Options: nosniff`,
  `Referrer-Policy: same-origin`, a minimal `Permissions-Policy` (no camera, microphone,
  geolocation, payment, USB).
- Behind TLS only: `Strict-Transport-Security` (one year), and `Secure` added to every cookie
  the server sets. A request is over TLS when its scheme is https, or when it comes from a
  trusted proxy (`FC_TRUSTED_PROXIES`, server/ratelimit.py) with `X-Forwarded-Proto: https`;
  the header is ignored from anyone else.

An answer that sets a header itself keeps its own value. `add_docs_page` serves /docs (Swagger
UI) from the server's own copy under the same policy. See docs/security.md.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .ratelimit import TRUSTED_PROXIES_ENV, Network, _in, parse_proxies

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS: dict[str, str] = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
HSTS = "max-age=31536000"


def over_tls(scope: Scope, trusted: tuple[Network, ...]) -> bool:
    """Whether the request came over TLS: https, or https said by a trusted proxy."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    peer = scope.get("client")
    if not trusted or not peer or not _in(str(peer[0]), trusted):
        return False
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-proto":
            # the proxy nearest to the server wrote the last entry
            return value.decode("latin-1").split(",")[-1].strip().lower() == "https"
    return False


def _secure(cookie: bytes) -> bytes:
    parts = [p.strip().lower() for p in cookie.split(b";")]
    return cookie if b"secure" in parts else cookie + b"; Secure"


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP answer; `trusted_proxies` as in
    server/ratelimit.py (default: the `FC_TRUSTED_PROXIES` setting)."""

    def __init__(self, app: ASGIApp, trusted_proxies: str | Iterable[str] | None = None) -> None:
        self.app = app
        if trusted_proxies is None:
            trusted_proxies = os.environ.get(TRUSTED_PROXIES_ENV, "")
        self.trusted = parse_proxies(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = over_tls(scope, self.trusted)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                have = {bytes(k).lower() for k, _ in headers}
                extra = dict(HEADERS, **({"strict-transport-security": HSTS} if tls else {}))
                headers += [(k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in have]
                if tls:
                    headers = [
                        (k, _secure(v) if bytes(k).lower() == b"set-cookie" else v) for k, v in headers
                    ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


DOCS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<link rel="icon" href="data:,"></head>
<body><div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>
"""


def add_docs_page(app: FastAPI) -> None:
    """GET /docs: Swagger UI from the server's own copy (static/vendor/swagger-ui, vendored by
    scripts/vendor_web_assets.sh), started by static/docs.js; create the app with docs_url=None
    so FastAPI's page (which loads Swagger UI from a CDN) is not mounted."""

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE.format(title=html.escape(app.title)))
