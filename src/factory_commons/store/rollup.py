"""The KPI rollup's tables (`kpi_hours`, `kpi_days`, `kpi_versions`) and how writes invalidate them.

`kpi/rollup.py` fills `kpi_hours` lazily on read: one row per (config fingerprint, machine,
whole UTC hour) with the hour's summed ISO 22400 time elements and counts. The store keeps
it exact (docs/kpi.md, "Hourly rollup"):

* every write that can change a machine's KPIs, in its own transaction, raises the machine's
  version in `kpi_versions` and deletes its hours from the first one the write can change:
  states from the hour of the machine's previous state change before the batch's earliest
  row (an episode's class and repair time depend on where the next change falls), counts
  from the hour of their earliest row; `set_state_reason` from the hour of the edited change;
  orders written and retention of events drop every hour (and raise every version);
* a reader saves the hours it computed only for the machines whose version is still the one
  it read before computing (`save_sql`), inside one transaction that holds the version rows
  (FOR SHARE on PostgreSQL, the store's lock on DuckDB), so an hour computed from data that a
  concurrent write changed is never stored;
* replays write no rows and invalidate nothing; export skips both tables (derived data).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

#: Value columns of a rollup row, in table order, with their DuckDB types. Times (`*_us`) are
#: whole microseconds, the resolution of timestamps, so that sums of hours are exact.
VALUE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("cal_us", "BIGINT"),
    ("ns_us", "BIGINT"),
    ("pdt_us", "BIGINT"),
    ("apt_us", "BIGINT"),
    ("setup_us", "BIGINT"),
    ("down_us", "BIGINT"),
    ("delay_us", "BIGINT"),
    ("micro_us", "BIGINT"),
    ("nodata_us", "BIGINT"),
    ("aoet_us", "BIGINT"),
    ("good", "BIGINT"),
    ("scrap", "BIGINT"),
    ("rework", "BIGINT"),
    ("startup", "BIGINT"),
    ("ideal", "DOUBLE"),
    ("qwi", "BIGINT"),
    ("failures", "BIGINT"),
    ("repair_us", "BIGINT"),
    ("orderless", "BIGINT"),
)
COLUMNS = ("fp", "machine_id", "hour_ts", *(c for c, _ in VALUE_COLUMNS))


def ddl(dialect: str) -> str:
    """CREATE TABLE statements of both tables (IF NOT EXISTS) in the dialect's types."""
    pg = dialect == "postgresql"
    text = 'TEXT COLLATE "C"' if pg else "VARCHAR"

    def typ(t: str) -> str:
        return "DOUBLE PRECISION" if pg and t == "DOUBLE" else t

    vals = ",\n    ".join(f"{c} {typ(t)} NOT NULL" for c, t in VALUE_COLUMNS)
    return f"""
CREATE TABLE IF NOT EXISTS kpi_hours (
    fp {text} NOT NULL,
    machine_id INTEGER NOT NULL,
    hour_ts TIMESTAMP NOT NULL,
    {vals},
    PRIMARY KEY (fp, machine_id, hour_ts)
);
CREATE TABLE IF NOT EXISTS kpi_versions (
    machine_id INTEGER PRIMARY KEY,
    ver BIGINT NOT NULL
);
"""


#: The columns of a day row of `kpi_days`: the sums of one machine's 24 stored hours of a UTC day.
DAY_COLUMNS = ("fp", "machine_id", "day_ts", *(c for c, _ in VALUE_COLUMNS))


def days_ddl(dialect: str) -> str:
    """CREATE TABLE (IF NOT EXISTS) of `kpi_days`, the daily level of the rollup: a row only
    for a (fingerprint, machine, UTC day) whose 24 hours are all in `kpi_hours`, with their
    sums, so that a week's request reads 7 rows per machine instead of 168. It is written and
    invalidated in the same statements' transactions as the hours (SAVE_DAYS, INVALIDATE),
    so a day row exists only while its hours do."""
    pg = dialect == "postgresql"
    text = 'TEXT COLLATE "C"' if pg else "VARCHAR"
    vals = ",\n    ".join(
        f"{c} {'DOUBLE PRECISION' if pg and t == 'DOUBLE' else t} NOT NULL" for c, t in VALUE_COLUMNS
    )
    index = "CREATE INDEX IF NOT EXISTS kpi_days_machine_day ON kpi_days (machine_id, day_ts);" if pg else ""
    return f"""
CREATE TABLE IF NOT EXISTS kpi_days (
    fp {text} NOT NULL,
    machine_id INTEGER NOT NULL,
    day_ts TIMESTAMP NOT NULL,
    {vals},
    PRIMARY KEY (fp, machine_id, day_ts)
);
{index}
"""


#: Raise the versions of the machines of relation `_dirty` (id, from_ts) and delete their
#: hours from the hour that holds the instant just before from_ts on, and their days from its
#: day on (a count stamped at a whole hour belongs to the hour it ends, kpi/elements.py
#: `count_in_sql`). Versions first (in id order, as `save` locks them, so
#: that two transactions cannot wait for each other): PostgreSQL then holds the version rows
#: a concurrent `save` waits for.
INVALIDATE = (
    "INSERT INTO kpi_versions (machine_id, ver) SELECT id, 1 FROM _dirty ORDER BY id "
    "ON CONFLICT (machine_id) DO UPDATE SET ver = kpi_versions.ver + 1",
    "DELETE FROM kpi_hours WHERE EXISTS (SELECT 1 FROM _dirty d WHERE d.id = kpi_hours.machine_id "
    "AND kpi_hours.hour_ts >= date_trunc('hour', d.from_ts - INTERVAL '1 microsecond'))",
    "DELETE FROM kpi_days WHERE EXISTS (SELECT 1 FROM _dirty d WHERE d.id = kpi_days.machine_id "
    "AND kpi_days.day_ts >= date_trunc('day', d.from_ts - INTERVAL '1 microsecond'))",
)

