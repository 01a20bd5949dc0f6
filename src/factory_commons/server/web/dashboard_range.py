"""The period a dashboard page shows: plant-local days from `?from=YYYY-MM-DD&to=YYYY-MM-DD`
(`to` inclusive), a preset (`?range=today|yesterday|7d|30d|this_month|last_month`) or the
last `?days=N` (rolling, up to now), and the names shown for machines and lines.

Days are the plant's days: midnight to midnight in the plant's time zone
(`Store.plant_timezone()` where the store has it, else Asia/Seoul), so "yesterday" and
"last month" are what a person at the plant means by them. A range never reaches past now.
A bad value raises `RangeError`, which the page shows as a message next to the picker
(both languages, naming the field and the value), never a server error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...model.hierarchy import Machine
from ...model.policy import EARLIEST, LATEST_PLANNED
from ...store.base import Store

#: the zone used where the store keeps none (the samples' plant)
DEFAULT_ZONE = "Asia/Seoul"
PRESETS = ("today", "yesterday", "7d", "30d", "this_month", "last_month")
#: the longest range a page computes (days)
MOST_DAYS = 400
MOST_ROLLING_DAYS = 92
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class RangeError(ValueError):
    """A bad period in a page's query: the field (`from`, `to`, `range`), the catalog key saying
    why, and its parameters (the value, the limits)."""

    def __init__(self, field: str, key: str, **params: object) -> None:
        super().__init__(f"{field}: {key} {params}")
        self.field, self.key, self.params = field, key, params


def plant_zone(store: Store) -> ZoneInfo:
    """The plant's time zone: the store's setting where it keeps one, else Asia/Seoul."""
    getter = getattr(store, "plant_timezone", None)
    name = getter() if callable(getter) else None
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of a plant-local day, in UTC."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, and how it was asked for (`preset`, or `days` when rolling, or the
    plant-local days `first`..`last` of a custom range)."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    first: date
    last: date
    preset: str | None = None
    days: int | None = None

    @property
    def custom(self) -> bool:
        return self.preset is None and self.days is None

    @property
    def zone(self) -> str:
        return self.tz.key

    def local(self, value: datetime) -> datetime:
        return value.astimezone(self.tz)

    def label(self) -> str:
        """'2026-11-01 00:00 – 2026-12-01 00:00', the end's date left out when it is the same day."""
        s, e = self.local(self.start), self.local(self.end)
        end = f"{e:%H:%M}" if s.date() == e.date() else f"{e:%Y-%m-%d %H:%M}"
        return f"{s:%Y-%m-%d %H:%M} – {end}"

    def query(self) -> str:
        """The query string that asks for this period again (links between pages keep it)."""
        if self.days is not None:
            return urlencode({"days": self.days})
        if self.preset is not None:
            return urlencode({"range": self.preset})
        return urlencode({"from": self.first.isoformat(), "to": self.last.isoformat()})

    @property
    def span_days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def _day(value: str, field: str) -> date:
    value = value.strip()
    if not _ISO_DAY.fullmatch(value):
        raise RangeError(field, "dash_err_bad_date", value=value[:40])
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise RangeError(field, "dash_err_bad_date", value=value) from None
    if not EARLIEST.date() <= day < LATEST_PLANNED.date():  # the time policy (model/policy.py)
        raise RangeError(field, "dash_err_bad_date", value=value)
    return day


def preset_days(preset: str, today: date) -> tuple[date, date]:
    """The first and last plant-local day of a preset."""
    if preset == "today":
        return today, today
    if preset == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if preset == "7d":
        return today - timedelta(days=6), today
    if preset == "30d":
        return today - timedelta(days=29), today
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    raise RangeError("range", "dash_err_bad_preset", value=preset[:40], presets=", ".join(PRESETS))


def _period(first: date, last: date, at: datetime, tz: ZoneInfo, field: str, preset: str | None) -> Period:
    start = local_midnight(first, tz)
    end = min(local_midnight(last + timedelta(days=1), tz), at)
    if start >= at:
        if first == at.astimezone(tz).date():  # today, asked for at the very stroke of midnight
            return rolling(1, at, tz)
        raise RangeError(field, "dash_err_future", value=first.isoformat())
    return Period(start, end, tz, first, last, preset=preset)


def parse_period(query: Mapping[str, str], at: datetime, tz: ZoneInfo, default: str | int = "7d") -> Period:
    """The period a page's query asks for (see the module's docstring); `default`, a preset or a
    number of rolling days, where it asks for none. Raises RangeError on a bad value."""
    at = at.astimezone(UTC)
    today = at.astimezone(tz).date()
    first_s, last_s = query.get("from", "").strip(), query.get("to", "").strip()
    if first_s or last_s:
        first = _day(first_s, "from") if first_s else None
        last = _day(last_s, "to") if last_s else None
        first = first or last or today
        last = last or max(first, today)
        if first > last:
            raise RangeError("to", "dash_err_reversed", first=first.isoformat(), last=last.isoformat())
        if (last - first).days + 1 > MOST_DAYS:
            raise RangeError("to", "dash_err_too_long", most=MOST_DAYS)
        return _period(first, last, at, tz, "from", None)
    preset = query.get("range", "").strip()
    if not preset and "days" in query:
        try:
            days = min(max(int(query["days"]), 1), MOST_ROLLING_DAYS)
        except ValueError:
            raise RangeError("days", "dash_err_bad_days", value=str(query["days"])[:40]) from None
        return rolling(days, at, tz)
    if not preset:
        if isinstance(default, int):
            return rolling(default, at, tz)
        preset = default
    first, last = preset_days(preset, today)
    return _period(first, last, at, tz, "range", preset)


def rolling(days: int, at: datetime, tz: ZoneInfo) -> Period:
    """The last `days` up to `at` (the machine page's default: the last 24 hours)."""
    start = at - timedelta(days=days)
    return Period(start, at, tz, start.astimezone(tz).date(), at.astimezone(tz).date(), days=days)


# -- names ------------------------------------------------------------------------------------
def short_name(path: str) -> str:
    """The last segment of a path ('cnc-01' of 'acme/s1/a1/l1/cnc-01')."""
    return path.rsplit("/", 1)[-1]


def machine_names(machines: Iterable[Machine], paths: Iterable[str] | None = None) -> dict[str, str]:
    """What people see for each machine: its display name, else the last segment of its path.

    Where two machines shown together would read the same (two firms' `cnc-01`), each gets
    the first part of its path that tells them apart: its enterprise (firm), else its line."""
    chosen = set(paths) if paths is not None else None
    names = {
        m.path: (m.display_name or "").strip() or short_name(m.path)
        for m in machines
        if chosen is None or m.path in chosen
    }
    for p in chosen or ():
        names.setdefault(p, short_name(p))
    seen: dict[str, list[str]] = {}
    for p, n in names.items():
        seen.setdefault(n, []).append(p)
    for n, same in seen.items():
        if len(same) < 2:
            continue
        firms = {p.split("/", 1)[0] for p in same}
        for p in same:
            where = p.split("/", 1)[0] if len(firms) == len(same) else p.rsplit("/", 1)[0]
            names[p] = f"{n} ({where})"
    return names
