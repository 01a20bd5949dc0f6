"""Tenant isolation and expert grants.

Every operation of the OpenAPI document is called by each user of firm A (and by an expert
holding a grant of A only) against firm B's objects: the answer is always 403 or 404 and never
carries B's data, and B's data is unchanged afterwards. Grants give read access to the granted
machines only, only in their window; expired and revoked grants are denied and audited.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from test_server_plant import A1, A2, A3, B1, T0, accounts_db_for, make_plant

DAY = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}


@pytest.fixture
def plant(request, store_factory, backend):
    plant = make_plant(
        store_factory(), accounts_db=accounts_db_for(request, backend)
    )  # DuckDB and PostgreSQL
    yield plant
    plant.accounts.close()


def _grant(
    plant, owner: str, scope: list[str], hours: float = 24, starts=None, expert: str = "expert"
) -> dict:
    c = plant.client(owner)
    body = {
        "expert_email": plant.emails[expert],
        "scope": scope,
        "expires": (plant.clock() + timedelta(hours=hours)).isoformat(),
    }
    if starts is not None:
        body["starts"] = starts.isoformat()
    r = c.post("/api/grants", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _attacks(plant, b_grant: int, b_firm: int, b_user: int, b_case: str) -> dict[tuple[str, str], dict]:
    """For each operation (method, path template): a request aimed at firm B's objects."""
    row = {
        "machine": B1,
        "ts": (T0 + timedelta(hours=9)).isoformat(),
        "good": 5,
        "state": "idle",
        "code": "X",
        "name": "load",
        "value": 1.0,
        "characteristic": "d",
        "detector": "z",
        "score": 1.0,
    }
    q = {"machine": B1, **DAY}
    return {
        ("GET", "/api/machines"): {},
        ("GET", "/api/hierarchy"): {},
        ("GET", "/api/overview"): {},
        ("GET", "/api/records/{kind}"): {"url": "/api/records/state", "params": q},
        ("POST", "/api/records/{kind}"): {"url": "/api/records/count", "json": [row]},
        ("GET", "/api/kpi"): {"params": q},
        ("GET", "/api/downtime"): {"params": q},
        ("GET", "/api/alarms"): {"params": q},
        ("POST", "/api/stop-reasons"): {"json": {"machine": B1, "reason_code": "sabotage"}},
        ("GET", "/api/firms"): {},
        ("POST", "/api/firms"): {"json": {"name": "beta2", "enterprises": ["beta"]}},
        ("GET", "/api/users"): {},
        ("POST", "/api/users"): {
            "json": {
                "email": "mole@beta.example",
                "display_name": "m",
                "role": "owner",
                "password": "12345678x",
                "firm_id": b_firm,
            }
        },
        ("POST", "/api/grants"): {
            "json": {
                "expert_email": plant.emails["expert"],
                "scope": [B1],
                "expires": (T0 + timedelta(days=9)).isoformat(),
            }
        },
        ("GET", "/api/grants"): {},
        ("POST", "/api/grants/{grant_id}/revoke"): {"url": f"/api/grants/{b_grant}/revoke"},
        ("GET", "/api/audit"): {},
        ("POST", "/api/auth/login"): {"json": {"email": "owner@beta.example", "password": "guess-guess"}},
        ("POST", "/api/auth/logout"): {},
        ("GET", "/api/auth/me"): {},
        ("POST", "/api/auth/tokens"): {"json": {"name": "t"}},
        ("POST", "/api/auth/password"): {"json": {"old_password": "guess", "new_password": "sabotage-12345"}},
        ("POST", "/api/auth/logout-all"): {},
        ("GET", "/api/security-log"): {},
        ("POST", "/api/auth/totp"): {},
        ("POST", "/api/auth/totp/confirm"): {"json": {"code": "123456"}},
        ("POST", "/api/auth/totp/off"): {"json": {"password": "guess"}},
        # managing accounts (server/api/accounts.py)
        ("GET", "/api/users/{user_id}"): {"url": f"/api/users/{b_user}"},
        ("PATCH", "/api/users/{user_id}"): {
            "url": f"/api/users/{b_user}",
            "json": {"role": "operator", "display_name": "sabotage", "active": False},
        },
        ("DELETE", "/api/users/{user_id}"): {"url": f"/api/users/{b_user}"},
        ("POST", "/api/users/{user_id}/password"): {
            "url": f"/api/users/{b_user}/password",
            "json": {"password": "sabotage-12345"},
        },
        ("GET", "/api/auth/tokens"): {},
        ("DELETE", "/api/auth/tokens/{token_id}"): {"url": f"/api/auth/tokens/{_b_token_id(plant, b_user)}"},
        ("GET", "/api/settings/stop-reasons"): {},
        ("PUT", "/api/settings/stop-reasons"): {
            "json": {"reasons": [{"code": "sabotage", "ko": "x", "en": "x"}]}
        },
        ("DELETE", "/api/settings/stop-reasons"): {},
        # know-how (server/api/knowhow.py): firm B's case by id, a case on B's machine
        ("GET", "/api/knowhow/search"): {"params": {"q": "hydraulic oil leak"}},
        ("GET", "/api/knowhow/cases"): {},
        ("GET", "/api/knowhow/cases/{case_id}"): {"url": f"/api/knowhow/cases/{b_case}"},
        ("POST", "/api/knowhow/cases"): {"json": {"machine": B1, "title": "sabotage", "cause": "sabotage"}},
        ("POST", "/api/knowhow/cases/{case_id}/verify"): {"url": f"/api/knowhow/cases/{b_case}/verify"},
        ("GET", "/api/knowhow/suggest"): {"params": {"machine": B1, "text": "leak"}},
        # the region (server/api/region.py): published figures and the caller's own; B's consents
        ("GET", "/api/region/cells"): {},
        ("GET", "/api/region/programmes"): {},
        ("GET", "/api/region/self"): {},
        ("GET", "/api/region/consents"): {},
        ("POST", "/api/region/invitations"): {"json": {"supplier": "beta"}},
        ("POST", "/api/region/consents"): {
            "json": {
                "buyer": "beta",
                "kpis": ["oee"],
                "aggregation": "yearly",
                "purpose": "supplier_development",
                "until": "2027-01-01",
            }
        },
        ("POST", "/api/region/consents/{policy_id}/revoke"): {
            "url": "/api/region/consents/beta-policy/revoke"
        },
        ("GET", "/api/region/suppliers/{supplier}"): {"url": "/api/region/suppliers/beta"},
        ("POST", "/api/region/upgrades"): {
            "json": {
                "supplier": "beta",
                "kind": "mission",
                "ref": "m-1",
                "start": "2026-01-01",
                "end": "2026-02-01",
            }
        },
    }


