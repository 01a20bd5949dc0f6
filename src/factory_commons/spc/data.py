"""Chart inputs from a store: measurements from the `quality` table, defectives from `counts`.

- Variables charts read one characteristic of one machine, oldest first. Subgroups are the
  records sharing a `sample_id` when samples have several measurements; otherwise (no
  sample_id, or one value per sample_id, as the simulator writes) consecutive groups of `size`
  values. Incomplete groups are left out, and the result says so.
- Attribute charts read part counts: per day, shift or production order, the scrap parts are
  the nonconforming units (p, np) or nonconformities (c, u) and good + scrap the units
  inspected. Days and shifts are the machine's shift calendar's (its time zone and its shift
  names); part counts outside every shift fall in an "unscheduled" group.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .charts import SpcError, _text

DEFAULT_TIMEZONE = "Asia/Seoul"


def resolve_machine(store, name: str) -> str:
    """A machine's full path from its path or a unique last segment (e.g. 'cnc-01')."""
    paths = [m.path for m in store.machines()]
    if name in paths:
        return name
    matches = [p for p in paths if p.endswith("/" + name)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SpcError(_text("err_no_machine", name=repr(name)))
    raise SpcError(f"{name!r} names several machines: {', '.join(matches)}; give the full path")


def load_measurements(
    store,
    machine: str,
    characteristic: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Quality records of one characteristic of one machine, oldest first (ts in UTC)."""
    t = store.read("quality", start, end, machines=[machine])
    df = t.to_pandas()
    if df.empty:
        raise SpcError(_text("err_no_quality", machine=machine))
    chosen = df[df["characteristic"] == characteristic]
    if chosen.empty:
        known = ", ".join(sorted(df["characteristic"].unique()))
        raise SpcError(f"no characteristic {characteristic!r} on {machine}; recorded: {known}")
    chosen = chosen.sort_values(["ts", "sample_id"], kind="stable").reset_index(drop=True)
    chosen["ts"] = pd.to_datetime(chosen["ts"]).dt.tz_localize(UTC)
    return chosen


@dataclass
class Subgroups:
    groups: list[np.ndarray]
    labels: list
    by: str  # "sample_id" or "consecutive"
    notes: list[str] = field(default_factory=list)


def make_subgroups(df: pd.DataFrame, size: int = 5) -> Subgroups:
    """Subgroups by sample_id when samples hold several values, else consecutive groups of `size`.

    Labels are the time of the last value of each subgroup (when the subgroup was complete).
    """
    notes: list[str] = []
    ids = df["sample_id"] if "sample_id" in df else pd.Series([None] * len(df))
    if ids.notna().any():
        sizes = df[ids.notna()].groupby("sample_id", sort=False).size()
        if (sizes > 1).any():
            groups, labels = [], []
            for _, g in df[ids.notna()].groupby("sample_id", sort=False):
                if len(g) > 1:
                    groups.append(g["value"].to_numpy(float))
                    labels.append(g["ts"].max())
            left = int((sizes == 1).sum()) + int(ids.isna().sum())
            if left:
                notes.append(f"{left} values without a sample of 2 or more were left out")
            order = np.argsort(np.array([pd.Timestamp(x).value for x in labels]), kind="stable")
            return Subgroups([groups[i] for i in order], [labels[i] for i in order], "sample_id", notes)
    if size < 2:
        raise SpcError(f"subgroup size must be at least 2, got {size}")
    values = df["value"].to_numpy(float)
    ts = list(df["ts"])
    m = len(values) // size
    rest = len(values) - m * size
    if rest:
        notes.append(f"the last {rest} value(s) do not fill a subgroup of {size} and were left out")
    groups = [values[i * size : (i + 1) * size] for i in range(m)]
    labels = [ts[(i + 1) * size - 1] for i in range(m)]
    return Subgroups(groups, labels, "consecutive", notes)


def spec_limits(df: pd.DataFrame) -> tuple[float | None, float | None, float | None, list[str]]:
    """LSL, USL and target recorded with the measurements (the most frequent when they change)."""
    out, notes = [], []
    for col in ("lsl", "usl", "target"):
        vals = [float(v) for v in df[col] if v is not None and not pd.isna(v)] if col in df else []
        if not vals:
            out.append(None)
            continue
        counts = Counter(vals)
        value = counts.most_common(1)[0][0]
        if len(counts) > 1:
            notes.append(f"{col} changes within the data ({len(counts)} values); using {value:g}")
        out.append(value)
    return out[0], out[1], out[2], notes


def _timezone(store, machine: str):
    cal_name = next((m.calendar for m in store.machines() if m.path == machine), None)
    cal = store.calendars().get(cal_name) if cal_name else None
    return cal, ZoneInfo(cal.timezone if cal else DEFAULT_TIMEZONE)


@dataclass
class AttributeData:
    """Per group: label, first part count time, nonconforming (scrap) and inspected (good + scrap)."""

    labels: list[str]
    starts: list[datetime]
    nonconforming: np.ndarray
    inspected: np.ndarray
    by: str


def attribute_counts(
    store,
    machine: str,
    start: datetime | None = None,
    end: datetime | None = None,
    by: str = "day",
) -> AttributeData:
    """Scrap and good + scrap of one machine per `by` ("day", "shift" or "order")."""
    if by not in ("day", "shift", "order"):
        raise SpcError(f"group counts by day, shift or order, not {by!r}")
    df = store.read("count", start, end, machines=[machine]).to_pandas()
    if df.empty:
        raise SpcError(_text("err_no_counts", machine=machine))
    df["ts"] = pd.to_datetime(df["ts"]).dt.tz_localize(UTC)
    df = df.sort_values("ts", kind="stable")
    cal, tz = _timezone(store, machine)
    if by == "order":
        key = df["order_id"].fillna("(no order)")
    elif by == "day" and cal is None:
        key = df["ts"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d")
    else:
        # the calendar's production day and shift of each count (a night shift's hours after
        # midnight belong to the day the shift started)
        lo, hi = df["ts"].iloc[0].to_pydatetime(), df["ts"].iloc[-1].to_pydatetime()
        events = cal.timeline(lo, hi + pd.Timedelta(seconds=1)) if cal else []
        ev_ts = np.array([pd.Timestamp(e[0]).value for e in events], dtype=np.int64)
        pos = np.searchsorted(ev_ts, df["ts"].astype("int64").to_numpy() * _ns_factor(df["ts"]), "right") - 1
        keys = []
        local_days = df["ts"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d").tolist()
        for p, local_day in zip(pos, local_days, strict=True):
            ev = events[p] if 0 <= p < len(events) else None
            if ev is None or ev[1] == "off":
                keys.append(f"{local_day} unscheduled" if by == "shift" else local_day)
            elif by == "shift":
                keys.append(f"{ev[3].isoformat()} {ev[2]}")
            else:
                keys.append(ev[3].isoformat())
        key = pd.Series(keys, index=df.index)
    df["group"] = key.to_numpy()
    df["inspected"] = df["good"] + df["scrap"]
    g = df.groupby("group", sort=False).agg(
        start=("ts", "min"), nonconforming=("scrap", "sum"), inspected=("inspected", "sum")
    )
    g = g.sort_values("start", kind="stable")
    return AttributeData(
        labels=[str(x) for x in g.index],
        starts=[t.to_pydatetime() for t in g["start"]],
        nonconforming=g["nonconforming"].to_numpy(float),
        inspected=g["inspected"].to_numpy(float),
        by=by,
    )


def _ns_factor(ts: pd.Series) -> int:
    """Multiplier from the series' integer unit to nanoseconds (pandas may keep microseconds)."""
    unit = getattr(ts.dt, "unit", "ns")
    return {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}[unit]
