"""Export shapes for the import guesser's tests: one shift of two machines written the many ways
shops write it (tests/data/exports/), and what every shape must import as.

The truth is `INTERVALS` (plant-local times, Asia/Seoul) plus a few event and signal logs; each
`write_*` function renders it as one export shape. `python tests/exports_data.py` writes the
files again. The tests (tests/test_files_guess.py) guess a mapping for each file and check the
records it imports against the truth, never against the mapping.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"
DAY = date(2026, 11, 23)


@dataclass(frozen=True)
class Interval:
    machine: str  # the machine's name as the shop writes it
    start: datetime  # local (Asia/Seoul)
    end: datetime
    state: str  # the word in the file
    reason: str
    good: int | None
    scrap: int | None
    product: str


def _t(hm: str, day: date = DAY) -> datetime:
    h, m = map(int, hm.split(":"))
    return datetime.combine(day, time(h, m))


def _rows() -> list[Interval]:
    m1, m2 = "1호기", "2호기"
    spec = [
        (m1, "08:00", "10:00", "가동", "", 230, 3, "P-100"),
        (m1, "10:00", "10:20", "비가동", "공구교환", None, None, "P-100"),
        (m1, "10:20", "12:00", "가동", "", 190, 2, "P-100"),
        (m1, "12:00", "13:00", "계획정지", "점심", None, None, "P-100"),
        (m1, "13:00", "14:30", "가동", "", 170, 1, "P-200"),
        (m1, "14:30", "15:10", "고장", "스핀들 알람", None, None, "P-200"),
        (m1, "15:10", "17:00", "가동", "", 210, 4, "P-200"),
        (m2, "08:00", "09:30", "셋업", "금형교체", None, None, "P-200"),
        (m2, "09:30", "12:00", "가동", "", 300, 5, "P-200"),
        (m2, "12:00", "13:00", "계획정지", "점심", None, None, "P-200"),
        (m2, "13:00", "16:00", "가동", "", 350, 2, "P-200"),
        (m2, "16:00", "17:00", "대기", "자재대기", None, None, "P-200"),
    ]
    return [Interval(m, _t(a), _t(b), s, r, g, x, p) for m, a, b, s, r, g, x, p in spec]


INTERVALS = _rows()
#: the machine state each word of the files means
STATE_OF = {
    "가동": "running",
    "비가동": "unplanned_down",
    "계획정지": "planned_stop",
    "고장": "unplanned_down",
    "셋업": "setup",
    "대기": "idle",
    "Running": "running",
    "Stopped": "unplanned_down",
    "Planned stop": "planned_stop",
    "Breakdown": "unplanned_down",
    "Setup": "setup",
    "Idle": "idle",
}
EN_STATE = {
    "가동": "Running",
    "비가동": "Stopped",
    "계획정지": "Planned stop",
    "고장": "Breakdown",
    "셋업": "Setup",
    "대기": "Idle",
}
EN_MACHINE = {"1호기": "CNC-01", "2호기": "CNC-02"}
#: ideal cycle times of the product master (seconds)
PRODUCTS = {"P-100": 25.0, "P-200": 30.0}
#: a night shift past midnight (date + time columns, the end on the next day)
NIGHT = [
    Interval("3호기", _t("22:00"), _t("02:00", DAY + timedelta(days=1)), "가동", "", 400, 4, "P-100"),
    Interval("3호기", _t("02:00", DAY + timedelta(days=1)), _t("03:00", DAY + timedelta(days=1)), "고장", "유압", None, None, "P-100"),
    Interval("3호기", _t("03:00", DAY + timedelta(days=1)), _t("06:00", DAY + timedelta(days=1)), "가동", "", 300, 2, "P-100"),
]  # fmt: skip

#: a state event log: (local time, machine, state word, reason)
EVENTS = [
    (_t("08:00"), "프레스 1호기", "가동", ""),
    (_t("09:12"), "프레스 1호기", "금형교체", "금형 교체"),
    (_t("09:40"), "프레스 1호기", "가동", ""),
    (_t("08:00"), "프레스 2호기", "대기", "자재 대기"),
    (_t("08:30"), "프레스 2호기", "가동", ""),
    (_t("11:05"), "프레스 2호기", "고장", "유압 누유"),
    (_t("11:50"), "프레스 2호기", "가동", ""),
    (_t("12:00"), "프레스 1호기", "휴식", "점심"),
    (_t("12:00"), "프레스 2호기", "휴식", "점심"),
    (_t("13:00"), "프레스 1호기", "가동", ""),
    (_t("13:00"), "프레스 2호기", "가동", ""),
]
EVENT_STATE = {
    "가동": "running",
    "금형교체": "setup",
    "대기": "idle",
    "고장": "unplanned_down",
    "휴식": "planned_stop",
}

#: a count log: (local time, machine, good, scrap), parts made since the row before
COUNTS = [
    (_t("09:00"), "WLD-01", 120, 2),
    (_t("09:00"), "WLD-02", 95, 0),
    (_t("10:00"), "WLD-01", 118, 1),
    (_t("10:00"), "WLD-02", 101, 3),
    (_t("11:00"), "WLD-01", 125, 0),
    (_t("11:00"), "WLD-02", 99, 1),
    (_t("12:00"), "WLD-01", 60, 1),
    (_t("12:00"), "WLD-02", 48, 0),
]
#: signals every 5 minutes: (local time, temperature °C, pressure bar, spindle load %)
SIGNALS = [
    (_t("08:00") + timedelta(minutes=5 * i), 41.0 + 0.5 * i, 6.0 + 0.1 * (i % 3), 55 + 3 * i)
    for i in range(12)
]


def _csv(path: Path, rows: list[list], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def _n(v: int | None) -> str:
    return "" if v is None else str(v)


def _serial(t: datetime) -> float:
    return round((t - datetime(1899, 12, 30)).total_seconds() / 86400, 8)


# -- the shapes --------------------------------------------------------------------------------
def write_kr_intervals_cp949(d: Path) -> Path:
    """The issue's file: CP949, a date column, start and end times of day, reason, product."""
    rows = [["일자", "설비", "시작", "종료", "구분", "사유", "품번", "양품", "불량"]]
    rows += [
        [i.start.strftime("%Y-%m-%d"), i.machine, i.start.strftime("%H:%M"), i.end.strftime("%H:%M"),
         i.state, i.reason, i.product, _n(i.good), _n(i.scrap)]
        for i in INTERVALS
    ]  # fmt: skip
    return _csv(d / "kr_intervals_cp949.csv", rows, "cp949")


