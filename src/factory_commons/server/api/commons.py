"""The commons API (FastAPI router under /api/commons): profiles, requests, matches, catalog, ...

`commons_router(commons, caller, now)` is included by `create_app`. Every route but the public
catalog needs a logged-in caller, and every answer is scoped to the caller's firm: a firm
reads and writes its own profile, its own requests and everything it owns; of other firms it
sees only what they published (`Profile.public()`), public requests, and objects it takes part
in. The commons firm id of a caller is the name of its accounts firm.

Objects are kept in the commons database (`cooperate.db.CommonsDB`) under these kinds:
"profile" (id = firm id), "request"; pools, campaigns, experts, problems and missions keep the
kinds of their modules. The logic lives in `cooperate/` (matching, teams, pools,
booking, missions); this module only checks who may do what and translates errors.
"""

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, ValidationError

from ...accounts import AccountError, Accounts
from ...cooperate import booking as bk
from ...cooperate import membership as mb
from ...cooperate import missions as ms
from ...cooperate import orders
from ...cooperate import pools as pl
from ...cooperate import profiles as pf
from ...cooperate import projects as pj
from ...cooperate import ratings as rt
from ...cooperate.catalog import (
    PROFILE,
    REQUEST,
    BatchOut,
    TeamOut,
    allocate_requests,
    locate,
    near_misses_of,
    plan_request_team,
    public_profiles,
    rank_request,
    save_evidence,
    search_public,
)
from ...cooperate.db import CommonsDB
from ...cooperate.evidence import firm_evidence
from ...cooperate.experts import Expert, load_experts
from ...cooperate.model import (
    Attachment,
    Cooperative,
    EvidenceKind,
    Facility,
    Location,
    Match,
    Profile,
    Request,
    Step,
    Text,
)
from ...cooperate.okw import from_okw, to_okw
from ...store.base import Store
from ..auth import NOT_FOUND, Caller, api_text, forbidden
from ..limits import commons_write_quota
from .common import errors

SEOUL = ZoneInfo("Asia/Seoul")
#: roles that may act for their firm in the commons (post requests, publish, commit)
ACTORS = frozenset({"owner", "engineer"})

IdPath = Annotated[str, PathParam(min_length=1, max_length=200)]


# -- bodies and answers ------------------------------------------------------------------------
class PublishIn(BaseModel):
    kinds: list[EvidenceKind] = Field(min_length=1, description="capacity, quality and/or delivery")


class PlaceIn(BaseModel):
    """Where a request is, by name: a district (Korean or romanised, e.g. "Namdong-gu") or an
    address naming one; placed at the mean position of the commons' firms there."""

    city: str = Field(default="", max_length=50)
    district: str = Field(default="", max_length=50)
    address: str = Field(default="", max_length=300)


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
    place: PlaceIn | None = Field(default=None, description="instead of location: a district or address")
    invite: list[str] = Field(default=[], max_length=30, description="firms invited to quote at once")


class InviteIn(BaseModel):
    firm_ids: list[str] = Field(min_length=1, max_length=orders.MAX_INVITED)


class QuoteIn(BaseModel):
    """An invited firm's quote: total price, lead time in days, conditions."""

    price_krw: int = Field(ge=0, le=10**13)
    lead_days: int = Field(ge=1, le=3650)
    conditions: str = Field(default="", max_length=2000)


class StatusIn(BaseModel):
    status: orders.OrderStatus


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    thread: str | None = Field(default=None, max_length=200, description="the requester: which invited firm")


class NearMissOut(BaseModel):
    check: str
    firms: int
    text: Text


class NearMissesOut(BaseModel):
    """Why few or no firms fit a step: the firms with its process, those meeting every
    condition, and per hard constraint relaxed the firms it alone keeps out."""

    request_id: str
    step: int
    process_firms: int
    feasible_firms: int
    summary: Text
    misses: list[NearMissOut]


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


class PoolIn(BaseModel):
    """A purchasing pool as the cooperative opens it (members: the cooperative's firms)."""

    cooperative: str = Field(min_length=1, max_length=100)
    title: Text
    material: str = Field(min_length=1, max_length=50)
    spec: Text
    unit: str = Field(min_length=1, max_length=20)
    supplier: str = Field(default="", max_length=200)
    tiers: list[pl.PriceTier] = Field(min_length=1, max_length=20)
    minimum_quantity: Decimal = Field(gt=0, le=10**12)
    per_member_max: Decimal | None = Field(default=None, gt=0, le=10**12)
    opens: datetime | None = Field(default=None, description="default: now")
    closes: datetime
    disclosure_min_firms: int = Field(
        default=pl.DISCLOSURE_MIN_FIRMS,
        ge=2,
        le=1000,
        description="members see the totals only after the close and when at least this many firms committed",
    )


class QuantityIn(BaseModel):
    quantity: Decimal = Field(gt=0, le=10**12, description="units of the pool (or shares of a campaign)")


class CallOffIn(BaseModel):
    """Why the cooperative calls a pool or campaign off (shown to its members with the refund)."""

    reason: Text


class ResultIn(BaseModel):
    """A result of a settled campaign shared with its participants: a report and/or leads."""

    title: Text
    ref: str = Field(default="", max_length=500, description="a report's file reference or URL")
    leads: list[pl.Lead] = Field(default=[], max_length=1000)


class PoolOut(BaseModel):
    """A pool as a member sees it: terms and progress, its own commitment, not others'."""

    id: str
    cooperative: str
    title: Text
    material: str
    spec: Text
    unit: str
    supplier: str
    tiers: list[pl.PriceTier]
    minimum_quantity: pl.Amount
    per_member_max: pl.Amount | None
    opens: datetime
    closes: datetime
    state: str
    members: int
    admin: bool = Field(description="the caller runs this pool for the cooperative")
    progress: pl.PoolProgress


class SettlementOut(BaseModel):
    """A close: the lines of the caller's firm (all lines for the cooperative); the totals for
    members only when the pool's disclosure rule allows (`disclosed`; else they are null)."""

    outcome: str
    closed_at: datetime
    disclosed: bool = True
    total_quantity: pl.Amount | None
    tier: int | None
    unit_price_krw: pl.Amount | None
    total_cost_krw: int | None
    deposits_krw: int | None
    refunds_krw: int | None
    members: int
    lines: list[pl.SettlementLine]
    reason: Text | None


class CampaignIn(BaseModel):
    cooperative: str = Field(min_length=1, max_length=100)
    kind: pl.CampaignKind
    title: Text
    description: Text | None = None
    total_cost_krw: int = Field(ge=0, le=10**13)
    min_participants: int = Field(ge=1, le=10_000)
    split: Literal["equal", "shares"] = "equal"
    share_unit: str = Field(default="", max_length=20)
    min_total_shares: Decimal | None = Field(default=None, gt=0, le=10**9)
    max_total_shares: Decimal | None = Field(default=None, gt=0, le=10**9)
    per_member_max_shares: Decimal | None = Field(default=None, gt=0, le=10**9)
    opens: datetime | None = None
    closes: datetime
    disclosure_min_firms: int = Field(default=pl.DISCLOSURE_MIN_FIRMS, ge=2, le=1000)


