"""CSV and Excel import: shapes, encodings, rejects, idempotency, resume, mapping errors, fuzz."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_commons.collect.files import (
    MappingError,
    import_file,
    rejects_path,
    state_path,
)
from factory_commons.collect.files_mapping import parse_mapping
from factory_commons.store import DuckDBStore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SEOUL = ZoneInfo("Asia/Seoul")
PRESS = "acme/changwon/press/line-2/press-01"


def utc(local: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> datetime:
    """A Seoul wall-clock time as naive UTC, as the store returns it."""
    return datetime.strptime(local, fmt).replace(tzinfo=SEOUL).astimezone(UTC).replace(tzinfo=None)


def write_csv(path: Path, rows: list[list], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def read_rejects(path: Path, encoding: str) -> list[dict]:
    text = rejects_path(path).read_bytes().decode(encoding)
    delim = "\t" if "\t" in text.splitlines()[0] else ("," if "," in text.splitlines()[0] else ";")
    return list(csv.DictReader(io.StringIO(text), delimiter=delim))


def rows_of(store, kind: str) -> list[dict]:
    return store.read(kind).to_pylist()


# -- the documented examples -------------------------------------------------------------------
def _example(tmp_path: Path, data: str) -> Path:
    dst = tmp_path / data
    shutil.copy(EXAMPLES / "data" / data, dst)
    return dst


def test_example_state_log_cp949(tmp_path):
    path = _example(tmp_path, "state_log_cp949.csv")
    raw = list(csv.DictReader(io.StringIO(path.read_bytes().decode("cp949"))))
    mapping = EXAMPLES / "mappings" / "state_log.toml"
    from factory_commons.collect.files_mapping import load_mapping

    fm, _ = load_mapping(mapping)
    store = DuckDBStore()
    s = import_file(path, mapping, store)
    assert s.encoding == "cp949" and s.rows_rejected == 0 and s.rows_read == len(raw)
    got = {(r["machine"], r["ts"]): r for r in rows_of(store, "state")}
    assert len(got) == len(raw)
    for r in raw:
        rec = got[(fm.machines[r["설비"]], utc(r["시각"]))]
        assert rec["state"] == fm.columns["상태"].state_codes[r["상태"]]
        assert rec["reason_code"] == (r["사유"] or None)
        assert rec["order_id"] == (r["작업지시"] or None)
    names = {m.path: m.display_name for m in store.machines()}
    assert {names[p] for p in fm.machines.values()} == set(fm.machines)
    again = import_file(path, mapping, store)
    assert again.records_written == 0 and again.records_duplicate == len(raw)


def test_example_shift_intervals(tmp_path):
    path = _example(tmp_path, "shift_intervals.csv")
    raw = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    store = DuckDBStore()
    s = import_file(path, EXAMPLES / "mappings" / "intervals.toml", store)
    assert s.encoding == "utf-8-sig" and s.rows_rejected == 0
    states = {r["ts"]: r["state"] for r in rows_of(store, "state")}
    fmt = "%Y/%m/%d %H:%M"
    codes = {"가동": "running", "고장": "unplanned_down", "셋업": "setup", "계획정지": "planned_stop"}
    for r in raw:  # a start always wins over the previous interval's end state
        assert states[utc(r["시작"], fmt)] == codes[r["구분"]]
    ends = {utc(r["종료"], fmt) for r in raw} - {utc(r["시작"], fmt) for r in raw}
    assert ends and all(states[t] == "planned_stop" for t in ends)
    assert s.warnings == []  # planned_stop after the log: no loss counted after it
    assert len(states) == len(raw) + len(ends)
    counts = {r["ts"]: (r["good"], r["scrap"]) for r in rows_of(store, "count")}
    expected = {utc(r["종료"], fmt): (int(r["양품"]), int(r["불량"])) for r in raw if r["양품"]}
    assert counts == expected


def test_example_operation_log_date_and_times_of_day_with_products(tmp_path):
    path = _example(tmp_path, "operation_log_cp949.csv")
    raw = list(csv.DictReader(io.StringIO(path.read_bytes().decode("cp949"))))
    store = DuckDBStore()
    s = import_file(path, EXAMPLES / "mappings" / "operation_log.toml", store)
    assert s.encoding == "cp949" and s.rows_rejected == 0 and s.warnings == []
    fmt = "%Y-%m-%d %H:%M"
    starts = {(r["machine"][-6:], r["ts"]): (r["state"], r["order_id"]) for r in rows_of(store, "state")}
    for r in raw:
        key = ("cnc-0" + r["설비"][-1], utc(f"{r['일자']} {r['시작']}", fmt))
        assert starts[key][1] == (r["품번"] or None)
    night = utc("2026-11-24 02:00", fmt)  # 22:00 -> 02:00 on the 23rd ends on the 24th
    assert {(r["machine"][-6:], r["good"]) for r in rows_of(store, "count") if r["ts"] == night} == {
        ("cnc-02", 228)
    }
    orders = {r["order_id"]: (r["product"], r["quantity"]) for r in rows_of(store, "order")}
    assert orders == {"BRK-100": ("BRK-100", None), "HUB-7": ("HUB-7", None)}


def test_example_signals_wide(tmp_path):
    path = _example(tmp_path, "signals_wide.csv")
    raw = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")), delimiter=";"))
    store = DuckDBStore()
    s = import_file(path, EXAMPLES / "mappings" / "signals_wide.toml", store)
    assert s.delimiter == ";" and s.rows_rejected == 0
    got = {(r["name"], r["ts"]): (r["value"], r["unit"]) for r in rows_of(store, "signal")}
    assert len(got) == 3 * len(raw)
    for r in raw:
        t = utc(r["시간"])
        assert got[("temperature", t)] == (pytest.approx(int(r["온도(0.1℃)"]) * 0.1), "°C")
        assert got[("진동", t)] == (pytest.approx(float(r["진동"])), "mm/s")
        assert got[("spindle_load", t)][0] == pytest.approx(float(r["부하"]))


def test_example_excel_running_totals(tmp_path):
    import openpyxl

    path = _example(tmp_path, "count_log.xlsx")
    ws = openpyxl.load_workbook(path, read_only=True)["생산실적"]
    raw = [r for r in ws.iter_rows(min_row=2, values_only=True)]
    store = DuckDBStore()
    s = import_file(path, EXAMPLES / "mappings" / "count_log_excel.toml", store)
    assert s.rows_rejected == 0 and s.rows_read == len(raw)
    expected, last = {}, {}
    for t, name, good, scrap in raw:
        if name in last:
            g, sc = good - last[name][0], scrap - last[name][1]
            if g + sc:
                expected[(name, t.replace(tzinfo=SEOUL).astimezone(UTC).replace(tzinfo=None))] = (g, sc)
        last[name] = (good, scrap)
    names = {m.path: m.display_name for m in store.machines()}
    got = {(names[r["machine"]], r["ts"]): (r["good"], r["scrap"]) for r in rows_of(store, "count")}
    assert got == expected
    assert s.rows_no_parts == len(last)  # the first total of each machine only sets the baseline


# -- encodings, delimiters, time formats ---------------------------------------------------------
STATE_MAPPING = {
    "shape": "events",
    "time": "시각",
    "machine_column": "설비",
    "machines": {"프레스1": PRESS, "프레스2": "acme/changwon/press/line-2/press-02"},
    "columns": {
        "상태": {"kind": "state", "state_codes": {"가동": "running", "정지": "unplanned_down", "3": "setup"}},
        "사유": {"kind": "state", "field": "reason_code"},
    },
}
STATE_ROWS = [
    ["시각", "설비", "상태", "사유"],
    ["2026-11-23 08:00:00", "프레스1", "가동", ""],
    ["2026-11-23 08:10:00", "프레스2", "정지", "금형 파손"],
    ["2026-11-23 08:20:00", "프레스1", "3", "품종 교체"],
]


@pytest.mark.parametrize(
    ("encoding", "delimiter"), [("utf-8", ","), ("utf-8-sig", ";"), ("cp949", "\t"), ("euc-kr", ",")]
)
def test_encodings_and_delimiters_give_the_same_records(tmp_path, encoding, delimiter):
    path = write_csv(tmp_path / "s.csv", STATE_ROWS, encoding, delimiter)
    store = DuckDBStore()
    s = import_file(path, parse_mapping(STATE_MAPPING), store)
    assert s.delimiter == delimiter and s.rows_rejected == 0
    assert s.encoding == {"euc-kr": "cp949"}.get(encoding, encoding)
    got = [(r["machine"].rsplit("/", 1)[1], r["state"], r["reason_code"]) for r in rows_of(store, "state")]
    assert sorted(got) == [("press-01", "running", None), ("press-01", "setup", "품종 교체")] + [
        ("press-02", "unplanned_down", "금형 파손")
    ]


def test_encoding_given_in_the_mapping_wins(tmp_path):
    path = write_csv(tmp_path / "s.csv", STATE_ROWS, "cp949")
    with pytest.raises(MappingError, match="key 'time': column '시각' is not in s.csv .*encoding latin-1"):
        import_file(path, parse_mapping({**STATE_MAPPING, "encoding": "latin-1"}), DuckDBStore())
    s = import_file(path, parse_mapping({**STATE_MAPPING, "encoding": "euc-kr"}), DuckDBStore())
    assert s.rows_imported == 3


def test_time_formats_and_zones(tmp_path):
    rows = [
        ["time", "v"],
        ["2026-11-23 08:00:00", "1"],  # naive: the mapping's zone
        ["2026/11/23 8:01", "2"],
        ["2026-11-23T08:02:00+09:00", "3"],  # an offset is respected
        ["2026-11-22T23:03:00Z", "4"],
        ["2026-11-23 오전 8:04:00", "5"],
        ["2026.11.23 08:05", "6"],
        ["46349.3375", "7"],  # Excel serial day: 2026-11-23 08:06
    ]
    path = write_csv(tmp_path / "t.csv", rows)
    m = {"shape": "wide", "time": "time", "machine": PRESS, "columns": {"v": {"kind": "signal", "name": "v"}}}
    store = DuckDBStore()
    assert import_file(path, parse_mapping(m), store).rows_rejected == 0
    got = {int(r["value"]): r["ts"] for r in rows_of(store, "signal")}
    base = datetime(2026, 11, 22, 23, 0)
    assert got == {i + 1: base + timedelta(minutes=i) for i in range(7)}
    store = DuckDBStore()
    m2 = {**m, "timezone": "UTC", "time_format": "%Y/%m/%d %H:%M"}
    s = import_file(path, parse_mapping(m2), store)
    assert [r["ts"] for r in rows_of(store, "signal")] == [datetime(2026, 11, 23, 8, 1)]
    assert s.rows_rejected == len(rows) - 2
    assert "time_format '%Y/%m/%d %H:%M'" in read_rejects(path, "utf-8")[0]["거부 사유 / rejected because"]


def test_excel_cells_datetimes_serials_and_text(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "알람"
    ws.append(["발생 시각", "알람 코드", "등급", "내용", "상태"])
    ws.append([datetime(2026, 11, 23, 9, 0), "E101", "경고", "유압 저하", "발생"])
    ws.append([46349.375 + 1 / 96, 101, "심각", "과부하", "발생"])  # serial number, numeric code
    ws.append(["2026-11-23 09:30:00", "E101", "경고", "유압 저하", "해제"])
    ws.append([None, None, None, None, None])  # a blank row is not data
    ws.append(["어제", "E9", "경고", "", "발생"])  # line 6: not a time
    path = tmp_path / "alarms.xlsx"
    wb.save(path)
    m = {
        "shape": "events",
        "time": "발생 시각",
        "machine": PRESS,
        "sheet": "알람",
        "columns": {
            "알람 코드": {"kind": "alarm"},
            "등급": {"kind": "alarm", "field": "severity"},
            "내용": {"kind": "alarm", "field": "message"},
            "상태": {"kind": "alarm", "field": "active"},
        },
    }
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    got = [(r["ts"], r["code"], r["severity"], r["message"], r["active"]) for r in rows_of(store, "alarm")]
    assert got == [
        (datetime(2026, 11, 23, 0, 0), "E101", "warning", "유압 저하", True),
        (datetime(2026, 11, 23, 0, 15), "101", "critical", "과부하", True),
        (datetime(2026, 11, 23, 0, 30), "E101", "warning", "유압 저하", False),
    ]
    assert s.rows_rejected == 1 and s.first_rejections[0].line == 6
    rej = read_rejects(path, "utf-8-sig")
    assert rej[0]["행 line"] == "6" and "어제" in rej[0]["거부 사유 / rejected because"]


# -- rejected rows -------------------------------------------------------------------------------
def test_rejects_name_line_column_and_why_and_can_be_fixed_and_reimported(tmp_path):
    m = {
        "shape": "events",
        "time": "시각",
        "machine_column": "설비",
        "machines": {"프레스1": PRESS},
        "columns": {
            "상태": {"kind": "state", "state_codes": {"가동": "running", "정지": "idle"}},
            "양품": {"kind": "count"},
            "온도": {"kind": "signal", "name": "temperature", "unit": "°C"},
        },
    }
    text = (
        "제목: 1라인 일보\n"  # line 1: a title above the header
        "시각,설비,상태,양품,온도\n"  # line 2: header
        "2026-11-23 08:00:00,프레스1,가동,10,40.5\n"  # 3 ok
        "2026-11-23 08:01:00,프레스1,가동중,10,40.5\n"  # 4 unknown state code
        "2026-11-23 25:00:00,프레스1,가동,10,40.5\n"  # 5 bad time
        "2026-11-23 08:03:00,프레스9,가동,10,40.5\n"  # 6 unknown machine
        "\n"  # 7 blank: skipped
        "2026-11-23 08:04:00,프레스1,가동,열,40.5\n"  # 8 not a number
        '2026-11-23 08:05:00,프레스1,"가동\n중",10\n'  # 9-10 quoted line break and a missing column
        "2026-11-23 08:06:00,프레스1,가동,-3,40.5\n"  # 11 negative count
        "2026-11-23 08:07:00,프레스1,정지,,\n"  # 12 ok: a state only
        "2026-11-23 08:08:00,프레스1,,,\n"  # 13 nothing to import
    )
    path = tmp_path / "일보.csv"
    path.write_bytes(text.encode("cp949"))
    store = DuckDBStore()
    s = import_file(path, parse_mapping({**m, "header_row": 2}), store)
    assert (s.rows_read, s.rows_rejected) == (9, 7)
    where = {r.line: (r.column, r.why) for r in s.first_rejections}
    assert where[4][0] == "상태" and "가동중" in where[4][1] and "state_codes" in where[4][1]
    assert where[5][0] == "시각" and "2026-11-23 25:00:00" in where[5][1]
    assert where[6][0] == "설비" and "프레스9" in where[6][1]
    assert where[8][0] == "양품" and "not a number" in where[8][1]
    assert where[9][0] == "" and "expected 5 columns, found 4" in where[9][1] and "line 10" in where[9][1]
    assert where[11][0] == "양품" and ">= 0" in where[11][1]
    assert where[13][1].startswith("빈 행")
    # whole rows only: the good rows' records, nothing from a rejected row
    assert [r["ts"] for r in rows_of(store, "state")] == [
        utc("2026-11-23 08:00:00"),
        utc("2026-11-23 08:07:00"),
    ]
    assert len(rows_of(store, "count")) == len(rows_of(store, "signal")) == 1
    # the rejects file: same encoding, the title line, line numbers and reasons, cells as they were
    lines = rejects_path(path).read_bytes().decode("cp949").splitlines()
    assert lines[0].startswith(",,제목")
    rej = list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))
    assert [int(r["행 line"]) for r in rej] == [4, 5, 6, 8, 9, 11, 13]
    assert rej[0]["상태"] == "가동중" and "state_codes" in rej[0]["거부 사유 / rejected because"]
    assert rej[4]["상태"] == "가동\n중"
    # fix two rows in the rejects file and import it with the same mapping
    fixed = (
        rejects_path(path)
        .read_bytes()
        .decode("cp949")
        .replace("가동중", "가동")
        .replace("프레스9", "프레스1")
    )
    again = tmp_path / "고침.csv"
    again.write_bytes(fixed.encode("cp949"))
    s2 = import_file(again, parse_mapping({**m, "header_row": 2}), store)
    assert s2.rows_imported == 2 and s2.rows_rejected == 5
    assert len(rows_of(store, "state")) == 4


def test_undecodable_bytes_are_rejected_and_kept_byte_for_byte(tmp_path):
    good = "시각,설비,상태,사유\r\n2026-11-23 08:00:00,프레스1,가동,\r\n".encode("cp949")
    bad_line = b"2026-11-23 08:01:00,\xff\xfe,\xc7\r\n"  # not CP949
    path = tmp_path / "b.csv"
    path.write_bytes(good + bad_line + "2026-11-23 08:02:00,프레스1,정지,\r\n".encode("cp949"))
    s = import_file(path, parse_mapping(STATE_MAPPING), DuckDBStore())
    assert s.encoding == "cp949" and s.rows_imported == 2 and s.rows_rejected == 1
    assert "bytes not valid in cp949" in s.first_rejections[0].why and s.first_rejections[0].line == 3
    assert bad_line.rstrip(b"\r\n").split(b",", 1)[1] in rejects_path(path).read_bytes()


def test_a_clean_import_leaves_no_rejects_file_and_removes_a_stale_one(tmp_path):
    path = write_csv(tmp_path / "s.csv", STATE_ROWS)
    rejects_path(path).write_text("old", encoding="utf-8")
    s = import_file(path, parse_mapping(STATE_MAPPING), DuckDBStore())
    assert s.rejects_file is None and not rejects_path(path).exists() and not state_path(path).exists()


# -- intervals ---------------------------------------------------------------------------------------
def test_intervals_reject_backwards_and_counts_without_end(tmp_path):
    rows = [
        ["start", "end", "state", "good"],
        ["2026-11-23 08:00", "2026-11-23 09:00", "running", "50"],
        ["2026-11-23 10:00", "2026-11-23 09:30", "idle", ""],  # ends before it starts
        ["2026-11-23 11:00", "", "running", "5"],  # counts need an end
        ["2026-11-23 12:00", "", "running", ""],  # still running: a start, no end state
    ]
    path = write_csv(tmp_path / "i.csv", rows)
    m = {
        "shape": "intervals",
        "start": "start",
        "end": "end",
        "machine": PRESS,
        "state_after": "idle",
        "columns": {"state": {"kind": "state"}, "good": {"kind": "count"}},
    }
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    assert {r.line: r.column for r in s.first_rejections} == {3: "end", 4: "end"}
    fmt = "%Y-%m-%d %H:%M"
    states = [(r["ts"], r["state"]) for r in rows_of(store, "state")]
    assert states == [
        (utc("2026-11-23 08:00", fmt), "running"),
        (utc("2026-11-23 09:00", fmt), "idle"),
        (utc("2026-11-23 12:00", fmt), "running"),
    ]
    assert [(r["ts"], r["good"]) for r in rows_of(store, "count")] == [(utc("2026-11-23 09:00", fmt), 50)]


# -- idempotency and resume -------------------------------------------------------------------------
WIDE = {
    "shape": "wide",
    "time": "시간",
    "machine": PRESS,
    "columns": {
        "온도": {"kind": "signal", "name": "temperature", "unit": "°C"},
        "진동": {"kind": "signal", "name": "진동"},
        "부하": {"kind": "signal", "name": "load", "scale": 0.5, "offset": 1},
    },
}


def wide_file(path: Path, n: int, bad_every: int = 0) -> Path:
    t0 = datetime(2026, 11, 23, 8, 0)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["시간", "온도", "진동", "부하"])
        for i in range(n):
            temp = "x" if bad_every and i % bad_every == bad_every - 1 else f"{40 + i % 7}.5"
            w.writerow([(t0 + timedelta(seconds=i)).isoformat(sep=" "), temp, f"{i % 13 / 10}", str(i % 100)])
    return path


def test_second_import_adds_nothing(tmp_path):
    path = wide_file(tmp_path / "w.csv", 3000, bad_every=500)
    store = DuckDBStore(tmp_path / "s.duckdb")
    first = import_file(path, parse_mapping(WIDE), store, chunk_rows=700)
    assert first.rows_rejected == 6 and first.written == {"signal": 3 * (3000 - 6)}
    before = store.query("SELECT count(*) AS n FROM signals").column("n")[0].as_py()
    second = import_file(path, parse_mapping(WIDE), store, chunk_rows=1000)
    assert second.written == {"signal": 0} and second.duplicates == {"signal": 3 * (3000 - 6)}
    assert store.query("SELECT count(*) AS n FROM signals").column("n")[0].as_py() == before
    assert len(read_rejects(path, "utf-8")) == 6  # rewritten, not appended to


class Boom(RuntimeError):
    pass


def test_resume_after_a_crash_mid_import(tmp_path, monkeypatch):
    path = wide_file(tmp_path / "w.csv", 5000, bad_every=700)
    reference = DuckDBStore()
    ref = import_file(path, parse_mapping(WIDE), reference, chunk_rows=800)
    store = DuckDBStore(tmp_path / "s.duckdb")
    real = store.write_table
    calls = {"n": 0}

    def failing(kind, data):
        calls["n"] += 1
        if calls["n"] == 4:
            real(kind, data.slice(0, data.num_rows // 2))  # half the chunk reached the store
            raise Boom("power cut")
        return real(kind, data)

    monkeypatch.setattr(store, "write_table", failing)
    with pytest.raises(Boom):
        import_file(path, parse_mapping(WIDE), store, chunk_rows=800)
    saved = json.loads(state_path(path).read_text(encoding="utf-8"))
    assert saved["line"] == 1 + 3 * 800  # three chunks committed
    monkeypatch.setattr(store, "write_table", real)
    s = import_file(path, parse_mapping(WIDE), store, chunk_rows=800)
    assert s.resumed_after_line == saved["line"]
    assert s.rows_read == ref.rows_read and s.rows_rejected == ref.rows_rejected
    # the rows of the chunk that was half written when it crashed come again as duplicates
    assert 0 < s.duplicates["signal"] < 800 * 3
    assert s.written["signal"] + s.duplicates["signal"] == ref.written["signal"]
    assert not state_path(path).exists()
    ours = store.query("SELECT count(*) AS n, count(DISTINCT (series_id, ts)) AS d FROM signals").to_pylist()[
        0
    ]
    assert ours["n"] == ours["d"] == ref.written["signal"]
    assert len(read_rejects(path, "utf-8")) == ref.rows_rejected  # no rejected row twice


def test_resume_keeps_counter_totals_and_pending_end_states(tmp_path, monkeypatch):
    rows = [["start", "end", "total"]]
    t0 = datetime(2026, 11, 23, 8, 0)
    for i in range(40):
        a, b = t0 + timedelta(minutes=10 * i), t0 + timedelta(minutes=10 * i + 7)
        rows.append([a.isoformat(sep=" "), b.isoformat(sep=" "), str(1000 + 13 * i)])
    path = write_csv(tmp_path / "c.csv", rows)
    m = {
        "shape": "intervals",
        "start": "start",
        "end": "end",
        "machine": PRESS,
        "state": "running",
        "state_after": "idle",
        "columns": {"total": {"kind": "count", "counter": "total"}},
    }
    reference = DuckDBStore()
    import_file(path, parse_mapping(m), reference, chunk_rows=1000)
    store = DuckDBStore()
    real = store.write_table
    calls = {"n": 0}

    def failing(kind, data):
        calls["n"] += 1
        if calls["n"] == 5:
            raise Boom("killed")
        return real(kind, data)

    monkeypatch.setattr(store, "write_table", failing)
    with pytest.raises(Boom):
        import_file(path, parse_mapping(m), store, chunk_rows=7)
    monkeypatch.setattr(store, "write_table", real)
    import_file(path, parse_mapping(m), store, chunk_rows=7)
    for kind in ("state", "count"):
        assert rows_of(store, kind) == rows_of(reference, kind)
    assert [r["good"] for r in rows_of(store, "count")] == [13] * 39


def _crash_after(store, monkeypatch, calls_before_crash: int):
    real = store.write_table
    calls = {"n": 0}

    def failing(kind, data):
        calls["n"] += 1
        if calls["n"] > calls_before_crash:
            raise Boom("killed")
        return real(kind, data)

    monkeypatch.setattr(store, "write_table", failing)
    return real


def test_progress_of_another_store_or_file_content_is_not_used(tmp_path, monkeypatch):
    path = wide_file(tmp_path / "w.csv", 2000)
    store = DuckDBStore()
    real = _crash_after(store, monkeypatch, 2)
    with pytest.raises(Boom):
        import_file(path, parse_mapping(WIDE), store, chunk_rows=500, store_id="first")
    assert json.loads(state_path(path).read_text(encoding="utf-8"))["line"] == 1001
    monkeypatch.setattr(store, "write_table", real)
    other = DuckDBStore()
    s = import_file(path, parse_mapping(WIDE), other, chunk_rows=500, store_id="second")
    assert s.resumed_after_line is None and s.written == {"signal": 6000}
    _crash_after(store, monkeypatch, 2)
    with pytest.raises(Boom):
        import_file(path, parse_mapping(WIDE), store, chunk_rows=500, store_id="first")
    with path.open("a", encoding="utf-8") as f:  # the file changed since: read it from the top
        f.write("2026-11-24 00:00:00,1,1,1\r\n")
    monkeypatch.setattr(store, "write_table", real)
    s = import_file(path, parse_mapping(WIDE), store, chunk_rows=500, store_id="first")
    assert s.resumed_after_line is None and s.rows_read == 2001
    assert s.written == {"signal": 3 * 1001} and s.duplicates == {"signal": 3 * 1000}


def test_cli_killed_with_sigkill_resumes_and_stores_every_row_once(tmp_path):
    n = 60_000
    path = wide_file(tmp_path / "w.csv", n)
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'shape = "wide"\ntime = "시간"\nmachine = "acme/changwon/press/line-2/press-01"\n'
        '[columns."온도"]\nkind = "signal"\nname = "temperature"\n'
        '[columns."진동"]\nkind = "signal"\nname = "진동"\n',
        encoding="utf-8",
    )
    db = tmp_path / "s.duckdb"
    run = "from factory_commons.cli import app; app()"
    cmd = [sys.executable, "-c", run, "import", str(path), "-m", str(mapping), "-s", str(db)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*cmd, "--chunk-rows", "2000"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 40
    committed = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            committed = json.loads(state_path(path).read_text(encoding="utf-8"))["line"]
        except (OSError, ValueError, KeyError):
            committed = 0
        if committed >= 4000:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the import finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 4000 <= committed < n
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "resumed after line" in done.stdout
    with DuckDBStore(db) as store:
        got = store.query(
            "SELECT count(*) AS n, count(DISTINCT (series_id, ts)) AS d FROM signals"
        ).to_pylist()
    assert got[0]["n"] == got[0]["d"] == 2 * n
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "records written 0" in again.stdout.replace("\n", " ")


# -- mapping errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("toml", "key", "why"),
    [
        (
            'shape = "events"\ntime = "시각"\nmachine = "a/b/c/d/e"\n[columns.x]\nkindd = "state"\n',
            "columns.x",
            "",
        ),
        ('shape = "rows"\ntime = "t"\n[columns.x]\nkind = "state"\n', "shape", "events"),
        (
            'shape = "events"\ntime = "t"\nmachine = "a/b/c"\n[columns.x]\nkind = "state"\n',
            "machine",
            "5 levels",
        ),
        (
            'shape = "events"\ntime = "t"\nmachine = "a/b/c/d/e"\n[columns.x]\nkind = "state"\n'
            'state_codes = { "1" = "runing" }\n',
            "columns.x.state_codes.1",
            "running",
        ),
        (
            'shape = "events"\ntime = "t"\nmachine = "a/b/c/d/e"\n[columns.x]\nkind = "count"\nscale = 0\n',
            "",
            "scale",
        ),
        ('shape = "wide"\ntime = "t"\n[columns.x]\nkind = "signal"\nname = "x"\n', "", "which machine"),
        (
            'shape = "events"\ntime = "t"\nmachine = "a/b/c/d/e"\ntimezone = "Seoul"\n[columns.x]\nkind="state"\n',
            "timezone",
            "",
        ),
        ('shape = "events"\ntime = \n', "", "TOML"),
    ],
)
def test_malformed_mapping_names_file_key_and_why(tmp_path, toml, key, why):
    mapping = tmp_path / "bad.toml"
    mapping.write_text(toml, encoding="utf-8")
    path = write_csv(tmp_path / "d.csv", [["t", "x"], ["2026-11-23 08:00:00", "running"]])
    store = DuckDBStore()
    with pytest.raises(MappingError) as e:
        import_file(path, mapping, store)
    msg = str(e.value)
    assert msg.startswith(str(mapping)) and (f"key '{key}" in msg if key else True) and why in msg
    assert store.machines() == [] and not state_path(path).exists()


def test_mapping_naming_a_missing_column_fails_before_anything_is_written(tmp_path):
    path = write_csv(tmp_path / "d.csv", STATE_ROWS)
    bad = {**STATE_MAPPING, "columns": {**STATE_MAPPING["columns"], "온도": {"kind": "signal", "name": "t"}}}
    store = DuckDBStore()
    with pytest.raises(MappingError, match=r"key 'columns.온도': column '온도' is not in d.csv"):
        import_file(path, parse_mapping(bad), store)
    assert rows_of(store, "state") == []


def test_cli_reports_mapping_errors_and_rejects(tmp_path):
    from typer.testing import CliRunner

    from factory_commons.cli import app

    runner = CliRunner()
    bad = tmp_path / "bad.toml"
    bad.write_text('shape = "events"\nmachine = "a/b/c/d/e"\n[columns.x]\nkind = "state"\n', encoding="utf-8")
    data = write_csv(tmp_path / "d.csv", [*STATE_ROWS, ["2026-11-23 09:00:00", "프레스1", "??", ""]])
    db = str(tmp_path / "s.duckdb")
    r = runner.invoke(app, ["import", str(data), "--mapping", str(bad), "--store", db])
    assert r.exit_code == 2 and "bad.toml" in r.output and "needs 'time'" in r.output
    good = tmp_path / "m.toml"
    good.write_text(
        'shape = "events"\ntime = "시각"\nmachine_column = "설비"\n[machines]\n'
        f'"프레스1" = "{PRESS}"\n"프레스2" = "acme/changwon/press/line-2/press-02"\n'
        '[columns."상태"]\nkind = "state"\nstate_codes = { "가동" = "running", "정지" = "idle", "3" = "setup" }\n',
        encoding="utf-8",
    )
    r = runner.invoke(app, ["import", str(data), "--mapping", str(good), "--store", db])
    out = " ".join(r.output.split())
    assert r.exit_code == 1, r.output
    assert "rows read 4" in out and "imported 3" in out and "rejected 1" in out
    assert "d.csv:5, column '상태'" in out and "d.csv.rejects.csv" in out


# -- fuzz: broken CSV rows ---------------------------------------------------------------------------
FUZZ_MAPPING = {
    "shape": "events",
    "time": "ts",
    "machine": PRESS,
    "columns": {
        "state": {"kind": "state", "state_codes": {"R": "running", "D": "unplanned_down"}},
        "good": {"kind": "count"},
        "temp": {"kind": "signal", "name": "temp"},
    },
}
garbage = st.text(alphabet="xyz!@?#가나다 ", min_size=1, max_size=6).filter(lambda s: s.strip() != "")
breakage = st.sampled_from(["ts", "state", "good", "temp", "short", "long", "date"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(st.tuples(st.booleans(), breakage, garbage), min_size=1, max_size=40),
    encoding=st.sampled_from(["utf-8", "cp949"]),
    chunk=st.integers(2, 25),
)
def test_fuzz_broken_rows_are_rejected_whole_and_good_rows_imported(tmp_path_factory, plan, encoding, chunk):
    tmp = tmp_path_factory.mktemp("fuzz")
    t0 = datetime(2026, 11, 23, 8, 0)
    rows: list[list] = [["ts", "state", "good", "temp"]]
    broken_lines, good_ts = set(), []
    for i, (ok, how, junk) in enumerate(plan):
        ts = (t0 + timedelta(minutes=i)).isoformat(sep=" ")
        row = [ts, "RD"[i % 2], str(i % 5 + 1), f"{i}.25"]
        if not ok:
            if how in ("ts", "state", "good", "temp"):
                row[["ts", "state", "good", "temp"].index(how)] = junk
            elif how == "short":
                row = row[: len(junk) % 3 + 1]
            elif how == "long":
                row = [*row, junk]
            else:
                row[0] = f"2026-{13 + len(junk)}-01 08:00"
            broken_lines.add(i + 2)
        else:
            good_ts.append(t0 + timedelta(minutes=i))
        rows.append(row)
    path = write_csv(tmp / "f.csv", rows, encoding)
    store = DuckDBStore()
    s = import_file(path, parse_mapping(FUZZ_MAPPING), store, chunk_rows=chunk)
    assert s.rows_read == len(plan) and s.rows_rejected == len(broken_lines)
    expected = [t.replace(tzinfo=SEOUL).astimezone(UTC).replace(tzinfo=None) for t in good_ts]
    for kind in ("state", "count", "signal"):  # every good row whole, nothing of a broken row
        assert [r["ts"] for r in rows_of(store, kind)] == expected
    if broken_lines:
        rej = read_rejects(path, encoding if not path.read_bytes().isascii() else "utf-8-sig")
        assert {int(r["행 line"]) for r in rej} == broken_lines
        assert all(r["거부 사유 / rejected because"] for r in rej)
    else:
        assert not rejects_path(path).exists()


# -- the docs show the tested examples ---------------------------------------------------------------
def test_docs_files_section_shows_the_example_mappings_verbatim():
    import re

    doc = (ROOT / "docs" / "connect.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Files: CSV and Excel") :]
    section = section[: section.find("\n## ", 10)] if "\n## " in section[10:] else section
    blocks = re.findall(r"```toml\n(.*?)```", section, re.S)
    examples = {p.name: p.read_text(encoding="utf-8") for p in (EXAMPLES / "mappings").glob("*.toml")}
    assert sorted(blocks) == sorted(examples.values())
    for name in examples:  # each example is imported by a test above
        assert f"examples/mappings/{name}" in section
    for data in (EXAMPLES / "data").iterdir():
        assert f"examples/data/{data.name}" in section
        assert data.name in Path(__file__).read_text(encoding="utf-8")


def test_long_signal_log_and_store_side_rejections_name_the_column(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(
        "시각,설비,신호,값,단위\n"
        "2026-11-23 08:00:00,프레스1,온도,41.5,°C\n"
        "2026-11-23 08:00:00,프레스1,진동,1.2,mm/s\n"
        "2026-11-23 08:00:01,프레스1,,3,\n"  # line 4: no signal name
        "2026-11-23 08:00:02,프레스1,bad/name,3,\n",  # line 5: the store refuses the name
        encoding="utf-8",
    )
    m = {
        "shape": "events",
        "time": "시각",
        "machine_column": "설비",
        "machines": {"프레스1": PRESS},
        "columns": {
            "신호": {"kind": "signal", "field": "name"},
            "값": {"kind": "signal"},
            "단위": {"kind": "signal", "field": "unit"},
        },
    }
    store = DuckDBStore()
    s = import_file(path, parse_mapping(m), store)
    assert {r.line: r.column for r in s.first_rejections} == {4: "신호", 5: "신호"}
    assert "'/'" in s.first_rejections[1].why
    got = [(r["name"], r["value"], r["unit"]) for r in rows_of(store, "signal")]
    assert sorted(got) == [("온도", 41.5, "°C"), ("진동", 1.2, "mm/s")]
