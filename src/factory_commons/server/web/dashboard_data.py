"""What the dashboard pages show: live states, OEE, losses, Pareto, signal trends, alarms.

Each function takes the machine paths the caller may read (already scoped) and returns plain
values and SVG strings (report/svg.py) for the templates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from markupsafe import Markup

from ...kpi import LOSS_COLUMNS, compute_kpis
from ...kpi.downtime import downtime_pareto
from ...report import svg
from ...store.base import Store

KPI_KEYS = ("oee", "availability", "effectiveness", "quality_ratio")
MAX_POINTS = 300


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def pct(value: Any) -> str:
    """0.853 -> '85.3%'; missing -> '–'."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if v != v else f"{v:.1%}"


def line_of(path: str) -> str:
    return path.rsplit("/", 1)[0]


def live_states(store: Store, paths: list[str], at: datetime, tz: ZoneInfo) -> dict[str, dict]:
    """The last state change at or before `at` of each machine (looking back 2, then 60 days)."""
    out: dict[str, dict] = {}
    for back in (2, 60):
        missing = [p for p in paths if p not in out]
        if not missing:
            break
        rows = store.read(
            "state", at - timedelta(days=back), at + timedelta(microseconds=1), machines=missing
        )
        for r in rows.to_pylist():  # ordered by machine, ts: the last row of a machine wins
            ts = _utc(r["ts"])
            out[r["machine"]] = {
                "state": r["state"],
                "reason": r.get("reason_code"),
                "ts": ts,
                "since": ts.astimezone(tz).strftime("%m-%d %H:%M"),
            }
    return {p: out[p] for p in paths if p in out}


def overview_view(store: Store, paths: list[str], at: datetime, tz: ZoneInfo) -> dict:
    """Machines grouped by line, each with its live state and today's OEE (since local midnight)."""
    midnight = at.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight if at - midnight >= timedelta(hours=1) else at - timedelta(days=1)
    oee: dict[str, float] = {}
    if paths:
        df = compute_kpis(store, start, at, ("machine",), machines=paths)
        oee = dict(zip(df["machine"], df["oee"], strict=True))
    states = live_states(store, paths, at, tz)
    lines: dict[str, list[dict]] = {}
    for p in sorted(paths):
        s = states.get(p)
        lines.setdefault(line_of(p), []).append(
            {
                "path": p,
                "name": p.rsplit("/", 1)[-1],
                "state": s["state"] if s else "unknown",
                "since": s["since"] if s else "",
                "oee": pct(oee.get(p)),
            }
        )
    return {"lines": lines, "today": start.astimezone(tz).strftime("%Y-%m-%d %H:%M")}


def _kpi_rows(df: pd.DataFrame, key: str) -> list[dict]:
    rows = []
    for _, r in df.sort_values(key).iterrows():
        name = str(r[key])
        rows.append(
            {
                "key": name,
                "name": name.rsplit("/", 1)[-1],
                **{k: pct(r[k]) for k in KPI_KEYS},
                "produced": int(r["produced_quantity"]),
            }
        )
    return rows


def oee_view(store: Store, paths: list[str], at: datetime, days: int, t: Callable[[str], str]) -> dict:
    """Plant OEE cards, the loss waterfall, the daily trend and tables by line and machine."""
    start = at - timedelta(days=days)
    if not paths:
        return {"empty": True, "cards": [], "start": start, "end": at}
    plant = compute_kpis(store, start, at, (), machines=paths).iloc[0]
    by_day = compute_kpis(store, start, at, ("day",), machines=paths)
    by_day = by_day[by_day["day"].notna()].sort_values("day")
    losses = sorted(((c, float(plant[c])) for c in LOSS_COLUMNS), key=lambda p: -p[1])
    waterfall = svg.waterfall(
        t("planned_busy_time_s"),
        float(plant["planned_busy_time_s"]) / 3600,
        [(t(c), sec / 3600) for c, sec in losses],
        t("fully_productive"),
        t("loss_waterfall"),
    )
    trend = svg.line_chart([str(d) for d in by_day["day"]], {t("oee"): list(by_day["oee"])}, t("oee_trend"))
    return {
        "empty": False,
        "start": start,
        "end": at,
        "cards": [(t(k), pct(plant[k])) for k in KPI_KEYS],
        "waterfall": Markup(waterfall),
        "trend": Markup(trend),
        "by_line": _kpi_rows(compute_kpis(store, start, at, ("line",), machines=paths), "line"),
        "by_machine": _kpi_rows(compute_kpis(store, start, at, ("machine",), machines=paths), "machine"),
    }


