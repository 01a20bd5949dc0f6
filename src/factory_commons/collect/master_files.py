"""Master data from a shop's own files: products (ideal cycle times), machines, shift calendars.

Each reader takes a CSV file (UTF-8 with or without BOM, CP949/EUC-KR; the delimiter sniffed
among , ; tab, as `collect/files_read.py` does for machine logs) or an Excel workbook (.xlsx,
.xlsm; the first sheet unless one is named), finds the header row among the first ten rows by
its column names (Korean or English, see `collect/master_words.py`) and reads every row below.

- `read_products`: product code, an ideal cycle time in seconds, minutes or hours (a unit
  column, or a unit in the header such as "사이클타임(초)", "CT (min)") or a rate (UPH, parts
  per hour or per minute), and optionally a name and the unit a piece is counted in.
- `read_machines`: machine code or full ISA-95 path, name, line, area, type, calendar, time zone,
  default ideal cycle time. A flat code gets the path `prefix/area/line/code` from the line
  and area columns (area-1 / line-1 where the file has none); a code that names a machine the
  store already has (its last path level or display name) keeps that machine's path.
- `read_calendars`: one row per shift (calendar, shift, start, end, days, breaks, time zone,
  holidays), or a TOML file of `[[calendars]]` in the model's own shape.

All or nothing: every row is checked first and any bad row raises `MasterFileError` listing
each problem with its file, line, column and why, in Korean and English; a caller then writes
nothing.
"""

from __future__ import annotations

import csv
import io
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from pydantic import ValidationError

from ..i18n import Catalog
from ..model.calendar import WEEKDAYS, PlannedBreak, Shift, ShiftCalendar
from ..model.hierarchy import Machine, check_timezone, parse_machine_path
from ..model.master import Product
from .files_read import EXCEL_SUFFIXES, detect_encoding, sniff_delimiter
from .master_words import (
    CALENDAR_COLUMNS,
    DAY_SETS,
    MACHINE_COLUMNS,
    PER_MINUTE_RATE_NAMES,
    PRODUCT_COLUMNS,
    RATE_UNITS,
    TIME_UNITS,
    UNITS_SHOWN,
    WEEKDAY_NAMES,
    norm,
)

MASTER = Catalog("master")

#: enterprise/site of new machine paths when neither the caller nor the store gives one
DEFAULT_PREFIX = "my-company/plant-1"
#: rows searched for the header row (a title or a date may stand above it)
HEADER_SEARCH_ROWS = 10
#: problems listed in one error (the rest are counted)
MAX_SHOWN = 20


def master_text(key: str, **values) -> str:
    """A text of the `master` catalog in both languages ("Korean / English"), fields filled;
    a value given as a (Korean, English) pair goes into each language's text."""
    ko, en = MASTER.pair(key)
    in_ko = {k: v[0] if isinstance(v, tuple) else v for k, v in values.items()}
    in_en = {k: v[1] if isinstance(v, tuple) else v for k, v in values.items()}
    return f"{ko.format(**in_ko)} / {en.format(**in_en)}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a master file: where (line, column) and why (Korean / English)."""

    line: int | None
    column: str | None
    why: str

    def where(self, path: Path) -> str:
        parts = [str(path)]
        if self.line is not None:
            parts.append(master_text("at_line", line=self.line))
        if self.column:
            parts.append(master_text("at_column", column=self.column))
        return ", ".join(parts)


class MasterFileError(ValueError):
    """A master file was refused: every problem with file, line, column and why. Nothing of
    the file is written (all or nothing)."""

    def __init__(self, path: Path | str, problems: list[Problem]):
        self.path = Path(path)
        self.problems = problems
        lines = [f"{p.where(self.path)}: {p.why}" for p in problems[:MAX_SHOWN]]
        if len(problems) > MAX_SHOWN:
            lines.append(master_text("more_problems", n=len(problems) - MAX_SHOWN))
        lines.append(master_text("nothing_written"))
        super().__init__("\n".join(lines))


# -- reading cells ------------------------------------------------------------------------------
@dataclass
class Table:
    """The rows of a master file: header, its line, and (line, cells) of each data row."""

    path: Path
    header: list[str]
    header_line: int
    rows: list[tuple[int, list]]
    encoding: str | None = None
    sheet: str | None = None


