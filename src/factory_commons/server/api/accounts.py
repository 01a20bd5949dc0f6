"""API routes to manage accounts: users (role, name, password, deactivate, delete), the caller's
own API tokens, and the firm's list of stop reasons.

`account_router(accounts, caller, now, default_reasons)` is included by `create_app`. Owners
manage the users of their own firm only (another firm's user is 404, as if it did not exist);
hub admins manage users of every firm, as they create them. Nobody changes their own role or
deactivates/deletes themselves, and no change leaves a firm without an active owner (409).
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from ...accounts import ROLES, AccountError, Accounts, User
from ...accounts.stop_reasons import check_stop_reasons, firm_stop_reasons
from ..auth import API, NOT_FOUND, Caller, api_text, forbidden
from .common import errors

UserId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
TokenId = Annotated[str, PathParam(min_length=1, max_length=64)]


class UserPatchIn(BaseModel):
    role: str | None = Field(default=None, description=f"one of {', '.join(ROLES)}")
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = Field(
        default=None, description="false: the user can no longer log in; sessions and API tokens end at once"
    )


class PasswordIn(BaseModel):
    password: str = Field(min_length=8, max_length=1000)


class ManagedUserOut(BaseModel):
    id: int
    firm_id: int
    email: str
    display_name: str
    role: str
    active: bool


class TokenInfoOut(BaseModel):
    id: str = Field(description="first 12 hex digits of the token's SHA-256 hash")
    name: str
    created: datetime
    last_used: datetime | None = Field(description="to the minute; null: never used")
    expires: datetime | None = Field(default=None, description="when the token stops working; null: no end")
    scope: str = Field(default="write", description="read: GET requests only; write: acts as its user")


class StopReasonItem(BaseModel):
    code: str = Field(max_length=1000)
    ko: str = Field(max_length=1000, description=" / ".join(API.pair("field_korean_label")[::-1]))
    en: str = Field(max_length=1000, description="English label")


class StopReasonsIn(BaseModel):
    reasons: list[StopReasonItem] = Field(max_length=1000)


class StopReasonsOut(BaseModel):
    reasons: list[StopReasonItem]
    default: bool = Field(description="true: the firm has no list of its own and uses the defaults")


def _managed(u: User) -> ManagedUserOut:
    return ManagedUserOut(
        id=u.id, firm_id=u.firm_id, email=u.email, display_name=u.display_name, role=u.role, active=u.active
    )


def _unprocessable(loc: list, msg: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the field."""
    return HTTPException(422, [{"loc": loc, "msg": msg, "type": "value_error"}])


