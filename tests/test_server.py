"""The API: login/logout, CSRF, bearer tokens, each role's permissions, records, KPIs, stop reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from test_server_plant import A1, A2, B1, PASSWORD, T0, accounts_db_for, make_plant

from factory_commons.model.hierarchy import Machine
from factory_commons.store import DuckDBStore

DAY = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}


@pytest.fixture
def plant(tmp_path):
    store = DuckDBStore(tmp_path / "plant.duckdb")
    yield make_plant(store)
    store.close()


def test_openapi_is_published(plant):
    doc = TestClient(plant.app).get("/openapi.json").json()
    assert doc["info"]["title"] == "Factory Commons API"
    for p in ("/api/hierarchy", "/api/records/{kind}", "/api/kpi", "/api/grants", "/api/audit"):
        assert p in doc["paths"]


def test_login_me_logout(plant):
    c = TestClient(plant.app)
    assert c.get("/api/auth/me").status_code == 401
    bad = c.post("/api/auth/login", json={"email": plant.emails["acme:owner"], "password": "wrong password"})
    assert bad.status_code == 401
    r = c.post("/api/auth/login", json={"email": plant.emails["acme:owner"].upper(), "password": PASSWORD})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert c.cookies.get("fc_csrf") == r.json()["csrf_token"]
    assert c.get("/api/auth/me").json()["email"] == plant.emails["acme:owner"]
    assert c.post("/api/auth/logout").status_code == 403  # no CSRF header
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    assert c.post("/api/auth/logout").status_code == 204
    assert c.get("/api/auth/me").status_code == 401


def test_sessions_and_tokens_are_stored_hashed(plant):
    c = plant.client("acme:owner")
    token = c.post("/api/auth/tokens", json={"name": "plc gateway"}).json()["token"]
    dump = "\n".join(plant.accounts._con.iterdump())
    assert token not in dump and c.cookies.get("fc_session") not in dump
    assert PASSWORD not in dump and "$argon2" in dump


def test_csrf_is_required_for_cookie_writes_but_not_for_bearer(plant):
    c = plant.client("acme:engineer")
    rows = [{"machine": A1, "ts": (T0 + timedelta(hours=5)).isoformat(), "good": 3}]
    del c.headers["X-CSRF-Token"]
    assert c.post("/api/records/count", json=rows).status_code == 403
    c.headers["X-CSRF-Token"] = "forged"
    assert c.post("/api/records/count", json=rows).status_code == 403
    c.headers["X-CSRF-Token"] = c.cookies.get("fc_csrf")
    assert c.post("/api/records/count", json=rows).json() == {"kind": "count", "received": 1, "written": 1}
    b = plant.bearer("acme:engineer")
    rows[0]["ts"] = (T0 + timedelta(hours=6)).isoformat()
    assert b.post("/api/records/count", json=rows).json()["written"] == 1
    assert (
        TestClient(plant.app, headers={"Authorization": "Bearer nope"}).get("/api/machines").status_code
        == 401
    )


def test_records_read_with_range_and_limit(any_plant):
    plant = any_plant
    c = plant.bearer("acme:operator")
    r = c.get("/api/records/state", params={"machine": A1, **DAY}).json()
    assert [row["state"] for row in r["rows"]] == ["running", "unplanned_down", "running"]
    assert {row["machine"] for row in r["rows"]} == {A1}
    r = c.get("/api/records/state", params={**DAY, "limit": 2}).json()
    assert len(r["rows"]) == 2 and r["truncated"]
    allrows = c.get("/api/records/state", params=DAY).json()["rows"]
    assert {row["machine"] for row in allrows} == {A1, A2, "acme/s1/a1/l2/m3"}
    assert c.get("/api/records/nope", params=DAY).status_code == 404


def test_bad_batch_is_422_naming_rows_and_fields(plant):
    c = plant.bearer("acme:engineer")
    rows = [
        {"machine": A1, "ts": T0.isoformat(), "good": 1},
        {"machine": A1, "ts": T0.isoformat(), "good": -4},
    ]
    r = c.post("/api/records/count", json=rows)
    assert r.status_code == 422
    problems = r.json()["detail"]["problems"]
    assert {"row": 2, "field": "good"}.items() <= problems[0].items()
    message = r.json()["detail"]["message"]  # Korean first, then English, then the rows
    assert message.startswith("count 기록 묶음을 받지 않았습니다") and "2 problem(s) in 2 rows" in message
    assert "row 2, field 'good'" in message


def test_kpi_downtime_hierarchy_alarms(plant):
    c = plant.bearer("acme:owner")
    plant.store.register_machines([Machine(path=A1, display_name="CNC 1호기")])
    kpi = c.get("/api/kpi", params=DAY).json()
    assert [k["machine"] for k in kpi] == sorted([A1, A2, "acme/s1/a1/l2/m3"])
    assert [k["display_name"] for k in kpi] == ["CNC 1호기", None, None]  # the shop's own name
    assert kpi[0]["good_quantity"] == 10 and kpi[0]["down_time_s"] == 3600
    line = c.get("/api/kpi", params={**DAY, "by": "line", "machine": [A1, A2]}).json()
    assert len(line) == 1 and line[0]["good_quantity"] == 20
    pareto = c.get("/api/downtime", params={**DAY, "machine": A1}).json()
    assert pareto[0]["seconds"] == 3600
    assert c.get("/api/hierarchy").json() == {"acme": {"s1": {"a1": {"l1": ["m1", "m2"], "l2": ["m3"]}}}}
    later = (T0 + timedelta(hours=1)).isoformat()
    c.post("/api/records/alarm", json=[{"machine": A1, "ts": T0.isoformat(), "code": "E1"}])
    c.post("/api/records/alarm", json=[{"machine": A2, "ts": later, "code": "E2", "severity": "critical"}])
    assert [a["code"] for a in c.get("/api/alarms", params=DAY).json()["rows"]] == [
        "E2",
        "E1",
    ]  # newest first
    cleared = (T0 + timedelta(minutes=30)).isoformat()
    c.post("/api/records/alarm", json=[{"machine": A1, "ts": cleared, "code": "E1", "active": False}])
    ov = {m["path"]: m for m in c.get("/api/overview").json()}
    assert set(ov) == {A1, A2, "acme/s1/a1/l2/m3"}
    assert ov[A1]["state"] == "running" and ov[A1]["since"].startswith("2024-03-04T03:00")
    assert (ov[A1]["active_alarms"], ov[A2]["active_alarms"]) == (0, 1)
    one = c.get("/api/alarms", params={**DAY, "limit": 1}).json()
    assert [a["code"] for a in one["rows"]] == ["E2"] and one["truncated"]
    too_long = c.get("/api/kpi", params={"start": "2019-01-01T00:00:00Z", "end": "2024-03-05T00:00:00Z"})
    assert too_long.status_code == 422 and "window too long" in str(too_long.json()["detail"])


@pytest.fixture
def any_plant(request, store_factory, backend):
    plant = make_plant(
        store_factory(), accounts_db=accounts_db_for(request, backend)
    )  # DuckDB and PostgreSQL
    yield plant
    plant.accounts.close()


def test_stop_reason_lands_in_the_pareto(any_plant):
    plant = any_plant
    c = plant.client("acme:operator")
    plant.clock.now = T0 + timedelta(hours=2, minutes=30)  # A1 is down now
    r = c.post("/api/stop-reasons", json={"machine": A1, "reason_code": "공구 파손"})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "unplanned_down"
    pareto = c.get("/api/downtime", params={**DAY, "machine": A1}).json()
    assert [p["reason"] for p in pareto] == ["공구 파손"]
    assert pareto[0]["seconds"] == 3600
    assert (
        c.get("/api/records/state", params={**DAY, "machine": A1}).json()["rows"][1]["reason_code"]
        == "공구 파손"
    )
    running = T0 + timedelta(hours=1)
    r = c.post("/api/stop-reasons", json={"machine": A1, "reason_code": "x", "ts": running.isoformat()})
    assert r.status_code == 409
    assert c.post("/api/stop-reasons", json={"machine": B1, "reason_code": "x"}).status_code == 403


ROLE_CASES = {
    # role: (read records, read kpi, write records, stop reasons, manage users, grant)
    "owner": (True, True, True, True, True, True),
    "engineer": (True, True, True, True, False, False),
    "operator": (True, True, False, True, False, False),
    "regional_analyst": (False, True, False, False, False, False),
}


@pytest.mark.parametrize("role", ROLE_CASES)
def test_each_role_gets_its_permissions(plant, role):
    expected = ROLE_CASES[role]
    c = plant.bearer(f"acme:{role}")
    plant.clock.now = T0 + timedelta(hours=2, minutes=30)
    got = (
        c.get("/api/records/state", params=DAY).status_code == 200,
        c.get("/api/kpi", params=DAY).status_code == 200,
        c.post("/api/records/count", json=[{"machine": A2, "ts": T0.isoformat(), "good": 1}]).status_code
        == 200,
        c.post("/api/stop-reasons", json={"machine": A2, "reason_code": "r"}).status_code == 201,
        c.get("/api/users").status_code == 200,
        c.get("/api/grants").status_code == 200,
    )
    assert got == expected


def test_users_are_created_within_the_firm(plant):
    owner = plant.client("acme:owner")
    new = {
        "email": "kim@acme.example",
        "display_name": "김철수",
        "role": "operator",
        "password": "pw-12345678",
    }
    r = owner.post("/api/users", json=new)
    assert r.status_code == 201 and r.json()["firm_id"] == plant.accounts.firm_by_name("acme").id
    assert owner.post("/api/users", json=new).status_code == 409
    beta = plant.accounts.firm_by_name("beta").id
    assert owner.post("/api/users", json={**new, "email": "x@y.z", "firm_id": beta}).status_code == 403
    assert owner.post("/api/users", json={**new, "email": "x@y.z", "role": "hub_admin"}).status_code == 403
    assert {u["email"].split("@")[1] for u in owner.get("/api/users").json()} == {"acme.example"}
    hub = plant.client("hub_admin")
    assert (
        hub.post("/api/users", json={**new, "email": "lee@beta.example", "firm_id": beta}).status_code == 201
    )
    assert hub.get("/api/records/state", params=DAY).status_code == 403  # no shop-floor data
    assert len(hub.get("/api/firms").json()) == 3 and len(owner.get("/api/firms").json()) == 1


def test_cli_users_create_then_login(tmp_path):
    from typer.testing import CliRunner

    from factory_commons.cli import app
    from factory_commons.server import create_app

    store = str(tmp_path / "plant.duckdb")
    args = ["users", "create", "--firm", "acme", "--enterprise", "acme", "--email", "kim@acme.kr"]
    # a refused password leaves no firm behind: the same command with a good one then works
    r = CliRunner().invoke(
        app, [*args, "--role", "owner", "--password-stdin", "--store", store], input="weak\n"
    )
    assert r.exit_code == 2 and "firm created" not in r.output, r.output
    r = CliRunner().invoke(
        app, [*args, "--role", "owner", "--password-stdin", "--store", store], input="pw-12345678\n"
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*args, "--role", "boss", "--password-stdin", "--store", store], input="x\n")
    assert r.exit_code == 2
    with DuckDBStore(tmp_path / "other.duckdb") as st:
        api = create_app(st, store + ".accounts.sqlite")  # the file `users create` wrote
        c = TestClient(api)
        assert (
            c.post("/api/auth/login", json={"email": "kim@acme.kr", "password": "pw-12345678"}).status_code
            == 200
        )
        assert c.get("/api/auth/me").json()["role"] == "owner"
        api.state.accounts.close()


def test_accounts_in_postgresql_share_the_store_database(pg_url):
    import psycopg

    from factory_commons.accounts import Accounts

    acc = Accounts(f"{pg_url}?schema=pgacc")
    firm = acc.create_firm("한빛정밀", ["hanbit"])
    acc.create_user(firm.id, "park@hanbit.kr", "박", "owner", PASSWORD)
    again = Accounts(f"{pg_url}?schema=pgacc")  # the tables exist: opening again changes nothing
    assert again.authenticate("park@hanbit.kr", PASSWORD).firm_id == firm.id
    assert again.authenticate("park@hanbit.kr", "wrong-password") is None
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT email FROM pgacc_accounts.users").fetchall() == [("park@hanbit.kr",)]
    acc.close()
    again.close()


def test_sessions_expire_and_tokens_do_not_open_other_firms(plant):
    c = plant.client("acme:operator")
    assert c.get("/api/auth/me").status_code == 200
    plant.clock.now = plant.clock.now + timedelta(hours=12, seconds=1)
    assert c.get("/api/auth/me").status_code == 401
    b = plant.bearer("beta:owner")
    assert b.get("/api/records/state", params={"machine": A1, **DAY}).status_code == 403
    assert {m["path"] for m in b.get("/api/machines").json()} == {B1}
