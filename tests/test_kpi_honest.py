"""KPIs that speak honestly (issue 18): window ends hold the counts stamped at them, days are
the plant's days, cycle times come from the product master, parts without one make
performance unknown (never 0 %), and the warnings say what is wrong.

Every test runs on DuckDB and PostgreSQL, and where it matters through each feed of the
engine (the rollup, the per-episode query and the full query)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from factory_commons.kpi import KpiConfig, compute_kpis, oee
from factory_commons.kpi.plausibility import KpiWarning, plausibility
from factory_commons.model import Machine, PartCount, ProductionOrder, Shift, ShiftCalendar, StateChange
from factory_commons.model.master import Product

KST = ZoneInfo("Asia/Seoul")
M = "acme/seoul/press/line1/p1"
M2 = "acme/seoul/press/line1/p2"
#: Monday 2024-03-04 08:00 in Seoul (23:00 UTC the day before)
T0 = datetime(2024, 3, 4, 8, tzinfo=KST)


@pytest.fixture(params=["rollup", "episodes", "stream"])
def feed(request, monkeypatch) -> str:
    """Which feed computes machine/plant groupings: the hourly rollup, the per-episode query
    or the full event-stream query."""
    monkeypatch.setattr(oee, "ROLLUP", request.param == "rollup")
    monkeypatch.setattr(oee, "FAST_PATH", request.param != "stream")
    return request.param


def shift_log(machine: str = M, start: datetime = T0, hours: int = 8, per_hour: int = 100, order="O1"):
    """An interval log as a shop exports it: one running interval per hour, its parts counted
    at the interval's end, idle after the shift."""
    recs = []
    for h in range(hours):
        a = start + timedelta(hours=h)
        recs.append(StateChange(ts=a, machine=machine, state="running", order_id=order))
        recs.append(
            PartCount(ts=a + timedelta(hours=1), machine=machine, good=per_hour, scrap=0, order_id=order)
        )
    recs.append(StateChange(ts=start + timedelta(hours=hours), machine=machine, state="idle"))
    return recs


def new_store(store_factory, *records, machines=(M,), products=(), calendars=()):
    st = store_factory()
    for c in calendars:
        st.save_calendar(c)
    st.register_machines([m if isinstance(m, Machine) else Machine(path=m) for m in machines])
    if products:
        st.save_products(products)
    st.write(list(records))
    return st


# -- 1. window ends hold the counts stamped at them ---------------------------------------------


def test_a_window_of_exactly_one_shift_holds_the_parts_of_its_last_interval(store_factory, feed):
    # 8 h running, 100 parts an hour at 27 s a part: performance 0.75; the last interval's 100
    # parts are stamped at 16:00, the window's end (before: dropped, 700 parts, OEE 0.656)
    st = new_store(
        store_factory, *shift_log(), ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27)
    )
    for group_by in [("machine",), ()]:
        row = compute_kpis(st, T0, T0 + timedelta(hours=8), group_by).iloc[0]
        assert row["produced_quantity"] == 800
        assert row["oee"] == pytest.approx(0.75)
    # the count at the window's start belongs to the window before it
    row = compute_kpis(st, T0 + timedelta(hours=1), T0 + timedelta(hours=2), ("machine",)).iloc[0]
    assert row["produced_quantity"] == 100


