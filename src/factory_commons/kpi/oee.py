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

import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

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
_NO_SHIFT = ""  # sentinels that keep NULLs out of the forward fill
_NO_DAY = date(1900, 1, 1)
_NO_ORDER = ""


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _always_timeline(start: datetime, end: datetime) -> pa.Table:
    """24/7 work, with a boundary at each UTC midnight so that 'day' is the UTC date."""
    first = datetime.combine(start.date(), datetime.min.time())
    ts = [start if first == start else first]
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
    store: Store, machine_rows: list[dict], start: datetime, end: datetime, config: KpiConfig
) -> tuple[pa.Table, dict[int, str]]:
    """The calendar timeline table and each machine's calendar name in it."""
    cals = store.calendars()
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


def _forward_fill_duckdb(col: str) -> str:
    return f"last_value({col} IGNORE NULLS) OVER w"


def _forward_fill_sql(dialect: str, cols: Sequence[str]) -> tuple[str, str]:
    """(select list of filled columns, extra CTE or '') for the dialect."""
    if dialect == "duckdb":
        return ", ".join(f"{_forward_fill_duckdb(c)} AS f_{c}" for c in cols), ""
    if dialect == "postgresql":
        return _forward_fill_postgresql(cols)
    raise ValueError(f"unsupported SQL dialect {dialect!r}")


def _forward_fill_postgresql(cols: Sequence[str]) -> tuple[str, str]:
    """Portable forward fill (PostgreSQL has no IGNORE NULLS): a running count of non-NULL
    values numbers the groups, and each group takes its first (only non-NULL) value.

    Returns expressions to use on top of the `ev` CTE after a `grp` CTE adds g_<col> columns.
    """
    grp = ", ".join(f"count({c}) OVER w AS g_{c}" for c in cols)
    filled = ", ".join(f"max({c}) OVER (PARTITION BY machine_id, g_{c}) AS f_{c}" for c in cols)
    return filled, grp


