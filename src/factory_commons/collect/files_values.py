"""Reading cell values in bulk: timestamps, numbers, codes and flags, each bad cell flagged.

Every function takes the cells of one column (strings from a CSV, Python values from Excel)
and returns arrays plus masks of empty and unreadable cells, so that the caller can reject
exactly the rows that hold them. Clean CSV columns take a vectorised path (Arrow, pandas);
a column with odd cells falls back to reading each cell.
"""

from __future__ import annotations

import re
from datetime import date, datetime
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
    return utc, (utc.isna() & parsed.notna()).to_numpy()


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


__all__ = [
    "MISSING",
    "NAT",
    "SEVERITY_WORDS",
    "Times",
    "blank",
    "codes",
    "flags",
    "numbers",
    "texts",
    "times",
]
