"""O2O visit slots and shared machine hours: never over capacity, never over measured free hours.

Property tests (hypothesis, derandomized) over booking/cancelling sequences; threads racing for
the last places and hours on SQLite and on a PostgreSQL schema of its own (dropped after).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_commons.cooperate import booking as B
from factory_commons.cooperate.db import CommonsDB
from factory_commons.cooperate.model import (
    CapacityEvidence,
    CapacityWeek,
    Equipment,
    Evidence,
    Facility,
    Location,
    Profile,
    Text,
)
from factory_commons.cooperate.pools import CommonsError

PG = "postgresql://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 KST
WEEK = date(2026, 11, 30)  # next Monday
DAY = date(2026, 11, 26)
PROPS = settings(
    derandomize=True, deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)
FIRMS = [f"buyer-{i}" for i in range(8)]


def profile(firm: str = "guro-cnc", source: str = "kpi", weeks=None) -> Profile:
    weeks = (
        weeks
        if weeks is not None
        else [
            CapacityWeek(process="milling", week_start=date(2026, 11, 2), free_hours=30.0),
            CapacityWeek(process="milling", week_start=date(2026, 11, 9), free_hours=20.55),
            CapacityWeek(process="milling", week_start=date(2026, 11, 16), free_hours=25.0),
            CapacityWeek(process="milling", week_start=WEEK, free_hours=12.349),
            CapacityWeek(process="turning", week_start=date(2026, 11, 16), free_hours=8.0),
        ]
    )
    fac = Facility(
        firm_id=firm,
        name=Text(ko="구로 정밀 CNC", en="Guro Precision CNC"),
        location=Location(city="Seoul", district="구로구", lat=37.49, lon=126.88),
        equipment=(
            Equipment(
                id="mc-1", process="milling", name="DMU 50", count=2, materials=("aluminium", "steel"),
                envelope_mm=(500, 450, 400), tolerance_mm=0.01, hourly_rate_krw=45_000,
            ),
            Equipment(
                id="lathe-1", process="turning", materials=("steel",), envelope_mm=(300, 300, 600),
                tolerance_mm=0.01, hourly_rate_krw=38_500,
            ),
            Equipment(
                id="weld-1", process="welding", materials=("steel",), envelope_mm=(2000, 1000, 1000),
                tolerance_mm=0.5, hourly_rate_krw=30_000,
            ),
        ),
    )  # fmt: skip
    ev = CapacityEvidence(weeks=tuple(weeks), period_start=date(2026, 11, 2), period_end=WEEK + timedelta(6),
                          source=source)  # fmt: skip
    return Profile(facility=fac, evidence=Evidence(capacity=ev))


@pytest.fixture
def db():
    d = CommonsDB(":memory:")
    yield d
    d.close()


@pytest.fixture
def pg_target():
    """A PostgreSQL URL with a schema of this test's own; the schema is dropped after."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except Exception as e:  # noqa: BLE001 - PostgreSQL not answering
        pytest.skip(f"PostgreSQL is not answering at {PG}: {e}")
    schema = f"booking_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{PG}?schema={schema}"
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}_commons" CASCADE')
        admin.close()


def err(fn, *a, **kw) -> CommonsError:
    with pytest.raises(CommonsError) as e:
        fn(*a, **kw)
    assert e.value.ko and e.value.en and e.value.field in str(e.value)
    return e.value


def slot(db, sid="s1", **kw) -> B.VisitSlot:
    args = dict(firm_id="guro-cnc", day=DAY, start=time(14), end=time(16), capacity=10, languages=("ko", "en"),
                title=Text(ko="5축 가공 라인 견학", en="5-axis line tour"), slot_id=sid, now=NOW)  # fmt: skip
    args.update(kw)
    return B.offer_slot(db, **args)


# ---------------------------------------------------------------- visit slots


def test_visit_booking_and_cancellation_return_places(db):
    s = slot(db)
    assert s.starts == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)  # 14:00 KST
    B.book_visit(db, "s1", "buyer-0", 4, booking_id="b1", now=NOW)
    B.book_visit(db, "s1", "person:김민지", 5, now=NOW)
    assert B.get_slot(db, "s1").left == 1
    e = err(B.book_visit, db, "s1", "buyer-1", 2, now=NOW)
    assert (
        (e.field, e.code) == ("party", "conflict") and "1 places left" in e.en and "남은 자리는 1명" in e.ko
    )
    B.cancel_booking(db, "b1", "buyer-0", now=NOW)
    assert B.get_slot(db, "s1").left == 5
    assert err(B.cancel_booking, db, "b1", "buyer-0", now=NOW).code == "conflict"  # once
    B.book_visit(db, "s1", "buyer-1", 5, now=NOW)
    assert B.list_slots(db, bookable_only=True, now=NOW) == []
    active = {b.booker: b.quantity for b in B.bookings_for(db, host="guro-cnc") if b.state == "active"}
    assert active == {"person:김민지": 5, "buyer-1": 5}


