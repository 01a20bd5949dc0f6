"""Commons profiles: evidence from a store, OKW export/import, saving, publishing and withdrawing.

Evidence is checked against figures computed here, independently, from the raw records the
simulator wrote (states, counts, orders) and the plant's shift times written out by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
import pytest
from commons_profile_example import three_machine_profile

from factory_commons.collect.simulator import SCHEMAS, FactorySimulator
from factory_commons.cooperate.evidence import (
    EvidenceError,
    capacity_evidence,
    compute_evidence,
    machine_processes,
)
from factory_commons.model.hierarchy import Machine
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
START, END = date(2026, 10, 8), date(2026, 10, 13)  # Thursday to Tuesday: two ISO weeks


@pytest.fixture(scope="module")
def plant():
    """Five simulated days of the demo plant (Thu 8 Oct - Mon 12 Oct 2026) in DuckDB."""
    sim = FactorySimulator(
        seed=3,
        start=datetime(2026, 10, 8, tzinfo=SEOUL),
        days=5,
        signal_interval_s=1800,
        quality_interval_s=7200,
    )
    store = DuckDBStore(":memory:")
    sim.write_to(store)
    yield store
    store.close()


# -- independent computation from raw records ---------------------------------------------------


def _work_intervals(day0: date, days: int) -> list[tuple[datetime, datetime]]:
    """The demo plant's work time (its two-shift calendar, breaks removed), written out by hand."""
    out = []
    for k in range(-1, days + 1):
        d = day0 + timedelta(days=k)
        at = lambda h, m=0, dd=d: datetime(dd.year, dd.month, dd.day, h, m, tzinfo=SEOUL)  # noqa: E731
        if d.weekday() < 5:
            out += [(at(8), at(12)), (at(13), at(15)), (at(15, 10), at(17)), (at(17), at(20, 30))]
            out.append((at(21), at(0) + timedelta(days=1, hours=1)))
        elif d.weekday() == 5:
            out.append((at(8), at(13)))
    return out


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, (min(a1, b1) - max(a0, b0)).total_seconds())


def _expected_free_hours(store, machines: list[str], w0: datetime, w1: datetime) -> float:
    """Delay time: idle / no_order episodes of 120 s or more (or the last one) inside work time."""
    return _expected_free_hours_between(store, machines, w0, w1, START - timedelta(days=3), 12)


def _expected_free_hours_between(
    store, machines: list[str], w0: datetime, w1: datetime, day0: date | None = None, days: int = 0
) -> float:
    states = store.read("state").to_pandas()
    day0 = day0 or w0.date() - timedelta(days=2)
    work = _work_intervals(day0, days or (w1 - w0).days + 4)
    total = 0.0
    for m in machines:
        s = states[states.machine == m].sort_values("ts")
        ts = [t.to_pydatetime().replace(tzinfo=UTC) if t.tzinfo is None else t.to_pydatetime() for t in s.ts]
        for i, st in enumerate(s.state):
            if st not in ("idle", "no_order"):
                continue
            a = ts[i]
            b = ts[i + 1] if i + 1 < len(ts) else None
            if b is not None and (b - a).total_seconds() < 120:
                continue  # a minor stop, inside production time
            b = b or w1
            for c0, c1 in work:
                total += _overlap(max(a, w0), min(b, w1), c0, c1)
    return total / 3600.0


def test_free_capacity_matches_an_independent_computation(plant):
    ev = capacity_evidence(plant, START, END)
    assert ev.period_start == START and ev.period_end == date(2026, 10, 12)
    got = {(w.process, w.week_start): w.free_hours for w in ev.weeks}
    assert {w for _, w in got} == {date(2026, 10, 5), date(2026, 10, 12)}
    lines = {
        "milling": "machining/cnc-1",
        "turning": "machining/cnc-1",
        "stamping": "press/press-1",
        "welding": "welding/weld-1",
    }
    paths = [m.path for m in plant.machines()]
    for (process, monday), hours in got.items():
        midnight = lambda d: datetime(d.year, d.month, d.day, tzinfo=SEOUL)  # noqa: E731
        w0 = max(midnight(monday), midnight(START))
        w1 = min(midnight(monday + timedelta(days=7)), midnight(END))
        machines = [p for p in paths if lines[process] in p]
        want = _expected_free_hours(plant, machines, w0, w1)
        assert hours == pytest.approx(want, abs=0.01), (process, monday)
        assert hours > 0
    # milling and turning are the same CNC machines: the same hours, offered either way
    assert got[("milling", date(2026, 10, 5))] == got[("turning", date(2026, 10, 5))]


