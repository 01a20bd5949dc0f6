"""The PostgreSQL store's monthly time partitions (migration v0009, store/partitions.py): made on
write, a BRIN index on ts, idempotent writes across partitions, retention by dropping whole
partitions, and existing rows kept when an older schema is upgraded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from factory_commons.store.base import RetentionPolicy
from factory_commons.store.migrations import migrations
from factory_commons.store.postgres import PostgresStore


def _rows(start: datetime, days: int) -> list[dict]:
    return [
        {"machine": "acme/s/a/l/m1", "ts": start + timedelta(days=d), "state": "running" if d % 2 else "idle"}
        for d in range(days)
    ]


def _partitions(store: PostgresStore, table: str) -> list[str]:
    return (
        store.query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ? "
            "AND p.relnamespace = ?::regnamespace ORDER BY 1",
            [table, store.schema],
        )
        .column(0)
        .to_pylist()
    )


def test_partitions_made_on_write_and_retention_drops_them(pg_schemas):
    store = pg_schemas.store()
    try:
        start = datetime(2026, 9, 20, tzinfo=UTC)
        rows = _rows(start, 60)  # 2026-09-20 .. 2026-11-18: three months
        assert store.write_table("state", rows).written == 60
        assert store.write_table("state", rows).written == 0  # again: nothing twice
        assert _partitions(store, "states") == ["states_p202609", "states_p202610", "states_p202611"]
        kinds = (
            store.query(
                "SELECT relkind FROM pg_class WHERE relname = 'states' AND relnamespace = ?::regnamespace",
                [store.schema],
            )
            .column(0)
            .to_pylist()
        )
        assert kinds == ["p"]
        brin = (
            store.query(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = ? AND tablename = 'states' AND indexdef LIKE '%brin%'",
                [store.schema],
            )
            .column(0)
            .to_pylist()
        )
        assert brin and "(ts)" in brin[0]
        # keep 20 days before 2026-11-18: September's partition goes whole, October's is trimmed
        report = store.apply_retention(
            RetentionPolicy(raw_signal_days=3650, event_days=20), now=datetime(2026, 11, 18, tzinfo=UTC)
        )
        assert _partitions(store, "states") == ["states_p202610", "states_p202611"]
        assert report.deleted["states"] == 39  # 09-20 .. 10-28
        left = store.query("SELECT min(ts) AS a, count(*) AS n FROM states").to_pylist()[0]
        assert left["n"] == 21 and left["a"] == datetime(2026, 10, 29)
        assert store.write_table("state", rows).written == 39  # the dropped month can be written again
    finally:
        pg_schemas.give_back(store)


def test_upgrade_keeps_rows_of_an_unpartitioned_schema(pg_url):
    schema = "hub_part_upgrade"
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"SET search_path TO {schema}")
        con.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        with con.cursor() as cur:
            for m in migrations():
                if m.version >= 9:
                    continue
                cur.execute(m.sql) if m.sql is not None else m.apply(cur)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", [m.version, m.name]
                )
            cur.execute(
                "INSERT INTO machines (machine_id, path, enterprise, site, area, line, machine) "
                "VALUES (1, 'acme/s/a/l/m1', 'acme', 's', 'a', 'l', 'm1')"
            )
            cur.execute(
                "INSERT INTO states (machine_id, ts, state) VALUES (1, '2026-10-01 08:00', 'running'), "
                "(1, '2026-11-02 08:00', 'idle')"
            )
    store = PostgresStore(pg_url, schema=schema)
    try:
        assert 9 in store.applied
        assert _partitions(store, "states") == ["states_p202610", "states_p202611"]
        got = store.query("SELECT machine, state FROM v_states ORDER BY ts").to_pylist()
        assert got == [
            {"machine": "acme/s/a/l/m1", "state": "running"},
            {"machine": "acme/s/a/l/m1", "state": "idle"},
        ]
        again = [{"machine": "acme/s/a/l/m1", "ts": datetime(2026, 10, 1, 8, tzinfo=UTC), "state": "idle"}]
        assert store.write_table("state", again).written == 0  # the key index came along
    finally:
        store.drop_schema()
