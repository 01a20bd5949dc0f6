"""Security headers on every answer, Secure cookies behind TLS, no inline script (server/headers.py).

Regressions of issue 20: the server sent no CSP, frame-ancestors, X-Content-Type-Options,
Referrer-Policy nor HSTS behind TLS, and its session cookie had no Secure flag over HTTPS.
The browser check loads pages in Chromium and fails on any console error (a CSP violation is
one).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_server_plant import A1, PASSWORD, make_plant
from web_browser import chromium, served

from factory_commons.server.headers import CSP, over_tls
from factory_commons.store.duckdb import DuckDBStore

SERVER = Path(__file__).resolve().parents[1] / "src" / "factory_commons" / "server"


@pytest.fixture(scope="module")
def plant():
    return make_plant(DuckDBStore(":memory:"))


def _login(c: TestClient, who: str = "owner@acme.example"):
    return c.post("/api/auth/login", json={"email": who, "password": PASSWORD})


def _has_headers(r, tls: bool = False) -> None:
    h = r.headers
    csp = h["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    script = next(p for p in csp.split(";") if p.strip().startswith("script-src"))
    assert "unsafe-inline" not in script and "unsafe-eval" not in script
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "same-origin"
    assert "camera=()" in h["permissions-policy"]
    assert ("strict-transport-security" in h) is tls


def test_headers_on_every_kind_of_answer(plant):
    c = TestClient(plant.app)
    answers = [
        c.get("/api/machines"),  # 401
        c.get("/login"),  # page
        c.get("/"),  # 303 to the login
        c.get("/static/app.css"),  # static file
        c.get("/no/such/page"),  # 404
        c.get("/openapi.json"),
    ]
    _login(c)
    answers += [c.get("/api/machines"), c.get(f"/machines/{A1}"), c.get("/api/records/nope")]
    for r in answers:
        _has_headers(r)


def test_hsts_and_secure_cookies_only_over_tls(plant):
    plain = TestClient(plant.app)
    r = _login(plain)
    _has_headers(r, tls=False)
    assert all("secure" not in v.lower().split("; ") for v in r.headers.get_list("set-cookie"))
    tls = TestClient(plant.app, base_url="https://testserver")
    r = _login(tls)
    _has_headers(r, tls=True)
    cookies = r.headers.get_list("set-cookie")
    assert cookies and all("; Secure" in v for v in cookies)
    session = next(v for v in cookies if v.startswith("fc_session="))
    assert "HttpOnly" in session and "samesite=lax" in session.lower()


def test_forwarded_proto_only_from_a_trusted_proxy():
    scope = {"type": "http", "scheme": "http", "client": ("10.0.0.5", 1234)}
    proto = {**scope, "headers": [(b"x-forwarded-proto", b"https")]}
    assert not over_tls(scope, ())
    assert not over_tls(proto, ())  # a forged header from anyone
    from factory_commons.server.ratelimit import parse_proxies

    proxies = parse_proxies("10.0.0.0/24")
    assert over_tls(proto, proxies)
    assert not over_tls({**proto, "client": ("192.0.2.9", 1)}, proxies)
    assert not over_tls({**scope, "headers": [(b"x-forwarded-proto", b"http")]}, proxies)
    assert over_tls({**scope, "scheme": "https"}, ())


def test_templates_have_no_inline_script():
    """The CSP forbids inline script: every <script> has a src and no element an on* handler."""
    bad = []
    for path in sorted((SERVER / "templates").glob("*.html")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in m.group(1):
                bad.append(f"{path.name}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text) or "javascript:" in text:
            bad.append(f"{path.name}: event handler attribute or javascript: URL")
    assert not bad, bad
    assert "script-src 'self'" in CSP


def test_swagger_ui_is_vendored_unchanged_and_docs_loads_it(plant):
    vendor = SERVER / "static" / "vendor" / "swagger-ui"
    manifest = json.loads((vendor / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["package"] == "swagger-ui-dist" and re.fullmatch(
        r"sha512-[A-Za-z0-9+/]{86}==", manifest["tarball_integrity"]
    )
    for name, digest in manifest["files"].items():
        assert "sha256:" + hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert set(p.name for p in vendor.iterdir()) == {*manifest["files"], "manifest.json", "README.md"}
    page = TestClient(plant.app).get("/docs")
    assert page.status_code == 200
    assert '<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js">' in page.text
    assert "http" not in page.text and "<script>" not in page.text  # no CDN, no inline script
    assert TestClient(plant.app).get("/redoc").status_code == 404  # ReDoc would come from a CDN


@pytest.fixture(scope="module")
def server(plant):
    with served(plant.app) as url:
        yield url


def test_pages_in_chromium_have_no_csp_violation(plant, server):
    with chromium() as b:
        page = b.new_context().new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        page.goto(f"{server}/login")
        page.fill("input[name=email]", "owner@acme.example")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{server}/")
        for url in ("/", "/oee?days=7", f"/machines/{A1}?from=2024-03-04&to=2024-03-05", "/upload", "/docs"):
            page.goto(server + url)
            page.wait_for_load_state("networkidle")
        assert "Factory Commons API" in page.locator(".swagger-ui .info .title").inner_text()  # /docs runs
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    missing = [u for u in missing if not u.endswith("/favicon.ico")]  # the browser asks by itself
    assert not missing, missing
    errors = [e for e in errors if "404" not in e]  # the favicon's 404
    assert not errors, errors


def test_mask_url_hides_every_password():
    from factory_commons.cli_common import mask_url

    assert mask_url("postgresql://fc:s3cr@t@db:5432/x?schema=a") == "postgresql://fc:***@db:5432/x?schema=a"
    assert mask_url("postgres://u:p@h/d") == "postgres://u:***@h/d"
    assert (
        mask_url("postgresql://h/d?sslmode=require&password=zz")
        == "postgresql://h/d?sslmode=require&password=***"
    )
    assert mask_url("host=h password=abc user=u") == "host=h password=*** user=u"
    for same in ("postgresql://u@h/d", "factory.duckdb", "http://127.0.0.1:8000/docs", ":memory:"):
        assert mask_url(same) == same


def test_serve_banner_prints_no_password(pg_url, tmp_path):
    """`serve` on PostgreSQL with a password in the URL: the banner shows user:***@."""
    import os
    import subprocess
    import sys
    import uuid

    from web_browser import free_port

    secret = "hunter2-" + uuid.uuid4().hex[:8]
    url = pg_url.replace("://postgres@", f"://postgres:{secret}@") + f"?schema=s{uuid.uuid4().hex[:10]}"
    assert secret in url
    cmd = [
        sys.executable,
        "-m",
        "factory_commons.cli",
        "serve",
        "--database",
        url,
        "--port",
        str(free_port()),
    ]
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Factory Commons API" in line:
                break
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    text = "".join(lines) + (out or "")
    assert "Factory Commons API" in text, text
    assert secret not in text
    assert "postgres:***@" in text
