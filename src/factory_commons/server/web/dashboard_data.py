"""What the dashboard pages show: live states, OEE, the loss tree, Pareto, signal trends, alarms.

Each function takes the machine paths the caller may read (already scoped), the period
(`dashboard_range.Period`: plant-local days) and the names people see for machines, and
returns plain values for the templates: SVG strings (report/svg.py) for the bar charts and
the chart data (`chart_data`) that static/charts.js draws with uPlot (hover values, zoom).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from markupsafe import Markup

from ...kpi import LOSS_COLUMNS, compute_kpis
from ...kpi.downtime import downtime_pareto
from ...kpi.plausibility import day_zone_warnings, plausibility
from ...report import svg
from ...report.loss_tree import loss_tree
from ...store.base import Store
from .dashboard_range import Period, local_midnight, short_name

KPI_KEYS = ("oee", "availability", "effectiveness", "quality_ratio")
#: the most points of one signal trend sent to the browser (thinned evenly beyond)
MAX_POINTS = 2000
#: a machine whose newest state or count is older than this shows "no data since …"
STALE_AFTER = timedelta(hours=24)
#: the KPI warnings the OEE page shows (a machine without state data already says so in its row)
WARNINGS = ("no_ideal_cycle_time", "above_100", "day_zone")
Translate = Callable[..., str]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _num(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def pct(value: Any) -> str:
    """0.853 -> '85.3%'; missing -> '–'."""
    v = _num(value)
    return "–" if v is None else f"{v:.1%}"


def hours(seconds: Any) -> str:
    v = _num(seconds)
    return "–" if v is None else f"{v / 3600:,.1f}"


def line_of(path: str) -> str:
    return path.rsplit("/", 1)[0]


def local_text(value: datetime, tz: ZoneInfo, fmt: str = "%m-%d %H:%M") -> str:
    return _utc(value).astimezone(tz).strftime(fmt)


# -- live states ------------------------------------------------------------------------------
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
                "since": local_text(ts, tz),
            }
    return {p: out[p] for p in paths if p in out}


def _newest(
    store: Store, views: tuple[str, ...], paths: list[str], since: datetime | None, at: datetime
) -> dict[str, datetime]:
    """The newest ts of each machine in `views`, in [since, at] (since None: from the start)."""
    out: dict[str, datetime] = {}
    if not paths:
        return out
    marks = ", ".join("?" for _ in paths)
    end = at.astimezone(UTC).replace(tzinfo=None) + timedelta(microseconds=1)
    lower, params = "", [end]
    if since is not None:
        lower, params = " AND ts >= ?", [end, since.astimezone(UTC).replace(tzinfo=None)]
    for view in views:
        rows = store.query(
            f"SELECT machine, max(ts) AS ts FROM {view} WHERE ts < ?{lower} AND machine IN ({marks}) "
            "GROUP BY machine",
            [*params, *paths],
        ).to_pylist()
        for r in rows:
            if r["ts"] is not None:
                ts = _utc(r["ts"])
                out[r["machine"]] = max(ts, out.get(r["machine"], ts))
    return out


def last_seen(store: Store, paths: list[str], at: datetime) -> dict[str, datetime]:
    """The newest state change or count of each machine at or before `at` (none: not there).

    Cheap for the live overview, refreshed every few seconds: the last STALE_AFTER first (the
    stores prune reads by time); only for machines silent that long, counts of the last 60
    days and state changes of all time (state changes are few; counts may be many)."""
    out = _newest(store, ("v_states", "v_counts"), paths, at - STALE_AFTER, at)
    rest = [p for p in paths if p not in out]
    for p, ts in _newest(store, ("v_counts",), rest, at - timedelta(days=60), at).items():
        out[p] = ts
    for p, ts in _newest(store, ("v_states",), rest, None, at).items():
        out[p] = max(ts, out.get(p, ts))
    return out


def machine_status(
    store: Store, paths: list[str], at: datetime, tz: ZoneInfo, t: Translate
) -> dict[str, dict]:
    """What a machine tile says about each machine now: its live state, or why there is none.

    `state` is the state code, or "no_data" when the machine has sent nothing for
    STALE_AFTER (then `label` says since when, plant-local, and `since` names the last state it
    had) or nothing at all (`label`: no data yet)."""
    states = live_states(store, paths, at, tz)
    seen = last_seen(store, paths, at)
    out: dict[str, dict] = {}
    for p in paths:
        s, last = states.get(p), seen.get(p)
        if last is not None and s is not None:
            last = max(last, s["ts"])
        if last is None:
            out[p] = {"state": "no_data", "label": t("dash_no_data_yet"), "since": "", "stale": True}
        elif at - last > STALE_AFTER:
            when = local_text(last, tz, "%Y-%m-%d %H:%M")
            before = t("dash_last_state", state=t(s["state"])) if s else ""
            out[p] = {
                "state": "no_data",
                "label": t("dash_no_data_since", when=when),
                "since": before,
                "stale": True,
            }
        else:
            if s is None:  # counts but no state change: nothing to say about its state
                out[p] = {"state": "unknown", "label": t("dash_no_state"), "since": "", "stale": False}
            else:
                out[p] = {"state": s["state"], "label": t(s["state"]), "since": s["since"], "stale": False}
    return out


def _has_data(row: Any) -> bool:
    """Whether a KPI row saw any state time or part (else: no data in the range)."""
    return (_num(row["planned_busy_time_s"]) or 0) > 0 or int(row["produced_quantity"]) > 0


def overview_view(
    store: Store, paths: list[str], at: datetime, period: Period, names: dict[str, str], t: Translate
) -> dict:
    """Machines grouped by line, each with its live state and the period's OEE."""
    oee: dict[str, Any] = {}
    if paths and period.start < period.end:
        df = compute_kpis(store, period.start, period.end, ("machine",), machines=paths)
        oee = {r["machine"]: (r["oee"] if _has_data(r) else None) for _, r in df.iterrows()}
    status = machine_status(store, paths, at, period.tz, t)
    lines: dict[str, list[dict]] = {}
    for p in sorted(paths, key=lambda x: (line_of(x), names.get(x, x), x)):
        s = status[p]
        lines.setdefault(line_of(p), []).append(
            {
                "path": p,
                "name": names.get(p, short_name(p)),
                **s,
                "oee": pct(oee.get(p)) if oee.get(p) is not None else t("dash_no_data_in_range"),
            }
        )
    return {"lines": lines}


