"""Co-R&D projects: complementary partner recommendations per role, explained factors, persistence."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from factory_commons.cooperate.db import CommonsDB
from factory_commons.cooperate.experts import Availability, Expert, PastMission, generate_experts
from factory_commons.cooperate.model import (
    Equipment,
    Evidence,
    Facility,
    Location,
    Profile,
    QualityEvidence,
    Text,
)
from factory_commons.cooperate.projects import (
    FIRM_WEIGHTS,
    Project,
    ProjectError,
    RoleNeed,
    load_project,
    open_projects,
    projects_of,
    recommend_partners,
    save_project,
)

TODAY = date(2026, 11, 2)
LOC = Location(city="서울", district="금천구", lat=37.457, lon=126.895)


def firm(
    firm_id: str, processes: tuple[str, ...], fpy: float | None = None, published: bool = True
) -> Profile:
    eq = tuple(
        Equipment(
            id=f"{firm_id}-{p}",
            process=p,
            materials=("aluminium",) if p != "injection_moulding" else ("abs",),
            envelope_mm=(500, 400, 300),
            tolerance_mm=0.05,
            hourly_rate_krw=60_000,
        )
        for p in processes
    )
    ev = Evidence()
    if fpy is not None:
        ev = Evidence(
            quality=QualityEvidence(
                scrap_ratio=1 - fpy,
                first_pass_yield=fpy,
                units=5000,
                period_start=date(2026, 9, 1),
                period_end=date(2026, 10, 31),
            )
        )
    return Profile(
        facility=Facility(
            firm_id=firm_id,
            name=Text(ko=f"{firm_id} 정밀", en=f"{firm_id} Precision"),
            location=LOC,
            equipment=eq,
        ),
        evidence=ev,
        published=frozenset({"quality"}) if (published and fpy is not None) else frozenset(),
    )


def lab(id: str, skills: tuple[str, ...], kind: str = "university_lab") -> Expert:
    return Expert(
        id=id,
        name=Text(ko="인하대학교 정밀가공 연구실", en="Precision Machining Lab, Inha University"),
        kind=kind,
        affiliation="인하대학교",
        affiliation_verified=True,
        skills=skills,
        years=15,
        region=LOC,
        availability=(Availability(start=TODAY, end=date(2027, 6, 30), hours_per_week=20),),
        past=(PastMission(mission_id="m", firm_id="f", ended=TODAY, rating=5),),
    )


def project(**kw) -> Project:
    fields = dict(
        id="prj1",
        firm_id="poster",
        title=Text(ko="알루미늄 드론 프레임 공동 개발", en="Joint aluminium drone frame"),
        needs=(
            RoleNeed(role="maker", processes=("milling", "welding", "anodizing")),
            RoleNeed(role="lab", skills=("materials_science", "welding_quality")),
        ),
        posted=TODAY,
    )
    fields.update(kw)
    return Project(**fields)


def test_makers_are_complementary_not_similar():
    poster = firm("poster", ("milling", "turning"))
    twin = firm("twin", ("milling", "turning"))  # does what the poster does: not a partner
    welder = firm("welder", ("welding",))
    finisher = firm("finisher", ("welding", "anodizing"))
    mixed = firm("mixed", ("welding", "anodizing", "milling", "turning"))
    recs = recommend_partners(project(), [poster, twin, welder, finisher, mixed], [])
    makers = recs["maker"]
    ids = [c.candidate_id for c in makers]
    assert "twin" not in ids and "poster" not in ids
    assert ids[0] == "finisher"  # brings both missing processes and nothing the poster has
    assert ids.index("finisher") < ids.index("mixed")  # same coverage, half of mixed duplicates the poster
    assert set(ids) == {"finisher", "mixed", "welder"}
    for c in makers:
        assert set(c.brings) <= {"welding", "anodizing"} and c.brings
        assert c.score == pytest.approx(sum(f.contribution for f in c.factors), abs=1e-6)
        assert [f.name for f in c.factors] == list(FIRM_WEIGHTS)
        assert all(f.note.ko and f.note.en for f in c.factors)
    fin = {f.name: f for f in makers[0].factors}
    assert fin["coverage"].value == 1.0 and fin["complementarity"].value == 1.0
    assert "2개 중 2개" in fin["coverage"].note.ko and "Anodizing" in fin["coverage"].note.en


def test_a_role_the_poster_covers_gets_no_firm():
    poster = firm("poster", ("milling", "welding", "anodizing"))
    other = firm("other", ("milling", "welding", "anodizing"))
    assert recommend_partners(project(), [poster, other], [])["maker"] == []
    # without the poster's profile every needed process is missing
    assert [c.candidate_id for c in recommend_partners(project(), [other], [])["maker"]] == ["other"]


def test_unpublished_quality_is_never_used():
    poster = firm("poster", ("milling",))
    shown = firm("shown", ("welding",), fpy=0.99)
    hidden = firm("hidden", ("welding",), fpy=0.99, published=False)
    plain = firm("plain", ("welding",))
    recs = {
        c.candidate_id: c for c in recommend_partners(project(), [poster, shown, hidden, plain], [])["maker"]
    }
    assert recs["hidden"].score == recs["plain"].score < recs["shown"].score
    q = {f.name: f for f in recs["hidden"].factors}["quality"]
    assert q.value == 0.5 and "비공개" in q.note.ko and "99" not in q.note.en


def test_experts_fill_roles_by_kind_and_skill():
    metals = lab("lab-metal", ("materials_science", "welding_quality", "welding"))
    ai = lab("lab-ai", ("data_analysis",))
    student = lab("stu", ("welding_quality",), kind="graduate_student")
    retired = lab("ret", ("materials_science", "welding_quality"), kind="retired_engineer")
    recs = recommend_partners(project(), [firm("poster", ("milling",))], [ai, student, retired, metals])
    ids = [c.candidate_id for c in recs["lab"]]
    assert ids[0] == "lab-metal" and "lab-ai" not in ids and "ret" not in ids and "stu" in ids
    top = recs["lab"][0]
    assert top.kind == "expert" and top.brings == ("materials_science", "welding_quality")
    assert top.score == pytest.approx(sum(f.contribution for f in top.factors), abs=1e-6)
    assert recs["maker"] == []  # no firm in the list covers the gap, and makers are never experts


def test_recommendations_on_a_generated_population_are_deterministic():
    xs = generate_experts(seed=9, n=120)
    p = project(
        needs=(
            RoleNeed(role="designer", skills=("product_design", "mould_design")),
            RoleNeed(role="marketer", skills=("marketing", "export")),
            RoleNeed(role="engineer", processes=("injection_moulding",), skills=("mould_design",)),
        )
    )
    a = recommend_partners(
        p, [firm("poster", ("milling",)), firm("moulder", ("injection_moulding",))], xs, limit=3
    )
    assert a == recommend_partners(
        p, [firm("poster", ("milling",)), firm("moulder", ("injection_moulding",))], xs, limit=3
    )
    assert list(a) == ["designer", "marketer", "engineer"]
    assert all(len(v) == 3 for v in a.values())
    assert all("marketing" in c.brings or "export" in c.brings for c in a["marketer"])
    assert all(c.score >= d.score for v in a.values() for c, d in zip(v, v[1:], strict=False))


def test_bad_projects_name_the_field():
    with pytest.raises(ValidationError, match=r"processes\[1\]: unknown process 'knitting'"):
        RoleNeed(role="maker", processes=("milling", "knitting"))
    with pytest.raises(ValidationError, match="role"):
        RoleNeed(role="astronaut", skills=("spc",))
    with pytest.raises(ValidationError, match="repeated: maker"):
        project(
            needs=(
                RoleNeed(role="maker", processes=("milling",)),
                RoleNeed(role="maker", processes=("welding",)),
            )
        )
    with pytest.raises(ValidationError, match=r"needs\[0\] \(lab\): name at least one"):
        project(needs=(RoleNeed(role="lab"),))
    with pytest.raises(ProjectError, match="limit"):
        recommend_partners(project(), [], [], limit=0)


def test_projects_persist_with_the_posting_firm():
    db = CommonsDB(":memory:")
    p = save_project(db, project())
    save_project(db, project(id="prj2", firm_id="other", status="closed"))
    assert load_project(db, "prj1") == p and db.owner("project", "prj1") == "poster"
    assert [x.id for x in projects_of(db, "poster")] == ["prj1"]
    assert [x.id for x in open_projects(db)] == ["prj1"]
    with pytest.raises(ProjectError, match="project_id: no project 'nope'"):
        load_project(db, "nope")
