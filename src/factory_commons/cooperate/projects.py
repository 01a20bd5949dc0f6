"""Co-R&D projects: a firm posts a project seeking partners by role, and gets complementary ones.

Surveys found only about 11.5% of city manufacturers ever ran joint R&D (issue 6); the
marketplaces match one part to one shop. A `Project` names the roles it needs (designer,
engineer, maker, lab, marketer), each with the processes and skills it needs, in the shared
vocabulary. `recommend_partners(project, profiles, experts)` proposes, per role:

* firms (makers, engineers) for the processes the poster's own firm **lacks** — a firm that
  duplicates what the poster already has is not a partner, it is a competitor. Firm factors:
  ``coverage`` (share of the missing processes it brings, weight 0.6), ``complementarity``
  (share of its own processes the poster lacks, 0.25) and ``quality`` (first pass yield, only
  when the firm published it, else a neutral 0.5; 0.15);
* experts (designers, engineers, labs, marketers): ``relevance`` (weighted overlap of the
  role's skills, 0.6), ``quality`` and ``trust`` (0.2 each), the factors of expert missions.

Each factor carries value, weight, contribution and a Korean/English note; contributions add
up to the score. Only `Profile.public()` is read, so unpublished evidence never shapes a
recommendation. Projects persist in CommonsDB (kind "project", owner = the posting firm).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..i18n import N_, Catalog
from .db import CommonsDB
from .experts import Expert, ExpertError, check_skills
from .missions import quality as expert_quality
from .missions import relevance_of_skills, skill_labels
from .missions import trust as expert_trust
from .model import Profile, Text, msg
from .vocab import check_process

KIND = "project"

Role = Literal["designer", "engineer", "maker", "lab", "marketer"]
#: The roles a project can seek; their names are in the `commons_terms` catalog (`role_label`).
ROLE_CODES: tuple[str, ...] = (N_("designer"), N_("engineer"), N_("maker"), N_("lab"), N_("marketer"))
TERMS = Catalog("commons_terms")


def role_label(role: str, lang: str = "ko") -> str:
    """The Korean or English name of a project role."""
    return TERMS.get(role, lang)


def role_names() -> dict[str, tuple[str, str]]:
    """Role code -> (Korean, English) name, in the order of ROLE_CODES (for pages and forms)."""
    return {r: TERMS.pair(r) for r in ROLE_CODES}


#: Who may fill a role: firms, and experts of these kinds.
ROLE_CANDIDATES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "designer": (False, ("retired_engineer", "graduate_student", "university_lab")),
    "engineer": (True, ("retired_engineer", "graduate_student")),
    "maker": (True, ()),
    "lab": (False, ("university_lab", "graduate_student")),
    "marketer": (False, ("retired_engineer", "graduate_student")),
}
FIRM_WEIGHTS = {"coverage": 0.6, "complementarity": 0.25, "quality": 0.15}
EXPERT_WEIGHTS = {"relevance": 0.6, "quality": 0.2, "trust": 0.2}
NEUTRAL_QUALITY = 0.5  # a firm that did not publish its quality record is neither rewarded nor punished


class ProjectError(ValueError):
    """A project the commons refuses; the message names the field and why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleNeed(_Model):
    """One role a project needs, with the processes (for firms) and skills (for experts) it needs."""

    role: Role
    processes: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    note: Text | None = None

    @field_validator("processes")
    @classmethod
    def _processes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, p in enumerate(v):
            check_process(p, f"processes[{i}]")
        return tuple(dict.fromkeys(v))

    @field_validator("skills")
    @classmethod
    def _skills(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return check_skills(v)
        except ExpertError as e:
            raise ValueError(str(e)) from None


class Project(_Model):
    """A co-R&D project post by one firm, seeking partners for one or more roles."""

    id: str
    firm_id: str
    title: Text
    description: Text | None = None
    needs: tuple[RoleNeed, ...] = Field(min_length=1)
    posted: date
    status: Literal["open", "closed"] = "open"

    @field_validator("needs")
    @classmethod
    def _distinct_roles(cls, v: tuple[RoleNeed, ...]) -> tuple[RoleNeed, ...]:
        roles = [n.role for n in v]
        dup = sorted({r for r in roles if roles.count(r) > 1})
        if dup:
            raise ValueError(f"each role at most once; repeated: {', '.join(dup)}")
        for i, n in enumerate(v):
            if not (n.processes or n.skills):
                raise ValueError(f"needs[{i}] ({n.role}): name at least one process or skill")
        return v


class PartnerFactor(_Model):
    """One factor of a partner recommendation; contributions add up to the score."""

    name: str
    value: float = Field(ge=0, le=1)
    weight: float
    contribution: float
    note: Text


class PartnerCandidate(_Model):
    """A firm or expert proposed for one role of a project, with its explained score."""

    role: Role
    kind: Literal["firm", "expert"]
    candidate_id: str
    name: Text
    score: float
    factors: tuple[PartnerFactor, ...]
    brings: tuple[str, ...] = Field(description="processes/skills it adds that the poster lacks or needs")


def _factor(name: str, value: float, weight: float, note: Text) -> PartnerFactor:
    return PartnerFactor(
        name=name,
        value=round(value, 6),
        weight=weight,
        contribution=round(value * weight, 6),
        note=note,
    )


def _firm_candidate(
    need: RoleNeed, gap: set[str], own: set[str], profile: Profile
) -> PartnerCandidate | None:
    pub = profile.public()
    theirs = pub.facility.processes()
    brings = gap & theirs
    if not brings:
        return None
    coverage = len(brings) / len(gap)
    fresh = theirs - own
    comp = len(fresh) / len(theirs)
    q = pub.evidence.quality
    if q is not None:
        qv = q.first_pass_yield
        qnote = msg("partner_quality", fpy=qv * 100, start=q.period_start, end=q.period_end)
    else:
        qv = NEUTRAL_QUALITY
        qnote = msg("partner_quality_unpublished", neutral=NEUTRAL_QUALITY)
    factors = (
        _factor(
            "coverage",
            coverage,
            FIRM_WEIGHTS["coverage"],
            msg("partner_coverage", gap=len(gap), brings=len(brings), processes=skill_labels(sorted(brings))),
        ),
        _factor(
            "complementarity",
            comp,
            FIRM_WEIGHTS["complementarity"],
            msg("partner_complementarity", theirs=len(theirs), fresh=len(fresh)),
        ),
        _factor("quality", qv, FIRM_WEIGHTS["quality"], qnote),
    )
    return PartnerCandidate(
        role=need.role,
        kind="firm",
        candidate_id=profile.firm_id,
        name=pub.facility.name,
        score=round(sum(f.contribution for f in factors), 6),
        factors=factors,
        brings=tuple(sorted(brings)),
    )


def _expert_candidate(need: RoleNeed, expert: Expert) -> PartnerCandidate | None:
    wanted = tuple(dict.fromkeys(need.skills + need.processes))
    rel = relevance_of_skills(wanted, expert.skills)
    if rel.value == 0:
        return None
    q, t = expert_quality(expert), expert_trust(expert)
    factors = tuple(
        PartnerFactor(
            name=f.name,
            value=f.value,
            weight=EXPERT_WEIGHTS[f.name],
            contribution=round(f.value * EXPERT_WEIGHTS[f.name], 6),
            note=f.note,
        )
        for f in (rel, q, t)
    )
    return PartnerCandidate(
        role=need.role,
        kind="expert",
        candidate_id=expert.id,
        name=expert.name,
        score=round(sum(f.contribution for f in factors), 6),
        factors=factors,
        brings=tuple(s for s in wanted if s in set(expert.skills)),
    )


def recommend_partners(
    project: Project,
    profiles: list[Profile],
    experts: list[Expert],
    *,
    limit: int = 5,
) -> dict[str, list[PartnerCandidate]]:
    """For each role of `project` (in its order), the best `limit` complementary candidates.

    Firms are considered for maker and engineer roles, and only for the processes the poster's
    own firm (its profile among `profiles`, if any) does not have: a role whose processes the
    poster already covers gets no firm. The poster itself is never proposed. Experts are
    considered by kind (see ROLE_CANDIDATES) and need at least one of the role's skills.
    Order: score, then candidate id.
    """
    if limit < 1:
        raise ProjectError(f"limit: must be at least 1, got {limit}")
    poster = next((p for p in profiles if p.firm_id == project.firm_id), None)
    own = poster.facility.processes() if poster else set()
    out: dict[str, list[PartnerCandidate]] = {}
    for need in project.needs:
        firms_ok, expert_kinds = ROLE_CANDIDATES[need.role]
        found: list[PartnerCandidate] = []
        gap = set(need.processes) - own
        if firms_ok and gap:
            for prof in profiles:
                if prof.firm_id == project.firm_id:
                    continue
                c = _firm_candidate(need, gap, own, prof)
                if c is not None:
                    found.append(c)
        for x in experts:
            if x.kind in expert_kinds:
                c = _expert_candidate(need, x)
                if c is not None:
                    found.append(c)
        found.sort(key=lambda c: (-c.score, c.kind, c.candidate_id))
        out[need.role] = found[:limit]
    return out


def save_project(db: CommonsDB, project: Project) -> Project:
    """Insert or replace a project (owner = the posting firm)."""
    db.put(KIND, project.id, project.firm_id, project)
    return project


def load_project(db: CommonsDB, project_id: str) -> Project:
    p = db.get(KIND, project_id, Project)
    if p is None:
        raise ProjectError(f"project_id: no project {project_id!r}")
    return p


def projects_of(db: CommonsDB, firm_id: str) -> list[Project]:
    return db.all(KIND, Project, owner=firm_id)


def open_projects(db: CommonsDB) -> list[Project]:
    return [p for p in db.all(KIND, Project) if p.status == "open"]
