"""What the KPI queries read besides the rules: each machine's calendar timeline, the state
changes a window needs, and SQL literals and machine filters for the queries.

Shared by the engine (`oee.compute_kpis`) and the rollup's piece sums (`piece_sums`): reading
only what a window needs is what makes a day's KPI cost a day's rows (docs/kpi.md, "Reading
only what the window needs").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from ..model.calendar import CALENDAR_SCHEMA, timeline_table
from ..store.base import Store
from .config import KpiConfig
from .elements import mapping_table

#: Calendar name used for machines that are planned around the clock (no calendar); with the
#: days cut in a zone (`day` grouping), `ALWAYS + "@" + zone` (`always_name`).
ALWAYS = "__always_planned__"


def always_name(zone: str | None) -> str:
    """The name of the 24/7 calendar whose days are cut at midnight in `zone` (None: ALWAYS,
    days of UTC, for groupings that have no day)."""
    return ALWAYS if zone is None else f"{ALWAYS}@{zone}"


def is_always(name: str) -> bool:
    """Whether a calendar name of the timeline is a 24/7 calendar (`always_name`)."""
    return name == ALWAYS or name.startswith(ALWAYS + "@")


def naive_utc(value: datetime) -> datetime:
    """`value` as a naive UTC datetime (a naive one is taken as UTC already)."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def always_timeline(start: datetime, end: datetime, zone: str = "UTC", name: str = ALWAYS) -> pa.Table:
    """24/7 work, with a boundary at each midnight of `zone` so that 'day' is the local date
    there (`start`, `end` and the boundaries: naive UTC)."""
    tz = ZoneInfo(zone)

    def utc(d) -> datetime:  # local midnight of day d, as naive UTC (DST-safe)
        return datetime.combine(d, time(0), tz).astimezone(UTC).replace(tzinfo=None)

    day = start.replace(tzinfo=UTC).astimezone(tz).date()
    if utc(day) > start:  # a midnight that does not exist (DST at 00:00) starts later
        day -= timedelta(days=1)
    days = [day]
    while utc(days[-1] + timedelta(days=1)) < end:
        days.append(days[-1] + timedelta(days=1))
    n = len(days)
    return pa.table(
        {
            "calendar": [name] * n,
            "ts": [utc(d) for d in days],
            "status": ["work"] * n,
            "shift": [None] * n,
            "day": days,
        },
        schema=CALENDAR_SCHEMA,
    )


def calendar_timeline(
    store: Store,
    machine_rows: list[dict],
    start: datetime,
    end: datetime,
    config: KpiConfig,
    cals: dict | None = None,
    stacklevel: int = 3,
    zones: Mapping[int, str] | None = None,
) -> tuple[pa.Table, dict[int, str]]:
    """The calendar timeline table and each machine's calendar name in it (`cals`: the
    store's calendars, when the caller has read them; `stacklevel`: of the warning about an
    unknown calendar, so that it names the caller of `compute_kpis`).

    A machine without a calendar is planned 24/7; `zones` (machine id -> IANA zone, for the
    `day` grouping) cuts its days at midnight of its zone (`always_timeline`), else at UTC
    midnight (groupings without a day: the boundaries are then only where pieces start)."""
    cals = store.calendars() if cals is None else cals
    if config.default_calendar is not None and config.default_calendar not in cals:
        raise ValueError(
            f"default_calendar {config.default_calendar!r} is not in the store "
            f"(known calendars: {', '.join(sorted(cals)) or 'none'})"
        )
    used: dict[int, str] = {}
    for m in machine_rows:
        name = m["calendar"] or config.default_calendar
        if name is not None and name not in cals:
            warnings.warn(
                f"machine {m['path']}: calendar {name!r} is not in the store; "
                "treating the machine as planned 24/7",
                stacklevel=stacklevel,
            )
            name = None
        if name is None:
            name = always_name(None if zones is None else zones.get(m["machine_id"], "UTC"))
        used[m["machine_id"]] = name
    names = sorted({n for n in used.values() if not is_always(n)})
    parts = [timeline_table([cals[n] for n in names], start, end)]
    for n in sorted({n for n in used.values() if is_always(n)}):
        parts.append(always_timeline(start, end, n.partition("@")[2] or "UTC", n))
    return pa.concat_tables(parts), used


