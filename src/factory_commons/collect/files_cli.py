"""`factory-commons import FILE [--mapping M] --store S`: a CSV or Excel file into the store.

Without `--mapping` the import is guided (collect/files_guess.py): the file's mapping is
guessed and written beside it as `<FILE>.mapping.toml` (or `--mapping-out`), the proposal
(column -> role, notes) and a preview of the first rows (records, the KPI they would give,
warnings) are printed, and the import runs after a yes: `--yes` says it in advance, and with no
terminal to ask (a script, CI) nothing is imported unless `--yes` is given. `--guess` only
writes the mapping. A mapping file already beside the data file (one the person edited) is
used instead of a new guess, with the same preview and question. With `--mapping M` the import runs at once, as it always did.

Exit status: 0 all rows imported (or, guided, nothing imported because nobody said yes, or only
the mapping written), 1 some rows rejected (see the rejects file), 2 the mapping or the file
could not be read or the file is not machine data (nothing imported), 130 interrupted.

Registered by collect/cli.py. The importer (pandas, pyarrow, openpyxl) is loaded inside the
command so that `factory-commons --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..cli_common import CLI, cli_text
from ..i18n import label
from .files_guess_text import guess_text

if TYPE_CHECKING:
    from .files_guess import Proposal
    from .files_guess_preview import Preview
    from .files_mapping import FileMapping

console = Console()
err = Console(stderr=True)

SHOWN_REASONS = 5
#: data rows the guided import previews, and records shown per kind
PREVIEW_ROWS = 50
SHOWN_RECORDS = 5


IMPORT_HELP = (
    cli_text("cmd_import") + "\n\n" + guess_text("cli_help") + "\n\n" + CLI.both("cmd_import_detail", "\n\n")
)


def import_command(
    file: Annotated[Path, typer.Argument(help=cli_text("opt_import_file"))],
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help=guess_text("opt_mapping_guided"))
    ] = None,
    store: Annotated[str, typer.Option("--store", "-s", help=cli_text("opt_store"))] = "factory.duckdb",
    chunk_rows: Annotated[int, typer.Option(help=cli_text("opt_chunk_rows"))] = 50_000,
    restart: Annotated[bool, typer.Option("--restart", help=cli_text("opt_restart"))] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=guess_text("opt_yes"))] = False,
    guess: Annotated[bool, typer.Option("--guess", help=guess_text("opt_guess"))] = False,
    mapping_out: Annotated[
        Path | None, typer.Option("--mapping-out", help=guess_text("opt_mapping_out"))
    ] = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help=guess_text("opt_sheet"))] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help=guess_text("opt_prefix"))] = None,
) -> None:
    """Import a CSV or Excel export (events, intervals, wide signals); guess the mapping when none is given.

    Exit status: 0 all rows imported (guided: or nothing imported without a yes, or --guess),
    1 some rows rejected (see the rejects file), 2 the mapping or the file could not be read or
    the file is not machine data (nothing imported).
    """
    if chunk_rows < 1:
        err.print(f"[red]--chunk-rows: {cli_text('at_least_one')}[/]")
        raise typer.Exit(2)
    if mapping is None:
        mapping = _guided(file, store, yes=yes, guess_only=guess, out=mapping_out, sheet=sheet, prefix=prefix)
        if mapping is None:
            return
    _import(file, mapping, store, chunk_rows, restart)


# -- guided ---------------------------------------------------------------------------------
def _store_exists(store: str) -> bool:
    return store.startswith(("postgresql://", "postgres://")) or (
        store != ":memory:" and Path(store).exists()
    )


def _guided(
    file: Path,
    store: str,
    *,
    yes: bool,
    guess_only: bool,
    out: Path | None,
    sheet: str | None,
    prefix: str | None,
) -> Path | None:
    """Guess, write, show and ask; the mapping file to import with, or None to stop (exit 0)."""
    from ..store import open_store
    from .files import FileReadError, MappingError
    from .files_guess import preview
    from .files_mapping import load_mapping

    if out is None:  # one mapping per sheet when a sheet is named: sheets often differ
        from .files_guess import slug

        out = file.with_name(file.name + (f".{slug(sheet)}" if sheet else "") + ".mapping.toml")
    edited = out.exists() and not guess_only
    opened = open_store(store) if _store_exists(store) else None
    try:
        if edited:  # the mapping the person edited: shown with its preview, asked like a guess
            console.print(guess_text("cli_using_existing", path=escape(str(out))))
            try:
                fm, _ = load_mapping(out)
            except MappingError as e:
                err.print(f"[red]{cli_text('cannot_import')}:[/] {escape(str(e))}")
                raise typer.Exit(2) from None
        else:
            fm = _guess_and_write(file, out, store, opened, sheet=sheet, prefix=prefix)
            if guess_only:
                console.print(escape(guess_text("cli_next", file=str(file), mapping=str(out), store=store)))
                return None
        try:
            shown = preview(file, fm, rows=PREVIEW_ROWS, store=opened)
        except (FileReadError, MappingError) as e:
            err.print(f"[red]{cli_text('cannot_import')}:[/] {escape(str(e))}")
            raise typer.Exit(2) from None
        _show_preview(shown)
    finally:
        if opened is not None:
            opened.close()
    if yes:
        return out
    if not sys.stdin.isatty():
        console.print(escape(guess_text("cli_not_asked", file=str(file), mapping=str(out), store=store)))
        return None
    if typer.confirm(guess_text("cli_ask", store=store), default=False):
        return out
    console.print(escape(guess_text("cli_next", file=str(file), mapping=str(out), store=store)))
    return None


def _guess_and_write(
    file: Path, out: Path, store: str, opened: Any, *, sheet: str | None, prefix: str | None
) -> FileMapping:
    """Guess the mapping, show it, write it to `out`; exit 2 when the file is not machine data
    or the guess is not complete (the TOML is written then, to be fixed)."""
    from .files import FileReadError, MappingError
    from .files_guess import guess_mapping

    try:
        proposal = guess_mapping(file, sheet=sheet, prefix=prefix, store=opened)
    except (FileReadError, ValueError) as e:
        err.print(f"[red]{cli_text('cannot_import')}:[/] {escape(str(e))}")
        raise typer.Exit(2) from None
    _show_proposal(proposal)
    if proposal.kind != "log":
        err.print(f"[yellow]{escape(guess_text('cli_not_a_log', file=file.name))}[/]")
        raise typer.Exit(2)
    out.write_text(proposal.toml, encoding="utf-8")
    console.print(guess_text("cli_wrote", path=escape(str(out))))
    try:
        return proposal.file_mapping()
    except MappingError as e:
        err.print(f"[red]{escape(guess_text('cli_incomplete', path=str(out)))}[/] {escape(str(e))}")
        raise typer.Exit(2) from None


def _show_proposal(p: Proposal) -> None:
    from rich.table import Table

    t = Table(title=guess_text("cli_proposal", file=p.path.name), title_justify="left")
    for key in ("col_column", "col_role", "col_samples", "col_why"):
        t.add_column(guess_text(key).replace(" / ", "\n"), overflow="fold")
    for c in p.columns:
        color = "dim" if c.role == "ignore" else "bold"
        t.add_row(
            escape(c.name),
            f"[{color}]{escape(c.role)}[/]",
            escape(", ".join(c.samples[:3])),
            escape(c.why),
        )
    console.print(t)
    for n in p.notes:
        console.print(f"  • {escape(n)}")


def _show_preview(pv: Preview) -> None:
    from rich.table import Table

    console.print(f"\n[bold]{escape(guess_text('cli_preview', rows=pv.rows))}[/]")
    for kind, rows in pv.records.items():
        if not rows:
            continue
        keys = [k for k in rows[0] if k not in ("source", "inserted_at")]
        t = Table(title=kind, title_justify="left")
        for k in keys:
            t.add_column(k, overflow="fold")
        for r in rows[:SHOWN_RECORDS]:
            t.add_row(*[escape(_fmt(r.get(k))) for k in keys])
        console.print(t)
    if pv.kpis:
        t = Table(title=guess_text("cli_preview_kpi"), title_justify="left")
        cols = ("name", "oee", "availability", "effectiveness", "quality_ratio", "produced_quantity")
        for k in cols:
            key = "machine" if k == "name" else k
            t.add_column(
                f"{label(key, 'ko')}\n{label(key, 'en')}", justify="left" if k == "name" else "right"
            )
        for r in pv.kpis:
            t.add_row(*[escape(_fmt(r.get(k), pct=k not in ("name", "produced_quantity"))) for k in cols])
        console.print(t)
    for w in pv.warnings:
        console.print(f"[yellow]! {escape(w)}[/]")
    for r in pv.rejections[:SHOWN_REASONS]:
        console.print(f"[red]✗ {escape(r)}[/]")


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–" if pct else ""
    if pct and isinstance(v, float):
        return f"{v:.1%}"
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ", timespec="minutes") if hasattr(v, "hour") else v.isoformat()
    return str(v)


# -- the import -------------------------------------------------------------------------------
def _import(file: Path, mapping: Path, store: str, chunk_rows: int, restart: bool) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ..store import open_store
    from .files import FileReadError, MappingError, import_file, state_path

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
            err.print(f"[red]{cli_text('cannot_import')}:[/] {escape(str(e))}")
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
        f"[bold]{escape(str(file))}[/]: {cli_text('rows_read')} {s.rows_read:,} · "
        f"{cli_text('imported')} {s.rows_imported:,} · {cli_text('rejected')} {s.rows_rejected:,}"
    )
    console.print(
        f"  {cli_text('records_written')} {s.records_written:,} ({kinds}) · "
        f"{cli_text('duplicates_skipped')} {s.records_duplicate:,}"
        + (f" · {cli_text('rows_no_parts')} {s.rows_no_parts:,}" if s.rows_no_parts else "")
        + f" · {s.seconds:.1f} s"
    )
    for w in getattr(s, "warnings", None) or []:
        console.print(f"[yellow]! {escape(str(w))}[/]")
    if s.rows_rejected:
        console.print(f"[yellow]{cli_text('rejected_rows')}[/] → [bold]{escape(str(s.rejects_file))}[/]")
        for r in s.first_rejections[:SHOWN_REASONS]:
            console.print(f"  {r}", markup=False)
        if s.rows_rejected > SHOWN_REASONS:
            console.print(f"  … {cli_text('more_rejections', n=s.rows_rejected - SHOWN_REASONS)}")
        raise typer.Exit(1)
