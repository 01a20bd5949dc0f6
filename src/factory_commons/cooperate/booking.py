"""O2O visit slots and shared equipment: what other firms and customers can book at a firm.

**Visit slots** (`VisitSlot`, kind ``"slot"``): a firm offers a date, a time range (Korean
time), a number of visitors and the languages the tour is given in. Firms, designers and
customers book places (`book_visit`); a slot never takes more visitors than its capacity, a
visitor holds one booking per slot and no two visits that overlap in time.

**Shared equipment** (`MachineOffer`, kind ``"offer"``): a firm offers idle hours of one of its
machines for one ISO week. The hours are limited by its *real* free capacity: the free machine
hours its capacity evidence (`model.CapacityEvidence`, computed from its own KPIs) measured for
that process — the figure of that very week when the evidence has it, otherwise the mean of the
measured weeks — minus what the firm already offers for that process and week. Offering more
is refused with the figure. Evidence the firm only declared is refused unless the caller allows
it. Other firms book hours (`book_machine_hours`); bookings reduce what is left, and a
cancellation (`cancel_booking`) gives the hours back.

Bookings (`Booking`, kind ``"booking"``, owner the booker) are separate documents; the slot or
offer keeps the running total booked, and both change in one `CommonsDB.transaction()`, so two
firms booking the last place at once never both get it. Errors are `pools.CommonsError` (field,
Korean and English, and a code for the API). Times are timezone-aware; slot times are Korean
Standard Time (UTC+9, no daylight saving).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .db import CommonsDB
from .model import CapacityWeek, Profile, Text
from .pools import Amount, CommonsError, _new_id, _now, to_decimal, won_floor
from .vocab import PROCESSES

KST = timezone(timedelta(hours=9), "KST")
HOUR_PLACES = 2  # bookable hours: up to 0.01 h
WEEK_HOURS = Decimal(168)
_LANG = re.compile(r"^[a-z]{2}$")

SLOT, OFFER, BOOKING = "slot", "offer", "booking"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VisitSlot(_Model):
    """A visit a firm offers (owner of the document: the firm)."""

    id: str
    firm_id: str
    day: date
    start: time
    end: time
    capacity: int = Field(ge=1)
    languages: tuple[str, ...]
    title: Text | None = None
    note: str = ""
    created: datetime
    state: Literal["open", "cancelled"] = "open"
    booked: int = 0  # visitors in active bookings

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.day, self.start, tzinfo=KST)

    @property
    def ends(self) -> datetime:
        return datetime.combine(self.day, self.end, tzinfo=KST)

    @property
    def left(self) -> int:
        return self.capacity - self.booked


class CapacityBasis(_Model):
    """The measured free hours an offer may draw on, and where the figure comes from."""

    process: str
    week_start: date
    free_hours: Amount  # measured, cut to 0.01 h
    weeks_measured: int
    source: str
    note: Text
    shared_with: tuple[str, ...] = ()  # processes measured on the same machines (one limit for all)


class MachineOffer(_Model):
    """Idle hours of one machine for one ISO week (owner of the document: the firm)."""

    id: str
    firm_id: str
    equipment_id: str
    process: str
    week_start: date  # a Monday
    hours: Amount
    hourly_rate_krw: int = Field(ge=0)
    basis: CapacityBasis  # the firm's measured free hours: private, show it to the firm only
    note: Text | None = None
    created: datetime
    state: Literal["open", "withdrawn"] = "open"
    booked_hours: Amount = Decimal(0)

    @property
    def left(self) -> Decimal:
        return self.hours - self.booked_hours

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.week_start, time(0), tzinfo=KST)

    @property
    def ends(self) -> datetime:
        return self.starts + timedelta(days=7)


class Booking(_Model):
    """A booking of visit places or machine hours (owner of the document: the booker)."""

    id: str
    kind: Literal["visit", "machine_hours"]
    target: str  # slot or offer id
    host: str  # the firm that offered
    booker: str  # a firm id, or "person:<name>" for a customer
    quantity: Amount  # visitors, or machine hours
    starts: datetime
    ends: datetime
    cost_krw: int = 0  # machine hours x the offer's hourly rate, sub-won cut
    note: str = ""
    created: datetime
    state: Literal["active", "cancelled"] = "active"
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None


# ---------------------------------------------------------------- helpers


def _party(booker: str, field: str) -> str:
    b = (booker or "").strip()
    if not b:
        raise CommonsError(field, "예약자 id가 비어 있습니다", "booker id is empty")
    return b


def _not_found(kind: str, id: str) -> CommonsError:
    ko = {"slot": "방문 일정", "offer": "설비 시간 제공", "booking": "예약"}[kind]
    return CommonsError(f"{kind}_id", f"{ko}이(가) 없습니다: {id}", f"no such {kind}: {id}", "not_found")


def _get(db: CommonsDB, kind: str, id: str, model: type[BaseModel]):
    doc = db.get(kind, id, model)
    if doc is None:
        raise _not_found(kind, id)
    return doc


def _check_new(db: CommonsDB, kind: str, id: str) -> None:
    if db.owner(kind, id) is not None:
        raise CommonsError(f"{kind}_id", f"이미 있는 id입니다: {id}", f"{kind} id exists: {id}", "conflict")


def get_slot(db: CommonsDB, slot_id: str) -> VisitSlot:
    return _get(db, SLOT, slot_id, VisitSlot)


def get_offer(db: CommonsDB, offer_id: str) -> MachineOffer:
    return _get(db, OFFER, offer_id, MachineOffer)


def get_booking(db: CommonsDB, booking_id: str) -> Booking:
    return _get(db, BOOKING, booking_id, Booking)


def bookings_of(db: CommonsDB, booker: str) -> list[Booking]:
    """A booker's bookings (active and cancelled), in id order."""
    return db.all(BOOKING, Booking, owner=booker)


