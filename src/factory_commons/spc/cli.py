"""Command-line command for statistical process control: `factory-commons spc`.

`register(app)` adds it to the main app. SciPy is imported inside the command so that
`factory-commons --help` stays fast.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ..cli_common import CLI, cli_text

CHARTS = ("xbar-r", "xbar-s", "imr", "p", "np", "c", "u")


def _fmt(v, digits: int = 6) -> str:
    """A number with `digits` significant digits, without trailing zeros."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _head(key: str) -> str:
    """A column header: Korean above English."""
    return CLI.both(key, "\n")


def _label(v) -> str:
    if hasattr(v, "strftime"):
        from zoneinfo import ZoneInfo

        return v.astimezone(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M")
    return str(v)


def spc(
    store: Annotated[str, typer.Option("--store", "-s", help=cli_text("opt_store"))] = "factory.duckdb",
    machine: Annotated[str, typer.Option(help=cli_text("opt_spc_machine"))] = ...,
    characteristic: Annotated[str | None, typer.Option(help=cli_text("opt_spc_characteristic"))] = None,
    chart: Annotated[str, typer.Option(help=cli_text("opt_spc_chart"))] = "xbar-r",
    start: Annotated[str | None, typer.Option("--from", help=cli_text("opt_from"))] = None,
    end: Annotated[str | None, typer.Option("--to", help=cli_text("opt_to"))] = None,
    subgroup_size: Annotated[int, typer.Option(help=cli_text("opt_spc_subgroup_size"))] = 5,
    by: Annotated[str, typer.Option(help=cli_text("opt_spc_by"))] = "day",
    rules: Annotated[str, typer.Option(help=cli_text("opt_spc_rules"))] = "nelson",
    lsl: Annotated[float | None, typer.Option(help=cli_text("opt_spc_lsl"))] = None,
    usl: Annotated[float | None, typer.Option(help=cli_text("opt_spc_usl"))] = None,
    target: Annotated[float | None, typer.Option(help=cli_text("opt_spc_target"))] = None,
    confidence: Annotated[float, typer.Option(help=cli_text("opt_spc_confidence"))] = 0.95,
    fmt: Annotated[str, typer.Option("--format", help=cli_text("opt_format_table_json"))] = "table",
) -> None:
    """Control chart, Nelson / Western Electric rules and capability."""
    from rich.console import Console

    from ..cli_common import open_store_or_exit, parse_day
    from .analysis import analyze
    from .charts import SpcError
    from .data import resolve_machine

    err = Console(stderr=True)
    if chart not in CHARTS:
        err.print(f"[red]--chart: {cli_text('spc_unknown_chart', chart=chart, allowed=', '.join(CHARTS))}[/]")
        raise typer.Exit(2)
    if fmt not in ("table", "json"):
        err.print(f"[red]--format: {cli_text('must_be_one_of', allowed='table, json', got=fmt)}[/]")
        raise typer.Exit(2)
    system = {
        "nelson": "nelson",
        "western-electric": "western_electric",
        "western_electric": "western_electric",
        "we": "western_electric",
    }.get(rules)
    if system is None:
        err.print(
            f"[red]--rules: {cli_text('must_be_one_of', allowed='nelson, western-electric', got=rules)}[/]"
        )
        raise typer.Exit(2)
    s, e = parse_day(start, "--from"), parse_day(end, "--to")
    with open_store_or_exit(store) as st:
        try:
            path = resolve_machine(st, machine)
            report = analyze(
                st, path, characteristic, chart, s, e, subgroup_size, by, system, lsl, usl, target, confidence
            )
        except SpcError as ex:
            err.print(f"[red]{cli_text('spc_error')}:[/] {ex}")
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

    limits = Table(title=CLI.both("spc_control_limits"))
    for i, key in enumerate(
        ("spc_col_chart", "spc_col_points", "spc_col_cl", "spc_col_ucl", "spc_col_lcl", "spc_col_beyond")
    ):
        limits.add_column(_head(key), justify="left" if i == 0 else "right")
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
        pts = Table(title=CLI.both("spc_per_group"))
        for i, key in enumerate(
            ("spc_col_group", "spc_col_size", "spc_col_value", "spc_col_cl", "spc_col_lcl", "spc_col_ucl", "")
        ):
            pts.add_column(_head(key) if key else "", justify="left" if i == 0 else "right")
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
            f"{CLI.get('spc_sigma_within', 'ko')} σ_within = {_fmt(r.sigma_within)} ({r.sigma_method}, "
            f"effective df {r.sigma_df:.1f})"
        )

    viol = Table(
        title=f"{CLI.both('spc_rule_violations')} ({'Nelson' if report.rules == 'nelson' else 'Western Electric'})"
    )
    for key in (
        "spc_col_rule",
        "spc_col_description",
        "spc_col_chart",
        "spc_col_signal_at",
        "spc_col_point_list",
    ):
        viol.add_column(_head(key))
    charts = {c.name: c for c in r.charts}
    for v in report.violations:
        c = charts[v.chart]
        pts = v.indices
        shown = ", ".join(str(i) for i in pts) if len(pts) <= 6 else f"{pts[0]}–{pts[-1]} ({len(pts)})"
        viol.add_row(v.rule.code, v.rule.description, c.short_title, _label(c.labels[v.signal_index]), shown)
    if report.violations:
        console.print(viol)
    else:
        console.print(cli_text("spc_no_violations"))

    cap = report.capability
    if cap is not None:
        t = Table(title=f"{CLI.both('spc_capability')} ({cap.confidence:.0%} CI)")
        for i, key in enumerate(("spc_col_index", "spc_col_value", "spc_col_lower", "spc_col_upper")):
            t.add_column(_head(key), justify="left" if i == 0 else "right")
        for i in cap.indices:
            t.add_row(i.name, f"{i.value:.3f}", f"{i.low:.3f}", f"{i.high:.3f}")
        console.print(t)
        console.print(
            f"n = {cap.n}, {CLI.both('spc_mean')} = {_fmt(cap.mean)}, σ_within = {_fmt(cap.sigma_within)}, "
            f"σ_overall = {_fmt(cap.sigma_overall)}, LSL = {_fmt(cap.lsl)}, USL = {_fmt(cap.usl)}, "
            f"target = {_fmt(cap.target)}"
        )
        for w in cap.warnings:
            console.print(f"[yellow]{w}[/]")
    for note in report.notes + r.warnings:
        console.print(f"[dim]{escape(note)}[/]")


def register(app: typer.Typer) -> None:
    """Add the SPC command to `app`."""
    app.command("spc", help=cli_text("cmd_spc"))(spc)
