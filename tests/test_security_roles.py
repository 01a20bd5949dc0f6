"""Roles: one check (server/auth.py `ROUTES`, enforced by `authenticate`) for every route and page.

Walks every route of the app (API and pages) as each role and checks the answer against the role
table (docs/server.md, "Firms, users and roles"); a route not in `ROUTES` fails. Regressions of
issue 20: a regional analyst saw raw signals and alarm texts on the machine page, the retrofit
page and in /api/alarms; a user with the expert role created inside a firm read every machine of
the firm with no grant and no audit entry.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_server_plant import A1, A2, PASSWORD, T0, accounts_db_for, make_plant

from factory_commons.model import Alarm, Signal
from factory_commons.server.auth import LOGGED_IN, PUBLIC, ROUTES, allowed, route_permission
from factory_commons.store.duckdb import DuckDBStore

ROLES = ("owner", "engineer", "operator", "regional_analyst")
WHO = (*(f"acme:{r}" for r in ROLES), "expert", "hub_admin", "acme:expert")
SECRET = "SPINDLE-OVERHEAT-7731"
DAY = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
#: a value for each path parameter of the app's routes
PARAMS = {"kind": "state", "path": A1, "code": "en"}


def _plant(store, accounts_db=":memory:"):
    plant = make_plant(store, accounts_db=accounts_db)
    firm_id = plant.accounts.user_by_email(plant.emails["acme:owner"]).firm_id
    plant.accounts.create_user(firm_id, "inside-expert@acme.example", "acme expert", "expert", PASSWORD)
    plant.emails["acme:expert"] = "inside-expert@acme.example"
    store.write(
        [
            Alarm(ts=T0 + timedelta(hours=2), machine=A1, code="E7", message=SECRET, active=True),
            Signal(ts=T0 + timedelta(hours=1), machine=A1, name="spindle_load", value=77.5),
        ]
    )
    return plant


@pytest.fixture
def plant(request, store_factory, backend):
    plant = _plant(store_factory(), accounts_db_for(request, backend))  # DuckDB and PostgreSQL
    yield plant
    plant.accounts.close()


def _routes(app) -> list[tuple[str, str]]:
    """Every (method, path template) the app answers, routers included (HEAD left out)."""
    out: list[tuple[str, str]] = []

    def walk(routes) -> None:
        for r in routes:
            if hasattr(r, "original_router"):
                walk(r.original_router.routes)
            elif getattr(r, "methods", None):
                out.extend((m, r.path) for m in sorted(r.methods - {"HEAD"}))

    walk(app.routes)
    return out


def _url(template: str) -> str:
    url = template
    for name, value in PARAMS.items():
        url = url.replace(f"{{{name}:path}}", value).replace(f"{{{name}}}", value)
    while "{" in url:  # ids of objects: 1 (may not exist: 404 is fine, 403 is the role's)
        a, b = url.index("{"), url.index("}")
        url = url[:a] + "1" + url[b + 1 :]
    return url


def test_every_route_has_a_permission():
    plant = _plant(DuckDBStore(":memory:"))
    missing = [f"{m} {p}" for m, p in _routes(plant.app) if route_permission(m, p) is None]
    assert not missing, f"routes without a permission in server/auth.py ROUTES: {missing}"
    assert "GET /api/alarms" in ROUTES


def test_every_route_as_every_role_follows_the_role_table():
    """Each role on each route: 403 exactly where the role lacks the route's permission."""
    plant = _plant(DuckDBStore(":memory:"))
    routes = [(m, p) for m, p in _routes(plant.app) if route_permission(m, p) not in (PUBLIC, None)]
    wrong = []
    for who in WHO:
        c = plant.client(who)
        csrf = c.headers["X-CSRF-Token"]
        role = plant.accounts.user_by_email(plant.emails[who]).role
        for method, template in routes:
            if template in ("/logout", "/api/auth/logout", "/api/auth/logout-all"):
                continue  # would end the walk's session
            permission = route_permission(method, template)
            url = _url(template)
            kw: dict = {"params": DAY} if method == "GET" else {}
            if method != "GET":
                kw = {"json": {}} if url.startswith("/api/") else {"data": {"csrf_token": csrf}}
            r = c.request(method, url, follow_redirects=False, **kw)
            assert r.status_code != 401, (who, method, url)
            assert r.status_code < 500, (who, method, url, r.text[:300])
            if permission == LOGGED_IN:
                continue  # the route decides per object (commons, accounts): checked in their tests
            if allowed(role, permission) != (r.status_code != 403):
                wrong.append((who, method, template, permission, r.status_code))
    assert not wrong, wrong


