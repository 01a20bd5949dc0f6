"""Command-line commands for KPIs: `factory-commons kpi` (ISO 22400 KPIs of a store) and
`factory-commons downtime` (the downtime Pareto).

`register(app)` adds them to the main app (cli.py). pandas and the engine are imported inside
the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated

import typer

from ..cli_common import CLI, StoreOpt, cli_text, console, err, open_store_or_exit, parse_day
from ..i18n import label


def kpi(
    store: StoreOpt = "factory.duckdb",
    start: Annotated[str | None, typer.Option("--from", help=cli_text("opt_from"))] = None,
    end: Annotated[str | None, typer.Option("--to", help=cli_text("opt_to"))] = None,
    by: Annotated[str, typer.Option(help=cli_text("opt_by"))] = "machine",
    config: Annotated[Path | None, typer.Option(help=cli_text("opt_kpi_config"))] = None,
    fmt: Annotated[str, typer.Option("--format", help=cli_text("opt_format_table_csv_json"))] = "table",
) -> None:
    """ISO 22400 KPIs (OEE, availability, ...) for a date range and grouping."""
    from rich.table import Table

    from ..report.console import head, pct
    from . import KpiConfig, KpiConfigError, compute_kpis

    groups = () if by == "plant" else tuple(g.strip() for g in by.split(",") if g.strip())
    allowed = {"machine", "line", "shift", "day", "order"}
    bad = [g for g in groups if g not in allowed]
    if bad:
        err.print(
            f"[red]--by: {cli_text('unknown_grouping', bad=bad, allowed=', '.join(sorted(allowed)))}[/]"
        )
        raise typer.Exit(2)
    if fmt not in ("table", "csv", "json"):
        err.print(f"[red]--format: {cli_text('must_be_one_of', allowed='table, csv, json', got=fmt)}[/]")
        raise typer.Exit(2)
    try:
        cfg = KpiConfig.from_toml(config) if config else KpiConfig()
    except KpiConfigError as e:
        err.print(f"[red]{cli_text('kpi_config_error')}:[/] {e}")
        raise typer.Exit(2) from None
    with open_store_or_exit(store) as st:
        s = parse_day(start, "--from")
        e = parse_day(end, "--to")
        if s is None or e is None:
            rng = st.query("SELECT min(ts) AS lo, max(ts) AS hi FROM states").to_pylist()[0]
            if rng["lo"] is None:
                err.print(f"[yellow]{cli_text('no_state_data')}[/]")
                raise typer.Exit(1)
            s = s or rng["lo"].replace(tzinfo=UTC)
            e = e or rng["hi"].replace(tzinfo=UTC) + timedelta(seconds=1)
        df = compute_kpis(st, s, e, groups, cfg)
    if fmt == "csv":
        print(df.to_csv(index=False), end="")
        return
    if fmt == "json":
        print(df.to_json(orient="records", date_format="iso", force_ascii=False))
        return
    t = Table(title=f"{label('oee')} {s:%Y-%m-%d} – {e:%Y-%m-%d}")
    for g in groups:
        t.add_column(head(g), no_wrap=True)
    for k in ("oee", "availability", "effectiveness", "quality_ratio", "produced_quantity", "scrap_ratio"):
        t.add_column(head(k), justify="right")
    for _, r in df.iterrows():
        cells = [_group_cell(g, r[g]) for g in groups]
        cells += [pct(r[k]) for k in ("oee", "availability", "effectiveness", "quality_ratio")]
        cells += [f"{int(r['produced_quantity']):,}", pct(r["scrap_ratio"])]
        t.add_row(*cells)
    console.print(t)


def _group_cell(group: str, value) -> str:
    """A group value as shown: the last level of a path; time outside every shift named as such."""
    if value is None or (isinstance(value, float) and value != value):
        return CLI.both("unscheduled") if group in ("shift", "day") else "–"
    text = str(value)
    return text.rsplit("/", 1)[-1] if group in ("machine", "line") else text


def register(app: typer.Typer) -> None:
    """Add the KPI commands to the main app."""
    app.command("kpi", help=cli_text("cmd_kpi"))(kpi)
