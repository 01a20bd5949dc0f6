"""The retrofit page: a machine's current trace with the states inferred from it, to check a
new clamp-on current sensor in minutes.

GET /retrofit lists the machines with a `current` signal the caller may read. GET
/retrofit/{path}?from=...&to=... (ISO date-times, plant time when naive; default: the last
8 hours of the machine's data) draws the current (min and max per pixel column, plain SVG,
no script) over coloured bands of the inferred states (off, idle, running; grey where there
is no data), ticks at the cycle starts, and a table: the levels learned, the share of each
state, cycles, micro-stops and the mean confidence. The states come from the machine's
model kept in the store (`factory-commons retrofit learn`), or a model learned on the shown
data when there is none yet; the page writes nothing. Text: the `retrofit_ui` catalog (then
`web`, `states`, `kpi`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from markupsafe import Markup

from ...accounts import Accounts
from ...i18n import KPI, STATES, Catalog
from ...retrofit import records
from ...retrofit.infer import STATES as ELECTRICAL
from ...retrofit.infer import CurrentModel
from ...store.base import Store
from ..auth import Caller
from .i18n import WEB, Translate, translator
from .pages import Pages

RETROFIT_UI = Catalog("retrofit_ui")
PLANT_TZ = ZoneInfo("Asia/Seoul")
DEFAULT_HOURS = 8
MAX_HOURS = 24 * 7
WIDTH, HEIGHT, PAD = 1000, 260, 40
COLOURS = {"off": "#d9d9d9", "idle": "#f6c453", "running": "#6cc070", "unknown": "#f2f2f2"}


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    t = datetime.fromisoformat(value.strip())
    return t if t.tzinfo else t.replace(tzinfo=PLANT_TZ)


def _us(x: np.ndarray) -> np.ndarray:
    return x.astype("datetime64[us]").astype(np.int64)


def chart(ts: np.ndarray, amps: np.ndarray, inf, lo: datetime, hi: datetime, t: Translate) -> Markup:
    """The trace as SVG: state bands, the current (min-max per column) and cycle ticks."""
    a, b = int(lo.timestamp() * 1e6), int(hi.timestamp() * 1e6)
    span = max(b - a, 1)
    w = WIDTH - 2 * PAD

    def x(us: np.ndarray | int) -> np.ndarray:
        return PAD + (np.asarray(us, dtype=np.float64) - a) / span * w

    finite = np.isfinite(amps)
    top = float(np.nanmax(amps[finite])) * 1.1 if finite.any() else 1.0
    top = top if top > 0 else 1.0

    def y(v: np.ndarray) -> np.ndarray:
        return HEIGHT - PAD - np.asarray(v, dtype=np.float64) / top * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" id="retrofit-chart" '
        f'role="img" aria-label="{t("chart_label")}" style="width:100%;height:auto">'
    ]
    edges = np.append(_us(inf.ts), b if inf.end is None else min(int(_us(np.array([inf.end]))[0]), b))
    for s, e, state in zip(edges[:-1].tolist(), edges[1:].tolist(), inf.state.tolist(), strict=True):
        x0, x1 = float(x(max(s, a))), float(x(min(e, b)))
        if x1 > x0:
            parts.append(
                f'<rect x="{x0:.1f}" y="{PAD}" width="{x1 - x0:.2f}" height="{HEIGHT - 2 * PAD}" '
                f'fill="{COLOURS.get(state, "#eee")}" class="band band-{state}"><title>{t(state)}</title></rect>'
            )
    us = _us(ts)
    if finite.any():
        col = np.clip(((us - a) / span * w).astype(np.int64), 0, w - 1)
        lo_v = np.full(w, np.inf)
        hi_v = np.full(w, -np.inf)
        np.minimum.at(lo_v, col[finite], amps[finite])
        np.maximum.at(hi_v, col[finite], amps[finite])
        seen = np.flatnonzero(np.isfinite(lo_v))
        up = " ".join(f"{PAD + c + 0.5:.1f},{float(y(hi_v[c])):.1f}" for c in seen)
        down = " ".join(f"{PAD + c + 0.5:.1f},{float(y(lo_v[c])):.1f}" for c in seen[::-1])
        parts.append(f'<polygon points="{up} {down}" fill="#1f4e79" stroke="#1f4e79" stroke-width="0.8"/>')
    cyc = _us(inf.cycles)
    cyc = cyc[(cyc >= a) & (cyc < b)]
    if 0 < len(cyc) <= 2000:
        ticks = "".join(f"M{float(v):.1f} {HEIGHT - PAD}v6" for v in x(cyc))
        parts.append(f'<path d="{ticks}" stroke="#333" stroke-width="0.6" class="cycles"/>')
    for k in range(5):
        v = top * k / 4
        parts.append(
            f'<text x="{PAD - 4}" y="{float(y(v)) + 4:.1f}" font-size="11" text-anchor="end">{v:.1f}</text>'
        )
    for k in range(5):
        when = lo + (hi - lo) * k / 4
        label = when.astimezone(PLANT_TZ).strftime("%m-%d %H:%M")
        parts.append(
            f'<text x="{PAD + w * k / 4:.1f}" y="{HEIGHT - 8}" font-size="11" text-anchor="middle">{label}</text>'
        )
    parts.append('<text x="6" y="16" font-size="12">A</text></svg>')
    return Markup("".join(parts))


def add_retrofit_pages(app: FastAPI, store: Store, accounts: Accounts, now: Callable[[], datetime]) -> None:
    """Mount /retrofit (the machines with a current sensor) and /retrofit/{path} on `app`."""
    router = APIRouter(include_in_schema=False)

    def translate(lang: str, c: Caller | None) -> Translate:
        return translator(
            lang, getattr(app.state, "stop_reasons", ()), catalogs=(RETROFIT_UI, WEB, STATES, KPI)
        )

    pages = Pages(accounts, now, translate, Markup=Markup)

    @pages.page(router, "/retrofit", "retrofit.html", "retrofit")
    def machines(request: Request, c: Caller) -> dict[str, Any]:
        shown = [m for m in records.current_machines(store) if c.may_read(m)]
        return {"machines": shown, "machine": None}

    @pages.page(router, "/retrofit/{path:path}", "retrofit.html", "retrofit")
    def machine(request: Request, c: Caller, path: str) -> dict[str, Any] | Response:
        if not c.may_read(path) or path not in records.current_machines(store):
            return pages.message(request, c, "not_found", 404)
        t = pages.t(request, c)
        q = request.query_params

        def bad_range() -> Response:
            return pages.render(
                request,
                "retrofit.html",
                c,
                status=400,
                page="retrofit",
                machine=path,
                machines=[],
                error=t("bad_range"),
            )

        try:
            hi, lo = _when(q.get("to")), _when(q.get("from"))
        except ValueError:
            return bad_range()
        if hi is None:
            last = store.query(
                "SELECT max(ts) AS t FROM v_signals WHERE machine = ? AND name = ?", [path, records.SIGNAL]
            ).to_pylist()[0]["t"]
            hi = (last.replace(tzinfo=UTC) if last else now()) + timedelta(seconds=1)
        lo = lo or hi - timedelta(hours=DEFAULT_HOURS)
        if not lo < hi or hi - lo > timedelta(hours=MAX_HOURS):
            return bad_range()
        ts, amps = records.read_current(store, path, lo, hi)
        ctx: dict[str, Any] = {
            "machine": path,
            "machines": [],
            "from": lo.astimezone(PLANT_TZ).strftime("%Y-%m-%dT%H:%M"),
            "to": hi.astimezone(PLANT_TZ).strftime("%Y-%m-%dT%H:%M"),
        }
        if len(ts) < 10:
            return {**ctx, "empty": True}
        model = records.load_model(store, path)
        learned_here = model is None
        if model is None:
            model = CurrentModel.learn(ts, amps)
        inf = model.infer(ts, amps)
        d = inf.durations()
        total = sum(v for k, v in d.items() if k in ELECTRICAL) or 1.0
        conf = float(np.mean(inf.confidence)) if len(inf.confidence) else float("nan")
        levels = [(s, float(np.exp(m))) for m, s in zip(model.means, model.level_states, strict=True)]
        return {
            **ctx,
            "chart": chart(ts, amps, inf, lo, hi, t),
            "levels": levels,
            "shares": [(s, 100.0 * d.get(s, 0.0) / total) for s in ELECTRICAL],
            "cycles": len(inf.cycles),
            "micro_stops": len(inf.micro_stops),
            "confidence": conf,
            "period": model.period_s,
            "learned_here": learned_here,
            "samples": len(ts),
            "colours": COLOURS,
        }

    app.include_router(router)