def _raw_rows(path: Path, sheet: str | None) -> tuple[list[tuple[int, list]], str | None, str | None]:
    """Every non-blank row of the file as (line, cells); the CSV encoding or the Excel sheet."""
    if not path.is_file():
        raise MasterFileError(path, [Problem(None, None, master_text("no_such_file"))])
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise MasterFileError(path, [Problem(None, None, master_text("old_xls"))])
    if suffix in EXCEL_SUFFIXES:
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises many kinds for a broken or non-Excel file
            why = master_text("not_excel", why=f"{type(e).__name__}: {e}")
            raise MasterFileError(path, [Problem(None, None, why)]) from None
        try:
            if sheet is not None and sheet not in wb.sheetnames:
                why = master_text("no_sheet", sheet=sheet, sheets=", ".join(wb.sheetnames))
                raise MasterFileError(path, [Problem(None, None, why)])
            ws = wb[sheet] if sheet else wb.worksheets[0]
            rows = [
                (i, list(cells))
                for i, cells in enumerate(ws.iter_rows(values_only=True), start=1)
                if any(c is not None and str(c).strip() for c in cells)
            ]
            return rows, None, ws.title
        finally:
            wb.close()
    encoding = detect_encoding(path)
    if encoding == "ascii":
        encoding = "utf-8"
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        why = master_text("bad_encoding", encoding=encoding, why=str(e))
        raise MasterFileError(path, [Problem(None, None, why)]) from None
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    delimiter = sniff_delimiter(next((ln for ln in lines if ln.strip()), ""))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, start = [], 1
    for cells in reader:
        if any(c.strip() for c in cells):
            rows.append((start, cells))
        start = reader.line_num + 1
    return rows, encoding, None


def _split_header(name: str) -> tuple[str, str | None]:
    """("사이클타임", "초") from "사이클타임(초)", "CT [s]" or "CT, s"; the unit is None when
    the header carries none."""
    m = re.match(r"^(.*?)\s*[(\[]\s*([^)\]]+?)\s*[)\]]\s*$", name)
    if m and m.group(1).strip():
        return m.group(1).strip(), m.group(2)
    return name, None


def _role_of(header: str, words: dict[str, frozenset[str]]) -> tuple[str | None, str | None]:
    """(role, unit in the header) of one column name; role None when no word fits."""
    base, unit = _split_header(header)
    key = norm(base)
    for role, names in words.items():
        if key in names:
            return role, unit
    if unit is None:  # "사이클타임_초", "cycle_time_s": a unit glued to a known name
        for u in sorted({*TIME_UNITS, *RATE_UNITS}, key=len, reverse=True):
            if key.endswith(u) and len(key) > len(u):
                for role, names in words.items():
                    if key[: -len(u)] in names and role in ("cycle_time", "rate"):
                        return role, u
    return None, None


@dataclass
class Columns:
    """Which column holds which role (index), and the unit a header carries."""

    index: dict[str, int] = field(default_factory=dict)
    header_units: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # role -> the column's name in the file


def _columns(header: list[str], words: dict[str, frozenset[str]]) -> Columns:
    cols = Columns()
    for i, h in enumerate(header):
        role, unit = _role_of(h, words) if h else (None, None)
        if role is None or role in cols.index:
            continue
        cols.index[role] = i
        cols.names[role] = h
        if unit is not None:
            cols.header_units[role] = unit
    return cols


