"""The terminal report: Rich tables of OEE by line and machine, top losses, worst machines.

Every label is in both languages (Korean, then English) from the `kpi` catalog; states and
reason codes are shown by their names from the `states` catalog, never as raw codes."""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..i18n import display, label
from .data import ReportData


def pct(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1%}"


def hours(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v / 3600:,.1f}"


def state_name(code, lang: str = "both") -> str:
    """The display name of a state or reason code: 'ko', 'en' or 'both' (Korean, then English);
    an unknown code as it is, a missing one as "no reason"."""
    code = code if isinstance(code, str) else None
    if lang != "both":
        return display(code, lang)
    ko, en = display(code, "ko"), display(code, "en")
    return ko if ko == en else f"{ko} {en}"


def head(key: str, suffix: str = "") -> str:
    """A column header on two lines: Korean above English, so narrow terminals stay readable."""
    return f"{label(key, 'ko')}\n{label(key, 'en')}{suffix}"


def _kpi_table(title: str, df, key: str, names: dict[str, str] | None = None) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column(head(key), no_wrap=True)
    for k in ("oee", "availability", "effectiveness", "quality_ratio"):
        t.add_column(head(k), justify="right")
    t.add_column(head("produced_quantity"), justify="right")
    t.add_column(head("mtbf_s", " h"), justify="right")
    for _, r in df.iterrows():
        name = str(r[key])
        short = name.rsplit("/", 1)[-1]
        if names and name in names:
            name = names[name]
        else:
            name = short
        t.add_row(
            name,
            pct(r["oee"]),
            pct(r["availability"]),
            pct(r["effectiveness"]),
            pct(r["quality_ratio"]),
            f"{int(r['produced_quantity']):,}",
            hours(r["mtbf_s"]),
        )
    return t


def render(data: ReportData, console: Console | None = None) -> None:
    console = console or Console()
    p = data.plant.iloc[0]
    console.rule(label("report_title"))
    console.print(f"{label('period')}: {data.period_text()} ({data.zone})")
    for text in data.warning_texts():
        console.print(f"[yellow]! {escape(text)}[/]")
    console.print(
        f"[bold]{label('oee')}: {pct(p['oee'])}[/]   "
        f"{label('availability')} {pct(p['availability'])} × {label('effectiveness')} "
        f"{pct(p['effectiveness'])} × {label('quality_ratio')} {pct(p['quality_ratio'])}"
    )
    console.print(_kpi_table(label("oee_by_line"), data.by_line.sort_values("line"), "line"))
    console.print(
        _kpi_table(label("oee_by_machine"), data.by_machine.sort_values("machine"), "machine", data.names)
    )
    lost = sum(v for _, v in data.losses)
    t = Table(title=label("top_losses"), title_justify="left")
    t.add_column(label("lost_time"))
    t.add_column(label("hours"), justify="right")
    t.add_column(label("share"), justify="right")
    for key, sec in data.losses:
        t.add_row(label(key), hours(sec), pct(sec / lost if lost else math.nan))
    console.print(t)
    worst = data.by_machine.dropna(subset=["oee"]).sort_values("oee").head(3)
    console.print(_kpi_table(label("worst_machines"), worst, "machine", data.names))
    if len(data.pareto):
        t = Table(title=label("downtime_pareto"), title_justify="left")
        for c in ("reason", "hours", "share"):
            t.add_column(label(c), justify="left" if c == "reason" else "right")
        for _, r in data.pareto.head(8).iterrows():
            t.add_row(
                f"{state_name(r['reason'])} ({state_name(r['state'])})", hours(r["seconds"]), pct(r["share"])
            )
        console.print(t)
