"""Reading the top of a CSV or Excel export for the import guesser, and what its values look like.

The file is read as `import` will read it: the encoding and delimiter detection of files_read.py,
blank rows skipped, line (row) numbers as an editor shows them. The header is the first row of
names as wide as the data below it (title rows and blank rows above it are skipped); of an
Excel workbook the sheet with the most data is taken. Each column's values are classed
(timestamps, dates, times of day, h:mm durations, Excel serial numbers, numbers, text), which
the guesser (files_guess.py) checks the column names against. Texts of the `guess` catalog.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from .files_guess_text import guess_text
from .files_guess_words import AM_WORDS, PM_WORDS, TIME_OF_DAY
from .files_read import EXCEL_SUFFIXES, FileReadError, collect_text, detect_encoding, sniff_delimiter
from .files_values import dates, texts, times

#: data rows read to guess from (the machine and state columns are read whole)
SAMPLE_ROWS = 2000
#: rows above the header searched for it
HEADER_SEARCH = 30
TIME_ROLES = ("time", "start", "end")

_DATE = re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\.?$")
_DATE8 = re.compile(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")
_NUMBER = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d*)?$")
SLUG_BAD = re.compile(r"[\s/+#\x00]+")
#: day-first and month-first formats tried when ISO reading fails (one must read every cell)
_OTHER_FORMATS = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%y-%m-%d %H:%M",
    "%y/%m/%d %H:%M",
)


#: day-first and month-first dates tried when the importer's own reading fails
_DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%y-%m-%d", "%y/%m/%d", "%y.%m.%d")


# -- what was read --------------------------------------------------------------------------
@dataclass
class Table:
    """The top of a data file as the importer will see it."""

    path: Path
    kind: str  # csv or excel
    header: list[str]
    header_row: int
    rows: list[list]  # data rows (blank rows skipped), at most SAMPLE_ROWS
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)  # text above the header
    more_rows: bool = False  # the file has more data rows than were read


@dataclass
class Profile:
    """What the values of one column look like."""

    name: str
    index: int
    filled: int = 0
    kind: str = "empty"  # ts, date, tod, hmm, serial_ts, serial_date, num, text, empty
    share: float = 0.0  # share of the filled cells of that kind
    numbers: np.ndarray | None = None
    integers: bool = False
    distinct: list[str] = field(default_factory=list)  # the first distinct texts
    n_distinct: int = 0
    samples: list[str] = field(default_factory=list)
    time_format: str = "auto"
    date_format: str = "auto"
    ts: np.ndarray | None = None  # parsed timestamps (UTC) for ts / serial_ts / date


# -- reading --------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace("\ufeff", "").strip()
        return value or None
    return value


def _read_csv(path: Path) -> Table:
    encoding = detect_encoding(path)
    if encoding == "ascii":
        encoding = "utf-8"
    with path.open("rb") as f:
        raw = f.read(4 << 20)
    more = path.stat().st_size > len(raw)
    text = raw.decode(encoding, errors="replace")
    if more:  # cut at the last full line
        text = text[: text.rfind("\n") + 1]
    lines = [ln for ln in text.splitlines()[: HEADER_SEARCH + 50] if ln.strip()]
    votes = Counter(sniff_delimiter(ln) for ln in lines if any(d in ln for d in ",;\t"))
    delimiter = votes.most_common(1)[0][0] if votes else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    numbered: list[tuple[int, list]] = []
    for cells in reader:
        numbered.append((reader.line_num, [_cell(c) for c in cells]))
        if len(numbered) > HEADER_SEARCH + SAMPLE_ROWS + 1:
            more = True
            break
    return _table(path, "csv", numbered, more, encoding=encoding, delimiter=delimiter)


def _read_excel(path: Path, sheet: str | None) -> Table:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a broken or non-Excel file
        raise FileReadError(f"{path}: {guess_text('not_excel', why=f'{type(e).__name__}: {e}')}") from None
    try:
        names = list(wb.sheetnames)
        if sheet is not None and sheet not in names:
            raise FileReadError(f"{path}: {guess_text('no_sheet', sheet=sheet, sheets=', '.join(names))}")
        tables = []
        for name in [sheet] if sheet else names:
            ws = wb[name]
            numbered = []
            more = False
            for i, cells in enumerate(ws.iter_rows(values_only=True), start=1):
                numbered.append((i, [_cell(c) for c in cells]))
                if len(numbered) > HEADER_SEARCH + SAMPLE_ROWS + 1:
                    more = True
                    break
            try:
                tables.append(_table(path, "excel", numbered, more, sheet=name))
            except FileReadError:
                continue
    finally:
        wb.close()
    if not tables:
        raise FileReadError(f"{path}: {guess_text('no_header_found')}")
    best = max(
        tables, key=lambda t: (len(t.rows) * max(1, sum(1 for h in t.header if h)), -names.index(t.sheet))
    )
    best.sheets = names
    return best


def _is_texty(value: Any) -> bool:
    """A cell that reads as a column name: text that is not a number, date or time."""
    if not isinstance(value, str):
        return False
    t = value.strip()
    return not (_NUMBER.match(t) or _DATE.match(t) or TIME_OF_DAY.match(t) or _looks_like_timestamp(t))


def _looks_like_timestamp(t: str) -> bool:
    return bool(re.match(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}[ T]\d", t))


def _table(path: Path, kind: str, numbered: list[tuple[int, list]], more: bool, **kw: Any) -> Table:
    """Find the header among the first rows: the first row of names as wide as the data below."""
    rows = [(n, cells) for n, cells in numbered if any(c is not None for c in cells)]
    if not rows:
        raise FileReadError(f"{path}: {guess_text('empty_file')}")
    widths = Counter(sum(1 for c in cells if c is not None) for _, cells in rows[: HEADER_SEARCH + 200])
    typical = max(w for w, n in widths.items() if n >= max(1, widths.most_common(1)[0][1] // 3))
    best = None
    for pos, (_line, cells) in enumerate(rows[:HEADER_SEARCH]):
        filled = [c for c in cells if c is not None]
        if len(filled) < max(1, min(2, typical)) or len(filled) < 0.6 * typical:
            continue
        texty = sum(_is_texty(c) for c in filled)
        if texty >= 0.8 * len(filled) and len({str(c) for c in filled}) == len(filled):
            best = pos
            break
    if best is None:
        raise FileReadError(f"{path}: {guess_text('no_header_found')}")
    header_line, header = rows[best]
    names = ["" if c is None else str(c).strip() for c in header]
    while names and not names[-1]:
        names.pop()
    data = [cells for _, cells in rows[best + 1 :]]
    if len(data) > SAMPLE_ROWS:  # the machine and state names are then read from the whole file
        data, more = data[:SAMPLE_ROWS], True
    if not data:
        raise FileReadError(f"{path}: {guess_text('no_rows', line=header_line)}")
    title = [" ".join(str(c) for c in cells if c is not None) for _, cells in rows[:best]]
    return Table(path, kind, names, header_line, data, title=title, more_rows=more, **kw)


def read_table(path: Path, sheet: str | None = None) -> Table:
    """The top of a CSV or Excel file with its header found (FileReadError when there is none)."""
    if not path.is_file():
        raise FileReadError(f"{path}: {collect_text('no_such_file')}")
    if path.suffix.lower() == ".xls":
        raise FileReadError(f"{path}: {guess_text('old_xls')}")
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return _read_excel(path, sheet)
    return _read_csv(path)


def value_counts(table: Table, columns: list[int]) -> Counter:
    """How often each combination of cells occurs in some columns over the whole file (the
    machine, line, state and reason names), cells as `texts` gives them (None where empty)."""
    counts: Counter = Counter()
    if not table.more_rows:
        for r in table.rows:
            counts[tuple(texts([r[i] if i < len(r) else None for i in columns]))] += 1
        return counts
    if table.kind == "csv":
        assert table.encoding and table.delimiter
        with table.path.open(encoding=table.encoding, errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=table.delimiter)
            for _ in range(table.header_row):
                next(reader, None)
            for cells in reader:
                if cells:
                    counts[tuple(cells[i] if i < len(cells) else "" for i in columns)] += 1
        out: Counter = Counter()
        for key, n in counts.items():
            out[tuple((c.replace("\ufeff", "").strip() or None) for c in key)] += n
        out.pop(tuple(None for _ in columns), None)
        return out
    import openpyxl

    wb = openpyxl.load_workbook(table.path, read_only=True, data_only=True)
    try:
        ws = wb[table.sheet] if table.sheet else wb.worksheets[0]
        for cells in ws.iter_rows(min_row=table.header_row + 1, values_only=True):
            counts[tuple(texts([_cell(cells[i]) if i < len(cells) else None for i in columns]))] += 1
    finally:
        wb.close()
    counts.pop(tuple(None for _ in columns), None)
    return counts


# -- values ---------------------------------------------------------------------------------
def _tod_seconds(t: str) -> float | None:
    m = TIME_OF_DAY.match(t)
    if not m:
        return None
    ampm = (m.group(1) or m.group(5) or "").lower()
    h, mi, s = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
    if mi > 59 or s > 59:
        return None
    if ampm in PM_WORDS and h < 12:
        h += 12
    elif ampm in AM_WORDS and h == 12:
        h = 0
    return h * 3600 + mi * 60 + s


def cell_kind(v: Any) -> tuple[str, float | None]:
    """(kind, number) of one cell: ts, date, tod, hmm, serial_ts, serial_date, num, text."""
    if isinstance(v, bool):
        return "text", None
    if isinstance(v, datetime):
        if v.year < 1901:
            return "tod", v.hour * 3600 + v.minute * 60 + v.second
        if (v.hour, v.minute, v.second, v.microsecond) == (0, 0, 0, 0):
            return "date", None
        return "ts", None
    if isinstance(v, date):
        return "date", None
    if isinstance(v, time):
        return "tod", v.hour * 3600 + v.minute * 60 + v.second
    if isinstance(v, timedelta):
        return "hmm", v.total_seconds()
    if isinstance(v, int | float):
        x = float(v)
        if 20_000 <= x < 80_000:
            return ("serial_date" if x.is_integer() else "serial_ts"), x
        return "num", x
    t = str(v).strip()
    if _DATE.match(t) or _DATE8.match(t):
        return "date", None
    secs = _tod_seconds(t)
    if secs is not None:
        return ("tod" if secs < 86_400 else "hmm"), secs
    if _NUMBER.match(t):
        x = float(t.replace(",", ""))
        if 20_000 <= x < 80_000 and "." in t:
            return "serial_ts", x
        return "num", x
    return "text", None


def profile_column(name: str, index: int, cells: list, zone: ZoneInfo) -> Profile:
    p = Profile(name, index)
    values = [c for c in cells if c is not None]
    p.filled = len(values)
    shown = texts(values)
    p.samples = list(dict.fromkeys(s for s in shown if s))[:5]
    if not values:
        return p
    kinds = [cell_kind(v) for v in values]
    counts = Counter(k for k, _ in kinds)
    text_idx = [i for i, (k, _) in enumerate(kinds) if k == "text"]
    if text_idx and isinstance(values[text_idx[0]], str):  # whole timestamps the importer reads
        strs = [values[i] for i in text_idx]
        for fmt in ("auto", *_OTHER_FORMATS):
            got = times(strs, fmt, zone)
            ok = ~got.bad & ~got.empty
            if ok.mean() >= 0.9:
                counts["ts"] += int(ok.sum())
                counts["text"] -= int(ok.sum())
                if fmt != "auto":
                    p.time_format = fmt
                break
        else:  # dates the importer reads: 2026년 11월 23일, 2026. 11. 23.(월), 23/11/2026 ...
            for fmt in ("auto", *_DATE_FORMATS):
                _days, empty, bad = dates(strs, fmt)
                ok = ~bad & ~empty
                if ok.mean() >= 0.9:
                    counts["date"] += int(ok.sum())
                    counts["text"] -= int(ok.sum())
                    p.date_format = fmt
                    break
    counts = +counts  # without the kinds no cell has any more
    kind, n = counts.most_common(1)[0]
    share = n / len(values)
    if {"tod", "hmm"} >= set(counts) and counts["hmm"]:
        kind, share = "hmm", 1.0
    elif {"serial_ts", "serial_date"} >= set(counts):
        kind, share = "serial_ts" if counts["serial_ts"] else "serial_date", 1.0
    elif {"ts", "date"} >= set(counts) and counts["ts"]:
        kind, share = "ts", 1.0
    elif kind == "num" and (counts["serial_date"] or counts["serial_ts"]):
        share = (n + counts["serial_date"] + counts["serial_ts"]) / len(values)
    p.kind, p.share = kind, share
    nums = [x for k, x in kinds if x is not None and k in ("num", "serial_date", "serial_ts", "hmm", "tod")]
    if nums:
        p.numbers = np.asarray(nums, float)
        p.integers = bool(np.all(np.mod(p.numbers, 1) == 0))
    distinct = list(dict.fromkeys(s for s in shown if s))
    p.n_distinct = len(distinct)
    p.distinct = distinct[:60]
    if kind in ("ts", "serial_ts", "date", "serial_date"):
        fmt = "excel" if kind.startswith("serial") else p.time_format
        raw = [str(v) if kind.startswith("serial") and not isinstance(v, int | float) else v for v in values]
        p.ts = times(raw, fmt, zone).ts
    return p