def bookings_for(db: CommonsDB, *, host: str | None = None, target: str | None = None) -> list[Booking]:
    """Bookings at a host firm and/or of one slot or offer, in id order."""
    return [
        b
        for b in db.all(BOOKING, Booking)
        if (host is None or b.host == host) and (target is None or b.target == target)
    ]


# ---------------------------------------------------------------- visit slots


def offer_slot(
    db: CommonsDB,
    *,
    firm_id: str,
    day: date,
    start: time,
    end: time,
    capacity: int,
    languages: Iterable[str] = ("ko",),
    title: Text | None = None,
    note: str = "",
    slot_id: str | None = None,
    now: datetime | None = None,
) -> VisitSlot:
    """Offer a visit slot at `firm_id` on `day` from `start` to `end` (Korean time) for up to
    `capacity` visitors, given in `languages` (ISO 639-1 codes: "ko", "en", "zh", "vi", ...)."""
    now = _now(now)
    firm_id = _party(firm_id, "firm_id")
    if not isinstance(day, date) or isinstance(day, datetime):
        raise CommonsError("day", f"날짜여야 합니다: {day!r}", f"must be a date: {day!r}")
    for name, t in (("start", start), ("end", end)):
        if not isinstance(t, time):
            raise CommonsError(
                name, f"시각(HH:MM)이어야 합니다: {t!r}", f"must be a time of day (HH:MM): {t!r}"
            )
    if end <= start:
        raise CommonsError(
            "end",
            f"끝({end})이 시작({start})보다 뒤여야 합니다",
            f"end ({end}) must be after start ({start})",
        )
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 500:
        raise CommonsError(
            "capacity", f"방문 인원은 1~500명입니다: {capacity!r}", f"visitors must be 1 to 500: {capacity!r}"
        )
    langs = tuple(dict.fromkeys(str(x).strip().lower() for x in languages))
    bad = [x for x in langs if not _LANG.match(x)]
    if not langs or bad:
        raise CommonsError(
            "languages",
            f"언어는 ISO 639-1 두 글자 코드입니다(예: ko, en): {bad or '없음'}",
            f"languages are ISO 639-1 two-letter codes (e.g. ko, en): {bad or 'none given'}",
        )
    slot = VisitSlot(
        id=_new_id("slot", slot_id),
        firm_id=firm_id,
        day=day,
        start=start,
        end=end,
        capacity=capacity,
        languages=langs,
        title=title,
        note=note,
        created=now,
    )
    if slot.starts <= now:
        raise CommonsError(
            "day",
            f"지난 시각에는 방문 일정을 열 수 없습니다: {slot.starts}",
            f"a visit slot must start in the future: {slot.starts}",
        )
    with db.transaction():
        _check_new(db, SLOT, slot.id)
        db.put(SLOT, slot.id, firm_id, slot)
    return slot


