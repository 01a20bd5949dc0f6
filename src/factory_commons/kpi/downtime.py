"""Downtime analysis: where the planned busy time went, by stop reason, machine or state (the
Pareto a shop acts on).

The same rules as the KPIs (kpi/elements.py, through `queries.pareto_sql`): the seconds a
stop loses are the seconds the KPIs count as setup, down time, delay or minor stops, so the
Pareto of a window adds up to `setup_time_s + down_time_s + delay_time_s + micro_stop_time_s`
of `compute_kpis` for the same window and machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..store.base import Store
from .config import KpiConfig
from .inputs import calendar_timeline, naive_utc, side_tables, state_bounds
from .queries import PARETO_GROUPS, calendar_buckets, float_epochs, pareto_sql

#: time elements whose time is lost inside planned busy time (see docs/kpi.md); minor stops
#: (short down or delay episodes) are gathered under the reason 'micro_stop'
LOSS_ELEMENTS = ("setup", "down", "delay")
#: the groupings of `downtime_pareto`
BY = tuple(PARETO_GROUPS)


def downtime_pareto(
    store: Store,
    start: datetime,
    end: datetime,
    config: KpiConfig | None = None,
    machines: Sequence[str] | None = None,
    by: str = "reason",
) -> pd.DataFrame:
    """Stop time inside planned busy time over [start, end), largest first.

    `by`: "reason" (columns state, reason; down and delay stops shorter than the micro-stop
    threshold under the reason 'micro_stop', stops without a reason under '(none)'), "state"
    or "machine" (the machine path). Then episodes (stops that lost time in the window),
    seconds, share and cumulative_share (of the window's whole stop time). `machines`: the
    machine paths to include (None or empty: all)."""
    if by not in PARETO_GROUPS:
        raise ValueError(f"by {by!r}: use one of {', '.join(BY)}")
    config = config or KpiConfig()
    s, e = naive_utc(start), naive_utc(end)
    if not s < e:
        raise ValueError(f"start ({s}) must be before end ({e})")
    cols = list(PARETO_GROUPS[by])
    mrows = store.query("SELECT machine_id, path, calendar FROM machines ORDER BY path").to_pylist()
    if machines:
        wanted = set(machines)
        mrows = [m for m in mrows if m["path"] in wanted]
    if not mrows:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        df["episodes"], df["seconds"] = pd.Series(dtype="int64"), pd.Series(dtype=float)
    else:
        timeline, cal_of = calendar_timeline(store, mrows, s, e, config)
        timeline = timeline.filter(pc.less(timeline.column("ts"), pa.scalar(e, pa.timestamp("us"))))
        ids = sorted(cal_of)
        tables = {**side_tables(config, cal_of), "_buckets": calendar_buckets(timeline, s, e)}
        sql = pareto_sql(by, s, e, config, ids, state_bounds(store, ids, s, e))
        df = store.query(float_epochs(store.dialect, sql), [], tables=tables).to_pandas()
        df["episodes"] = df["episodes"].astype("int64")
        df["seconds"] = (df["seconds"].astype(float) * 1e6).round() / 1e6  # whole microseconds
    total = float(df["seconds"].sum())
    df["share"] = df["seconds"] / total if total else 0.0
    df["cumulative_share"] = df["share"].cumsum()
    return df.reset_index(drop=True)