def downtime_view(store: Store, paths: list[str], at: datetime, days: int, t: Callable[[str], str]) -> dict:
    """The downtime Pareto (stop time by state and reason, largest first) and its table."""
    start = at - timedelta(days=days)
    if not paths:
        return {"rows": [], "pareto": Markup("")}
    df = downtime_pareto(store, start, at, machines=paths).head(15)
    rows = [
        {
            "reason": t(str(r["reason"])),
            "code": str(r["reason"]),
            "state": t(str(r["state"])),
            "state_code": str(r["state"]),
            "episodes": int(r["episodes"]),
            "hours": f"{float(r['seconds']) / 3600:.1f}",
            "share": pct(r["share"]),
        }
        for _, r in df.iterrows()
    ]
    chart = svg.pareto(
        [r["reason"] for r in rows], [float(s) / 3600 for s in df["seconds"]], t("downtime_pareto")
    )
    return {"rows": rows, "pareto": Markup(chart)}


def _signal_points(store: Store, path: str, start: datetime, end: datetime) -> dict[str, dict]:
    """Per signal name: its points in [start, end) and whether some come from the rollup.

    Raw signals are used where they exist; before a signal's first raw point (or for the whole
    window, when it has none) the 1-minute rollup `signals_1m` (their mean) fills in: raw
    signals older than the retention period are deleted after they are rolled up (store retention).
    """
    raw = store.read("signal", start, end, machines=[path]).to_pandas()
    first_raw = {str(n): g["ts"].min() for n, g in raw.groupby("name")}
    agg = store.read("signal_1m", start, end, machines=[path]).to_pandas()
    out: dict[str, dict] = {}
    for name, g in agg.groupby("name", sort=True):
        cut = first_raw.get(str(name))
        g = g[g["ts"] < cut] if cut is not None else g
        if len(g):
            out[str(name)] = {
                "ts": list(g["ts"]),
                "value": [float(v) if v is not None else None for v in g["mean"]],
                "unit": g["unit"].iloc[0],
                "rollup": True,
            }
    for name, g in raw.groupby("name", sort=True):
        d = out.setdefault(str(name), {"ts": [], "value": [], "unit": None, "rollup": False})
        d["ts"] += list(g["ts"])
        d["value"] += [float(v) for v in g["value"]]
        d["unit"] = g["unit"].iloc[0] or d["unit"]
    return dict(sorted(out.items()))


def machine_view(store: Store, path: str, at: datetime, tz: ZoneInfo, days: int = 1) -> dict:
    """One SVG line chart per signal over the last `days` (thinned to MAX_POINTS), and the alarms.

    Where raw signals are gone (rolled up by retention) the chart is drawn from the 1-minute
    means, marked `rollup` so that the page can say so.
    """
    start = at - timedelta(days=days)
    charts = []
    fmt = "%H:%M" if days <= 1 else "%m-%d %H:%M"
    for name, d in _signal_points(store, path, start, at).items():
        pairs = sorted(zip(d["ts"], d["value"], strict=True))
        step = max(1, len(pairs) // MAX_POINTS)
        pairs = pairs[::step]
        values = [v for _, v in pairs]
        top = max((v for v in values if v is not None and v == v), default=1.0) or 1.0
        unit = str(d["unit"]) if d["unit"] else ""
        labels = [_utc(pd.Timestamp(ts).to_pydatetime()).astimezone(tz).strftime(fmt) for ts, _ in pairs]
        title = f"{name} ({unit})" if unit else name
        chart = svg.line_chart(labels, {title: values}, title, y_max=top * 1.1, percent=False, height=220)
        charts.append({"name": title, "svg": Markup(chart), "rollup": d["rollup"]})
    alarms = store.read("alarm", start, at, machines=[path]).to_pylist()[::-1][:100]
    for a in alarms:
        a["when"] = _utc(a["ts"]).astimezone(tz).strftime("%m-%d %H:%M")
    states = live_states(store, [path], at, tz)
    rollup = any(c["rollup"] for c in charts)
    return {"charts": charts, "alarms": alarms, "live": states.get(path), "days": days, "rollup": rollup}
