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
from rich.table import Table

console = Console()
err = Console(stderr=True)


def _status_table(snapshot: dict, rates: dict[str, float]) -> Table:
    from .connector import HEALTH_LABELS, HealthState

    t = Table(title=f"수집 상태 / collection status — {snapshot['config']}", title_justify="left")
    for header in (
        "소스\nsource",
        "종류\nkind",
        "상태\nstate",
        "점/초\npoints/s",
        "합계\npoints",
        "마지막 값\nlast value",
        "오류\nerrors",
        "사유\nreason",
    ):
        t.add_column(header)
    colors = {"connected": "green", "retrying": "yellow", "stale": "magenta", "failed": "red"}
    for h in snapshot["sources"]:
        age = h.get("last_value_age_s")
        state = h["state"]
        t.add_row(
            h["source"],
            h["kind"],
            f"[{colors.get(state, 'white')}]{HEALTH_LABELS[HealthState(state)]}[/]",
            f"{rates.get(h['source'], 0.0):,.0f}",
            f"{h['points']:,}",
            "-" if age is None else f"{age:.1f} s",
            str(h["errors"]),
            (h["reason"] or h["last_error"] or "")[:60],
        )
    t.caption = (
        f"버퍼 대기 / pending {snapshot['pending_rows']:,} · 저장 / written {snapshot['written']:,} · "
        f"중복 / duplicates {snapshot['duplicates']:,} · 거부 / rejected {snapshot['rejected']:,}"
    )
    return t


def collect(
    config: Annotated[
        str, typer.Option("--config", "-c", help="plant configuration (TOML) / 공장 설정 파일")
    ],
    store: Annotated[str | None, typer.Option("--store", "-s", help="override [collector].store")] = None,
    duration: Annotated[
        float | None, typer.Option(help="stop after this many seconds / 지정 시간 후 종료")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="no live status line / 상태 표시 없음")
    ] = False,
) -> None:
    """Run the configured connectors into the store, through a durable buffer. / 설정된 설비에서 수집."""
    import signal
    import threading

    from .config import PlantConfig
    from .mapping import MappingError
    from .runner import Collector

    try:
        plant = PlantConfig.from_toml(config)
    except MappingError as e:
        err.print(f"[red]설정 오류 / configuration error:[/] {e}")
        raise typer.Exit(2) from None
    if store:
        plant.collector.store = store
    try:
        collector = Collector(plant)
    except (MappingError, ValueError, ImportError) as e:
        where = "" if str(e).startswith(plant.path) else f"{plant.path}: "
        err.print(f"[red]설정 오류 / configuration error:[/] {where}{e}")
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
        f"[green]수집 종료 / collector stopped[/]: 저장 / written {final.get('written', 0):,}, "
        f"중복 / duplicates {final.get('duplicates', 0):,}, 버퍼 대기 / still buffered {final.get('pending_rows', 0):,}, "
        f"거부 / rejected {final.get('rejected', 0):,}"
    )


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, _renderable) -> None:
        return None


def collect_events(
    store: Annotated[str, typer.Option("--store", "-s", help="store file / 저장소 파일")] = "factory.duckdb",
    limit: Annotated[int, typer.Option(help="rows to show / 표시할 행 수")] = 50,
) -> None:
    """Show gaps, late data and stale sources recorded by the collector. / 수집 공백·지연·중단 기록."""
    from pathlib import Path

    from ..store import open_store

    if not Path(store).exists():
        err.print(f"[red]저장소가 없습니다 / store not found:[/] {store}")
        raise typer.Exit(2)
    with open_store(store) as s:
        rows = s.query(
            "SELECT logged_at, source, event, machine, start_ts, end_ts, rows, detail FROM collect_events "
            "ORDER BY logged_at DESC LIMIT ?",
            [limit],
        ).to_pylist()
    t = Table(title="수집 기록 / collection events (UTC)", title_justify="left")
    for header in (
        "기록 시각\nlogged",
        "소스\nsource",
        "사건\nevent",
        "설비\nmachine",
        "시작\nfrom",
        "끝\nto",
        "행\nrows",
        "내용\ndetail",
    ):
        t.add_column(header)
    for r in rows:
        t.add_row(
            f"{r['logged_at']:%Y-%m-%d %H:%M:%S}",
            r["source"],
            r["event"],
            r["machine"] or "",
            f"{r['start_ts']:%Y-%m-%d %H:%M:%S}" if r["start_ts"] else "",
            f"{r['end_ts']:%Y-%m-%d %H:%M:%S}" if r["end_ts"] else "",
            "" if r["rows"] is None else f"{r['rows']:,}",
            r["detail"] or "",
        )
    if not rows:
        console.print(
            "기록 없음: 공백·지연 없이 수집되었습니다 / no gaps, late data or stale sources recorded"
        )
        return
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add the collection commands to `app`."""
    app.command("collect")(collect)
    app.command("collect-events")(collect_events)
    from .opcua_browse import browse  # factory-commons browse opc.tcp://host:port

    app.command("browse")(browse)
    from .files_cli import import_command  # factory-commons import FILE --mapping M

    app.command("import")(import_command)
