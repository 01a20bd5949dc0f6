"""The embedded default store: one DuckDB file, idempotent batch writes, Parquet in and out.

Idempotency without a per-row key check: each fact table keeps a watermark (latest ts) per
machine or series. A batch whose rows are all newer than the watermarks of their machines,
and that holds no duplicate keys (checked in O(n) when it is sorted by id/ts or ts/id), is
appended as is. In a batch without repeated keys that reaches back (a replay, an overlap, a
late machine), the rows newer than their watermark are appended and only the others are
anti-joined against the stored rows in their time range. A batch that may repeat keys is
de-duplicated first (the first row of a key wins) and anti-joined as a whole. All paths give
the same result: the first write of a key wins, and writing rows again adds nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ..model.hierarchy import LEVELS, Machine, parse_machine_path
from . import rollup
from .base import RetentionPolicy, RetentionReport, Store, WriteResult
from .latest import UPSERT as LATEST_UPSERT
from .latest import newest_rows
from .schema import (
    ALL_TABLES,
    BASE_DDL,
    DERIVED_TABLES,
    DUCKDB_UPGRADES,
    EVENT_TABLES,
    LATEST_STATES_BACKFILL,
    LATEST_STATES_DDL,
    VIEWS_DDL,
    EventTable,
    event_ddl,
)
from .validate import encode_strings

# `query` fetches a DB-API result as Arrow (see there); DuckDB warns that this copies the rows
# once more, which for a request's small results costs far less than the relation it avoids
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)


class StoreLockedError(RuntimeError):
    """Another process owns the DuckDB file."""


log = logging.getLogger(__name__)


def default_burst_mb(cap_mb: float) -> int:
    """Memory a query may take for a while when the cap is too small for it: a quarter of the
    machine's memory, at least 512 MB and at least twice the cap."""
    try:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small box
        total_mb = 4096
    return int(max(512, 2 * cap_mb, total_mb / 4))


