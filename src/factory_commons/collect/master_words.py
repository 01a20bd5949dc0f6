"""The words master files (products, machines, shift calendars) are recognised by: column names
in Korean and English, units of a cycle time or a rate, and weekday names.

Data, not messages (tests/test_text_in_code.py lists this module as such): a shop's own
spreadsheet says 품번, 사이클타임(초) or UPH, and `collect/master_files.py` looks the header up
here. Column names are compared after `norm` (lower case, no spaces, _ - . or ·).
"""

from __future__ import annotations

import re

_DROP = re.compile(r"[\s_\-.·]+")


def norm(name: str) -> str:
    """A column name or unit as it is looked up: lower case, without spaces, _ - . and ·."""
    return _DROP.sub("", str(name).strip().lower())


def _n(*names: str) -> frozenset[str]:
    return frozenset(norm(n) for n in names)


#: role -> the column names that hold it (compared after `norm`)
PRODUCT_COLUMNS: dict[str, frozenset[str]] = {
    "product": _n(
        "품번",
        "품목",
        "제품",
        "제품코드",
        "품목코드",
        "품목번호",
        "제품번호",
        "부품번호",
        "부품코드",
        "품번코드",
        "product",
        "product code",
        "product id",
        "part",
        "part no",
        "part number",
        "part code",
        "item",
        "item code",
        "item no",
        "sku",
        "material",
    ),
    "name": _n(
        "품명",
        "제품명",
        "품목명",
        "부품명",
        "이름",
        "명칭",
        "name",
        "product name",
        "part name",
        "item name",
        "display name",
        "description",
    ),
    "cycle_time": _n(
        "사이클타임",
        "사이클 타임",
        "CT",
        "C/T",
        "표준 C/T",
        "표준CT",
        "표준 사이클타임",
        "기준 사이클타임",
        "이상 사이클타임",
        "표준시간",
        "표준 시간",
        "기준시간",
        "ideal cycle time",
        "cycle time",
        "ideal ct",
        "standard cycle time",
        "ict",
        "pru",
    ),
    "rate": _n(
        "시간당 생산량",
        "시간당",
        "시간당생산수",
        "시간당 수량",
        "시간당 생산수량",
        "UPH",
        "PPH",
        "parts per hour",
        "units per hour",
        "pieces per hour",
        "rate",
        "분당 생산량",
        "분당",
        "parts per minute",
        "units per minute",
        "PPM",
    ),
    "unit": _n("단위", "unit", "units", "CT 단위", "시간 단위", "cycle time unit", "time unit"),
}

#: rate columns whose name already says "per minute" (the others are per hour)
PER_MINUTE_RATE_NAMES = _n("분당 생산량", "분당", "parts per minute", "units per minute", "PPM")

MACHINE_COLUMNS: dict[str, frozenset[str]] = {
    "machine": _n(
        "설비",
        "설비코드",
        "설비번호",
        "설비 ID",
        "기계",
        "기계코드",
        "기계번호",
        "호기",
        "machine",
        "machine code",
        "machine id",
        "machine no",
        "equipment",
        "equipment id",
        "asset",
        "asset id",
        "path",
        "경로",
        "설비경로",
    ),
    "name": _n(
        "설비명",
        "기계명",
        "설비 이름",
        "이름",
        "명칭",
        "display name",
        "name",
        "machine name",
        "equipment name",
        "description",
    ),
    "line": _n("라인", "라인명", "생산라인", "line", "line name", "production line"),
    "area": _n("공정", "공정명", "작업장", "구역", "부서", "area", "process", "work center", "workcenter"),
    "kind": _n(
        "종류", "유형", "설비종류", "설비유형", "기종", "type", "kind", "machine type", "equipment type"
    ),
    "calendar": _n("캘린더", "근무표", "근무 캘린더", "교대 캘린더", "calendar", "shift calendar"),
    "timezone": _n("시간대", "타임존", "표준시간대", "timezone", "time zone", "tz", "zone"),
    "cycle_time": _n(
        "기준 사이클타임",
        "기본 사이클타임",
        "사이클타임",
        "표준 사이클타임",
        "표준 C/T",
        "CT",
        "C/T",
        "default cycle time",
        "ideal cycle time",
        "cycle time",
        "default ideal cycle time",
    ),
    "unit": _n("단위", "unit", "CT 단위", "cycle time unit", "time unit"),
}

CALENDAR_COLUMNS: dict[str, frozenset[str]] = {
    "calendar": _n("캘린더", "캘린더명", "근무표", "calendar", "calendar name", "name"),
    "shift": _n("근무조", "교대", "조", "교대조", "shift", "shift name"),
    "start": _n("시작", "시작시간", "시작 시각", "출근", "start", "start time", "from"),
    "end": _n("종료", "종료시간", "종료 시각", "끝", "퇴근", "end", "end time", "to"),
    "days": _n("요일", "근무요일", "days", "weekdays", "day"),
    "breaks": _n("휴식", "휴게", "휴식시간", "휴게시간", "breaks", "break", "planned breaks"),
    "timezone": _n("시간대", "타임존", "timezone", "time zone", "tz"),
    "holidays": _n("휴일", "공휴일", "휴무일", "holidays", "holiday"),
}

#: the units an error message lists as accepted
UNITS_SHOWN = ("s", "초", "min", "분", "h", "시간", "/h", "UPH", "/min")

#: a cycle time's unit -> seconds per unit
TIME_UNITS: dict[str, float] = {
    **dict.fromkeys(_n("s", "sec", "secs", "second", "seconds", "초", "초당"), 1.0),
    **dict.fromkeys(_n("min", "mins", "minute", "minutes", "m", "분"), 60.0),
    **dict.fromkeys(_n("h", "hr", "hrs", "hour", "hours", "시간"), 3600.0),
}

#: a rate's unit -> pieces per second per (piece per unit): 1 piece per hour is 1/3600 per second
RATE_UNITS: dict[str, float] = {
    **dict.fromkeys(
        _n(
            "/h",
            "/hr",
            "per hour",
            "pcs/h",
            "ea/h",
            "개/h",
            "개/시간",
            "uph",
            "pph",
            "units/h",
            "parts/h",
            "/시간",
        ),
        1 / 3600,
    ),
    **dict.fromkeys(
        _n("/min", "per minute", "pcs/min", "ea/min", "개/분", "units/min", "parts/min", "/분", "ppm"), 1 / 60
    ),
}

#: weekday names (Korean, English) -> the calendar's day keys
WEEKDAY_NAMES: dict[str, str] = {
    **dict(
        zip(
            ("월", "화", "수", "목", "금", "토", "일"),
            ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
            strict=True,
        )
    ),
    **dict(
        zip(
            ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"),
            ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
            strict=True,
        )
    ),
    **{d: d for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    **dict(
        zip(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
            ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
            strict=True,
        )
    ),
}

#: day-set words: every day, weekdays, weekends
DAY_SETS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        _n("매일", "every day", "daily", "all", "전체"), ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ),
    **dict.fromkeys(_n("평일", "weekdays", "주중"), ("mon", "tue", "wed", "thu", "fri")),
    **dict.fromkeys(_n("주말", "weekend", "weekends"), ("sat", "sun")),
}
