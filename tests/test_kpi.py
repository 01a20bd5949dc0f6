"""ISO 22400 KPIs on tiny hand-built stores; every expected number is worked out by hand."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest

from factory_commons.kpi import LOSS_COLUMNS, KpiConfig, KpiConfigError, compute_kpis
from factory_commons.model import (
    Machine,
    PartCount,
    PlannedBreak,
    ProductionOrder,
    Shift,
    ShiftCalendar,
    StateChange,
)
from factory_commons.store import DuckDBStore

ROOT = Path(__file__).resolve().parents[1]
P1 = "acme/seoul/press/line1/p1"
P2 = "acme/seoul/press/line1/p2"
Q1 = "acme/seoul/press/line2/q1"
DAY = ShiftCalendar(
    name="day",
    timezone="UTC",
    shifts=[
        Shift(
            name="A",
            start=time(8),
            end=time(16),
            breaks=[PlannedBreak(name="lunch", start=time(12), end=time(12, 30))],
        )
    ],
)
TWO = ShiftCalendar(
    name="two",
    timezone="UTC",
    shifts=[Shift(name="A", start=time(6), end=time(14)), Shift(name="B", start=time(14), end=time(22))],
)


def at(h: int, m: int = 0, s: int = 0, day: int = 1) -> datetime:
    """2024-01-<day> h:m:s UTC; 2024-01-01 is a Monday."""
    return datetime(2024, 1, day, h, m, s)


#: makes an empty store; every test runs once per backend (DuckDB, PostgreSQL), see `_backend`
_new_store = DuckDBStore


@pytest.fixture(autouse=True)
def _backend(store_factory, monkeypatch):
    monkeypatch.setitem(globals(), "_new_store", store_factory)


def store_with(*records, machines=(), calendars=(DAY,)) -> DuckDBStore:
    st = _new_store()
    for c in calendars:
        st.save_calendar(c)
    st.register_machines(machines)
    st.write(list(records))
    return st


def one(df, **where):
    rows = df
    for k, v in where.items():
        rows = rows[rows[k].isna()] if v is None else rows[rows[k] == v]
    assert len(rows) == 1, (where, df)
    return rows.iloc[0]


def run(machine: str, start: datetime, state: str, reason=None, order="O1"):
    return StateChange(ts=start, machine=machine, state=state, reason_code=reason, order_id=order)


# -- the worked example of docs/kpi.md ----------------------------------------------------------


def worked_example_store() -> DuckDBStore:
    states = [
        run(P1, at(8), "setup"),
        run(P1, at(8, 30), "running"),
        run(P1, at(10), "idle"),  # 60 s: a minor stop
        run(P1, at(10, 1), "running"),
        run(P1, at(11, 40), "unplanned_down", "hydraulic"),  # 40 min, 20 of them in the lunch break
        run(P1, at(12, 20), "idle"),  # 25 min, 10 of them in the break
        run(P1, at(12, 45), "running"),
        run(P1, at(15, 30), "planned_stop", "cleaning", order=None),
        run(P1, at(16), "no_order", order=None),
    ]
    counts = [
        PartCount(ts=at(9), machine=P1, good=200, scrap=8, scrap_reason="startup", order_id="O1"),
        PartCount(ts=at(11), machine=P1, good=150, scrap=5, scrap_reason="burr", order_id="O1"),
        PartCount(ts=at(13), machine=P1, good=150, scrap=7, rework=12, scrap_reason="burr", order_id="O1"),
        PartCount(ts=at(15), machine=P1, good=100, order_id="O1"),
    ]
    order = ProductionOrder(order_id="O1", product="BRK-100", quantity=1000, ideal_cycle_time_s=30)
    return store_with(
        order,
        *states,
        *counts,
        machines=[Machine(path=P1, calendar="day"), Machine(path=P2, calendar="day")],
    )


WORKED = {
    "calendar_time_s": 86400,
    "no_data_s": 28800,
    "not_scheduled_s": 28800,
    "planned_operation_time_s": 28800,
    "planned_downtime_s": 3600,
    "planned_busy_time_s": 25200,
    "actual_production_time_s": 21300,
    "setup_time_s": 1800,
    "down_time_s": 1200,
    "delay_time_s": 900,
    "micro_stop_time_s": 60,
    "produced_quantity": 620,
    "good_quantity": 600,
    "scrap_quantity": 20,
    "rework_quantity": 12,
    "ideal_time_s": 18600,
    "failures": 1,
    "repair_time_s": 2400,
    "availability": 21300 / 25200,
    "effectiveness": 18600 / 21300,
    "quality_ratio": 600 / 620,
    "oee": 18000 / 25200,
    "mtbf_s": 21300,
    "mttr_s": 2400,
    "throughput_rate_per_h": 620 / 7,
    "scrap_ratio": 20 / 620,
    "setup_rate": 1800 / 23100,
    "first_pass_yield": 588 / 620,
    "loss_breakdowns_s": 1200,
    "loss_setup_s": 1800,
    "loss_idling_s": 900,
    "loss_minor_stops_s": 60,
    "loss_reduced_speed_s": 2640,
    "loss_defects_s": 360,
    "loss_reduced_yield_s": 240,
}


def test_worked_example():
    st = worked_example_store()
    df = compute_kpis(st, at(0), at(0, day=2), config=KpiConfig(startup_scrap_reasons=["startup"]))
    r = one(df, machine=P1)
    for k, v in WORKED.items():
        assert r[k] == pytest.approx(v), k
    assert sum(r[c] for c in LOSS_COLUMNS) == pytest.approx(25200 - 600 * 30)
    assert r["oee"] == pytest.approx(5 / 7)


def test_worked_example_matches_docs():
    """The numbers printed in docs/kpi.md are the ones the code computes."""
    text = (ROOT / "docs" / "kpi.md").read_text(encoding="utf-8")
    block = text.split("<!-- worked-example:start -->")[1].split("<!-- worked-example:end -->")[0]
    documented = dict(re.findall(r"^\|\s*`(\w+)`\s*\|\s*([-\d.,]+)\s*\|", block, flags=re.M))
    assert len(documented) >= 25
    st = worked_example_store()
    r = one(
        compute_kpis(st, at(0), at(0, day=2), config=KpiConfig(startup_scrap_reasons=["startup"])), machine=P1
    )
    for k, v in documented.items():
        value = float(v.replace(",", ""))
        digits = len(v.split(".")[1]) if "." in v else 0
        assert round(float(r[k]), digits) == pytest.approx(value), k


def test_machine_without_data_is_all_no_data():
    st = worked_example_store()
    df = compute_kpis(st, at(0), at(0, day=2))
    assert list(df["machine"]) == [P1, P2]
    r = one(df, machine=P2)
    assert r["no_data_s"] == 86400 and r["calendar_time_s"] == 86400
    assert r["planned_busy_time_s"] == 0 and r["produced_quantity"] == 0
    for k in ("availability", "effectiveness", "quality_ratio", "oee", "mtbf_s"):
        assert math.isnan(r[k]), k


def test_machines_filter_and_tz_aware_window():
    st = worked_example_store()
    s = datetime(2024, 1, 1, tzinfo=UTC)
    df = compute_kpis(st, s, s + timedelta(days=1), machines=[P1])
    assert list(df["machine"]) == [P1]
    with pytest.raises(ValueError, match="unknown machines"):
        compute_kpis(st, s, s + timedelta(days=1), machines=["x/y/z/w/v"])


def test_plant_grouping_sums_machines():
    st = worked_example_store()
    plant = compute_kpis(st, at(0), at(0, day=2), group_by=())
    assert len(plant) == 1
    assert plant.iloc[0]["calendar_time_s"] == 2 * 86400
    assert plant.iloc[0]["no_data_s"] == 86400 + 28800
    assert plant.iloc[0]["oee"] == pytest.approx(5 / 7)


# -- calendars ----------------------------------------------------------------------------------


def test_simple_shift_running_all_day():
    st = store_with(
        run(P1, at(0), "running", order=None),
        PartCount(ts=at(10), machine=P1, good=100),
        machines=[Machine(path=P1, calendar="day", default_ideal_cycle_time_s=60)],
    )
    # 08-16 shift, 30 min break; the machine runs the whole day.
    r = one(compute_kpis(st, at(0), at(0, day=2)), machine=P1)
    assert r["calendar_time_s"] == 86400
    # running outside the schedule counts as planned production (the default rule)
    assert r["not_scheduled_s"] == 0 and r["planned_downtime_s"] == 0
    assert r["actual_production_time_s"] == 86400 == r["planned_busy_time_s"]
    assert r["ideal_time_s"] == 6000  # PRU falls back to the machine default
    strict = KpiConfig(count_running_outside_schedule=False)
    r = one(compute_kpis(st, at(0), at(0, day=2), config=strict), machine=P1)
    assert r["not_scheduled_s"] == 16 * 3600
    assert r["planned_downtime_s"] == 1800
    assert r["planned_busy_time_s"] == r["actual_production_time_s"] == 7.5 * 3600
    assert r["availability"] == 1
    assert r["effectiveness"] == pytest.approx(6000 / 27000)


def test_no_planned_time():
    # Saturday 2024-01-06: the day calendar plans nothing.
    st = store_with(
        run(P1, at(0, day=6), "idle", order=None),
        machines=[Machine(path=P1, calendar="day")],
    )
    r = one(compute_kpis(st, at(0, day=6), at(0, day=7)), machine=P1)
    assert r["not_scheduled_s"] == 86400
    assert r["planned_operation_time_s"] == 0 and r["planned_busy_time_s"] == 0
    assert math.isnan(r["availability"]) and math.isnan(r["oee"])


def test_machine_without_calendar_is_planned_around_the_clock():
    st = store_with(
        run(P1, at(6), "running", order=None),
        run(P1, at(18), "idle", order=None),
        machines=[Machine(path=P1)],
    )
    r = one(compute_kpis(st, at(0), at(0, day=2)), machine=P1)
    assert r["no_data_s"] == 6 * 3600
    assert r["planned_busy_time_s"] == 18 * 3600
    assert r["availability"] == pytest.approx(12 / 18)
    # with a default calendar, it follows that calendar instead
    r = one(compute_kpis(st, at(0), at(0, day=2), config=KpiConfig(default_calendar="day")), machine=P1)
    assert r["planned_downtime_s"] == 0  # running through the break counts as production
    assert r["delay_time_s"] == 0 and r["not_scheduled_s"] == 6 * 3600  # idle after 18:00
    with pytest.raises(ValueError, match="nope"):
        compute_kpis(st, at(0), at(0, day=2), config=KpiConfig(default_calendar="nope"))


def test_breakdown_overlapping_break():
    st = store_with(
        run(P1, at(8), "running", order=None),
        run(P1, at(11, 50), "unplanned_down", "spindle", order=None),
        run(P1, at(12, 40), "running", order=None),
        run(P1, at(16), "idle", order=None),
        machines=[Machine(path=P1, calendar="day")],
    )
    r = one(compute_kpis(st, at(8), at(16)), machine=P1)
    assert r["down_time_s"] == 20 * 60  # 11:50-12:00 and 12:30-12:40
    assert r["planned_downtime_s"] == 30 * 60  # the break part is planned downtime
    assert r["failures"] == 1
    assert r["repair_time_s"] == 50 * 60 == r["mttr_s"]  # the whole episode
    assert r["planned_busy_time_s"] == 7.5 * 3600
    assert r["actual_production_time_s"] == 7.5 * 3600 - 20 * 60


def test_last_state_before_start_is_carried_in():
    st = store_with(
        run(P1, at(20, day=1), "unplanned_down", order=None),
        run(P1, at(9, day=2), "running", order=None),
        machines=[Machine(path=P1, calendar="day")],
    )
    r = one(compute_kpis(st, at(8, day=2), at(16, day=2)), machine=P1)
    assert r["no_data_s"] == 0
    assert r["down_time_s"] == 3600
    # the failure started before the window: its time counts, the failure does not
    assert r["failures"] == 0 and math.isnan(r["mttr_s"])


def test_episode_running_past_end_is_a_failure_with_full_repair_time():
    st = store_with(
        run(P1, at(8), "running", order=None),
        run(P1, at(15), "unplanned_down", order=None),
        run(P1, at(9, day=2), "running", order=None),
        machines=[Machine(path=P1, calendar="day")],
    )
    r = one(compute_kpis(st, at(8), at(16)), machine=P1)
    assert r["failures"] == 1 and r["down_time_s"] == 3600
    assert r["repair_time_s"] == 18 * 3600


# -- micro-stops --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_s", "threshold", "micro"),
    [(119, 120, True), (120, 120, False), (121, 120, False), (119, 0, False), (600, 601, True)],
)
def test_micro_stop_threshold_edge(stop_s, threshold, micro):
    stop = at(9)
    st = store_with(
        run(P1, at(8), "running", order=None),
        run(P1, stop, "unplanned_down", order=None),
        run(P1, stop + timedelta(seconds=stop_s), "running", order=None),
        machines=[Machine(path=P1, calendar="day")],
    )
    cfg = KpiConfig(micro_stop_threshold_s=threshold)
    r = one(compute_kpis(st, at(8), at(12), config=cfg), machine=P1)
    assert r["micro_stop_time_s"] == (stop_s if micro else 0)
    assert r["down_time_s"] == (0 if micro else stop_s)
    assert r["failures"] == (0 if micro else 1)
    assert r["actual_production_time_s"] == 4 * 3600 - (0 if micro else stop_s)
    assert r["loss_minor_stops_s"] == (stop_s if micro else 0)


def test_open_episode_at_the_end_is_not_a_micro_stop():
    st = store_with(
        run(P1, at(8), "running", order=None),
        run(P1, at(11, 59, 30), "idle", order=None),
        machines=[Machine(path=P1, calendar="day")],
    )
    r = one(compute_kpis(st, at(8), at(12)), machine=P1)
    assert r["delay_time_s"] == 30 and r["micro_stop_time_s"] == 0


# -- grouping -----------------------------------------------------------------------------------


def two_shift_store() -> DuckDBStore:
    o1 = ProductionOrder(order_id="O1", product="A-1", quantity=500, ideal_cycle_time_s=20)
    o2 = ProductionOrder(order_id="O2", product="B-2", quantity=500, ideal_cycle_time_s=40)
    return store_with(
        o1,
        o2,
        run(P1, at(6), "setup", order="O1"),
        run(P1, at(7), "running", order="O1"),
        run(P1, at(16), "setup", order="O2"),  # O1 spans shifts A and B
        run(P1, at(17), "running", order="O2"),
        run(P1, at(22), "no_order", order=None),
        PartCount(ts=at(13), machine=P1, good=700, order_id="O1"),
        PartCount(ts=at(15), machine=P1, good=190, scrap=10, order_id="O1"),
        PartCount(ts=at(21), machine=P1, good=400),  # no order on the count: the state's order
        run(Q1, at(6), "running", order=None),
        run(Q1, at(6, day=2), "running", order=None),
        PartCount(ts=at(12), machine=Q1, good=10),
        PartCount(ts=at(7, day=2), machine=Q1, good=5),
        machines=[
            Machine(path=P1, calendar="two"),
            Machine(path=Q1, calendar="two", default_ideal_cycle_time_s=100),
        ],
        calendars=(TWO,),
    )


def test_group_by_order_spanning_two_shifts():
    st = two_shift_store()
    df = compute_kpis(st, at(0), at(0, day=2), group_by=("order",), machines=[P1])
    o1, o2 = one(df, order="O1"), one(df, order="O2")
    assert o1["setup_time_s"] == 3600 and o1["actual_production_time_s"] == 9 * 3600
    assert o1["produced_quantity"] == 900 and o1["ideal_time_s"] == 900 * 20
    assert o1["throughput_rate_per_h"] == pytest.approx(900 / 10)
    assert o2["actual_production_time_s"] == 5 * 3600 and o2["good_quantity"] == 400
    assert o2["ideal_time_s"] == 400 * 40
    none = one(df, order=None)
    assert none["produced_quantity"] == 0 and none["planned_busy_time_s"] == 0
    by_shift = compute_kpis(st, at(0), at(0, day=2), group_by=("order", "shift"), machines=[P1])
    a, b = one(by_shift, order="O1", shift="A"), one(by_shift, order="O1", shift="B")
    assert a["actual_production_time_s"] == 7 * 3600 and a["produced_quantity"] == 700
    assert b["actual_production_time_s"] == 2 * 3600 and b["produced_quantity"] == 200
    assert b["scrap_quantity"] == 10


def test_group_by_shift_and_day():
    st = two_shift_store()
    df = compute_kpis(st, at(0), at(0, day=3), group_by=("shift", "day"), machines=[Q1])
    a1 = one(df, shift="A", day=at(0).date())
    assert a1["planned_busy_time_s"] == 8 * 3600 and a1["produced_quantity"] == 10
    a2 = one(df, shift="A", day=at(0, day=2).date())
    assert a2["produced_quantity"] == 5
    off = one(df, shift=None, day=None)  # running outside the shifts, and no data before 06:00
    assert off["no_data_s"] == 6 * 3600
    assert off["actual_production_time_s"] == (8 + 2) * 3600  # 22-06 and 22-24
    assert df["calendar_time_s"].sum() == 2 * 86400
    by_day = compute_kpis(st, at(0), at(0, day=3), group_by=("day",), machines=[Q1])
    assert set(by_day["day"].dropna()) == {at(0).date(), at(0, day=2).date()}


@pytest.mark.parametrize("make", ["two_shift_store", "worked_example_store"])
@pytest.mark.parametrize("groups", [("machine",), ("line",), ("shift", "day"), ("order",), ()])
def test_streamed_query_and_postgresql_forward_fill_agree(make, groups, monkeypatch):
    """The per-episode query, the streamed query and its portable (PostgreSQL) forward fill,
    run here on DuckDB, give the same numbers."""
    from factory_commons.kpi import oee

    st = globals()[make]()
    base = compute_kpis(st, at(0), at(0, day=3), group_by=groups)
    monkeypatch.setattr(oee, "FAST_PATH", False)
    streamed = compute_kpis(st, at(0), at(0, day=3), group_by=groups)
    monkeypatch.setattr(st, "dialect", "postgresql")
    portable = compute_kpis(st, at(0), at(0, day=3), group_by=groups)
    pd.testing.assert_frame_equal(base, streamed)
    pd.testing.assert_frame_equal(base, portable)


def test_group_by_machine_and_line():
    st = two_shift_store()
    by_line = compute_kpis(st, at(0), at(0, day=2), group_by=("line",))
    assert list(by_line["line"]) == ["acme/seoul/press/line1", "acme/seoul/press/line2"]
    by_machine = compute_kpis(st, at(0), at(0, day=2), group_by=("machine",))
    l1, p1 = one(by_line, line="acme/seoul/press/line1"), one(by_machine, machine=P1)
    for k in ("planned_busy_time_s", "produced_quantity", "oee"):
        assert l1[k] == pytest.approx(p1[k])
    both = compute_kpis(st, at(0), at(0, day=2), group_by=("line", "machine"))
    assert len(both) == 2
    q1 = one(by_machine, machine=Q1)
    assert q1["ideal_time_s"] == 10 * 100  # machine default PRU
    # the count without an order takes the order of the state in force (O2: 40 s)
    assert p1["ideal_time_s"] == 900 * 20 + 400 * 40
    with pytest.raises(ValueError, match="group_by"):
        compute_kpis(st, at(0), at(0, day=2), group_by=("weekday",))


# -- configuration ------------------------------------------------------------------------------


def test_state_map_reason_override_and_ideal_cycle_time_override():
    st = store_with(
        ProductionOrder(order_id="O1", product="BRK", quantity=10, ideal_cycle_time_s=30),
        run(P1, at(8), "running"),
        run(P1, at(9), "idle", "waiting_material"),
        run(P1, at(10), "idle", "tool_change"),
        run(P1, at(11), "no_order", order=None),
        PartCount(ts=at(8, 30), machine=P1, good=60, order_id="O1"),
        machines=[Machine(path=P1, calendar="day")],
    )
    cfg = KpiConfig(
        state_map={("idle", "tool_change"): "setup", "no_order": "delay"},
        ideal_cycle_times={"BRK": 20},
    )
    r = one(compute_kpis(st, at(8), at(12), config=cfg), machine=P1)
    assert r["delay_time_s"] == 2 * 3600  # waiting material (idle default) + no order
    assert r["setup_time_s"] == 3600
    assert r["ideal_time_s"] == 60 * 20
    default = one(compute_kpis(st, at(8), at(12)), machine=P1)
    assert default["delay_time_s"] == 2 * 3600 and default["planned_downtime_s"] == 3600
    assert default["ideal_time_s"] == 60 * 30


def test_config_from_toml(tmp_path: Path):
    f = tmp_path / "kpi.toml"
    f.write_text(
        """
