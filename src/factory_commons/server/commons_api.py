"""The commons API (FastAPI router under /api/commons): profiles, requests, matches, catalog, ...

`commons_router(commons, caller, now)` is included by `create_app`. Every route but the public
catalog needs a logged-in caller, and every answer is scoped to the caller's firm: a firm
reads and writes its own profile, its own requests and everything it owns; of other firms it
sees only what they published (`Profile.public()`), public requests, and objects it takes part
in. The commons firm id of a caller is the name of its accounts firm.

Objects are kept in the commons database (`cooperate.db.CommonsDB`) under these kinds:
"profile" (id = firm id), "request". The logic lives in `cooperate/` (matching, teams, pools,
booking, missions); this module only checks who may do what and translates errors.
"""


import secrets
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from ..cooperate.db import CommonsDB
from ..cooperate.model import (
    EVIDENCE_KINDS,
    EvidenceKind,
    Facility,
    Location,
    Match,
    Profile,
    Request,
    Step,
    Text,
)
from .auth import NOT_FOUND, Caller, forbidden

SEOUL = ZoneInfo("Asia/Seoul")
PROFILE, REQUEST = "profile", "request"
#: roles that may act for their firm in the commons (post requests, publish, commit)
ACTORS = frozenset({"owner", "engineer"})

IdPath = Annotated[str, PathParam(min_length=1, max_length=200)]


# -- bodies and answers ------------------------------------------------------------------------
class PublishIn(BaseModel):
    kinds: list[EvidenceKind] = Field(min_length=1, description="capacity, quality and/or delivery")


class RequestIn(BaseModel):
    """A request as posted: the server fills in id, requester and posted date."""

    title: Text
    steps: list[Step] = Field(min_length=1, max_length=20)
    due: date
    location: Location | None = None
    max_distance_km: float | None = Field(default=None, gt=0, le=20_000)
    budget_krw: int | None = Field(default=None, ge=0)
    confidentiality: Literal["public", "nda"] = "public"
    unspsc: str | None = Field(default=None, max_length=8)


class CatalogEntry(BaseModel):
    """One firm in the public catalog: only what it published."""

    firm_id: str
    name: Text
    city: str
    district: str
    processes: list[str]
    materials: list[str]
    certifications: list[str]
    published: list[str]
    profile: Profile


class CatalogOut(BaseModel):
    total: int = Field(description="firms that fit the search")
    firms: list[CatalogEntry]


class MatchesOut(BaseModel):
    request_id: str
    step: int
    matches: list[Match]


def today_of(now: datetime) -> date:
    return now.astimezone(SEOUL).date()


def firm_key(c: Caller) -> str:
    """The caller's firm id in the commons (the accounts firm name)."""
    return c.firm.name


def act(c: Caller) -> str:
    """The caller's commons firm id, if their role may act for the firm (403 otherwise)."""
    if c.user.role not in ACTORS:
        raise forbidden()
    return firm_key(c)


# -- reading the commons -----------------------------------------------------------------------
def public_profiles(commons: CommonsDB) -> list[Profile]:
    """Every profile as others may see it."""
    return [p.public() for p in commons.all(PROFILE, Profile)]


def catalog_entry(p: Profile) -> CatalogEntry:
    f = p.facility
    return CatalogEntry(
        firm_id=f.firm_id,
        name=f.name,
        city=f.location.city,
        district=f.location.district,
        processes=sorted(f.processes()),
        materials=sorted({m for e in f.equipment for m in e.materials}),
        certifications=sorted({c.code for c in f.certifications}),
        published=sorted(p.published),
        profile=p,
    )


def search_catalog(
    profiles: list[Profile],
    process: str | None = None,
    material: str | None = None,
    district: str | None = None,
    q: str | None = None,
) -> list[Profile]:
    """Public profiles that fit the search (each filter optional; `q` matches names, Korean too)."""
    out = []
    needle = (q or "").strip().lower()
    for p in profiles:
        f = p.facility
        if process and process not in f.processes():
            continue
        if material and not any(material in e.materials for e in f.equipment):
            continue
        if district and district not in (f.location.district, f.location.city):
            continue
        if needle and needle not in f"{f.name.ko} {f.name.en} {f.firm_id}".lower():
            continue
        out.append(p)
    return out


def visible_request(commons: CommonsDB, c: Caller, request_id: str) -> Request:
    """A request the caller may read: its own, or another's public one (404 otherwise)."""
    r = commons.get(REQUEST, request_id, Request)
    if r is None or (r.requester != firm_key(c) and r.confidentiality != "public"):
        raise HTTPException(404, NOT_FOUND)
    return r


def own_request(commons: CommonsDB, c: Caller, request_id: str) -> Request:
    r = commons.get(REQUEST, request_id, Request)
    if r is None or r.requester != firm_key(c):
        raise HTTPException(404, NOT_FOUND)
    return r


def rank_request(commons: CommonsDB, r: Request, today: date, step: int = 0, limit: int = 20) -> list[Match]:
    """Ranked, explained matches of one step over the public profiles (cooperate.match.rank)."""
    from ..cooperate.match import rank

    return rank(r, public_profiles(commons), today, step=step, limit=limit)


