"""The HTML report: one self-contained file (inline SVG, no scripts, no CDN) a person opens in a browser.

The period is in the plant's time zone, machines are named by their display names (the path
in a tooltip), chart labels wrap instead of being cut, and the ISO 22400 loss tree
(report/loss_tree.py) is a table under the waterfall."""

from __future__ import annotations

from html import escape
from pathlib import Path

import jinja2

from ..i18n import Catalog, label
from . import svg
from .console import hours, pct, state_name
from .data import ReportData
from .loss_tree import loss_tree

DASHBOARD = Catalog("dashboard")


def _both(key: str, **params: object) -> str:
    """A label of the kpi catalog, else the dashboard's, in Korean and English."""
    if key in ("planned_busy_time_s", "fully_productive") or key.startswith("loss_"):
        return label(key)
    text = DASHBOARD.both(key)
    return text.format(**params) if params else text


TEMPLATE = jinja2.Template(
    """<!doctype html>
<html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:system-ui,'Noto Sans KR','Malgun Gothic',sans-serif;margin:0;background:#f8fafc;color:#0f172a}
main{max-width:1100px;margin:auto;padding:24px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border-radius:10px;padding:14px 18px;box-shadow:0 1px 3px #0002;min-width:150px}
.card b{display:block;font-size:1.8rem}
section{background:#fff;border-radius:10px;padding:12px 18px;box-shadow:0 1px 3px #0002;margin-top:16px}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{padding:4px 8px;border-bottom:1px solid #e2e8f0;text-align:right}
th:first-child,td:first-child{text-align:left}
td:first-child{white-space:nowrap}
.note{color:#64748b;font-size:.85rem}
svg{max-width:100%;height:auto}
.tree .bar{width:30%}.tree .bar span{display:block;height:10px;background:#2563eb;border-radius:2px}
.tree tr.kind-loss .bar span{background:#dc2626}.tree tr.kind-group .bar span{background:#f87171}
.tree tr.kind-time td,.tree tr.kind-group td{font-weight:600}
</style></head><body><main>
<h1>{{ title }}</h1>
<p id="period">{{ period_label }}: {{ period }}</p>
{% if warnings %}<section id="warnings" style="border-left:6px solid #d97706"><h2>{{ warnings_title }}</h2><ul>{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul></section>{% endif %}
<div class="cards">{% for name, value in cards %}<div class="card">{{ name }}<b>{{ value }}</b></div>{% endfor %}</div>
<section><h2>{{ trend_title }}</h2>{{ trend_svg }}</section>
<section><h2>{{ waterfall_title }}</h2>{{ waterfall_svg }}
<p class="note">{{ waterfall_note }}</p></section>
<section><h2>{{ tree_title }}</h2><table class="tree" id="loss-tree"><tr>{% for h in tree_head %}<th>{{ h }}</th>{% endfor %}<th></th></tr>
{% for n in tree %}<tr class="kind-{{ n.kind }}"><td style="padding-left:{{ 8 + 20 * n.level }}px">{{ n.name }}</td><td>{{ n.hours }}</td><td>{{ n.share }}</td><td class="bar"><span style="width:{{ n.width }}%"></span></td></tr>{% endfor %}
</table><p class="note">{{ tree_note }}</p></section>
<section><h2>{{ pareto_title }}</h2>{{ pareto_svg }}</section>
{% for t in tables %}<section><h2>{{ t.title }}</h2><table><tr>{% for h in t.head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in t.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</table></section>{% endfor %}
<p class="note">Factory Commons · ISO 22400-2 · docs/kpi.md</p>
</main></body></html>""",
    autoescape=False,
)