def test_no_double_booking_of_a_visitor_or_the_host(db):
    slot(db)
    slot(db, "s2", start=time(15), end=time(17))
    slot(db, "s3", start=time(16), end=time(18))
    B.book_visit(db, "s1", "buyer-0", booking_id="v1", now=NOW)
    assert "already booked" in err(B.book_visit, db, "s1", "buyer-0", now=NOW).en
    e = err(B.book_visit, db, "s2", "buyer-0", now=NOW)
    assert "same time" in e.en and "같은 시간" in e.ko
    B.book_visit(db, "s3", "buyer-0", now=NOW)  # 16:00 starts when s1 ends
    assert err(B.book_visit, db, "s1", "guro-cnc", now=NOW).code == "forbidden"
    later = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 15:00 KST: s1 and s2 have started
    assert err(B.book_visit, db, "s2", "buyer-1", now=later).field == "now"
    assert err(B.cancel_booking, db, "v1", "buyer-0", now=later).field == "now"
    assert err(B.cancel_booking, db, "v1", "stranger", now=NOW).code == "forbidden"
    assert err(B.cancel_slot, db, "s1", "guro-cnc").code == "conflict"
    assert err(B.cancel_slot, db, "s2", "buyer-0").code == "forbidden"
    assert B.cancel_slot(db, "s2", "guro-cnc").state == "cancelled"
    assert "cancelled" in err(B.book_visit, db, "s2", "buyer-5", now=NOW).en


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        (dict(end=time(13)), "end"),
        (dict(capacity=0), "capacity"),
        (dict(capacity=True), "capacity"),
        (dict(languages=("korean",)), "languages"),
        (dict(languages=()), "languages"),
        (dict(day=date(2026, 11, 22)), "day"),
        (dict(start="14:00"), "start"),
        (dict(firm_id=" "), "firm_id"),
    ],
)
def test_offering_a_slot_checks_every_field(db, kw, field):
    assert err(slot, db, **kw).field == field


def test_slot_ids_are_unique_and_party_must_be_positive(db):
    slot(db)
    assert err(slot, db).code == "conflict"
    assert err(B.book_visit, db, "s1", "buyer-0", 0, now=NOW).field == "party"
    assert err(B.book_visit, db, "nope", "buyer-0", now=NOW).code == "not_found"


@PROPS
@given(
    capacity=st.integers(min_value=1, max_value=12),
    ops=st.lists(st.tuples(st.sampled_from(FIRMS), st.integers(min_value=1, max_value=5), st.booleans()),
                 max_size=30),
)  # fmt: skip
def test_a_slot_never_takes_more_visitors_than_its_capacity(capacity, ops):
    d = CommonsDB(":memory:")
    slot(d, capacity=capacity)
    for firm, party, cancel in ops:
        active = [b for b in B.bookings_of(d, firm) if b.state == "active"]
        if cancel and active:
            B.cancel_booking(d, active[0].id, firm, now=NOW)
            continue
        left = B.get_slot(d, "s1").left
        try:
            B.book_visit(d, "s1", firm, party, now=NOW)
            assert party <= left and not active
        except CommonsError as e:
            assert e.code == "conflict" and (party > left or active)
        s = B.get_slot(d, "s1")
        held = sum(int(b.quantity) for b in B.bookings_for(d, target="s1") if b.state == "active")
        assert s.booked == held <= capacity


# ---------------------------------------------------------------- shared machine hours


def test_capacity_basis_uses_the_measured_week_or_the_mean():
    p = profile()
    b = B.capacity_basis(p, "milling", WEEK)
    assert b.free_hours == Decimal("12.34") and b.weeks_measured == 1 and "measured free 12.34 h" in b.note.en
    m = B.capacity_basis(p, "milling", date(2026, 12, 7))
    assert m.free_hours == Decimal("21.97")  # (30 + 20.55 + 25 + 12.349) / 4 = 21.97475, cut
    assert m.weeks_measured == 4 and "4 weeks" in m.note.en and "평균" in m.note.ko