def test_quality_and_delivery_match_raw_records(plant):
    ev = compute_evidence(plant, START, END)
    s, e = datetime(2026, 10, 8, tzinfo=SEOUL), datetime(2026, 10, 13, tzinfo=SEOUL)
    counts = plant.read("count", s, e).to_pandas()
    pq = int(counts.good.sum() + counts.scrap.sum())
    assert ev.quality.units == pq
    assert ev.quality.scrap_ratio == pytest.approx(counts.scrap.sum() / pq)
    assert ev.quality.first_pass_yield == pytest.approx((counts.good.sum() - counts.rework.sum()) / pq)
    assert 0 < ev.quality.scrap_ratio < 0.1

    orders = plant.read("order").to_pandas()
    orders["due"] = pd.to_datetime(orders.due, utc=True)
    due = orders[(orders.due >= pd.Timestamp(s)) & (orders.due < pd.Timestamp(e))]
    allc = plant.read("count").to_pandas()
    allc["ts"] = pd.to_datetime(allc.ts, utc=True)
    allc = allc[allc.ts < pd.Timestamp(e)].sort_values("ts")
    on_time = 0
    for o in due.itertuples():
        c = allc[allc.order_id == o.order_id]
        cum = (c.good + c.scrap).cumsum()
        reached = c.ts[cum >= o.quantity]
        if len(reached) and reached.iloc[0] <= o.due:
            on_time += 1
    assert ev.delivery.orders == len(due) > 10
    assert ev.delivery.on_time_ratio == pytest.approx(on_time / len(due))
    assert 0 < ev.delivery.on_time_ratio < 1  # the simulated plant is late sometimes, not always


def _table(kind: str, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMAS[kind])


def test_free_time_by_hand_on_a_24_7_machine():
    """running 2 h, no order 3 h (free), idle 60 s (a minor stop), down 1 h, idle 1 h (free)."""
    store = DuckDBStore(":memory:")
    path = "t/s/a/l/m1"
    store.register_machines([Machine(path=path, kind="lathe")])
    t0 = datetime(2026, 10, 5, tzinfo=UTC)
    h = lambda x: t0 + timedelta(hours=x)  # noqa: E731
    rows = [
        (0, "running"),
        (2, "no_order"),
        (5, "idle"),
        (5 + 1 / 60, "running"),
        (6, "unplanned_down"),
        (7, "idle"),
        (8, "running"),
    ]
    store.write_table(
        "state",
        _table(
            "state",
            [
                {"machine": path, "ts": h(x), "state": s, "reason_code": None, "order_id": None}
                for x, s in rows
            ],
        ),
    )
    ev = capacity_evidence(store, h(0), h(9), mapping={"lathe": ["turning"]}, tz="UTC")
    assert [(w.process, w.week_start, w.free_hours) for w in ev.weeks] == [
        ("turning", date(2026, 10, 5), 4.0)
    ]
    # a machine path beats its kind
    ev = capacity_evidence(store, h(0), h(9), mapping={"lathe": ["turning"], path: ["grinding"]}, tz="UTC")
    assert {w.process for w in ev.weeks} == {"grinding"}
    store.close()


def test_mapping_resolution_and_errors(plant):
    procs = machine_processes(plant.machines())
    assert procs["acme/changwon/press/press-1/press-01"] == ("stamping",)
    assert set(procs["acme/changwon/machining/cnc-1/cnc-03"]) == {"milling", "turning"}
    assert len(procs) == 12
    by_prefix = machine_processes(plant.machines(), {"acme/changwon/welding": ["welding", "assembly"]})
    assert set(by_prefix) == {m.path for m in plant.machines() if "/welding/" in m.path}
    with pytest.raises(EvidenceError, match=r"mapping\['cnc'\]: unknown process 'knitting'"):
        machine_processes(plant.machines(), {"cnc": ["knitting"]})
    with pytest.raises(EvidenceError, match="no machine"):
        capacity_evidence(plant, START, END, mapping={"loom": ["welding"]})
    with pytest.raises(EvidenceError, match="must be before"):
        capacity_evidence(plant, END, START)


