"""The public side of the commons: the profiles as others see them (kept in a cached view with
its match index), catalog search, ranked matches, teams of firms and batch allocation over
them, and a firm's evidence from its own machines.

Used by the API (`server/api/commons.py`), the pages (`server/web/commons.py`) and the CLI
(`cooperate/cli.py`) alike; nothing here knows about HTTP.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

from pydantic import BaseModel, Field

from . import places
from . import profiles as pf
from . import ratings as rt
from .db import CommonsDB
from .model import Evidence, Location, Match, Profile, Request
from .orders import error as orders_error
from .pools import CommonsError
from .teams import TeamStep, allocate_batch, plan_team
from .vocab import MATERIALS, PROCESSES

PROFILE, REQUEST = pf.KIND, "request"


class TeamOut(BaseModel):
    """A team of firms for a multi-step request (cooperate/teams.py `plan_team`)."""

    request_id: str
    feasible: bool
    steps: list[TeamStep]
    processing_krw: float
    transport_krw: float
    delivery_km: float
    lead_time_days: float
    objective: float | None = Field(description="cost + lead-time penalty (KRW); null if infeasible")
    lower_bound: float | None
    gap: float | None = Field(description="(objective - lower_bound) / lower_bound")
    proven_optimal: bool
    method: str
    reason: str


class BatchOut(BaseModel):
    """Teams for several requests at once (cooperate/teams.py `allocate_batch`).

    Per request: its team and cost (`objective`), `lower_bound` = the proven bound of the request
    planned alone (capacity shared with the batch can only cost more), `gap` against it, and
    `proven_optimal` = the whole allocation is proven optimal (HiGHS MILP)."""

    served: int = Field(description="requests with a team")
    objective: float | None = Field(description="the batch objective (KRW, unserved penalties included)")
    lower_bound: float | None
    gap: float | None
    proven_optimal: bool
    candidates_per_step: int
    teams: list[TeamOut]


def _finite(x: float) -> float | None:
    return x if x == x and abs(x) != float("inf") else None


def team_out(t: Any) -> TeamOut:
    return TeamOut(
        request_id=t.request_id,
        feasible=t.feasible,
        steps=list(t.steps),
        processing_krw=t.processing_krw,
        transport_krw=t.transport_krw,
        delivery_km=t.delivery_km,
        lead_time_days=t.lead_time_days,
        objective=_finite(t.objective),
        lower_bound=_finite(t.lower_bound),
        gap=_finite(t.gap),
        proven_optimal=t.proven_optimal,
        method=t.method,
        reason=t.reason,
    )


def public_index(commons: CommonsDB) -> Any:
    """The match index over the public profiles (built once per change of the profiles)."""
    from .match import MatchIndex

    view = public_view(commons)
    with _VIEWS_LOCK:
        if view.index is None:
            view.index = MatchIndex(view.profiles)
        return view.index


def plan_request_team(commons: CommonsDB, r: Request, today: date, time_limit_s: float = 1.0) -> TeamOut:
    """The cheapest feasible team of firms over the public profiles (cooperate.teams.plan_team)."""
    return team_out(plan_team(r, public_index(commons), today, time_limit_s=time_limit_s))


def allocate_requests(
    commons: CommonsDB, requests: Sequence[Request], today: date, time_limit_s: float = 5.0
) -> BatchOut:
    """Teams for several requests under shared capacity over the public profiles
    (cooperate.teams.allocate_batch), each with the proven bound of the request planned alone."""
    index = public_index(commons)
    try:
        batch = allocate_batch(requests, index, today, time_limit_s=time_limit_s)
    except RuntimeError as e:
        raise CommonsError.of("time_limit_s", "no_allocation_in_time", "conflict", error=e) from None
    teams = []
    for r, plan in zip(requests, batch.plans, strict=True):
        t = team_out(plan).model_copy(update={"proven_optimal": batch.proven_optimal})
        if plan.feasible:
            bound = plan_team(r, index, today, time_limit_s=1.0).lower_bound
            gap = (plan.objective - bound) / bound if bound > 0 else None
            t = t.model_copy(
                update={"lower_bound": _finite(bound), "gap": None if gap is None else _finite(gap)}
            )
        else:
            t = t.model_copy(update={"lower_bound": None, "gap": None})
        teams.append(t)
    return BatchOut(
        served=batch.served,
        objective=_finite(batch.objective),
        lower_bound=_finite(batch.lower_bound),
        gap=_finite(batch.gap),
        proven_optimal=batch.proven_optimal,
        candidates_per_step=batch.candidates_per_step,
        teams=teams,
    )


def save_evidence(commons: CommonsDB, firm_id: str, evidence: Evidence) -> Profile:
    """Keep new evidence in the firm's profile; a published kind without evidence any more drops out."""
    with commons.transaction():
        p = pf.load_profile(commons, firm_id)
        kept = frozenset(k for k in p.published if getattr(evidence, k) is not None)
        p = p.model_copy(
            update={"evidence": evidence, "published": kept, "published_at": p.published_at if kept else None}
        )
        pf.save_profile(commons, p)
    return p


