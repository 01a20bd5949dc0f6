"""Region maturity: scoring against worked examples, the model file's checks, items measured
from a real store's data with the evidence shown, and the roadmap."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from factory_commons.cooperate.db import CommonsDB
from factory_commons.cooperate.experts import generate_experts, save_experts
from factory_commons.model.hierarchy import Machine
from factory_commons.model.records import AnomalyAlert, QualityMeasurement, Signal, StateChange
from factory_commons.region.db import save
from factory_commons.region.evidence import evidence_values, measure
from factory_commons.region.maturity import MaturityModelError, load_model, parse_model, score
from factory_commons.region.models import EvidenceValue, MaturityAnswers, Programme
from factory_commons.region.roadmap import roadmap
from factory_commons.store import open_store

DAY = date(2026, 11, 23)


def test_the_model_has_four_areas_ten_domains_and_1000_points():
    m = load_model()
    assert len(m.domains) == 10
    assert {d.area for d in m.domains} == {"management", "process", "systems", "performance"}
    points = {
        a: sum(d.points for d in m.domains if d.area == a)
        for a in ("management", "process", "systems", "performance")
    }
    assert points == {"management": 100, "process": 400, "systems": 400, "performance": 100}
    assert sum(i.weight for i in m.items) == 31


def test_every_item_at_level_3_is_level_3_and_600_points():
    m = load_model()
    a = score(MaturityAnswers(firm_id="f", assessed_on=DAY, answers={i.id: 3 for i in m.items}))
    assert a.score == pytest.approx(3.0) and a.level == 3
    assert a.points == pytest.approx(600.0)
    assert a.completeness == 1.0 and a.measured_share == 0.0
    assert all(d.level == 3 for d in a.domains)


def test_worked_example_two_domains_weights_and_evidence():
    # management: strategy (w2) 4, people (w1) 1, know-how missing -> (8 + 1) / 3 = 3.0 -> level 3
    # process control: collection measured 0.75 (thresholds .1 .4 .7 .95 -> level 4, w2; the
    # answer 1 is overridden), real time 2 (w2), closed loop 1 (w1) -> (8 + 4 + 1) / 5 = 2.6 -> 2
    # overall: (100 * 3.0 + 80 * 2.6) / 180 = 2.8222 -> level 2; not every domain: no points
    ev = EvidenceValue(item="proc_collection", metric="auto_collection_share", value=0.75, level=4)
    a = score(
        MaturityAnswers(
            firm_id="f",
            assessed_on=DAY,
            answers={
                "mgmt_strategy": 4,
                "mgmt_people": 1,
                "proc_collection": 1,
                "proc_realtime": 2,
                "proc_closed_loop": 1,
            },
            evidence={"proc_collection": ev},
        )
    )
    assert a.domain("management").score == pytest.approx(3.0) and a.domain("management").level == 3
    assert a.domain("process_control").score == pytest.approx(2.6) and a.domain("process_control").level == 2
    assert a.score == pytest.approx((300 + 208) / 180) and a.level == 2
    assert a.points is None
    assert a.completeness == pytest.approx(8 / 31) and a.measured_share == pytest.approx(2 / 31)
    item = next(i for i in a.domain("process_control").items if i.item == "proc_collection")
    assert item.source == "evidence" and item.evidence.value == 0.75
    assert a.domain("quality").score is None and [d.domain for d in a.weakest(2)] == [
        "process_control",
        "management",
    ]


def test_a_level_is_reached_only_when_the_mean_attains_it():
    # quality: SPC (w2) 4, traceability (w1) 2 -> 10/3 = 3.33 -> level 3; 3 and 2 -> 8/3 = 2.67 -> 2
    a = score(MaturityAnswers(firm_id="f", assessed_on=DAY, answers={"qual_spc": 4, "qual_trace": 2}))
    assert a.domain("quality").level == 3
    b = score(MaturityAnswers(firm_id="f", assessed_on=DAY, answers={"qual_spc": 3, "qual_trace": 2}))
    assert b.domain("quality").level == 2 and b.domain("quality").score == pytest.approx(8 / 3)


def test_thresholds_give_levels():
    item = load_model().item("proc_collection")
    assert [item.level_of(v) for v in (0.0, 0.1, 0.39, 0.4, 0.7, 0.95, 1.0)] == [1, 2, 2, 3, 4, 5, 5]


@pytest.mark.parametrize(
    "answers, needle",
    [
        ({"mgmt_strategy": 6}, "mgmt_strategy: level must be 1-5"),
        ({"no_such_item": 3}, "unknown maturity item 'no_such_item'"),
    ],
)
def test_bad_answers_are_named(answers, needle):
    with pytest.raises(MaturityModelError, match=needle):
        score(MaturityAnswers(firm_id="f", assessed_on=DAY, answers=answers))


@pytest.mark.parametrize(
    "doc, needle",
    [
        ({"domain": [{"id": "a", "area": "nowhere", "points": 1}]}, "area must be one of"),
        (
            {
                "domain": [{"id": "a", "area": "process", "points": 1}],
                "item": [{"id": "x", "domain": "a", "weight": 0}],
            },
            "item[0] (x): weight must be a positive",
        ),
        (
            {
                "domain": [{"id": "a", "area": "process", "points": 1}],
                "item": [{"id": "x", "domain": "b", "weight": 1}],
            },
            "unknown domain 'b'",
        ),
        (
            {
                "domain": [{"id": "a", "area": "process", "points": 1}],
                "item": [
                    {"id": "x", "domain": "a", "weight": 1, "metric": "m", "thresholds": [0.5, 0.1, 0.6, 0.7]}
                ],
            },
            "4 ascending thresholds",
        ),
        (
            {
                "domain": [
                    {"id": "a", "area": "process", "points": 1},
                    {"id": "b", "area": "process", "points": 1},
                ],
                "item": [{"id": "x", "domain": "a", "weight": 1}],
            },
            "domains without items: b",
        ),
    ],
)
def test_a_bad_model_file_is_refused_with_the_place(doc, needle):
    with pytest.raises(MaturityModelError) as e:
        parse_model(doc, "m.toml")
    assert needle in str(e.value) and "m.toml" in str(e.value)


@pytest.fixture()
def store(tmp_path):
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with open_store(str(tmp_path / "f.duckdb")) as s:
        s.register_machines([Machine(path="acme/s/a/l1/m4", kind="cnc")])  # known, never reports
        recs = []
        for k, m in enumerate(("acme/s/a/l1/m1", "acme/s/a/l1/m2", "acme/s/a/l1/m3", "acme/s/a/l1/m4")):
            if k < 3:  # m4 never reports: 3 of 4 machines collected
                recs += [
                    StateChange(
                        ts=now - timedelta(days=2), machine=m, state="running", order_id="o1" if k else None
                    ),
                    StateChange(ts=now - timedelta(days=1), machine=m, state="running", order_id="o2"),
                ]
            if k == 0:  # live: a state 5 minutes ago; SPC with limits; a setpoint changed
                recs.append(StateChange(ts=now - timedelta(minutes=5), machine=m, state="idle"))
                recs.append(
                    QualityMeasurement(
                        ts=now - timedelta(days=1),
                        machine=m,
                        characteristic="bore",
                        value=10.0,
                        lsl=9.9,
                        usl=10.1,
                    )
                )
                recs += [
                    Signal(ts=now - timedelta(hours=h), machine=m, name="temp_setpoint", value=v)
                    for h, v in ((5, 180.0), (4, 185.0))
                ]
        # two alerts on m2: one followed by a stop with a reason within 24 h, one not
        recs.append(
            AnomalyAlert(
                ts=now - timedelta(days=3),
                machine="acme/s/a/l1/m2",
                detector="pca:x",
                score=5.0,
                threshold=1.0,
            )
        )
        recs.append(
            StateChange(
                ts=now - timedelta(days=3) + timedelta(hours=2),
                machine="acme/s/a/l1/m2",
                state="unplanned_down",
                reason_code="bearing",
            )
        )
        recs.append(
            AnomalyAlert(
                ts=now - timedelta(days=6),
                machine="acme/s/a/l1/m2",
                detector="pca:x",
                score=5.0,
                threshold=1.0,
            )
        )
        recs.append(StateChange(ts=now - timedelta(days=10), machine="other/s/a/l/m9", state="running"))
        s.write(recs)
        yield s, now


def test_items_measured_from_the_store_with_their_evidence(store):
    s, now = store
    got = measure(s, now=now, scope=["acme"])
    assert got["auto_collection_share"][0] == pytest.approx(3 / 4)
    assert (
        got["auto_collection_share"][1]["machines"] == 4 and got["auto_collection_share"][1]["reporting"] == 3
    )
    assert got["realtime_monitoring"][0] == pytest.approx(1 / 4)
    assert got["spc_in_use"][0] == pytest.approx(1 / 4)
    assert got["closed_loop_changes"][0] == pytest.approx(1 / 4)
    assert got["order_coverage"][0] == pytest.approx(5 / 6)  # 6 starts of running, 5 name an order
    assert got["alerts_acted_on"][0] == pytest.approx(1 / 2)
    assert got["alerts_acted_on"][1]["alerts"] == 2
    assert "codified_knowhow" not in got  # no store target given: not measured, answered instead
    ev = evidence_values(got)
    assert ev["proc_collection"].level == 4 and ev["proc_collection"].basis["reporting"] == 3
    assert ev["eq_alerts"].level == 3  # 0.5 attains 0.01 and 0.3 (levels 2, 3), not 0.6
    # without a scope the other firm's machine counts too (a single-shop store is the firm)
    assert measure(s, now=now)["auto_collection_share"][0] == pytest.approx(4 / 5)


def test_a_store_without_alerts_leaves_the_item_to_the_firm(store):
    s, now = store
    got = measure(s, now=now + timedelta(days=60), scope=["acme"])
    assert "alerts_acted_on" not in got and got["auto_collection_share"][0] == 0.0


def test_roadmap_links_weak_domains_to_experts_and_programmes():
    db = CommonsDB(":memory:")
    experts = generate_experts(seed=3, n=40, today=DAY)
    save_experts(db, experts)
    save(
        db,
        [
            Programme(
                id="p1",
                name_ko="가",
                name_en="a",
                budget_krw=1,
                start=DAY,
                end=DAY,
                firms=("f",),
                level_target=2,
                domains=("quality",),
            )
        ],
    )
    answers = {i.id: 4 for i in load_model().items}
    answers |= {"qual_spc": 1, "qual_trace": 2, "eq_alerts": 2, "eq_maintenance": 2}
    a = score(MaturityAnswers(firm_id="f", assessed_on=DAY, answers=answers))
    steps = roadmap(a, db, n=2)
    assert [s.domain for s in steps] == ["quality", "equipment"]
    assert steps[0].raise_items == (("qual_spc", 1),) and steps[0].programmes == ("p1",)
    topics = set(load_model().domain("quality").topics)
    by_id = {e.id: e for e in experts}
    assert steps[0].experts and all(topics & set(by_id[x].skills) for x in steps[0].experts)
    assert steps[1].programmes == ()


def test_codified_knowhow_is_read_from_the_knowhow_package_when_there_is_one(tmp_path):
    pytest.importorskip("factory_commons.knowhow.metrics")
    from factory_commons.knowhow.cases import Case
    from factory_commons.knowhow.db import open_knowhow

    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    target = str(tmp_path / "k.duckdb")
    stops = [now - timedelta(days=d) for d in (1, 2, 3, 4)]
    with open_store(target) as s:
        s.write([StateChange(ts=t, machine="acme/s/a/l/m1", state="unplanned_down") for t in stops])
        assert "codified_knowhow" not in measure(s, now=now, store_target=target)  # no know-how database yet
        kdb = open_knowhow(target)
        # one of the four stops is written down
        kdb.add(Case(machine="acme/s/a/l/m1", title="bearing", occurred=stops[0]))
        kdb.close()
        value, basis = measure(s, now=now, store_target=target)["codified_knowhow"]
    assert value == pytest.approx(1 / 4) and basis["stops"] == 4 and basis["with_case"] == 1
    # 0.25 attains the thresholds 0.05 and 0.25: level 3
    assert evidence_values({"codified_knowhow": (value, basis)})["mgmt_knowhow"].level == 3
