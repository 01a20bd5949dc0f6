"""Sign-up of requesters (/signup, web/signup.py): a designer signs up, confirms through the
local outbox (FC_MAIL_OUTBOX) and logs in, in real Chromium on a phone (Korean) and a desktop
(English); without a browser: the password rules and a mistyped second password are shown at
the field, the account stays off until the link is followed, a link works once, a taken
e-mail gets the same page (its owner gets the mail), and sign-ups are throttled like logins.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from commons_plant import commons_plant
from fastapi.testclient import TestClient
from web_browser import served, shooter

from factory_commons.accounts.mail import OUTBOX_ENV, read
from factory_commons.store import DuckDBStore

GOOD_PASSWORD = "blue-anvil-harbour-42"


@pytest.fixture(scope="module")
def outbox(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outbox")


@pytest.fixture(scope="module")
def plant(outbox):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(OUTBOX_ENV, str(outbox))
        store = DuckDBStore(":memory:")
        plant = commons_plant(store)
    yield plant
    store.close()


def mails_to(outbox: Path, email: str) -> list:
    found = [read(p) for p in sorted(outbox.glob("*.eml"))]
    return [m for m in found if m["To"] == email]


def link_in(message) -> str:
    body = message.get_content()
    return re.search(r"https?://\S+/signup/verify\?token=\S+", body).group(0)


def sign_up(c: TestClient, **form) -> object:
    page = c.get("/signup")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return c.post("/signup", data={"csrf_token": token, **form})


def login_status(plant, email: str, password: str) -> int:
    c = TestClient(plant.app)
    r = c.post("/api/auth/login", json={"email": email, "password": password})
    return r.status_code


def test_sign_up_checks_the_fields_and_the_account_waits_for_the_mail(plant, outbox):
    c = TestClient(plant.app)
    assert c.post("/signup", data={"csrf_token": "forged", "name": "x"}).status_code == 403
    form = {"name": "Mina Park", "email": "mina@design.example", "kind": "designer"}
    r = sign_up(c, **form, password=GOOD_PASSWORD, password2=GOOD_PASSWORD + "x")
    assert r.status_code == 422 and 'id="err-password2"' in r.text and 'value="mina@design.example"' in r.text
    r = sign_up(c, **form, password="12345678", password2="12345678")  # the password rules
    assert r.status_code == 422 and 'id="err-password"' in r.text
    assert plant.accounts.user_by_email("mina@design.example") is None and not mails_to(
        outbox, "mina@design.example"
    )
    r = sign_up(c, **form, password=GOOD_PASSWORD, password2=GOOD_PASSWORD)
    assert r.status_code == 200 and 'id="signup-sent"' in r.text
    user = plant.accounts.user_by_email("mina@design.example")
    assert user is not None and not user.active and user.role == "owner"
    firm = plant.accounts.firm(user.firm_id)
    assert firm.name.startswith("requester-") and firm.enterprises == ()  # a firm without machines
    assert login_status(plant, "mina@design.example", GOOD_PASSWORD) == 401  # not confirmed yet
    (mail,) = mails_to(outbox, "mina@design.example")
    assert "Mina Park" in mail.get_content() and "가입 확인" in mail["Subject"]
    link = link_in(mail).replace("http://testserver", "")
    assert c.get("/signup/verify?token=forged").status_code == 400
    r = c.get(link)
    assert r.status_code == 200 and 'id="signup-verified"' in r.text
    assert c.get(link).status_code == 400  # a link works once
    assert login_status(plant, "mina@design.example", GOOD_PASSWORD) == 200
    # a taken address: the same page, no second account; its owner is told by mail
    r = sign_up(c, **{**form, "name": "Someone"}, password=GOOD_PASSWORD + "!", password2=GOOD_PASSWORD + "!")
    assert r.status_code == 200 and 'id="signup-sent"' in r.text
    assert len([u for u in plant.accounts.users() if u.email == "mina@design.example"]) == 1
    assert "이미 계정이 있습니다" in mails_to(outbox, "mina@design.example")[-1].get_content()


shot = shooter("commons")


@pytest.fixture(scope="module")
def server(plant):
    with served(plant.app) as url:
        yield url


@pytest.mark.parametrize(
    "viewport,lang", [((390, 844), "ko"), ((1280, 900), "en")], ids=["phone-ko", "desktop-en"]
)
def test_browser_a_designer_signs_up_confirms_through_the_outbox_and_logs_in(
    browser, server, plant, outbox, viewport, lang
):
    phone = viewport[0] < 500
    ctx = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, is_mobile=phone, has_touch=phone
    )
    ctx.add_cookies([{"name": "lang", "value": lang, "url": server}])
    page = ctx.new_page()
    email = f"designer-{lang}@abroad.example"
    page.goto(f"{server}/catalog")
    page.click("#signup-link")
    page.select_option("#su-kind", "buyer")
    page.fill("#su-name", "Jonas Berg")
    page.fill("#su-email", email)
    page.fill("#su-password", GOOD_PASSWORD)
    page.fill("#su-password2", GOOD_PASSWORD)
    with page.expect_navigation():
        page.click("#signup-submit")
    assert email in page.locator("#signup-sent").inner_text()
    shot(page, f"signup-sent-{lang}")
    (mail,) = mails_to(outbox, email)
    body = mail.get_content()
    assert ("buyer abroad" in body) if lang == "en" else ("해외 구매자" in body)
    page.goto(link_in(mail))
    assert page.locator("#signup-verified").is_visible()
    page.click("#signup-login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", GOOD_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{server}/commons/requests")
    assert page.locator("#request-form, form").first.is_visible()  # ready to post a request
    if phone:
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0] + 1
    ctx.close()


def test_sign_ups_are_throttled_like_logins(plant):
    """Last in the module: it uses up the test client's address."""
    c = TestClient(plant.app)
    codes = []
    for n in range(12):
        r = sign_up(
            c, name="Bot", email=f"bot{n}@spam.example", password=GOOD_PASSWORD, password2=GOOD_PASSWORD
        )
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            break
    # 10 free attempts per address (the earlier tests used some), then delays
    assert codes[-1] == 429 and 1 <= codes.count(200) <= 10, codes


def test_a_link_expires_after_48_hours():
    from datetime import UTC, datetime, timedelta

    from argon2 import PasswordHasher

    from factory_commons.accounts import Accounts

    a = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    now = datetime(2026, 12, 7, tzinfo=UTC)
    user, token = a.sign_up("late@design.example", "Late", GOOD_PASSWORD, now)
    assert a.confirm_email(token, now + timedelta(hours=49)) is None
    assert not a.user(user.id).active and a.authenticate("late@design.example", GOOD_PASSWORD) is None
    assert a.security_log(user.firm_id, event="user_signed_up")  # logged like other account events
