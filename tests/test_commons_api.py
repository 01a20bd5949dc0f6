"""The commons API (/api/commons): profiles, catalog, requests, matches, pools, campaigns, missions.

The plant of test_server_plant (acme, beta, an expert) plus a generated region of 200 firms,
a cooperative account whose members are acme and beta, and a firm gamma outside it
(tests/commons_plant.py). The walk of every operation by other firms against acme's objects is
tests/test_commons_isolation.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D

import pytest
from commons_plant import (
    COOP,
    SECRET_FPY,
    SECRET_SCRAP,
    SECRET_UNITS,
    TODAY,
    commons_plant,
    open_pool,
    post_request,
)
from fastapi.testclient import TestClient
from test_server_plant import A1, B1, T0

from factory_commons.store import DuckDBStore

SECRETS = (str(SECRET_SCRAP), str(SECRET_FPY), f'"units":{SECRET_UNITS}')


@pytest.fixture
def plant():
    store = DuckDBStore(":memory:")
    yield commons_plant(store)
    store.close()


# -- profiles and the catalog ------------------------------------------------------------------
def test_catalog_is_public_and_shows_only_published_evidence(plant):
    anon = TestClient(plant.app)
    r = anon.get("/api/commons/catalog", params={"process": "milling", "district": "구로구", "limit": 500})
    assert r.status_code == 200
    firms = r.json()["firms"]
    assert firms and all("milling" in f["processes"] and f["district"] == "구로구" for f in firms)
    beta = next(f for f in firms if f["firm_id"] == "beta")
    assert beta["published"] == ["capacity"] and beta["profile"]["evidence"]["quality"] is None
    for k in ("capacity", "quality", "delivery"):  # generated firms too: nothing unpublished leaves
        for f in firms:
            if k not in f["published"]:
                assert f["profile"]["evidence"][k] is None, (f["firm_id"], k)
    assert anon.get("/api/commons/firms/beta").json()["evidence"]["quality"] is None
    assert not any(s in anon.get("/api/commons/catalog", params={"limit": 500}).text for s in SECRETS)
    # Korean name search
    assert [f["firm_id"] for f in anon.get("/api/commons/catalog", params={"q": "베타"}).json()["firms"]] == [
        "beta"
    ]
    assert anon.get("/api/commons/catalog", params={"limit": 0}).status_code == 422
    assert anon.get("/api/commons/profile").status_code == 401


def test_profile_put_publish_withdraw(plant):
    acme = plant.client("acme:owner")
    mine = acme.get("/api/commons/profile").json()
    assert mine["evidence"]["delivery"]["orders"] == 40  # own evidence, unpublished, visible to itself
    facility = mine["facility"] | {"employees": 31}
    r = acme.put("/api/commons/profile", json=facility)
    assert r.status_code == 200 and r.json()["facility"]["employees"] == 31
    assert r.json()["published"] == sorted(["capacity", "quality"]) or set(r.json()["published"]) == {
        "capacity",
        "quality",
    }
    r = acme.put("/api/commons/profile", json=facility | {"firm_id": "beta"})
    assert r.status_code == 403 and "firm_id" in r.json()["detail"]
    op = plant.client("acme:operator")
    assert op.put("/api/commons/profile", json=facility).status_code == 403
    assert op.post("/api/commons/profile/publish", json={"kinds": ["delivery"]}).status_code == 403
    # publish delivery: others see it; withdraw: gone again
    anon = TestClient(plant.app)
    assert anon.get("/api/commons/firms/acme").json()["evidence"]["delivery"] is None
    r = acme.post("/api/commons/profile/publish", json={"kinds": ["delivery"]})
    assert r.status_code == 200 and "delivery" in r.json()["published"]
    assert anon.get("/api/commons/firms/acme").json()["evidence"]["delivery"]["orders"] == 40
    acme.post("/api/commons/profile/withdraw", json={"kinds": ["delivery", "quality"]})
    seen = anon.get("/api/commons/firms/acme").json()["evidence"]
    assert seen["delivery"] is None and seen["quality"] is None and seen["capacity"] is not None
    bad = acme.post("/api/commons/profile/publish", json={"kinds": ["secrets"]})
    assert bad.status_code == 422
    # a firm without a profile: 404 with a message in both languages; nothing to publish: 409
    gamma = plant.client("gamma:owner")
    r = gamma.get("/api/commons/profile")
    assert r.status_code == 404 and "프로필" in r.json()["detail"] and "profile" in r.json()["detail"]
    g = facility | {"firm_id": "gamma"}
    assert gamma.put("/api/commons/profile", json=g).status_code == 200
    r = gamma.post("/api/commons/profile/publish", json={"kinds": ["quality"]})
    assert r.status_code == 409 and "quality" in r.json()["detail"]


def test_evidence_from_the_firms_own_machines_only(plant):
    """On a shared store, acme's evidence covers acme's machines and their orders; beta's press, its
    scrap and acme's orders stay out of each other's evidence."""
    from factory_commons.cli import SEOUL, _simulate_into
    from factory_commons.cooperate.evidence import quality_evidence
    from factory_commons.model import Machine, PartCount

    start = datetime(2026, 11, 2, tzinfo=SEOUL)  # a Monday
    _simulate_into(plant.store, 7, start, 7, 3600)
    plant.store.register_machines([Machine(path=B1, kind="press")])
    plant.store.write([PartCount(ts=start + timedelta(days=2), machine=B1, good=10, scrap=90_000)])
    plant.clock.now = start + timedelta(days=8)
    r = plant.client("acme:owner").post("/api/commons/profile/evidence", json={"weeks": 1})
    assert r.status_code == 200, r.text
    ev = r.json()["evidence"]
    assert {w["process"] for w in ev["capacity"]["weeks"]} == {"milling", "turning", "stamping", "welding"}
    sim = [m.path for m in plant.store.machines() if m.kind and m.path.startswith("acme/")]
    own = quality_evidence(
        plant.store, start.date(), (start + timedelta(days=7)).date(), machines=sim, tz="Asia/Seoul"
    )
    assert ev["quality"]["units"] == own.units and ev["quality"]["scrap_ratio"] < 0.5
    # delivery: the orders of acme's machines (the firm scope), never another firm's
    from factory_commons.cooperate.evidence import delivery_evidence

    week = (start.date(), (start + timedelta(days=7)).date())
    own_delivery = delivery_evidence(plant.store, *week, tz="Asia/Seoul", scope=["acme"])
    assert own_delivery.orders > 0 and ev["delivery"]["orders"] == own_delivery.orders
    assert ev["delivery"]["on_time_ratio"] == own_delivery.on_time_ratio
    assert r.json()["published"] == ["capacity", "quality"] or set(r.json()["published"]) == {
        "capacity",
        "quality",
    }
    r = plant.client("beta:owner").post("/api/commons/profile/evidence", json={"weeks": 1})
    assert r.status_code == 200 and {w["process"] for w in r.json()["evidence"]["capacity"]["weeks"]} <= {
        "stamping"
    }
    assert r.json()["evidence"]["quality"]["scrap_ratio"] > 0.9
    assert r.json()["evidence"]["delivery"] is None  # beta has no orders; acme's are not beta's


def test_okw_export_and_import_of_the_own_profile(plant):
    beta = plant.client("beta:owner")
    public = beta.get("/api/commons/profile/okw").text
    private = beta.get("/api/commons/profile/okw", params={"private": "true", "lang": "ko"}).text
    assert str(SECRET_SCRAP) not in public and str(SECRET_SCRAP) in private
    doc = beta.get("/api/commons/profile/okw").json()
    r = beta.put("/api/commons/profile/okw", json=doc)
    assert r.status_code == 200, r.text
    p = r.json()
    assert (
        p["facility"]["firm_id"] == "beta" and p["evidence"]["quality"]["scrap_ratio"] == SECRET_SCRAP
    )  # kept
    assert {e["process"] for e in p["facility"]["equipment"]} == {"milling", "stamping"}
    bad = beta.put("/api/commons/profile/okw", json={"title": 5})
    assert bad.status_code == 422 and "invalid" in bad.text
    assert plant.client("gamma:owner").get("/api/commons/profile/okw").status_code == 404


# -- requests and matches ----------------------------------------------------------------------
def test_requests_are_scoped_and_nda_stays_with_the_requester(plant):
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    public, nda = post_request(acme), post_request(acme, "nda")
    assert public["requester"] == "acme" and str(TODAY) == public["posted"]
    assert {r["id"] for r in acme.get("/api/commons/requests").json()} == {public["id"], nda["id"]}
    assert beta.get("/api/commons/requests").json() == []
    opened = {r["id"] for r in beta.get("/api/commons/requests/open").json()}
    assert public["id"] in opened and nda["id"] not in opened
    assert beta.get(f"/api/commons/requests/{public['id']}").status_code == 200
    assert beta.get(f"/api/commons/requests/{nda['id']}").status_code == 404
    assert beta.get(f"/api/commons/requests/{public['id']}/matches").status_code == 404
    r = acme.post(
        "/api/commons/requests",
        json={
            "title": {"ko": "지난 납기"},
            "steps": [{"process": "milling", "material": "aluminium", "quantity": 1}],
            "due": str(TODAY - timedelta(days=1)),
        },
    )
    assert r.status_code == 422 and "due" in r.json()["detail"] and "납기" in r.json()["detail"]
    r = acme.post(
        "/api/commons/requests",
        json={
            "title": {"en": "x"},
            "steps": [{"process": "knitting", "material": "aluminium", "quantity": 1}],
            "due": str(TODAY),
        },
    )
    assert r.status_code == 422 and "knitting" in r.text
    assert plant.client("acme:operator").post("/api/commons/requests", json={}).status_code in (403, 422)


def test_matches_are_ranked_explained_and_never_use_unpublished_evidence(plant):
    acme = plant.client("beta:owner")  # beta asks; acme and generated firms answer
    req = post_request(acme, steps=[{"process": "stamping", "material": "steel", "quantity": 500}])
    r = acme.get(f"/api/commons/requests/{req['id']}/matches", params={"limit": 30})
    assert r.status_code == 200, r.text
    ms = r.json()["matches"]
    assert len(ms) >= 3
    scores = [m["score"] for m in ms]
    assert scores == sorted(scores, reverse=True)
    for m in ms:
        assert m["firm_id"] != "beta"
        assert abs(sum(f["contribution"] for f in m["factors"]) - m["score"]) < 1e-9
        assert 0 <= m["confidence"] <= 1 and m["hard_checks"]
    assert not any(s in r.text for s in SECRETS)
    assert acme.get(f"/api/commons/requests/{req['id']}/matches", params={"step": 3}).status_code == 422
    # acme (who published quality) is matched with its quality record; beta's never shows
    acme_req = post_request(
        plant.client("acme:owner"), steps=[{"process": "stamping", "material": "steel", "quantity": 500}]
    )
    text = (
        plant.client("acme:owner")
        .get(f"/api/commons/requests/{acme_req['id']}/matches", params={"limit": 100})
        .text
    )
    assert '"firm_id":"beta"' in text and not any(s in text for s in ("4.2%", "91.9%", "13,579"))


def test_award_and_two_sided_ratings_feed_the_rating_factor(plant):
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    steps = [{"process": "stamping", "material": "steel", "quantity": 300}]
    req = post_request(acme, steps=steps)
    assert (
        acme.post(
            f"/api/commons/requests/{req['id']}/award", json={"ordered": True, "supplier": "nobody"}
        ).status_code
        == 422
    )
    assert beta.post(f"/api/commons/requests/{req['id']}/award", json={"ordered": False}).status_code == 404
    r = acme.post(f"/api/commons/requests/{req['id']}/award", json={"ordered": True, "supplier": "beta"})
    assert r.status_code == 200 and r.json()["supplier"] == "beta"
    five = {"quality": 5, "on_time": 5, "communication": 5}
    assert (
        plant.client("gamma:owner")
        .post(f"/api/commons/requests/{req['id']}/rating", json={"scores": five})
        .status_code
        == 404
    )
    # the award counts only once beta, the supplier, accepts it (tests/test_security_commons.py)
    early = acme.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": five})
    assert early.status_code == 409 and "accepted" in early.text
    r = beta.post(f"/api/commons/requests/{req['id']}/award/accept")
    assert r.status_code == 200 and r.json()["state"] == "accepted"
    r = acme.post(
        f"/api/commons/requests/{req['id']}/rating", json={"scores": five, "comment": "정확한 납기"}
    )
    assert r.status_code == 201 and r.json()["ratee"] == "beta" and r.json()["ratee_role"] == "supplier"
    again = acme.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": five})
    assert again.status_code == 409 and "already rated" in again.text
    bad = beta.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": five})
    assert bad.status_code == 422 and "specification" in bad.text  # a buyer is rated on other criteria
    ok = beta.post(
        f"/api/commons/requests/{req['id']}/rating",
        json={"scores": {"specification": 4, "payment": 5, "communication": 4}},
    )
    assert ok.status_code == 201 and ok.json()["ratee"] == "acme"
    other = post_request(plant.client("acme:owner"), steps=steps)
    ms = acme.get(f"/api/commons/requests/{other['id']}/matches", params={"limit": 100}).json()["matches"]
    rating = {m["firm_id"]: next(f for f in m["factors"] if f["name"] == "rating") for m in ms}
    assert rating["beta"]["value"] > 0.5 and all(rating[f]["value"] == 0.5 for f in rating if f != "beta")


def test_team_of_firms_for_a_multi_steppost_request(plant):
    acme = plant.client("acme:owner")
    req = post_request(
        acme,
        steps=[
            {"process": "milling", "material": "aluminium", "quantity": 50},
            {"process": "anodizing", "material": "aluminium", "quantity": 50},
        ],
    )
    r = acme.get(f"/api/commons/requests/{req['id']}/team")
    assert r.status_code == 200, r.text
    team = r.json()
    assert team["feasible"] and [s["step"] for s in team["steps"]] == [0, 1]
    catalog = {
        f["firm_id"]: f
        for f in TestClient(plant.app).get("/api/commons/catalog", params={"limit": 500}).json()["firms"]
    }
    for s in team["steps"]:
        assert s["process"] in catalog[s["firm_id"]]["processes"] and s["firm_id"] != "acme"
    assert team["objective"] >= team["lower_bound"] > 0
    assert plant.client("beta:owner").get(f"/api/commons/requests/{req['id']}/team").status_code == 404


def test_batch_of_own_requests_allocated_under_shared_capacity(plant):
    acme = plant.client("acme:owner")
    steps = [
        {"process": "milling", "material": "aluminium", "quantity": 50},
        {"process": "anodizing", "material": "aluminium", "quantity": 50},
    ]
    ids = [post_request(acme, steps=steps)["id"] for _ in range(2)]
    ids.append(post_request(acme, "nda")["id"])  # one step, NDA: still the firm's own
    r = acme.post("/api/commons/requests/allocate", json={"request_ids": ids, "time_limit_s": 5})
    assert r.status_code == 200, r.text
    out = r.json()
    assert [t["request_id"] for t in out["teams"]] == ids and out["served"] == sum(
        t["feasible"] for t in out["teams"]
    )
    assert out["served"] == 3 and out["objective"] >= out["lower_bound"]
    catalog = {
        f["firm_id"]: f
        for f in TestClient(plant.app).get("/api/commons/catalog", params={"limit": 500}).json()["firms"]
    }
    for t in out["teams"]:
        assert t["method"] == "batch" and t["proven_optimal"] == out["proven_optimal"]
        assert t["objective"] >= t["lower_bound"] - 1e-6 and t["gap"] >= -1e-9
        assert t["gap"] == pytest.approx((t["objective"] - t["lower_bound"]) / t["lower_bound"])
        for s in t["steps"]:
            assert s["process"] in catalog[s["firm_id"]]["processes"]
    # each request alone is never more expensive than in the batch (its bound holds)
    alone = acme.get(f"/api/commons/requests/{ids[0]}/team").json()
    assert alone["objective"] <= out["teams"][0]["objective"] + 1e-6
    # scoped like the other request routes: another firm's request is not found, operators may not act
    beta = plant.client("beta:owner")
    assert beta.post("/api/commons/requests/allocate", json={"request_ids": ids[:1]}).status_code == 404
    op = plant.client("acme:operator")
    assert op.post("/api/commons/requests/allocate", json={"request_ids": ids[:1]}).status_code == 403
    dup = acme.post("/api/commons/requests/allocate", json={"request_ids": [ids[0], ids[0]]})
    assert dup.status_code == 422 and "request_ids" in dup.json()["detail"]
    assert acme.post("/api/commons/requests/allocate", json={"request_ids": []}).status_code == 422


def test_machine_hours_offered_from_measured_capacity_and_booked(plant):
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    monday = TODAY + timedelta(days=7 - TODAY.weekday())
    too_much = acme.post(
        "/api/commons/offers", json={"equipment_id": "acme-cnc", "week_start": str(monday), "hours": 100}
    )
    assert too_much.status_code in (409, 422) and "30" in too_much.json()["detail"]  # 30 h/week measured
    r = acme.post(
        "/api/commons/offers", json={"equipment_id": "acme-cnc", "week_start": str(monday), "hours": 12}
    )
    assert r.status_code == 201, r.text
    offer = r.json()
    assert offer["basis"] is not None
    seen = [o for o in beta.get("/api/commons/offers").json() if o["id"] == offer["id"]]
    assert seen and seen[0]["basis"] is None  # the measured figure stays with acme
    b = beta.post(f"/api/commons/offers/{offer['id']}/book", json={"hours": 5})
    assert b.status_code == 201 and b.json()["cost_krw"] == 5 * 60_000
    assert D(acme.get("/api/commons/offers").json()[0]["hours_left"]) == 7
    assert [x["id"] for x in acme.get("/api/commons/bookings").json()] == [b.json()["id"]]
    assert (
        plant.client("gamma:owner").post(f"/api/commons/bookings/{b.json()['id']}/cancel").status_code == 404
    )
    assert beta.post(f"/api/commons/bookings/{b.json()['id']}/cancel").json()["state"] == "cancelled"


def test_project_partners_are_complementary_firms(plant):
    acme = plant.client("acme:owner")
    body = {
        "title": {"ko": "경량 드론 프레임 공동 개발", "en": "Light drone frame"},
        "needs": [{"role": "maker", "processes": ["anodizing", "milling"]}],
    }
    r = acme.post("/api/commons/projects", json=body)
    assert r.status_code == 201, r.text
    partners = acme.get(f"/api/commons/projects/{r.json()['id']}/partners").json()["maker"]
    assert partners and all(p["candidate_id"] != "acme" for p in partners)
    assert all("milling" not in p["brings"] for p in partners)  # acme mills itself
    bad = acme.post(
        "/api/commons/projects", json={**body, "needs": [{"role": "maker", "processes": ["knitting"]}]}
    )
    assert bad.status_code == 422 and "knitting" in bad.text


# -- pools and campaigns -----------------------------------------------------------------------
def test_pool_commit_close_and_split(plant):
    pool = open_pool(plant)
    assert pool["members"] == 2 and pool["admin"] is True
    acme, beta, gamma = plant.client("acme:owner"), plant.client("beta:owner"), plant.client("gamma:owner")
    assert acme.post("/api/commons/pools", json={**pool, "cooperative": COOP}).status_code in (403, 422)
    assert gamma.get(f"/api/commons/pools/{pool['id']}").status_code == 404
    assert gamma.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "10"}).status_code == 404
    assert [p["id"] for p in acme.get("/api/commons/pools").json()] == [pool["id"]]
    r = acme.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "3000.5"})
    assert r.status_code == 200 and D(r.json()["progress"]["own"]["quantity"]) == D("3000.5")
    r = beta.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "2400"})
    prog = r.json()["progress"]
    # while open a member sees its own commitment and how many committed, never the total
    # (it would give acme's quantity away: tests/test_security_commons.py)
    assert prog["own"]["quantity"] == "2400" and prog["members_committed"] == 2  # no "2.4E+3"
    assert prog["total_quantity"] is None and prog["tier"] is None and prog["disclosed"] is False
    assert "3000.5" not in r.text and "5400.5" not in r.text  # beta never sees acme's quantity
    prog = plant.client("coop").get(f"/api/commons/pools/{pool['id']}").json()["progress"]
    assert prog["total_quantity"] == "5400.5" and prog["tier"] == 1  # the cooperative sees it
    assert (
        plant.client("acme:operator")
        .post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "1"})
        .status_code
        == 403
    )
    assert acme.post(f"/api/commons/pools/{pool['id']}/close").status_code == 403
    r = plant.client("coop").post(f"/api/commons/pools/{pool['id']}/close")
    assert r.status_code == 409 and "창" in r.json()["detail"] or "window" in r.json()["detail"]
    plant.clock.now = plant.clock.now + timedelta(days=8)
    acme = plant.client("acme:owner")  # sessions last 12 hours
    assert acme.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "1"}).status_code == 409
    s = plant.client("coop").post(f"/api/commons/pools/{pool['id']}/close").json()
    assert s["outcome"] == "settled" and s["total_cost_krw"] == 5_400_500  # 5400.5 kg x 1000 won
    assert sum(x["cost_krw"] for x in s["lines"]) == s["total_cost_krw"] and len(s["lines"]) == 2
    mine = acme.get(f"/api/commons/pools/{pool['id']}/settlement").json()
    # two firms committed, fewer than the default k = 3: a member sees only its own line
    assert [x["firm_id"] for x in mine["lines"]] == ["acme"] and mine["total_cost_krw"] is None
    assert mine["disclosed"] is False and "5400.5" not in str(mine) and "2400" not in str(mine)
    line = mine["lines"][0]
    assert line["deposit_krw"] == line["cost_krw"] + line["refund_krw"]


def test_pool_missing_its_minimum_refunds_everyone(plant):
    pool = open_pool(plant, minimum_quantity="4000")
    acme = plant.client("acme:owner")
    acme.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "100"})
    plant.clock.now = plant.clock.now + timedelta(days=8)
    s = plant.client("coop").post(f"/api/commons/pools/{pool['id']}/close").json()
    assert s["outcome"] == "refunded" and s["total_cost_krw"] == 0
    assert s["refunds_krw"] == s["deposits_krw"] == 110_000


def test_campaign_join_and_equal_split(plant):
    body = {
        "cooperative": COOP,
        "kind": "expo_booth",
        "title": {"ko": "하노버 메세 공동 부스", "en": "Joint booth at Hannover Messe"},
        "total_cost_krw": 10_000_001,
        "min_participants": 2,
        "closes": (plant.clock() + timedelta(days=3)).isoformat(),
    }
    camp = plant.client("coop").post("/api/commons/campaigns", json=body)
    assert camp.status_code == 201, camp.text
    cid = camp.json()["id"]
    for who in ("acme:owner", "beta:owner"):
        r = plant.client(who).post(f"/api/commons/campaigns/{cid}/join", json={"quantity": "1"})
        assert r.status_code == 200, r.text
    assert plant.client("gamma:owner").get(f"/api/commons/campaigns/{cid}").status_code == 404
    plant.clock.now = plant.clock.now + timedelta(days=4)
    s = plant.client("coop").post(f"/api/commons/campaigns/{cid}/close").json()
    assert s["outcome"] == "settled" and sorted(x["cost_krw"] for x in s["lines"]) == [5_000_000, 5_000_001]


# -- experts and missions ----------------------------------------------------------------------
def test_problem_expert_match_accept_opens_an_expiring_grant(plant):
    acme = plant.client("acme:owner")
    body = {
        "title": {"ko": "프레스 불량률 개선", "en": "Press scrap"},
        "metric": "scrap_ratio",
        "scope": [A1],
        "days": 30,
        "skills": ["stamping", "spc"],
        "weeks": 2,
        "hours_per_week": 8,
    }
    r = acme.post("/api/commons/problems", json={**body, "scope": [B1]})
    assert r.status_code == 403
    r = acme.post("/api/commons/problems", json={**body, "metric": "happiness"})
    assert r.status_code == 422 and "metric" in r.json()["detail"]
    r = acme.post("/api/commons/problems", json=body)
    assert r.status_code == 201, r.text
    problem = r.json()
    assert abs(problem["evidence"][0]["value"] - 1 / 11) < 1e-9  # 1 scrap of 11 parts on A1
    pid = problem["id"]
    beta = plant.client("beta:owner")
    assert beta.get(f"/api/commons/problems/{pid}").status_code == 404
    assert beta.get(f"/api/commons/problems/{pid}/experts").status_code == 404
    xs = acme.get(f"/api/commons/problems/{pid}/experts").json()
    assert xs[0]["expert_id"] == "x-kim" and {f["name"] for f in xs[0]["factors"]} == {
        "relevance",
        "quality",
        "trust",
    }
    assert (
        plant.client("acme:engineer")
        .post(f"/api/commons/problems/{pid}/accept", json={"expert_id": "x-kim"})
        .status_code
        == 403
    )
    r = acme.post(f"/api/commons/problems/{pid}/accept", json={"expert_id": "x-kim"})
    assert r.status_code == 201, r.text
    mission = r.json()
    expert = plant.client("expert")
    assert [m["id"] for m in expert.get("/api/commons/missions").json()] == [mission["id"]]
    assert beta.get(f"/api/commons/missions/{mission['id']}").status_code == 404
    assert beta.get("/api/commons/missions").json() == []
    day = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
    assert expert.get("/api/records/count", params={"machine": A1, **day}).status_code == 200
    plant.clock.now = plant.clock.now + timedelta(weeks=2, seconds=1)  # the grant ends by itself
    assert plant.client("expert").get("/api/records/count", params={"machine": A1, **day}).status_code == 403
    r = plant.client("acme:owner").post(
        f"/api/commons/missions/{mission['id']}/close",
        json={"text": {"ko": "금형 클리어런스 조정"}, "fix": "clearance 0.08 mm", "rating": 5},
    )
    assert r.status_code == 200 and r.json()["report"]["fix"] == "clearance 0.08 mm"
    experts = plant.client("acme:owner").get("/api/commons/experts").json()
    assert experts[0]["completed_missions"] == 1 and "acme" not in str(experts)


def test_the_commons_on_postgresql(pg_url):
    """The same flows with the commons database in a PostgreSQL schema (dropped afterwards)."""
    import uuid

    import psycopg

    schema = f"c{uuid.uuid4().hex[:12]}"
    store = DuckDBStore(":memory:")
    plant = commons_plant(store, commons=f"{pg_url}?schema={schema}")
    try:
        assert plant.app.state.commons.schema == f"{schema}_commons"
        acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
        nda = post_request(acme, "nda", steps=[{"process": "stamping", "material": "steel", "quantity": 100}])
        ms = acme.get(f"/api/commons/requests/{nda['id']}/matches").json()["matches"]
        assert ms and all(abs(sum(f["contribution"] for f in m["factors"]) - m["score"]) < 1e-9 for m in ms)
        assert beta.get(f"/api/commons/requests/{nda['id']}").status_code == 404
        pool = open_pool(plant)
        assert (
            acme.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "600"}).status_code == 200
        )
        assert (
            beta.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "500"}).status_code == 200
        )
        plant.clock.now = plant.clock.now + timedelta(days=8)
        s = plant.client("coop").post(f"/api/commons/pools/{pool['id']}/close").json()
        assert s["outcome"] == "settled" and s["total_cost_krw"] == 1100 * 1100
        assert sum(x["cost_krw"] for x in s["lines"]) == s["total_cost_krw"]
        r = TestClient(plant.app).get("/api/commons/catalog", params={"q": "베타"}).json()
        assert [f["firm_id"] for f in r["firms"]] == ["beta"] and r["firms"][0]["profile"]["evidence"][
            "quality"
        ] is None
    finally:
        plant.app.state.commons.close()
        store.close()
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}_commons" CASCADE')
