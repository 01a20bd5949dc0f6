"""Monthly time partitions of the PostgreSQL store's fact tables (native partitioning, BRIN).

Migration v0009 turns `signals`, `states`, `counts`, `alarms`, `quality` and `anomalies` into
tables partitioned by RANGE (ts), one partition per UTC calendar month named
`<table>_pYYYYMM`, each with the table's unique key index (every key holds `ts`, so
INSERT ... ON CONFLICT DO NOTHING stays the idempotent write) and a BRIN index on `ts` (a few
pages per partition instead of a B-tree the size of the data; rows arrive roughly in time order,
so block ranges are tight). There is no default partition: the write path
(`PostgresStore._insert_events`) asks the SQL function `fc_ensure_partitions` for the months
of a batch before it inserts, in the same transaction, under an advisory lock, so that several
ingest processes never race to create one. Retention drops whole partitions older than the
cut-off (`delete_before`): no DELETE of millions of rows, no vacuum debt; the partition the
cut-off falls in is trimmed with DELETE. DuckDB is not affected (it skips row groups by their
zone maps). See docs/hub.md.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import psycopg
from psycopg import sql as psql

#: the fact tables partitioned by month on `ts`
PARTITIONED = ("signals", "states", "counts", "alarms", "quality", "anomalies")

ENSURE_FUNCTION = """
CREATE OR REPLACE FUNCTION fc_ensure_partitions(tbl text, months timestamp[]) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    m timestamp;
    part text;
    made integer := 0;
    locked boolean := false;
BEGIN
    FOREACH m IN ARRAY months LOOP
        part := tbl || '_p' || to_char(m, 'YYYYMM');
        IF to_regclass(format('%I.%I', current_schema(), part)) IS NULL THEN
            IF NOT locked THEN
                PERFORM pg_advisory_xact_lock(hashtext('fc.partitions.' || current_schema()));
                locked := true;
            END IF;
            IF to_regclass(format('%I.%I', current_schema(), part)) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                    current_schema(), part, current_schema(), tbl,
                    date_trunc('month', m), date_trunc('month', m) + interval '1 month');
                made := made + 1;
            END IF;
        END IF;
    END LOOP;
    RETURN made;
END
$fn$;
"""


def months_of(ts_micros: np.ndarray) -> list[datetime]:
    """The distinct UTC months (first instant, naive) of epoch-microsecond timestamps."""
    if len(ts_micros) == 0:
        return []
    months = np.unique(ts_micros.astype("datetime64[us]").astype("datetime64[M]"))
    return [m.astype("datetime64[us]").astype(datetime) for m in months]


def ensure(cur: psycopg.Cursor, table: str, ts_micros: np.ndarray) -> None:
    """Create the monthly partitions the timestamps need (inside the write's transaction)."""
    if table in PARTITIONED:
        cur.execute("SELECT fc_ensure_partitions(%s, %s::timestamp[])", [table, months_of(ts_micros)])


def partitions(cur: psycopg.Cursor, table: str) -> list[tuple[str, datetime, datetime]]:
    """(name, from, to) of each partition of `table` in the current schema, oldest first."""
    cur.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = %s AND p.relnamespace = current_schema()::regnamespace",
        [table],
    )
    out = []
    for name, bound in cur.fetchall():
        # FOR VALUES FROM ('2026-11-01 00:00:00') TO ('2026-12-01 00:00:00')
        lo, hi = (datetime.fromisoformat(x.split("'")[1]) for x in bound.split(" TO "))
        out.append((name, lo, hi))
    return sorted(out, key=lambda p: p[1])


def delete_before(cur: psycopg.Cursor, table: str, cutoff: datetime) -> int:
    """Remove the rows of `table` older than `cutoff`: whole partitions by DROP TABLE, the rest
    by DELETE; the number of rows removed."""
    removed = 0
    if table in PARTITIONED:
        for name, _lo, hi in partitions(cur, table):
            if hi <= cutoff:
                ident = psql.Identifier(name)
                cur.execute(psql.SQL("SELECT count(*) FROM {}").format(ident))
                removed += cur.fetchone()[0]
                cur.execute(psql.SQL("DROP TABLE {}").format(ident))
    cur.execute(psql.SQL("DELETE FROM {} WHERE ts < %s").format(psql.Identifier(table)), [cutoff])
    return removed + cur.rowcount


def convert(cur: psycopg.Cursor, table: str) -> None:
    """Rebuild one unpartitioned fact table as a partitioned one with the same columns, key
    index and rows (migration v0009). The caller recreates the views (they point at the old
    table)."""
    old = f"{table}_unpartitioned"
    cur.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname = %s "
        "AND t.relnamespace = current_schema()::regnamespace AND x.indisunique",
        [table],
    )
    keys = cur.fetchall()
    t, o = psql.Identifier(table), psql.Identifier(old)
    cur.execute(psql.SQL("ALTER TABLE {} RENAME TO {}").format(t, o))
    for name, _ in keys:
        cur.execute(
            psql.SQL("ALTER INDEX {} RENAME TO {}").format(
                psql.Identifier(name), psql.Identifier(name + "_old")
            )
        )
    cur.execute(psql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS) PARTITION BY RANGE (ts)").format(t, o))
    for _name, definition in keys:
        # "CREATE UNIQUE INDEX states_key ON s.states USING btree (...)": the same on the new table
        head, _, rest = definition.partition(" ON ")
        columns = rest[rest.index(" USING ") :]
        cur.execute(f"{head} ON {psql.Identifier(table).as_string(cur)}{columns}")
    cur.execute(
        psql.SQL("CREATE INDEX {} ON {} USING brin (ts)").format(psql.Identifier(f"{table}_ts_brin"), t)
    )
    cur.execute(psql.SQL("SELECT DISTINCT date_trunc('month', ts) FROM {} WHERE ts IS NOT NULL").format(o))
    months = [r[0] for r in cur.fetchall()]
    if months:
        cur.execute("SELECT fc_ensure_partitions(%s, %s::timestamp[])", [table, months])
    cur.execute(psql.SQL("INSERT INTO {} SELECT * FROM {} WHERE ts IS NOT NULL").format(t, o))
    cur.execute(psql.SQL("DROP TABLE {}").format(o))
