"""Outside experts of the commons: retired engineers, graduate students and university labs.

An expert describes skills in the vocabulary firms use (process and material codes from
`vocab`) plus the topic tags below (SPC, OEE, predictive maintenance, ...), so a firm's
problem "scrap on the press line, needs SPC" meets an expert field by field. Each expert has
years of experience, a region, availability windows (dates and hours per week) and the outcome
of past missions (completed or abandoned, the firm's rating 1–5), which feed the quality and
trust factors of `missions.match_experts`.

Experts persist in `CommonsDB` under kind "expert", owned by ``expert:<id>`` (the expert's
own profile). `generate_experts(seed, n)` builds a deterministic, plausible population for the
demo, tests and benchmarks.

Topic tags are listed here (`TOPIC_CODES`: no standard covers them); their names, and those of
the expert kinds, are in the `commons_terms` catalog: the Korean names are the terms Korean shops
use.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..i18n import N_, Catalog
from .db import CommonsDB
from .model import Location, Text
from .vocab import MATERIALS, PROCESSES

KIND = "expert"

#: Topic tags (skills that are not a process or a material); their Korean and English names are
#: in the `commons_terms` catalog (`topic_label`).
TOPIC_CODES: tuple[str, ...] = (
    N_("spc"),
    N_("oee"),
    N_("predictive_maintenance"),
    N_("welding_quality"),
    N_("mould_design"),
    N_("press_die"),
    N_("cnc_programming"),
    N_("lean"),
    N_("quality_management"),
    N_("metrology"),
    N_("automation"),
    N_("data_analysis"),
    N_("energy_efficiency"),
    N_("materials_science"),
    N_("product_design"),
    N_("marketing"),
    N_("export"),
)

ExpertKind = Literal["retired_engineer", "graduate_student", "university_lab"]
#: The kinds of expert; names in the `commons_terms` catalog (`kind_label`).
EXPERT_KINDS: tuple[str, ...] = (N_("retired_engineer"), N_("graduate_student"), N_("university_lab"))

TERMS = Catalog("commons_terms")


def topic_label(code: str, lang: str = "ko") -> str:
    """The Korean or English name of a topic tag (the code itself for an unknown one)."""
    return TERMS.get(code, lang)


def kind_label(kind: str, lang: str = "ko") -> str:
    """The Korean or English name of an expert kind."""
    return TERMS.get(kind, lang)


class ExpertError(ValueError):
    """An expert profile the commons refuses; the message names the field and why."""


def skill_kind(code: str) -> str:
    """'process', 'material' or 'topic' for a known skill code; ExpertError otherwise."""
    if code in PROCESSES:
        return "process"
    if code in MATERIALS:
        return "material"
    if code in TOPIC_CODES:
        return "topic"
    raise ExpertError(
        f"unknown skill {code!r}: use a process ({', '.join(sorted(PROCESSES))}), "
        f"a material ({', '.join(sorted(MATERIALS))}) or a topic ({', '.join(sorted(TOPIC_CODES))})"
    )


def skill_label(code: str, lang: str = "ko") -> str:
    """The Korean or English name of a skill code."""
    kind = skill_kind(code)
    if kind == "process":
        p = PROCESSES[code]
        return p.ko if lang == "ko" else p.en
    if kind == "material":
        m = MATERIALS[code]
        return m.ko if lang == "ko" else m.en
    return topic_label(code, lang)


def check_skills(codes: tuple[str, ...] | list[str], field: str = "skills") -> tuple[str, ...]:
    """Validate skill codes (duplicates removed, order kept); errors name the field and index."""
    out: list[str] = []
    for i, c in enumerate(codes):
        try:
            skill_kind(c)
        except ExpertError as e:
            raise ExpertError(f"{field}[{i}]: {e}") from None
        if c not in out:
            out.append(c)
    return tuple(out)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Availability(_Model):
    """A window in which the expert can work: from `start` to `end` (inclusive), hours per week."""

    start: date
    end: date
    hours_per_week: float = Field(gt=0, le=60)

    @model_validator(mode="after")
    def _ordered(self) -> Availability:
        if self.end < self.start:
            raise ValueError(f"availability: end {self.end} is before start {self.start}")
        return self


class PastMission(_Model):
    """The outcome of one earlier mission: completed or abandoned, the firm's rating (1–5)."""

    mission_id: str
    firm_id: str
    ended: date
    outcome: Literal["completed", "abandoned"] = "completed"
    rating: int | None = Field(default=None, ge=1, le=5)


