"""Reading cell values in bulk: timestamps, numbers, codes and flags, each bad cell flagged.

Every function takes the cells of one column (strings from a CSV, Python values from Excel)
and returns arrays plus masks of empty and unreadable cells, so that the caller can reject
exactly the rows that hold them. Clean CSV columns take a vectorised path (Arrow, pandas);
a column with odd cells falls back to reading each cell.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .files_mapping import code_key

NAT = np.datetime64("NaT", "us")
_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "us")
_US_PER_DAY = 86_400_000_000
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
_OFFSET = r"\d(?:Z|[+-]\d\d:?\d\d)$"
_NUMERIC = re.compile(r"[+-]?\d+(\.\d*)?")
_AMPM = {"오전": "AM", "오후": "PM"}
#: formats tried, in order, for cells that ISO 8601 does not read (time_format = "auto")
FALLBACK_FORMATS = (
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d %H:%M",
    "%Y.%m.%d",
    "%Y-%m-%d %p %I:%M:%S",
    "%Y-%m-%d %p %I:%M",
    "%Y/%m/%d %p %I:%M:%S",
    "%Y/%m/%d %p %I:%M",
    "%Y.%m.%d %p %I:%M:%S",
    "%Y.%m.%d %p %I:%M",
    "%Y%m%d%H%M%S",
)
TRUE_WORDS = {"1", "true", "on", "yes", "y", "set", "active", "raised", "발생", "설정", "켜짐", "on/발생"}
FALSE_WORDS = {"0", "false", "off", "no", "n", "clear", "cleared", "reset", "해제", "복구", "꺼짐"}
SEVERITY_WORDS = {
    "info": "info",
    "정보": "info",
    "warning": "warning",
    "warn": "warning",
    "경고": "warning",
    "주의": "warning",
    "critical": "critical",
    "error": "critical",
    "심각": "critical",
    "위험": "critical",
    "중대": "critical",
}


def blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == ""


def texts(values: list) -> list[str | None]:
    """Cells as stripped text (None when empty); numbers as written (3.0 -> "3")."""
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, str):
            out.append(v.strip() or None)
        elif isinstance(v, datetime | date):
            out.append(v.isoformat(sep=" "))
        else:
            out.append(code_key(v))
    return out


def numbers(values: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(float values with NaN where empty or bad, empty mask, bad mask)."""
    n = len(values)
    try:
        arr = pa.array(values, pa.string())
        empty = pc.equal(pc.utf8_length(arr), 0)
        arr = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
        out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        empty_np = pc.fill_null(empty, True).to_numpy(zero_copy_only=False)
        return _finite(out, empty_np)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        pass
    out = np.full(n, np.nan)
    empty_np = np.zeros(n, bool)
    bad = np.zeros(n, bool)
    for i, v in enumerate(values):
        if blank(v):
            empty_np[i] = True
        elif isinstance(v, bool):
            out[i] = float(v)
        elif isinstance(v, int | float):
            out[i] = float(v)
        elif isinstance(v, str):
            t = v.strip()
            if _THOUSANDS.fullmatch(t):
                t = t.replace(",", "")
            try:
                out[i] = float(t)
            except ValueError:
                bad[i] = True
        else:
            bad[i] = True
    values_, empty_np, bad2 = _finite(out, empty_np)
    return values_, empty_np, bad | bad2


