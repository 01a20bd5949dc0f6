"""`factory-commons import FILE --mapping M --store S`: a CSV or Excel file into the store.

Registered by collect/cli.py. The importer (pandas, pyarrow, openpyxl) is loaded inside the
command so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..cli_common import CLI, cli_text

console = Console()
err = Console(stderr=True)

SHOWN_REASONS = 5


IMPORT_HELP = cli_text("cmd_import") + "\n\n" + CLI.both("cmd_import_detail", "\n\n")


def import_command(
    file: Annotated[Path, typer.Argument(help=cli_text("opt_import_file"))],
    mapping: Annotated[Path, typer.Option("--mapping", "-m", help=cli_text("opt_mapping"))],
    store: Annotated[str, typer.Option("--store", "-s", help=cli_text("opt_store"))] = "factory.duckdb",
    chunk_rows: Annotated[int, typer.Option(help=cli_text("opt_chunk_rows"))] = 50_000,
    restart: Annotated[bool, typer.Option("--restart", help=cli_text("opt_restart"))] = False,
) -> None:
    """Import a CSV or Excel export (events, intervals, wide signals).

    Exit status: 0 all rows imported, 1 some rows rejected (see the rejects file), 2 the mapping
    or the file could not be read (nothing imported).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..store import open_store
    from .files import FileReadError, MappingError, import_file, state_path

    if chunk_rows < 1:
        err.print(f"[red]--chunk-rows: {cli_text('at_least_one')}[/]")
        raise typer.Exit(2)
    with Progress(
        TextColumn(f"[bold]{cli_text('importing')}"),
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
            err.print(f"[red]{cli_text('cannot_import')}:[/] {e}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            progress.stop()
            err.print(
                f"[yellow]{cli_text('interrupted')}[/]: {cli_text('resume_hint', path=state_path(file))}"
            )
            raise typer.Exit(130) from None
    s = summary
    if s.resumed_after_line is not None:
        console.print(cli_text("resumed_after", line=s.resumed_after_line))
    kinds = ", ".join(f"{k} {n:,}" for k, n in s.written.items()) or "-"
    console.print(
        f"[bold]{file}[/]: {cli_text('rows_read')} {s.rows_read:,} · {cli_text('imported')} {s.rows_imported:,} · "
        f"{cli_text('rejected')} {s.rows_rejected:,}"
    )
    console.print(
        f"  {cli_text('records_written')} {s.records_written:,} ({kinds}) · "
        f"{cli_text('duplicates_skipped')} {s.records_duplicate:,}"
        + (f" · {cli_text('rows_no_parts')} {s.rows_no_parts:,}" if s.rows_no_parts else "")
        + f" · {s.seconds:.1f} s"
    )
    if s.rows_rejected:
        console.print(f"[yellow]{cli_text('rejected_rows')}[/] → [bold]{s.rejects_file}[/]")
        for r in s.first_rejections[:SHOWN_REASONS]:
            console.print(f"  {r}", markup=False)
        if s.rows_rejected > SHOWN_REASONS:
            console.print(f"  … {cli_text('more_rejections', n=s.rows_rejected - SHOWN_REASONS)}")
        raise typer.Exit(1)
