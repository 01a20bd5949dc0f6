"""Downtime analysis: where the scheduled time went, by stop reason (the Pareto a shop acts on)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from ..model.calendar import timeline_table
from ..store.base import Store

LOSS_STATES = ("unplanned_down", "idle", "setup")


def downtime_pareto(
    store: Store,
    start: datetime,
    end: datetime,
    micro_stop_threshold_s: float = 120.0,
    machines: list[str] | None = None,
) -> pd.DataFrame:
    """Stop time inside scheduled work time, by state and reason, largest first.

    Episodes of unplanned_down, idle and setup are cut to the calendar's work periods (a
    machine with no calendar is scheduled around the clock). Stops shorter than the
    micro-stop threshold are gathered under the reason 'micro_stop'. Columns: state, reason,
    episodes, seconds, share, cumulative_share.
    """
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
    cut AS (
        SELECT ep.*, m.calendar,
               extract(epoch FROM (ep.nxt - ep.ts)) AS episode_s,
               greatest(ep.ts, ?) AS c0, least(ep.nxt, ?) AS c1
        FROM ep JOIN machines m USING (machine_id)
        WHERE ep.nxt > ? AND ep.ts < ? AND ep.state IN {LOSS_STATES!r} {where_m}
    ),
    parts AS (
        SELECT cut.state,
               CASE WHEN cut.state <> 'setup' AND cut.episode_s < ? THEN 'micro_stop'
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
    df = store.query(sql, ordered, tables={"_timeline": timeline}).to_pandas()
    total = df["seconds"].sum()
    df["share"] = df["seconds"] / total if total else 0.0
    df["cumulative_share"] = df["share"].cumsum()
    return df


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