def test_consecutive_windows_and_day_groups_sum_to_the_whole(store_factory, feed):
    # counts exactly at every hour, at local midnights and at the windows' edges
    recs = [StateChange(ts=T0 - timedelta(hours=8), machine=M, state="running", order_id="O1")]
    for h in range(0, 72):
        recs.append(
            PartCount(
                ts=T0 - timedelta(hours=8) + timedelta(hours=h),
                machine=M,
                good=10 + h % 7,
                scrap=h % 3,
                order_id="O1",
            )
        )
        if h % 5 == 0:
            recs.append(
                StateChange(ts=T0 + timedelta(hours=h, minutes=30), machine=M, state="idle", order_id="O1")
            )
            recs.append(
                StateChange(ts=T0 + timedelta(hours=h, minutes=45), machine=M, state="running", order_id="O1")
            )
    st = new_store(store_factory, *recs, ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=20))
    day0 = datetime(2024, 3, 4, tzinfo=KST)
    whole = compute_kpis(st, day0, day0 + timedelta(days=3), ("machine",)).iloc[0]
    days = [
        compute_kpis(st, day0 + timedelta(days=i), day0 + timedelta(days=i + 1), ("machine",)).iloc[0]
        for i in range(3)
    ]
    by_day = compute_kpis(st, day0, day0 + timedelta(days=3), ("day",))
    assert [str(d) for d in by_day["day"]] == ["2024-03-04", "2024-03-05", "2024-03-06"]
    for col in ("produced_quantity", "good_quantity", "scrap_quantity"):
        assert sum(int(d[col]) for d in days) == int(whole[col]) == int(by_day[col].sum())
        assert [int(d[col]) for d in days] == [int(x) for x in by_day[col]]
    for col in ("actual_production_time_s", "delay_time_s", "ideal_time_s", "planned_busy_time_s"):
        assert sum(float(d[col]) for d in days) == pytest.approx(float(whole[col]))
        assert float(by_day[col].sum()) == pytest.approx(float(whole[col]))


def test_a_count_at_a_shift_change_belongs_to_the_shift_it_ends(store_factory):
    cal = ShiftCalendar(
        name="two",
        timezone="Asia/Seoul",
        shifts=[
            Shift(name="A", start=time(8), end=time(16)),
            Shift(name="B", start=time(16), end=time(23, 59)),
        ],
    )
    recs = [
        StateChange(ts=T0, machine=M, state="running", order_id="O1"),
        PartCount(ts=T0 + timedelta(hours=8), machine=M, good=50, scrap=0, order_id="O1"),  # 16:00
        PartCount(ts=T0 + timedelta(hours=9), machine=M, good=7, scrap=0, order_id="O1"),
    ]
    st = new_store(
        store_factory,
        *recs,
        ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=10),
        calendars=[cal],
    )
    st.register_machines([Machine(path=M, calendar="two")])
    df = compute_kpis(st, T0, T0 + timedelta(hours=12), ("shift",))
    got = {r["shift"]: int(r["produced_quantity"]) for _, r in df.iterrows()}
    assert got == {"A": 50, "B": 7}


def test_a_late_count_at_a_whole_hour_clears_the_stored_hour_it_ends(store_factory):
    recs = [StateChange(ts=T0, machine=M, state="running", order_id="O1")]
    recs += [
        PartCount(ts=T0 + timedelta(hours=h, minutes=30), machine=M, good=100, scrap=0, order_id="O1")
        for h in range(8)
    ]
    recs.append(StateChange(ts=T0 + timedelta(hours=8), machine=M, state="idle"))
    st = new_store(store_factory, *recs, ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27))
    s, e = T0, T0 + timedelta(hours=8)
    assert compute_kpis(st, s, e).iloc[0]["produced_quantity"] == 800  # hours stored
    # stamped at 11:00: it belongs to the stored hour 10:00-11:00
    st.write([PartCount(ts=T0 + timedelta(hours=3), machine=M, good=0, scrap=5, order_id="O1")])
    row = compute_kpis(st, s, e).iloc[0]
    assert row["produced_quantity"] == 805 and row["scrap_quantity"] == 5
    assert compute_kpis(st, s, T0 + timedelta(hours=3)).iloc[0]["scrap_quantity"] == 5


# -- 2. days are the plant's days ----------------------------------------------------------------


