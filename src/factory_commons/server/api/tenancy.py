"""API routes of tenancy: log in and out, API tokens, firms, users, expert grants and the audit log.

`tenancy_router(accounts, caller, now, limiter, secure_cookies)` is included by `create_app`;
managing existing users, tokens and the firm's stop reasons is `accounts.account_router`.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from ...accounts import ROLES, AccountError, Accounts, Grant, PasswordError, User, WrongPassword
from ...accounts.db import EVENTS
from ...accounts.passwords import security_text
from ..auth import CSRF_COOKIE, NOT_FOUND, SESSION_COOKIE, Caller, api_text, forbidden
from ..ratelimit import LoginLimiter
from .common import READ_ERRORS, WRITE_ERRORS, errors
from .common import utc as _utc


class UserOut(BaseModel):
    id: int
    firm_id: int
    email: str
    display_name: str
    role: str
    active: bool = Field(default=True, description="false: deactivated, cannot log in")


class LoginIn(BaseModel):
    email: str
    password: str
    code: str | None = Field(
        default=None, max_length=12, description="the TOTP code, for users who switched it on"
    )


class TotpOut(BaseModel):
    secret: str = Field(description="base32; enter it in an authenticator app, then confirm with a code")
    uri: str = Field(description="otpauth:// URI (for a QR code)")


class TotpCodeIn(BaseModel):
    code: str = Field(min_length=6, max_length=12)


class TotpOffIn(BaseModel):
    password: str = Field(min_length=1, max_length=1000)


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    days: int | None = Field(
        default=None,
        ge=0,
        le=3650,
        description="days the token lives (default: setting FC_TOKEN_DAYS, 90; 0: no end)",
    )
    scope: Literal["read", "write"] = Field(default="write", description="read: GET requests only")


class TokenOut(BaseModel):
    token: str = Field(description="shown once; send as 'Authorization: Bearer <token>'")


class UserIn(BaseModel):
    email: str = Field(min_length=3, max_length=200)
    display_name: str = Field(min_length=1, max_length=200)
    role: str
    password: str = Field(min_length=8, max_length=1000)
    firm_id: int | None = Field(default=None, description="hub admins only: the firm of the new user")


class FirmIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    enterprises: list[str]


class FirmOut(BaseModel):
    id: int
    name: str
    enterprises: list[str]


class GrantIn(BaseModel):
    expert_email: str
    scope: list[str] = Field(min_length=1, description="machine paths or line/area prefixes of your firm")
    starts: datetime | None = None
    expires: datetime


class GrantOut(BaseModel):
    id: int
    firm_id: int
    expert_id: int
    scope: list[str]
    starts: datetime
    expires: datetime
    revoked_at: datetime | None
    active: bool


class PasswordChangeIn(BaseModel):
    old_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=8, max_length=1000)


class SessionsEndedOut(BaseModel):
    ended: int = Field(description="how many of the caller's other sessions ended")


class SecurityEventOut(BaseModel):
    id: int
    ts: datetime
    firm_id: int | None = Field(description="the firm concerned; null: none (a login with an unknown e-mail)")
    actor_id: int | None = Field(description="who acted; null: the command line, or nobody logged in")
    actor: str = Field(description="the actor's e-mail, or 'cli'")
    event: str = Field(description=f"one of {', '.join(EVENTS)}")
    target: str = Field(description="the user's e-mail, the grant (#id) or the setting acted on")
    detail: str
    address: str | None = Field(description="the client address of a login")


class AuditOut(BaseModel):
    id: int
    ts: datetime
    user_id: int
    user_email: str
    grant_id: int | None
    method: str
    path: str
    object: str
    outcome: str


def _user_out(u: User) -> UserOut:
    return UserOut(
        id=u.id, firm_id=u.firm_id, email=u.email, display_name=u.display_name, role=u.role, active=u.active
    )


def _grant_out(g: Grant, now: datetime) -> GrantOut:
    return GrantOut(
        id=g.id,
        firm_id=g.firm_id,
        expert_id=g.expert_id,
        scope=list(g.scope),
        starts=g.starts,
        expires=g.expires,
        revoked_at=g.revoked_at,
        active=g.active(now),
    )


#: Rows as JSON bytes, written by pydantic-core (`kpi`): for the KPI table of 50 machines


def tenancy_router(
    accounts: Accounts,
    caller: Callable[..., Caller],
    now: Callable[[], datetime],
    limiter: LoginLimiter,
    secure_cookies: bool = False,
) -> APIRouter:
    """The auth, firm, user, grant and audit routes over `accounts`."""
    router = APIRouter()
    CallerDep = Annotated[Caller, Depends(caller)]
    limiter.bind(accounts)  # the counts live in the accounts database, shared by all workers

    # -- auth --------------------------------------------------------------------------------
    @router.post(
        "/api/auth/login", response_model=LoginOut, responses=errors(400, 401, 422, 429), tags=["auth"]
    )
    def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        result = limiter.login(body.email, body.password, limiter.address(request), body.code)
        if result.wait is not None:
            raise HTTPException(
                429,
                api_text("too_many_logins", wait=result.wait),
                headers={"Retry-After": str(result.wait)},
            )
        user = result.user
        if result.code_needed:
            raise HTTPException(401, security_text("totp_needed"))
        if user is None:
            raise HTTPException(401, api_text("wrong_login"))
        token, csrf = accounts.create_session(user.id, now())
        kw = {"secure": secure_cookies, "samesite": "lax", "path": "/"}
        response.set_cookie(SESSION_COOKIE, token, httponly=True, **kw)
        response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **kw)
        return LoginOut(user=_user_out(user), csrf_token=csrf)

    @router.post("/api/auth/logout", status_code=204, responses=errors(401, 403), tags=["auth"])
    def logout(c: CallerDep, request: Request, response: Response) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            accounts.end_session(token)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        response.status_code = 204
        return response

    @router.get("/api/auth/me", response_model=UserOut, responses=errors(401), tags=["auth"])
    def me(c: CallerDep) -> UserOut:
        return _user_out(c.user)

    @router.post(
        "/api/auth/tokens", response_model=TokenOut, status_code=201, responses=WRITE_ERRORS, tags=["auth"]
    )
    def new_token(c: CallerDep, body: TokenIn) -> TokenOut:
        token = accounts.create_token(
            c.user.id, body.name, now(), by=c.user, days=body.days, scope=body.scope
        )
        return TokenOut(token=token)

    @router.post("/api/auth/password", status_code=204, responses=errors(400, 401, 403, 422), tags=["auth"])
    def change_password(c: CallerDep, body: PasswordChangeIn, request: Request) -> Response:
        """Change one's own password, giving the current one: other sessions end, API tokens
        are revoked; this session stays."""
        try:
            accounts.change_password(
                c.user.id, body.old_password, body.new_password, request.cookies.get(SESSION_COOKIE)
            )
        except WrongPassword as err:
            raise HTTPException(
                422, [{"loc": ["body", "old_password"], "msg": str(err), "type": "value_error"}]
            ) from None
        except AccountError as err:
            raise HTTPException(
                422, [{"loc": ["body", "new_password"], "msg": str(err), "type": "value_error"}]
            ) from None
        return Response(status_code=204)

    @router.post("/api/auth/totp", response_model=TotpOut, responses=errors(401, 403), tags=["auth"])
    def totp_begin(c: CallerDep) -> TotpOut:
        """Start the TOTP second factor: a new secret, on once confirmed with a code."""
        import pyotp

        secret = accounts.totp_begin(c.user.id)
        uri = pyotp.TOTP(secret).provisioning_uri(name=c.user.email, issuer_name="Factory Commons")
        return TotpOut(secret=secret, uri=uri)

    @router.post("/api/auth/totp/confirm", status_code=204, responses=errors(401, 403, 422), tags=["auth"])
    def totp_confirm(c: CallerDep, body: TotpCodeIn) -> Response:
        """Switch the second factor on with a code from the app: every later login asks for one."""
        if not accounts.totp_confirm(c.user.id, body.code, now()):
            raise HTTPException(
                422, [{"loc": ["body", "code"], "msg": security_text("totp_wrong"), "type": "value_error"}]
            )
        return Response(status_code=204)

    @router.post("/api/auth/totp/off", status_code=204, responses=errors(401, 403, 422), tags=["auth"])
    def totp_off(c: CallerDep, body: TotpOffIn) -> Response:
        """Switch the second factor off, giving one's password."""
        if not accounts.password_ok(c.user.id, body.password):
            raise HTTPException(
                422,
                [
                    {
                        "loc": ["body", "password"],
                        "msg": security_text("old_password_wrong"),
                        "type": "value_error",
                    }
                ],
            )
        accounts.totp_off(c.user.id, by=c.user)
        return Response(status_code=204)

    @router.post(
        "/api/auth/logout-all", response_model=SessionsEndedOut, responses=errors(401, 403), tags=["auth"]
    )
    def logout_everywhere(c: CallerDep, request: Request) -> SessionsEndedOut:
        """Log out everywhere else: every other session of the caller ends (this one stays)."""
        return SessionsEndedOut(
            ended=accounts.end_all_sessions(c.user.id, request.cookies.get(SESSION_COOKIE))
        )

    # -- firms and users ---------------------------------------------------------------------
    @router.get("/api/firms", response_model=list[FirmOut], responses=errors(401), tags=["users"])
    def firms(c: CallerDep) -> list[FirmOut]:
        fs = accounts.firms() if c.user.role == "hub_admin" else [c.firm]
        return [FirmOut(id=f.id, name=f.name, enterprises=list(f.enterprises)) for f in fs]

    @router.post(
        "/api/firms",
        response_model=FirmOut,
        status_code=201,
        responses=errors(400, 401, 403, 409, 422),
        tags=["users"],
    )
    def create_firm(c: CallerDep, body: FirmIn) -> FirmOut:
        c.require("manage_firms")
        try:
            f = accounts.create_firm(body.name, body.enterprises, by=c.user)
        except AccountError as err:
            raise HTTPException(409, str(err)) from None
        return FirmOut(id=f.id, name=f.name, enterprises=list(f.enterprises))

    @router.get("/api/users", response_model=list[UserOut], responses=READ_ERRORS, tags=["users"])
    def users(c: CallerDep) -> list[UserOut]:
        c.require("manage_users")
        us = accounts.users(None if c.user.role == "hub_admin" else c.firm.id)
        return [_user_out(u) for u in us]

    @router.post(
        "/api/users",
        response_model=UserOut,
        status_code=201,
        responses=errors(400, 401, 403, 409, 422),
        tags=["users"],
    )
    def create_user(c: CallerDep, body: UserIn) -> UserOut:
        c.require("manage_users")
        firm_id = c.firm.id
        if body.firm_id is not None and body.firm_id != c.firm.id:
            if c.user.role != "hub_admin":
                raise forbidden()
            firm_id = body.firm_id
        if body.role == "hub_admin" and c.user.role != "hub_admin":
            raise forbidden()
        if body.role not in ROLES:
            raise HTTPException(422, f"role: one of {', '.join(ROLES)}")
        try:
            u = accounts.create_user(
                firm_id, body.email, body.display_name, body.role, body.password, by=c.user
            )
        except PasswordError as err:
            raise HTTPException(
                422, [{"loc": ["body", "password"], "msg": str(err), "type": "value_error"}]
            ) from None
        except AccountError as err:  # the same words whichever firm has the e-mail
            raise HTTPException(409, str(err)) from None
        return _user_out(u)

    # -- grants and audit --------------------------------------------------------------------
    @router.post(
        "/api/grants", response_model=GrantOut, status_code=201, responses=WRITE_ERRORS, tags=["grants"]
    )
    def create_grant(c: CallerDep, body: GrantIn) -> GrantOut:
        c.require("grant")
        expert = accounts.user_by_email(body.expert_email)
        if expert is None or expert.role != "expert":
            raise HTTPException(422, api_text("no_expert"))
        outside = [s for s in body.scope if not c.owns(s)]
        if outside:
            raise forbidden(api_text("not_your_firms", ids=", ".join(outside[:10])))
        starts = _utc(body.starts) if body.starts else now()
        try:
            g = accounts.create_grant(c.firm.id, expert.id, body.scope, starts, _utc(body.expires), c.user.id)
        except AccountError as err:
            raise HTTPException(422, str(err)) from None
        return _grant_out(g, now())

    @router.get("/api/grants", response_model=list[GrantOut], responses=READ_ERRORS, tags=["grants"])
    def grants(c: CallerDep) -> list[GrantOut]:
        if c.user.role == "expert":
            gs = accounts.grants_of_expert(c.user.id)
        else:
            c.require("grant")
            gs = accounts.grants_of_firm(c.firm.id)
        return [_grant_out(g, now()) for g in gs]

    @router.post(
        "/api/grants/{grant_id}/revoke",
        response_model=GrantOut,
        responses=errors(401, 403, 404, 422),
        tags=["grants"],
    )
    def revoke(c: CallerDep, grant_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)]) -> GrantOut:
        c.require("grant")
        g = accounts.grant(grant_id)
        if g is None or g.firm_id != c.firm.id:
            raise HTTPException(404, NOT_FOUND)
        return _grant_out(accounts.revoke_grant(grant_id, now(), by=c.user), now())  # type: ignore[arg-type]

    @router.get("/api/audit", response_model=list[AuditOut], responses=READ_ERRORS, tags=["grants"])
    def audit(c: CallerDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[AuditOut]:
        c.require("read_audit")
        return [AuditOut(**r) for r in accounts.audit_log(c.firm.id, limit)]

    @router.get(
        "/api/security-log", response_model=list[SecurityEventOut], responses=READ_ERRORS, tags=["grants"]
    )
    def security_log(
        c: CallerDep,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        event: Annotated[str | None, Query(max_length=40, description="only this event")] = None,
    ) -> list[SecurityEventOut]:
        """Admin and security events (role changes, users, passwords, tokens, grants, stop
        reasons, logins): the firm's for its owner, every firm's for the hub admin."""
        if c.user.role != "hub_admin":
            c.require("read_audit")
        firm_id = None if c.user.role == "hub_admin" else c.firm.id
        return [SecurityEventOut(**r) for r in accounts.security_log(firm_id, limit, event)]

    return router
