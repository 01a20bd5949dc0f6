"""Command-line command for statistical process control: `factory-commons spc`.

`register(app)` adds it to the main app. SciPy is imported inside the command so that
`factory-commons --help` stays fast.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

CHARTS = ("xbar-r", "xbar-s", "imr", "p", "np", "c", "u")


def _fmt(v, digits: int = 6) -> str:
    """A number with `digits` significant digits, without trailing zeros."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _label(v) -> str:
    if hasattr(v, "strftime"):
        from zoneinfo import ZoneInfo

        return v.astimezone(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M")
    return str(v)


def spc(
    store: Annotated[
        str, typer.Option("--store", "-s", help="store file (DuckDB) / 저장소 파일")
    ] = "factory.duckdb",
    machine: Annotated[str, typer.Option(help="machine path or its last part, e.g. cnc-01 / 설비")] = ...,
    characteristic: Annotated[
        str | None, typer.Option(help="quality characteristic (X̄-R, X̄-S, I-MR) / 품질 특성")
    ] = None,
    chart: Annotated[str, typer.Option(help="xbar-r, xbar-s, imr, p, np, c or u / 관리도")] = "xbar-r",
    start: Annotated[str | None, typer.Option("--from", help="first day YYYY-MM-DD (Asia/Seoul)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="day after the last YYYY-MM-DD")] = None,
    subgroup_size: Annotated[
        int, typer.Option(help="values per subgroup when samples have no shared sample_id / 부분군 크기")
    ] = 5,
    by: Annotated[
        str, typer.Option(help="attribute charts: group part counts by day, shift or order")
    ] = "day",
    rules: Annotated[str, typer.Option(help="run rules: nelson or western-electric / 판정 규칙")] = "nelson",
    lsl: Annotated[float | None, typer.Option(help="lower spec limit (default: as recorded)")] = None,
    usl: Annotated[float | None, typer.Option(help="upper spec limit (default: as recorded)")] = None,
    target: Annotated[float | None, typer.Option(help="target (default: as recorded)")] = None,
    confidence: Annotated[float, typer.Option(help="confidence level of the capability intervals")] = 0.95,
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Control chart, Nelson / Western Electric rules and capability. / 관리도·이상 판정·공정능력."""
    from rich.console import Console

    from ..cli_common import open_store_or_exit, parse_day
    from .analysis import analyze
    from .charts import SpcError
    from .data import resolve_machine

    err = Console(stderr=True)
    if chart not in CHARTS:
        err.print(f"[red]--chart: 알 수 없는 관리도 / unknown chart {chart!r}; use {', '.join(CHARTS)}[/]")
        raise typer.Exit(2)
    if fmt not in ("table", "json"):
        err.print(f"[red]--format must be table or json, not {fmt!r}[/]")
        raise typer.Exit(2)
    system = {
        "nelson": "nelson",
        "western-electric": "western_electric",
        "western_electric": "western_electric",
        "we": "western_electric",
    }.get(rules)
    if system is None:
        err.print(f"[red]--rules must be nelson or western-electric, not {rules!r}[/]")
        raise typer.Exit(2)
    s, e = parse_day(start, "--from"), parse_day(end, "--to")
    with open_store_or_exit(store) as st:
        try:
            path = resolve_machine(st, machine)
            report = analyze(
                st, path, characteristic, chart, s, e, subgroup_size, by, system, lsl, usl, target, confidence
            )
        except SpcError as ex:
            err.print(f"[red]SPC 오류 / SPC error:[/] {ex}")
            raise typer.Exit(1) from None
    if fmt == "json":
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    _print_report(report)


def _print_report(report) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .charts import VariablesChart

    console = Console()
    r = report.result
    what = report.characteristic or "scrap"
    unit = f" ({report.unit})" if report.unit else ""
    console.print(f"[bold]SPC {report.chart_kind}[/]  {escape(report.machine)}  {escape(what + unit)}")

    limits = Table(title="관리한계 Control limits")
    for h in (
        "관리도\nChart",
        "점 수\nPoints",
        "중심선\nCL",
        "관리상한\nUCL",
        "관리하한\nLCL",
        "한계 밖\nBeyond",
    ):
        limits.add_column(h, justify="left" if h.startswith("관리도") else "right")
    for c in r.charts:
        if c.constant_limits:
            cl, ucl, lcl = _fmt(float(c.center[0])), _fmt(float(c.ucl[0])), _fmt(float(c.lcl[0]))
        else:
            cl, ucl, lcl = (
                f"{_fmt(float(a.min()), 3)}–{_fmt(float(a.max()), 3)}" for a in (c.center, c.ucl, c.lcl)
            )
        limits.add_row(c.short_title, str(len(c)), cl, ucl, lcl, str(len(c.beyond_limits())))
    console.print(limits)
    if not isinstance(r, VariablesChart):
        c = r.chart
        pts = Table(title="부분군별 Per group")
        for h in (
            "부분군\nGroup",
            "크기\nSize",
            "값\nValue",
            "중심선\nCL",
            "관리하한\nLCL",
            "관리상한\nUCL",
            "",
        ):
            pts.add_column(h, justify="left" if h.startswith("부분군") else "right")
        beyond = set(c.beyond_limits())
        for i in range(len(c)):
            size = "–" if c.sizes is None else f"{int(c.sizes[i]):,}"
            cells = (c.values[i], c.center[i], c.lcl[i], c.ucl[i])
            pts.add_row(
                _label(c.labels[i]),
                size,
                *(_fmt(float(x), 4) for x in cells),
                "[red]●[/]" if i in beyond else "",
            )
        console.print(pts)
    if isinstance(r, VariablesChart):
        console.print(
            f"군내 표준편차 σ_within = {_fmt(r.sigma_within)} ({r.sigma_method}, "
            f"effective df {r.sigma_df:.1f})"
        )

    viol = Table(
        title=f"이상 판정 Rule violations ({'Nelson' if report.rules == 'nelson' else 'Western Electric'})"
    )
    for h in ("규칙\nRule", "설명\nDescription", "관리도\nChart", "신호 시점\nSignal at", "점\nPoints"):
        viol.add_column(h)
    charts = {c.name: c for c in r.charts}
    for v in report.violations:
        c = charts[v.chart]
        pts = v.indices
        shown = ", ".join(str(i) for i in pts) if len(pts) <= 6 else f"{pts[0]}–{pts[-1]} ({len(pts)})"
        viol.add_row(v.rule.code, v.rule.description, v.chart, _label(c.labels[v.signal_index]), shown)
    if report.violations:
        console.print(viol)
    else:
        console.print("이상 판정 없음 / no rule violations")

    cap = report.capability
    if cap is not None:
        t = Table(title=f"공정능력 Capability ({cap.confidence:.0%} CI)")
        for h in ("지수\nIndex", "값\nValue", "하한\nLower", "상한\nUpper"):
            t.add_column(h, justify="left" if h.startswith("지수") else "right")
        for i in cap.indices:
            t.add_row(i.name, f"{i.value:.3f}", f"{i.low:.3f}", f"{i.high:.3f}")
        console.print(t)
        console.print(
            f"n = {cap.n}, 평균 mean = {_fmt(cap.mean)}, σ_within = {_fmt(cap.sigma_within)}, "
            f"σ_overall = {_fmt(cap.sigma_overall)}, LSL = {_fmt(cap.lsl)}, USL = {_fmt(cap.usl)}, "
            f"target = {_fmt(cap.target)}"
        )
        for w in cap.warnings:
            console.print(f"[yellow]{w}[/]")
    for note in report.notes + r.warnings:
        console.print(f"[dim]{escape(note)}[/]")


def register(app: typer.Typer) -> None:
    """Add the SPC command to `app`."""
    app.command("spc")(spc)