def account_router(
    accounts: Accounts,
    caller: Callable[..., Caller],
    now: Callable[[], datetime],
    default_reasons: Callable[[], tuple[tuple[str, str, str], ...]],
) -> APIRouter:

    router = APIRouter()
    CallerDep = Annotated[Caller, Depends(caller)]

    def target(c: Caller, user_id: int) -> User:
        """A user the caller may manage (404 for another firm's: its existence is not revealed)."""
        c.require("manage_users")
        u = accounts.user(user_id)
        if u is None or (c.user.role != "hub_admin" and u.firm_id != c.firm.id):
            raise HTTPException(404, NOT_FOUND)
        if u.role == "hub_admin" and c.user.role != "hub_admin":
            raise forbidden()
        return u

    def conflict(err: AccountError) -> HTTPException:
        return HTTPException(409, str(err))

    # -- users -------------------------------------------------------------------------------
    @router.patch(
        "/api/users/{user_id}",
        response_model=ManagedUserOut,
        responses=errors(400, 401, 403, 404, 409, 422),
        tags=["users"],
    )
    def update_user(c: CallerDep, user_id: UserId, body: UserPatchIn) -> ManagedUserOut:
        """Change a user's role or display name, or (de)activate them."""
        u = target(c, user_id)
        if body.role is not None and body.role not in ROLES:
            raise _unprocessable(["body", "role"], f"role: one of {', '.join(ROLES)}")
        if body.display_name is not None and not body.display_name.strip():
            raise _unprocessable(["body", "display_name"], "display_name must not be blank")
        if body.role == "hub_admin" and c.user.role != "hub_admin":
            raise forbidden()
        if u.id == c.user.id and ((body.role not in (None, u.role)) or body.active is False):
            raise HTTPException(
                409,
                api_text("cannot_change_self"),
            )
        try:
            return _managed(accounts.update_user(u.id, body.role, body.display_name, body.active, by=c.user))
        except AccountError as err:
            raise conflict(err) from None

    @router.post(
        "/api/users/{user_id}/password",
        status_code=204,
        responses=errors(400, 401, 403, 404, 422),
        tags=["users"],
    )
    def reset_password(c: CallerDep, user_id: UserId, body: PasswordIn) -> Response:
        """Set a new password; the user's sessions end and their API tokens are revoked."""
        u = target(c, user_id)
        try:
            accounts.set_password(u.id, body.password, by=c.user)
        except AccountError as err:
            raise HTTPException(422, str(err)) from None
        return Response(status_code=204)

    @router.delete(
        "/api/users/{user_id}", status_code=204, responses=errors(401, 403, 404, 409, 422), tags=["users"]
    )
    def delete_user(c: CallerDep, user_id: UserId) -> Response:
        """Delete a user without history (grants, audit rows); otherwise deactivate them (409 says so)."""
        u = target(c, user_id)
        if u.id == c.user.id:
            raise HTTPException(409, api_text("cannot_delete_self"))
        try:
            accounts.delete_user(u.id, by=c.user)
        except AccountError as err:
            raise conflict(err) from None
        return Response(status_code=204)

    @router.get(
        "/api/users/{user_id}",
        response_model=ManagedUserOut,
        responses=errors(401, 403, 404, 422),
        tags=["users"],
    )
    def get_user(c: CallerDep, user_id: UserId) -> ManagedUserOut:
        return _managed(target(c, user_id))

    # -- the caller's API tokens -------------------------------------------------------------
    @router.get("/api/auth/tokens", response_model=list[TokenInfoOut], responses=errors(401), tags=["auth"])
    def my_tokens(c: CallerDep) -> list[TokenInfoOut]:
        """The caller's API tokens (never the secret: it is stored only hashed)."""
        return [TokenInfoOut(**t) for t in accounts.tokens(c.user.id)]

    @router.delete(
        "/api/auth/tokens/{token_id}", status_code=204, responses=errors(401, 403, 404, 422), tags=["auth"]
    )
    def revoke_token(c: CallerDep, token_id: TokenId) -> Response:
        """Revoke one of the caller's tokens: it fails with 401 from now on."""
        if not accounts.revoke_token(c.user.id, token_id, by=c.user):
            raise HTTPException(404, NOT_FOUND)
        return Response(status_code=204)

    # -- the firm's stop reasons -------------------------------------------------------------
    def reasons_out(firm_id: int) -> StopReasonsOut:
        own = accounts.stop_reasons(firm_id)
        reasons = firm_stop_reasons(accounts, firm_id, default_reasons())
        items = [StopReasonItem(code=c, ko=k, en=e) for c, k, e in reasons]
        return StopReasonsOut(reasons=items, default=own is None)

    @router.get(
        "/api/settings/stop-reasons",
        response_model=StopReasonsOut,
        responses=errors(401, 403),
        tags=["settings"],
    )
    def get_stop_reasons(c: CallerDep) -> StopReasonsOut:
        """The stop reasons the firm's operators pick from on the tablet screen."""
        c.require("stop_reasons")
        return reasons_out(c.firm.id)

    @router.put(
        "/api/settings/stop-reasons",
        response_model=StopReasonsOut,
        responses=errors(400, 401, 403, 422),
        tags=["settings"],
    )
    def put_stop_reasons(c: CallerDep, body: StopReasonsIn) -> StopReasonsOut:
        """Replace the firm's list (owner, engineer): codes unique, Korean and English labels non-empty."""
        c.require("configure")
        reasons, problems = check_stop_reasons([r.model_dump() for r in body.reasons])
        if problems:
            raise HTTPException(
                422,
                [
                    {
                        "loc": ["body", "reasons", *([p.index, p.field] if p.field != "reasons" else [])],
                        "msg": p.why,
                        "type": "value_error",
                    }
                    for p in problems
                ],
            )
        accounts.set_stop_reasons(c.firm.id, reasons, by=c.user)
        return reasons_out(c.firm.id)

    @router.delete(
        "/api/settings/stop-reasons",
        response_model=StopReasonsOut,
        responses=errors(401, 403),
        tags=["settings"],
    )
    def reset_stop_reasons(c: CallerDep) -> StopReasonsOut:
        """Back to the default list."""
        c.require("configure")
        accounts.set_stop_reasons(c.firm.id, None, by=c.user)
        return reasons_out(c.firm.id)

    return router