class _PublicView:
    """The public profiles of one commons database and their match index, rebuilt only when a
    profile changed (checked by the count and the latest update time of the profile documents)."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.profiles: list[Profile] = []
        self.by_firm: dict[str, Profile] = {}
        self.index: Any = None
        self.texts: dict[str, str] = {}  # firm id -> search_text, filled by searches

    def refresh(self, commons: CommonsDB) -> _PublicView:
        key = commons.version(PROFILE)
        if key != self.key:
            self.profiles = [p.public() for p in commons.all(PROFILE, Profile)]
            self.by_firm = {p.firm_id: p for p in self.profiles}
            self.index, self.key, self.texts = None, key, {}
        return self


_VIEWS: WeakKeyDictionary[CommonsDB, _PublicView] = WeakKeyDictionary()


_VIEWS_LOCK = threading.Lock()


def public_view(commons: CommonsDB) -> _PublicView:
    with _VIEWS_LOCK:
        return _VIEWS.setdefault(commons, _PublicView()).refresh(commons)


def public_profiles(commons: CommonsDB) -> list[Profile]:
    """Every profile as others may see it (`Profile.public()`)."""
    return public_view(commons).profiles


def search_text(p: Profile) -> str:
    """What a free-text search looks through, folded to lower case: the firm's names and id, its
    city and district in Korean and romanised, its processes and materials by code and by Korean
    and English name, its certificates and UNSPSC codes ("incheon", "남동구", "powder", "분체")."""
    f = p.facility
    loc = f.location
    words = [f.name.ko, f.name.en, f.firm_id, loc.city, loc.district, loc.address]
    words += [places.korean(loc.city), places.romanise(loc.district)]
    codes = f.processes() | {m for e in f.equipment for m in e.materials}
    for code in codes:
        v = PROCESSES.get(code) or MATERIALS.get(code)
        words += [code.replace("_", " "), v.ko, v.en] if v else [code]
    words += [c.code for c in f.certifications] + list(f.unspsc)
    return " ".join(w for w in words if w).lower()


def _as_set(value: str | Sequence[str] | None) -> set[str]:
    if not value:
        return set()
    return {value} if isinstance(value, str) else {v for v in value if v}


def search_catalog(
    profiles: list[Profile],
    process: str | Sequence[str] | None = None,
    material: str | None = None,
    district: str | None = None,
    q: str | None = None,
    city: str | None = None,
    texts: dict[str, str] | None = None,
) -> list[Profile]:
    """Public profiles that fit the search (each filter optional): every process of `process`
    (one or several), the material, the city and district (Korean or romanised: "Incheon",
    "Namdong-gu"), and every word of `q` somewhere in `search_text` (Korean or English).
    `texts` caches `search_text` by firm id (`PublicView.texts`)."""
    out = []
    wanted = _as_set(process)
    city_k = places.city_key(city) or city.strip() if city else None
    district_k = places.district_key(district, city_k) if district else None
    words = (q or "").lower().split()
    for p in profiles:
        f = p.facility
        if wanted and not wanted <= f.processes():
            continue
        if material and not any(material in e.materials for e in f.equipment):
            continue
        if city_k and f.location.city != city_k:
            continue
        if district_k and district_k not in (f.location.district, f.location.city):
            continue
        if words:
            text = texts.get(f.firm_id) if texts is not None else None
            if text is None:
                text = search_text(p)
                if texts is not None:
                    texts[f.firm_id] = text
            if not all(w in text for w in words):
                continue
        out.append(p)
    return out


def search_public(commons: CommonsDB, **filters: Any) -> list[Profile]:
    """`search_catalog` over the public profiles, with their search texts cached."""
    view = public_view(commons)
    return search_catalog(view.profiles, texts=view.texts, **filters)


def locate(commons: CommonsDB, city: str = "", district: str = "", address: str = "") -> Location:
    """A request's location from a district (or an address naming one): the mean position of the
    commons' firms in that district (no geocoding service is used); `CommonsError` when the
    place is unknown or no firm is there to place it."""
    place = district or address
    found = None
    if district:
        d = places.district_of(district, places.city_key(city) if city else None)
        found = (d.city, d.ko) if d else None
    elif address:
        found = places.find_district(address)
    if found is None:
        raise orders_error("district" if district else "address", "no_place", place=place or city)
    there = [
        p.facility.location
        for p in public_view(commons).profiles
        if (p.facility.location.city, p.facility.location.district) == found
    ]
    if not there:
        raise orders_error("district" if district else "address", "no_place", place=place)
    return Location(
        city=found[0],
        district=found[1],
        address=address,
        lat=round(sum(x.lat for x in there) / len(there), 5),
        lon=round(sum(x.lon for x in there) / len(there), 5),
    )


def near_misses_of(commons: CommonsDB, r: Request, today: date, step: int = 0) -> Any:
    """Why few or no firms fit a step of a request (cooperate.match `near_misses`)."""
    return public_index(commons).near_misses(r, today, step=step)


def rank_request(commons: CommonsDB, r: Request, today: date, step: int = 0, limit: int = 20) -> list[Match]:
    """Ranked, explained matches of one step over the public profiles (cooperate.match.rank)."""
    index = public_index(commons)
    return index.rank(r, today, step=step, limit=limit, ratings=rt.load_book(commons))
