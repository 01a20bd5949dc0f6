"""KPIs for machine/line/plant groupings from an exact hourly rollup (`kpi_hours`).

A request [s, e) is cut at whole UTC hours: the hours inside it are read from `kpi_hours`
where the store has them, and everything else (the partial hours at both edges, hours not
rolled up yet, hours the machine's still open last episode reaches) is computed by one SQL
query per contiguous run of such pieces, which gives one row per (machine, piece). The
request's sums are the sums of its pieces, so the result equals `compute_kpis`' full query
(see docs/kpi.md, "Hourly rollup", for why every element is additive and how the store keeps
the hours exact; tests/test_kpi_rollup.py checks it on random data, windows and writes).

A piece's row holds the time elements the full query sums, split at the piece's bounds:
an episode's class (micro-stop or not) and repair time come from its whole length, not the
clipped one, and a failure belongs to the piece where the episode starts, exactly as the
window query treats an episode that the window cuts. Only hours before the machine's newest
state change are stored (their episodes are all closed), together with a fingerprint of the
KPI config, the machine's calendar and its default ideal cycle time, and only when the
machine's rollup version has not moved since before the computation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model.calendar import ShiftCalendar
from ..store.base import Store
from ..store.rollup import COLUMNS, VALUE_COLUMNS
from . import oee
from .config import KpiConfig

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: Windows with at least this many whole UTC days read them from `kpi_days` (`_stored`).
DAYS_FROM = 2 * DAY
#: Runs of pieces up to this long are computed in Python from their raw rows (`_run_rows`:
#: a few plain reads, no big query to plan); longer ones (a cold rollup) by `hourly_sql`.
#: Both give the same whole microseconds; tests/test_kpi_rollup.py runs each against the
#: full query.
PY_MAX = timedelta(hours=6)
_EPOCH = datetime(1970, 1, 1)

#: rollup value column -> the column name of the KPI query's raw result
RAW_NAMES = {
    "cal_us": "calendar_time_s",
    "ns_us": "not_scheduled_s",
    "pdt_us": "planned_downtime_s",
    "apt_us": "actual_production_time_s",
    "setup_us": "setup_time_s",
    "down_us": "down_time_s",
    "delay_us": "delay_time_s",
    "micro_us": "micro_stop_time_s",
    "nodata_us": "no_data_s",
    "aoet_us": "order_execution_time_s",
    "good": "good_quantity",
    "scrap": "scrap_quantity",
    "rework": "rework_quantity",
    "startup": "startup_scrap_quantity",
    "ideal": "ideal_time_s",
    "qwi": "quantity_without_ideal_time",
    "failures": "failures",
    "repair_us": "repair_time_s",
}
VALUES = [c for c, _ in VALUE_COLUMNS]


#: What a rollup request reads about the machines and calendars, in one statement (one
#: snapshot): each machine (kind 0: path, calendar, line path, default ideal cycle time), its
#: rollup version (kind 1; read with the rest: hours computed from then on are stored only if
#: no write moved it), its newest state change (kind 2) and each calendar's definition (kind
#: 3). A UNION ALL of plain scans instead of joins: DuckDB plans it in about half the time,
#: and it saves the separate calendars read (bench/kpi_reads.py). `machine_info` assembles it.
MACHINE_INFO = (
    "SELECT 0 AS kind, machine_id, path AS name, calendar AS text, "
    "enterprise || '/' || site || '/' || area || '/' || line AS line_path, "
    "default_ideal_cycle_time_s AS pru, CAST(NULL AS TIMESTAMP) AS ts, CAST(NULL AS BIGINT) AS ver "
    "FROM machines UNION ALL "
    "SELECT 1, machine_id, NULL, NULL, NULL, NULL, NULL, ver FROM kpi_versions UNION ALL "
    "SELECT 2, machine_id, NULL, NULL, NULL, NULL, ts, NULL FROM latest_states UNION ALL "
    "SELECT 3, NULL, name, definition, NULL, NULL, NULL, NULL FROM calendars"
)


@functools.lru_cache(maxsize=256)
def _calendar(definition: str) -> ShiftCalendar:
    """A calendar from its stored JSON (parsed once per distinct definition)."""
    return ShiftCalendar.model_validate(json.loads(definition))


def machine_info(store: Store) -> tuple[list[dict], dict[str, ShiftCalendar]]:
    """The machines by path, each a dict of machine_id, path, calendar, ver, newest,
    line_path and pru, and the store's calendars by name: one read (MACHINE_INFO)."""
    t = store.query(MACHINE_INFO)
    cols = {c: t.column(c).to_pylist() for c in t.column_names}
    machines: dict[int, dict] = {}
    ver: dict[int, int] = {}
    newest: dict[int, datetime] = {}
    cals: dict[str, ShiftCalendar] = {}
    for kind, mid, name, text, line_path, pru, ts, v in zip(*cols.values(), strict=True):
        if kind == 0:
            machines[mid] = {
                "machine_id": mid,
                "path": name,
                "calendar": text,
                "line_path": line_path,
                "pru": pru,
            }
        elif kind == 1:
            ver[mid] = v
        elif kind == 2:
            newest[mid] = ts
        else:
            cals[name] = _calendar(text)
    rows = sorted(machines.values(), key=lambda r: r["path"])
    for r in rows:
        r["ver"] = ver.get(r["machine_id"], 0)
        r["newest"] = newest.get(r["machine_id"])
    return rows, dict(sorted(cals.items()))