micro_stop_threshold_s = 90
startup_scrap_reasons = ["startup", "warmup"]
count_running_outside_schedule = false

[state_map]
no_order = "delay"
"idle:waiting_material" = "down"

[ideal_cycle_times]
"BRK-100" = 42.5
""",
        encoding="utf-8",
    )
    cfg = KpiConfig.from_toml(f)
    assert cfg.micro_stop_threshold_s == 90
    assert cfg.startup_scrap_reasons == ("startup", "warmup")
    assert cfg.ideal_cycle_times == {"BRK-100": 42.5}
    assert cfg.count_running_outside_schedule is False
    assert cfg.element_of("idle", "waiting_material") == "down"
    assert cfg.element_of("idle", "other") == "delay"
    assert cfg.element_of("no_order") == "delay"
    assert cfg.element_of("planned_stop") == "planned_downtime"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("micro_stop_threshold_s = ", "not valid TOML"),
        ("micro_stop_treshold_s = 60", "key 'micro_stop_treshold_s': unknown key"),
        ("micro_stop_threshold_s = -1", "key 'micro_stop_threshold_s'"),
        ('[state_map]\nidle = "waiting"', "key 'state_map.idle'"),
        ('[state_map]\nsleeping = "delay"', "'sleeping' is not a machine state"),
        ('[ideal_cycle_times]\n"BRK" = 0', "product 'BRK'"),
    ],
)
def test_bad_toml_names_the_problem(tmp_path: Path, text: str, message: str):
    f = tmp_path / "bad.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(KpiConfigError, match=re.escape(message)) as e:
        KpiConfig.from_toml(f)
    assert str(f) in str(e.value)


def test_missing_toml_file(tmp_path: Path):
    with pytest.raises(KpiConfigError, match="not found"):
        KpiConfig.from_toml(tmp_path / "none.toml")


def test_start_must_be_before_end():
    st = worked_example_store()
    with pytest.raises(ValueError, match="before"):
        compute_kpis(st, at(8), at(8))