# -- OEE, losses, Pareto --------------------------------------------------------------------
def _kpi_rows(df: pd.DataFrame, key: str, names: dict[str, str], t: Translate) -> list[dict]:
    rows = []
    for _, r in df.iterrows():
        path = str(r[key])
        empty = not _has_data(r)
        rows.append(
            {
                "key": path,
                "name": names.get(path, short_name(path)),
                **{k: pct(r[k]) for k in KPI_KEYS},
                "produced": int(r["produced_quantity"]),
                "empty": empty,
                "note": t("dash_no_data_in_range") if empty else "",
            }
        )
    return sorted(rows, key=lambda r: (r["name"], r["key"]))


def loss_tree_rows(row: Any, t: Translate) -> list[dict]:
    """The loss tree of a KPI row as table rows: name, hours, share of planned busy time."""
    out = []
    for node in loss_tree(row):
        out.append(
            {
                "key": node.key,
                "name": t(node.key),
                "level": node.level,
                "kind": node.kind,
                "hours": "–" if node.hours is None else f"{node.hours:,.1f}",
                "share": pct(node.share),
                "width": 0.0 if node.share is None else round(max(min(node.share, 1.0), 0.0) * 100, 1),
            }
        )
    return out


def day_x(day: Any, tz: ZoneInfo) -> float:
    """The chart x of a plant-local day: its midnight, in epoch seconds."""
    d = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
    return local_midnight(d, tz).timestamp()


def chart_data(
    x: list[float],
    series: dict[str, list[float | None]],
    tz: ZoneInfo,
    unit: str = "",
    percent: bool = False,
    title: str = "",
    days: bool = False,
) -> dict:
    """What static/charts.js draws: x in epoch seconds, one list of y per series (None: a gap)."""
    return {
        "title": title,
        "tz": tz.key,
        "unit": unit,
        "percent": percent,
        "days": days,
        "x": x,
        "series": [
            {"label": name, "values": [None if _num(v) is None else float(v) for v in values]}
            for name, values in series.items()
        ],
    }