def _finite(out: np.ndarray, empty: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bad = ~empty & ~np.isfinite(out)
    if bad.any():
        out = out.copy()
        out[bad] = np.nan
    return out, empty, bad


def codes(values: list[str | None], table: dict, fallback: dict | None = None) -> list:
    """Look each text up in `table` (then `fallback`, case-insensitive); missing -> KeyError marker."""
    out = []
    for v in values:
        if v is None:
            out.append(None)
        elif v in table:
            out.append(table[v])
        elif fallback is not None and v.lower() in fallback:
            out.append(fallback[v.lower()])
        else:
            out.append(MISSING)
    return out


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


def flags(values: list[str | None], table: dict | None) -> list:
    """Alarm on/off cells as True/False (MISSING when not understood)."""
    words = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
    return codes(values, table or {}, words)


class Times:
    """Parsed timestamps of one column: UTC (naive datetime64[us]), empty and bad masks."""

    def __init__(self, ts: np.ndarray, empty: np.ndarray, bad: np.ndarray, local_gap: np.ndarray):
        self.ts, self.empty, self.bad, self.local_gap = ts, empty, bad, local_gap


def times(values: list, fmt: str, zone: ZoneInfo) -> Times:
    """Read a time column.

    fmt: "auto" (ISO 8601 with - / or . between date parts, optional offset; Korean 오전/오후;
    Excel serial days, Unix seconds or milliseconds told apart by size), a strptime format,
    "excel", "unix_s" or "unix_ms". Times without an offset are local times in `zone`.
    """
    n = len(values)
    ts = np.full(n, NAT)
    empty = np.zeros(n, bool)
    bad = np.zeros(n, bool)
    gap = np.zeros(n, bool)
    if fmt not in ("excel", "unix_s", "unix_ms"):
        fast = _string_times(values, fmt, zone)
        if fast is not None:
            return fast
    str_idx: list[int] = []
    strs: list[str] = []
    num_idx: list[int] = []
    nums: list[float] = []
    for i, v in enumerate(values):
        if isinstance(v, str):
            t = v.strip()
            if not t:
                empty[i] = True
            else:
                str_idx.append(i)
                strs.append(t)
        elif v is None:
            empty[i] = True
        elif isinstance(v, datetime):
            str_idx.append(i)
            strs.append(v.isoformat(sep=" "))
        elif isinstance(v, date):
            str_idx.append(i)
            strs.append(v.isoformat())
        elif isinstance(v, int | float) and not isinstance(v, bool):
            num_idx.append(i)
            nums.append(float(v))
        else:  # a time of day without a date, a bool, ...
            bad[i] = True
    if strs and fmt in ("excel", "unix_s", "unix_ms"):
        vals, _, nbad = numbers(strs)
        idx = np.asarray(str_idx)
        num_idx += idx[~nbad].tolist()
        nums += vals[~nbad].tolist()
        bad[idx[nbad]] = True
    elif strs:
        if fmt == "auto":  # numbers written as text: Excel serials or Unix times (not YYYYMMDD)
            numeric = [j for j, t in enumerate(strs) if _NUMERIC.fullmatch(t) and len(t) not in (8, 12, 14)]
            for j in reversed(numeric):
                num_idx.append(str_idx.pop(j))
                nums.append(float(strs.pop(j)))
        if strs:
            idx = np.asarray(str_idx)
            utc, skipped = _parse_strings(pd.Series(strs, dtype=object), fmt, zone)
            ts[idx] = utc.to_numpy(dtype="datetime64[us]", na_value=NAT)
            gap[idx[skipped]] = True
            bad[idx[utc.isna().to_numpy()]] = True
    if nums:
        idx = np.asarray(num_idx)
        got, nbad, local = _from_numbers(np.asarray(nums), fmt)
        if local.any():
            utc, skipped = _localize(pd.Series(got[local]), zone)
            got[local] = utc.to_numpy(dtype="datetime64[us]", na_value=NAT)
            gap[idx[local][skipped]] = True
        ts[idx] = got
        bad[idx[nbad | np.isnat(got)]] = True
    return Times(ts, empty, bad, gap)


def _string_times(values: list, fmt: str, zone: ZoneInfo) -> Times | None:
    """A column of text cells (a CSV) read in bulk; None when it holds other values."""
    try:
        arr = pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    arr = pc.utf8_trim_whitespace(arr)
    empty = pc.fill_null(pc.equal(pc.utf8_length(arr), 0), True).to_numpy(zero_copy_only=False)
    if fmt == "auto":  # numbers written as text (Excel serials, Unix times) take the slow path
        numeric = pc.match_substring_regex(arr, r"^[+-]?\d+(\.\d*)?$")
        plain_date = pc.is_in(pc.utf8_length(arr), pa.array([8, 12, 14], pa.int32()))
        if pc.any(pc.and_(numeric, pc.invert(plain_date))).as_py():
            return None
    keep = np.flatnonzero(~empty)
    ts = np.full(len(values), NAT)
    bad = np.zeros(len(values), bool)
    gap = np.zeros(len(values), bool)
    if len(keep):
        strs = arr.take(pa.array(keep)) if len(keep) < len(values) else arr
        utc, skipped = _parse_strings(pd.Series(strs.to_pylist(), dtype=object), fmt, zone)
        ts[keep] = utc.to_numpy(dtype="datetime64[us]", na_value=NAT)
        gap[keep[skipped]] = True
        bad[keep[utc.isna().to_numpy()]] = True
    return Times(ts, empty, bad, gap)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_strings(s: pd.Series, fmt: str, zone: ZoneInfo) -> tuple[pd.Series, np.ndarray]:
    """UTC times (NaT where unread) and a mask of local times that a DST change skips or repeats."""
    if fmt != "auto":
        return _to_utc(s, fmt, zone)
    utc, gap = _to_utc(s, "ISO8601", zone)
    gap = np.array(gap, bool)  # writable (pandas may hand out a read-only view)
    failed = utc.isna().to_numpy() & ~gap
    if failed.any():
        rest = s[failed]
        if rest.str.contains("오전|오후", regex=True).any():
            rest = rest.replace(_AMPM, regex=True)
        for f in FALLBACK_FORMATS:
            got, g = _to_utc(rest, f, zone)
            ok = got.notna().to_numpy()
            if ok.any() or g.any():
                utc.loc[got.index[ok]] = got[ok]
                gap[got.index[g].to_numpy()] = True  # s has a RangeIndex: labels are positions
                rest = rest[~ok & ~g]
                if rest.empty:
                    break
    return utc, gap


def _to_utc(s: pd.Series, fmt: str, zone: ZoneInfo) -> tuple[pd.Series, np.ndarray]:
    """Parse with one format; (UTC times or NaT, mask of local times skipped or repeated by DST)."""
    try:
        parsed = pd.to_datetime(s, format=fmt, errors="coerce")
    except (ValueError, TypeError):  # offsets mixed with local times, or several offsets
        aware = s.str.contains(_OFFSET, regex=True).fillna(False).to_numpy(dtype=bool)
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
        gap = np.zeros(len(s), bool)
        if aware.any():
            got = pd.to_datetime(s[aware], format=fmt, errors="coerce", utc=True)
            out[aware] = got.dt.tz_localize(None).astype("datetime64[us]")
        if (~aware).any():
            got, gap[~aware] = _to_utc(s[~aware], fmt, zone)
            out[~aware] = got
        return out, gap
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]"), np.zeros(
            len(s), bool
        )
    return _localize(parsed, zone)