def test_offers_are_limited_to_measured_free_hours(db):
    p = profile()
    o = B.offer_machine_hours(db, "guro-cnc", "mc-1", WEEK, 10, profile=p, offer_id="o1", now=NOW)
    assert o.hourly_rate_krw == 45_000 and o.basis.free_hours == Decimal("12.34")
    e = err(B.offer_machine_hours, db, "guro-cnc", "mc-1", WEEK, "2.5", profile=p, now=NOW)
    assert (e.field, e.code) == ("hours", "conflict")
    assert "free 12.34 h, already offered 10 h, 2.34 h left (asked 2.5 h)" in e.en and "남은 2.34 h" in e.ko
    B.offer_machine_hours(db, "guro-cnc", "mc-1", WEEK, "2.34", profile=p, offer_id="o2", now=NOW)
    assert B.offerable_hours(db, "guro-cnc", "milling", WEEK, profile=p)[0] == 0
    B.withdraw_offer(db, "o2", "guro-cnc", now=NOW)
    assert B.offerable_hours(db, "guro-cnc", "milling", WEEK, profile=p)[0] == Decimal("2.34")
    # another week falls back on the mean of the measured weeks; another process has its own hours
    e = err(B.offer_machine_hours, db, "guro-cnc", "lathe-1", WEEK, 9, profile=p, now=NOW)
    assert "8.00 h left" in e.en and "mean measured free 8.00 h/week over 1 weeks" in e.en
    assert B.offer_machine_hours(db, "guro-cnc", "lathe-1", WEEK, 8, profile=p, now=NOW).hours == 8


@pytest.mark.parametrize(
    ("args", "kw", "field", "code"),
    [
        (("mc-9", WEEK, 1), {}, "equipment_id", "not_found"),
        (("weld-1", WEEK, 1), {}, "process", "conflict"),
        (("mc-1", date(2026, 12, 1), 1), {}, "week_start", "invalid"),
        (("mc-1", date(2026, 11, 16), 1), {}, "week_start", "conflict"),
        (("mc-1", WEEK, -1), {}, "hours", "invalid"),
        (("mc-1", WEEK, "0.001"), {}, "hours", "invalid"),
        (("mc-1", WEEK, 337), {}, "hours", "invalid"),
        (("mc-1", WEEK, 1), {"hourly_rate_krw": -5}, "hourly_rate_krw", "invalid"),
        (("mc-1", WEEK, 1), {"profile": profile(source="declared")}, "capacity", "conflict"),
        (("mc-1", WEEK, 1), {"profile": profile(weeks=[])}, "process", "conflict"),
        (("mc-1", WEEK, 1), {"profile": profile("other-firm")}, "profile", "forbidden"),
    ],
)
def test_offering_hours_checks_every_field(db, args, kw, field, code):
    kw = {"profile": profile(), **kw}
    e = err(B.offer_machine_hours, db, "guro-cnc", *args, now=NOW, **kw)
    assert (e.field, e.code) == (field, code)


def test_declared_capacity_only_when_allowed_and_profile_from_the_database(db):
    p = profile(source="declared")
    o = B.offer_machine_hours(db, "guro-cnc", "mc-1", WEEK, 5, profile=p, allow_declared=True, now=NOW)
    assert o.basis.source == "declared"
    assert err(B.offer_machine_hours, db, "guro-cnc", "mc-1", WEEK, 1, now=NOW).code == "not_found"
    db.put("profile", "guro-cnc", "guro-cnc", profile())
    assert B.offer_machine_hours(db, "guro-cnc", "mc-1", WEEK, "7.34", now=NOW).basis.source == "kpi"
    assert B.offerable_hours(db, "guro-cnc", "milling", WEEK)[0] == 0  # the declared 5 h count as offered


