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
    states = store.read("state").to_pandas()
    work = _work_intervals(START - timedelta(days=3), 12)
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


def test_no_orders_means_no_delivery_evidence():
    store = DuckDBStore(":memory:")
    store.register_machines([Machine(path="t/s/a/l/m1", kind="press")])
    ev = compute_evidence(store, date(2026, 10, 5), date(2026, 10, 6), tz="UTC")
    assert ev.delivery is None and ev.quality is None
    assert json.loads(ev.model_dump_json())["delivery"] is None
    store.close()
