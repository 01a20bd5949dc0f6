"""Know-how in the browser and over the API (issue 21): capture when a stop ends, search on a phone.

A DuckDB store holds one press of firm acme that stopped (breakdown) two hours ago and ran
again 90 minutes ago, and one machine of firm beta; the know-how database holds three past
cases of acme. In real Chromium an operator on a tablet opens the ended stop, sees the past
cause proposed and records it in one tap; a colleague on a 390 x 844 phone finds the new case
by typing other words. The API tests check who may read, add and verify, and that no firm sees
another's cases. Screenshots go to test-artifacts/knowhow/.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from PIL import Image
from web_browser import served, shooter

from factory_commons.accounts import Accounts
from factory_commons.knowhow.cases import Case
from factory_commons.knowhow.db import KnowhowDB
from factory_commons.model import Alarm, Machine, StateChange
from factory_commons.server import create_app
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=SEOUL)
PRESS = "acme/s1/a1/l1/press-01"
PRESS2 = "acme/s1/a1/l1/press-02"
B1 = "beta/s1/a1/l1/m1"
PASSWORD = "correct horse 1"


def _image(fmt: str, size: tuple[int, int], **save) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(out, fmt, **save)
    return out.getvalue()


PNG = _image("PNG", (32, 24))


def past_cases() -> list[Case]:
    return [
        Case(
            ref="WO-101",
            firm="acme",
            machine=PRESS2,
            machine_type="press",
            title="유압 유닛 아래 바닥에 기름 고임",
            symptom="유압 유닛 아래에 기름이 고여 있음",
            cause="유압 호스 피팅 풀림",
            action="피팅 재조임 후 작동유 보충",
            reason_code="breakdown",
            verified=True,
            verifier="반장",
        ),
        Case(
            ref="WO-102",
            firm="acme",
            machine=PRESS2,
            machine_type="press",
            title="제품 버 발생",
            symptom="프레스 제품 가장자리에 버",
            cause="금형 마모",
            action="금형 연마",
            reason_code="quality",
        ),
        Case(
            ref="WO-103",
            firm="acme",
            machine_type="cnc",
            title="spindle overheats",
            symptom="spindle temperature alarm after an hour",
            cause="coolant filter clogged",
            action="cleaned the coolant filter",
            lang="en",
        ),
        Case(
            ref="B-1", firm="beta", machine=B1, title="beta secret", cause="beta cause", action="beta action"
        ),
    ]


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Iterator[dict]:
    store = DuckDBStore(tmp_path_factory.mktemp("knowhow-web") / "plant.duckdb")
    store.register_machines(
        [
            Machine(path=PRESS, display_name="1호 프레스", kind="press"),
            Machine(path=PRESS2, display_name="2호 프레스", kind="press"),
            Machine(path=B1, kind="press"),
        ]
    )
    store.write(
        [
            StateChange(ts=NOW - timedelta(hours=5), machine=PRESS, state="running"),
            StateChange(
                ts=NOW - timedelta(hours=2), machine=PRESS, state="unplanned_down", reason_code="breakdown"
            ),
            StateChange(ts=NOW - timedelta(minutes=90), machine=PRESS, state="running"),
            Alarm(ts=NOW - timedelta(hours=4), machine=PRESS2, code="HYD-LOW", message="유압 저하"),
            Alarm(ts=NOW - timedelta(hours=3, minutes=50), machine=PRESS2, code="HYD-LOW", active=False),
            StateChange(ts=NOW - timedelta(hours=5), machine=B1, state="running"),
            StateChange(ts=NOW - timedelta(hours=2), machine=B1, state="unplanned_down"),
            StateChange(ts=NOW - timedelta(hours=1), machine=B1, state="running"),
        ]
    )
    accounts = Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name in ("acme", "beta"):
        firm = accounts.create_firm(name, [name])
        for role in ("owner", "engineer", "operator", "regional_analyst"):
            accounts.create_user(firm.id, f"{role}@{name}.example", f"{name} {role}", role, PASSWORD)
    db = KnowhowDB(":memory:")
    db.add_many(past_cases())
    app = create_app(store, accounts, clock=lambda: NOW, knowhow=db)
    yield {"store": store, "app": app, "db": db}
    store.close()


def login(client: TestClient, email: str) -> TestClient:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text[:300]
    return client


def as_(plant, role: str, firm: str = "acme") -> TestClient:
    return login(TestClient(plant["app"]), f"{role}@{firm}.example")


def csrf(c: TestClient) -> dict[str, str]:
    return {"x-csrf-token": c.cookies.get("fc_csrf")}


# -- API and roles ----------------------------------------------------------------------------
def test_api_search_sees_only_the_callers_firm(plant):
    acme = as_(plant, "operator")
    hits = acme.get("/api/knowhow/search", params={"q": "기름이 새요"}).json()
    assert hits and hits[0]["ref"] == "WO-101" and hits[0]["score"] > 0
    assert hits[0]["cause"] == "유압 호스 피팅 풀림"
    assert all(
        not h["ref"].startswith("B-") for h in acme.get("/api/knowhow/search", params={"q": "beta"}).json()
    )
    beta = as_(plant, "owner", "beta")
    assert [h["ref"] for h in beta.get("/api/knowhow/search", params={"q": "beta cause"}).json()] == ["B-1"]
    wo = plant["db"].by_ref("WO-101", "acme")
    assert beta.get(f"/api/knowhow/cases/{wo.id}").status_code == 404
    assert acme.get(f"/api/knowhow/cases/{wo.id}").json()["ref"] == "WO-101"
    assert acme.get("/api/knowhow/search", params={"q": ""}).status_code == 422


def test_api_roles_who_may_add_and_verify(plant):
    body = {
        "machine": PRESS,
        "machine_type": "press",
        "symptom": "소음",
        "cause": "베어링 마모",
        "action": "교체",
    }
    analyst = as_(plant, "regional_analyst")
    assert analyst.get("/api/knowhow/search", params={"q": "기름"}).status_code == 403
    assert analyst.post("/api/knowhow/cases", json=body, headers=csrf(analyst)).status_code == 403
    op = as_(plant, "operator")
    made = op.post("/api/knowhow/cases", json=body, headers=csrf(op))
    assert made.status_code == 201, made.text
    case = made.json()
    assert case["firm"] == "acme" and case["author"] == "acme operator" and not case["verified"]
    # an operator may not verify; an engineer (a supervisor) may
    assert op.post(f"/api/knowhow/cases/{case['id']}/verify", headers=csrf(op)).status_code == 403
    eng = as_(plant, "engineer")
    done = eng.post(f"/api/knowhow/cases/{case['id']}/verify", json={"verified": True}, headers=csrf(eng))
    assert done.status_code == 200 and done.json()["verified"] and done.json()["verifier"] == "acme engineer"
    # another firm's owner can neither verify it nor write on a machine that is not theirs
    beta = as_(plant, "owner", "beta")
    assert beta.post(f"/api/knowhow/cases/{case['id']}/verify", headers=csrf(beta)).status_code == 404
    assert beta.post("/api/knowhow/cases", json=body, headers=csrf(beta)).status_code == 403
    # no CSRF header: refused; an empty case: refused with the fields named
    assert op.post("/api/knowhow/cases", json=body).status_code == 403
    empty = op.post("/api/knowhow/cases", json={"machine": PRESS}, headers=csrf(op))
    assert empty.status_code == 422 and "cause" in empty.text
    plant["db"].delete(case["id"])
    # an empty ref is no ref: two such cases are two cases
    twice = [op.post("/api/knowhow/cases", json={**body, "ref": ""}, headers=csrf(op)) for _ in range(2)]
    assert [r.status_code for r in twice] == [201, 201] and twice[0].json()["ref"] is None
    for r in twice:
        plant["db"].delete(r.json()["id"])


def test_api_suggest_names_the_past_cause(plant):
    op = as_(plant, "operator")
    got = op.get("/api/knowhow/suggest", params={"machine": PRESS, "code": "breakdown"}).json()
    hydraulic = [s for s in got if s["cause"] == "유압 호스 피팅 풀림"]
    assert hydraulic and hydraulic[0]["refs"] == ["WO-101"] and hydraulic[0]["verified"]
    assert all(s["refs"] != ["B-1"] for s in got)  # never another firm's case
    words = op.get("/api/knowhow/suggest", params={"machine": PRESS, "text": "바닥에 기름"}).json()
    assert words[0]["cause"] == "유압 호스 피팅 풀림"
    assert op.get("/api/knowhow/suggest", params={"machine": B1}).status_code == 403


def test_a_phone_photo_is_taken_shrunk_upright_and_without_its_gps(plant):
    """A 12-megapixel phone JPEG of several MB, lying on its side (EXIF orientation 6) and carrying
    a GPS position, is kept at 1600 pixels on its longer side, upright and without metadata."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to show
    exif[0x8825] = {1: "N", 2: (37.0, 27.0, 0.0)}  # GPS latitude
    photo = _image("JPEG", (4000, 3000), quality=95, exif=exif)
    assert len(photo) > 1_000_000
    op = as_(plant, "operator")
    start = (NOW - timedelta(hours=2)).astimezone(ZoneInfo("UTC")).isoformat()
    form = {"machine": PRESS, "start": start, "cause": "c", "csrf_token": op.cookies.get("fc_csrf")}
    r = op.post("/knowhow/capture", data=form, files={"photo": ("p.jpg", photo)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/knowhow/cases/"), r.headers
    case = plant["db"].get(r.headers["location"].split("/")[3].split("?")[0])
    kept = op.get(f"/knowhow/photos/{case.id}/{case.photos[0]}").content
    im = Image.open(io.BytesIO(kept))
    assert im.size == (1200, 1600) and len(kept) < len(photo) / 3
    assert not im.getexif()  # no orientation left to apply, no GPS position


def test_capture_lists_the_ended_stop_and_checks_photos(plant):
    op = as_(plant, "operator")
    page = op.get("/knowhow/capture")
    assert PRESS in page.text and B1 not in page.text  # the own firm's stops only
    start = (NOW - timedelta(hours=2)).astimezone(ZoneInfo("UTC")).isoformat()
    form = {"machine": PRESS, "start": start, "cause": "c", "csrf_token": op.cookies.get("fc_csrf")}
    bad = op.post(
        "/knowhow/capture", data=form, files={"photo": ("x.png", b"not an image")}, follow_redirects=False
    )
    assert bad.status_code == 303 and "photo" in bad.headers["location"] and "err=" in bad.headers["location"]
    big = op.post(
        "/knowhow/capture",
        data=form,
        files={"photo": ("x.png", PNG + b"0" * 16 * 1024 * 1024)},
        follow_redirects=False,
    )
    assert big.status_code in (303, 413)
    assert big.status_code == 413 or "err=" in big.headers["location"]
    n = plant["db"].count("acme")
    wrong = op.post(
        "/knowhow/capture", data={**form, "start": "2020-01-01T00:00:00+00:00"}, follow_redirects=False
    )
    assert "err=start" in wrong.headers["location"] and plant["db"].count("acme") == n
    ok = op.post("/knowhow/capture", data=form, files={"photo": ("x.png", PNG)}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/knowhow/cases/")
    case_id = ok.headers["location"].split("/")[3].split("?")[0]
    case = plant["db"].get(case_id)
    assert case.photos and case.context is not None and case.context.reason_code == "breakdown"
    assert case.time_to_fix_min == 30.0 and case.machine_type == "press"
    kept = op.get(f"/knowhow/photos/{case_id}/{case.photos[0]}").content
    assert kept.startswith(b"\xff\xd8\xff") and Image.open(io.BytesIO(kept)).size == (32, 24)
    beta = as_(plant, "owner", "beta")
    assert beta.get(f"/knowhow/photos/{case_id}/{case.photos[0]}").status_code == 404
    assert beta.get(f"/knowhow/cases/{case_id}").status_code == 404
    assert f'href="/knowhow/capture/{PRESS}"' in op.get(f"/machines/{PRESS}").text  # from the machine page
    # an alarm that cleared is offered too, and its case carries the alarm code
    assert 'data-code="HYD-LOW"' in page.text
    alarm_start = (NOW - timedelta(hours=4)).astimezone(ZoneInfo("UTC")).isoformat()
    shown = op.get(f"/knowhow/capture/{PRESS2}", params={"start": alarm_start, "code": "HYD-LOW"})
    assert "HYD-LOW" in shown.text and "유압 저하" in shown.text
    form2 = {**form, "machine": PRESS2, "start": alarm_start, "code": "HYD-LOW", "cause": "릴리프 밸브"}
    made = op.post("/knowhow/capture", data=form2, follow_redirects=False)
    alarm_case = plant["db"].get(made.headers["location"].split("/")[3].split("?")[0])
    assert alarm_case.alarm_code == "HYD-LOW" and alarm_case.context.event == "alarm"
    plant["db"].delete(alarm_case.id)
    # the operator may not verify on the page either; the owner may
    verify = {"csrf_token": op.cookies.get("fc_csrf"), "verified": "1"}
    assert op.post(f"/knowhow/cases/{case_id}/verify", data=verify).status_code == 403
    owner = as_(plant, "owner")
    verify["csrf_token"] = owner.cookies.get("fc_csrf")
    assert (
        owner.post(f"/knowhow/cases/{case_id}/verify", data=verify, follow_redirects=False).status_code == 303
    )
    assert plant["db"].get(case_id).verified
    plant["db"].delete(case_id)


# -- in Chromium ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(plant) -> Iterator[str]:
    with served(plant["app"]) as url:
        yield url


def browser_login(browser, server: str, email: str, viewport: tuple[int, int], mobile: bool = False):
    ctx = browser.new_context(
        viewport={"width": viewport[0], "height": viewport[1]}, is_mobile=mobile, has_touch=mobile
    )
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/login?next=/knowhow")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{server}/knowhow")
    return ctx, page, errors


shot = shooter("knowhow")


def test_browser_stop_ends_one_tap_cause_then_a_colleague_finds_it_on_a_phone(browser, server, plant):
    db = plant["db"]
    before = {c.id for c in db.cases(firm="acme")}
    # the operator's tablet: the stops page leads to the stops that ended
    ctx, page, errors = browser_login(browser, server, "operator@acme.example", (1024, 768), mobile=True)
    page.goto(f"{server}/stops")
    page.click("#to-knowhow-capture")
    page.wait_for_url(f"{server}/knowhow/capture")
    page.click(f'.kh-stop[data-path="{PRESS}"][data-code=""]')
    page.wait_for_selector("#kh-suggestions")
    assert "13:00–13:30" in page.locator("#kh-event").inner_text()  # plant time (Seoul)
    assert page.locator("[data-nav=oee]").inner_text() != "oee"  # the menu in words, not keys
    picks = page.locator(".kh-pick")
    assert 1 <= picks.count() <= 5 and "beta" not in page.locator("#kh-suggestions").inner_text()
    hydraulic = picks.filter(has_text="유압 호스 피팅 풀림")
    assert hydraulic.count() == 1 and "✔" in hydraulic.inner_text()  # the verified past cause is proposed
    shot(page, "capture-tablet-ko")
    hydraulic.tap()  # one tap records it
    page.wait_for_selector("#kh-ok")
    new = [c for c in db.cases(firm="acme") if c.id not in before]
    assert len(new) == 1
    case = new[0]
    assert (
        case.machine == PRESS
        and case.cause == "유압 호스 피팅 풀림"
        and case.action == "피팅 재조임 후 작동유 보충"
    )
    assert case.context.reason_code == "breakdown" and case.author == "acme operator"
    assert case.extra["suggested_from"] == "WO-101" and not case.verified
    assert page.locator("#kh-case-cause").inner_text() == case.cause
    assert errors == []
    ctx.close()

    # a colleague on a phone types other words: Korean colloquial, then English
    ctx, page, errors = browser_login(browser, server, "engineer@acme.example", (390, 844), mobile=True)
    for words in ("오일 새는데", "hydraulic oil leak"):
        page.fill("#kh-q", words)
        page.locator("#kh-q").press("Enter")
        page.wait_for_selector("#kh-results .kh-hit")
        ids = page.locator("#kh-results .kh-hit").evaluate_all("els => els.map(e => e.dataset.id)")
        assert case.id in ids[:3], (words, ids)
        hit = page.locator(f'.kh-hit[data-id="{case.id}"]')
        assert hit.locator(".kh-machine").inner_text() == "1호 프레스"
        assert "유압 호스 피팅 풀림" in hit.locator(".kh-cause").inner_text()
    # nothing sticks out of a phone's width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "search-phone-ko")
    # the engineer verifies it from the result; the mark shows in the next search
    page.locator(f'.kh-hit[data-id="{case.id}"] a.kh-title').tap()
    page.locator("#kh-verify").tap()
    page.wait_for_selector("#kh-verified")
    page.goto(f"{server}/knowhow?q=기름")
    assert page.locator(f'.kh-hit[data-id="{case.id}"] .kh-verified').count() == 1
    assert errors == []
    ctx.close()
    db.delete(case.id)
