"""Issue 20, accounts: the login limiter shared by every worker (atomic check and count, soft
delays, trusted proxies), the security log of admin acts and logins, password rules, changing
one's own password, resets that revoke tokens, "log out everywhere", a 409 that reveals no other
firm's user and a private accounts file; on the SQLite file and on PostgreSQL."""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from starlette.requests import Request
from test_server_plant import PASSWORD, T0, accounts_db_for, make_plant
from typer.testing import CliRunner

from factory_commons.accounts import Accounts, PasswordError
from factory_commons.accounts.passwords import check_password
from factory_commons.cli import app as cli_app
from factory_commons.server import create_app
from factory_commons.server.ratelimit import LoginLimiter, client_address

CHEAP = dict(time_cost=1, memory_cost=1024, parallelism=1)


class CountingHasher(PasswordHasher):
    """argon2 that counts the password checks (the real hasher, counted)."""

    def __init__(self) -> None:
        super().__init__(**CHEAP)
        self.checks = 0
        self._lock = threading.Lock()

    def verify(self, hash, password):  # noqa: A002
        with self._lock:
            self.checks += 1
        return super().verify(hash, password)


@pytest.fixture
def target(request, backend, tmp_path) -> str:
    """An accounts database several workers open: a SQLite file, or a PostgreSQL schema."""
    if backend == "postgresql":
        return accounts_db_for(request, backend)
    return str(tmp_path / "factory.duckdb.accounts.sqlite")


@pytest.fixture
def plant(request, store_factory, backend):
    plant = make_plant(store_factory(), accounts_db=accounts_db_for(request, backend))
    yield plant
    plant.accounts.close()


def _login(app, email, password=PASSWORD, client=("127.0.0.1", 5000), headers=None):
    return TestClient(app, client=client).post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers or {}
    )


# -- 1. the login limiter ------------------------------------------------------------------------
def test_sixty_parallel_guesses_on_six_workers_get_at_most_five_password_checks(target):
    """Today: 44 checks of 60 (the count was per process and not atomic)."""
    setup = Accounts(target, hasher=PasswordHasher(**CHEAP))
    firm = setup.create_firm("acme", ["acme"])
    setup.create_user(firm.id, "kim@acme.kr", "Kim", "owner", PASSWORD)
    hashers = [CountingHasher() for _ in range(6)]
    workers = [Accounts(target, hasher=h) for h in hashers]
    limiters = [LoginLimiter(w, clock=lambda: T0) for w in workers]  # time stands still

    def guess(i: int):
        return limiters[i % 6].login("kim@acme.kr", f"guess-{i}", f"10.0.{i}.1")  # 60 addresses

    with ThreadPoolExecutor(30) as pool:
        results = list(pool.map(guess, range(60)))
    checked = sum(h.checks for h in hashers)
    assert checked <= 5 and sum(r.wait is None for r in results) == checked
    assert all(r.user is None for r in results)
    assert {r.wait for r in results if r.wait is not None} == {1}
    for w in (*workers, setup):
        w.close()


def test_sixty_parallel_guesses_from_one_address_get_at_most_ten_checks(target):
    setup = Accounts(target, hasher=PasswordHasher(**CHEAP))
    firm = setup.create_firm("acme", ["acme"])
    for i in range(60):
        setup.create_user(firm.id, f"u{i}@acme.kr", f"U{i}", "operator", PASSWORD)
    hashers = [CountingHasher() for _ in range(4)]
    limiters = [LoginLimiter(Accounts(target, hasher=h), clock=lambda: T0) for h in hashers]
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(lambda i: limiters[i % 4].login(f"u{i}@acme.kr", "guess-x1", "10.9.9.9"), range(60)))
    assert sum(h.checks for h in hashers) <= 10
    for lim in limiters:
        lim.accounts.close()
    setup.close()


def test_a_stranger_cannot_lock_a_user_out_for_long(plant):
    """Today: 5 wrong passwords from anywhere locked the owner out for 15 minutes."""
    email = plant.emails["acme:owner"]
    for i in range(30):  # an attacker, many tries from one address
        plant.clock.now += timedelta(seconds=31)
        _login(plant.app, email, f"wrong-{i}", client=("203.0.113.9", 1))
    r = _login(plant.app, email, client=("198.51.100.7", 2))  # the owner, from the office
    assert r.status_code in (200, 429)
    if r.status_code == 429:
        assert int(r.headers["Retry-After"]) <= 30
        plant.clock.now += timedelta(seconds=int(r.headers["Retry-After"]))
        r = _login(plant.app, email, client=("198.51.100.7", 2))
    assert r.status_code == 200
    # the attacker's own address waits much longer
    attacker = _login(plant.app, plant.emails["beta:owner"], client=("203.0.113.9", 1))
    assert attacker.status_code == 429 and int(attacker.headers["Retry-After"]) > 30


