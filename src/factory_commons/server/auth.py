"""Who is calling and what they may see: roles, permissions, session/CSRF/bearer checks, scoping.

Every request is authenticated by a session cookie (browsers; unsafe methods also need the
CSRF token in an `X-CSRF-Token` header, double-submit) or by `Authorization: Bearer <token>`
(machines and scripts; no CSRF). The caller's `Caller` then decides which machines they may
see: the machines of their firm's enterprises, plus, for an outside expert, the machines
covered by grants that are active now. Every access under a grant, allowed or denied, is
written to the audit log of the firm that granted it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import HTTPException, Request

from ..accounts import Accounts, Firm, Grant, User
from ..i18n import Catalog

API = Catalog("api")


def api_text(key: str, **values) -> str:
    """A text of the `api` catalog in both languages ("Korean / English"), `{name}` fields filled."""
    text = API.both(key, " / ")
    return text.format(**values) if values else text


#: permission -> roles that have it (see docs/server.md, "Firms, users and roles")
PERMISSIONS: dict[str, frozenset[str]] = {
    "read_records": frozenset({"owner", "engineer", "operator", "expert"}),
    "read_kpi": frozenset({"owner", "engineer", "operator", "expert", "regional_analyst"}),
    "write_records": frozenset({"owner", "engineer"}),
    "stop_reasons": frozenset({"owner", "engineer", "operator"}),
    "manage_users": frozenset({"owner", "hub_admin"}),
    "configure": frozenset({"owner", "engineer"}),
    "manage_firms": frozenset({"hub_admin"}),
    "grant": frozenset({"owner"}),
    "read_audit": frozenset({"owner"}),
}

SESSION_COOKIE = "fc_session"
CSRF_COOKIE = "fc_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

NOT_ALLOWED = api_text("not_allowed")
LOGIN_REQUIRED = api_text("login_required")
NOT_FOUND = api_text("not_found")


def forbidden(detail: str = NOT_ALLOWED) -> HTTPException:
    return HTTPException(403, detail)


@dataclass
class Caller:
    """The authenticated user of one request, with the scope of what they may touch."""

    user: User
    firm: Firm
    accounts: Accounts
    now: datetime
    method: str
    path: str
    grants: list[Grant] = field(default_factory=list)

    def require(self, permission: str) -> None:
        if self.user.role not in PERMISSIONS[permission]:
            raise forbidden()

    def owns(self, machine_path: str) -> bool:
        return machine_path.split("/", 1)[0] in self.firm.enterprises

    def _active_grants(self, machine_path: str) -> list[Grant]:
        return [g for g in self.grants if g.active(self.now) and g.covers(machine_path)]

    def may_read(self, machine_path: str) -> bool:
        return self.owns(machine_path) or bool(self._active_grants(machine_path))

    def visible(self, paths: Iterable[str]) -> list[str]:
        """The paths (of all machines) this caller may read."""
        return [p for p in paths if self.may_read(p)]

    def check_read(self, requested: list[str]) -> None:
        """Refuse (403) unless every requested machine is readable; audit accesses under grants."""
        denied = [p for p in requested if not self.may_read(p)]
        if denied:
            self._audit_denied(denied)
            raise forbidden()
        self.audit_reads(requested)

    def check_write(self, paths: Iterable[str]) -> None:
        """Writes are for the firm's own machines only (grants give read access)."""
        if not all(self.owns(p) for p in paths):
            raise forbidden()

    def audit_reads(self, paths: list[str]) -> None:
        """One audit row per grant used to read these machines (none for the firm's own)."""
        used: dict[int, tuple[Grant, list[str]]] = {}
        for p in paths:
            if self.owns(p):
                continue
            for g in self._active_grants(p):
                used.setdefault(g.id, (g, []))[1].append(p)
        for g, ps in used.values():
            self.accounts.audit(
                self.now, self.user.id, g.firm_id, g.id, self.method, self.path, _obj(ps), "allowed"
            )

    def _audit_denied(self, paths: list[str]) -> None:
        for g in self.grants:
            hit = [p for p in paths if g.covers(p)]
            if hit:
                self.accounts.audit(
                    self.now, self.user.id, g.firm_id, g.id, self.method, self.path, _obj(hit), "denied"
                )


def _obj(paths: list[str]) -> str:
    shown = ", ".join(paths[:20])
    return shown + (f" (+{len(paths) - 20})" if len(paths) > 20 else "")


def authenticate(request: Request, accounts: Accounts, now: datetime) -> Caller:
    """The caller of a request, from a bearer token or a session cookie (401 if neither)."""
    user: User | None = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = accounts.token_user(header[7:].strip(), now)
        if user is None:
            raise HTTPException(401, LOGIN_REQUIRED)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        found = accounts.session(token, now) if token else None
        if found is None:
            raise HTTPException(401, LOGIN_REQUIRED)
        user, csrf = found
        if request.method not in SAFE_METHODS:
            sent = request.headers.get("x-csrf-token", "")
            if not sent or not secrets.compare_digest(sent, csrf):
                raise forbidden(api_text("csrf_wrong"))
    firm = accounts.firm(user.firm_id)
    assert firm is not None
    grants = accounts.grants_of_expert(user.id) if user.role == "expert" else []
    return Caller(user, firm, accounts, now, request.method, request.url.path, grants)


def caller_dependency(accounts: Accounts, clock: Callable[[], datetime]) -> Callable[[Request], Caller]:
    def dep(request: Request) -> Caller:
        return authenticate(request, accounts, clock())

    return dep