#: Store a reader's computed hours (relation `_kh`, columns COLUMNS) for the machines whose
#: version is still the one the reader saw before computing (relation `_exp` (id, ver); a
#: machine without a version row has version 0).
SAVE = (
    f"INSERT INTO kpi_hours ({', '.join(COLUMNS)}) SELECT {', '.join('k.' + c for c in COLUMNS)} "
    "FROM _kh k JOIN _exp e ON e.id = k.machine_id LEFT JOIN kpi_versions v ON v.machine_id = e.id "
    "WHERE coalesce(v.ver, 0) = e.ver ON CONFLICT DO NOTHING"
)

#: After SAVE, in its transaction: a day row for each (fingerprint, machine, UTC day) of the
#: saved hours (relation `_kh`) whose 24 hours are now all stored, summed from `kpi_hours`.
SAVE_DAYS = (
    f"INSERT INTO kpi_days ({', '.join(DAY_COLUMNS)}) SELECT h.fp, h.machine_id, k.day_ts, "
    + ", ".join(
        f"CAST(sum(h.{c}) AS {'DOUBLE PRECISION' if t == 'DOUBLE' else 'BIGINT'})" for c, t in VALUE_COLUMNS
    )
    + " FROM kpi_hours h JOIN (SELECT DISTINCT fp, machine_id, date_trunc('day', hour_ts) AS day_ts "
    "FROM _kh) k ON h.fp = k.fp AND h.machine_id = k.machine_id AND h.hour_ts >= k.day_ts "
    "AND h.hour_ts < k.day_ts + INTERVAL '1 day' GROUP BY h.fp, h.machine_id, k.day_ts "
    "HAVING count(*) = 24 ON CONFLICT DO NOTHING"
)

#: Fill `kpi_days` from the hours already stored (a store that had hours before the daily
#: level existed: the migration, or DuckDB when it first creates the table).
BACKFILL_DAYS = (
    f"INSERT INTO kpi_days ({', '.join(DAY_COLUMNS)}) SELECT fp, machine_id, date_trunc('day', hour_ts), "
    + ", ".join(
        f"CAST(sum({c}) AS {'DOUBLE PRECISION' if t == 'DOUBLE' else 'BIGINT'})" for c, t in VALUE_COLUMNS
    )
    + " FROM kpi_hours GROUP BY fp, machine_id, date_trunc('day', hour_ts) HAVING count(*) = 24 "
    "ON CONFLICT DO NOTHING"
)

#: Drop every hour and day (orders written, retention): versions first, as above.
INVALIDATE_ALL = ("UPDATE kpi_versions SET ver = ver + 1", "DELETE FROM kpi_hours", "DELETE FROM kpi_days")

#: The state changes that decide where a state batch's invalidation starts: per machine of
#: relation `_first` (id, t = the batch's earliest ts of that machine), the last stored change
#: before t. Used only for machines whose t is not past their newest change (late writes).
PREVIOUS_CHANGE = (
    "SELECT f.id, (SELECT max(x.ts) FROM states x WHERE x.machine_id = f.id AND x.ts < f.t) AS prev "
    "FROM _first f"
)


def state_dirty_from(
    first: dict[int, object], newest_before: dict[int, object], previous: dict[int, object]
) -> dict[int, object]:
    """Per machine of a state batch, the instant from which its hours must be recomputed.

    `first`: the batch's earliest ts per machine; `newest_before`: the machine's newest stored
    change before the write (None or missing: it had none); `previous`: the last stored change
    before `first` for machines written out of order. An append (all rows after the newest
    change) starts at the newest change: that episode now has an end. A machine with no earlier
    change starts at its first written row (the hours before it stay 'no data')."""
    out = {}
    for mid, t in first.items():
        newest = newest_before.get(mid)
        if newest is not None and t > newest:
            out[mid] = newest
        else:
            prev = previous.get(mid)
            out[mid] = prev if prev is not None else t
    return out


def micros(value: datetime | None) -> int | None:
    """A naive UTC datetime as integer microseconds since 1970 (None stays None)."""
    if value is None:
        return None
    return int(np.datetime64(value.replace(tzinfo=None), "us").astype(np.int64))


def first_per_id(ids: np.ndarray, ts_us: np.ndarray) -> dict[int, int]:
    """The earliest ts (microseconds) of each id of a batch."""
    order = np.lexsort((ts_us, ids))
    sid = ids[order]
    head = np.ones(len(order), dtype=bool)
    head[1:] = sid[1:] != sid[:-1]
    return dict(zip(sid[head].tolist(), ts_us[order][head].tolist(), strict=True))


def id_ts_table(values: dict[int, int], ts_name: str) -> pa.Table:
    """(id, <ts_name>) rows from {id: microseconds}, for `_dirty` and `_first`."""
    ids = sorted(values)
    return pa.table(
        {
            "id": pa.array(ids, pa.int32()),
            ts_name: pa.array([values[i] for i in ids], pa.int64()).cast(pa.timestamp("us")),
        }
    )


def versions_table(versions: dict[int, int]) -> pa.Table:
    """(id, ver) rows for `_exp`."""
    ids = sorted(versions)
    return pa.table(
        {"id": pa.array(ids, pa.int32()), "ver": pa.array([versions[i] for i in ids], pa.int64())}
    )