def list_slots(
    db: CommonsDB, firm_id: str | None = None, *, bookable_only: bool = False, now: datetime | None = None
) -> list[VisitSlot]:
    """Slots (of one firm), by start time; `bookable_only`: open, in the future, places left."""
    slots = db.all(SLOT, VisitSlot, owner=firm_id)
    if bookable_only:
        t = _now(now)
        slots = [s for s in slots if s.state == "open" and s.starts > t and s.left > 0]
    return sorted(slots, key=lambda s: (s.starts, s.id))


def book_visit(
    db: CommonsDB,
    slot_id: str,
    visitor: str,
    party: int = 1,
    *,
    note: str = "",
    booking_id: str | None = None,
    now: datetime | None = None,
) -> Booking:
    """Book `party` places on a slot for `visitor` (a firm id or "person:<name>").

    Refused when the slot is cancelled or has started, the places are not there, the visitor
    is the host, already holds a place on this slot, or holds a visit that overlaps it.
    """
    now = _now(now)
    visitor = _party(visitor, "visitor")
    if not isinstance(party, int) or isinstance(party, bool) or party < 1:
        raise CommonsError(
            "party",
            f"인원은 1명 이상의 정수입니다: {party!r}",
            f"party must be a whole number >= 1: {party!r}",
        )
    with db.transaction():
        slot = get_slot(db, slot_id)
        if slot.state != "open":
            raise CommonsError(
                "slot_id", "취소된 방문 일정입니다", "the visit slot was cancelled", "conflict"
            )
        if now >= slot.starts:
            raise CommonsError(
                "now",
                f"이미 시작된 일정입니다({slot.starts})",
                f"the visit started at {slot.starts}",
                "conflict",
            )
        if visitor == slot.firm_id:
            raise CommonsError(
                "visitor",
                "자기 회사 일정은 예약할 수 없습니다",
                "a firm cannot book its own slot",
                "forbidden",
            )
        if party > slot.left:
            raise CommonsError(
                "party",
                f"남은 자리는 {slot.left}명입니다(요청 {party}명)",
                f"only {slot.left} places left (asked {party})",
                "conflict",
            )
        for b in bookings_of(db, visitor):
            if b.state != "active" or b.kind != "visit":
                continue
            if b.target == slot.id:
                raise CommonsError(
                    "visitor",
                    f"이 일정에 이미 예약이 있습니다({b.id})",
                    f"already booked on this slot ({b.id})",
                    "conflict",
                )
            if b.starts < slot.ends and slot.starts < b.ends:
                raise CommonsError(
                    "visitor",
                    f"같은 시간에 다른 방문 예약이 있습니다({b.id}, {b.host})",
                    f"another visit at the same time ({b.id} at {b.host})",
                    "conflict",
                )
        bk = Booking(
            id=_new_id("bk", booking_id),
            kind="visit",
            target=slot.id,
            host=slot.firm_id,
            booker=visitor,
            quantity=Decimal(party),
            starts=slot.starts,
            ends=slot.ends,
            note=note,
            created=now,
        )
        _check_new(db, BOOKING, bk.id)
        db.put(BOOKING, bk.id, visitor, bk)
        db.put(SLOT, slot.id, slot.firm_id, slot.model_copy(update={"booked": slot.booked + party}))
    return bk


def cancel_slot(db: CommonsDB, slot_id: str, by: str, now: datetime | None = None) -> VisitSlot:
    """The host cancels a slot that nobody holds a place on (cancel the bookings first)."""
    _now(now)
    with db.transaction():
        slot = get_slot(db, slot_id)
        if by != slot.firm_id:
            raise CommonsError(
                "by",
                "일정을 연 회사만 취소할 수 있습니다",
                "only the host firm may cancel a slot",
                "forbidden",
            )
        if slot.booked:
            raise CommonsError(
                "slot_id",
                f"예약된 {slot.booked}명이 있습니다: 예약부터 취소하세요",
                f"{slot.booked} visitors are booked: cancel their bookings first",
                "conflict",
            )
        slot = slot.model_copy(update={"state": "cancelled"})
        db.put(SLOT, slot.id, slot.firm_id, slot)
    return slot


# ---------------------------------------------------------------- shared equipment


def _monday(week_start: date) -> date:
    if not isinstance(week_start, date) or isinstance(week_start, datetime) or week_start.weekday() != 0:
        raise CommonsError(
            "week_start",
            f"ISO 주의 월요일이어야 합니다: {week_start!r}",
            f"must be the Monday of an ISO week: {week_start!r}",
        )
    return week_start