def write_en_intervals_bom(d: Path) -> Path:
    """UTF-8 with BOM, English names, other column order, whole timestamps (slashes)."""
    rows = [["Machine", "Reason", "Start Time", "End Time", "Status", "Good", "Scrap"]]
    rows += [
        [EN_MACHINE[i.machine], i.reason, i.start.strftime("%Y/%m/%d %H:%M"), i.end.strftime("%Y/%m/%d %H:%M"),
         EN_STATE[i.state], _n(i.good), _n(i.scrap)]
        for i in INTERVALS
    ]  # fmt: skip
    return _csv(d / "en_intervals_bom.csv", rows, "utf-8-sig")


def write_kr_duration_semicolon(d: Path) -> Path:
    """Semicolons, a title row and a blank row above the header, a date column (2026.11.23),
    start times, durations in minutes, 생산수량 and 불량수량."""
    rows: list[list] = [["설비 가동 일지 (11월)"], []]
    rows += [
        ["작업일자", "호기", "시작시간", "소요시간(분)", "가동상태", "비가동사유", "생산수량", "불량수량"]
    ]
    rows += [
        [i.start.strftime("%Y.%m.%d"), i.machine, i.start.strftime("%H:%M"),
         str(int((i.end - i.start).total_seconds() // 60)), i.state, i.reason, _n(i.good), _n(i.scrap)]
        for i in INTERVALS
    ]  # fmt: skip
    return _csv(d / "kr_duration_semicolon.csv", rows, "utf-8", ";")


def write_en_duration_tab(d: Path) -> Path:
    """Tabs, English, line and machine columns, start timestamps and h:mm durations."""
    rows = [["Date", "Line", "Equipment", "From", "Duration", "State", "Cause", "Output", "Rejects"]]
    for i in INTERVALS:
        mins = int((i.end - i.start).total_seconds() // 60)
        rows.append(
            [i.start.strftime("%Y-%m-%d"), "Line A", EN_MACHINE[i.machine], i.start.strftime("%H:%M"),
             f"{mins // 60}:{mins % 60:02d}", EN_STATE[i.state], i.reason, _n(i.good), _n(i.scrap)]
        )  # fmt: skip
    return _csv(d / "en_duration_tab.tsv", rows, "utf-8", "\t")


def write_excel_serial_title(d: Path) -> Path:
    """Excel: a title row and a blank row above the header, start/end as serial numbers (no date
    format), Korean machine names, a second sheet of notes."""
    import openpyxl

    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "설명"
    notes.append(["이 파일은 MES에서 내려받은 설비 가동 기록입니다"])
    ws = wb.create_sheet("가동기록")
    ws.append(["설비 가동 일지 2026년 11월"])
    ws.append([])
    ws.append(["설비명", "시작일시", "종료일시", "상태", "정지사유", "양품수량", "불량수량"])
    for i in INTERVALS:
        ws.append(
            [
                f"가공 {i.machine}",
                _serial(i.start),
                _serial(i.end),
                i.state,
                i.reason or None,
                i.good,
                i.scrap,
            ]
        )
    path = d / "excel_serial_title.xlsx"
    wb.save(path)
    return path


def write_excel_date_time_cells(d: Path) -> Path:
    """Excel: real date cells and time-of-day cells in separate columns, a night shift past
    midnight (one end time before its start time; the rows after midnight dated the next day),
    the machine in a column named 설비."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["날짜", "설비", "시작", "종료", "구분", "양품", "불량"])
    for i in NIGHT:
        ws.append(
            [
                datetime.combine(i.start.date(), time()),
                i.machine,
                i.start.time(),
                i.end.time(),
                i.state,
                i.good,
                i.scrap,
            ]
        )
    path = d / "excel_night_shift.xlsx"
    wb.save(path)
    return path


def write_state_events(d: Path) -> Path:
    """A state event log (one row per change), Korean machine names, a line column."""
    rows = [["발생일시", "라인", "설비", "상태", "사유"]]
    rows += [[t.strftime("%Y-%m-%d %H:%M:%S"), "프레스 2라인", m, s, r] for t, m, s, r in EVENTS]
    return _csv(d / "state_events.csv", rows, "utf-8")


def write_count_log(d: Path) -> Path:
    """A count log: timestamps with seconds and ISO 'T', parts per row."""
    rows = [["timestamp", "machine_id", "good_parts", "scrap_parts"]]
    rows += [[t.strftime("%Y-%m-%dT%H:%M:%S"), m, str(g), str(s)] for t, m, g, s in COUNTS]
    return _csv(d / "count_log.csv", rows, "utf-8")


def write_counter_totals(d: Path) -> Path:
    """A counter read every hour: running totals, CP949, 시각 and 누적수량."""
    rows = [["시각", "설비", "누적수량"]]
    total: dict[str, int] = {"WLD-01": 5000, "WLD-02": 9000}
    for t, m, g, s in COUNTS:
        total[m] += g + s
        rows.append([t.strftime("%Y-%m-%d %H:%M"), m, str(total[m])])
    return _csv(d / "counter_totals.csv", rows, "cp949")


def write_signals_wide(d: Path) -> Path:
    """A wide signal table, semicolons, English, units in brackets."""
    rows = [["Timestamp", "Temperature (°C)", "Pressure [bar]", "Spindle Load"]]
    rows += [[t.strftime("%Y-%m-%d %H:%M:%S"), f"{a:.1f}", f"{b:.2f}", str(c)] for t, a, b, c in SIGNALS]
    return _csv(d / "signals_wide.csv", rows, "utf-8", ";")


def write_signals_long(d: Path) -> Path:
    """A long signal log: one row per reading, with the signal's name and unit in columns."""
    rows = [["측정일시", "설비", "항목", "값", "단위"]]
    for t, a, b, _c in SIGNALS[:6]:
        rows.append([t.strftime("%Y-%m-%d %H:%M"), "사출기 1", "온도", f"{a:.1f}", "℃"])
        rows.append([t.strftime("%Y-%m-%d %H:%M"), "사출기 1", "압력", f"{b:.2f}", "bar"])
    return _csv(d / "signals_long.csv", rows, "utf-8-sig")


def write_downtime_log(d: Path) -> Path:
    """A downtime log: only the stops (start, end, reason); the machine runs between them."""
    rows = [["설비", "정지시작", "정지종료", "정지사유"]]
    rows += [
        [EN_MACHINE[i.machine], i.start.strftime("%Y-%m-%d %H:%M"), i.end.strftime("%Y-%m-%d %H:%M"), i.reason]
        for i in INTERVALS
        if i.state in ("비가동", "고장")
    ]  # fmt: skip
    return _csv(d / "downtime_log.csv", rows, "utf-8")


def write_dayfirst(d: Path) -> Path:
    """Day-first dates (23/11/2026 08:00), English state words, one machine (no machine column)."""
    rows = [["Start", "End", "Mode", "Good Count"]]
    rows += [
        [i.start.strftime("%d/%m/%Y %H:%M"), i.end.strftime("%d/%m/%Y %H:%M"), EN_STATE[i.state], _n(i.good)]
        for i in INTERVALS
        if i.machine == "1호기"
    ]  # fmt: skip
    return _csv(d / "press7_dayfirst.csv", rows, "utf-8")


def write_kr_ampm_dates(d: Path) -> Path:
    """EUC-KR, Korean dates with the weekday (2026년 11월 23일 (월)), 오전/오후 times, one machine
    per file with its name in the title row, a 비고 column."""
    rows: list[list] = [["1호기 작업일보"]]
    rows.append(["작업일", "시작시각", "종료시각", "상태", "비고", "생산량"])
    for i in INTERVALS:
        if i.machine != "1호기":
            continue
        rows.append(
            [f"{i.start.year}년 {i.start.month}월 {i.start.day}일 (월)", _ampm(i.start), _ampm(i.end), i.state,
             i.reason, _n(i.good)]
        )  # fmt: skip
    return _csv(d / "kr_ampm_dates.csv", rows, "euc-kr")


def write_mes_export(d: Path) -> Path:
    """An English MES export: a work center instead of a machine column, start and end each as a
    date column and a time column, upper-case state words, reason codes."""
    rows = [["Work Center", "Start Date", "Start Time", "End Date", "End Time", "Status", "Reason Code",
             "Qty Good", "Qty Scrap"]]  # fmt: skip
    for i in INTERVALS:
        rows.append(
            [EN_MACHINE[i.machine].replace("CNC-0", "WC-"), f"{i.start:%Y-%m-%d}", f"{i.start:%H:%M:%S}",
             f"{i.end:%Y-%m-%d}", f"{i.end:%H:%M:%S}", EN_STATE[i.state].upper(), i.reason, _n(i.good),
             _n(i.scrap)]
        )  # fmt: skip
    return _csv(d / "mes_export.csv", rows, "utf-8")


def _ampm(t: datetime) -> str:
    half = "오전" if t.hour < 12 else "오후"
    return f"{half} {(t.hour - 1) % 12 + 1}:{t.minute:02d}"


def write_products(d: Path) -> Path:
    """The product master of the issue: product, name, ideal cycle time in seconds (CP949)."""
    rows = [["품번", "품명", "사이클타임(초)"]]
    rows += [[p, f"제품 {p}", str(ct)] for p, ct in PRODUCTS.items()]
    return _csv(d / "products_cp949.csv", rows, "cp949")


WRITERS = [
    write_kr_intervals_cp949,
    write_en_intervals_bom,
    write_kr_duration_semicolon,
    write_en_duration_tab,
    write_excel_serial_title,
    write_excel_date_time_cells,
    write_state_events,
    write_count_log,
    write_counter_totals,
    write_signals_wide,
    write_signals_long,
    write_downtime_log,
    write_dayfirst,
    write_kr_ampm_dates,
    write_mes_export,
    write_products,
]


def write_all(d: Path = EXPORTS) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    return [w(d) for w in WRITERS]


if __name__ == "__main__":
    for p in write_all():
        print(p)
