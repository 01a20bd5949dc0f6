"""Firms, users, sessions, API tokens, expert grants and the audit log, in a small SQLite database.

The accounts live beside the store: `<store>.accounts.sqlite` next to a DuckDB file, or a file
named on the command line for a PostgreSQL store (keeping them inside PostgreSQL is a known
limit for now, see docs/server.md). Passwords are hashed with argon2; session and API tokens
are random and stored only as SHA-256 hashes, so a copy of the database opens no doors.

A firm owns one or more ISA-95 enterprises (the first segment of a machine path): firm "acme"
with enterprise "acme" owns every machine `acme/...`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("owner", "engineer", "operator", "expert", "regional_analyst", "hub_admin")

_DDL = """
CREATE TABLE IF NOT EXISTS firms (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, enterprises TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, firm_id INTEGER NOT NULL REFERENCES firms(id),
    email TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL, role TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    id INTEGER PRIMARY KEY, firm_id INTEGER NOT NULL REFERENCES firms(id),
    expert_id INTEGER NOT NULL REFERENCES users(id), scope TEXT NOT NULL,
    starts TEXT NOT NULL, expires TEXT NOT NULL, revoked_at TEXT, created_by INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY, ts TEXT NOT NULL, user_id INTEGER NOT NULL, firm_id INTEGER NOT NULL,
    grant_id INTEGER, method TEXT NOT NULL, path TEXT NOT NULL, object TEXT NOT NULL,
    outcome TEXT NOT NULL
);
"""

SESSION_HOURS = 12


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Firm:
    id: int
    name: str
    enterprises: tuple[str, ...]


@dataclass(frozen=True)
class User:
    id: int
    firm_id: int
    email: str
    display_name: str
    role: str


@dataclass(frozen=True)
class Grant:
    id: int
    firm_id: int
    expert_id: int
    scope: tuple[str, ...]
    starts: datetime
    expires: datetime
    revoked_at: datetime | None
    created_by: int

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.starts <= now < self.expires

    def covers(self, machine_path: str) -> bool:
        """A scope entry is a machine path or a prefix of whole segments (a line, an area...)."""
        return any(machine_path == s or machine_path.startswith(s.rstrip("/") + "/") for s in self.scope)


class AccountError(ValueError):
    """A request the accounts database refuses (duplicate e-mail, unknown role, ...)."""


class Accounts:
    """The accounts database; thread-safe (one connection behind a lock).

    `hasher` defaults to argon2id with argon2-cffi's current recommended parameters; tests pass
    a cheaper one.
    """

    def __init__(self, path: str = ":memory:", hasher: PasswordHasher | None = None):
        self.path = str(path)
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA foreign_keys = ON")
        self._lock = threading.RLock()
        self._hasher = hasher or PasswordHasher()
        with self._lock:
            self._con.executescript(_DDL)

    def close(self) -> None:
        self._con.close()

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def _exec(self, sql: str, params: tuple = ()) -> int:
        with self._lock:
            return self._con.execute(sql, params).lastrowid or 0

    # -- firms -----------------------------------------------------------------------------
    def create_firm(self, name: str, enterprises: list[str]) -> Firm:
        if any(not e or "/" in e for e in enterprises):
            raise AccountError("enterprise names must be non-empty and without '/'")
        taken = {e for f in self.firms() for e in f.enterprises}
        clash = sorted(set(enterprises) & taken)
        if clash:
            raise AccountError(f"enterprise already owned by another firm: {', '.join(clash)}")
        try:
            fid = self._exec(
                "INSERT INTO firms (name, enterprises) VALUES (?, ?)", (name, json.dumps(enterprises))
            )
        except sqlite3.IntegrityError:
            raise AccountError(f"firm {name!r} exists") from None
        return Firm(fid, name, tuple(enterprises))

    def firms(self) -> list[Firm]:
        return [Firm(i, n, tuple(json.loads(e))) for i, n, e in self._all("SELECT * FROM firms ORDER BY id")]

    def firm(self, firm_id: int) -> Firm | None:
        return next((f for f in self.firms() if f.id == firm_id), None)

    def firm_by_name(self, name: str) -> Firm | None:
        return next((f for f in self.firms() if f.name == name), None)

    # -- users -----------------------------------------------------------------------------
    def create_user(self, firm_id: int, email: str, display_name: str, role: str, password: str) -> User:
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if len(password) < 8:
            raise AccountError("password must have at least 8 characters")
        if self.firm(firm_id) is None:
            raise AccountError(f"no firm {firm_id}")
        email = email.strip().lower()
        try:
            uid = self._exec(
                "INSERT INTO users (firm_id, email, display_name, role, password_hash) VALUES (?, ?, ?, ?, ?)",
                (firm_id, email, display_name, role, self._hasher.hash(password)),
            )
        except sqlite3.IntegrityError:
            raise AccountError(f"user {email!r} exists") from None
        return User(uid, firm_id, email, display_name, role)

    def _user_rows(self, where: str, params: tuple) -> list[User]:
        sql = f"SELECT id, firm_id, email, display_name, role FROM users {where} ORDER BY id"
        return [User(*r) for r in self._all(sql, params)]

    def user(self, user_id: int) -> User | None:
        rows = self._user_rows("WHERE id = ?", (user_id,))
        return rows[0] if rows else None

    def user_by_email(self, email: str) -> User | None:
        rows = self._user_rows("WHERE email = ?", (email.strip().lower(),))
        return rows[0] if rows else None

    def users(self, firm_id: int | None = None) -> list[User]:
        if firm_id is None:
            return self._user_rows("", ())
        return self._user_rows("WHERE firm_id = ?", (firm_id,))

    def authenticate(self, email: str, password: str) -> User | None:
        rows = self._all("SELECT id, password_hash FROM users WHERE email = ?", (email.strip().lower(),))
        if not rows:
            self._hasher.hash(password)  # same work whether or not the user exists
            return None
        uid, h = rows[0]
        try:
            self._hasher.verify(h, password)
        except (VerificationError, InvalidHashError):
            return None
        return self.user(uid)

    # -- sessions and tokens ---------------------------------------------------------------
    def create_session(self, user_id: int, now: datetime) -> tuple[str, str]:
        """A new session: returns (session token, CSRF token); only the session hash is kept."""
        from datetime import timedelta

        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        self._exec(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
            (_hash_token(token), user_id, csrf, _iso(now), _iso(now + timedelta(hours=SESSION_HOURS))),
        )
        return token, csrf

    def session(self, token: str, now: datetime) -> tuple[User, str] | None:
        rows = self._all(
            "SELECT user_id, csrf, expires FROM sessions WHERE token_hash = ?", (_hash_token(token),)
        )
        if not rows or _dt(rows[0][2]) <= now:
            return None
        user = self.user(rows[0][0])
        return (user, rows[0][1]) if user else None

    def end_session(self, token: str) -> None:
        self._exec("DELETE FROM sessions WHERE token_hash = ?", (_hash_token(token),))

    def create_token(self, user_id: int, name: str, now: datetime) -> str:
        token = "fct_" + secrets.token_urlsafe(32)
        self._exec(
            "INSERT INTO api_tokens VALUES (?, ?, ?, ?)", (_hash_token(token), user_id, name, _iso(now))
        )
        return token

    def token_user(self, token: str) -> User | None:
        rows = self._all("SELECT user_id FROM api_tokens WHERE token_hash = ?", (_hash_token(token),))
        return self.user(rows[0][0]) if rows else None

    # -- grants ----------------------------------------------------------------------------
    def create_grant(
        self,
        firm_id: int,
        expert_id: int,
        scope: list[str],
        starts: datetime,
        expires: datetime,
        created_by: int,
    ) -> Grant:
        if not starts < expires:
            raise AccountError("starts must be before expires")
        if not scope:
            raise AccountError("scope must name at least one machine or line")
        gid = self._exec(
            "INSERT INTO grants (firm_id, expert_id, scope, starts, expires, created_by) VALUES (?, ?, ?, ?, ?, ?)",
            (firm_id, expert_id, json.dumps(scope), _iso(starts), _iso(expires), created_by),
        )
        return self.grant(gid)  # type: ignore[return-value]

    def _grants(self, where: str, params: tuple) -> list[Grant]:
        rows = self._all(f"SELECT * FROM grants {where} ORDER BY id", params)
        return [
            Grant(i, f, x, tuple(json.loads(s)), _dt(a), _dt(b), _dt(r), c)  # type: ignore[arg-type]
            for i, f, x, s, a, b, r, c in rows
        ]

    def grant(self, grant_id: int) -> Grant | None:
        rows = self._grants("WHERE id = ?", (grant_id,))
        return rows[0] if rows else None

    def grants_of_firm(self, firm_id: int) -> list[Grant]:
        return self._grants("WHERE firm_id = ?", (firm_id,))

    def grants_of_expert(self, expert_id: int) -> list[Grant]:
        return self._grants("WHERE expert_id = ?", (expert_id,))

    def revoke_grant(self, grant_id: int, now: datetime) -> Grant | None:
        self._exec(
            "UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (_iso(now), grant_id)
        )
        return self.grant(grant_id)

    # -- audit -----------------------------------------------------------------------------
    def audit(
        self,
        now: datetime,
        user_id: int,
        firm_id: int,
        grant_id: int | None,
        method: str,
        path: str,
        obj: str,
        outcome: str,
    ) -> None:
        self._exec(
            "INSERT INTO audit_log (ts, user_id, firm_id, grant_id, method, path, object, outcome)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_iso(now), user_id, firm_id, grant_id, method, path, obj, outcome),
        )

    def audit_log(self, firm_id: int, limit: int = 1000) -> list[dict]:
        rows = self._all(
            "SELECT a.id, a.ts, a.user_id, u.email, a.grant_id, a.method, a.path, a.object, a.outcome"
            " FROM audit_log a JOIN users u ON u.id = a.user_id WHERE a.firm_id = ? ORDER BY a.id DESC LIMIT ?",
            (firm_id, limit),
        )
        keys = ("id", "ts", "user_id", "user_email", "grant_id", "method", "path", "object", "outcome")
        return [dict(zip(keys, r, strict=True)) for r in rows]
