"""The co-op manager's pages (/commons/coop) in real Chromium and without a browser: the manager
opens a pool from the form, three members commit (one on a phone, 390×844), the manager sees
every member's quantity and deposit by name, closes the pool and downloads the settlement sheet
(CSV in UTF-8 with a BOM, XLSX) whose lines add up to the won; a pool and a campaign called off
refund everything; a settled campaign's results are shared with its participants only.

The plant is tests/commons_plant.py; gamma is made a third member of the cooperative.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from commons_plant import COOP, commons_plant
from fastapi.testclient import TestClient
from test_server_plant import PASSWORD
from web_browser import served, shooter

from factory_commons.cooperate import pools as pl
from factory_commons.server.api.commons import SEOUL
from factory_commons.store import DuckDBStore


@pytest.fixture(scope="module")
def plant():
    store = DuckDBStore(":memory:")
    plant = commons_plant(store)
    coop = plant.client("coop")
    assert coop.post(f"/api/commons/cooperatives/{COOP}/invite", json={"firm_id": "gamma"}).status_code == 200
    assert plant.client("gamma:owner").post(f"/api/commons/cooperatives/{COOP}/join").status_code == 200
    yield plant
    store.close()


def login(plant, email: str) -> TestClient:
    c = TestClient(plant.app)
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text[:300]
    return c


def local(plant, minutes: int) -> str:
    """A datetime-local value (Seoul) `minutes` after the plant's clock."""
    return (plant.clock() + timedelta(minutes=minutes)).astimezone(SEOUL).strftime("%Y-%m-%dT%H:%M")


def post(c: TestClient, path: str, **form) -> str:
    r = c.post(path, data={**form, "csrf_token": c.cookies.get("fc_csrf")}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return r.headers["location"]


def test_only_the_cooperative_runs_its_pools(plant):
    acme = login(plant, "owner@acme.example")
    assert 'id="not-manager"' in acme.get("/commons/coop").text
    form = {"title": "x", "material": "steel", "tier0_qty": "1", "tier0_price": "1", "minimum": "1"}
    form["closes"] = local(plant, 60)
    r = acme.post("/commons/coop/pools", data={**form, "csrf_token": acme.cookies.get("fc_csrf")})
    assert r.status_code == 403
    coop = login(plant, "office@coop.example")
    pid = post(coop, "/commons/coop/pools", **form).split("ok=")[1].split("#")[0]
    for path in (f"/commons/coop/pool/{pid}/settlement.csv", f"/commons/coop/pool/{pid}/close"):
        r = (
            acme.post(path, data={"csrf_token": acme.cookies.get("fc_csrf")})
            if "close" in path
            else acme.get(path)
        )
        assert r.status_code == 404, path
    assert coop.get(f"/commons/coop/pool/{pid}/settlement.csv").status_code == 409  # not closed yet
    # a bad field names itself, in the page's language
    coop.cookies.set("lang", "en")
    where = post(coop, "/commons/coop/pools", **{**form, "minimum": "lots"})
    assert (
        "err=" in where and "minimum" in coop.get(where).text and "not a number: lots" in coop.get(where).text
    )
    coop.cookies.set("lang", "ko")


def test_calling_off_refunds_everything_and_results_reach_participants_only(plant):
    coop = login(plant, "office@coop.example")
    form = {"title": "취소할 공동구매", "material": "steel", "tier0_qty": "10", "tier0_price": "1000"}
    pid = (
        post(coop, "/commons/coop/pools", **form, minimum="10", closes=local(plant, 60))
        .split("ok=")[1]
        .split("#")[0]
    )
    acme = plant.client("acme:owner")
    assert acme.post(f"/api/commons/pools/{pid}/commit", json={"quantity": "5"}).status_code == 200
    assert "err=" in post(coop, f"/commons/coop/pool/{pid}/cancel", reason="")  # a reason is needed
    post(coop, f"/commons/coop/pool/{pid}/cancel", reason="공급사 납품 불가")
    s = acme.get(f"/api/commons/pools/{pid}/settlement").json()
    assert s["outcome"] == "refunded" and [x["refund_krw"] for x in s["lines"]] == [5000]
    page = coop.get("/commons/coop").text
    assert "전액 환급" in page and "공급사 납품 불가" in page
    # a campaign: acme and beta join, it settles, the cooperative shares leads
    body = {"title": "expo", "kind": "expo_booth", "total_cost": "12,000,000", "min_participants": "2"}
    cid = post(coop, "/commons/coop/campaigns", **body, closes=local(plant, 30)).split("ok=")[1].split("#")[0]
    for who in ("acme:owner", "beta:owner"):
        assert (
            plant.client(who).post(f"/api/commons/campaigns/{cid}/join", json={"quantity": "1"}).status_code
            == 200
        )
    plant.clock.now += timedelta(hours=1)
    post(coop, f"/commons/coop/campaign/{cid}/close")
    leads = "Hans Müller, DE, hans@example.de, CNC\nAna Lopez, ES"
    post(coop, f"/commons/coop/campaign/{cid}/results", title="부스 상담", leads=leads, ref="report.pdf")
    got = plant.client("acme:owner").get(f"/api/commons/campaigns/{cid}/results").json()
    assert [x["name"] for x in got[0]["leads"]] == ["Hans Müller", "Ana Lopez"] and got[0][
        "ref"
    ] == "report.pdf"
    assert plant.client("gamma:owner").get(f"/api/commons/campaigns/{cid}/results").status_code in (403, 404)
    # the API shares a result too (it answered Method Not Allowed before)
    r = plant.client("beta:owner").post(
        f"/api/commons/campaigns/{cid}/results", json={"title": {"en": "catalogue"}, "ref": "cat.pdf"}
    )
    assert r.status_code == 201 and r.json()["added_by"] == "beta"
    assert "부스 상담" in coop.get("/commons/coop").text
    shared = login(plant, "owner@acme.example").get("/commons/pools").text  # a participant's page
    assert "부스 상담" in shared and "Hans Müller" in shared and "hans@example.de" in shared
    assert "Hans Müller" not in login(plant, "owner@gamma.example").get("/commons/pools").text
    camp = plant.app.state.commons.get("campaign", cid, pl.Campaign)
    assert camp.settlement.total_cost_krw == 12_000_000


shot = shooter("commons")


@pytest.fixture(scope="module")
def server(plant):
    with served(plant.app) as url:
        yield url


def browser_login(browser, server: str, email: str, target: str, viewport=(1280, 900)):
    phone = viewport[0] < 500
    ctx = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]},
        is_mobile=phone,
        has_touch=phone,
        accept_downloads=True,
    )
    page = ctx.new_page()
    page.goto(f"{server}{target}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{server}{target}")
    return ctx, page


