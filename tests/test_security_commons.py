"""Issue 20, item 4: the commons rules cannot be gamed. Each attack runs through the API (and the
pages) as the attacker would, with the commons database in SQLite and in PostgreSQL.

1. A firm writing a cooperative into its own profile becomes no member: membership is granted by
   the cooperative (an invitation the firm accepts, or a request the manager approves).
2. Another member's commitment cannot be read from the change of a pool's total: members see no
   total while the pool is open, and after the close only when at least k firms committed.
3. An award counts only once its supplier accepted it; a rating only for such an award, once per
   rater, fixed: "award a firm, rate it 1/1/1 three times" no longer drops its score.
4. An operator of the firm neither closes an expert's mission nor rates it.

The plant is tests/commons_plant.py: acme and beta are granted members of COOP, gamma is outside.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from commons_plant import COOP, commons_plant, open_pool, post_request
from test_server_plant import A1

from factory_commons.cooperate.ratings import Rating, load_book
from factory_commons.store import DuckDBStore

ONE = {"quality": 1, "on_time": 1, "communication": 1}
FIVE = {"quality": 5, "on_time": 5, "communication": 5}


@pytest.fixture(params=["sqlite", "postgresql"])
def plant(request):
    store = DuckDBStore(":memory:")
    schema = None
    if request.param == "postgresql":
        pg_url = request.getfixturevalue("pg_url")
        schema = f"s{uuid.uuid4().hex[:12]}"
        p = commons_plant(store, commons=f"{pg_url}?schema={schema}")
    else:
        p = commons_plant(store)
    yield p
    p.app.state.commons.close()
    store.close()
    if schema is not None:
        import psycopg

        with psycopg.connect(request.getfixturevalue("pg_url"), autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}_commons" CASCADE')


def _page_post(c, path: str, **data):
    """Post a form of the commons pages with the session's CSRF token (no redirect followed)."""
    return c.post(path, data={"csrf_token": c.headers["X-CSRF-Token"], **data}, follow_redirects=False)


# -- 1. membership is granted by the cooperative ------------------------------------------------
def test_a_firm_naming_a_cooperative_in_its_profile_is_no_member(plant):
    pool = open_pool(plant)
    gamma = plant.client("gamma:owner")
    profile = plant.client("acme:owner").get("/api/commons/profile").json()["facility"]
    r = gamma.put("/api/commons/profile", json=profile | {"firm_id": "gamma", "cooperatives": [COOP]})
    assert r.status_code == 200 and r.json()["facility"]["cooperatives"] == [COOP]
    # the attack of the audit: the profile text made gamma a member of every later pool
    later = open_pool(plant)
    assert later["members"] == 2
    for pid in (pool["id"], later["id"]):
        assert gamma.get(f"/api/commons/pools/{pid}").status_code == 404
        assert gamma.post(f"/api/commons/pools/{pid}/commit", json={"quantity": "10"}).status_code == 404
    assert gamma.get("/api/commons/pools").json() == []
    page = gamma.get("/commons/pools").text
    assert "SS400" not in page and "1100" not in page  # neither the supplier's spec nor its tiers
    assert gamma.get(f"/api/commons/cooperatives/{COOP}").status_code == 404

    # asking is not joining; only the manager approves, and only the firm's actors ask
    assert plant.client("gamma:owner").post(f"/api/commons/cooperatives/{COOP}/join").json()["status"] == (
        "requested"
    )
    assert gamma.get(f"/api/commons/pools/{pool['id']}").status_code == 404
    acme = plant.client("acme:owner")
    r = acme.post(f"/api/commons/cooperatives/{COOP}/invite", json={"firm_id": "gamma"})
    assert r.status_code == 403  # a member is not the manager
    coop = plant.client("coop")
    seen = coop.get(f"/api/commons/cooperatives/{COOP}").json()
    assert seen["requested"] == ["gamma"] and seen["member_ids"] == ["acme", "beta"]
    r = coop.post(f"/api/commons/cooperatives/{COOP}/invite", json={"firm_id": "gamma"})  # approve
    assert r.status_code == 200 and r.json()["member_ids"] == ["acme", "beta", "gamma"]
    assert gamma.get(f"/api/commons/pools/{pool['id']}").status_code == 200
    assert gamma.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "10"}).status_code == 200
    # removed: no more access, no more commitments
    assert coop.post(f"/api/commons/cooperatives/{COOP}/remove", json={"firm_id": "gamma"}).status_code == 200
    assert gamma.get(f"/api/commons/pools/{pool['id']}").status_code == 404
    assert gamma.post(f"/api/commons/pools/{pool['id']}/commit", json={"quantity": "20"}).status_code == 404