def test_evidence_covers_the_datas_own_span():
    """Nine days of data from Saturday 17 October: a partial ISO week and a whole one (19-25
    October). Asked for nine weeks, the evidence counts no zero week before the data began
    (issue 27: 12 h/week shown where the plant measured 32), states the week it measured, and
    matching and the booking cap use that figure."""
    from factory_commons.cooperate.booking import capacity_basis
    from factory_commons.cooperate.evidence import data_span, delivery_evidence
    from factory_commons.cooperate.match import weekly_free_hours
    from factory_commons.cooperate.sample import demo_firm_profile

    sim = FactorySimulator(
        seed=5,
        start=datetime(2026, 10, 17, tzinfo=SEOUL),
        days=9,
        signal_interval_s=1800,
        quality_interval_s=7200,
    )
    store = DuckDBStore(":memory:")
    sim.write_to(store)
    first, last = data_span(store)
    # the last state change is Saturday's end of shift: the plant is off until Monday
    assert first.astimezone(SEOUL).date() == date(2026, 10, 17)
    assert last.astimezone(SEOUL).date() == date(2026, 10, 24)
    asked = capacity_evidence(store, date(2026, 8, 31), date(2026, 11, 2))  # nine weeks asked
    assert {w.week_start for w in asked.weeks} == {date(2026, 10, 19)}
    assert (asked.period_start, asked.period_end) == (date(2026, 10, 19), date(2026, 10, 25))
    assert asked == capacity_evidence(store, date(2026, 10, 19), date(2026, 10, 26))
    milling = next(w.free_hours for w in asked.weeks if w.process == "milling")
    assert milling > 0
    # the same week counted by hand (the CNC line's delay time), so the figure is not diluted
    paths = [m.path for m in store.machines() if "machining/cnc-1" in m.path]
    w0, w1 = datetime(2026, 10, 19, tzinfo=SEOUL), datetime(2026, 10, 26, tzinfo=SEOUL)
    hand = _expected_free_hours_between(store, paths, w0, w1)
    assert milling == pytest.approx(hand, abs=0.01)
    # matching and the booking cap read the same weekly figure
    acme = demo_firm_profile(store, start=date(2026, 8, 31), end=date(2026, 11, 2), published={"capacity"})
    assert weekly_free_hours(acme.public(), "milling") == pytest.approx(milling)
    basis = capacity_basis(acme, "milling", date(2026, 11, 9))
    assert float(basis.free_hours) == pytest.approx(milling, abs=0.01) and basis.weeks_measured == 1
    # delivery and quality over the data's days only: orders due before the data are not late
    assert delivery_evidence(store, date(2026, 8, 31), date(2026, 11, 2)) == delivery_evidence(
        store, date(2026, 10, 17), date(2026, 10, 26)
    )
    # no data in the period: no evidence at all
    before = compute_evidence(store, date(2026, 9, 1), date(2026, 9, 8))
    assert before.capacity is None and before.quality is None and before.delivery is None
    store.close()


def test_no_orders_means_no_delivery_evidence():
    store = DuckDBStore(":memory:")
    store.register_machines([Machine(path="t/s/a/l/m1", kind="press")])
    ev = compute_evidence(store, date(2026, 10, 5), date(2026, 10, 6), tz="UTC")
    assert ev.delivery is None and ev.quality is None
    assert json.loads(ev.model_dump_json())["delivery"] is None
    store.close()


# -- a generated region and a hand-made profile (OKW export and import: tests/test_okw.py) ----------

from factory_commons.cooperate.sample import generate_region  # noqa: E402


@pytest.fixture(scope="module")
def region():
    return generate_region(seed=11, firms=300, requests=20)


def _three_machine_profile():
    return three_machine_profile()


# -- saving, publishing, withdrawing ------------------------------------------------------------------