def _table(
    path: Path,
    sheet: str | None,
    words: dict[str, frozenset[str]],
    required: tuple[str, ...],
    what: tuple[str, str],
) -> tuple[Table, Columns]:
    """The header row (the first of the first rows that names every `required` role, else any
    of them) and the data rows below it; MasterFileError naming the columns found."""
    rows, encoding, sheet_name = _raw_rows(path, sheet)
    if not rows:
        raise MasterFileError(path, [Problem(None, None, master_text("empty_file"))])
    best = None
    closest: tuple[int, int, list[str], Columns] | None = None  # the row naming most roles
    for k, (line, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        header = ["" if c is None else str(c).replace("\ufeff", "").strip() for c in cells]
        cols = _columns(header, words)
        if all(any(r in cols.index for r in req.split("|")) for req in required):
            best = (k, line, header, cols)
            break
        if closest is None or len(cols.index) > len(closest[3].index):
            closest = (k, line, header, cols)
    if best is None:
        assert closest is not None
        _, line, header, cols = closest
        found = ", ".join(h for h in header if h) or "-"
        missing = [req for req in required if not any(r in cols.index for r in req.split("|"))]
        accepted = "; ".join(" | ".join(_shown_names(words, req)) for req in missing)
        why = master_text("missing_columns", what=what, found=found, accepted=accepted)
        raise MasterFileError(path, [Problem(line, None, why)])
    k, line, header, cols = best
    return Table(path, header, line, rows[k + 1 :], encoding, sheet_name), cols


def _shown_names(words: dict[str, frozenset[str]], req: str) -> list[str]:
    """A few of the names each role of `req` ("cycle_time|rate") is recognised by."""
    return [", ".join(sorted(words[role], key=lambda w: (len(w), w))[:8]) for role in req.split("|")]


def _cell(cells: list, i: int | None):
    if i is None or i >= len(cells):
        return None
    v = cells[i]
    if isinstance(v, str):
        v = v.strip()
        return v or None
    return v


def _text_cell(cells: list, i: int | None) -> str | None:
    v = _cell(cells, i)
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # an Excel number used as a code: 1001.0 -> "1001"
    return str(v).strip() or None


_NUMBER = re.compile(r"^\s*([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|[-+]?\.\d+)\s*(.*?)\s*$")


def _number(value) -> tuple[float, str | None]:
    """(number, unit written after it) of a cell: 45, "45", "1,200", "45초", "1.5 min".
    ValueError when the cell holds no number."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return float(value), None
    m = _NUMBER.match(str(value))
    if not m:
        raise ValueError(value)
    return float(m.group(1).replace(",", "")), (m.group(2) or None)


def _known_units() -> str:
    return ", ".join(UNITS_SHOWN)


def _seconds(value, unit: str | None, is_rate: bool, rate_per_minute: bool) -> float:
    """Seconds per piece from a cycle time in `unit` or a rate; ValueError(why) otherwise."""
    try:
        number, written = _number(value)
    except ValueError:
        raise ValueError(master_text("not_a_number", value=value)) from None
    u = norm(written or unit or "")
    if not math.isfinite(number) or number <= 0:
        raise ValueError(master_text("not_positive", value=value))
    if u in RATE_UNITS or (is_rate and u == ""):
        per_second = RATE_UNITS.get(u, 1 / 60 if rate_per_minute else 1 / 3600)
        return 1.0 / (number * per_second)
    if u in TIME_UNITS or u == "":
        if is_rate:
            raise ValueError(master_text("unknown_unit", unit=written or unit, known=_known_units()))
        return number * TIME_UNITS.get(u, 1.0)
    raise ValueError(master_text("unknown_unit", unit=written or unit, known=_known_units()))


def _is_unit(value: str | None) -> bool:
    u = norm(value or "")
    return u in TIME_UNITS or u in RATE_UNITS


# -- products ------------------------------------------------------------------------------------
@dataclass
class MasterRead:
    """What a reader found: the items and notes for the person (Korean / English)."""

    items: list
    notes: list[str] = field(default_factory=list)
    table: Table | None = None


def read_products(path: Path | str, *, sheet: str | None = None) -> list[Product]:
    """The products of a product master file (see the module docstring); MasterFileError when
    any row is bad."""
    return read_products_report(path, sheet=sheet).items


def read_products_report(path: Path | str, *, sheet: str | None = None) -> MasterRead:
    """`read_products` with notes on how the file was read (columns, units assumed)."""
    path = Path(path)
    table, cols = _table(
        path, sheet, PRODUCT_COLUMNS, ("product", "cycle_time|rate"), MASTER.pair("what_products")
    )
    idx = cols.index
    problems: list[Problem] = []
    notes = [_columns_note(table, cols)]
    # a unit column is the cycle time's unit when the header gives none; else the counting unit
    time_unit_col = "unit" in idx and not any(r in cols.header_units for r in ("cycle_time", "rate"))
    if time_unit_col:
        values = [_text_cell(c, idx["unit"]) for _, c in table.rows]
        if values and not any(_is_unit(v) for v in values if v):  # EA, pcs: a counting unit
            time_unit_col = False
    if "cycle_time" in idx and "cycle_time" not in cols.header_units and not time_unit_col:
        notes.append(master_text("assumed_seconds", column=cols.names["cycle_time"]))
    products: dict[str, tuple[int, Product]] = {}
    for line, cells in table.rows:
        code = _text_cell(cells, idx["product"])
        if code is None:
            problems.append(Problem(line, cols.names["product"], master_text("missing_value")))
            continue
        row_unit = _text_cell(cells, idx.get("unit")) if time_unit_col else None
        ct_cell = _cell(cells, idx.get("cycle_time"))
        rate_cell = _cell(cells, idx.get("rate"))
        if ct_cell is not None:
            role, value = "cycle_time", ct_cell
        elif rate_cell is not None:
            role, value = "rate", rate_cell
        else:
            names = " / ".join(cols.names[r] for r in ("cycle_time", "rate") if r in cols.names)
            problems.append(Problem(line, names, master_text("no_cycle_time", product=code)))
            continue
        unit = row_unit or cols.header_units.get(role)
        if role == "rate" and not row_unit and norm(unit or "") not in RATE_UNITS:
            unit = None  # "시간당 생산량(개)", "UPH (EA)": the header names the counting unit
        if row_unit is not None and cols.names.get("unit"):
            column = f"{cols.names[role]}, {cols.names['unit']}"
        else:
            column = cols.names[role]
        try:
            seconds = _seconds(
                value,
                unit,
                is_rate=role == "rate",
                rate_per_minute=norm(_split_header(cols.names[role])[0]) in PER_MINUTE_RATE_NAMES,
            )
        except ValueError as e:
            problems.append(Problem(line, column, str(e)))
            continue
        count_unit = _text_cell(cells, idx.get("unit")) if "unit" in idx and not time_unit_col else None
        try:
            product = Product(
                product=code,
                ideal_cycle_time_s=round(seconds, 6),
                display_name=_text_cell(cells, idx.get("name")),
                unit=count_unit,
            )
        except ValidationError as e:
            problems.append(Problem(line, cols.names["product"], _pydantic_why(e)))
            continue
        if code in products:
            first_line, first = products[code]
            if not math.isclose(first.ideal_cycle_time_s, product.ideal_cycle_time_s, rel_tol=1e-9):
                why = master_text(
                    "duplicate_product",
                    product=code,
                    first=f"{first.ideal_cycle_time_s:g}",
                    line=first_line,
                    second=f"{product.ideal_cycle_time_s:g}",
                )
                problems.append(Problem(line, cols.names["product"], why))
            continue
        products[code] = (line, product)
    if problems:
        raise MasterFileError(path, problems)
    if not products:
        raise MasterFileError(path, [Problem(table.header_line, None, master_text("no_rows"))])
    return MasterRead([p for _, p in products.values()], notes, table)


def _columns_note(table: Table, cols: Columns) -> str:
    where = f"{table.sheet}, " if table.sheet else (f"{table.encoding}, " if table.encoding else "")
    shown = ", ".join(f"{name} → {role}" for role, name in cols.names.items())
    return master_text("columns_read", where=where, line=table.header_line, columns=shown)


def _pydantic_why(e: ValidationError) -> str:
    why = "; ".join(str(x["msg"]).removeprefix("Value error, ") for x in e.errors())
    return master_text("invalid_row", why=why)


# -- machines ------------------------------------------------------------------------------------
_SLUG_BAD = re.compile(r"[\s/+#\x00]+")


def slug(name: str) -> str:
    """A path level from a name in a file: no spaces or / + #, ASCII in lower case."""
    s = _SLUG_BAD.sub("-", str(name).strip()).strip("-")
    return (s.lower() if s.isascii() else s) or "x"


def check_prefix(prefix: str) -> str:
    """'enterprise/site' of new machine paths; ValueError saying why when it is not two levels."""
    parts = prefix.strip().strip("/").split("/")
    if len(parts) != 2:
        raise ValueError(master_text("bad_prefix", prefix=prefix))
    parse_machine_path("/".join([*parts, "a", "l", "m"]))
    return "/".join(parts)


def default_prefix(machines: Iterable[Machine]) -> str:
    """The enterprise/site most machines of a store have, else DEFAULT_PREFIX."""
    counts: dict[str, int] = {}
    for m in machines:
        p = "/".join(m.path.split("/")[:2])
        counts[p] = counts.get(p, 0) + 1
    return max(counts, key=lambda p: counts[p]) if counts else DEFAULT_PREFIX


def read_machines(
    path: Path | str,
    *,
    prefix: str | None = None,
    known: Iterable[Machine] = (),
    sheet: str | None = None,
) -> list[Machine]:
    """The machines of a machine master file (see the module docstring). `known`: machines the
    store has (a code naming one keeps its path; their enterprise/site is the default prefix)."""
    return read_machines_report(path, prefix=prefix, known=known, sheet=sheet).items


def read_machines_report(
    path: Path | str,
    *,
    prefix: str | None = None,
    known: Iterable[Machine] = (),
    sheet: str | None = None,
) -> MasterRead:
    """`read_machines` with notes on how the file was read and the paths given."""
    path = Path(path)
    known = list(known)
    prefix = check_prefix(prefix) if prefix else default_prefix(known)
    by_name: dict[str, str] = {}
    for m in known:
        by_name.setdefault(m.path.rsplit("/", 1)[-1], m.path)
        if m.display_name:
            by_name.setdefault(m.display_name, m.path)
    table, cols = _table(path, sheet, MACHINE_COLUMNS, ("machine",), MASTER.pair("what_machines"))
    idx = cols.index
    notes = [_columns_note(table, cols)]
    problems: list[Problem] = []
    machines: dict[str, tuple[int, Machine]] = {}
    made: list[str] = []
    for line, cells in table.rows:
        code = _text_cell(cells, idx["machine"])
        if code is None:
            problems.append(Problem(line, cols.names["machine"], master_text("missing_value")))
            continue
        name = _text_cell(cells, idx.get("name"))
        try:
            parse_machine_path(code)
            machine_path = code
        except ValueError:
            if "/" in code:
                why = master_text("bad_path", value=code)
                problems.append(Problem(line, cols.names["machine"], why))
                continue
            machine_path = (
                by_name.get(code) or by_name.get(slug(code)) or (by_name.get(name) if name else None) or ""
            )
            if not machine_path:
                area = _text_cell(cells, idx.get("area")) or "area-1"
                line_name = _text_cell(cells, idx.get("line")) or "line-1"
                machine_path = "/".join([prefix, slug(area), slug(line_name), slug(code)])
                made.append(f"{code} → {machine_path}")
        tz = _text_cell(cells, idx.get("timezone"))
        if tz is not None:
            try:
                check_timezone(tz)
            except ValueError:
                problems.append(
                    Problem(line, cols.names["timezone"], master_text("unknown_timezone", value=tz))
                )
                continue
        ct = None
        ct_cell = _cell(cells, idx.get("cycle_time"))
        if ct_cell is not None:
            unit = _text_cell(cells, idx.get("unit")) or cols.header_units.get("cycle_time")
            try:
                ct = round(_seconds(ct_cell, unit, is_rate=False, rate_per_minute=False), 6)
            except ValueError as e:
                problems.append(Problem(line, cols.names["cycle_time"], str(e)))
                continue
        try:
            machine = Machine(
                path=machine_path,
                display_name=name,
                kind=_text_cell(cells, idx.get("kind")),
                calendar=_text_cell(cells, idx.get("calendar")),
                timezone=tz,
                default_ideal_cycle_time_s=ct,
            )
        except ValidationError as e:
            problems.append(Problem(line, cols.names["machine"], _pydantic_why(e)))
            continue
        if machine.path in machines:
            first_line, first = machines[machine.path]
            if first != machine:
                why = master_text("duplicate_machine", path=machine.path, line=first_line)
                problems.append(Problem(line, cols.names["machine"], why))
            continue
        machines[machine.path] = (line, machine)
    if problems:
        raise MasterFileError(path, problems)
    if not machines:
        raise MasterFileError(path, [Problem(table.header_line, None, master_text("no_rows"))])
    if made:
        notes.append(master_text("paths_made", n=len(made), prefix=prefix, shown=", ".join(made[:3])))
    return MasterRead([m for _, m in machines.values()], notes, table)


# -- calendars -----------------------------------------------------------------------------------
def read_calendars(
    path: Path | str, *, timezone: str | None = None, sheet: str | None = None
) -> list[ShiftCalendar]:
    """The shift calendars of a CSV/Excel file (one row per shift) or a TOML file of
    `[[calendars]]`. `timezone`: of calendars that name none (default Asia/Seoul)."""
    path = Path(path)
    if path.suffix.lower() == ".toml":
        return _calendars_toml(path, timezone)
    table, cols = _table(
        path, sheet, CALENDAR_COLUMNS, ("shift", "start", "end"), MASTER.pair("what_calendars")
    )
    idx = cols.index
    problems: list[Problem] = []
    found: dict[str, dict] = {}
    for line, cells in table.rows:
        name = _text_cell(cells, idx.get("calendar")) or "default"
        cal = found.setdefault(name, {"shifts": [], "holidays": set(), "timezone": None, "line": line})
        try:
            shift = Shift(
                name=_required(cells, idx["shift"], cols.names["shift"]),
                start=_time_of(
                    _required(cells, idx["start"], cols.names["start"], raw=True), cols.names["start"]
                ),
                end=_time_of(_required(cells, idx["end"], cols.names["end"], raw=True), cols.names["end"]),
                days=_days(_cell(cells, idx.get("days")), cols.names.get("days")),
                breaks=_breaks(_cell(cells, idx.get("breaks")), cols.names.get("breaks")),
            )
            tz = _text_cell(cells, idx.get("timezone"))
            if tz is not None:
                try:
                    check_timezone(tz)
                except ValueError:
                    raise _CellError(
                        cols.names["timezone"], master_text("unknown_timezone", value=tz)
                    ) from None
                if cal["timezone"] not in (None, tz):
                    why = master_text("two_timezones", calendar=name, first=cal["timezone"], second=tz)
                    raise _CellError(cols.names["timezone"], why)
                cal["timezone"] = tz
            cal["holidays"] |= _holidays(_cell(cells, idx.get("holidays")), cols.names.get("holidays"))
        except _CellError as e:
            problems.append(Problem(line, e.column, e.why))
            continue
        except ValidationError as e:
            problems.append(Problem(line, cols.names["shift"], _pydantic_why(e)))
            continue
        cal["shifts"].append(shift)
    calendars: list[ShiftCalendar] = []
    if not problems:
        for name, cal in found.items():
            try:
                calendars.append(
                    ShiftCalendar(
                        name=name,
                        timezone=cal["timezone"] or timezone or "Asia/Seoul",
                        shifts=tuple(cal["shifts"]),
                        holidays=tuple(sorted(cal["holidays"])),
                    )
                )
            except ValidationError as e:
                column = cols.names.get("calendar")
                problems.append(Problem(cal["line"], column, f"{name}: {_pydantic_why(e)}"))
    if problems:
        raise MasterFileError(path, problems)
    if not calendars:
        raise MasterFileError(path, [Problem(table.header_line, None, master_text("no_rows"))])
    return calendars


class _CellError(ValueError):
    def __init__(self, column: str | None, why: str):
        super().__init__(why)
        self.column, self.why = column, why


def _required(cells: list, i: int, column: str, raw: bool = False):
    v = _cell(cells, i) if raw else _text_cell(cells, i)
    if v is None:
        raise _CellError(column, master_text("missing_value"))
    return v


def _time_of(value, column: str) -> time:
    if isinstance(value, datetime):
        return value.time()
    if isinstance(value, time):
        return value
    if isinstance(value, float | int) and 0 <= value < 1:  # an Excel time of day (fraction of a day)
        seconds = round(value * 86400)
        return time(seconds // 3600, seconds // 60 % 60, seconds % 60)
    m = re.match(r"^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?$", str(value).strip())
    if m and (m.group(2) or len(m.group(1)) <= 2):
        h, mi, s = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
        if h == 24 and mi == 0 and s == 0:
            return time(0)
        if h < 24 and mi < 60 and s < 60:
            return time(h, mi, s)
    raise _CellError(column, master_text("not_a_time", value=value))


def _days(value, column: str | None) -> tuple[str, ...]:
    if value is None:
        return ("mon", "tue", "wed", "thu", "fri")
    text = str(value).strip()
    if norm(text) in DAY_SETS:
        return DAY_SETS[norm(text)]
    out: list[str] = []
    for part in re.split(r"[,;/\s]+", text):
        if not part:
            continue
        rng = re.split(r"[-~]", part)
        if len(rng) == 2 and all(norm(r) in WEEKDAY_NAMES for r in rng):
            a, b = (WEEKDAYS.index(WEEKDAY_NAMES[norm(r)]) for r in rng)
            out += [WEEKDAYS[(a + k) % 7] for k in range((b - a) % 7 + 1)]
        elif norm(part) in WEEKDAY_NAMES:
            out.append(WEEKDAY_NAMES[norm(part)])
        elif all(ch in WEEKDAY_NAMES and len(ch) == 1 for ch in part):  # Korean days written together
            out += [WEEKDAY_NAMES[ch] for ch in part]
        else:
            raise _CellError(column, master_text("bad_days", value=value))
    return tuple(dict.fromkeys(out))


def _breaks(value, column: str | None) -> tuple[PlannedBreak, ...]:
    """ "12:00-13:00; 15:00-15:10" or "점심 12:00-13:00, tea 15:00-15:10"."""
    if value is None:
        return ()
    out = []
    for k, part in enumerate(p for p in re.split(r"[;,\n]+", str(value)) if p.strip()):
        m = re.match(r"^\s*(.*?)\s*(\d{1,2}:\d{2})\s*[-~]\s*(\d{1,2}:\d{2})\s*$", part)
        if not m:
            raise _CellError(column, master_text("bad_break", value=part.strip()))
        out.append(
            PlannedBreak(
                name=m.group(1) or f"break-{k + 1}",
                start=_time_of(m.group(2), column or ""),
                end=_time_of(m.group(3), column or ""),
            )
        )
    return tuple(out)


def _holidays(value, column: str | None) -> set[date]:
    if value is None:
        return set()
    if isinstance(value, datetime):
        return {value.date()}
    if isinstance(value, date):
        return {value}
    out = set()
    for part in re.split(r"[,;\s]+", str(value)):
        if not part:
            continue
        try:
            out.add(date.fromisoformat(part.replace(".", "-").replace("/", "-")))
        except ValueError:
            raise _CellError(column, master_text("bad_date", value=part)) from None
    return out


def _calendars_toml(path: Path, timezone: str | None) -> list[ShiftCalendar]:
    if not path.is_file():
        raise MasterFileError(path, [Problem(None, None, master_text("no_such_file"))])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        m = re.search(r"line (\d+)", str(e))
        raise MasterFileError(
            path, [Problem(int(m.group(1)) if m else None, None, master_text("bad_toml", why=str(e)))]
        ) from None
    items = data.get("calendars")
    if not isinstance(items, list) or not items:
        raise MasterFileError(path, [Problem(None, "calendars", master_text("toml_no_calendars"))])
    problems: list[Problem] = []
    out: list[ShiftCalendar] = []
    for k, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(Problem(None, f"calendars[{k}]", master_text("toml_no_calendars")))
            continue
        if timezone and "timezone" not in item:
            item = {**item, "timezone": timezone}
        try:
            out.append(ShiftCalendar.model_validate(item))
        except ValidationError as e:
            for x in e.errors():
                loc = ".".join(str(p) for p in x["loc"])
                why = str(x["msg"]).removeprefix("Value error, ")
                problems.append(
                    Problem(
                        None,
                        f"calendars[{k}].{loc}" if loc else f"calendars[{k}]",
                        master_text("invalid_row", why=why),
                    )
                )
    if problems:
        raise MasterFileError(path, problems)
    return out
