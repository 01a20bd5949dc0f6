"""Managing accounts through the API: users (role, name, password, deactivate, delete), the
caller's API tokens, login rate limiting and each firm's stop reasons; on SQLite and PostgreSQL
accounts (DuckDB and PostgreSQL stores)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from test_server_plant import PASSWORD, T0, accounts_db_for, make_plant

from factory_commons.accounts import AccountError, Accounts, LastOwnerError
from factory_commons.server.ratelimit import LoginLimiter


@pytest.fixture
def plant(request, store_factory, backend):
    plant = make_plant(store_factory(), accounts_db=accounts_db_for(request, backend))
    yield plant
    plant.accounts.close()


@pytest.fixture
def web_plant():
    """DuckDB and SQLite only: for what the other tests already run on PostgreSQL (pages, limits, checks)."""
    from factory_commons.store import DuckDBStore

    store = DuckDBStore(":memory:")
    plant = make_plant(store)
    yield plant
    plant.accounts.close()
    store.close()


def _id(plant, who: str) -> int:
    return plant.accounts.user_by_email(plant.emails[who]).id


def _login(plant, email: str, password: str = PASSWORD, client: TestClient | None = None):
    return (client or TestClient(plant.app)).post(
        "/api/auth/login", json={"email": email, "password": password}
    )


# -- users ---------------------------------------------------------------------------------------
def test_owner_changes_role_and_name_of_own_firms_user(web_plant):
    plant = web_plant
    owner = plant.client("acme:owner")
    uid = _id(plant, "acme:operator")
    op = plant.client("acme:operator")
    assert op.get("/api/users").status_code == 403
    r = owner.patch(f"/api/users/{uid}", json={"role": "owner", "display_name": "  김반장  "})
    assert r.status_code == 200, r.text
    assert (r.json()["role"], r.json()["display_name"], r.json()["active"]) == ("owner", "김반장", True)
    assert op.get("/api/users").status_code == 200  # the new role counts at once, same session
    assert owner.get(f"/api/users/{uid}").json()["display_name"] == "김반장"
    bad = owner.patch(f"/api/users/{uid}", json={"role": "boss"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "role"]
    blank = owner.patch(f"/api/users/{uid}", json={"display_name": "   "})
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "display_name"]
    assert owner.patch(f"/api/users/{uid}", json={"role": "hub_admin"}).status_code == 403
    assert (
        plant.client("acme:engineer").patch(f"/api/users/{uid}", json={"role": "operator"}).status_code == 403
    )


def test_another_firms_users_are_not_found_but_hub_admin_manages_all(web_plant):
    plant = web_plant
    owner = plant.client("acme:owner")
    b = _id(plant, "beta:engineer")
    assert owner.patch(f"/api/users/{b}", json={"role": "operator"}).status_code == 404
    assert owner.post(f"/api/users/{b}/password", json={"password": "hijacked-1"}).status_code == 404
    assert owner.delete(f"/api/users/{b}").status_code == 404
    assert owner.get(f"/api/users/{b}").status_code == 404
    assert owner.get("/api/users/999999").status_code == 404
    assert plant.accounts.user(b).role == "engineer"
    hub = plant.client("hub_admin")
    assert hub.patch(f"/api/users/{b}", json={"role": "operator"}).json()["role"] == "operator"
    # an owner never touches a hub admin, even one of their firm
    acme = plant.accounts.firm_by_name("acme")
    admin = plant.accounts.create_user(acme.id, "ops@acme.example", "ops", "hub_admin", PASSWORD)
    assert owner.patch(f"/api/users/{admin.id}", json={"display_name": "x"}).status_code == 403


def test_deactivated_user_loses_sessions_and_tokens_at_once(plant):
    owner = plant.client("acme:owner")
    uid = _id(plant, "acme:engineer")
    session = plant.client("acme:engineer")
    token = plant.bearer("acme:engineer")
    assert session.get("/api/auth/me").status_code == 200 and token.get("/api/machines").status_code == 200
    r = owner.patch(f"/api/users/{uid}", json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert session.get("/api/auth/me").status_code == 401
    assert token.get("/api/machines").status_code == 401
    listed = {u["email"]: u["active"] for u in owner.get("/api/users").json()}
    assert listed[plant.emails["acme:engineer"]] is False and listed[plant.emails["acme:owner"]] is True
    assert _login(plant, plant.emails["acme:engineer"]).status_code == 401
    # reactivated: may log in again; the old tokens stay revoked
    assert owner.patch(f"/api/users/{uid}", json={"active": True}).json()["active"] is True
    assert _login(plant, plant.emails["acme:engineer"]).status_code == 200
    assert token.get("/api/machines").status_code == 401


def test_password_reset_ends_sessions_and_sets_the_new_password(plant):
    owner = plant.client("acme:owner")
    uid = _id(plant, "acme:operator")
    session = plant.client("acme:operator")
    short = owner.post(f"/api/users/{uid}/password", json={"password": "short"})
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]
    assert owner.post(f"/api/users/{uid}/password", json={"password": "새 비밀번호 2024"}).status_code == 204
    assert session.get("/api/auth/me").status_code == 401
    assert _login(plant, plant.emails["acme:operator"]).status_code == 401
    assert _login(plant, plant.emails["acme:operator"], "새 비밀번호 2024").status_code == 200


def test_last_owner_cannot_be_removed_and_nobody_removes_themselves(plant):
    owner = plant.client("acme:owner")
    me = _id(plant, "acme:owner")
    assert owner.patch(f"/api/users/{me}", json={"role": "engineer"}).status_code == 409
    assert owner.patch(f"/api/users/{me}", json={"active": False}).status_code == 409
    assert owner.delete(f"/api/users/{me}").status_code == 409
    assert owner.patch(f"/api/users/{me}", json={"display_name": "사장님"}).status_code == 200
    # the hub admin may act on anyone, but not leave acme without an owner
    hub = plant.client("hub_admin")
    r = hub.patch(f"/api/users/{me}", json={"active": False})
    assert r.status_code == 409 and "last active owner" in r.json()["detail"]
    assert hub.delete(f"/api/users/{me}").status_code == 409
    # a second owner makes the first one removable
    eng = _id(plant, "acme:engineer")
    assert owner.patch(f"/api/users/{eng}", json={"role": "owner"}).status_code == 200
    assert hub.patch(f"/api/users/{me}", json={"role": "engineer"}).json()["role"] == "engineer"
    assert hub.patch(f"/api/users/{eng}", json={"active": False}).status_code == 409  # now the last one
    with pytest.raises(LastOwnerError):
        plant.accounts.update_user(eng, role="operator")


def test_delete_only_users_without_history(plant):
    owner = plant.client("acme:owner")
    op = _id(plant, "acme:operator")
    plant.bearer("acme:operator")  # a token: deleted with the user
    assert owner.delete(f"/api/users/{op}").status_code == 204
    assert plant.accounts.user(op) is None and owner.get(f"/api/users/{op}").status_code == 404
    assert _login(plant, plant.emails["acme:operator"]).status_code == 401
    # an expert who used a grant has audit rows: deactivate, not delete
    expert = plant.accounts.user_by_email(plant.emails["expert"])
    acme = plant.accounts.firm_by_name("acme")
    plant.accounts.audit(T0, expert.id, acme.id, None, "GET", "/api/kpi", "x", "allowed")
    hub = plant.client("hub_admin")
    r = hub.delete(f"/api/users/{expert.id}")
    assert r.status_code == 409 and "deactivate" in r.json()["detail"]
    assert hub.patch(f"/api/users/{expert.id}", json={"active": False}).status_code == 200


# -- API tokens ---------------------------------------------------------------------------------
def test_list_and_revoke_own_tokens(plant):
    c = plant.client("acme:engineer")
    t1 = c.post("/api/auth/tokens", json={"name": "PLC 게이트웨이"}).json()["token"]
    plant.clock.now += timedelta(minutes=5)
    t2 = c.post("/api/auth/tokens", json={"name": "report script"}).json()["token"]
    listed = c.get("/api/auth/tokens").json()
    assert [t["name"] for t in listed] == ["PLC 게이트웨이", "report script"]
    assert all(t["last_used"] is None for t in listed) and t1 not in str(listed)
    b1 = TestClient(plant.app, headers={"Authorization": f"Bearer {t1}"})
    plant.clock.now += timedelta(minutes=1)
    assert b1.get("/api/machines").status_code == 200
    used = {t["name"]: t["last_used"] for t in b1.get("/api/auth/tokens").json()}
    assert (
        used["PLC 게이트웨이"].startswith(plant.clock.now.isoformat()[:16]) and used["report script"] is None
    )
    # another user's token id is not found, and stays valid
    other = plant.client("acme:owner")
    tid = listed[0]["id"]
    assert other.delete(f"/api/auth/tokens/{tid}").status_code == 404
    assert b1.get("/api/machines").status_code == 200
    assert c.delete("/api/auth/tokens/nothex!").status_code == 404
    assert c.delete(f"/api/auth/tokens/{tid}").status_code == 204
    assert b1.get("/api/machines").status_code == 401
    assert c.delete(f"/api/auth/tokens/{tid}").status_code == 404
    b2 = TestClient(plant.app, headers={"Authorization": f"Bearer {t2}"})
    assert b2.get("/api/machines").status_code == 200
    assert [t["name"] for t in c.get("/api/auth/tokens").json()] == ["report script"]


# -- login rate limiting ------------------------------------------------------------------------
def test_login_is_refused_with_429_after_too_many_failures(web_plant):
    """Soft delays (issue 20): after 5 failures the account waits 1 s, then 2, 4 ... (never 15 min)."""
    plant = web_plant
    email = plant.emails["acme:owner"]
    for _ in range(5):
        assert _login(plant, email, "wrong password").status_code == 401
    r = _login(plant, email)  # even the right password is refused now, for a second
    assert r.status_code == 429 and "too many" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) == 1
    assert _login(plant, plant.emails["acme:engineer"]).status_code == 200  # other e-mails are not slowed
    plant.clock.now += timedelta(seconds=1)
    assert _login(plant, email, "wrong password").status_code == 401  # the 6th failure: now 2 s
    assert int(_login(plant, email).headers["Retry-After"]) == 2
    plant.clock.now += timedelta(seconds=2)
    assert _login(plant, email).status_code == 200
    for _ in range(4):  # success forgot the account's failures: 4 free attempts again
        assert _login(plant, email, "wrong password").status_code == 401


def test_many_failures_from_one_address_slow_that_address():
    clock_now = [T0]
    lim = LoginLimiter(
        free_per_account=3, free_per_address=4, max_delay_address=60, clock=lambda: clock_now[0]
    )
    for i in range(4):
        assert lim.login(f"u{i}@x.kr", "wrong-wrong", "10.0.0.1").wait is None
    assert lim.login("new@x.kr", "wrong-wrong", "10.0.0.1").wait == 1  # the address waits
    assert lim.login("new@x.kr", "wrong-wrong", "10.0.0.2").wait is None  # another address does not
    clock_now[0] += timedelta(seconds=1)
    assert lim.login("new@x.kr", "wrong-wrong", "10.0.0.1").wait is None
    assert lim.login("new@x.kr", "wrong-wrong", "10.0.0.1").wait == 2
    with pytest.raises(ValueError):
        LoginLimiter(free_per_account=0)


def test_web_login_form_is_rate_limited_too(web_plant):
    plant = web_plant
    c = TestClient(plant.app)
    for i in range(6):
        page = c.get("/login")
        token = c.cookies.get("fc_login_csrf")
        assert page.status_code == 200
        r = c.post(
            "/login",
            data={"email": plant.emails["acme:owner"], "password": "nope-nope", "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == (401 if i < 5 else 429)
    assert "Retry-After" in r.headers and ("too many" in r.text.lower() or "너무 많" in r.text)


# -- stop reasons per firm ------------------------------------------------------------------------
REASONS = [
    {"code": "tool_break", "ko": "공구 파손", "en": "Tool breakage"},
    {"code": "waiting_crane", "ko": "크레인 대기", "en": "Waiting for crane"},
]


def test_firm_stop_reasons_are_configured_and_validated(plant):
    eng = plant.client("acme:engineer")
    got = eng.get("/api/settings/stop-reasons").json()
    assert got["default"] and "die_change" in [r["code"] for r in got["reasons"]]
    r = eng.put("/api/settings/stop-reasons", json={"reasons": REASONS})
    assert r.status_code == 200 and not r.json()["default"] and r.json()["reasons"] == REASONS
    # operators read the list; they may not change it
    op = plant.client("acme:operator")
    assert op.get("/api/settings/stop-reasons").json()["reasons"] == REASONS
    assert op.put("/api/settings/stop-reasons", json={"reasons": REASONS}).status_code == 403
    # beta still has the defaults
    assert plant.client("beta:owner").get("/api/settings/stop-reasons").json()["default"]
    # duplicate codes and empty labels: 422 naming the item and field
    dup = [*REASONS, {"code": "tool_break", "ko": "다시", "en": "again"}]
    r = eng.put("/api/settings/stop-reasons", json={"reasons": dup})
    assert r.status_code == 422
    assert (
        r.json()["detail"][0]["loc"] == ["body", "reasons", 2, "code"]
        and "duplicate" in r.json()["detail"][0]["msg"]
    )
    r = eng.put("/api/settings/stop-reasons", json={"reasons": [{"code": " ", "ko": "", "en": "x"}]})
    locs = [d["loc"] for d in r.json()["detail"]]
    assert r.status_code == 422 and locs == [["body", "reasons", 0, "code"], ["body", "reasons", 0, "ko"]]
    r = eng.put("/api/settings/stop-reasons", json={"reasons": []})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reasons"]
    assert eng.get("/api/settings/stop-reasons").json()["reasons"] == REASONS  # unchanged
    assert eng.delete("/api/settings/stop-reasons").json()["default"] is True


def test_the_tablet_screen_offers_the_firms_reasons(web_plant):
    plant = web_plant
    plant.clock.now = T0 + timedelta(hours=2, minutes=30)  # acme's machines are down
    eng = plant.client("acme:engineer")
    eng.put("/api/settings/stop-reasons", json={"reasons": REASONS})
    page = plant.client("acme:operator").get("/stops").text
    assert (
        'data-reason="tool_break"' in page and "공구 파손" in page and 'data-reason="die_change"' not in page
    )
    beta = plant.client("beta:operator").get("/stops").text
    assert 'data-reason="die_change"' in beta and "tool_break" not in beta
    op = plant.client("acme:operator")
    csrf = op.cookies.get("fc_csrf")
    m = "acme/s1/a1/l1/m1"
    r = op.post(
        "/stops", data={"machine": m, "reason": "die_change", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.headers["location"] == "/stops?err=not_allowed"  # not on acme's list any more
    r = op.post(
        "/stops", data={"machine": m, "reason": "tool_break", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.headers["location"].startswith("/stops?ok=")
    en = op.get("/downtime", cookies={"lang": "en"}).text
    assert "Tool breakage" in en


def test_settings_form_saves_lines_and_names_the_bad_line(web_plant):
    plant = web_plant
    eng = plant.client("acme:engineer")
    csrf = eng.cookies.get("fc_csrf")
    assert eng.get("/settings/stop-reasons").status_code == 200
    text = "# 코드 | 한국어 | English\ntool_break | 공구 파손 | Tool breakage\n\nwaiting_crane\t크레인 대기\tWaiting for crane\n"
    r = eng.post("/settings/stop-reasons", data={"reasons": text, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert eng.get("/api/settings/stop-reasons").json()["reasons"] == REASONS
    bad = "a | 가 | A\na | 나 | B\nonly two | fields\n"
    r = eng.post("/settings/stop-reasons", data={"reasons": bad, "csrf_token": csrf})
    assert r.status_code == 422 and "line 3" in r.text and "line 2" in r.text and "duplicate" in r.text
    assert eng.get("/api/settings/stop-reasons").json()["reasons"] == REASONS
    op = plant.client("acme:operator")
    r = op.post("/settings/stop-reasons", data={"reasons": text, "csrf_token": op.cookies.get("fc_csrf")})
    assert r.status_code == 403
    assert (
        eng.post("/settings/stop-reasons", data={"reasons": text, "csrf_token": "forged"}).status_code == 403
    )


# -- the accounts database -----------------------------------------------------------------------
def test_an_old_accounts_database_gains_the_new_columns(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(
        """CREATE TABLE firms (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, enterprises TEXT NOT NULL);
        CREATE TABLE users (id INTEGER PRIMARY KEY, firm_id INTEGER NOT NULL, email TEXT NOT NULL UNIQUE,
            display_name TEXT NOT NULL, role TEXT NOT NULL, password_hash TEXT NOT NULL);
        CREATE TABLE api_tokens (token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL,
            created TEXT NOT NULL);
        INSERT INTO firms VALUES (1, 'acme', '["acme"]');
        INSERT INTO users VALUES (1, 1, 'a@acme.kr', 'A', 'owner', 'x');"""
    )
    con.close()
    acc = Accounts(str(path))
    assert acc.user(1).active is True
    tok = acc.create_token(1, "t", T0)
    assert acc.token_user(tok, T0).id == 1 and acc.tokens(1)[0]["last_used"] == T0
    with pytest.raises(AccountError):
        acc.set_password(1, "short")
    acc.close()