from factory_commons.cooperate import okw  # noqa: E402
from factory_commons.cooperate import profiles as prof  # noqa: E402
from factory_commons.cooperate.db import CommonsDB  # noqa: E402
from factory_commons.cooperate.sample import demo_firm_profile  # noqa: E402

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _leaks(view_json: str, p, kind: str) -> bool:
    ev = getattr(p.evidence, kind)
    return ev is not None and ev.model_dump_json() in view_json


def test_publish_and_withdraw_control_every_public_view(plant):
    db = CommonsDB(":memory:")
    acme = demo_firm_profile(plant, today=date(2026, 10, 20))
    assert acme.published == frozenset() and acme.evidence.capacity and acme.evidence.quality
    assert acme.evidence.delivery is not None
    prof.save_profile(db, acme)
    other = _three_machine_profile()
    prof.save_profile(db, other)

    def views() -> str:
        pub = prof.public_profiles(db)
        okw_docs = [
            okw.dumps(p) for p in (prof.load_profile(db, "acme"), prof.load_profile(db, other.firm_id))
        ]
        return "\n".join(
            [
                *(p.model_dump_json() for p in pub),
                prof.public_profile(db, "acme").model_dump_json(),
                *okw_docs,
            ]
        )

    for kind in ("capacity", "quality", "delivery"):
        assert not _leaks(views(), acme, kind)
    p = prof.publish(db, "acme", ["capacity", "quality"], now=NOW)
    assert p.published == {"capacity", "quality"} and p.published_at == NOW
    v = views()
    assert _leaks(v, acme, "capacity") and _leaks(v, acme, "quality") and not _leaks(v, acme, "delivery")
    public_acme = next(x for x in prof.public_profiles(db) if x.firm_id == "acme")
    assert public_acme.evidence.delivery is None and public_acme.evidence.capacity == acme.evidence.capacity
    # the other firm published capacity only; its quality never shows
    assert not _leaks(v, other, "quality") and _leaks(v, other, "capacity")

    later = NOW + timedelta(days=3)
    p = prof.withdraw(db, "acme", "quality", now=later)
    assert p.published == {"capacity"} and p.published_at == later
    assert not _leaks(views(), acme, "quality")
    p = prof.withdraw(db, "acme", ["capacity"], now=later)
    assert p.published == frozenset() and p.published_at is None
    v = views()
    assert not any(_leaks(v, acme, k) for k in ("capacity", "quality", "delivery"))
    # the firm itself still has all of it
    assert prof.load_profile(db, "acme").evidence == acme.evidence


def test_profile_errors():
    db = CommonsDB(":memory:")
    p = _three_machine_profile()
    prof.save_profile(db, p)
    with pytest.raises(prof.ProfileError, match="unknown firm 'nobody'"):
        prof.publish(db, "nobody", ["capacity"])
    with pytest.raises(prof.ProfileError, match="unknown firm 'nobody'"):
        prof.public_profile(db, "nobody")
    with pytest.raises(prof.ProfileError, match="unknown evidence kind 'salary'"):
        prof.publish(db, p.firm_id, ["capacity", "salary"])
    with pytest.raises(prof.ProfileError, match="unknown evidence kind 'c'"):
        prof.withdraw(db, p.firm_id, "c")
    with pytest.raises(prof.ProfileError, match="at least one"):
        prof.publish(db, p.firm_id, [])
    with pytest.raises(prof.ProfileError, match="no delivery evidence to publish"):
        prof.publish(db, p.firm_id, ["delivery"])
    assert prof.load_profile(db, p.firm_id).published == {"capacity"}  # failed calls changed nothing
    assert prof.get_profile(db, "nobody") is None


def test_refresh_evidence_from_the_firms_store(plant):
    db = CommonsDB(":memory:")
    acme = demo_firm_profile(plant, start=START, end=date(2026, 10, 10), published={"capacity", "delivery"})
    prof.save_profile(db, acme)
    with pytest.raises(prof.ProfileError, match="unknown firm"):
        prof.refresh_evidence(db, "nobody", plant, START, END)
    p = prof.refresh_evidence(db, "acme", plant, START, END)
    assert p.evidence == compute_evidence(plant, START, END)
    assert p.evidence != acme.evidence and p.published == {"capacity", "delivery"}
    # default period: the full ISO weeks before today's week (here: the week of 5 October), cut
    # to the days the store has data for (from Thursday 8 October)
    p = prof.refresh_evidence(db, "acme", plant, today=date(2026, 10, 14), weeks=1)
    assert (p.evidence.capacity.period_start, p.evidence.capacity.period_end) == (
        date(2026, 10, 8),
        date(2026, 10, 11),
    )
    assert {w.week_start for w in p.evidence.capacity.weeks} == {date(2026, 10, 5)}