class CampaignOut(BaseModel):
    id: str
    cooperative: str
    kind: str
    title: Text
    description: Text | None
    total_cost_krw: int
    split: str
    share_unit: str
    min_participants: int
    min_total_shares: pl.Amount
    max_total_shares: pl.Amount | None
    opens: datetime
    closes: datetime
    state: str
    participants: int
    total_shares: pl.Amount | None = Field(description="null for members until the rules allow")
    admin: bool
    own: pl.Commitment | None


class ExpertOut(BaseModel):
    """An expert as firms see them: skills, experience, region, availability, track record."""

    id: str
    name: Text
    kind: str
    affiliation: str
    affiliation_verified: bool
    skills: list[str]
    years: int
    city: str
    district: str
    availability: list[dict[str, Any]]
    completed_missions: int
    mean_rating: float | None


class ProblemIn(BaseModel):
    """A problem for an outside expert; the evidence is computed from the firm's own data."""

    title: Text
    description: Text | None = None
    metric: str = Field(min_length=1, max_length=50, description="a KPI name, e.g. scrap_ratio")
    scope: list[str] = Field(min_length=1, max_length=50, description="your machines or lines")
    label: Text | None = None
    days: int = Field(default=30, ge=1, le=366, description="the evidence covers the last N days")
    skills: list[str] = Field(min_length=1, max_length=30)
    weeks: int = Field(ge=ms.MIN_WEEKS, le=ms.MAX_WEEKS, description="fixed mission length")
    hours_per_week: float = Field(default=8, gt=0, le=60)
    earliest_start: date | None = None


class AcceptIn(BaseModel):
    expert_id: str = Field(min_length=1, max_length=200)


class CloseMissionIn(BaseModel):
    text: Text
    findings: list[str] = Field(default=[], max_length=50)
    fix: str = Field(default="", max_length=5000)
    rating: int | None = Field(default=None, ge=1, le=5)


class BatchIn(BaseModel):
    """Several of the caller's own requests, allocated together under shared capacity."""

    request_ids: list[str] = Field(min_length=1, max_length=20, description="your own request ids")
    time_limit_s: float = Field(default=5.0, gt=0, le=30, description="solver time limit (seconds)")


class EvidenceRefreshIn(BaseModel):
    weeks: int = Field(default=8, ge=1, le=52, description="the last N full ISO weeks")


class SlotIn(BaseModel):
    day: date
    start: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM, Korean time")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")
    capacity: int = Field(ge=1, le=1000)
    languages: list[str] = Field(default=["ko"], min_length=1, max_length=10)
    title: Text | None = None
    note: str = Field(default="", max_length=2000)


class VisitIn(BaseModel):
    party: int = Field(default=1, ge=1, le=1000)
    note: str = Field(default="", max_length=2000)


class OfferIn(BaseModel):
    equipment_id: str = Field(min_length=1, max_length=200)
    week_start: date = Field(description="a Monday")
    hours: Decimal = Field(gt=0, le=168)
    hourly_rate_krw: int | None = Field(default=None, ge=0, le=10**9)
    note: Text | None = None


class HoursIn(BaseModel):
    hours: Decimal = Field(gt=0, le=168)
    note: str = Field(default="", max_length=2000)


class OfferOut(BaseModel):
    """An offer of idle machine hours; the measured basis only for the offering firm."""

    id: str
    firm_id: str
    equipment_id: str
    process: str
    week_start: date
    hours: pl.Amount
    hours_left: pl.Amount
    hourly_rate_krw: int
    note: Text | None
    state: str
    basis: bk.CapacityBasis | None


class ProjectIn(BaseModel):
    title: Text
    description: Text | None = None
    needs: list[pj.RoleNeed] = Field(min_length=1, max_length=10)


class AwardIn(BaseModel):
    """How the caller's request ended: an order to a supplier, or none."""

    ordered: bool
    supplier: str | None = Field(default=None, max_length=200)
    value_krw: int | None = Field(default=None, ge=0, le=10**13)


class RatingIn(BaseModel):
    """A rating of the other side of an ordered request, 1-5 per criterion (supplier: quality,
    on_time, communication; buyer: specification, payment, communication)."""

    scores: dict[str, int]
    comment: str = Field(default="", max_length=2000)


class FirmIn(BaseModel):
    """A firm the cooperative's manager invites, approves or removes."""

    firm_id: str = Field(min_length=1, max_length=200)


class CooperativeOut(BaseModel):
    """A cooperative as the caller sees it: its manager sees who is in, invited and asking;
    a firm sees its own status and the number of members."""

    id: str
    name: Text
    status: Literal["manager", "member", "invited", "requested"]
    members: int
    member_ids: list[str] = Field(description="the manager only (else empty)")
    invited: list[str] = Field(description="the manager only (else empty)")
    requested: list[str] = Field(description="the manager only (else empty)")


def cooperative_out(coop: Cooperative, c: Caller) -> CooperativeOut | None:
    """The caller's view of a cooperative, or None when the caller has nothing to do with it."""
    manager = runs(c, coop.id) or firm_key(c) == coop.id
    status = "manager" if manager else mb.status_of(coop, firm_key(c))
    if status == "none":
        return None
    return CooperativeOut(
        id=coop.id,
        name=coop.name,
        status=status,
        members=len(coop.members),
        member_ids=list(coop.members) if manager else [],
        invited=list(coop.invited) if manager else [],
        requested=list(coop.requested) if manager else [],
    )


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


# -- errors of the cooperate modules -----------------------------------------------------------
_STATUS = {"invalid": 422, "not_found": 404, "forbidden": 403, "conflict": 409}


@contextmanager
def guard() -> Iterator[None]:
    """Turn the cooperate modules' errors into answers: field and why, in Korean and English."""
    try:
        yield
    except pl.CommonsError as e:
        raise HTTPException(_STATUS.get(e.code, 422), f"{e.field}: {e.ko} / {e.en}") from None
    except ms.MissionAccessError as e:
        raise forbidden(api_text("not_allowed_why", why=e)) from None
    except AccountError as e:
        raise HTTPException(422, str(e)) from None
    except ValidationError as e:
        why = "; ".join(f"{'.'.join(str(x) for x in d['loc'])}: {d['msg']}" for d in e.errors())
        raise HTTPException(422, api_text("invalid_input", why=why)) from None
    except ValueError as e:  # MissionError, ExpertError, VocabularyError
        raise HTTPException(422, api_text("invalid_input", why=e)) from None


