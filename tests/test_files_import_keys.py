"""The importer's newer mapping keys and its plausibility checks (issue 18): unknown keys listed,
a date column beside time-of-day columns, durations, Excel serials, a product column, and the
rows and warnings that data which cannot be right gives."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
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
        ({"datum": "일자"}, "datum", ["shape", "time", "date", "duration", "columns"]),
        (
            {"columns": {"상태": {"kind": "state", "state_code": {}}}},
            "columns.상태.state_code",
            ["state_codes"],
        ),
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


# -- 2. a date column beside times of day ------------------------------------------------------------
SHIFT_LOG = [
    ["일자", "시작", "종료", "구분", "사유", "양품", "불량"],
    ["2026-11-23", "08:00", "10:00", "가동", "", "240", "3"],
    ["2026-11-23", "10:00", "10:30", "고장", "스핀들 알람", "", ""],
    ["2026-11-23", "10:30", "17:00", "가동", "", "700", "5"],
    ["2026-11-23", "22:00", "06:00", "가동", "", "900", "0"],  # a night shift: ends the next day
]
STATES = {"가동": "running", "고장": "unplanned_down", "셋업": "setup", "계획정지": "planned_stop"}


def shift_mapping(**extra) -> FileMapping:
    m = {
        "shape": "intervals",
        "date": "일자",
        "start": "시작",
        "end": "종료",
        "machine": CNC,
        "state_after": "planned_stop",
        "columns": {
            "구분": {"kind": "state", "state_codes": STATES},
            "사유": {"kind": "state", "field": "reason_code"},
            "양품": {"kind": "count"},
            "불량": {"kind": "count", "field": "scrap"},
        },
    }
    return parse_mapping(m | extra)


def check_shift_log(store) -> None:
    states = {r["ts"]: (r["state"], r["reason_code"]) for r in rows_of(store, "state")}
    assert states[utc("2026-11-23 08:00")] == ("running", None)
    assert states[utc("2026-11-23 10:00")] == ("unplanned_down", "스핀들 알람")
    assert states[utc("2026-11-23 22:00")] == ("running", None)
    assert states[utc("2026-11-23 17:00")] == ("planned_stop", None)
    assert states[utc("2026-11-24 06:00")] == ("planned_stop", None)
    counts = {r["ts"]: (r["good"], r["scrap"]) for r in rows_of(store, "count")}
    assert counts == {
        utc("2026-11-23 10:00"): (240, 3),
        utc("2026-11-23 17:00"): (700, 5),
        utc("2026-11-24 06:00"): (900, 0),
    }


@pytest.mark.parametrize("time_format", ["auto", "%H:%M"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_date_column_with_start_and_end_times_of_day_csv(tmp_path, encoding, time_format):
    path = write_csv(tmp_path / "log.csv", SHIFT_LOG, encoding)
    store = DuckDBStore()
    s = import_file(path, shift_mapping(time_format=time_format), store)
    assert s.rows_rejected == 0 and s.rows_read == 4, s.first_rejections
    check_shift_log(store)


@pytest.mark.parametrize("time_format", ["auto", "excel"])
def test_date_column_excel_cells_dates_times_and_serials(tmp_path, time_format):
    from datetime import date, time

    rows = [SHIFT_LOG[0]]
    for i, r in enumerate(SHIFT_LOG[1:]):
        d, a, b = r[:3]
        day = date.fromisoformat(d)
        hh, mm = map(int, a.split(":"))
        start = time(hh, mm) if i % 2 else (hh * 60 + mm) / 1440  # a time cell, or a fraction
        end = b  # text beside Excel date cells
        day_cell = datetime(day.year, day.month, day.day) if i < 2 else (day - date(1899, 12, 30)).days
        rows.append([day_cell, start, end, *r[3:5], int(r[5]) if r[5] else None, int(r[6]) if r[6] else None])
    path = write_xlsx(tmp_path / "log.xlsx", rows, {1: "hh:mm"})
    store = DuckDBStore()
    s = import_file(path, shift_mapping(time_format=time_format), store)
    assert s.rows_rejected == 0, s.first_rejections
    check_shift_log(store)


def test_start_timestamp_with_end_time_of_day_and_korean_am_pm(tmp_path):
    path = write_csv(
        tmp_path / "log.csv",
        [
            ["시작", "종료", "구분"],
            ["2026-11-23 08:00", "오전 10:00", "가동"],
            ["2026-11-23 22:00", "6:00 AM", "가동"],
            ["2026/11/24 오후 2:00", "오후 3:30", "고장"],
        ],
        "cp949",
    )
    m = {
        "shape": "intervals",
        "start": "시작",
        "end": "종료",
        "machine": CNC,
        "state_after": "idle",
        "columns": {"구분": {"kind": "state", "state_codes": STATES}},
    }
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    assert s.rows_rejected == 0, s.first_rejections
    states = {r["ts"]: r["state"] for r in rows_of(store, "state")}
    assert states == {
        utc("2026-11-23 08:00"): "running",
        utc("2026-11-23 10:00"): "idle",
        utc("2026-11-23 22:00"): "running",
        utc("2026-11-24 06:00"): "idle",
        utc("2026-11-24 14:00"): "unplanned_down",
        utc("2026-11-24 15:30"): "idle",
    }


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_events_with_a_date_column_and_a_time_column(tmp_path, kind):
    rows = [
        ["날짜", "시각", "상태"],
        ["2026.11.23", "08:00:00", "running"],
        ["2026. 11. 23.", "오후 1:15", "idle"],
        ["2026년 11월 24일", "7:05", "running"],
        ["20261124", "23:59:59", "idle"],
    ]
    path = (
        write_csv(tmp_path / "e.csv", rows, "cp949")
        if kind == "csv"
        else write_xlsx(tmp_path / "e.xlsx", rows)
    )
    m = {
        "shape": "events",
        "date": "날짜",
        "time": "시각",
        "machine": CNC,
        "columns": {"상태": {"kind": "state"}},
    }
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    assert s.rows_rejected == 0, s.first_rejections
    assert [r["ts"] for r in rows_of(store, "state")] == [
        utc("2026-11-23 08:00"),
        utc("2026-11-23 13:15"),
        utc("2026-11-24 07:05"),
        utc("2026-11-24 23:59:59", "%Y-%m-%d %H:%M:%S"),
    ]


def test_date_format_strptime_and_excel(tmp_path):
    path = write_csv(tmp_path / "e.csv", [["d", "t", "s"], ["23/11/2026", "08:00", "running"]])
    m = {"shape": "events", "date": "d", "date_format": "%d/%m/%Y", "time": "t", "machine": CNC}
    m["columns"] = {"s": {"kind": "state"}}
    store = DuckDBStore()
    assert import_file(path, parse_mapping(m), store).rows_rejected == 0
    assert rows_of(store, "state")[0]["ts"] == utc("2026-11-23 08:00")
    path = write_csv(tmp_path / "x.csv", [["d", "t", "s"], ["46349", "0.375", "running"]])
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m | {"date_format": "excel"}), store)
    assert s.rows_rejected == 0, s.first_rejections
    assert rows_of(store, "state")[0]["ts"] == utc("2026-11-23 09:00")
    with pytest.raises(MappingError, match="date_format"):
        parse_mapping(m | {"date_format": "ymd"})


def test_bad_or_missing_dates_reject_the_row_naming_the_date_column(tmp_path):
    path = write_csv(
        tmp_path / "e.csv",
        [
            ["일자", "시각", "상태"],
            ["2026-11-23", "08:00", "running"],
            ["2026-13-45", "09:00", "idle"],  # line 3: not a date
            ["", "10:00", "idle"],  # line 4: no date for a time of day
            ["", "2026-11-23 11:00", "running"],  # a full timestamp needs no date
        ],
    )
    m = {
        "shape": "events",
        "date": "일자",
        "time": "시각",
        "machine": CNC,
        "columns": {"상태": {"kind": "state"}},
    }
    s = import_file(path, parse_mapping(m), DuckDBStore())
    why = {r.line: (r.column, r.why) for r in s.first_rejections}
    assert set(why) == {3, 4} and why[3][0] == why[4][0] == "일자"
    assert "'2026-13-45'" in why[3][1] and "as a date" in why[3][1] and "날짜로" in why[3][1]
    assert "date is missing" in why[4][1]


# -- 6a/6b. times that cannot be right are rejected ------------------------------------------------
@pytest.mark.parametrize("time_format", ["%H:%M", "auto"])
def test_time_of_day_without_a_date_is_rejected_with_the_advice_to_map_date(tmp_path, time_format):
    """Issue 18: `time_format = "%H:%M"` with the date in another column imported every row as
    1900-01-01 with exit 0. Now each row is rejected and the reason names the date column."""
    path = write_csv(tmp_path / "log.csv", SHIFT_LOG[:3], "cp949")
    m = shift_mapping().model_dump(exclude_none=True) | {"time_format": time_format}
    del m["date"]
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    assert s.rows_rejected == 2 and rows_of(store, "state") == [] and rows_of(store, "count") == []
    r = s.first_rejections[0]
    assert r.column == "시작" and 'date = "일자"' in r.why and "날짜" in r.why and "time of day" in r.why


def test_cli_exits_1_for_times_without_a_date(tmp_path):
    from typer.testing import CliRunner

    from factory_commons.cli import app

    path = write_csv(tmp_path / "log.csv", SHIFT_LOG[:4], "cp949")  # day shift only: main gave exit 0
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'shape = "intervals"\nstart = "시작"\nend = "종료"\ntime_format = "%H:%M"\n'
        f'machine = "{CNC}"\n[columns."구분"]\nkind = "state"\n'
        'state_codes = { "가동" = "running", "고장" = "unplanned_down" }\n',
        encoding="utf-8",
    )
    res = CliRunner().invoke(app, ["import", str(path), "-m", str(mapping), "-s", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 1, res.output
    assert 'date = "일자"' in res.output


def test_times_before_1970_or_in_the_future_are_rejected(tmp_path):
    future = (datetime.now(SEOUL) + timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    path = write_csv(
        tmp_path / "e.csv",
        [
            ["시각", "상태"],
            ["2026-11-23 08:00", "running"],
            ["1969-12-31 23:00", "idle"],
            [future, "idle"],
            ["0.5", "idle"],  # an Excel time fraction without a day
        ],
    )
    m = {"shape": "events", "time": "시각", "machine": CNC, "columns": {"상태": {"kind": "state"}}}
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    why = {r.line: r.why for r in s.first_rejections}
    assert set(why) == {3, 4, 5}
    assert "before 1970" in why[3] and "1970년 이전" in why[3]
    assert "future" in why[4] and "미래" in why[4]
    assert "date =" in why[5]
    assert len(rows_of(store, "state")) == 1


# -- 3. durations instead of ends --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("unit", "cells", "minutes"),
    [
        ("min", ["120", "30", "1:30", "01:30:00"], [120, 30, 90, 90]),
        ("h", ["2", "0.5", "1:30", "1.5"], [120, 30, 90, 90]),
        ("s", ["7200", "1800", "0:01:30", "90"], [120, 30, 1.5, 1.5]),
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp949"])
def test_duration_column_instead_of_end(tmp_path, unit, cells, minutes, encoding):
    rows = [["일자", "시작", "시간", "구분", "양품"]]
    starts = ["08:00", "10:00", "23:00", "12:00"]
    for s_, c in zip(starts, cells, strict=True):
        rows.append(["2026-11-23", s_, c, "가동", "10"])
    path = write_csv(tmp_path / "d.csv", rows, encoding)
    m = {
        "shape": "intervals",
        "date": "일자",
        "start": "시작",
        "duration": "시간",
        "duration_unit": unit,
        "machine": CNC,
        "state_after": "planned_stop",
        "columns": {"구분": {"kind": "state", "state_codes": STATES}, "양품": {"kind": "count"}},
    }
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    assert s.rows_rejected == 0, s.first_rejections
    ends = sorted(r["ts"] for r in rows_of(store, "count"))
    expected = sorted(
        utc(f"2026-11-23 {a}") + timedelta(minutes=mins) for a, mins in zip(starts, minutes, strict=True)
    )
    assert ends == expected


def test_duration_excel_cells_and_bad_durations(tmp_path):
    from datetime import time

    rows = [
        ["시작", "길이", "구분"],
        [datetime(2026, 11, 23, 8, 0), time(1, 30), "가동"],  # an h:mm cell
        [datetime(2026, 11, 23, 10, 0), 45, "가동"],
        [datetime(2026, 11, 23, 11, 0), -5, "가동"],  # negative
        [datetime(2026, 11, 23, 12, 0), None, "가동"],  # blank
        [datetime(2026, 11, 23, 13, 0), "한시간", "가동"],  # unreadable
    ]
    path = write_xlsx(tmp_path / "d.xlsx", rows)
    m = {
        "shape": "intervals",
        "start": "시작",
        "duration": "길이",
        "machine": CNC,
        "state_after": "planned_stop",
        "columns": {"구분": {"kind": "state", "state_codes": STATES}},
    }
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    why = {r.line: (r.column, r.why) for r in s.first_rejections}
    assert set(why) == {4, 5, 6} and {c for c, _ in why.values()} == {"길이"}
    assert "negative" in why[4][1] and "음수" in why[4][1]
    assert "missing" in why[5][1]
    assert "'한시간'" in why[6][1] and "h:mm" in why[6][1]
    ends = {r["ts"] for r in rows_of(store, "state") if r["state"] == "planned_stop"}
    assert ends == {utc("2026-11-23 09:30"), utc("2026-11-23 10:45")}


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"end": "b", "duration": "c"}, "not both"),
        ({"duration_unit": "days"}, "duration_unit"),
    ],
)
def test_duration_mapping_errors(extra, why):
    m = {"shape": "intervals", "start": "a", "machine": CNC, "columns": {"s": {"kind": "state"}}} | extra
    with pytest.raises(MappingError, match=why):
        parse_mapping(m)
    with pytest.raises(MappingError, match="belong to shape 'intervals'"):
        parse_mapping(
            {
                "shape": "events",
                "time": "t",
                "duration": "d",
                "machine": CNC,
                "columns": {"s": {"kind": "state"}},
            }
        )


# -- 6c/6d. warnings that name the file, the column and what to change -------------------------------
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_example_shift_log_counts_the_night_as_planned_not_as_idle(tmp_path):
    """Issue 18: `state_after = "idle"` copied from the example counted the hours after the shift
    as idle: availability 0.47 instead of 0.88 for the day. The example now says planned_stop,
    and a mapping that says idle gets a warning naming the file and what to change."""
    import shutil

    from factory_commons.collect.files_mapping import load_mapping
    from factory_commons.kpi import compute_kpis

    path = tmp_path / "shift_intervals.csv"
    shutil.copy(EXAMPLES / "data" / "shift_intervals.csv", path)
    day = (datetime(2026, 11, 23, tzinfo=SEOUL), datetime(2026, 11, 24, tzinfo=SEOUL))
    store = DuckDBStore()
    s = import_file(path, EXAMPLES / "mappings" / "intervals.toml", store)
    availability = compute_kpis(store, *day)["availability"].iloc[0]
    assert availability == pytest.approx(423 / 480)  # run 423 min of 480 planned, lunch and night off
    assert s.warnings == [] and s.as_dict()["warnings"] == []

    fm, _ = load_mapping(EXAMPLES / "mappings" / "intervals.toml")
    idle = parse_mapping(fm.model_dump(mode="json", exclude_none=True) | {"state_after": "idle"})
    store = DuckDBStore()
    s = import_file(path, idle, store, resume=False)
    assert len(s.warnings) == 1 and s.as_dict()["warnings"] == s.warnings
    w = s.warnings[0]
    assert w.startswith("shift_intervals.csv: ") and 'state_after = "planned_stop"' in w
    assert "night after the shift" in w and "밤 시간" in w
    assert compute_kpis(store, *day)["availability"].iloc[0] < 0.6


def test_times_far_from_the_others_give_a_warning_with_an_example_line(tmp_path):
    rows = [["시각", "상태"]] + [[f"2026-11-23 {h:02d}:00", "running"] for h in range(8, 16)]
    rows[4][0] = "2025-11-23 11:00"  # line 5: a typo in the year
    rows[6][0] = "2026-01-23 13:00"
    path = write_csv(tmp_path / "e.csv", rows, "cp949")
    m = {"shape": "events", "time": "시각", "machine": CNC, "columns": {"상태": {"kind": "state"}}}
    s = import_file(path, parse_mapping(m), DuckDBStore())
    assert s.rows_rejected == 0 and s.rows_imported == 8  # imported, but said
    assert len(s.warnings) == 1
    w = s.warnings[0]
    assert w.startswith("e.csv, 열 '시각': 2개 행") and "column '시각': 2 rows" in w
    assert "line 5: '2025-11-23 11:00'" in w and "30" in w and "time_format" in w


def test_cli_prints_the_warnings(tmp_path):
    from typer.testing import CliRunner

    from factory_commons.cli import app

    rows = [["시각", "상태"]] + [[f"2026-11-23 {h:02d}:00", "running"] for h in range(8, 16)]
    rows[4][0] = "2025-11-23 11:00"
    path = write_csv(tmp_path / "e.csv", rows)
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        f'shape = "events"\ntime = "시각"\nmachine = "{CNC}"\n[columns."상태"]\nkind = "state"\n'
    )
    res = CliRunner().invoke(app, ["import", str(path), "-m", str(mapping), "-s", str(tmp_path / "s.duckdb")])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "1 rows are more than 30 days away" in out and "line 5" in out


# -- 5. a product column ---------------------------------------------------------------------------
PRODUCT_LOG = [
    ["일자", "시작", "종료", "구분", "품번", "양품", "불량"],
    ["2026-11-23", "08:00", "10:00", "가동", "BRK-100", "230", "2"],
    ["2026-11-23", "10:00", "10:30", "고장", "BRK-100", "", ""],
    ["2026-11-23", "10:30", "12:00", "가동", "HUB-7", "85", "1"],
]


def product_mapping(**columns) -> FileMapping:
    m = shift_mapping().model_dump(mode="json", exclude_none=True)
    m["columns"] = (
        {k: v for k, v in m["columns"].items() if k != "사유"} | {"품번": {"kind": "product"}} | columns
    )
    return parse_mapping(m)


@pytest.mark.parametrize("kind", ["utf-8", "cp949", "xlsx"])
def test_product_column_gives_orders_and_the_master_gives_performance(tmp_path, kind):
    from factory_commons.kpi import compute_kpis
    from factory_commons.model.master import Product

    if kind == "xlsx":
        rows = [PRODUCT_LOG[0]] + [
            [*r[:5], int(r[5]) if r[5] else None, int(r[6]) if r[6] else None] for r in PRODUCT_LOG[1:]
        ]
        path = write_xlsx(tmp_path / "log.xlsx", rows)
    else:
        path = write_csv(tmp_path / "log.csv", PRODUCT_LOG, kind)
    store = DuckDBStore()
    store.save_products(
        [Product(product="BRK-100", ideal_cycle_time_s=30), Product(product="HUB-7", ideal_cycle_time_s=60)]
    )
    s = import_file(path, product_mapping(), store)
    assert s.rows_rejected == 0, s.first_rejections
    assert s.written["order"] == 2
    orders = {
        r["order_id"]: (r["product"], r["quantity"], r["ideal_cycle_time_s"]) for r in rows_of(store, "order")
    }
    assert orders == {"BRK-100": ("BRK-100", None, None), "HUB-7": ("HUB-7", None, None)}
    assert {r["order_id"] for r in rows_of(store, "state")} >= {"BRK-100", "HUB-7"}
    assert sorted((r["order_id"], r["good"]) for r in rows_of(store, "count")) == [
        ("BRK-100", 230),
        ("HUB-7", 85),
    ]
    k = compute_kpis(store, datetime(2026, 11, 23, 8, tzinfo=SEOUL), datetime(2026, 11, 23, 12, tzinfo=SEOUL))
    # ideal time: 232 x 30 s + 86 x 60 s = 12,120 s over 210 min of running (12,600 s)
    assert k["effectiveness"].iloc[0] == pytest.approx(12_120 / 12_600)
    again = import_file(path, product_mapping(), store)
    assert again.written.get("order", 0) == 0 and again.records_written == 0


def test_product_column_with_an_order_column_keeps_orders_already_given(tmp_path):
    from factory_commons.model.records import ProductionOrder

    rows = [
        [*r[:4], "작업지시", *r[4:]] if i == 0 else [*r[:4], f"WO-{i}" if i != 2 else "", *r[4:]]
        for i, r in enumerate(PRODUCT_LOG)
    ]
    path = write_csv(tmp_path / "log.csv", rows, "cp949")
    store = DuckDBStore()
    store.write_orders(
        [ProductionOrder(order_id="WO-1", product="BRK-100", quantity=500, ideal_cycle_time_s=28)]
    )
    s = import_file(path, product_mapping(작업지시={"kind": "order_id"}), store)
    assert s.rows_rejected == 0, s.first_rejections
    orders = {
        r["order_id"]: (r["product"], r["quantity"], r["ideal_cycle_time_s"]) for r in rows_of(store, "order")
    }
    assert orders == {
        "WO-1": ("BRK-100", 500, 28.0),  # given before: not replaced
        "BRK-100": ("BRK-100", None, None),  # line 3 has no order: its product is its order
        "WO-3": ("HUB-7", None, None),
    }
    assert {(r["ts"], r["order_id"]) for r in rows_of(store, "count")} == {
        (utc("2026-11-23 10:00"), "WO-1"),
        (utc("2026-11-23 12:00"), "WO-3"),
    }


def test_product_mapping_errors():
    with pytest.raises(MappingError, match="kind 'product' has no other field"):
        product_mapping(품번={"kind": "product", "field": "good"})
    with pytest.raises(MappingError, match="two columns feed product.product"):
        product_mapping(제품={"kind": "product"})


# -- 7. a stale Excel dimension, NUL bytes, formulas in the rejects file (issue 20) ------------------
def test_excel_with_a_stale_dimension_imports_every_row(tmp_path):
    import re
    import zipfile

    good = write_xlsx(
        tmp_path / "good.xlsx",
        [["시각", "상태"]] + [[f"2026-11-23 {8 + h:02d}:00", "running"] for h in range(10)],
    )
    stale = tmp_path / "stale.xlsx"  # a writer that never updates <dimension ref>: A1:B3 for 11 rows
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(stale, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data, n = re.subn(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:B3"', data)
                assert n == 1
            zout.writestr(item, data)
    m = {"shape": "events", "time": "시각", "machine": CNC, "columns": {"상태": {"kind": "state"}}}
    store = DuckDBStore()
    s = import_file(stale, parse_mapping(m), store)
    assert s.rows_read == 10 and s.rows_rejected == 0 and len(rows_of(store, "state")) == 10


def test_a_nul_byte_rejects_its_row_and_formulas_in_the_rejects_file_are_inert(tmp_path):
    from factory_commons.collect.files import rejects_path

    path = tmp_path / "e.csv"
    path.write_bytes(
        "시각,상태,메모\r\n"
        "2026-11-23 08:00,running,ok\r\n"
        "2026-11-23 09:00,idle,a\x00b\r\n"  # line 3: a NUL byte
        '2026-11-23 10:00,=HYPERLINK("http://x"),-5\r\n'  # line 4: an unknown state that is a formula
        "2026-11-23 11:00,running,@SUM(A1)\r\n".encode("cp949")
    )
    m = {"shape": "events", "time": "시각", "machine": CNC, "columns": {"상태": {"kind": "state"}}}
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    why = {r.line: r.why for r in s.first_rejections}
    assert set(why) == {3, 4}
    assert "NUL" in why[3] and "손상" in why[3]
    assert len(rows_of(store, "state")) == 2
    rejected = list(csv.reader(io.StringIO(rejects_path(path).read_bytes().decode("cp949"))))
    row4 = next(r for r in rejected if r[0] == "4")
    assert row4[3] == '\'=HYPERLINK("http://x")' and row4[4] == "-5"  # a plain number stays a number
    assert all(not c.startswith(("=", "+", "@")) for r in rejected for c in r)


def test_both_stores_products_night_shift_and_nul_rows(tmp_path, store_factory):
    """The same file on DuckDB and PostgreSQL (which refuses a NUL in text): no traceback, the
    NUL row rejected, the others imported once, orders written once."""
    rows = [*PRODUCT_LOG, ["2026-11-23", "22:00", "06:00", "가동", "HUB-7", "300", "0"]]
    path = write_csv(tmp_path / "log.csv", rows, "cp949")
    raw = path.read_bytes().replace(b"HUB-7,85", b"HUB\x00-7,85")  # line 4
    path.write_bytes(raw)
    store = store_factory()
    s = import_file(path, product_mapping(), store)
    assert [(r.line, r.column) for r in s.first_rejections] == [(4, "")] and "NUL" in s.first_rejections[
        0
    ].why
    assert s.written["order"] == 2
    assert sorted((r["ts"], r["good"]) for r in rows_of(store, "count")) == [
        (utc("2026-11-23 10:00"), 230),
        (utc("2026-11-24 06:00"), 300),
    ]
    again = import_file(path, product_mapping(), store, resume=False)
    assert again.records_written == 0 and again.rows_rejected == 1


@pytest.mark.parametrize("key", ["date", "duration"])
def test_a_date_or_duration_column_missing_from_the_file_is_named(tmp_path, key):
    path = write_csv(tmp_path / "d.csv", [["시작", "구분"], ["2026-11-23 08:00", "가동"]])
    m = {"shape": "intervals", "start": "시작", key: "없는열", "machine": CNC}
    m["columns"] = {"구분": {"kind": "state", "state_codes": STATES}}
    store = DuckDBStore()
    with pytest.raises(MappingError, match=f"key '{key}': column '없는열' is not in d.csv"):
        import_file(path, parse_mapping(m), store)
    assert rows_of(store, "state") == []


def test_a_long_history_without_gaps_gives_no_far_warning(tmp_path):
    rows = [["시각", "상태"]] + [
        [(datetime(2026, 6, 1, 8) + timedelta(days=d)).strftime("%Y-%m-%d %H:%M"), "running"]
        for d in range(150)
    ]
    path = write_csv(tmp_path / "e.csv", rows)
    m = {"shape": "events", "time": "시각", "machine": CNC, "columns": {"상태": {"kind": "state"}}}
    s = import_file(path, parse_mapping(m), DuckDBStore())
    assert s.rows_imported == 150 and s.warnings == []


def test_rows_after_midnight_that_keep_the_shift_date_give_a_warning(tmp_path):
    rows = [
        *SHIFT_LOG[:2],
        ["2026-11-23", "22:00", "02:00", "가동", "", "300", "0"],
        ["2026-11-23", "02:00", "02:30", "고장", "스핀들 알람", "", ""],  # line 4: the shift's date
        ["2026-11-23", "02:30", "06:00", "가동", "", "200", "1"],
    ]
    path = write_csv(tmp_path / "night.csv", rows, "cp949")
    s = import_file(path, shift_mapping(), DuckDBStore())
    assert s.rows_rejected == 0 and len(s.warnings) == 1
    w = s.warnings[0]
    assert w.startswith("night.csv, 열 '일자' + '시작': 1개 행") and "line 4" in w and "calendar date" in w
    rows[3][0] = rows[4][0] = "2026-11-24"  # the calendar date: no warning
    path = write_csv(tmp_path / "fixed.csv", rows, "cp949")
    assert import_file(path, shift_mapping(), DuckDBStore()).warnings == []


def test_long_product_codes_and_dst_gaps_of_times_of_day_are_rejected(tmp_path):
    rows = [
        ["일자", "시작", "종료", "구분", "품번", "양품"],
        ["2026-03-29", "01:00", "01:30", "가동", "P" * 201, "5"],  # line 2: code too long
        ["2026-03-29", "02:30", "03:30", "가동", "P-1", "5"],  # line 3: 02:30 does not exist in Berlin
        ["2026-03-29", "04:00", "05:00", "가동", "P-1", "5"],
    ]
    path = write_csv(tmp_path / "dst.csv", rows)
    m = {
        "shape": "intervals",
        "date": "일자",
        "start": "시작",
        "end": "종료",
        "timezone": "Europe/Berlin",
        "machine": CNC,
        "columns": {
            "구분": {"kind": "state", "state_codes": STATES},
            "품번": {"kind": "product"},
            "양품": {"kind": "count"},
        },
    }
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    why = {r.line: (r.column, r.why) for r in s.first_rejections}
    assert set(why) == {2, 3}
    assert why[2][0] == "품번" and "200" in why[2][1]
    assert why[3][0] == "시작" and "'02:30'" in why[3][1] and "DST" in why[3][1]
    assert [r["order_id"] for r in rows_of(store, "order")] == ["P-1"]
