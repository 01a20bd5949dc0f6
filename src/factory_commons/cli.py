"""The `factory-commons` command line: demo, simulate, kpi, export, import-parquet, schema, machines, retention."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.tree import Tree

from .cli_common import SEOUL, StoreOpt, console, err, open_store_or_exit, parse_day
from .i18n import label

app = typer.Typer(
    help="Factory Commons: 공장 데이터 수집·표준화·KPI / shop-floor data, ISO 22400 KPIs and more.",
    no_args_is_help=True,
    add_completion=False,
)


def _simulate_into(store, seed: int, start: datetime, days: int, signal_interval_s: int) -> dict:
    from .collect.simulator import FactorySimulator

    sim = FactorySimulator(seed=seed, start=start, days=days, signal_interval_s=signal_interval_s)
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


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="days to simulate / 시뮬레이션 일수")] = 21,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    out: Annotated[Path, typer.Option(help="output folder / 결과 폴더")] = Path("factory-commons-demo"),
) -> None:
    """Simulate a small factory, store it, and report OEE and losses. / 데모 공장 시뮬레이션과 보고서."""
    from .report.console import render
    from .report.data import gather
    from .report.html import write_html

    if days < 1:
        err.print("[red]--days must be at least 1 / 1일 이상이어야 합니다[/]")
        raise typer.Exit(2)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.duckdb"
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)
    start = datetime.now(SEOUL).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    t0 = time.perf_counter()
    with open_store_or_exit(str(db), must_exist=False) as store:
        summary = _simulate_into(store, seed, start, days, 60)
        t1 = time.perf_counter()
        console.print(
            "저장 완료 / stored: "
            + ", ".join(f"{k} {v:,}" for k, v in summary.items())
            + f" ({t1 - t0:.1f} s)"
        )
        data = gather(store, start, start + timedelta(days=days))
        render(data, console)
        html = write_html(data, out / "report.html")
        t2 = time.perf_counter()
        from .cooperate.cli import demo_commons  # the commons half (cooperate/cli.py)

        demo_commons(store, start, start + timedelta(days=days), console, seed=seed)
        console.print(f"({time.perf_counter() - t2:.1f} s)")
    console.print(f"\nHTML 보고서 / report: [bold]{html.resolve()}[/]")
    console.print(f"저장소 / store: {db.resolve()}  (factory-commons kpi --store {db} --by line)")


@app.command()
def simulate(
    store: StoreOpt = "factory.duckdb",
    days: Annotated[int, typer.Option(help="days to simulate")] = 7,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    start: Annotated[
        str | None, typer.Option(help="first day YYYY-MM-DD (Asia/Seoul); default: days ago")
    ] = None,
    signal_interval: Annotated[int, typer.Option(help="seconds between sensor samples")] = 60,
) -> None:
    """Simulate the demo factory into a store (writes are idempotent). / 시뮬레이션 데이터를 저장."""
    first = parse_day(start, "--start") or datetime.now(SEOUL).replace(
        hour=0, minute=0, second=0, microsecond=0
    ) - timedelta(days=days)
    with open_store_or_exit(store, must_exist=False) as st:
        summary = _simulate_into(st, seed, first, days, signal_interval)
    console.print(", ".join(f"{k} {v:,}" for k, v in summary.items()))


@app.command()
def kpi(
    store: StoreOpt = "factory.duckdb",
    start: Annotated[str | None, typer.Option("--from", help="first day YYYY-MM-DD (Asia/Seoul)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="day after the last YYYY-MM-DD")] = None,
    by: Annotated[
        str, typer.Option(help="grouping: machine, line, shift, day, order, comma-separated, or plant")
    ] = "machine",
    config: Annotated[Path | None, typer.Option(help="KPI config TOML (state mapping, thresholds)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """ISO 22400 KPIs (OEE, availability, ...) for a date range and grouping. / KPI 계산."""
    from rich.table import Table

    from .kpi import KpiConfig, KpiConfigError, compute_kpis
    from .report.console import head, pct

    groups = () if by == "plant" else tuple(g.strip() for g in by.split(",") if g.strip())
    allowed = {"machine", "line", "shift", "day", "order"}
    bad = [g for g in groups if g not in allowed]
    if bad:
        err.print(
            f"[red]--by: 알 수 없는 그룹 / unknown grouping {bad}; use {', '.join(sorted(allowed))} or plant[/]"
        )
        raise typer.Exit(2)
    if fmt not in ("table", "csv", "json"):
        err.print(f"[red]--format must be table, csv or json, not {fmt!r}[/]")
        raise typer.Exit(2)
    try:
        cfg = KpiConfig.from_toml(config) if config else KpiConfig()
    except KpiConfigError as e:
        err.print(f"[red]KPI 설정 오류 / KPI config error:[/] {e}")
        raise typer.Exit(2) from None
    with open_store_or_exit(store) as st:
        s = parse_day(start, "--from")
        e = parse_day(end, "--to")
        if s is None or e is None:
            rng = st.query("SELECT min(ts) AS lo, max(ts) AS hi FROM states").to_pylist()[0]
            if rng["lo"] is None:
                err.print("[yellow]상태 데이터가 없습니다 / no state data in this store[/]")
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
        return "계획외 unscheduled" if group in ("shift", "day") else "–"
    text = str(value)
    return text.rsplit("/", 1)[-1] if group in ("machine", "line") else text


@app.command()
def export(
    out: Annotated[Path, typer.Argument(help="folder for the Parquet files / 내보낼 폴더")],
    store: StoreOpt = "factory.duckdb",
) -> None:
    """Export every table to Parquet files. / 모든 테이블을 Parquet로 내보내기."""
    with open_store_or_exit(store) as st:
        counts = st.export_parquet(out)
    for t, n in counts.items():
        console.print(f"{t}: {n:,}")
    console.print(f"→ {out.resolve()}")


@app.command("import-parquet")
def import_parquet(
    folder: Annotated[Path, typer.Argument(help="folder written by export")],
    store: StoreOpt = "factory.duckdb",
) -> None:
    """Load a Parquet export into a store (idempotent). / Parquet 가져오기."""
    with open_store_or_exit(store, must_exist=False) as st:
        try:
            added = st.import_parquet(folder)
        except FileNotFoundError as e:
            err.print(f"[red]{e}[/]")
            raise typer.Exit(2) from None
    for t, n in added.items():
        console.print(f"{t}: +{n:,}")


@app.command()
def schema(
    kind: Annotated[str | None, typer.Argument(help="one record kind, default all")] = None,
) -> None:
    """Print the JSON Schema of every record. / 레코드 JSON 스키마 출력."""
    from .model import RECORD_TYPES, Machine, ShiftCalendar

    models = {**RECORD_TYPES, "machine": Machine, "shift_calendar": ShiftCalendar}
    if kind is not None and kind not in models:
        err.print(f"[red]unknown kind {kind!r}; known: {', '.join(models)}[/]")
        raise typer.Exit(2)
    chosen = {kind: models[kind]} if kind else models
    print(json.dumps({k: m.model_json_schema() for k, m in chosen.items()}, indent=2, ensure_ascii=False))


@app.command()
def machines(store: StoreOpt = "factory.duckdb") -> None:
    """Show the ISA-95 hierarchy of a store. / 설비 계층 보기."""
    with open_store_or_exit(store) as st:
        ms = st.machines()
    root = Tree("Factory Commons")
    nodes: dict[str, Tree] = {}
    for m in ms:
        parts = m.path.split("/")
        parent = root
        for i in range(1, 5):
            key = "/".join(parts[:i])
            if key not in nodes:
                nodes[key] = parent.add(parts[i - 1])
            parent = nodes[key]
        parent.add(f"{parts[4]}  {m.display_name or ''}  [dim]{m.kind or ''}[/]")
    console.print(root)


@app.command()
def retention(
    store: StoreOpt = "factory.duckdb",
    raw_days: Annotated[float, typer.Option(help="keep raw signals this many days")] = 30,
    aggregate_days: Annotated[float, typer.Option(help="keep 1-minute aggregates this many days")] = 5 * 365,
) -> None:
    """Downsample old signals to 1-minute aggregates and delete old raw data. / 보존 정책 적용."""
    from .store import RetentionPolicy

    with open_store_or_exit(store) as st:
        rep = st.apply_retention(RetentionPolicy(raw_signal_days=raw_days, aggregate_days=aggregate_days))
        st.optimize()
    console.print(
        f"downsampled {rep.downsampled_rows:,} raw rows into {rep.aggregates_written:,} new 1-minute buckets; "
        f"deleted {rep.deleted}"
    )


@app.command()
def optimize(store: StoreOpt = "factory.duckdb") -> None:
    """Reorder event tables by time after a bulk load, for fast time-range reads. / 대량 적재 후 저장소 정리.

    DuckDB rewrites states, counts, alarms, quality and anomalies in time
    order; PostgreSQL refreshes its planner statistics (ANALYZE). Nothing stored changes.
    `import-parquet` and `retention` run it by themselves."""
    t0 = time.perf_counter()
    with open_store_or_exit(store) as st:
        done = st.optimize()
    for t, n in done.items():
        console.print(f"{t}: {n:,}")
    console.print(f"정리 완료 / optimized in {time.perf_counter() - t0:.1f} s")


@app.command()
def version() -> None:
    """Print the version."""
    from . import __version__

    print(__version__)


def _register_feature_commands() -> None:
    """Each feature package owns its commands; they are added here, in one place."""
    from .accounts.cli import register as register_accounts
    from .ai.cli import register as register_ai
    from .collect.cli import register as register_collect
    from .cooperate.cli import register as register_commons
    from .server.cli import register as register_server
    from .spc.cli import register as register_spc

    register_collect(app)
    register_spc(app)
    register_ai(app)
    register_server(app)
    register_accounts(app)
    register_commons(app)


_register_feature_commands()

if __name__ == "__main__":
    app()
