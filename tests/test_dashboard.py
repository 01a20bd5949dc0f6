"""The web dashboard in real headless Chromium (Playwright driving Debian's /usr/bin/chromium).

A DuckDB store holds three simulated days of the demo plant (firm acme, 12 machines) and one
machine of firm beta; the app (API + dashboard) is served by uvicorn in a background thread.
Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow.compute as pc
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from web_browser import served, shooter

from factory_commons.accounts import Accounts
from factory_commons.collect.simulator import FactorySimulator
from factory_commons.model import Machine, StateChange
from factory_commons.server import create_app
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime(2026, 10, 5, tzinfo=SEOUL)  # a Monday
NOW = START + timedelta(days=2, hours=16)  # Wednesday 16:00, in the day shift
STOP_AT = NOW - timedelta(hours=2)
PASSWORD = "correct horse 1"
B1 = "beta/s1/a1/l1/m1"


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Iterator[dict]:
    """The store, the accounts and the app; acme's first machine has been down since STOP_AT."""
    store = DuckDBStore(tmp_path_factory.mktemp("dash") / "plant.duckdb")
    sim = FactorySimulator(seed=7, start=START, days=3, signal_interval_s=300)
    store.register_machines(sim.machines())
    store.save_calendar(sim.calendar())
    stopped = sorted(m.path for m in sim.machines())[0]
    for _, batches in sim.iter_days():
        for kind, table in batches.items():
            if kind == "state":  # the stopped machine reports nothing after its stop began
                late = pc.and_(pc.equal(table["machine"], stopped), pc.greater_equal(table["ts"], STOP_AT))
                table = table.filter(pc.invert(late))
            store.write_table(kind, table)
    store.write([StateChange(ts=STOP_AT, machine=stopped, state="unplanned_down")])
    store.register_machines([Machine(path=B1)])
    store.write(
        [
            StateChange(ts=NOW - timedelta(days=2), machine=B1, state="running"),
            StateChange(ts=STOP_AT, machine=B1, state="unplanned_down"),
        ]
    )
    accounts = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name in ("acme", "beta"):
        firm = accounts.create_firm(name, [name])
        for role in ("owner", "operator", "regional_analyst"):
            accounts.create_user(firm.id, f"{role}@{name}.example", f"{name} {role}", role, PASSWORD)
    app = create_app(store, accounts, clock=lambda: NOW)
    app.state.live_refresh_ms = 300
    yield {"store": store, "accounts": accounts, "app": app, "stopped": stopped, "machines": sim.machines()}
    store.close()


def login(client: TestClient, email: str) -> TestClient:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text[:300]
    return client