def _round_trip(db: CommonsDB, region) -> None:
    n = prof.save_profiles(db, region.profiles)
    assert n == len(region.profiles)
    some = region.profiles[7]
    assert prof.load_profile(db, some.firm_id) == some
    assert db.owner("profile", some.firm_id) == some.firm_id
    pub = prof.public_profiles(db)
    assert [p.firm_id for p in pub] == sorted(p.firm_id for p in region.profiles)
    assert pub == sorted((p.public() for p in region.profiles), key=lambda p: p.firm_id)
    target = next(p for p in region.profiles if "quality" in p.published)
    prof.withdraw(db, target.firm_id, "quality", now=NOW)
    assert prof.public_profile(db, target.firm_id).evidence.quality is None


def test_commons_db_round_trip_sqlite(tmp_path, region):
    path = str(tmp_path / "plant.duckdb.commons.sqlite")
    db = CommonsDB(path)
    _round_trip(db, region)
    db.close()
    again = CommonsDB(path)  # a fresh connection reads the same documents
    assert prof.load_profile(again, region.profiles[3].firm_id) == region.profiles[3]
    again.close()


def test_commons_db_round_trip_postgresql(pg_url, region):
    import uuid

    import psycopg

    schema = f"prof_{uuid.uuid4().hex[:10]}"
    db = CommonsDB(f"{pg_url}?schema={schema}")
    try:
        assert db.schema == f"{schema}_commons"
        _round_trip(db, region)
    finally:
        db.close()
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}_commons" CASCADE')


def test_evidence_is_the_same_on_postgresql(pg_schemas):
    """Two simulated days in PostgreSQL and in DuckDB give the same evidence."""
    sim = FactorySimulator(
        seed=4,
        start=datetime(2026, 10, 9, tzinfo=SEOUL),
        days=2,
        signal_interval_s=3600,
        quality_interval_s=7200,
    )
    pg, duck = pg_schemas.store(), DuckDBStore(":memory:")
    try:
        sim.write_to(pg)
        sim.write_to(duck)
        a = compute_evidence(pg, date(2026, 10, 9), date(2026, 10, 11))
        b = compute_evidence(duck, date(2026, 10, 9), date(2026, 10, 11))
        assert a.capacity.weeks and a.quality.units > 0
        assert a == b
    finally:
        pg_schemas.give_back(pg)
        duck.close()


# -- firm scope: a shared (server) store holds other firms' machines and orders -------------------


def _sim(seed: int) -> FactorySimulator:
    return FactorySimulator(
        seed=seed,
        start=datetime(2026, 10, 8, tzinfo=SEOUL),
        days=3,
        signal_interval_s=3600,
        quality_interval_s=7200,
        count_interval_s=600,
    )


def _renamed(table: pa.Table, prefix: str) -> pa.Table:
    """The same rows for another firm: machines under enterprise `prefix`, order ids prefixed."""
    cols = {}
    for name in table.schema.names:
        col = table[name].to_pylist()
        if name == "machine":
            col = [None if v is None else prefix + v.split("/", 1)[1] for v in col]
        elif name == "order_id":
            col = [None if v is None else f"{prefix}{v}" for v in col]
        cols[name] = pa.array(col, type=table.schema.field(name).type)
    return pa.table(cols, schema=table.schema)


