"""Another firm never reaches a firm's private commons objects: every /api/commons operation of
the OpenAPI document is called by beta's owner and operator and by gamma (outside the
cooperative) against acme's objects (an NDA request, a pool and a campaign of a cooperative
only acme belongs to, a booking, a problem and its mission); the answer is 403 or 404 (or, for
routes about the caller only, carries none of acme's data) and acme's documents are unchanged.
The idea of tests/test_server_isolation.py, for the commons routes.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from commons_plant import COOP, SECRET_SCRAP, TODAY, commons_plant, open_pool, post_request
from test_server_plant import A1

from factory_commons.store import DuckDBStore

DRAWING = b"%PDF-1.4\n% DRAWING-OF-ACME\n%%EOF\n"


@pytest.fixture
def plant():
    store = DuckDBStore(":memory:")
    yield commons_plant(store)
    store.close()


def _acme_objects(plant) -> dict:
    """acme's private objects: a commitment in a pool of a cooperative only acme belongs to, a
    campaign it joined, an NDA request, a problem and its mission."""
    from factory_commons.cooperate.model import Cooperative, Text

    coop2 = plant.accounts.create_firm("coop-acme", [])
    plant.accounts.create_user(coop2.id, "office@coop2.example", "coop2", "owner", "correct horse 1")
    plant.emails["coop2"] = "office@coop2.example"
    db = plant.app.state.commons
    db.put(
        "cooperative",
        "coop-acme",
        "coop-acme",
        Cooperative(id="coop-acme", name=Text(en="c2"), members=("acme",)),
    )
    pool = open_pool(plant, cooperative="coop-acme", _who="coop2")
    acme = plant.client("acme:owner")
    assert (
        acme.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "777.25"}).status_code == 200
    )
    camp = (
        plant.client("coop2")
        .post(
            "/api/commons/campaigns",
            json={
                "cooperative": "coop-acme",
                "kind": "catalog",
                "title": {"ko": "비밀 카탈로그"},
                "total_cost_krw": 1_000,
                "min_participants": 1,
                "closes": (plant.clock() + timedelta(days=1)).isoformat(),
            },
        )
        .json()
    )
    assert acme.post(f"/api/commons/campaigns/{camp['id']}/join", json={"quantity": "1"}).status_code == 200
    nda = post_request(acme, "nda", budget_krw=9_876_543)
    slot = plant.client("coop2").post(
        "/api/commons/slots",
        json={"day": str(TODAY + timedelta(days=3)), "start": "10:00", "end": "11:30", "capacity": 5},
    )
    assert slot.status_code == 201, slot.text
    booking = acme.post(
        f"/api/commons/slots/{slot.json()['id']}/book", json={"party": 3, "note": "비밀 방문"}
    )
    assert booking.status_code == 201, booking.text
    problem = acme.post(
        "/api/commons/problems",
        json={
            "title": {"ko": "비밀 문제"},
            "metric": "scrap_ratio",
            "scope": [A1],
            "skills": ["spc"],
            "weeks": 2,
        },
    ).json()
    mission = acme.post(f"/api/commons/problems/{problem['id']}/accept", json={"expert_id": "x-kim"}).json()
    # the NDA request's drawing, an invited firm's quote and a message (cooperate/orders.py)
    from factory_commons.cooperate import orders

    up = acme.post(f"/api/commons/uploads/{nda['id']}", files={"file": ("secret.pdf", DRAWING)})
    assert up.status_code == 201, up.text
    firm = next(f for f in db.ids("profile") if f.startswith("firm-"))
    assert (
        acme.post(f"/api/commons/requests/{nda['id']}/invite", json={"firm_ids": [firm]}).status_code == 200
    )
    quote = orders.submit_quote(db, nda["id"], firm, 4_747_471, 9, "비밀 조건", TODAY)
    acme.post(f"/api/commons/requests/{nda['id']}/messages", json={"text": "비밀 메시지", "thread": firm})
    return {
        "file": up.json()["id"],
        "quote": quote.id,
        "pool": pool["id"],
        "campaign": camp["id"],
        "nda": nda["id"],
        "booking": booking.json()["id"],
        "problem": problem["id"],
        "mission": mission["id"],
    }


SELF_ONLY = {  # answer about the caller only, or public data: must not carry acme's private data
    ("GET", "/api/commons/profile"),
    ("PUT", "/api/commons/profile"),
    ("POST", "/api/commons/profile/publish"),
    ("POST", "/api/commons/profile/withdraw"),
    ("GET", "/api/commons/catalog"),
    ("GET", "/api/commons/firms/{firm_id}"),
    ("GET", "/api/commons/requests"),
    ("POST", "/api/commons/requests"),
    ("GET", "/api/commons/requests/open"),
    ("GET", "/api/commons/pools"),
    ("GET", "/api/commons/campaigns"),
    ("GET", "/api/commons/experts"),
    ("GET", "/api/commons/problems"),
    ("POST", "/api/commons/problems"),
    ("GET", "/api/commons/missions"),
    ("POST", "/api/commons/profile/evidence"),
    ("GET", "/api/commons/profile/okw"),
    ("PUT", "/api/commons/profile/okw"),
    ("GET", "/api/commons/slots"),
    ("POST", "/api/commons/slots"),
    ("GET", "/api/commons/offers"),
    ("POST", "/api/commons/offers"),
    ("GET", "/api/commons/bookings"),
    ("GET", "/api/commons/projects"),
    ("POST", "/api/commons/projects"),
    ("GET", "/api/commons/awards"),
    ("GET", "/api/commons/cooperatives"),
    ("POST", "/api/commons/cooperatives/{coop_id}/join"),  # asking to join is the caller's own act
    ("POST", "/api/commons/cooperatives/{coop_id}/leave"),
    ("GET", "/api/commons/invitations"),
    ("GET", "/api/commons/orders"),
}


@pytest.mark.parametrize("who", ["beta:owner", "beta:operator", "gamma:owner"])
def test_another_firm_never_reaches_acmes_commons_objects(plant, who):
    o = _acme_objects(plant)
    attacks = {
        ("GET", "/api/commons/profile"): {},
        ("PUT", "/api/commons/profile"): {
            "json": {
                "firm_id": "acme",
                "name": {"en": "pwned"},
                "location": {"city": "x", "district": "y", "lat": 0, "lon": 0},
            }
        },
        ("POST", "/api/commons/profile/publish"): {"json": {"kinds": ["quality"]}},
        ("POST", "/api/commons/profile/withdraw"): {"json": {"kinds": ["capacity"]}},
        ("GET", "/api/commons/catalog"): {"params": {"limit": 500}},
        ("GET", "/api/commons/firms/{firm_id}"): {"url": "/api/commons/firms/acme"},
        ("GET", "/api/commons/requests"): {},
        ("POST", "/api/commons/requests"): {"json": {}},
        ("GET", "/api/commons/requests/open"): {},
        ("GET", "/api/commons/requests/{request_id}"): {"url": f"/api/commons/requests/{o['nda']}"},
        ("GET", "/api/commons/requests/{request_id}/matches"): {
            "url": f"/api/commons/requests/{o['nda']}/matches"
        },
        ("GET", "/api/commons/pools"): {},
        ("POST", "/api/commons/pools"): {
            "json": {
                "cooperative": COOP,
                "title": {"en": "x"},
                "material": "steel",
                "spec": {"en": "x"},
                "unit": "kg",
                "tiers": [{"min_quantity": 1, "unit_price_krw": 1}],
                "minimum_quantity": 1,
                "closes": (plant.clock() + timedelta(days=1)).isoformat(),
            }
        },
        ("GET", "/api/commons/pools/{pool_id}"): {"url": f"/api/commons/pools/{o['pool']}"},
        ("POST", "/api/commons/pools/{pool_id}/commit"): {
            "url": f"/api/commons/pools/{o['pool']}/commit",
            "json": {"quantity": "1"},
        },
        ("POST", "/api/commons/pools/{pool_id}/withdraw"): {
            "url": f"/api/commons/pools/{o['pool']}/withdraw"
        },
        ("POST", "/api/commons/pools/{pool_id}/close"): {"url": f"/api/commons/pools/{o['pool']}/close"},
        ("GET", "/api/commons/pools/{pool_id}/settlement"): {
            "url": f"/api/commons/pools/{o['pool']}/settlement"
        },
        ("GET", "/api/commons/campaigns"): {},
        ("POST", "/api/commons/campaigns"): {
            "json": {
                "cooperative": COOP,
                "kind": "catalog",
                "title": {"en": "x"},
                "total_cost_krw": 1,
                "min_participants": 1,
                "closes": (plant.clock() + timedelta(days=1)).isoformat(),
            }
        },
        ("GET", "/api/commons/campaigns/{campaign_id}"): {"url": f"/api/commons/campaigns/{o['campaign']}"},
        ("POST", "/api/commons/campaigns/{campaign_id}/join"): {
            "url": f"/api/commons/campaigns/{o['campaign']}/join",
            "json": {"quantity": "1"},
        },
        ("POST", "/api/commons/campaigns/{campaign_id}/leave"): {
            "url": f"/api/commons/campaigns/{o['campaign']}/leave"
        },
        ("POST", "/api/commons/campaigns/{campaign_id}/close"): {
            "url": f"/api/commons/campaigns/{o['campaign']}/close"
        },
        ("GET", "/api/commons/campaigns/{campaign_id}/results"): {
            "url": f"/api/commons/campaigns/{o['campaign']}/results"
        },
        ("POST", "/api/commons/campaigns/{campaign_id}/results"): {
            "url": f"/api/commons/campaigns/{o['campaign']}/results",
            "json": {"title": {"en": "x"}, "ref": "x"},
        },
        ("POST", "/api/commons/campaigns/{campaign_id}/cancel"): {
            "url": f"/api/commons/campaigns/{o['campaign']}/cancel",
            "json": {"reason": {"en": "x"}},
        },
        ("POST", "/api/commons/pools/{pool_id}/cancel"): {
            "url": f"/api/commons/pools/{o['pool']}/cancel",
            "json": {"reason": {"en": "x"}},
        },
        ("GET", "/api/commons/experts"): {},
        ("POST", "/api/commons/problems"): {
            "json": {"title": {"en": "x"}, "metric": "oee", "scope": [A1], "skills": ["spc"], "weeks": 2}
        },
        ("GET", "/api/commons/problems"): {},
        ("GET", "/api/commons/problems/{problem_id}"): {"url": f"/api/commons/problems/{o['problem']}"},
        ("GET", "/api/commons/problems/{problem_id}/experts"): {
            "url": f"/api/commons/problems/{o['problem']}/experts"
        },
        ("POST", "/api/commons/problems/{problem_id}/accept"): {
            "url": f"/api/commons/problems/{o['problem']}/accept",
            "json": {"expert_id": "x-kim"},
        },
        ("GET", "/api/commons/missions"): {},
        ("POST", "/api/commons/profile/evidence"): {"json": {}},
        ("GET", "/api/commons/profile/okw"): {"params": {"private": "true"}},
        ("PUT", "/api/commons/profile/okw"): {"json": {"id": "acme", "name": "pwned"}},
        ("POST", "/api/commons/requests/{request_id}/award"): {
            "url": f"/api/commons/requests/{o['nda']}/award",
            "json": {"ordered": False},
        },
        ("POST", "/api/commons/requests/{request_id}/rating"): {
            "url": f"/api/commons/requests/{o['nda']}/rating",
            "json": {"scores": {"quality": 1, "on_time": 1, "communication": 1}},
        },
        ("GET", "/api/commons/awards"): {},
        ("POST", "/api/commons/requests/{request_id}/award/accept"): {
            "url": f"/api/commons/requests/{o['nda']}/award/accept"
        },
        ("POST", "/api/commons/requests/{request_id}/award/decline"): {
            "url": f"/api/commons/requests/{o['nda']}/award/decline"
        },
        ("GET", "/api/commons/cooperatives"): {},
        ("GET", "/api/commons/cooperatives/{coop_id}"): {"url": "/api/commons/cooperatives/coop-acme"},
        ("POST", "/api/commons/cooperatives/{coop_id}/invite"): {
            "url": "/api/commons/cooperatives/coop-acme/invite",
            "json": {"firm_id": "gamma"},
        },
        ("POST", "/api/commons/cooperatives/{coop_id}/remove"): {
            "url": "/api/commons/cooperatives/coop-acme/remove",
            "json": {"firm_id": "acme"},
        },
        ("POST", "/api/commons/cooperatives/{coop_id}/join"): {
            "url": "/api/commons/cooperatives/coop-acme/join"
        },
        ("POST", "/api/commons/cooperatives/{coop_id}/leave"): {
            "url": "/api/commons/cooperatives/coop-acme/leave"
        },
        ("GET", "/api/commons/requests/{request_id}/team"): {"url": f"/api/commons/requests/{o['nda']}/team"},
        ("POST", "/api/commons/requests/allocate"): {"json": {"request_ids": [o["nda"]]}},
        ("GET", "/api/commons/slots"): {},
        ("POST", "/api/commons/slots"): {
            "json": {"day": str(TODAY), "start": "09:00", "end": "08:00", "capacity": 1}
        },
        ("POST", "/api/commons/slots/{slot_id}/book"): {"url": "/api/commons/slots/none/book", "json": {}},
        ("GET", "/api/commons/offers"): {},
        ("POST", "/api/commons/offers"): {
            "json": {"equipment_id": "acme-cnc", "week_start": str(TODAY), "hours": 1}
        },
        ("POST", "/api/commons/offers/{offer_id}/book"): {
            "url": "/api/commons/offers/none/book",
            "json": {"hours": 1},
        },
        ("GET", "/api/commons/bookings"): {},
        ("POST", "/api/commons/bookings/{booking_id}/cancel"): {
            "url": f"/api/commons/bookings/{o['booking']}/cancel"
        },
        ("GET", "/api/commons/projects"): {},
        ("POST", "/api/commons/projects"): {"json": {"title": {"en": "x"}, "needs": []}},
        ("GET", "/api/commons/projects/{project_id}/partners"): {
            "url": "/api/commons/projects/none/partners"
        },
        ("GET", "/api/commons/requests/{request_id}/near-misses"): {
            "url": f"/api/commons/requests/{o['nda']}/near-misses"
        },
        ("POST", "/api/commons/requests/{request_id}/invite"): {
            "url": f"/api/commons/requests/{o['nda']}/invite",
            "json": {"firm_ids": ["beta"]},
        },
        ("GET", "/api/commons/invitations"): {},
        ("GET", "/api/commons/requests/{request_id}/quotes"): {
            "url": f"/api/commons/requests/{o['nda']}/quotes"
        },
        ("POST", "/api/commons/requests/{request_id}/quotes"): {
            "url": f"/api/commons/requests/{o['nda']}/quotes",
            "json": {"price_krw": 1, "lead_days": 1},
        },
        ("POST", "/api/commons/quotes/{quote_id}/accept"): {
            "url": f"/api/commons/quotes/{o['quote']}/accept"
        },
        ("GET", "/api/commons/orders"): {},
        ("GET", "/api/commons/requests/{request_id}/order"): {
            "url": f"/api/commons/requests/{o['nda']}/order"
        },
        ("POST", "/api/commons/requests/{request_id}/order/status"): {
            "url": f"/api/commons/requests/{o['nda']}/order/status",
            "json": {"status": "in_production"},
        },
        ("GET", "/api/commons/requests/{request_id}/messages"): {
            "url": f"/api/commons/requests/{o['nda']}/messages"
        },
        ("POST", "/api/commons/requests/{request_id}/messages"): {
            "url": f"/api/commons/requests/{o['nda']}/messages",
            "json": {"text": "pwned"},
        },
        ("POST", "/api/commons/uploads/{request_id}"): {
            "url": f"/api/commons/uploads/{o['nda']}",
            "files": {"file": ("pwned.pdf", b"%PDF-1.4 pwned")},
        },
        ("GET", "/api/commons/requests/{request_id}/files/{file_id}"): {
            "url": f"/api/commons/requests/{o['nda']}/files/{o['file']}"
        },
        ("GET", "/api/commons/missions/{mission_id}"): {"url": f"/api/commons/missions/{o['mission']}"},
        ("POST", "/api/commons/missions/{mission_id}/close"): {
            "url": f"/api/commons/missions/{o['mission']}/close",
            "json": {"text": {"en": "done"}},
        },
    }
    ops = {
        (m.upper(), p)
        for p, item in plant.app.openapi()["paths"].items()
        for m in item
        if p.startswith("/api/commons/")
    }
    assert ops == set(attacks), "every commons operation needs an attack here"
    db = plant.app.state.commons
    keys = [("profile", "acme"), ("pool", o["pool"]), ("campaign", o["campaign"]), ("request", o["nda"])]
    keys.append(("booking", o["booking"]))
    keys.append(("cooperative", "coop-acme"))
    keys.append(("quote", o["quote"]))
    before = {k: db.raw(*k) for k in [*keys, ("mission", o["mission"]), ("problem", o["problem"])]}
    secrets = (
        "777.25",
        "9876543",
        o["nda"],
        o["booking"],
        "비밀",
        "pwned",
        str(SECRET_SCRAP),
        "4747471",
        "DRAWING-OF-ACME",
    )
    c = plant.client(who)
    for (method, template), req in sorted(attacks.items()):
        url, params = req.get("url", template), req.get("params")
        r = c.request(method, url, params=params, json=req.get("json"), files=req.get("files"))
        assert r.status_code < 500, (method, template, r.text)
        if (method, template) not in SELF_ONLY:
            assert r.status_code in (403, 404), (who, method, template, r.status_code, r.text)
        own = who.startswith("beta") and template.startswith("/api/commons/profile")  # beta's own secret
        leaked = [s for s in secrets if s in r.text and not (own and s == str(SECRET_SCRAP))]
        assert not leaked, (who, method, template, leaked)
    assert {k: db.raw(*k) for k in before} == before


# -- a firm that publishes nothing: its private evidence reaches no other firm, anywhere -------------

X = "xfirm"
#: X's private figures: values found nowhere else, each checked with digit boundaries
X_FREE, X_SCRAP, X_FPY, X_UNITS = 97.5313, 0.0314159, 0.8765432, 246_813
X_ON_TIME, X_ORDERS, X_QTY, X_BUDGET = 0.7777123, 9_137, "4321.987", 8_642_531
MARKERS = [str(X_FREE), str(X_SCRAP), str(X_FPY), str(X_UNITS), f"{X_UNITS:,}", str(X_ON_TIME)]
MARKERS += [str(X_ORDERS), f"{X_ORDERS:,}", X_QTY, str(X_BUDGET), f"{X_BUDGET:,}"]


def _x_evidence():
    from factory_commons.cooperate.model import (
        CapacityEvidence,
        CapacityWeek,
        DeliveryEvidence,
        Evidence,
        QualityEvidence,
    )

    start = TODAY - timedelta(days=TODAY.weekday() + 28)
    weeks = tuple(
        CapacityWeek(process=p, week_start=start + timedelta(weeks=k), free_hours=X_FREE)
        for k in range(4)
        for p in ("milling", "stamping")
    )
    return Evidence(
        capacity=CapacityEvidence(weeks=weeks, period_start=start, period_end=TODAY),
        quality=QualityEvidence(
            scrap_ratio=X_SCRAP, first_pass_yield=X_FPY, units=X_UNITS, period_start=start, period_end=TODAY
        ),
        delivery=DeliveryEvidence(
            on_time_ratio=X_ON_TIME, orders=X_ORDERS, period_start=start, period_end=TODAY
        ),
    )


def _found(text: str) -> list[str]:
    import re

    return [m for m in MARKERS if re.search(rf"(?<![\d.,]){re.escape(m)}(?![\d])", text)]


def test_a_firm_that_publishes_nothing_is_never_seen_through_its_private_data(plant):
    """X (a firm of the region beside acme) publishes nothing; every surface another firm sees —
    ranked matches and their explanations, a team plan, a batch allocation, the catalog (HTML and
    JSON), every GET of /api/commons, the commons pages — is free of X's private figures and is
    byte for byte what it is when X has no evidence at all. X's own public OKW export too."""
    from commons_plant import facility
    from fastapi.testclient import TestClient

    from factory_commons.cooperate.model import Evidence, Profile

    db = plant.app.state.commons
    firm = plant.accounts.create_firm(X, [X])
    plant.accounts.create_user(firm.id, "owner@x.example", "X owner", "owner", "correct horse 1")
    plant.emails["x:owner"] = "owner@x.example"
    fac = facility(X, "엑스정밀", "X Precision", "금천구", 37.4780, 126.8960)
    db.put("profile", X, X, Profile(facility=fac, evidence=_x_evidence(), published=frozenset()))
    xc, acme = plant.client("x:owner"), plant.client("acme:owner")
    assert (
        plant.client("coop").post(f"/api/commons/cooperatives/{COOP}/invite", json={"firm_id": X}).status_code
        == 200
    )
    assert xc.post(f"/api/commons/cooperatives/{COOP}/join").status_code == 200
    pool = open_pool(plant)  # X is a member: the cooperative invited it and it accepted
    assert xc.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": X_QTY}).status_code == 200
    post_request(xc, "nda", budget_krw=X_BUDGET)
    assert acme.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "1000"}).status_code == 200
    one = post_request(acme)
    two = post_request(
        acme,
        steps=[
            {"process": "milling", "material": "aluminium", "quantity": 50},
            {"process": "stamping", "material": "steel", "quantity": 50},
        ],
    )
    ids = {
        "firm_id": X,
        "request_id": one["id"],
        "pool_id": pool["id"],
        "campaign_id": "none",
        "problem_id": "none",
        "mission_id": "none",
        "project_id": "none",
        "coop_id": COOP,
        "file_id": "none",
    }
    gets = sorted(
        p
        for p, item in plant.app.openapi()["paths"].items()
        if p.startswith("/api/commons/") and "get" in item
    )
    pages = ["/catalog", f"/catalog?q={X}", f"/catalog/{X}", f"/commons/requests/{one['id']}"]
    pages += [f"/commons/requests/{two['id']}", "/commons/requests", "/commons/pools", "/commons/missions"]
    pages += ["/commons/booking", "/commons/projects"]

    clients = {who: plant.client(who) for who in ("acme:owner", "beta:operator", "gamma:owner")}

    def surfaces() -> dict[str, str]:
        out: dict[str, str] = {}
        for who, c in clients.items():
            for template in gets:
                url = template.format(**ids)
                r = c.get(url, params={"limit": 500} if template.endswith("/catalog") else None)
                assert r.status_code < 500, (who, url, r.text)
                out[f"{who} GET {url}"] = r.text
            for page in pages:
                r = c.get(page)
                assert r.status_code < 500, (who, page)
                out[f"{who} page {page}"] = r.text
        out["matches step 1"] = acme.get(
            f"/api/commons/requests/{two['id']}/matches", params={"step": 1}
        ).text
        out["team"] = acme.get(f"/api/commons/requests/{two['id']}/team").text
        batch = acme.post("/api/commons/requests/allocate", json={"request_ids": [one["id"], two["id"]]})
        assert batch.status_code == 200, batch.text
        out["allocate"] = batch.text
        anon = TestClient(plant.app)
        out["anon catalog json"] = anon.get("/api/commons/catalog", params={"limit": 500, "q": X}).text
        out["anon catalog html"] = anon.get("/catalog", params={"q": X}).text
        out["anon firm"] = anon.get(f"/api/commons/firms/{X}").text
        for lang in ("ko", "en"):
            out[f"x okw public {lang}"] = xc.get("/api/commons/profile/okw", params={"lang": lang}).text
        return out

    with_secrets = surfaces()
    # the walk reaches X (in the catalog) and real matches and teams of other firms; X itself is
    # never ranked: a firm that did not publish capacity fails that hard constraint
    assert X in with_secrets["anon catalog json"] and "엑스정밀" in with_secrets["anon catalog html"]
    ranked = json.loads(with_secrets[f"acme:owner GET /api/commons/requests/{one['id']}/matches"])["matches"]
    assert ranked and X not in {m["firm_id"] for m in ranked}
    assert (
        json.loads(with_secrets["team"])["feasible"] and json.loads(with_secrets["allocate"])["served"] == 2
    )
    # the markers are really in X's own private copy (so their absence elsewhere means something)
    private = (
        xc.get("/api/commons/profile/okw", params={"private": "true"}).text
        + xc.get("/api/commons/profile").text
    )
    assert set(_found(private)) >= {str(X_SCRAP), str(X_FPY), str(X_ON_TIME), str(X_FREE)}
    leaks = {k: _found(v) for k, v in with_secrets.items() if _found(v)}
    assert not leaks, leaks
    # and nothing another firm sees depends on X's private data: the same without it
    db.put("profile", X, X, Profile(facility=fac, evidence=Evidence(), published=frozenset()))
    without = surfaces()
    changed = [k for k in with_secrets if with_secrets[k] != without[k]]
    assert not changed, changed