# -- the router ------------------------------------------------------------------------------
def commons_router(
    commons: CommonsDB, caller: Callable[..., Caller], now: Callable[[], datetime]
) -> APIRouter:
    """The /api/commons routes over `commons`; `caller` is the app's authentication dependency."""
    from .app import _errors

    CallerDep = Annotated[Caller, Depends(caller)]
    router = APIRouter(prefix="/api/commons", tags=["commons"])
    READ, WRITE = _errors(401, 403, 404, 422), _errors(400, 401, 403, 404, 409, 422)

    # -- profile -----------------------------------------------------------------------------
    @router.get("/profile", response_model=Profile, responses=READ)
    def my_profile(c: CallerDep) -> Profile:
        """The caller's own profile, with all its evidence (published or not)."""
        p = commons.get(PROFILE, firm_key(c), Profile)
        if p is None:
            raise HTTPException(404, "프로필이 아직 없습니다 / no profile yet: PUT /api/commons/profile")
        return p

    @router.put("/profile", response_model=Profile, responses=WRITE)
    def put_profile(c: CallerDep, body: Facility) -> Profile:
        """Describe the firm (OKW facility); evidence and publish choices are kept."""
        me = act(c)
        if body.firm_id != me:
            raise forbidden(f"firm_id는 자기 회사여야 합니다 / firm_id must be your firm's ({me!r})")
        with commons.transaction():
            old = commons.get(PROFILE, me, Profile)
            p = old.model_copy(update={"facility": body}) if old else Profile(facility=body)
            commons.put(PROFILE, me, me, p)
        return p

    def set_published(c: Caller, kinds: list[EvidenceKind], publish: bool) -> Profile:
        me = act(c)
        with commons.transaction():
            p = commons.get(PROFILE, me, Profile)
            if p is None:
                raise HTTPException(404, "프로필이 아직 없습니다 / no profile yet")
            missing = [k for k in kinds if publish and getattr(p.evidence, k) is None]
            if missing:
                raise HTTPException(
                    409, f"공개할 근거 자료가 없습니다 / no evidence to publish: {', '.join(missing)}"
                )
            published = (p.published | set(kinds)) if publish else (p.published - set(kinds))
            p = p.model_copy(
                update={
                    "published": frozenset(published),
                    "published_at": now() if publish else p.published_at,
                }
            )
            commons.put(PROFILE, me, me, p)
        return p

    @router.post("/profile/publish", response_model=Profile, responses=WRITE)
    def publish(c: CallerDep, body: PublishIn) -> Profile:
        """Publish evidence (capacity, quality, delivery): from now on others see it."""
        return set_published(c, body.kinds, True)

    @router.post("/profile/withdraw", response_model=Profile, responses=WRITE)
    def withdraw(c: CallerDep, body: PublishIn) -> Profile:
        """Withdraw published evidence: others no longer see it, anywhere."""
        return set_published(c, body.kinds, False)

    # -- catalog (public) --------------------------------------------------------------------
    @router.get("/catalog", response_model=CatalogOut, responses=_errors(422))
    def catalog(
        process: Annotated[str | None, Query(max_length=50)] = None,
        material: Annotated[str | None, Query(max_length=50)] = None,
        district: Annotated[str | None, Query(max_length=50)] = None,
        q: Annotated[str | None, Query(max_length=100)] = None,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> CatalogOut:
        """The public catalog (no login): firms with only what they published."""
        found = search_catalog(public_profiles(commons), process, material, district, q)
        return CatalogOut(total=len(found), firms=[catalog_entry(p) for p in found[offset : offset + limit]])

    @router.get("/firms/{firm_id}", response_model=Profile, responses=_errors(404, 422))
    def firm(firm_id: IdPath) -> Profile:
        """One firm's public profile (no login)."""
        p = commons.get(PROFILE, firm_id, Profile)
        if p is None:
            raise HTTPException(404, NOT_FOUND)
        return p.public()

    # -- requests ----------------------------------------------------------------------------
    @router.post("/requests", response_model=Request, status_code=201, responses=WRITE)
    def post_request(c: CallerDep, body: RequestIn) -> Request:
        """Post a request (one or more steps); the caller's firm is the requester."""
        me = act(c)
        today = today_of(now())
        if body.due < today:
            raise HTTPException(
                422, f"due: 납기가 지났습니다 / the due date {body.due} is before today {today}"
            )
        r = Request(
            id=f"r-{secrets.token_hex(5)}",
            requester=me,
            posted=today,
            **body.model_dump(),
        )
        commons.put(REQUEST, r.id, me, r)
        return r

    @router.get("/requests", response_model=list[Request], responses=READ)
    def my_requests(c: CallerDep) -> list[Request]:
        """The caller's firm's own requests."""
        return commons.all(REQUEST, Request, owner=firm_key(c))

    @router.get("/requests/open", response_model=list[Request], responses=READ)
    def open_requests(c: CallerDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[Request]:
        """Other firms' public requests that are still open (never NDA ones)."""
        me, today = firm_key(c), today_of(now())
        rs = [
            r
            for r in commons.all(REQUEST, Request)
            if r.requester != me and r.confidentiality == "public" and r.due >= today
        ]
        return rs[:limit]

    @router.get("/requests/{request_id}", response_model=Request, responses=READ)
    def get_request(c: CallerDep, request_id: IdPath) -> Request:
        return visible_request(commons, c, request_id)

    @router.get("/requests/{request_id}/matches", response_model=MatchesOut, responses=READ)
    def matches(
        c: CallerDep,
        request_id: IdPath,
        step: Annotated[int, Query(ge=0, le=19)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> MatchesOut:
        """Ranked, explained matches for one step of the caller's own request."""
        r = own_request(commons, c, request_id)
        if step >= len(r.steps):
            raise HTTPException(
                422, f"step: 요청의 단계는 {len(r.steps)}개입니다 / the request has {len(r.steps)} steps"
            )
        ms = rank_request(commons, r, today_of(now()), step, limit)
        return MatchesOut(request_id=r.id, step=step, matches=ms)

    return router


def evidence_kinds() -> tuple[str, ...]:
    return EVIDENCE_KINDS


__all__ = ["commons_router", "public_profiles", "search_catalog", "catalog_entry", "Any"]
