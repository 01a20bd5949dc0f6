"""ISO 22400-2 time elements, OEE and the six big losses, computed in SQL inside the store.

One query does the work (see docs/kpi.md for the model and every formula):

1. state episodes: LEAD over each machine's state changes gives the episode's full length, which
   decides micro-stops (short idle/down) and failures; the mapping table turns state and reason
   into an ISO time element;
2. one event stream per machine: calendar boundaries (the machine's shift calendar, or 24/7),
   state changes and part counts, UNION ALL;
3. forward fill: every event carries the calendar status and the state in force at its time;
4. LEAD gives each segment's length, clipped to [start, end); each segment is classified
   (no data, not scheduled, planned downtime, production, micro-stop, setup, down, delay);
5. aggregate by the requested groups; ratios and losses are derived from the sums in pandas.

The forward fill is the only dialect-specific step: DuckDB has `last_value(... IGNORE NULLS)`;
PostgreSQL gets the portable running-count variant in `_forward_fill_postgresql`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..model.calendar import CALENDAR_SCHEMA, timeline_table
from ..store.base import Store
from .config import KpiConfig

GROUPS = ("machine", "line", "shift", "day", "order")

#: The six big losses (seven columns: quality is split into defects and startup yield), in
#: seconds. For every group they add up to PBT − GQ·PRU, so OEE = 1 − Σ losses / PBT.
LOSS_COLUMNS = (
    "loss_breakdowns_s",
    "loss_setup_s",
    "loss_idling_s",
    "loss_minor_stops_s",
    "loss_reduced_speed_s",
    "loss_defects_s",
    "loss_reduced_yield_s",
)

TIME_COLUMNS = (
    "calendar_time_s",
    "not_scheduled_s",
    "planned_operation_time_s",
    "planned_downtime_s",
    "planned_busy_time_s",
    "actual_production_time_s",
    "setup_time_s",
    "down_time_s",
    "delay_time_s",
    "micro_stop_time_s",
    "no_data_s",
)
QUANTITY_COLUMNS = ("produced_quantity", "good_quantity", "scrap_quantity", "rework_quantity")
KPI_COLUMNS = (
    "availability",
    "effectiveness",
    "quality_ratio",
    "oee",
    "mtbf_s",
    "mttr_s",
    "throughput_rate_per_h",
    "scrap_ratio",
    "setup_rate",
    "first_pass_yield",
)

#: Calendar name used for machines that are planned around the clock (no calendar).
ALWAYS = "__always_planned__"


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _always_timeline(start: datetime, end: datetime) -> pa.Table:
    """24/7 work, with a boundary at each UTC midnight so that 'day' is the UTC date."""
    first = datetime.combine(start.date(), datetime.min.time())
    ts = [first]
    while ts[-1] + timedelta(days=1) < end:
        ts.append(datetime.combine(ts[-1].date() + timedelta(days=1), datetime.min.time()))
    n = len(ts)
    return pa.table(
        {
            "calendar": [ALWAYS] * n,
            "ts": ts,
            "status": ["work"] * n,
            "shift": [None] * n,
            "day": [t.date() for t in ts],
        },
        schema=CALENDAR_SCHEMA,
    )


def _timeline(
    store: Store,
    machine_rows: list[dict],
    start: datetime,
    end: datetime,
    config: KpiConfig,
    cals: dict | None = None,
) -> tuple[pa.Table, dict[int, str]]:
    """The calendar timeline table and each machine's calendar name in it (`cals`: the
    store's calendars, when the caller has read them)."""
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
                stacklevel=3,
            )
            name = None
        used[m["machine_id"]] = name or ALWAYS
    names = sorted({n for n in used.values() if n != ALWAYS})
    parts = [timeline_table([cals[n] for n in names], start, end)]
    if ALWAYS in used.values():
        parts.append(_always_timeline(start, end))
    return pa.concat_tables(parts), used


#: Use the per-episode query for machine/line/plant groupings (see `_build_fast_sql`).
FAST_PATH = True
#: Read only the state changes the window needs (see `_state_bounds`); False reads every
#: machine's whole history (the reference that tests/test_kpi_bounded.py compares against).
BOUNDED_STATES = True
#: DuckDB reads windows up to this long as Arrow slices (`_duckdb_state_slice`); longer ones
#: filter `states` in the query (`_state_bounds`), so a three-year KPI is not copied to memory.
SLICE_MAX = timedelta(days=31)
#: Sum whole hours from the store's hourly rollup for machine/line/plant groupings (see
#: kpi/rollup.py); False computes every request from the raw rows (the reference that
#: tests/test_kpi_rollup.py compares against).
ROLLUP = True

# Element codes: small integers keep the window's payload narrow.
CODES = {"production": 1, "setup": 2, "down": 3, "delay": 4, "planned_downtime": 5}
MICRO = 6


def _forward_fill(dialect: str, cols: Sequence[str]) -> str:
    """(CTE body that adds f_<col> forward-filled per machine plus `nxt`, the next event's ts).

    The stream `ev` has machine_id, ts, k (0 calendar, 1 state, 2 count) and the columns to
    fill, NULL where an event does not carry them.
    """
    if dialect == "duckdb":
        return _forward_fill_duckdb(cols)
    if dialect == "postgresql":
        return _forward_fill_postgresql(cols)
    raise ValueError(f"unsupported SQL dialect {dialect!r}")


