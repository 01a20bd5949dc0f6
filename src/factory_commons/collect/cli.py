"""Command-line commands for data collection: `collect`, `browse`, `import`.

`register(app)` adds them to the main `factory-commons` app. Heavy libraries (paho, asyncua,
pymodbus, openpyxl) are imported inside the commands so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from ..cli_common import CLI, cli_text, mask_url
from ..i18n import STATES, Catalog

EDGE = Catalog("collect_edge")

console = Console()
err = Console(stderr=True)


def _heads(t: Table, keys: tuple[str, ...], max_width: dict[str, int] | None = None) -> None:
    """Columns headed Korean over English."""
    for key in keys:
        t.add_column(CLI.both(key, "\n"), max_width=(max_width or {}).get(key))


def _reason(h: dict) -> str:
    """The reason, with what the connector adds (back-pressure, a stale source, a broker warning)."""
    details = h.get("details") or {}
    notes = [str(details[k]) for k in ("backpressure", "stale", "broker_warning") if details.get(k)]
    return " · ".join([h["reason"] or h["last_error"] or "", *notes]).strip(" ·")


def _status_table(snapshot: dict, rates: dict[str, float]) -> Table:
    t = Table(title=f"{cli_text('collection_status')} — {snapshot['config']}", title_justify="left")
    _heads(
        t,
        (
            "col_source",
            "col_kind",
            "col_state",
            "col_points_per_s",
            "col_points_total",
            "col_last_value",
            "col_errors",
            "col_reason",
        ),
    )
    colors = {"connected": "green", "retrying": "yellow", "stale": "magenta", "failed": "red"}
    for h in snapshot["sources"]:
        age = h.get("last_value_age_s")
        state = h["state"]
        t.add_row(
            h["source"],
            h["kind"],
            f"[{colors.get(state, 'white')}]{STATES.both(state, ' / ')}[/]",
            f"{rates.get(h['source'], 0.0):,.0f}",
            f"{h['points']:,}",
            "-" if age is None else f"{age:.1f} s",
            str(h["errors"]),
            _reason(h)[:80],
        )
    t.caption = (
        f"{cli_text('pending')} {snapshot['pending_rows']:,} · {cli_text('written')} {snapshot['written']:,} · "
        f"{cli_text('duplicates')} {snapshot['duplicates']:,} · {cli_text('rejected')} {snapshot['rejected']:,}"
    )
    return t


collect_app = typer.Typer(help=cli_text("cmd_collect"), add_completion=False)


@collect_app.callback(invoke_without_command=True)
def collect(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option("--config", "-c", help=cli_text("opt_plant_config"))] = None,
    store: Annotated[str | None, typer.Option("--store", "-s", help=cli_text("opt_store_override"))] = None,
    duration: Annotated[float | None, typer.Option(help=cli_text("opt_duration"))] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=cli_text("opt_quiet"))] = False,
) -> None:
    """Run the configured connectors into the store, through a durable buffer
    (`collect --config plant.toml`); `collect discover mqtt://host:port` lists what a broker carries.

    Configuration errors are printed as written (`[[opcua]]`, `[[modbus]]`): the message is
    escaped, since Rich would read the brackets as markup."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        err.print(f"[red]{cli_text('config_error')}:[/] --config plant.toml")
        raise typer.Exit(2)
    run_collector(config, store, duration, quiet)


@collect_app.command("discover", help=EDGE.both("cmd_discover", " / "))
def discover_command(
    url: Annotated[str, typer.Argument(help="mqtt://host:port | mqtts://host:port")],
    seconds: Annotated[float, typer.Option("--seconds", "-n", help=EDGE.both("opt_seconds", " / "))] = 10.0,
    topic: Annotated[str, typer.Option("--topic", help=EDGE.both("opt_topic_filter", " / "))] = "#",
    snippet: Annotated[str | None, typer.Option("--snippet", help=EDGE.both("opt_snippet", " / "))] = None,
    machine: Annotated[
        str, typer.Option("--machine", help=EDGE.both("opt_machine", " / "))
    ] = "my-enterprise/site/area/line/machine",
    rebirth: Annotated[bool, typer.Option("--rebirth", help="Sparkplug: NCMD Node Control/Rebirth")] = False,
    username: Annotated[str | None, typer.Option("--username")] = None,
    password: Annotated[str | None, typer.Option("--password")] = None,
    ca_file: Annotated[str | None, typer.Option("--ca-file")] = None,
) -> None:
    """List topics and Sparkplug metrics seen on a broker; write a plant.toml snippet."""
    from pathlib import Path

    from .discover import discover, parse_url

    try:
        parse_url(url)
    except ValueError:
        err.print(f"[red]{escape(url)}[/]: {EDGE.both('disc_bad_url', ' / ')}")
        raise typer.Exit(2) from None
    try:
        found = discover(url, seconds, topic, rebirth, username, password, ca_file)
    except (ConnectionError, OSError) as e:
        err.print(f"[red]{EDGE.both('disc_cannot_connect', ' / ')}:[/] {escape(str(e))}")
        raise typer.Exit(3) from None
    if not found.topics and not found.metrics:
        console.print(" / ".join(t.format(s=seconds) for t in EDGE.pair("disc_nothing")))
    if found.topics:
        t = Table(title=EDGE.both("disc_topics", " / "), title_justify="left")
        for key in ("col_topic", "col_messages", "col_numbers", "col_example"):
            t.add_column(EDGE.both(key, "\n"))
        for seen in sorted(found.topics.values(), key=lambda x: x.topic):
            t.add_row(
                escape(seen.topic), f"{seen.messages:,}", escape(seen.numbers()), escape(seen.example[:60])
            )
        console.print(t)
    if found.metrics:
        t = Table(title=EDGE.both("disc_metrics", " / "), title_justify="left")
        for key in ("col_node", "col_metric", "col_type", "col_unit", "col_messages"):
            t.add_column(EDGE.both(key, "\n"))
        for m in sorted(found.metrics.values(), key=lambda m: (m.group, m.point_key)):
            where = f"{m.group}/{m.node}" + (f"/{m.device}" if m.device else "")
            t.add_row(escape(where), escape(m.name), m.datatype, m.unit or "", f"{m.messages:,}")
        console.print(t)
    text = found.snippet(machine)
    if snippet:
        Path(snippet).write_text(text, encoding="utf-8")
        console.print(f"{EDGE.both('disc_written', ' / ')}: {escape(snippet)}")
    else:
        print(text, end="")  # as it is: a line wrapped at the terminal's width is no TOML


