"""Requests to received orders (cooperate/orders.py and its API): invitations, quotes, the order's
status, messages per thread and drawings, and who may see what. A designer (an account of a firm
without machines) posts the request; acme and beta are invited or not.

Also the catalog search a buyer abroad uses (several processes, romanised places, words in
English and Korean) and near-miss explanations of a request nobody can make.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from commons_plant import TODAY, commons_plant
from test_server_plant import PASSWORD

from factory_commons.cooperate import orders
from factory_commons.cooperate import ratings as rt
from factory_commons.cooperate.db import CommonsDB
from factory_commons.cooperate.model import Request, Step, Text
from factory_commons.cooperate.pools import CommonsError
from factory_commons.store import DuckDBStore

PDF = b"%PDF-1.4\n% a drawing\n" + b"0" * 2000 + b"\n%%EOF\n"
STEP = b"ISO-10303-21;\nHEADER;\nFILE_DESCRIPTION(('bracket'),'2;1');\nENDSEC;\n"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


# -- the domain -----------------------------------------------------------------------------
def _request(db: CommonsDB, invited=("acme",)) -> Request:
    r = Request(
        id="r-1",
        requester="designer",
        title=Text(en="Bracket"),
        steps=(Step(process="milling", material="aluminium", quantity=10),),
        due=TODAY + timedelta(days=30),
        posted=TODAY,
        invited=tuple(invited),
    )
    db.put("request", r.id, r.requester, r)
    return r


def test_drawings_are_checked_kept_beside_a_file_db_and_read_by_parties_only(tmp_path):
    db = CommonsDB(str(tmp_path / "s.duckdb.commons.sqlite"))
    _request(db)
    a = orders.attach(db, "r-1", "designer", "C:\\work\\bracket.step", STEP, NOW)
    assert a.filename == "bracket.step" and a.content_type == "model/step" and a.size == len(STEP)
    assert (tmp_path / "s.duckdb.commons.sqlite.files" / "r-1" / a.id).read_bytes() == STEP
    assert orders.read_file(db, "r-1", a.id, "acme") == (a, STEP)  # invited
    assert orders.read_file(db, "r-1", a.id, "designer")[1] == STEP
    with pytest.raises(CommonsError) as e:
        orders.read_file(db, "r-1", a.id, "beta")  # not invited: as if there were no request
    assert e.value.code == "not_found"
    with pytest.raises(CommonsError) as e:
        orders.attach(db, "r-1", "acme", "x.pdf", PDF, NOW)  # only the requester attaches
    assert e.value.code == "not_found"
    refused = {
        "virus.exe": b"MZ\x90\x00",
        "fake.pdf": b"<html>not a pdf</html>",
        "empty.dxf": b"",
        "a\x00b.pdf": PDF,
    }
    for name, data in refused.items():
        with pytest.raises(CommonsError) as e:
            orders.attach(db, "r-1", "designer", name, data, NOW)
        assert e.value.field == "file" and repr(name)[1:-1] in e.value.en.replace(name, repr(name)[1:-1]), (
            name,
            e.value.en,
        )
    (tmp_path / "s.duckdb.commons.sqlite.files" / "r-1" / a.id).write_bytes(b"changed")
    with pytest.raises(CommonsError) as e:
        orders.read_file(db, "r-1", a.id, "acme")
    assert "bracket.step" in e.value.en  # a changed file is not served


def test_a_too_large_drawing_is_refused_with_the_limit(monkeypatch):
    db = CommonsDB()
    _request(db)
    monkeypatch.setattr(orders, "MAX_FILE_BYTES", 2 * 1024 * 1024)
    with pytest.raises(CommonsError) as e:
        orders.attach(db, "r-1", "designer", "big.pdf", PDF + b"0" * (2 * 1024 * 1024), NOW)
    assert "2 MB" in e.value.en and "big.pdf" in e.value.ko
    a = orders.attach(db, "r-1", "designer", "ok.pdf", PDF, NOW)  # in the db when it is in memory
    assert orders.files_dir(db) is None and orders.read_file(db, "r-1", a.id, "acme")[1] == PDF


def test_quote_order_status_award_and_rating_follow_each_other():
    db = CommonsDB()
    _request(db, invited=("acme", "beta"))
    q1 = orders.submit_quote(db, "r-1", "acme", 1_200_000, 14, "FOB Incheon", TODAY)
    q1b = orders.submit_quote(db, "r-1", "acme", 1_100_000, 14, "", TODAY)  # replaces q1
    q2 = orders.submit_quote(db, "r-1", "beta", 900_000, 21, "", TODAY)
    states = {q.id: q.state for q in orders.quotes_of(db, "r-1")}
    assert states == {q1.id: "withdrawn", q1b.id: "open", q2.id: "open"}
    r = db.get("request", "r-1", Request)
    assert [q.id for q in orders.visible_quotes(db, r, "beta")] == [q2.id]  # not acme's price
    with pytest.raises(CommonsError) as e:
        orders.submit_quote(db, "r-1", "gamma", 1, 1, "", TODAY)  # not invited
    assert e.value.code == "not_found"
    with pytest.raises(CommonsError):
        orders.accept_quote(db, q1b.id, "beta", NOW)  # only the requester accepts
    o = orders.accept_quote(db, q1b.id, "designer", NOW)
    assert o.status == "accepted" and o.supplier == "acme" and o.price_krw == 1_100_000
    assert {q.id: q.state for q in orders.quotes_of(db, "r-1")}[q2.id] == "declined"
    award = db.get("award", "r-1", rt.Award)
    assert award.state == "proposed" and award.value_krw == 1_100_000
    with pytest.raises(CommonsError) as e:
        orders.accept_quote(db, q2.id, "designer", NOW)
    assert e.value.code == "conflict"
    with pytest.raises(CommonsError) as e:
        orders.advance(db, "r-1", "designer", "in_production", NOW)  # the supplier's step
    assert e.value.code == "forbidden"
    with pytest.raises(CommonsError) as e:
        orders.advance(db, "r-1", "acme", "shipped", NOW)  # no skipping
    assert e.value.code == "conflict" and "accepted" in e.value.en
    orders.advance(db, "r-1", "acme", "in_production", NOW)
    assert db.get("award", "r-1", rt.Award).state == "accepted"  # the supplier confirmed it
    rating = rt.Rating(
        id="rt-1",
        request_id="r-1",
        rater="designer",
        ratee="acme",
        ratee_role="supplier",
        scores={"quality": 5, "on_time": 4, "communication": 5},
        day=TODAY,
    )
    with pytest.raises(CommonsError) as e:
        rt.save_rating(db, rating)  # not received yet
    assert "received" in e.value.en
    orders.advance(db, "r-1", "acme", "shipped", NOW)
    with pytest.raises(CommonsError):
        orders.advance(db, "r-1", "acme", "received", NOW)  # the buyer says it arrived
    o = orders.advance(db, "r-1", "designer", "received", NOW + timedelta(days=9))
    assert [h.status for h in o.history] == list(orders.STATUSES)
    rt.save_rating(db, rating)
    assert rt.load_book(db).supplier("acme").n == 1


def test_messages_stay_in_their_thread():
    db = CommonsDB()
    _request(db, invited=("acme", "beta"))
    orders.post_message(db, "r-1", "designer", "Can you anodise too?", NOW, thread="acme")
    orders.post_message(db, "r-1", "acme", "Yes, black.", NOW)
    orders.post_message(db, "r-1", "beta", "Price is firm.", NOW)
    r = db.get("request", "r-1", Request)
    assert [m.text for m in orders.messages_of(db, r, "acme")] == ["Can you anodise too?", "Yes, black."]
    assert [m.text for m in orders.messages_of(db, r, "beta")] == ["Price is firm."]
    assert len(orders.messages_of(db, r, "designer")) == 3
    with pytest.raises(CommonsError) as e:
        orders.post_message(db, "r-1", "designer", "hi", NOW, thread="gamma")
    assert e.value.field == "thread"
    with pytest.raises(CommonsError) as e:
        orders.post_message(db, "r-1", "gamma", "let me in", NOW)
    assert e.value.code == "not_found"


# -- the API --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plant():
    store = DuckDBStore(":memory:")
    p = commons_plant(store)
    firm = p.accounts.create_firm("designer-lee", [])
    p.accounts.create_user(firm.id, "lee@design.example", "Lee", "owner", PASSWORD)
    p.emails["designer"] = "lee@design.example"
    yield p
    store.close()


def _post(plant, **kw) -> dict:
    body = {
        "title": {"en": "Housing, two steps"},
        "steps": [
            {"process": "milling", "material": "aluminium", "quantity": 20, "envelope_mm": [120, 80, 40]},
            {"process": "anodizing", "material": "aluminium", "quantity": 20},
        ],
        "due": str(TODAY + timedelta(days=40)),
        "confidentiality": "nda",
        "place": {"district": "Geumcheon-gu"},
        "max_distance_km": 30,
        **kw,
    }
    r = plant.client("designer").post("/api/commons/requests", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_api_a_firm_not_invited_sees_nothing_and_the_drawing_is_refused_to_others(plant):
    designer, acme, beta = (plant.client(w) for w in ("designer", "acme:owner", "beta:owner"))
    req = _post(plant, invite=["acme"])
    rid = req["id"]
    assert req["location"]["district"] == "금천구" and req["invited"] == ["acme"]
    up = designer.post(f"/api/commons/uploads/{rid}", files={"file": ("housing.pdf", PDF, "application/pdf")})
    assert up.status_code == 201, up.text
    fid = up.json()["id"]
    got = acme.get(f"/api/commons/requests/{rid}/files/{fid}")
    assert got.status_code == 200 and got.content == PDF
    assert (
        got.headers["content-type"] == "application/pdf"
        and "attachment" in got.headers["content-disposition"]
    )
    for path in (
        f"/api/commons/requests/{rid}",
        f"/api/commons/requests/{rid}/files/{fid}",
        f"/api/commons/requests/{rid}/quotes",
        f"/api/commons/requests/{rid}/messages",
        f"/api/commons/requests/{rid}/order",
    ):
        assert beta.get(path).status_code == 404, path
    assert (
        beta.post(f"/api/commons/requests/{rid}/quotes", json={"price_krw": 1, "lead_days": 1}).status_code
        == 404
    )
    assert beta.post(f"/api/commons/requests/{rid}/messages", json={"text": "hi"}).status_code == 404
    assert beta.post(f"/api/commons/uploads/{rid}", files={"file": ("x.pdf", PDF)}).status_code == 404
    assert rid not in [r["id"] for r in beta.get("/api/commons/invitations").json()]
    assert rid in [r["id"] for r in acme.get("/api/commons/invitations").json()]
    bad = designer.post(f"/api/commons/uploads/{rid}", files={"file": ("x.exe", b"MZ")})
    assert bad.status_code == 422 and "x.exe" in bad.text
    # a public request: others read it, without its drawings and invited firms
    pub = _post(plant, confidentiality="public", invite=["acme"])
    designer.post(f"/api/commons/uploads/{pub['id']}", files={"file": ("p.pdf", PDF)})
    seen = beta.get(f"/api/commons/requests/{pub['id']}").json()
    assert seen["attachments"] == [] and seen["invited"] == []
    assert acme.get(f"/api/commons/requests/{pub['id']}").json()["attachments"]


def test_api_quote_to_received_order_with_messages(plant):
    designer, acme, beta = (plant.client(w) for w in ("designer", "acme:owner", "beta:owner"))
    rid = _post(plant)["id"]
    assert (
        designer.post(f"/api/commons/requests/{rid}/invite", json={"firm_ids": ["nobody"]}).status_code == 404
    )
    assert acme.post(f"/api/commons/requests/{rid}/invite", json={"firm_ids": ["acme"]}).status_code == 404
    r = designer.post(f"/api/commons/requests/{rid}/invite", json={"firm_ids": ["acme", "beta"]})
    assert r.status_code == 200 and r.json()["invited"] == ["acme", "beta"]
    assert beta.get(f"/api/commons/requests/{rid}").json()["invited"] == ["beta"]  # not who else
    assert [x["invited"] for x in acme.get("/api/commons/invitations").json() if x["id"] == rid] == [["acme"]]
    qa = acme.post(f"/api/commons/requests/{rid}/quotes", json={"price_krw": 800_000, "lead_days": 12})
    qb = beta.post(
        f"/api/commons/requests/{rid}/quotes",
        json={"price_krw": 700_000, "lead_days": 20, "conditions": "EXW"},
    )
    assert qa.status_code == 201 and qb.status_code == 201
    assert [q["firm_id"] for q in beta.get(f"/api/commons/requests/{rid}/quotes").json()] == ["beta"]
    assert len(designer.get(f"/api/commons/requests/{rid}/quotes").json()) == 2
    designer.post(f"/api/commons/requests/{rid}/messages", json={"text": "anodise black?", "thread": "acme"})
    acme.post(f"/api/commons/requests/{rid}/messages", json={"text": "yes"})
    assert [m["text"] for m in beta.get(f"/api/commons/requests/{rid}/messages").json()] == []
    assert beta.post(f"/api/commons/quotes/{qa.json()['id']}/accept").status_code == 404
    o = designer.post(f"/api/commons/quotes/{qa.json()['id']}/accept")
    assert o.status_code == 201 and o.json()["status"] == "accepted" and o.json()["supplier"] == "acme"
    assert beta.get(f"/api/commons/requests/{rid}/order").status_code == 404
    r = designer.post(f"/api/commons/requests/{rid}/award", json={"ordered": True, "supplier": "beta"})
    assert r.status_code == 409 and "order" in r.text  # the order's award is not re-assigned by hand
    assert (
        designer.post(
            f"/api/commons/requests/{rid}/order/status", json={"status": "in_production"}
        ).status_code
        == 403
    )
    assert (
        acme.post(f"/api/commons/requests/{rid}/order/status", json={"status": "received"}).status_code == 409
    )
    for who, status in ((acme, "in_production"), (acme, "shipped"), (designer, "received")):
        r = who.post(f"/api/commons/requests/{rid}/order/status", json={"status": status})
        assert r.status_code == 200 and r.json()["status"] == status, r.text
    award = next(a for a in acme.get("/api/commons/awards").json() if a["request_id"] == rid)
    assert award["state"] == "accepted" and award["value_krw"] == 800_000
    scores = {"quality": 5, "on_time": 5, "communication": 4}
    assert designer.post(f"/api/commons/requests/{rid}/rating", json={"scores": scores}).status_code == 201
    assert rid in [o["request_id"] for o in acme.get("/api/commons/orders").json()]
    assert rid not in [o["request_id"] for o in beta.get("/api/commons/orders").json()]


def test_api_near_misses_say_what_keeps_firms_out(plant):
    designer = plant.client("designer")
    steps = [
        {"process": "milling", "material": "aluminium", "quantity": 5, "envelope_mm": [5000, 4000, 3000]}
    ]
    rid = _post(plant, steps=steps)["id"]
    assert designer.get(f"/api/commons/requests/{rid}/matches").json()["matches"] == []
    nm = designer.get(f"/api/commons/requests/{rid}/near-misses").json()
    assert nm["feasible_firms"] == 0 and nm["process_firms"] > 0
    envelope = next(m for m in nm["misses"] if m["check"] == "envelope")
    assert envelope["firms"] > 0 and "3000 x 4000 x 5000 mm" in envelope["text"]["en"]
    assert "작업 범위" in envelope["text"]["ko"]
    assert plant.client("beta:owner").get(f"/api/commons/requests/{rid}/near-misses").status_code == 404
    r = designer.post(
        "/api/commons/requests",
        json={
            "title": {"en": "x"},
            "steps": steps,
            "due": str(TODAY + timedelta(days=9)),
            "place": {"district": "Atlantis"},
        },
    )
    assert r.status_code == 422 and "Atlantis" in r.text


def test_catalog_search_for_a_buyer_abroad(plant):
    c = plant.client("designer")

    def total(**params) -> int:
        r = c.get("/api/commons/catalog", params={**params, "limit": 1})
        assert r.status_code == 200, r.text
        return r.json()["total"]

    every = total()
    incheon = total(q="Incheon")
    assert 0 < incheon < every and total(city="Incheon") == incheon == total(city="인천")
    assert total(q="powder") > 0 and total(q="powder") == total(q="분체")
    bend = total(process="sheet_bending", district="Namdong-gu")
    both = total(process=["sheet_bending", "powder_coating"], district="Namdong-gu")
    assert bend == total(process="sheet_bending", district="남동구") and 0 < both < bend
    assert total(q="incheon powder") == total(city="Incheon", process="powder_coating")


def test_request_pages_speak_one_language(plant):
    """An English request page (the requester's and an invited firm's), requests list, catalog and
    firm page hold no Hangul but the language switch; the request's own title is the user's."""
    import re

    from fastapi.testclient import TestClient

    rid = _post(plant, title={"en": "Housing"}, invite=["acme"])["id"]

    def web(email: str) -> TestClient:
        c = TestClient(plant.app)
        token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        data = {"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"}
        assert c.post("/login", data=data).status_code == 200
        c.cookies.set("lang", "en")
        return c

    hangul = re.compile("[\uac00-\ud7a3]+")
    for email, paths in (
        (
            "lee@design.example",
            [f"/commons/requests/{rid}", "/commons/requests", "/catalog", "/catalog/acme"],
        ),
        ("owner@acme.example", [f"/commons/requests/{rid}", "/commons/requests", "/catalog?q=Incheon"]),
    ):
        c = web(email)
        for path in paths:
            r = c.get(path)
            assert r.status_code == 200, path
            html = re.sub(r"<(textarea|script|style)\b.*?</\1>", "", r.text, flags=re.S)
            shown = {x.strip() for x in re.findall(r">([^<>]+)<", html) if hangul.search(x)}
            assert shown <= {"한국어"}, (email, path, shown)


def test_request_form_takes_a_place_by_coordinates_address_or_district_and_says_why_not(plant):
    """The page's form (no browser): latitude/longitude with a radius, an address naming a
    district, a bad coordinate or an unknown place shown again with why; a drawing of the wrong
    type refused before the request is kept."""
    from fastapi.testclient import TestClient

    c = TestClient(plant.app)
    token = c.get("/login").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    data = {"email": "lee@design.example", "password": PASSWORD, "csrf_token": token, "next": "/"}
    assert c.post("/login", data=data).status_code == 200
    form = {
        "process1": "milling",
        "material1": "aluminium",
        "quantity1": "5",
        "csrf_token": c.cookies.get("fc_csrf"),
    }
    form["due"] = str(TODAY + timedelta(days=20))
    designer = plant.client("designer")

    def post(extra: dict, files=None):
        return c.post("/commons/uploads/request", data={**form, **extra}, files=files, follow_redirects=False)

    r = post({"lat": "37.4050", "lon": "126.6950", "radius": "8"})
    assert r.status_code == 303, r.text[:500]
    made = designer.get("/api/commons/" + r.headers["location"].removeprefix("/commons/")).json()
    assert made["location"]["lat"] == 37.405 and made["max_distance_km"] == 8
    r = post({"address": "인천광역시 남동구 남동대로 215", "radius": "5"})
    made = designer.get("/api/commons/" + r.headers["location"].removeprefix("/commons/")).json()
    assert (made["location"]["city"], made["location"]["district"]) == ("Incheon", "남동구")
    before = len(designer.get("/api/commons/requests").json())
    for extra, field in (({"lat": "north", "lon": "1"}, "lat"), ({"address": "Atlantis 1"}, "address")):
        r = post(extra)
        assert r.status_code == 422 and 'id="request-error"' in r.text and field in r.text, extra
    r = post({}, files={"drawing": ("plan.pdf", b"<html>no</html>", "application/pdf")})
    assert r.status_code == 422 and "plan.pdf" in r.text
    assert len(designer.get("/api/commons/requests").json()) == before  # nothing kept