def _forward_fill_duckdb(cols: Sequence[str]) -> str:
    filled = ", ".join(f"last_value({c} IGNORE NULLS) OVER w AS f_{c}" for c in cols)
    return f"""
    ff AS (
        SELECT ev.*, {filled}, lead(ts) OVER w AS nxt
        FROM ev
        WINDOW w AS (PARTITION BY machine_id ORDER BY ts, k ROWS UNBOUNDED PRECEDING)
    )"""


def _forward_fill_postgresql(cols: Sequence[str]) -> str:
    """Portable forward fill for engines without IGNORE NULLS (PostgreSQL): a running count of
    the non-NULL values numbers the groups; each group takes its one non-NULL value. It needs a
    second window pass (slower in DuckDB, which therefore uses `_forward_fill_duckdb`); the
    tests run it on DuckDB to check that both give the same numbers."""
    groups = ", ".join(f"count({c}) OVER w AS g_{c}" for c in cols)
    filled = ", ".join(f"max({c}) OVER (PARTITION BY machine_id, g_{c}) AS f_{c}" for c in cols)
    return f"""
    ev_g AS (
        SELECT ev.*, {groups}, lead(ts) OVER w AS nxt
        FROM ev
        WINDOW w AS (PARTITION BY machine_id ORDER BY ts, k ROWS UNBOUNDED PRECEDING)
    ),
    ff AS (
        SELECT ev_g.*, {filled}
        FROM ev_g
    )"""


def _lit(value) -> str:
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
_LOOKBACK = (timedelta(days=1), timedelta(days=31))


