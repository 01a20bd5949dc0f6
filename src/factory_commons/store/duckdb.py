"""The embedded default store: one DuckDB file, idempotent batch writes, Parquet in and out.

Idempotency without a per-row key check: each fact table keeps a watermark (latest ts) per
machine or series. A batch whose rows are all newer than the watermarks of their machines,
and that holds no duplicate keys (checked in O(n) when it is sorted by id/ts or ts/id), is
appended as is. Any other batch takes the slow path: an anti-join against stored rows,
limited to the batch's ids and time range. Both paths give the same result.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..model.hierarchy import LEVELS, Machine, parse_machine_path
from .base import RetentionPolicy, RetentionReport, Store, WriteResult
from .schema import ALL_TABLES, BASE_DDL, EVENT_TABLES, VIEWS_DDL, EventTable, event_ddl


class StoreLockedError(RuntimeError):
    """Another process owns the DuckDB file."""


class DuckDBStore(Store):
    dialect = "duckdb"

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
        with self._lock:
            self._con.execute(BASE_DDL)
            for spec in EVENT_TABLES.values():
                self._con.execute(event_ddl(spec))
            self._con.execute(VIEWS_DDL)
        self._machine_ids: dict[str, int] = dict(
            self._con.execute("SELECT path, machine_id FROM machines").fetchall()
        )
        self._series_ids: dict[tuple[int, str], int] = {
            (m, n): s
            for s, m, n in self._con.execute(
                "SELECT series_id, machine_id, name FROM series"
            ).fetchall()
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
                        "INSERT INTO machines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            mid,
                            m.path,
                            *levels,
                            m.display_name,
                            m.kind,
                            m.calendar,
                            m.default_ideal_cycle_time_s,
                        ],
                    )
                    self._machine_ids[m.path] = mid
                else:
                    self._con.execute(
                        "UPDATE machines SET display_name = coalesce(?, display_name), "
                        "kind = coalesce(?, kind), calendar = coalesce(?, calendar), "
                        "default_ideal_cycle_time_s = coalesce(?, default_ideal_cycle_time_s) "
                        "WHERE machine_id = ?",
                        [m.display_name, m.kind, m.calendar, m.default_ideal_cycle_time_s, mid],
                    )

    def machines(self) -> list[Machine]:
        with self._lock:
            rows = self._con.execute(
                "SELECT path, display_name, kind, calendar, default_ideal_cycle_time_s "
                "FROM machines ORDER BY path"
            ).fetchall()
        return [
            Machine(path=p, display_name=d, kind=k, calendar=c, default_ideal_cycle_time_s=i)
            for p, d, k, c, i in rows
        ]

    def _ids_for_paths(self, paths: list[str]) -> np.ndarray:
        new = [p for p in paths if p is not None and p not in self._machine_ids]
        if new:
            self.register_machines(Machine(path=p) for p in new)
        return np.array([self._machine_ids.get(p, 0) if p else 0 for p in paths], dtype=np.int32)

    @staticmethod
    def _encode(arr: pa.ChunkedArray) -> tuple[np.ndarray, list]:
        enc = pc.dictionary_encode(arr).combine_chunks()
        return enc.indices.to_numpy(zero_copy_only=False), enc.dictionary.to_pylist()

    def _machine_column(self, arr: pa.ChunkedArray) -> np.ndarray:
        idx, values = self._encode(arr)
        return self._ids_for_paths(values)[idx]

    def _series_column(self, table: pa.Table) -> np.ndarray:
        m_idx, m_vals = self._encode(table.column("machine"))
        n_idx, n_vals = self._encode(table.column("name"))
        m_ids = self._ids_for_paths(m_vals)
        code = m_idx.astype(np.int64) * len(n_vals) + n_idx
        size = len(m_vals) * len(n_vals)
        if size <= 4 * len(code) + 1024:
            present = np.flatnonzero(np.bincount(code, minlength=size))
        else:
            present = np.unique(code)
        lut = np.zeros(size if size <= 4 * len(code) + 1024 else 0, dtype=np.int32)
        mapping: dict[int, int] = {}
        units = table.column("unit")
        for c in present.tolist():
            key = (int(m_ids[c // len(n_vals)]), n_vals[c % len(n_vals)])
            sid = self._series_ids.get(key)
            if sid is None:
                first = int(np.argmax(code == c))
                sid = len(self._series_ids) + 1
                self._con.execute(
                    "INSERT INTO series VALUES (?, ?, ?, ?)",
                    [sid, key[0], key[1], units[first].as_py()],
                )
                self._series_ids[key] = sid
            mapping[c] = sid
        if len(lut):
            lut[list(mapping)] = list(mapping.values())
            return lut[code]
        keys = np.array(list(mapping), dtype=np.int64)
        vals = np.array(list(mapping.values()), dtype=np.int32)
        return vals[np.searchsorted(keys, code)]

    # -- writing ---------------------------------------------------------------------------
    def _write_valid(self, kind: str, table: pa.Table) -> WriteResult:
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
                written = self._insert_events(spec, batch, ids)
                self._con.commit()
            except BaseException:
                self._con.rollback()
                raise
        return WriteResult(kind, table.num_rows, written)

    def _insert_events(self, spec: EventTable, batch: pa.Table, ids: np.ndarray) -> int:
        con, idc, t = self._con, spec.id_column, spec.table
        ts = batch.column("ts").combine_chunks().cast(pa.int64()).to_numpy(zero_copy_only=False)
        unique = _provably_unique(ids, ts)
        con.register("_batch", batch)
        try:
            stale = con.execute(
                f"SELECT count(*), min(b.lo), max(b.hi) FROM "
                f"(SELECT {idc} AS id, min(ts) AS lo, max(ts) AS hi FROM _batch GROUP BY 1) b "
                f"JOIN watermarks w ON w.tbl = ? AND w.id = b.id WHERE b.lo <= w.max_ts",
                [t],
            ).fetchone()
            cols = ", ".join(n for n, _ in spec.stored_columns)
            if unique and stale[0] == 0:
                con.execute(f"INSERT INTO {t} SELECT {cols} FROM _batch")
                written = batch.num_rows
            else:
                key = ", ".join(spec.key)
                src = "_batch" if unique else f"(SELECT DISTINCT ON ({key}) * FROM _batch)"
                match = " AND ".join(f"x.{k} IS NOT DISTINCT FROM b.{k}" for k in spec.key)
                lo, hi = (ts.min(), ts.max())
                written = con.execute(
                    f"INSERT INTO {t} SELECT {', '.join('b.' + n for n, _ in spec.stored_columns)} "
                    f"FROM {src} b WHERE NOT EXISTS (SELECT 1 FROM {t} x WHERE {match} "
                    f"AND x.ts BETWEEN make_timestamp(?) AND make_timestamp(?))",
                    [int(lo), int(hi)],
                ).fetchone()[0]
            con.execute(
                f"INSERT INTO watermarks SELECT ?, {idc}, max(ts) FROM _batch GROUP BY {idc} "
                "ON CONFLICT (tbl, id) DO UPDATE SET max_ts = greatest(watermarks.max_ts, excluded.max_ts)",
                [t],
            )
        finally:
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
            con.register("_orders", batch)
            cols = "order_id, product, quantity, ideal_cycle_time_s, machine_id, planned_start, due"
            changed = con.execute(
                f"CREATE TEMP TABLE _changed AS SELECT DISTINCT ON (order_id) {cols} FROM _orders b "
                f"WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE "
                + " AND ".join(f"o.{c} IS NOT DISTINCT FROM b.{c}" for c in cols.split(", "))
                + ")"
            ).fetchone()
            del changed
            n = con.execute("SELECT count(*) FROM _changed").fetchone()[0]
            con.execute(f"INSERT OR REPLACE INTO orders SELECT {cols} FROM _changed")
            con.execute("DROP TABLE _changed")
            con.unregister("_orders")
            con.commit()
        except BaseException:
            con.rollback()
            raise
        return WriteResult("order", table.num_rows, int(n))

    def query_write(self, table: str, rows: list[dict]) -> None:
        if table != "calendars":
            raise ValueError(f"query_write supports only calendars, not {table!r}")
        with self._lock:
            for r in rows:
                self._con.execute(
                    "INSERT OR REPLACE INTO calendars VALUES (?, ?)", [r["name"], r["definition"]]
                )

    # -- reading ---------------------------------------------------------------------------
    def query(
        self, sql: str, params: list | None = None, tables: dict[str, pa.Table] | None = None
    ) -> pa.Table:
        with self._lock:
            cur = self._con.cursor()
            try:
                for name, t in (tables or {}).items():
                    cur.register(name, t)
                return cur.sql(sql, params=params or None).to_arrow_table()
            finally:
                cur.close()

    # -- maintenance -----------------------------------------------------------------------
    def export_parquet(self, directory: str | Path) -> dict[str, int]:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        counts = {}
        with self._lock:
            for t in ALL_TABLES:
                if t == "watermarks":
                    continue
                target = out / f"{t}.parquet"
                tmp = out / f".{t}.parquet.tmp"
                self._con.execute(f"COPY (SELECT * FROM {t}) TO '{_sq(tmp)}' (FORMAT parquet)")
                tmp.replace(target)
                counts[t] = self._con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        return counts

    def import_parquet(self, directory: str | Path) -> dict[str, int]:
        src = Path(directory)
        if not (src / "machines.parquet").exists():
            raise FileNotFoundError(
                f"{src}: no machines.parquet here; is this a Factory Commons export?"
            )
        machines = pq.read_table(src / "machines.parquet")
        self.register_machines(
            Machine(
                path=r["path"],
                display_name=r["display_name"],
                kind=r["kind"],
                calendar=r["calendar"],
                default_ideal_cycle_time_s=r["default_ideal_cycle_time_s"],
            )
            for r in machines.to_pylist()
        )
        added: dict[str, int] = {}
        if (src / "calendars.parquet").exists():
            rows = pq.read_table(src / "calendars.parquet").to_pylist()
            self.query_write("calendars", rows)
            added["calendars"] = len(rows)
        con = duckdb.connect()
        try:
            con.register("m", machines)
            series = pq.read_table(src / "series.parquet")
            con.register("s", series)
            path = f"read_parquet('{_sq(src)}/{{}}.parquet')"
            if (src / "orders.parquet").exists():
                t = con.execute(
                    f"SELECT o.order_id, o.product, o.quantity, o.ideal_cycle_time_s, m.path AS machine, "
                    f"o.planned_start, o.due FROM {path.format('orders')} o LEFT JOIN m USING (machine_id)"
                ).to_arrow_table()
                added["orders"] = self.write_table("order", t).written
            for kind, spec in EVENT_TABLES.items():
                if not (src / f"{spec.table}.parquet").exists():
                    continue
                if kind == "signal":
                    sel = (
                        f"SELECT m.path AS machine, s.name, x.ts, x.value, s.unit FROM "
                        f"{path.format('signals')} x JOIN s USING (series_id) JOIN m USING (machine_id)"
                    )
                else:
                    cols = ", ".join(
                        "x." + c.name for c in spec.input_columns if c.name != "machine"
                    )
                    sel = (
                        f"SELECT m.path AS machine, {cols} FROM {path.format(spec.table)} x "
                        f"JOIN m USING (machine_id)"
                    )
                t = con.execute(sel).to_arrow_table()
                added[spec.table] = self.write_table(kind, t).written if t.num_rows else 0
            if (src / "signals_1m.parquet").exists():
                t = con.execute(
                    f"SELECT m.path AS machine, s.name, s.unit, x.ts, x.n, x.min, x.max, x.mean FROM "
                    f"{path.format('signals_1m')} x JOIN s USING (series_id) JOIN m USING (machine_id)"
                ).to_arrow_table()
                added["signals_1m"] = self._import_aggregates(t)
        finally:
            con.close()
        return added

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

    def apply_retention(
        self, policy: RetentionPolicy, now: datetime | None = None
    ) -> RetentionReport:
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
                report.downsampled_rows = con.execute(
                    "SELECT coalesce(sum(n), 0) FROM _new"
                ).fetchone()[0]
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
                con.commit()
            except BaseException:
                con.rollback()
                raise
            con.execute("CHECKPOINT")
        return report

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None  # type: ignore[assignment]


def _provably_unique(ids: np.ndarray, ts: np.ndarray) -> bool:
    """True when (id, ts) pairs are strictly increasing in (id, ts) or (ts, id) order: O(n)."""
    if len(ids) < 2:
        return True
    d_id = np.diff(ids.astype(np.int64))
    d_ts = np.diff(ts)
    if bool(np.all((d_id > 0) | ((d_id == 0) & (d_ts > 0)))):
        return True
    return bool(np.all((d_ts > 0) | ((d_ts == 0) & (d_id > 0))))


def _sq(p) -> str:
    return str(p).replace("'", "''")


__all__ = ["DuckDBStore", "StoreLockedError", "LEVELS"]
