"""The hourly KPI rollup (kpi/rollup.py, store/rollup.py) gives exactly the numbers of the full
KPI query, on DuckDB and PostgreSQL: random data (micro-stops, episodes spanning hours and
days, a shift calendar with breaks and a 24/7 machine), random windows (cold, then served from
stored hours), and after every kind of write that can change stored hours: late and
out-of-order states, appends, counts, stop-reason edits, orders, calendars, machines, KPI
config, retention. Replays change nothing, and a save whose versions a write moved stores
nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from factory_commons.kpi import KpiConfig, compute_kpis, oee, piece_sums
from factory_commons.kpi import rollup as kr
from factory_commons.model import Machine, PlannedBreak, Shift, ShiftCalendar
from factory_commons.store import RetentionPolicy

T0 = datetime(2025, 3, 1)
STATES = ("running", "idle", "unplanned_down", "setup", "planned_stop", "no_order")
PATHS = ["f/s/a/l1/m1", "f/s/a/l1/m2", "f/s/a/l2/m3", "f/s/a/l2/m4"]
CONFIG = KpiConfig(state_map={"idle:r1": "planned_downtime"}, micro_stop_threshold_s=100)


def _cal(end: str = "17:00") -> ShiftCalendar:
    return ShiftCalendar(
        name="day",
        timezone="Asia/Seoul",
        shifts=[
            Shift(
                name="A",
                start="08:00",
                end=end,
                days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                breaks=[PlannedBreak(name="lunch", start="12:00", end="13:00")],
            )
        ],
    )


def _states(rng: np.random.Generator, machine: str, n: int, start: datetime) -> pa.Table:
    gaps = rng.choice(
        [7, 40, 95, 130, 600, 3600, 3 * 3600, 86400], size=n, p=[0.1, 0.2, 0.15, 0.1, 0.25, 0.12, 0.05, 0.03]
    )
    t = np.cumsum(gaps + rng.random(n)).astype("float64")
    state = rng.choice(STATES, size=n)
    return pa.table(
        {
            "machine": [machine] * n,
            "ts": pa.array(
                np.datetime64(start, "us") + (t * 1e6).astype("timedelta64[us]"), pa.timestamp("us")
            ),
            "state": state.tolist(),
            "reason_code": [None if s == "running" else f"r{rng.integers(3)}" for s in state],
            "order_id": [None if s == "no_order" else f"O{i // 25}" for i, s in enumerate(state)],
        }
    )


def _counts(rng: np.random.Generator, t: pa.Table) -> pa.Table:
    ts = t.column("ts").to_numpy()
    n = len(ts)
    return pa.table(
        {
            "machine": [t.column("machine")[0].as_py()] * n,
            "ts": pa.array(ts + np.timedelta64(3, "s"), pa.timestamp("us")),
            "good": rng.integers(1, 20, n).tolist(),
            "scrap": rng.integers(0, 3, n).tolist(),
            "scrap_reason": [rng.choice(["startup", "burr"]) for _ in range(n)],
            "order_id": [f"O{i // 25}" for i in range(n)],
        }
    )


def _fill(store, rng: np.random.Generator) -> dict[str, pa.Table]:
    store.save_calendar(_cal())
    store.register_machines(
        Machine(path=p, calendar=None if i == 3 else "day", default_ideal_cycle_time_s=30.0)
        for i, p in enumerate(PATHS)
    )
    store.write_table(
        "order",
        [
            {"order_id": f"O{i}", "product": f"P{i % 3}", "quantity": 100, "ideal_cycle_time_s": 25.0 + i}
            for i in range(12)
        ],
    )
    tables = {}
    for i, p in enumerate(PATHS):
        t = _states(rng, p, int(rng.integers(120, 220)), T0 + timedelta(hours=3 * i, seconds=17))
        store.write_table("state", t)
        store.write_table("count", _counts(rng, t))
        tables[p] = t
    return tables


def _kpis(store, s, e, group_by=("machine",), config=CONFIG, rolled=True) -> pd.DataFrame:
    old = oee.ROLLUP
    oee.ROLLUP = rolled
    try:
        return compute_kpis(store, s, e, group_by, config=config)
    finally:
        oee.ROLLUP = old


def _check(store, s, e, group_by=("machine",), config=CONFIG, times=2) -> pd.DataFrame:
    ref = _kpis(store, s, e, group_by, config, rolled=False)
    for _ in range(times):  # cold (computes and stores hours), then from the stored hours
        got = _kpis(store, s, e, group_by, config)
        pd.testing.assert_frame_equal(got, ref, rtol=1e-9)
    return ref


def _n_hours(store) -> int:
    return store.query("SELECT count(*) AS n FROM kpi_hours").column("n")[0].as_py()


def _long_episode(tables, state, lo, hi, min_s=7200, paths=PATHS):
    """(machine, start, next change) of the first `state` episode longer than min_s s in [lo, hi)."""
    for path in paths:
        t = tables[path]
        ts, st = t.column("ts").to_pylist(), t.column("state").to_pylist()
        for a, b, x in zip(ts, ts[1:], st, strict=False):
            if x == state and lo <= a < hi and (b - a).total_seconds() > min_s:
                return path, a, b
    raise AssertionError(f"the random data has no {state} episode over {min_s} s in [{lo}, {hi})")


def _windows(rng: np.random.Generator, k: int) -> list[tuple[datetime, datetime]]:
    out = []
    for _ in range(k):
        s = T0 + timedelta(seconds=float(rng.uniform(-3 * 3600, 6 * 86400)))
        length = timedelta(
            seconds=float(rng.choice([1800, 3 * 3600, 86400, 4 * 86400])) * rng.uniform(0.7, 1.3)
        )
        out.append((s, s + length))
    return out


@pytest.fixture(params=["sql", "python"])
def runs_in(request, monkeypatch) -> str:
    """Compute the pieces not stored with `hourly_sql` only, or in Python only (`run_rows`)."""
    monkeypatch.setattr(kr, "PY_MAX", timedelta(0) if request.param == "sql" else timedelta(days=3650))
    return request.param


def test_random_windows_equal_the_full_query(store_factory, runs_in):
    store = store_factory()
    rng = np.random.default_rng(11)
    _fill(store, rng)
    for s, e in _windows(rng, 4):
        _check(store, s, e)
    assert _n_hours(store) > 0
    for group_by in (("line",), ()):
        _check(store, T0 + timedelta(hours=5, minutes=7), T0 + timedelta(days=3, minutes=51), group_by)


def test_warm_requests_compute_only_edges_and_open_hours(store_factory, monkeypatch):
    store = store_factory()
    _fill(store, np.random.default_rng(5))
    s, e = T0 + timedelta(hours=2, minutes=13), T0 + timedelta(days=2, hours=4, minutes=41)
    _check(store, s, e)
    seen: list[list] = []

    def spy(real):
        def f(store_, run, *args, **kw):
            seen.append(run)
            return real(store_, run, *args, **kw)

        return f

    monkeypatch.setattr(piece_sums, "compute_run", spy(piece_sums.compute_run))
    monkeypatch.setattr(piece_sums, "run_rows", spy(piece_sums.run_rows))
    _kpis(store, s, e)
    computed = [p for run in seen for p in run]
    whole = [p for p in kr.pieces(s, e) if p[1] - p[0] == kr.HOUR]
    assert len(computed) < len(whole) // 2  # the stored hours were read, not recomputed
    assert computed[0][0] == s and computed[-1][1] == e  # the partial edge hours always are


def test_every_write_keeps_the_rollup_exact(store_factory, runs_in):
    store = store_factory()
    rng = np.random.default_rng(23)
    tables = _fill(store, rng)
    s, e = T0 + timedelta(hours=1, minutes=31), T0 + timedelta(days=3, hours=14, minutes=3)
    _check(store, s, e)
    m1 = tables[PATHS[0]]
    ts1 = m1.column("ts").to_pylist()

    # a late state change inside stored hours: splits an episode (its class and repair change)
    mid = ts1[len(ts1) // 2]
    late = pa.table(
        {
            "machine": [PATHS[0]],
            "ts": pa.array([mid - timedelta(seconds=1.5)], pa.timestamp("us")),
            "state": ["unplanned_down"],
            "reason_code": [None],
            "order_id": ["O1"],
        }
    )
    assert store.write_table("state", late).written == 1
    _check(store, s, e, times=1)

    # a late change inside a long breakdown that started hours before: the breakdown's repair
    # time (booked in the hour it started) shrinks, so hours before the new row change too
    path, k_ts, k_next = _long_episode(tables, "unplanned_down", s, e - timedelta(hours=3))
    store.write_table(
        "state",
        [{"machine": path, "ts": k_ts + timedelta(minutes=95), "state": "running", "order_id": "O2"}],
    )
    _check(store, s, e, times=1)

    # a replay of stored rows: nothing written, nothing invalidated
    before = store.query("SELECT * FROM kpi_hours ORDER BY machine_id, hour_ts").to_pylist()
    vers = store.query("SELECT * FROM kpi_versions ORDER BY machine_id").to_pylist()
    assert store.write_table("state", m1).written == 0
    assert store.write_table("state", late).written == 0
    assert store.query("SELECT * FROM kpi_hours ORDER BY machine_id, hour_ts").to_pylist() == before
    assert store.query("SELECT * FROM kpi_versions ORDER BY machine_id").to_pylist() == vers

    # appends after every machine's newest change (the open episodes end)
    for p, t in tables.items():
        last = t.column("ts")[-1].as_py()
        store.write_table(
            "state",
            [{"machine": p, "ts": last + timedelta(seconds=50), "state": "idle", "order_id": "O2"}],
        )
    _check(store, s, e, times=1)

    # a window that ends right after an open stop began: not a micro-stop (its end is unknown),
    # and its repair time runs to the window's end
    last = tables[PATHS[3]].column("ts")[-1].as_py() + timedelta(seconds=50)
    _check(store, last - timedelta(hours=5, minutes=7), last + timedelta(seconds=30), times=1)
    store.write_table(
        "state", [{"machine": PATHS[3], "ts": last + timedelta(seconds=5), "state": "unplanned_down"}]
    )
    _check(store, last - timedelta(hours=5, minutes=7), last + timedelta(seconds=30), times=1)

    # stop-reason edits on the 24/7 machine: an idle stop into planned downtime (idle:r1) and back
    lo, hi = s + timedelta(hours=1), e - timedelta(hours=2)
    path, target, _ = _long_episode(tables, "idle", lo, hi, 300, paths=[PATHS[3]])
    assert store.set_state_reason(path, target, None)
    idle = _check(store, s, e, times=1)
    assert store.set_state_reason(path, target, "r1")
    planned = _check(store, s, e, times=1)
    assert not np.allclose(idle["planned_downtime_s"], planned["planned_downtime_s"])
    assert store.set_state_reason(path, target, "r2")
    _check(store, s, e, times=1)

    # late counts
    store.write_table(
        "count",
        [
            {
                "machine": PATHS[1],
                "ts": T0 + timedelta(days=1, seconds=5),
                "good": 7,
                "scrap": 1,
                "order_id": "O3",
            }
        ],
    )
    _check(store, s, e, times=1)

    # an order's ideal cycle time changes
    store.write_table(
        "order", [{"order_id": "O1", "product": "P1", "quantity": 100, "ideal_cycle_time_s": 61.0}]
    )
    _check(store, s, e, times=1)

    # the calendar, a machine's default cycle time and calendar, the KPI config
    store.save_calendar(_cal(end="19:30"))
    _check(store, s, e, times=1)
    store.register_machines([Machine(path=PATHS[2], calendar=None, default_ideal_cycle_time_s=12.0)])
    _check(store, s, e, times=1)
    _check(
        store,
        s,
        e,
        times=1,
        config=KpiConfig(micro_stop_threshold_s=300, count_running_outside_schedule=False),
    )

    # retention of events
    store.apply_retention(RetentionPolicy(event_days=30), now=T0 + timedelta(days=32))
    _check(store, s, e, times=1)


def test_a_save_after_a_write_stores_nothing(store_factory):
    store = store_factory()
    tables = _fill(store, np.random.default_rng(3))
    s, e = T0 + timedelta(hours=4), T0 + timedelta(days=2)
    _check(store, s, e)
    rows = store.query("SELECT * FROM kpi_hours ORDER BY machine_id, hour_ts")
    assert rows.num_rows > 0
    mid = rows.column("machine_id")[0].as_py()
    ver = store.query(f"SELECT ver FROM kpi_versions WHERE machine_id = {mid}").to_pylist()
    old = ver[0]["ver"] if ver else 0
    one = rows.filter(pa.compute.equal(rows.column("machine_id"), mid))
    # a write moves the version; a reader that read the old one must not store its hours
    path = store.query(f"SELECT path FROM machines WHERE machine_id = {mid}").column("path")[0].as_py()
    first = tables[path].column("ts")[1].as_py()
    store.write_table("count", [{"machine": path, "ts": first, "good": 1, "scrap": 0, "order_id": "O0"}])
    left = store.query(f"SELECT count(*) AS n FROM kpi_hours WHERE machine_id = {mid}").column("n")[0].as_py()
    assert left < one.num_rows  # the count's hour and those after it were dropped
    assert store.kpi_rollup_save(one, {mid: old}) == 0
    now = store.query(f"SELECT ver FROM kpi_versions WHERE machine_id = {mid}").column("ver")[0].as_py()
    assert now == old + 1
    assert store.kpi_rollup_save(one, {mid: now}) == one.num_rows - left
    _check(store, s, e)


def test_exports_skip_the_rollup(store_factory, tmp_path):
    store = store_factory()
    _fill(store, np.random.default_rng(8))
    _check(store, T0 + timedelta(hours=3), T0 + timedelta(days=1, hours=3))
    assert _n_hours(store) > 0
    out = store.export_parquet(tmp_path)
    assert "kpi_hours" not in out and "kpi_versions" not in out
    assert not (tmp_path / "kpi_hours.parquet").exists()


@pytest.mark.parametrize("minutes", [0, 59])
def test_windows_without_a_whole_hour_use_the_full_query(store_factory, minutes):
    store = store_factory()
    _fill(store, np.random.default_rng(2))
    s = T0 + timedelta(hours=7, minutes=minutes)
    _check(store, s, s + timedelta(minutes=40))
    assert _n_hours(store) == 0


def test_concurrent_writes_and_reads_leave_no_stale_hour(store_factory):
    """Readers fill the rollup while a writer inserts late state changes into hours they
    read: whatever the interleaving, the stored hours afterwards give the full query's
    numbers (a save whose versions moved stores nothing; a write deletes what was saved)."""
    import threading

    store = store_factory()
    rng = np.random.default_rng(31)
    tables = _fill(store, rng)
    s, e = T0 + timedelta(hours=2, minutes=11), T0 + timedelta(days=2, hours=20)
    late = [
        (p, t + timedelta(seconds=0.5))
        for p in PATHS
        for t in tables[p].column("ts").to_pylist()[::4]
        if s < t < e
    ]
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(6):
                _kpis(store, s, e)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    for p, t in late:
        store.write_table("state", [{"machine": p, "ts": t, "state": "unplanned_down"}])
    for r in readers:
        r.join()
    assert not errors
    assert len(late) >= 10
    _check(store, s, e)


def _n_days(store, machine_id: int | None = None) -> int:
    where = "" if machine_id is None else f" WHERE machine_id = {machine_id}"
    return store.query(f"SELECT count(*) AS n FROM kpi_days{where}").column("n")[0].as_py()


def test_daily_level_holds_whole_days_and_goes_with_their_hours(store_factory):
    """`kpi_days`: a row per machine and UTC day whose 24 hours are stored, read instead of
    the hours; windows inside one day (hours after them stored) and across days equal the full
    query; a late write drops the machine's days from its day on; a machine without day rows
    is read from its hours; and a store whose hours predate the daily level gets its days."""
    store = store_factory()
    tables = _fill(store, np.random.default_rng(31))
    s, e = T0 + timedelta(hours=2, minutes=13), T0 + timedelta(days=4, hours=1)
    _check(store, s, e)  # stores the whole hours, and with them the whole days
    days = store.query(
        "SELECT machine_id, day_ts, count(*) AS n FROM kpi_days GROUP BY machine_id, day_ts"
    ).to_pylist()
    assert days and all(r["n"] == 1 for r in days)
    for r in days:  # each day row is the sum of its machine's 24 stored hours
        hours = store.query(
            "SELECT count(*) AS n, sum(apt_us) AS apt, sum(good) AS good FROM kpi_hours "
            "WHERE machine_id = ? AND hour_ts >= ? AND hour_ts < ?",
            [r["machine_id"], r["day_ts"], r["day_ts"] + timedelta(days=1)],
        ).to_pylist()[0]
        row = store.query(
            "SELECT apt_us, good FROM kpi_days WHERE machine_id = ? AND day_ts = ?",
            [r["machine_id"], r["day_ts"]],
        ).to_pylist()[0]
        assert hours["n"] == 24 and (hours["apt"], hours["good"]) == (row["apt_us"], row["good"])

    # windows inside one day, with stored hours after their end, and across whole days
    _check(store, T0 + timedelta(days=1, hours=10, minutes=5), T0 + timedelta(days=1, hours=14), times=1)
    _check(store, T0 + timedelta(days=1), T0 + timedelta(days=3), times=1)
    _check(store, T0 + timedelta(days=1, minutes=1), T0 + timedelta(days=3, hours=23, minutes=59), times=1)

    # a late state change on day 2 of the first machine: its days from day 2 on go, others stay
    mid = store.query("SELECT machine_id FROM machines WHERE path = ?", [PATHS[0]]).column(0)[0].as_py()
    others = _n_days(store) - _n_days(store, mid)
    late_ts = T0 + timedelta(days=2, hours=5, seconds=1.5)
    assert late_ts > tables[PATHS[0]].column("ts")[0].as_py()
    store.write_table(
        "state", [{"machine": PATHS[0], "ts": late_ts, "state": "unplanned_down", "order_id": "O1"}]
    )
    left = store.query("SELECT max(day_ts) AS d FROM kpi_days WHERE machine_id = ?", [mid]).column(0)[0]
    assert left.as_py() is None or left.as_py() < T0 + timedelta(days=2)
    assert _n_days(store) - _n_days(store, mid) == others
    _check(store, s, e)

    # day rows missing while the hours are there (as after an upgrade): read from the hours
    with_days = _kpis(store, s, e)
    _delete_days(store, mid)
    assert _n_days(store, mid) == 0
    pd.testing.assert_frame_equal(_kpis(store, s, e), with_days, rtol=1e-9)
    _check(store, s, e, times=1)


def _delete_days(store, machine_id: int) -> None:
    """Drop a machine's day rows behind the store's back (a store from before the daily level)."""
    mark = "?" if store.dialect == "duckdb" else "%s"
    with store._lock:
        store._con.execute(f"DELETE FROM kpi_days WHERE machine_id = {mark}", [machine_id])


def test_daily_level_backfilled_from_stored_hours(tmp_path):
    """DuckDB: a store file with hours but no kpi_days table (written before the daily level
    existed) gets its day rows from those hours when it is opened."""
    from factory_commons.store import DuckDBStore

    path = tmp_path / "old.duckdb"
    store = DuckDBStore(path)
    _fill(store, np.random.default_rng(37))
    _check(store, T0, T0 + timedelta(days=3))
    n = _n_days(store)
    assert n > 0
    with store._lock:
        store._con.execute("DROP TABLE kpi_days")
    store.close()
    store = DuckDBStore(path)
    try:
        assert _n_days(store) == n
        _check(store, T0, T0 + timedelta(days=3), times=1)
    finally:
        store.close()