def _state_bounds(
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
    lo_of = _nearest(store, ids, s, before=True)
    hi_of = _nearest(store, _newer_than(store, ids, e), e, before=False)
    return min(lo_of.values(), default=None), max(hi_of.values(), default=None)


def _newer_than(store: Store, ids: Sequence[int], e: datetime) -> list[int]:
    """The machines of `ids` whose newest state change (write watermark) is at or after `e`;
    only they can have a change at or after `e`."""
    if not ids:
        return []
    t = store.query(
        f"SELECT id FROM watermarks WHERE tbl = 'states' AND {machine_filter(ids, store.dialect, 'id')} AND max_ts >= ?",
        [e],
    )
    return sorted(t.column("id").to_pylist())


def _nearest(
    store: Store,
    ids: Sequence[int],
    at: datetime,
    before: bool,
    steps: Sequence[timedelta | None] = (*_LOOKBACK, None),
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


def _duckdb_state_slice(
    store: Store, ids: Sequence[int], s: datetime, e: datetime, newest: dict[int, datetime] | None = None
) -> pa.Table:
    """DuckDB: the state changes of `_state_bounds`' range in one scan, as an Arrow table that
    the KPI query reads instead of `states` (DuckDB has no index to probe, so every search is
    a scan; this way a request scans `states` once instead of twice).

    First read a day before `s` to a day after `e`; machines with no change in the day before
    (or, when their watermark says they have one, in the day after) are searched further out
    with `_nearest`, and the slice is read again with the range widened to cover them.
    `newest`: each machine's newest state change, when the caller has read it (instead of
    asking the watermarks)."""
    cols = "machine_id, ts, state, reason_code, order_id"
    # a short window (the open hour of a rollup request) looks back as far as it is long, at
    # least an hour: a day's rows for an hour's window cost more to read than a second query
    # for the few machines that were quiet that long
    span = min(_LOOKBACK[0], max(timedelta(hours=1), e - s))
    a, b = s - span, e + span
    sql = f"SELECT {cols} FROM states WHERE {machine_filter(ids, store.dialect)} AND ts >= ? AND ts {{}} ?"
    t = store.query(sql.format("<"), [a, b])
    mid = t.column("machine_id").to_numpy()
    ts = t.column("ts").to_numpy()
    with_lo = set(mid[ts < np.datetime64(s, "us")].tolist())
    with_hi = set(mid[ts >= np.datetime64(e, "us")].tolist())
    lo = _nearest(store, [i for i in ids if i not in with_lo], a, True, steps=(_LOOKBACK[1], None))
    if newest is None:
        newer = _newer_than(store, ids, e)
    else:
        newer = [i for i in ids if newest.get(i) is not None and newest[i] >= e]
    newer = [i for i in newer if i not in with_hi]
    hi = _nearest(store, newer, b, False, steps=(_LOOKBACK[1], None))
    if lo or hi:
        t = store.query(sql.format("<="), [min(lo.values(), default=a), max(hi.values(), default=b)])
    return t


def _episodes_ctes(
    s: datetime,
    e: datetime,
    config: KpiConfig,
    ids: Sequence[int] = (),
    bounds: tuple[datetime | None, datetime | None] | None = None,
    states_from: str = "states",
    open_end: datetime | None = None,
) -> str:
    """The CTEs both KPI queries start from: machines with their calendar (m), state changes
    mapped to time-element codes (st0, st), and episodes in the window (ep) with their full
    length and class (a down or delay episode shorter than the threshold is a micro-stop).

    `ids` are the machines' ids and `bounds` the range of `_state_bounds`: st0 reads only the
    state changes in that range (literals, so that the engine prunes with its index or zone
    maps); None reads every state change of the machines (`BOUNDED_STATES = False`).
    `states_from` names the relation with the state changes: `states`, or on DuckDB the
    `_states` slice of `_duckdb_state_slice`. `open_end`: where the last, still open episode
    of a machine ends for its repair time (default `e`; kpi/rollup.py computes parts of a
    window and passes the window's end)."""
    p = _lit
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"
    st_range = "TRUE"
    if bounds is not None:
        lo, hi = bounds
        st_range = f"s.ts >= {p(lo if lo is not None else s)} AND " + (
            f"s.ts <= {p(hi)}" if hi is not None else f"s.ts < {p(e)}"
        )
    el_sql = " ".join(f"WHEN '{k}' THEN {v}" for k, v in CODES.items())
    down, delay = CODES["down"], CODES["delay"]
    return f"""
    WITH m AS (
        SELECT m.machine_id, m.path,
               m.enterprise || '/' || m.site || '/' || m.area || '/' || m.line AS line_path,
               c.cal, m.default_ideal_cycle_time_s AS m_pru
        FROM machines m JOIN _machine_cal c USING (machine_id)
    ),
    st0 AS (
        SELECT s.machine_id, s.ts, s.order_id,
               CAST(CASE coalesce(r.element, g.element) {el_sql} END AS INTEGER) AS code
        FROM {states_from} s
        LEFT JOIN _map r ON r.state = s.state AND r.reason_code = s.reason_code
        LEFT JOIN _map g ON g.state = s.state AND g.reason_code IS NULL
        WHERE s.machine_id IN ({id_list}) AND {st_range}
    ),
    st AS (
        SELECT st0.*, lead(ts) OVER (PARTITION BY machine_id ORDER BY ts) AS nxt FROM st0
    ),
    ep AS (
        SELECT machine_id, ts, order_id, order_id IS NOT NULL AS has_order, code,
               greatest(ts, {p(s)}) AS a, least(coalesce(nxt, {p(e)}), {p(e)}) AS b,
               extract(epoch FROM (coalesce(nxt, {p(open_end or e)}) - ts)) AS dur_s,
               CASE WHEN code IN ({down}, {delay}) AND nxt IS NOT NULL
                         AND extract(epoch FROM (nxt - ts)) < {p(config.micro_stop_threshold_s)}
                    THEN {MICRO} ELSE code END AS cls
        FROM st
        WHERE (nxt IS NULL OR nxt > {p(s)}) AND ts < {p(e)}
    ),"""


def _build_sql(
    dialect: str,
    group_by: Sequence[str],
    s: datetime,
    e: datetime,
    config: KpiConfig,
    orderless_counts: bool = True,
    ids: Sequence[int] = (),
    bounds: tuple[datetime | None, datetime | None] | None = None,
    states_from: str = "states",
    counts_from: str = "counts",
) -> tuple[str, list]:
    """The KPI query and its parameters.

    What travels through the forward-fill window is kept as narrow as the grouping allows
    (the window's sort dominates the cost): counts and failures only join the event stream
    when they need the calendar (shift, day) or the state's order; otherwise they are
    aggregated straight from their tables. `orderless_counts`: some counts in the window have
    no order_id, so they need the order of the state in force.
    """
    p = _lit
    groups = set(group_by)
    by_calendar = bool({"shift", "day"} & groups)
    by_order = "order" in groups
    all_counts_in_stream = by_calendar or by_order
    counts_in_stream = all_counts_in_stream or orderless_counts
    failures_in_stream = by_calendar
    ord_string = by_order or orderless_counts
    # the state's order: its id where needed, else only whether there is one
    ord_expr = "coalesce(order_id, '')" if ord_string else "CASE WHEN order_id IS NULL THEN 0 ELSE 1 END"
    ord_type = "VARCHAR" if ord_string else "INTEGER"
    has_ord = "ff.f_ord <> ''" if ord_string else "ff.f_ord = 1"
    fill_cte = _forward_fill(dialect, ("ci", "cls", "ord"))
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"
    down, prod, pdt = CODES["down"], CODES["production"], CODES["planned_downtime"]
    gcols = "".join(f"g_{g}, " for g in group_by)
    seg_group = {
        "machine": "m.path",
        "line": "m.line_path",
        "shift": "t.shift",
        "day": "t.day",
        "order": "nullif(ff.f_ord, '')",
    }
    g_seg = "".join(f"{seg_group[g]} AS g_{g}, " for g in group_by)
    g_cnt = "".join(f"{dict(seg_group, order='ff.ord2')[g]} AS g_{g}, " for g in group_by)
    direct = {"machine": "m.path", "line": "m.line_path", "order": "x.order_id"}
    g_dir = "".join(f"{direct.get(g, 'NULL')} AS g_{g}, " for g in group_by)

    null_cnt = (
        "CAST(NULL AS BIGINT) AS good, CAST(NULL AS BIGINT) AS scrap, CAST(NULL AS BIGINT) AS rework, "
        "CAST(NULL AS VARCHAR) AS scrap_reason, CAST(NULL AS VARCHAR) AS c_ord, "
        if counts_in_stream
        else ""
    )
    null_fail = "0 AS failure, CAST(NULL AS DOUBLE PRECISION) AS repair_s, " if failures_in_stream else ""
    is_failure = f"cls = {down} AND ts >= {{}}"

    ev_parts = [
        f"""
        SELECT m.machine_id, greatest(t.ts, {p(s)}) AS ts, 0 AS k, t.ci,
               CAST(NULL AS INTEGER) AS cls, CAST(NULL AS {ord_type}) AS ord, {null_fail}{null_cnt}
               0 AS dummy
        FROM m JOIN _timeline t ON t.calendar = m.cal"""
    ]
    state_fail = (
        f"CASE WHEN {is_failure.format(p(s))} THEN 1 ELSE 0 END, "
        f"CASE WHEN {is_failure.format(p(s))} THEN dur_s END, "
        if failures_in_stream
        else ""
    )
    ev_parts.append(
        f"""
        SELECT machine_id, greatest(ts, {p(s)}), 1, NULL, cls, {ord_expr}, {state_fail}
               {"NULL, NULL, NULL, NULL, NULL, " if counts_in_stream else ""}0
        FROM ep"""
    )
    if counts_in_stream:
        ev_parts.append(
            f"""
        SELECT c.machine_id, c.ts, 2, NULL, NULL, NULL, {"0, NULL, " if failures_in_stream else ""}
               c.good, c.scrap, c.rework, c.scrap_reason, c.order_id, 0
        FROM {counts_from} c
        WHERE c.ts >= {p(s)} AND c.ts < {p(e)} {"" if all_counts_in_stream else "AND c.order_id IS NULL"}
          AND c.machine_id IN ({id_list})"""
        )

    cnt_sources = []
    if counts_in_stream:
        cnt_sources.append(
            f"""
        SELECT {g_cnt} ff.good, ff.scrap, ff.rework, ff.scrap_reason, ff.ord2, m.m_pru
        FROM (SELECT ff.*, coalesce(c_ord, {"nullif(f_ord, '')" if ord_string else "NULL"}) AS ord2
              FROM ff WHERE k = 2) ff
        JOIN m USING (machine_id)
        JOIN _timeline t ON t.ci = ff.f_ci"""
        )
    if not all_counts_in_stream:
        cnt_sources.append(
            f"""
        SELECT {g_dir} x.good, x.scrap, x.rework, x.scrap_reason, x.order_id AS ord2, m.m_pru
        FROM {counts_from} x JOIN m USING (machine_id)
        WHERE x.order_id IS NOT NULL AND x.ts >= {p(s)} AND x.ts < {p(e)} AND x.machine_id IN ({id_list})"""
        )
    fail_source = ""
    if not failures_in_stream:
        fail_source = f"""
        UNION ALL
        SELECT {g_dir} 0, NULL, FALSE, 1, x.dur_s, NULL, NULL, NULL, NULL, NULL
        FROM ep x JOIN m USING (machine_id)
        WHERE x.cls = {down} AND x.ts >= {p(s)}"""

    sql = f"""
    {_episodes_ctes(s, e, config, ids, bounds, states_from)}
    ev AS ({" UNION ALL ".join(ev_parts)}
    ),{fill_cte},
    seg AS (
        SELECT {g_seg}
               extract(epoch FROM (coalesce(ff.nxt, {p(e)}) - ff.ts)) AS dur,
               CASE
                   WHEN ff.f_cls IS NULL THEN 'no_data'
                   WHEN ff.f_cls = {prod} AND (t.status = 'work' OR {p(bool(config.count_running_outside_schedule))})
                       THEN 'production'
                   WHEN t.status = 'off' THEN 'not_scheduled'
                   WHEN t.status = 'break' OR ff.f_cls IN ({prod}, {pdt}) THEN 'planned_downtime'
                   WHEN ff.f_cls = {MICRO} THEN 'micro'
                   WHEN ff.f_cls = {CODES["setup"]} THEN 'setup'
                   WHEN ff.f_cls = {down} THEN 'down'
                   ELSE 'delay'
               END AS el,
               coalesce({has_ord}, FALSE) AS has_order,
               {"ff.failure, ff.repair_s" if failures_in_stream else "0 AS failure, CAST(NULL AS DOUBLE PRECISION) AS repair_s"}
        FROM ff JOIN m USING (machine_id) JOIN _timeline t ON t.ci = ff.f_ci
    ),
    cnt_rows AS ({" UNION ALL ".join(cnt_sources)}
    ),
    cnt AS (
        SELECT {gcols} good, scrap, rework,
               CASE WHEN scrap_reason IN (SELECT reason FROM _startup) THEN scrap ELSE 0 END AS startup,
               coalesce(i.ict, o.ideal_cycle_time_s, m_pru) AS pru
        FROM cnt_rows
        LEFT JOIN orders o ON o.order_id = cnt_rows.ord2
        LEFT JOIN _ict i ON i.product = o.product
    ),
    facts AS (
        SELECT {gcols} dur, el, has_order, failure, repair_s,
               CAST(NULL AS BIGINT) AS good, CAST(NULL AS BIGINT) AS scrap,
               CAST(NULL AS BIGINT) AS rework, CAST(NULL AS BIGINT) AS startup,
               CAST(NULL AS DOUBLE PRECISION) AS pru
        FROM seg
        UNION ALL
        SELECT {gcols} 0, NULL, FALSE, 0, NULL, good, scrap, rework, startup, pru
        FROM cnt{fail_source}
    )
    SELECT {gcols}
        coalesce(sum(dur), 0) AS calendar_time_s,
        coalesce(sum(CASE WHEN el = 'not_scheduled' THEN dur END), 0) AS not_scheduled_s,
        coalesce(sum(CASE WHEN el = 'planned_downtime' THEN dur END), 0) AS planned_downtime_s,
        coalesce(sum(CASE WHEN el IN ('production', 'micro') THEN dur END), 0) AS actual_production_time_s,
        coalesce(sum(CASE WHEN el = 'setup' THEN dur END), 0) AS setup_time_s,
        coalesce(sum(CASE WHEN el = 'down' THEN dur END), 0) AS down_time_s,
        coalesce(sum(CASE WHEN el = 'delay' THEN dur END), 0) AS delay_time_s,
        coalesce(sum(CASE WHEN el = 'micro' THEN dur END), 0) AS micro_stop_time_s,
        coalesce(sum(CASE WHEN el = 'no_data' THEN dur END), 0) AS no_data_s,
        coalesce(sum(CASE WHEN el IN ('production', 'micro', 'setup', 'down', 'delay')
                          AND has_order THEN dur END), 0) AS order_execution_time_s,
        coalesce(sum(good), 0) AS good_quantity,
        coalesce(sum(scrap), 0) AS scrap_quantity,
        coalesce(sum(rework), 0) AS rework_quantity,
        coalesce(sum(startup), 0) AS startup_scrap_quantity,
        coalesce(sum((good + scrap) * pru), 0) AS ideal_time_s,
        coalesce(sum(CASE WHEN good IS NOT NULL AND pru IS NULL THEN good + scrap END), 0)
            AS quantity_without_ideal_time,
        coalesce(sum(failure), 0) AS failures,
        coalesce(sum(repair_s), 0) AS repair_time_s
    FROM facts
    {("GROUP BY " + gcols.rstrip(", ")) if group_by else ""}
    """
    return sql, []


def _calendar_buckets(timeline: pa.Table, s: datetime, e: datetime) -> pa.Table:
    """Calendar intervals with the cumulative work/break/off seconds at their start, one row per
    hour bucket they overlap, so that SQL finds the interval containing any instant with an
    equality join on (calendar, hour) instead of a range or ASOF join."""
    rows: dict[str, list] = {
        k: [] for k in ("calendar", "bucket", "c_ts", "c_end", "status", "cw", "cb", "co")
    }
    epoch = datetime(1970, 1, 1)
    cal = timeline.column("calendar").to_pylist()
    ts = timeline.column("ts").to_pylist()
    status = timeline.column("status").to_pylist()
    n = len(ts)
    cum = {"work": 0.0, "break": 0.0, "off": 0.0}
    for i in range(n):
        if i == 0 or cal[i] != cal[i - 1]:
            cum = {"work": 0.0, "break": 0.0, "off": 0.0}
        c0 = max(ts[i], s)
        c1 = ts[i + 1] if i + 1 < n and cal[i + 1] == cal[i] else e
        if c1 <= c0:
            continue
        b0 = math.floor((c0 - epoch).total_seconds() / 3600)
        b1 = math.ceil((c1 - epoch).total_seconds() / 3600) - 1
        for b in range(b0, b1 + 1):
            rows["calendar"].append(cal[i])
            rows["bucket"].append(b)
            rows["c_ts"].append(c0)
            rows["c_end"].append(c1)
            rows["status"].append(status[i])
            rows["cw"].append(cum["work"])
            rows["cb"].append(cum["break"])
            rows["co"].append(cum["off"])
        cum[status[i]] += (c1 - c0).total_seconds()
    return pa.table(
        rows,
        schema=pa.schema(
            [
                ("calendar", pa.string()),
                ("bucket", pa.int64()),
                ("c_ts", pa.timestamp("us")),
                ("c_end", pa.timestamp("us")),
                ("status", pa.string()),
                ("cw", pa.float64()),
                ("cb", pa.float64()),
                ("co", pa.float64()),
            ]
        ),
    )


def _build_fast_sql(
    group_by: Sequence[str],
    s: datetime,
    e: datetime,
    config: KpiConfig,
    ids: Sequence[int] = (),
    bounds: tuple[datetime | None, datetime | None] | None = None,
    states_from: str = "states",
    counts_from: str = "counts",
) -> str:
    """The KPI query for groupings that need no shift, day or state order per instant
    (machine, line, plant) and counts that all name their order.

    No event stream and no forward fill: an episode's work/break/off seconds are the
    differences of the calendar's cumulative seconds at its two ends (looked up with an
    equality join on the hour), so each episode is one row however many shifts it spans.
    `tests/test_kpi_properties.py` checks it against the streamed query (via groupings) and
    against a second-by-second reference.
    """
    p = _lit
    down, delay, prod = CODES["down"], CODES["delay"], CODES["production"]
    gm = {"machine": "m.path", "line": "m.line_path"}
    g_sel = "".join(f"{gm[g]} AS g_{g}, " for g in group_by)
    # the episodes carry their machine's path and line from the first join with m on, so no
    # later join is needed (PostgreSQL misestimates the hour-bucket joins at one row and
    # would loop over m for every episode)
    carried = {"machine": "m_path", "line": "m_line"}
    g_el = "".join(f"{carried[g]} AS g_{g}, " for g in group_by)
    gcols = "".join(f"g_{g}, " for g in group_by)
    outside = p(bool(config.count_running_outside_schedule))
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"
    window_s = (e - s).total_seconds()

    def cum(side: str, col: str, status: str) -> str:
        t = "a" if side == "a" else "b"
        return (
            f"({side}c.{col} + CASE WHEN {side}c.status = '{status}' "
            f"THEN extract(epoch FROM (x.{t} - {side}c.c_ts)) ELSE 0 END)"
        )

    return f"""
    {_episodes_ctes(s, e, config, ids, bounds, states_from)}
    x AS (
        SELECT ep.*, m.cal, m.path AS m_path, m.line_path AS m_line,
               extract(epoch FROM (ep.b - ep.a)) AS d
        FROM ep JOIN m USING (machine_id)
    ),
    split AS (
        SELECT x.machine_id, x.m_path, x.m_line, x.cls, x.has_order, x.d,
               CASE WHEN x.cls = {down} AND x.ts >= {p(s)} THEN 1 ELSE 0 END AS failure,
               CASE WHEN x.cls = {down} AND x.ts >= {p(s)} THEN x.dur_s END AS repair_s,
               {cum("b", "cw", "work")} - {cum("a", "cw", "work")} AS w,
               {cum("b", "cb", "break")} - {cum("a", "cb", "break")} AS br,
               {cum("b", "co", "off")} - {cum("a", "co", "off")} AS o
        FROM x
        JOIN _buckets ac ON ac.calendar = x.cal
             AND ac.bucket = CAST(floor(extract(epoch FROM x.a) / 3600) AS BIGINT)
             AND ac.c_ts <= x.a AND x.a < ac.c_end
        JOIN _buckets bc ON bc.calendar = x.cal
             AND bc.bucket = CAST(ceil(extract(epoch FROM x.b) / 3600) AS BIGINT) - 1
             AND bc.c_ts < x.b AND x.b <= bc.c_end
    ),
    el AS (
        SELECT machine_id, m_path, m_line, has_order, cls, d, w, br, o, failure, repair_s,
               cls = {prod} AND {outside} AS all_prod
        FROM split
    ),
    facts AS (
        SELECT {g_el}
               CAST(0 AS DOUBLE PRECISION) AS cal_s,
               CASE WHEN all_prod THEN 0 ELSE o END AS ns,
               CASE WHEN all_prod THEN 0 WHEN cls IN ({prod}, {CODES["planned_downtime"]}) THEN br + CASE WHEN cls = {prod} THEN 0 ELSE w END ELSE br END AS pdt,
               CASE WHEN all_prod THEN d WHEN cls IN ({prod}, {MICRO}) THEN w ELSE 0 END AS apt,
               CASE WHEN cls = {CODES["setup"]} THEN w ELSE 0 END AS setup,
               CASE WHEN cls = {down} THEN w ELSE 0 END AS down,
               CASE WHEN cls = {delay} THEN w ELSE 0 END AS delay,
               CASE WHEN cls = {MICRO} THEN w ELSE 0 END AS micro,
               CAST(0 AS DOUBLE PRECISION) AS nodata,
               CASE WHEN NOT has_order THEN 0 WHEN all_prod THEN d
                    WHEN cls = {CODES["planned_downtime"]} THEN 0 ELSE w END AS aoet,
               CAST(NULL AS BIGINT) AS good, CAST(NULL AS BIGINT) AS scrap,
               CAST(NULL AS BIGINT) AS rework, CAST(NULL AS BIGINT) AS startup,
               CAST(NULL AS DOUBLE PRECISION) AS pru, failure, repair_s
        FROM el
        UNION ALL
        SELECT {g_sel} {window_s!r}, 0, 0, 0, 0, 0, 0, 0,
               greatest(0, extract(epoch FROM (least(coalesce(f.first_ts, {p(e)}), {p(e)}) - {p(s)}))),
               0, NULL, NULL, NULL, NULL, NULL, 0, NULL
        FROM m LEFT JOIN (SELECT machine_id, min(ts) AS first_ts FROM st0 GROUP BY machine_id) f
             USING (machine_id)
        UNION ALL
        SELECT {g_sel} 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, c.good, c.scrap, c.rework,
               CASE WHEN c.scrap_reason IN (SELECT reason FROM _startup) THEN c.scrap ELSE 0 END,
               coalesce(i.ict, o.ideal_cycle_time_s, m.m_pru), 0, NULL
        FROM {counts_from} c JOIN m USING (machine_id)
        LEFT JOIN orders o ON o.order_id = c.order_id
        LEFT JOIN _ict i ON i.product = o.product
        WHERE c.ts >= {p(s)} AND c.ts < {p(e)} AND c.machine_id IN ({id_list})
    )
    SELECT {gcols}
        sum(cal_s) AS calendar_time_s,
        sum(ns) AS not_scheduled_s,
        sum(pdt) AS planned_downtime_s,
        sum(apt) AS actual_production_time_s,
        sum(setup) AS setup_time_s,
        sum(down) AS down_time_s,
        sum(delay) AS delay_time_s,
        sum(micro) AS micro_stop_time_s,
        sum(nodata) AS no_data_s,
        sum(aoet) AS order_execution_time_s,
        coalesce(sum(good), 0) AS good_quantity,
        coalesce(sum(scrap), 0) AS scrap_quantity,
        coalesce(sum(rework), 0) AS rework_quantity,
        coalesce(sum(startup), 0) AS startup_scrap_quantity,
        coalesce(sum((good + scrap) * pru), 0) AS ideal_time_s,
        coalesce(sum(CASE WHEN good IS NOT NULL AND pru IS NULL THEN good + scrap END), 0)
            AS quantity_without_ideal_time,
        sum(failure) AS failures,
        coalesce(sum(repair_s), 0) AS repair_time_s
    FROM facts
    {("GROUP BY " + gcols.rstrip(", ")) if group_by else ""}
    """


def _float_epochs(dialect: str, sql: str) -> str:
    """PostgreSQL: `extract(epoch ...)` gives NUMERIC (exact decimal, several times slower to
    add and compare than floats); `date_part('epoch', ...)` gives double precision, the type
    DuckDB's extract gives. Same SQL text otherwise, so both engines do the same arithmetic."""
    if dialect == "postgresql":
        return sql.replace("extract(epoch FROM ", "date_part('epoch', ")
    return sql


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = num.astype(float)
    den = den.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return out.where(den != 0, np.nan)


def compute_kpis(
    store: Store,
    start: datetime,
    end: datetime,
    group_by: Sequence[str] = ("machine",),
    config: KpiConfig | None = None,
    machines: list[str] | Callable[[list[str]], list[str]] | None = None,
) -> pd.DataFrame:
    """ISO 22400-2 time elements, quantities, KPIs and losses for [start, end), one row per group.

    `group_by` is any combination of machine, line, shift, day and order (() for the plant).
    `machines`: the machine paths to include (unknown ones are an error), or a function that
    picks them from every machine path of the store (its unknown picks are left out), or None
    for every machine.
    Times are seconds, quantities integers, ratios NaN where their denominator is 0.
    """
    config = config or KpiConfig()
    group_by = tuple(group_by)
    bad = [g for g in group_by if g not in GROUPS]
    if bad or len(set(group_by)) != len(group_by):
        raise ValueError(f"group_by {group_by!r}: use distinct names from {', '.join(GROUPS)}")
    s, e = _naive_utc(start), _naive_utc(end)
    if not s < e:
        raise ValueError(f"start ({s}) must be before end ({e})")

    from_rollup = ROLLUP and getattr(store, "kpi_rollup", False) and set(group_by) <= {"machine", "line"}
    cals = None
    if from_rollup:  # what the rollup needs about each machine and the calendars, in one read
        from .rollup import machine_info

        mrows, cals = machine_info(store)
    else:
        mrows = store.query("SELECT machine_id, path, calendar FROM machines ORDER BY path").to_pylist()
    if callable(machines):  # a choice made from the store's paths (the API's scope)
        known = {m["path"] for m in mrows}
        machines = [p for p in machines([m["path"] for m in mrows]) if p in known]
    if machines is not None:
        wanted = set(machines)
        unknown = wanted - {m["path"] for m in mrows}
        if unknown:
            raise ValueError(f"unknown machines: {', '.join(sorted(unknown))}")
        mrows = [m for m in mrows if m["path"] in wanted]
    if from_rollup:
        from .rollup import compute_from_rollup

        raw = compute_from_rollup(store, s, e, group_by, config, mrows, cals)
        if raw is not None:
            return _finish(raw, group_by)
    timeline, cal_of = _timeline(store, mrows, s, e, config, cals)
    timeline = timeline.filter(pc.less(timeline.column("ts"), pa.scalar(e, pa.timestamp("us"))))
    timeline = timeline.append_column("ci", pa.array(range(timeline.num_rows), pa.int32()))
    machine_cal = pa.table(
        {
            "machine_id": pa.array(list(cal_of), pa.int32()),
            "cal": pa.array(list(cal_of.values()), pa.string()),
        }
    )
    mapping = config.mapping_rows()
    tables = {
        "_timeline": timeline,
        "_machine_cal": machine_cal,
        "_map": pa.table(
            {
                "state": [r[0] for r in mapping],
                "reason_code": pa.array([r[1] for r in mapping], pa.string()),
                "element": [r[2] for r in mapping],
            }
        ),
        "_startup": pa.table({"reason": pa.array(list(config.startup_scrap_reasons), pa.string())}),
        "_ict": pa.table(
            {
                "product": pa.array(list(config.ideal_cycle_times), pa.string()),
                "ict": pa.array(list(config.ideal_cycle_times.values()), pa.float64()),
            }
        ),
    }
    ids = sorted(cal_of)
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"
    bounds, states_from, counts_from = None, "states", "counts"
    if BOUNDED_STATES and store.dialect == "duckdb" and e - s <= SLICE_MAX:
        # DuckDB has no index: read the window's states and counts once each, as Arrow slices
        tables["_states"], states_from = _duckdb_state_slice(store, ids, s, e), "_states"
        tables["_counts"] = store.query(
            f"SELECT * FROM counts WHERE {machine_filter(ids, store.dialect)} AND ts >= ? AND ts < ?", [s, e]
        )
        counts_from = "_counts"
        orderless = tables["_counts"].column("order_id").null_count
    else:
        if BOUNDED_STATES:
            bounds = _state_bounds(store, ids, s, e)
        orderless = (
            store.query(
                "SELECT count(*) AS n FROM counts WHERE order_id IS NULL AND ts >= ? AND ts < ? "
                f"AND machine_id IN ({id_list})",
                [s, e],
            )
            .column("n")[0]
            .as_py()
        )
    if FAST_PATH and not ({"shift", "day", "order"} & set(group_by)) and orderless == 0:
        tables["_buckets"] = _calendar_buckets(timeline, s, e)
        sql, params = _build_fast_sql(group_by, s, e, config, ids, bounds, states_from, counts_from), []
    else:
        sql, params = _build_sql(
            store.dialect, group_by, s, e, config, orderless > 0, ids, bounds, states_from, counts_from
        )
    raw = store.query(_float_epochs(store.dialect, sql), params, tables=tables).to_pandas()
    raw = raw.rename(columns={f"g_{g}": g for g in group_by})
    return _finish(raw, group_by)


#: The summed times of the KPI query's raw result (seconds).
_SECONDS = (
    "calendar_time_s",
    "not_scheduled_s",
    "planned_downtime_s",
    "actual_production_time_s",
    "setup_time_s",
    "down_time_s",
    "delay_time_s",
    "micro_stop_time_s",
    "no_data_s",
    "order_execution_time_s",
)


def _finish(raw: pd.DataFrame | dict[str, Any], group_by: tuple[str, ...]) -> pd.DataFrame:
    """Ratios and losses from the summed time elements and quantities (`raw`: the KPI query's
    result, or the rollup's sums as a dict of columns), on numpy arrays (one DataFrame built
    at the end: a request's fixed cost, not a per-column pandas round)."""

    def num(c: str) -> np.ndarray:  # a plant with no machines sums to NULL: 0
        if isinstance(raw, pd.DataFrame):
            a = raw[c].to_numpy(dtype=float, na_value=np.nan)
        else:
            a = np.asarray(raw[c], dtype=float)
        return np.where(np.isnan(a), 0.0, a)

    def ratio(n: np.ndarray, d: np.ndarray) -> np.ndarray:
        n, d = n.astype(float), d.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = n / d
        return np.where(d != 0, out, np.nan)

    v = {c: num(c) for c in raw if c not in group_by}
    # times to whole microseconds, the resolution of timestamps: float noise of the sums goes,
    # so equal elements give equal sums (a zero planned busy time is exactly 0, whichever way
    # it was summed: the full query or hours of the rollup, kpi/rollup.py)
    for c in (*_SECONDS, "repair_time_s"):
        if c in v:
            v[c] = np.round(v[c] * 1e6) / 1e6
    out: dict[str, object] = {
        g: raw[g].reset_index(drop=True) if isinstance(raw, pd.DataFrame) else list(raw[g]) for g in group_by
    }
    for c in TIME_COLUMNS:
        if c in v:
            out[c] = v[c]
    pot = v["calendar_time_s"] - v["not_scheduled_s"] - v["no_data_s"]
    pbt = pot - v["planned_downtime_s"]
    out["planned_operation_time_s"] = pot
    out["planned_busy_time_s"] = pbt
    gq, sq, rq, failures = (
        v[q].astype("int64") for q in ("good_quantity", "scrap_quantity", "rework_quantity", "failures")
    )
    pq_ = gq + sq
    apt, ideal = v["actual_production_time_s"], v["ideal_time_s"]
    startup = v["startup_scrap_quantity"].astype("int64")
    out.update(produced_quantity=pq_, good_quantity=gq, scrap_quantity=sq, rework_quantity=rq)
    out.update(ideal_time_s=ideal, failures=failures, repair_time_s=v["repair_time_s"])
    out["order_execution_time_s"] = v["order_execution_time_s"]
    out["startup_scrap_quantity"] = startup
    out["quantity_without_ideal_time"] = v["quantity_without_ideal_time"].astype("int64")
    availability, effectiveness, quality = ratio(apt, pbt), ratio(ideal, apt), ratio(gq, pq_)
    out.update(availability=availability, effectiveness=effectiveness, quality_ratio=quality)
    out["oee"] = availability * effectiveness * quality
    out["mtbf_s"] = ratio(apt, failures)
    out["mttr_s"] = ratio(v["repair_time_s"], failures)
    out["throughput_rate_per_h"] = ratio(pq_ * 3600.0, v["order_execution_time_s"])
    out["scrap_ratio"] = ratio(sq, pq_)
    out["setup_rate"] = ratio(v["setup_time_s"], apt + v["setup_time_s"])
    out["first_pass_yield"] = ratio(gq - rq, pq_)

    # Losses. Quality losses are valued at the group's mean PRU (ideal time / PQ), so that
    # Σ losses = PBT − GQ·PRU = PBT·(1 − OEE) holds exactly even when products are mixed.
    mean_pru = ratio(ideal, pq_)
    mean_pru = np.where(np.isnan(mean_pru), 0.0, mean_pru)
    out["loss_breakdowns_s"] = v["down_time_s"]
    out["loss_setup_s"] = v["setup_time_s"]
    out["loss_idling_s"] = v["delay_time_s"]
    out["loss_minor_stops_s"] = v["micro_stop_time_s"]
    out["loss_reduced_speed_s"] = apt - v["micro_stop_time_s"] - ideal
    out["loss_defects_s"] = (sq - startup) * mean_pru
    out["loss_reduced_yield_s"] = startup.astype(float) * mean_pru

    cols = [
        *group_by,
        *TIME_COLUMNS,
        *QUANTITY_COLUMNS,
        "ideal_time_s",
        "failures",
        "repair_time_s",
        "order_execution_time_s",
        "startup_scrap_quantity",
        "quantity_without_ideal_time",
        *KPI_COLUMNS,
        *LOSS_COLUMNS,
    ]
    df = pd.DataFrame({c: out[c] for c in cols})
    if group_by:
        df = df.sort_values(list(group_by), na_position="last", kind="stable")
    return df.reset_index(drop=True)