def _build_sql(dialect: str, group_by: Sequence[str]) -> str:
    fill_cols = ("status", "shift", "day", "cls", "ord")
    group_exprs = {
        "machine": "path",
        "line": "line_path",
        "shift": "nullif(f_shift, '')",
        "day": f"nullif(f_day, DATE '{_NO_DAY.isoformat()}')",
        "order": "nullif(ord2, '')",
    }
    sel_groups = "".join(f"{group_exprs[g]} AS g_{g}, " for g in group_by)
    group_clause = ("GROUP BY " + ", ".join(f"g_{g}" for g in group_by)) if group_by else ""
    filled, extra = _forward_fill_sql(dialect, fill_cols)
    if dialect == "duckdb":
        fill_cte = f"""
    ff AS (
        SELECT machine_id, ts, k, good, scrap, rework, startup_scrap, c_ord, failure, repair_s,
               {filled},
               lead(ts) OVER w AS nxt
        FROM ev
        WINDOW w AS (PARTITION BY machine_id ORDER BY ts, k ROWS UNBOUNDED PRECEDING)
    )"""
    else:
        fill_cte = f"""
    ev_g AS (
        SELECT ev.*, {extra}
        FROM ev
        WINDOW w AS (PARTITION BY machine_id ORDER BY ts, k ROWS UNBOUNDED PRECEDING)
    ),
    ff AS (
        SELECT machine_id, ts, k, good, scrap, rework, startup_scrap, c_ord, failure, repair_s,
               {filled},
               lead(ts) OVER (PARTITION BY machine_id ORDER BY ts, k) AS nxt
        FROM ev_g
    )"""
    # Parameters, in order: end (episode), start, threshold, start, end,
    # start (cal clip), start (state clip), start (failure), end (repair), start, end (counts), end (seg)
    return f"""
    WITH m AS (
        SELECT m.machine_id, m.path,
               m.enterprise || '/' || m.site || '/' || m.area || '/' || m.line AS line_path,
               c.cal, m.default_ideal_cycle_time_s AS m_pru
        FROM machines m JOIN _machine_cal c USING (machine_id)
    ),
    st AS (
        SELECT s.machine_id, s.ts, s.state, s.reason_code, s.order_id,
               lead(s.ts) OVER (PARTITION BY s.machine_id ORDER BY s.ts) AS nxt
        FROM states s WHERE s.machine_id IN (SELECT machine_id FROM m)
    ),
    ep AS (
        SELECT st.machine_id, st.ts, st.order_id,
               coalesce(r.element, g.element) AS element,
               extract(epoch FROM (coalesce(st.nxt, ?) - st.ts)) AS dur_s,
               st.nxt IS NULL AS open_end
        FROM st
        LEFT JOIN _map r ON r.state = st.state AND r.reason_code = st.reason_code
        LEFT JOIN _map g ON g.state = st.state AND g.reason_code IS NULL
        WHERE (st.nxt IS NULL OR st.nxt > ?) AND st.ts < ?
    ),
    epc AS (
        SELECT machine_id, ts, order_id,
               CASE WHEN element IN ('down', 'delay') AND NOT open_end AND dur_s < ? THEN 'micro'
                    ELSE element END AS cls,
               dur_s
        FROM ep
    ),
    ev AS (
        SELECT m.machine_id, greatest(t.ts, ?) AS ts, 0 AS k,
               t.status, coalesce(t.shift, '{_NO_SHIFT}') AS shift,
               coalesce(t.day, DATE '{_NO_DAY.isoformat()}') AS day,
               CAST(NULL AS VARCHAR) AS cls, CAST(NULL AS VARCHAR) AS ord,
               CAST(NULL AS BIGINT) AS good, CAST(NULL AS BIGINT) AS scrap,
               CAST(NULL AS BIGINT) AS rework, CAST(NULL AS BIGINT) AS startup_scrap,
               CAST(NULL AS VARCHAR) AS c_ord,
               0 AS failure, CAST(NULL AS DOUBLE PRECISION) AS repair_s
        FROM m JOIN _timeline t ON t.calendar = m.cal
        UNION ALL
        SELECT machine_id, greatest(ts, ?), 1, NULL, NULL, NULL, cls,
               coalesce(order_id, '{_NO_ORDER}'), NULL, NULL, NULL, NULL, NULL,
               CASE WHEN cls = 'down' AND ts >= ? THEN 1 ELSE 0 END,
               CASE WHEN cls = 'down' AND ts >= ? THEN dur_s END
        FROM epc
        UNION ALL
        SELECT c.machine_id, c.ts, 2, NULL, NULL, NULL, NULL, NULL,
               c.good, c.scrap, c.rework,
               CASE WHEN c.scrap_reason IN (SELECT reason FROM _startup) THEN c.scrap ELSE 0 END,
               c.order_id, 0, NULL
        FROM counts c
        WHERE c.ts >= ? AND c.ts < ? AND c.machine_id IN (SELECT machine_id FROM m)
    ),{fill_cte},
    seg AS (
        SELECT ff.*, m.path, m.line_path, m.m_pru,
               CASE WHEN k = 2 THEN coalesce(c_ord, f_ord) ELSE f_ord END AS ord2,
               extract(epoch FROM (coalesce(nxt, ?) - ts)) AS dur,
               CASE
                   WHEN f_cls IS NULL THEN 'no_data'
                   WHEN f_cls = 'production' AND (f_status = 'work' OR ?) THEN 'production'
                   WHEN f_status = 'off' THEN 'not_scheduled'
                   WHEN f_status = 'break' THEN 'planned_downtime'
                   WHEN f_cls = 'production' THEN 'planned_downtime'
                   ELSE f_cls
               END AS el
        FROM ff JOIN m USING (machine_id)
    ),
    pru AS (
        SELECT seg.*, CASE WHEN k = 2 THEN coalesce(i.ict, o.ideal_cycle_time_s, m_pru) END AS pru
        FROM seg
        LEFT JOIN orders o ON k = 2 AND o.order_id = nullif(seg.ord2, '')
        LEFT JOIN _ict i ON i.product = o.product
    )
    SELECT {sel_groups}
        sum(dur) AS calendar_time_s,
        coalesce(sum(CASE WHEN el = 'not_scheduled' THEN dur END), 0) AS not_scheduled_s,
        coalesce(sum(CASE WHEN el = 'planned_downtime' THEN dur END), 0) AS planned_downtime_s,
        coalesce(sum(CASE WHEN el IN ('production', 'micro') THEN dur END), 0) AS actual_production_time_s,
        coalesce(sum(CASE WHEN el = 'setup' THEN dur END), 0) AS setup_time_s,
        coalesce(sum(CASE WHEN el = 'down' THEN dur END), 0) AS down_time_s,
        coalesce(sum(CASE WHEN el = 'delay' THEN dur END), 0) AS delay_time_s,
        coalesce(sum(CASE WHEN el = 'micro' THEN dur END), 0) AS micro_stop_time_s,
        coalesce(sum(CASE WHEN el = 'no_data' THEN dur END), 0) AS no_data_s,
        coalesce(sum(CASE WHEN el IN ('production', 'micro', 'setup', 'down', 'delay')
                          AND ord2 <> '' THEN dur END), 0) AS order_execution_time_s,
        coalesce(sum(good), 0) AS good_quantity,
        coalesce(sum(scrap), 0) AS scrap_quantity,
        coalesce(sum(rework), 0) AS rework_quantity,
        coalesce(sum(startup_scrap), 0) AS startup_scrap_quantity,
        coalesce(sum((good + scrap) * pru), 0) AS ideal_time_s,
        coalesce(sum(CASE WHEN k = 2 AND pru IS NULL THEN good + scrap END), 0)
            AS quantity_without_ideal_time,
        coalesce(sum(failure), 0) AS failures,
        coalesce(sum(repair_s), 0) AS repair_time_s
    FROM pru
    {group_clause}
    """


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
    machines: list[str] | None = None,
) -> pd.DataFrame:
    """ISO 22400-2 time elements, quantities, KPIs and losses for [start, end), one row per group.

    `group_by` is any combination of machine, line, shift, day and order (() for the plant).
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

    mrows = store.query("SELECT machine_id, path, calendar FROM machines ORDER BY path").to_pylist()
    if machines is not None:
        wanted = set(machines)
        unknown = wanted - {m["path"] for m in mrows}
        if unknown:
            raise ValueError(f"unknown machines: {', '.join(sorted(unknown))}")
        mrows = [m for m in mrows if m["path"] in wanted]
    timeline, cal_of = _timeline(store, mrows, s, e, config)
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
    sql = _build_sql(store.dialect, group_by)
    params = [
        e,  # open episode end
        s,
        e,  # episodes overlapping the window
        float(config.micro_stop_threshold_s),
        s,  # calendar clip
        s,  # state clip
        s,
        s,  # failures starting in the window
        s,
        e,  # counts
        e,  # last segment end
        bool(config.count_running_outside_schedule),
    ]
    raw = store.query(sql, params, tables=tables).to_pandas()
    raw = raw.rename(columns={f"g_{g}": g for g in group_by})
    return _finish(raw, group_by)


def _finish(raw: pd.DataFrame, group_by: tuple[str, ...]) -> pd.DataFrame:
    df = raw.copy()
    df["planned_operation_time_s"] = df["calendar_time_s"] - df["not_scheduled_s"] - df["no_data_s"]
    df["planned_busy_time_s"] = df["planned_operation_time_s"] - df["planned_downtime_s"]
    for q in ("good_quantity", "scrap_quantity", "rework_quantity", "failures"):
        df[q] = df[q].astype("int64")
    df["produced_quantity"] = df["good_quantity"] + df["scrap_quantity"]
    pq_, gq, sq = df["produced_quantity"], df["good_quantity"], df["scrap_quantity"]
    apt, pbt = df["actual_production_time_s"], df["planned_busy_time_s"]
    ideal = df["ideal_time_s"].astype(float)

    df["availability"] = _ratio(apt, pbt)
    df["effectiveness"] = _ratio(ideal, apt)
    df["quality_ratio"] = _ratio(gq, pq_)
    df["oee"] = df["availability"] * df["effectiveness"] * df["quality_ratio"]
    df["mtbf_s"] = _ratio(apt, df["failures"])
    df["mttr_s"] = _ratio(df["repair_time_s"], df["failures"])
    df["throughput_rate_per_h"] = _ratio(pq_ * 3600.0, df["order_execution_time_s"])
    df["scrap_ratio"] = _ratio(sq, pq_)
    df["setup_rate"] = _ratio(df["setup_time_s"], apt + df["setup_time_s"])
    df["first_pass_yield"] = _ratio(gq - df["rework_quantity"], pq_)

    # Losses. Quality losses are valued at the group's mean PRU (ideal time / PQ), so that
    # Σ losses = PBT − GQ·PRU = PBT·(1 − OEE) holds exactly even when products are mixed.
    mean_pru = _ratio(ideal, pq_).fillna(0.0)
    startup = df["startup_scrap_quantity"].astype(float)
    df["loss_breakdowns_s"] = df["down_time_s"]
    df["loss_setup_s"] = df["setup_time_s"]
    df["loss_idling_s"] = df["delay_time_s"]
    df["loss_minor_stops_s"] = df["micro_stop_time_s"]
    df["loss_reduced_speed_s"] = apt - df["micro_stop_time_s"] - ideal
    df["loss_defects_s"] = (sq - startup) * mean_pru
    df["loss_reduced_yield_s"] = startup * mean_pru

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
    df["startup_scrap_quantity"] = df["startup_scrap_quantity"].astype("int64")
    df["quantity_without_ideal_time"] = df["quantity_without_ideal_time"].astype("int64")
    for c in TIME_COLUMNS + ("ideal_time_s", "repair_time_s", "order_execution_time_s"):
        df[c] = df[c].astype(float)
    out = df[cols]
    if group_by:
        out = out.sort_values(list(group_by), na_position="last", kind="stable")
    return out.reset_index(drop=True)
