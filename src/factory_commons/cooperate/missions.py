"""Expert missions: a firm's problem backed by its own KPIs, expert matching, scoped expiring grants.

The flow (docs/commons/missions.md has the whole story):

1. `kpi_evidence(store, metric, scope, start, end)` computes the figure a problem rests on
   ("press line 2 scrap 6.1% over the last 30 days") with the KPI module from the firm's own
   Store: the evidence names the metric, the machines, the period and the value.
2. A `Problem` carries that evidence, the skills needed (the vocabulary of `experts`), a fixed
   length in weeks, hours per week, and the scope: the machines or lines an expert may read.
   `save_problem` keeps it in CommonsDB (kind "problem", owner = the firm).
3. `match_experts(problem, experts, today)` ranks available experts by
   score = relevance × quality × trust, each factor with its value and a Korean/English note.
4. `accept(...)` turns a problem and an expert into a `Mission` and opens a grant through
   `Accounts.create_grant` for exactly the mission's weeks; the grant ends by itself, the
   mission records its id (kind "mission", owner = the firm).
5. `close_mission(...)` (the expert, or an owner or engineer of the firm: `CLOSING_ROLES`;
   only the firm rates, and an operator neither closes nor rates) keeps the report (text, findings, the fix that worked) with the firm,
   revokes the grant if it is still running and adds the outcome to the expert's record.

Only the firm's own users (owner, engineer, operator) and the mission's expert may read a
mission (`read_mission`, `missions_for`).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..accounts import Accounts, Firm, User
from ..kpi import KpiConfig, compute_kpis
from .db import CommonsDB
from .experts import (
    Expert,
    ExpertError,
    PastMission,
    check_skills,
    get_expert,
    record_outcome,
    skill_kind,
    skill_label,
)
from .model import ERRORS, Text, msg

if TYPE_CHECKING:
    from ..store.base import Store

PROBLEM_KIND = "problem"
MISSION_KIND = "mission"
MIN_WEEKS, MAX_WEEKS = 2, 26  # fixed-length missions: Smart Meister runs 3 months, SES at most 6 (anchors §4)

#: Roles of the firm that may accept an expert (open a grant), as `server.auth.PERMISSIONS["grant"]`.
GRANTING_ROLES = ("owner",)
#: Roles of the firm that may read its problems and missions.
FIRM_READ_ROLES = ("owner", "engineer", "operator")
#: Roles of the firm that may close a mission (with the report), rate the expert or abandon it:
#: those who act for the firm in the commons. An operator reads, never closes nor rates.
CLOSING_ROLES = ("owner", "engineer")

#: KPIs a problem may cite: code -> (Korean, English, "ratio" or "seconds").
METRICS: dict[str, tuple[str, str, str]] = {
    "scrap_ratio": (*ERRORS.pair("metric_scrap_ratio"), "ratio"),
    "first_pass_yield": (*ERRORS.pair("metric_first_pass_yield"), "ratio"),
    "quality_ratio": (*ERRORS.pair("metric_quality_ratio"), "ratio"),
    "oee": (*ERRORS.pair("metric_oee"), "ratio"),
    "availability": (*ERRORS.pair("metric_availability"), "ratio"),
    "effectiveness": (*ERRORS.pair("metric_effectiveness"), "ratio"),
    "setup_rate": (*ERRORS.pair("metric_setup_rate"), "ratio"),
    "mtbf_s": (*ERRORS.pair("metric_mtbf_s"), "seconds"),
    "mttr_s": (*ERRORS.pair("metric_mttr_s"), "seconds"),
}

#: Weight of a needed skill in the relevance factor, by kind.
SKILL_WEIGHTS = {"topic": 1.0, "process": 1.0, "material": 0.5}
#: Quality smoothing: ratings are averaged with PRIOR_WEIGHT pseudo-ratings of PRIOR_RATING.
PRIOR_RATING, PRIOR_WEIGHT = 3.5, 2.0
ABANDONED_RATING = 1  # an abandoned mission counts as the lowest rating


class MissionError(ValueError):
    """A problem or mission request the commons refuses; the message names the field and why."""


class MissionAccessError(MissionError, PermissionError):
    """The user may not read or change this problem or mission."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- evidence ------------------------------------------------------------------------------------