def test_an_invitation_is_a_membership_only_once_the_firm_accepts(plant):
    pool = open_pool(plant)
    coop, gamma = plant.client("coop"), plant.client("gamma:owner")
    r = coop.post(f"/api/commons/cooperatives/{COOP}/invite", json={"firm_id": "gamma"})
    assert r.status_code == 200 and r.json()["invited"] == ["gamma"]
    assert gamma.get(f"/api/commons/cooperatives/{COOP}").json()["status"] == "invited"
    assert gamma.get(f"/api/commons/pools/{pool['id']}").status_code == 404
    r = coop.post(f"/api/commons/cooperatives/{COOP}/invite", json={"firm_id": "nobody-at-all"})
    assert r.status_code == 422 and "firm_id" in r.json()["detail"]
    assert plant.client("beta:operator").post(f"/api/commons/cooperatives/{COOP}/join").status_code == 403
    r = gamma.post(f"/api/commons/cooperatives/{COOP}/join")  # accepts
    assert r.status_code == 200 and r.json()["status"] == "member"
    assert gamma.get(f"/api/commons/pools/{pool['id']}").status_code == 200
    again = gamma.post(f"/api/commons/cooperatives/{COOP}/join")
    assert (
        again.status_code == 409 and "조합원" in again.json()["detail"] and "member" in again.json()["detail"]
    )
    assert gamma.post(f"/api/commons/cooperatives/{COOP}/leave").status_code == 204
    assert gamma.get(f"/api/commons/pools/{pool['id']}").status_code == 404
    assert gamma.post("/api/commons/cooperatives/coop-none/join").status_code == 404


def test_the_pages_offer_invite_approve_and_accept(plant):
    coop, gamma = plant.client("coop"), plant.client("gamma:owner")
    assert 'id="coop-invite"' in coop.get("/commons/pools").text
    assert 'id="coop-invite"' not in gamma.get("/commons/pools").text  # a firm runs no cooperative
    r = _page_post(gamma, "/commons/cooperatives/join", coop_id=COOP, action="join")
    assert r.status_code == 303 and "err=" not in r.headers["location"]
    page = coop.get("/commons/pools", headers={"Accept-Language": "en"}).text
    assert 'class="approve"' in page and "gamma" in page
    r = _page_post(coop, f"/commons/cooperatives/{COOP}/invite", firm_id="gamma")
    assert r.status_code == 303 and "err=" not in r.headers["location"]
    assert gamma.get(f"/api/commons/cooperatives/{COOP}").json()["status"] == "member"
    # a member cannot invite through the page either
    r = _page_post(plant.client("acme:owner"), f"/commons/cooperatives/{COOP}/invite", firm_id="gamma")
    assert r.status_code == 404
    r = _page_post(coop, f"/commons/cooperatives/{COOP}/invite", firm_id="no-such-firm")
    assert r.status_code == 303 and "err=" in r.headers["location"]


# -- 2. no member's commitment readable from the total ----------------------------------------------
def test_another_members_commitment_is_not_readable_from_the_total(plant):
    pool = open_pool(plant)
    pid = pool["id"]
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    before = acme.post(f"/api/commons/pools/{pid}/commit", json={"quantity": "1000"}).json()["progress"]
    assert beta.post(f"/api/commons/pools/{pid}/commit", json={"quantity": "2417"}).status_code == 200
    after = acme.get(f"/api/commons/pools/{pid}").json()["progress"]
    for prog in (before, after):
        assert prog["total_quantity"] is None and prog["tier"] is None and prog["disclosed"] is False
        assert prog["next_tier_quantity"] is None and prog["minimum_reached"] is None
    texts = [acme.get(f"/api/commons/pools/{pid}").text, acme.get("/api/commons/pools").text]
    texts += [
        acme.get("/commons/pools").text,
        acme.get("/commons/pools", headers={"Accept-Language": "en"}).text,
    ]
    assert not [t for t in texts if "2417" in t or "3417" in t or "2,417" in t or "3,417" in t]
    # the cooperative sees the total
    assert (
        plant.client("coop").get(f"/api/commons/pools/{pid}").json()["progress"]["total_quantity"] == "3417"
    )
    # after the close with two firms (< k = 3) a member still sees only its own line
    plant.clock.now = plant.clock.now + timedelta(days=8)
    assert plant.client("coop").post(f"/api/commons/pools/{pid}/close").status_code == 200
    acme = plant.client("acme:owner")
    s = acme.get(f"/api/commons/pools/{pid}/settlement")
    assert s.status_code == 200 and s.json()["disclosed"] is False and s.json()["total_quantity"] is None
    assert "2417" not in s.text and "3417" not in s.text
    assert [x["firm_id"] for x in s.json()["lines"]] == ["acme"]
    assert "3417" not in acme.get("/commons/pools").text