class Expert(_Model):
    """An expert's profile. `user_id` links the accounts user (role "expert") who gets grants."""

    id: str
    name: Text
    kind: ExpertKind
    user_id: int | None = Field(default=None, description="accounts user (role expert); needed to accept")
    affiliation: str = Field(default="", description="former employer, university or lab")
    affiliation_verified: bool = False
    skills: tuple[str, ...] = Field(min_length=1)
    years: int = Field(ge=0, le=70, description="years of professional experience")
    region: Location
    availability: tuple[Availability, ...] = ()
    past: tuple[PastMission, ...] = ()
    bio: Text | None = None

    @field_validator("skills")
    @classmethod
    def _skills(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return check_skills(v)
        except ExpertError as e:
            raise ValueError(str(e)) from None

    def available(self, start: date, weeks: int, hours_per_week: float) -> bool:
        """Whether every week of [start, start + weeks) lies in one window offering enough hours."""
        for k in range(weeks):
            w0, w1 = start + timedelta(weeks=k), start + timedelta(weeks=k, days=6)
            if not any(
                a.start <= w0 and w1 <= a.end and a.hours_per_week >= hours_per_week
                for a in self.availability
            ):
                return False
        return True

    def completed(self) -> int:
        return sum(1 for p in self.past if p.outcome == "completed")


# -- persistence ---------------------------------------------------------------------------------


def owner_of(expert_id: str) -> str:
    """The CommonsDB owner of an expert's own documents."""
    return f"expert:{expert_id}"


def save_experts(db: CommonsDB, experts: list[Expert]) -> None:
    """Insert or replace experts (one transaction)."""
    db.put_many(KIND, [(e.id, owner_of(e.id), e) for e in experts])


def load_experts(db: CommonsDB) -> list[Expert]:
    """Every expert, in id order."""
    return db.all(KIND, Expert)


def get_expert(db: CommonsDB, expert_id: str) -> Expert:
    """One expert; ExpertError when there is none with that id."""
    e = db.get(KIND, expert_id, Expert)
    if e is None:
        raise ExpertError(f"expert_id: no expert {expert_id!r}")
    return e


def link_user(db: CommonsDB, expert_id: str, user_id: int) -> Expert:
    """Tie an expert profile to the accounts user (role "expert") who will receive grants."""
    with db.transaction():
        e = get_expert(db, expert_id).model_copy(update={"user_id": user_id})
        db.put(KIND, e.id, owner_of(e.id), e)
    return e


def record_outcome(db: CommonsDB, expert_id: str, past: PastMission) -> Expert:
    """Append a mission outcome to the expert's record (idempotent per mission id)."""
    with db.transaction():
        e = get_expert(db, expert_id)
        kept = tuple(p for p in e.past if p.mission_id != past.mission_id)
        e = e.model_copy(update={"past": (*kept, past)})
        db.put(KIND, e.id, owner_of(e.id), e)
    return e


# -- a plausible generated population -----------------------------------------------------------

_SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
_GIVEN = (
    "민준 서연 도윤 지우 하준 서윤 현우 지민 준서 수빈 영호 정희 성민 미경 동현 은지 상철 "
    "혜진 재훈 보람 태호 경숙 병철 순자 광수 명희 승우 유진 진혁 나연"
).split()
_ROMAN = {  # surnames in the usual romanisation, for the English name
    "김": "Kim", "이": "Lee", "박": "Park", "최": "Choi", "정": "Jung", "강": "Kang", "조": "Cho",
    "윤": "Yoon", "장": "Jang", "임": "Lim", "한": "Han", "오": "Oh", "서": "Seo", "신": "Shin",
    "권": "Kwon", "황": "Hwang", "안": "Ahn", "송": "Song", "류": "Ryu", "홍": "Hong",
}  # fmt: skip
_GIVEN_EN = (
    "Minjun Seoyeon Doyun Jiwoo Hajun Seoyun Hyunwoo Jimin Junseo Subin Youngho Junghee Sungmin "
    "Mikyung Donghyun Eunji Sangcheol Hyejin Jaehoon Boram Taeho Kyungsook Byungcheol Soonja "
    "Kwangsoo Myunghee Seungwoo Yujin Jinhyuk Nayeon"
).split()

# (former employer kind ko, en) for retired engineers; universities and labs for the others
_EMPLOYERS = [
    ("자동차 부품 대기업", "automotive parts maker"),
    ("조선소", "shipyard"),
    ("가전 대기업", "home appliance maker"),
    ("공작기계 제조사", "machine tool builder"),
    ("금형 전문기업", "mould and die maker"),
    ("철강사", "steel maker"),
]
_UNIVERSITIES = [
    ("서울대학교", "Seoul National University"),
    ("인하대학교", "Inha University"),
    ("서울과학기술대학교", "Seoul National University of Science and Technology"),
    ("한양대학교", "Hanyang University"),
    ("인천대학교", "Incheon National University"),
    ("한국공학대학교", "Tech University of Korea"),
]
_LABS = [
    ("스마트제조 연구실", "Smart Manufacturing Lab"),
    ("생산시스템 연구실", "Production Systems Lab"),
    ("정밀가공 연구실", "Precision Machining Lab"),
    ("용접·접합 연구실", "Welding and Joining Lab"),
    ("품질공학 연구실", "Quality Engineering Lab"),
    ("산업인공지능 연구실", "Industrial AI Lab"),
]
# district, city, lat, lon (district centres, rounded)
_DISTRICTS = [
    ("금천구", "서울", 37.457, 126.895),
    ("구로구", "서울", 37.495, 126.887),
    ("영등포구", "서울", 37.526, 126.896),
    ("성동구", "서울", 37.563, 127.037),
    ("관악구", "서울", 37.478, 126.951),
    ("노원구", "서울", 37.654, 127.056),
    ("남동구", "인천", 37.447, 126.731),
    ("부평구", "인천", 37.507, 126.722),
    ("서구", "인천", 37.545, 126.676),
    ("연수구", "인천", 37.410, 126.678),
]

# skill bundles an expert of each background plausibly has: (topics, processes, materials)
_BUNDLES: list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
    (
        ("press_die", "spc", "lean"),
        ("stamping", "deep_drawing", "sheet_bending"),
        ("steel", "stainless_steel"),
    ),
    (
        ("welding_quality", "quality_management"),
        ("welding", "brazing"),
        ("steel", "stainless_steel", "aluminium"),
    ),
    (
        ("mould_design", "product_design"),
        ("injection_moulding", "die_casting"),
        ("abs", "polycarbonate", "aluminium"),
    ),
    (
        ("cnc_programming", "metrology"),
        ("milling", "turning", "grinding"),
        ("steel", "aluminium", "titanium"),
    ),
    (("predictive_maintenance", "data_analysis", "oee"), ("milling", "stamping"), ()),
    (("spc", "quality_management", "metrology"), ("turning", "milling"), ("steel", "brass")),
    (("automation", "oee", "lean"), ("assembly", "welding"), ()),
    (
        ("materials_science", "energy_efficiency"),
        ("heat_treatment", "plating", "casting"),
        ("steel", "cast_iron"),
    ),
    (("marketing", "export", "product_design"), (), ()),
    (("data_analysis", "spc", "predictive_maintenance"), (), ()),
]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def generate_experts(seed: int = 7, n: int = 120, today: date | None = None) -> list[Expert]:
    """`n` plausible experts, the same for the same (seed, n, today).

    About half are retired engineers (20–40 years, often verified through their former
    employer), a third graduate students (1–6 years) and the rest university labs. Each has
    one or two skill bundles, one to three availability windows over the next half year, and
    0–8 past missions with ratings. `today` defaults to 2026-11-02 so that the default
    population does not change with the calendar.
    """
    if n < 0:
        raise ExpertError(f"n: must be at least 0, got {n}")
    rng = random.Random(seed)
    today = today or date(2026, 11, 2)
    out: list[Expert] = []
    for i in range(n):
        r = rng.random()
        kind: ExpertKind = (
            "retired_engineer" if r < 0.5 else "graduate_student" if r < 0.82 else "university_lab"
        )
        si, gi = rng.randrange(len(_SURNAMES)), rng.randrange(len(_GIVEN))
        sur = _SURNAMES[si]
        uni_ko, uni_en = rng.choice(_UNIVERSITIES)
        if kind == "university_lab":
            lab_ko, lab_en = rng.choice(_LABS)
            name = Text(ko=f"{uni_ko} {lab_ko}", en=f"{lab_en}, {uni_en}")
            affiliation = f"{uni_ko} / {uni_en}"
            years = rng.randint(5, 25)
            verified = rng.random() < 0.9
        elif kind == "retired_engineer":
            name = Text(ko=f"{sur}{_GIVEN[gi]}", en=f"{_GIVEN_EN[gi]} {_ROMAN[sur]}")
            emp_ko, emp_en = rng.choice(_EMPLOYERS)
            affiliation = f"전 {emp_ko} / former {emp_en}"
            years = rng.randint(20, 40)
            verified = rng.random() < 0.7
        else:
            name = Text(ko=f"{sur}{_GIVEN[gi]}", en=f"{_GIVEN_EN[gi]} {_ROMAN[sur]}")
            affiliation = f"{uni_ko} 대학원 / graduate school, {uni_en}"
            years = rng.randint(1, 6)
            verified = rng.random() < 0.8
        bundles = rng.sample(_BUNDLES, 2 if rng.random() < 0.35 else 1)
        skills: list[str] = []
        for topics, procs, mats in bundles:
            skills += (
                list(topics)
                + [p for p in procs if rng.random() < 0.85]
                + [m for m in mats if rng.random() < 0.6]
            )
        district, city, lat, lon = rng.choice(_DISTRICTS)
        region = Location(
            city=city,
            district=district,
            lat=round(lat + rng.uniform(-0.01, 0.01), 5),
            lon=round(lon + rng.uniform(-0.01, 0.01), 5),
        )
        windows: list[Availability] = []
        cursor = _monday(today) + timedelta(weeks=rng.randint(0, 6))
        for _ in range(rng.randint(1, 3)):
            length = rng.randint(6, 20)
            hours = rng.choice([8, 12, 16, 20, 24] if kind != "university_lab" else [16, 24, 32, 40])
            windows.append(
                Availability(
                    start=cursor, end=cursor + timedelta(weeks=length, days=-1), hours_per_week=hours
                )
            )
            cursor += timedelta(weeks=length + rng.randint(1, 8))
        past: list[PastMission] = []
        n_past = (
            rng.choice([0, 0, 1, 2, 3, 4, 6, 8])
            if kind != "graduate_student"
            else rng.choice([0, 0, 0, 1, 2])
        )
        skill_level = rng.uniform(3.0, 4.9)
        for k in range(n_past):
            abandoned = rng.random() < 0.07
            rating = None if abandoned else max(1, min(5, round(rng.gauss(skill_level, 0.6))))
            past.append(
                PastMission(
                    mission_id=f"past-{i:04d}-{k}",
                    firm_id=f"firm-{rng.randrange(2000):04d}",
                    ended=today - timedelta(days=rng.randint(30, 900)),
                    outcome="abandoned" if abandoned else "completed",
                    rating=rating,
                )
            )
        out.append(
            Expert(
                id=f"x{i:04d}",
                name=name,
                kind=kind,
                affiliation=affiliation,
                affiliation_verified=verified,
                skills=tuple(dict.fromkeys(skills)),
                years=years,
                region=region,
                availability=tuple(windows),
                past=tuple(sorted(past, key=lambda p: p.ended)),
            )
        )
    return out
