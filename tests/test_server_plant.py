"""A two-firm plant behind the API, shared by the server tests: acme and beta, an outside expert."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from factory_commons.accounts import Accounts
from factory_commons.model import Machine, PartCount, StateChange
from factory_commons.server import create_app
from factory_commons.store import Store

T0 = datetime(2024, 3, 4, tzinfo=UTC)
PASSWORD = "correct horse 1"
A1, A2, A3 = "acme/s1/a1/l1/m1", "acme/s1/a1/l1/m2", "acme/s1/a1/l2/m3"
B1 = "beta/s1/a1/l1/m1"


@dataclass
class Clock:
    now: datetime = T0 + timedelta(days=1)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Plant:
    store: Store
    accounts: Accounts
    clock: Clock
    app: object
    emails: dict[str, str] = field(default_factory=dict)  # "acme:owner" -> e-mail

    def client(self, who: str) -> TestClient:
        """A client logged in (session cookie) as `who` ("acme:owner", "expert", ...)."""
        c = TestClient(self.app)
        r = c.post("/api/auth/login", json={"email": self.emails[who], "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    def bearer(self, who: str) -> TestClient:
        """A client with an API token of `who` and no cookies."""
        user = self.accounts.user_by_email(self.emails[who])
        token = self.accounts.create_token(user.id, "test", self.clock())
        return TestClient(self.app, headers={"Authorization": f"Bearer {token}"})


def accounts_db_for(request, backend: str) -> str:
    """In-memory SQLite for DuckDB; a fresh accounts schema in the test database for PostgreSQL."""
    if backend != "postgresql":
        return ":memory:"
    import uuid

    return f"{request.getfixturevalue('pg_url')}?schema=a{uuid.uuid4().hex[:12]}"


def fill(store: Store) -> None:
    store.register_machines([Machine(path=p) for p in (A1, A2, A3, B1)])
    rows = []
    for p in (A1, A2, A3, B1):
        rows += [
            StateChange(ts=T0, machine=p, state="running"),
            StateChange(ts=T0 + timedelta(hours=2), machine=p, state="unplanned_down"),
            StateChange(ts=T0 + timedelta(hours=3), machine=p, state="running"),
            PartCount(ts=T0 + timedelta(hours=1), machine=p, good=10, scrap=1),
        ]
    store.write(rows)


def make_plant(
    store: Store,
    roles: tuple[str, ...] = ("owner", "engineer", "operator", "regional_analyst"),
    accounts_db: str = ":memory:",
) -> Plant:
    """The plant on `store`, with its accounts in `accounts_db` (SQLite path or PostgreSQL URL)."""
    fill(store)
    accounts = Accounts(accounts_db, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    clock = Clock()
    plant = Plant(store, accounts, clock, create_app(store, accounts, clock=clock))
    for name in ("acme", "beta"):
        firm = accounts.create_firm(name, [name])
        for role in roles:
            email = f"{role}@{name}.example"
            accounts.create_user(firm.id, email, f"{name} {role}", role, PASSWORD)
            plant.emails[f"{name}:{role}"] = email
    hub = accounts.create_firm("hub", [])
    accounts.create_user(hub.id, "expert@uni.example", "김박사", "expert", PASSWORD)
    accounts.create_user(hub.id, "expert2@uni.example", "이박사", "expert", PASSWORD)
    accounts.create_user(hub.id, "admin@hub.example", "hub admin", "hub_admin", PASSWORD)
    plant.emails["expert"] = "expert@uni.example"
    plant.emails["expert2"] = "expert2@uni.example"
    plant.emails["hub_admin"] = "admin@hub.example"
    return plant