def test_a_forged_forwarded_for_changes_nothing_without_a_trusted_proxy(plant):
    """Today: a forged X-Forwarded-For from loopback reset the counter (uvicorn trusted it)."""
    email = plant.emails["acme:owner"]
    for i in range(10):
        _login(plant.app, plant.emails["acme:engineer"], "wrong", headers={"X-Forwarded-For": f"10.1.1.{i}"})
        _login(plant.app, email, "wrong", headers={"X-Forwarded-For": f"10.2.2.{i}"})
    r = _login(plant.app, "nobody@acme.example", "wrong", headers={"X-Forwarded-For": "10.3.3.3"})
    assert r.status_code == 429  # one address (the peer) for all: 20 failures


def test_behind_a_trusted_proxy_users_are_told_apart(plant):
    limiter = LoginLimiter(trusted_proxies="127.0.0.1, 10.0.0.0/8", clock=plant.clock)
    app = create_app(plant.store, plant.accounts, clock=plant.clock, login_limiter=limiter)
    for i in range(12):  # one user behind the proxy guesses many accounts
        _login(app, f"x{i}@nowhere.example", "wrong", headers={"X-Forwarded-For": "203.0.113.5, 10.0.0.2"})
    blocked = _login(app, "y@nowhere.example", "wrong", headers={"X-Forwarded-For": "203.0.113.5"})
    assert blocked.status_code == 429
    other = _login(app, plant.emails["acme:owner"], headers={"X-Forwarded-For": "198.51.100.1"})
    assert other.status_code == 200  # another user behind the same proxy is not slowed
    events = plant.accounts.security_log(None, 100, "login_ok")
    assert events[0]["address"] == "198.51.100.1"


def test_client_address_honours_the_header_only_from_trusted_proxies():
    def req(peer: str, xff: str | None) -> Request:
        headers = [(b"x-forwarded-for", xff.encode())] if xff else []
        return Request({"type": "http", "client": (peer, 1), "headers": headers})

    trusted = LoginLimiter(trusted_proxies="10.0.0.1").trusted
    assert client_address(req("127.0.0.1", "1.2.3.4"), ()) == "127.0.0.1"
    assert client_address(req("127.0.0.1", "1.2.3.4"), trusted) == "127.0.0.1"
    assert client_address(req("10.0.0.1", "6.6.6.6, 1.2.3.4"), trusted) == "1.2.3.4"  # right-most
    assert client_address(req("10.0.0.1", "garbage"), trusted) == "10.0.0.1"
    with pytest.raises(ValueError, match="FC_TRUSTED_PROXIES.*'not-an-ip'"):
        LoginLimiter(trusted_proxies="10.0.0.1, not-an-ip")


def test_the_server_does_not_let_uvicorn_trust_forwarded_headers():
    import inspect

    from factory_commons.server import cli

    src = inspect.getsource(cli)
    assert src.count("uvicorn.run(") == src.count("proxy_headers=False")