def _localize(parsed: pd.Series, zone: ZoneInfo) -> tuple[pd.Series, np.ndarray]:
    """Local wall-clock times in `zone` as UTC; NaT (and True in the mask) for times that a DST
    change skips or repeats."""
    parsed = parsed.astype("datetime64[us]")
    if zone.key in ("UTC", "Etc/UTC"):
        return parsed, np.zeros(len(parsed), bool)
    local = parsed.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    utc = local.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
    return utc, np.array((utc.isna() & parsed.notna()).to_numpy(), bool)


def _from_numbers(x: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, bad mask, local mask) from Excel serial days or Unix seconds/milliseconds."""
    with np.errstate(invalid="ignore"):
        if fmt == "excel":
            kind = np.full(len(x), 1)
        elif fmt == "unix_s":
            kind = np.full(len(x), 2)
        elif fmt == "unix_ms":
            kind = np.full(len(x), 3)
        else:  # auto: by size (Excel 1954-2119, Unix s 1973-2286, Unix ms 1973-2286)
            kind = np.select(
                [(x >= 20_000) & (x < 80_000), (x >= 1e8) & (x < 1e10), (x >= 1e11) & (x < 1e13)],
                [1, 2, 3],
                0,
            )
        # Excel keeps times to about a millisecond: 0.375 + 1/96 day is 09:15, not 09:14:59.999999
        excel_us = np.round(x * (_US_PER_DAY / 1000)) * 1000
        us = np.select([kind == 1, kind == 2, kind == 3], [excel_us, x * 1e6, x * 1e3], np.nan)
        bad = ~np.isfinite(us) | (kind == 0) | (np.abs(us) > 9e15) | ((kind == 1) & (x < 1))
    out = np.full(len(x), NAT)
    ok = ~bad
    base = np.where(kind[ok] == 1, _EXCEL_EPOCH.astype(np.int64), 0)
    out[ok] = (base + np.round(us[ok]).astype(np.int64)).astype("datetime64[us]")
    return out, bad, (kind == 1) & ok


# -- dates, times of day and durations (a date column beside time columns) ---------------------
#: a time of day as people write it: 8:05, 08:05:30, 08:05:30.250, 오후 2:30, 2:30 PM, 24:00
CLOCK = r"(?i)^\s*(?:(오전|오후|am|pm)\s*)?(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?(?:\s*(오전|오후|am|pm))?\s*$"
_CLOCK = re.compile(CLOCK)
_PM = {"오후", "pm"}
#: dates that a time-only cell or format gives (Excel's day 0, strptime's default year)
_NO_DATE_DAYS = {date(1899, 12, 30), date(1899, 12, 31), date(1900, 1, 1)}
_DATE_DIRECTIVES = re.compile(r"%[YymdjbBUWGVuaAcxsF]")
_WEEKDAY = re.compile(r"\s*\((?:[월화수목금토일]|mon|tue|wed|thu|fri|sat|sun)[a-z]*\)\s*$", re.I)
_KOREAN_DATE = re.compile(r"^\s*(\d{4})\s*[년.\-/]\s*(\d{1,2})\s*[월.\-/]\s*(\d{1,2})\s*[일.]?\s*$")
#: a header that names a column of dates (for the advice to map `date`)
DATE_HEADER = re.compile(r"일자|날짜|작업일|생산일|date|day", re.I)
DATE_FORMATS = ("%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")
US_PER_UNIT = {"s": 1_000_000, "min": 60_000_000, "h": 3_600_000_000}
_HMS = re.compile(r"^\s*(-)?(\d+):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,6}))?)?\s*$")


def time_only_format(fmt: str) -> bool:
    """A strptime format without any date part (%H:%M): it gives times of day."""
    return "%" in fmt and not _DATE_DIRECTIVES.search(fmt)


def _clock_text(text: str, fmt: str) -> int | None:
    """Microseconds since midnight of a written time of day, or None."""
    m = _CLOCK.match(text)
    if m is None:
        if time_only_format(fmt):
            try:
                t = datetime.strptime(text.strip(), fmt)
            except ValueError:
                return None
            return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond
        return None
    pre, hh, mm, ss, frac, post = m.groups()
    h, mi, sec = int(hh), int(mm), int(ss or 0)
    half = (pre or post or "").lower()
    if half:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if half in _PM else 0)
    if mi > 59 or sec > 59 or h > 24 or (h == 24 and (mi or sec or frac)):
        return None
    us = int((frac or "0").ljust(6, "0")[:6])
    return ((h * 60 + mi) * 60 + sec) * 1_000_000 + us


class Clock:
    """Cells of a column that are times of day: microseconds since midnight where `mask`."""

    def __init__(self, us: np.ndarray, mask: np.ndarray):
        self.us, self.mask = us, mask


def clock_times(values: list, fmt: str) -> Clock:
    """Find the cells that hold only a time of day: 08:05, 오후 2:30, a `datetime.time` cell, an
    Excel time fraction (0 <= x < 1), an Excel time shown on its day 0 (1899-12-30), or any cell
    of a time-only strptime format."""
    n = len(values)
    us = np.zeros(n, np.int64)
    mask = np.zeros(n, bool)
    try:
        arr = pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        arr = None
    if arr is not None:  # text cells (a CSV): find candidates in bulk, read only those
        if time_only_format(fmt):
            cand = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0), False)
        else:
            cand = pc.fill_null(pc.match_substring_regex(arr, CLOCK), False)
            if fmt in ("auto", "excel"):  # an Excel fraction written as text: 0.3368
                frac = pc.match_substring_regex(arr, r"^\s*0?\.\d+\s*$|^\s*0\s*$")
                cand = pc.or_(cand, pc.fill_null(frac, False))
        idx = np.flatnonzero(cand.to_numpy(zero_copy_only=False))
        seen: dict[str, int | None] = {}
        for i in idx.tolist():
            text = values[i]
            got = seen.get(text, -1)
            if got == -1:
                got = seen[text] = _clock_cell(text, fmt)
            if got is not None:
                us[i], mask[i] = got, True
        return Clock(us, mask)
    for i, v in enumerate(values):
        got = _clock_cell(v, fmt)
        if got is not None:
            us[i], mask[i] = got, True
    return Clock(us, mask)


def _clock_cell(v: object, fmt: str) -> int | None:
    if isinstance(v, str):
        got = _clock_text(v, fmt)
        if got is None and fmt in ("auto", "excel") and _NUMERIC.fullmatch(v.strip()):
            x = float(v)
            return _fraction(x) if 0 <= x < 1 else None
        return got
    if isinstance(v, datetime):
        if v.date() in _NO_DATE_DAYS:
            return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
        return None
    if isinstance(v, time):
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
    if isinstance(v, timedelta):
        us = round(v.total_seconds() * 1e6)
        return us if 0 <= us <= _US_PER_DAY else None
    if isinstance(v, int | float) and not isinstance(v, bool) and fmt in ("auto", "excel") and 0 <= v < 1:
        return _fraction(float(v))
    return None


def _fraction(x: float) -> int:
    """An Excel time fraction of a day, to the millisecond that Excel keeps."""
    return int(round(x * (_US_PER_DAY / 1000))) * 1000


def dates(values: list, fmt: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a column of dates: (days as datetime64[D], NaT where empty or bad; empty; bad).

    fmt "auto": date or datetime cells, ISO dates (2026-11-23), 2026/11/23, 2026.11.23,
    2026. 11. 23., 2026년 11월 23일, 20261123, a weekday in brackets after them, Excel serial
    days (number cells or text); "excel": serial days; else a strptime format. A date cell that
    also holds a time gives its day.
    """
    n = len(values)
    days = np.full(n, np.datetime64("NaT", "D"))
    empty = np.zeros(n, bool)
    bad = np.zeros(n, bool)
    str_idx: list[int] = []
    strs: list[str] = []
    cache: dict = {}
    for i, v in enumerate(values):
        if blank(v):
            empty[i] = True
        elif isinstance(v, datetime):
            days[i] = np.datetime64(v.date(), "D")
        elif isinstance(v, date):
            days[i] = np.datetime64(v, "D")
        elif isinstance(v, int | float) and not isinstance(v, bool):
            got = _serial_day(float(v), fmt)
            if got is None:
                bad[i] = True
            else:
                days[i] = got
        elif isinstance(v, str):
            t = v.strip()
            if t in cache:
                got = cache[t]
                if got is None:
                    bad[i] = True
                elif got is not MISSING:
                    days[i] = got
                else:
                    str_idx.append(i)
                    strs.append(t)
                continue
            got = MISSING
            if fmt in ("auto", "excel") and _NUMERIC.fullmatch(t):
                got = _serial_day(float(t), fmt)
            elif fmt == "auto":
                t2 = _WEEKDAY.sub("", t)
                k = _KOREAN_DATE.match(t2)
                if k:
                    try:
                        got = np.datetime64(date(*map(int, k.groups())), "D")
                    except ValueError:
                        got = None
                else:
                    t = t2
            cache[v.strip()] = got
            if got is None:
                bad[i] = True
            elif got is not MISSING:
                days[i] = got
            else:
                str_idx.append(i)
                strs.append(t)
        else:
            bad[i] = True
    if strs:
        s = pd.Series(strs, dtype=object)
        if fmt == "excel":
            got = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
        elif fmt != "auto":
            got = pd.to_datetime(s, format=fmt, errors="coerce")
        else:
            got = pd.to_datetime(s, format="ISO8601", errors="coerce")
            for f in DATE_FORMATS:
                miss = got.isna()
                if not miss.any():
                    break
                got[miss] = pd.to_datetime(s[miss], format=f, errors="coerce")
        if isinstance(got.dtype, pd.DatetimeTZDtype):
            got = got.dt.tz_localize(None)
        idx = np.asarray(str_idx)
        d = got.to_numpy(dtype="datetime64[us]", na_value=NAT).astype("datetime64[D]")
        days[idx] = d
        bad[idx[np.isnat(d)]] = True
    return days, empty, bad


