"""The HTTP API (FastAPI): hierarchy, records, KPIs, downtime, alarms, stop reasons, users, grants.

`create_app(store, accounts=...)` builds the app over any Store. Every endpoint under /api
needs a logged-in caller (session cookie + CSRF, or a bearer API token) and sees only the
machines of the caller's firm, or, for an outside expert, those of active grants (audited).
The OpenAPI document is served at /openapi.json. See docs/server.md.
"""

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, TypeAdapter

from .. import __version__
from ..cooperate.db import CommonsDB
from ..kpi.downtime import downtime_pareto
from ..kpi.oee import GROUPS, compute_kpis
from ..store.base import Store
from ..store.validate import BatchError
from .account_routes import account_router
from .accounts import ROLES, AccountError, Accounts, Grant, User
from .auth import (
    CSRF_COOKIE,
    NOT_FOUND,
    SESSION_COOKIE,
    Caller,
    authenticate,
    forbidden,
)
from .commons_api import commons_router
from .commons_web import add_commons_pages
from .ratelimit import LoginLimiter
from .reads import overview_rows, read_limited
from .stops import StopGone, set_stop_reason
from .web import add_dashboard

#: record kinds readable through the API (each has a machine column, so it can be scoped)
READ_KINDS = ("signal", "signal_1m", "state", "count", "alarm", "quality", "anomaly")
#: record kinds writable through the API
WRITE_KINDS = ("signal", "state", "count", "alarm", "quality", "anomaly")
MAX_LIMIT = 100_000


# -- response and request models -------------------------------------------------------------
class ErrorOut(BaseModel):
    """Every error answer: FastAPI's validation errors (a list), our messages (a string), batch
    problems (an object with `message` and `problems`)."""

    detail: str | dict[str, Any] | list[dict[str, Any]]


_WHY = {
    400: "the body is not JSON",
    401: "not logged in, or an unknown token",
    403: "the caller's role or firm may not do this (or the CSRF token is missing)",
    404: "no such object",
    409: "conflicts with the current state",
    422: "invalid parameters or body",
    429: "too many failed logins; wait the seconds in Retry-After",
}


#: the longest time window one request may ask for (a KPI over centuries would tie up the server)
MAX_WINDOW = timedelta(days=3 * 366)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: the error codes it may answer, all with ErrorOut."""
    return {c: {"model": ErrorOut, "description": _WHY[c]} for c in codes}


READ_ERRORS = _errors(401, 403, 422)
WRITE_ERRORS = _errors(400, 401, 403, 422)


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


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class TokenOut(BaseModel):
    token: str = Field(description="shown once; send as 'Authorization: Bearer <token>'")


class MachineOut(BaseModel):
    path: str
    display_name: str | None = None
    kind: str | None = None
    calendar: str | None = None


class OverviewOut(BaseModel):
    path: str
    display_name: str | None = None
    state: str | None = Field(description="latest state; null when the machine has reported none")
    since: datetime | None = Field(description="when the latest state began")
    reason_code: str | None = None
    active_alarms: int = Field(description="alarm codes whose latest event is active")


class RecordsOut(BaseModel):
    kind: str
    rows: list[dict[str, Any]]
    truncated: bool


class WriteOut(BaseModel):
    kind: str
    received: int
    written: int


class StopReasonIn(BaseModel):
    machine: str
    reason_code: str = Field(min_length=1, max_length=200)
    ts: datetime | None = Field(
        default=None, description="a moment inside the stop; default: now (the current stop)"
    )


class StopReasonOut(BaseModel):
    machine: str
    ts: datetime
    state: str
    reason_code: str


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
#: 0.11 ms against 0.57 ms for `json.dumps`, measured in-process (bench/README.md, api.py)
_ROWS_JSON = TypeAdapter(list[dict[str, Any]])


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN/inf become null, naive datetimes are UTC."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of `df` as dicts of `_clean` values, column by column (numpy's `tolist` gives
    Python numbers; pandas' `to_dict(orient="records")` boxes each cell on its own, several ms
    for a KPI table of 50 machines)."""
    cols = []
    for c in df.columns:
        col = df[c]
        if col.dtype.kind == "f":
            vals = col.to_numpy()
            cols.append(
                [
                    None if bad else v
                    for v, bad in zip(vals.tolist(), (~np.isfinite(vals)).tolist(), strict=True)
                ]
            )
        elif col.dtype.kind in "iub":
            cols.append(col.tolist())
        else:
            cols.append([_clean(v) for v in col.tolist()])
    names = [str(c) for c in df.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)] if cols else []


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def default_accounts_path(store_target: str) -> str:
    """Where the accounts of a store live by default: the same PostgreSQL database (schema
    `fc_accounts`), a SQLite file beside a DuckDB file, or ./factory-accounts.sqlite for :memory:."""
    if store_target.startswith(("postgresql://", "postgres://")):
        return store_target
    if store_target.startswith(":memory:"):
        return str(Path("factory-accounts.sqlite").resolve())
    return f"{store_target}.accounts.sqlite"


