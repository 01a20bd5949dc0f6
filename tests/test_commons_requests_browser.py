"""A designer's request to a received order in real Chromium, on a phone (390x844) and on a desktop.

The designer (an account of a firm without machines) posts a two-step request with its place, part
size and a drawing from the phone, reads near-miss reasons for the step nobody can make and
ranked matches with every factor's reason for the other, invites firms; acme (invited) fetches
the drawing and quotes on a desktop, beta (not invited) sees nothing; the designer accepts the
quote, acme moves the order to shipped, the designer marks it received and rates acme. A buyer
abroad finds firms by romanised place and English words and asks one for a quote.

Served from tests/commons_plant.py (200 generated firms, acme, beta). Screenshots:
test-artifacts/commons/.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from commons_plant import TODAY, commons_plant
from test_server_plant import PASSWORD
from web_browser import served, shooter

from factory_commons.store import DuckDBStore

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PDF = b"%PDF-1.4\n% housing drawing\n" + b"0" * 3000 + b"\n%%EOF\n"
HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def plant():
    store = DuckDBStore(":memory:")
    p = commons_plant(store)
    firm = p.accounts.create_firm("designer-lee", [])
    p.accounts.create_user(firm.id, "lee@design.example", "Lee", "owner", PASSWORD)
    yield p
    store.close()


@pytest.fixture(scope="module")
def server(plant):
    with served(plant.app) as url:
        yield url


shot = shooter("commons")


def login(browser, server: str, email: str, target: str, device: dict):
    ctx = browser.new_context(**device)
    page = ctx.new_page()
    page.goto(f"{server}{target}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(re.compile(re.escape(f"{server}{target.split('#')[0]}") + r"(#.*)?$"))
    return ctx, page


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 391, width


def test_browser_designer_request_to_received_order(browser, server):
    # -- the designer posts from a phone -------------------------------------------------------
    dctx, d = login(browser, server, "lee@design.example", "/commons/requests", PHONE)
    d.fill("#r-title", "알루미늄 하우징과 절곡 브래킷")
    d.select_option("#r-process1", "sheet_bending")
    d.select_option("#r-material1", "steel")
    d.fill("#r-quantity1", "50")
    for k, v in (("length", "400"), ("width", "200"), ("height", "60")):
        d.fill(f"#r-{k}1", v)
    d.fill("#r-thickness1", "30")  # thicker than any press brake of the region bends
    d.select_option("#r-process2", "milling")
    d.select_option("#r-material2", "aluminium")
    d.fill("#r-quantity2", "40")
    for k, v in (("length", "120"), ("width", "80"), ("height", "40")):
        d.fill(f"#r-{k}2", v)
    d.fill("#r-weight2", "0.4")
    d.select_option("#r-district", "Seoul/금천구")
    d.fill("#r-radius", "12")
    d.set_input_files(
        "#r-drawing", files=[{"name": "housing.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    d.fill("#r-due", str(TODAY + timedelta(days=40)))
    d.locator("#r-post").scroll_into_view_if_needed()
    d.click("#r-post")
    d.wait_for_url(re.compile(r".*/commons/requests/r-[0-9a-f]+$"))
    url = d.url
    rid = url.rsplit("/", 1)[1]
    assert "금천구" in d.locator("#request-facts").inner_text()
    assert d.locator("#drawings li[data-file]").count() == 1
    # step 1: nobody bends 30 mm sheet; the page says what keeps firms out
    assert d.locator("#matches-0 li.match").count() == 0
    near = d.locator("#near-0")
    assert near.is_visible()
    envelope = near.locator('li.near-miss[data-check="envelope"]')
    assert envelope.count() == 1 and "30 x 200 x 400 mm" in envelope.inner_text()
    # step 2: ranked matches with every factor's reason visible on the phone, bars on one scale
    matches = d.locator("#matches-1 li.match")
    assert matches.count() >= 2
    first = matches.first
    reasons = first.locator("td.reason")
    assert reasons.count() == 6 and all(reasons.nth(i).is_visible() for i in range(6))
    for row in first.locator("tr.factor").all():
        value = float(row.get_attribute("data-value"))
        bar, cell = row.locator(".bar").bounding_box(), row.locator(".barcell").bounding_box()
        assert abs(bar["width"] - max(value * cell["width"], 2)) <= 2, (
            row.get_attribute("data-factor"),
            value,
        )
    no_sideways_scroll(d)
    shot(d, "request-phone-ko")
    firms = matches.evaluate_all("els => els.map(e => e.dataset.firm)")
    assert "acme" in firms
    other = next(f for f in firms if f not in ("acme", "beta"))
    for firm in ("acme", other):
        d.locator(f'#matches-1 li.match[data-firm="{firm}"] input.pick').check()
    d.locator("#invite-go").click()
    d.wait_for_url(re.compile(r".*\?ok=.*"))
    invited = d.locator("#invited li").evaluate_all("els => els.map(e => e.dataset.firm)")
    assert sorted(invited) == sorted(["acme", other])
    # the English page speaks English in the reasons and near misses
    d.click("#lang-en")
    d.wait_for_load_state()
    for sel in ("#near-0", "#matches-1 td.reason", "#matches-1 .checks"):
        text = " ".join(d.locator(sel).all_inner_texts())
        assert text and not HANGUL.search(text), (sel, text[:200])
    assert "none has a 30 x 200 x 400 mm envelope" in d.locator("#near-0").inner_text()
    shot(d, "request-phone-en")
    d.click("#lang-ko")
    d.wait_for_load_state()

    # -- acme, invited, on a desktop: the drawing and a quote --------------------------------------
    actx, a = login(browser, server, "owner@acme.example", "/commons/requests", DESKTOP)
    row = a.locator(f'#invitations li[data-request="{rid}"]')
    assert row.count() == 1
    row.locator("a").click()
    a.wait_for_url(url)
    assert a.locator("#matches-0").count() == 0  # the requester's matches are not for the firms
    with a.expect_download() as dl:
        a.locator("#drawings a.drawing").click()
    assert Path(dl.value.path()).read_bytes() == PDF
    a.fill("#q-price", "1,850,000")
    a.fill("#q-lead", "12")
    a.fill("#q-conditions", "Anodised black, delivered to Geumcheon")
    a.click("#q-send")
    a.wait_for_url(re.compile(r".*\?ok=q-.*"))
    a.locator("#messages .thread input.msg-text").fill("도면 받았습니다. 아노다이징 포함입니다.")
    a.locator("#messages .thread button.msg-send").click()
    a.wait_for_url(re.compile(r".*\?ok=m-.*"))

    # -- beta, not invited, sees nothing ----------------------------------------------------------
    bctx, b = login(browser, server, "owner@beta.example", "/commons/requests", DESKTOP)
    assert b.locator(f'#invitations li[data-request="{rid}"]').count() == 0
    assert b.goto(url).status == 404
    file_id = d.locator("#drawings li[data-file]").get_attribute("data-file")
    assert b.goto(f"{url}/files/{file_id}").status == 404
    bctx.close()

    # -- the designer accepts the quote on the phone ---------------------------------------------
    d.reload()
    quote = d.locator('#quotes tr.quote[data-firm="acme"]')
    assert "1,850,000" in quote.inner_text()
    assert "아노다이징" in d.locator('#messages .thread[data-thread="acme"]').inner_text()
    quote.locator("button.accept-quote").click()
    d.wait_for_url(re.compile(r".*\?ok=q-.*"))
    assert d.locator("#order").get_attribute("data-status") == "accepted"
    assert d.locator("#invite-go").count() == 0  # no more invitations once ordered
    no_sideways_scroll(d)

    # -- acme moves the order on, the designer receives it and rates ------------------------------
    for status in ("in_production", "shipped"):
        a.reload()
        a.locator(f"#move-{status}").click()
        a.wait_for_url(re.compile(rf".*\?ok={status}.*"))
    assert a.locator("#order").get_attribute("data-status") == "shipped"
    assert a.locator("#move-received").count() == 0  # the buyer's step
    d.reload()
    d.locator("#move-received").click()
    d.wait_for_url(re.compile(r".*\?ok=received.*"))
    done = d.locator("#order ol.timeline li.done").evaluate_all("els => els.map(e => e.dataset.status)")
    assert done == ["accepted", "in_production", "shipped", "received"]
    d.locator("#rate-go").click()
    d.wait_for_url(re.compile(r".*\?ok=rt-.*"))
    assert d.locator("#rated").is_visible()
    shot(d, "order-received-phone")
    a.goto(f"{server}/commons/requests")
    assert a.locator(f'#orders li[data-order="{rid}"]').get_attribute("data-status") == "received"
    assert a.locator(f'#awards-in li[data-award="{rid}"]').get_attribute("data-state") == "accepted"
    shot(a, "orders-desktop")
    actx.close()
    dctx.close()


def test_browser_booking_buttons_are_on_a_phone_screen(browser, server, plant):
    monday = TODAY + timedelta(days=7 - TODAY.weekday())
    r = plant.client("acme:owner").post(
        "/api/commons/offers", json={"equipment_id": "acme-cnc", "week_start": str(monday), "hours": 6}
    )
    assert r.status_code == 201, r.text
    slot = {"day": str(monday), "start": "10:00", "end": "11:30", "capacity": 6, "languages": ["ko", "en"]}
    slot["title"] = {
        "ko": "5축 가공 라인과 측정실 견학",
        "en": "Five-axis machining line and metrology room visit",
    }
    s = plant.client("acme:owner").post("/api/commons/slots", json=slot)
    assert s.status_code == 201, s.text
    ctx, page = login(browser, server, "owner@beta.example", "/commons/booking", PHONE)
    for row in (f'tr[data-offer="{r.json()["id"]}"]', f'tr[data-slot="{s.json()["id"]}"]'):
        button = page.locator(row).locator("button.book").bounding_box()
        assert button is not None and button["x"] >= 0 and button["x"] + button["width"] <= 390, (row, button)
    no_sideways_scroll(page)
    shot(page, "booking-phone")
    ctx.close()


def test_browser_buyer_abroad_finds_firms_and_asks_for_a_quote(browser, server):
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    page.goto(f"{server}/lang/en?next=/catalog")
    page.goto(f"{server}/catalog?q=Incheon")
    incheon = int(page.locator("#catalog-total b").inner_text())
    assert incheon > 0
    texts = page.locator("a.firm").evaluate_all("els => els.map(e => e.innerText)")
    assert texts and all("Incheon" in t for t in texts)
    assert not any(HANGUL.search(t.split("\n", 1)[1]) for t in texts)  # places romanised
    page.select_option("#f-process", ["sheet_bending", "powder_coating"])
    page.fill("#f-q", "")
    page.select_option("#f-district", "남동구")
    page.click("#f-go")
    page.wait_for_url(re.compile(r".*process=sheet_bending.*process=powder_coating.*"))
    both = int(page.locator("#catalog-total b").inner_text())
    assert 0 < both < incheon
    cards = page.locator("a.firm").evaluate_all("els => els.map(e => e.innerText)")
    assert all("Sheet-metal bending" in t and "Powder coating" in t and "Namdong-gu" in t for t in cards)
    page.goto(f"{server}/catalog?q=powder")
    assert int(page.locator("#catalog-total b").inner_text()) > 0
    no_sideways_scroll(page)
    page.locator("a.firm").first.click()
    page.wait_for_url(re.compile(r".*/catalog/[^/?]+$"))
    firm = page.url.rsplit("/", 1)[1]
    assert page.locator("#equipment").is_visible() and page.locator(".scroll-cue").first.is_visible()
    page.click("#request-quote")
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    page.fill("input[name=email]", "lee@design.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(re.compile(rf".*/commons/requests\?firm={re.escape(firm)}.*"))
    assert page.locator("#r-invite").get_attribute("value") == firm
    page.select_option("#r-process1", "powder_coating")
    page.select_option("#r-material1", "steel")
    page.fill("#r-quantity1", "20")
    page.fill("#r-due", str(TODAY + timedelta(days=30)))
    page.click("#r-post")
    page.wait_for_url(re.compile(r".*/commons/requests/r-[0-9a-f]+$"))
    assert page.locator("#invited li").evaluate_all("els => els.map(e => e.dataset.firm)") == [firm]
    shot(page, "quote-from-catalog-phone-en")
    ctx.close()