def test_browser_a_manager_opens_a_pool_three_members_commit_and_the_sheet_adds_up(browser, server, plant):
    ctx, page = browser_login(browser, server, "office@coop.example", "/commons/coop")
    page.fill("#po-title", "SS400 강판 공동구매")
    page.select_option("#po-material", "steel")
    page.fill("#po-spec", "SS400 t3.2")
    page.fill("#po-tier0-qty", "1000")
    page.fill("#po-tier0-price", "1,150")
    page.fill("#po-tier1-qty", "3000")
    page.fill("#po-tier1-price", "1,080")
    page.fill("#po-minimum", "1000")
    page.fill("#po-closes", local(plant, 30))
    with page.expect_navigation():
        page.click("#po-open")
    pid = re.search(r"ok=([^&#]+)", page.url).group(1)
    card = page.locator(f"#w-{pid}")
    assert card.get_attribute("data-state") == "open"
    assert card.locator("button.close-window").is_disabled()  # before the close time
    ctx.close()
    # one member commits on a phone, two over the API
    ctx, phone = browser_login(browser, server, "owner@acme.example", "/commons/pools", viewport=(390, 844))
    mine = phone.locator(f"#pool-{pid}")
    mine.locator("input.qty").fill("1,234.5")
    with phone.expect_navigation():
        mine.locator("button.join").click()
    assert phone.locator(f"#pool-{pid} .own-qty").inner_text() == "1,234.5"
    shot(phone, "coop-member-commits-390")
    ctx.close()
    for who, q in (("beta:owner", "987.25"), ("gamma:owner", "1,100")):
        r = plant.client(who).post(f"/api/commons/pools/{pid}/commit", json={"quantity": q.replace(",", "")})
        assert r.status_code == 200, r.text
    # the manager sees every member by name, quantity and deposit held
    ctx, page = browser_login(browser, server, "office@coop.example", "/commons/coop")
    rows = page.locator(f"#w-{pid} table.commitments tr[data-firm]")
    assert rows.count() == 3
    text = page.locator(f"#w-{pid}").inner_text()
    assert "에이크미정밀" in text and "베타금속" in text and "gamma" in text
    assert f"{1150 * 1234.5:,.0f}" in text  # acme's deposit at the first tier's price
    assert page.locator(f"#w-{pid} .deposit-status").all_inner_texts() == ["예치 중"] * 3
    assert page.locator("#members li[data-firm]").count() == 3
    plant.clock.now += timedelta(minutes=45)  # past the close, within the session's idle time
    page.reload()
    with page.expect_navigation():
        page.locator(f"#w-{pid} button.close-window").click()
    card = page.locator(f"#w-{pid}")
    assert card.locator(".settlement").get_attribute("data-outcome") == "settled"
    total = 1234.5 + 987.25 + 1100  # 3,321.75 kg at the 3,000 kg tier: 1,080 won
    cost = int(total * 1080)
    assert card.locator(".total-cost").inner_text() == f"{cost:,}"
    shot(page, "coop-settled")
    with page.expect_download() as got:
        card.locator("a.sheet-csv").click()
    raw = Path(got.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads the Hangul
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "업체" and rows[-1][0] == "합계"
    lines = rows[1:-1]
    assert {r[1] for r in lines} == {"acme", "beta", "gamma"} and "에이크미정밀" in {r[0] for r in lines}
    deposit, charged, refund = (sum(int(r[k]) for r in lines) for k in (3, 4, 5))
    assert charged == cost == int(rows[-1][4]) and deposit == charged + refund
    for r in lines:
        assert int(r[3]) == int(r[4]) + int(r[5])
    with page.expect_download() as got:
        card.locator("a.sheet-xlsx").click()
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes())).active
    values = list(ws.iter_rows(values_only=True))
    assert values[0][0] == "업체" and values[-1][4] == cost
    assert page.locator(f"#w-{pid} .deposit-status").all_inner_texts() == ["정산됨 (나머지 환급)"] * 3
    ctx.close()