def capacity_basis(
    profile: Profile, process: str, week_start: date, *, allow_declared: bool = False
) -> CapacityBasis:
    """The measured free hours of `process` for `week_start` from the firm's capacity evidence.

    That week's figure when the evidence has it, otherwise the mean of the measured weeks (the
    same weekly figure matching uses), cut to 0.01 h. Refused when there is no evidence for
    the process, or it was declared by hand and `allow_declared` is false.
    """
    week_start = _monday(week_start)
    cap = profile.evidence.capacity
    if cap is None:
        raise CommonsError(
            "capacity",
            "여유 용량 근거(KPI)가 없습니다: 먼저 KPI에서 용량 근거를 만드세요",
            "no capacity evidence: compute it from the firm's KPIs first",
            "conflict",
        )
    if cap.source != "kpi" and not allow_declared:
        raise CommonsError(
            "capacity",
            f"용량 근거가 측정값이 아닙니다(출처 {cap.source}): 실측 여유 시간만 제공할 수 있습니다",
            f"capacity evidence is not measured (source {cap.source}): only measured free hours "
            "can be offered",
            "conflict",
        )
    weeks = [w for w in cap.weeks if w.process == process]
    if not weeks:
        raise CommonsError(
            "process",
            f"{process} 공정의 측정된 여유 시간이 없습니다",
            f"no measured free hours for process {process}",
            "conflict",
        )
    cut = Decimal("0.01")
    same = [w for w in weeks if w.week_start == week_start]
    if same:
        hours = Decimal(str(same[0].free_hours)).quantize(cut, rounding=ROUND_FLOOR)
        note = Text(
            ko=f"{week_start} 주 실측 여유 {hours} h",
            en=f"measured free {hours} h in the week of {week_start}",
        )
    else:
        total = sum(Decimal(str(w.free_hours)) for w in weeks)
        hours = (total / len(weeks)).quantize(cut, rounding=ROUND_FLOOR)
        first, last = min(w.week_start for w in weeks), max(w.week_start for w in weeks)
        note = Text(
            ko=f"{first}~{last} 실측 {len(weeks)}주 평균 여유 {hours} h/주",
            en=f"mean measured free {hours} h/week over {len(weeks)} weeks {first} to {last}",
        )
    series = _series(cap.weeks)
    shared = tuple(p for p in sorted(series) if p != process and series[p] == series[process])
    if shared:
        note = Text(
            ko=f"{note.ko}; {', '.join(shared)} 공정과 같은 설비에서 측정되어 한도를 함께 씁니다",
            en=f"{note.en}; measured on the same machines as {', '.join(shared)}, which share this limit",
        )
    return CapacityBasis(
        process=process,
        week_start=week_start,
        free_hours=hours,
        weeks_measured=len(same or weeks),
        source=cap.source,
        note=note,
        shared_with=shared,
    )


def _series(weeks: Iterable[CapacityWeek]) -> dict[str, dict[date, float]]:
    """Measured free hours per process and week. Evidence counts a machine that does several
    processes (a CNC centre milling and turning) under each of them; processes whose figures
    are equal in every measured week are taken to be the same machines."""
    out: dict[str, dict[date, float]] = {}
    for w in weeks:
        out.setdefault(w.process, {})[w.week_start] = w.free_hours
    return out


def _offered(db: CommonsDB, firm_id: str, basis: CapacityBasis) -> Decimal:
    """Hours the firm offers in open offers for the basis's process (and the processes that
    share its machines) in its week."""
    processes = {basis.process, *basis.shared_with}
    return sum(
        (
            o.hours
            for o in db.all(OFFER, MachineOffer, owner=firm_id)
            if o.state == "open" and o.process in processes and o.week_start == basis.week_start
        ),
        Decimal(0),
    )


def _profile(db: CommonsDB, firm_id: str, profile: Profile | None) -> Profile:
    if profile is None:
        profile = db.get("profile", firm_id, Profile)
        if profile is None:
            raise CommonsError(
                "firm_id", f"{firm_id}의 프로필이 없습니다", f"{firm_id} has no profile", "not_found"
            )
    if profile.firm_id != firm_id:
        raise CommonsError(
            "profile",
            f"다른 회사의 프로필입니다({profile.firm_id})",
            f"the profile belongs to {profile.firm_id}, not {firm_id}",
            "forbidden",
        )
    return profile


def offerable_hours(
    db: CommonsDB,
    firm_id: str,
    process: str,
    week_start: date,
    *,
    profile: Profile | None = None,
    allow_declared: bool = False,
) -> tuple[Decimal, CapacityBasis]:
    """Hours the firm may still offer for a process in a week: measured free minus offered."""
    basis = capacity_basis(_profile(db, firm_id, profile), process, week_start, allow_declared=allow_declared)
    return max(Decimal(0), basis.free_hours - _offered(db, firm_id, basis)), basis


