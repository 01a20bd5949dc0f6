"""The KPI query reads only the state changes a window needs (kpi/inputs.py `state_bounds`); this
checks that it gives exactly the numbers of reading every machine's whole history, on DuckDB
and PostgreSQL, for random windows over random data with long gaps (the bounds search falls
back from a day to a month to unbounded), changes after the window, late and out-of-order
writes, replays and retention."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from factory_commons.kpi import compute_kpis, inputs, oee
from factory_commons.model import Machine, PlannedBreak, Shift, ShiftCalendar
from factory_commons.store import RetentionPolicy

T0 = datetime(2025, 3, 1)
STATES = ("running", "idle", "unplanned_down", "setup", "planned_stop", "no_order")
CAL = ShiftCalendar(
    name="day",
    timezone="Asia/Seoul",
    shifts=[
        Shift(
            name="A",
            start="08:00",
            end="17:00",
            breaks=[PlannedBreak(name="lunch", start="12:00", end="13:00")],
        )
    ],
)


def _states(rng: np.random.Generator, machine: str, n: int) -> pa.Table:
    """n state changes with gaps from seconds up to 45 days, some runs of micro-stops."""
    gaps = rng.choice([30, 90, 600, 3600, 86400 * 2, 86400 * 45], size=n, p=[0.3, 0.2, 0.3, 0.12, 0.05, 0.03])
    t = np.cumsum(gaps).astype("timedelta64[s]")
    state = rng.choice(STATES, size=n)
    return pa.table(
        {
            "machine": [machine] * n,
            "ts": pa.array(np.datetime64(T0, "us") + t, pa.timestamp("us")),
            "state": state.tolist(),
            "reason_code": [None if s == "running" else f"r{rng.integers(3)}" for s in state],
            "order_id": [None if s == "no_order" else f"O{i // 20}" for i, s in enumerate(state)],
        }
    )


def _fill(store, rng: np.random.Generator) -> list[pa.Table]:
    store.save_calendar(CAL)
    paths = ["f/s/a/l1/m1", "f/s/a/l1/m2", "f/s/a/l2/m3", "f/s/a/l2/m4"]
    store.register_machines(
        Machine(path=p, calendar=None if i == 3 else "day", default_ideal_cycle_time_s=30.0)
        for i, p in enumerate(paths)
    )
    tables = [_states(rng, p, int(rng.integers(60, 200))) for p in paths]
    store.write_table(
        "order",
        [
            {"order_id": f"O{i}", "product": f"P{i % 3}", "quantity": 100, "ideal_cycle_time_s": 25.0 + i}
            for i in range(12)
        ],
    )
    for t in tables:
        # late and out-of-order: the second half first, then the first half shuffled, then a replay
        n = t.num_rows
        store.write_table("state", t.slice(n // 2))
        store.write_table("state", t.take(pa.array(rng.permutation(n // 2))))
        store.write_table("state", t.slice(n // 3, n // 3))
        ts = t.column("ts").to_numpy()
        counts = {
            "machine": [t.column("machine")[0].as_py()] * (n - 1),
            "ts": pa.array(ts[:-1] + np.timedelta64(5, "s"), pa.timestamp("us")),
            "good": rng.integers(1, 20, n - 1).tolist(),
            "scrap": rng.integers(0, 3, n - 1).tolist(),
            "order_id": [f"O{i // 20}" for i in range(n - 1)],
        }
        store.write_table("count", counts)
    return tables


def _both(store, s: datetime, e: datetime, group_by, machines=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    fast = compute_kpis(store, s, e, group_by, machines=machines)
    try:
        oee.BOUNDED_STATES = False
        full = compute_kpis(store, s, e, group_by, machines=machines)
    finally:
        oee.BOUNDED_STATES = True
    return fast, full


@pytest.mark.parametrize("seed", [1, 2])
def test_bounded_read_gives_the_full_history_numbers(store_factory, seed):
    rng = np.random.default_rng(seed)
    store = store_factory()
    tables = _fill(store, rng)
    last = max(t.column("ts").to_numpy().max() for t in tables).astype(datetime)
    span = (last - T0).total_seconds()
    groupings = [("machine",), ("line",), (), ("machine", "day"), ("order",)]
    for k in range(6):
        a = T0 + timedelta(seconds=float(rng.uniform(-0.1, 1.0)) * span)
        length = timedelta(seconds=float(rng.choice([3600, 86400, 7 * 86400, 60 * 86400])))
        machines = None if k % 3 else ["f/s/a/l1/m2", "f/s/a/l2/m4"]
        fast, full = _both(store, a, a + length, groupings[k % len(groupings)], machines)
        pd.testing.assert_frame_equal(fast, full, rtol=1e-9)
        assert len(fast) > 0


def test_bounded_read_after_retention(store_factory):
    rng = np.random.default_rng(3)
    store = store_factory()
    tables = _fill(store, rng)
    last = max(t.column("ts").to_numpy().max() for t in tables).astype(datetime)
    store.apply_retention(RetentionPolicy(event_days=60), now=last)
    for days in (1, 10, 90):
        fast, full = _both(store, last - timedelta(days=days), last + timedelta(hours=1), ("machine",))
        pd.testing.assert_frame_equal(fast, full, rtol=1e-9)
        assert fast["calendar_time_s"].sum() > 0


def test_bounds_cover_the_neighbouring_changes(store_factory):
    """The range holds the last change before the window and the first after it, also across
    gaps longer than the one-day and one-month lookbacks."""
    store = store_factory()
    rows = [
        {"machine": "f/s/a/l/m1", "ts": T0, "state": "running"},
        {"machine": "f/s/a/l/m1", "ts": T0 + timedelta(days=40), "state": "idle"},
        {"machine": "f/s/a/l/m1", "ts": T0 + timedelta(days=80), "state": "running"},
        {"machine": "f/s/a/l/m2", "ts": T0 + timedelta(days=45), "state": "setup"},
    ]
    store.write_table("state", rows)
    ids = [1, 2]
    s, e = T0 + timedelta(days=41), T0 + timedelta(days=42)
    assert inputs.state_bounds(store, ids, s, e) == (T0 + timedelta(days=40), T0 + timedelta(days=80))
    # m2's only change (day 45) is the earliest "last change before" of the two machines
    assert inputs.state_bounds(store, ids, T0 + timedelta(days=81), T0 + timedelta(days=82)) == (
        T0 + timedelta(days=45),
        None,
    )
    assert inputs.state_bounds(store, [1], T0 + timedelta(days=81), T0 + timedelta(days=82)) == (
        T0 + timedelta(days=80),
        None,
    )
    assert inputs.state_bounds(store, ids, T0 - timedelta(days=2), T0 - timedelta(days=1)) == (
        None,
        T0 + timedelta(days=45),  # the latest of the machines' first changes after the window
    )
    assert inputs.state_bounds(store, [], s, e) == (None, None)