def _serial_day(x: float, fmt: str) -> np.datetime64 | None:
    """The day of an Excel serial number (auto: 1954-2119 only; 20261123 reads as YYYYMMDD)."""
    if fmt == "auto" and x.is_integer() and 19_000_101 <= x <= 21_001_231:
        try:
            return np.datetime64(datetime.strptime(str(int(x)), "%Y%m%d").date(), "D")
        except ValueError:
            return None
    if not np.isfinite(x) or x < 1 or (fmt == "auto" and not 20_000 <= x < 80_000) or x > 2_958_465:
        return None
    return (_EXCEL_EPOCH + np.timedelta64(int(x * _US_PER_DAY), "us")).astype("datetime64[D]")


def durations(values: list, unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a column of interval lengths: (microseconds, empty, bad, negative).

    Numbers are in `unit` (s, min, h); h:mm or h:mm:ss text (1:30, 01:30:00) and Excel duration
    cells (a time or a timedelta) are hours, minutes and seconds whatever the unit.
    """
    n = len(values)
    us = np.zeros(n, np.int64)
    vals, empty, bad = numbers(values)
    with np.errstate(invalid="ignore"):
        ok = ~empty & ~bad
        us[ok] = np.round(vals[ok] * US_PER_UNIT[unit]).astype(np.int64)
    for i in np.flatnonzero(bad).tolist():
        v = values[i]
        got: int | None = None
        if isinstance(v, str):
            m = _HMS.match(v)
            if m and int(m.group(3)) < 60 and int(m.group(4) or 0) < 60:
                sign, h, mi, sec, frac = m.groups()
                got = ((int(h) * 60 + int(mi)) * 60 + int(sec or 0)) * 1_000_000
                got += int((frac or "0").ljust(6, "0")[:6])
                got = -got if sign else got
        elif isinstance(v, time):
            got = ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
        elif isinstance(v, timedelta):
            got = round(v.total_seconds() * 1e6)
        elif isinstance(v, datetime) and v.date() in _NO_DATE_DAYS:  # a duration past 24 h in Excel
            got = round((v - datetime(1899, 12, 30)).total_seconds() * 1e6)
        if got is not None:
            us[i], bad[i] = got, False
    return us, empty, bad, ~empty & ~bad & (us < 0)


def local_days(utc: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """The day in `zone` of each UTC time (NaT stays NaT)."""
    s = pd.Series(utc.astype("datetime64[us]"))
    if zone.key not in ("UTC", "Etc/UTC"):
        s = s.dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
    return s.to_numpy(dtype="datetime64[us]", na_value=NAT).astype("datetime64[D]")


def on_days(days: np.ndarray, us: np.ndarray, zone: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Local day + time of day -> (UTC times, mask of local times a DST change skips or repeats)."""
    local = days.astype("datetime64[us]") + us.astype("timedelta64[us]")
    utc, gap = _localize(pd.Series(local), zone)
    return np.array(utc.to_numpy(dtype="datetime64[us]", na_value=NAT)), gap


__all__ = [
    "CLOCK",
    "DATE_HEADER",
    "MISSING",
    "NAT",
    "SEVERITY_WORDS",
    "Clock",
    "Times",
    "blank",
    "clock_times",
    "codes",
    "dates",
    "durations",
    "flags",
    "local_days",
    "numbers",
    "on_days",
    "texts",
    "time_only_format",
    "times",
]
