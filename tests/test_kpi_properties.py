"""Properties of the KPI computation on random state sequences and counts.

A second-by-second reference (numpy, no SQL) classifies every second of the window with the
rules of docs/kpi.md; the SQL result must agree with it, ratios stay in [0, 1], the time
elements add up to calendar time, and the six big losses add up to PBT − GQ·PRU.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_commons.kpi import LOSS_COLUMNS, KpiConfig, compute_kpis, oee
from factory_commons.kpi.downtime import downtime_pareto
from factory_commons.model import Machine, PartCount, PlannedBreak, Shift, ShiftCalendar, StateChange
from factory_commons.store import DuckDBStore

M = "acme/seoul/cnc/line1/m1"
T0 = datetime(2024, 1, 1)  # a Monday
WINDOW_S = 3 * 86400
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
STATES = ("running", "idle", "setup", "unplanned_down", "planned_stop", "no_order")

episode = st.tuples(
    st.sampled_from(STATES),
    st.sampled_from([None, "waiting_material", "other"]),
    # whole half hours too, so that state changes fall on shift and break boundaries
    st.one_of(st.integers(1, 300), st.integers(300, 7200), st.sampled_from([1800, 3600, 5400])),
)


@st.composite
def scenarios(draw):
    first = draw(st.one_of(st.integers(0, 12 * 3600), st.sampled_from([0, 8 * 3600, 12 * 3600])))
    eps = draw(st.lists(episode, min_size=1, max_size=20))
    pru = draw(st.sampled_from([5.0, 10.0, 30.0]))
    counts = []
    t = first
    for i, (state, _reason, dur) in enumerate(eps):
        last = i == len(eps) - 1
        span = WINDOW_S - t if last else dur
        if state == "running" and span >= 2:
            n = draw(st.integers(0, int(span // pru)))
            if n:
                scrap = draw(st.integers(0, n))
                good = n - scrap
                rework = draw(st.integers(0, good))
                reason = draw(st.sampled_from(["startup", "burr"])) if scrap else None
                counts.append((t + span // 2, good, scrap, rework, reason))
        t += dur
    return {
        "first": first,
        "episodes": eps,
        "pru": pru,
        "counts": counts,
        "calendar": draw(st.sampled_from([None, "day"])),
        "threshold": draw(st.sampled_from([0, 60, 120, 300])),
        "outside": draw(st.booleans()),
        "waiting_is_down": draw(st.booleans()),
    }


def build(sc, make=DuckDBStore) -> tuple[DuckDBStore, KpiConfig]:
    store = make()
    store.save_calendar(DAY)
    store.register_machines([Machine(path=M, calendar=sc["calendar"], default_ideal_cycle_time_s=sc["pru"])])
    recs = []
    t = sc["first"]
    for state, reason, dur in sc["episodes"]:
        recs.append(StateChange(ts=T0 + timedelta(seconds=t), machine=M, state=state, reason_code=reason))
        t += dur
    for ts, good, scrap, rework, reason in sc["counts"]:
        recs.append(
            PartCount(
                ts=T0 + timedelta(seconds=ts),
                machine=M,
                good=good,
                scrap=scrap,
                rework=rework,
                scrap_reason=reason,
            )
        )
    store.write(recs)
    cfg = KpiConfig(
        micro_stop_threshold_s=sc["threshold"],
        count_running_outside_schedule=sc["outside"],
        startup_scrap_reasons=["startup"],
        state_map={("idle", "waiting_material"): "down"} if sc["waiting_is_down"] else {},
    )
    return store, cfg


def reference(sc, cfg: KpiConfig) -> dict[str, float]:
    """Classify each second of [T0, T0 + 3 days) independently of the SQL."""
    sec = np.arange(WINDOW_S)
    if sc["calendar"] is None:
        status = np.full(WINDOW_S, "work", dtype=object)
    else:
        tod = sec % 86400
        status = np.where((tod >= 8 * 3600) & (tod < 16 * 3600), "work", "off").astype(object)
        status[(tod >= 12 * 3600) & (tod < 12 * 3600 + 1800)] = "break"
    el = np.full(WINDOW_S, None, dtype=object)
    failures, repair = 0, 0.0
    t = sc["first"]
    for i, (state, reason, dur) in enumerate(sc["episodes"]):
        last = i == len(sc["episodes"]) - 1
        end = WINDOW_S if last else min(t + dur, WINDOW_S)
        e = cfg.element_of(state, reason)
        if e in ("down", "delay") and not last and dur < cfg.micro_stop_threshold_s:
            e = "micro"
        if e == "down" and t < WINDOW_S:
            failures += 1
            repair += (WINDOW_S - t) if last else dur
        el[t:end] = e
        t += dur
        if t >= WINDOW_S:
            break
    out = {}
    nodata = el == None  # noqa: E711 - elementwise on an object array
    prod = (el == "production") & ((status == "work") | cfg.count_running_outside_schedule)
    sched = ~nodata & ~prod
    out["no_data_s"] = nodata.sum()
    out["not_scheduled_s"] = (sched & (status == "off")).sum()
    work = sched & (status == "work")
    out["planned_downtime_s"] = (sched & (status == "break")).sum() + (
        work & np.isin(el, ["planned_downtime", "production"])
    ).sum()
    out["micro_stop_time_s"] = (work & (el == "micro")).sum()
    out["actual_production_time_s"] = prod.sum() + out["micro_stop_time_s"]
    for name, e in (("setup_time_s", "setup"), ("down_time_s", "down"), ("delay_time_s", "delay")):
        out[name] = (work & (el == e)).sum()
    out["failures"] = failures
    out["repair_time_s"] = repair
    out["good_quantity"] = sum(c[1] for c in sc["counts"])
    out["scrap_quantity"] = sum(c[2] for c in sc["counts"])
    out["rework_quantity"] = sum(c[3] for c in sc["counts"])
    out["ideal_time_s"] = sum(c[1] + c[2] for c in sc["counts"]) * sc["pru"]
    return out


FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: examples per backend: PostgreSQL costs a schema and a round trip per query, so it gets fewer
EXAMPLES = {"duckdb": 1.0, "postgresql": 0.2}


def per_backend(backend: str, n: int) -> settings:
    return settings(FAST, max_examples=max(3, int(n * EXAMPLES[backend])))


def test_matches_second_by_second_reference(store_factory, backend):
    @per_backend(backend, 50)
    @given(scenarios())
    def check(sc):
        _matches_reference(sc, store_factory)

    check()


def _matches_reference(sc, make):
    store, cfg = build(sc, make)
    ref = reference(sc, cfg)
    # both queries: per-episode (machine/line/plant) and the forward-filled event stream
    for fast in (True, False):
        oee.FAST_PATH = fast
        try:
            r = compute_kpis(store, T0, T0 + timedelta(seconds=WINDOW_S), config=cfg).iloc[0]
        finally:
            oee.FAST_PATH = True
        for k, v in ref.items():
            assert r[k] == pytest.approx(v, abs=1e-6), (fast, k)


def test_ratios_identities_and_losses(store_factory, backend):
    @per_backend(backend, 50)
    @given(scenarios())
    def check(sc):
        _ratios_identities_and_losses(sc, store_factory)

    check()


def _ratios_identities_and_losses(sc, make):
    store, cfg = build(sc, make)
    end = T0 + timedelta(seconds=WINDOW_S)
    r = compute_kpis(store, T0, end, config=cfg).iloc[0]
    # every second is in exactly one time element
    parts = (
        r["not_scheduled_s"]
        + r["planned_downtime_s"]
        + r["no_data_s"]
        + r["actual_production_time_s"]
        + r["setup_time_s"]
        + r["down_time_s"]
        + r["delay_time_s"]
    )
    assert parts == pytest.approx(WINDOW_S) == pytest.approx(r["calendar_time_s"])
    busy = r["actual_production_time_s"] + r["setup_time_s"] + r["down_time_s"] + r["delay_time_s"]
    assert busy == pytest.approx(r["planned_busy_time_s"])
    assert r["planned_operation_time_s"] == pytest.approx(r["planned_busy_time_s"] + r["planned_downtime_s"])
    # the six big losses explain PBT − GQ·PRU exactly
    pq = r["produced_quantity"]
    assert pq == r["good_quantity"] + r["scrap_quantity"]
    valuable = r["ideal_time_s"] * r["good_quantity"] / pq if pq else 0.0
    assert sum(r[c] for c in LOSS_COLUMNS) == pytest.approx(r["planned_busy_time_s"] - valuable, abs=1e-6)
    if not math.isnan(r["oee"]):
        assert r["oee"] == pytest.approx(r["availability"] * r["effectiveness"] * r["quality_ratio"])
        assert r["oee"] == pytest.approx(valuable / r["planned_busy_time_s"])
        assert r["oee"] == pytest.approx(1 - sum(r[c] for c in LOSS_COLUMNS) / r["planned_busy_time_s"])
    # ratios stay in [0, 1] when every part is made in counted production time
    if sc["outside"] or sc["calendar"] is None:
        for k in ("availability", "effectiveness", "quality_ratio", "oee"):
            assert math.isnan(r[k]) or -1e-12 <= r[k] <= 1 + 1e-12, k
        assert r["loss_reduced_speed_s"] >= -1e-6
    for k in ("scrap_ratio", "setup_rate", "first_pass_yield", "availability", "quality_ratio"):
        assert math.isnan(r[k]) or -1e-12 <= r[k] <= 1 + 1e-12, k
    for c in LOSS_COLUMNS:
        if c != "loss_reduced_speed_s":
            assert r[c] >= -1e-9, c


ADDITIVE = (
    "calendar_time_s",
    "not_scheduled_s",
    "planned_downtime_s",
    "planned_busy_time_s",
    "actual_production_time_s",
    "micro_stop_time_s",
    "no_data_s",
    "produced_quantity",
    "good_quantity",
    "ideal_time_s",
    "failures",
    *LOSS_COLUMNS,
)


def test_groupings_partition_any_window(store_factory, backend):
    @per_backend(backend, 25)
    @given(scenarios(), st.integers(0, WINDOW_S - 3600), st.integers(1800, 2 * 86400))
    def check(sc, offset, length):
        _groupings_partition_any_window(sc, offset, length, store_factory)

    check()


def _groupings_partition_any_window(sc, offset, length, make):
    store, cfg = build(sc, make)
    s = T0 + timedelta(seconds=offset)
    e = s + timedelta(seconds=length)
    plant = compute_kpis(store, s, e, group_by=(), config=cfg).iloc[0]
    assert plant["calendar_time_s"] == pytest.approx(length)
    for groups in (("shift", "day"), ("order",), ("machine", "line")):
        df = compute_kpis(store, s, e, group_by=groups, config=cfg)
        for k in ADDITIVE:
            assert df[k].sum() == pytest.approx(plant[k], abs=1e-6), (groups, k)


def test_postgresql_gives_the_numbers_duckdb_gives(pg_schemas):
    """Random scenarios written to both backends: every grouping and the Pareto agree."""

    @settings(FAST, max_examples=8)
    @given(scenarios(), st.integers(0, WINDOW_S - 3600), st.integers(1800, 2 * 86400))
    def check(sc, offset, length):
        _same_on_both(sc, offset, length, pg_schemas)

    check()


def _same_on_both(sc, offset, length, pool):
    duck, cfg = build(sc)
    pg, _ = build(sc, pool.store)
    try:
        s = T0 + timedelta(seconds=offset)
        e = s + timedelta(seconds=length)
        for groups in ((), ("line",), ("shift", "day"), ("order",), ("machine", "day")):
            for fast in (True, False) if groups == () else (True,):  # fast: per-episode query
                oee.FAST_PATH = fast
                try:
                    a = compute_kpis(duck, s, e, group_by=groups, config=cfg)
                    b = compute_kpis(pg, s, e, group_by=groups, config=cfg)
                finally:
                    oee.FAST_PATH = True
                pd.testing.assert_frame_equal(a, b, rtol=1e-9, obj=f"{groups} fast={fast}")
        pd.testing.assert_frame_equal(
            downtime_pareto(duck, s, e, cfg), downtime_pareto(pg, s, e, cfg), rtol=1e-9
        )
    finally:
        duck.close()
        pool.give_back(pg)
