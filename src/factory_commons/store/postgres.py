"""The shared-server store: PostgreSQL (15+) through psycopg 3, behind the same Store interface.

Schema: created and upgraded by the versioned migrations in `store/migrations`, inside one
PostgreSQL schema (default `public`; one per firm or per test if you like), recorded in its
`schema_migrations` table.

Writes: a validated batch is copied into a temporary table (binary COPY for all-numeric
batches such as signals, CSV COPY otherwise) and moved with INSERT ... SELECT ... ON CONFLICT
DO NOTHING onto the unique index of the table's key, all in one transaction: the first write
of a key wins, writing rows again adds nothing, and a failed batch leaves nothing behind
(machines and series it would have created included). Rows of a batch that may repeat a key
are inserted in batch order, so the first row of a key wins, as in DuckDB. Machine and
series ids are numbered 1, 2, ... as in DuckDB, under an advisory lock so that several
processes writing to one database agree. Per-id watermarks are kept for states (the ones read, see
WATERMARKED).

Reads: `query` runs on one of `READERS` reader connections (concurrent server requests do not
queue behind one connection), takes DuckDB-style `?` placeholders and returns an Arrow table; `tables=`
Arrow tables are copied into temporary tables of the same names for the one query. NUMERIC
results (PostgreSQL's type for sums of integers and for `extract(epoch ...)`) come back as
float64; timestamps stay naive UTC.
"""

from __future__ import annotations

import functools
import io
import queue
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from psycopg import sql as psql
from psycopg.types.numeric import FloatLoader

from ..i18n import Catalog
from ..model.hierarchy import Machine, parse_machine_path
from . import partitions, rollup
from .base import RetentionPolicy, RetentionReport, Store, WriteResult
from .latest import UPSERT as LATEST_UPSERT
from .latest import newest_rows
from .migrations import migrations
from .schema import ALL_TABLES, DERIVED_TABLES, EVENT_TABLES, EventTable
from .validate import encode_strings

STORE_TEXTS = Catalog("store")

#: Reader connections per store (see `PostgresStore.query`).
READERS = 4
#: The tables whose per-id watermarks are kept: the ones read (kpi/inputs.py, a machine's
#: newest state change). Every other table's would cost an upserted row per series or machine
#: and batch, about as much as the batch's own rows in a region of sparse events (issue 25).
WATERMARKED = frozenset({"states"})

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_FETCH_ROWS = 100_000
#: ANALYZE kpi_hours once this process has stored this many rollup hours since it last did
ROLLUP_ANALYZE_ROWS = 1_000

#: PostgreSQL type OIDs -> Arrow types of query results (others are inferred from the values).
_ARROW_OF_OID: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    26: pa.int64(),
    700: pa.float32(),
    701: pa.float64(),
    1700: pa.float64(),  # NUMERIC, loaded as float
    18: pa.string(),
    19: pa.string(),
    25: pa.string(),
    1042: pa.string(),
    1043: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


def _sql_type(t: pa.DataType) -> str:
    """The PostgreSQL column type for an Arrow type (temporary tables of `tables=` and batches)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "SMALLINT"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "INTEGER"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE PRECISION"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP" if t.tz is None else "TIMESTAMPTZ"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return 'TEXT COLLATE "C"'
    raise TypeError(f"no PostgreSQL column type for Arrow type {t}")


def split_url(url: str) -> tuple[str, str | None]:
    """(libpq URL, schema) from a URL that may carry `?schema=NAME` (not a libpq parameter)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """DuckDB-style `?` placeholders outside quotes -> psycopg `%s`; every `%` doubled.
    (Cached: a server sends the same statements again and again, and this walk over each
    character cost about 1 ms of a KPI request.)"""
    out, quote = [], None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return "".join(out)