def test_totals_reach_members_after_the_close_with_k_firms(plant):
    coop = plant.client("coop")
    coop.post(f"/api/commons/cooperatives/{COOP}/invite", json={"firm_id": "gamma"})
    plant.client("gamma:owner").post(f"/api/commons/cooperatives/{COOP}/join")
    r = coop.post(
        "/api/commons/pools",
        json={
            "cooperative": COOP,
            "title": {"en": "x"},
            "material": "steel",
            "spec": {"en": "x"},
            "unit": "kg",
            "tiers": [{"min_quantity": 1, "unit_price_krw": 1}],
            "minimum_quantity": 1,
            "closes": (plant.clock() + timedelta(days=1)).isoformat(),
            "disclosure_min_firms": 1,
        },
    )
    assert r.status_code == 422 and "disclosure_min_firms" in r.text  # k = 1 would disclose everything
    pid = open_pool(plant)["id"]
    for who, q in (("acme:owner", "1000"), ("beta:owner", "2417"), ("gamma:owner", "600")):
        assert (
            plant.client(who).post(f"/api/commons/pools/{pid}/commit", json={"quantity": q}).status_code
            == 200
        )
    plant.clock.now = plant.clock.now + timedelta(days=8)
    plant.client("coop").post(f"/api/commons/pools/{pid}/close")
    s = plant.client("acme:owner").get(f"/api/commons/pools/{pid}/settlement").json()
    assert (
        s["disclosed"] is True
        and s["total_quantity"] == "4017"
        and [x["firm_id"] for x in s["lines"]] == ["acme"]
    )


def test_campaign_shares_of_others_are_not_readable(plant):
    body = {
        "cooperative": COOP,
        "kind": "expo_booth",
        "title": {"en": "booth"},
        "total_cost_krw": 9_000_000,
        "min_participants": 1,
        "split": "shares",
        "share_unit": "m2",
        "min_total_shares": 10,
        "max_total_shares": 36,
        "closes": (plant.clock() + timedelta(days=3)).isoformat(),
    }
    cid = plant.client("coop").post("/api/commons/campaigns", json=body).json()["id"]
    assert (
        plant.client("beta:owner")
        .post(f"/api/commons/campaigns/{cid}/join", json={"quantity": "17"})
        .status_code
        == 200
    )
    acme = plant.client("acme:owner")
    assert acme.get(f"/api/commons/campaigns/{cid}").json()["total_shares"] is None
    r = acme.post(f"/api/commons/campaigns/{cid}/join", json={"quantity": "20"})
    assert r.status_code == 409 and "19" not in r.text  # 36 - 17 left would give beta's shares away


# -- 3. awards confirmed by both sides; ratings tied to a confirmed order --------------------------
def _beta_rating_value(plant) -> float:
    acme = plant.client("acme:owner")
    req = post_request(acme, steps=[{"process": "stamping", "material": "steel", "quantity": 300}])
    ms = acme.get(f"/api/commons/requests/{req['id']}/matches", params={"limit": 100}).json()["matches"]
    return next(f for m in ms if m["firm_id"] == "beta" for f in m["factors"] if f["name"] == "rating")[
        "value"
    ]