# -- 2. the security log -------------------------------------------------------------------------
def test_every_admin_act_and_login_is_in_the_security_log(plant):
    owner, admin = plant.client("acme:owner"), plant.client("hub_admin")
    eng = plant.accounts.user_by_email(plant.emails["acme:engineer"])
    assert owner.patch(f"/api/users/{eng.id}", json={"role": "operator"}).status_code == 200
    assert owner.post(f"/api/users/{eng.id}/password", json={"password": "Nieuw-wacht-77"}).status_code == 204
    new = owner.post(
        "/api/users",
        json={
            "email": "new@acme.example",
            "display_name": "New",
            "role": "operator",
            "password": "Tulip-garden-42",
        },
    ).json()
    assert owner.delete(f"/api/users/{new['id']}").status_code == 204
    token = owner.post("/api/auth/tokens", json={"name": "script"}).json()["token"]
    tid = owner.get("/api/auth/tokens").json()[0]["id"]
    assert owner.delete(f"/api/auth/tokens/{tid}").status_code == 204
    assert token
    reasons = {"reasons": [{"code": "tool", "ko": "공구", "en": "Tool"}]}
    assert owner.put("/api/settings/stop-reasons", json=reasons).status_code == 200
    g = owner.post(
        "/api/grants",
        json={"expert_email": plant.emails["expert"], "scope": ["acme"], "expires": "2099-01-01T00:00:00Z"},
    ).json()
    assert owner.post(f"/api/grants/{g['id']}/revoke").status_code == 200
    assert _login(plant.app, plant.emails["acme:operator"], "wrong").status_code == 401

    log = owner.get("/api/security-log").json()
    events = [e["event"] for e in log]
    for ev in (
        "role_changed", "password_reset", "user_created", "user_deleted", "token_created",
        "token_revoked", "stop_reasons_changed", "grant_created", "grant_revoked", "login_failed", "login_ok",
    ):  # fmt: skip
        assert ev in events, ev
    role = next(e for e in log if e["event"] == "role_changed")
    assert role["actor"] == plant.emails["acme:owner"] and role["detail"] == "engineer -> operator"
    assert role["target"] == plant.emails["acme:engineer"]
    # another firm's owner sees none of it, the hub admin sees all, an engineer nothing
    beta = plant.client("beta:owner").get("/api/security-log").json()
    assert all(e["firm_id"] == plant.accounts.firm_by_name("beta").id for e in beta)
    assert not any(e["target"].endswith("@acme.example") for e in beta)
    assert len(admin.get("/api/security-log").json()) > len(log)
    assert plant.client("acme:operator").get("/api/security-log").status_code == 403
    only = owner.get("/api/security-log", params={"event": "role_changed"}).json()
    assert [e["event"] for e in only] == ["role_changed"]


def test_throttled_logins_and_cli_acts_are_logged(plant, tmp_path):
    email = plant.emails["beta:engineer"]
    for _ in range(7):
        _login(plant.app, email, "wrong")
    beta = plant.accounts.firm_by_name("beta").id
    events = [e["event"] for e in plant.accounts.security_log(beta)]
    assert events.count("login_failed") == 5 and events.count("login_delayed") == 1
    plant.accounts.set_stop_reasons(beta, None)  # the command line: no user
    last = plant.accounts.security_log(beta, 1)[0]
    assert (last["event"], last["actor"], last["actor_id"]) == ("stop_reasons_changed", "cli", None)


# -- 3. passwords --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Password123!", "common"),
        ("qwertyuiop", "sequence"),
        ("aaaaaaaaaa", "sequence"),
        ("kim@acme.kr", "e-mail"),
        ("Minsu-2024-pw", "e-mail"),
        ("dkssudgktpdy1", "common"),
        ("short1", "at least 8"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, why):
    with pytest.raises(PasswordError) as e:
        check_password(password, "kim@acme.kr", "Kim Minsu")
    text = str(e.value).lower()
    assert why.split()[0] in text or why in text
    assert " / " in str(e.value)  # Korean / English


def test_the_minimum_length_is_a_setting(monkeypatch):
    monkeypatch.setenv("FC_PASSWORD_MIN_LENGTH", "14")
    with pytest.raises(PasswordError, match="14"):
        check_password("Tulip-garden4", "kim@acme.kr")
    check_password("Tulip-garden-42", "kim@acme.kr")


