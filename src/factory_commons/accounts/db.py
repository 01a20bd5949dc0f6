"""Firms, users, sessions, API tokens, expert grants and the audit log, in a small SQLite database.

The accounts live beside the store: a SQLite file `<store>.accounts.sqlite` next to a DuckDB
file, and the schema `fc_accounts` (or `<schema>_accounts` for a URL with `?schema=NAME`) of
the same PostgreSQL database for a PostgreSQL store. Passwords are hashed with argon2; session and API tokens
are random and stored only as SHA-256 hashes, so a copy of the database opens no doors.

A firm owns one or more ISA-95 enterprises (the first segment of a machine path): firm "acme"
with enterprise "acme" owns every machine `acme/...`.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..i18n import Catalog
from .errors import AccountError, LastOwnerError, PasswordError, WrongPassword
from .passwords import check_password, security_text

ACCOUNT_TEXTS = Catalog("accounts")


def accounts_text(key: str, **values) -> str:
    """A text of the `accounts` catalog in both languages ("Korean / English"), `{name}` fields filled."""
    text = ACCOUNT_TEXTS.both(key, " / ")
    return text.format(**values) if values else text


ROLES = ("owner", "engineer", "operator", "expert", "regional_analyst", "hub_admin")

_DDL = """
CREATE TABLE IF NOT EXISTS firms (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, enterprises TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, firm_id INTEGER NOT NULL REFERENCES firms(id),
    email TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL, role TEXT NOT NULL,
    password_hash TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL, created TEXT NOT NULL, last_used TEXT
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
CREATE TABLE IF NOT EXISTS firm_settings (
    firm_id INTEGER PRIMARY KEY REFERENCES firms(id), stop_reasons TEXT
);
CREATE TABLE IF NOT EXISTS login_throttle (
    key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_failure DOUBLE PRECISION NOT NULL,
    next_allowed DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS email_checks (
    token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), expires TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS security_log (
    id INTEGER PRIMARY KEY, ts TEXT NOT NULL, firm_id INTEGER, actor_id INTEGER, actor TEXT NOT NULL,
    event TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL, address TEXT
);
"""

#: columns added after the first release: (table, column, declaration), added when missing
_ADDED_COLUMNS = (
    ("users", "active", "INTEGER NOT NULL DEFAULT 1"),
    ("api_tokens", "last_used", "TEXT"),
    ("api_tokens", "expires", "TEXT"),
    ("api_tokens", "scope", "TEXT NOT NULL DEFAULT 'write'"),
    ("sessions", "last_seen", "TEXT"),
    ("users", "totp_secret", "TEXT"),
    ("users", "totp_on", "INTEGER NOT NULL DEFAULT 0"),
    ("users", "totp_last", "INTEGER NOT NULL DEFAULT 0"),
)

#: API token scopes: `read` tokens may only read (GET); `write` tokens act as their user
TOKEN_SCOPES = ("read", "write")
#: settings: days an API token lives by default (0: no end), minutes a session may sit idle
TOKEN_DAYS_ENV, DEFAULT_TOKEN_DAYS = "FC_TOKEN_DAYS", 90
SESSION_IDLE_ENV, DEFAULT_SESSION_IDLE_MINUTES = "FC_SESSION_IDLE_MINUTES", 120


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return max(0, int(raw)) if raw else default
    except ValueError:
        raise AccountError(f"{name}: not a whole number: {raw!r}") from None


def token_days() -> int:
    """Days a new API token lives when none is given (setting FC_TOKEN_DAYS; 0: no end)."""
    return _setting(TOKEN_DAYS_ENV, DEFAULT_TOKEN_DAYS)


def session_idle_minutes() -> int:
    """Minutes a session may go unused before it ends (setting FC_SESSION_IDLE_MINUTES; 0: no limit)."""
    return _setting(SESSION_IDLE_ENV, DEFAULT_SESSION_IDLE_MINUTES)


#: the events of the security log (`Accounts.log_event`, `security_log`): admin acts and logins
EVENTS = (
    "login_ok",
    "login_failed",
    "login_delayed",
    "user_created",
    "user_deleted",
    "role_changed",
    "user_renamed",
    "user_deactivated",
    "user_activated",
    "password_reset",
    "password_changed",
    "token_created",
    "token_revoked",
    "grant_created",
    "grant_revoked",
    "stop_reasons_changed",
    "firm_created",
    "totp_enabled",
    "totp_disabled",
    "user_signed_up",
    "email_confirmed",
)

SESSION_HOURS = 12
#: `last_used` of an API token is written at most this often (not on every request)
LAST_USED_RESOLUTION_S = 60


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
    active: bool = True


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


class _Duplicate(Exception):
    """A unique key of the accounts database was violated (either backend)."""


def _is_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def _private_file(path: str, create: bool = True) -> None:
    """Make the accounts file readable by its owner only (0600), creating it empty if asked:
    it holds password hashes and the security log."""
    if path == ":memory:" or path.startswith("file:"):
        return
    p = Path(path)
    if create and not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
    if p.exists():
        os.chmod(p, 0o600)


class Accounts:
    """The accounts database (a SQLite path or a PostgreSQL URL); thread-safe (one connection
    behind a lock).

    `hasher` defaults to argon2id with argon2-cffi's current recommended parameters; tests pass
    a cheaper one.
    """

    def __init__(self, path: str = ":memory:", hasher: PasswordHasher | None = None):
        self.path = str(path)
        self._lock = threading.RLock()
        self._hasher = hasher or PasswordHasher()
        ddl = _DDL
        if _is_url(self.path):
            import psycopg
            from psycopg import sql as psql

            from ..store.postgres import split_url

            url, schema = split_url(self.path)
            self.schema = f"{schema}_accounts" if schema else "fc_accounts"
            self._con = psycopg.connect(url, autocommit=True)
            self._mark = "%s"
            self._integrity: tuple[type[Exception], ...] = (psycopg.errors.IntegrityError,)
            ident = psql.Identifier(self.schema)
            self._con.execute(psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
            self._con.execute(psql.SQL("SET search_path TO {}").format(ident))
            ddl = ddl.replace("INTEGER PRIMARY KEY", "INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
            with self._lock, self._con.transaction():
                self._con.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fc.accounts.{self.schema}"]
                )
                for stmt in ddl.split(";"):
                    if stmt.strip():
                        self._con.execute(stmt)
                for table, column, decl in _ADDED_COLUMNS:
                    self._con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {decl}")
        else:
            _private_file(self.path)
            self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._con.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":  # server workers share the file: readers never wait for a writer
                self._con.execute("PRAGMA journal_mode = WAL")
            self._mark = "?"
            self._integrity = (sqlite3.IntegrityError,)
            with self._lock:
                self._con.executescript(ddl)
                for table, column, decl in _ADDED_COLUMNS:
                    have = {r[1] for r in self._con.execute(f"PRAGMA table_info({table})")}
                    if column not in have:
                        self._con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            if self.path != ":memory:":  # the -wal and -shm files exist now: private too
                for extra in ("", "-wal", "-shm"):
                    _private_file(self.path + extra, create=False)

    def close(self) -> None:
        self._con.close()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._mark)

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return list(self._con.execute(self._sql(sql), params).fetchall())

    def _exec(self, sql: str, params: tuple = (), returning: bool = False) -> int:
        """Run a statement; with `returning`, an INSERT's new row id."""
        if returning:
            sql += " RETURNING id"
        with self._lock:
            try:
                cur = self._con.execute(self._sql(sql), params)
                row = cur.fetchone() if returning else None
            except self._integrity as e:
                raise _Duplicate(str(e)) from None
        return int(row[0]) if row else 0

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction that other workers wait for: SQLite `BEGIN IMMEDIATE` (the
        file's write lock), PostgreSQL a transaction whose rows are locked `FOR UPDATE`."""
        with self._lock:
            if self._mark == "%s":
                with self._con.transaction():
                    yield
                return
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    # -- firms -----------------------------------------------------------------------------
    def create_firm(self, name: str, enterprises: list[str], by: User | None = None) -> Firm:
        if any(not e or "/" in e for e in enterprises):
            raise AccountError("enterprise names must be non-empty and without '/'")
        taken = {e for f in self.firms() for e in f.enterprises}
        clash = sorted(set(enterprises) & taken)
        if clash:
            raise AccountError(f"enterprise already owned by another firm: {', '.join(clash)}")
        try:
            fid = self._exec(
                "INSERT INTO firms (name, enterprises) VALUES (?, ?)",
                (name, json.dumps(enterprises)),
                returning=True,
            )
        except _Duplicate:
            raise AccountError(f"firm {name!r} exists") from None
        self.log_event("firm_created", by, fid, name, ", ".join(enterprises))
        return Firm(fid, name, tuple(enterprises))

    def firms(self) -> list[Firm]:
        return [Firm(i, n, tuple(json.loads(e))) for i, n, e in self._all("SELECT * FROM firms ORDER BY id")]

    def firm(self, firm_id: int) -> Firm | None:
        return next((f for f in self.firms() if f.id == firm_id), None)

    def firm_by_name(self, name: str) -> Firm | None:
        return next((f for f in self.firms() if f.name == name), None)

    # -- users -----------------------------------------------------------------------------
    def create_user(
        self, firm_id: int, email: str, display_name: str, role: str, password: str, by: User | None = None
    ) -> User:
        """A new user; the password must pass `check_password` (PasswordError). A taken e-mail
        is refused with the same words whichever firm has it (it reveals no other firm's user)."""
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        email = email.strip().lower()
        check_password(password, email, display_name)
        if self.firm(firm_id) is None:
            raise AccountError(f"no firm {firm_id}")
        try:
            uid = self._exec(
                "INSERT INTO users (firm_id, email, display_name, role, password_hash) VALUES (?, ?, ?, ?, ?)",
                (firm_id, email, display_name, role, self._hasher.hash(password)),
                returning=True,
            )
        except _Duplicate:
            raise AccountError(security_text("email_taken")) from None
        self.log_event("user_created", by, firm_id, email, role)
        return User(uid, firm_id, email, display_name, role)

    def create_firm_with_user(
        self, name: str, enterprises: list[str], email: str, display_name: str, role: str, password: str
    ) -> tuple[Firm, User]:
        """A new firm and its first user, both or neither: a refused password or a taken e-mail
        leaves no firm behind (whose enterprises would then be taken)."""
        with self._transaction():
            firm = self.create_firm(name, enterprises)
            return firm, self.create_user(firm.id, email, display_name, role, password)

    # -- sign-up of requesters (server/web/signup.py) ---------------------------------------
    def sign_up(
        self, email: str, display_name: str, password: str, now: datetime, hours: int = 48
    ) -> tuple[User, str]:
        """A requester (designer, consumer, buyer) signs up: a firm of its own without machines
        (`requester-<hex>`), its owner, inactive until the e-mail is confirmed with the returned
        token (`confirm_email`, within `hours`). A taken e-mail raises AccountError (the caller
        must not tell the person: see signup.py)."""
        email = email.strip().lower()
        check_password(password, email, display_name)
        if not display_name.strip():
            raise AccountError("display_name must not be empty")
        with self._transaction():
            if self.user_by_email(email) is not None:
                raise AccountError(security_text("email_taken"))
            firm = self.create_firm(f"requester-{secrets.token_hex(5)}", [])
            try:
                uid = self._exec(
                    "INSERT INTO users (firm_id, email, display_name, role, password_hash, active) "
                    "VALUES (?, ?, ?, ?, ?, 0)",
                    (firm.id, email, display_name.strip(), "owner", self._hasher.hash(password)),
                    returning=True,
                )
            except _Duplicate:
                raise AccountError(security_text("email_taken")) from None
            token = secrets.token_urlsafe(32)
            expires = now + timedelta(hours=hours)
            self._exec(
                "INSERT INTO email_checks (token_hash, user_id, expires) VALUES (?, ?, ?)",
                (_hash_token(token), uid, _iso(expires)),
            )
        self.log_event("user_signed_up", None, firm.id, email, "requester")
        return User(uid, firm.id, email, display_name.strip(), "owner", False), token

    def confirm_email(self, token: str, now: datetime) -> User | None:
        """Activate the user of a sign-up token (once, before it expires); None otherwise."""
        with self._transaction():
            rows = self._all(
                "SELECT user_id, expires FROM email_checks WHERE token_hash = ?", (_hash_token(token),)
            )
            if not rows:
                return None
            uid, expires = rows[0]
            self._exec("DELETE FROM email_checks WHERE token_hash = ?", (_hash_token(token),))
            if _dt(expires) is None or now >= _dt(expires):  # type: ignore[operator]
                return None
            self._exec("UPDATE users SET active = 1 WHERE id = ?", (uid,))
        u = self.user(uid)
        if u is not None:
            self.log_event("email_confirmed", u, u.firm_id, u.email, "")
        return u

    def _user_rows(self, where: str, params: tuple) -> list[User]:
        sql = f"SELECT id, firm_id, email, display_name, role, active FROM users {where} ORDER BY id"
        return [User(*r[:5], bool(r[5])) for r in self._all(sql, params)]

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
        """The user with this e-mail and password, if active; None otherwise."""
        rows = self._all(
            "SELECT id, password_hash, active FROM users WHERE email = ?", (email.strip().lower(),)
        )
        if not rows:
            self._hasher.hash(password)  # same work whether or not the user exists
            return None
        uid, h, active = rows[0]
        try:
            self._hasher.verify(h, password)
        except (VerificationError, InvalidHashError):
            return None
        return self.user(uid) if active else None

    def update_user(
        self,
        user_id: int,
        role: str | None = None,
        display_name: str | None = None,
        active: bool | None = None,
        by: User | None = None,
    ) -> User:
        """Change a user's role, display name or active flag (None: unchanged).

        Deactivating ends the user's sessions and revokes their API tokens at once. A change
        that would leave the user's firm without an active owner is refused (LastOwnerError).
        """
        if role is not None and role not in ROLES:
            raise AccountError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        if display_name is not None and not display_name.strip():
            raise AccountError("display_name must not be empty")
        with self._lock:
            u = self.user(user_id)
            if u is None:
                raise AccountError(f"no user {user_id}")
            if (role not in (None, "owner") or active is False) and self._is_last_owner(u):
                raise LastOwnerError(f"{u.email}: {accounts_text('last_owner_demoted')}")
            self._exec(
                "UPDATE users SET role = ?, display_name = ?, active = ? WHERE id = ?",
                (
                    role or u.role,
                    display_name.strip() if display_name is not None else u.display_name,
                    int(u.active if active is None else active),
                    user_id,
                ),
            )
            if active is False:
                self._exec("DELETE FROM sessions WHERE user_id = ?", (user_id,))
                self._exec("DELETE FROM api_tokens WHERE user_id = ?", (user_id,))
            if role is not None and role != u.role:
                self.log_event("role_changed", by, u.firm_id, u.email, f"{u.role} -> {role}")
            if display_name is not None and display_name.strip() != u.display_name:
                self.log_event("user_renamed", by, u.firm_id, u.email, display_name.strip())
            if active is not None and active != u.active:
                self.log_event("user_activated" if active else "user_deactivated", by, u.firm_id, u.email)
        return self.user(user_id)  # type: ignore[return-value]

    def _is_last_owner(self, u: User) -> bool:
        if u.role != "owner" or not u.active:
            return False
        rows = self._all(
            "SELECT count(*) FROM users WHERE firm_id = ? AND role = 'owner' AND active = 1", (u.firm_id,)
        )
        return rows[0][0] <= 1

    def set_password(self, user_id: int, password: str, by: User | None = None) -> None:
        """A new password (it must pass `check_password`): the user's sessions end and their API
        tokens are revoked, so whoever knew the old password keeps no door open."""
        u = self.user(user_id)
        if u is None:
            raise AccountError(f"no user {user_id}")
        check_password(password, u.email, u.display_name)
        with self._lock:
            self._exec(
                "UPDATE users SET password_hash = ? WHERE id = ?", (self._hasher.hash(password), user_id)
            )
            self._exec("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            self._exec("DELETE FROM api_tokens WHERE user_id = ?", (user_id,))
        own = by is not None and by.id == user_id
        self.log_event("password_changed" if own else "password_reset", by, u.firm_id, u.email)

    def change_password(self, user_id: int, old: str, new: str, keep_session: str | None = None) -> None:
        """The user changes their own password, proving the old one (WrongPassword otherwise):
        every other session ends and the API tokens are revoked; `keep_session` (the session
        token of the request) stays open."""
        u = self.user(user_id)
        if u is None:
            raise AccountError(f"no user {user_id}")
        rows = self._all("SELECT password_hash FROM users WHERE id = ?", (user_id,))
        try:
            self._hasher.verify(rows[0][0], old)
        except (VerificationError, InvalidHashError):
            raise WrongPassword(security_text("old_password_wrong")) from None
        if old == new:
            raise PasswordError(security_text("password_same"))
        with self._lock:
            csrf = None
            if keep_session:
                kept = self._all(
                    "SELECT csrf, created, expires FROM sessions WHERE token_hash = ? AND user_id = ?",
                    (_hash_token(keep_session), user_id),
                )
                csrf = kept[0] if kept else None
            self.set_password(user_id, new, by=u)
            if csrf is not None:
                self._exec(
                    "INSERT INTO sessions (token_hash, user_id, csrf, created, expires) VALUES (?, ?, ?, ?, ?)",
                    (_hash_token(keep_session or ""), user_id, *csrf),
                )

    def end_all_sessions(self, user_id: int, keep_session: str | None = None) -> int:
        """Log the user out everywhere (but `keep_session`); returns how many sessions ended."""
        count = "SELECT count(*) FROM sessions WHERE user_id = ?"
        with self._lock:
            before = self._all(count, (user_id,))[0][0]
            self._exec(
                "DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?",
                (user_id, _hash_token(keep_session) if keep_session else ""),
            )
            return before - self._all(count, (user_id,))[0][0]

    def delete_user(self, user_id: int, by: User | None = None) -> None:
        """Remove a user who left no trace (no grants given or held, no audit rows).

        A user with history is deactivated instead (AccountError says so), so that the audit log
        keeps saying who did what.
        """
        with self._lock:
            u = self.user(user_id)
            if u is None:
                raise AccountError(f"no user {user_id}")
            if self._is_last_owner(u):
                raise LastOwnerError(f"{u.email}: {accounts_text('last_owner_deleted')}")
            history = self._all(
                "SELECT (SELECT count(*) FROM grants WHERE expert_id = ? OR created_by = ?)"
                " + (SELECT count(*) FROM audit_log WHERE user_id = ?)",
                (user_id, user_id, user_id),
            )[0][0]
            if history:
                raise AccountError(f"{u.email}: {accounts_text('user_has_history')}")
            self._exec("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            self._exec("DELETE FROM api_tokens WHERE user_id = ?", (user_id,))
            self._exec("DELETE FROM users WHERE id = ?", (user_id,))
        self.log_event("user_deleted", by, u.firm_id, u.email)

    # -- sessions and tokens ---------------------------------------------------------------
    def create_session(self, user_id: int, now: datetime) -> tuple[str, str]:
        """A new session: returns (session token, CSRF token); only the session hash is kept."""
        from datetime import timedelta

        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        self._exec(
            "INSERT INTO sessions (token_hash, user_id, csrf, created, expires, last_seen) VALUES (?, ?, ?, ?, ?, ?)",
            (
                _hash_token(token),
                user_id,
                csrf,
                _iso(now),
                _iso(now + timedelta(hours=SESSION_HOURS)),
                _iso(now),
            ),
        )
        return token, csrf

    def session(self, token: str, now: datetime) -> tuple[User, str] | None:
        """The user and CSRF token of a live session: not past its end (SESSION_HOURS) nor idle
        longer than `session_idle_minutes()` (an idle session is ended)."""
        h = _hash_token(token)
        rows = self._all("SELECT user_id, csrf, expires, last_seen FROM sessions WHERE token_hash = ?", (h,))
        if not rows or _dt(rows[0][2]) <= now:
            return None
        idle, seen = session_idle_minutes(), _dt(rows[0][3])
        if idle and seen is not None and (now - seen).total_seconds() > idle * 60:
            self._exec("DELETE FROM sessions WHERE token_hash = ?", (h,))
            return None
        if seen is None or (now - seen).total_seconds() >= LAST_USED_RESOLUTION_S:
            self._exec("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (_iso(now), h))
        user = self.user(rows[0][0])
        return (user, rows[0][1]) if user and user.active else None

    def end_session(self, token: str) -> None:
        self._exec("DELETE FROM sessions WHERE token_hash = ?", (_hash_token(token),))

    def create_token(
        self,
        user_id: int,
        name: str,
        now: datetime,
        by: User | None = None,
        days: int | None = None,
        scope: str = "write",
    ) -> str:
        """A new API token (returned once; only its hash is kept) that ends after `days`
        (default `token_days()`; 0: no end) and may only read with `scope="read"`."""
        from datetime import timedelta

        if scope not in TOKEN_SCOPES:
            raise AccountError(f"scope: one of {', '.join(TOKEN_SCOPES)}")
        days = token_days() if days is None else days
        if days < 0 or days > 3650:
            raise AccountError("days: 0 to 3650")
        expires = _iso(now + timedelta(days=days)) if days else None
        token = "fct_" + secrets.token_urlsafe(32)
        self._exec(
            "INSERT INTO api_tokens (token_hash, user_id, name, created, expires, scope) VALUES (?, ?, ?, ?, ?, ?)",
            (_hash_token(token), user_id, name, _iso(now), expires, scope),
        )
        u = self.user(user_id)
        if u is not None:
            detail = (
                f"{_hash_token(token)[:12]} {name} ({scope}, {'until ' + expires if expires else 'no end'})"
            )
            self.log_event("token_created", by, u.firm_id, u.email, detail)
        return token

    def token_scope(self, token: str) -> str | None:
        """The scope of an API token (`read` or `write`; None: unknown)."""
        rows = self._all("SELECT scope FROM api_tokens WHERE token_hash = ?", (_hash_token(token),))
        return rows[0][0] if rows else None

    def token_user(self, token: str, now: datetime | None = None) -> User | None:
        """The active user of an API token (None for an unknown or revoked token); with `now`,
        the token's `last_used` is brought up to date (to LAST_USED_RESOLUTION_S)."""
        h = _hash_token(token)
        rows = self._all("SELECT user_id, last_used, expires FROM api_tokens WHERE token_hash = ?", (h,))
        if not rows:
            return None
        ends = _dt(rows[0][2])
        if ends is not None and ends <= (now or datetime.now(UTC)):
            return None
        user = self.user(rows[0][0])
        if user is None or not user.active:
            return None
        last = _dt(rows[0][1])
        if now is not None and (last is None or (now - last).total_seconds() >= LAST_USED_RESOLUTION_S):
            self._exec("UPDATE api_tokens SET last_used = ? WHERE token_hash = ?", (_iso(now), h))
        return user

    def tokens(self, user_id: int) -> list[dict]:
        """The user's API tokens: id (the first 12 hex digits of the token's hash), name, created,
        last_used; never the token itself (it is not stored)."""
        rows = self._all(
            "SELECT token_hash, name, created, last_used, expires, scope FROM api_tokens"
            " WHERE user_id = ? ORDER BY created, name",
            (user_id,),
        )
        return [
            {"id": h[:12], "name": n, "created": _dt(c), "last_used": _dt(u), "expires": _dt(e), "scope": sc}
            for h, n, c, u, e, sc in rows
        ]

    def revoke_token(self, user_id: int, token_id: str, by: User | None = None) -> bool:
        """Revoke (delete) the user's token with this id; False when the user has none such."""
        if not (len(token_id) == 12 and all(ch in "0123456789abcdef" for ch in token_id)):
            return False
        with self._lock:
            rows = self._all(
                "SELECT token_hash FROM api_tokens WHERE user_id = ? AND substr(token_hash, 1, 12) = ?",
                (user_id, token_id),
            )
            for (h,) in rows:
                self._exec("DELETE FROM api_tokens WHERE token_hash = ?", (h,))
        u = self.user(user_id)
        if rows and u is not None:
            self.log_event("token_revoked", by, u.firm_id, u.email, token_id)
        return bool(rows)

    # -- firm settings ---------------------------------------------------------------------
    def stop_reasons(self, firm_id: int) -> list[tuple[str, str, str]] | None:
        """The firm's stop reasons (code, Korean, English) in order; None: the defaults."""
        rows = self._all("SELECT stop_reasons FROM firm_settings WHERE firm_id = ?", (firm_id,))
        if not rows or rows[0][0] is None:
            return None
        return [tuple(r) for r in json.loads(rows[0][0])]  # type: ignore[misc]

    def set_stop_reasons(
        self, firm_id: int, reasons: list[tuple[str, str, str]] | None, by: User | None = None
    ) -> None:
        """Store the firm's stop reasons (already validated, see stops.check_stop_reasons); None:
        back to the defaults."""
        value = None if reasons is None else json.dumps([list(r) for r in reasons], ensure_ascii=False)
        with self._lock:
            self._exec("DELETE FROM firm_settings WHERE firm_id = ?", (firm_id,))
            if value is not None:
                self._exec(
                    "INSERT INTO firm_settings (firm_id, stop_reasons) VALUES (?, ?)", (firm_id, value)
                )
        detail = "defaults" if reasons is None else ", ".join(r[0] for r in reasons)
        self.log_event("stop_reasons_changed", by, firm_id, "stop_reasons", detail)

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
        """A grant to an expert; logged in the security log as done by `created_by`."""
        if not starts < expires:
            raise AccountError("starts must be before expires")
        if not scope:
            raise AccountError("scope must name at least one machine or line")
        gid = self._exec(
            "INSERT INTO grants (firm_id, expert_id, scope, starts, expires, created_by) VALUES (?, ?, ?, ?, ?, ?)",
            (firm_id, expert_id, json.dumps(scope), _iso(starts), _iso(expires), created_by),
            returning=True,
        )
        expert = self.user(expert_id)
        self.log_event(
            "grant_created",
            self.user(created_by),
            firm_id,
            expert.email if expert else str(expert_id),
            f"#{gid} {', '.join(scope)[:500]} {_iso(starts)} .. {_iso(expires)}",
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

    def revoke_grant(self, grant_id: int, now: datetime, by: User | None = None) -> Grant | None:
        with self._lock:
            before = self.grant(grant_id)
            self._exec(
                "UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (_iso(now), grant_id)
            )
        if before is not None and before.revoked_at is None:
            self.log_event("grant_revoked", by, before.firm_id, f"#{grant_id}")
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

    # -- TOTP second factor (optional, per user) ------------------------------------------
    def totp_begin(self, user_id: int) -> str:
        """A new TOTP secret (base32) for the user to enter in an authenticator app; it counts
        only once confirmed with a code (`totp_confirm`). Returns the secret."""
        import pyotp

        secret = pyotp.random_base32()
        self._exec("UPDATE users SET totp_secret = ?, totp_on = 0 WHERE id = ?", (secret, user_id))
        return secret

    def totp_on(self, user_id: int) -> bool:
        rows = self._all("SELECT totp_on FROM users WHERE id = ?", (user_id,))
        return bool(rows and rows[0][0])

    def totp_check(self, user_id: int, code: str, now: datetime) -> bool:
        """Is `code` the user's current TOTP code (30 s steps, one step of drift either way)?
        A code is good once: a step already used is refused (no replay)."""
        import pyotp

        rows = self._all("SELECT totp_secret, totp_last FROM users WHERE id = ?", (user_id,))
        code = (code or "").strip().replace(" ", "")
        if not rows or not rows[0][0] or not code.isdigit() or len(code) != 6:
            return False
        totp, ts = pyotp.TOTP(rows[0][0]), now.timestamp()
        for drift in (0, -1, 1):
            step = int(ts // totp.interval) + drift
            if step > int(rows[0][1]) and secrets.compare_digest(totp.at(step * totp.interval), code):
                with self._transaction():  # the step is used: only the first of two racing requests wins
                    done = self._con.execute(
                        self._sql(
                            "UPDATE users SET totp_last = ? WHERE id = ? AND totp_last < ? RETURNING id"
                        ),
                        (step, user_id, step),
                    ).fetchone()
                return done is not None
        return False

    def totp_confirm(self, user_id: int, code: str, now: datetime) -> bool:
        """Switch the second factor on once the user shows a code of the new secret."""
        u = self.user(user_id)
        if u is None or not self.totp_check(user_id, code, now):
            return False
        self._exec("UPDATE users SET totp_on = 1 WHERE id = ?", (user_id,))
        self.log_event("totp_enabled", u, u.firm_id, u.email, now=now)
        return True

    def totp_off(self, user_id: int, by: User | None = None) -> None:
        """Switch the second factor off (the user with their password, or an owner's reset)."""
        u = self.user(user_id)
        if u is None:
            raise AccountError(f"no user {user_id}")
        self._exec("UPDATE users SET totp_secret = NULL, totp_on = 0 WHERE id = ?", (user_id,))
        self.log_event("totp_disabled", by, u.firm_id, u.email)

    def password_ok(self, user_id: int, password: str) -> bool:
        rows = self._all("SELECT password_hash FROM users WHERE id = ?", (user_id,))
        try:
            return bool(rows) and self._hasher.verify(rows[0][0], password)
        except (VerificationError, InvalidHashError):
            return False

    # -- the security log: every admin act and login -----------------------------------------
    def log_event(
        self,
        event: str,
        by: User | None,
        firm_id: int | None,
        target: str,
        detail: str = "",
        address: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """One row of the security log: `event` (one of EVENTS) done by `by` (None: the command
        line or the system) to `target` (an e-mail, a grant...) of firm `firm_id` (None: no
        firm, e.g. a login with an unknown e-mail: the hub admin sees it)."""
        if event not in EVENTS:
            raise ValueError(f"unknown security event {event!r}")
        self._exec(
            "INSERT INTO security_log (ts, firm_id, actor_id, actor, event, target, detail, address)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _iso(now or datetime.now(UTC)),
                firm_id,
                by.id if by else None,
                by.email if by else "cli",
                event,
                target[:300],
                detail[:1000],
                address,
            ),
        )

    def security_log(self, firm_id: int | None, limit: int = 1000, event: str | None = None) -> list[dict]:
        """The newest rows of the security log, of one firm (None: of all firms, the hub admin's
        view), optionally of one event."""
        where, params = [], []
        if firm_id is not None:
            where.append("firm_id = ?")
            params.append(firm_id)
        if event is not None:
            where.append("event = ?")
            params.append(event)
        sql = (
            "SELECT id, ts, firm_id, actor_id, actor, event, target, detail, address FROM security_log"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY id DESC LIMIT ?"
        )
        rows = self._all(sql, (*params, limit))
        keys = ("id", "ts", "firm_id", "actor_id", "actor", "event", "target", "detail", "address")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- login throttling (server/ratelimit.py): shared by every worker ---------------------
    def throttle_claim(
        self, delays: dict[str, tuple[Callable[[int], float], float]], now: float, forget_after: float
    ) -> float:
        """Check and count one login attempt against each key at once (one transaction, rows
        locked): 0.0 when every key lets it go ahead (each key's count goes up by one and its
        next attempt waits `delays[key][0](count)` seconds, at most `delays[key][1]`); else the
        seconds to wait, counting nothing. A key whose last attempt is older than `forget_after`
        seconds starts again; a wait longer than the key's longest (the clock went back) is void."""
        keys = sorted(delays)
        lock = " FOR UPDATE" if self._mark == "%s" else ""
        with self._transaction():
            self._purge_throttle(now, forget_after)
            rows = {}
            for key in keys:
                self._con.execute(
                    self._sql(
                        "INSERT INTO login_throttle (key, failures, last_failure, next_allowed)"
                        " VALUES (?, 0, ?, 0) ON CONFLICT (key) DO NOTHING"
                    ),
                    (key, now),
                )
                rows[key] = self._con.execute(
                    self._sql(
                        f"SELECT failures, last_failure, next_allowed FROM login_throttle WHERE key = ?{lock}"
                    ),
                    (key,),
                ).fetchone()
            waits = [float(r[2]) - now for k, r in rows.items() if float(r[2]) - now <= delays[k][1]]
            wait = max(waits, default=0.0)
            if wait > 0:
                return wait
            for key in keys:
                failures, last, _ = rows[key]
                count = (0 if abs(now - float(last)) > forget_after else int(failures)) + 1
                self._con.execute(
                    self._sql(
                        "UPDATE login_throttle SET failures = ?, last_failure = ?, next_allowed = ? WHERE key = ?"
                    ),
                    (count, now, now + min(delays[key][0](count), delays[key][1]), key),
                )
        return 0.0

    def throttle_release(self, key: str, forget: bool) -> None:
        """After a successful login: `forget` the key (the account), or take back the one attempt
        the claim counted (the address)."""
        if forget:
            self._exec("DELETE FROM login_throttle WHERE key = ?", (key,))
        else:
            self._exec(
                "UPDATE login_throttle SET failures = failures - 1 WHERE key = ? AND failures > 0", (key,)
            )

    def _purge_throttle(self, now: float, forget_after: float) -> None:
        """Drop forgotten keys now and then (the table stays small under a spray of e-mails)."""
        self._claims = getattr(self, "_claims", 0) + 1
        if self._claims % 200 == 1:
            self._con.execute(
                self._sql("DELETE FROM login_throttle WHERE last_failure < ? AND next_allowed < ?"),
                (now - forget_after, now),
            )


def default_accounts_path(store_target: str) -> str:
    """Where the accounts of a store live by default: the same PostgreSQL database (schema
    `fc_accounts`), a SQLite file beside a DuckDB file, or ./factory-accounts.sqlite for :memory:."""
    if store_target.startswith(("postgresql://", "postgres://")):
        return store_target
    if store_target.startswith(":memory:"):
        return str(Path("factory-accounts.sqlite").resolve())
    return f"{store_target}.accounts.sqlite"
