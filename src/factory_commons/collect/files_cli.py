"""`factory-commons import FILE --mapping M --store S`: a CSV or Excel file into the store.

Registered by collect/cli.py. The importer (pandas, pyarrow, openpyxl) is loaded inside the
command so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)

SHOWN_REASONS = 5


def import_command(
    file: Annotated[Path, typer.Argument(help="CSV or Excel (.xlsx) file / 가져올 파일")],
    mapping: Annotated[Path, typer.Option("--mapping", "-m", help="mapping file (TOML) / 매핑 파일")],
    store: Annotated[
        str, typer.Option("--store", "-s", help="store file (DuckDB) / 저장소 파일")
    ] = "factory.duckdb",
    chunk_rows: Annotated[int, typer.Option(help="rows per batch / 한 번에 저장할 행 수")] = 50_000,
    restart: Annotated[
        bool, typer.Option("--restart", help="ignore saved progress and read from the top / 처음부터")
    ] = False,
) -> None:
    """Import a CSV or Excel export (events, intervals, wide signals). / CSV·엑셀 파일 가져오기.

    Exit status: 0 all rows imported, 1 some rows rejected (see the rejects file), 2 the mapping
    or the file could not be read (nothing imported).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..store import open_store
    from .files import FileReadError, MappingError, import_file, state_path

    if chunk_rows < 1:
        err.print("[red]--chunk-rows must be at least 1 / 1 이상이어야 합니다[/]")
        raise typer.Exit(2)
    with Progress(
        TextColumn("[bold]가져오는 중 / importing"),
        BarColumn(),
        TextColumn("{task.fields[done]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=None, done="")

        def show(done: int, total: int | None, unit: str) -> None:
            text = (
                f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB"
                if unit == "bytes" and total
                else f"{done:,} {unit}"
            )
            progress.update(task, completed=done, total=total, done=text)

        try:
            with open_store(store) as st:
                summary = import_file(
                    file,
                    mapping,
                    st,
                    chunk_rows=chunk_rows,
                    resume=not restart,
                    store_id=str(Path(store).resolve()),
                    progress=show,
                )
        except (MappingError, FileReadError) as e:
            progress.stop()
            err.print(f"[red]매핑·파일 오류 / cannot import, nothing written:[/] {e}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            progress.stop()
            err.print(
                f"[yellow]중단됨 / interrupted[/]: progress is kept in {state_path(file)}; "
                "run the same command again to resume / 같은 명령을 다시 실행하면 이어서 가져옵니다"
            )
            raise typer.Exit(130) from None
    s = summary
    if s.resumed_after_line is not None:
        console.print(f"이어서 가져옴 / resumed after line {s.resumed_after_line:,}")
    kinds = ", ".join(f"{k} {n:,}" for k, n in s.written.items()) or "-"
    console.print(
        f"[bold]{file}[/]: 읽은 행 / rows read {s.rows_read:,} · 가져온 행 / imported {s.rows_imported:,} · "
        f"거부 / rejected {s.rows_rejected:,}"
    )
    console.print(
        f"  저장 / records written {s.records_written:,} ({kinds}) · "
        f"중복 건너뜀 / duplicates skipped {s.records_duplicate:,}"
        + (f" · 수량 0 / rows with no parts {s.rows_no_parts:,}" if s.rows_no_parts else "")
        + f" · {s.seconds:.1f} s"
    )
    if s.rows_rejected:
        console.print(f"[yellow]잘못된 행 / rejected rows[/] → [bold]{s.rejects_file}[/]")
        for r in s.first_rejections[:SHOWN_REASONS]:
            console.print(f"  {r}", markup=False)
        if s.rows_rejected > SHOWN_REASONS:
            console.print(
                f"  … {s.rows_rejected - SHOWN_REASONS:,} more in the rejects file / 나머지는 거부 파일에"
            )
        raise typer.Exit(1)
