"""The `factory-commons` command line: demo, simulate, export, import-parquet, schema, machines, retention."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .cli_common import CLI, SEOUL, StoreOpt, cli_text, console, err, open_store_or_exit, parse_day
from .i18n import label

app = typer.Typer(
    help="Factory Commons: " + cli_text("app_help"),
    no_args_is_help=True,
    add_completion=False,
)


def _simulate_into(
    store, seed: int, start: datetime, days: int, signal_interval_s: int, legacy: bool = False
) -> dict:
    from .collect.simulator import FactorySimulator
    from .retrofit.cli import demo_sensor_window

    window = demo_sensor_window(start, days) if legacy else None  # legacy: machines with only a CT
    sim = FactorySimulator(
        seed=seed,
        start=start,
        days=days,
        signal_interval_s=signal_interval_s,
        legacy=legacy,
        legacy_window=window,
    )
    with Progress(
        TextColumn(f"[bold]{label('simulating')}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("sim", total=days)
        summary = sim.write_to(store, progress=lambda i, n: progress.update(task, completed=i + 1))
    return summary


@app.command(help=cli_text("cmd_demo"))
def demo(
    days: Annotated[int, typer.Option(help=cli_text("opt_days"))] = 21,
    seed: Annotated[int, typer.Option(help=cli_text("opt_seed"))] = 7,
    out: Annotated[Path, typer.Option(help=cli_text("opt_demo_out"))] = Path("factory-commons-demo"),
) -> None:
    """Simulate a small factory, store it, and report OEE and losses."""
    from .report.console import render
    from .report.data import gather
    from .report.html import write_html

    if days < 1:
        err.print(f"[red]--days: {cli_text('at_least_one_day')}[/]")
        raise typer.Exit(2)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.duckdb"
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    start = datetime.now(SEOUL).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    t0 = time.perf_counter()
    with open_store_or_exit(str(db), must_exist=False) as store:
        summary = _simulate_into(store, seed, start, days, 60, legacy=True)
        from .retrofit.cli import demo_retrofit  # legacy machines: states from their current sensor

        demo_retrofit(store, console)
        t1 = time.perf_counter()
        console.print(
            f"{cli_text('stored')}: "
            + ", ".join(f"{k} {v:,}" for k, v in summary.items())
            + f" ({t1 - t0:.1f} s)"
        )
        data = gather(store, start, start + timedelta(days=days))
        render(data, console)
        html = write_html(data, out / "report.html")
        t2 = time.perf_counter()
        from .cooperate.cli import demo_commons  # the commons half (cooperate/cli.py)
        from .cooperate.db import default_commons_path

        commons = default_commons_path(str(db))  # where `serve --store <db>` finds the commons
        demo_commons(store, start, start + timedelta(days=days), console, seed=seed, commons=commons)
        console.print(f"({time.perf_counter() - t2:.1f} s)")
    console.print(f"\n{cli_text('html_report')}: [bold]{html.resolve()}[/]")
    console.print(f"{cli_text('store')}: {db.resolve()}  (factory-commons kpi --store {db} --by line)")


@app.command(help=cli_text("cmd_simulate"))
def simulate(
    store: StoreOpt = "factory.duckdb",
    days: Annotated[int, typer.Option(help=cli_text("opt_days"))] = 7,
    seed: Annotated[int, typer.Option(help=cli_text("opt_seed"))] = 7,
    start: Annotated[str | None, typer.Option(help=cli_text("opt_start_day"))] = None,
    signal_interval: Annotated[int, typer.Option(help=cli_text("opt_signal_interval"))] = 60,
) -> None:
    """Simulate the demo factory into a store (writes are idempotent)."""
    first = parse_day(start, "--start") or datetime.now(SEOUL).replace(
        hour=0, minute=0, second=0, microsecond=0
    ) - timedelta(days=days)
    with open_store_or_exit(store, must_exist=False) as st:
        summary = _simulate_into(st, seed, first, days, signal_interval)
    console.print(", ".join(f"{k} {v:,}" for k, v in summary.items()))


@app.command(help=cli_text("cmd_export"))
def export(
    out: Annotated[Path, typer.Argument(help=cli_text("opt_export_out"))],
    store: StoreOpt = "factory.duckdb",
) -> None:
    """Export every table to Parquet files."""
    with open_store_or_exit(store) as st:
        counts = st.export_parquet(out)
    for t, n in counts.items():
        console.print(f"{t}: {n:,}")
    console.print(f"→ {out.resolve()}")


@app.command("import-parquet", help=cli_text("cmd_import_parquet"))
def import_parquet(
    folder: Annotated[Path, typer.Argument(help=cli_text("opt_import_folder"))],
    store: StoreOpt = "factory.duckdb",
) -> None:
    """Load a Parquet export into a store (idempotent)."""
    with open_store_or_exit(store, must_exist=False) as st:
        try:
            added = st.import_parquet(folder)
        except FileNotFoundError as e:
            err.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None
    for t, n in added.items():
        console.print(f"{t}: +{n:,}")


@app.command(help=cli_text("cmd_schema"))
def schema(
    kind: Annotated[str | None, typer.Argument(help=cli_text("opt_schema_kind"))] = None,
) -> None:
    """Print the JSON Schema of every record."""
    from .model import RECORD_TYPES, Machine, ShiftCalendar

    models = {**RECORD_TYPES, "machine": Machine, "shift_calendar": ShiftCalendar}
    if kind is not None and kind not in models:
        err.print(f"[red]{cli_text('unknown_kind', kind=kind, known=', '.join(models))}[/]")
        raise typer.Exit(2)
    chosen = {kind: models[kind]} if kind else models
    print(json.dumps({k: m.model_json_schema() for k, m in chosen.items()}, indent=2, ensure_ascii=False))


@app.command(help=cli_text("cmd_retention"))
def retention(
    store: StoreOpt = "factory.duckdb",
    raw_days: Annotated[float, typer.Option(help=cli_text("opt_raw_days"))] = 30,
    aggregate_days: Annotated[float, typer.Option(help=cli_text("opt_aggregate_days"))] = 5 * 365,
) -> None:
    """Downsample old signals to 1-minute aggregates and delete old raw data."""
    from .store import RetentionPolicy

    with open_store_or_exit(store) as st:
        rep = st.apply_retention(RetentionPolicy(raw_signal_days=raw_days, aggregate_days=aggregate_days))
        st.optimize()
    console.print(
        cli_text(
            "retention_done", rows=rep.downsampled_rows, buckets=rep.aggregates_written, deleted=rep.deleted
        )
    )


@app.command(help=cli_text("cmd_optimize") + "\n\n" + CLI.both("cmd_optimize_detail", "\n\n"))
def optimize(store: StoreOpt = "factory.duckdb") -> None:
    """Reorder event tables by time after a bulk load, for fast time-range reads.

    DuckDB rewrites states, counts, alarms, quality and anomalies in time
    order; PostgreSQL refreshes its planner statistics (ANALYZE). Nothing stored changes.
    `import-parquet` and `retention` run it by themselves."""
    t0 = time.perf_counter()
    with open_store_or_exit(store) as st:
        done = st.optimize()
    for t, n in done.items():
        console.print(f"{t}: {n:,}")
    console.print(cli_text("optimized", seconds=time.perf_counter() - t0))


@app.command(help=cli_text("cmd_version"))
def version() -> None:
    """Print the version."""
    from . import __version__

    print(__version__)


def _register_feature_commands() -> None:
    """Each feature package owns its commands; they are added here, in one place."""
    from .accounts.cli import register as register_accounts
    from .ai.cli import register as register_ai
    from .collect.cli import register as register_collect
    from .collect.master_cli import register as register_master
    from .cooperate.cli import register as register_commons
    from .hub.cli import register as register_hub
    from .knowhow.cli import register as register_knowhow
    from .kpi.cli import register as register_kpi
    from .region.cli import register as register_region
    from .retrofit.cli import register as register_retrofit
    from .server.cli import register as register_server
    from .spc.cli import register as register_spc

    register_kpi(app)
    register_collect(app)
    register_master(app)
    register_spc(app)
    register_ai(app)
    register_server(app)
    register_accounts(app)
    register_commons(app)
    register_retrofit(app)
    register_region(app)
    register_hub(app)
    register_knowhow(app)


_register_feature_commands()


def _plain_help(t: typer.Typer) -> None:
    """Help texts are plain text, never Rich markup: a bracket in a help ("host:port[/path]",
    "[default]") must not be read as a closing tag (MarkupError with current typer and rich)."""
    t.rich_markup_mode = None
    for g in t.registered_groups:
        if g.typer_instance is not None:
            _plain_help(g.typer_instance)


_plain_help(app)

if __name__ == "__main__":
    app()