def drawing_response(commons: CommonsDB, request_id: str, file_id: str, firm: str) -> Response:
    """The bytes of a drawing as a download, or 404 for anybody but the request's parties."""
    try:
        a, data = orders.read_file(commons, request_id, file_id, firm)
    except pl.CommonsError:
        raise HTTPException(404, NOT_FOUND) from None
    name = quote(a.filename)
    return Response(
        data,
        media_type=a.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


def cooperative_members(commons: CommonsDB, cooperative: str) -> list[str]:
    """The granted members of a cooperative (`membership.py`); a firm's profile grants nothing."""
    return list(mb.members_of(commons, cooperative))


def takes_part(commons: CommonsDB, c: Caller, w: pl.PurchasePool | pl.Campaign) -> bool:
    """Whether the caller's firm runs the pool or campaign's cooperative or is a granted member now."""
    me = firm_key(c)
    return me == w.cooperative or pl.may_take_part(commons, w, me)


def runs(c: Caller, cooperative: str) -> bool:
    """Whether the caller runs `cooperative` (its accounts firm is the cooperative, owner/engineer)."""
    return c.user.role in ACTORS and firm_key(c) == cooperative


def pool_out(pool: pl.PurchasePool, c: Caller) -> PoolOut:
    return PoolOut(
        id=pool.id,
        cooperative=pool.cooperative,
        title=pool.title,
        material=pool.material,
        spec=pool.spec,
        unit=pool.unit,
        supplier=pool.supplier,
        tiers=list(pool.tiers),
        minimum_quantity=pool.minimum_quantity,
        per_member_max=pool.per_member_max,
        opens=pool.opens,
        closes=pool.closes,
        state=pool.state,
        members=len(pool.members),
        admin=runs(c, pool.cooperative),
        progress=pl.progress(pool, firm_key(c), admin=runs(c, pool.cooperative)),
    )


def settlement_out(
    s: pl.Settlement, members: int, c: Caller, cooperative: str, min_firms: int = pl.DISCLOSURE_MIN_FIRMS
) -> SettlementOut:
    me = firm_key(c)
    admin = runs(c, cooperative)
    lines = list(s.lines) if admin else [x for x in s.lines if x.firm_id == me]
    if not admin and len(s.lines) < min_firms:  # fewer than k firms: a member could subtract its own
        return SettlementOut(
            outcome=s.outcome,
            closed_at=s.closed_at,
            disclosed=False,
            total_quantity=None,
            tier=None,
            unit_price_krw=None,
            total_cost_krw=None,
            deposits_krw=None,
            refunds_krw=None,
            members=members,
            lines=lines,
            reason=None,
        )
    return SettlementOut(
        outcome=s.outcome,
        closed_at=s.closed_at,
        total_quantity=s.total_quantity,
        tier=s.tier,
        unit_price_krw=s.unit_price_krw,
        total_cost_krw=s.total_cost_krw,
        deposits_krw=s.deposits_krw,
        refunds_krw=s.refunds_krw,
        members=members,
        lines=lines,
        reason=s.reason,
    )


def campaign_out(camp: pl.Campaign, c: Caller) -> CampaignOut:
    return CampaignOut(
        id=camp.id,
        cooperative=camp.cooperative,
        kind=camp.kind,
        title=camp.title,
        description=camp.description,
        total_cost_krw=camp.total_cost_krw,
        split=camp.split,
        share_unit=camp.share_unit,
        min_participants=camp.min_participants,
        min_total_shares=camp.min_total_shares,
        max_total_shares=camp.max_total_shares,
        opens=camp.opens,
        closes=camp.closes,
        state=camp.state,
        participants=len(camp.commitments),
        total_shares=camp.total_shares if runs(c, camp.cooperative) or camp.discloses_totals() else None,
        admin=runs(c, camp.cooperative),
        own=next((x for x in camp.commitments if x.firm_id == firm_key(c)), None),
    )


def expert_out(e: Expert) -> ExpertOut:
    ratings = [p.rating for p in e.past if p.rating is not None]
    return ExpertOut(
        id=e.id,
        name=e.name,
        kind=e.kind,
        affiliation=e.affiliation,
        affiliation_verified=e.affiliation_verified,
        skills=list(e.skills),
        years=e.years,
        city=e.region.city,
        district=e.region.district,
        availability=[a.model_dump(mode="json") for a in e.availability],
        completed_missions=e.completed(),
        mean_rating=sum(ratings) / len(ratings) if ratings else None,
    )


def visible_pool(commons: CommonsDB, c: Caller, pool_id: str) -> pl.PurchasePool:
    """A pool of a cooperative the caller belongs to or runs (404 otherwise)."""
    pool = commons.get("pool", pool_id, pl.PurchasePool)
    if pool is None or not takes_part(commons, c, pool):
        raise HTTPException(404, NOT_FOUND)
    return pool


def visible_campaign(commons: CommonsDB, c: Caller, campaign_id: str) -> pl.Campaign:
    camp = commons.get("campaign", campaign_id, pl.Campaign)
    if camp is None or not takes_part(commons, c, camp):
        raise HTTPException(404, NOT_FOUND)
    return camp


def own_problem(commons: CommonsDB, c: Caller, problem_id: str) -> ms.Problem:
    p = commons.get(ms.PROBLEM_KIND, problem_id, ms.Problem)
    if p is None or p.firm_id != firm_key(c) or c.user.role not in ms.FIRM_READ_ROLES:
        raise HTTPException(404, NOT_FOUND)
    return p


def offer_out(o: bk.MachineOffer, c: Caller) -> OfferOut:
    return OfferOut(
        id=o.id,
        firm_id=o.firm_id,
        equipment_id=o.equipment_id,
        process=o.process,
        week_start=o.week_start,
        hours=o.hours,
        hours_left=o.left,
        hourly_rate_krw=o.hourly_rate_krw,
        note=o.note,
        state=o.state,
        basis=o.basis if o.firm_id == firm_key(c) else None,
    )


def create_problem(commons: CommonsDB, store: Store, c: Caller, body: ProblemIn, end: datetime) -> ms.Problem:
    """Post the caller's firm's problem with its KPI evidence computed here from its own machines
    (the last `body.days` days before `end`); 403 for machines that are not the firm's."""
    me = firm_key(c)
    outside = [s for s in body.scope if not c.owns(s)]
    if outside:
        raise forbidden(api_text("not_your_firms", ids=", ".join(outside[:10])))
    with guard():
        ev = ms.kpi_evidence(
            store, body.metric, body.scope, end - timedelta(days=body.days), end, label=body.label, now=end
        )
        problem = ms.Problem(
            id=f"p-{secrets.token_hex(5)}",
            firm_id=me,
            title=body.title,
            description=body.description,
            evidence=(ev,),
            skills=tuple(body.skills),
            weeks=body.weeks,
            hours_per_week=body.hours_per_week,
            earliest_start=body.earliest_start or today_of(end),
            scope=tuple(body.scope),
            posted=today_of(end),
        )
    return ms.save_problem(commons, problem)


# -- reading the commons -----------------------------------------------------------------------


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


def shown_request(r: Request, firm: str) -> Request:
    """A request as `firm` may see it: the requester sees it all; an invited firm its drawings
    but, of the invited firms, only itself (not its competitors); anybody else neither."""
    if firm == r.requester:
        return r
    if firm in r.invited:
        return r.model_copy(update={"invited": (firm,)})
    return r.model_copy(update={"attachments": (), "invited": ()})


def visible_request(commons: CommonsDB, c: Caller, request_id: str) -> Request:
    """A request the caller may read: its own, one it is invited to, or another's public one
    (without drawings and invitations; 404 otherwise)."""
    r = commons.get(REQUEST, request_id, Request)
    me = firm_key(c)
    if r is None or (not orders.is_party(r, me) and r.confidentiality != "public"):
        raise HTTPException(404, NOT_FOUND)
    return shown_request(r, me)


def party_request(commons: CommonsDB, c: Caller, request_id: str) -> Request:
    """A request of the caller or one it is invited to (404 otherwise, as for no request)."""
    r = commons.get(REQUEST, request_id, Request)
    if r is None or not orders.is_party(r, firm_key(c)):
        raise HTTPException(404, NOT_FOUND)
    return r


def own_request(commons: CommonsDB, c: Caller, request_id: str) -> Request:
    r = commons.get(REQUEST, request_id, Request)
    if r is None or r.requester != firm_key(c):
        raise HTTPException(404, NOT_FOUND)
    return r


# -- the router ------------------------------------------------------------------------------
def commons_router(
    commons: CommonsDB,
    caller: Callable[..., Caller],
    now: Callable[[], datetime],
    store: Store,
    accounts: Accounts,
) -> APIRouter:
    """The /api/commons routes over `commons`; `caller` is the app's authentication dependency,
    `store` the firm data that problems' evidence comes from, `accounts` where grants go."""

    CallerDep = Annotated[Caller, Depends(caller)]
    quota = Depends(commons_write_quota(commons, caller, now))  # per-firm write quotas (server/limits.py)
    router = APIRouter(prefix="/api/commons", tags=["commons"], dependencies=[quota])
    READ, WRITE = errors(401, 403, 404, 422), errors(400, 401, 403, 404, 409, 413, 422, 429)

    # -- profile -----------------------------------------------------------------------------
    @router.get("/profile", response_model=Profile, responses=READ)
    def my_profile(c: CallerDep) -> Profile:
        """The caller's own profile, with all its evidence (published or not)."""
        p = commons.get(PROFILE, firm_key(c), Profile)
        if p is None:
            raise HTTPException(404, api_text("no_profile_put"))
        return p

    @router.put("/profile", response_model=Profile, responses=WRITE)
    def put_profile(c: CallerDep, body: Facility) -> Profile:
        """Describe the firm (OKW facility); evidence and publish choices are kept."""
        me = act(c)
        if body.firm_id != me:
            raise forbidden(api_text("firm_id_not_yours", me=repr(me)))
        with commons.transaction():
            old = commons.get(PROFILE, me, Profile)
            p = old.model_copy(update={"facility": body}) if old else Profile(facility=body)
            commons.put(PROFILE, me, me, p)
        return p

    def set_published(c: Caller, kinds: list[EvidenceKind], publish: bool) -> Profile:
        me = act(c)
        p = commons.get(PROFILE, me, Profile)
        if p is None:
            raise HTTPException(404, api_text("no_profile"))
        missing = [k for k in kinds if publish and getattr(p.evidence, k) is None]
        if missing:
            raise HTTPException(409, api_text("no_evidence", kinds=", ".join(missing)))
        with guard():
            return (pf.publish if publish else pf.withdraw)(commons, me, kinds, now())

    @router.post("/profile/publish", response_model=Profile, responses=WRITE)
    def publish(c: CallerDep, body: PublishIn) -> Profile:
        """Publish evidence (capacity, quality, delivery): from now on others see it."""
        return set_published(c, body.kinds, True)

    @router.post("/profile/withdraw", response_model=Profile, responses=WRITE)
    def withdraw(c: CallerDep, body: PublishIn) -> Profile:
        """Withdraw published evidence: others no longer see it, anywhere."""
        return set_published(c, body.kinds, False)

    # -- catalog (public) --------------------------------------------------------------------
    @router.get("/catalog", response_model=CatalogOut, responses=errors(422))
    def catalog(
        process: Annotated[list[str] | None, Query(max_length=10)] = None,
        material: Annotated[str | None, Query(max_length=50)] = None,
        district: Annotated[str | None, Query(max_length=50)] = None,
        q: Annotated[str | None, Query(max_length=100)] = None,
        city: Annotated[str | None, Query(max_length=50)] = None,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> CatalogOut:
        """The public catalog (no login): firms with only what they published. `process` may be
        given several times (a firm must do all); `city` and `district` take Korean or
        romanised names ("Incheon", "Namdong-gu"); `q` searches names, places, processes and
        materials in Korean and English."""
        found = search_public(commons, process=process, material=material, district=district, q=q, city=city)
        return CatalogOut(total=len(found), firms=[catalog_entry(p) for p in found[offset : offset + limit]])

    @router.get("/firms/{firm_id}", response_model=Profile, responses=errors(404, 422))
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
            raise HTTPException(422, "due: " + api_text("due_passed", due=body.due, today=today))
        fields = body.model_dump(exclude={"place", "invite"})
        with guard():
            if body.location is None and body.place is not None:
                fields["location"] = locate(commons, **body.place.model_dump()).model_dump()
            r = Request(id=f"r-{secrets.token_hex(5)}", requester=me, posted=today, **fields)
            commons.put(REQUEST, r.id, me, r)
            if body.invite:
                r = orders.invite(commons, r.id, me, body.invite)
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
            shown_request(r, me)
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
            raise HTTPException(422, "step: " + api_text("step_count", n=len(r.steps)))
        with guard():
            found = rank_request(commons, r, today_of(now()), step, limit)
        return MatchesOut(request_id=r.id, step=step, matches=found)

    @router.post("/profile/evidence", response_model=Profile, responses=WRITE)
    def refresh_evidence(c: CallerDep, body: EvidenceRefreshIn) -> Profile:
        """Recompute capacity, quality and delivery evidence from the firm's own machines over the
        last full weeks (what is published does not change)."""
        me = act(c)
        if commons.get(PROFILE, me, Profile) is None:
            raise HTTPException(404, api_text("no_profile"))
        with guard():
            return save_evidence(
                commons, me, firm_evidence(store, c.firm.enterprises, today_of(now()), body.weeks)
            )

    @router.get("/profile/okw", response_model=dict[str, Any], responses=READ)
    def export_okw(
        c: CallerDep,
        lang: Literal["ko", "en"] = "en",
        private: Annotated[bool, Query(description="include unpublished evidence (your own copy)")] = False,
    ) -> dict[str, Any]:
        """The firm's profile as an Open Know-Where manufacturing facility (JSON)."""
        p = commons.get(PROFILE, firm_key(c), Profile)
        if p is None:
            raise HTTPException(404, api_text("no_profile"))
        with guard():
            return to_okw(p, lang=lang, private=private)

    @router.put("/profile/okw", response_model=Profile, responses=WRITE)
    def import_okw(c: CallerDep, body: dict[str, Any]) -> Profile:
        """Replace the facility from an OKW document (evidence and publish choices are kept)."""
        me = act(c)
        with guard():
            facility = from_okw(body, firm_id=me).facility
        if facility.firm_id != me:
            raise forbidden(api_text("firm_id_not_yours", me=repr(me)))
        with commons.transaction():
            old = commons.get(PROFILE, me, Profile)
            p = old.model_copy(update={"facility": facility}) if old else Profile(facility=facility)
            commons.put(PROFILE, me, me, p)
        return p

    @router.get("/requests/{request_id}/team", response_model=TeamOut, responses=READ)
    def team(c: CallerDep, request_id: IdPath) -> TeamOut:
        """A team of firms for the caller's own request: each step to a firm, transport between
        them, cheapest cost and lead time (with the proven bound and gap)."""
        r = own_request(commons, c, request_id)
        with guard():
            return plan_request_team(commons, r, today_of(now()))

    @router.post("/requests/allocate", response_model=BatchOut, responses=WRITE)
    def allocate(c: CallerDep, body: BatchIn) -> BatchOut:
        """Allocate several of the caller's own requests (a firm's, or a cooperative's for its
        members) together: teams of firms that share every firm's free capacity, with the cost,
        the proven bound and gap of each request."""
        act(c)
        ids = list(dict.fromkeys(body.request_ids))
        if len(ids) != len(body.request_ids):
            raise HTTPException(422, "request_ids: " + api_text("request_id_twice"))
        rs = [own_request(commons, c, i) for i in ids]
        with guard():
            return allocate_requests(commons, rs, today_of(now()), body.time_limit_s)

    # -- awards and two-sided ratings --------------------------------------------------------
    @router.post("/requests/{request_id}/award", response_model=rt.Award, responses=WRITE)
    def award(c: CallerDep, request_id: IdPath, body: AwardIn) -> rt.Award:
        """Record how the caller's request ended (this gives the buyer's award rate)."""
        me = act(c)
        r = own_request(commons, c, request_id)
        if body.supplier is not None and commons.get(PROFILE, body.supplier, Profile) is None:
            raise HTTPException(422, "supplier: " + api_text("no_such_firm", firm=repr(body.supplier)))
        with guard():
            if orders.get_order(commons, r.id) is not None:  # its award follows the order
                raise orders.error("request_id", "order_exists", "conflict")
            a = rt.Award(
                request_id=r.id,
                buyer=me,
                ordered=body.ordered,
                supplier=body.supplier,
                day=today_of(now()),
                value_krw=body.value_krw,
            )
            return rt.save_award(commons, a)

    @router.post("/requests/{request_id}/rating", response_model=rt.Rating, status_code=201, responses=WRITE)
    def rate(c: CallerDep, request_id: IdPath, body: RatingIn) -> rt.Rating:
        """Rate the other side of an ordered request: the buyer rates the supplier, the supplier
        rates the buyer (once each)."""
        me = act(c)
        r = commons.get(REQUEST, request_id, Request)
        a = commons.get("award", request_id, rt.Award)
        if r is None or a is None or me not in (r.requester, a.supplier):
            raise HTTPException(404, NOT_FOUND)
        if not a.ordered:
            raise HTTPException(409, api_text("no_order"))
        ratee, role = (a.supplier, "supplier") if me == r.requester else (r.requester, "buyer")
        with guard():
            rating = rt.Rating(
                id=f"rt-{secrets.token_hex(5)}",
                request_id=r.id,
                rater=me,
                ratee=ratee,
                ratee_role=role,
                scores=body.scores,
                day=today_of(now()),
                comment=body.comment,
            )
            rt.save_rating(commons, rating)
        return rating

    @router.get("/awards", response_model=list[rt.Award], responses=READ)
    def awards(c: CallerDep) -> list[rt.Award]:
        """Awards of the caller's firm: those it gave as the buyer and those naming it as the
        supplier (to accept or decline)."""
        me = firm_key(c)
        return [a for a in commons.all("award", rt.Award) if me in (a.buyer, a.supplier)]

    def answer(c: Caller, request_id: str, accept: bool) -> rt.Award:
        me = act(c)
        a = commons.get("award", request_id, rt.Award)
        if a is None or a.supplier != me:  # the same answer as for a request that does not exist
            raise HTTPException(404, NOT_FOUND)
        with guard():
            return rt.answer_award(commons, request_id, me, accept, today_of(now()))

    @router.post("/requests/{request_id}/award/accept", response_model=rt.Award, responses=WRITE)
    def accept_award(c: CallerDep, request_id: IdPath) -> rt.Award:
        """The supplier named in an award confirms the order: only then it counts and both
        sides may rate each other."""
        return answer(c, request_id, True)

    @router.post("/requests/{request_id}/award/decline", response_model=rt.Award, responses=WRITE)
    def decline_award(c: CallerDep, request_id: IdPath) -> rt.Award:
        """The supplier named in an award says there was no such order: it never counts."""
        return answer(c, request_id, False)

    # -- invitations, quotes, orders, messages, drawings (cooperate/orders.py) ----------------
    @router.get("/requests/{request_id}/near-misses", response_model=NearMissesOut, responses=READ)
    def near_misses(
        c: CallerDep, request_id: IdPath, step: Annotated[int, Query(ge=0, le=19)] = 0
    ) -> NearMissesOut:
        """Why few or no firms fit a step of the caller's request, one constraint relaxed at a time."""
        r = own_request(commons, c, request_id)
        if step >= len(r.steps):
            raise HTTPException(422, "step: " + api_text("step_count", n=len(r.steps)))
        nm = near_misses_of(commons, r, today_of(now()), step)
        return NearMissesOut(
            request_id=r.id,
            step=step,
            process_firms=nm.process_firms,
            feasible_firms=nm.feasible_firms,
            summary=nm.summary,
            misses=[NearMissOut(check=m.check, firms=m.firms, text=m.text) for m in nm.misses],
        )

    @router.post("/requests/{request_id}/invite", response_model=Request, responses=WRITE)
    def invite_firms(c: CallerDep, request_id: IdPath, body: InviteIn) -> Request:
        """Invite firms to quote on the caller's request: they then see it, its drawings, and
        may quote and write to the requester."""
        me = act(c)
        own_request(commons, c, request_id)
        with guard():
            return orders.invite(commons, request_id, me, body.firm_ids)

    @router.get("/invitations", response_model=list[Request], responses=READ)
    def invitations(c: CallerDep) -> list[Request]:
        """Requests that invited the caller's firm to quote."""
        me = firm_key(c)
        return [shown_request(r, me) for r in orders.invitations_of(commons, me)]

    @router.get("/requests/{request_id}/quotes", response_model=list[orders.Quote], responses=READ)
    def quotes(c: CallerDep, request_id: IdPath) -> list[orders.Quote]:
        """Every quote on the caller's request; an invited firm sees only its own."""
        r = party_request(commons, c, request_id)
        return orders.visible_quotes(commons, r, firm_key(c))

    @router.post(
        "/requests/{request_id}/quotes", response_model=orders.Quote, status_code=201, responses=WRITE
    )
    def send_quote(c: CallerDep, request_id: IdPath, body: QuoteIn) -> orders.Quote:
        """An invited firm quotes (price, lead time, conditions); a new quote replaces its open one."""
        me = act(c)
        party_request(commons, c, request_id)
        with guard():
            return orders.submit_quote(
                commons, request_id, me, body.price_krw, body.lead_days, body.conditions, today_of(now())
            )

    @router.post("/quotes/{quote_id}/accept", response_model=orders.Order, status_code=201, responses=WRITE)
    def accept_quote(c: CallerDep, quote_id: IdPath) -> orders.Order:
        """The requester accepts a quote: the order, the other quotes declined, the award proposed."""
        me = act(c)
        with guard():
            return orders.accept_quote(commons, quote_id, me, now())

    @router.get("/orders", response_model=list[orders.Order], responses=READ)
    def my_orders(c: CallerDep) -> list[orders.Order]:
        """Orders of the caller's firm, as the buyer or the supplier."""
        return orders.orders_of(commons, firm_key(c))

    @router.get("/requests/{request_id}/order", response_model=orders.Order, responses=READ)
    def order(c: CallerDep, request_id: IdPath) -> orders.Order:
        o = orders.get_order(commons, request_id)
        if o is None or firm_key(c) not in (o.buyer, o.supplier):
            raise HTTPException(404, NOT_FOUND)
        return o

    @router.post("/requests/{request_id}/order/status", response_model=orders.Order, responses=WRITE)
    def order_status(c: CallerDep, request_id: IdPath, body: StatusIn) -> orders.Order:
        """Move the order on: the supplier to in_production (confirming the award) and shipped,
        the buyer to received (then both may rate)."""
        me = act(c)
        o = orders.get_order(commons, request_id)
        if o is None or me not in (o.buyer, o.supplier):  # the same answer as for no request
            raise HTTPException(404, NOT_FOUND)
        with guard():
            return orders.advance(commons, request_id, me, body.status, now())

    @router.get("/requests/{request_id}/messages", response_model=list[orders.Message], responses=READ)
    def messages(c: CallerDep, request_id: IdPath) -> list[orders.Message]:
        """The requester reads every thread; an invited firm its own."""
        r = party_request(commons, c, request_id)
        return orders.messages_of(commons, r, firm_key(c))

    @router.post(
        "/requests/{request_id}/messages", response_model=orders.Message, status_code=201, responses=WRITE
    )
    def send_message(c: CallerDep, request_id: IdPath, body: MessageIn) -> orders.Message:
        me = act(c)
        party_request(commons, c, request_id)
        with guard():
            return orders.post_message(commons, request_id, me, body.text, now(), thread=body.thread)

    @router.post("/uploads/{request_id}", response_model=Attachment, status_code=201, responses=WRITE)
    async def upload_drawing(c: CallerDep, request_id: IdPath, file: UploadFile) -> Attachment:
        """Attach a drawing or CAD file to the caller's request (PDF, PNG, JPEG, DXF, DWG, STEP,
        IGES, STL; at most 20 MB): only the caller and the firms it invites may fetch it."""
        me = act(c)
        own_request(commons, c, request_id)
        data = await file.read(orders.MAX_FILE_BYTES + 1)
        with guard():
            return orders.attach(commons, request_id, me, file.filename or "", data, now())

    @router.get(
        "/requests/{request_id}/files/{file_id}",
        response_class=Response,
        responses={**READ, 200: {"content": {"application/octet-stream": {}}}},
    )
    def drawing(c: CallerDep, request_id: IdPath, file_id: IdPath) -> Response:
        """A drawing of a request: for the requester and the invited firms only (404 for others)."""
        return drawing_response(commons, request_id, file_id, firm_key(c))

    # -- cooperative membership ----------------------------------------------------------------
    def coop_view(c: Caller, coop_id: str) -> CooperativeOut:
        coop = mb.get_cooperative(commons, coop_id)
        out = cooperative_out(coop, c) if coop is not None else None
        if out is None:
            raise HTTPException(404, NOT_FOUND)
        return out

    def manage(c: Caller, coop_id: str) -> None:
        if not runs(c, coop_id):
            raise forbidden(api_text("coop_only_pool"))

    @router.get("/cooperatives", response_model=list[CooperativeOut], responses=READ)
    def cooperatives(c: CallerDep) -> list[CooperativeOut]:
        """The cooperatives the caller's firm runs, belongs to, is invited to or asked to join."""
        views = (cooperative_out(x, c) for x in commons.all(mb.KIND, Cooperative))
        return [v for v in views if v is not None]

    @router.get("/cooperatives/{coop_id}", response_model=CooperativeOut, responses=READ)
    def cooperative(c: CallerDep, coop_id: IdPath) -> CooperativeOut:
        return coop_view(c, coop_id)

    @router.post("/cooperatives/{coop_id}/invite", response_model=CooperativeOut, responses=WRITE)
    def invite(c: CallerDep, coop_id: IdPath, body: FirmIn) -> CooperativeOut:
        """The manager invites a firm, or approves its request (it becomes a member)."""
        manage(c, coop_id)
        known = accounts.firm_by_name(body.firm_id) is not None or commons.get(PROFILE, body.firm_id, Profile)
        if not known:
            raise HTTPException(422, "firm_id: " + api_text("no_such_firm", firm=repr(body.firm_id)))
        with guard():
            mb.invite(commons, coop_id, body.firm_id)
        return coop_view(c, coop_id)

    @router.post("/cooperatives/{coop_id}/remove", response_model=CooperativeOut, responses=WRITE)
    def remove(c: CallerDep, coop_id: IdPath, body: FirmIn) -> CooperativeOut:
        """The manager removes a member, withdraws an invitation or refuses a request."""
        manage(c, coop_id)
        with guard():
            mb.remove(commons, coop_id, body.firm_id)
        return coop_view(c, coop_id)

    @router.post("/cooperatives/{coop_id}/join", response_model=CooperativeOut, responses=WRITE)
    def join_cooperative(c: CallerDep, coop_id: IdPath) -> CooperativeOut:
        """The caller's firm asks to join, or accepts the invitation (it becomes a member)."""
        me = act(c)
        with guard():
            mb.request_join(commons, coop_id, me)
        return coop_view(c, coop_id)

    @router.post("/cooperatives/{coop_id}/leave", response_model=None, status_code=204, responses=WRITE)
    def leave_cooperative(c: CallerDep, coop_id: IdPath) -> None:
        """The caller's firm leaves, withdraws its request or declines the invitation."""
        me = act(c)
        with guard():
            mb.leave(commons, coop_id, me)

    # -- visits and shared machine hours -----------------------------------------------------
    @router.get("/slots", response_model=list[bk.VisitSlot], responses=READ)
    def slots(
        c: CallerDep, firm_id: Annotated[str | None, Query(max_length=200)] = None
    ) -> list[bk.VisitSlot]:
        """Bookable visit slots (of one firm)."""
        return bk.list_slots(commons, firm_id, bookable_only=True, now=now())

    @router.post("/slots", response_model=bk.VisitSlot, status_code=201, responses=WRITE)
    def new_slot(c: CallerDep, body: SlotIn) -> bk.VisitSlot:
        """Offer a visit slot at your firm."""
        me = act(c)
        with guard():
            start, end = (datetime.strptime(x, "%H:%M").time() for x in (body.start, body.end))
            return bk.offer_slot(
                commons,
                firm_id=me,
                day=body.day,
                start=start,
                end=end,
                capacity=body.capacity,
                languages=body.languages,
                title=body.title,
                note=body.note,
                now=now(),
            )

    @router.post("/slots/{slot_id}/book", response_model=bk.Booking, status_code=201, responses=WRITE)
    def book_slot(c: CallerDep, slot_id: IdPath, body: VisitIn) -> bk.Booking:
        me = act(c)
        with guard():
            return bk.book_visit(commons, slot_id, me, body.party, note=body.note, now=now())

    @router.get("/offers", response_model=list[OfferOut], responses=READ)
    def offers(
        c: CallerDep,
        process: Annotated[str | None, Query(max_length=50)] = None,
        week_start: date | None = None,
    ) -> list[OfferOut]:
        """Bookable idle machine hours offered by firms (offered from measured free capacity)."""
        found = bk.list_offers(commons, process=process, week_start=week_start, bookable_only=True, now=now())
        return [offer_out(o, c) for o in found]

    @router.post("/offers", response_model=OfferOut, status_code=201, responses=WRITE)
    def new_offer(c: CallerDep, body: OfferIn) -> OfferOut:
        """Offer idle hours of one of your machines for one week, within your measured free capacity."""
        me = act(c)
        with guard():
            o = bk.offer_machine_hours(
                commons,
                me,
                body.equipment_id,
                body.week_start,
                body.hours,
                hourly_rate_krw=body.hourly_rate_krw,
                note=body.note,
                now=now(),
            )
        return offer_out(o, c)

    @router.post("/offers/{offer_id}/book", response_model=bk.Booking, status_code=201, responses=WRITE)
    def book_offer(c: CallerDep, offer_id: IdPath, body: HoursIn) -> bk.Booking:
        me = act(c)
        with guard():
            return bk.book_machine_hours(commons, offer_id, me, body.hours, note=body.note, now=now())

    @router.get("/bookings", response_model=list[bk.Booking], responses=READ)
    def bookings(c: CallerDep) -> list[bk.Booking]:
        """Bookings the caller's firm made, and bookings of its own slots and offers."""
        me = firm_key(c)
        seen = {b.id: b for b in bk.bookings_of(commons, me)}
        seen.update({b.id: b for b in bk.bookings_for(commons, host=me)})
        return sorted(seen.values(), key=lambda b: (b.starts, b.id))

    @router.post("/bookings/{booking_id}/cancel", response_model=bk.Booking, responses=WRITE)
    def cancel_booking(c: CallerDep, booking_id: IdPath) -> bk.Booking:
        me = act(c)
        b = commons.get(bk.BOOKING, booking_id, bk.Booking)
        if b is None or me not in (b.booker, b.host):
            raise HTTPException(404, NOT_FOUND)
        with guard():
            return bk.cancel_booking(commons, booking_id, me, now())

    # -- co-R&D projects ---------------------------------------------------------------------
    @router.get("/projects", response_model=list[pj.Project], responses=READ)
    def projects(c: CallerDep) -> list[pj.Project]:
        """Open project posts (public by nature: they seek partners)."""
        return pj.open_projects(commons)

    @router.post("/projects", response_model=pj.Project, status_code=201, responses=WRITE)
    def post_project(c: CallerDep, body: ProjectIn) -> pj.Project:
        me = act(c)
        with guard():
            p = pj.Project(
                id=f"prj-{secrets.token_hex(5)}",
                firm_id=me,
                title=body.title,
                description=body.description,
                needs=tuple(body.needs),
                posted=today_of(now()),
            )
        return pj.save_project(commons, p)

    @router.get(
        "/projects/{project_id}/partners",
        response_model=dict[str, list[pj.PartnerCandidate]],
        responses=READ,
    )
    def partners(
        c: CallerDep, project_id: IdPath, limit: Annotated[int, Query(ge=1, le=50)] = 5
    ) -> dict[str, list[pj.PartnerCandidate]]:
        """Complementary firms (public profiles only) and experts for each role of a project."""
        p = commons.get(pj.KIND, project_id, pj.Project)
        if p is None or (p.status != "open" and p.firm_id != firm_key(c)):
            raise HTTPException(404, NOT_FOUND)
        with guard():
            return pj.recommend_partners(p, public_profiles(commons), load_experts(commons), limit=limit)

    # -- purchasing pools --------------------------------------------------------------------
    @router.get("/pools", response_model=list[PoolOut], responses=READ)
    def pools(c: CallerDep) -> list[PoolOut]:
        """The pools of the cooperatives the caller's firm belongs to (or runs)."""
        return [pool_out(p, c) for p in pl.list_pools(commons) if takes_part(commons, c, p)]

    @router.post("/pools", response_model=PoolOut, status_code=201, responses=WRITE)
    def open_pool(c: CallerDep, body: PoolIn) -> PoolOut:
        """Open a pool (the cooperative's own account only); its members may then commit."""
        if not runs(c, body.cooperative):
            raise forbidden(api_text("coop_only_pool"))
        with guard():
            pool = pl.open_pool(
                commons,
                cooperative=body.cooperative,
                members=cooperative_members(commons, body.cooperative),
                title=body.title,
                material=body.material,
                spec=body.spec,
                unit=body.unit,
                tiers=body.tiers,
                minimum_quantity=body.minimum_quantity,
                opens=body.opens or now(),
                closes=body.closes,
                per_member_max=body.per_member_max,
                supplier=body.supplier,
                now=now(),
                disclosure_min_firms=body.disclosure_min_firms,
            )
        return pool_out(pool, c)

    @router.get("/pools/{pool_id}", response_model=PoolOut, responses=READ)
    def pool(c: CallerDep, pool_id: IdPath) -> PoolOut:
        return pool_out(visible_pool(commons, c, pool_id), c)

    @router.post("/pools/{pool_id}/commit", response_model=PoolOut, responses=WRITE)
    def commit(c: CallerDep, pool_id: IdPath, body: QuantityIn) -> PoolOut:
        """Commit a quantity (or change the commitment) while the window is open."""
        me = act(c)
        visible_pool(commons, c, pool_id)
        with guard():
            pl.commit(commons, pool_id, me, body.quantity, now())
        return pool_out(visible_pool(commons, c, pool_id), c)

    @router.post("/pools/{pool_id}/withdraw", response_model=PoolOut, responses=WRITE)
    def withdraw_pool(c: CallerDep, pool_id: IdPath) -> PoolOut:
        me = act(c)
        p = visible_pool(commons, c, pool_id)
        if p.commitment_of(me) is None:
            raise HTTPException(409, api_text("no_commitment"))
        with guard():
            pl.withdraw(commons, pool_id, me, now())
        return pool_out(visible_pool(commons, c, pool_id), c)

    @router.post("/pools/{pool_id}/close", response_model=SettlementOut, responses=WRITE)
    def close_pool(c: CallerDep, pool_id: IdPath) -> SettlementOut:
        """Close after the window (the cooperative): the tier applies and the cost is split."""
        p = visible_pool(commons, c, pool_id)
        if not runs(c, p.cooperative):
            raise forbidden()
        with guard():
            s = pl.close_pool(commons, pool_id, now())
        return settlement_out(s, len(p.members), c, p.cooperative, p.disclosure_min_firms)

    @router.post("/pools/{pool_id}/cancel", response_model=SettlementOut, responses=WRITE)
    def cancel_pool(c: CallerDep, pool_id: IdPath, body: CallOffIn) -> SettlementOut:
        """Call the pool off before it settles (the cooperative): every deposit comes back."""
        p = visible_pool(commons, c, pool_id)
        if not runs(c, p.cooperative):
            raise forbidden()
        with guard():
            s = pl.cancel_pool(commons, pool_id, body.reason, now())
        return settlement_out(s, len(p.members), c, p.cooperative, p.disclosure_min_firms)

    @router.get("/pools/{pool_id}/settlement", response_model=SettlementOut, responses=READ)
    def pool_settlement(c: CallerDep, pool_id: IdPath) -> SettlementOut:
        p = visible_pool(commons, c, pool_id)
        if p.settlement is None:
            raise HTTPException(409, api_text("pool_not_closed"))
        return settlement_out(p.settlement, len(p.members), c, p.cooperative, p.disclosure_min_firms)

    # -- co-marketing campaigns --------------------------------------------------------------
    @router.get("/campaigns", response_model=list[CampaignOut], responses=READ)
    def campaigns(c: CallerDep) -> list[CampaignOut]:
        return [campaign_out(x, c) for x in pl.list_campaigns(commons) if takes_part(commons, c, x)]

    @router.post("/campaigns", response_model=CampaignOut, status_code=201, responses=WRITE)
    def open_campaign(c: CallerDep, body: CampaignIn) -> CampaignOut:
        if not runs(c, body.cooperative):
            raise forbidden(api_text("coop_only_campaign"))
        with guard():
            camp = pl.open_campaign(
                commons,
                cooperative=body.cooperative,
                members=cooperative_members(commons, body.cooperative),
                kind=body.kind,
                title=body.title,
                description=body.description,
                total_cost_krw=body.total_cost_krw,
                min_participants=body.min_participants,
                split=body.split,
                share_unit=body.share_unit,
                min_total_shares=body.min_total_shares,
                max_total_shares=body.max_total_shares,
                per_member_max_shares=body.per_member_max_shares,
                opens=body.opens or now(),
                closes=body.closes,
                now=now(),
                disclosure_min_firms=body.disclosure_min_firms,
            )
        return campaign_out(camp, c)

    @router.get("/campaigns/{campaign_id}", response_model=CampaignOut, responses=READ)
    def campaign(c: CallerDep, campaign_id: IdPath) -> CampaignOut:
        return campaign_out(visible_campaign(commons, c, campaign_id), c)

    @router.post("/campaigns/{campaign_id}/join", response_model=CampaignOut, responses=WRITE)
    def join(c: CallerDep, campaign_id: IdPath, body: QuantityIn) -> CampaignOut:
        me = act(c)
        visible_campaign(commons, c, campaign_id)
        with guard():
            pl.join_campaign(commons, campaign_id, me, body.quantity, now())
        return campaign_out(visible_campaign(commons, c, campaign_id), c)

    @router.post("/campaigns/{campaign_id}/leave", response_model=CampaignOut, responses=WRITE)
    def leave(c: CallerDep, campaign_id: IdPath) -> CampaignOut:
        me = act(c)
        camp = visible_campaign(commons, c, campaign_id)
        if me not in camp.participants():
            raise HTTPException(409, api_text("not_joined"))
        with guard():
            pl.leave_campaign(commons, campaign_id, me, now())
        return campaign_out(visible_campaign(commons, c, campaign_id), c)

    @router.post("/campaigns/{campaign_id}/close", response_model=SettlementOut, responses=WRITE)
    def close_campaign(c: CallerDep, campaign_id: IdPath) -> SettlementOut:
        camp = visible_campaign(commons, c, campaign_id)
        if not runs(c, camp.cooperative):
            raise forbidden()
        with guard():
            s = pl.close_campaign(commons, campaign_id, now())
        return settlement_out(s, len(camp.members), c, camp.cooperative, camp.disclosure_min_firms)

    @router.post("/campaigns/{campaign_id}/cancel", response_model=SettlementOut, responses=WRITE)
    def cancel_campaign(c: CallerDep, campaign_id: IdPath, body: CallOffIn) -> SettlementOut:
        """Call the campaign off before it settles (the cooperative): every deposit comes back."""
        camp = visible_campaign(commons, c, campaign_id)
        if not runs(c, camp.cooperative):
            raise forbidden()
        with guard():
            s = pl.cancel_campaign(commons, campaign_id, body.reason, now())
        return settlement_out(s, len(camp.members), c, camp.cooperative, camp.disclosure_min_firms)

    @router.post(
        "/campaigns/{campaign_id}/results", response_model=pl.CampaignResult, status_code=201, responses=WRITE
    )
    def add_result(c: CallerDep, campaign_id: IdPath, body: ResultIn) -> pl.CampaignResult:
        """Share a result of a settled campaign (its cooperative or a participant)."""
        me = act(c)
        visible_campaign(commons, c, campaign_id)
        with guard():
            return pl.add_campaign_result(
                commons, campaign_id, me, body.title, ref=body.ref, leads=body.leads, now=now()
            )

    @router.get("/campaigns/{campaign_id}/results", response_model=list[pl.CampaignResult], responses=READ)
    def campaign_results(c: CallerDep, campaign_id: IdPath) -> list[pl.CampaignResult]:
        """Shared results (leads, report) for the participants and the cooperative."""
        visible_campaign(commons, c, campaign_id)
        with guard():
            return pl.campaign_results(commons, campaign_id, firm_key(c))

    # -- experts, problems and missions ------------------------------------------------------
    @router.get("/experts", response_model=list[ExpertOut], responses=READ)
    def experts(
        c: CallerDep,
        skill: Annotated[str | None, Query(max_length=50)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[ExpertOut]:
        """Experts with their skills and record (never the firms they worked for)."""
        xs = [e for e in load_experts(commons) if skill is None or skill in e.skills]
        return [expert_out(e) for e in xs[:limit]]

    @router.post("/problems", response_model=ms.Problem, status_code=201, responses=WRITE)
    def post_problem(c: CallerDep, body: ProblemIn) -> ms.Problem:
        """Post a problem backed by a KPI of your own machines (computed here, not typed in)."""
        act(c)
        return create_problem(commons, store, c, body, now())

    @router.get("/problems", response_model=list[ms.Problem], responses=READ)
    def problems(c: CallerDep) -> list[ms.Problem]:
        if c.user.role not in ms.FIRM_READ_ROLES:
            return []
        return ms.problems_of(commons, firm_key(c))

    @router.get("/problems/{problem_id}", response_model=ms.Problem, responses=READ)
    def problem(c: CallerDep, problem_id: IdPath) -> ms.Problem:
        return own_problem(commons, c, problem_id)

    @router.get("/problems/{problem_id}/experts", response_model=list[ms.ExpertMatch], responses=READ)
    def problem_experts(
        c: CallerDep, problem_id: IdPath, limit: Annotated[int, Query(ge=1, le=100)] = 10
    ) -> list[ms.ExpertMatch]:
        """Experts for the problem: score = relevance × quality × trust, each with a note."""
        p = own_problem(commons, c, problem_id)
        with guard():
            return ms.match_experts(p, load_experts(commons), today_of(now()), limit=limit)

    @router.post("/problems/{problem_id}/accept", response_model=ms.Mission, status_code=201, responses=WRITE)
    def accept(c: CallerDep, problem_id: IdPath, body: AcceptIn) -> ms.Mission:
        """Accept an expert: a mission, and a data grant for exactly its weeks (owner only)."""
        own_problem(commons, c, problem_id)
        if c.user.role not in ms.GRANTING_ROLES:
            raise forbidden()
        with guard():
            return ms.accept(commons, accounts, problem_id, body.expert_id, c.user.id, now())

    @router.get("/missions", response_model=list[ms.Mission], responses=READ)
    def missions(c: CallerDep) -> list[ms.Mission]:
        """The firm's missions, or, for an expert, the missions they work on."""
        return ms.missions_for(commons, accounts, c.user.id)

    def readable_mission(c: Caller, mission_id: str) -> ms.Mission:
        m = commons.get(ms.MISSION_KIND, mission_id, ms.Mission)
        if m is None or not ms.may_read(m, c.user, accounts):
            raise HTTPException(404, NOT_FOUND)
        return m

    @router.get("/missions/{mission_id}", response_model=ms.Mission, responses=READ)
    def mission(c: CallerDep, mission_id: IdPath) -> ms.Mission:
        return readable_mission(c, mission_id)

    @router.post("/missions/{mission_id}/close", response_model=ms.Mission, responses=WRITE)
    def close_mission(c: CallerDep, mission_id: IdPath, body: CloseMissionIn) -> ms.Mission:
        """Close with the report (kept with the firm); the grant ends now if it still runs."""
        readable_mission(c, mission_id)
        with guard():
            return ms.close_mission(
                commons,
                accounts,
                mission_id,
                c.user.id,
                now(),
                text=body.text,
                findings=body.findings,
                fix=body.fix,
                rating=body.rating,
            )

    return router
