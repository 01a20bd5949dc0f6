"""Supplier development by consent (region/consent.py): a buyer sees nothing of a supplier before
the supplier grants a policy, exactly what the policy allows while it is in force, and nothing
after it is revoked or ends — through every route (API, page, CLI); every access is audited."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from test_server_plant import T0, make_plant
from typer.testing import CliRunner

from factory_commons.cli import app as cli
from factory_commons.region import consent as cs
from factory_commons.region.db import save
from factory_commons.region.models import KpiSnapshot, MaturityAnswers, SupplierLink
from factory_commons.server import create_app
from factory_commons.store.duckdb import DuckDBStore

runner = CliRunner()
TODAY = (T0 + timedelta(days=1)).date()
BETA_LEVEL, BETA_OEE = 2.345, 0.6123  # beta's after-snapshot values: they must show only when allowed


@pytest.fixture
def plant(tmp_path):
    store = DuckDBStore(":memory:")
    plant = make_plant(store)
    commons = str(tmp_path / "region.commons.sqlite")
    plant.app = create_app(store, plant.accounts, clock=plant.clock, commons=commons)
    db = plant.app.state.commons
    save(
        db,
        [
            SupplierLink(buyer="acme", supplier="beta", since=TODAY - timedelta(days=400)),
            KpiSnapshot(firm_id="beta", on=TODAY - timedelta(days=300), overall_level=1.9, oee=0.55),
            KpiSnapshot(
                firm_id="beta", on=TODAY - timedelta(days=10), overall_level=BETA_LEVEL, oee=BETA_OEE
            ),
            MaturityAnswers(firm_id="beta", assessed_on=TODAY, answers={}),
        ],
    )
    plant.commons_path = commons
    yield plant
    store.close()


def cli_view(plant, buyer: str = "acme") -> tuple[int, str]:
    now = plant.clock().isoformat()
    r = runner.invoke(
        cli, ["region", "consent", "view", "--store", "x", "--commons", plant.commons_path, "--buyer", buyer,
              "--supplier", "beta", "--now", now],
    )  # fmt: skip
    return r.exit_code, r.output


def routes_see(plant, who: str = "acme:owner") -> dict[str, bool]:
    """Whether each route shows beta's figures to `who` (and, where shown, that nothing leaked)."""
    c = plant.client(who)
    api = c.get("/api/region/suppliers/beta")
    page = c.get("/region/suppliers/beta")
    code, out = cli_view(
        plant, plant.accounts.firm(plant.accounts.user_by_email(plant.emails[who]).firm_id).name
    )
    if api.status_code != 200:
        assert api.status_code == 404 and str(BETA_OEE) not in api.text  # as for an unknown supplier
    if page.status_code != 200:
        assert page.status_code == 404 and str(BETA_OEE) not in page.text
    if code != 0:
        assert code == 3 and str(BETA_OEE) not in out
    return {"api": api.status_code == 200, "page": page.status_code == 200, "cli": code == 0}


NONE = {"api": False, "page": False, "cli": False}
ALL = {"api": True, "page": True, "cli": True}


def test_nothing_before_the_grant_exactly_the_policy_while_in_force_nothing_after_revocation(plant):
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    assert routes_see(plant) == NONE  # nothing before anything
    r = acme.post("/api/region/invitations", json={"supplier": "beta"})
    assert r.status_code == 201, r.text
    assert routes_see(plant) == NONE  # an invitation shows nothing
    until = (TODAY + timedelta(days=30)).isoformat()
    r = beta.post(
        "/api/region/consents",
        json={
            "buyer": "acme",
            "kpis": ["oee"],
            "aggregation": "snapshot",
            "purpose": "supplier_development",
            "until": until,
        },
    )
    assert r.status_code == 201, r.text
    policy = r.json()["id"]
    assert routes_see(plant) == ALL
    shown = acme.get("/api/region/suppliers/beta").json()
    assert set(shown["kpis"]) == {"oee"}  # exactly the KPIs granted: no level, no domains
    assert [p["value"] for p in shown["kpis"]["oee"]] == [0.55, BETA_OEE]
    assert str(BETA_LEVEL) not in json.dumps(shown)
    page = acme.get("/region/suppliers/beta").text
    assert str(BETA_OEE) in page and str(BETA_LEVEL) not in page
    # revoked: nothing, through every route
    r = beta.post(f"/api/region/consents/{policy}/revoke")
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert routes_see(plant) == NONE
    # every access is in the supplier's audit log (accounts; API and page) and access log (all routes)
    log = plant.accounts.audit_log(plant.accounts.firm_by_name("beta").id)
    assert {(a["outcome"], a["path"]) for a in log} >= {
        ("allowed", "/api/region/suppliers/beta"),
        ("denied", "/api/region/suppliers/beta"),
        ("allowed", "/region/suppliers/beta"),
        ("denied", "/region/suppliers/beta"),
    }
    accesses = beta.get("/api/region/consents").json()["accesses"]
    assert {(a["route"], a["outcome"]) for a in accesses} == {
        (route, outcome) for route in ("api", "page", "cli") for outcome in ("allowed", "denied")
    }