def oee_view(
    store: Store, paths: list[str], period: Period, names: dict[str, str], t: Translate, lang: str = "ko"
) -> dict:
    """Plant OEE cards, the loss waterfall and tree, the daily trend, tables by line and machine,
    and the KPI warnings (kpi/plausibility.py: parts without an ideal cycle time, a ratio above
    100 %, days cut in another zone) in the page's language, machines by their names."""
    if not paths:
        return {"empty": True, "cards": []}
    s, e = period.start, period.end
    plant = compute_kpis(store, s, e, (), machines=paths).iloc[0]
    by_day = compute_kpis(store, s, e, ("day",), machines=paths)
    by_day = by_day[by_day["day"].notna()].sort_values("day")
    losses = sorted(((c, _num(plant[c]) or 0.0) for c in LOSS_COLUMNS), key=lambda p: -p[1])
    waterfall = svg.waterfall(
        t("planned_busy_time_s"),
        float(plant["planned_busy_time_s"]) / 3600,
        [(t(c), sec / 3600) for c, sec in losses],
        t("fully_productive"),
        t("loss_waterfall"),
    )
    trend = chart_data(
        [day_x(d, period.tz) for d in by_day["day"]],
        {t(k): list(by_day[k]) for k in KPI_KEYS},
        period.tz,
        percent=True,
        title=t("oee_trend"),
        days=True,
    )
    line_names = {line_of(p): short_name(line_of(p)) for p in paths}
    by_machine = compute_kpis(store, s, e, ("machine",), machines=paths)
    found = plausibility(by_machine, ("machine",), store=store, start=s, end=e, machines=paths)
    found += day_zone_warnings(store, machines=paths)
    warnings = []
    for w in found:
        if w.key in WARNINGS:
            text = w.text(lang)
            if w.group and w.group in names:  # the machine as people know it
                text = text.replace(w.group, names[w.group], 1)
            warnings.append({"key": w.key, "group": w.group, "text": text})
    return {
        "empty": False,
        "warnings": warnings,
        "no_data": not _has_data(plant),
        "cards": [(t(k), pct(plant[k])) for k in KPI_KEYS],
        "waterfall": Markup(waterfall),
        "tree": loss_tree_rows(plant, t),
        "trend": trend,
        "by_line": _kpi_rows(compute_kpis(store, s, e, ("line",), machines=paths), "line", line_names, t),
        "by_machine": _kpi_rows(by_machine, "machine", names, t),
    }


def pareto_labels(rows: list[dict]) -> list[str]:
    """The bars' labels: the reason, with its state where several bars share that reason (three
    stops without a reason, in idle, setup and down, are told apart as the CLI's table does)."""
    seen: dict[str, int] = {}
    for r in rows:
        seen[r["reason"]] = seen.get(r["reason"], 0) + 1
    return [f"{r['reason']} ({r['state']})" if seen[r["reason"]] > 1 else r["reason"] for r in rows]


def downtime_view(
    store: Store, paths: list[str], period: Period, names: dict[str, str], t: Translate
) -> dict:
    """The downtime Pareto by reason (largest first) and its table, stop hours by machine
    (display names) and the loss tree of the period."""
    if not paths:
        return {"rows": [], "pareto": Markup(""), "machines": [], "tree": []}
    s, e = period.start, period.end
    df = downtime_pareto(store, s, e, machines=paths).head(15)
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
    chart = svg.pareto(pareto_labels(rows), [float(x) / 3600 for x in df["seconds"]], t("downtime_pareto"))
    stops = [
        {
            "key": str(r["machine"]),
            "name": names.get(str(r["machine"]), short_name(str(r["machine"]))),
            "seconds": float(r["seconds"]),
            "episodes": int(r["episodes"]),
            "hours": f"{float(r['seconds']) / 3600:.1f}",
            "share": pct(r["share"]),
            "cum": pct(r["cumulative_share"]),
        }
        for _, r in downtime_pareto(store, s, e, machines=paths, by="machine").iterrows()
    ]
    top = stops[:15]
    machine_chart = svg.pareto(
        [x["name"] for x in top], [x["seconds"] / 3600 for x in top], t("dash_stops_by_machine")
    )
    plant = compute_kpis(store, s, e, (), machines=paths).iloc[0]
    return {
        "rows": rows,
        "pareto": Markup(chart),
        "machines": stops,
        "machine_pareto": Markup(machine_chart) if stops else Markup(""),
        "tree": loss_tree_rows(plant, t),
    }