def run_collector(config: str, store: str | None, duration: float | None, quiet: bool) -> None:
    """Run a plant configuration until stopped (SIGINT/SIGTERM) or `duration` seconds."""
    import signal
    import threading

    from .config import PlantConfig
    from .mapping import MappingError
    from .runner import AlreadyRunning, Collector

    try:
        plant = PlantConfig.from_toml(config)
    except MappingError as e:
        err.print(f"[red]{cli_text('config_error')}:[/] {escape(str(e))}")
        raise typer.Exit(2) from None
    if store:
        plant.collector.store = store
    try:
        collector = Collector(plant)
    except AlreadyRunning as e:
        err.print(f"[red]{escape(str(e))}[/]")
        raise typer.Exit(3) from None
    except (MappingError, ValueError, ImportError) as e:
        where = "" if str(e).startswith(plant.path) else f"{plant.path}: "
        err.print(f"[red]{cli_text('config_error')}:[/] {escape(where + str(e))}")
        raise typer.Exit(2) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    collector.start()
    started = time.monotonic()
    last_points: dict[str, int] = {}
    last_t = time.monotonic()
    try:
        with Live(console=console, refresh_per_second=2, transient=False) if not quiet else _NoLive() as live:
            while not stop.wait(1.0):
                snap = collector.snapshot()
                now = time.monotonic()
                rates = {
                    h["source"]: (h["points"] - last_points.get(h["source"], 0)) / max(now - last_t, 1e-6)
                    for h in snap["sources"]
                }
                last_points = {h["source"]: h["points"] for h in snap["sources"]}
                last_t = now
                live.update(_status_table(snap, rates))
                if duration is not None and now - started >= duration:
                    break
    finally:
        collector.stop()
    final = collector.final or {}
    console.print(
        f"[green]{cli_text('collector_stopped')}[/]: {cli_text('written')} {final.get('written', 0):,}, "
        f"{cli_text('duplicates')} {final.get('duplicates', 0):,}, "
        f"{cli_text('still_buffered')} {final.get('pending_rows', 0):,}, "
        f"{cli_text('rejected')} {final.get('rejected', 0):,}"
    )


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, _renderable) -> None:
        return None


def collect_events(
    store: Annotated[str, typer.Option("--store", "-s", help=cli_text("opt_store_file"))] = "factory.duckdb",
    limit: Annotated[int, typer.Option(help=cli_text("opt_rows"))] = 50,
) -> None:
    """Show gaps, late data and stale sources recorded by the collector."""
    from pathlib import Path

    from ..store import open_store

    if not Path(store).exists():
        err.print(f"[red]{cli_text('store_not_found')}:[/] {mask_url(store)}")
        raise typer.Exit(2)
    with open_store(store) as s:
        rows = s.query(
            "SELECT logged_at, source, event, machine, start_ts, end_ts, rows, detail FROM collect_events "
            "ORDER BY logged_at DESC LIMIT ?",
            [limit],
        ).to_pylist()
    t = Table(title=cli_text("collection_events"), title_justify="left")
    _heads(
        t,
        (
            "col_logged",
            "col_source",
            "col_event",
            "col_machine",
            "col_from",
            "col_to",
            "col_rows",
            "col_detail",
        ),
        {"col_event": 6},  # the event's name wraps, the times keep their room
    )
    for r in rows:
        t.add_row(
            f"{r['logged_at']:%Y-%m-%d %H:%M:%S}",
            r["source"],
            STATES.both(r["event"], "\n"),
            (r["machine"] or "").rsplit("/", 1)[-1],  # the last level, as in the other tables
            f"{r['start_ts']:%Y-%m-%d %H:%M:%S}" if r["start_ts"] else "",
            f"{r['end_ts']:%Y-%m-%d %H:%M:%S}" if r["end_ts"] else "",
            "" if r["rows"] is None else f"{r['rows']:,}",
            r["detail"] or "",
        )
    if not rows:
        console.print(cli_text("no_collect_events"))
        return
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add the collection commands to `app`."""
    app.add_typer(collect_app, name="collect", help=cli_text("cmd_collect"))
    app.command("collect-events", help=cli_text("cmd_collect_events"))(collect_events)
    from .opcua_browse import browse  # factory-commons browse opc.tcp://host:port

    app.command("browse", help=cli_text("cmd_browse"))(browse)
    from .files_cli import IMPORT_HELP, import_command  # factory-commons import FILE --mapping M

    app.command("import", help=IMPORT_HELP)(import_command)