# -- without a browser -----------------------------------------------------------------------
def test_pages_need_login_and_pages_stay_out_of_openapi(plant):
    c = TestClient(plant["app"])
    for path in ("/", "/oee", "/downtime", "/stops", f"/machines/{plant['stopped']}"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    assert c.get("/live.json").status_code == 401
    paths = c.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/")]


def test_login_form_checks_csrf_and_password(plant):
    c = TestClient(plant["app"])
    c.get("/login")
    bad = c.post("/login", data={"email": "owner@acme.example", "password": PASSWORD, "csrf_token": "x"})
    assert bad.status_code == 403 and c.cookies.get("fc_session") is None
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    wrong = c.post(
        "/login", data={"email": "owner@acme.example", "password": "nope nope", "csrf_token": token}
    )
    assert wrong.status_code == 401 and "login-error" in wrong.text


def test_stop_form_needs_the_session_csrf_token(plant):
    c = login(TestClient(plant["app"]), "operator@acme.example")
    data = {"machine": plant["stopped"], "reason": "breakdown", "csrf_token": "forged"}
    assert c.post("/stops", data=data, follow_redirects=False).status_code == 403
    data["machine"], data["csrf_token"] = B1, c.cookies.get("fc_csrf")
    r = c.post("/stops", data=data, follow_redirects=False)
    assert r.headers["location"] == "/stops?err=not_allowed"
    analyst = login(TestClient(plant["app"]), "regional_analyst@acme.example")
    data = {"machine": plant["stopped"], "reason": "breakdown", "csrf_token": analyst.cookies.get("fc_csrf")}
    assert analyst.post("/stops", data=data).status_code == 403


def test_no_page_shows_another_firms_machines(plant):
    acme = login(TestClient(plant["app"]), "owner@acme.example")
    beta = login(TestClient(plant["app"]), "owner@beta.example")
    for path in ("/", "/oee", "/downtime", "/stops", "/live.json"):
        assert "beta/" not in acme.get(path).text, path
        page = beta.get(path).text
        assert "acme/" not in page and "changwon" not in page, path
    assert "m1" in beta.get("/").text
    assert beta.get(f"/machines/{plant['stopped']}").status_code == 404
    assert acme.get(f"/machines/{B1}").status_code == 404
    assert acme.get(f"/machines/{plant['stopped']}").status_code == 200


def test_live_states_and_an_experts_grant(plant):
    acme = login(TestClient(plant["app"]), "owner@acme.example")
    live = acme.get("/live.json").json()
    assert len(live) == len(plant["machines"])
    assert live[plant["stopped"]] == {
        "state": "unplanned_down",
        "label": "비계획 정지",
        "since": "10-07 14:00",
    }
    accounts = plant["accounts"]
    hub = accounts.create_firm("hub", [])
    expert = accounts.create_user(hub.id, "expert@uni.example", "김박사", "expert", PASSWORD)
    owner = accounts.user_by_email("owner@acme.example")
    grant = accounts.create_grant(
        owner.firm_id,
        expert.id,
        [plant["stopped"]],
        NOW - timedelta(days=1),
        NOW + timedelta(days=1),
        owner.id,
    )
    c = login(TestClient(plant["app"]), "expert@uni.example")
    assert "m1" not in c.get("/").text and c.get("/").text.count('class="machine ') == 1
    assert c.get(f"/machines/{plant['stopped']}").status_code == 200
    assert 'class="panel stop"' not in c.get("/stops").text  # grants give read access only
    assert any(r["grant_id"] == grant.id for r in accounts.audit_log(owner.firm_id))
    accounts.revoke_grant(grant.id, NOW - timedelta(minutes=1))
    assert c.get(f"/machines/{plant['stopped']}").status_code == 404
    assert c.get("/").text.count('class="machine ') == 0


def test_pages_speak_one_language_and_show_names_not_codes(plant):
    """English pages hold no Korean but the language switch; no page shows a snake_case code
    (a state, a reason code) where the catalogs name it."""
    hangul = re.compile(r"[\uac00-\ud7a3]")
    visible = re.compile(r">([^<>]+)<")
    pages = ("/", "/oee", "/downtime", "/stops", "/settings/stop-reasons", f"/machines/{plant['stopped']}")
    names = sorted({m.display_name for m in plant["machines"] if m.display_name}, key=len, reverse=True)
    for lang in ("ko", "en"):
        c = login(TestClient(plant["app"]), "owner@acme.example")
        c.cookies.set("lang", lang)
        for path in pages:
            r = c.get(path)
            assert r.status_code == 200, path
            html = r.text.replace(">한국어<", "><")  # the language switch names Korean in Korean
            html = re.sub(r"<textarea.*?</textarea>", "", html, flags=re.S)  # the firm's list, as typed
            for name in names:  # machines' display names are the firm's data, shown as written
                html = html.replace(name, "")
            for word in {w for name in names for w in name.split()}:  # wrapped under a chart's bar
                html = html.replace(f">{word}<", "><").replace(f">{word} ", ">").replace(f" {word}<", "<")
            texts = [x.strip() for x in visible.findall(html) if x.strip()]
            if lang == "en":
                assert not [x for x in texts if hangul.search(x)], path
            shown = {w for x in texts for w in re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", x)}
            assert not shown, (path, lang, shown)  # e.g. unplanned_down, waiting_material
    c.cookies.set("lang", "en")
    assert "Stop reasons of acme" in c.get("/settings/stop-reasons").text


# -- in Chromium -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(plant) -> Iterator[str]:
    with served(plant["app"]) as url:
        yield url


shot = shooter("dashboard")


def browser_login(browser, server: str, email: str, viewport=(1280, 900)):
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = ctx.new_page()
    page.goto(f"{server}/oee")
    assert "/login" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{server}/oee")
    return ctx, page


def test_browser_login_overview_and_oee(browser, server, plant):
    ctx, page = browser_login(browser, server, "owner@acme.example")
    assert page.locator("#waterfall svg rect").count() == 9  # start, 7 losses, end
    assert page.locator("#table-machine tr").count() == 1 + len(plant["machines"])
    assert "종합설비효율" in page.locator("h1").inner_text()  # Korean by default
    shot(page, "oee-ko")
    page.click("[data-nav=overview]")
    page.wait_for_url(f"{server}/")
    assert page.locator(".machine").count() == len(plant["machines"])
    stopped = page.locator(f'.machine[data-path="{plant["stopped"]}"] .mstate')
    assert stopped.inner_text() == "비계획 정지"
    assert "beta" not in page.content()
    shot(page, "overview-ko")
    page.click(f'.machine[data-path="{plant["stopped"]}"]')
    assert page.locator(".chart.signal").count() == 3  # load, vibration, temperature
    shot(page, "machine-ko")
    ctx.close()


def test_browser_language_switch_is_remembered(browser, server):
    ctx, page = browser_login(browser, server, "owner@acme.example")
    page.click("#lang-en")
    page.wait_for_url(f"{server}/oee")
    assert page.locator("h1").inner_text() == "OEE"
    assert "Loss waterfall" in page.locator("#waterfall h2").inner_text()
    page.reload()
    assert page.locator("h1").inner_text() == "OEE"
    page.goto(f"{server}/downtime")
    assert page.locator("h1").inner_text() == "Downtime Pareto"
    shot(page, "downtime-en")
    page.click("#lang-ko")
    assert page.locator("h1").inner_text() == "정지 사유 파레토"
    ctx.close()


def test_browser_tablet_records_a_stop_reason_seen_in_the_pareto(browser, server, plant):
    ctx, page = browser_login(browser, server, "operator@acme.example", viewport=(1024, 768))
    page.goto(f"{server}/stops")
    card = page.locator(f'section.stop[data-path="{plant["stopped"]}"]')
    assert card.locator("button.reason").count() == 5
    assert card.locator(".current-reason").inner_text() == "사유 없음"
    shot(page, "stops-tablet-ko")
    card.locator("button[data-reason=waiting_material]").click()
    page.wait_for_url(re.compile(r"/stops\?ok="))
    assert page.locator("#stop-ok").is_visible()
    card = page.locator(f'section.stop[data-path="{plant["stopped"]}"]')
    assert card.locator(".current-reason").inner_text() == "자재 대기"
    shot(page, "stops-recorded-ko")
    page.goto(f"{server}/downtime?days=1")
    row = page.locator("#table-pareto tr[data-reason=waiting_material][data-state=unplanned_down]")
    assert row.count() == 1 and "자재 대기" in row.inner_text() and "비계획 정지" in row.inner_text()
    assert float(row.locator("td").nth(3).inner_text()) == 1.8  # 14:00-16:00 less the 10 min tea break
    assert "자재 대기" in page.locator("#pareto svg").inner_html()
    shot(page, "downtime-after-stop-ko")
    ctx.close()


def test_browser_firm_b_sees_only_its_machine(browser, server, plant):
    ctx, page = browser_login(browser, server, "owner@beta.example")
    assert "acme" not in page.content() and "changwon" not in page.content()
    page.goto(f"{server}/")
    assert page.locator(".machine").count() == 1
    assert page.locator(".machine").get_attribute("data-path") == B1
    page.goto(f"{server}/machines/{plant['stopped']}")
    assert page.locator("#message").inner_text() == "찾을 수 없습니다"  # Korean by default
    shot(page, "beta-denied")
    ctx.close()


def test_browser_overview_refreshes_live_states(browser, server, plant):
    ctx, page = browser_login(browser, server, "owner@acme.example")
    page.goto(f"{server}/")
    last = sorted(m.path for m in plant["machines"])[-1]
    state = page.locator(f'.machine[data-path="{last}"] .mstate')
    assert state.get_attribute("data-state") == "running"
    plant["store"].write([StateChange(ts=NOW - timedelta(seconds=1), machine=last, state="unplanned_down")])
    page.wait_for_selector(f'.machine[data-path="{last}"] .mstate[data-state=unplanned_down]', timeout=5000)
    assert state.inner_text() == "비계획 정지"
    shot(page, "overview-refreshed-ko")
    ctx.close()


def test_a_hub_admin_logging_in_lands_on_the_commons_not_on_a_refusal(plant):
    plant["accounts"].create_user(
        plant["accounts"].firm_by_name("acme").id, "hub@region.example", "hub", "hub_admin", PASSWORD
    )
    c = TestClient(plant["app"])
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post(
        "/login",
        data={"email": "hub@region.example", "password": PASSWORD, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/catalog"
    assert c.get("/catalog").status_code == 200
    owner = login(TestClient(plant["app"]), "owner@acme.example")  # a firm's owner still lands on /
    assert owner.get("/").status_code == 200
