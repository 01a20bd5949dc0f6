"""The sample region for the regional view: `cooperate.sample.generate_region` plus what the
region needs — which firms opted in, maturity answers and evidence, survey responses to the
cooperation questionnaire, support programmes with before/after snapshots, buyer–supplier
links and platform activity. All synthetic and seeded: one seed gives the same region.

Planted truths, for tests and benches (not data about real firms):

* each firm has a latent maturity (larger firms and machining/press shops higher) from which
  its item levels are drawn; firms that publish KPI evidence get measured items;
* the survey is a stratified sample (city × size class, medium firms oversampled) with
  weights N_h / n_h; each firm's true answers come from `TRUE_RATES`, shaped like the Seoul
  study's figures (questionnaire.py), so the weighted estimates should find them;
* programmes raise the overall maturity score of the firms they support by
  `PLANTED_EFFECT["overall_level"]` and their OEE by `PLANTED_EFFECT["oee"]` between the
  before and the after snapshot, on top of a trend that every firm shares (`TREND`); the
  programme `prog-none` plants no effect.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from ..cooperate.sample import ARCHETYPES, Region, generate_region
from .maturity import load_model
from .models import (
    EvidenceValue,
    KpiSnapshot,
    MaturityAnswers,
    PlatformActivity,
    Programme,
    RegionFirm,
    SupplierLink,
    SurveyResponse,
    size_class,
)
from .questionnaire import COOPERATION_SURVEY, TRUE_RATES

#: the archetype (kind of shop) of a firm, from its first (core) process
_INDUSTRY_OF_PROCESS = {a.core[0]: a.code for a in ARCHETYPES}
INDUSTRIES: tuple[str, ...] = tuple(a.code for a in ARCHETYPES)

OPT_IN_SHARE = 0.65
SURVEY_FRACTION = {"micro": 0.12, "small": 0.2, "medium": 0.5, "large": 1.0}
PLANTED_EFFECT = {"overall_level": 0.6, "oee": 0.05}
TREND = {"overall_level": 0.15, "oee": 0.01}


def industry_of(first_process: str) -> str:
    return _INDUSTRY_OF_PROCESS.get(first_process, "other")


@dataclass
class RegionSample:
    """The sample region: the commons region and the region's own documents."""

    commons: Region
    firms: list[RegionFirm]
    maturity: list[MaturityAnswers]
    survey: list[SurveyResponse]
    programmes: list[Programme]
    snapshots: list[KpiSnapshot]
    links: list[SupplierLink]
    activity: list[PlatformActivity]
    latent: dict[str, float] = field(default_factory=dict, repr=False)

    def documents(self) -> list:
        return [
            *self.firms,
            *self.maturity,
            *self.survey,
            *self.programmes,
            *self.snapshots,
            *self.links,
            *self.activity,
        ]


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _latent(rng: random.Random, firm: RegionFirm) -> float:
    base = {"micro": 1.6, "small": 2.1, "medium": 2.7, "large": 3.2}[firm.size]
    base += {"machining": 0.2, "press": 0.2, "precision": 0.3, "plastics": 0.1}.get(firm.industry, 0.0)
    return _clip(rng.gauss(base, 0.55), 1.0, 4.8)


def _maturity(
    rng: random.Random, firm: RegionFirm, theta: float, measured: bool, today: date
) -> MaturityAnswers:
    model = load_model()
    answers: dict[str, int] = {}
    evidence: dict[str, EvidenceValue] = {}
    for item in model.items:
        if item.metric and item.metric != "codified_knowhow" and measured:
            # a share that grows with maturity: the item's level-(θ) threshold, give or take
            points = [0.0, *item.thresholds, 1.0]
            pos = _clip(theta + rng.gauss(0, 0.5), 1.0, 5.0)
            lo = int(min(math.floor(pos), 4))
            frac = pos - lo
            value = _clip(points[lo - 1] + frac * (points[lo] - points[lo - 1]), 0.0, 1.0)
            evidence[item.id] = EvidenceValue(
                item=item.id,
                metric=item.metric,
                value=round(value, 4),
                level=item.level_of(value),
                basis={"source": "sample"},
            )
        elif rng.random() < 0.93:  # a few items left unanswered
            answers[item.id] = int(_clip(round(theta + rng.gauss(0, 0.7)), 1, 5))
    day = today - timedelta(days=rng.randint(0, 120))
    return MaturityAnswers(firm_id=firm.firm_id, assessed_on=day, answers=answers, evidence=evidence)


def _survey(rng: random.Random, firms: list[RegionFirm], theta: dict[str, float]) -> list[SurveyResponse]:
    strata: dict[tuple[str, str], list[RegionFirm]] = {}
    for f in firms:
        strata.setdefault((f.city, f.size), []).append(f)
    out = []
    for (city, size), members in sorted(strata.items()):
        n_h = max(2, round(len(members) * SURVEY_FRACTION[size])) if len(members) >= 2 else len(members)
        chosen = rng.sample(members, n_h)
        weight = len(members) / n_h
        for f in chosen:
            answers: dict[str, float | None] = {}
            for q in COOPERATION_SURVEY:
                p = TRUE_RATES[q.id](f, theta[f.firm_id])
                answers[q.id] = None if rng.random() < 0.02 else float(rng.random() < p)
            out.append(
                SurveyResponse(
                    survey="cooperation",
                    respondent=f"r-{f.firm_id}",
                    firm_id=f.firm_id,
                    district=f.district,
                    industry=f.industry,
                    size=f.size,
                    weight=round(weight, 6),
                    stratum=f"{city}:{size}",
                    answers=answers,
                )
            )
    return out


