"""The SQL text of the KPI queries; every classification in it comes from `elements`.

Three queries, one set of rules:

- `stream_sql`: the full query for any grouping (shift, day, order): state episodes, one event
  stream per machine (calendar boundaries, episodes, counts), forward fill, segments, sums;
- `episode_sql`: machine, line or plant groupings (no forward fill): each episode's
  work/break/off seconds from the calendar's cumulative seconds at its two ends;
- `hourly_sql`: `episode_sql` with the episodes cut at the pieces (hours) of a run, one row per
  (machine, piece) in whole microseconds, for the rollup (kpi/rollup.py).

All three start from `episodes_ctes` (the episodes and their class) and value counts alike;
`episode_sql` and `hourly_sql` share the split of an episode by calendar status
(`_split_cte`) and its facts (`_episode_facts`). The forward fill is the only
dialect-specific step: DuckDB has `last_value(... IGNORE NULLS)`; PostgreSQL gets the portable
running-count variant in `_forward_fill_postgresql`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import pyarrow as pa

from .config import KpiConfig
from .elements import (
    MICRO,
    PRU_SQL,
    RAW_TIME_COLUMNS,
    TIME_SUMS,
    count_in_sql,
    element_seconds_sql,
    episode_class_sql,
    failure_sql,
    no_data_sql,
    quantity_sums_sql,
    segment_element_sql,
    startup_sql,
    state_code_sql,
    time_sums_sql,
)
from .inputs import lit


def _forward_fill(dialect: str, cols: Sequence[str]) -> str:
    """(CTE body that adds f_<col> forward-filled per machine plus `nxt`, the next event's ts).

    The stream `ev` has machine_id, ts, k (-1 count, 0 calendar, 1 state) and the columns to
    fill, NULL where an event does not carry them. A count sorts before a calendar boundary or
    state change at its own instant: it is stamped at the end of the time that made its parts,
    so it gets that time's shift, day and order (`elements.count_in_sql`).
    """
    if dialect == "duckdb":
        return _forward_fill_duckdb(cols)
    if dialect == "postgresql":
        return _forward_fill_postgresql(cols)
    raise ValueError(f"unsupported SQL dialect {dialect!r}")


def _forward_fill_duckdb(cols: Sequence[str]) -> str:
    """DuckDB's forward fill: `last_value(... IGNORE NULLS)` over each machine's stream."""
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


def episodes_ctes(
    s: datetime,
    e: datetime,
    config: KpiConfig,
    ids: Sequence[int] = (),
    bounds: tuple[datetime | None, datetime | None] | None = None,
    states_from: str = "states",
    open_end: datetime | None = None,
    keep: Sequence[str] = (),
) -> str:
    """The CTEs every KPI query starts from: machines with their calendar (m), state changes
    mapped to time-element codes (st0, st), and episodes in the window (ep) with their full
    length and class (`elements.episode_class_sql`: a short down or delay episode is a
    micro-stop).

    `ids` are the machines' ids and `bounds` the range of `inputs.state_bounds`: st0 reads
    only the state changes in that range (literals, so that the engine prunes with its index
    or zone maps); None reads every state change of the machines (`BOUNDED_STATES = False`).
    `states_from` names the relation with the state changes: `states`, or on DuckDB the
    `_states` slice of `inputs.duckdb_state_slice`. `open_end`: where the last, still open
    episode of a machine ends for its repair time (default `e`; the rollup computes parts of
    a window and passes the window's end). `keep`: more columns of the state changes that the
    episodes carry (the downtime Pareto's state and reason_code)."""
    p = lit
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"
    st_range = "TRUE"
    if bounds is not None:
        lo, hi = bounds
        st_range = f"s.ts >= {p(lo if lo is not None else s)} AND " + (
            f"s.ts <= {p(hi)}" if hi is not None else f"s.ts < {p(e)}"
        )
    code, code_joins = state_code_sql("s")
    kept_st = "".join(f", s.{c}" for c in keep)
    kept_ep = "".join(f", {c}" for c in keep)
    cls = episode_class_sql(
        "code", "extract(epoch FROM (nxt - ts))", "nxt IS NOT NULL", p(config.micro_stop_threshold_s)
    )
    return f"""
    WITH m AS (
        SELECT m.machine_id, m.path,
               m.enterprise || '/' || m.site || '/' || m.area || '/' || m.line AS line_path,
               c.cal, m.default_ideal_cycle_time_s AS m_pru
        FROM machines m JOIN _machine_cal c USING (machine_id)
    ),
    st0 AS (
        SELECT s.machine_id, s.ts, s.order_id, {code} AS code{kept_st}
        FROM {states_from} s
        {code_joins}
        WHERE s.machine_id IN ({id_list}) AND {st_range}
    ),
    st AS (
        SELECT st0.*, lead(ts) OVER (PARTITION BY machine_id ORDER BY ts) AS nxt FROM st0
    ),
    ep AS (
        SELECT machine_id, ts, order_id, order_id IS NOT NULL AS has_order, code,
               greatest(ts, {p(s)}) AS a, least(coalesce(nxt, {p(e)}), {p(e)}) AS b,
               extract(epoch FROM (coalesce(nxt, {p(open_end or e)}) - ts)) AS dur_s,
               {cls} AS cls{kept_ep}
        FROM st
        WHERE (nxt IS NULL OR nxt > {p(s)}) AND ts < {p(e)}
    ),"""


def stream_sql(
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
    """The full KPI query (event stream and forward fill, any grouping) and its parameters.

    What travels through the forward-fill window is kept as narrow as the grouping allows
    (the window's sort dominates the cost): counts and failures only join the event stream
    when they need the calendar (shift, day) or the state's order; otherwise they are
    aggregated straight from their tables. `orderless_counts`: some counts in the window have
    no order_id, so they need the order of the state in force.
    """
    p = lit
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

    ev_parts = [
        f"""
        SELECT m.machine_id, greatest(t.ts, {p(s)}) AS ts, 0 AS k, t.ci,
               CAST(NULL AS INTEGER) AS cls, CAST(NULL AS {ord_type}) AS ord, {null_fail}{null_cnt}
               0 AS dummy
        FROM m JOIN _timeline t ON t.calendar = m.cal"""
    ]
    state_fail = (
        f"CASE WHEN {failure_sql('cls', 'ts', p(s))} THEN 1 ELSE 0 END, "
        f"CASE WHEN {failure_sql('cls', 'ts', p(s))} THEN dur_s END, "
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
        SELECT c.machine_id, c.ts, -1, NULL, NULL, NULL, {"0, NULL, " if failures_in_stream else ""}
               c.good, c.scrap, c.rework, c.scrap_reason, c.order_id, 0
        FROM {counts_from} c
        WHERE {count_in_sql("c.ts", p(s), p(e))} {"" if all_counts_in_stream else "AND c.order_id IS NULL"}
          AND c.machine_id IN ({id_list})"""
        )

    cnt_sources = []
    if counts_in_stream:
        cnt_sources.append(
            f"""
        SELECT {g_cnt} ff.good, ff.scrap, ff.rework, ff.scrap_reason, ff.ord2, m.m_pru
        FROM (SELECT ff.*, coalesce(c_ord, {"nullif(f_ord, '')" if ord_string else "NULL"}) AS ord2
              FROM ff WHERE k = -1) ff
        JOIN m USING (machine_id)
        JOIN _timeline t ON t.ci = ff.f_ci"""
        )
    if not all_counts_in_stream:
        cnt_sources.append(
            f"""
        SELECT {g_dir} x.good, x.scrap, x.rework, x.scrap_reason, x.order_id AS ord2, m.m_pru
        FROM {counts_from} x JOIN m USING (machine_id)
        WHERE x.order_id IS NOT NULL AND {count_in_sql("x.ts", p(s), p(e))} AND x.machine_id IN ({id_list})"""
        )
    fail_source = ""
    if not failures_in_stream:
        fail_source = f"""
        UNION ALL
        SELECT {g_dir} 0, NULL, FALSE, 1, x.dur_s, NULL, NULL, NULL, NULL, NULL
        FROM ep x JOIN m USING (machine_id)
        WHERE {failure_sql("x.cls", "x.ts", p(s))}"""

    outside = bool(config.count_running_outside_schedule)
    sums = time_sums_sql("el", "dur", "has_order")
    time_sums = ",\n        ".join(f"{sums[c]} AS {RAW_TIME_COLUMNS[c]}" for c in (*TIME_SUMS, "aoet"))
    sql = f"""
    {episodes_ctes(s, e, config, ids, bounds, states_from)}
    ev AS ({" UNION ALL ".join(ev_parts)}
    ),{fill_cte},
    seg AS (
        SELECT {g_seg}
               extract(epoch FROM (coalesce(ff.nxt, {p(e)}) - ff.ts)) AS dur,
               {segment_element_sql("ff.f_cls", "t.status", outside)} AS el,
               coalesce({has_ord}, FALSE) AS has_order,
               {"ff.failure, ff.repair_s" if failures_in_stream else "0 AS failure, CAST(NULL AS DOUBLE PRECISION) AS repair_s"}
        FROM ff JOIN m USING (machine_id) JOIN _timeline t ON t.ci = ff.f_ci
    ),
    cnt_rows AS ({" UNION ALL ".join(cnt_sources)}
    ),
    cnt AS (
        SELECT {gcols} good, scrap, rework,
               {startup_sql("scrap", "scrap_reason")} AS startup,
               {PRU_SQL.format(m_pru="m_pru")} AS pru
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
        {time_sums},
        {quantity_sums_sql()},
        coalesce(sum(failure), 0) AS failures,
        coalesce(sum(repair_s), 0) AS repair_time_s
    FROM facts
    {("GROUP BY " + gcols.rstrip(", ")) if group_by else ""}
    """
    return sql, []


def calendar_buckets(timeline: pa.Table, s: datetime, e: datetime) -> pa.Table:
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


def _hour_sql(col: str, end: bool = False) -> str:
    """SQL: the hour number (hours since the epoch) of the instant `col`, or with `end` of the
    last hour that the interval ending at `col` reaches."""
    if end:
        return f"CAST(ceil(extract(epoch FROM {col}) / 3600) AS BIGINT) - 1"
    return f"CAST(floor(extract(epoch FROM {col}) / 3600) AS BIGINT)"


def _split_cte(keys: str, since: str) -> str:
    """The CTE `split`: per row of `x` (an episode, or its part in one piece, with columns a,
    b, ts, cls, dur_s, has_order, cal and the columns `keys`) its seconds d, its seconds in
    work, break and off (w, br, o: the calendar's cumulative seconds at b minus those at a,
    each found in `_buckets` with an equality join on the hour) and whether it is a failure of
    the window or piece that starts at `since` (repair_s: its whole length)."""

    def cum(side: str, col: str, status: str) -> str:
        return (
            f"({side}c.{col} + CASE WHEN {side}c.status = '{status}' "
            f"THEN extract(epoch FROM (x.{side} - {side}c.c_ts)) ELSE 0 END)"
        )

    failure = failure_sql("x.cls", "x.ts", since)
    return f"""
    split AS (
        SELECT {keys}, x.cls, x.has_order, extract(epoch FROM (x.b - x.a)) AS d,
               CASE WHEN {failure} THEN 1 ELSE 0 END AS failure,
               CASE WHEN {failure} THEN x.dur_s END AS repair_s,
               {cum("b", "cw", "work")} - {cum("a", "cw", "work")} AS w,
               {cum("b", "cb", "break")} - {cum("a", "cb", "break")} AS br,
               {cum("b", "co", "off")} - {cum("a", "co", "off")} AS o
        FROM x
        JOIN _buckets ac ON ac.calendar = x.cal AND ac.bucket = {_hour_sql("x.a")}
             AND ac.c_ts <= x.a AND x.a < ac.c_end
        JOIN _buckets bc ON bc.calendar = x.cal AND bc.bucket = {_hour_sql("x.b", end=True)}
             AND bc.c_ts < x.b AND x.b <= bc.c_end
    ),"""


def _episode_facts(keys: str, config: KpiConfig, extra: str = "") -> str:
    """The facts of each row of `split` (keys: the select list of its group keys, ending in a
    comma): its time elements by `elements.element_seconds_sql`, no quantities, its failure
    and repair time (`extra`: more columns, starting with a comma)."""
    outside = bool(config.count_running_outside_schedule)
    secs = element_seconds_sql("cls", {"work": "w", "break": "br", "off": "o"}, "d", "has_order", outside)
    return f"""
        SELECT {keys}
               CAST(0 AS DOUBLE PRECISION) AS cal_s,
               {secs["ns"]} AS ns,
               {secs["pdt"]} AS pdt,
               {secs["apt"]} AS apt,
               {secs["setup"]} AS setup,
               {secs["down"]} AS down,
               {secs["delay"]} AS delay,
               {secs["micro"]} AS micro,
               CAST(0 AS DOUBLE PRECISION) AS nodata,
               {secs["aoet"]} AS aoet,
               CAST(NULL AS BIGINT) AS good, CAST(NULL AS BIGINT) AS scrap,
               CAST(NULL AS BIGINT) AS rework, CAST(NULL AS BIGINT) AS startup,
               CAST(NULL AS DOUBLE PRECISION) AS pru, failure, repair_s{extra}
        FROM split"""


def _count_facts(
    keys: str, counts_from: str, piece_join: str, s: datetime, e: datetime, id_list: str, extra: str = ""
) -> str:
    """The quantities of the counts of [s, e) as facts rows (no times): `keys` their group
    keys (ending in a comma), `piece_join` a join that gives them (empty for none), `extra`
    more columns (starting with a comma)."""
    return f"""
        SELECT {keys} 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, c.good, c.scrap, c.rework,
               {startup_sql("c.scrap", "c.scrap_reason")},
               {PRU_SQL.format(m_pru="m.m_pru")}, 0, NULL{extra}
        FROM {counts_from} c JOIN m USING (machine_id){piece_join}
        LEFT JOIN orders o ON o.order_id = c.order_id
        LEFT JOIN _ict i ON i.product = o.product
        WHERE {count_in_sql("c.ts", lit(s), lit(e))} AND c.machine_id IN ({id_list})"""


def episode_sql(
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
    p = lit
    gm = {"machine": "m.path", "line": "m.line_path"}
    g_sel = "".join(f"{gm[g]} AS g_{g}, " for g in group_by)
    # the episodes carry their machine's path and line from the first join with m on, so no
    # later join is needed (PostgreSQL misestimates the hour-bucket joins at one row and
    # would loop over m for every episode)
    carried = {"machine": "m_path", "line": "m_line"}
    g_el = "".join(f"{carried[g]} AS g_{g}, " for g in group_by)
    gcols = "".join(f"g_{g}, " for g in group_by)
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"
    window_s = (e - s).total_seconds()
    times = ",\n        ".join(
        f"sum({c}_s) AS {RAW_TIME_COLUMNS[c]}" if c == "cal" else f"sum({c}) AS {RAW_TIME_COLUMNS[c]}"
        for c in RAW_TIME_COLUMNS
    )
    return f"""
    {episodes_ctes(s, e, config, ids, bounds, states_from)}
    x AS (
        SELECT ep.*, m.cal, m.path AS m_path, m.line_path AS m_line
        FROM ep JOIN m USING (machine_id)
    ),{_split_cte("x.machine_id, x.m_path, x.m_line", p(s))}
    facts AS ({_episode_facts(g_el, config)}
        UNION ALL
        SELECT {g_sel} {window_s!r}, 0, 0, 0, 0, 0, 0, 0,
               {no_data_sql("f.first_ts", p(s), p(e))},
               0, NULL, NULL, NULL, NULL, NULL, 0, NULL
        FROM m LEFT JOIN (SELECT machine_id, min(ts) AS first_ts FROM st0 GROUP BY machine_id) f
             USING (machine_id)
        UNION ALL{_count_facts(g_sel, counts_from, "", s, e, id_list)}
    )
    SELECT {gcols}
        {times},
        {quantity_sums_sql()},
        sum(failure) AS failures,
        coalesce(sum(repair_s), 0) AS repair_time_s
    FROM facts
    {("GROUP BY " + gcols.rstrip(", ")) if group_by else ""}
    """


#: The downtime Pareto's groupings: per grouping, its columns and their SQL over `split`.
PARETO_GROUPS = {
    "reason": {
        "state": "state",
        "reason": f"CASE WHEN cls = {MICRO} THEN 'micro_stop' ELSE coalesce(reason_code, '(none)') END",
    },
    "state": {"state": "state"},
    "machine": {"machine": "m_path"},
}


def pareto_sql(
    by: str,
    s: datetime,
    e: datetime,
    config: KpiConfig,
    ids: Sequence[int],
    bounds: tuple[datetime | None, datetime | None] | None,
) -> str:
    """The downtime Pareto: the seconds of setup, down, delay and minor stops (the time
    elements lost inside planned busy time, `elements.element_seconds_sql`) per group of
    `PARETO_GROUPS[by]`, and the episodes that lost any, largest first.

    The per-episode query's episodes and their split by calendar status (`episodes_ctes`,
    `_split_cte`), so each second is classified exactly as in the KPIs: a minor stop is a
    short down or delay episode by its whole length, never the machine's open last one; a
    stop in a break is planned downtime, outside the shifts not scheduled."""
    p = lit
    outside = bool(config.count_running_outside_schedule)
    secs = element_seconds_sql("cls", {"work": "w", "break": "br", "off": "o"}, "d", "has_order", outside)
    lost = " + ".join(f"({secs[c]})" for c in ("setup", "down", "delay", "micro"))
    cols = PARETO_GROUPS[by]
    sel = ", ".join(f"{expr} AS {name}" for name, expr in cols.items())
    names = ", ".join(cols)
    return f"""
    {episodes_ctes(s, e, config, ids, bounds, keep=("state", "reason_code"))}
    x AS (
        SELECT ep.*, m.cal, m.path AS m_path
        FROM ep JOIN m USING (machine_id)
    ),{_split_cte("x.machine_id, x.m_path, x.state, x.reason_code", p(s))}
    lost AS (
        SELECT {sel}, {lost} AS sec FROM split
    )
    SELECT {names}, sum(CASE WHEN sec > 0 THEN 1 ELSE 0 END) AS episodes, sum(sec) AS seconds
    FROM lost
    GROUP BY {names}
    HAVING sum(sec) > 0
    ORDER BY seconds DESC, {names}
    """


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
    """Per (machine, piece of `_pieces`) of [s, e): the sums of `episode_sql` in whole
    microseconds, plus the number of counts without an order (`episode_sql`'s precondition).
    `_pieces` (h0, h1, hb) cuts [s, e) at hours; hb is the hour number of h0. An episode is
    cut at the pieces; its class and repair time stay those of its whole length, and its
    failure belongs to the piece where it starts."""
    id_list = ", ".join(str(int(i)) for i in ids) or "NULL"

    def us(col: str, name: str) -> str:  # a piece's seconds as whole microseconds
        return f"CAST(round(coalesce(sum({col}), 0) * 1000000) AS BIGINT) AS {name}"

    times = ", ".join(us(f"{c}_s" if c == "cal" else c, f"{c}_us") for c in RAW_TIME_COLUMNS)
    piece_join = f"\n        JOIN _pieces h ON h.hb = {_hour_sql('c.ts', end=True)} AND {count_in_sql('c.ts', 'h.h0', 'h.h1')}"
    orderless = ",\n               CASE WHEN c.order_id IS NULL THEN 1 ELSE 0 END"
    counts = _count_facts("c.machine_id, h.h0,", counts_from, piece_join, s, e, id_list, orderless)
    return f"""
    {episodes_ctes(s, e, config, ids, bounds, states_from, open_end=open_end)}
    epm AS (
        SELECT ep.machine_id, ep.ts, ep.has_order, ep.cls, ep.dur_s, ep.a, ep.b, m.cal,
               {_hour_sql("ep.a")} AS hb_a, {_hour_sql("ep.b", end=True)} AS hb_b
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
    ),{_split_cte("x.machine_id, x.h0", "x.h0")}
    facts AS ({_episode_facts("machine_id, h0,", config, ", 0 AS orderless")}
        UNION ALL
        SELECT m.machine_id, h.h0, extract(epoch FROM (h.h1 - h.h0)), 0, 0, 0, 0, 0, 0, 0,
               {no_data_sql("f.first_ts", "h.h0", "h.h1")},
               0, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0
        FROM m CROSS JOIN _pieces h
        LEFT JOIN (SELECT machine_id, min(ts) AS first_ts FROM st0 GROUP BY machine_id) f
             USING (machine_id)
        UNION ALL{counts}
    )
    SELECT machine_id, h0,
        {times},
        {quantity_sums_sql({c: c for c in ("good", "scrap", "rework", "startup", "ideal", "qwi")})},
        sum(failure) AS failures, {us("repair_s", "repair_us")},
        sum(orderless) AS orderless
    FROM facts
    GROUP BY machine_id, h0
    """


def float_epochs(dialect: str, sql: str) -> str:
    """PostgreSQL: `extract(epoch ...)` gives NUMERIC (exact decimal, several times slower to
    add and compare than floats); `date_part('epoch', ...)` gives double precision, the type
    DuckDB's extract gives. Same SQL text otherwise, so both engines do the same arithmetic."""
    if dialect == "postgresql":
        return sql.replace("extract(epoch FROM ", "date_part('epoch', ")
    return sql