def test_booking_hours_reduces_what_is_left_and_cancelling_returns_it(db):
    B.offer_machine_hours(db, "guro-cnc", "mc-1", WEEK, 12, profile=profile(), offer_id="o1", now=NOW)
    b = B.book_machine_hours(db, "o1", "buyer-0", "3.5", booking_id="h1", now=NOW)
    assert b.cost_krw == 157_500 and b.kind == "machine_hours" and b.host == "guro-cnc"
    B.book_machine_hours(db, "o1", "buyer-1", 8, now=NOW)
    assert B.get_offer(db, "o1").left == Decimal("0.5")
    e = err(B.book_machine_hours, db, "o1", "buyer-2", 1, now=NOW)
    assert "only 0.5 h left (asked 1 h)" in e.en and "남은 시간은 0.5 h" in e.ko
    assert err(B.withdraw_offer, db, "o1", "guro-cnc").code == "conflict"
    B.cancel_booking(db, "h1", "guro-cnc", now=NOW)  # the host may cancel too
    assert B.get_offer(db, "o1").left == 4
    assert err(B.book_machine_hours, db, "o1", "guro-cnc", 1, now=NOW).code == "forbidden"
    assert err(B.withdraw_offer, db, "o1", "buyer-0").code == "forbidden"
    over = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)  # Monday 00:00 KST after the week
    assert err(B.book_machine_hours, db, "o1", "buyer-2", 1, now=over).field == "now"
    assert [o.id for o in B.list_offers(db, process="milling", bookable_only=True, now=NOW)] == ["o1"]
    assert B.list_offers(db, bookable_only=True, now=over) == []


@PROPS
@given(
    offered=st.decimals(min_value="0.5", max_value="12.34", places=2),
    ops=st.lists(
        st.tuples(
            st.sampled_from(FIRMS), st.decimals(min_value="0.25", max_value="6", places=2), st.booleans()
        ),
        max_size=30,
    ),
)
def test_machine_bookings_never_exceed_the_offer(offered, ops):
    d = CommonsDB(":memory:")
    B.offer_machine_hours(d, "guro-cnc", "mc-1", WEEK, offered, profile=profile(), offer_id="o1", now=NOW)
    for firm, hours, cancel in ops:
        active = [b for b in B.bookings_of(d, firm) if b.state == "active"]
        if cancel and active:
            B.cancel_booking(d, active[-1].id, firm, now=NOW)
        else:
            left = B.get_offer(d, "o1").left
            try:
                B.book_machine_hours(d, "o1", firm, hours, now=NOW)
                assert hours <= left
            except CommonsError as e:
                assert e.code == "conflict" and hours > left
        o = B.get_offer(d, "o1")
        held = sum((b.quantity for b in B.bookings_for(d, target="o1") if b.state == "active"), Decimal(0))
        assert o.booked_hours == held and 0 <= held <= offered <= Decimal("12.34")


def _race(target: str, fn, n: int) -> tuple[int, list[BaseException]]:
    """`n` threads, each on a connection of its own, call fn(db, i) at once."""
    ok, errors = [0], []
    lock, start = threading.Lock(), threading.Barrier(n)

    def run(i: int) -> None:
        d = CommonsDB(target)
        try:
            start.wait()
            fn(d, i)
            with lock:
                ok[0] += 1
        except CommonsError as e:
            if e.code != "conflict":
                errors.append(e)
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)
        finally:
            d.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return ok[0], errors


def _race_for_the_last_hours_and_places(target: str) -> None:
    d = CommonsDB(target)
    B.offer_machine_hours(d, "guro-cnc", "mc-1", WEEK, 10, profile=profile(), offer_id="o-race", now=NOW)
    slot(d, "s-race", capacity=5)
    won, errors = _race(target, lambda db, i: B.book_machine_hours(db, "o-race", f"buyer-{i}", 3, now=NOW), 8)
    assert not errors and won == 3  # 3 x 3 h fit in 10 h, a 4th would not
    o = B.get_offer(d, "o-race")
    assert (
        o.booked_hours == 9
        and len([b for b in B.bookings_for(d, target="o-race") if b.state == "active"]) == 3
    )
    won, errors = _race(target, lambda db, i: B.book_visit(db, "s-race", f"visitor-{i}", 2, now=NOW), 8)
    assert not errors and won == 2 and B.get_slot(d, "s-race").booked == 4
    d.close()


def test_racing_bookings_never_overbook_sqlite(tmp_path):
    _race_for_the_last_hours_and_places(str(tmp_path / "booking.sqlite"))


def test_racing_bookings_never_overbook_postgresql(pg_target):
    _race_for_the_last_hours_and_places(pg_target)
    d = CommonsDB(pg_target)
    assert {b.booker for b in B.bookings_of(d, "buyer-0")} <= {"buyer-0"}
    assert B.list_slots(d, "guro-cnc")[0].title.ko == "5축 가공 라인 견학"
    d.close()