def offer_machine_hours(
    db: CommonsDB,
    firm_id: str,
    equipment_id: str,
    week_start: date,
    hours: Decimal | int | str,
    *,
    profile: Profile | None = None,
    hourly_rate_krw: int | None = None,
    note: Text | None = None,
    offer_id: str | None = None,
    allow_declared: bool = False,
    now: datetime | None = None,
) -> MachineOffer:
    """Offer `hours` of one machine for the ISO week starting `week_start` (a Monday).

    `profile` is the firm's own (private) profile; when None it is read from the commons
    database (kind "profile", id the firm id). The hours must fit in the measured free hours
    for the machine's process that week minus the firm's other open offers for it (refused
    with both figures), and the rate defaults to the machine's `hourly_rate_krw`.
    """
    now = _now(now)
    week_start = _monday(week_start)
    h = to_decimal(hours, "hours", places=HOUR_PLACES)
    with db.transaction():
        prof = _profile(db, firm_id, profile)
        eq = next((e for e in prof.facility.equipment if e.id == equipment_id), None)
        if eq is None:
            ids = ", ".join(e.id for e in prof.facility.equipment) or "-"
            raise CommonsError(
                "equipment_id",
                f"{firm_id}에 설비 {equipment_id!r}이(가) 없습니다(있는 설비: {ids})",
                f"{firm_id} has no equipment {equipment_id!r} (it has: {ids})",
                "not_found",
            )
        week_end = datetime.combine(week_start, time(0), tzinfo=KST) + timedelta(days=7)
        if week_end <= now:
            raise CommonsError(
                "week_start",
                f"지난 주는 제공할 수 없습니다: {week_start}",
                f"the week of {week_start} is over",
                "conflict",
            )
        physical = WEEK_HOURS * eq.count
        if h > physical:
            raise CommonsError(
                "hours",
                f"설비 {eq.count}대의 한 주는 {physical} h입니다(요청 {h} h)",
                f"{eq.count} machine(s) have {physical} h in a week (asked {h} h)",
            )
        basis = capacity_basis(prof, eq.process, week_start, allow_declared=allow_declared)
        offered = _offered(db, firm_id, basis)
        left = max(Decimal(0), basis.free_hours - offered)
        if h > left:
            pname = PROCESSES[eq.process].ko
            raise CommonsError(
                "hours",
                f"실측 여유 시간을 넘습니다: {pname} {week_start} 주 여유 {basis.free_hours} h, 이미 제공 {offered} h, "
                f"남은 {left} h (요청 {h} h) — {basis.note.ko}",
                f"more than the measured free hours: {eq.process} week of {week_start} free {basis.free_hours} h, "
                f"already offered {offered} h, {left} h left (asked {h} h) — {basis.note.en}",
                "conflict",
            )
        rate = eq.hourly_rate_krw if hourly_rate_krw is None else hourly_rate_krw
        if not isinstance(rate, int) or isinstance(rate, bool) or rate < 0:
            raise CommonsError(
                "hourly_rate_krw",
                f"0 이상의 정수(원)여야 합니다: {rate!r}",
                f"must be a whole number of won >= 0: {rate!r}",
            )
        offer = MachineOffer(
            id=_new_id("offer", offer_id),
            firm_id=firm_id,
            equipment_id=eq.id,
            process=eq.process,
            week_start=week_start,
            hours=h,
            hourly_rate_krw=rate,
            basis=basis,
            note=note,
            created=now,
        )
        _check_new(db, OFFER, offer.id)
        db.put(OFFER, offer.id, firm_id, offer)
    return offer


def list_offers(
    db: CommonsDB,
    firm_id: str | None = None,
    *,
    process: str | None = None,
    week_start: date | None = None,
    bookable_only: bool = False,
    now: datetime | None = None,
) -> list[MachineOffer]:
    """Offers (of one firm, process, week), by week and id; `bookable_only`: open, week not
    over, hours left."""
    out = [
        o
        for o in db.all(OFFER, MachineOffer, owner=firm_id)
        if (process is None or o.process == process) and (week_start is None or o.week_start == week_start)
    ]
    if bookable_only:
        t = _now(now)
        out = [o for o in out if o.state == "open" and o.ends > t and o.left > 0]
    return sorted(out, key=lambda o: (o.week_start, o.id))