# -- one machine ----------------------------------------------------------------------------
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


def machine_view(store: Store, path: str, at: datetime, period: Period, t: Translate) -> dict:
    """One interactive trend per signal over the period (thinned to MAX_POINTS), and the alarms.

    Where raw signals are gone (rolled up by retention) the chart is drawn from the 1-minute
    means, marked `rollup` so that the page can say so.
    """
    tz = period.tz
    charts = []
    for name, d in _signal_points(store, path, period.start, period.end).items():
        pairs = sorted(zip(d["ts"], d["value"], strict=True))
        step = max(1, math.ceil(len(pairs) / MAX_POINTS))
        pairs = pairs[::step]
        unit = str(d["unit"]) if d["unit"] else ""
        title = f"{name} ({unit})" if unit else name
        x = [_utc(pd.Timestamp(ts).to_pydatetime()).timestamp() for ts, _ in pairs]
        data = chart_data(x, {name: [v for _, v in pairs]}, tz, unit=unit, title=title)
        charts.append({"name": title, "data": data, "rollup": d["rollup"]})
    alarms = store.read("alarm", period.start, period.end, machines=[path]).to_pylist()[::-1][:100]
    for a in alarms:
        a["when"] = local_text(a["ts"], tz)
    status = machine_status(store, [path], at, tz, t)[path]
    rollup = any(c["rollup"] for c in charts)
    return {"charts": charts, "alarms": alarms, "live": status, "rollup": rollup}


# -- collection alerts ------------------------------------------------------------------------
#: how far back a stale source is still shown when it has sent nothing since
STALE_LOOKBACK = timedelta(days=30)
#: the most alerts one page lists
MAX_ALERTS = 50


def collection_alerts(
    store: Store, paths: list[str], at: datetime, period: Period, names: dict[str, str], t: Translate
) -> list[dict]:
    """Stale sources and unrecoverable gaps the collector recorded (collect/stale.py, gaps.py).

    Listed: every stale source of the last STALE_LOOKBACK that has sent nothing since ("current",
    shown first), and the stale and gap events logged in the period. A stale source is current
    while its machine has no state, count or signal newer than the source's last value. Only
    events of `paths` (the caller's scoped machines); times plant-local.
    """
    if not paths:
        return []
    start = min(period.start, at - STALE_LOOKBACK)
    rows = store.collect_events(
        start, at + timedelta(microseconds=1), paths, ("stale", "gap"), limit=500
    ).to_pylist()
    newest = _newest(
        store, ("v_states", "v_counts", "v_signals"), sorted({r["machine"] for r in rows}), start, at
    )
    tz, seen_stale, out = period.tz, set(), []
    for r in rows:  # newest first
        logged, since = _utc(r["logged_at"]), r["start_ts"] and _utc(r["start_ts"])
        current = False
        if r["event"] == "stale":
            key = (r["source"], r["machine"])
            latest = key not in seen_stale
            seen_stale.add(key)
            last_data = newest.get(r["machine"])
            current = latest and (last_data is None or since is None or last_data <= since)
        if not current and not period.start <= logged < period.end:
            continue
        until = r["end_ts"] and _utc(r["end_ts"])
        when = local_text(since, tz) if since else ""
        if r["event"] == "gap":
            when = f"{when} – {local_text(until, tz) if until else ''}"
        out.append(
            {
                "event": r["event"],
                "label": t(f"alert_{r['event']}"),
                "machine": r["machine"],
                "name": names.get(r["machine"], short_name(r["machine"])),
                "source": r["source"],
                "when": when,
                "status": t("alert_still_silent") if current else "",
                "current": current,
                "reason": r["detail"] or "",
            }
        )
    out.sort(key=lambda a: not a["current"])  # stable: current stale sources first, then newest first
    return out[:MAX_ALERTS]