#: operations that name no object of another firm: they answer about the caller only
SELF_ONLY = {
    ("GET", "/api/machines"),
    ("GET", "/api/hierarchy"),
    ("GET", "/api/overview"),
    ("GET", "/api/firms"),
    ("GET", "/api/users"),
    ("GET", "/api/grants"),
    ("GET", "/api/audit"),
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/tokens"),
    ("GET", "/api/auth/tokens"),
    ("GET", "/api/settings/stop-reasons"),
    ("PUT", "/api/settings/stop-reasons"),
    ("DELETE", "/api/settings/stop-reasons"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/password"),
    ("POST", "/api/auth/logout-all"),
    ("GET", "/api/security-log"),
    ("POST", "/api/auth/totp"),
    ("POST", "/api/auth/totp/confirm"),
    ("POST", "/api/auth/totp/off"),
    ("GET", "/api/knowhow/search"),
    ("GET", "/api/knowhow/cases"),
    ("GET", "/api/region/cells"),
    ("GET", "/api/region/programmes"),
    ("GET", "/api/region/self"),
    ("GET", "/api/region/consents"),
}


def _b_token_id(plant, b_user: int) -> str:
    """The id of an API token of firm B's owner (made once)."""
    tokens = plant.accounts.tokens(b_user)
    if not tokens:
        plant.accounts.create_token(b_user, "beta script", plant.clock())
        tokens = plant.accounts.tokens(b_user)
    return tokens[0]["id"]


def _b_state(plant) -> tuple:
    beta = plant.accounts.firm_by_name("beta")
    return (
        plant.store.read("state", machines=[B1]).to_pylist(),
        plant.store.read("count", machines=[B1]).to_pylist(),
        [u.email for u in plant.accounts.users(beta.id)],
        [(g.id, g.revoked_at) for g in plant.accounts.grants_of_firm(beta.id)],
        [f.name for f in plant.accounts.firms()],
        [
            (u.email, u.role, u.display_name, u.active, plant.accounts.tokens(u.id))
            for u in plant.accounts.users(beta.id)
        ],
        plant.accounts.stop_reasons(beta.id),
    )


@pytest.mark.parametrize(
    "who", ["acme:owner", "acme:engineer", "acme:operator", "acme:regional_analyst", "expert"]
)
def test_firm_a_never_reaches_firm_b(plant, who):
    _grant(plant, "acme:owner", [A1])  # the expert may read one of A's machines
    b_grant = _grant(plant, "beta:owner", [B1], expert="expert2")["id"]  # active, for another expert
    beta = plant.accounts.firm_by_name("beta")
    b_user = plant.accounts.user_by_email(plant.emails["beta:owner"]).id
    plant.accounts.set_stop_reasons(beta.id, [("b_only", "베타 전용", "only beta")])
    b_case = plant.client("beta:owner").post(
        "/api/knowhow/cases", json={"machine": B1, "title": "hydraulic oil leak", "cause": "worn seal"}
    )
    assert b_case.status_code == 201, b_case.text
    attacks = _attacks(plant, b_grant, beta.id, b_user, b_case.json()["id"])
    ops = {
        (m.upper(), p)
        for p, item in plant.app.openapi()["paths"].items()
        for m in item
        if not p.startswith("/api/commons/")  # walked by tests/test_commons_isolation.py
    }
    assert ops == set(attacks), "every operation needs an attack in _attacks (and nothing else)"
    before = _b_state(plant)
    plant.clock.now = T0 + timedelta(hours=2, minutes=30)
    for (method, template), req in sorted(attacks.items()):
        c = plant.client(who)  # fresh session each time: logout must not hide later checks
        url = req.get("url", template)
        r = c.request(method, url, params=req.get("params"), json=req.get("json"))
        text = r.text
        if (method, template) in SELF_ONLY:
            assert r.status_code < 500, (method, url, r.status_code, text)
            assert "beta" not in text or (method, template) == ("POST", "/api/auth/login"), (
                method,
                url,
                text,
            )
            if template == "/api/auth/login":
                assert r.status_code == 401
        else:
            assert r.status_code in (403, 404), (who, method, url, r.status_code, text)
            assert "beta/" not in text.replace(B1, "") and "sabotage" not in text
    assert _b_state(plant) == before


def test_grant_gives_read_access_to_granted_machines_only_until_it_expires(plant):
    g = _grant(plant, "acme:owner", ["acme/s1/a1/l1"], hours=2)  # the line: A1 and A2, not A3
    expert = plant.bearer("expert")
    assert {m["path"] for m in expert.get("/api/machines").json()} == {A1, A2}
    assert expert.get("/api/records/state", params={"machine": A1, **DAY}).status_code == 200
    assert expert.get("/api/kpi", params={"machine": A2, **DAY}).status_code == 200
    assert expert.get("/api/records/state", params={"machine": A3, **DAY}).status_code == 403
    kpi_all = expert.get("/api/kpi", params=DAY).json()
    assert {k["machine"] for k in kpi_all} == {A1, A2}
    # read only: no writes, no stop reasons
    assert (
        expert.post("/api/records/count", json=[{"machine": A1, "ts": T0.isoformat(), "good": 1}]).status_code
        == 403
    )
    assert expert.post("/api/stop-reasons", json={"machine": A1, "reason_code": "x"}).status_code == 403
    # every access under the grant is in the owner's audit log
    audit = plant.client("acme:owner").get("/api/audit").json()
    assert audit and {a["grant_id"] for a in audit} == {g["id"]}
    assert {a["user_email"] for a in audit} == {plant.emails["expert"]}
    paths = [a["path"] for a in audit]
    assert "/api/records/state" in paths and "/api/kpi" in paths and "/api/machines" in paths
    assert any(a["outcome"] == "denied" for a in audit) is False  # A3 is not under any grant
    n_before = len(audit)
    # the grant expires by itself
    plant.clock.now = plant.clock.now + timedelta(hours=2, seconds=1)
    r = expert.get("/api/records/state", params={"machine": A1, **DAY})
    assert r.status_code == 403
    assert expert.get("/api/machines").json() == []
    audit = plant.client("acme:owner").get("/api/audit").json()
    assert len(audit) == n_before + 1
    assert audit[0]["outcome"] == "denied" and audit[0]["grant_id"] == g["id"] and A1 in audit[0]["object"]
    # beta's owner sees none of it
    assert plant.client("beta:owner").get("/api/audit").json() == []


def test_revoked_grant_is_denied_and_audited(plant):
    g = _grant(plant, "acme:owner", [A1])
    expert = plant.bearer("expert")
    assert expert.get("/api/records/count", params={"machine": A1, **DAY}).json()["rows"][0]["good"] == 10
    owner = plant.client("acme:owner")
    r = owner.post(f"/api/grants/{g['id']}/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"] and not r.json()["active"]
    assert expert.get("/api/records/count", params={"machine": A1, **DAY}).status_code == 403
    outcomes = [(a["grant_id"], a["outcome"]) for a in owner.get("/api/audit").json()]
    assert outcomes[0] == (g["id"], "denied") and (g["id"], "allowed") in outcomes
    assert [x["id"] for x in expert.get("/api/grants").json()] == [g["id"]]


def test_grants_only_over_own_machines_and_to_experts(plant):
    owner = plant.client("acme:owner")
    exp = (T0 + timedelta(days=3)).isoformat()
    assert (
        owner.post(
            "/api/grants", json={"expert_email": plant.emails["expert"], "scope": [B1], "expires": exp}
        ).status_code
        == 403
    )
    r = owner.post(
        "/api/grants", json={"expert_email": plant.emails["acme:engineer"], "scope": [A1], "expires": exp}
    )
    assert r.status_code == 422
    r = owner.post(
        "/api/grants", json={"expert_email": plant.emails["expert"], "scope": [A1], "expires": T0.isoformat()}
    )
    assert r.status_code == 422  # expires before it starts (now)
    assert TestClient(plant.app).get("/api/grants").status_code == 401