def test_award_a_firm_and_rate_it_down_fails(plant):
    """The audit: gamma awards beta three orders it never gave, rates each 1/1/1 and drops beta's
    score from 4.0 to 2.875. Now an award waits for beta, and nothing unconfirmed is rated."""
    neutral = _beta_rating_value(plant)
    gamma = plant.client("gamma:owner")
    profile = plant.client("acme:owner").get("/api/commons/profile").json()["facility"]
    gamma.put("/api/commons/profile", json=profile | {"firm_id": "gamma"})
    for _ in range(3):
        req = post_request(gamma)
        a = gamma.post(f"/api/commons/requests/{req['id']}/award", json={"ordered": True, "supplier": "beta"})
        assert a.status_code == 200 and a.json()["state"] == "proposed"
        r = gamma.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": ONE})
        assert r.status_code == 409 and "accepted" in r.text and "수락" in r.text
    # a rating slipped into the database past the API counts for nothing either
    db = plant.app.state.commons
    db.put(
        "rating",
        "rt-forged",
        "gamma",
        Rating(
            id="rt-forged",
            request_id=req["id"],
            rater="gamma",
            ratee="beta",
            ratee_role="supplier",
            scores=ONE,
            day=plant.clock().date(),
        ),
    )
    assert load_book(db).supplier("beta") is None
    assert _beta_rating_value(plant) == neutral
    # beta declines: the award never counts and cannot be rated
    beta = plant.client("beta:owner")
    assert [a["state"] for a in beta.get("/api/commons/awards").json()] == ["proposed"] * 3
    d = beta.post(f"/api/commons/requests/{req['id']}/award/decline")
    assert d.status_code == 200 and d.json()["state"] == "declined"
    assert gamma.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": ONE}).status_code == 409
    assert beta.post(f"/api/commons/requests/{req['id']}/award/accept").status_code == 409  # answered once
    # only the named supplier answers
    other = post_request(gamma)
    gamma.post(f"/api/commons/requests/{other['id']}/award", json={"ordered": True, "supplier": "beta"})
    assert (
        plant.client("acme:owner").post(f"/api/commons/requests/{other['id']}/award/accept").status_code
        == 404
    )
    assert gamma.post(f"/api/commons/requests/{other['id']}/award/accept").status_code == 404
    assert _beta_rating_value(plant) == neutral


def test_a_confirmed_order_is_rated_once_and_then_fixed(plant):
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    req = post_request(acme)
    acme.post(f"/api/commons/requests/{req['id']}/award", json={"ordered": True, "supplier": "beta"})
    assert beta.post(f"/api/commons/requests/{req['id']}/award/accept").json()["state"] == "accepted"
    assert acme.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": FIVE}).status_code == 201
    for _ in range(2):  # one rating per award and rater, never replaced
        r = acme.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": ONE})
        assert r.status_code == 409 and "already rated" in r.text
    # the award cannot change after acceptance and rating (to another supplier, or to no order)
    for body in ({"ordered": True, "supplier": "beta", "value_krw": 1}, {"ordered": False}):
        r = acme.post(f"/api/commons/requests/{req['id']}/award", json=body)
        assert r.status_code == 409 and "award" in r.text
    book = load_book(plant.app.state.commons)
    assert book.supplier("beta").n == 1 and book.supplier("beta").mean == 5.0
    # the supplier rates the buyer once too
    buyer = {"specification": 4, "payment": 4, "communication": 4}
    assert beta.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": buyer}).status_code == 201
    assert beta.post(f"/api/commons/requests/{req['id']}/rating", json={"scores": buyer}).status_code == 409
    # the supplier's page offers accept/decline for a new award
    req2 = post_request(acme)
    acme.post(f"/api/commons/requests/{req2['id']}/award", json={"ordered": True, "supplier": "beta"})
    page = beta.get("/commons/requests").text
    assert 'class="accept-award"' in page and req2["id"] in page
    r = _page_post(beta, f"/commons/awards/{req2['id']}", action="accept")
    assert r.status_code == 303 and "err=" not in r.headers["location"]
    assert any(
        a["state"] == "accepted"
        for a in acme.get("/api/commons/awards").json()
        if a["request_id"] == req2["id"]
    )


# -- 4. an operator neither closes nor rates an expert's mission ----------------------------------
def test_an_operator_cannot_close_or_rate_a_mission(plant):
    acme = plant.client("acme:owner")
    body = {
        "title": {"en": "Press scrap"},
        "metric": "scrap_ratio",
        "scope": [A1],
        "days": 30,
        "skills": ["stamping", "spc"],
        "weeks": 2,
        "hours_per_week": 8,
    }
    pid = acme.post("/api/commons/problems", json=body).json()["id"]
    mission = acme.post(f"/api/commons/problems/{pid}/accept", json={"expert_id": "x-kim"}).json()
    url = f"/api/commons/missions/{mission['id']}/close"
    op = plant.client("acme:operator")
    assert op.get(f"/api/commons/missions/{mission['id']}").status_code == 200  # an operator reads
    for extra in ({"rating": 1}, {}):
        r = op.post(url, json={"text": {"en": "closed by an operator"}, **extra})
        assert r.status_code == 403, r.text
    m = acme.get(f"/api/commons/missions/{mission['id']}").json()
    assert m["status"] != "closed" and m["rating"] is None
    # the expert closes without rating; an engineer of the firm may close and rate
    assert plant.client("expert").post(url, json={"text": {"en": "done"}, "rating": 5}).status_code == 403
    r = plant.client("acme:engineer").post(url, json={"text": {"en": "done"}, "rating": 4})
    assert r.status_code == 200 and r.json()["rating"] == 4 and r.json()["status"] == "closed"