def _floor_day(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(t: datetime) -> datetime:
    f = _floor_hour(t)
    return f if f == t else f + HOUR


def pieces(s: datetime, e: datetime) -> list[tuple[datetime, datetime]]:
    """[s, e) cut at every whole UTC hour: the partial edge pieces and the whole hours."""
    out, a = [], s
    while a < e:
        b = min(_floor_hour(a) + HOUR, e)
        out.append((a, b))
        a = b
    return out


def fingerprint(config: KpiConfig, calendar: str, definition: str | None, pru: float | None) -> str:
    """What a machine's hours depend on besides its events: the KPI config, the machine's
    calendar (name and definition) and its default ideal cycle time."""
    return _fingerprint(_config_json(config), calendar, definition, pru)


def _config_json(config: KpiConfig) -> str:
    return json.dumps(config.model_dump(mode="json"), sort_keys=True)


@functools.lru_cache(maxsize=4096)
def _fingerprint(config_json: str, calendar: str, definition: str | None, pru: float | None) -> str:
    """`fingerprint` with the config's JSON given: the text of
    json.dumps([config, calendar, definition, pru], sort_keys=True), built from its parts
    (cached: every request asks again for each machine's)."""
    text = f"[{config_json}, {json.dumps(calendar)}, {json.dumps(definition)}, {json.dumps(pru)}]"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def hourly_sql(
    s: datetime,
    e: datetime,
    open_end: datetime,
    config: KpiConfig,
    ids: Sequence[int],
    bounds: tuple[datetime | None, datetime | None] | None,
    states_from: str,
    counts_from: str,
) -> str:
    """Per (machine, piece of `_pieces`) of [s, e): the sums of `_build_fast_sql`, plus the
    number of counts without an order (the fast query's precondition). `_pieces` (h0, h1, hb)
    cuts [s, e) at hours; hb is the hour number of h0."""
    p = oee._lit
    codes = oee.CODES
    down, delay, prod, pdt = codes["down"], codes["delay"], codes["production"], codes["planned_downtime"]
    micro = oee.MICRO
    outside = p(bool(config.count_running_outside_schedule))
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"

    def hb(col: str, end: bool = False) -> str:
        if end:
            return f"CAST(ceil(extract(epoch FROM {col}) / 3600) AS BIGINT) - 1"
        return f"CAST(floor(extract(epoch FROM {col}) / 3600) AS BIGINT)"

    def us(col: str, name: str) -> str:  # a piece's seconds as whole microseconds
        return f"CAST(round(coalesce(sum({col}), 0) * 1000000) AS BIGINT) AS {name}"

    def cum(side: str, col: str, status: str) -> str:
        return (
            f"({side}c.{col} + CASE WHEN {side}c.status = '{status}' "
            f"THEN extract(epoch FROM (x.{side} - {side}c.c_ts)) ELSE 0 END)"
        )

    return f"""
    {oee._episodes_ctes(s, e, config, ids, bounds, states_from, open_end=open_end)}
    epm AS (
        SELECT ep.machine_id, ep.ts, ep.has_order, ep.cls, ep.dur_s, ep.a, ep.b, m.cal,
               {hb("ep.a")} AS hb_a, {hb("ep.b", end=True)} AS hb_b
        FROM ep JOIN m USING (machine_id)
    ),
    x AS (
        SELECT epm.machine_id, epm.ts, epm.has_order, epm.cls, epm.dur_s, epm.cal, h.h0,
               epm.a, least(epm.b, h.h1) AS b
        FROM epm JOIN _pieces h ON h.hb = epm.hb_a AND h.h0 <= epm.a AND epm.a < h.h1
        UNION ALL
        SELECT epm.machine_id, epm.ts, epm.has_order, epm.cls, epm.dur_s, epm.cal, h.h0,
               h.h0 AS a, least(epm.b, h.h1) AS b
        FROM (SELECT * FROM epm WHERE hb_b > hb_a) epm
        JOIN _pieces h ON h.hb > epm.hb_a AND h.hb <= epm.hb_b AND h.h0 > epm.a AND h.h0 < epm.b
    ),
    split AS (
        SELECT x.machine_id, x.h0, x.cls, x.has_order, extract(epoch FROM (x.b - x.a)) AS d,
               CASE WHEN x.cls = {down} AND x.ts >= x.h0 THEN 1 ELSE 0 END AS failure,
               CASE WHEN x.cls = {down} AND x.ts >= x.h0 THEN x.dur_s ELSE 0 END AS repair_s,
               {cum("b", "cw", "work")} - {cum("a", "cw", "work")} AS w,
               {cum("b", "cb", "break")} - {cum("a", "cb", "break")} AS br,
               {cum("b", "co", "off")} - {cum("a", "co", "off")} AS o
        FROM x
        JOIN _buckets ac ON ac.calendar = x.cal AND ac.bucket = {hb("x.a")}
             AND ac.c_ts <= x.a AND x.a < ac.c_end
        JOIN _buckets bc ON bc.calendar = x.cal AND bc.bucket = {hb("x.b", end=True)}
             AND bc.c_ts < x.b AND x.b <= bc.c_end
    ),
    el AS (
        SELECT machine_id, h0, has_order, cls, d, w, br, o, failure, repair_s,
               cls = {prod} AND {outside} AS all_prod
        FROM split
    ),
    facts AS (
        SELECT machine_id, h0,
               CAST(0 AS DOUBLE PRECISION) AS cal_s,
               CASE WHEN all_prod THEN 0 ELSE o END AS ns,
               CASE WHEN all_prod THEN 0 WHEN cls IN ({prod}, {pdt}) THEN br + CASE WHEN cls = {prod} THEN 0 ELSE w END ELSE br END AS pdt,
               CASE WHEN all_prod THEN d WHEN cls IN ({prod}, {micro}) THEN w ELSE 0 END AS apt,
               CASE WHEN cls = {codes["setup"]} THEN w ELSE 0 END AS setup,
               CASE WHEN cls = {down} THEN w ELSE 0 END AS down,
               CASE WHEN cls = {delay} THEN w ELSE 0 END AS delay,
               CASE WHEN cls = {micro} THEN w ELSE 0 END AS micro,
               CAST(0 AS DOUBLE PRECISION) AS nodata,
               CASE WHEN NOT has_order THEN 0 WHEN all_prod THEN d
                    WHEN cls = {pdt} THEN 0 ELSE w END AS aoet,
               CAST(NULL AS BIGINT) AS good, CAST(NULL AS BIGINT) AS scrap,
               CAST(NULL AS BIGINT) AS rework, CAST(NULL AS BIGINT) AS startup,
               CAST(NULL AS DOUBLE PRECISION) AS pru, failure, repair_s, 0 AS orderless
        FROM el
        UNION ALL
        SELECT m.machine_id, h.h0, extract(epoch FROM (h.h1 - h.h0)), 0, 0, 0, 0, 0, 0, 0,
               greatest(0, extract(epoch FROM (least(coalesce(f.first_ts, h.h1), h.h1) - h.h0))),
               0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0
        FROM m CROSS JOIN _pieces h
        LEFT JOIN (SELECT machine_id, min(ts) AS first_ts FROM st0 GROUP BY machine_id) f
             USING (machine_id)
        UNION ALL
        SELECT c.machine_id, h.h0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, c.good, c.scrap, c.rework,
               CASE WHEN c.scrap_reason IN (SELECT reason FROM _startup) THEN c.scrap ELSE 0 END,
               coalesce(i.ict, o.ideal_cycle_time_s, m.m_pru), 0, 0,
               CASE WHEN c.order_id IS NULL THEN 1 ELSE 0 END
        FROM {counts_from} c JOIN m USING (machine_id)
        JOIN _pieces h ON h.hb = {hb("c.ts")} AND h.h0 <= c.ts AND c.ts < h.h1
        LEFT JOIN orders o ON o.order_id = c.order_id
        LEFT JOIN _ict i ON i.product = o.product
        WHERE c.ts >= {p(s)} AND c.ts < {p(e)} AND c.machine_id IN ({id_list})
    )
    SELECT machine_id, h0,
        {us("cal_s", "cal_us")}, {us("ns", "ns_us")}, {us("pdt", "pdt_us")}, {us("apt", "apt_us")},
        {us("setup", "setup_us")}, {us("down", "down_us")}, {us("delay", "delay_us")},
        {us("micro", "micro_us")}, {us("nodata", "nodata_us")}, {us("aoet", "aoet_us")},
        coalesce(sum(good), 0) AS good, coalesce(sum(scrap), 0) AS scrap,
        coalesce(sum(rework), 0) AS rework, coalesce(sum(startup), 0) AS startup,
        coalesce(sum((good + scrap) * pru), 0) AS ideal,
        coalesce(sum(CASE WHEN good IS NOT NULL AND pru IS NULL THEN good + scrap END), 0) AS qwi,
        sum(failure) AS failures, {us("repair_s", "repair_us")},
        sum(orderless) AS orderless
    FROM facts
    GROUP BY machine_id, h0
    """


def _pieces_table(run: list[tuple[datetime, datetime]]) -> pa.Table:
    epoch = datetime(1970, 1, 1)
    return pa.table(
        {
            "h0": pa.array([a for a, _ in run], pa.timestamp("us")),
            "h1": pa.array([b for _, b in run], pa.timestamp("us")),
            "hb": pa.array(
                [int((_floor_hour(a) - epoch).total_seconds()) // 3600 for a, _ in run], pa.int64()
            ),
        }
    )


def _compute_run(
    store: Store,
    run: list[tuple[datetime, datetime]],
    open_end: datetime,
    config: KpiConfig,
    ids: list[int],
    timeline: pa.Table,
    tables: dict[str, pa.Table],
) -> dict[str, np.ndarray]:
    """Rows (machine_id, h0, values) of the pieces of one contiguous run for machines `ids`,
    as columns."""
    s, e = run[0][0], run[-1][1]
    id_list = ", ".join(str(int(i)) for i in ids)
    t = dict(tables)
    t["_machine_cal"] = tables["_machine_cal"].filter(
        pc.is_in(tables["_machine_cal"].column("machine_id"), pa.array(ids, pa.int32()))
    )
    tl = timeline.filter(pc.less(timeline.column("ts"), pa.scalar(e, pa.timestamp("us"))))
    t["_buckets"] = oee._calendar_buckets(tl, s, e)
    t["_pieces"] = _pieces_table(run)
    bounds, states_from, counts_from = None, "states", "counts"
    if store.dialect == "duckdb" and e - s <= oee.SLICE_MAX:
        t["_states"], states_from = oee._duckdb_state_slice(store, ids, s, e), "_states"
        t["_counts"] = store.query(
            f"SELECT * FROM counts WHERE machine_id IN ({id_list}) AND ts >= ? AND ts < ?", [s, e]
        )
        counts_from = "_counts"
    else:
        bounds = oee._state_bounds(store, ids, s, e)
    sql = hourly_sql(s, e, open_end, config, ids, bounds, states_from, counts_from)
    out = store.query(oee._float_epochs(store.dialect, sql), [], tables=t)
    return {c: out.column(c).to_numpy(zero_copy_only=False) for c in ("machine_id", "h0", *VALUES)}


def _us(t: datetime) -> int:
    d = t - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def _cal_bounds(timeline: pa.Table) -> dict[str, tuple[list[int], list[str]]]:
    """Per calendar: its boundaries (microseconds, ascending) and the status from each on."""
    out: dict[str, tuple[list[int], list[str]]] = {}
    cal = timeline.column("calendar").to_pylist()
    ts = timeline.column("ts").to_pylist()
    st = timeline.column("status").to_pylist()
    for c, t, x in zip(cal, ts, st, strict=True):
        b, sts = out.setdefault(c, ([], []))
        b.append(_us(t))
        sts.append(x)
    return out


def _neighbourhood(st: pa.Table, s: datetime, e: datetime) -> pa.Table:
    """The state changes of `st` in [s, e) plus each machine's last one before s and first
    one at or after e (what the episodes of [s, e) need), sorted by machine and ts."""
    if st.num_rows == 0:
        return st
    mid = st.column("machine_id").to_numpy()
    ts = st.column("ts").to_numpy()
    order = np.lexsort((ts, mid))
    mid, ts = mid[order], ts[order]
    before, after = ts < np.datetime64(s, "us"), ts >= np.datetime64(e, "us")
    same_next = np.r_[mid[1:] == mid[:-1], False]
    same_prev = np.r_[False, mid[1:] == mid[:-1]]
    last_before = before & ~(same_next & np.r_[before[1:], False])
    first_after = after & ~(same_prev & np.r_[False, after[:-1]])
    keep = (~before & ~after) | last_before | first_after
    return st.take(pa.array(order[keep]))


def _pg_neighbourhood(
    store: Store, ids: list[int], s: datetime, e: datetime, newest: dict[int, datetime] | None
) -> pa.Table:
    """PostgreSQL: exactly the state changes `_neighbourhood` keeps, in one statement: per
    machine its last change before s and (when its newest change says it has one) its first
    at or after e, each one probe of the (machine_id, ts) index, and every change in [s, e)
    (what `_state_bounds` and a range read gave in two)."""
    cols = "machine_id, ts, state, reason_code, order_id"
    arr = ", ".join(str(int(i)) for i in ids)
    after = [i for i in ids if newest is None or (newest.get(i) is not None and newest[i] >= e)]
    parts = [
        f"SELECT x.* FROM unnest(ARRAY[{arr}]::int[]) AS m(id) CROSS JOIN LATERAL "
        f"(SELECT {cols} FROM states WHERE machine_id = m.id AND ts < ? ORDER BY ts DESC LIMIT 1) x",
        f"SELECT {cols} FROM states WHERE {oee.machine_filter(ids, store.dialect)} AND ts >= ? AND ts < ?",
    ]
    params: list = [s, s, e]
    if after:
        parts.append(
            f"SELECT x.* FROM unnest(ARRAY[{', '.join(str(int(i)) for i in after)}]::int[]) AS m(id) "
            f"CROSS JOIN LATERAL (SELECT {cols} FROM states WHERE machine_id = m.id AND ts >= ? "
            "ORDER BY ts LIMIT 1) x"
        )
        params.append(e)
    return store.query(" UNION ALL ".join(f"({p})" for p in parts), params)


_STATUS = {"work": 0, "break": 1, "off": 2}
#: The elements `_episode_sums` gives (the rest of VALUES come from the counts and the pieces).
_EPISODE_VALUES = (
    "ns_us",
    "pdt_us",
    "apt_us",
    "setup_us",
    "down_us",
    "delay_us",
    "micro_us",
    "aoet_us",
    "failures",
    "repair_us",
)


def _int_column(t: pa.Table, name: str, fill: int | None = None) -> np.ndarray:
    """Column `name` of `t` as int64 (nulls as `fill`)."""
    col = t.column(name)
    if fill is not None:
        col = col.fill_null(fill)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)


def _us_column(t: pa.Table, name: str) -> np.ndarray:
    """Timestamp column `name` of `t` as int64 microseconds since the epoch (UTC)."""
    return t.column(name).to_numpy(zero_copy_only=False).astype("datetime64[us]").astype(np.int64)


def _isum(cell: np.ndarray, v: np.ndarray, cells: int) -> np.ndarray:
    """Sums of the whole numbers `v` per cell: exact while each sum is below 2**53 (a
    microsecond count of 285 years)."""
    return np.bincount(cell, v, cells).astype(np.int64)


def _run_rows(
    store: Store,
    run: list[tuple[datetime, datetime]],
    open_end: datetime,
    config: KpiConfig,
    ids: list[int],
    timeline: pa.Table,
    cal_of: dict[int, str],
    pru_of: dict[int, float | None],
    newest: dict[int, datetime] | None = None,
) -> dict[str, np.ndarray]:
    """What `_compute_run` gives, computed in numpy from the run's state changes (the same
    rows the query reads: `_duckdb_state_slice` or `_state_bounds`) and counts: a few plain
    reads instead of one big query, for the short runs at a request's edges. Integer
    microseconds throughout, so each piece's times are exact. `newest`: each machine's newest
    state change, as read with MACHINE_INFO."""
    s, e = run[0][0], run[-1][1]
    cols = "machine_id, ts, state, reason_code, order_id"
    if store.dialect == "duckdb" and e - s <= oee.SLICE_MAX:
        st = oee._duckdb_state_slice(store, ids, s, e, newest)
    elif store.dialect == "postgresql":
        st = _pg_neighbourhood(store, ids, s, e, newest)
    else:
        lo, hi = oee._state_bounds(store, ids, s, e)
        where, params = "ts >= ?", [lo if lo is not None else s]
        where += " AND ts <= ?" if hi is not None else " AND ts < ?"
        params.append(hi if hi is not None else e)
        st = store.query(
            f"SELECT {cols} FROM states WHERE {oee.machine_filter(ids, store.dialect)} AND {where}", params
        )
    st = _neighbourhood(st, s, e)
    cnt = store.query(
        "SELECT c.machine_id, c.ts, c.good, c.scrap, c.rework, c.scrap_reason, c.order_id, o.product, "
        "o.ideal_cycle_time_s AS oict FROM counts c LEFT JOIN orders o ON o.order_id = c.order_id "
        f"WHERE {oee.machine_filter(ids, store.dialect, 'c.machine_id')} AND c.ts >= ? AND c.ts < ?",
        [s, e],
    )
    ids_a = np.asarray(ids, dtype=np.int64)
    edges = np.array([_us(a) for a, _ in run] + [_us(e)], dtype=np.int64)
    n = len(run)
    out = _episode_sums(st, ids_a, edges, _us(s), _us(e), _us(open_end), config, timeline, cal_of)
    # calendar time, and the time before each machine's first state change
    h0, h1 = np.tile(edges[:-1], len(ids)), np.tile(edges[1:], len(ids))
    out["cal_us"] = h1 - h0
    mid = _int_column(st, "machine_id")
    first = np.full(len(ids), np.iinfo(np.int64).max, np.int64)
    mine = np.isin(mid, ids_a)
    if mine.any():
        np.minimum.at(first, np.searchsorted(ids_a, mid[mine]), _us_column(st, "ts")[mine])
    out["nodata_us"] = np.maximum(0, np.minimum(np.repeat(first, n), h1) - h0)
    out |= _count_sums(cnt, ids_a, edges, config, pru_of)
    return {
        "machine_id": np.repeat(ids_a, n),
        "h0": np.tile(np.array([a for a, _ in run], dtype="datetime64[us]"), len(ids)),
    } | {c: out[c].astype(float) if c == "ideal" else out[c] for c in VALUES}


def _count_sums(
    cnt: pa.Table, ids: np.ndarray, edges: np.ndarray, config: KpiConfig, pru_of: dict[int, float | None]
) -> dict[str, np.ndarray]:
    """Per (machine, piece) cell: the count elements of the count rows `cnt` (with their
    order's product and ideal cycle time); the ideal time is summed in the rows' order."""
    n = len(edges) - 1
    cells = len(ids) * n
    mid = _int_column(cnt, "machine_id")
    keep = np.isin(mid, ids)
    if not keep.all():
        cnt, mid = cnt.filter(pa.array(keep)), mid[keep]
    out = {c: np.zeros(cells, np.int64) for c in ("good", "scrap", "rework", "startup", "qwi", "orderless")}
    out["ideal"] = np.zeros(cells, float)
    if not len(mid):
        return out
    cell = np.searchsorted(ids, mid) * n + np.searchsorted(edges, _us_column(cnt, "ts"), "right") - 1
    g, sc = _int_column(cnt, "good", 0), _int_column(cnt, "scrap", 0)
    out["good"], out["scrap"] = _isum(cell, g, cells), _isum(cell, sc, cells)
    out["rework"] = _isum(cell, _int_column(cnt, "rework", 0), cells)
    reasons = set(config.startup_scrap_reasons)
    startup = np.array([r in reasons for r in cnt.column("scrap_reason").to_pylist()], dtype=bool)
    out["startup"] = _isum(cell, np.where(startup, sc, 0), cells)
    out["orderless"] = _isum(cell, ~np.asarray(cnt.column("order_id").is_valid()), cells)
    ict = config.ideal_cycle_times
    pru = [
        ict.get(p) if p is not None and ict.get(p) is not None else o if o is not None else pru_of.get(m)
        for p, o, m in zip(
            cnt.column("product").to_pylist(), cnt.column("oict").to_pylist(), mid.tolist(), strict=True
        )
    ]
    both = np.asarray(cnt.column("good").is_valid()) & np.asarray(cnt.column("scrap").is_valid())
    known = np.array([p is not None for p in pru], dtype=bool)
    qty = g + sc
    out["qwi"] = _isum(cell, np.where(both & ~known, qty, 0), cells)
    ideal = np.array([p if p is not None else 0.0 for p in pru], dtype=float) * qty
    out["ideal"] = np.bincount(cell[both & known], ideal[both & known], cells)
    return out


def _episode_sums(
    st: pa.Table,
    ids: np.ndarray,
    edges: np.ndarray,
    S: int,
    E: int,
    OPEN: int,
    config: KpiConfig,
    timeline: pa.Table,
    cal_of: dict[int, str],
) -> dict[str, np.ndarray]:
    """Per (machine, piece) cell (machine index * pieces + piece): the time elements of the
    state changes `st` (sorted by machine and ts) over the pieces `edges` (microseconds, the
    pieces' starts and the last end). Each episode is cut at the pieces' bounds and at its
    calendar's bounds; every cut segment is one array row, and the cells are summed with
    `np.bincount` (float sums of whole microseconds below 2**53: exact)."""
    n, cells = len(edges) - 1, len(ids) * (len(edges) - 1)
    out = {c: np.zeros(cells, np.int64) for c in _EPISODE_VALUES}
    mid = _int_column(st, "machine_id")
    keep = np.isin(mid, ids)
    if not keep.all():
        st, mid = st.filter(pa.array(keep)), mid[keep]
    if not len(mid):
        return out
    ts = _us_column(st, "ts")
    has_next = np.r_[mid[1:] == mid[:-1], False]
    nxt = np.where(has_next, np.r_[ts[1:], 0], 0)
    live = (~has_next | (nxt > S)) & (ts < E)
    codes, micro = oee.CODES, oee.MICRO
    down, delay, prod, pdt_c, setup = (
        codes[k] for k in ("down", "delay", "production", "planned_downtime", "setup")
    )
    element = {(st_, r): el for st_, r, el in config.mapping_rows()}
    keys = list(zip(st.column("state").to_pylist(), st.column("reason_code").to_pylist(), strict=True))
    code_of: dict[tuple, int] = {}
    for key in set(keys):
        el = element.get(key) if key[1] is not None else None
        el = el or element.get((key[0], None))
        code_of[key] = codes[el] if el is not None else 0
    code = np.array([code_of[k] for k in keys], dtype=np.int64)
    short = has_next & ((nxt - ts) / 1e6 < config.micro_stop_threshold_s)
    cls = np.where(((code == down) | (code == delay)) & short, micro, code)
    a = np.maximum(ts, S)
    b = np.where(has_next, np.minimum(nxt, E), E)
    live &= b > a
    dur = np.where(has_next, nxt, OPEN) - ts
    all_prod = (cls == prod) & bool(config.count_running_outside_schedule)
    has_order = np.asarray(st.column("order_id").is_valid(), dtype=bool)
    mi = np.searchsorted(ids, mid)
    # a failure belongs to the piece where its episode starts, inside the run
    fail = live & (cls == down) & (ts >= S)
    fcell = mi[fail] * n + np.searchsorted(edges, ts[fail], "right") - 1
    out["failures"] += np.bincount(fcell, minlength=cells)
    out["repair_us"] += _isum(fcell, dur[fail], cells)
    cals = _cal_bounds(timeline)
    cal_m = np.array([cal_of[int(m)] for m in ids], dtype=object)[mi]
    for cal in set(cal_m[live].tolist()):
        sel = np.flatnonzero(live & (cal_m == cal))
        bounds, statuses = cals[cal]
        cb = np.asarray(bounds, dtype=np.int64)
        B = np.union1d(cb, edges)
        si = np.searchsorted(cb, B, "right") - 1
        status = np.array([_STATUS[x] for x in statuses], dtype=np.int64)[np.maximum(si, 0)]
        status[si < 0] = -1
        hour = np.searchsorted(edges, B, "right") - 1
        j0 = np.searchsorted(B, a[sel], "right") - 1
        j1 = np.searchsorted(B, b[sel], "left")
        count = j1 - j0
        rep = np.repeat(np.arange(len(sel)), count)
        j = j0[rep] + np.arange(len(rep)) - np.repeat(np.cumsum(count) - count, count)
        if (status[j] < 0).any():
            raise ValueError("calendar timeline starts after the piece")
        ep = sel[rep]
        d = np.minimum(B[j + 1], b[ep]) - np.maximum(B[j], a[ep])
        w = np.where(status[j] == 0, d, 0)
        br = np.where(status[j] == 1, d, 0)
        off = np.where(status[j] == 2, d, 0)
        c, ap = cls[ep], all_prod[ep]
        cell = mi[ep] * n + hour[j]
        parts = {
            "ns_us": np.where(ap, 0, off),
            "pdt_us": np.where(ap, 0, np.where(c == pdt_c, br + w, br)),
            "apt_us": np.where(ap, d, np.where((c == prod) | (c == micro), w, 0)),
            "setup_us": np.where(c == setup, w, 0),
            "down_us": np.where(c == down, w, 0),
            "delay_us": np.where(c == delay, w, 0),
            "micro_us": np.where(c == micro, w, 0),
            "aoet_us": np.where(has_order[ep], np.where(ap, d, np.where(c == pdt_c, 0, w)), 0),
        }
        for k, v in parts.items():
            out[k] += _isum(cell, v, cells)
    return out


def compute_from_rollup(
    store: Store,
    s: datetime,
    e: datetime,
    group_by: tuple[str, ...],
    config: KpiConfig,
    mrows: list[dict],
    cals: dict[str, ShiftCalendar],
) -> dict[str, object] | None:
    """The raw sums `oee._finish` takes, for machine/line/plant groupings of `mrows` over
    [s, e), from the rollup; None when the window holds no whole hour or counts without an
    order (then the caller runs the full query)."""
    whole = [(a, b) for a, b in pieces(s, e) if b - a == HOUR]
    if not whole or not mrows:
        return None
    ids = sorted(int(m["machine_id"]) for m in mrows)
    info = mrows  # read by compute_kpis with `machine_info`, before anything else
    timeline, cal_of = oee._timeline(store, mrows, s, e, config, cals)
    cfg = _config_json(config)
    fps: dict[tuple, str] = {}  # machines sharing calendar and ideal cycle time: one hash
    cal_json = {c: cals[c].model_dump_json() if c in cals else None for c in set(cal_of.values())}
    fp_of = {}
    for r in info:
        cal = cal_of[r["machine_id"]]
        key = (cal, r["pru"])
        if key not in fps:
            fps[key] = _fingerprint(cfg, cal, cal_json[cal], r["pru"])
        fp_of[r["machine_id"]] = fps[key]
    have, cached = _stored(store, ids, fp_of, whole)
    all_pieces = pieces(s, e)
    have_all = have.all_have_before(ids)
    need = [pc_ for pc_ in all_pieces if not have.all_have(ids, pc_[0], have_all)]
    runs: list[list[tuple[datetime, datetime]]] = []
    for pc_ in need:
        if runs and runs[-1][-1][1] == pc_[0]:
            runs[-1].append(pc_)
        else:
            runs.append([pc_])
    pru_of = {r["machine_id"]: r["pru"] for r in info}
    newest = {r["machine_id"]: r["newest"] for r in info}
    computed = []
    for run in runs:
        run_ids = [m for m in ids if have.lacks(m, run)]
        if run[-1][1] - run[0][0] <= PY_MAX:
            computed.append(_run_rows(store, run, e, config, run_ids, timeline, cal_of, pru_of, newest))
        else:
            tables = _side_tables(config, cal_of)  # only a cold run's query reads them
            computed.append(_compute_run(store, run, e, config, run_ids, timeline, tables))
    comp = {
        c: np.concatenate([x[c] for x in computed]) if computed else np.zeros(0)
        for c in ("machine_id", "h0", *VALUES)
    }
    n_comp = len(comp["machine_id"])
    if n_comp:
        h0s = comp["h0"].astype("datetime64[us]").astype(datetime).tolist()
        keys = list(zip(comp["machine_id"].tolist(), h0s, strict=True))
        starts = {a for a, _ in whole}
        _save(store, comp, keys, info, fp_of, {k for k in keys if k[1] in starts and k not in have})
        # a run computes all of its pieces for its machines; the stored ones are read instead
        fresh = np.array([k not in have for k in keys], dtype=bool)
        comp = {c: v[fresh] for c, v in comp.items()}
        n_comp = int(fresh.sum())
    if n_comp + len(have) != len(ids) * len(all_pieces):
        raise RuntimeError(
            f"KPI rollup: {n_comp + len(have)} pieces for {len(ids)} machines x {len(all_pieces)} pieces"
        )
    return _group_sums([comp, cached], ids, info, group_by)


def _group_sums(
    parts: list, ids: list[int], info: list[dict], group_by: tuple[str, ...]
) -> dict[str, object] | None:
    """The raw sums of `oee._finish` from piece rows (machine_id, VALUES): per group of
    `group_by` (machine path, line path; () the plant), sorted by the group keys as pandas'
    groupby sorts them; None when a row has counts without an order. Plain numpy: integer
    sums are exact, the ideal time is summed with `math.fsum` (correctly rounded). A part is a
    DataFrame or a dict of columns (lists or arrays)."""
    vals = [c for c in VALUES if c != "orderless"]
    ints = [c for c in vals if c != "ideal"]
    parts = [p for p in parts if len(p["machine_id"])]
    mid = (
        np.concatenate([np.asarray(p["machine_id"], dtype=np.int64) for p in parts])
        if parts
        else np.zeros(0, np.int64)
    )
    if parts and any(np.asarray(p["orderless"], dtype=float).sum() > 0 for p in parts):
        return None
    ids_a = np.asarray(ids, dtype=np.int64)
    idx = np.searchsorted(ids_a, mid)
    order = np.argsort(idx, kind="stable")
    cut = np.searchsorted(idx[order], np.arange(len(ids) + 1))
    rows = np.zeros((len(mid), len(ints)), np.int64)
    for j, c in enumerate(ints):
        rows[:, j] = np.concatenate([np.asarray(p[c], dtype=np.int64) for p in parts]) if parts else []
    running = np.vstack([np.zeros((1, len(ints)), np.int64), np.cumsum(rows[order], axis=0)])
    mat = running[cut[1:]] - running[cut[:-1]]  # per machine: exact integer sums
    ideal = np.concatenate([np.asarray(p["ideal"], dtype=float) for p in parts]) if parts else np.zeros(0)
    cut = cut.tolist()
    ideal_sorted = ideal[order].tolist()
    present = sorted(set(idx.tolist()))  # as groupby: only machines with rows
    meta = {r["machine_id"]: r for r in info}
    cols = {"machine": "path", "line": "line_path"}
    groups: dict[tuple, list[int]] = {}
    for i in present:
        key = tuple(meta[ids[i]][cols[g]] for g in group_by)
        groups.setdefault(key, []).append(i)
    keys = sorted(groups) if group_by else [()]
    if not group_by:
        groups = {(): present}
    out: dict[str, object] = {g: [k[j] for k in keys] for j, g in enumerate(group_by)}
    sums = np.array([mat[groups[k]].sum(axis=0) for k in keys], dtype=np.int64).reshape(len(keys), len(ints))
    for j, c in enumerate(ints):
        out[RAW_NAMES[c]] = sums[:, j] / 1e6 if c.endswith("_us") else sums[:, j]
    out[RAW_NAMES["ideal"]] = np.array(
        [math.fsum(x for i in groups[k] for x in ideal_sorted[cut[i] : cut[i + 1]]) for k in keys],
        dtype=float,
    )
    return {c: out[c] for c in (*group_by, *(RAW_NAMES[c] for c in vals))}


class _Have:
    """The stored hours of a request: per machine a run [first whole hour, upto) (`upto`), or
    any set of (machine, hour) keys (`keys`)."""

    def __init__(self, h0: datetime, upto: dict[int, datetime] | None, keys: set | None):
        self.h0, self.upto, self.keys = h0, upto, keys

    def __contains__(self, key: tuple[int, datetime]) -> bool:
        if self.keys is not None:
            return key in self.keys
        return self.h0 <= key[1] < self.upto.get(key[0], self.h0)

    def __len__(self) -> int:
        if self.keys is not None:
            return len(self.keys)
        return sum((u - self.h0) // HOUR for u in self.upto.values())

    def all_have_before(self, ids: list[int]) -> datetime | None:
        """With runs: the end of the hours every machine of `ids` has stored (else None)."""
        if self.keys is not None:
            return None
        return min((self.upto.get(m, self.h0) for m in ids), default=self.h0)

    def all_have(self, ids: list[int], h: datetime, before: datetime | None = None) -> bool:
        """Whether every machine of `ids` has the piece starting at h stored (`before`: what
        `all_have_before(ids)` gave, to ask for many pieces)."""
        if self.keys is None:
            return self.h0 <= h < (before if before is not None else self.all_have_before(ids))
        return all((m, h) in self.keys for m in ids)

    def lacks(self, m: int, run: list[tuple[datetime, datetime]]) -> bool:
        """Whether machine m lacks a piece of the contiguous `run`."""
        if self.keys is None:
            return not (self.h0 <= run[0][0] and run[-1][0] < self.upto.get(m, self.h0))
        return any((m, a) not in self.keys for a, _ in run)


def _stored(
    store: Store, ids: list[int], fp_of: dict[int, str], whole: list[tuple[datetime, datetime]]
) -> tuple[_Have, dict[str, np.ndarray]]:
    """The stored hours of [first whole hour, last whole hour] for the machines' current
    fingerprints: the (machine, hour) keys and the rows that sum them (machine_id, VALUES).

    The whole UTC days inside the window come from `kpi_days` (one row for a machine's 24
    stored hours), the other hours from `kpi_hours`: those before the first whole day, and
    those from the end of each machine's run of day rows on (the newest day is usually not
    complete yet). Usually each machine's stored hours are a run from the first hour on
    (hours and days are dropped from a point onward): then `_Have` keeps one bound per
    machine, else the set of keys. PostgreSQL sums each part per machine in SQL (rows cross
    psycopg one Python value at a time: a day of 50 machines read as rows cost 10 ms, as sums
    1-2 ms) and reads rows only when that is not a run from the first hour. DuckDB reads the
    rows and they are summed in numpy (`_group_sums`): its GROUP BY with twenty sums cost more
    than the plain read."""
    h0, h1 = whole[0][0], whole[-1][1]
    d0 = h0 if h0 == _floor_day(h0) else _floor_day(h0) + DAY
    d1 = max(_floor_day(h1), d0)  # the whole days [d0, d1)
    if d1 - d0 < DAYS_FROM:  # a day's hours are one read; the day rows are worth a second one
        d0 = d1 = h1
    a = min(d0, h1)  # the hours [h0, a) come before them
    if store.dialect == "postgresql":
        fast = _stored_sums(store, ids, fp_of, h0, h1, a, d0, d1)
        if fast is not None:
            return fast
    mf = oee.machine_filter(ids, store.dialect)
    cols = ", ".join(VALUES)
    ids_a = np.asarray(ids, dtype=np.int64)
    fps = sorted(set(fp_of.values()))
    want = np.array([fps.index(fp_of[m]) if m in fp_of else -1 for m in ids], dtype=np.int64)

    def current(t: pa.Table) -> tuple[pa.Table, np.ndarray]:  # rows of the current fingerprints
        idx = np.searchsorted(ids_a, t.column("machine_id").to_numpy().astype(np.int64))
        code = pc.fill_null(pc.index_in(t.column("fp"), value_set=pa.array(fps, pa.string())), -2)
        keep = code.to_numpy(zero_copy_only=False) == want[idx]
        return t.filter(pa.array(keep)), idx[keep]

    n_hours = (h1 - h0) // HOUR
    cov = np.zeros((len(ids), n_hours), dtype=bool)
    rows: dict[str, list[np.ndarray]] = {c: [] for c in ("machine_id", *VALUES)}
    x, ends = a, np.zeros(len(ids), np.int64)
    if d0 < d1:
        days, didx = current(
            store.query(
                f"SELECT machine_id, fp, day_ts, {cols} FROM kpi_days WHERE {mf} AND day_ts >= ? AND day_ts < ?",
                [d0, d1],
            )
        )
        doff = (days.column("day_ts").to_numpy() - np.datetime64(h0, "us")) // np.timedelta64(1, "h")
        for j in range(24):
            cov[didx, doff + j] = True
        rows["machine_id"].append(ids_a[didx])
        for c in VALUES:
            rows[c].append(days.column(c).to_numpy(zero_copy_only=False))
        # the hours from x on are read for every machine, x being where the shortest run of
        # day rows from d0 ends among the machines with any; the machines without day rows
        # (no data for days, or hours stored before the daily level) also get [a, x)
        run = cov[:, (d0 - h0) // HOUR : (d1 - h0) // HOUR]
        ends = np.where(run.all(axis=1), run.shape[1], np.argmin(run, axis=1))
        if (ends > 0).any():
            x = d0 + int(ends[ends > 0].min()) * HOUR
    hours = store.query(
        f"SELECT machine_id, fp, hour_ts, {cols} FROM kpi_hours WHERE {mf} "
        "AND ((hour_ts >= ? AND hour_ts < ?) OR (hour_ts >= ? AND hour_ts < ?))",
        [h0, a, x, h1],
    )
    if x > a and (ends == 0).any():
        lacking = ids_a[ends == 0].tolist()
        hours = pa.concat_tables(
            [
                hours,
                store.query(
                    f"SELECT machine_id, fp, hour_ts, {cols} FROM kpi_hours WHERE "
                    f"{oee.machine_filter(lacking, store.dialect)} AND hour_ts >= ? AND hour_ts < ?",
                    [a, x],
                ).cast(hours.schema),
            ]
        )
    hours, hidx = current(hours)
    hoff = (hours.column("hour_ts").to_numpy() - np.datetime64(h0, "us")) // np.timedelta64(1, "h")
    fresh = ~cov[hidx, hoff]  # an hour inside a stored day is counted by the day row
    cov[hidx, hoff] = True
    rows["machine_id"].append(ids_a[hidx[fresh]])
    for c in VALUES:
        rows[c].append(hours.column(c).to_numpy(zero_copy_only=False)[fresh])
    out = {c: np.concatenate(v) for c, v in rows.items()}
    n = cov.sum(axis=1)
    upto = np.where(cov.all(axis=1), n_hours, np.argmin(cov, axis=1))
    if np.all(upto == n):
        return _Have(h0, {int(m): h0 + int(k) * HOUR for m, k in zip(ids_a, n, strict=True) if k}, None), out
    m_i, h_i = np.nonzero(cov)
    keys = {(int(ids_a[m]), h0 + int(k) * HOUR) for m, k in zip(m_i, h_i, strict=True)}
    return _Have(h0, None, keys), out


def _stored_sums(
    store: Store,
    ids: list[int],
    fp_of: dict[int, str],
    h0: datetime,
    h1: datetime,
    a: datetime,
    d0: datetime,
    d1: datetime,
) -> tuple[_Have, dict[str, np.ndarray]] | None:
    """`_stored` from per-machine sums, when every machine's stored hours are a run from h0
    (else None): its hours [h0, a), its run of days from d0 (to at most d1) and its hours from
    the end of that run to h1, each summed in SQL."""
    mf = oee.machine_filter(ids, store.dialect)
    sums = ", ".join(
        f"CAST(sum({c}) AS {'DOUBLE PRECISION' if c == 'ideal' else 'BIGINT'}) AS {c}" for c in VALUES
    )

    def current(rows: list[dict]) -> dict[int, dict]:
        return {r["machine_id"]: r for r in rows if fp_of.get(r["machine_id"]) == r["fp"]}

    days: dict[int, dict] = {}
    if d0 < d1:
        days = current(
            store.query(
                f"SELECT machine_id, fp, count(*) AS n, min(day_ts) AS lo, max(day_ts) AS hi, {sums} "
                f"FROM kpi_days WHERE {mf} AND day_ts >= ? AND day_ts < ? GROUP BY machine_id, fp",
                [d0, d1],
            ).to_pylist()
        )
        if any(r["lo"] != d0 or r["n"] != (r["hi"] - d0) // DAY + 1 for r in days.values()):
            return None  # a gap in a machine's days
    # where each machine's hours after its days start: the end of its run of days, else a
    after = {m: d0 + days[m]["n"] * DAY if m in days else a for m in ids}
    agg = store.query(
        f"SELECT h.machine_id, h.fp, CASE WHEN h.hour_ts < ? THEN 0 ELSE 2 END AS part, count(*) AS n, "
        f"min(h.hour_ts) AS lo, max(h.hour_ts) AS hi, {sums.replace('sum(', 'sum(h.')} FROM kpi_hours h "
        f"JOIN (VALUES {', '.join(f'({int(m)}, {oee._lit(after[m])})' for m in ids)}) AS b(id, x) "
        f"ON h.machine_id = b.id WHERE {mf.replace('machine_id', 'h.machine_id')} "
        "AND ((h.hour_ts >= ? AND h.hour_ts < ?) OR (h.hour_ts >= ? AND h.hour_ts < ?)) "  # for the index
        "AND ((h.hour_ts >= ? AND h.hour_ts < ?) OR (h.hour_ts >= b.x AND h.hour_ts < ?)) GROUP BY 1, 2, 3",
        [a, h0, a, min(after.values(), default=a), h1, h0, a, h1],
    ).to_pylist()
    lead = current([r for r in agg if r["part"] == 0])
    tail = current([r for r in agg if r["part"] == 2])
    upto = {}
    for m in ids:
        p0, p1, p2 = lead.get(m), days.get(m), tail.get(m)
        n0 = 0 if p0 is None else p0["n"]
        if p0 is not None and (p0["lo"] != h0 or n0 != (p0["hi"] - h0) // HOUR + 1):
            return None
        if (p1 is not None or p2 is not None) and n0 != (a - h0) // HOUR:
            return None  # hours missing before later ones
        if p2 is not None:
            if p2["lo"] != after[m] or p2["n"] != (p2["hi"] - after[m]) // HOUR + 1:
                return None
            if p1 is None and after[m] != a and d0 < d1:
                return None
        hours = n0 + (0 if p1 is None else 24 * p1["n"]) + (0 if p2 is None else p2["n"])
        if hours:
            upto[m] = h0 + hours * HOUR
    parts = [*lead.values(), *days.values(), *tail.values()]
    return _Have(h0, upto, None), {c: np.asarray([r[c] for r in parts]) for c in ("machine_id", *VALUES)}


def _side_tables(config: KpiConfig, cal_of: dict[int, str]) -> dict[str, pa.Table]:
    """The small relations the KPI query reads besides the store's tables (as in compute_kpis)."""
    mapping = config.mapping_rows()
    return {
        "_machine_cal": pa.table(
            {
                "machine_id": pa.array(list(cal_of), pa.int32()),
                "cal": pa.array(list(cal_of.values()), pa.string()),
            }
        ),
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


def _save(
    store: Store,
    comp: dict[str, np.ndarray],
    keys: list[tuple[int, datetime]],
    info: list[dict],
    fp_of: dict[int, str],
    new: set[tuple[int, datetime]],
) -> None:
    """Store the computed whole hours (`comp`, columns; `keys` their (machine, hour)) that lie
    before their machine's newest state change."""
    if not new:
        return
    newest = {r["machine_id"]: r["newest"] for r in info}
    ok = np.array(
        [(m, h) in new and newest.get(m) is not None and h + HOUR <= newest[m] for m, h in keys], dtype=bool
    )
    if not ok.any():
        return
    mids = comp["machine_id"][ok].astype(np.int64)
    data = {
        "fp": pa.array([fp_of[m] for m in mids.tolist()], pa.string()),
        "machine_id": pa.array(mids.astype(np.int32)),
        "hour_ts": pa.array(comp["h0"][ok].astype("datetime64[us]"), pa.timestamp("us")),
    }
    for c, typ in VALUE_COLUMNS:
        data[c] = pa.array(comp[c][ok].astype("int64" if typ == "BIGINT" else "float64"))
    rows = pa.table(data).select(list(COLUMNS))
    saved = set(mids.tolist())
    versions = {r["machine_id"]: int(r["ver"]) for r in info if r["machine_id"] in saved}
    store.kpi_rollup_save(rows, versions)