def _programmes(
    rng: random.Random, firms: list[RegionFirm], theta: dict[str, float], today: date
) -> tuple[list[Programme], list[KpiSnapshot]]:
    start = today - timedelta(days=400)
    end = today - timedelta(days=60)
    pool = [f for f in firms]
    rng.shuffle(pool)
    specs = [
        (
            "prog-basic",
            "스마트공장 기초 보급",
            "Smart factory basics",
            40,
            2,
            ("process_control", "quality"),
            True,
        ),
        ("prog-upgrade", "스마트공장 고도화", "Smart factory upgrade", 25, 3, ("information_systems",), True),
        ("prog-none", "설비 컨설팅 시범", "Equipment consulting pilot", 30, 2, ("equipment",), False),
    ]
    programmes, supported = [], {}
    at = 0
    for pid, ko, en, n, target, doms, effect in specs:
        chosen = pool[at : at + n]
        at += n
        budget = n * rng.choice((20_000_000, 30_000_000, 50_000_000))
        programmes.append(
            Programme(
                id=pid,
                name_ko=ko,
                name_en=en,
                budget_krw=budget,
                start=start,
                end=end,
                firms=tuple(sorted(f.firm_id for f in chosen)),
                level_target=target,
                domains=doms,
            )
        )
        for f in chosen:
            supported[f.firm_id] = effect
    snaps = []
    for f in firms:
        t0 = theta[f.firm_id]
        oee0 = _clip(0.35 + 0.08 * t0 + rng.gauss(0, 0.06), 0.05, 0.95)
        gain = PLANTED_EFFECT if supported.get(f.firm_id) else {"overall_level": 0.0, "oee": 0.0}
        lvl1 = t0 + TREND["overall_level"] + gain["overall_level"] + rng.gauss(0, 0.25)
        oee1 = oee0 + TREND["oee"] + gain["oee"] + rng.gauss(0, 0.03)
        snaps.append(KpiSnapshot(firm_id=f.firm_id, on=start, overall_level=round(t0, 3), oee=round(oee0, 4)))
        snaps.append(
            KpiSnapshot(
                firm_id=f.firm_id,
                on=end,
                overall_level=round(_clip(lvl1, 1.0, 5.0), 3),
                oee=round(_clip(oee1, 0.0, 1.0), 4),
            )
        )
    return programmes, snaps


def _links(rng: random.Random, firms: list[RegionFirm], today: date) -> list[SupplierLink]:
    buyers = sorted(firms, key=lambda f: (-f.employees, f.firm_id))[:4]
    out = []
    for b in buyers:
        near = [f for f in firms if f.city == b.city and f.firm_id != b.firm_id and f not in buyers]
        for s in rng.sample(near, min(len(near), rng.randint(10, 25))):
            out.append(
                SupplierLink(
                    buyer=b.firm_id, supplier=s.firm_id, since=today - timedelta(days=rng.randint(90, 2000))
                )
            )
    return out


def _activity(
    rng: random.Random, commons: Region, firms: list[RegionFirm], theta: dict[str, float]
) -> list[PlatformActivity]:
    coop_members = {m for c in commons.cooperatives for m in c.members}
    out = []
    for f in firms:
        member = f.firm_id in coop_members
        pools = sum(1 for _ in range(3) if rng.random() < (0.12 if member else 0.01))
        camps = sum(1 for _ in range(2) if rng.random() < (0.05 if member else 0.005))
        co_rnd = 1 if rng.random() < 0.04 + 0.03 * (theta[f.firm_id] - 1) else 0
        missions = 1 if rng.random() < 0.03 + 0.02 * (theta[f.firm_id] - 1) else 0
        if pools or camps or co_rnd or missions:
            out.append(
                PlatformActivity(
                    firm_id=f.firm_id,
                    pools_joined=pools,
                    campaigns_joined=camps,
                    co_rnd_projects=co_rnd,
                    missions=missions,
                    source="sample",
                )
            )
    return out


def generate_region_sample(
    seed: int = 7, firms: int = 2000, today: date | None = None, experts: int = 60, requests: int = 0
) -> RegionSample:
    """The sample region of `firms` firms (deterministic for a seed)."""
    commons = generate_region(seed=seed, firms=firms, requests=requests, today=today, experts=experts)
    today = commons.today
    rng = random.Random(f"region:{seed}")
    region_firms = []
    for p in commons.profiles:
        fac = p.facility
        region_firms.append(
            RegionFirm(
                firm_id=fac.firm_id,
                city=fac.location.city,
                district=fac.location.district,
                industry=industry_of(fac.equipment[0].process) if fac.equipment else "other",
                employees=fac.employees,
                size=size_class(fac.employees),
                opted_in=rng.random() < OPT_IN_SHARE,
            )
        )
    theta = {f.firm_id: _latent(rng, f) for f in region_firms}
    measured = {
        p.firm_id for p in commons.profiles if p.evidence.quality and p.evidence.quality.source == "kpi"
    }
    maturity = [
        _maturity(rng, f, theta[f.firm_id], f.firm_id in measured, today)
        for f in region_firms
        if rng.random() < 0.8
    ]
    survey = _survey(rng, region_firms, theta)
    programmes, snapshots = _programmes(rng, region_firms, theta, today)
    links = _links(rng, region_firms, today)
    activity = _activity(rng, commons, region_firms, theta)
    return RegionSample(
        commons, region_firms, maturity, survey, programmes, snapshots, links, activity, theta
    )
