"""`Store.optimize`, the upkeep after a bulk load, on DuckDB and PostgreSQL: nothing stored
changes (rows, KPIs, the hourly rollup, idempotent writes afterwards), DuckDB's event tables
end up in time order, PostgreSQL's tables get planner statistics, and the CLI command and
import-parquet run it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from test_kpi_rollup import CONFIG, PATHS, T0, _check, _fill, _kpis
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.store import DuckDBStore

TABLES = {
    "states": "machine_id, ts",
    "counts": "machine_id, ts, order_id",
    "kpi_hours": "machine_id, hour_ts",
}


def _contents(store) -> dict[str, pd.DataFrame]:
    return {
        t: store.query(f"SELECT * FROM {t} ORDER BY {key}").to_pandas().reset_index(drop=True)
        for t, key in TABLES.items()
    }


def test_optimize_changes_nothing_stored(store_factory):
    store = store_factory()
    _fill(store, np.random.default_rng(3))  # a year per machine at a time: as a backfill writes
    s, e = T0 + timedelta(hours=4, minutes=10), T0 + timedelta(days=3, hours=2)
    ref = _check(store, s, e)  # also fills the rollup
    before = _contents(store)
    assert len(before["kpi_hours"]) > 0

    done = store.optimize()

    assert {"states", "counts"} <= set(done)
    after = _contents(store)
    for t in TABLES:
        pd.testing.assert_frame_equal(after[t], before[t], check_dtype=False)
    pd.testing.assert_frame_equal(_kpis(store, s, e), ref, rtol=1e-9)
    # writes afterwards: a replay adds nothing, a late state change still moves the numbers right
    first = store.query("SELECT * FROM v_states ORDER BY machine, ts LIMIT 3").to_pylist()
    rows = [{k: r[k] for k in ("machine", "ts", "state", "reason_code", "order_id")} for r in first]
    assert store.write_table("state", rows).written == 0
    late = T0 + timedelta(days=1, hours=5, seconds=1.5)
    assert (
        store.write_table("state", [{"machine": PATHS[0], "ts": late, "state": "unplanned_down"}]).written
        == 1
    )
    _check(store, s, e)


def test_duckdb_optimize_puts_event_rows_in_time_order():
    store = DuckDBStore(":memory:")
    try:
        _fill(store, np.random.default_rng(8))
        _kpis(store, T0, T0 + timedelta(days=2), config=CONFIG)

        def in_order(table: str, ts: str) -> bool:
            t = store.query(f"SELECT {ts} AS ts FROM {table} ORDER BY rowid").column("ts").to_numpy()
            return bool(np.all(t[1:] >= t[:-1]))

        assert not in_order("states", "ts")  # the fill writes machine after machine
        done = store.optimize()
        assert done["states"] == store.query("SELECT count(*) AS n FROM states").column("n")[0].as_py()
        for table, ts in (("states", "ts"), ("counts", "ts"), ("alarms", "ts")):
            assert in_order(table, ts), table
    finally:
        store.close()


def test_postgres_optimize_gathers_planner_statistics(store_factory, backend):
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    store = store_factory()
    _fill(store, np.random.default_rng(4))

    n = store.query("SELECT count(*) AS n FROM states").column("n")[0].as_py()

    def estimated() -> float:  # the planner's row count of `states`, which ANALYZE sets
        return (
            store.query("SELECT reltuples AS r FROM pg_class WHERE oid = 'states'::regclass")
            .column("r")[0]
            .as_py()
        )

    before = estimated()
    done = store.optimize()
    assert set(done.values()) == {0}  # statistics only: nothing rewritten
    assert before != n and estimated() == n


def test_postgres_rollup_analyzes_its_hours_after_a_burst(store_factory, backend, monkeypatch):
    """PostgreSQL: once a process has stored ROLLUP_ANALYZE_ROWS rollup hours, kpi_hours gets
    planner statistics (the hours arrive in bursts; autovacuum may be off)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    from factory_commons.store import postgres

    monkeypatch.setattr(postgres, "ROLLUP_ANALYZE_ROWS", 50)
    store = store_factory()
    _fill(store, np.random.default_rng(6))

    def estimated() -> float:
        q = "SELECT reltuples AS r FROM pg_class WHERE oid = 'kpi_hours'::regclass"
        return store.query(q).column("r")[0].as_py()

    assert estimated() <= 0  # never analyzed: the planner does not know its size
    _kpis(store, T0, T0 + timedelta(days=2))  # stores the whole hours of two days
    n = store.query("SELECT count(*) AS n FROM kpi_hours").column("n")[0].as_py()
    assert n >= 50 and estimated() == n


def test_cli_optimize_and_import_parquet_run_it(tmp_path, monkeypatch):
    path = tmp_path / "plant.duckdb"
    with DuckDBStore(path) as store:
        _fill(store, np.random.default_rng(6))
        store.export_parquet(tmp_path / "export")
    runner = CliRunner()
    result = runner.invoke(app, ["optimize", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert "states:" in result.output and "optimized in" in result.output

    calls: list[int] = []
    real = DuckDBStore.optimize

    def counting(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(DuckDBStore, "optimize", counting)
    copy = tmp_path / "copy.duckdb"
    result = runner.invoke(app, ["import-parquet", str(tmp_path / "export"), "--store", str(copy)])
    assert result.exit_code == 0, result.output
    assert calls == [1]
    result = runner.invoke(app, ["import-parquet", str(tmp_path / "export"), "--store", str(copy)])
    assert result.exit_code == 0, result.output
    assert calls == [1]  # nothing new the second time: no rewrite
