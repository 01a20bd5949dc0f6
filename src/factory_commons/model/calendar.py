"""Shift calendars with planned breaks, expanded into the timeline that KPIs are computed on.

A calendar is a weekly rule (shifts on weekdays, breaks inside shifts, holidays). `timeline`
turns it into boundary events: from each event's `ts` until the next, the plant is at `work`,
on a planned `break`, or `off` (not scheduled). Each event carries the shift name and the
production day the shift started on, so that KPIs group by shift and day without any time-zone
arithmetic in SQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .hierarchy import check_timezone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PlannedBreak(BaseModel):
    """A planned break inside a shift (lunch, tea): planned downtime in ISO 22400."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    start: time
    end: time


class Shift(BaseModel):
    """A shift: from `start` to `end` (past midnight when end <= start) on the given weekdays."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    start: time
    end: time
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    breaks: tuple[PlannedBreak, ...] = ()

    @field_validator("days")
    @classmethod
    def _days(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for d in v:
            if d not in WEEKDAYS:
                raise ValueError(f"day {d!r} is not one of {', '.join(WEEKDAYS)}")
        return v

    @property
    def length(self) -> timedelta:
        return _span(self.start, self.end)

    @model_validator(mode="after")
    def _breaks_inside(self) -> Shift:
        for b in self.breaks:
            off = _offset(self.start, b.start)
            if off + _span(b.start, b.end) > self.length:
                raise ValueError(
                    f"break {b.name!r} ({b.start}-{b.end}) is not inside shift "
                    f"{self.name!r} ({self.start}-{self.end})"
                )
        return self


def _span(a: time, b: time) -> timedelta:
    """Duration from a to b on a 24 h clock; b <= a means b is on the next day."""
    da = timedelta(hours=a.hour, minutes=a.minute, seconds=a.second)
    db = timedelta(hours=b.hour, minutes=b.minute, seconds=b.second)
    return db - da if db > da else db - da + timedelta(days=1)


def _offset(a: time, b: time) -> timedelta:
    """How long after a (a shift's start) b comes: 0 when b == a, unlike _span's full day."""
    return timedelta(0) if a == b else _span(a, b)


class ShiftCalendar(BaseModel):
    """A plant's weekly shift pattern in its local time zone, with holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(default="default", min_length=1)
    timezone: str = "Asia/Seoul"
    shifts: tuple[Shift, ...] = Field(min_length=1)
    holidays: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v)

    @model_validator(mode="after")
    def _no_overlap(self) -> ShiftCalendar:
        # Check one reference week (plus the day after) for overlapping shifts.
        monday = date(2024, 1, 1)
        spans = sorted(self._shift_spans(monday, monday + timedelta(days=8), check=False))
        for (_s1, e1, n1, _), (s2, _e2, n2, _) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                raise ValueError(f"shifts {n1!r} and {n2!r} overlap")
        return self

    def _shift_spans(self, first: date, last: date, check: bool = True):
        tz = ZoneInfo(self.timezone)
        day = first - timedelta(days=1)
        holidays = set(self.holidays)
        while day <= last:
            wd = WEEKDAYS[day.weekday()]
            if day not in holidays:
                for sh in self.shifts:
                    if wd in sh.days:
                        start = datetime.combine(day, sh.start, tz)
                        yield start, start + sh.length, sh.name, day
            day += timedelta(days=1)

    def timeline(self, start: datetime, end: datetime) -> list[tuple[datetime, str, str | None, date | None]]:
        """Boundary events (ts UTC, status, shift, production day) covering [start, end).

        The first event is at or before `start`, so every instant in the range has a status.
        """
        start_u, end_u = _utc(start), _utc(end)
        tz = ZoneInfo(self.timezone)
        first = start_u.astimezone(tz).date() - timedelta(days=1)
        last = end_u.astimezone(tz).date() + timedelta(days=1)
        events: list[tuple[datetime, str, str | None, date | None]] = []
        for s, e, name, day in sorted(self._shift_spans(first, last)):
            sh = next(x for x in self.shifts if x.name == name)
            s_u, e_u = s.astimezone(UTC), e.astimezone(UTC)
            events.append((s_u, "work", name, day))
            for b in sorted(sh.breaks, key=lambda b: _offset(sh.start, b.start)):
                b_s = s + _offset(sh.start, b.start)
                b_e = b_s + _span(b.start, b.end)
                events.append((b_s.astimezone(UTC), "break", name, day))
                if b_e.astimezone(UTC) < e_u:  # a break that ends the shift is followed by 'off'
                    events.append((b_e.astimezone(UTC), "work", name, day))
            events.append((e_u, "off", None, None))
        events.sort(key=lambda ev: ev[0])
        # When one shift ends exactly where the next starts, keep the later event at that instant.
        merged: list[tuple[datetime, str, str | None, date | None]] = []
        for ev in events:
            if merged and merged[-1][0] == ev[0]:
                if ev[1] == "off":
                    continue
                merged[-1] = ev
            else:
                merged.append(ev)
        before = [ev for ev in merged if ev[0] <= start_u]
        head = before[-1] if before else (datetime(1970, 1, 1, tzinfo=UTC), "off", None, None)
        return [head] + [ev for ev in merged if start_u < ev[0] < end_u]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


CALENDAR_SCHEMA = pa.schema(
    [
        ("calendar", pa.string()),
        ("ts", pa.timestamp("us")),
        ("status", pa.string()),
        ("shift", pa.string()),
        ("day", pa.date32()),
    ]
)


def timeline_table(calendars: list[ShiftCalendar], start: datetime, end: datetime) -> pa.Table:
    """The timelines of several calendars as one Arrow table (UTC, naive microseconds)."""
    rows: dict[str, list] = {f.name: [] for f in CALENDAR_SCHEMA}
    for cal in calendars:
        for ts, status, shift, day in cal.timeline(start, end):
            rows["calendar"].append(cal.name)
            rows["ts"].append(ts.replace(tzinfo=None))
            rows["status"].append(status)
            rows["shift"].append(shift)
            rows["day"].append(day)
    return pa.table(rows, schema=CALENDAR_SCHEMA)