def test_a_policy_ends_on_its_date_and_names_only_its_buyer(plant):
    db = plant.app.state.commons
    now = plant.clock()
    cs.invite(db, "acme", "beta", now)
    cs.grant(
        db, "beta", "acme", ["overall_level", "maturity_domains"], "band", "supplier_development", TODAY, now
    )
    assert routes_see(plant) == ALL
    shown = plant.client("acme:owner").get("/api/region/suppliers/beta").json()
    assert [p["band"] for p in shown["kpis"]["overall_level"]] == ["1", "2"]  # bands, never the values
    assert "value" not in json.dumps(shown["kpis"]["overall_level"])
    assert routes_see(plant, "beta:owner") == NONE  # beta's own firm is not the buyer the policy names
    plant.clock.now = now + timedelta(days=1)  # the day after `until`
    assert routes_see(plant) == NONE


def test_sponsored_upgrade_shows_before_and_after_of_what_is_allowed(plant):
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    acme.post("/api/region/invitations", json={"supplier": "beta", "purpose": "sponsored_upgrade"})
    start, end = (TODAY - timedelta(days=300)).isoformat(), (TODAY - timedelta(days=10)).isoformat()
    r = acme.post(
        "/api/region/upgrades",
        json={"supplier": "beta", "kind": "retrofit", "ref": "clamp-1", "start": start, "end": end},
    )
    assert r.status_code == 201, r.text
    beta.post(
        "/api/region/consents",
        json={"buyer": "acme", "kpis": ["oee"], "aggregation": "snapshot", "purpose": "sponsored_upgrade",
              "until": (TODAY + timedelta(days=5)).isoformat()},
    )  # fmt: skip
    up = acme.get("/api/region/suppliers/beta").json()["upgrades"]
    assert up == [
        {"id": "acme:beta:retrofit:clamp-1", "kind": "retrofit", "ref": "clamp-1", "start": start, "end": end,
         "oee": {"before": 0.55, "after": BETA_OEE, "change": round(BETA_OEE - 0.55, 4)}}
    ]  # fmt: skip
    assert acme.get("/api/region/suppliers/beta", params={"purpose": "quality_assurance"}).status_code == 404