@pytest.fixture(scope="module")
def stores():
    """(acme alone, shared): three simulated days of acme, and in a second store the same days
    plus another firm's (seed 9, enterprise "other", its own orders), like a server's store."""
    alone, shared = DuckDBStore(":memory:"), DuckDBStore(":memory:")
    acme, other = _sim(3), _sim(9)
    for store in (alone, shared):
        store.register_machines(acme.machines())
        store.save_calendar(acme._calendar)
    shared.register_machines(
        [m.model_copy(update={"path": "other/" + m.path.split("/", 1)[1]}) for m in other.machines()]
    )
    for (_, a), (_, b) in zip(acme.iter_days(), other.iter_days(), strict=True):
        for kind in ("state", "count", "order"):
            alone.write_table(kind, a[kind])
            shared.write_table(kind, a[kind])
            shared.write_table(kind, _renamed(b[kind], "other/"))
    yield alone, shared
    alone.close()
    shared.close()


def test_firm_scope_on_a_shared_store_equals_the_firm_alone(stores):
    from factory_commons.cooperate.evidence import delivery_evidence, quality_evidence, scoped_machines

    plant, shared_store = stores
    alone = compute_evidence(plant, START, END)
    assert alone.delivery is not None and alone.quality is not None and alone.capacity.weeks
    assert compute_evidence(shared_store, START, END, scope=["acme"]) == alone
    assert compute_evidence(shared_store, START, END, scope=["acme/"]) == alone  # a prefix with its slash
    # the whole shared store mixes the other firm in: more orders, other figures (so the scope matters)
    mixed = compute_evidence(shared_store, START, END)
    assert mixed.delivery.orders > alone.delivery.orders and mixed.quality.units > alone.quality.units
    assert mixed.capacity != alone.capacity
    other = compute_evidence(shared_store, START, END, scope=["other"])
    assert other.delivery.orders + alone.delivery.orders == mixed.delivery.orders
    assert other.quality.units + alone.quality.units == mixed.quality.units
    # machine paths work as a scope too; a scope without machines has no quality or delivery
    presses = [m.path for m in scoped_machines(shared_store, ["acme/changwon/press"])]
    assert len(presses) == 4 and all(p.startswith("acme/changwon/press/") for p in presses)
    assert quality_evidence(shared_store, START, END, scope=["nobody"]) is None
    assert delivery_evidence(shared_store, START, END, scope=["nobody"]) is None
    with pytest.raises(EvidenceError, match="no machine of the store does any process"):
        compute_evidence(shared_store, START, END, scope=["nobody"])
    with pytest.raises(EvidenceError, match="scope: name at least one"):
        compute_evidence(shared_store, START, END, scope=[])


def test_refresh_evidence_and_the_api_use_the_firm_scope(stores):
    from factory_commons.cooperate.evidence import firm_evidence, last_weeks

    plant, shared_store = stores
    db = CommonsDB(":memory:")
    prof.save_profile(
        db, demo_firm_profile(plant, start=START, end=date(2026, 10, 10), published={"delivery"})
    )
    p = prof.refresh_evidence(db, "acme", shared_store, START, END, scope=["acme"])
    assert p.evidence == compute_evidence(plant, START, END) and p.published == {"delivery"}
    # the server's refresh (POST /api/commons/profile/evidence): the firm's enterprises, delivery included
    today = date(2026, 10, 14)
    start, end = last_weeks(today, 1)
    ev = firm_evidence(shared_store, ("acme",), today, weeks=1)
    assert ev == compute_evidence(plant, start, end) and ev.delivery is not None
    with pytest.raises(EvidenceError, match="none of your machines"):
        firm_evidence(shared_store, ("gamma",), today, weeks=1)


def test_version_changes_with_every_change_of_its_kind():
    db = CommonsDB(":memory:")
    empty = db.version("profile")
    assert empty == db.version("profile") and isinstance(empty, str)
    region_profiles = generate_region(seed=3, firms=5, requests=1, today=date(2026, 10, 14)).profiles
    prof.save_profiles(db, region_profiles[:3])
    v1 = db.version("profile")
    assert v1 != empty and db.version("profile") == v1
    other = db.version("request")
    prof.save_profile(db, region_profiles[0])  # replaced: same count, newer update
    v2 = db.version("profile")
    assert v2 != v1 and db.version("request") == other  # kinds are independent
    db.delete("profile", region_profiles[1].firm_id)
    v3 = db.version("profile")
    assert v3 not in (v1, v2)
    db.close()