def test_a_machine_without_calendar_has_the_plants_days(store_factory):
    # the shift 08:00-16:00 in Seoul runs over UTC midnight's 09:00: cut at UTC midnight it made
    # two days, one of them above 100 %
    st = new_store(
        store_factory, *shift_log(), ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27)
    )
    s, e = datetime(2024, 3, 4, tzinfo=KST), datetime(2024, 3, 5, tzinfo=KST)
    df = compute_kpis(st, s, e, ("machine", "day"))
    assert [str(d) for d in df["day"]] == ["2024-03-04"]
    whole = compute_kpis(st, s, e, ("machine",)).iloc[0]
    assert df.iloc[0]["oee"] == pytest.approx(whole["oee"])
    assert df.iloc[0]["effectiveness"] == pytest.approx(0.75)
    assert df.iloc[0]["calendar_time_s"] == 86400
    # the plant's zone set to UTC: UTC days (the shift now spans two of them)
    st.set_plant_timezone("UTC")
    df = compute_kpis(st, s, e, ("day",))
    assert [str(d) for d in df["day"]] == ["2024-03-03", "2024-03-04"]


def test_a_machines_own_zone_cuts_its_days(store_factory):
    st = new_store(
        store_factory,
        *shift_log(),
        *shift_log(M2),
        ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27),
        machines=(M, Machine(path=M2, timezone="UTC")),
    )
    df = compute_kpis(st, T0 - timedelta(hours=8), T0 + timedelta(hours=16), ("machine", "day"))
    days = {(r["machine"], str(r["day"])) for _, r in df.iterrows()}
    assert days == {(M, "2024-03-04"), (M2, "2024-03-03"), (M2, "2024-03-04")}


def test_days_on_a_zone_change_day_are_local_days():
    from factory_commons.kpi.inputs import always_timeline

    # New York, 2024-03-10: the day has 23 hours
    t = always_timeline(datetime(2024, 3, 9, 12), datetime(2024, 3, 12), "America/New_York")
    ts = t.column("ts").to_pylist()
    assert [str(d) for d in t.column("day").to_pylist()] == ["2024-03-09", "2024-03-10", "2024-03-11"]
    assert (
        ts[0] == datetime(2024, 3, 9, 5)
        and ts[1] == datetime(2024, 3, 10, 5)
        and ts[2] == datetime(2024, 3, 11, 4)
    )


# -- 3. ideal cycle times from the product master ------------------------------------------------


def test_the_product_master_gives_the_ideal_cycle_time(store_factory, feed):
    # an order read from a log names only its product
    st = new_store(
        store_factory,
        *shift_log(),
        ProductionOrder(order_id="O1", product="BRK"),
        products=[Product(product="BRK", ideal_cycle_time_s=27)],
    )
    s, e = T0, T0 + timedelta(hours=8)
    row = compute_kpis(st, s, e, ("machine",)).iloc[0]
    assert row["quantity_without_ideal_time"] == 0
    assert row["effectiveness"] == pytest.approx(0.75)
    # kpi.toml's cycle time wins over the master's
    row = compute_kpis(st, s, e, ("machine",), KpiConfig(ideal_cycle_times={"BRK": 18})).iloc[0]
    assert row["effectiveness"] == pytest.approx(0.5)
    # a changed master is read at once, also over stored hours
    st.save_products([Product(product="BRK", ideal_cycle_time_s=36)])
    assert compute_kpis(st, s, e, ("machine",)).iloc[0]["effectiveness"] == pytest.approx(1.0)
    # the order's own cycle time wins over the master's
    st.write([ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=9)])
    assert compute_kpis(st, s, e, ("machine",)).iloc[0]["effectiveness"] == pytest.approx(0.25)


def test_counts_by_day_find_the_master_too(store_factory):
    st = new_store(
        store_factory,
        *shift_log(),
        ProductionOrder(order_id="O1", product="BRK"),
        products=[Product(product="BRK", ideal_cycle_time_s=27)],
    )
    df = compute_kpis(st, datetime(2024, 3, 4, tzinfo=KST), datetime(2024, 3, 5, tzinfo=KST), ("day",))
    assert df.iloc[0]["effectiveness"] == pytest.approx(0.75)


