"""Import questionnaire responses from CSV or Excel (Korean or English headers, UTF-8 or CP949).

Columns are recognised by their header (`survey_words.py`): a respondent id, optionally the
firm's id, district, industry, size (a class word, or the number of employees), a sampling
weight and a stratum, and one column per question (its id, `co_rnd`, or a Korean name such as
공동구매). Answers are yes/no words (예/아니오, 있음/없음, Y/N, O/X, 1/0); an empty cell is no
answer. Without a weight column every response weighs 1 (a simple random sample).

Every problem is collected, not only the first: `SurveyImportError` lists each as
`file:line: column 'header': why` (line numbers as an editor shows them, the header on line 1).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from ..collect.files_read import detect_encoding, sniff_delimiter
from ..i18n import Catalog
from .models import SurveyResponse, size_class
from .survey_words import FIELD_HEADERS, INDUSTRY_WORDS, NO, QUESTION_HEADERS, SIZE_WORDS, YES

REGION = Catalog("region")
MAX_REPORTED = 50


class SurveyImportError(ValueError):
    """A survey file that cannot be imported; `problems` lists file:line: column: why."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = len(problems) - len(shown)
        super().__init__("\n".join(shown) + (f"\n... {more} more" if more else ""))


def _norm(header: str) -> str:
    return re.sub(r"[\s._\-·()]+", "", str(header).replace("\ufeff", "")).lower()


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line, cells) with the header first; cells as text."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            out = []
            for i, row in enumerate(wb.worksheets[0].iter_rows(values_only=True), start=1):
                cells = [
                    "" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
                    for v in row
                ]
                if any(c.strip() for c in cells):
                    out.append((i, cells))
            return out
        finally:
            wb.close()
    enc = detect_encoding(path)
    with path.open(encoding="utf-8" if enc == "ascii" else enc, newline="", errors="strict") as f:
        text = f.read()
    first = text.splitlines()[0] if text else ""
    reader = csv.reader(text.splitlines(keepends=True), delimiter=sniff_delimiter(first))
    out = []
    for cells in reader:
        line = reader.line_num
        if any(c.strip() for c in cells):
            out.append((line, cells))
    return out


def _columns(header: list[str], where: str) -> tuple[dict[str, int], dict[str, int], list[str]]:
    fields: dict[str, int] = {}
    questions: dict[str, int] = {}
    problems: list[str] = []
    names = {q: (q, *(words)) for q, words in QUESTION_HEADERS.items()}
    for j, h in enumerate(header):
        n = _norm(h)
        if not n:
            continue
        hit = next((f for f, words in FIELD_HEADERS.items() if n in words), None)
        if hit is None:
            hit_q = next((q for q, words in names.items() if n in {_norm(w) for w in words}), None)
            if hit_q is None and re.fullmatch(r"[a-z][a-z0-9_]*", str(h).strip()):
                hit_q = str(h).strip()  # a question id of another questionnaire
            if hit_q is None:
                problems.append(f"{where}:1: column {h!r}: {REGION.get('survey_unknown_column', 'en')}")
                continue
            if hit_q in questions:
                problems.append(f"{where}:1: column {h!r}: {REGION.get('survey_duplicate_column', 'en')}")
            questions[hit_q] = j
        else:
            if hit in fields:
                problems.append(f"{where}:1: column {h!r}: {REGION.get('survey_duplicate_column', 'en')}")
            fields[hit] = j
    for need in ("respondent", "district", "industry"):
        if need not in fields:
            problems.append(f"{where}:1: {REGION.get('survey_missing_column', 'en').format(field=need)}")
    if "size" not in fields and "employees" not in fields:
        problems.append(f"{where}:1: {REGION.get('survey_missing_column', 'en').format(field='size')}")
    if not questions:
        problems.append(f"{where}:1: {REGION.get('survey_no_questions', 'en')}")
    return fields, questions, problems


def _answer(text: str) -> float | None | str:
    t = text.strip().lower()
    if not t:
        return None
    if t in YES:
        return 1.0
    if t in NO:
        return 0.0
    return "bad"


def read_survey(path: str | Path, survey: str = "cooperation") -> list[SurveyResponse]:
    """The responses of a survey file; SurveyImportError with every problem found."""
    path = Path(path)
    where = path.name
    try:
        rows = _rows(path)
    except UnicodeDecodeError as e:
        raise SurveyImportError(
            [f"{where}: {REGION.get('survey_bad_encoding', 'en')} ({e.reason})"]
        ) from None
    except OSError as e:
        raise SurveyImportError([f"{where}: {e.strerror or e}"]) from None
    if not rows:
        raise SurveyImportError([f"{where}: {REGION.get('survey_empty', 'en')}"])
    (_, header), data = rows[0], rows[1:]
    fields, questions, problems = _columns(header, where)
    if problems:
        raise SurveyImportError(problems)
    out: list[SurveyResponse] = []
    seen: dict[str, int] = {}

    def cell(cells: list[str], j: int | None) -> str:
        return cells[j].strip() if j is not None and j < len(cells) else ""

    for line, cells in data:
        bad: list[str] = []

        def fail(field: str, why: str, bad: list[str] = bad, line: int = line) -> None:
            col = header[fields[field]] if field in fields else header[questions[field]]
            bad.append(f"{where}:{line}: column {col!r}: {why}")

        rid = cell(cells, fields["respondent"])
        if not rid:
            fail("respondent", REGION.get("survey_empty_value", "en"))
        elif rid in seen:
            fail("respondent", REGION.get("survey_duplicate_respondent", "en").format(line=seen[rid]))
        seen.setdefault(rid, line)
        district = cell(cells, fields["district"])
        if not district:
            fail("district", REGION.get("survey_empty_value", "en"))
        industry_raw = cell(cells, fields["industry"])
        if not industry_raw:
            fail("industry", REGION.get("survey_empty_value", "en"))
        industry = INDUSTRY_WORDS.get(_norm(industry_raw), industry_raw)
        size = None
        if "size" in fields and cell(cells, fields["size"]):
            size = SIZE_WORDS.get(_norm(cell(cells, fields["size"])))
            if size is None:
                fail("size", REGION.get("survey_bad_size", "en").format(got=cell(cells, fields["size"])))
        elif "employees" in fields:
            raw = cell(cells, fields["employees"])
            try:
                emp = int(float(raw.replace(",", "")))
                if emp < 1:
                    raise ValueError
                size = size_class(emp)
            except ValueError:
                fail("employees", REGION.get("survey_bad_employees", "en").format(got=raw))
        else:
            fail("size", REGION.get("survey_empty_value", "en"))
        weight = 1.0
        if "weight" in fields:
            raw = cell(cells, fields["weight"])
            try:
                weight = float(raw.replace(",", ""))
                if not (weight > 0 and math.isfinite(weight)):
                    raise ValueError
            except ValueError:
                fail("weight", REGION.get("survey_bad_weight", "en").format(got=raw))
        answers: dict[str, float | None] = {}
        for q, j in questions.items():
            a = _answer(cell(cells, j))
            if a == "bad":
                fail(q, REGION.get("survey_bad_answer", "en").format(got=cell(cells, j)))
            else:
                answers[q] = a
        if bad:
            problems += bad
            continue
        out.append(
            SurveyResponse(
                survey=survey,
                respondent=rid,
                firm_id=cell(cells, fields.get("firm_id")) or None,
                district=district,
                industry=industry,
                size=size,
                weight=weight,
                stratum=cell(cells, fields.get("stratum")) or None,
                answers=answers,
            )
        )
    if problems:
        raise SurveyImportError(problems)
    return out
