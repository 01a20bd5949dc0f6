"""Reading CSV and Excel files row by row with the line numbers a person sees in an editor.

CSV: the encoding is detected (UTF-8 with or without BOM, else CP949, which covers EUC-KR)
unless the mapping gives one; bytes that are not valid in it are kept (surrogate escapes) so
that the row is rejected and written back to the rejects file byte for byte. The delimiter
is sniffed from the header line among `,`, `;` and tab. Excel (.xlsx, .xlsm): openpyxl in
read-only mode, cells as Python values (datetimes, numbers, text).

Lines count from 1 and the header is on `header_row` (1 by default); a CSV row that runs
over several lines (a quoted line break) is numbered by its first line. Blank rows are not
data and are skipped.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..i18n import Catalog
from .files_mapping import FileMapping, importer_text

COLLECT = Catalog("collect")


def collect_text(key: str, **values) -> str:
    """A text of the `collect` catalog in both languages ("Korean / English"), `{name}` fields filled."""
    text = COLLECT.both(key, " / ")
    return text.format(**values) if values else text


def collect_text_english_first(key: str, **values) -> str:
    """`collect_text` with English first (the few texts that always read so)."""
    return " / ".join(COLLECT.pair(key)[::-1]).format(**values)


EXCEL_SUFFIXES = (".xlsx", ".xlsm")
SAMPLE = 1 << 20
HEAD_BYTES = 1 << 16
BOM = codecs.BOM_UTF8

csv.field_size_limit(1 << 26)


class FileReadError(ValueError):
    """The data file cannot be read at all (missing, wrong format, no header)."""


@dataclass
class Chunk:
    """Consecutive data rows: their first line numbers and their cells."""

    lines: list[int]
    rows: list[list]
    end_lines: list[int]  # last physical line of each row (differs for quoted line breaks)
    position: int  # bytes (CSV) or rows (Excel) read so far, for progress
    problems: dict[int, str] = field(default_factory=dict)  # row position -> why it is unreadable


@dataclass
class Source:
    """An opened data file: its kind, encoding, delimiter and header."""

    path: Path
    kind: str  # "csv" or "excel"
    header: list[str]
    header_row: int
    encoding: str | None = None  # CSV: codec used to read (and to write the rejects file)
    delimiter: str = ","
    preamble: list[list] = field(default_factory=list)  # rows above the header
    sheet: str | None = None
    total: int | None = None  # bytes (CSV) or rows (Excel)
    rejects_encoding: str = "utf-8-sig"  # the input's encoding; UTF-8 with BOM for Excel and ASCII

    @property
    def unit(self) -> str:
        return "bytes" if self.kind == "csv" else "rows"


def fingerprint(path: Path) -> dict:
    """What identifies a file's content cheaply: size, mtime and a hash of its first block."""
    st = path.stat()
    with path.open("rb") as f:
        head = hashlib.sha256(f.read(HEAD_BYTES)).hexdigest()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_sha256": head}


def detect_encoding(path: Path) -> str:
    """utf-8-sig when the file starts with a BOM; utf-8 when its first non-ASCII bytes are
    valid UTF-8; otherwise cp949 (a superset of EUC-KR); "ascii" when every byte is ASCII."""
    with path.open("rb") as f:
        block = f.read(SAMPLE)
        if block.startswith(BOM):
            return "utf-8-sig"
        while block:
            if not block.isascii():
                try:
                    codecs.getincrementaldecoder("utf-8")().decode(block, final=False)
                except UnicodeDecodeError:
                    return "cp949"
                return "utf-8"
            block = f.read(SAMPLE)
    return "ascii"


def sniff_delimiter(line: str) -> str:
    """The most frequent of , ; tab outside quotes in the header line (comma on a tie)."""
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


_SURROGATE = re.compile("[\udc80-\udcff]")


def _clean_header(cells: list) -> list[str]:
    return ["" if c is None else str(c).replace("\ufeff", "").strip() for c in cells]


def open_source(path: Path, mapping: FileMapping) -> Source:
    """Open a data file, detect what must be detected and read the header."""
    if not path.is_file():
        raise FileReadError(f"{path}: {collect_text('no_such_file')}")
    if path.suffix.lower() == ".xls":
        raise FileReadError(f"{path}: {collect_text_english_first('old_xls')}")
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return _open_excel(path, mapping)
    encoding = detect_encoding(path) if mapping.encoding == "auto" else mapping.encoding
    rejects_encoding = encoding
    if encoding == "ascii":  # any ASCII-compatible codec reads it; the rejects file holds Korean
        encoding, rejects_encoding = "utf-8", "utf-8-sig"  # reasons: with a BOM Excel shows them
    src = Source(path, "csv", [], mapping.header_row, encoding=encoding, total=path.stat().st_size)
    src.rejects_encoding = rejects_encoding
    with _text(path, encoding) as text:
        first = text.readline()
        src.delimiter = sniff_delimiter(first) if mapping.delimiter == "auto" else mapping.delimiter
        text.seek(0)
        reader = csv.reader(text, delimiter=src.delimiter)
        for cells in reader:
            if reader.line_num >= mapping.header_row:
                src.header = _clean_header(cells)
                break
            src.preamble.append(cells)
    if not any(src.header):
        raise FileReadError(
            f"{path}: {collect_text_english_first('no_header_line', line=mapping.header_row)}"
        )
    return src


