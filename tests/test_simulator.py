"""The factory simulator: deterministic, valid for the store, and true to what it claims."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from factory_commons.collect.simulator import STATES, FactorySimulator
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
START = datetime(2026, 10, 5, tzinfo=SEOUL)  # a Monday


def _tables(sim: FactorySimulator) -> dict[str, pa.Table]:
    out: dict[str, list[pa.Table]] = {}
    for _, batches in sim.iter_days():
        for kind, t in batches.items():
            out.setdefault(kind, []).append(t)
    return {k: pa.concat_tables(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def short() -> tuple[FactorySimulator, dict[str, pa.Table]]:
    sim = FactorySimulator(seed=7, start=START, days=3)
    return sim, _tables(sim)


@pytest.fixture(scope="module")
def long() -> tuple[FactorySimulator, dict[str, pa.Table]]:
    sim = FactorySimulator(seed=11, start=START, days=21)
    return sim, _tables(sim)


def _naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


def _running_seconds(states: pa.Table, end: datetime) -> dict[str, float]:
    """Running seconds per machine, each state lasting until the next (the last until `end`)."""
    df = states.to_pandas()
    df["ts"] = df["ts"].dt.tz_convert(None) if df["ts"].dt.tz is not None else df["ts"]
    df = df.sort_values(["machine", "ts"])
    nxt = df.groupby("machine")["ts"].shift(-1).fillna(_naive(end))
    df["sec"] = (nxt - df["ts"]).dt.total_seconds()
    return df[df["state"] == "running"].groupby("machine")["sec"].sum().to_dict()


def test_the_factory():
    sim = FactorySimulator(seed=1, start=START, days=1)
    machines = sim.machines()
    assert len(machines) == 12
    assert len({m.line_path for m in machines}) == 3
    assert all(m.display_name and m.kind and m.default_ideal_cycle_time_s for m in machines)
    assert all(m.calendar == sim.calendar().name for m in machines)
    assert any("호기" in m.display_name for m in machines)
    assert sim.calendar().timezone == "Asia/Seoul"


def test_same_seed_same_tables_other_seed_differs(short):
    sim, tables = short
    again = _tables(FactorySimulator(seed=7, start=START, days=3))
    for kind, t in tables.items():
        assert t.equals(again[kind]), kind
    other = _tables(FactorySimulator(seed=8, start=START, days=3))
    assert not tables["state"].equals(other["state"])
    assert not tables["signal"].equals(other["signal"])


def test_every_machine_has_data_and_states_are_valid(short):
    sim, t = short
    paths = {m.path for m in sim.machines()}
    for kind in ("state", "count", "signal", "quality"):
        assert set(t[kind].column("machine").to_pylist()) == paths, kind
    assert set(t["state"].column("state").to_pylist()) <= set(STATES)
    assert set(t["signal"].column("name").to_pylist()) == {"load", "vibration", "temperature"}
    lo, hi = _naive(START), _naive(sim.end)
    for kind in ("state", "count", "signal", "alarm", "quality"):
        ts = t[kind].column("ts")
        assert pc.min(ts).as_py().replace(tzinfo=None) >= lo, kind
        assert pc.max(ts).as_py().replace(tzinfo=None) < hi, kind
    # a state opens every machine's history at the start
    df = t["state"].to_pandas()
    assert (df.groupby("machine")["ts"].min().dt.tz_convert(None) == lo).all()


def test_writes_into_store_and_second_write_adds_nothing(short):
    sim, t = short
    store = DuckDBStore(":memory:")
    days = []
    summary = sim.write_to(store, progress=lambda i, n: days.append((i, n)))
    assert days == [(0, 3), (1, 3), (2, 3)]
    for kind in ("state", "count", "signal", "quality", "order"):
        assert summary[kind] == t[kind].num_rows > 0, kind
    assert summary["alarm"] == t["alarm"].num_rows
    assert len(store.machines()) == 12
    assert sim.calendar().name in store.calendars()
    again = sim.write_to(store)
    assert set(again.values()) == {0}
    n = store.query("SELECT count(*) AS n FROM v_states").column("n")[0].as_py()
    assert n == t["state"].num_rows


def test_counts_never_beat_the_ideal_cycle(short):
    sim, t = short
    ideal = dict(
        zip(
            t["order"].column("order_id").to_pylist(),
            t["order"].column("ideal_cycle_time_s").to_pylist(),
            strict=True,
        )
    )
    counts = t["count"].to_pandas()
    assert counts["order_id"].isin(list(ideal)).all()
    counts["ideal_s"] = (counts["good"] + counts["scrap"]) * counts["order_id"].map(ideal)
    run = _running_seconds(t["state"], sim.end)
    for machine, ideal_s in counts.groupby("machine")["ideal_s"].sum().items():
        assert 0.5 * run[machine] < ideal_s <= run[machine], machine
    assert (counts["rework"] <= counts["good"]).all()
    assert ((counts["good"] + counts["scrap"]) > 0).all()
    reasons = set(counts["scrap_reason"].dropna())
    assert "startup" in reasons and len(reasons) > 1


def test_machines_run_only_in_work_time(short):
    sim, t = short
    work = []
    tl = sim.calendar().timeline(START, sim.end)
    for (ts, status, *_), nxt in zip(tl, [*tl[1:], (sim.end,)], strict=True):
        if status == "work":
            work.append((_naive(ts), _naive(nxt[0])))
    df = t["state"].to_pandas()
    run = df[df["state"] == "running"]["ts"].dt.tz_convert(None)
    assert all(any(a <= x < b for a, b in work) for x in run)
    assert {"off_shift", "lunch"} <= set(df["reason_code"].dropna())


def test_breakdowns_raise_and_clear_critical_alarms(short):
    sim, t = short
    assert sim.breakdowns
    alarms = t["alarm"].to_pandas()
    alarms["ts"] = alarms["ts"].dt.tz_convert(None)
    states = t["state"].to_pandas()
    states["ts"] = states["ts"].dt.tz_convert(None)
    for b in sim.breakdowns:
        assert b.end > b.start
        assert b.drift_start is None or b.drift_start < b.start
        mine = alarms[(alarms.machine == b.machine) & (alarms.code == b.reason_code)]
        assert ((mine.ts == _naive(b.start)) & mine.active & (mine.severity == "critical")).any()
        if b.end < sim.end:
            assert ((mine.ts == _naive(b.end)) & ~mine.active).any()
        st = states[(states.machine == b.machine) & (states.ts == _naive(b.start))]
        assert st.state.tolist() == ["unplanned_down"] and st.reason_code.tolist() == [b.reason_code]


def test_signals_drift_before_degrading_breakdowns(long):
    sim, t = long
    sig = t["signal"].to_pandas()
    sig["ts"] = sig["ts"].dt.tz_convert(None)
    states = t["state"].to_pandas()
    states["ts"] = states["ts"].dt.tz_convert(None)
    drifting = [
        b
        for b in sim.breakdowns
        if b.drift_start is not None and b.start - b.drift_start > timedelta(hours=6)
    ]
    assert len(drifting) >= 3
    for b in drifting:
        s = sig[sig.machine == b.machine].copy()
        st = states[states.machine == b.machine].sort_values("ts")
        idx = np.searchsorted(st.ts.values, s.ts.values, side="right") - 1
        s = s[st.state.values[idx] == "running"]
        quiet = np.ones(len(s), dtype=bool)
        for other in sim.breakdowns:
            if other.machine == b.machine:
                lo = _naive(other.drift_start or other.start) - timedelta(hours=1)
                quiet &= ~((s.ts >= lo) & (s.ts < _naive(other.end) + timedelta(hours=1))).values
        before = (s.ts >= _naive(b.start) - timedelta(hours=2)) & (s.ts < _naive(b.start))
        rises = []
        for name in ("vibration", "temperature"):
            base = s[quiet & (s.name == name).values].value
            pre = s[before.values & (s.name == name).values].value
            assert len(base) > 100 and len(pre) > 0
            rises.append(pre.mean() - base.mean() > 3 * base.std() / np.sqrt(len(pre)))
        assert any(rises), b


def test_breakdowns_come_at_about_the_mtbf(long):
    sim, t = long
    run = _running_seconds(t["state"], sim.end)
    expected = sum(run[s.path] / 3600 / s.mtbf_h for s in sim.specs)
    actual = len(sim.breakdowns)
    assert 0.6 * expected <= actual <= 1.6 * expected, (actual, expected)


def test_quality_has_spec_limits_and_signals_depend_on_state(short):
    sim, t = short
    q = t["quality"].to_pandas()
    assert (q.lsl < q.target).all() and (q.target < q.usl).all()
    assert q.groupby("machine")["characteristic"].nunique().max() == 1
    inside = ((q.value >= q.lsl) & (q.value <= q.usl)).mean()
    assert inside > 0.9
    sig = t["signal"].to_pandas()
    vib = sig[(sig.machine == sim.machines()[0].path) & (sig.name == "vibration")]
    assert vib.value.max() > 4 * vib.value.min()
    assert (sig.value >= 0).all()


def test_signal_interval_is_configurable():
    sim = FactorySimulator(seed=3, start=START, days=1, signal_interval_s=300)
    _, batches = next(iter(sim.iter_days()))
    assert batches["signal"].num_rows == 12 * 3 * 288


def test_naive_start_is_plant_local_time():
    a = FactorySimulator(seed=3, start=datetime(2026, 10, 5), days=1)
    assert a.start == START


def test_a_shorter_run_is_a_prefix_of_a_longer_one():
    """Same seed and start: the first days do not depend on how many days are simulated, so
    simulating 3 days and then 6 into one store gives the 6-day history, nothing mixed."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    start = datetime(2026, 10, 5, tzinfo=ZoneInfo("Asia/Seoul"))
    short = dict(FactorySimulator(seed=11, start=start, days=3).iter_days())
    long = dict(FactorySimulator(seed=11, start=start, days=6).iter_days())
    for day in range(3):
        for kind, table in short[day].items():
            assert table.equals(long[day][kind]), f"day {day} {kind} differs"


def test_writing_a_longer_run_over_a_shorter_one_equals_the_longer_run():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    start = datetime(2026, 10, 5, tzinfo=ZoneInfo("Asia/Seoul"))
    both, once = DuckDBStore(), DuckDBStore()
    FactorySimulator(seed=5, start=start, days=2).write_to(both)
    FactorySimulator(seed=5, start=start, days=4).write_to(both)
    FactorySimulator(seed=5, start=start, days=4).write_to(once)
    for kind in ("state", "count", "signal", "alarm", "quality"):
        assert both.read(kind).equals(once.read(kind)), kind
