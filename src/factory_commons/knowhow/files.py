"""Cases from files and back: CSV (UTF-8 or CP949), Excel (.xlsx) and JSON Lines in, JSONL out.

The columns are the fields of `Case` (`ref`, `machine_type`, `machine`, `title`, `symptom`,
`cause`, `action`, `lang`, and any other field: `product`, `outcome`, `author`, `verified`, ...);
a column that is no field is kept in the case's `extra`. A row needs some text (a title,
symptom, cause or action). `photos` is a list (JSON) or paths separated by `;` (CSV, Excel).

A file is read whole before anything is kept: one bad row refuses the file, and the error
(`CaseFileError`) names every bad row by file, line and field, and says why. The CSV encoding
is detected as the file importer does (`collect/files_read.detect_encoding`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from ..i18n import Catalog
from .cases import Case
from .db import KnowhowDB

KNOWHOW = Catalog("knowhow")
FIELDS = set(Case.model_fields) - {"extra"}
TEXT_NEEDED = ("title", "symptom", "cause", "action")
MAX_PROBLEMS = 50


def knowhow_text(msgid: str, /, **values: object) -> str:
    """A text of the `knowhow` catalog, "Korean / English", `{name}` fields filled."""
    text = KNOWHOW.both(msgid, " / ")
    return text.format(**values) if values else text


class CaseFileError(ValueError):
    """A case file that cannot be imported; `problems` are (file, line, field, why)."""

    def __init__(self, problems: list[tuple[str, int, str, str]]):
        self.problems = problems
        lines = [
            f"{f}:{line}: {field}: {why}" if field else f"{f}:{line}: {why}"
            for f, line, field, why in problems
        ]
        super().__init__("\n".join(lines))


def _rows_csv(path: Path) -> list[tuple[int, dict]]:
    from ..collect.files_read import detect_encoding, sniff_delimiter

    enc = detect_encoding(path)
    text = path.read_text(encoding="utf-8" if enc == "ascii" else enc)
    first = text.splitlines()[0] if text.strip() else ""
    reader = csv.DictReader(io.StringIO(text), delimiter=sniff_delimiter(first))
    out = []
    for row in reader:
        if None in row:  # more cells than header columns
            raise CaseFileError([(path.name, reader.line_num, "", knowhow_text("err_extra_cells"))])
        out.append((reader.line_num, row))
    return out


def _rows_excel(path: Path) -> list[tuple[int, dict]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    rows = wb.worksheets[0].iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
    out = []
    for n, cells in enumerate(rows, start=2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        out.append((n, {h: ("" if c is None else str(c)) for h, c in zip(header, cells, strict=False) if h}))
    wb.close()
    return out


def _rows_jsonl(path: Path) -> list[tuple[int, dict]]:
    out = []
    with path.open(encoding="utf-8-sig") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise CaseFileError([(path.name, n, "", knowhow_text("err_not_json", why=e.msg))]) from None
            if not isinstance(obj, dict):
                raise CaseFileError([(path.name, n, "", knowhow_text("err_not_object"))])
            out.append((n, obj))
    return out


def _case(row: dict, firm: str) -> Case:
    data: dict = {}
    extra: dict[str, str] = {}
    for key, value in row.items():
        k = str(key).strip()
        if not k:
            continue
        if k in FIELDS or k == "extra":
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
                if k == "photos":
                    value = [p.strip() for p in value.split(";") if p.strip()]
            if value is None:
                continue
            data[k] = value
        else:
            extra[k] = (
                ""
                if value is None
                else (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
            )
    if isinstance(data.get("extra"), dict):
        extra = {**{str(k): str(v) for k, v in data.pop("extra").items()}, **extra}
    data.setdefault("firm", firm)
    data.pop("id", None) if not data.get("id") else None
    return Case(**data, extra=extra)


def read_cases(path: str | Path, firm: str = "") -> list[Case]:
    """All cases of a file, or `CaseFileError` naming every bad row (file, line, field, why)."""
    path = Path(path)
    if not path.exists():
        raise CaseFileError([(str(path), 0, "", knowhow_text("err_no_file"))])
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            rows = _rows_csv(path)
        elif suffix in (".xlsx", ".xlsm"):
            rows = _rows_excel(path)
        elif suffix in (".jsonl", ".ndjson", ".json"):
            rows = _rows_jsonl(path)
        else:
            raise CaseFileError([(path.name, 0, "", knowhow_text("err_format", suffix=suffix or "-"))])
    except UnicodeDecodeError as e:
        raise CaseFileError([(path.name, 0, "", knowhow_text("err_encoding", why=str(e)))]) from None
    problems: list[tuple[str, int, str, str]] = []
    cases: list[Case] = []
    refs: dict[str, int] = {}
    for line, row in rows:
        try:
            case = _case(row, firm)
        except ValidationError as e:
            for err in e.errors():
                field = ".".join(str(x) for x in err["loc"])
                problems.append((path.name, line, field, err["msg"]))
            continue
        if not any(getattr(case, f) for f in TEXT_NEEDED):
            problems.append((path.name, line, "symptom", knowhow_text("err_no_text")))
            continue
        if case.ref:
            if case.ref in refs:
                problems.append(
                    (path.name, line, "ref", knowhow_text("err_dup_ref", ref=case.ref, line=refs[case.ref]))
                )
                continue
            refs[case.ref] = line
        cases.append(case)
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise CaseFileError(problems)
    if not cases:
        raise CaseFileError([(path.name, 0, "", knowhow_text("err_empty"))])
    return cases


def import_cases(db: KnowhowDB, path: str | Path, firm: str = "") -> list[Case]:
    """Read a file and keep all its cases (or none); a `ref` already stored is replaced."""
    return db.add_many(read_cases(path, firm))


def export_jsonl(db: KnowhowDB, out: str | Path | IO[str], firm: str | None = None) -> int:
    """Write cases as JSON Lines (one case a line, every field); returns how many."""
    cases = sorted(db.cases(firm=firm), key=lambda c: (c.ref or "", c.id))
    own = isinstance(out, str | Path)
    f = Path(out).open("w", encoding="utf-8") if own else out
    try:
        for c in cases:
            f.write(c.model_dump_json(exclude_none=True) + "\n")
    finally:
        if own:
            f.close()
    return len(cases)
