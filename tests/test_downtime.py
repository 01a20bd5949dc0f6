"""Downtime Pareto: stop time inside scheduled work, by reason, following the KPI mapping."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from factory_commons.kpi import KpiConfig
from factory_commons.kpi.downtime import downtime_pareto
from factory_commons.model import Machine, Shift, ShiftCalendar, StateChange

T0 = datetime(2024, 1, 1, tzinfo=UTC)
M1, M2 = "a/b/c/d/m1", "a/b/c/d/m2"


@pytest.fixture()
def store(store_factory):
    s = store_factory()  # DuckDB and PostgreSQL
    everyday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    s.save_calendar(
        ShiftCalendar(
            name="c", timezone="UTC", shifts=[Shift(name="day", start=time(8), end=time(16), days=everyday)]
        )
    )
    s.register_machines([Machine(path=M1, calendar="c"), Machine(path=M2)])

    def at(h, m=0, sec=0):
        return T0 + timedelta(hours=h, minutes=m, seconds=sec)

    s.write(
        [
            # breakdown 07:00-09:00, only 08:00-09:00 is inside the shift
            StateChange(ts=at(7), machine=M1, state="unplanned_down", reason_code="유압 누유"),
            StateChange(ts=at(9), machine=M1, state="running"),
            StateChange(ts=at(10), machine=M1, state="idle", reason_code="wait"),
            StateChange(ts=at(10, 0, 30), machine=M1, state="running"),  # 30 s: a micro-stop
            # M2 has no calendar: scheduled around the clock
            StateChange(ts=at(1), machine=M2, state="idle", reason_code="waiting_material"),
            StateChange(ts=at(2), machine=M2, state="running"),
            StateChange(ts=at(3), machine=M2, state="planned_stop", reason_code="lunch"),
            StateChange(ts=at(4), machine=M2, state="running"),
        ]
    )
    return s


def test_pareto_cuts_stops_to_scheduled_time_and_gathers_micro_stops(store):
    df = downtime_pareto(store, T0, T0 + timedelta(days=1))
    got = {(r.state, r.reason): r.seconds for r in df.itertuples()}
    assert got == {
        ("unplanned_down", "유압 누유"): 3600.0,
        ("idle", "waiting_material"): 3600.0,
        ("idle", "micro_stop"): 30.0,
    }
    assert df["seconds"].is_monotonic_decreasing
    assert df["cumulative_share"].iloc[-1] == pytest.approx(1.0)


def test_pareto_follows_the_kpi_mapping(store):
    # waiting for material counted as planned downtime: no longer a loss
    cfg = KpiConfig(state_map={"idle:waiting_material": "planned_downtime"}, micro_stop_threshold_s=10)
    df = downtime_pareto(store, T0, T0 + timedelta(days=1), cfg)
    got = {(r.state, r.reason): r.seconds for r in df.itertuples()}
    assert ("idle", "waiting_material") not in got
    assert got[("idle", "wait")] == 30.0  # above the 10 s threshold: not a micro-stop


def test_pareto_for_some_machines(store):
    df = downtime_pareto(store, T0, T0 + timedelta(days=1), machines=[M2])
    assert list(df["reason"]) == ["waiting_material"]


def test_pareto_is_the_kpis_lost_time_of_the_same_window(store):
    from factory_commons.kpi import compute_kpis

    for a, b in [
        (T0, T0 + timedelta(days=1)),
        (T0 + timedelta(hours=8, minutes=30), T0 + timedelta(hours=10, seconds=15)),
    ]:
        for machines in (None, [M1], [M2]):
            df = downtime_pareto(store, a, b, machines=machines)
            k = compute_kpis(store, a, b, (), machines=machines).iloc[0]
            lost = k["setup_time_s"] + k["down_time_s"] + k["delay_time_s"] + k["micro_stop_time_s"]
            assert df["seconds"].sum() == pytest.approx(lost), (a, b, machines)


def test_pareto_by_machine_and_by_state(store):
    by_m = downtime_pareto(store, T0, T0 + timedelta(days=1), by="machine")
    assert list(by_m.columns[:1]) == ["machine"]
    assert dict(zip(by_m["machine"], by_m["seconds"], strict=True)) == {M1: 3630.0, M2: 3600.0}
    by_s = downtime_pareto(store, T0, T0 + timedelta(days=1), by="state")
    assert dict(zip(by_s["state"], by_s["seconds"], strict=True)) == {
        "unplanned_down": 3600.0,
        "idle": 3630.0,
    }
    assert by_s["episodes"].tolist() == [2, 1]  # idle: waiting_material and the micro-stop
    with pytest.raises(ValueError, match="reason, state, machine"):
        downtime_pareto(store, T0, T0 + timedelta(days=1), by="weekday")


def test_an_open_short_last_stop_is_a_stop_not_a_micro_stop(store):
    # M2 stops 20 s before the window's end and has not restarted: as in the KPIs, the last,
    # still open episode is never a minor stop (it used to be gathered as one)
    store.write(
        [
            StateChange(
                ts=T0 + timedelta(hours=23, minutes=59, seconds=40),
                machine=M2,
                state="idle",
                reason_code="wait",
            )
        ]
    )
    df = downtime_pareto(store, T0, T0 + timedelta(days=1), machines=[M2])
    got = {(r.state, r.reason): r.seconds for r in df.itertuples()}
    assert got[("idle", "wait")] == 20.0 and ("idle", "micro_stop") not in got


def test_pareto_follows_the_default_calendar_of_the_config(store):
    # M2 has no calendar; kpi.toml's default_calendar 'c' (08:00-16:00) leaves its night stops out
    df = downtime_pareto(store, T0, T0 + timedelta(days=1), KpiConfig(default_calendar="c"), machines=[M2])
    assert df.empty and list(df.columns) == [
        "state",
        "reason",
        "episodes",
        "seconds",
        "share",
        "cumulative_share",
    ]