class KpiEvidence(_Model):
    """A KPI figure from the firm's own Store: which metric, which machines, which period, value."""

    metric: str
    label: Text = Field(description="what the machines are, in Korean and English, e.g. press line 2")
    scope: tuple[str, ...] = Field(min_length=1, description="machine paths or line prefixes asked for")
    machines: tuple[str, ...] = Field(min_length=1, description="the machine paths the figure covers")
    period_start: datetime
    period_end: datetime
    value: float
    produced_quantity: int = Field(ge=0)
    computed_at: datetime
    source: Literal["kpi"] = "kpi"

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; known: {', '.join(METRICS)}")
        return v

    def formatted(self) -> str:
        """The value as people read it: a percentage for ratios, hours or minutes for times."""
        if METRICS[self.metric][2] == "ratio":
            return f"{self.value * 100:.1f}%"
        return f"{self.value / 3600:.1f} h" if self.value >= 3600 else f"{self.value / 60:.0f} min"

    def text(self, lang: str = "ko") -> str:
        """One line, e.g. '프레스 2라인 불량률 6.1% (최근 30일, 2026-10-05–2026-11-04)'."""
        ko, en, _ = METRICS[self.metric]
        days = round((self.period_end - self.period_start).total_seconds() / 86400)
        span = f"{self.period_start.date()}–{(self.period_end - timedelta(seconds=1)).date()}"
        line = msg(
            "kpi_evidence",
            label=Text(ko=self.label.get("ko"), en=self.label.get("en")),
            metric=Text(ko=ko, en=en),
            value=self.formatted(),
            days=days,
            span=span,
            machines=len(self.machines),
        )
        return line.ko if lang == "ko" else line.en


def expand_scope(store: Store, scope: list[str] | tuple[str, ...], field: str = "scope") -> list[str]:
    """The machine paths at or under each scope entry (a machine path or a line/area prefix)."""
    paths = [m.path for m in store.machines()]
    out: list[str] = []
    for i, s in enumerate(scope):
        hit = [p for p in paths if p == s or p.startswith(s.rstrip("/") + "/")]
        if not hit:
            raise MissionError(f"{field}[{i}]: no machine at or under {s!r} in this store")
        out += [p for p in hit if p not in out]
    return out


def kpi_evidence(
    store: Store,
    metric: str,
    scope: list[str] | tuple[str, ...],
    start: datetime,
    end: datetime,
    *,
    label: Text | None = None,
    config: KpiConfig | None = None,
    now: datetime | None = None,
) -> KpiEvidence:
    """The `metric` over all machines of `scope` together for [start, end), computed by `compute_kpis`.

    The machines are pooled (one figure for the line, not an average of machines): the scrap
    ratio is the line's scrap over the line's produced quantity. A metric without data in the
    period (no parts made, no failures for MTBF) is refused rather than shown as 0.
    """
    if metric not in METRICS:
        raise MissionError(f"metric: unknown metric {metric!r}; known: {', '.join(METRICS)}")
    if not scope:
        raise MissionError("scope: name at least one machine or line")
    machines = expand_scope(store, scope)
    df = compute_kpis(store, start, end, group_by=(), config=config, machines=machines)
    value = float(df[metric].iloc[0]) if len(df) else math.nan
    if math.isnan(value):
        raise MissionError(f"metric: {metric} has no data for {', '.join(scope)} between {start} and {end}")
    return KpiEvidence(
        metric=metric,
        label=label or Text(ko=", ".join(scope), en=", ".join(scope)),
        scope=tuple(scope),
        machines=tuple(machines),
        period_start=_utc(start),
        period_end=_utc(end),
        value=value,
        produced_quantity=int(df["produced_quantity"].iloc[0]),
        computed_at=_utc(now or datetime.now(UTC)),
    )