def _table(title: str, df, key: str, names: dict[str, str]) -> dict:
    head = [label(key)] + [label(k) for k in ("oee", "availability", "effectiveness", "quality_ratio")]
    head += [
        label("produced_quantity"),
        label("scrap_ratio"),
        label("mtbf_s") + " (h)",
        label("mttr_s") + " (h)",
    ]
    rows = []
    for _, r in df.iterrows():
        name = str(r[key])
        shown = names.get(name, name.rsplit("/", 1)[-1] if "/" in name else name)
        rows.append(
            [f'<span title="{escape(name)}">{escape(shown)}</span>']
            + [pct(r[k]) for k in ("oee", "availability", "effectiveness", "quality_ratio")]
            + [
                f"{int(r['produced_quantity']):,}",
                pct(r["scrap_ratio"]),
                hours(r["mtbf_s"]),
                hours(r["mttr_s"]),
            ]
        )
    return {"title": title, "head": head, "rows": rows}


def _short(reason: str, state: str) -> str:
    """A Pareto bar label: the reason's Korean name, with the state's where a reason is shared
    (micro_stop); a code without a name as it is. Never cut: the chart wraps it."""
    text = state_name(reason, "ko")
    if reason == "micro_stop":
        text = f"{text} ({state_name(state, 'ko')})"
    return text


def _tree(data: ReportData) -> list[dict]:
    out = []
    for node in loss_tree(data.plant.iloc[0]):
        share = node.share
        out.append(
            {
                "name": escape(_both(node.key)),
                "level": node.level,
                "kind": node.kind,
                "hours": "–" if node.hours is None else f"{node.hours:,.1f}",
                "share": pct(share),
                "width": 0.0 if share is None else round(max(min(share, 1.0), 0.0) * 100, 1),
            }
        )
    return out


def write_html(data: ReportData, path: str | Path) -> Path:
    path = Path(path)
    p = data.plant.iloc[0]
    days = [str(d) for d in data.by_day["day"]]
    series = {label("plant_total"): list(data.by_day["oee"])}
    for line, g in data.by_line_day.dropna(subset=["day"]).groupby("line"):
        by = dict(zip(g["day"].astype(str), g["oee"], strict=True))
        series[line.rsplit("/", 1)[-1]] = [by.get(d) for d in days]
    steps = [(label(k), sec / 3600) for k, sec in data.losses]
    pbt = float(p["planned_busy_time_s"]) / 3600
    pareto = data.pareto.head(10)
    html = TEMPLATE.render(
        title=escape(label("report_title")),
        period_label=escape(_both("dash_report_period", zone=data.zone)),
        period=escape(data.period_text()),
        warnings_title=escape(_both("dash_warnings")),
        warnings=[escape(w) for w in data.warning_texts()],
        cards=[
            (escape(label(k)), pct(p[k])) for k in ("oee", "availability", "effectiveness", "quality_ratio")
        ],
        trend_title=escape(label("oee_trend")),
        trend_svg=svg.line_chart(days, series, label("oee_trend")),
        waterfall_title=escape(label("loss_waterfall")),
        waterfall_svg=svg.waterfall(
            label("planned_busy_time_s"),
            pbt,
            steps,
            label("fully_productive"),
            label("loss_waterfall"),
        ),
        waterfall_note=escape(label("waterfall_note")),
        tree_title=escape(_both("dash_loss_tree")),
        tree_head=[
            escape(_both("dash_loss_tree_item")),
            escape(label("hours")),
            escape(_both("dash_share_of_pbt")),
        ],
        tree=_tree(data),
        tree_note=escape(_both("dash_loss_tree_note")),
        pareto_title=escape(label("downtime_pareto")),
        pareto_svg=svg.pareto(
            [_short(r, s) for r, s in zip(pareto["reason"], pareto["state"], strict=True)],
            [v / 3600 for v in pareto["seconds"]],
            label("downtime_pareto"),
        ),
        tables=[
            _table(label("oee_by_line"), data.by_line.sort_values("line"), "line", {}),
            _table(label("oee_by_machine"), data.by_machine.sort_values("machine"), "machine", data.names),
        ],
    )
    path.write_text(html, encoding="utf-8")
    return path