def test_the_api_refuses_a_common_password_naming_the_field(plant):
    owner = plant.client("acme:owner")
    r = owner.post(
        "/api/users",
        json={"email": "n@acme.example", "display_name": "N", "role": "operator", "password": "iloveyou2024"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "password"]
    eng = plant.accounts.user_by_email(plant.emails["acme:engineer"]).id
    assert owner.post(f"/api/users/{eng}/password", json={"password": "password1!"}).status_code == 422


def test_users_change_their_own_password_with_the_old_one(plant):
    email = plant.emails["acme:engineer"]
    me, other = plant.client("acme:engineer"), plant.client("acme:engineer")
    token = me.post("/api/auth/tokens", json={"name": "s"}).json()["token"]
    bad = me.post("/api/auth/password", json={"old_password": "not mine", "new_password": "Maple-river-93"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "old_password"]
    weak = me.post("/api/auth/password", json={"old_password": PASSWORD, "new_password": "qwerty123"})
    assert weak.status_code == 422 and weak.json()["detail"][0]["loc"] == ["body", "new_password"]
    ok = me.post("/api/auth/password", json={"old_password": PASSWORD, "new_password": "Maple-river-93"})
    assert ok.status_code == 204
    assert me.get("/api/auth/me").status_code == 200  # this session stays
    assert other.get("/api/auth/me").status_code == 401  # the others end
    bearer = TestClient(plant.app, headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/auth/me").status_code == 401  # tokens die with the old password
    assert _login(plant.app, email).status_code == 401
    assert _login(plant.app, email, "Maple-river-93").status_code == 200
    assert "password_changed" in [e["event"] for e in plant.accounts.security_log(None)]


def test_a_password_reset_revokes_sessions_and_api_tokens(plant):
    """Today: API tokens outlived a reset."""
    victim = plant.client("acme:engineer")
    token = victim.post("/api/auth/tokens", json={"name": "stolen"}).json()["token"]
    bearer = TestClient(plant.app, headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/auth/me").status_code == 200
    eng = plant.accounts.user_by_email(plant.emails["acme:engineer"]).id
    r = plant.client("acme:owner").post(f"/api/users/{eng}/password", json={"password": "Fresh-start-2026"})
    assert r.status_code == 204
    assert bearer.get("/api/auth/me").status_code == 401
    assert victim.get("/api/auth/me").status_code == 401


def test_log_out_everywhere_ends_the_other_sessions(plant):
    a, b, c = (plant.client("acme:operator") for _ in range(3))
    r = a.post("/api/auth/logout-all")
    assert r.status_code == 200 and r.json() == {"ended": 2}
    assert a.get("/api/auth/me").status_code == 200
    assert b.get("/api/auth/me").status_code == 401 and c.get("/api/auth/me").status_code == 401


def test_cli_change_password_needs_the_old_one(tmp_path):
    path = str(tmp_path / "f.duckdb.accounts.sqlite")
    acc = Accounts(path, hasher=PasswordHasher(**CHEAP))
    acc.create_user(acc.create_firm("acme", ["acme"]).id, "kim@acme.kr", "Kim", "owner", PASSWORD)
    acc.close()
    run = CliRunner().invoke
    base = ["users", "change-password", "--email", "kim@acme.kr", "--accounts", path, "--password-stdin"]
    bad = run(cli_app, base, input="wrong one\nMaple-river-93\n")
    assert bad.exit_code == 2 and "current password is wrong" in " ".join(bad.output.split())
    weak = run(cli_app, base, input=f"{PASSWORD}\nletmein2024\n")
    assert weak.exit_code == 2 and "too common" in " ".join(weak.output.split())
    assert run(cli_app, base, input=f"{PASSWORD}\nMaple-river-93\n").exit_code == 0
    acc = Accounts(path, hasher=PasswordHasher(**CHEAP))
    assert acc.authenticate("kim@acme.kr", "Maple-river-93") is not None
    acc.close()


# -- 6. small ------------------------------------------------------------------------------------
def test_a_409_does_not_reveal_an_e_mail_of_another_firm(plant):
    """Today: "user 'owner@acme.example' exists" told beta's owner that acme has this user."""
    beta = plant.client("beta:owner")

    def create(email: str):
        body = {"email": email, "display_name": "X", "role": "operator", "password": "Tulip-garden-42"}
        return beta.post("/api/users", json=body)

    foreign, own = create(plant.emails["acme:owner"]), create(plant.emails["beta:engineer"])
    assert foreign.status_code == own.status_code == 409
    assert foreign.json() == own.json()
    assert "acme" not in foreign.text


def test_the_accounts_file_is_private(tmp_path):
    """Today: created with the umask (0644: world-readable password hashes)."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "factory.duckdb.accounts.sqlite"
        acc = Accounts(str(path), hasher=PasswordHasher(**CHEAP))
        acc.create_firm("acme", ["acme"])
        files = [p for p in tmp_path.iterdir() if p.name.startswith(path.name)]
        assert {p.name for p in files} >= {path.name, path.name + "-wal", path.name + "-shm"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
        acc.close()
        os.chmod(path, 0o644)  # an old file is made private when opened
        Accounts(str(path)).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


# -- 4. tokens that expire and are scoped; idle sessions -----------------------------------------
def test_api_tokens_expire_after_90_days_by_default_or_as_asked(plant, monkeypatch):
    """Today: tokens lived for ever."""
    owner = plant.client("acme:owner")
    assert owner.post("/api/auth/tokens", json={"name": "d", "days": -1}).status_code == 422
    default = owner.post("/api/auth/tokens", json={"name": "a"}).json()["token"]
    week = owner.post("/api/auth/tokens", json={"name": "b", "days": 7}).json()["token"]
    listed = {t["name"]: t for t in owner.get("/api/auth/tokens").json()}
    assert listed["a"]["expires"] and listed["b"]["expires"]

    def works(token: str) -> bool:
        return (
            TestClient(plant.app, headers={"Authorization": f"Bearer {token}"})
            .get("/api/auth/me")
            .status_code
            == 200
        )

    assert works(default) and works(week)
    plant.clock.now += timedelta(days=8)
    assert works(default) and not works(week)
    plant.clock.now += timedelta(days=83)
    assert not works(default)
    monkeypatch.setenv("FC_TOKEN_DAYS", "0")  # the setting: no end
    forever = plant.client("acme:owner").post("/api/auth/tokens", json={"name": "c"}).json()["token"]
    plant.clock.now += timedelta(days=4000)
    assert works(forever)


def test_a_read_only_token_cannot_write(plant):
    owner = plant.client("acme:owner")
    token = owner.post("/api/auth/tokens", json={"name": "report", "scope": "read"}).json()["token"]
    bearer = TestClient(plant.app, headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/machines").status_code == 200
    r = bearer.put("/api/settings/stop-reasons", json={"reasons": [{"code": "x", "ko": "엑스", "en": "x"}]})
    assert r.status_code == 403
    assert bearer.post("/api/auth/tokens", json={"name": "escalate"}).status_code == 403
    assert [t["scope"] for t in owner.get("/api/auth/tokens").json()] == ["read"]


def test_an_idle_session_ends(plant, monkeypatch):
    """Today: a session lived its 12 hours whether used or not."""
    c = plant.client("acme:operator")
    plant.clock.now += timedelta(minutes=100)
    assert c.get("/api/auth/me").status_code == 200  # used: the idle time starts again
    plant.clock.now += timedelta(minutes=100)
    assert c.get("/api/auth/me").status_code == 200
    plant.clock.now += timedelta(minutes=121)
    assert c.get("/api/auth/me").status_code == 401  # idle longer than 2 h
    monkeypatch.setenv("FC_SESSION_IDLE_MINUTES", "10")
    c = plant.client("acme:operator")
    plant.clock.now += timedelta(minutes=11)
    assert c.get("/api/auth/me").status_code == 401


# -- 5. TOTP second factor -----------------------------------------------------------------------
def test_totp_enrol_confirm_and_login_asks_for_the_code(plant):
    import pyotp

    email = plant.emails["acme:engineer"]
    me = plant.client("acme:engineer")
    secret = me.post("/api/auth/totp").json()["secret"]
    assert _login(plant.app, email).status_code == 200  # not on until confirmed
    totp = pyotp.TOTP(secret)
    bad = me.post("/api/auth/totp/confirm", json={"code": "000000"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "code"]
    now = plant.clock()
    assert me.post("/api/auth/totp/confirm", json={"code": totp.at(now)}).status_code == 204
    r = _login(plant.app, email)  # the password alone is not enough now
    assert r.status_code == 401 and "TOTP" in r.json()["detail"]
    plant.clock.now += timedelta(seconds=30)
    code = totp.at(plant.clock())
    ok = TestClient(plant.app, client=("127.0.0.1", 1)).post(
        "/api/auth/login", json={"email": email, "password": PASSWORD, "code": code}
    )
    assert ok.status_code == 200
    again = TestClient(plant.app, client=("127.0.0.1", 1)).post(
        "/api/auth/login", json={"email": email, "password": PASSWORD, "code": code}
    )
    assert again.status_code == 401  # a code is good once
    off = plant.client("acme:owner")  # switching it off needs the user's own password
    assert me.post("/api/auth/totp/off", json={"password": "wrong"}).status_code == 422
    assert me.post("/api/auth/totp/off", json={"password": PASSWORD}).status_code == 204
    assert _login(plant.app, email).status_code == 200
    events = [e["event"] for e in off.get("/api/security-log").json()]
    assert "totp_enabled" in events and "totp_disabled" in events


def test_the_login_form_asks_for_the_code_too(plant):
    import pyotp

    email = plant.emails["acme:operator"]
    me = plant.client("acme:operator")
    totp = pyotp.TOTP(me.post("/api/auth/totp").json()["secret"])
    assert me.post("/api/auth/totp/confirm", json={"code": totp.at(plant.clock())}).status_code == 204
    plant.clock.now += timedelta(seconds=30)
    c = TestClient(plant.app)
    page = c.get("/login")
    assert 'name="code"' in page.text and ("Second-factor" in page.text or "2단계" in page.text)
    form = {"email": email, "password": PASSWORD, "csrf_token": c.cookies.get("fc_login_csrf"), "next": "/"}
    assert c.post("/login", data=form, follow_redirects=False).status_code == 401
    c.get("/login")
    form["csrf_token"] = c.cookies.get("fc_login_csrf")
    r = c.post("/login", data={**form, "code": totp.at(plant.clock())}, follow_redirects=False)
    assert r.status_code == 303 and c.get("/api/auth/me").status_code == 200