def test_firms_of_the_generated_region_offer_only_their_measured_hours():
    from factory_commons.cooperate.sample import generate_region

    region = generate_region(seed=7, firms=300, requests=5)
    now = datetime.combine(region.today, time(9), tzinfo=B.KST)
    week = region.today + timedelta(days=7 - region.today.weekday())
    d = CommonsDB(":memory:")
    offered = refused = 0
    for p in region.profiles[:150]:
        eq = p.facility.equipment[0]
        cap = p.evidence.capacity
        hours = [w.free_hours for w in cap.weeks if w.process == eq.process] if cap else []
        if cap is None or cap.source != "kpi" or not hours:
            e = err(B.offer_machine_hours, d, p.firm_id, eq.id, week, 1, profile=p, now=now)
            assert e.field in ("capacity", "process") and e.code == "conflict"
            refused += 1
            continue
        left, basis = B.offerable_hours(d, p.firm_id, eq.process, week, profile=p)
        mean = sum(Decimal(str(h)) for h in hours) / len(hours)
        assert 0 <= mean - basis.free_hours < Decimal("0.01")
        if left == 0:
            continue
        B.offer_machine_hours(d, p.firm_id, eq.id, week, min(left, 168 * eq.count), profile=p, now=now)
        assert (
            err(B.offer_machine_hours, d, p.firm_id, eq.id, week, "0.01", profile=p, now=now).field == "hours"
        )
        offered += 1
    assert offered > 30 and refused > 20
    for o in B.list_offers(d, week_start=week):
        assert o.hours <= o.basis.free_hours


def test_the_simulated_factory_offers_the_free_hours_its_kpis_measured(db):
    """Store -> KPI evidence -> profile -> offer: the limit is the measured figure, and a CNC
    centre that both mills and turns offers its free hours once, not once per process."""
    from zoneinfo import ZoneInfo

    from factory_commons.collect.simulator import FactorySimulator
    from factory_commons.cooperate.evidence import capacity_evidence
    from factory_commons.cooperate.sample import demo_firm_profile
    from factory_commons.store import DuckDBStore

    seoul = ZoneInfo("Asia/Seoul")
    store = DuckDBStore(":memory:")
    FactorySimulator(seed=3, start=datetime(2026, 10, 5, tzinfo=seoul), days=2, signal_interval_s=3600,
                     quality_interval_s=14400).write_to(store)  # fmt: skip
    p = demo_firm_profile(store)
    measured = {
        w.process: w.free_hours for w in capacity_evidence(store, date(2026, 10, 5), date(2026, 10, 7)).weeks
    }
    store.close()
    assert p.evidence.capacity.source == "kpi" and measured["milling"] == measured["turning"] > 0
    now = datetime(2026, 10, 7, 9, tzinfo=seoul)
    week = date(2026, 10, 12)  # not measured yet: the mean of the measured weeks (here one)
    eq = {e.process: e.id for e in p.facility.equipment}
    left, basis = B.offerable_hours(db, "acme", "milling", week, profile=p)
    assert (
        left == basis.free_hours == Decimal(str(measured["milling"])).quantize(Decimal("0.01"), "ROUND_FLOOR")
    )
    assert basis.shared_with == ("turning",) and "same machines" in basis.note.en
    e = err(
        B.offer_machine_hours, db, "acme", eq["milling"], week, left + Decimal("0.01"), profile=p, now=now
    )
    assert f"free {left} h" in e.en
    B.offer_machine_hours(db, "acme", eq["milling"], week, left - 1, profile=p, now=now)
    e = err(B.offer_machine_hours, db, "acme", eq["turning"], week, 2, profile=p, now=now)
    assert "1.00 h left" in e.en  # the turning hours are the milling centre's hours
    B.offer_machine_hours(db, "acme", eq["turning"], week, 1, profile=p, now=now)
    stamping, _ = B.offerable_hours(db, "acme", "stamping", week, profile=p)
    assert stamping == Decimal(str(measured["stamping"])).quantize(Decimal("0.01"), "ROUND_FLOOR")


def test_hours_leave_the_models_without_an_exponent():
    """Booking models use pools.Amount: "30", never "3E+1", in str() and JSON."""
    basis = B.CapacityBasis(
        process="milling",
        week_start=date(2026, 11, 30),
        free_hours=Decimal("3E+1"),
        weeks_measured=1,
        source="kpi",
        note=Text(en="x"),
    )
    assert str(basis.free_hours) == "30" and '"free_hours":"30"' in basis.model_dump_json()