def test_parts_without_ideal_cycle_time_make_performance_unknown_never_zero(store_factory, feed):
    # the product is not in the master: 800 parts, no ideal time
    st = new_store(store_factory, *shift_log(), ProductionOrder(order_id="O1", product="BRK"))
    s, e = T0, T0 + timedelta(hours=8)
    for group_by in [("machine",), ()]:
        row = compute_kpis(st, s, e, group_by).iloc[0]
        assert row["quantity_without_ideal_time"] == 800
        assert math.isnan(row["effectiveness"]) and math.isnan(row["oee"])
        assert math.isnan(row["loss_reduced_speed_s"]) and math.isnan(row["loss_defects_s"])
        assert row["availability"] == pytest.approx(1.0) and row["quality_ratio"] == pytest.approx(1.0)
    # some parts with one, some without: still unknown
    st.write([ProductionOrder(order_id="O2", product="OK", ideal_cycle_time_s=10)])
    st.write([PartCount(ts=T0 + timedelta(hours=2, minutes=30), machine=M, good=10, scrap=0, order_id="O2")])
    assert math.isnan(compute_kpis(st, s, e, ("machine",)).iloc[0]["oee"])
    # running without making anything is a measured 0, not unknown
    st2 = new_store(store_factory, StateChange(ts=T0, machine=M, state="running"))
    row = compute_kpis(st2, s, e, ("machine",)).iloc[0]
    assert row["effectiveness"] == 0.0 and row["quantity_without_ideal_time"] == 0


# -- 4. warnings -------------------------------------------------------------------------------


def _keys(ws: list[KpiWarning]) -> list[tuple[str, str | None]]:
    return [(w.key, w.group) for w in ws]


def test_no_warnings_on_plausible_data(store_factory):
    st = new_store(
        store_factory, *shift_log(), ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27)
    )
    s, e = T0, T0 + timedelta(hours=8)
    for g in [("machine",), ("day",), ()]:
        assert plausibility(compute_kpis(st, s, e, g), g, store=st, start=s, end=e) == []


def test_parts_without_cycle_time_are_named_with_the_way_to_fix_it(store_factory):
    st = new_store(store_factory, *shift_log(), ProductionOrder(order_id="O1", product="BRK-100"))
    s, e = T0, T0 + timedelta(hours=8)
    ws = plausibility(compute_kpis(st, s, e), ("machine",), store=st, start=s, end=e)
    assert _keys(ws) == [("no_ideal_cycle_time", M)]
    assert "800 parts have no ideal cycle time" in ws[0].en
    w = ws[0]
    assert "800" in w.en and "BRK-100" in w.en and "products import" in w.en and "kpi.toml" in w.en
    assert "800" in w.ko and "BRK-100" in w.ko and "이상 사이클 타임" in w.ko
    assert w.text() == f"{w.ko} / {w.en}"
    # kpi.toml gives it: no warning
    cfg = KpiConfig(ideal_cycle_times={"BRK-100": 27})
    assert (
        plausibility(compute_kpis(st, s, e, config=cfg), ("machine",), store=st, start=s, end=e, config=cfg)
        == []
    )


def test_a_ratio_above_100_percent_says_what_is_likely_wrong(store_factory):
    st = new_store(
        store_factory, *shift_log(), ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=45)
    )
    s, e = T0, T0 + timedelta(hours=8)
    ws = plausibility(compute_kpis(st, s, e, ()), (), store=st, start=s, end=e)
    assert [w.key for w in ws] == ["above_100", "above_100"]  # performance and OEE
    assert "125.0%" in ws[0].en and "ideal cycle time" in ws[0].en and "twice" in ws[0].en
    assert ws[0].group is None and "공장 전체" in ws[0].ko and "whole plant" in ws[0].en


