"""The one Store interface that collectors, KPIs, the CLI and the server read and write through.

Backends (the embedded DuckDB file, PostgreSQL, a remote owner process) implement the
abstract methods; validation, grouping of row records into batches and the public read API
live here so that every backend behaves the same.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..model.calendar import ShiftCalendar
from ..model.hierarchy import Machine, check_timezone
from ..model.master import DEFAULT_PLANT_TIMEZONE, Product
from ..model.records import ProductionOrder, Record
from .schema import EVENT_TABLES, READ_ORDER, READ_VIEWS
from .validate import BatchError, encode_strings, prepare


@dataclass(frozen=True)
class WriteResult:
    kind: str
    received: int
    written: int

    @property
    def duplicates(self) -> int:
        return self.received - self.written


@dataclass(frozen=True)
class RetentionPolicy:
    """How long raw signals stay before they are rolled up into 1-minute aggregates.

    Raw signals older than `raw_signal_days` are downsampled to `signals_1m` and deleted;
    aggregates older than `aggregate_days` are deleted (None keeps them for ever). Events
    (states, counts, alarms, quality) are small and kept for `event_days` (None: for ever).
    """

    raw_signal_days: float = 30
    aggregate_days: float | None = 5 * 365
    event_days: float | None = None


@dataclass
class RetentionReport:
    downsampled_rows: int = 0
    aggregates_written: int = 0
    deleted: dict[str, int] = field(default_factory=dict)


class Store(ABC):
    """Write batches of records, read ranges, list the hierarchy, run pushed-down SQL."""

    #: SQL dialect of `query`: "duckdb" or "postgresql". KPI code uses it for the few
    #: constructs that differ between engines.
    dialect: str = "duckdb"
    #: Whether the store keeps the hourly KPI rollup (`kpi_hours`, see store/rollup.py and
    #: kpi/rollup.py): it then invalidates hours on every write and offers `kpi_rollup_save`.
    kpi_rollup: bool = False

    # -- writing -------------------------------------------------------------------------
    def write(self, records: Iterable[Record]) -> dict[str, WriteResult]:
        """Write row records of any kinds; each kind is one idempotent batch."""
        by_kind: dict[str, list[dict]] = defaultdict(list)
        for r in records:
            by_kind[r.kind].append(r.model_dump(exclude={"kind"}, mode="python"))
        return {kind: self.write_table(kind, rows) for kind, rows in by_kind.items()}

    def write_table(self, kind: str, data) -> WriteResult:
        """Write a columnar batch (Arrow table, pandas frame or list of dicts) of one kind.

        The batch is validated first; any bad row rejects the whole batch with a BatchError
        naming rows, fields and reasons, and nothing is written. Rows already stored (same
        key) are skipped, so writing a batch twice changes nothing.
        """
        table, problems = prepare(kind, data)
        if problems:
            raise BatchError(kind, problems, table.num_rows)
        if table.num_rows == 0:
            return WriteResult(kind, 0, 0)
        return self._write_valid(kind, table)

    def write_orders(self, orders: Iterable[ProductionOrder]) -> WriteResult:
        return self.write(orders).get("order", WriteResult("order", 0, 0))

    @abstractmethod
    def _write_valid(self, kind: str, table: pa.Table) -> WriteResult:
        """Store a validated, normalised batch idempotently (backend-specific)."""

    # -- hierarchy and calendars -----------------------------------------------------------
    @abstractmethod
    def register_machines(self, machines: Iterable[Machine]) -> None:
        """Add machines or update their attributes (display name, calendar, ...)."""

    @abstractmethod
    def machines(self) -> list[Machine]:
        """Every machine, ordered by path."""

    def machine_paths(self) -> list[str]:
        """Every machine's path, ordered: `machines()` without building a model per machine
        (the API checks a request's scope with it on every read)."""
        return self.query("SELECT path FROM machines ORDER BY path").column("path").to_pylist()

    def hierarchy(self) -> dict:
        """Nested dict enterprise -> site -> area -> line -> [machine]."""
        tree: dict = {}
        for m in self.machines():
            e, s, a, line, mach = m.path.split("/")
            tree.setdefault(e, {}).setdefault(s, {}).setdefault(a, {}).setdefault(line, []).append(mach)
        return tree

    def save_calendar(self, calendar: ShiftCalendar) -> None:
        self.query_write("calendars", [{"name": calendar.name, "definition": calendar.model_dump_json()}])

    def calendars(self) -> dict[str, ShiftCalendar]:
        t = self.query("SELECT name, definition FROM calendars ORDER BY name")
        return {
            n: ShiftCalendar.model_validate(json.loads(d))
            for n, d in zip(t.column("name").to_pylist(), t.column("definition").to_pylist(), strict=True)
        }

    # -- master data: products, time zones --------------------------------------------------
    def save_products(self, products: Iterable[Product]) -> int:
        """Add products or replace their cycle time, name and unit (upsert by product code);
        returns how many were new or changed. A code given twice: the last one wins."""
        rows = {p.product: p.model_dump() for p in products}
        have = {p.product: p.model_dump() for p in self.products()}
        changed = [r for code, r in rows.items() if have.get(code) != r]
        if changed:
            self.query_write("products", changed)
        return len(changed)

    def products(self) -> list[Product]:
        """The product master, ordered by product code."""
        t = self.query(
            "SELECT product, ideal_cycle_time_s, display_name, unit FROM products ORDER BY product"
        )
        return [Product.model_validate(r) for r in t.to_pylist()]

    def plant_timezone(self) -> str:
        """The plant's IANA time zone (the `settings` table), Asia/Seoul when none is set."""
        t = self.query("SELECT value FROM settings WHERE key = 'plant_timezone'")
        return t.column("value")[0].as_py() if t.num_rows else DEFAULT_PLANT_TIMEZONE

    def set_plant_timezone(self, tz: str) -> None:
        """Set the plant's time zone; ValueError when `tz` is not an IANA name."""
        self.query_write("settings", [{"key": "plant_timezone", "value": check_timezone(tz)}])

    def machine_timezones(self) -> dict[str, str]:
        """path -> the zone a machine's days are cut in: its own, else its calendar's, else the
        plant's."""
        plant = self.plant_timezone()
        cals = self.calendars()
        t = self.query("SELECT path, timezone, calendar FROM machines ORDER BY path")
        out: dict[str, str] = {}
        for path, tz, cal in zip(
            *(t.column(c).to_pylist() for c in ("path", "timezone", "calendar")), strict=True
        ):
            out[path] = tz or (cals[cal].timezone if cal in cals else plant)
        return out

    @abstractmethod
    def query_write(self, table: str, rows: list[dict]) -> None:
        """Upsert small configuration rows (calendars, products, settings, collect events) by
        primary key."""

    @abstractmethod
    def set_state_reason(self, machine: str, ts: datetime, reason_code: str | None) -> bool:
        """Set (or clear, with None) the reason code of `machine`'s state change at exactly `ts`.

        The one update of stored events: an operator says afterwards why a machine stopped.
        Returns False when no state change of that machine has that ts (nothing is written).
        A backend that keeps aggregates derived from states must bring them up to date here.
        """

    def delete_inferred(self, machine: str, start: datetime, end: datetime) -> dict[str, int]:
        """Delete `machine`'s inferred state changes and counts (source "inferred") with ts in
        [start, end), so that a new inference can replace them; returns rows deleted per kind.
        Reported data is never touched. A backend keeping aggregates of states brings them up
        to date here."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete inferred data")

    def kpi_rollup_save(self, rows: pa.Table, versions: dict[int, int]) -> int:
        """Store computed KPI hours (columns of store/rollup.py's COLUMNS) for the machines
        whose rollup version is still the one in `versions` (read before computing them);
        returns rows stored. Only for stores with `kpi_rollup`."""
        raise NotImplementedError(f"{type(self).__name__} keeps no KPI rollup")

    # -- reading -------------------------------------------------------------------------
    def read(
        self,
        kind: str,
        start: datetime | None = None,
        end: datetime | None = None,
        machines: Iterable[str] | None = None,
    ) -> pa.Table:
        """Records of one kind with ts in [start, end), optionally for some machine paths."""
        view = READ_VIEWS.get(kind)
        if view is None:
            raise ValueError(f"unknown kind {kind!r}; known kinds: {', '.join(READ_VIEWS)}")
        where, params = [], []
        ts_col = "planned_start" if kind == "order" else "ts"
        if start is not None:
            where.append(f"{ts_col} >= ?")
            params.append(_naive_utc(start))
        if end is not None:
            where.append(f"{ts_col} < ?")
            params.append(_naive_utc(end))
        if machines is not None:
            ms = list(machines)
            where.append(f"machine IN ({', '.join('?' for _ in ms)})" if ms else "FALSE")
            params += ms
        sql = f"SELECT * FROM {view}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.query(sql + f" ORDER BY {READ_ORDER[kind]}", params)

    def collect_events(
        self,
        start: datetime,
        end: datetime,
        machines: Iterable[str],
        events: Iterable[str] = ("stale", "gap"),
        limit: int = 200,
    ) -> pa.Table:
        """Collection events ('stale', 'gap', ...) of some machine paths logged in [start, end),
        newest first, at most `limit` (events without a machine are left out: no firm owns them)."""
        ms, kinds = list(machines), list(events)
        if not ms or not kinds:
            ms, kinds = [""], [""]  # matches nothing, keeps the columns
        return self.query(
            "SELECT logged_at, source, event, machine, start_ts, end_ts, rows, detail FROM collect_events "
            f"WHERE logged_at >= ? AND logged_at < ? AND machine IN ({', '.join('?' for _ in ms)}) "
            f"AND event IN ({', '.join('?' for _ in kinds)}) ORDER BY logged_at DESC, event_id LIMIT ?",
            [_naive_utc(start), _naive_utc(end), *ms, *kinds, limit],
        )

    @abstractmethod
    def query(
        self, sql: str, params: list | None = None, tables: dict[str, pa.Table] | None = None
    ) -> pa.Table:
        """Run read-only SQL in the store; `tables` are Arrow tables visible by name."""

    # -- maintenance -----------------------------------------------------------------------
    @abstractmethod
    def export_parquet(self, directory: str | Path) -> dict[str, int]:
        """Write every table to DIRECTORY/<table>.parquet; returns rows per table."""

    def import_parquet(self, directory: str | Path) -> dict[str, int]:
        """Load an export back idempotently; returns rows added per table.

        Machine and series ids of the export are resolved to paths and names (an in-memory
        DuckDB joins the Parquet files), so exports of several stores can be merged; every
        event table goes through `write_table`, so importing twice adds nothing. Ends with
        `optimize` when event rows were added.
        """
        import duckdb
        import pyarrow.parquet as pq

        src = Path(directory)
        if not (src / "machines.parquet").exists():
            raise FileNotFoundError(f"{src}: no machines.parquet here; is this a Factory Commons export?")
        machines = pq.read_table(src / "machines.parquet")
        self.register_machines(
            Machine(
                path=r["path"],
                display_name=r["display_name"],
                kind=r["kind"],
                calendar=r["calendar"],
                default_ideal_cycle_time_s=r["default_ideal_cycle_time_s"],
                timezone=r.get("timezone"),  # exports older than the column have none
            )
            for r in machines.to_pylist()
        )
        added: dict[str, int] = {}
        if (src / "products.parquet").exists():
            products = pq.read_table(src / "products.parquet").to_pylist()
            added["products"] = self.save_products(Product.model_validate(r) for r in products)
        if (src / "settings.parquet").exists():
            rows = pq.read_table(src / "settings.parquet").to_pylist()
            if any(r["key"] == "plant_timezone" for r in rows):
                check_timezone(next(r["value"] for r in rows if r["key"] == "plant_timezone"))
            self.query_write("settings", rows)
            added["settings"] = len(rows)
        if (src / "calendars.parquet").exists():
            rows = pq.read_table(src / "calendars.parquet").to_pylist()
            current = self.query("SELECT name, definition FROM calendars").to_pylist()
            have = {r["name"]: r["definition"] for r in current}
            rows = [r for r in rows if have.get(r["name"]) != r["definition"]]
            self.query_write("calendars", rows)
            added["calendars"] = len(rows)
        if (src / "collect_events.parquet").exists():
            rows = pq.read_table(src / "collect_events.parquet").to_pylist()
            count = "SELECT count(*) AS n FROM collect_events"
            before = self.query(count).column("n")[0].as_py()
            self.query_write("collect_events", rows)
            added["collect_events"] = self.query(count).column("n")[0].as_py() - before
        con = duckdb.connect()
        try:
            con.register("m", machines)
            con.register("s", pq.read_table(src / "series.parquet"))
            path = "read_parquet('" + str(src).replace("'", "''") + "/{}.parquet')"
            if (src / "orders.parquet").exists():
                t = con.sql(
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
                    cols = ", ".join("x." + c.name for c in spec.input_columns if c.name != "machine")
                    sel = (
                        f"SELECT m.path AS machine, {cols} FROM {path.format(spec.table)} x "
                        f"JOIN m USING (machine_id)"
                    )
                t = con.sql(sel).to_arrow_table()
                added[spec.table] = self.write_table(kind, t).written if t.num_rows else 0
            if (src / "signals_1m.parquet").exists():
                t = con.sql(
                    f"SELECT m.path AS machine, s.name, s.unit, x.ts, x.n, x.min, x.max, x.mean FROM "
                    f"{path.format('signals_1m')} x JOIN s USING (series_id) JOIN m USING (machine_id)"
                ).to_arrow_table()
                added["signals_1m"] = self._import_aggregates(t)
        finally:
            con.close()
        if any(added.get(spec.table) for spec in EVENT_TABLES.values()):
            self.optimize()  # a bulk load: keep time-range reads cheap
        return added

    def _import_aggregates(self, t: pa.Table) -> int:
        """Add 1-minute aggregates (machine, name, unit, ts, n, min, max, mean) not yet stored."""
        raise NotImplementedError(f"{type(self).__name__} cannot import signal aggregates")

    @abstractmethod
    def apply_retention(self, policy: RetentionPolicy, now: datetime | None = None) -> RetentionReport:
        """Downsample and delete old data according to the policy."""

    def optimize(self) -> dict[str, int]:
        """Maintenance after a bulk load (an import, a backfill, retention): make time-range
        reads of the event tables cheap again. Returns the rows touched per table; nothing
        stored changes. A backend without such upkeep does nothing."""
        return {}

    def _ids_for_paths(self, paths: list[str]) -> np.ndarray:
        """The backend's int32 machine ids for `paths` (0 for an empty path); backends that
        write by machine id implement it."""
        raise NotImplementedError

    def _machine_column(self, arr: pa.ChunkedArray) -> np.ndarray:
        """The machine id of each row of a machine-path column (0 where null)."""
        idx, values = encode_strings(arr)
        lut = np.append(self._ids_for_paths(values), np.int32(0))  # index -1 (null) -> 0
        return lut[idx]

    def close(self) -> None:  # noqa: B027 - optional for backends
        pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _naive_utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