# -- every code against the vocabulary ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field", "code", "closest"),
    [
        (lambda: _step(certifications=("GOSSIP-1",)), "certifications", "GOSSIP-1", "ISO 9001"),
        (lambda: _step(certifications=("iso9001",)), "certifications", "iso9001", "ISO 9001"),
        (lambda: _facility(unspsc=("99999999",)), "unspsc", "99999999", "73180000"),
        (lambda: _facility(unspsc=("3128000",)), "unspsc", "3128000", "31280000"),
        (lambda: _certificate("GOSSIP-1"), "code", "GOSSIP-1", "ISO 9001"),
        (lambda: _step(material="unobtainium"), "material", "unobtainium", "aluminium"),
        (lambda: _step(material="Aluminium"), "material", "Aluminium", "aluminium"),
        (lambda: _step(process="knitting"), "process", "knitting", "painting"),
        (lambda: _step(process="밀링 가공"), "process", "밀링 가공", "milling"),
        (lambda: _request(unspsc="00000000"), "unspsc", "00000000", "31100000"),
    ],
)
def test_every_code_is_checked_against_the_vocabulary(build, field, code, closest):
    """Issue 27: an unknown certification or UNSPSC code was accepted. Every code is refused with
    a Korean and an English message that names the field and the closest known codes."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        build()
    text = str(caught.value)
    assert f"{field}: 알 수 없는" in text and f"{field}: unknown" in text, text
    assert f"{code!r}" in text and "closest known: " in text and "가까운 코드: " in text
    assert closest in text.split("closest known: ")[1], text


def test_vocabulary_error_carries_its_parts():
    from factory_commons.cooperate.vocab import VocabularyError, check_certification, check_unspsc, closest

    with pytest.raises(VocabularyError) as caught:
        check_certification("GOSSIP-1", "steps[0].certifications[0]")
    e = caught.value
    assert (e.field, e.kind, e.code) == ("steps[0].certifications[0]", "certification", "GOSSIP-1")
    assert e.ko.startswith("steps[0].certifications[0]: 알 수 없는 인증 코드 'GOSSIP-1'")
    assert e.en.startswith("steps[0].certifications[0]: unknown certification 'GOSSIP-1'; closest known: ")
    assert str(e) == f"{e.ko} / {e.en}" and e.why_en in e.en and e.why_ko in e.ko
    assert check_unspsc("31280000") == "31280000" and check_certification("KS") == "KS"
    assert closest("certification", "iso 9001") == ("ISO 9001",)  # spacing and case
    assert closest("material", "나일론(PA66)") == ("polyamide",)  # a Korean name typed for the code
    with pytest.raises(VocabularyError, match="unknown UNSPSC class 3128"):
        check_unspsc(3128)  # type: ignore[arg-type]


def test_first_pass_yield_has_one_korean_name():
    """FPY is 직행률 in every Korean catalog (issue 27 found 초도 합격률 in one place)."""
    from factory_commons.i18n import LOCALE_DIR

    texts = {p.name: p.read_text(encoding="utf-8") for p in (LOCALE_DIR / "ko" / "LC_MESSAGES").glob("*.po")}
    assert not [name for name, text in texts.items() if "초도 합격률" in text or "초도합격률" in text]
    assert "직행률" in texts["commons.po"] and "직행률" in texts["commons_errors.po"]
    assert "직행률" in texts["commons_okw.po"]


def _step(**kw):
    from factory_commons.cooperate.model import Step

    return Step(**{"process": "milling", "material": "steel", "quantity": 10, **kw})


def _facility(**kw):
    from factory_commons.cooperate.model import Facility, Location, Text

    loc = Location(city="Seoul", district="금천구", lat=37.47, lon=126.89)
    return Facility(**{"firm_id": "f", "name": Text(ko="가"), "location": loc, **kw})


def _certificate(code: str):
    from factory_commons.cooperate.model import Certification

    return Certification(code=code, last_checked=date(2026, 11, 1))


def _request(**kw):
    from factory_commons.cooperate.model import Request, Text

    return Request(
        **{
            "id": "r",
            "requester": "person:x",
            "title": Text(en="x"),
            "steps": (_step(),),
            "due": date(2026, 12, 1),
            "posted": date(2026, 11, 1),
            **kw,
        }
    )