def test_bad_consent_steps_are_refused_by_field(plant):
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    good = {"buyer": "acme", "kpis": ["oee"], "aggregation": "snapshot", "purpose": "supplier_development",
            "until": (TODAY + timedelta(days=5)).isoformat()}  # fmt: skip
    r = beta.post("/api/region/consents", json=good)
    assert r.status_code == 404 and "buyer: 'acme' has not invited 'beta'" in r.json()["detail"]
    assert (
        acme.post("/api/region/invitations", json={"supplier": "gamma"}).status_code == 404
    )  # not its supplier
    acme.post("/api/region/invitations", json={"supplier": "beta"})
    r = beta.post("/api/region/consents", json=good | {"kpis": ["scrap"]})
    assert r.status_code == 422 and r.json()["detail"].startswith("kpis:")
    r = beta.post("/api/region/consents", json=good | {"aggregation": "raw"})
    assert r.status_code == 422 and r.json()["detail"].startswith("aggregation:")
    r = beta.post("/api/region/consents", json=good | {"until": (TODAY - timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and "already past" in r.json()["detail"]
    policy = beta.post("/api/region/consents", json=good).json()["id"]
    assert acme.post(f"/api/region/consents/{policy}/revoke").status_code == 404  # only the supplier revokes
    for who in ("acme:engineer", "acme:operator", "acme:regional_analyst"):  # consent steps are the owner's
        assert plant.client(who).post("/api/region/invitations", json={"supplier": "beta"}).status_code == 403
    for who in ("acme:operator", "acme:regional_analyst"):  # and no buyer view for them
        assert plant.client(who).get("/api/region/suppliers/beta").status_code == 403
        assert plant.client(who).get("/region/suppliers/beta").status_code == 403
    r = runner.invoke(
        cli, ["region", "consent", "grant", "--store", "x", "--commons", plant.commons_path, "--supplier", "beta",
              "--buyer", "acme", "--kpis", "oee", "--until", "tomorrow"],
    )  # fmt: skip
    assert r.exit_code == 2 and "--until: 'tomorrow' is not a date" in r.output


def test_cli_steps_and_view(plant):
    base = ["--store", "x", "--commons", plant.commons_path, "--now", plant.clock().isoformat()]
    r = runner.invoke(cli, ["region", "consent", "invite", "--buyer", "acme", "--supplier", "beta", *base])
    assert r.exit_code == 0, r.output
    until = (TODAY + timedelta(days=3)).isoformat()
    r = runner.invoke(
        cli, ["region", "consent", "grant", "--supplier", "beta", "--buyer", "acme", "--kpis", "overall_level",
              "--aggregation", "yearly", "--until", until, *base],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    policy = json.loads(r.output)["id"]
    code, out = cli_view(plant)
    assert code == 0 and set(json.loads(out)["kpis"]) == {"overall_level"}
    r = runner.invoke(cli, ["region", "consent", "revoke", "--supplier", "beta", "--policy", policy, *base])
    assert r.exit_code == 0, r.output
    assert cli_view(plant)[0] == 3
    assert date.fromisoformat(until) > TODAY
    # a refused step is said and ends with exit code 2 (the view's refusal is 3, above)
    r = runner.invoke(
        cli, ["region", "consent", "revoke", "--supplier", "beta", "--policy", "pol-none", *base]
    )
    assert r.exit_code == 2 and "pol-none" in r.output, r.output


def test_the_supplier_grants_and_revokes_on_its_page(plant):
    acme, beta = plant.client("acme:owner"), plant.client("beta:owner")
    acme.post("/api/region/invitations", json={"supplier": "beta"})
    page = beta.get("/region/consents", cookies={"lang": "en"})
    assert page.status_code == 200 and 'data-buyer="acme"' in page.text
    csrf = beta.headers["X-CSRF-Token"]
    form = {"csrf_token": csrf, "buyer": "acme", "kpis": ["oee"], "aggregation": "yearly",
            "purpose": "supplier_development", "until": "not-a-day"}  # fmt: skip
    r = beta.post("/region/consents", data=form, follow_redirects=False)
    assert r.status_code == 303 and "err=until" in r.headers["location"]
    assert routes_see(plant) == NONE
    until = (TODAY + timedelta(days=9)).isoformat()
    r = beta.post("/region/consents", data=form | {"until": until}, follow_redirects=False)
    assert r.status_code == 303 and "ok=pol-" in r.headers["location"], r.headers["location"]
    policy = r.headers["location"].split("ok=", 1)[1]
    assert routes_see(plant) == ALL
    r = beta.post(f"/region/consents/{policy}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert routes_see(plant) == NONE
    page = beta.get("/region/consents", cookies={"lang": "en"}).text
    assert "revoked" in page and "denied" in page  # the policy's end and the log of the refused views
    eng = plant.client("beta:engineer")  # consent steps are the owner's: refused by role, not by CSRF
    r = eng.post(f"/region/consents/{policy}/revoke", data={"csrf_token": eng.headers["X-CSRF-Token"]})
    assert r.status_code == 403
