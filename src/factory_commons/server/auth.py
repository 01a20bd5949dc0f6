"""Who is calling and what they may see: roles, permissions, session/CSRF/bearer checks, scoping.

Every request is authenticated by a session cookie (browsers; unsafe methods also need the
CSRF token in an `X-CSRF-Token` header, double-submit) or by `Authorization: Bearer <token>`
(machines and scripts; no CSRF). The caller's `Caller` then decides which machines they may
see: the machines of their firm's enterprises, plus, for an outside expert, the machines
covered by grants that are active now. Every access under a grant, allowed or denied, is
written to the audit log of the firm that granted it.

Who may call which route is decided here, in one place: `ROUTES` names the permission of every
route of the app (API and pages) and `authenticate` (which every route and page calls) refuses
(403, `Denied`) a caller whose role lacks it. A route missing from `ROUTES` fails
tests/test_security_roles.py, which walks every route of the app as each role. What a caller may
read is decided by `Caller.may_read`: only roles with `read_kpi`; an expert (even one created
inside a firm that owns machines) reads nothing but the machines of active grants, audited.
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
    # the region (api/region.py, web/region.py): published figures only; a firm's own assessment
    "read_region": frozenset({"owner", "engineer", "regional_analyst"}),
    "firm_region": frozenset({"owner", "engineer"}),
    # know-how (api/knowhow.py, web/knowhow.py): the firm's cases; a supervisor verifies them
    "read_knowhow": frozenset({"owner", "engineer", "operator"}),
    "write_knowhow": frozenset({"owner", "engineer", "operator"}),
    "verify_knowhow": frozenset({"owner", "engineer"}),
}

#: what a route needs besides its permission: "public" (no login), "logged_in" (any role; the
#: route checks more itself, e.g. per object in the commons or the accounts routes)
PUBLIC, LOGGED_IN = "public", "logged_in"

#: "METHOD path-template" (or a "METHOD prefix*") -> the permission it needs (see docs/security.md)
ROUTES: dict[str, str] = {
    # documents, login, language
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /lang/{code}": PUBLIC,
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": LOGGED_IN,
    "POST /api/auth/login": PUBLIC,
    "* /api/auth/*": LOGGED_IN,  # the caller's own session, password and tokens (api/tenancy.py)
    # firms, users, grants, audit (api/tenancy.py, api/accounts.py check the firm themselves)
    "GET /api/firms": LOGGED_IN,
    "POST /api/firms": "manage_firms",
    "* /api/users*": "manage_users",
    "* /api/grants*": LOGGED_IN,  # owners give and revoke; experts list their own
    "GET /api/audit": LOGGED_IN,
    "GET /api/security-log": LOGGED_IN,
    "GET /api/settings/stop-reasons": "stop_reasons",
    "PUT /api/settings/stop-reasons": "configure",
    "DELETE /api/settings/stop-reasons": "configure",
    # plant data (api/plant.py)
    "GET /api/machines": "read_kpi",
    "GET /api/hierarchy": "read_kpi",
    "GET /api/overview": "read_kpi",
    "GET /api/records/{kind}": "read_records",
    "POST /api/records/{kind}": "write_records",
    "GET /api/kpi": "read_kpi",
    "GET /api/downtime": "read_kpi",
    "GET /api/alarms": "read_records",  # alarm texts are raw records, not aggregates
    "POST /api/stop-reasons": "stop_reasons",
    # the dashboard (web/dashboard.py, web/settings.py)
    "GET /": "read_kpi",
    "GET /live.json": "read_kpi",
    "GET /oee": "read_kpi",
    "GET /downtime": "read_kpi",
    "GET /machines/{path:path}": "read_records",  # signal trends and alarms
    "GET /stops": "read_kpi",
    "POST /stops": "stop_reasons",
    "GET /settings/stop-reasons": "configure",
    "POST /settings/stop-reasons": "configure",
    # files into the store (web/upload.py), a current sensor's raw trace (web/retrofit.py)
    "* /upload*": "write_records",
    "GET /retrofit": "read_records",
    "GET /retrofit/{path:path}": "read_records",
    # the commons: every firm takes part; cooperate/ decides per object (api/commons.py, web/commons.py)
    "GET /api/commons/catalog": PUBLIC,  # the public catalog of published profiles
    "GET /api/commons/firms/{firm_id}": PUBLIC,
    "* /api/commons/*": LOGGED_IN,
    "* /commons/*": LOGGED_IN,
    "GET /catalog": PUBLIC,
    "GET /catalog/{firm_id}": PUBLIC,
    "GET /signup": PUBLIC,  # requesters sign up, confirm by mail (web/signup.py)
    "POST /signup": PUBLIC,
    "GET /signup/verify": PUBLIC,
    # the region (api/region.py, web/region.py); consent steps are the owner's, like grants
    "GET /api/region/cells": "read_region",
    "GET /api/region/programmes": "read_region",
    "GET /api/region/self": "firm_region",
    "GET /api/region/consents": "firm_region",
    "GET /api/region/suppliers/{supplier}": "firm_region",
    "POST /api/region/invitations": "grant",
    "POST /api/region/consents": "grant",
    "POST /api/region/consents/{policy_id}/revoke": "grant",
    "POST /api/region/upgrades": "grant",
    "GET /region": "read_region",
    "GET /region/report": "read_region",
    "GET /region/report.pdf": "read_region",
    "GET /region/self": "firm_region",
    "GET /region/suppliers/{supplier}": "firm_region",
    "GET /region/consents": "firm_region",
    "POST /region/consents": "grant",
    "POST /region/consents/{policy_id}/revoke": "grant",
    # know-how: cases, search, capture when a stop ends (api/knowhow.py, web/knowhow.py)
    "GET /api/knowhow/search": "read_knowhow",
    "GET /api/knowhow/suggest": "read_knowhow",
    "GET /api/knowhow/cases": "read_knowhow",
    "GET /api/knowhow/cases/{case_id}": "read_knowhow",
    "POST /api/knowhow/cases": "write_knowhow",
    "POST /api/knowhow/cases/{case_id}/verify": "verify_knowhow",
    "GET /knowhow": "read_knowhow",
    "GET /knowhow/capture": "write_knowhow",
    "GET /knowhow/capture/{path:path}": "write_knowhow",
    "POST /knowhow/capture": "write_knowhow",
    "GET /knowhow/cases/{case_id}": "read_knowhow",
    "POST /knowhow/cases/{case_id}/add": "write_knowhow",
    "POST /knowhow/cases/{case_id}/verify": "verify_knowhow",
    "GET /knowhow/photos/{case_id}/{name}": "read_knowhow",
    "GET /knowhow/instructions": "read_knowhow",
    "POST /knowhow/instructions": "write_knowhow",
    "GET /knowhow/instructions/{instruction_id}": "read_knowhow",
    "GET /knowhow/manual/{path:path}": "read_knowhow",
    "GET /knowhow/skills": "read_knowhow",
    "POST /knowhow/skills": "verify_knowhow",  # a supervisor signs levels off
    "GET /knowhow/metrics": "read_knowhow",
}


def route_permission(method: str, template: str) -> str | None:
    """The permission `ROUTES` gives the route `template` for `method` (None: not listed)."""
    method = "GET" if method == "HEAD" else method
    found = ROUTES.get(f"{method} {template}")
    if found is not None:
        return found
    for key, permission in ROUTES.items():
        m, _, pattern = key.partition(" ")
        if m in ("*", method) and pattern.endswith("*") and template.startswith(pattern[:-1]):
            return permission
    return None


def allowed(role: str, permission: str) -> bool:
    """Whether `role` has `permission` (PUBLIC and LOGGED_IN: every role)."""
    return permission in (PUBLIC, LOGGED_IN) or role in PERMISSIONS[permission]


class Denied(HTTPException):
    """403: the caller's role lacks the permission of the route (`ROUTES`)."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(403, detail or NOT_ALLOWED)


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

    def allowed(self, permission: str) -> bool:
        return allowed(self.user.role, permission)

    def require(self, permission: str) -> None:
        if not self.allowed(permission):
            raise Denied()

    def owns(self, machine_path: str) -> bool:
        """The machine is of the caller's firm (writes; reads go through `may_read`)."""
        return machine_path.split("/", 1)[0] in self.firm.enterprises

    def _reads_own(self, machine_path: str) -> bool:
        """Reads the machine as its firm's: an expert reads only under grants, even in their firm."""
        return self.user.role != "expert" and self.owns(machine_path)

    def _active_grants(self, machine_path: str) -> list[Grant]:
        return [g for g in self.grants if g.active(self.now) and g.covers(machine_path)]

    def may_read(self, machine_path: str) -> bool:
        if not self.allowed("read_kpi"):  # e.g. the hub admin: no shop-floor data at all
            return False
        return self._reads_own(machine_path) or bool(self._active_grants(machine_path))

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
            if self._reads_own(p):
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
        if request.method not in SAFE_METHODS and accounts.token_scope(header[7:].strip()) == "read":
            raise forbidden()  # a read-only token (accounts/db.py TOKEN_SCOPES)
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
    caller = Caller(user, firm, accounts, now, request.method, request.url.path, grants)
    route = request.scope.get("route")
    permission = route_permission(request.method, route.path) if route is not None else None
    if permission is not None:
        caller.require(permission)  # the one role check of every route and page (ROUTES)
    return caller


def caller_dependency(accounts: Accounts, clock: Callable[[], datetime]) -> Callable[[Request], Caller]:
    def dep(request: Request) -> Caller:
        return authenticate(request, accounts, clock())

    return dep