def test_no_route_is_open_without_login():
    plant = _plant(DuckDBStore(":memory:"))
    from fastapi.testclient import TestClient

    c = TestClient(plant.app)
    for method, template in _routes(plant.app):
        if route_permission(method, template) == PUBLIC:
            continue
        r = c.request(method, _url(template), follow_redirects=False)
        assert r.status_code in (303, 401, 403, 422), (method, template, r.status_code)


def test_regional_analyst_sees_no_raw_signals_nor_alarms(plant):
    owner, analyst = plant.client("acme:owner"), plant.client("acme:regional_analyst")
    q = {"machine": A1, **DAY}
    assert SECRET in owner.get("/api/alarms", params=q).text
    assert analyst.get("/api/alarms", params=q).status_code == 403
    assert analyst.get("/api/records/signal", params=q).status_code == 403
    page = f"/machines/{A1}?from=2024-03-04&to=2024-03-04"
    assert SECRET in owner.get(page).text
    for url in (page, f"/retrofit/{A1}", "/retrofit"):
        r = analyst.get(url)
        assert r.status_code == 403, (url, r.status_code)
        assert SECRET not in r.text and "spindle_load" not in r.text
    # the aggregates of the role table stay
    assert analyst.get("/api/kpi", params=DAY).status_code == 200
    assert analyst.get("/").status_code == 200


def test_expert_inside_a_firm_reads_nothing_without_a_grant(plant):
    expert = plant.client("acme:expert")
    assert expert.get("/api/machines").json() == []
    assert expert.get("/api/overview").json() == []
    assert expert.get("/api/kpi", params=DAY).json() == []
    assert expert.get("/api/records/state", params={"machine": A1, **DAY}).status_code == 403
    assert expert.get("/api/records/state", params=DAY).json()["rows"] == []
    assert expert.get(f"/machines/{A1}").status_code == 404
    assert A1 not in expert.get("/").text
    owner = plant.client("acme:owner")
    assert owner.get("/api/audit").json() == []  # nothing read, nothing to audit


def test_expert_inside_a_firm_reads_under_a_grant_audited(plant):
    owner = plant.client("acme:owner")
    body = {
        "expert_email": plant.emails["acme:expert"],
        "scope": [A1],
        "expires": (plant.clock() + timedelta(hours=5)).isoformat(),
    }
    assert owner.post("/api/grants", json=body).status_code == 201
    expert = plant.client("acme:expert")
    r = expert.get("/api/records/state", params={"machine": A1, **DAY})
    assert r.status_code == 200 and r.json()["rows"]
    assert expert.get("/api/records/state", params={"machine": A2, **DAY}).status_code == 403
    assert [m["path"] for m in expert.get("/api/machines").json()] == [A1]
    audit = owner.get("/api/audit").json()
    allowed_rows = [a for a in audit if a["outcome"] == "allowed" and a["path"] == "/api/records/state"]
    assert allowed_rows and A1 in allowed_rows[0]["object"]
    assert allowed_rows[0]["user_email"] == plant.emails["acme:expert"]
    assert any(a["outcome"] == "denied" for a in audit) is False  # A2 is not under the grant: 403 only


def test_hub_admin_reads_no_shop_floor_data(plant):
    admin = plant.client("hub_admin")
    assert admin.get("/api/machines").status_code == 403
    assert admin.get("/oee").status_code == 403
    assert SECRET not in admin.get(f"/machines/{A1}").text