def create_app(
    store: Store,
    accounts: Accounts | str | None = None,
    clock: Callable[[], datetime] | None = None,
    secure_cookies: bool = False,
    commons: CommonsDB | str | None = None,
    login_limiter: LoginLimiter | None = None,
) -> FastAPI:
    """The API over `store`.

    `accounts` is an Accounts database or where to open one (SQLite path, PostgreSQL URL;
    default: in memory); `clock` gives the current time (default: UTC now; tests inject one);
    `commons` is the commons database or where to open one (default: in memory; see
    cooperate/db.py `default_commons_path`); `login_limiter` refuses logins after too many
    failures (default: server/ratelimit.py limits on the same clock).
    """
    accounts = Accounts(accounts) if isinstance(accounts, str) else accounts or Accounts(":memory:")
    commons = CommonsDB(commons) if isinstance(commons, str) else commons or CommonsDB(":memory:")
    now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
    app = FastAPI(
        title="Factory Commons API",
        version=__version__,
        description="공장 데이터 API / shop-floor data, KPIs, users and expert grants. See docs/server.md.",
    )
    app.state.store, app.state.accounts = store, accounts
    app.state.login_limiter = limiter = login_limiter or LoginLimiter(clock=now)

    def caller(request: Request) -> Caller:
        return authenticate(request, accounts, now())

    CallerDep = Annotated[Caller, Depends(caller)]

    def all_paths() -> list[str]:
        return store.machine_paths()

    def scoped(c: Caller, machine: list[str] | None, known: list[str] | None = None) -> list[str]:
        """The machines a read covers: those asked for (each checked) or all visible ones
        (`known`: the store's machine paths, when the caller has read them)."""
        if machine:
            c.check_read(machine)
            return list(dict.fromkeys(machine))
        paths = c.visible(all_paths() if known is None else known)
        c.audit_reads(paths)
        return paths

    def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        e = _utc(end) if end else now()
        s = _utc(start) if start else e - timedelta(days=1)
        if not s < e:
            raise HTTPException(422, "start는 end보다 앞서야 합니다 / start must be before end")
        if e - s > MAX_WINDOW:
            raise HTTPException(
                422,
                f"기간이 너무 깁니다 (최대 {MAX_WINDOW.days}일) / window too long (at most {MAX_WINDOW.days} days)",
            )
        return s, e

    MachinesQ = Annotated[list[str] | None, Query(description="machine paths (repeat); default: all visible")]

    # -- auth --------------------------------------------------------------------------------
    @app.post(
        "/api/auth/login", response_model=LoginOut, responses=_errors(400, 401, 422, 429), tags=["auth"]
    )
    def login(body: LoginIn, request: Request, response: Response) -> LoginOut:
        address = request.client.host if request.client else None
        wait = limiter.retry_after(body.email, address)
        if wait is not None:
            raise HTTPException(
                429,
                f"로그인 실패가 너무 많습니다. {wait}초 후 다시 시도하세요 / too many failed logins; "
                f"try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        user = accounts.authenticate(body.email, body.password)
        if user is None:
            limiter.failed(body.email, address)
            raise HTTPException(401, "이메일 또는 비밀번호가 틀렸습니다 / wrong e-mail or password")
        limiter.succeeded(body.email)
        token, csrf = accounts.create_session(user.id, now())
        kw = {"secure": secure_cookies, "samesite": "lax", "path": "/"}
        response.set_cookie(SESSION_COOKIE, token, httponly=True, **kw)
        response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **kw)
        return LoginOut(user=_user_out(user), csrf_token=csrf)

    @app.post("/api/auth/logout", status_code=204, responses=_errors(401, 403), tags=["auth"])
    def logout(c: CallerDep, request: Request, response: Response) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            accounts.end_session(token)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        response.status_code = 204
        return response

    @app.get("/api/auth/me", response_model=UserOut, responses=_errors(401), tags=["auth"])
    def me(c: CallerDep) -> UserOut:
        return _user_out(c.user)

    @app.post(
        "/api/auth/tokens", response_model=TokenOut, status_code=201, responses=WRITE_ERRORS, tags=["auth"]
    )
    def new_token(c: CallerDep, body: TokenIn) -> TokenOut:
        return TokenOut(token=accounts.create_token(c.user.id, body.name, now()))

    # -- plant -------------------------------------------------------------------------------
    @app.get("/api/machines", response_model=list[MachineOut], responses=READ_ERRORS, tags=["plant"])
    def machines(c: CallerDep) -> list[MachineOut]:
        c.require("read_kpi")
        ms = [m for m in store.machines() if c.may_read(m.path)]
        c.audit_reads([m.path for m in ms])
        return [
            MachineOut(path=m.path, display_name=m.display_name, kind=m.kind, calendar=m.calendar) for m in ms
        ]

    @app.get("/api/hierarchy", response_model=dict[str, Any], responses=READ_ERRORS, tags=["plant"])
    def hierarchy(c: CallerDep) -> dict[str, Any]:
        c.require("read_kpi")
        tree: dict = {}
        for p in scoped(c, None):
            e, s, a, line, m = p.split("/")
            tree.setdefault(e, {}).setdefault(s, {}).setdefault(a, {}).setdefault(line, []).append(m)
        return tree

    @app.get("/api/overview", response_model=list[OverviewOut], responses=READ_ERRORS, tags=["plant"])
    def overview(c: CallerDep) -> list[OverviewOut]:
        """The plant at a glance: every visible machine's current state and active alarms."""
        c.require("read_kpi")
        ms = [m for m in store.machines() if c.may_read(m.path)]
        c.audit_reads([m.path for m in ms])
        rows = overview_rows(store, [m.path for m in ms])
        return [
            OverviewOut(
                path=m.path,
                display_name=m.display_name,
                **{k: _clean(v) for k, v in rows[m.path].items()},
            )
            for m in ms
        ]

    # -- records -----------------------------------------------------------------------------
    @app.get(
        "/api/records/{kind}",
        response_model=RecordsOut,
        responses=_errors(401, 403, 404, 422),
        tags=["records"],
    )
    def read_records(
        c: CallerDep,
        kind: str,
        machine: MachinesQ = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10_000,
    ) -> RecordsOut:
        c.require("read_records")
        if kind not in READ_KINDS:
            raise HTTPException(404, f"{NOT_FOUND}: kind {kind!r}; kinds: {', '.join(READ_KINDS)}")
        s, e = window(start, end)
        paths = scoped(c, machine)
        rows = [
            {k: _clean(v) for k, v in r.items()}
            for r in read_limited(store, kind, s, e, paths, limit + 1).to_pylist()
        ]
        return RecordsOut(kind=kind, rows=rows[:limit], truncated=len(rows) > limit)

    @app.post(
        "/api/records/{kind}",
        response_model=WriteOut,
        responses=_errors(400, 401, 403, 404, 422),
        tags=["records"],
    )
    def write_records(c: CallerDep, kind: str, rows: Annotated[list[dict[str, Any]], Body()]) -> WriteOut:
        c.require("write_records")
        if kind not in WRITE_KINDS:
            raise HTTPException(404, f"{NOT_FOUND}: kind {kind!r}; kinds: {', '.join(WRITE_KINDS)}")
        bad = [
            i + 1
            for i, r in enumerate(rows)
            if isinstance(r.get("machine"), str) and not c.owns(r["machine"])
        ]
        if bad:
            raise forbidden(f"권한이 없습니다 / not allowed: machines of rows {bad[:20]} are not your firm's")
        try:
            res = store.write_table(kind, rows)
        except BatchError as err:
            raise HTTPException(
                422,
                {
                    "message": str(err),
                    "problems": [{"row": p.row + 1, "field": p.field, "why": p.why} for p in err.problems],
                },
            ) from None
        except (ValueError, TypeError) as err:  # unknown kind, values Arrow cannot read
            raise HTTPException(422, str(err)) from None
        return WriteOut(kind=kind, received=res.received, written=res.written)

    # -- KPIs, downtime, alarms --------------------------------------------------------------
    @app.get("/api/kpi", response_model=list[dict[str, Any]], responses=READ_ERRORS, tags=["kpi"])
    def kpi(
        c: CallerDep,
        start: datetime | None = None,
        end: datetime | None = None,
        by: Annotated[list[str] | None, Query(description=f"group by: {', '.join(GROUPS)}")] = None,
        machine: MachinesQ = None,
    ) -> list[dict[str, Any]]:
        c.require("read_kpi")
        s, e = window(start, end)
        group_by = tuple(by) if by is not None else ("machine",)
        if any(g not in GROUPS for g in group_by) or len(set(group_by)) != len(group_by):
            raise HTTPException(422, f"by: distinct names from {', '.join(GROUPS)}")
        chosen: list[str] = []

        def pick(known: list[str]) -> list[str]:  # the scope, from the machine list KPIs read anyway
            known_set = set(known)
            chosen.extend(p for p in scoped(c, machine, known) if p in known_set)
            return chosen

        df = compute_kpis(store, s, e, group_by, machines=pick)
        if not chosen:
            return []
        return Response(_ROWS_JSON.dump_json(_records(df)), media_type="application/json")

    @app.get("/api/downtime", response_model=list[dict[str, Any]], responses=READ_ERRORS, tags=["kpi"])
    def downtime(
        c: CallerDep, start: datetime | None = None, end: datetime | None = None, machine: MachinesQ = None
    ) -> list[dict[str, Any]]:
        c.require("read_kpi")
        s, e = window(start, end)
        paths = scoped(c, machine)
        if not paths:
            return []  # downtime_pareto treats "no machines" as "all machines"
        return _records(downtime_pareto(store, s, e, machines=paths))

    @app.get("/api/alarms", response_model=RecordsOut, responses=READ_ERRORS, tags=["kpi"])
    def alarms(
        c: CallerDep,
        start: datetime | None = None,
        end: datetime | None = None,
        machine: MachinesQ = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    ) -> RecordsOut:
        c.require("read_kpi")
        s, e = window(start, end)
        paths = scoped(c, machine)
        table = read_limited(store, "alarm", s, e, paths, limit + 1, newest_first=True)
        rows = [{k: _clean(v) for k, v in r.items()} for r in table.to_pylist()]
        return RecordsOut(kind="alarm", rows=rows[:limit], truncated=len(rows) > limit)

    @app.post(
        "/api/stop-reasons",
        response_model=StopReasonOut,
        status_code=201,
        responses=_errors(400, 401, 403, 409, 422),
        tags=["records"],
    )
    def stop_reason(c: CallerDep, body: StopReasonIn) -> StopReasonOut:
        c.require("stop_reasons")
        if not c.owns(body.machine):
            raise forbidden()
        at = _utc(body.ts) if body.ts else now()
        states = store.read(
            "state", None, at + timedelta(microseconds=1), machines=[body.machine]
        ).to_pylist()
        if not states or states[-1]["state"] == "running":
            raise HTTPException(
                409, "그 시각에 멈춰 있지 않았습니다 / the machine was not stopped at that time"
            )
        current = states[-1]
        try:
            ts = set_stop_reason(store, body.machine, _utc(current["ts"]), current["state"], body.reason_code)
        except StopGone:  # removed between the read and the update
            raise HTTPException(409, "그 정지 기록이 없습니다 / that stop is no longer stored") from None
        return StopReasonOut(
            machine=body.machine, ts=ts, state=current["state"], reason_code=body.reason_code
        )

    # -- firms and users ---------------------------------------------------------------------
    @app.get("/api/firms", response_model=list[FirmOut], responses=_errors(401), tags=["users"])
    def firms(c: CallerDep) -> list[FirmOut]:
        fs = accounts.firms() if c.user.role == "hub_admin" else [c.firm]
        return [FirmOut(id=f.id, name=f.name, enterprises=list(f.enterprises)) for f in fs]

    @app.post(
        "/api/firms",
        response_model=FirmOut,
        status_code=201,
        responses=_errors(400, 401, 403, 409, 422),
        tags=["users"],
    )
    def create_firm(c: CallerDep, body: FirmIn) -> FirmOut:
        c.require("manage_firms")
        try:
            f = accounts.create_firm(body.name, body.enterprises)
        except AccountError as err:
            raise HTTPException(409, str(err)) from None
        return FirmOut(id=f.id, name=f.name, enterprises=list(f.enterprises))

    @app.get("/api/users", response_model=list[UserOut], responses=READ_ERRORS, tags=["users"])
    def users(c: CallerDep) -> list[UserOut]:
        c.require("manage_users")
        us = accounts.users(None if c.user.role == "hub_admin" else c.firm.id)
        return [_user_out(u) for u in us]

    @app.post(
        "/api/users",
        response_model=UserOut,
        status_code=201,
        responses=_errors(400, 401, 403, 409, 422),
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
            u = accounts.create_user(firm_id, body.email, body.display_name, body.role, body.password)
        except AccountError as err:
            raise HTTPException(409, str(err)) from None
        return _user_out(u)

    # -- grants and audit --------------------------------------------------------------------
    @app.post(
        "/api/grants", response_model=GrantOut, status_code=201, responses=WRITE_ERRORS, tags=["grants"]
    )
    def create_grant(c: CallerDep, body: GrantIn) -> GrantOut:
        c.require("grant")
        expert = accounts.user_by_email(body.expert_email)
        if expert is None or expert.role != "expert":
            raise HTTPException(422, "전문가 계정이 아닙니다 / no expert user with that e-mail")
        outside = [s for s in body.scope if not c.owns(s)]
        if outside:
            raise forbidden(f"권한이 없습니다 / not allowed: not your firm's: {', '.join(outside[:10])}")
        starts = _utc(body.starts) if body.starts else now()
        try:
            g = accounts.create_grant(c.firm.id, expert.id, body.scope, starts, _utc(body.expires), c.user.id)
        except AccountError as err:
            raise HTTPException(422, str(err)) from None
        return _grant_out(g, now())

    @app.get("/api/grants", response_model=list[GrantOut], responses=READ_ERRORS, tags=["grants"])
    def grants(c: CallerDep) -> list[GrantOut]:
        if c.user.role == "expert":
            gs = accounts.grants_of_expert(c.user.id)
        else:
            c.require("grant")
            gs = accounts.grants_of_firm(c.firm.id)
        return [_grant_out(g, now()) for g in gs]

    @app.post(
        "/api/grants/{grant_id}/revoke",
        response_model=GrantOut,
        responses=_errors(401, 403, 404, 422),
        tags=["grants"],
    )
    def revoke(c: CallerDep, grant_id: Annotated[int, PathParam(ge=1, le=2**63 - 1)]) -> GrantOut:
        c.require("grant")
        g = accounts.grant(grant_id)
        if g is None or g.firm_id != c.firm.id:
            raise HTTPException(404, NOT_FOUND)
        return _grant_out(accounts.revoke_grant(grant_id, now()), now())  # type: ignore[arg-type]

    @app.get("/api/audit", response_model=list[AuditOut], responses=READ_ERRORS, tags=["grants"])
    def audit(c: CallerDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[AuditOut]:
        c.require("read_audit")
        return [AuditOut(**r) for r in accounts.audit_log(c.firm.id, limit)]

    app.state.commons = commons
    app.include_router(
        commons_router(commons, caller, now, store, accounts)
    )  # /api/commons (server/commons_api.py)
    reasons = lambda: app.state.stop_reasons  # noqa: E731 - set by add_dashboard below
    app.include_router(account_router(accounts, caller, now, reasons))  # users, tokens (account_routes.py)
    add_dashboard(app, store, accounts, now, secure_cookies)  # the web pages (server/web.py)
    add_commons_pages(
        app, commons, accounts, now, store
    )  # commons pages and /catalog (server/commons_web.py)
    return app
