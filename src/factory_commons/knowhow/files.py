"""Cases from files and back: CSV (UTF-8 or CP949), Excel (.xlsx) and JSON Lines in, JSONL out.

The columns are the fields of `Case` (`ref`, `machine_type`, `machine`, `title`, `symptom`,
`cause`, `action`, `lang`, and any other field: `product`, `outcome`, `author`, `verified`, ...);
a column that is no field is kept in the case's `extra`. A row needs some text (a title,
symptom, cause or action). `photos` is a list (JSON) or paths separated by `;` (CSV, Excel).

Korean and common English headers of work-order exports are read as those fields too
(`HEADER_WORDS`: 작업지시번호 -> ref, 설비 -> machine, 증상 -> symptom, 원인 -> cause, 조치 -> action,
발생일 -> occurred, ...), unless the file also has the field's own column; dates may be written
2023.03.14, 2023/03/14 or 2023년 3월 14일 (with a time after them or not).

A file is read whole before anything is kept: one bad row refuses the file, and the error
(`CaseFileError`) names every bad row by file, line and field, and says why. The CSV encoding
is detected as the file importer does (`collect/files_read.detect_encoding`).
"""

from __future__ import annotations

import csv
import io
import json
import re
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

#: header words of work-order exports (spaces, case and `_`/`-` ignored) -> the field they fill
HEADER_WORDS: dict[str, str] = {
    **dict.fromkeys(
        [
            "작업지시번호",
            "지시번호",
            "작업번호",
            "오더번호",
            "관리번호",
            "문서번호",
            "workorder",
            "wo",
            "wono",
            "workorderno",
        ],
        "ref",
    ),
    **dict.fromkeys(
        ["설비종류", "설비유형", "설비구분", "기계종류", "기종", "장비종류", "machinetype", "equipmenttype"],
        "machine_type",
    ),
    **dict.fromkeys(
        ["설비", "설비명", "설비번호", "호기", "기계", "장비", "장비명", "equipment", "asset"], "machine"
    ),
    **dict.fromkeys(["제목", "건명", "고장명", "요약", "subject", "summary"], "title"),
    **dict.fromkeys(
        [
            "증상",
            "현상",
            "고장현상",
            "이상현상",
            "고장내용",
            "문제",
            "problem",
            "description",
            "failure",
            "fault",
            "issue",
            "observation",
        ],
        "symptom",
    ),
    **dict.fromkeys(["원인", "고장원인", "발생원인", "rootcause", "failurecause"], "cause"),
    **dict.fromkeys(
        [
            "조치",
            "조치내용",
            "조치사항",
            "처리내용",
            "수리내용",
            "정비내용",
            "대책",
            "repair",
            "fix",
            "remedy",
            "actiontaken",
            "correctiveaction",
            "workdone",
        ],
        "action",
    ),
    **dict.fromkeys(["결과", "조치결과", "result"], "outcome"),
    **dict.fromkeys(["제품", "품번", "품목", "품명"], "product"),
    **dict.fromkeys(["알람코드", "알람번호", "에러코드", "오류코드", "alarmcode", "errorcode"], "alarm_code"),
    **dict.fromkeys(
        [
            "발생일",
            "발생일시",
            "발생일자",
            "고장일",
            "고장일시",
            "작업일",
            "작업일자",
            "일자",
            "날짜",
            "date",
        ],
        "occurred",
    ),
    **dict.fromkeys(
        [
            "수리시간(분)",
            "조치시간(분)",
            "소요시간(분)",
            "정비시간(분)",
            "고장시간(분)",
            "수리분",
            "repairtime(min)",
            "timetofix(min)",
            "repairminutes",
        ],
        "time_to_fix_min",
    ),
    **dict.fromkeys(["작성자", "등록자", "reporter"], "author"),
    **dict.fromkeys(["언어", "language"], "lang"),
}
_DATE = re.compile(
    r"^\s*(\d{4})\s*[./년-]\s*(\d{1,2})\s*[./월-]\s*(\d{1,2})\s*(?:일|\.)?"
    r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$"
)


def _header_key(name: str) -> str:
    return re.sub(r"[\s_\-.]", "", name).lower()


#: a field's own name written another way (Symptom, SYMPTOM, Machine Type, machine-type) -> the field
FIELD_KEYS: dict[str, str] = {_header_key(f): f for f in FIELDS - {"id", "firm", "context", "created"}}


def _field_of(header: str) -> str | None:
    key = _header_key(header)
    return FIELD_KEYS.get(key) or HEADER_WORDS.get(key)


def _with_field_names(row: dict) -> dict:
    """The row with export headers (`HEADER_WORDS`) renamed to the fields they fill, unless the
    field's own column is there too; other columns stay as they are (kept in `extra`)."""
    present = {str(k).strip() for k in row}
    out: dict = {}
    for key, value in row.items():
        field = _field_of(str(key))
        if field and str(key).strip() not in FIELDS and field not in present and field not in out:
            out[field] = value
        else:
            out[key] = value
    return out


def _iso_date(value: str) -> str:
    """2023.03.14, 2023/3/14 or 2023년 3월 14일 (and a time) as ISO 8601; anything else unchanged."""
    m = _DATE.match(value)
    if not m:
        return value
    y, mo, d, h, mi, sec = m.groups()
    return f"{y}-{int(mo):02d}-{int(d):02d}" + (f"T{int(h):02d}:{mi}:{sec or '00'}" if h else "")


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
    for key, value in _with_field_names(row).items():
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
                elif k in ("occurred", "verified_at", "created"):
                    value = _iso_date(value)
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
    headers = list(dict.fromkeys(str(k).strip() for _, row in rows for k in row))
    if rows and not any(h in TEXT_NEEDED or _field_of(h) in TEXT_NEEDED for h in headers):
        raise CaseFileError(
            [(path.name, 0, "", knowhow_text("err_no_text_column", columns=", ".join(headers) or "-"))]
        )
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
