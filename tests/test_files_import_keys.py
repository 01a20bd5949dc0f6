"""The importer's newer mapping keys and its plausibility checks (issue 18): unknown keys listed,
a date column beside time-of-day columns, durations, Excel serials, a product column, and the
rows and warnings that data which cannot be right gives."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from factory_commons.collect.files import MappingError, import_file
from factory_commons.collect.files_mapping import FileMapping, parse_mapping
from factory_commons.store import DuckDBStore

SEOUL = ZoneInfo("Asia/Seoul")
CNC = "acme/changwon/cnc/line-1/cnc-03"


def utc(local: str, fmt: str = "%Y-%m-%d %H:%M") -> datetime:
    """A Seoul wall-clock time as naive UTC, as the store returns it."""
    return datetime.strptime(local, fmt).replace(tzinfo=SEOUL).astimezone(UTC).replace(tzinfo=None)


def write_csv(path: Path, rows: list[list], encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list], formats: dict[int, str] | None = None) -> Path:
    """An Excel file with `rows`; `formats` gives a number format per column index."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    for col, fmt in (formats or {}).items():
        for cells in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
            for c in cells:
                c.number_format = fmt
    wb.save(path)
    return path


def rows_of(store, kind: str) -> list[dict]:
    return store.read(kind).to_pylist()


# -- 1. unknown keys are refused with the keys there are -------------------------------------------
@pytest.mark.parametrize(
    ("extra", "where", "listed"),
    [
        ({"datum": "일자"}, "datum", ["shape", "time", "columns"]),
        ({"columns": {"상태": {"kind": "state", "state_code": {}}}}, "columns.상태.state_code", ["state_codes"]),
    ],
)
def test_an_unknown_key_is_refused_with_the_valid_keys(extra, where, listed):
    m = {"shape": "events", "time": "시각", "machine": CNC, "columns": {"상태": {"kind": "state"}}} | extra
    with pytest.raises(MappingError) as e:
        parse_mapping(m, "plant.toml")
    msg = str(e.value)
    assert msg.startswith("plant.toml: ") and f"key '{where}'" in msg
    assert "쓸 수 있는 키" in msg and "valid keys" in msg
    for key in listed:
        assert key in msg.split("valid keys")[1]
    if where.endswith("state_code"):
        assert "did you mean 'state_codes'?" in msg
