"""`latest_states` (each machine's newest state change, kept by the write path) always equals
what a search of `states` finds, on DuckDB and PostgreSQL: after out-of-order and late batches,
replays, repeated keys inside a batch, stop-reason edits and retention; it is filled for a
store written before the table existed; and the overview reads it."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from factory_commons.server.reads import overview_rows
from factory_commons.store import DuckDBStore, RetentionPolicy

T0 = datetime(2025, 6, 1)
PATHS = ["f/s/a/l/m1", "f/s/a/l/m2", "f/s/a/l/m3"]
SEARCH = (
    "SELECT DISTINCT ON (machine_id) machine_id, ts, state, reason_code, order_id "
    "FROM states ORDER BY machine_id, ts DESC"
)


def _rows(store, sql: str) -> list[tuple]:
    t = store.query(sql)
    return sorted(zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True), key=repr)


def _check(store) -> None:
    kept = _rows(store, "SELECT machine_id, ts, state, reason_code, order_id FROM latest_states")
    assert kept == _rows(store, SEARCH)


def _batch(rng: np.random.Generator, n: int, start_s: int, span_s: int) -> pa.Table:
    ts = np.datetime64(T0, "us") + rng.integers(start_s, start_s + span_s, n).astype("timedelta64[s]")
    return pa.table(
        {
            "machine": rng.choice(PATHS, n).tolist(),
            "ts": pa.array(ts, pa.timestamp("us")),
            "state": rng.choice(["running", "idle", "unplanned_down"], n).tolist(),
            "reason_code": rng.choice(["a", "b", "c"], n).tolist(),
            "order_id": [f"O{i}" for i in rng.integers(0, 5, n)],
        }
    )


def test_latest_states_follow_every_kind_of_write(store_factory):
    rng = np.random.default_rng(11)
    store = store_factory()
    written = []
    for k in range(12):
        # new data, late data reaching back, batches with repeated keys (few distinct seconds)
        start = [k * 3600, max(0, (k - 3) * 3600), k * 3600][k % 3]
        span = 30 if k % 3 == 2 else 7200
        b = _batch(rng, int(rng.integers(1, 40)), start, span)
        store.write_table("state", b)
        written.append(b)
        _check(store)
    for b in written[::3]:  # replays add nothing and change nothing
        before = _rows(store, "SELECT * FROM latest_states")
        assert store.write_table("state", b).written == 0
        assert _rows(store, "SELECT * FROM latest_states") == before
    assert len(_rows(store, "SELECT * FROM latest_states")) == len(PATHS)


def test_first_row_of_a_repeated_newest_key_wins(store_factory):
    store = store_factory()
    t = T0 + timedelta(hours=1)
    store.write_table(
        "state",
        [
            {"machine": PATHS[0], "ts": T0, "state": "running"},
            {"machine": PATHS[0], "ts": t, "state": "idle", "reason_code": "first"},
            {"machine": PATHS[0], "ts": t, "state": "setup", "reason_code": "second"},
        ],
    )
    _check(store)
    assert _rows(store, "SELECT state, reason_code FROM latest_states") == [("idle", "first")]
    # a later batch at the same ts (a replay of the key) changes nothing; a newer one replaces it
    store.write_table("state", [{"machine": PATHS[0], "ts": t, "state": "running"}])
    assert _rows(store, "SELECT state FROM latest_states") == [("idle",)]
    store.write_table("state", [{"machine": PATHS[0], "ts": t + timedelta(seconds=1), "state": "running"}])
    assert _rows(store, "SELECT state FROM latest_states") == [("running",)]
    _check(store)


def test_stop_reason_edit_and_retention(store_factory):
    store = store_factory()
    rows = [{"machine": PATHS[0], "ts": T0 + timedelta(days=d), "state": "unplanned_down"} for d in range(5)]
    rows.append({"machine": PATHS[1], "ts": T0, "state": "idle"})
    store.write_table("state", rows)
    assert store.set_state_reason(PATHS[0], T0 + timedelta(days=4), "jam")
    assert store.set_state_reason(PATHS[0], T0 + timedelta(days=1), "old")  # not the newest
    _check(store)
    assert ("jam",) in _rows(store, "SELECT reason_code FROM latest_states")
    store.apply_retention(RetentionPolicy(event_days=2), now=T0 + timedelta(days=4))
    _check(store)  # m2's only state is gone, so is its copy; m1 keeps its newest
    assert _rows(store, "SELECT machine_id FROM latest_states") == [(1,)]


def test_overview_reads_the_newest_state(store_factory):
    store = store_factory()
    rng = np.random.default_rng(5)
    store.write_table("state", _batch(rng, 60, 0, 86400))
    store.write_table("alarm", [{"machine": PATHS[1], "ts": T0, "code": "E1", "active": True}])
    rows = overview_rows(store, [*PATHS, "f/s/a/l/none"])
    latest = store.read("state")
    for p in PATHS:
        mine = [r for r in latest.to_pylist() if r["machine"] == p]
        newest = max(mine, key=lambda r: r["ts"])
        assert (rows[p]["state"], rows[p]["since"], rows[p]["reason_code"]) == (
            newest["state"],
            newest["ts"],
            newest["reason_code"],
        )
    assert rows[PATHS[1]]["active_alarms"] == 1
    assert rows["f/s/a/l/none"]["state"] is None


def test_duckdb_file_from_before_the_table_is_filled(tmp_path):
    path = tmp_path / "old.duckdb"
    with DuckDBStore(path) as store:
        store.write_table("state", _batch(np.random.default_rng(2), 50, 0, 86400))
        store.query("SELECT 1")  # the connection is ours: drop the table as an old file lacks it
        store._con.execute("DROP TABLE latest_states")
    with DuckDBStore(path) as store:
        _check(store)
        assert len(_rows(store, "SELECT * FROM latest_states")) == len(PATHS)


def test_postgresql_migration_fills_the_table(pg_schemas):
    import psycopg

    store = pg_schemas.store()
    try:
        store.write_table("state", _batch(np.random.default_rng(4), 50, 0, 86400))
        with psycopg.connect(store.url, autocommit=True) as con:  # as before migration 2
            con.execute(f'DROP TABLE "{store.schema}".latest_states')
            con.execute(f'DELETE FROM "{store.schema}".schema_migrations WHERE version = 2')
        store.close()
        from factory_commons.store.postgres import PostgresStore

        again = PostgresStore(store.url, schema=store.schema)
        assert 2 in again.applied
        _check(again)
        assert len(_rows(again, "SELECT * FROM latest_states")) == len(PATHS)
        again.close()
    finally:
        pg_schemas.give_back(store)


def test_export_leaves_the_derived_table_out(tmp_path):
    with DuckDBStore() as store:
        store.write_table("state", _batch(np.random.default_rng(9), 20, 0, 3600))
        store.export_parquet(tmp_path)
        with DuckDBStore() as other:
            other.import_parquet(tmp_path)
            _check(other)
            assert len(_rows(other, "SELECT * FROM latest_states")) == len(PATHS)
    assert not (tmp_path / "latest_states.parquet").exists()
