"""Expert missions: experts, KPI evidence, matching (relevance × quality × trust), grants that expire."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pydantic import ValidationError
from test_server_plant import A1, A3, PASSWORD, T0, make_plant

from factory_commons.accounts import Accounts
from factory_commons.collect.simulator import FactorySimulator
from factory_commons.cooperate.db import CommonsDB
from factory_commons.cooperate.experts import (
    EXPERT_KINDS,
    Availability,
    Expert,
    ExpertError,
    PastMission,
    generate_experts,
    get_expert,
    link_user,
    load_experts,
    save_experts,
    skill_kind,
)
from factory_commons.cooperate.missions import (
    KpiEvidence,
    MissionAccessError,
    MissionError,
    Problem,
    accept,
    close_mission,
    kpi_evidence,
    match_experts,
    missions_for,
    open_problems,
    problems_for,
    read_mission,
    save_problem,
)
from factory_commons.cooperate.model import Location, Text
from factory_commons.store import DuckDBStore

PRESS = "acme/changwon/press/press-1"
TODAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY_END = T0 + timedelta(days=1)
SEOUL = Location(city="서울", district="금천구", lat=37.457, lon=126.895)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_store():
    """A small simulated factory (3 days, 12 machines) and its raw part counts."""
    sim = FactorySimulator(seed=11, days=3, signal_interval_s=3600, quality_interval_s=3600)
    store = DuckDBStore(":memory:")
    sim.write_to(store)
    counts = [r for _, t in sim.iter_days() for r in t["count"].to_pylist()]
    yield sim, store, counts
    store.close()


def cheap_accounts() -> Accounts:
    return Accounts(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


class World:
    """Accounts (acme, beta, two experts) and a commons database with two experts in it."""

    def __init__(self, accounts: Accounts, db: CommonsDB):
        self.accounts, self.db = accounts, db
        acme = accounts.create_firm("acme", ["acme"])
        beta = accounts.create_firm("beta", ["beta"])
        hub = accounts.create_firm("hub", [])
        self.owner = accounts.create_user(acme.id, "owner@acme.example", "김사장", "owner", PASSWORD)
        self.engineer = accounts.create_user(acme.id, "eng@acme.example", "이기사", "engineer", PASSWORD)
        self.beta_owner = accounts.create_user(beta.id, "owner@beta.example", "박사장", "owner", PASSWORD)
        self.xuser = accounts.create_user(hub.id, "x1@uni.example", "정명희", "expert", PASSWORD)
        self.xuser2 = accounts.create_user(hub.id, "x2@uni.example", "최유진", "expert", PASSWORD)
        save_experts(
            db,
            [
                expert("x-press", ("spc", "press_die", "stamping", "steel"), user_id=self.xuser.id),
                expert(
                    "x-late",
                    ("spc", "press_die", "stamping"),
                    user_id=self.xuser2.id,
                    start=TODAY + timedelta(weeks=10),
                ),
                expert("x-nouser", ("spc", "stamping")),
            ],
        )


@pytest.fixture
def world():
    accounts, db = cheap_accounts(), CommonsDB(":memory:")
    yield World(accounts, db)
    accounts.close()
    db.close()


def expert(
    id: str,
    skills: tuple[str, ...],
    *,
    user_id: int | None = None,
    start: date = TODAY,
    weeks: int = 30,
    hours: float = 16,
    years: int = 25,
    verified: bool = True,
    ratings: tuple[int, ...] = (5, 4, 5),
) -> Expert:
    return Expert(
        id=id,
        name=Text(ko="정명희", en="Myunghee Jung"),
        kind="retired_engineer",
        user_id=user_id,
        affiliation="전 자동차 부품 대기업",
        affiliation_verified=verified,
        skills=skills,
        years=years,
        region=SEOUL,
        availability=(Availability(start=start, end=start + timedelta(weeks=weeks), hours_per_week=hours),),
        past=tuple(
            PastMission(mission_id=f"{id}-{k}", firm_id="f", ended=TODAY - timedelta(days=60 + k), rating=r)
            for k, r in enumerate(ratings)
        ),
    )


def evidence(value: float = 0.061, scope: tuple[str, ...] = (PRESS,)) -> KpiEvidence:
    return KpiEvidence(
        metric="scrap_ratio",
        label=Text(ko="프레스 2라인", en="press line 2"),
        scope=scope,
        machines=scope,
        period_start=NOW - timedelta(days=30),
        period_end=NOW,
        value=value,
        produced_quantity=1000,
        computed_at=NOW,
    )


def problem(id: str = "p1", *, scope: tuple[str, ...] = (PRESS,), weeks: int = 6, **kw) -> Problem:
    fields = dict(
        id=id,
        firm_id="acme",
        title=Text(ko="프레스 2라인 불량률 개선", en="Cut scrap on press line 2"),
        evidence=(evidence(scope=scope),),
        skills=("spc", "press_die", "stamping", "steel"),
        weeks=weeks,
        hours_per_week=8,
        earliest_start=TODAY,
        scope=scope,
        posted=TODAY,
    )
    fields.update(kw)
    return Problem(**fields)


# -- experts -------------------------------------------------------------------------------------


def test_generated_experts_are_deterministic_and_plausible():
    xs = generate_experts(seed=3, n=150)
    assert xs == generate_experts(seed=3, n=150)
    assert xs != generate_experts(seed=4, n=150)
    assert len({x.id for x in xs}) == 150
    assert {x.kind for x in xs} == set(EXPERT_KINDS)
    for x in xs:
        assert re.search(r"[가-힣]", x.name.ko) and x.name.en
        assert all(skill_kind(s) in ("process", "material", "topic") for s in x.skills)
        assert x.availability and all(a.start <= a.end for a in x.availability)
        if x.kind == "retired_engineer":
            assert x.years >= 20
        if x.kind == "graduate_student":
            assert x.years <= 6
    assert {"process", "topic"} <= {skill_kind(s) for x in xs for s in x.skills}


def test_experts_round_trip_through_the_commons_db():
    db = CommonsDB(":memory:")
    xs = generate_experts(seed=5, n=20)
    save_experts(db, xs)
    assert load_experts(db) == xs
    assert get_expert(db, xs[3].id) == xs[3]
    assert db.owner("expert", xs[3].id) == f"expert:{xs[3].id}"
    with pytest.raises(ExpertError, match="expert_id: no expert 'nope'"):
        get_expert(db, "nope")


def test_bad_expert_fields_name_the_field():
    with pytest.raises(ValidationError, match=r"skills\[1\]: unknown skill 'knitting'"):
        expert("x", ("spc", "knitting"))
    with pytest.raises(ValidationError, match="end .* is before start"):
        Availability(start=TODAY, end=TODAY - timedelta(days=1), hours_per_week=8)
    with pytest.raises(ExpertError, match="n: must be at least 0"):
        generate_experts(n=-1)


def test_availability_covers_every_week_of_the_window():
    x = expert("x", ("spc",), start=TODAY, weeks=8, hours=10)
    assert x.available(TODAY, 8, 10)
    assert not x.available(TODAY, 9, 10)  # the ninth week runs past the window
    assert not x.available(TODAY, 4, 12)  # not enough hours
    assert not x.available(TODAY - timedelta(days=1), 2, 8)


# -- KPI evidence --------------------------------------------------------------------------------


def test_kpi_evidence_equals_an_independent_count(sim_store):
    sim, store, counts = sim_store
    start, end = sim.start + timedelta(days=1), sim.end
    ev = kpi_evidence(
        store, "scrap_ratio", [PRESS], start, end, label=Text(ko="프레스 1라인", en="press line 1"), now=NOW
    )
    rows = [r for r in counts if r["machine"].startswith(PRESS + "/") and start <= r["ts"] < end]
    good, scrap = sum(r["good"] for r in rows), sum(r["scrap"] for r in rows)
    assert scrap > 0 and ev.produced_quantity == good + scrap
    assert ev.value == pytest.approx(scrap / (good + scrap), rel=1e-12)
    assert ev.machines == tuple(
        sorted({r["machine"] for r in counts if r["machine"].startswith(PRESS + "/")})
    )
    assert ev.period_start == start and ev.period_end == end
    assert "프레스 1라인 불량률" in ev.text("ko") and f"{ev.value * 100:.1f}%" in ev.text("ko")
    assert "press line 1 scrap ratio" in ev.text("en") and "last 2 days" in ev.text("en")
    fpy = kpi_evidence(store, "first_pass_yield", [PRESS], start, end)
    rework = sum(r["rework"] for r in rows)
    assert fpy.value == pytest.approx((good - rework) / (good + scrap), rel=1e-12)


def test_kpi_evidence_refuses_unknown_metric_scope_and_empty_period(sim_store):
    sim, store, _ = sim_store
    with pytest.raises(MissionError, match="metric: unknown metric 'happiness'"):
        kpi_evidence(store, "happiness", [PRESS], sim.start, sim.end)
    with pytest.raises(MissionError, match=r"scope\[1\]: no machine at or under 'acme/changwon/paint'"):
        kpi_evidence(store, "scrap_ratio", [PRESS, "acme/changwon/paint"], sim.start, sim.end)
    before = sim.start - timedelta(days=30)
    with pytest.raises(MissionError, match="metric: scrap_ratio has no data"):
        kpi_evidence(store, "scrap_ratio", [PRESS], before, before + timedelta(days=1))


# -- problems and matching -----------------------------------------------------------------------


def test_problem_fields_are_checked():
    with pytest.raises(ValidationError, match=r"skills\[0\]: unknown skill 'magic'"):
        problem(skills=("magic",))
    with pytest.raises(ValidationError, match="weeks"):
        problem(weeks=60)
    with pytest.raises(ValidationError, match="evidence"):
        problem(evidence=())
    with pytest.raises(ValidationError, match=r"scope\[0\]"):
        problem(scope=("/",))


def test_matching_ranks_relevant_available_experts_first():
    relevant = expert("a-relevant", ("spc", "press_die", "stamping", "steel"))
    partial = expert("b-partial", ("welding_quality", "steel"))
    irrelevant = expert("c-irrelevant", ("marketing", "export"))
    busy = expert("d-busy", ("spc", "press_die", "stamping", "steel"), start=TODAY + timedelta(weeks=3))
    few_hours = expert("e-few-hours", ("spc", "press_die", "stamping", "steel"), hours=4)
    p = problem()
    ms = match_experts(p, [irrelevant, busy, partial, few_hours, relevant], TODAY)
    assert [m.expert_id for m in ms] == ["a-relevant", "b-partial"]
    assert ms[0].score > ms[1].score and all(m.available for m in ms)
    assert ms[1].matched == ("steel",) and set(ms[1].missing) == {"spc", "press_die", "stamping"}
    every = match_experts(
        p, [irrelevant, busy, partial, few_hours, relevant], TODAY, include_unavailable=True
    )
    assert [m.expert_id for m in every][:2] == ["a-relevant", "b-partial"]
    assert {m.expert_id for m in every[2:]} == {"d-busy", "e-few-hours"} and not any(
        m.available for m in every[2:]
    )
    # the busy expert is available when the problem may start later
    later = problem(earliest_start=TODAY + timedelta(weeks=3))
    assert "d-busy" in [m.expert_id for m in match_experts(later, [busy], TODAY)]
    with pytest.raises(MissionError, match="limit"):
        match_experts(p, [relevant], TODAY, limit=0)


def test_factors_have_values_notes_and_multiply_to_the_score():
    x = expert("x", ("spc", "stamping", "aluminium"), years=10, verified=False, ratings=(5, 3))
    (m,) = match_experts(problem(), [x], TODAY)
    f = {f.name: f for f in m.factors}
    assert list(f) == ["relevance", "quality", "trust"]
    assert f["relevance"].value == pytest.approx(
        2 / 3.5
    )  # spc 1 + stamping 1 of spc, press_die, stamping, steel (0.5)
    assert f["quality"].value == pytest.approx((5 + 3 + 2 * 3.5) / 4 / 5)
    assert f["trust"].value == pytest.approx(0.4 + 0 + 0.2 * 2 / 5 + 0.2 * 10 / 20)
    assert m.score == pytest.approx(f["relevance"].value * f["quality"].value * f["trust"].value, abs=1e-6)
    assert "4개 중 2개" in f["relevance"].note.ko and "금형" in f["relevance"].note.ko
    assert "lacks: Press dies" in f["relevance"].note.en
    assert "평가 2건" in f["quality"].note.ko and "2 ratings" in f["quality"].note.en
    assert "소속 미확인" in f["trust"].note.ko and "10 years" in f["trust"].note.en


def test_quality_is_smoothed_and_abandoned_missions_count_low():
    p = problem()
    one = expert("one", ("spc",), ratings=(5,))
    many = expert("many", ("spc",), ratings=(5, 5, 5, 5, 5))
    none = expert("none", ("spc",), ratings=())
    q = {m.expert_id: m.factors[1].value for m in match_experts(p, [one, many, none], TODAY)}
    assert q["many"] > q["one"] > q["none"] == pytest.approx(3.5 / 5)
    quitter = many.model_copy(
        update={
            "past": (*many.past, PastMission(mission_id="q", firm_id="f", ended=TODAY, outcome="abandoned"))
        }
    )
    (mq,) = match_experts(p, [quitter], TODAY)
    assert mq.factors[1].value < q["many"]


# -- missions and grants -------------------------------------------------------------------------


def test_accepted_mission_grant_is_active_for_exactly_its_weeks(world):
    save_problem(world.db, problem(weeks=6))
    m = accept(world.db, world.accounts, "p1", "x-press", world.owner.id, NOW)
    g = world.accounts.grant(m.grant_id)
    assert g is not None and g.expert_id == world.xuser.id and g.scope == (PRESS,)
    assert (g.starts, g.expires) == (m.starts, m.expires) == (NOW, NOW + timedelta(weeks=6))
    assert g.active(NOW) and g.active(NOW + timedelta(weeks=3)) and g.active(m.expires - timedelta(seconds=1))
    assert not g.active(m.expires) and not g.active(m.expires + timedelta(days=1))
    assert m.state(NOW + timedelta(weeks=1)) == "running" and m.state(m.expires) == "ended"
    assert world.db.owner("mission", m.id) == "acme"
    assert open_problems(world.db) == []
    with pytest.raises(MissionError, match="problem_id: 'p1' is matched, not open"):
        accept(world.db, world.accounts, "p1", "x-press", world.owner.id, NOW)


def test_accept_refuses_bad_requests(world):
    save_problem(world.db, problem())
    with pytest.raises(MissionAccessError, match="role owner"):
        accept(world.db, world.accounts, "p1", "x-press", world.engineer.id, NOW)
    with pytest.raises(MissionAccessError, match="must be a user of acme"):
        accept(world.db, world.accounts, "p1", "x-press", world.beta_owner.id, NOW)
    with pytest.raises(MissionError, match="not available"):
        accept(world.db, world.accounts, "p1", "x-late", world.owner.id, NOW)
    with pytest.raises(MissionError, match="has no accounts user"):
        accept(world.db, world.accounts, "p1", "x-nouser", world.owner.id, NOW)
    link_user(world.db, "x-nouser", world.engineer.id)  # a firm's engineer is not an expert
    with pytest.raises(MissionError, match="is not an active expert"):
        accept(world.db, world.accounts, "p1", "x-nouser", world.owner.id, NOW)
    save_problem(world.db, problem("p2", scope=("beta/s1/a1/l1",)))
    with pytest.raises(MissionError, match=r"scope\[0\]: 'beta/s1/a1/l1' is not a machine of acme"):
        accept(world.db, world.accounts, "p2", "x-press", world.owner.id, NOW)
    with pytest.raises(MissionError, match="problem_id: no problem 'p9'"):
        accept(world.db, world.accounts, "p9", "x-press", world.owner.id, NOW)
    assert world.accounts.grants_of_firm(world.accounts.firm_by_name("acme").id) == []  # nothing half-done


def test_close_keeps_the_report_with_the_firm_and_revokes_the_grant(world):
    save_problem(world.db, problem())
    m = accept(world.db, world.accounts, "p1", "x-press", world.owner.id, NOW)
    later = NOW + timedelta(weeks=2)
    with pytest.raises(MissionAccessError, match="cannot rate"):
        close_mission(world.db, world.accounts, m.id, world.xuser.id, later, text=Text(ko="보고"), rating=5)
    with pytest.raises(MissionAccessError):
        close_mission(world.db, world.accounts, m.id, world.beta_owner.id, later, text=Text(ko="보고"))
    closed = close_mission(
        world.db,
        world.accounts,
        m.id,
        world.owner.id,
        later,
        text=Text(
            ko="금형 클리어런스 재조정으로 불량률 6.1% → 2.3%", en="Die clearance reset: scrap 6.1% → 2.3%"
        ),
        findings=["펀치 마모", "코일 두께 편차"],
        fix="펀치 연마 주기 2만 타로 단축",
        rating=5,
    )
    assert closed.status == "closed" and closed.report.fix == "펀치 연마 주기 2만 타로 단축"
    assert world.db.owner("mission", m.id) == "acme"
    g = world.accounts.grant(m.grant_id)
    assert g.revoked_at == later and not g.active(later + timedelta(seconds=1))
    rec = get_expert(world.db, "x-press").past[-1]
    assert (rec.mission_id, rec.firm_id, rec.rating, rec.outcome) == (m.id, "acme", 5, "completed")
    with pytest.raises(MissionError, match="already closed"):
        close_mission(world.db, world.accounts, m.id, world.owner.id, later, text=Text(ko="다시"))


def test_close_after_expiry_leaves_the_grant_as_it_ended(world):
    save_problem(world.db, problem())
    m = accept(world.db, world.accounts, "p1", "x-press", world.owner.id, NOW)
    after = m.expires + timedelta(days=3)
    close_mission(world.db, world.accounts, m.id, world.xuser.id, after, text=Text(en="report"))
    g = world.accounts.grant(m.grant_id)
    assert g.revoked_at is None and not g.active(after)


def test_only_the_firm_and_the_expert_read_a_mission(world):
    save_problem(world.db, problem())
    m = accept(world.db, world.accounts, "p1", "x-press", world.owner.id, NOW)
    for u in (world.owner, world.engineer, world.xuser):
        assert read_mission(world.db, world.accounts, m.id, u.id) == m
        assert [x.id for x in missions_for(world.db, world.accounts, u.id)] == [m.id]
    for u in (world.beta_owner, world.xuser2):
        with pytest.raises(MissionAccessError, match="may not read"):
            read_mission(world.db, world.accounts, m.id, u.id)
        assert missions_for(world.db, world.accounts, u.id) == []


def test_mission_flow_on_postgresql(pg_url):
    import uuid

    import psycopg

    schema = f"m{uuid.uuid4().hex[:10]}"
    url = f"{pg_url}?schema={schema}"
    accounts = Accounts(url, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    db = CommonsDB(url)
    try:
        w = World(accounts, db)
        save_problem(db, problem())
        m = accept(db, accounts, "p1", "x-press", w.owner.id, NOW)
        assert accounts.grant(m.grant_id).active(NOW + timedelta(weeks=1))
        close_mission(
            db, accounts, m.id, w.owner.id, NOW + timedelta(weeks=1), text=Text(ko="완료"), rating=4
        )
        assert read_mission(db, accounts, m.id, w.xuser.id).rating == 4
        assert not accounts.grant(m.grant_id).active(NOW + timedelta(weeks=1, seconds=1))
    finally:
        accounts.close()
        db.close()
        with psycopg.connect(pg_url, autocommit=True) as con:
            for s in (f"{schema}_accounts", f"{schema}_commons"):
                con.execute(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')


# -- through the API -----------------------------------------------------------------------------


def test_expert_reads_scoped_machine_during_mission_and_403_after(tmp_path):
    store = DuckDBStore(tmp_path / "plant.duckdb")
    plant = make_plant(store)
    db = CommonsDB(":memory:")
    try:
        xuser = plant.accounts.user_by_email(plant.emails["expert"])
        owner = plant.accounts.user_by_email(plant.emails["acme:owner"])
        now = plant.clock()
        save_experts(db, [expert("x1", ("spc", "stamping"), user_id=xuser.id, start=now.date())])
        ev = kpi_evidence(
            store, "scrap_ratio", [A1], T0, DAY_END, label=Text(ko="1라인 1호기", en="line 1 m1"), now=now
        )
        assert ev.value == pytest.approx(1 / 11)
        save_problem(
            db,
            Problem(
                id="p1",
                firm_id="acme",
                title=Text(ko="불량 원인 분석", en="Find the scrap cause"),
                evidence=(ev,),
                skills=("spc",),
                weeks=4,
                earliest_start=now.date(),
                scope=(A1,),
                posted=now.date(),
            ),
        )
        m = accept(db, plant.accounts, "p1", "x1", owner.id, now)
        token = plant.accounts.create_token(xuser.id, "mission", now)
        c = TestClient(plant.app, headers={"Authorization": f"Bearer {token}"})
        day = {"start": T0.isoformat(), "end": DAY_END.isoformat()}
        plant.clock.now = now + timedelta(weeks=2)
        assert c.get("/api/records/count", params={"machine": A1, **day}).json()["rows"][0]["good"] == 10
        assert c.get("/api/records/count", params={"machine": A3, **day}).status_code == 403  # not in scope
        plant.clock.now = m.expires + timedelta(seconds=1)
        assert c.get("/api/records/count", params={"machine": A1, **day}).status_code == 403
        audit = plant.client("acme:owner").get("/api/audit").json()
        mine = [(a["grant_id"], a["outcome"], a["user_email"]) for a in audit if A1 in a["object"]]
        assert mine[0] == (m.grant_id, "denied", plant.emails["expert"])  # newest first
        assert (m.grant_id, "allowed", plant.emails["expert"]) in mine
    finally:
        db.close()
        plant.accounts.close()
        store.close()


def test_problems_are_seen_by_the_firm_and_the_experts_only(world):
    save_problem(world.db, problem("p1"))
    save_problem(world.db, problem("p2"))
    ids = lambda u: [p.id for p in problems_for(world.db, world.accounts, u.id)]  # noqa: E731
    assert ids(world.owner) == ids(world.engineer) == ids(world.xuser) == ["p1", "p2"]
    assert ids(world.beta_owner) == []
    accept(world.db, world.accounts, "p1", "x-press", world.owner.id, NOW)
    assert ids(world.xuser) == ["p1", "p2"]  # open p2, and p1 which it works on
    assert ids(world.xuser2) == ["p2"]  # p1 is taken
    assert ids(world.owner) == ["p1", "p2"]


def test_link_user_makes_a_generated_expert_acceptable(world):
    (x,) = generate_experts(seed=1, n=1, today=TODAY)
    x = x.model_copy(update={"skills": ("spc",)})
    save_experts(world.db, [x])
    save_problem(
        world.db,
        problem(skills=("spc",), weeks=2, hours_per_week=min(a.hours_per_week for a in x.availability)),
    )
    start = x.availability[0].start
    now = datetime.combine(start, datetime.min.time(), UTC)
    with pytest.raises(MissionError, match="has no accounts user"):
        accept(world.db, world.accounts, "p1", x.id, world.owner.id, now)
    assert link_user(world.db, x.id, world.xuser.id).user_id == world.xuser.id
    m = accept(world.db, world.accounts, "p1", x.id, world.owner.id, now)
    assert world.accounts.grant(m.grant_id).expert_id == world.xuser.id


def test_mission_starts_at_local_midnight_of_a_later_earliest_start(world):
    from zoneinfo import ZoneInfo

    seoul = ZoneInfo("Asia/Seoul")
    now = datetime(2026, 11, 2, 23, 30, tzinfo=seoul)  # 14:30 UTC, still 2 November in Seoul
    save_problem(world.db, problem(earliest_start=date(2026, 11, 3), weeks=2))
    m = accept(world.db, world.accounts, "p1", "x-press", world.owner.id, now)
    assert m.starts == datetime(2026, 11, 3, tzinfo=seoul) and m.expires == m.starts + timedelta(weeks=2)
    g = world.accounts.grant(m.grant_id)
    assert not g.active(now) and g.active(datetime(2026, 11, 3, 0, 0, 1, tzinfo=seoul))


def test_the_docs_example_runs(capsys):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "commons" / "missions.md").read_text(
        encoding="utf-8"
    )
    (block,) = re.findall(r"```python\n(.*?)```", doc, re.S)
    exec(compile(block, "docs/commons/missions.md", "exec"), {})
    out = capsys.readouterr().out
    assert "프레스 1라인 불량률" in out and "relevance=" in out and "trust=" in out


def test_matches_on_a_generated_population_are_available_relevant_and_ordered():
    xs = generate_experts(seed=21, n=300, today=TODAY)
    by_id = {x.id: x for x in xs}
    for skills, weeks, hours in [
        (("spc", "stamping"), 8, 8),
        (("predictive_maintenance", "milling"), 12, 16),
        (("welding_quality",), 4, 20),
    ]:
        p = problem(skills=skills, weeks=weeks, hours_per_week=hours)
        ms = match_experts(p, xs, TODAY, limit=300)
        assert ms, skills
        scores = [m.score for m in ms]
        assert scores == sorted(scores, reverse=True)
        for m in ms:
            x = by_id[m.expert_id]
            assert x.available(TODAY, weeks, hours) and set(skills) & set(x.skills)
        listed = {m.expert_id for m in ms}
        assert all(
            not (x.available(TODAY, weeks, hours) and set(skills) & set(x.skills))
            for x in xs
            if x.id not in listed
        )


def test_an_abandoned_mission_lowers_the_experts_quality(world):
    save_problem(world.db, problem())
    m = accept(world.db, world.accounts, "p1", "x-press", world.owner.id, NOW)
    before = match_experts(problem("p9"), [get_expert(world.db, "x-press")], TODAY)[0].factors[1].value
    later = NOW + timedelta(weeks=3)
    with pytest.raises(MissionAccessError, match="cannot rate or abandon"):
        close_mission(
            world.db, world.accounts, m.id, world.xuser.id, later, text=Text(ko="중단"), outcome="abandoned"
        )
    with pytest.raises(MissionError, match="outcome: must be completed or abandoned"):
        close_mission(
            world.db, world.accounts, m.id, world.owner.id, later, text=Text(ko="중단"), outcome="lost"
        )
    closed = close_mission(
        world.db,
        world.accounts,
        m.id,
        world.owner.id,
        later,
        text=Text(ko="연락 두절로 중단"),
        outcome="abandoned",
    )
    assert closed.outcome == "abandoned" and get_expert(world.db, "x-press").past[-1].outcome == "abandoned"
    after = match_experts(problem("p9"), [get_expert(world.db, "x-press")], TODAY)[0].factors[1].value
    assert after < before