class DuckDBStore(Store):
    dialect = "duckdb"
    kpi_rollup = True

    def __init__(self, path: str | Path = ":memory:", threads: int | None = None):
        self.path = str(path)
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise StoreLockedError(
                    f"store {self.path} is open in another process ({e}); "
                    "open it with factory_commons.store.open_store to go through that process"
                ) from None
            raise
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        self._lock = threading.RLock()
        self._cap_mb: float | None = None  # set_memory_cap
        self._burst_mb = 0
        self._bursting = 0  # queries running above the cap
        self._cap_pending = False  # the cap could not be set again yet (memory still in use)
        self._burst_lock = threading.Lock()
        with self._lock:
            self._con.execute(BASE_DDL)
            for stmt in DUCKDB_UPGRADES:  # a file written by an older version
                self._con.execute(stmt)
            for spec in EVENT_TABLES.values():
                self._con.execute(event_ddl(spec))
            self._con.execute(VIEWS_DDL)
            fresh = not self._con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = current_schema() "
                "AND table_name = 'latest_states'"
            ).fetchone()[0]
            if fresh:  # a new store, or one written before the table existed: fill it
                self._con.execute(LATEST_STATES_DDL)
                self._con.execute(LATEST_STATES_BACKFILL)
            self._con.execute(rollup.ddl("duckdb"))
            no_days = not self._con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = current_schema() "
                "AND table_name = 'kpi_days'"
            ).fetchone()[0]
            if no_days:  # a new store, or one with hours stored before the daily level existed
                self._con.execute(rollup.days_ddl("duckdb"))
                self._con.execute(rollup.BACKFILL_DAYS)
        self._machine_ids: dict[str, int] = dict(
            self._con.execute("SELECT path, machine_id FROM machines").fetchall()
        )
        self._series_ids: dict[tuple[int, str], int] = {
            (m, n): s
            for s, m, n in self._con.execute("SELECT series_id, machine_id, name FROM series").fetchall()
        }

    # -- machines --------------------------------------------------------------------------
    def register_machines(self, machines) -> None:
        with self._lock:
            for m in machines:
                levels = parse_machine_path(m.path)
                mid = self._machine_ids.get(m.path)
                if mid is None:
                    mid = len(self._machine_ids) + 1
                    self._con.execute(
                        "INSERT INTO machines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            mid,
                            m.path,
                            *levels,
                            m.display_name,
                            m.kind,
                            m.calendar,
                            m.default_ideal_cycle_time_s,
                            m.timezone,
                        ],
                    )
                    self._machine_ids[m.path] = mid
                else:
                    self._con.execute(
                        "UPDATE machines SET display_name = coalesce(?, display_name), "
                        "kind = coalesce(?, kind), calendar = coalesce(?, calendar), "
                        "default_ideal_cycle_time_s = coalesce(?, default_ideal_cycle_time_s), "
                        "timezone = coalesce(?, timezone) WHERE machine_id = ?",
                        [m.display_name, m.kind, m.calendar, m.default_ideal_cycle_time_s, m.timezone, mid],
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

    def _ids_for_paths(self, paths: list[str]) -> np.ndarray:
        new = [p for p in paths if p is not None and p not in self._machine_ids]
        if new:
            self.register_machines(Machine(path=p) for p in new)
        return np.array([self._machine_ids.get(p, 0) if p else 0 for p in paths], dtype=np.int32)

    def _series_column(self, table: pa.Table) -> np.ndarray:
        m_idx, m_vals = encode_strings(table.column("machine"))
        n_idx, n_vals = encode_strings(table.column("name"))
        m_ids = self._ids_for_paths(m_vals)
        width = max(len(n_vals), 1)
        code = m_idx.astype(np.int64) * width + n_idx
        size = len(m_vals) * width
        dense = size <= 4 * len(code) + 1024
        present = np.flatnonzero(np.bincount(code, minlength=size)) if dense else np.unique(code)
        sids = np.zeros(len(present), dtype=np.int32)
        new: list[tuple[int, int, tuple[int, str]]] = []
        for k, c in enumerate(present.tolist()):
            key = (int(m_ids[c // width]), n_vals[c % width])
            sid = self._series_ids.get(key)
            if sid is None:
                new.append((k, c, key))
            else:
                sids[k] = sid
        if new:
            codes, first = np.unique(code, return_index=True)
            first_row = dict(zip(codes.tolist(), first.tolist(), strict=True))
            units = table.column("unit")
            rows = []
            for k, c, key in new:
                sid = len(self._series_ids) + 1
                self._series_ids[key] = sid
                sids[k] = sid
                rows.append((sid, key[0], key[1], units[first_row[c]].as_py()))
            self._con.executemany("INSERT INTO series VALUES (?, ?, ?, ?)", rows)
        if dense:
            lut = np.zeros(size, dtype=np.int32)
            lut[present] = sids
            return lut[code]
        return sids[np.searchsorted(present, code)]

    def _reload_ids(self) -> None:
        """Re-read the id caches after a rolled-back transaction may have left them ahead."""
        self._machine_ids = dict(self._con.execute("SELECT path, machine_id FROM machines").fetchall())
        self._series_ids = {
            (m, n): s
            for s, m, n in self._con.execute("SELECT series_id, machine_id, name FROM series").fetchall()
        }

    # -- writing ---------------------------------------------------------------------------
    def _write_valid(self, kind: str, table: pa.Table) -> WriteResult:
        return self._with_burst(self._write_in_transaction, kind, table)

    def _write_in_transaction(self, kind: str, table: pa.Table) -> WriteResult:
        with self._lock:
            if kind == "order":
                return self._write_orders(table)
            spec = EVENT_TABLES[kind]
            self._con.begin()
            try:
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
                    self._con.register("_latest", newest_rows(batch, ids, _ts_micros(batch.column("ts"))))
                    try:
                        self._con.execute(LATEST_UPSERT)
                    finally:
                        self._con.unregister("_latest")
                if written and spec.table in ("states", "counts"):
                    self._invalidate_rollup(spec.table, ids, _ts_micros(batch.column("ts")), newest)
                self._con.commit()
            except BaseException:
                self._con.rollback()
                self._reload_ids()
                raise
        return WriteResult(kind, table.num_rows, written)

    def _newest_states(self, ids: np.ndarray) -> dict[int, int]:
        """Each machine's newest stored state change (microseconds) before a write."""
        uniq = np.unique(ids).tolist()
        rows = self._con.execute(
            "SELECT machine_id, epoch_us(ts) FROM latest_states WHERE machine_id IN "
            "(SELECT unnest(?::INTEGER[]))",
            [uniq],
        ).fetchall()
        return dict(rows)

    def _invalidate_rollup(self, table: str, ids: np.ndarray, ts: np.ndarray, newest: dict[int, int]) -> None:
        """Raise the versions and drop the KPI hours a state or count batch can change (see
        store/rollup.py); inside the write's transaction."""
        first = rollup.first_per_id(ids, ts)
        dirty = first
        if table == "states":
            late = {m: t for m, t in first.items() if not (m in newest and t > newest[m])}
            previous: dict[int, int] = {}
            if late:
                self._con.register("_first", rollup.id_ts_table(late, "t"))
                try:
                    got = self._con.execute(
                        f"SELECT id, epoch_us(prev) FROM ({rollup.PREVIOUS_CHANGE}) p"
                    ).fetchall()
                finally:
                    self._con.unregister("_first")
                previous = {i: p for i, p in got if p is not None}
            dirty = rollup.state_dirty_from(first, newest, previous)
        self._dirty_rollup(dirty)

    def _dirty_rollup(self, dirty: dict[int, int] | None) -> None:
        """Invalidate the hours of `dirty` ({machine id: from, microseconds}); None: all."""
        if dirty is None:
            for stmt in rollup.INVALIDATE_ALL:
                self._con.execute(stmt)
            return
        self._con.register("_dirty", rollup.id_ts_table(dirty, "from_ts"))
        try:
            for stmt in rollup.INVALIDATE:
                self._con.execute(stmt)
        finally:
            self._con.unregister("_dirty")

    def kpi_rollup_save(self, rows: pa.Table, versions: dict[int, int]) -> int:
        """Store computed KPI hours for the machines whose version is still `versions`' one."""
        if rows.num_rows == 0:
            return 0
        return self._with_burst(self._kpi_rollup_save, rows, versions)

    def _kpi_rollup_save(self, rows: pa.Table, versions: dict[int, int]) -> int:
        with self._lock:
            con = self._con
            con.begin()
            try:
                con.register("_kh", rows.select(list(rollup.COLUMNS)))
                con.register("_exp", rollup.versions_table(versions))
                n = con.execute(rollup.SAVE).fetchone()[0]
                con.execute(rollup.SAVE_DAYS)
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.unregister("_kh")
                con.unregister("_exp")
        return int(n)

    def _insert_events(self, spec: EventTable, batch: pa.Table, ids: np.ndarray) -> int:
        """Append the rows whose key is not stored yet; keep the per-id watermarks.

        Fast path (a collector sending new data): every row is newer than the watermark of its
        id and the batch is sorted by (ts, id) or (id, ts) without repeats, so it is appended
        as is. Otherwise the rows at or below their watermark are anti-joined against the
        stored rows in their time range, and repeated keys inside the batch keep the first row.
        """
        con, t = self._con, spec.table
        n = batch.num_rows
        ts = _ts_micros(batch.column("ts"))
        unique = _provably_unique(ids, ts)
        # per-id newest ts of the batch, and the stored watermarks of the same ids
        size = int(ids.max()) + 1
        hi = np.full(size, _NONE, dtype=np.int64)
        np.maximum.at(hi, ids, ts)
        wm = np.full(size, _NONE, dtype=np.int64)
        got = con.execute(
            "SELECT id, epoch_us(max_ts) AS us FROM watermarks WHERE tbl = ? AND id < ?", [t, size]
        ).fetchnumpy()
        if len(got["id"]):
            wm[np.asarray(got["id"], dtype=np.int64)] = np.asarray(got["us"], dtype=np.int64)
        old = ts <= wm[ids]  # rows that may already be stored
        try:
            if unique and not old.any():
                con.from_arrow(batch).insert_into(t)  # columns are in table order
                written = n
            else:
                key = ", ".join(spec.key)
                match = " AND ".join(f"x.{k} IS NOT DISTINCT FROM b.{k}" for k in spec.key)
                written = 0
                if unique:
                    fresh = batch.filter(pa.array(~old))
                    if fresh.num_rows:
                        con.from_arrow(fresh).insert_into(t)
                        written += fresh.num_rows
                    check, src = batch.filter(pa.array(old)), "_batch"
                    lo, top = int(ts[old].min()), int(ts[old].max())
                else:
                    check = batch.append_column("_row", pa.array(np.arange(n, dtype=np.int64)))
                    src = f"(SELECT DISTINCT ON ({key}) * FROM _batch ORDER BY {key}, _row)"
                    lo, top = int(ts.min()), int(ts.max())
                con.register("_batch", check)
                written += con.execute(
                    f"INSERT INTO {t} SELECT {', '.join('b.' + c for c, _ in spec.stored_columns)} "
                    f"FROM {src} b WHERE NOT EXISTS (SELECT 1 FROM {t} x WHERE {match} "
                    f"AND x.ts BETWEEN make_timestamp(?) AND make_timestamp(?))",
                    [lo, top],
                ).fetchone()[0]
            moved = np.flatnonzero(hi > wm)
            if len(moved):
                known = wm[moved] != _NONE
                marks = "(SELECT unnest(?::INTEGER[]) AS id, make_timestamp(unnest(?::BIGINT[])) AS max_ts)"
                if known.any():  # an UPDATE costs less than an upsert, and is the usual case
                    con.execute(
                        f"UPDATE watermarks w SET max_ts = greatest(w.max_ts, m.max_ts) FROM {marks} m "
                        "WHERE w.tbl = ? AND w.id = m.id",
                        [moved[known].tolist(), hi[moved[known]].tolist(), t],
                    )
                if not known.all():
                    con.execute(
                        f"INSERT INTO watermarks SELECT ?, id, max_ts FROM {marks} ON CONFLICT (tbl, id) "
                        "DO UPDATE SET max_ts = greatest(watermarks.max_ts, excluded.max_ts)",
                        [t, moved[~known].tolist(), hi[moved[~known]].tolist()],
                    )
        finally:
            with contextlib.suppress(Exception):
                con.unregister("_batch")
        return int(written)

    def _write_orders(self, table: pa.Table) -> WriteResult:
        mids = (
            self._machine_column(table.column("machine"))
            if table.column("machine").null_count < table.num_rows
            else np.zeros(table.num_rows, np.int32)
        )
        batch = table.drop_columns(["machine"]).append_column(
            "machine_id", pa.array(np.where(mids == 0, None, mids), type=pa.int32())
        )
        con = self._con
        con.begin()
        try:
            con.register("_orders", batch.append_column("_row", pa.array(np.arange(batch.num_rows))))
            cols = "order_id, product, quantity, ideal_cycle_time_s, machine_id, planned_start, due"
            # the first row of an order id wins; an unknown (NULL) quantity or cycle time keeps
            # the stored one, so that an order named in a machine log does not erase them
            merged = (
                "SELECT b.order_id, b.product, coalesce(b.quantity, o.quantity) AS quantity, "
                "coalesce(b.ideal_cycle_time_s, o.ideal_cycle_time_s) AS ideal_cycle_time_s, "
                "b.machine_id, b.planned_start, b.due FROM (SELECT DISTINCT ON (order_id) * FROM _orders "
                "ORDER BY order_id, _row) b LEFT JOIN orders o ON o.order_id = b.order_id"
            )
            con.execute(
                f"CREATE TEMP TABLE _changed AS SELECT {cols} FROM ({merged}) b "
                f"WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE "
                + " AND ".join(f"o.{c} IS NOT DISTINCT FROM b.{c}" for c in cols.split(", "))
                + ")"
            )
            n = con.execute("SELECT count(*) FROM _changed").fetchone()[0]
            con.execute(f"INSERT OR REPLACE INTO orders SELECT {cols} FROM _changed")
            if n:
                self._dirty_rollup(None)
            con.execute("DROP TABLE _changed")
            con.unregister("_orders")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return WriteResult("order", table.num_rows, int(n))

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
            with self._lock:
                for r in rows:
                    self._con.execute(
                        f"INSERT OR IGNORE INTO collect_events VALUES ({', '.join('?' * len(cols))})",
                        [r.get(c) for c in cols],
                    )
            return
        if table == "products":
            cols = ("product", "ideal_cycle_time_s", "display_name", "unit")
            with self._lock:
                self._con.begin()
                try:
                    for r in rows:
                        self._con.execute(
                            "INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?)", [r.get(c) for c in cols]
                        )
                    if rows:  # performance may be measured against these cycle times
                        self._dirty_rollup(None)
                    self._con.commit()
                except BaseException:
                    self._con.rollback()
                    raise
            return
        if table not in ("calendars", "settings"):
            raise ValueError(
                f"query_write supports only calendars, products, settings and collect_events, not {table!r}"
            )
        key, value = ("name", "definition") if table == "calendars" else ("key", "value")
        with self._lock:
            for r in rows:
                self._con.execute(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", [r[key], r[value]])

    def set_state_reason(self, machine: str, ts: datetime, reason_code: str | None) -> bool:
        with self._lock:
            mid = self._machine_ids.get(machine)
            if mid is None:
                return False
            args = [reason_code, mid, ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts]
            n = self._con.execute(
                "UPDATE states SET reason_code = ? WHERE machine_id = ? AND ts = ?", args
            ).fetchone()
            self._con.execute(
                "UPDATE latest_states SET reason_code = ? WHERE machine_id = ? AND ts = ?", args
            )
            if n and n[0]:
                self._dirty_rollup({mid: rollup.micros(args[2])})
        return bool(n and n[0])

    def delete_inferred(self, machine: str, start: datetime, end: datetime) -> dict[str, int]:
        with self._lock:
            mid = self._machine_ids.get(machine)
            if mid is None:
                return {"state": 0, "count": 0}
            a, b = (t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t for t in (start, end))
            con = self._con
            con.begin()
            try:
                prev = con.execute(
                    "SELECT max(ts) FROM states WHERE machine_id = ? AND ts < ?", [mid, a]
                ).fetchone()[0]
                n = {}
                for kind, table in (("state", "states"), ("count", "counts")):
                    n[kind] = con.execute(
                        f"DELETE FROM {table} WHERE machine_id = ? AND source = 'inferred' "
                        "AND ts >= ? AND ts < ?",
                        [mid, a, b],
                    ).fetchone()[0]
                if n["state"]:
                    con.execute("DELETE FROM latest_states WHERE machine_id = ?", [mid])
                    con.execute(
                        "INSERT INTO latest_states SELECT machine_id, ts, state, reason_code, order_id "
                        "FROM states WHERE machine_id = ? ORDER BY ts DESC LIMIT 1",
                        [mid],
                    )
                if n["state"] or n["count"]:  # the state before `a` may now last longer
                    self._dirty_rollup({mid: rollup.micros(prev if prev is not None else a)})
                con.commit()
            except BaseException:
                con.rollback()
                raise
        return n

    # -- reading ---------------------------------------------------------------------------
    def query(
        self, sql: str, params: list | None = None, tables: dict[str, pa.Table] | None = None
    ) -> pa.Table:
        # The cursor is a connection of its own to the same database: it reads the committed
        # state (writes run in transactions on the main connection), so concurrent readers
        # run side by side instead of queueing on the store's lock; only making it is locked.
        # `execute` runs the statement at once; `sql()` first builds a lazy relation, which in
        # DuckDB 2.0's Python layer cost about 5 ms of CPU per KPI request of four small reads
        return self._with_burst(self._query, sql, params, tables)

    def _query(self, sql: str, params: list | None, tables: dict[str, pa.Table] | None) -> pa.Table:
        with self._lock:
            cur = self._con.cursor()
        try:
            for name, t in (tables or {}).items():
                cur.register(name, t)
            return cur.execute(sql, params or None).to_arrow_table()
        finally:
            cur.close()

    # -- memory ----------------------------------------------------------------------------
    def set_memory_cap(self, cap_mb: float, burst_mb: float | None = None) -> None:
        """Cap DuckDB's memory (its cache of the file, the rows being written) at `cap_mb`.

        DuckDB's own limit is 80 % of the machine's memory, and a long-running process's cache
        grows with the file up to it. A query or write that runs out of memory under the cap
        is run once more with `burst_mb` (default: `default_burst_mb`); when none is left
        running above it, the cap is set again.
        """
        self._cap_mb = float(cap_mb)
        self._burst_mb = int(burst_mb) if burst_mb else default_burst_mb(cap_mb)
        self._apply_limit()

    def memory_limit_mb(self) -> float:
        """DuckDB's memory limit now, in MB."""
        with self._lock:
            got = self._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        number, unit = str(got).split()
        scale = {"bytes": 2**-20, "KiB": 2**-10, "KB": 2**-10, "MiB": 1, "MB": 1, "GiB": 1024, "GB": 1024}
        return float(number) * scale.get(unit, 1)

    def _with_burst(self, fn, *args):
        """`fn(*args)`; if it runs out of memory under the cap, once more above it (issue 19).

        The cap keeps DuckDB's cache of the file small in a long-running collector; a query
        that needs more (a year of KPIs for a dashboard over Flight, and the KPI hours it then
        saves) gets the burst for as long as it runs, then DuckDB evicts down to the cap.
        """
        try:
            return fn(*args)
        except duckdb.OutOfMemoryException:
            if not self._cap_mb:
                raise
        finally:
            if self._cap_pending:
                self._apply_limit()
        with self._burst_lock:
            self._bursting += 1
            first = self._bursting == 1
        if first:
            log.info(
                "store %s: a query or write needs more than the %.0f MB cap; running it with %d MB",
                self.path,
                self._cap_mb,
                self._burst_mb,
            )
        try:
            self._apply_limit()
            return fn(*args)
        finally:
            with self._burst_lock:
                self._bursting -= 1
            self._apply_limit()

    def _apply_limit(self) -> None:
        """Set DuckDB's limit to the burst while a call runs above the cap, else to the cap.

        Lowering it fails while other queries still hold more than the cap: the cap is then
        pending, and the next call that ends tries again. Lock order: the store's lock, then
        the burst counter's."""
        if not self._cap_mb:
            return
        with self._lock:
            with self._burst_lock:
                bursting = self._bursting > 0
            mb = self._burst_mb if bursting else int(self._cap_mb)
            try:
                self._con.execute(f"SET memory_limit = '{mb}MB'")
            except duckdb.OutOfMemoryException:
                # what DuckDB cannot evict (indexes, a running query) is above the cap: come as
                # close to it as it lets, and try the cap itself again after the next call
                self._cap_pending = True
                used = self._con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0]
                near = min(self._burst_mb, max(mb, int(1.5 * (used or 0) / 2**20) + 1))
                with contextlib.suppress(duckdb.OutOfMemoryException):
                    self._con.execute(f"SET memory_limit = '{near}MB'")
                return
            self._cap_pending = bursting

    # -- maintenance -----------------------------------------------------------------------
    def export_parquet(self, directory: str | Path) -> dict[str, int]:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        counts = {}
        with self._lock:
            for t in ALL_TABLES:
                if t in DERIVED_TABLES:
                    continue
                target = out / f"{t}.parquet"
                tmp = out / f".{t}.parquet.tmp"
                self._con.execute(f"COPY (SELECT * FROM {t}) TO '{_sq(tmp)}' (FORMAT parquet)")
                tmp.replace(target)
                counts[t] = self._con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        return counts

    def _import_aggregates(self, t: pa.Table) -> int:
        if t.num_rows == 0:
            return 0
        with self._lock:
            sids = self._series_column(t)
            batch = pa.table(
                {
                    "series_id": pa.array(sids, pa.int32()),
                    **{c: t.column(c) for c in ("ts", "n", "min", "max", "mean")},
                }
            )
            self._con.register("_agg", batch)
            try:
                return self._con.execute(
                    "INSERT INTO signals_1m SELECT b.* FROM _agg b WHERE NOT EXISTS "
                    "(SELECT 1 FROM signals_1m x WHERE x.series_id = b.series_id AND x.ts = b.ts)"
                ).fetchone()[0]
            finally:
                self._con.unregister("_agg")

    def apply_retention(self, policy: RetentionPolicy, now: datetime | None = None) -> RetentionReport:
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        report = RetentionReport()
        con = self._con
        with self._lock:
            con.begin()
            try:
                cutoff = now - timedelta(days=policy.raw_signal_days)
                # whole minutes only, so that a bucket is never split between raw and aggregate
                cutoff = cutoff.replace(second=0, microsecond=0)
                con.execute(
                    "CREATE TEMP TABLE _new AS SELECT series_id, date_trunc('minute', ts) AS ts, "
                    "count(*) AS n, min(value) AS min, max(value) AS max, avg(value) AS mean "
                    "FROM signals WHERE ts < ? GROUP BY 1, 2",
                    [cutoff],
                )
                report.downsampled_rows = con.execute("SELECT coalesce(sum(n), 0) FROM _new").fetchone()[0]
                # merge late raw rows into buckets that were aggregated before
                con.execute(
                    "UPDATE signals_1m a SET n = a.n + b.n, min = least(a.min, b.min), "
                    "max = greatest(a.max, b.max), mean = (a.mean * a.n + b.mean * b.n) / (a.n + b.n) "
                    "FROM _new b WHERE a.series_id = b.series_id AND a.ts = b.ts"
                )
                report.aggregates_written = con.execute(
                    "INSERT INTO signals_1m SELECT b.* FROM _new b WHERE NOT EXISTS (SELECT 1 FROM "
                    "signals_1m a WHERE a.series_id = b.series_id AND a.ts = b.ts)"
                ).fetchone()[0]
                con.execute("DROP TABLE _new")
                report.deleted["signals"] = con.execute(
                    "DELETE FROM signals WHERE ts < ?", [cutoff]
                ).fetchone()[0]
                if policy.aggregate_days is not None:
                    report.deleted["signals_1m"] = con.execute(
                        "DELETE FROM signals_1m WHERE ts < ?",
                        [now - timedelta(days=policy.aggregate_days)],
                    ).fetchone()[0]
                if policy.event_days is not None:
                    for spec in EVENT_TABLES.values():
                        if spec.kind != "signal":
                            report.deleted[spec.table] = con.execute(
                                f"DELETE FROM {spec.table} WHERE ts < ?",
                                [now - timedelta(days=policy.event_days)],
                            ).fetchone()[0]
                    con.execute(
                        "DELETE FROM latest_states WHERE ts < ?", [now - timedelta(days=policy.event_days)]
                    )
                    self._dirty_rollup(None)
                con.commit()
            except BaseException:
                con.rollback()
                raise
            con.execute("CHECKPOINT")
        return report

    def optimize(self) -> dict[str, int]:
        """Rewrite the event tables (all but raw signals) in time order.

        DuckDB has no index for a time range: it skips the row groups whose min/max time
        (zone map) lies outside the range and scans the rest. Data collected live arrives in
        time order, so recent rows sit together; a backfill or import that writes a year per
        machine leaves every row group spanning the whole year, and every read of the last
        hour then scans the whole table. After the rewrite such a read touches one or two row
        groups (bench/api.py prints both). One transaction: readers see the old order or the new."""
        order = {  # raw signals are left as they are: the biggest table, read per series
            spec.table: ", ".join(["ts", *(k for k in spec.key if k != "ts")])
            for spec in EVENT_TABLES.values()
            if spec.kind != "signal"
        }
        done: dict[str, int] = {}
        with self._lock:
            con = self._con
            con.begin()
            try:
                for table, key in order.items():
                    con.execute(f"CREATE TEMP TABLE _ordered AS SELECT * FROM {table} ORDER BY {key}")
                    con.execute(f"DELETE FROM {table}")
                    done[table] = con.execute(f"INSERT INTO {table} SELECT * FROM _ordered").fetchone()[0]
                    con.execute("DROP TABLE _ordered")
                con.commit()
            except BaseException:
                con.rollback()
                raise
            con.execute("CHECKPOINT")
        return done

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None  # type: ignore[assignment]


_NONE = np.iinfo(np.int64).min  # "no watermark yet"


def _ts_micros(col: pa.ChunkedArray) -> np.ndarray:
    """A timestamp[us] column without nulls as int64 microseconds, without a copy when possible."""
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return arr.to_numpy(zero_copy_only=False).view(np.int64)


def _provably_unique(ids: np.ndarray, ts: np.ndarray) -> bool:
    """True when (id, ts) pairs are strictly increasing in (ts, id) or (id, ts) order: O(n)."""
    if len(ids) < 2:
        return True
    d_ts = np.diff(ts)
    d_id = np.diff(ids.astype(np.int64, copy=False))
    if bool(np.all((d_ts > 0) | ((d_ts == 0) & (d_id > 0)))):  # time-major, as collectors send
        return True
    return bool(np.all((d_id > 0) | ((d_id == 0) & (d_ts > 0))))


def _sq(p) -> str:
    return str(p).replace("'", "''")


__all__ = ["DuckDBStore", "StoreLockedError", "LEVELS"]