def test_days_cut_in_another_zone_than_the_plants_are_named(store_factory):
    utc_cal = ShiftCalendar(
        name="utc-day", timezone="UTC", shifts=[Shift(name="A", start=time(0), end=time(8))]
    )
    st = new_store(
        store_factory,
        *shift_log(),
        *shift_log(M2),
        ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27),
        machines=(M, Machine(path=M2, calendar="utc-day")),
        calendars=[utc_cal],
    )
    s, e = datetime(2024, 3, 4, tzinfo=KST), datetime(2024, 3, 5, tzinfo=KST)
    ws = plausibility(compute_kpis(st, s, e, ("day",)), ("day",), store=st, start=s, end=e)
    assert ("day_zone", M2) in _keys(ws)
    w = next(w for w in ws if w.key == "day_zone")
    assert "UTC" in w.en and "Asia/Seoul" in w.en and "utc-day" in w.en
    assert "plant's zone is Asia/Seoul" in w.en
    # a machine with a zone of its own: its calendar should cut in that zone; a 24/7 machine
    # has the days of its own zone, no warning
    seoul_cal = ShiftCalendar(
        name="seoul-day", timezone="Asia/Seoul", shifts=[Shift(name="A", start=time(8), end=time(16))]
    )
    st = new_store(
        store_factory,
        *shift_log(),
        *shift_log(M2),
        ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27),
        machines=(
            Machine(path=M, timezone="UTC", calendar="seoul-day"),
            Machine(path=M2, timezone="Europe/Berlin"),
        ),
        calendars=[seoul_cal],
    )
    ws = plausibility(compute_kpis(st, s, e, ("day",)), ("day",), store=st, start=s, end=e)
    assert [(w.key, w.group) for w in ws if w.key == "day_zone"] == [("day_zone", M)]
    w = next(w for w in ws if w.key == "day_zone")
    assert "machine's zone is UTC" in w.en and "설비" in w.ko
    # not grouped by day: days are not cut, no warning
    assert "day_zone" not in [w.key for w in plausibility(compute_kpis(st, s, e), ("machine",), store=st)]


def test_a_window_without_state_data_is_named(store_factory):
    st = new_store(store_factory, *shift_log(), machines=(M, M2))
    s, e = T0, T0 + timedelta(hours=8)
    ws = plausibility(compute_kpis(st, s, e), ("machine",), store=st, start=s, end=e)
    assert ("no_state_data", M2) in _keys(ws)
    far = T0 - timedelta(days=30)
    ws = plausibility(compute_kpis(st, far, far + timedelta(days=1), ()), ())
    assert [w.key for w in ws] == ["no_state_data"]
    assert "--from" in ws[0].en and "상태" in ws[0].ko


def test_naive_and_aware_windows_agree(store_factory):
    st = new_store(
        store_factory, *shift_log(), ProductionOrder(order_id="O1", product="BRK", ideal_cycle_time_s=27)
    )
    s = T0.astimezone(UTC)
    a = compute_kpis(st, s, s + timedelta(hours=8)).iloc[0]
    b = compute_kpis(st, s.replace(tzinfo=None), (s + timedelta(hours=8)).replace(tzinfo=None)).iloc[0]
    assert a["produced_quantity"] == b["produced_quantity"] == 800


def test_counts_without_a_product_are_named_in_each_language(store_factory):
    recs = [
        StateChange(ts=T0, machine=M, state="running"),
        PartCount(ts=T0 + timedelta(hours=1), machine=M, good=5, scrap=0),
    ]
    st = new_store(store_factory, *recs)
    s, e = T0, T0 + timedelta(hours=2)
    (w,) = plausibility(compute_kpis(st, s, e), ("machine",), store=st, start=s, end=e)
    assert "(products: no product)" in w.en and "(제품: 제품 없음)" in w.ko
