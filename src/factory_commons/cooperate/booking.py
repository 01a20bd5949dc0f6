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
from .model import CapacityWeek, Profile, Text, msg
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
        raise CommonsError.of(field, "booker_empty")
    return b


def _not_found(kind: str, id: str) -> CommonsError:
    if kind == "slot":
        return CommonsError.of("slot_id", "no_such_slot", "not_found", id=id)
    if kind == "offer":
        return CommonsError.of("offer_id", "no_such_offer", "not_found", id=id)
    return CommonsError.of("booking_id", "no_such_booking", "not_found", id=id)


def _get(db: CommonsDB, kind: str, id: str, model: type[BaseModel]):
    doc = db.get(kind, id, model)
    if doc is None:
        raise _not_found(kind, id)
    return doc


def _check_new(db: CommonsDB, kind: str, id: str) -> None:
    if db.owner(kind, id) is not None:
        raise CommonsError.of(f"{kind}_id", "id_exists", "conflict", kind=kind, id=id)


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
        raise CommonsError.of("day", "not_a_date", value=day)
    for name, t in (("start", start), ("end", end)):
        if not isinstance(t, time):
            raise CommonsError.of(name, "not_a_time", value=t)
    if end <= start:
        raise CommonsError.of("end", "end_before_start", end=end, start=start)
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 500:
        raise CommonsError.of("capacity", "visitors_range", value=capacity)
    langs = tuple(dict.fromkeys(str(x).strip().lower() for x in languages))
    bad = [x for x in langs if not _LANG.match(x)]
    if not langs or bad:
        raise CommonsError.of("languages", "bad_languages", bad=bad or msg("none_given"))
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
        raise CommonsError.of("day", "slot_in_past", starts=slot.starts)
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
        raise CommonsError.of("party", "bad_party", value=party)
    with db.transaction():
        slot = get_slot(db, slot_id)
        if slot.state != "open":
            raise CommonsError.of("slot_id", "slot_cancelled", "conflict")
        if now >= slot.starts:
            raise CommonsError.of("now", "visit_started", "conflict", starts=slot.starts)
        if visitor == slot.firm_id:
            raise CommonsError.of("visitor", "own_slot", "forbidden")
        if party > slot.left:
            raise CommonsError.of("party", "places_left", "conflict", left=slot.left, party=party)
        for b in bookings_of(db, visitor):
            if b.state != "active" or b.kind != "visit":
                continue
            if b.target == slot.id:
                raise CommonsError.of("visitor", "already_booked", "conflict", booking=b.id)
            if b.starts < slot.ends and slot.starts < b.ends:
                raise CommonsError.of("visitor", "visit_overlaps", "conflict", booking=b.id, host=b.host)
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
            raise CommonsError.of("by", "only_host_cancels_slot", "forbidden")
        if slot.booked:
            raise CommonsError.of("slot_id", "slot_has_bookings", "conflict", booked=slot.booked)
        slot = slot.model_copy(update={"state": "cancelled"})
        db.put(SLOT, slot.id, slot.firm_id, slot)
    return slot


# ---------------------------------------------------------------- shared equipment


def _monday(week_start: date) -> date:
    if not isinstance(week_start, date) or isinstance(week_start, datetime) or week_start.weekday() != 0:
        raise CommonsError.of("week_start", "not_a_monday", value=week_start)
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
        raise CommonsError.of("capacity", "no_capacity_evidence", "conflict")
    if cap.source != "kpi" and not allow_declared:
        raise CommonsError.of(
            "capacity",
            "capacity_not_measured",
            "conflict",
            source=cap.source,
        )
    weeks = [w for w in cap.weeks if w.process == process]
    if not weeks:
        raise CommonsError.of("process", "no_measured_hours", "conflict", process=process)
    cut = Decimal("0.01")
    same = [w for w in weeks if w.week_start == week_start]
    if same:
        hours = Decimal(str(same[0].free_hours)).quantize(cut, rounding=ROUND_FLOOR)
        note = msg("free_hours_week", week=week_start, hours=hours)
    else:
        total = sum(Decimal(str(w.free_hours)) for w in weeks)
        hours = (total / len(weeks)).quantize(cut, rounding=ROUND_FLOOR)
        first, last = min(w.week_start for w in weeks), max(w.week_start for w in weeks)
        note = msg("free_hours_mean", first=first, last=last, weeks=len(weeks), hours=hours)
    series = _series(cap.weeks)
    shared = tuple(p for p in sorted(series) if p != process and series[p] == series[process])
    if shared:
        note = msg("free_hours_shared", note=note, shared=", ".join(shared))
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
            raise CommonsError.of("firm_id", "no_profile", "not_found", firm=firm_id)
    if profile.firm_id != firm_id:
        raise CommonsError.of(
            "profile", "other_firms_profile", "forbidden", owner=profile.firm_id, firm=firm_id
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
            raise CommonsError.of(
                "equipment_id", "no_equipment", "not_found", firm=firm_id, equipment=equipment_id, ids=ids
            )
        week_end = datetime.combine(week_start, time(0), tzinfo=KST) + timedelta(days=7)
        if week_end <= now:
            raise CommonsError.of("week_start", "week_over_offer", "conflict", week=week_start)
        physical = WEEK_HOURS * eq.count
        if h > physical:
            raise CommonsError.of("hours", "above_physical_hours", count=eq.count, physical=physical, hours=h)
        basis = capacity_basis(prof, eq.process, week_start, allow_declared=allow_declared)
        offered = _offered(db, firm_id, basis)
        left = max(Decimal(0), basis.free_hours - offered)
        if h > left:
            raise CommonsError.of(
                "hours",
                "above_free_hours",
                "conflict",
                process=Text(ko=PROCESSES[eq.process].ko, en=eq.process),
                week=week_start,
                free=basis.free_hours,
                offered=offered,
                left=left,
                hours=h,
                note=basis.note,
            )
        rate = eq.hourly_rate_krw if hourly_rate_krw is None else hourly_rate_krw
        if not isinstance(rate, int) or isinstance(rate, bool) or rate < 0:
            raise CommonsError.of("hourly_rate_krw", "not_whole_won_value", value=rate)
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
            raise CommonsError.of("offer_id", "offer_withdrawn", "conflict")
        if now >= offer.ends:
            raise CommonsError.of("now", "week_over_booking", "conflict", week=offer.week_start)
        if booker == offer.firm_id:
            raise CommonsError.of("booker", "own_offer", "forbidden")
        if h > offer.left:
            raise CommonsError.of("hours", "hours_left", "conflict", left=offer.left, hours=h)
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
            raise CommonsError.of("by", "only_parties_cancel", "forbidden")
        if bk.state != "active":
            raise CommonsError.of("booking_id", "booking_cancelled", "conflict")
        limit = bk.starts if bk.kind == "visit" else bk.ends
        if now >= limit:
            raise CommonsError.of("now", "too_late_to_cancel", "conflict", limit=limit)
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
            raise CommonsError.of("by", "only_host_withdraws", "forbidden")
        if offer.booked_hours:
            raise CommonsError.of("offer_id", "offer_has_bookings", "conflict", hours=offer.booked_hours)
        offer = offer.model_copy(update={"state": "withdrawn"})
        db.put(OFFER, offer.id, offer.firm_id, offer)
    return offer