#: DuckDB reads windows up to this long as Arrow slices (`duckdb_state_slice`); longer ones
#: filter `states` in the query (`state_bounds`), so a three-year KPI is not copied to memory.
SLICE_MAX = timedelta(days=31)


def lit(value: object) -> str:
    """A SQL literal for a value we produced (timestamp, number, bool): standard SQL, no user text."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ', timespec='microseconds')}'"
    if isinstance(value, int | float):
        return repr(float(value))
    raise TypeError(f"no SQL literal for {value!r}")


def machine_filter(ids: Sequence[int], dialect: str, col: str = "machine_id") -> str:
    """A SQL condition for `col` in `ids`. DuckDB: a BETWEEN when the ids are one run of
    consecutive numbers (a request for every machine usually is; DuckDB plans a range in about
    half the time of a 50-item IN list, ~2 ms a query), else an IN list. PostgreSQL: always the
    IN list, which it answers with one probe of the (machine_id, ts) index per machine; a
    BETWEEN would walk every machine's entries in the range."""
    xs = sorted({int(i) for i in ids})
    if not xs:
        return "FALSE"
    if dialect == "duckdb" and xs[-1] - xs[0] + 1 == len(xs):
        return f"{col} BETWEEN {xs[0]} AND {xs[-1]}"
    return f"{col} IN ({', '.join(str(i) for i in xs)})"


#: How far before the window (and after it) the bounds query first looks for each machine's
#: neighbouring state change, before it falls back to wider and then unbounded scans.
LOOKBACK = (timedelta(days=1), timedelta(days=31))


def state_bounds(
    store: Store, ids: list[int], s: datetime, e: datetime
) -> tuple[datetime | None, datetime | None]:
    """(lo, hi): a range of state-change times that holds, for every machine of `ids`, the last
    change before `s`, every change in [s, e) and the first change at or after `e`.

    The KPI query needs exactly these rows (LEAD over them gives every episode in the window
    its true end, even one that ends after `e`); reading only them instead of each machine's
    whole history is what makes a day's KPI cost a day's rows. lo is None when no machine has
    a change before `s` (read from `s`), hi is None when none has one at or after `e` (read
    up to `e`). Any wider range gives the same result, so one range serves all machines.

    PostgreSQL: two index probes per machine on the (machine_id, ts) key. DuckDB (no index):
    a range scan of a day before and after the window, then a month, then unbounded, only for
    the machines not found yet; machines whose newest change (the write watermark) is before
    `e` need no search after the window.
    """
    if not ids:
        return None, None
    id_list = ", ".join(str(int(i)) for i in ids)
    if store.dialect == "postgresql":
        row = store.query(
            "SELECT min(lo) AS lo, max(hi) AS hi FROM ("
            f" SELECT (SELECT x.ts FROM states x WHERE x.machine_id = m.id AND x.ts < ?"
            "   ORDER BY x.ts DESC LIMIT 1) AS lo,"
            "  (SELECT x.ts FROM states x WHERE x.machine_id = m.id AND x.ts >= ?"
            "   ORDER BY x.ts LIMIT 1) AS hi"
            f" FROM (SELECT machine_id AS id FROM machines WHERE machine_id IN ({id_list})) m) b",
            [s, e],
        ).to_pylist()[0]
        return row["lo"], row["hi"]
    lo_of = nearest(store, ids, s, before=True)
    hi_of = nearest(store, newer_than(store, ids, e), e, before=False)
    return min(lo_of.values(), default=None), max(hi_of.values(), default=None)


def newer_than(store: Store, ids: Sequence[int], e: datetime) -> list[int]:
    """The machines of `ids` whose newest state change (write watermark) is at or after `e`;
    only they can have a change at or after `e`."""
    if not ids:
        return []
    t = store.query(
        f"SELECT id FROM watermarks WHERE tbl = 'states' AND {machine_filter(ids, store.dialect, 'id')} AND max_ts >= ?",
        [e],
    )
    return sorted(t.column("id").to_pylist())


