"""The commons pages in real headless Chromium (Playwright driving /usr/bin/chromium), and the
same pages without a browser: post a request and see ranked, explained matches and a team of
firms; join a purchasing pool and see its settlement; the public catalog on a phone.

The app is the plant of tests/commons_plant.py (a generated region of 200 firms, acme and beta,
a cooperative) served by uvicorn in a background thread. Screenshots: test-artifacts/commons/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from commons_plant import COOP, SECRET_SCRAP, SECRET_UNITS, TODAY, commons_plant
from fastapi.testclient import TestClient
from test_server_plant import PASSWORD
from web_browser import served, shooter

from factory_commons.store import DuckDBStore


@pytest.fixture(scope="module")
def plant():
    store = DuckDBStore(":memory:")
    yield commons_plant(store)
    store.close()


def web_login(plant, email: str) -> TestClient:
    c = TestClient(plant.app)
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text[:300]
    return c


def open_pool(plant, minutes: int = 60) -> str:
    body = {
        "cooperative": COOP,
        "title": {"ko": "알루미늄 봉재 공동구매", "en": "Aluminium bar co-purchase"},
        "material": "aluminium",
        "spec": {"ko": "AL6061 Ø30", "en": "AL6061 30 mm bar"},
        "unit": "kg",
        "tiers": [
            {"min_quantity": 500, "unit_price_krw": 6000},
            {"min_quantity": 2000, "unit_price_krw": 5500},
        ],
        "minimum_quantity": 500,
        "closes": (plant.clock() + timedelta(minutes=minutes)).isoformat(),
    }
    r = plant.client("coop").post("/api/commons/pools", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


# -- without a browser -----------------------------------------------------------------------
def test_pages_need_login_but_the_catalog_does_not(plant):
    c = TestClient(plant.app)
    for path in ("/commons/profile", "/commons/requests", "/commons/pools", "/commons/missions"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    r = c.get("/catalog", params={"process": "milling"})
    assert r.status_code == 200 and 'data-firm="acme"' in r.text
    assert c.get("/catalog/no-such-firm").status_code == 404
    paths = c.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/catalog", "/commons"))]


def test_catalog_page_never_shows_unpublished_evidence(plant):
    c = TestClient(plant.app)
    beta = c.get("/catalog/beta").text
    assert "베타금속" in beta and 'data-published="no"' in beta
    pct = f"{100 * SECRET_SCRAP:.1f}%"
    assert pct not in beta and f"{SECRET_UNITS:,}" not in beta
    own = web_login(plant, "owner@beta.example").get("/commons/profile").text
    assert pct in own  # the firm itself sees its own record, marked unpublished


def test_request_form_checks_csrf_and_fields(plant):
    c = web_login(plant, "owner@acme.example")
    form = {
        "process1": "milling",
        "material1": "aluminium",
        "quantity1": "10",
        "due": str(TODAY + timedelta(days=9)),
    }
    assert c.post("/commons/requests", data={**form, "csrf_token": "forged"}).status_code == 403
    token = c.cookies.get("fc_csrf")
    r = c.post("/commons/requests", data={**form, "quantity1": "ten", "csrf_token": token})
    assert r.status_code == 422 and "quantity1" in r.text and 'id="request-error"' in r.text
    r = c.post("/commons/requests", data={**form, "due": "2020-01-01", "csrf_token": token})
    assert r.status_code == 422 and "due" in r.text
    r = c.post("/commons/requests", data={**form, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    assert c.get(url).status_code == 200
    assert web_login(plant, "owner@beta.example").get(url).status_code == 404
    op = web_login(plant, "operator@acme.example")
    assert (
        op.post("/commons/requests", data={**form, "csrf_token": op.cookies.get("fc_csrf")}).status_code
        == 403
    )


def test_missions_page_lists_experts_and_accepting_opens_a_grant(plant):
    from test_server_plant import A1

    owner = plant.client("acme:owner")
    body = {
        "title": {"ko": "프레스 불량 개선"},
        "metric": "scrap_ratio",
        "scope": [A1],
        "days": 366,
        "skills": ["stamping", "spc"],
        "weeks": 2,
    }
    r = owner.post("/api/commons/problems", json=body)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    web = web_login(plant, "owner@acme.example")
    page = web.get("/commons/missions").text
    assert f'data-problem="{pid}"' in page and 'data-expert="x-kim"' in page and "관련성" in page
    engineer = web_login(plant, "engineer@acme.example")
    assert 'class="accept"' not in engineer.get("/commons/missions").text  # only the owner grants
    data = {"expert_id": "x-kim", "csrf_token": engineer.cookies.get("fc_csrf")}
    assert engineer.post(f"/commons/problems/{pid}/accept", data=data).status_code == 404
    other = web_login(plant, "owner@beta.example")
    data = {"expert_id": "x-kim", "csrf_token": other.cookies.get("fc_csrf")}
    assert other.post(f"/commons/problems/{pid}/accept", data=data).status_code == 404
    data = {"expert_id": "x-kim", "csrf_token": web.cookies.get("fc_csrf")}
    r = web.post(f"/commons/problems/{pid}/accept", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/commons/missions"
    grants = owner.get("/api/grants").json()
    assert len(grants) == 1 and grants[0]["scope"] == [A1] and grants[0]["active"]
    expert_page = web_login(plant, "expert@uni.example").get("/commons/missions").text
    assert f'data-mission="m-{pid}"' in expert_page
    assert f"m-{pid}" not in other.get("/commons/missions").text


def _form_post(c: TestClient, url: str, data: dict) -> tuple[str, str]:
    """Post a commons form; (the page it sends back to, its ok/err text)."""
    r = c.post(url, data={**data, "csrf_token": c.cookies.get("fc_csrf")}, follow_redirects=False)
    assert r.status_code == 303, (url, r.status_code, r.text[:300])
    from urllib.parse import parse_qs, urlsplit

    q = parse_qs(urlsplit(r.headers["location"]).query)
    return r.headers["location"], (q.get("err") or q.get("ok") or [""])[0]


def test_booking_page_offer_machine_hours_book_them_and_see_what_is_left(plant):
    acme, beta = web_login(plant, "owner@acme.example"), web_login(plant, "owner@beta.example")
    page = acme.get("/commons/booking")
    assert (
        page.status_code == 200 and 'data-nav="booking"' in page.text and 'data-nav="projects"' in page.text
    )
    monday = TODAY + timedelta(days=7 - TODAY.weekday())
    offer = {"equipment_id": "acme-cnc", "week_start": str(monday), "hours": "100"}
    where, why = _form_post(acme, "/commons/offers", offer)
    assert "err=" in where and "30" in why  # beyond the measured 30 h a week
    where, offer_id = _form_post(acme, "/commons/offers", {**offer, "hours": "12"})
    assert "ok=" in where and offer_id.startswith(("o", "mo"))
    assert f'data-offer="{offer_id}" data-left="12"' in beta.get("/commons/booking").text
    where, why = _form_post(beta, f"/commons/offers/{offer_id}/book", {"hours": "13"})
    assert "err=" in where and "hours" in why
    where, booking = _form_post(beta, f"/commons/offers/{offer_id}/book", {"hours": "5"})
    assert "ok=" in where
    text = beta.get("/commons/booking").text
    assert f'data-offer="{offer_id}" data-left="7"' in text and f'data-booking="{booking}"' in text
    assert "300,000 원" in text  # 5 h at acme's 60,000 won an hour
    assert "예약됨" in text and "booking_active" not in text
    own = acme.get("/commons/booking").text
    assert f'data-booking="{booking}"' in own and "beta" in own  # the host sees who booked
    # visit slots: acme opens one, beta books two places, three are left
    where, why = _form_post(
        acme,
        "/commons/slots",
        {"day": str(TODAY + timedelta(days=3)), "start": "25:00", "end": "11:30", "capacity": "5"},
    )
    assert "err=" in where and why.startswith("start")
    slot = {
        "day": str(TODAY + timedelta(days=3)),
        "start": "10:00",
        "end": "11:30",
        "capacity": "5",
        "title": "라인 견학",
    }
    where, slot_id = _form_post(acme, "/commons/slots", slot)
    assert "ok=" in where
    _form_post(beta, f"/commons/slots/{slot_id}/book", {"party": "2"})
    text = beta.get("/commons/booking").text
    assert f'data-slot="{slot_id}" data-left="3"' in text and "라인 견학" in text
    # forged CSRF and a role that may not act are refused
    assert (
        beta.post(f"/commons/offers/{offer_id}/book", data={"hours": "1", "csrf_token": "x"}).status_code
        == 403
    )
    op = web_login(plant, "operator@beta.example")
    r = op.post(
        f"/commons/offers/{offer_id}/book", data={"hours": "1", "csrf_token": op.cookies.get("fc_csrf")}
    )
    assert r.status_code == 403
    assert 'class="book"' not in op.get("/commons/booking").text


def test_projects_page_posts_a_project_and_recommends_partners_per_role(plant):
    acme = web_login(plant, "owner@acme.example")
    where, why = _form_post(
        acme, "/commons/projects", {"title": "x", "role1": "maker", "processes1": "knitting"}
    )
    assert "err=" in where and "knitting" in why
    where, why = _form_post(acme, "/commons/projects", {"title": "x"})
    assert "err=" in where and why.startswith("role1")
    data = {
        "title": "경량 브래킷 공동 개발",
        "description": "알루미늄 브래킷 경량화",
        "role1": "maker",
        "processes1": "welding, anodizing",
        "role2": "engineer",
        "skills2": "spc",
    }
    where, pid = _form_post(acme, "/commons/projects", data)
    assert "ok=" in where
    page = acme.get("/commons/projects").text
    part = page.split(f'data-project="{pid}"', 1)[1]
    assert "경량 브래킷 공동 개발" in page and 'data-role="maker"' in part and 'data-role="engineer"' in part
    makers = part.split('data-role="maker"', 1)[1].split('data-role="engineer"', 1)[0]
    assert makers.count('class="partner"') >= 1 and 'data-candidate="acme"' not in makers
    assert 'data-kind="expert"' in part.split('data-role="engineer"', 1)[1]  # Dr. Kim knows SPC
    other = web_login(plant, "owner@beta.example").get("/commons/projects").text
    assert f'data-project="{pid}"' in other.split('id="open-projects"', 1)[1]
    from factory_commons.server.web.i18n import LANG_COOKIE

    acme.cookies.set(LANG_COOKIE, "en")
    assert "Recommended partners" in acme.get("/commons/projects").text


def test_missions_page_posts_a_problem_with_evidence_computed_on_the_server(plant):
    from datetime import timedelta as td

    from test_server_plant import A1, B1

    from factory_commons.cooperate import missions as ms

    web = web_login(plant, "owner@acme.example")
    page = web.get("/commons/missions").text
    assert 'id="problem-form"' in page and f'value="{A1}"' in page and B1 not in page
    data = {
        "title": "프레스 불량",
        "metric": "scrap_ratio",
        "days": "366",
        "skills": "stamping, spc",
        "weeks": "2",
    }
    where, why = _form_post(web, "/commons/problems", {**data, "scope": B1})
    assert "err=" in where and "not your firm" in why
    where, why = _form_post(web, "/commons/problems", {**data, "scope": A1, "metric": "happiness"})
    assert "err=" in where and "metric" in why
    where, pid = _form_post(web, "/commons/problems", {**data, "scope": A1})
    assert "ok=" in where and pid.startswith("p-")
    problem = next(
        p for p in plant.client("acme:owner").get("/api/commons/problems").json() if p["id"] == pid
    )
    end = plant.clock()
    expected = ms.kpi_evidence(plant.store, "scrap_ratio", [A1], end - td(days=366), end, now=end)
    assert problem["evidence"][0]["value"] == expected.value and problem["scope"] == [A1]
    assert f'data-problem="{pid}"' in web.get("/commons/missions").text
    op = web_login(plant, "operator@acme.example")
    assert 'id="problem-form"' not in op.get("/commons/missions").text


def test_pages_speak_one_language_and_show_names_not_codes(plant):
    """No page shows a snake_case code (a state, a kind, a process) where a catalog names it, and
    an English page shows no Korean text of the catalogs (firms' own data stays as they wrote it)."""
    from factory_commons.i18n import Catalog

    c = web_login(plant, "owner@acme.example")
    form = {"process1": "milling", "material1": "aluminium", "quantity1": "10", "process2": "anodizing"}
    form |= {"material2": "aluminium", "quantity2": "10", "due": str(TODAY + timedelta(days=30))}
    r = c.post(
        "/commons/requests", data={**form, "csrf_token": c.cookies.get("fc_csrf")}, follow_redirects=False
    )
    paths = ["/catalog", "/catalog/acme", "/commons/profile", "/commons/requests", r.headers["location"]]
    paths += ["/commons/pools", "/commons/booking", "/commons/projects", "/commons/missions"]
    korean = set()
    for domain in ("web", "commons", "states", "kpi", "commons_terms"):
        cat = Catalog(domain)
        korean |= {cat.get(k, "ko") for k in cat.ids() if cat.get(k, "ko") != cat.get(k, "en")}
    for lang in ("ko", "en"):
        c.cookies.set("lang", lang)
        for path in paths:
            page = c.get(path)
            assert page.status_code == 200, path
            html = re.sub(r"<(textarea|script)\b.*?</\1>", "", page.text, flags=re.S)
            texts = {x.strip() for x in re.findall(r">([^<>]+)<", html) if x.strip()}
            shown = {w for x in texts for w in re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", x)}
            assert not shown, (path, lang, shown)
            if lang == "en":
                assert not texts & (korean - {"한국어"}), (path, texts & korean)  # 한국어: the switch
    assert "Hard constraints met: process: Milling" in c.get(r.headers["location"]).text
    # the evidence says where it comes from in words, not as its code ('kpi')
    firm = c.get("/catalog/acme").text
    assert "own KPIs" in firm and "· kpi<" not in firm


# -- in Chromium -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(plant) -> Iterator[str]:
    with served(plant.app) as url:
        yield url


shot = shooter("commons")


def browser_login(browser, server: str, email: str, target: str, viewport=(1280, 900)):
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = ctx.new_page()
    page.goto(f"{server}{target}")
    assert "/login" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{server}{target}")
    return ctx, page


def test_browser_post_a_request_and_see_ranked_explained_matches(browser, server):
    ctx, page = browser_login(browser, server, "owner@acme.example", "/commons/requests")
    page.fill("#r-title", "브래킷 가공 후 아노다이징")
    page.select_option("#r-process1", "milling")
    page.select_option("#r-material1", "aluminium")
    page.fill("#r-quantity1", "60")
    page.select_option("#r-process2", "anodizing")
    page.select_option("#r-material2", "aluminium")
    page.fill("#r-quantity2", "60")
    page.fill("#r-due", str(TODAY + timedelta(days=30)))
    page.click("#r-post")
    page.wait_for_url(re.compile(r".*/commons/requests/r-[0-9a-f]+$"))
    assert page.locator("#request-title").inner_text() == "브래킷 가공 후 아노다이징"
    for step in (0, 1):
        matches = page.locator(f"#matches-{step} li.match")
        assert matches.count() >= (3 if step == 0 else 1), step
        scores = [float(x) for x in matches.evaluate_all("els => els.map(e => e.dataset.score)")]
        assert scores == sorted(scores, reverse=True)
        first = matches.first
        contributions = first.locator("tr.factor").evaluate_all(
            "els => els.map(e => +e.dataset.contribution)"
        )
        assert len(contributions) >= 5 and abs(sum(contributions) - scores[0]) < 1e-6
        bar = first.locator("tr.factor .bar").first.bounding_box()
        assert bar is not None and bar["width"] > 10  # the bars are drawn
        assert "acme" not in matches.evaluate_all("els => els.map(e => e.dataset.firm)")
    team = page.locator("#team li.team-step")
    assert team.count() == 2 and page.locator("#team-cost").inner_text().replace(",", "").isdigit()
    assert "역량 적합도" in page.locator("#matches-0").inner_text()
    shot(page, "request-matches-ko")
    page.click("#lang-en")
    page.wait_for_load_state()
    assert "Capability fit" in page.locator("#matches-0").inner_text()
    assert "Team of firms" in page.locator("#team").inner_text()
    shot(page, "request-matches-en")
    page.click("#lang-ko")
    ctx.close()


def test_browser_join_a_pool_and_see_the_settlement(browser, server, plant):
    pid = open_pool(plant)
    ctx, page = browser_login(browser, server, "owner@acme.example", "/commons/pools")
    card = page.locator(f"#pool-{pid}")
    card.locator("input.qty").fill("1,200")
    card.locator("button.join").click()
    page.wait_for_url(re.compile(r".*/commons/pools\?ok=.*"))
    card = page.locator(f"#pool-{pid}")
    assert card.locator(".own-qty").inner_text() == "1,200"
    # members see no total while the pool is open (tests/test_security_commons.py)
    assert card.locator(".hidden-total").is_visible() and card.locator(".pool-total .total").count() == 0
    shot(page, "pool-joined")
    beta = plant.client("beta:owner")
    assert beta.post(f"/api/commons/pools/{pid}/commit", json={"quantity": "1000"}).status_code == 200
    page.reload()
    assert "2,200" not in page.locator(f"#pool-{pid}").inner_text()  # the total would give beta's away
    assert page.locator(f"#pool-{pid} .own-qty").inner_text() == "1,200"  # beta's 1,000 is not shown
    plant.clock.now = plant.clock.now + timedelta(hours=2)
    s = plant.client("coop").post(f"/api/commons/pools/{pid}/close").json()
    assert s["outcome"] == "settled" and s["total_cost_krw"] == 2200 * 5500
    page.reload()
    settled = page.locator(f"#pool-{pid} .settlement")
    assert settled.get_attribute("data-outcome") == "settled"
    # two firms committed (< k = 3): acme sees its own line, not the total
    assert page.locator(f"#pool-{pid} .total-cost").count() == 0
    assert f"{2200 * 5500:,}" not in page.locator(f"#pool-{pid}").inner_text()
    assert f"{1200 * 5500:,}" in page.locator(f"#pool-{pid} .own-line").inner_text()
    assert page.locator(f"#pool-{pid} form.commit").count() == 0  # closed: no more commitments
    shot(page, "pool-settled")
    ctx.close()


def test_browser_cooperative_invites_and_the_firm_accepts(browser, server, plant):
    """Membership is granted by the cooperative: the manager invites gamma on the pools page,
    gamma accepts there, and only then sees the cooperative's pool."""
    pid = open_pool(plant)
    ctx, page = browser_login(browser, server, "office@coop.example", "/commons/pools")
    page.fill("#invite-firm", "gamma")
    page.click("#coop-invite button")
    page.wait_for_url(re.compile(r".*/commons/pools\?ok=gamma.*"))
    assert page.locator('#coops .invited li[data-firm="gamma"]').count() == 1
    shot(page, "coop-invited")
    ctx.close()
    ctx, page = browser_login(browser, server, "owner@gamma.example", "/commons/pools")
    assert page.locator(f"#pool-{pid}").count() == 0  # invited is not a member yet
    coop = page.locator(f'#coops .coop[data-coop="{COOP}"]')
    assert coop.get_attribute("data-status") == "invited"
    coop.locator("button.accept-invite").click()
    page.wait_for_url(re.compile(r".*/commons/pools\?ok=.*"))
    assert page.locator(f'#coops .coop[data-coop="{COOP}"]').get_attribute("data-status") == "member"
    assert page.locator(f"#pool-{pid}").count() == 1
    shot(page, "coop-joined")
    ctx.close()


def test_browser_offer_and_book_machine_hours(browser, server):
    monday = TODAY + timedelta(days=14 - TODAY.weekday())
    ctx, page = browser_login(browser, server, "owner@acme.example", "/commons/booking")
    page.select_option("#o-equipment", "acme-cnc")
    page.fill("#o-week", str(monday))
    page.fill("#o-hours", "8")
    page.click("#o-post")
    page.wait_for_url(re.compile(r".*/commons/booking\?ok=.*"))
    offer_id = page.locator("#booking-ok").get_attribute("data-id")
    row = page.locator(f'tr[data-offer="{offer_id}"]')
    assert (
        row.locator(".left").inner_text() == "8" and row.locator("form.book-hours").count() == 0
    )  # own offer
    ctx.close()
    ctx, page = browser_login(browser, server, "owner@beta.example", "/commons/booking")
    row = page.locator(f'tr[data-offer="{offer_id}"]')
    assert row.get_attribute("data-left") == "8" and "에이크미정밀" in row.inner_text()
    row.locator("input.hours").fill("3")
    row.locator("button.book").click()
    page.wait_for_url(re.compile(r".*/commons/booking\?ok=.*"))
    row = page.locator(f'tr[data-offer="{offer_id}"]')
    assert row.locator(".left").inner_text() == "5"  # what is left for the next firm
    booking = page.locator("#booking-ok").get_attribute("data-id")
    assert "180,000" in page.locator(f'#bookings li[data-booking="{booking}"]').inner_text()  # 3 h x 60,000
    row.locator("input.hours").fill("6")
    row.locator("button.book").click()
    page.wait_for_url(re.compile(r".*/commons/booking\?err=.*"))
    assert page.locator("#booking-err").is_visible()
    assert page.locator(f'tr[data-offer="{offer_id}"] .left').inner_text() == "5"
    shot(page, "machine-hours-booked")
    ctx.close()


def test_browser_catalog_on_a_phone(browser, server):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(f"{server}/catalog")
    total = int(page.locator("#catalog-total b").inner_text())
    assert total >= 200
    page.select_option("#f-process", "stamping")
    page.select_option("#f-district", "구로구")
    page.click("#f-go")
    page.wait_for_url(re.compile(r".*/catalog\?.*process=stamping.*"))
    cards = page.locator("a.firm")
    n = int(page.locator("#catalog-total b").inner_text())
    assert 0 < n < total and cards.count() == min(n, 30)
    texts = cards.evaluate_all("els => els.map(e => e.innerText)")
    assert all("프레스 가공" in t and "구로구" in t for t in texts)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1, width  # no sideways scrolling on a phone
    shot(page, "catalog-phone-ko")
    page.click("#lang-en")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Firm catalog"
    assert "Stamping" in cards.first.inner_text()
    page.locator('a.firm[data-firm="beta"]').click()
    page.wait_for_url(f"{server}/catalog/beta")
    quality = page.locator('.ev[data-kind="quality"]')
    assert quality.get_attribute("data-published") == "no" and "Not published" in quality.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    shot(page, "catalog-firm-phone-en")
    ctx.close()
