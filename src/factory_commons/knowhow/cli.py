"""`factory-commons knowhow import|export|list|show|search|verify`: know-how cases from the command line.

The contract other tools rely on (docs/knowhow.md):

* `knowhow import FILE --store S`: CSV, Excel or JSONL with the columns `ref`, `machine_type`,
  `machine`, `title`, `symptom`, `cause`, `action`, `lang` (other columns kept); all rows or
  none; a bad row is named by file, line and field (exit 1);
* `knowhow search "TEXT" --store S --limit 10 --format json`: a JSON list, best first, each
  with `ref` (the case id where there is no ref) and `score`, on standard output only.

The cases live beside the store (`<store>.knowhow.sqlite`, or the store's PostgreSQL database):
the store itself need not exist.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..cli_common import StoreOpt, console, err, mask_url
from .db import default_knowhow_path, open_knowhow
from .failure_modes import FAILURE_MODES, suggest_failure_modes
from .files import CaseFileError, export_jsonl, import_cases, knowhow_text

knowhow_app = typer.Typer(help=knowhow_text("cmd_knowhow"), no_args_is_help=True)
FirmOpt = Annotated[str, typer.Option("--firm", help=knowhow_text("opt_firm"))]


class Format(StrEnum):
    table = "table"
    json = "json"


@knowhow_app.command("import", help=knowhow_text("cmd_import"))
def import_cmd(
    file: Annotated[Path, typer.Argument(help=knowhow_text("opt_file"))], store: StoreOpt, firm: FirmOpt = ""
) -> None:
    with open_knowhow(store) as db:
        try:
            cases = import_cases(db, file, firm)
        except CaseFileError as e:
            err.print(f"[red]{knowhow_text('import_refused', file=file.name)}[/]", highlight=False)
            for f, line, field, why in e.problems:
                err.print(
                    f"  {f}:{line}: {field + ': ' if field else ''}{why}", markup=False, highlight=False
                )
            raise typer.Exit(1) from None
        console.print(knowhow_text("imported", n=len(cases), target=mask_url(db.target)))


@knowhow_app.command("export", help=knowhow_text("cmd_export"))
def export_cmd(
    store: StoreOpt,
    out: Annotated[Path | None, typer.Option("--out", "-o", help=knowhow_text("opt_out"))] = None,
    firm: Annotated[str | None, typer.Option("--firm", help=knowhow_text("opt_firm"))] = None,
) -> None:
    with open_knowhow(store) as db:
        if out is None:
            export_jsonl(db, sys.stdout, firm)
        else:
            n = export_jsonl(db, out, firm)
            err.print(knowhow_text("exported", n=n, file=str(out)))


def _no_cases_file(store: str) -> bool:
    """True, with a note on standard error, when the store has no know-how database yet (a
    mistyped --store): nothing is created and the answer is empty, as before, but said."""
    if store == ":memory:" or store.startswith(("postgresql://", "postgres://")):
        return False
    path = default_knowhow_path(store)
    if Path(path).exists():
        return False
    err.print(f"[yellow]{knowhow_text('no_cases_file', path=path, store=store)}[/]", highlight=False)
    return True


@knowhow_app.command("list", help=knowhow_text("cmd_list"))
def list_cmd(
    store: StoreOpt,
    machine: Annotated[str | None, typer.Option("--machine", "-m", help=knowhow_text("opt_machine"))] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help=knowhow_text("opt_limit"))] = 50,
    fmt: Annotated[Format, typer.Option("--format", help=knowhow_text("opt_format"))] = Format.table,
) -> None:
    if _no_cases_file(store):
        cases = []
    else:
        with open_knowhow(store) as db:
            cases = db.cases(machine=machine, limit=limit)
    if fmt is Format.json:
        print(
            json.dumps([json.loads(c.model_dump_json(exclude_none=True)) for c in cases], ensure_ascii=False)
        )
        return
    table = Table(*[knowhow_text(k) for k in ("col_ref", "col_machine", "col_title", "col_verified")])
    for c in cases:
        table.add_row(
            c.ref or c.id,
            c.machine or c.machine_type or "",
            c.title or c.symptom[:60],
            "v" if c.verified else "",
        )
    console.print(table)


@knowhow_app.command("show", help=knowhow_text("cmd_show"))
def show_cmd(key: Annotated[str, typer.Argument(help=knowhow_text("opt_key"))], store: StoreOpt) -> None:
    with open_knowhow(store) as db:
        case = db.find(key)
    if case is None:
        err.print(f"[red]{knowhow_text('not_found', key=key)}[/]")
        raise typer.Exit(2)
    print(json.dumps(json.loads(case.model_dump_json(exclude_none=True)), ensure_ascii=False, indent=2))


@knowhow_app.command("verify", help=knowhow_text("cmd_verify"))
def verify_cmd(
    key: Annotated[str, typer.Argument(help=knowhow_text("opt_key"))],
    store: StoreOpt,
    by: Annotated[str, typer.Option("--by", help=knowhow_text("opt_verifier"))],
) -> None:
    with open_knowhow(store) as db:
        case = db.find(key)
        if case is None:
            err.print(f"[red]{knowhow_text('not_found', key=key)}[/]")
            raise typer.Exit(2)
        db.verify(case.id, by)
    console.print(knowhow_text("verified", key=key, who=by))


@knowhow_app.command("search", help=knowhow_text("cmd_search"))
def search_cmd(
    text: Annotated[str, typer.Argument(help=knowhow_text("opt_text"))],
    store: StoreOpt,
    limit: Annotated[int, typer.Option("--limit", min=1, help=knowhow_text("opt_limit"))] = 10,
    fmt: Annotated[Format, typer.Option("--format", help=knowhow_text("opt_format"))] = Format.table,
    machine: Annotated[str | None, typer.Option("--machine", "-m", help=knowhow_text("opt_machine"))] = None,
    machine_type: Annotated[str | None, typer.Option("--type", help=knowhow_text("opt_type"))] = None,
    code: Annotated[str | None, typer.Option("--code", help=knowhow_text("opt_code"))] = None,
    firm: Annotated[str | None, typer.Option("--firm", help=knowhow_text("opt_firm"))] = None,
) -> None:
    if _no_cases_file(store):
        hits = []
    else:
        with open_knowhow(store) as db:
            hits = db.search(
                text, limit=limit, machine=machine, machine_type=machine_type, code=code, firm=firm
            )
    if fmt is Format.json:
        # what was seen, why and what fixed it, beside the contract's keys: a work-order export
        # often has no title, and a hit of refs and scores alone tells a reader nothing
        out = [
            {**h.as_dict(), "symptom": h.case.symptom, "cause": h.case.cause, "action": h.case.action}
            for h in hits
        ]
        print(json.dumps(out, ensure_ascii=False))
        return
    table = Table(
        *[
            knowhow_text(k)
            for k in ("col_ref", "col_score", "col_machine", "col_title", "col_cause", "col_action")
        ]
    )
    for h in hits:
        c = h.case
        table.add_row(
            c.ref or c.id,
            f"{h.score:.4f}",
            c.machine or c.machine_type or "",
            c.title or c.symptom[:50],
            c.cause[:50],
            c.action[:50],
        )
    console.print(table)


@knowhow_app.command("failure-mode", help=FAILURE_MODES.both("cmd_failure_mode", " / "))
def failure_mode_cmd(
    text: Annotated[str, typer.Argument(help=FAILURE_MODES.both("opt_observation", " / "))],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=22, help=FAILURE_MODES.both("opt_k", " / "))] = 3,
    fmt: Annotated[
        Format, typer.Option("--format", help=FAILURE_MODES.both("opt_format", " / "))
    ] = Format.table,
) -> None:
    """ISO 14224 failure modes of an observation (knowhow/failure_modes.py); no store needed."""
    if not text.strip():
        err.print(f"[red]{FAILURE_MODES.both('no_observation', ' / ')}[/]")
        raise typer.Exit(2)
    found = suggest_failure_modes(text, k)
    if fmt is Format.json:
        print(json.dumps([s.as_dict() for s in found], ensure_ascii=False))
        return
    table = Table(*[FAILURE_MODES.both(c, " / ") for c in ("col_mode", "col_iso", "col_score")])
    for s in found:
        table.add_row(s.name_ko, s.label, f"{s.score:.2f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the `knowhow` command group to `app`."""
    app.add_typer(knowhow_app, name="knowhow")
