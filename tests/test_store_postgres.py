"""What only the PostgreSQL store has: migrations, schemas, URLs, several writers, and moving
data between DuckDB and PostgreSQL with Parquet. (The behaviour both backends share is tested
on both in test_store.py, test_kpi*.py and test_downtime.py.)"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from test_kpi import at, two_shift_store, worked_example_store

from factory_commons.kpi import KpiConfig, compute_kpis
from factory_commons.kpi.downtime import downtime_pareto
from factory_commons.model import Machine
from factory_commons.store import DuckDBStore, open_store
from factory_commons.store.migrations import migrations
from factory_commons.store.postgres import PostgresStore, split_url
from factory_commons.store.schema import ALL_TABLES, BASE_DDL, EVENT_TABLES, READ_VIEWS, event_ddl

T0 = datetime(2026, 3, 2, 6, 0)
M1 = "한빛정밀/창원공장/가공동/1라인/선반-01"


def _columns(store, tables) -> dict[str, list[tuple[str, str]]]:
    """Column names and a coarse type per table, comparable between the backends."""
    kinds = {
        "integer": "int",
        "bigint": "int",
        "double": "float",
        "double precision": "float",
        "timestamp without time zone": "timestamp",
    }
    out = {}
    for t in tables:
        if isinstance(store, DuckDBStore):
            rows = store.query(f"DESCRIBE {t}").select(["column_name", "column_type"]).to_pylist()
            cols = [(r["column_name"], r["column_type"].lower()) for r in rows]
        else:
            rows = store.query(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [store.schema, t],
            ).to_pylist()
            cols = [(r["column_name"], r["data_type"]) for r in rows]
        out[t] = [(n, kinds.get(ty, "text" if ty in ("varchar", "text") else ty)) for n, ty in cols]
    return out


def test_migrations_give_the_tables_and_views_of_schema_py(pg_schemas):
    pg, duck = pg_schemas.store(), DuckDBStore()
    try:
        names = [*ALL_TABLES, *READ_VIEWS.values()]
        assert _columns(pg, names) == _columns(duck, names)
        assert "CREATE TABLE IF NOT EXISTS machines" in BASE_DDL  # the DuckDB side of the check
        assert all(event_ddl(s) for s in EVENT_TABLES.values())
    finally:
        duck.close()
        pg_schemas.give_back(pg)


def test_migrations_are_applied_once_in_order(pg_url):
    schema = "mig_once"
    first = PostgresStore(pg_url, schema=schema)
    try:
        assert first.applied == [m.version for m in migrations()]
        again = PostgresStore(f"{pg_url}?schema={schema}")
        assert again.applied == []
        assert again.migrations_applied() == [(m.version, m.name) for m in migrations()]
        again.close()
        # two processes opening a new schema at once: each migration still runs once
        results: list = []

        def open_racing():
            s = PostgresStore(pg_url, schema="mig_race")
            results.append(s.applied)
            s.close()

        threads = [threading.Thread(target=open_racing) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # (one racer may apply the first migration and another the next: each exactly once)
        assert sorted(v for r in results for v in r) == [m.version for m in migrations()]
        assert len(results) == 3
    finally:
        first.drop_schema()
        PostgresStore(pg_url, schema="mig_race").drop_schema()


def test_schemas_isolate_tenants(pg_schemas):
    a, b = pg_schemas.store(), pg_schemas.store()
    try:
        a.write_table("state", [{"machine": M1, "ts": T0, "state": "running"}])
        assert a.read("state").num_rows == 1
        assert b.read("state").num_rows == 0 and b.machines() == []
        with pytest.raises(ValueError, match="schema"):
            PostgresStore(pg_schemas.url, schema="Robert'); DROP TABLE machines;--")
    finally:
        pg_schemas.give_back(a)
        pg_schemas.give_back(b)


def test_url_schema_parameter_and_open_store(pg_schemas):
    assert split_url("postgresql://u@h:5432/db?schema=firm_a&sslmode=disable") == (
        "postgresql://u@h:5432/db?sslmode=disable",
        "firm_a",
    )
    s = pg_schemas.store()
    try:
        s.write_table("signal", [{"machine": M1, "name": "진동", "ts": T0, "value": 1.5}])
        with open_store(f"{pg_schemas.url}?schema={s.schema}") as other:
            assert isinstance(other, PostgresStore) and other.dialect == "postgresql"
            assert other.read("signal").to_pylist()[0]["name"] == "진동"
            assert other.machines()[0].path == M1
    finally:
        pg_schemas.give_back(s)


def test_two_writers_number_machines_and_series_alike(pg_schemas):
    """Two connections (think: two server workers) write new machines at once: every machine and
    series gets one id, and both see all rows."""
    a = pg_schemas.store()
    b = PostgresStore(pg_schemas.url, schema=a.schema)
    try:
        errors: list = []

        def write(store, offset):
            try:
                for k in range(10):
                    rows = [
                        {"machine": f"e/s/a/l/m{(k + j + offset) % 7}", "name": "x", "ts": T0, "value": 1.0}
                        for j in range(3)
                    ]
                    store.write_table("signal", rows)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        ts = [threading.Thread(target=write, args=(s, o)) for s, o in ((a, 0), (b, 3))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert errors == []
        ids = a.query("SELECT path, machine_id FROM machines ORDER BY machine_id").to_pylist()
        assert [r["machine_id"] for r in ids] == list(range(1, 8))
        assert a.query("SELECT count(*) AS n FROM series").column("n")[0].as_py() == 7
        assert a.read("signal").num_rows == 7
        # b's caches were behind a's: still no duplicate ids on its next write
        assert b.write_table(
            "signal", [{"machine": "e/s/a/l/new", "name": "x", "ts": T0, "value": 2.0}]
        ).written
        assert sorted(m.path for m in a.machines())[-1] == "e/s/a/l/new"
    finally:
        b.close()
        pg_schemas.give_back(a)


@pytest.mark.parametrize("direction", ["duckdb_to_postgresql", "postgresql_to_duckdb"])
def test_export_import_between_backends_keeps_the_kpis(tmp_path: Path, pg_schemas, direction, monkeypatch):
    import test_kpi

    duck = DuckDBStore()
    pg = pg_schemas.store()
    source, target = (duck, pg) if direction == "duckdb_to_postgresql" else (pg, duck)
    try:
        monkeypatch.setattr(test_kpi, "_new_store", lambda: source)
        two_shift_store()
        worked_example_store()  # the same store again: adds P2 and more rows
        source.write_table(
            "signal",
            [
                {"machine": M1, "name": "온도", "ts": T0 + timedelta(seconds=i), "value": i / 3}
                for i in range(50)
            ],
        )
        exported = source.export_parquet(tmp_path / "x")
        added = target.import_parquet(tmp_path / "x")
        assert added["states"] == exported["states"] and added["signals"] == 50
        cfg = KpiConfig(startup_scrap_reasons=["startup"])
        for groups in (("machine",), ("shift", "day"), ("order",), ()):
            a = compute_kpis(source, at(0), at(0, day=3), group_by=groups, config=cfg)
            b = compute_kpis(target, at(0), at(0, day=3), group_by=groups, config=cfg)
            pd.testing.assert_frame_equal(a, b, rtol=1e-12)
        pd.testing.assert_frame_equal(
            downtime_pareto(source, at(0), at(0, day=3)), downtime_pareto(target, at(0), at(0, day=3))
        )
        assert target.read("signal").equals(source.read("signal"))
        assert [m.path for m in target.machines()] == [m.path for m in source.machines()]
        assert set(target.import_parquet(tmp_path / "x").values()) == {0}
    finally:
        duck.close()
        pg_schemas.give_back(pg)


def test_korean_text_and_machine_names_round_trip(pg_schemas):
    s = pg_schemas.store()
    try:
        s.register_machines([Machine(path=M1, display_name="1호기 선반", kind="선반")])
        s.write_table(
            "alarm",
            [
                {
                    "machine": M1,
                    "ts": T0,
                    "code": "E042",
                    "message": '주축 과부하 "경고", 줄\n바꿈',
                    "active": True,
                }
            ],
        )
        r = s.read("alarm").to_pylist()[0]
        assert r["message"] == '주축 과부하 "경고", 줄\n바꿈' and r["machine"] == M1
        assert s.machines()[0].display_name == "1호기 선반"
        # byte order, as DuckDB sorts, whatever the database's locale
        s.register_machines([Machine(path="a/b/c/d/Z"), Machine(path="a/b/c/d/a")])
        assert [m.path for m in s.machines()] == ["a/b/c/d/Z", "a/b/c/d/a", M1]
    finally:
        pg_schemas.give_back(s)


def test_query_placeholders_and_percent_signs(pg_schemas):
    s = pg_schemas.store()
    try:
        t = s.query("SELECT '?' AS q, ? AS p, 'a%b' AS pct, 5 % 3 AS m", ["x"])
        assert t.to_pylist() == [{"q": "?", "p": "x", "pct": "a%b", "m": 2}]
        assert s.query("SELECT 7 % 4 AS m").column("m").to_pylist() == [3]
    finally:
        pg_schemas.give_back(s)


def test_unreachable_server_names_the_url():
    with pytest.raises(psycopg.OperationalError):
        PostgresStore("postgresql://postgres@127.0.0.1:1/none", connect_timeout=2)