def book_machine_hours(
    db: CommonsDB,
    offer_id: str,
    booker: str,
    hours: Decimal | int | str,
    *,
    note: str = "",
    booking_id: str | None = None,
    now: datetime | None = None,
) -> Booking:
    """Book `hours` of an offer for `booker`; never more than the hours left. The booking's
    cost is hours x the offer's hourly rate, sub-won cut."""
    now = _now(now)
    booker = _party(booker, "booker")
    h = to_decimal(hours, "hours", places=HOUR_PLACES)
    with db.transaction():
        offer = get_offer(db, offer_id)
        if offer.state != "open":
            raise CommonsError("offer_id", "철회된 제공입니다", "the offer was withdrawn", "conflict")
        if now >= offer.ends:
            raise CommonsError(
                "now",
                f"제공 주가 끝났습니다({offer.week_start} 주)",
                f"the week of {offer.week_start} is over",
                "conflict",
            )
        if booker == offer.firm_id:
            raise CommonsError(
                "booker",
                "자기 회사 설비 시간은 예약할 수 없습니다",
                "a firm cannot book its own offer",
                "forbidden",
            )
        if h > offer.left:
            raise CommonsError(
                "hours",
                f"남은 시간은 {offer.left} h입니다(요청 {h} h)",
                f"only {offer.left} h left (asked {h} h)",
                "conflict",
            )
        bk = Booking(
            id=_new_id("bk", booking_id),
            kind="machine_hours",
            target=offer.id,
            host=offer.firm_id,
            booker=booker,
            quantity=h,
            starts=offer.starts,
            ends=offer.ends,
            cost_krw=won_floor(h * offer.hourly_rate_krw),
            note=note,
            created=now,
        )
        _check_new(db, BOOKING, bk.id)
        db.put(BOOKING, bk.id, booker, bk)
        db.put(
            OFFER, offer.id, offer.firm_id, offer.model_copy(update={"booked_hours": offer.booked_hours + h})
        )
    return bk


def cancel_booking(db: CommonsDB, booking_id: str, by: str, now: datetime | None = None) -> Booking:
    """Cancel a booking (the booker or the host) before it starts (a visit) or before its week
    is over (machine hours); the places or hours go back to the slot or offer."""
    now = _now(now)
    with db.transaction():
        bk = get_booking(db, booking_id)
        if by not in (bk.booker, bk.host):
            raise CommonsError(
                "by",
                "예약자나 제공 회사만 취소할 수 있습니다",
                "only the booker or the host may cancel",
                "forbidden",
            )
        if bk.state != "active":
            raise CommonsError(
                "booking_id", "이미 취소된 예약입니다", "the booking is already cancelled", "conflict"
            )
        limit = bk.starts if bk.kind == "visit" else bk.ends
        if now >= limit:
            raise CommonsError(
                "now", f"{limit} 이후에는 취소할 수 없습니다", f"cannot cancel after {limit}", "conflict"
            )
        if bk.kind == "visit":
            slot = get_slot(db, bk.target)
            db.put(
                SLOT,
                slot.id,
                slot.firm_id,
                slot.model_copy(update={"booked": slot.booked - int(bk.quantity)}),
            )
        else:
            offer = get_offer(db, bk.target)
            db.put(
                OFFER,
                offer.id,
                offer.firm_id,
                offer.model_copy(update={"booked_hours": offer.booked_hours - bk.quantity}),
            )
        bk = bk.model_copy(update={"state": "cancelled", "cancelled_at": now, "cancelled_by": by})
        db.put(BOOKING, bk.id, bk.booker, bk)
    return bk


def withdraw_offer(db: CommonsDB, offer_id: str, by: str, now: datetime | None = None) -> MachineOffer:
    """The offering firm withdraws an offer nobody holds hours of; its hours can be offered again."""
    _now(now)
    with db.transaction():
        offer = get_offer(db, offer_id)
        if by != offer.firm_id:
            raise CommonsError(
                "by", "제공한 회사만 철회할 수 있습니다", "only the offering firm may withdraw", "forbidden"
            )
        if offer.booked_hours:
            raise CommonsError(
                "offer_id",
                f"예약된 {offer.booked_hours} h가 있습니다: 예약부터 취소하세요",
                f"{offer.booked_hours} h are booked: cancel those bookings first",
                "conflict",
            )
        offer = offer.model_copy(update={"state": "withdrawn"})
        db.put(OFFER, offer.id, offer.firm_id, offer)
    return offer
