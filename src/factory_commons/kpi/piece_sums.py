"""The sums of a run of rollup pieces (machine x hour) from raw rows: the rollup's feed.

`compute_run` runs one SQL query (`queries.hourly_sql`) for a long run (a cold rollup);
`run_rows` computes a short run (a request's edges, the hours its open episodes reach) in
numpy from the run's state changes and counts, with the same rules (`elements`) and in whole
microseconds. Both give one row per (machine, piece) with the columns `VALUES`;
tests/test_kpi_rollup.py runs each against the full query.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..store.base import Store
from ..store.rollup import VALUE_COLUMNS
from . import elements
from .config import KpiConfig
from .inputs import SLICE_MAX, duckdb_state_slice, machine_filter, state_bounds
from .queries import calendar_buckets, float_epochs, hourly_sql

#: The columns of a piece's row (as `kpi_hours` stores them).
VALUES = [c for c, _ in VALUE_COLUMNS]
_EPOCH = datetime(1970, 1, 1)


def _pieces_table(run: list[tuple[datetime, datetime]]) -> pa.Table:
    """The `_pieces` relation of `hourly_sql`: each piece's start, end and hour number."""
    return pa.table(
        {
            "h0": pa.array([a for a, _ in run], pa.timestamp("us")),
            "h1": pa.array([b for _, b in run], pa.timestamp("us")),
            "hb": pa.array([_us(a) // 3_600_000_000 for a, _ in run], pa.int64()),
        }
    )


def compute_run(
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
    t["_buckets"] = calendar_buckets(tl, s, e)
    t["_pieces"] = _pieces_table(run)
    bounds, states_from, counts_from = None, "states", "counts"
    if store.dialect == "duckdb" and e - s <= SLICE_MAX:
        t["_states"], states_from = duckdb_state_slice(store, ids, s, e), "_states"
        t["_counts"] = store.query(
            f"SELECT * FROM counts WHERE machine_id IN ({id_list}) AND {elements.count_in_sql('ts', '?', '?')}",
            [s, e],
        )
        counts_from = "_counts"
    else:
        bounds = state_bounds(store, ids, s, e)
    sql = hourly_sql(s, e, open_end, config, ids, bounds, states_from, counts_from)
    out = store.query(float_epochs(store.dialect, sql), [], tables=t)
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
    (what `inputs.state_bounds` and a range read gave in two)."""
    cols = "machine_id, ts, state, reason_code, order_id"
    arr = ", ".join(str(int(i)) for i in ids)
    after = [i for i in ids if newest is None or (newest.get(i) is not None and newest[i] >= e)]
    parts = [
        f"SELECT x.* FROM unnest(ARRAY[{arr}]::int[]) AS m(id) CROSS JOIN LATERAL "
        f"(SELECT {cols} FROM states WHERE machine_id = m.id AND ts < ? ORDER BY ts DESC LIMIT 1) x",
        f"SELECT {cols} FROM states WHERE {machine_filter(ids, store.dialect)} AND ts >= ? AND ts < ?",
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


def run_rows(
    store: Store,
    run: list[tuple[datetime, datetime]],
    open_end: datetime,
    config: KpiConfig,
    ids: list[int],
    timeline: pa.Table,
    cal_of: dict[int, str],
    pru_of: dict[int, float | None],
    newest: dict[int, datetime] | None = None,
    master: dict[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """What `compute_run` gives, computed in numpy from the run's state changes (the same
    rows the query reads: `duckdb_state_slice` or `state_bounds`) and counts: a few plain
    reads instead of one big query, for the short runs at a request's edges. Integer
    microseconds throughout, so each piece's times are exact. `newest`: each machine's newest
    state change, as read with MACHINE_INFO; `master`: the product master's ideal cycle times."""
    s, e = run[0][0], run[-1][1]
    cols = "machine_id, ts, state, reason_code, order_id"
    if store.dialect == "duckdb" and e - s <= SLICE_MAX:
        st = duckdb_state_slice(store, ids, s, e, newest)
    elif store.dialect == "postgresql":
        st = _pg_neighbourhood(store, ids, s, e, newest)
    else:
        lo, hi = state_bounds(store, ids, s, e)
        where, params = "ts >= ?", [lo if lo is not None else s]
        where += " AND ts <= ?" if hi is not None else " AND ts < ?"
        params.append(hi if hi is not None else e)
        st = store.query(
            f"SELECT {cols} FROM states WHERE {machine_filter(ids, store.dialect)} AND {where}", params
        )
    st = _neighbourhood(st, s, e)
    cnt = store.query(
        "SELECT c.machine_id, c.ts, c.good, c.scrap, c.rework, c.scrap_reason, c.order_id, o.product, "
        "o.ideal_cycle_time_s AS oict FROM counts c LEFT JOIN orders o ON o.order_id = c.order_id "
        f"WHERE {machine_filter(ids, store.dialect, 'c.machine_id')} AND {elements.count_in_sql('c.ts', '?', '?')}",
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
    out["nodata_us"] = elements.no_data(np.repeat(first, n), h0, h1)
    out |= _count_sums(cnt, ids_a, edges, config, pru_of, master)
    return {
        "machine_id": np.repeat(ids_a, n),
        "h0": np.tile(np.array([a for a, _ in run], dtype="datetime64[us]"), len(ids)),
    } | {c: out[c].astype(float) if c == "ideal" else out[c] for c in VALUES}


def _count_sums(
    cnt: pa.Table,
    ids: np.ndarray,
    edges: np.ndarray,
    config: KpiConfig,
    pru_of: dict[int, float | None],
    master: dict[str, float] | None = None,
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
    cell = np.searchsorted(ids, mid) * n + elements.count_piece(edges, _us_column(cnt, "ts"))
    g, sc = _int_column(cnt, "good", 0), _int_column(cnt, "scrap", 0)
    out["good"], out["scrap"] = _isum(cell, g, cells), _isum(cell, sc, cells)
    out["rework"] = _isum(cell, _int_column(cnt, "rework", 0), cells)
    startup = elements.startup_mask(config, cnt.column("scrap_reason").to_pylist())
    out["startup"] = _isum(cell, np.where(startup, sc, 0), cells)
    out["orderless"] = _isum(cell, ~np.asarray(cnt.column("order_id").is_valid()), cells)
    pru = elements.count_prus(
        config,
        cnt.column("product").to_pylist(),
        cnt.column("oict").to_pylist(),
        [pru_of.get(m) for m in mid.tolist()],
        master,
    )
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
    code = elements.state_codes(config, st.column("state").to_pylist(), st.column("reason_code").to_pylist())
    cls = elements.episode_class(code, has_next, (nxt - ts) / 1e6, config.micro_stop_threshold_s)
    a = np.maximum(ts, S)
    b = np.where(has_next, np.minimum(nxt, E), E)
    live &= b > a
    dur = np.where(has_next, nxt, OPEN) - ts
    outside = bool(config.count_running_outside_schedule)
    has_order = np.asarray(st.column("order_id").is_valid(), dtype=bool)
    mi = np.searchsorted(ids, mid)
    # a failure belongs to the piece where its episode starts, inside the run
    fail = live & elements.failure_mask(cls, ts, S)
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
        status = np.array([elements.STATUS_CODES[x] for x in statuses], dtype=np.int64)[np.maximum(si, 0)]
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
        cell = mi[ep] * n + hour[j]
        parts = elements.element_seconds(cls[ep], status[j], d, has_order[ep], outside)
        for k, v in parts.items():
            out[f"{k}_us"] += _isum(cell, v, cells)
    return out
