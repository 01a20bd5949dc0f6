"""One input policy for every way data comes in (API, file importer, collectors): texts and times.

Texts: no NUL, no other control character (a tab or a line break only in free texts), no lone
surrogate, and a maximum length per kind of field. PostgreSQL refuses NUL in text and a btree
index refuses keys over about 2700 bytes, so a value that passes here can be stored on every
backend. Times: an event time lies between `EARLIEST` (1970-01-01 UTC) and now plus
`max_ahead()` (a day by default; setting `FC_MAX_FUTURE_HOURS`); planned times (an order's
due date) between 1970 and `LATEST_PLANNED`. The store's batch validation, the importer and the
pydantic models (`model/records.py`, `model/hierarchy.py`) all call the functions here.

Each error is a `ValueError` whose text is Korean, then English (catalog `limits`).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from ..i18n import Catalog

LIMITS = Catalog("limits")

#: the longest machine path ("enterprise/site/area/line/machine") and one level of it
MAX_PATH = 255
MAX_SEGMENT = 64
#: codes (reason codes, order ids, signal names...), names shown to people, free texts
MAX_CODE = 200
MAX_NAME = 200
MAX_TEXT = 4000
#: any string of any request body (the server's middleware), whatever the field
MAX_ANY_STRING = 10_000

#: the earliest event time accepted anywhere
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: the latest planned time (an order's due date, a grant's expiry)
LATEST_PLANNED = datetime(2100, 1, 1, tzinfo=UTC)
#: the setting: how many hours after now an event time may lie (clocks drift, zones are wrong)
FUTURE_ENV = "FC_MAX_FUTURE_HOURS"
DEFAULT_MAX_AHEAD = timedelta(days=1)

_LINE_BAD = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_TEXT_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: the same sets as regular expressions for Arrow (`pyarrow.compute.match_substring_regex`,
#: RE2 syntax; RE2 strings are UTF-8, so they cannot hold a lone surrogate)
ARROW_LINE_BAD = "[\\x00-\\x1f\\x7f-\\x{9f}\\x{fffe}\\x{ffff}]"
ARROW_TEXT_BAD = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x{9f}\\x{fffe}\\x{ffff}]"


def limit_text(key: str, **values: object) -> str:
    """A text of the `limits` catalog, Korean / English, `{name}` fields filled."""
    text = LIMITS.both(key, " / ")
    return text.format(**values) if values else text


def bad_character(value: str, multiline: bool = False) -> int | None:
    """The position of the first character refused in a text, None when there is none."""
    m = (_TEXT_BAD if multiline else _LINE_BAD).search(value)
    return None if m is None else m.start()


def check_text(value: str, max_len: int, multiline: bool = False) -> str:
    """`value` when it has no refused character and at most `max_len` characters."""
    if len(value) > max_len:
        raise ValueError(limit_text("too_long", n=len(value), max=max_len))
    pos = bad_character(value, multiline)
    if pos is not None:
        raise ValueError(limit_text("control_char", char=f"U+{ord(value[pos]):04X}", pos=pos + 1))
    return value


def _line(max_len: int):
    return lambda v: check_text(v, max_len)


def _free(v: str) -> str:
    return check_text(v, MAX_TEXT, multiline=True)


#: a code: reason code, order id, product, detector (one line, 1..200 characters)
Code = Annotated[str, Field(min_length=1, max_length=MAX_CODE), AfterValidator(_line(MAX_CODE))]
#: a unit, a machine kind, a calendar name (one line, at most 200 characters)
Line = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_line(MAX_NAME))]
#: a name shown to people (at most 200 characters; a line break is kept: an Excel cell may
#: wrap a long name)
Name = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(lambda v: check_text(v, MAX_NAME, True))]
#: a free text (alarm message, note): tabs and line breaks allowed, at most 4000 characters
FreeText = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_free)]


# -- times ---------------------------------------------------------------------------------------
def max_ahead() -> timedelta:
    """How far after now an event time may lie: `FC_MAX_FUTURE_HOURS` (default 24 hours)."""
    raw = os.environ.get(FUTURE_ENV)
    if not raw:
        return DEFAULT_MAX_AHEAD
    try:
        hours = float(raw)
    except ValueError:
        raise ValueError(limit_text("bad_setting", name=FUTURE_ENV, value=raw)) from None
    return timedelta(hours=max(0.0, hours))


def latest(now: datetime | None = None) -> datetime:
    """The latest event time accepted now (aware UTC)."""
    return (now or datetime.now(UTC)) + max_ahead()


def _aware(value: datetime) -> datetime:
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # year 1 at +09:00 is before the first representable instant
        raise ValueError(limit_text("time_before_1970", ts=value.isoformat())) from None


def check_event_time(value: datetime, now: datetime | None = None) -> datetime:
    """`value` (aware UTC) when it lies in [1970-01-01, now + max_ahead()]; else ValueError."""
    ts = _aware(value)
    if ts < EARLIEST:
        raise ValueError(limit_text("time_before_1970", ts=ts.isoformat()))
    last = latest(now)
    if ts > last:
        hours = f"{max_ahead().total_seconds() / 3600:g}"
        raise ValueError(limit_text("time_in_future", ts=ts.isoformat(), hours=hours, setting=FUTURE_ENV))
    return ts


def check_planned_time(value: datetime) -> datetime:
    """`value` (aware UTC) when it lies in [1970-01-01, 2100-01-01): a due date, an expiry."""
    ts = _aware(value)
    if not EARLIEST <= ts < LATEST_PLANNED:
        raise ValueError(limit_text("time_out_of_range", ts=ts.isoformat(), last=LATEST_PLANNED.date()))
    return ts


#: an event time (state, count, signal, alarm...): aware UTC, within the policy
EventTime = Annotated[datetime, AfterValidator(check_event_time)]
#: a planned time (due date, planned start): aware UTC, 1970..2100
PlannedTime = Annotated[datetime, AfterValidator(check_planned_time)]
