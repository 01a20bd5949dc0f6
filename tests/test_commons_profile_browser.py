"""A shop owner builds the firm's profile from the form (/commons/profile/edit) and publishes
evidence, in real Chromium on a phone (390×844) and on a desktop; and the editor's checks
without a browser: a bad field is refused at the field with what was typed kept, nothing is
saved, OKW extras survive a save, only owners and engineers save, the CSRF token is checked.

The plant is tests/commons_plant.py with one more acme machine of a known kind (a CNC, so its
hours count as milling and turning capacity) and acme's profile removed: acme starts with none.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from commons_plant import commons_plant
from fastapi.testclient import TestClient
from test_server_plant import PASSWORD, T0
from web_browser import served, shooter

from factory_commons.cooperate.model import Profile
from factory_commons.model import Machine, PartCount, StateChange
from factory_commons.store import DuckDBStore

CNC = "acme/s1/a1/l3/cnc9"


@pytest.fixture(scope="module")
def plant():
    store = DuckDBStore(":memory:")
    plant = commons_plant(store)
    store.register_machines([Machine(path=CNC, kind="cnc")])
    store.write(
        [
            StateChange(ts=T0, machine=CNC, state="running"),
            StateChange(ts=T0 + timedelta(hours=30), machine=CNC, state="idle"),
            StateChange(ts=T0 + timedelta(days=4), machine=CNC, state="running"),
            PartCount(ts=T0 + timedelta(hours=1), machine=CNC, good=100, scrap=2),
            PartCount(ts=T0 + timedelta(days=6), machine=CNC, good=100, scrap=2),
        ]
    )
    plant.clock.now = T0 + timedelta(days=8)  # the week of T0 is the last whole week
    plant.app.state.commons.delete("profile", "acme")
    yield plant
    store.close()


def login(plant, email: str) -> TestClient:
    c = TestClient(plant.app)
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text[:300]
    return c


def acme(plant) -> Profile | None:
    return plant.app.state.commons.get("profile", "acme", Profile)


GOOD = {
    "name_ko": "에이크미정밀",
    "name_en": "Acme Precision",
    "city": "Seoul",
    "district": "금천구",
    "eq0_process": "milling",
    "eq0_materials": ["aluminium", "steel"],
    "eq0_x": "800",
    "eq0_y": "500",
    "eq0_z": "400",
    "eq0_tol": "0.01",
    "eq0_rate": "60,000",
    "eq0_count": "2",
}


def test_a_bad_field_is_refused_at_the_field_and_nothing_is_saved(plant):
    c = login(plant, "owner@acme.example")
    token = c.cookies.get("fc_csrf")
    assert c.post("/commons/profile/edit", data={**GOOD, "csrf_token": "forged"}).status_code == 403
    bad = {**GOOD, "eq0_tol": "-1", "eq0_x": "huge", "eq0_materials": [], "contact_email": "nobody"}
    for lang, words in (("en", "not a number: huge"), ("ko", "숫자가 아닙니다: huge")):
        c.cookies.set("lang", lang)
        r = c.post("/commons/profile/edit", data={**bad, "csrf_token": token})
        assert r.status_code == 422
        for field in ("eq0_tol", "eq0_x", "eq0_materials", "contact_email"):
            assert f'id="err-{field}"' in r.text, (lang, field)
        assert words in r.text
        assert 'value="huge"' in r.text and 'value="에이크미정밀"' in r.text  # what was typed is kept
    assert acme(plant) is None
    # a code from outside the lists is refused too (a tampered form)
    r = c.post("/commons/profile/edit", data={**GOOD, "cert": "GOSSIP-1", "csrf_token": token})
    assert r.status_code == 422 and 'id="err-cert"' in r.text and acme(plant) is None
    r = c.post("/commons/profile/edit", data={**GOOD, "eq0_process": "levitation", "csrf_token": token})
    assert r.status_code == 422 and 'id="err-eq0_process"' in r.text and acme(plant) is None
    op = login(plant, "operator@acme.example")
    r = op.post("/commons/profile/edit", data={**GOOD, "csrf_token": op.cookies.get("fc_csrf")})
    assert r.status_code == 403 and acme(plant) is None


def test_saving_keeps_evidence_cooperatives_and_okw_extras(plant):
    c = login(plant, "owner@acme.example")
    r = c.post(
        "/commons/profile/edit", data={**GOOD, "csrf_token": c.cookies.get("fc_csrf")}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/commons/profile?ok=saved"
    p = acme(plant)
    assert p.facility.equipment[0].hourly_rate_krw == 60_000 and p.facility.equipment[0].count == 2
    assert p.facility.location.district == "금천구" and 37 < p.facility.location.lat < 38  # placed in 금천구
    eq = p.facility.equipment[0].model_copy(update={"okw_extra": {"serial-number": "SN-1"}})
    kept = p.facility.model_copy(
        update={"okw_extra": {"x-other": 1}, "cooperatives": ("coop-geumcheon",), "equipment": (eq,)}
    )
    plant.app.state.commons.put("profile", "acme", "acme", p.model_copy(update={"facility": kept}))
    page = c.get("/commons/profile/edit").text
    assert f'value="{eq.id}"' in page and 'value="0.01"' in page
    form = {**GOOD, "eq0_id": eq.id, "eq0_tol": "0.02", "eq1_process": "stamping", "eq1_materials": "steel"}
    form |= {"eq1_x": "1200", "eq1_y": "800", "eq1_z": "300", "eq1_tol": "0.1", "eq1_rate": "50000"}
    form |= {"cert": "ISO 9001", "unspsc": "73180000"}
    r = c.post(
        "/commons/profile/edit", data={**form, "csrf_token": c.cookies.get("fc_csrf")}, follow_redirects=False
    )
    assert r.status_code == 303, r.text[:2000]
    f = acme(plant).facility
    assert f.okw_extra == {"x-other": 1} and f.cooperatives == ("coop-geumcheon",)
    assert f.equipment[0].okw_extra == {"serial-number": "SN-1"} and f.equipment[0].tolerance_mm == 0.02
    assert [e.process for e in f.equipment] == ["milling", "stamping"]
    assert [x.code for x in f.certifications] == ["ISO 9001"] and f.unspsc == ("73180000",)
    plant.app.state.commons.delete("profile", "acme")


shot = shooter("commons")


@pytest.fixture(scope="module")
def server(plant):
    with served(plant.app) as url:
        yield url


@pytest.mark.parametrize("viewport", [(390, 844), (1280, 900)], ids=["phone", "desktop"])
def test_browser_a_shop_owner_builds_a_profile_and_publishes_evidence(browser, server, plant, viewport):
    plant.app.state.commons.delete("profile", "acme")
    phone = viewport[0] < 500
    ctx = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, is_mobile=phone, has_touch=phone
    )
    page = ctx.new_page()
    page.goto(f"{server}/commons/profile")
    page.fill("input[name=email]", "owner@acme.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{server}/commons/profile")
    page.click("#create-profile")
    page.wait_for_url(f"{server}/commons/profile/edit")
    page.fill("#pf-name_ko", "에이크미정밀")
    page.fill("#pf-name_en", "Acme Precision")
    page.fill("#pf-district", "금천구")
    page.fill("#pf-contact_email", "sales@acme.example")
    page.check('#pf-certs input[value="ISO 9001"]')
    page.select_option("#pf-eq0_process", "milling")
    page.select_option("#pf-eq0_materials", ["aluminium", "steel"])
    for k, v in (("x", "800"), ("y", "500"), ("z", "400"), ("tol", "0.005mm"), ("rate", "60000")):
        page.fill(f"#pf-eq0_{k}", v)
    with page.expect_navigation():
        page.click("#pf-save")
    # refused at the field, in Korean, the other fields kept
    assert page.locator("#err-eq0_tol").is_visible()
    assert "숫자가 아닙니다" in page.locator("#err-eq0_tol").inner_text()
    assert page.locator("#pf-eq0_x").input_value() == "800"
    shot(page, f"profile-error-{viewport[0]}")
    page.fill("#pf-eq0_tol", "0.005")
    with page.expect_navigation():
        page.click("#pf-save")
    assert re.search(r"/commons/profile\?ok=saved$", page.url), page.url
    assert page.locator("#profile-ok").is_visible()
    assert page.locator('#equipment tr[data-process="milling"]').count() == 1
    with page.expect_navigation():
        page.click("#refresh-evidence")
    assert page.url.endswith("/commons/profile?ok=1"), page.url
    cap = page.locator('.ev[data-kind="capacity"]')
    assert "2024-03-04" in cap.locator(".ev-period").inner_text()  # the period beside the free hours
    with page.expect_navigation():
        cap.locator("#publish-capacity").click()
    assert page.locator('.ev[data-kind="capacity"]').get_attribute("data-published") == "yes"
    assert page.locator('.ev[data-kind="quality"]').get_attribute("data-published") == "no"
    shot(page, f"profile-published-{viewport[0]}")
    p = acme(plant)
    assert p.published == {"capacity"} and p.facility.equipment[0].tolerance_mm == 0.005
    # the public page shows the published capacity, not the quality record
    page.goto(f"{server}/catalog/acme")
    assert page.locator('.ev[data-kind="capacity"]').get_attribute("data-published") == "yes"
    assert "98.0%" not in page.content()
    if phone:  # the form fits the phone: nothing wider than the screen
        page.goto(f"{server}/commons/profile/edit")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport[0] + 1, width
    ctx.close()