def _utc(value: datetime) -> datetime:
    """An aware datetime: naive ones are taken as UTC, aware ones keep their zone (dates read locally)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -- problems ------------------------------------------------------------------------------------


class Problem(_Model):
    """A firm's problem for an outside expert, backed by its own KPI evidence."""

    id: str
    firm_id: str = Field(description="commons firm id = the accounts firm name")
    title: Text
    description: Text | None = None
    evidence: tuple[KpiEvidence, ...] = Field(min_length=1)
    skills: tuple[str, ...] = Field(min_length=1, description="process, material or topic codes")
    weeks: int = Field(ge=MIN_WEEKS, le=MAX_WEEKS, description="fixed mission length")
    hours_per_week: float = Field(default=8, gt=0, le=60)
    earliest_start: date
    scope: tuple[str, ...] = Field(min_length=1, description="machines or lines the expert may read")
    posted: date
    status: Literal["open", "matched", "closed"] = "open"

    @field_validator("skills")
    @classmethod
    def _skills(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return check_skills(v)
        except ExpertError as e:
            raise ValueError(str(e)) from None

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, s in enumerate(v):
            if not s.strip("/") or s.count("/") > 4:
                raise ValueError(f"scope[{i}]: {s!r} is not a machine path or a prefix of one")
        return v


def save_problem(db: CommonsDB, problem: Problem) -> Problem:
    """Insert or replace a problem (owner = its firm)."""
    db.put(PROBLEM_KIND, problem.id, problem.firm_id, problem)
    return problem


def load_problem(db: CommonsDB, problem_id: str) -> Problem:
    p = db.get(PROBLEM_KIND, problem_id, Problem)
    if p is None:
        raise MissionError(f"problem_id: no problem {problem_id!r}")
    return p


def problems_of(db: CommonsDB, firm_id: str) -> list[Problem]:
    """The problems a firm posted."""
    return db.all(PROBLEM_KIND, Problem, owner=firm_id)


def open_problems(db: CommonsDB) -> list[Problem]:
    """Problems still looking for an expert (what experts browse)."""
    return [p for p in db.all(PROBLEM_KIND, Problem) if p.status == "open"]


def problems_for(db: CommonsDB, accounts: Accounts, user_id: int) -> list[Problem]:
    """The problems a user may see: their firm's own (any status) for its owner, engineer or
    operator; open problems, and those they were accepted for, for an expert; none for others.

    Posting a problem shows its title, skills, scope and KPI evidence to the hub's experts,
    never to other firms.
    """
    user = accounts.user(user_id)
    if user is None:
        return []
    if user.role == "expert":
        mine = {m.problem_id for m in db.all(MISSION_KIND, Mission) if m.expert_user_id == user.id}
        return [p for p in db.all(PROBLEM_KIND, Problem) if p.status == "open" or p.id in mine]
    firm = accounts.firm(user.firm_id)
    if firm is None or user.role not in FIRM_READ_ROLES:
        return []
    return problems_of(db, firm.name)


def mission_window(problem: Problem, today: date) -> tuple[date, date]:
    """First and last day of the mission if it were accepted `today`."""
    start = max(problem.earliest_start, today)
    return start, start + timedelta(weeks=problem.weeks, days=-1)


# -- matching ------------------------------------------------------------------------------------


class ScoreFactor(_Model):
    """One factor of an expert match: value in [0, 1] and why, in Korean and English."""

    name: Literal["relevance", "quality", "trust"]
    value: float = Field(ge=0, le=1)
    note: Text


class ExpertMatch(_Model):
    """One expert for one problem: score = relevance × quality × trust."""

    problem_id: str
    expert_id: str
    score: float
    factors: tuple[ScoreFactor, ...]
    available: bool
    starts: date
    ends: date
    matched: tuple[str, ...]
    missing: tuple[str, ...]


def relevance_of_skills(needed: tuple[str, ...], have: tuple[str, ...]) -> ScoreFactor:
    """Weighted overlap of needed skills with those an expert has (topics and processes 1, materials 0.5)."""
    mine = set(have)
    total = sum(SKILL_WEIGHTS[skill_kind(s)] for s in needed)
    hit = [s for s in needed if s in mine]
    miss = [s for s in needed if s not in mine]
    value = sum(SKILL_WEIGHTS[skill_kind(s)] for s in hit) / total if total else 0.0
    note = msg("skills_held", needed=len(needed), hit=len(hit), held=skill_labels(hit))
    if miss:
        note = msg("skills_lacking", note=note, lacks=skill_labels(miss))
    return ScoreFactor(name="relevance", value=round(value, 6), note=note)


def skill_labels(codes: list[str] | tuple[str, ...]) -> Text:
    """The names of skills, comma-separated, in Korean and English ("없음" / "none" for no skill)."""
    none = msg("none")
    return Text(
        ko=", ".join(skill_label(s, "ko") for s in codes) or none.ko,
        en=", ".join(skill_label(s, "en") for s in codes) or none.en,
    )


def relevance(problem: Problem, expert: Expert) -> ScoreFactor:
    """The relevance factor of an expert for a problem (see `relevance_of_skills`)."""
    return relevance_of_skills(problem.skills, expert.skills)


def quality(expert: Expert) -> ScoreFactor:
    """Smoothed past ratings: (Σ ratings + 2 × 3.5) / (n + 2), over 5; abandoned missions count as 1."""
    ratings = [
        p.rating if p.outcome == "completed" else ABANDONED_RATING
        for p in expert.past
        if p.outcome == "abandoned" or p.rating is not None
    ]
    n = len(ratings)
    smoothed = (sum(ratings) + PRIOR_WEIGHT * PRIOR_RATING) / (n + PRIOR_WEIGHT)
    if n:
        mean = sum(ratings) / n
        note = msg(
            "ratings_smoothed", n=n, mean=mean, smoothed=smoothed, prior=PRIOR_RATING, weight=PRIOR_WEIGHT
        )
    else:
        note = msg("ratings_none", prior=PRIOR_RATING)
    return ScoreFactor(name="quality", value=round(smoothed / 5, 6), note=note)


def trust(expert: Expert) -> ScoreFactor:
    """0.4 + 0.2 verified affiliation + 0.2 × min(completed, 5)/5 + 0.2 × min(years, 20)/20."""
    done = expert.completed()
    value = (
        0.4 + 0.2 * expert.affiliation_verified + 0.2 * min(done, 5) / 5 + 0.2 * min(expert.years, 20) / 20
    )
    verified = msg("affiliation_verified") if expert.affiliation_verified else msg("affiliation_not_verified")
    return ScoreFactor(
        name="trust",
        value=round(value, 6),
        note=msg("trust_note", verified=verified, done=done, years=expert.years),
    )


def score_expert(problem: Problem, expert: Expert, today: date) -> ExpertMatch:
    """The explained match of one expert for one problem (available or not)."""
    starts, ends = mission_window(problem, today)
    factors = (relevance(problem, expert), quality(expert), trust(expert))
    score = math.prod(f.value for f in factors)
    have = set(expert.skills)
    return ExpertMatch(
        problem_id=problem.id,
        expert_id=expert.id,
        score=round(score, 6),
        factors=factors,
        available=expert.available(starts, problem.weeks, problem.hours_per_week),
        starts=starts,
        ends=ends,
        matched=tuple(s for s in problem.skills if s in have),
        missing=tuple(s for s in problem.skills if s not in have),
    )


def match_experts(
    problem: Problem,
    experts: list[Expert],
    today: date,
    *,
    limit: int = 10,
    include_unavailable: bool = False,
) -> list[ExpertMatch]:
    """Experts for `problem`, best first: score = relevance × quality × trust.

    Only experts who share at least one needed skill are listed. By default only those whose
    availability covers every week of the mission window (from max(earliest_start, today),
    `problem.weeks` long, with at least `problem.hours_per_week`) are returned; with
    `include_unavailable` the others follow them, marked `available=False`. Ties break by
    expert id, so the order is deterministic.
    """
    if limit < 1:
        raise MissionError(f"limit: must be at least 1, got {limit}")
    found = [score_expert(problem, e, today) for e in experts]
    found = [m for m in found if m.matched and (m.available or include_unavailable)]
    found.sort(key=lambda m: (not m.available, -m.score, m.expert_id))
    return found[:limit]


# -- missions ------------------------------------------------------------------------------------


class MissionReport(_Model):
    """What the mission found and what fixed it; kept with the firm."""

    text: Text
    findings: tuple[str, ...] = ()
    fix: str = Field(default="", description="the fix that worked")
    author_user_id: int
    submitted: datetime


class Mission(_Model):
    """An accepted mission: one expert, one firm's problem, one grant for exactly its weeks."""

    id: str
    problem_id: str
    firm_id: str
    expert_id: str
    expert_user_id: int
    grant_id: int
    scope: tuple[str, ...]
    starts: datetime
    expires: datetime
    accepted_by: int
    status: Literal["active", "closed"] = "active"
    closed_at: datetime | None = None
    closed_by: int | None = None
    report: MissionReport | None = None
    rating: int | None = Field(default=None, ge=1, le=5, description="the firm's rating of the expert")
    outcome: Literal["completed", "abandoned"] | None = None

    def state(self, now: datetime) -> str:
        """'scheduled', 'running', 'ended' (its time ran out) or 'closed' (report kept)."""
        if self.status == "closed":
            return "closed"
        if now < self.starts:
            return "scheduled"
        return "running" if now < self.expires else "ended"


def mission_id_for(problem_id: str) -> str:
    """A problem gets at most one mission; its id follows from the problem's."""
    return f"m-{problem_id}"


def _firm_user(accounts: Accounts, firm_name: str, user_id: int, roles: tuple[str, ...]) -> tuple[Firm, User]:
    firm = accounts.firm_by_name(firm_name)
    if firm is None:
        raise MissionError(f"firm_id: no accounts firm named {firm_name!r}")
    user = accounts.user(user_id)
    if user is None or user.firm_id != firm.id or user.role not in roles:
        raise MissionAccessError(
            f"user {user_id}: must be a user of {firm_name} with role {' or '.join(roles)}"
        )
    return firm, user


def accept(
    db: CommonsDB,
    accounts: Accounts,
    problem_id: str,
    expert_id: str,
    accepted_by: int,
    now: datetime,
) -> Mission:
    """The firm accepts an expert for its problem: a mission and a grant for exactly its weeks.

    `accepted_by` is the accounts user id of an owner of the problem's firm. The grant covers
    the problem's scope (every entry must be one of the firm's own machines or lines), starts
    at `now` (or at the problem's earliest start, if later) and expires `weeks` later by
    itself. Refused when the problem is not open, the expert has no accounts user with role
    "expert", or the expert is not available for the whole window.
    """
    now = _utc(now)
    problem = load_problem(db, problem_id)
    firm, _ = _firm_user(accounts, problem.firm_id, accepted_by, GRANTING_ROLES)
    expert = get_expert(db, expert_id)
    if expert.user_id is None:
        raise MissionError(f"expert_id: expert {expert_id!r} has no accounts user to grant access to")
    xuser = accounts.user(expert.user_id)
    if xuser is None or xuser.role != "expert" or not getattr(xuser, "active", True):
        raise MissionError(
            f"expert_id: accounts user {expert.user_id} of {expert_id!r} is not an active expert"
        )
    for i, s in enumerate(problem.scope):
        if s.split("/", 1)[0] not in firm.enterprises:
            raise MissionError(f"scope[{i}]: {s!r} is not a machine of {firm.name}")
    # the mission starts now, or at midnight (in now's time zone) of the problem's earliest start
    starts = (
        now
        if problem.earliest_start <= now.date()
        else datetime.combine(problem.earliest_start, time(0), now.tzinfo)
    )
    if not expert.available(starts.date(), problem.weeks, problem.hours_per_week):
        raise MissionError(
            f"expert_id: {expert_id!r} is not available {problem.hours_per_week:g} h/week for "
            f"{problem.weeks} weeks from {starts.date()}"
        )
    expires = starts + timedelta(weeks=problem.weeks)
    mid = mission_id_for(problem.id)
    with db.transaction():
        current = load_problem(db, problem_id)
        if current.status != "open" or db.get(MISSION_KIND, mid, Mission) is not None:
            raise MissionError(f"problem_id: {problem_id!r} is {current.status}, not open")
        grant = accounts.create_grant(firm.id, xuser.id, list(problem.scope), starts, expires, accepted_by)
        try:
            mission = Mission(
                id=mid,
                problem_id=problem.id,
                firm_id=problem.firm_id,
                expert_id=expert.id,
                expert_user_id=xuser.id,
                grant_id=grant.id,
                scope=problem.scope,
                starts=starts,
                expires=expires,
                accepted_by=accepted_by,
            )
            db.put(MISSION_KIND, mid, problem.firm_id, mission)
            db.put(
                PROBLEM_KIND, problem.id, problem.firm_id, current.model_copy(update={"status": "matched"})
            )
        except BaseException:
            accounts.revoke_grant(grant.id, now)  # never leave a grant without its mission
            raise
    return mission


def close_mission(
    db: CommonsDB,
    accounts: Accounts,
    mission_id: str,
    closed_by: int,
    now: datetime,
    *,
    text: Text,
    findings: list[str] | tuple[str, ...] = (),
    fix: str = "",
    rating: int | None = None,
    outcome: Literal["completed", "abandoned"] = "completed",
) -> Mission:
    """Close a mission with its report; revoke the grant if it still runs; record the outcome.

    `closed_by` is the expert's accounts user or a user of the firm with a role of
    `CLOSING_ROLES` (owner, engineer; never an operator). Only the firm may rate the expert (1–5) or close the mission as "abandoned"
    (the expert did not deliver; it counts as the lowest rating in later matching). The
    report is stored inside the mission, owned by the firm; the expert's record gets the
    outcome for later matching.
    """
    now = _utc(now)
    if rating is not None and not 1 <= rating <= 5:
        raise MissionError(f"rating: must be 1 to 5, got {rating}")
    if outcome not in ("completed", "abandoned"):
        raise MissionError(f"outcome: must be completed or abandoned, got {outcome!r}")
    with db.transaction():
        mission = _load_mission(db, mission_id)
        if mission.status == "closed":
            raise MissionError(f"mission_id: {mission_id!r} is already closed")
        by_expert = closed_by == mission.expert_user_id
        if not by_expert:
            _firm_user(accounts, mission.firm_id, closed_by, CLOSING_ROLES)
        elif rating is not None or outcome != "completed":
            raise MissionAccessError("rating: the expert cannot rate or abandon their own mission")
        report = MissionReport(
            text=text, findings=tuple(findings), fix=fix, author_user_id=closed_by, submitted=now
        )
        grant = accounts.grant(mission.grant_id)
        if grant is not None and grant.revoked_at is None and now < grant.expires:
            accounts.revoke_grant(grant.id, now)
        mission = mission.model_copy(
            update={
                "status": "closed",
                "closed_at": now,
                "closed_by": closed_by,
                "report": report,
                "rating": rating,
                "outcome": outcome,
            }
        )
        db.put(MISSION_KIND, mission.id, mission.firm_id, mission)
        problem = db.get(PROBLEM_KIND, mission.problem_id, Problem)
        if problem is not None:
            db.put(PROBLEM_KIND, problem.id, problem.firm_id, problem.model_copy(update={"status": "closed"}))
        record_outcome(
            db,
            mission.expert_id,
            PastMission(
                mission_id=mission.id,
                firm_id=mission.firm_id,
                ended=now.date(),
                outcome=outcome,
                rating=rating,
            ),
        )
    return mission


def _load_mission(db: CommonsDB, mission_id: str) -> Mission:
    m = db.get(MISSION_KIND, mission_id, Mission)
    if m is None:
        raise MissionError(f"mission_id: no mission {mission_id!r}")
    return m


def may_read(mission: Mission, user: User | None, accounts: Accounts) -> bool:
    """Only the mission's expert and the firm's own users (owner, engineer, operator)."""
    if user is None:
        return False
    if user.id == mission.expert_user_id:
        return True
    firm = accounts.firm_by_name(mission.firm_id)
    return firm is not None and user.firm_id == firm.id and user.role in FIRM_READ_ROLES


def read_mission(db: CommonsDB, accounts: Accounts, mission_id: str, user_id: int) -> Mission:
    """A mission, for its firm or its expert; MissionAccessError for anyone else."""
    mission = _load_mission(db, mission_id)
    if not may_read(mission, accounts.user(user_id), accounts):
        raise MissionAccessError(f"mission_id: user {user_id} may not read mission {mission_id!r}")
    return mission


def missions_for(db: CommonsDB, accounts: Accounts, user_id: int) -> list[Mission]:
    """The missions a user may read: their firm's, or those they work on as the expert."""
    user = accounts.user(user_id)
    if user is None:
        return []
    if user.role == "expert":
        return [m for m in db.all(MISSION_KIND, Mission) if m.expert_user_id == user.id]
    firm = accounts.firm(user.firm_id)
    if firm is None or user.role not in FIRM_READ_ROLES:
        return []
    return db.all(MISSION_KIND, Mission, owner=firm.name)