def _text(path: Path, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(path.open("rb"), encoding=encoding, errors="surrogateescape", newline="")


def _open_excel(path: Path, mapping: FileMapping) -> Source:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many kinds for a broken or non-Excel file
        raise FileReadError(f"{path}: not a readable Excel file ({type(e).__name__}: {e})") from None
    try:
        if mapping.sheet is not None and mapping.sheet not in wb.sheetnames:
            raise FileReadError(f"{path}: no sheet {mapping.sheet!r} (sheets: {', '.join(wb.sheetnames)})")
        ws = wb[mapping.sheet] if mapping.sheet else wb.worksheets[0]
        # the sheet's <dimension ref> may be stale (some writers never update it): read-only
        # openpyxl would stop at it, so every row is read, and the row count is a hint only
        src = Source(path, "excel", [], mapping.header_row, sheet=ws.title, total=ws.max_row)
        ws.reset_dimensions()
        for i, cells in enumerate(ws.iter_rows(max_row=mapping.header_row, values_only=True), start=1):
            if i == mapping.header_row:
                src.header = _clean_header(list(cells))
            else:
                src.preamble.append(["" if c is None else c for c in cells])
    finally:
        wb.close()
    while src.header and not src.header[-1]:
        src.header.pop()
    if not any(src.header):
        raise FileReadError(f"{path}: {collect_text_english_first('no_header_row', row=mapping.header_row)}")
    return src


def read_chunks(src: Source, after_line: int, chunk_rows: int) -> Iterator[Chunk]:
    """Data rows below the header in chunks, skipping rows whose first line is <= after_line."""
    if src.kind == "csv":
        yield from _csv_chunks(src, after_line, chunk_rows)
        return
    chunk = Chunk([], [], [], 0)
    for line, cells in _excel_rows(src):
        if line <= after_line:
            continue
        chunk.lines.append(line)
        chunk.end_lines.append(line)
        chunk.rows.append(cells)
        if len(chunk.rows) >= chunk_rows:
            chunk.position = line
            yield chunk
            chunk = Chunk([], [], [], 0)
    chunk.position = src.total or 0
    if chunk.rows:
        yield chunk


_UNDECODABLE = [0]  # bytes not valid in the encoding seen so far (by every reader)


def _note_undecodable(e: UnicodeError):
    _UNDECODABLE[0] += 1
    return codecs.lookup_error("surrogateescape")(e)


codecs.register_error("fc_note_undecodable", _note_undecodable)


def _csv_chunks(src: Source, after_line: int, chunk_rows: int) -> Iterator[Chunk]:
    """The CSV reader loop: line numbers from the reader, blank lines skipped, rows with
    undecodable bytes (kept as surrogate escapes) or CSV errors marked as problems.

    The loop only collects cells and end lines; where each row starts, which rows are blank
    and which were committed before (resume) are worked out per chunk.
    """
    assert src.encoding is not None
    raw = src.path.open("rb")
    text = io.TextIOWrapper(raw, encoding=src.encoding, errors="fc_note_undecodable", newline="")
    skip_to = max(after_line, src.header_row)
    previous = 0  # last line of the record before this chunk
    seen = _UNDECODABLE[0]
    try:
        reader = csv.reader(text, delimiter=src.delimiter)
        for _ in reader:  # the header and the lines above it
            if reader.line_num >= src.header_row:
                break
        previous = reader.line_num
        done = False
        while not done:
            rows: list[list] = []
            ends: list[int] = []
            errors: dict[int, str] = {}
            add_row, add_end = rows.append, ends.append
            while True:
                try:
                    for cells in reader:
                        add_row(cells)
                        add_end(reader.line_num)
                        if len(rows) >= chunk_rows:
                            break
                    else:
                        done = True
                    break
                except csv.Error as e:  # rare (a field over the size limit): keep the place
                    errors[len(rows)] = collect_text("bad_csv_row", why=e)
                    add_row([])
                    add_end(reader.line_num)
            # the decoder reads ahead: once a bad byte was met, every later chunk is searched
            chunk = _csv_chunk(src, rows, ends, previous, skip_to, errors, _UNDECODABLE[0] != seen)
            previous = ends[-1] if ends else previous
            chunk.position = raw.tell() if not done else (src.total or 0)
            if chunk.rows:
                yield chunk
    finally:
        text.close()


def _csv_chunk(
    src: Source, rows: list, ends: list, previous: int, skip_to: int, errors: dict, undecodable: bool
) -> Chunk:
    starts = [previous + 1, *(e + 1 for e in ends[:-1])]
    keep = [
        i
        for i, r in enumerate(rows)
        if starts[i] > skip_to and (i in errors or (r and (r[0].strip() or any(c.strip() for c in r))))
    ]
    if len(keep) != len(rows):
        rows = [rows[i] for i in keep]
        chunk = Chunk([starts[i] for i in keep], rows, [ends[i] for i in keep], 0)
        errors = {j: errors[i] for j, i in enumerate(keep) if i in errors}
    else:
        chunk = Chunk(starts, rows, ends, 0)
    chunk.problems.update(errors)
    for i, cells in enumerate(rows):  # a NUL cannot be stored (PostgreSQL refuses it in text)
        if i not in chunk.problems and "\x00" in "".join(cells):
            chunk.problems[i] = importer_text("reject_nul")
    if undecodable:
        for i, cells in enumerate(rows):
            if i not in chunk.problems and any(_SURROGATE.search(c) for c in cells):
                chunk.problems[i] = collect_text("bad_bytes", encoding=src.encoding)
    return chunk


def _excel_rows(src: Source) -> Iterator[tuple[int, list]]:
    import openpyxl

    wb = openpyxl.load_workbook(src.path, read_only=True, data_only=True)
    try:
        ws = wb[src.sheet] if src.sheet else wb.worksheets[0]
        ws.reset_dimensions()  # read to the last row, not to a stale <dimension ref>
        start = src.header_row + 1
        for i, cells in enumerate(ws.iter_rows(min_row=start, values_only=True), start=start):
            values = list(cells)
            while values and (values[-1] is None or values[-1] == ""):
                values.pop()
            if not any(v is not None and (not isinstance(v, str) or v.strip()) for v in values):
                continue
            yield i, values
    finally:
        wb.close()


def rejects_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.csv")


LINE_HEADER = COLLECT.both("rejects_line", " ")
WHY_HEADER = COLLECT.both("rejects_why", " / ")


class RejectsWriter:
    """Appends rejected rows to `<file>.rejects.csv` in the input's encoding and delimiter.

    Columns: the line number, why, then the row's cells as they were, under the input's
    header (the rows above the header too), so that the file can be fixed in a spreadsheet
    and imported again with the same mapping. The file is created at the first rejected row;
    `truncate_to` cuts it back to what a resumed import had committed.
    """

    def __init__(self, src: Source, truncate_to: int | None = None):
        self.src = src
        self.path = rejects_path(src.path)
        self.encoding = src.rejects_encoding
        if self.encoding.lower().replace("_", "-") == "utf-8-sig":
            self.encoding, self.bom = "utf-8", True
        else:
            self.bom = False
        self.rows = 0
        if truncate_to:
            with self.path.open("r+b") as f:
                f.truncate(truncate_to)
            self.size = truncate_to
        else:
            self.path.unlink(missing_ok=True)
            self.size = 0

    def write(self, rejected: list[tuple[int, str, list]]) -> None:
        """Append (line, why, cells) rows and flush them to disk."""
        if not rejected:
            return
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=self.src.delimiter, lineterminator="\r\n")
        head = b""
        if self.size == 0:
            head = BOM if self.bom else b""
            for cells in self.src.preamble:
                w.writerow(["", "", *[_cell(c) for c in cells]])
            w.writerow([LINE_HEADER, WHY_HEADER, *[_inert(h) for h in self.src.header]])
        for line, why, cells in rejected:
            w.writerow([line, _inert(why), *[_cell(c) for c in cells]])
        data = head + buf.getvalue().encode(self.encoding, errors=_KEEP_BYTES)
        with self.path.open("ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self.size += len(data)
        self.rows += len(rejected)


def _keep_bytes(e: UnicodeError):
    """Surrogate escapes go back to the bytes they came from; anything else the encoding
    cannot hold (it came from a message, not from the file) becomes '?'."""
    if isinstance(e, UnicodeEncodeError):
        bad = e.object[e.start : e.end]
        if all("\udc80" <= ch <= "\udcff" for ch in bad):
            return bytes(ord(ch) - 0xDC00 for ch in bad), e.end
        return b"?" * len(bad), e.end
    raise e


_KEEP_BYTES = "fc_keep_bytes"
codecs.register_error(_KEEP_BYTES, _keep_bytes)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _inert(str(value))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _inert(text: str) -> str:
    """A cell that a spreadsheet would run as a formula (=, +, -, @ first) gets a leading
    single quote, so opening the rejects file in Excel runs nothing; plain numbers (-5) stay."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text
