"""Downtime analysis: where the scheduled time went, by stop reason (the Pareto a shop acts on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa

from ..model.calendar import timeline_table
from ..store.base import Store
from .config import KpiConfig

#: time elements whose time is lost inside planned busy time (see docs/kpi.md)
LOSS_ELEMENTS = ("setup", "down", "delay")


def downtime_pareto(
    store: Store,
    start: datetime,
    end: datetime,
    config: KpiConfig | None = None,
    machines: list[str] | None = None,
) -> pd.DataFrame:
    """Stop time inside scheduled work time, by state and reason, largest first.

    Episodes whose state (and reason) the KPI config maps to setup, down or delay are cut to
    the calendar's work periods (a machine with no calendar is scheduled around the clock).
    Down and delay stops shorter than the micro-stop threshold are gathered under the reason
    'micro_stop'. Columns: state, reason, episodes, seconds, share, cumulative_share.
    """
    config = config or KpiConfig()
    micro_stop_threshold_s = config.micro_stop_threshold_s
    rows = config.mapping_rows()
    mapping = pa.table(
        {
            "m_state": [r[0] for r in rows],
            "m_reason": pa.array([r[1] for r in rows], pa.string()),
            "m_element": [r[2] for r in rows],
        }
    )
    s, e = _naive(start), _naive(end)
    cals = list(store.calendars().values())
    timeline = timeline_table(cals, start, end)
    where_m = ""
    if machines:
        where_m = f"AND m.path IN ({', '.join('?' for _ in machines)})"
    sql = f"""
    WITH ep AS (
        SELECT x.machine_id, x.state, x.reason_code, x.ts,
               coalesce(lead(x.ts) OVER (PARTITION BY x.machine_id ORDER BY x.ts), ?) AS nxt
        FROM states x
    ),
    work AS (
        SELECT calendar, ts AS w0, coalesce(lead(ts) OVER (PARTITION BY calendar ORDER BY ts), ?) AS w1,
               status
        FROM _timeline
    ),
    mapped AS (
        SELECT ep.*, coalesce(r.m_element, d.m_element) AS element
        FROM ep
        LEFT JOIN _mapping r ON r.m_state = ep.state AND r.m_reason = ep.reason_code
        LEFT JOIN _mapping d ON d.m_state = ep.state AND d.m_reason IS NULL
    ),
    cut AS (
        SELECT ep.*, m.calendar,
               extract(epoch FROM (ep.nxt - ep.ts)) AS episode_s,
               greatest(ep.ts, ?) AS c0, least(ep.nxt, ?) AS c1
        FROM mapped ep JOIN machines m USING (machine_id)
        WHERE ep.nxt > ? AND ep.ts < ? AND ep.element IN {LOSS_ELEMENTS!r} {where_m}
    ),
    parts AS (
        SELECT cut.state,
               CASE WHEN cut.element <> 'setup' AND cut.episode_s < ? THEN 'micro_stop'
                    ELSE coalesce(cut.reason_code, '(none)') END AS reason,
               cut.machine_id, cut.ts,
               CASE WHEN w.calendar IS NULL AND cut.calendar IS NULL
                    THEN extract(epoch FROM (cut.c1 - cut.c0))
                    ELSE extract(epoch FROM (least(cut.c1, w.w1) - greatest(cut.c0, w.w0))) END AS sec
        FROM cut LEFT JOIN work w
          ON w.calendar = cut.calendar AND w.status = 'work' AND w.w0 < cut.c1 AND w.w1 > cut.c0
        WHERE cut.calendar IS NULL OR w.calendar IS NOT NULL
    )
    SELECT state, reason, count(DISTINCT (machine_id, ts)) AS episodes, sum(sec) AS seconds
    FROM parts GROUP BY state, reason HAVING sum(sec) > 0 ORDER BY seconds DESC, reason
    """
    # parameter order follows the placeholders above
    ordered = [e, e, s, e, s, e, *(machines or []), micro_stop_threshold_s]
    df = store.query(sql, ordered, tables={"_timeline": timeline, "_mapping": mapping}).to_pandas()
    total = df["seconds"].sum()
    df["share"] = df["seconds"] / total if total else 0.0
    df["cumulative_share"] = df["share"].cumsum()
    return df


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