class PostgresStore(Store):
    """A Store in one schema of a PostgreSQL database (see the module docstring)."""

    dialect = "postgresql"
    kpi_rollup = True

    def __init__(self, url: str, schema: str | None = None, connect_timeout: float = 10):
        url, url_schema = split_url(url)
        self.schema = schema or url_schema or "public"
        if not _SCHEMA_NAME.match(self.schema):
            ko, en = STORE_TEXTS.pair("bad_schema_name")
            raise ValueError(f"schema {self.schema!r}: {en} ({ko})")
        self.url = url
        self._timeout = int(connect_timeout)
        self._lock = threading.RLock()
        self._rollup_unanalyzed = 0  # rollup hours stored since this process last analyzed them
        # reads (`query`) run on a few connections of their own, so that concurrent requests of
        # a server do not queue behind one connection; writes keep the one below
        self._readers: queue.SimpleQueue[psycopg.Connection] = queue.SimpleQueue()
        self._reader_slots = threading.BoundedSemaphore(READERS)
        self._all_readers: list[psycopg.Connection] = []
        with self._lock:
            self._con = self._connect()
            self.applied = self._migrate()
            self._reload_ids()

    def _connect(self) -> psycopg.Connection:
        """A connection in UTC with this store's schema on its search_path."""
        con = psycopg.connect(self.url, autocommit=True, connect_timeout=self._timeout)
        con.adapters.register_loader("numeric", FloatLoader)
        con.execute("SET TIME ZONE 'UTC'")
        # KPI queries sort tens of thousands of rows: in memory, not in temp files (4MB default)
        con.execute("SET work_mem = '64MB'")
        con.execute(psql.SQL("SET search_path TO {}").format(psql.Identifier(self.schema)))
        return con

    # -- migrations ------------------------------------------------------------------------
    def _migrate(self) -> list[int]:
        """Apply the migrations not yet recorded, in order, one transaction each; their versions."""
        con, applied = self._con, []
        lock = "SELECT pg_advisory_xact_lock(hashtext(%s))"
        key = f"fc.migrate.{self.schema}"
        with con.transaction():  # IF NOT EXISTS alone races with another process doing the same
            con.execute(lock, [key])
            con.execute(psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(psql.Identifier(self.schema)))
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        for m in migrations():
            with con.transaction(), con.cursor() as cur:
                cur.execute(lock, [key])
                cur.execute("SELECT 1 FROM schema_migrations WHERE version = %s", [m.version])
                if cur.fetchone():
                    continue
                if m.sql is not None:
                    cur.execute(m.sql)
                else:
                    m.apply(cur)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", [m.version, m.name]
                )
                applied.append(m.version)
        return applied

    def migrations_applied(self) -> list[tuple[int, str]]:
        """(version, name) of every migration recorded in this schema."""
        with self._lock:
            return self._con.execute(
                "SELECT version, name FROM schema_migrations ORDER BY version"
            ).fetchall()

    # -- machines and series ---------------------------------------------------------------
    def _reload_ids(self) -> None:
        """Re-read the id caches (after a rolled-back transaction may have left them ahead)."""
        self._machine_ids: dict[str, int] = dict(
            self._con.execute("SELECT path, machine_id FROM machines").fetchall()
        )
        self._series_ids: dict[tuple[int, str], int] = {
            (m, n): s
            for s, m, n in self._con.execute("SELECT series_id, machine_id, name FROM series").fetchall()
        }

    def _lock_ids(self) -> None:
        """Serialise id numbering between processes until the transaction ends."""
        self._con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fc.ids.{self.schema}"])

    def register_machines(self, machines: Iterable[Machine]) -> None:
        ms = list(machines)
        with self._lock:
            try:
                with self._con.transaction():
                    self._register(ms)
            except BaseException:
                self._reload_ids()
                raise

    def _register(self, ms: list[Machine]) -> None:
        con = self._con
        for m in ms:
            parse_machine_path(m.path)
        if any(m.path not in self._machine_ids for m in ms):
            self._lock_ids()
            self._machine_ids.update(con.execute("SELECT path, machine_id FROM machines").fetchall())
        new, updates = [], []
        nxt = max(self._machine_ids.values(), default=0) + 1
        for m in ms:
            mid = self._machine_ids.get(m.path)
            attrs = [m.display_name, m.kind, m.calendar, m.default_ideal_cycle_time_s, m.timezone]
            if mid is None:
                self._machine_ids[m.path] = nxt
                new.append([nxt, m.path, *parse_machine_path(m.path), *attrs])
                nxt += 1
            elif any(a is not None for a in attrs):
                updates.append([*attrs, mid])
        with con.cursor() as cur:
            if new:
                cur.executemany(
                    "INSERT INTO machines VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", new
                )
            if updates:
                cur.executemany(
                    "UPDATE machines SET display_name = coalesce(%s, display_name), "
                    "kind = coalesce(%s, kind), calendar = coalesce(%s, calendar), "
                    "default_ideal_cycle_time_s = coalesce(%s, default_ideal_cycle_time_s), "
                    "timezone = coalesce(%s, timezone) WHERE machine_id = %s",
                    updates,
                )

    def machines(self) -> list[Machine]:
        with self._lock:
            rows = self._con.execute(
                "SELECT path, display_name, kind, calendar, default_ideal_cycle_time_s, timezone "
                "FROM machines ORDER BY path"
            ).fetchall()
        return [
            Machine(path=p, display_name=d, kind=k, calendar=c, default_ideal_cycle_time_s=i, timezone=z)
            for p, d, k, c, i, z in rows
        ]

    def _ids_for_paths(self, paths: list) -> np.ndarray:
        new = [p for p in paths if p is not None and p not in self._machine_ids]
        if new:
            self._register([Machine(path=p) for p in new])
        return np.array([self._machine_ids.get(p, 0) if p else 0 for p in paths], dtype=np.int32)

    def _series_column(self, table: pa.Table) -> np.ndarray:
        """The series id of each row (machine, name), numbering new series as DuckDB does."""
        m_idx, m_vals = encode_strings(table.column("machine"))
        n_idx, n_vals = encode_strings(table.column("name"))
        m_ids = self._ids_for_paths(m_vals)
        width = max(len(n_vals), 1)
        code = m_idx.astype(np.int64) * width + n_idx
        present, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        keys = [(int(m_ids[c // width]), n_vals[c % width]) for c in present.tolist()]
        if any(k not in self._series_ids for k in keys):
            self._lock_ids()
            self._series_ids.update(
                {
                    (m, n): s
                    for s, m, n in self._con.execute(
                        "SELECT series_id, machine_id, name FROM series"
                    ).fetchall()
                }
            )
            nxt = max(self._series_ids.values(), default=0) + 1
            units = table.column("unit") if "unit" in table.column_names else None
            rows = []
            for k, key in enumerate(keys):
                if key not in self._series_ids:
                    self._series_ids[key] = nxt
                    unit = units[int(first[k])].as_py() if units is not None else None
                    rows.append((nxt, key[0], key[1], unit))
                    nxt += 1
            with self._con.cursor() as cur:
                cur.executemany("INSERT INTO series VALUES (%s, %s, %s, %s)", rows)
        sids = np.array([self._series_ids[k] for k in keys], dtype=np.int32)
        return sids[inverse.reshape(-1)]

    # -- writing ---------------------------------------------------------------------------
    def _write_valid(self, kind: str, table: pa.Table) -> WriteResult:
        with self._lock:
            try:
                with self._con.transaction():
                    if kind == "order":
                        written = self._write_orders(table)
                    else:
                        spec = EVENT_TABLES[kind]
                        ids = (
                            self._series_column(table)
                            if spec.id_column == "series_id"
                            else self._machine_column(table.column("machine"))
                        )
                        cols = {spec.id_column: pa.array(ids, type=pa.int32())}
                        for name, _ in spec.stored_columns[1:]:
                            cols[name] = table.column(name)
                        batch = pa.table(cols)
                        newest = self._newest_states(ids) if spec.table == "states" else {}
                        written = self._insert_events(spec, batch, ids)
                        if spec.table == "states":
                            with self._con.cursor() as cur:
                                latest = newest_rows(batch, ids, _ts_micros(batch.column("ts")))
                                self._load_temp(cur, "_latest", latest)
                                cur.execute(LATEST_UPSERT)
                                cur.execute("DROP TABLE _latest")
                        if written and spec.table in ("states", "counts"):
                            self._invalidate_rollup(spec.table, ids, _ts_micros(batch.column("ts")), newest)
            except BaseException:
                self._reload_ids()
                raise
        return WriteResult(kind, table.num_rows, written)

    def _newest_states(self, ids: np.ndarray) -> dict[int, int]:
        """Each machine's newest stored state change (microseconds) before a write."""
        rows = self._con.execute(
            "SELECT machine_id, ts FROM latest_states WHERE machine_id = ANY(%s)", [np.unique(ids).tolist()]
        ).fetchall()
        return {i: rollup.micros(t) for i, t in rows}

    def _invalidate_rollup(self, table: str, ids: np.ndarray, ts: np.ndarray, newest: dict[int, int]) -> None:
        """Raise the versions and drop the KPI hours a state or count batch can change (see
        store/rollup.py); inside the write's transaction."""
        first = rollup.first_per_id(ids, ts)
        dirty = first
        if table == "states":
            late = {m: t for m, t in first.items() if not (m in newest and t > newest[m])}
            previous: dict[int, int] = {}
            if late:
                with self._con.cursor() as cur:
                    self._load_temp(cur, "_first", rollup.id_ts_table(late, "t"))
                    cur.execute(rollup.PREVIOUS_CHANGE)
                    previous = {i: rollup.micros(p) for i, p in cur.fetchall() if p is not None}
                    cur.execute("DROP TABLE _first")
            dirty = rollup.state_dirty_from(first, newest, previous)
        self._dirty_rollup(dirty)

    def _dirty_rollup(self, dirty: dict[int, int] | None) -> None:
        """Invalidate the hours of `dirty` ({machine id: from, microseconds}); None: all.
        Call inside a transaction."""
        with self._con.cursor() as cur:
            if dirty is None:
                for stmt in rollup.INVALIDATE_ALL:
                    cur.execute(stmt)
                return
            self._load_temp(cur, "_dirty", rollup.id_ts_table(dirty, "from_ts"))
            for stmt in rollup.INVALIDATE:
                cur.execute(stmt)
            cur.execute("DROP TABLE _dirty")

    def kpi_rollup_save(self, rows: pa.Table, versions: dict[int, int]) -> int:
        """Store computed KPI hours for the machines whose version is still `versions`' one:
        the version rows are held FOR SHARE, so a write that raises one waits, and one that
        raised it first makes the check fail (store/rollup.py)."""
        if rows.num_rows == 0:
            return 0
        with self._lock, self._con.transaction(), self._con.cursor() as cur:
            self._load_temp(cur, "_exp", rollup.versions_table(versions))
            cur.execute(
                "INSERT INTO kpi_versions (machine_id, ver) SELECT id, 0 FROM _exp ORDER BY id "
                "ON CONFLICT DO NOTHING"
            )
            cur.execute(
                "SELECT machine_id FROM kpi_versions WHERE machine_id IN (SELECT id FROM _exp) "
                "ORDER BY machine_id FOR SHARE"
            )
            self._load_temp(cur, "_kh", rows.select(list(rollup.COLUMNS)))
            cur.execute(rollup.SAVE)
            n = cur.rowcount
            cur.execute(rollup.SAVE_DAYS)
            cur.execute("DROP TABLE _kh")
            cur.execute("DROP TABLE _exp")
        # the rollup grows in bursts (a first week's request stores 8,400 hours at once): fresh
        # planner statistics then, instead of waiting for autovacuum (which may be off), keep
        # the reads of stored hours on the (machine_id, hour_ts) index with a hash aggregate
        with self._lock:
            self._rollup_unanalyzed += max(n, 0)
            if self._rollup_unanalyzed >= ROLLUP_ANALYZE_ROWS:
                self._con.execute("ANALYZE kpi_hours")
                self._con.execute("ANALYZE kpi_days")
                self._rollup_unanalyzed = 0
        return n

    def _insert_events(self, spec: EventTable, batch: pa.Table, ids: np.ndarray) -> int:
        """Insert the rows whose key is not stored yet (first write wins); move the watermarks."""
        t = spec.table
        ts = _ts_micros(batch.column("ts"))
        with self._con.cursor() as cur:
            partitions.ensure(cur, t, ts)  # the monthly partitions of the batch's times
            written = self._insert_rows(cur, spec, batch, ids, ts)
            if (
                t not in WATERMARKED
            ):  # no reader: the key index, not a watermark, keeps writes idempotent here
                return written
            # per-id newest ts of the batch -> watermarks (only ever moved forward)
            size = int(ids.max()) + 1
            hi = np.full(size, _NONE, dtype=np.int64)
            np.maximum.at(hi, ids, ts)
            present = np.flatnonzero(hi != _NONE)
            # the pairs as two array literals of plain integers (microseconds since 1970): a
            # batch of 24,000 machines costs ~10 ms here, not the ~200 ms of dumping Python
            # lists of ints and datetimes element by element
            cur.execute(
                "INSERT INTO watermarks (tbl, id, max_ts) "
                "SELECT %s, i, timestamp '1970-01-01' + u * interval '1 microsecond' "
                "FROM unnest(%s::integer[], %s::bigint[]) AS x(i, u) "
                "ON CONFLICT (tbl, id) DO UPDATE SET max_ts = excluded.max_ts "
                "WHERE excluded.max_ts > watermarks.max_ts",
                [t, _int_array(present), _int_array(hi[present])],
            )
        return written

    def _insert_rows(
        self, cur: psycopg.Cursor, spec: EventTable, batch: pa.Table, ids: np.ndarray, ts: np.ndarray
    ) -> int:
        """INSERT ... SELECT ... ON CONFLICT DO NOTHING from a temporary table: the rows written.
        (The hub's ingest overrides it with a plain COPY where its batch is new, hub/ingest.py.)"""
        t = spec.table
        if not _provably_unique(ids, ts):  # repeated keys inside the batch: the first row wins
            batch = batch.append_column("_row", pa.array(np.arange(batch.num_rows, dtype=np.int64)))
        cols = ", ".join(c for c, _ in spec.stored_columns)
        order = " ORDER BY _row" if "_row" in batch.column_names else ""
        self._load_temp(cur, "_batch", batch)
        cur.execute(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM _batch{order} ON CONFLICT DO NOTHING")
        written = cur.rowcount
        cur.execute("DROP TABLE _batch")
        return written

    def _write_orders(self, table: pa.Table) -> int:
        """Orders are updatable: a row that differs from the stored order replaces it."""
        mids = (
            self._machine_column(table.column("machine"))
            if table.column("machine").null_count < table.num_rows
            else np.zeros(table.num_rows, np.int32)
        )
        batch = (
            table.drop_columns(["machine"])
            .append_column("machine_id", pa.array(np.where(mids == 0, None, mids), type=pa.int32()))
            .append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
        )
        cols = ["order_id", "product", "quantity", "ideal_cycle_time_s", "machine_id", "planned_start", "due"]
        same = " AND ".join(f"o.{c} IS NOT DISTINCT FROM b.{c}" for c in cols)
        update = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        # the first row of an order id wins; an unknown (NULL) quantity or cycle time keeps the
        # stored one, so that an order named in a machine log does not erase them
        merged = (
            "SELECT b.order_id, b.product, coalesce(b.quantity, o.quantity) AS quantity, "
            "coalesce(b.ideal_cycle_time_s, o.ideal_cycle_time_s) AS ideal_cycle_time_s, "
            "b.machine_id, b.planned_start, b.due FROM (SELECT DISTINCT ON (order_id) * FROM _orders "
            "ORDER BY order_id, _row) b LEFT JOIN orders o ON o.order_id = b.order_id"
        )
        with self._con.cursor() as cur:
            self._load_temp(cur, "_orders", batch)
            cur.execute(
                f"INSERT INTO orders ({', '.join(cols)}) "
                f"SELECT {', '.join('b.' + c for c in cols)} FROM ({merged}) b "
                f"WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE {same}) "
                f"ON CONFLICT (order_id) DO UPDATE SET {update}"
            )
            n = cur.rowcount
            cur.execute("DROP TABLE _orders")
        if n:
            self._dirty_rollup(None)
        return n

    def query_write(self, table: str, rows: list[dict]) -> None:
        if table == "collect_events":
            cols = (
                "event_id",
                "logged_at",
                "source",
                "event",
                "machine",
                "start_ts",
                "end_ts",
                "rows",
                "detail",
            )
            stmt = (
                f"INSERT INTO collect_events ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "
                "ON CONFLICT DO NOTHING"
            )
            args = [[_naive(r.get(c)) for c in cols] for r in rows]
        elif table == "calendars":
            stmt = (
                "INSERT INTO calendars (name, definition) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition"
            )
            args = [[r["name"], r["definition"]] for r in rows]
        elif table == "settings":
            stmt = (
                "INSERT INTO settings (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
            args = [[r["key"], r["value"]] for r in rows]
        elif table == "products":
            cols = ("product", "ideal_cycle_time_s", "display_name", "unit")
            stmt = (
                f"INSERT INTO products ({', '.join(cols)}) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (product) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
            )
            args = [[r.get(c) for c in cols] for r in rows]
        else:
            raise ValueError(
                f"query_write supports only calendars, products, settings and collect_events, not {table!r}"
            )
        if not args:
            return
        with self._lock, self._con.transaction(), self._con.cursor() as cur:
            cur.executemany(stmt, args)
            if table == "products":  # performance may be measured against these cycle times
                self._dirty_rollup(None)

    def optimize(self) -> dict[str, int]:
        """ANALYZE every table: after a bulk load the planner needs fresh statistics to probe
        the (machine, ts) indexes for a time range (a server with autovacuum on gathers them by
        itself, later; this machine kind runs with it off). Nothing is rewritten: 0 rows each."""
        with self._lock, self._con.transaction(), self._con.cursor() as cur:
            for table in ALL_TABLES:
                cur.execute(psql.SQL("ANALYZE {}").format(psql.Identifier(table)))
        return dict.fromkeys(ALL_TABLES, 0)

    def set_state_reason(self, machine: str, ts: datetime, reason_code: str | None) -> bool:
        with self._lock, self._con.transaction(), self._con.cursor() as cur:
            cur.execute(
                "UPDATE states SET reason_code = %s WHERE ts = %s "
                "AND machine_id = (SELECT machine_id FROM machines WHERE path = %s)",
                [reason_code, _naive(ts), machine],
            )
            n = cur.rowcount
            cur.execute(
                "UPDATE latest_states SET reason_code = %s WHERE ts = %s "
                "AND machine_id = (SELECT machine_id FROM machines WHERE path = %s)",
                [reason_code, _naive(ts), machine],
            )
            if n > 0:
                cur.execute("SELECT machine_id FROM machines WHERE path = %s", [machine])
                self._dirty_rollup({cur.fetchone()[0]: rollup.micros(_naive(ts))})
            return n > 0

    def delete_inferred(self, machine: str, start: datetime, end: datetime) -> dict[str, int]:
        mid = self._machine_ids.get(machine)
        if mid is None:
            return {"state": 0, "count": 0}
        a, b = _naive(start), _naive(end)
        n = {}
        with self._lock, self._con.transaction(), self._con.cursor() as cur:
            cur.execute("SELECT max(ts) FROM states WHERE machine_id = %s AND ts < %s", [mid, a])
            prev = cur.fetchone()[0]
            for kind, table in (("state", "states"), ("count", "counts")):
                cur.execute(
                    f"DELETE FROM {table} WHERE machine_id = %s AND source = 'inferred' "
                    "AND ts >= %s AND ts < %s",
                    [mid, a, b],
                )
                n[kind] = cur.rowcount
            if n["state"]:
                cur.execute("DELETE FROM latest_states WHERE machine_id = %s", [mid])
                cur.execute(
                    "INSERT INTO latest_states SELECT machine_id, ts, state, reason_code, order_id "
                    "FROM states WHERE machine_id = %s ORDER BY ts DESC LIMIT 1",
                    [mid],
                )
            if n["state"] or n["count"]:  # the state before `a` may now last longer
                self._dirty_rollup({mid: rollup.micros(prev if prev is not None else a)})
        return n

    # -- temporary tables ------------------------------------------------------------------
    def _load_temp(self, cur: psycopg.Cursor, name: str, table: pa.Table) -> None:
        """Create temporary table NAME (dropped at commit) and COPY the Arrow table into it."""
        fields = [(f.name, _sql_type(f.type)) for f in table.schema]
        ident = psql.Identifier(name)
        cols = psql.SQL(", ").join(
            psql.SQL("{} {}").format(psql.Identifier(n), psql.SQL(t)) for n, t in fields
        )
        cur.execute(psql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(ident, cols))
        if table.num_rows == 0:
            return
        binary = _binary_copy(table)
        fmt = "BINARY" if binary is not None else "CSV"
        with cur.copy(psql.SQL("COPY {} FROM STDIN (FORMAT " + fmt + ")").format(ident)) as cp:
            if binary is not None:
                cp.write(binary)
            else:
                for chunk in _csv_chunks(table):
                    cp.write(chunk)

    # -- reading ---------------------------------------------------------------------------
    def query(
        self, sql: str, params: list | None = None, tables: dict[str, pa.Table] | None = None
    ) -> pa.Table:
        """Read-only SQL on one of up to READERS reader connections (concurrent callers each
        get one; more wait). Every write commits before it returns, so a read that follows a
        write sees it."""
        args = [_naive(p) for p in params] if params else None
        text = _placeholders(sql) if args else sql
        con = self._take_reader()
        try:
            if not tables:  # one statement on an autocommit connection: no BEGIN/COMMIT trips
                with con.cursor() as cur:
                    cur.execute(text, args)
                    return (
                        pa.table({})
                        if cur.description is None
                        else _to_arrow(cur.description, cur.fetchall())
                    )
            with con.transaction(), con.cursor() as cur:
                for name, t in tables.items():
                    self._load_temp(cur, name, t)
                    # statistics, so that the planner knows a 6-row mapping from a big table
                    # (without them it assumes ~1000 rows and sorts 68,000 episodes to merge-join)
                    cur.execute(psql.SQL("ANALYZE {}").format(psql.Identifier(name)))
                cur.execute(text, args)
                if cur.description is None:
                    return pa.table({})
                result = _to_arrow(cur.description, cur.fetchall())
                for name in tables:
                    cur.execute(psql.SQL("DROP TABLE {}").format(psql.Identifier(name)))
                return result
        finally:
            self._give_reader(con)

    def _take_reader(self) -> psycopg.Connection:
        self._reader_slots.acquire()
        try:
            while True:
                try:
                    con = self._readers.get_nowait()
                except queue.Empty:
                    con = self._connect()
                    with self._lock:
                        self._all_readers.append(con)
                    return con
                if not con.closed and not con.broken:
                    return con
        except BaseException:
            self._reader_slots.release()
            raise

    def _give_reader(self, con: psycopg.Connection) -> None:
        if not con.closed and not con.broken:
            self._readers.put(con)
        self._reader_slots.release()

    def _batches(self, sql: str) -> Iterator[pa.Table]:
        """A large result in pieces, through a server-side cursor (call inside a transaction)."""
        with self._con.cursor(name="fc_export") as cur:
            cur.execute(sql)
            while True:
                rows = cur.fetchmany(_FETCH_ROWS)
                yield _to_arrow(cur.description, rows)
                if len(rows) < _FETCH_ROWS:
                    return

    # -- maintenance -----------------------------------------------------------------------
    def export_parquet(self, directory: str | Path) -> dict[str, int]:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        counts: dict[str, int] = {}
        with self._lock, self._con.transaction():
            self._con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # one snapshot
            for t in ALL_TABLES:
                if t in DERIVED_TABLES:
                    continue
                target, tmp = out / f"{t}.parquet", out / f".{t}.parquet.tmp"
                writer, n = None, 0
                try:
                    for part in self._batches(f"SELECT * FROM {t}"):
                        if writer is None:
                            writer = pq.ParquetWriter(tmp, part.schema)
                        if part.num_rows:
                            writer.write_table(part)
                            n += part.num_rows
                finally:
                    if writer is not None:
                        writer.close()
                tmp.replace(target)
                counts[t] = n
        return counts

    def _import_aggregates(self, t: pa.Table) -> int:
        if t.num_rows == 0:
            return 0
        with self._lock:
            try:
                with self._con.transaction(), self._con.cursor() as cur:
                    sids = self._series_column(t)
                    batch = pa.table(
                        {
                            "series_id": pa.array(sids, pa.int32()),
                            **{c: t.column(c) for c in ("ts", "n", "min", "max", "mean")},
                        }
                    )
                    self._load_temp(cur, "_agg", batch)
                    cur.execute(
                        "INSERT INTO signals_1m (series_id, ts, n, min, max, mean) "
                        "SELECT series_id, ts, n, min, max, mean FROM _agg ON CONFLICT DO NOTHING"
                    )
                    n = cur.rowcount
                    cur.execute("DROP TABLE _agg")
                    return n
            except BaseException:
                self._reload_ids()
                raise

    def apply_retention(self, policy: RetentionPolicy, now: datetime | None = None) -> RetentionReport:
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        report = RetentionReport()
        cutoff = (now - timedelta(days=policy.raw_signal_days)).replace(second=0, microsecond=0)
        with self._lock, self._con.transaction(), self._con.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE _new ON COMMIT DROP AS SELECT series_id, date_trunc('minute', ts) AS ts, "
                "count(*) AS n, min(value) AS min, max(value) AS max, avg(value) AS mean "
                "FROM signals WHERE ts < %s GROUP BY 1, 2",
                [cutoff],
            )
            cur.execute("SELECT coalesce(sum(n), 0)::bigint FROM _new")
            report.downsampled_rows = cur.fetchone()[0]
            # merge late raw rows into buckets that were aggregated before
            cur.execute(
                "UPDATE signals_1m a SET n = a.n + b.n, min = least(a.min, b.min), "
                "max = greatest(a.max, b.max), mean = (a.mean * a.n + b.mean * b.n) / (a.n + b.n) "
                "FROM _new b WHERE a.series_id = b.series_id AND a.ts = b.ts"
            )
            cur.execute(
                "INSERT INTO signals_1m (series_id, ts, n, min, max, mean) "
                "SELECT series_id, ts, n, min, max, mean FROM _new ON CONFLICT DO NOTHING"
            )
            report.aggregates_written = cur.rowcount
            cur.execute("DROP TABLE _new")
            report.deleted["signals"] = partitions.delete_before(cur, "signals", cutoff)
            if policy.aggregate_days is not None:
                cur.execute(
                    "DELETE FROM signals_1m WHERE ts < %s", [now - timedelta(days=policy.aggregate_days)]
                )
                report.deleted["signals_1m"] = cur.rowcount
            if policy.event_days is not None:
                for spec in EVENT_TABLES.values():
                    if spec.kind != "signal":
                        report.deleted[spec.table] = partitions.delete_before(
                            cur, spec.table, now - timedelta(days=policy.event_days)
                        )
                cur.execute(
                    "DELETE FROM latest_states WHERE ts < %s", [now - timedelta(days=policy.event_days)]
                )
                self._dirty_rollup(None)
        return report

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests, removing a tenant); closes the store."""
        if self.schema == "public":
            raise ValueError("refusing to drop the public schema")
        drop = psql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(psql.Identifier(self.schema))
        with self._lock:
            if self._con.closed:
                with psycopg.connect(self.url, autocommit=True) as con:
                    con.execute(drop)
            else:
                self._con.execute(drop)
        self.close()

    def close(self) -> None:
        with self._lock:
            for con in self._all_readers:
                if not con.closed:
                    con.close()
            self._all_readers.clear()
            if self._con is not None and not self._con.closed:
                self._con.close()


_NONE = np.iinfo(np.int64).min  # "no watermark yet"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 - 1970-01-01 in microseconds


def _naive(value):
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _ts_micros(col: pa.ChunkedArray) -> np.ndarray:
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return arr.to_numpy(zero_copy_only=False).view(np.int64)


def _int_array(values: np.ndarray) -> str:
    """A PostgreSQL array literal of integers: `{1,2,3}`."""
    return "{" + ",".join(map(str, values.tolist())) + "}"


def _provably_unique(ids: np.ndarray, ts: np.ndarray) -> bool:
    """True when (id, ts) pairs are strictly increasing in (ts, id) or (id, ts) order: O(n)."""
    if len(ids) < 2:
        return True
    d_ts = np.diff(ts)
    d_id = np.diff(ids.astype(np.int64, copy=False))
    if bool(np.all((d_ts > 0) | ((d_ts == 0) & (d_id > 0)))):
        return True
    return bool(np.all((d_id > 0) | ((d_id == 0) & (d_ts > 0))))


#: big-endian binary COPY layouts of the fixed-width Arrow types
_BINARY = {
    pa.int32(): (">i4", 4),
    pa.int64(): (">i8", 8),
    pa.float64(): (">f8", 8),
    pa.timestamp("us"): (">i8", 8),
}


def _binary_copy(table: pa.Table) -> bytes | None:
    """The table in PostgreSQL's binary COPY format, built with numpy, when every column is a
    fixed-width type without NULLs (signals: series id, ts, value); else None."""
    if any(f.type not in _BINARY for f in table.schema) or any(c.null_count for c in table.columns):
        return None
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, f in enumerate(table.schema):
        fields += [(f"l{i}", ">i4"), (f"v{i}", _BINARY[f.type][0])]
    rows = np.empty(table.num_rows, dtype=np.dtype(fields))
    rows["n"] = table.num_columns
    for i, (f, col) in enumerate(zip(table.schema, table.columns, strict=True)):
        rows[f"l{i}"] = _BINARY[f.type][1]
        values = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if pa.types.is_timestamp(f.type):
            rows[f"v{i}"] = values.to_numpy(zero_copy_only=False).view(np.int64) - _PG_EPOCH_US
        else:
            rows[f"v{i}"] = values.to_numpy(zero_copy_only=False)
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    return header + rows.tobytes() + b"\xff\xff"


def _csv_chunks(table: pa.Table) -> Iterator[bytes]:
    """The table as CSV for COPY (NULL unquoted and empty, empty strings quoted), in pieces."""
    cols = []
    for c in table.columns:
        if pa.types.is_dictionary(c.type):
            c = c.cast(c.type.value_type)
        if pa.types.is_null(c.type):
            c = c.cast(pa.string())
        cols.append(c)
    plain = pa.table(cols, names=table.column_names)
    for batch in plain.to_batches(max_chunksize=200_000):
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=False))
        yield buf.getvalue()


def _to_arrow(description, rows: list[tuple]) -> pa.Table:
    """Fetched rows -> an Arrow table typed from the result's column types."""
    names = [d.name for d in description]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = []
    for d, values in zip(description, columns, strict=True):
        t = _ARROW_OF_OID.get(d.type_code)
        if t is not None:
            arrays.append(pa.array(values, type=t))
        elif values:
            arrays.append(pa.array(values))
        else:
            arrays.append(pa.array([], pa.null()))
    return pa.Table.from_arrays(arrays, names=names)


__all__ = ["PostgresStore", "split_url"]