def nearest(
    store: Store,
    ids: Sequence[int],
    at: datetime,
    before: bool,
    steps: Sequence[timedelta | None] = (*LOOKBACK, None),
) -> dict[int, datetime]:
    """Per machine of `ids`: its last state change before `at` (before=True) or its first at or
    after `at`, searched in ranges of `steps` from `at` (None: unbounded), each only for the
    machines not found yet. Machines without one are left out."""
    found: dict[int, datetime] = {}
    todo = set(ids)
    for step in steps:
        if not todo:
            break
        where = f"{machine_filter(todo, store.dialect)} AND ts {'<' if before else '>='} ?"
        params: list = [at]
        if step is not None:
            where += f" AND ts {'>=' if before else '<'} ?"
            params.append(at - step if before else at + step)
        agg = "max" if before else "min"
        t = store.query(
            f"SELECT machine_id, {agg}(ts) AS x FROM states WHERE {where} GROUP BY machine_id", params
        )
        found.update(zip(t.column("machine_id").to_pylist(), t.column("x").to_pylist(), strict=True))
        todo -= set(found)
    return found


def duckdb_state_slice(
    store: Store, ids: Sequence[int], s: datetime, e: datetime, newest: dict[int, datetime] | None = None
) -> pa.Table:
    """DuckDB: the state changes of `state_bounds`' range in one scan, as an Arrow table that
    the KPI query reads instead of `states` (DuckDB has no index to probe, so every search is
    a scan; this way a request scans `states` once instead of twice).

    First read a day before `s` to a day after `e`; machines with no change in the day before
    (or, when their watermark says they have one, in the day after) are searched further out
    with `nearest`, and the slice is read again with the range widened to cover them.
    `newest`: each machine's newest state change, when the caller has read it (instead of
    asking the watermarks)."""
    cols = "machine_id, ts, state, reason_code, order_id"
    # a short window (the open hour of a rollup request) looks back as far as it is long, at
    # least an hour: a day's rows for an hour's window cost more to read than a second query
    # for the few machines that were quiet that long
    span = min(LOOKBACK[0], max(timedelta(hours=1), e - s))
    a, b = s - span, e + span
    sql = f"SELECT {cols} FROM states WHERE {machine_filter(ids, store.dialect)} AND ts >= ? AND ts {{}} ?"
    t = store.query(sql.format("<"), [a, b])
    mid = t.column("machine_id").to_numpy()
    ts = t.column("ts").to_numpy()
    with_lo = set(mid[ts < np.datetime64(s, "us")].tolist())
    with_hi = set(mid[ts >= np.datetime64(e, "us")].tolist())
    lo = nearest(store, [i for i in ids if i not in with_lo], a, True, steps=(LOOKBACK[1], None))
    if newest is None:
        newer = newer_than(store, ids, e)
    else:
        newer = [i for i in ids if newest.get(i) is not None and newest[i] >= e]
    newer = [i for i in newer if i not in with_hi]
    hi = nearest(store, newer, b, False, steps=(LOOKBACK[1], None))
    if lo or hi:
        t = store.query(sql.format("<="), [min(lo.values(), default=a), max(hi.values(), default=b)])
    return t


def product_cycle_times(store: Store) -> dict[str, float]:
    """The store's product master: product -> ideal cycle time (s) (`Store.products`)."""
    t = store.query("SELECT product, ideal_cycle_time_s FROM products")
    return dict(zip(t.column("product").to_pylist(), t.column("ideal_cycle_time_s").to_pylist(), strict=True))


def ict_table(config: KpiConfig, master: Mapping[str, float] | None = None) -> pa.Table:
    """`_ict`: per product the config's ideal cycle time (`ict`) and the product master's
    (`mict`), either NULL (see `elements.PRU_SQL` for which wins)."""
    master = master or {}
    products = sorted(set(config.ideal_cycle_times) | set(master))
    return pa.table(
        {
            "product": pa.array(products, pa.string()),
            "ict": pa.array([config.ideal_cycle_times.get(p) for p in products], pa.float64()),
            "mict": pa.array([master.get(p) for p in products], pa.float64()),
        }
    )


def side_tables(
    config: KpiConfig, cal_of: dict[int, str], master: Mapping[str, float] | None = None
) -> dict[str, pa.Table]:
    """The small relations the KPI queries read besides the store's tables: each machine's
    calendar name (`_machine_cal`), the state mapping (`_map`), the startup scrap reasons
    (`_startup`) and the ideal cycle times by product of the config and of the product master
    `master` (`_ict`)."""
    return {
        "_machine_cal": pa.table(
            {
                "machine_id": pa.array(list(cal_of), pa.int32()),
                "cal": pa.array(list(cal_of.values()), pa.string()),
            }
        ),
        "_map": mapping_table(config),
        "_startup": pa.table({"reason": pa.array(list(config.startup_scrap_reasons), pa.string())}),
        "_ict": ict_table(config, master),
    }
