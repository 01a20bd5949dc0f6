"""Read a machine's signals from the store as a wide, regular time x signal frame.

Raw samples (`v_signals`) are averaged into buckets of `interval_s` seconds inside the store;
where a range holds no raw samples (rolled up by retention), the 1-minute aggregates
(`v_signals_1m`, their mean) are used instead. Short gaps (up to `fill_limit` buckets) are
filled forward; buckets that still miss a signal are dropped, so every row is complete.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from ..store.base import Store, _naive_utc


def _where(machine: str, start: datetime | None, end: datetime | None) -> tuple[str, list]:
    where, params = ["machine = ?"], [machine]
    if start is not None:
        where.append("ts >= ?")
        params.append(_naive_utc(start))
    if end is not None:
        where.append("ts < ?")
        params.append(_naive_utc(end))
    return " AND ".join(where), params


def signal_span(store: Store, machine: str) -> tuple[datetime | None, datetime | None]:
    """First and last raw signal sample of a machine (naive UTC), or (None, None)."""
    t = store.query("SELECT min(ts) AS a, max(ts) AS b FROM v_signals WHERE machine = ?", [machine])
    return t.column("a")[0].as_py(), t.column("b")[0].as_py()


def median_interval_s(store: Store, machine: str) -> int:
    """Typical spacing of a machine's raw samples in whole seconds (60 when unknown)."""
    t = store.query(
        "SELECT median(d) AS d FROM (SELECT epoch(ts) - epoch(lag(ts) OVER (PARTITION BY name ORDER BY ts)) "
        "AS d FROM (SELECT name, ts FROM v_signals WHERE machine = ? ORDER BY ts LIMIT 20000)) WHERE d > 0",
        [machine],
    )
    d = t.column("d")[0].as_py()
    return max(1, int(round(d))) if d else 60


def read_wide(
    store: Store,
    machine: str,
    start: datetime | None = None,
    end: datetime | None = None,
    interval_s: int | None = None,
    fill_limit: int = 2,
) -> pd.DataFrame:
    """Signals of `machine` in [start, end) as a frame: UTC time index, one column per signal."""
    if interval_s is None:
        interval_s = median_interval_s(store, machine)
    if interval_s < 1:
        raise ValueError(f"interval_s must be at least 1, got {interval_s}")
    where, params = _where(machine, start, end)
    bucket = f"to_timestamp(floor(epoch(ts) / {int(interval_s)}) * {int(interval_s)})"
    long = store.query(
        f"SELECT {bucket} AS bucket, name, avg(value) AS value FROM v_signals WHERE {where} "
        "GROUP BY 1, 2 ORDER BY 1",
        params,
    ).to_pandas()
    if long.empty:
        long = store.query(
            f"SELECT {bucket} AS bucket, name, avg(mean) AS value FROM v_signals_1m WHERE {where} "
            "GROUP BY 1, 2 ORDER BY 1",
            params,
        ).to_pandas()
    if long.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="ts"))
    wide = long.pivot(index="bucket", columns="name", values="value").sort_index()
    idx = pd.DatetimeIndex(wide.index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    wide.index = idx
    regular = pd.date_range(idx[0], idx[-1], freq=f"{int(interval_s)}s", name="ts")
    wide = wide.reindex(regular).ffill(limit=fill_limit).dropna()
    wide.columns = [str(c) for c in wide.columns]
    wide.columns.name = None
    return wide.astype(np.float64)
