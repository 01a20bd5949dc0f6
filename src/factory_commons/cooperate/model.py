"""The typed objects of the commons: firm profiles, data-backed evidence, requests, matches.

Profiles follow the Open Know-Where (OKW) model: a manufacturing facility with its location,
equipment (process, working envelope, tolerance), materials and dated certifications. What a
firm can do is its *provided* capability; a request step is a *required* capability, the
pattern of the Asset Administration Shell capability template, so the two meet field by field:

    required step            provided equipment
    process          ==      process
    material         in      materials
    envelope_mm      <=      envelope_mm (each axis, sorted)
    tolerance_mm     >=      tolerance_mm (the shop holds at least as tight)
    certifications   subset  certifications valid on the due date

Evidence (free capacity, quality record, delivery record) is computed from the firm's own
shop-floor data and is private until the firm publishes it; `Profile.public()` is the only
view of a profile that may leave the firm.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from ..i18n import Catalog
from .vocab import check_certification, check_material, check_process, check_unspsc

#: the commons' error and explanation messages: id -> a Korean and an English text whose
#: `{placeholders}` are filled with `str.format` (see `msg`)
ERRORS = Catalog("commons_errors")


def _vocabulary(check: Callable[[str, str], str]) -> AfterValidator:
    """A pydantic check of a vocabulary code whose error names the model's field."""

    def run(value: str, info: ValidationInfo) -> str:
        return check(value, info.field_name) if info.field_name else check(value)

    return AfterValidator(run)


ProcessCode = Annotated[str, _vocabulary(check_process)]
MaterialCode = Annotated[str, _vocabulary(check_material)]
CertificationCode = Annotated[str, _vocabulary(check_certification)]
UnspscCode = Annotated[str, _vocabulary(check_unspsc)]
EvidenceKind = Literal["capacity", "quality", "delivery"]
EVIDENCE_KINDS: tuple[EvidenceKind, ...] = ("capacity", "quality", "delivery")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Model):
    """A text in Korean and English; either may be empty, not both."""

    ko: str = ""
    en: str = ""

    @model_validator(mode="after")
    def _some(self) -> Text:
        if not (self.ko.strip() or self.en.strip()):
            raise ValueError("a text needs Korean or English (both are empty)")
        return self

    def get(self, lang: str) -> str:
        return (self.ko or self.en) if lang == "ko" else (self.en or self.ko)

    def both(self, sep: str = " / ") -> str:
        """Korean, then English, in one line ("가능한 업체 없음 / no feasible firm")."""
        return f"{self.ko}{sep}{self.en}"


def msg_pair(key: str, **params: object) -> tuple[str, str]:
    """The message `key` of the `commons_errors` catalog as (Korean, English), its
    `{placeholders}` filled from `params`; a `Text` or a (Korean, English) pair parameter gives
    each language its own value. No `Text` is built: matching makes several notes for every
    result (bench/match.py), and the catalog check (tests/test_i18n.py) already guarantees
    both texts."""
    ko, en = _texts(key)
    if not params:
        return ko, en
    ko_params: dict[str, object] = {}
    en_params: dict[str, object] = {}
    for k, v in params.items():
        if isinstance(v, Text):
            ko_params[k], en_params[k] = v.ko, v.en
        elif isinstance(v, tuple):
            ko_params[k], en_params[k] = v
        else:
            ko_params[k] = en_params[k] = v
    return ko.format(**ko_params), en.format(**en_params)


def msg(key: str, **params: object) -> Text:
    """`msg_pair` as a `Text` (built without validation, see `msg_pair`)."""
    ko, en = msg_pair(key, **params)
    return Text.model_construct(ko=ko, en=en)


def msg_both(key: str, sep: str = " / ", **params: object) -> str:
    """`msg(key, **params).both(sep)`: "Korean / English" in one line, without a `Text`.
    Plain parameters only (numbers, strings); for a `Text` or pair parameter use `msg_pair`."""
    ko, en = _TEXTS.get(key) or _texts(key)
    return f"{ko.format_map(params)}{sep}{en.format_map(params)}" if params else f"{ko}{sep}{en}"


_TEXTS: dict[str, tuple[str, str]] = {}


def _texts(key: str) -> tuple[str, str]:
    """(Korean, English) of `key`, read from the catalog once (matching explains every result)."""
    pair = _TEXTS.get(key)
    if pair is None:
        pair = _TEXTS[key] = ERRORS.pair(key)
    return pair


class Location(_Model):
    """Where a facility is: city (Seoul, Incheon), district (구/군) and coordinates."""

    city: str
    district: str
    address: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Certification(_Model):
    """A certificate with the date somebody last checked it (lapsed logos linger otherwise)."""

    code: CertificationCode
    last_checked: date
    valid_until: date | None = None

    def valid_on(self, day: date) -> bool:
        return self.valid_until is None or day <= self.valid_until


class Equipment(_Model):
    """One kind of machine at the facility (OKW Equipment): what it does and within what limits."""

    id: str
    process: ProcessCode
    name: str = ""
    make_model: str = ""
    count: int = Field(default=1, ge=1)
    materials: tuple[MaterialCode, ...]
    envelope_mm: tuple[float, float, float] = Field(description="largest work piece: x, y, z in mm")
    tolerance_mm: float = Field(gt=0, description="tightest tolerance held, ± mm")
    hourly_rate_krw: int = Field(ge=0, description="price of one machine hour")
    core: bool = Field(default=True, description="done in house (core) or subcontracted (supplementary)")
    okw_extra: dict[str, Any] = Field(
        default_factory=dict,
        description="OKW fields we do not model (make, serial number, ...), from an import",
    )


class Facility(_Model):
    """The self-described part of a firm's profile (OKW Manufacturing Facility)."""

    firm_id: str
    name: Text
    description: Text | None = None
    location: Location
    equipment: tuple[Equipment, ...] = ()
    certifications: tuple[Certification, ...] = ()
    unspsc: tuple[UnspscCode, ...] = ()
    cooperatives: tuple[str, ...] = ()  # self-declared; grants no membership (membership.py)
    employees: int | None = Field(default=None, ge=0)
    contact_email: str = ""
    website: str = ""
    okw_extra: dict[str, Any] = Field(
        default_factory=dict, description="OKW fields we do not model, kept from an import (okw.py)"
    )

    def processes(self) -> set[str]:
        return {e.process for e in self.equipment}


class CapacityWeek(_Model):
    """Free machine hours for one process in one ISO week: planned time the firm did not use."""

    process: ProcessCode
    week_start: date  # a Monday
    free_hours: float = Field(ge=0)


class CapacityEvidence(_Model):
    weeks: tuple[CapacityWeek, ...]
    period_start: date
    period_end: date
    source: str = "kpi"  # computed from the firm's own KPIs, or "declared"


class QualityEvidence(_Model):
    scrap_ratio: float = Field(ge=0, le=1)
    first_pass_yield: float = Field(ge=0, le=1)
    units: int = Field(ge=0)
    period_start: date
    period_end: date
    source: str = "kpi"


class DeliveryEvidence(_Model):
    on_time_ratio: float = Field(ge=0, le=1)
    orders: int = Field(ge=0)
    period_start: date
    period_end: date
    source: str = "kpi"


class Evidence(_Model):
    capacity: CapacityEvidence | None = None
    quality: QualityEvidence | None = None
    delivery: DeliveryEvidence | None = None


class Profile(_Model):
    """A firm's whole profile: the facility, its evidence, and which evidence it published."""

    facility: Facility
    evidence: Evidence = Evidence()
    published: frozenset[EvidenceKind] = frozenset()
    published_at: datetime | None = None

    @property
    def firm_id(self) -> str:
        return self.facility.firm_id

    def public(self) -> Profile:
        """The profile as anyone else may see it: unpublished evidence removed."""
        kept = {k: getattr(self.evidence, k) for k in EVIDENCE_KINDS if k in self.published}
        return self.model_copy(update={"evidence": Evidence(**kept)})


class Cooperative(_Model):
    """A cooperative (협동조합) of firms: its members and the processes it is focused on.

    Membership is granted by the cooperative (`membership.py`): `members` are the firms the
    manager invited and that accepted, or that asked and were approved; `invited` and
    `requested` are the open invitations and requests. A firm's profile grants nothing."""

    id: str
    name: Text
    members: tuple[str, ...] = ()  # firm ids
    invited: tuple[str, ...] = ()  # invited by the manager, not yet accepted
    requested: tuple[str, ...] = ()  # asked to join, not yet approved
    focus: tuple[ProcessCode, ...] = ()
    location: Location | None = None


class Step(_Model):
    """One required capability of a request (AAS: required capability with its properties)."""

    process: ProcessCode
    material: MaterialCode
    quantity: int = Field(ge=1)
    tolerance_mm: float | None = Field(default=None, gt=0, description="± mm the part needs")
    envelope_mm: tuple[float, float, float] | None = None
    certifications: tuple[CertificationCode, ...] = ()
    machine_hours: float | None = Field(default=None, gt=0, description="estimate; default from vocab")
    weight_kg: float | None = Field(default=None, gt=0, le=100_000, description="weight of one part")
    sheet_thickness_mm: float | None = Field(
        default=None, gt=0, le=500, description="the sheet a sheet process works (bending, cutting)"
    )

    def hours(self) -> float:
        from .vocab import PROCESSES

        if self.machine_hours is not None:
            return self.machine_hours
        return self.quantity * PROCESSES[self.process].minutes_per_unit / 60.0


class Attachment(_Model):
    """A drawing or CAD file attached to a request (its bytes are kept by cooperate/orders.py):
    only the requester and the firms it invited may fetch it."""

    id: str
    filename: str = Field(min_length=1, max_length=200)
    content_type: str
    size: int = Field(ge=1)
    sha256: str
    uploaded: datetime


class Request(_Model):
    """A request posted by a consumer, designer or firm: steps in order, due date, budget.

    `location` with `max_distance_km` is the radius firms must be within; `attachments` are its
    drawings; `invited` the firms the requester asked for a quote (cooperate/orders.py)."""

    id: str
    requester: str  # a firm id, or "person:<name>" for a consumer or designer
    title: Text
    steps: tuple[Step, ...] = Field(min_length=1)
    due: date
    posted: date
    location: Location | None = None
    max_distance_km: float | None = Field(default=None, gt=0)
    budget_krw: int | None = Field(default=None, ge=0)
    confidentiality: Literal["public", "nda"] = "public"
    unspsc: UnspscCode | None = None
    attachments: tuple[Attachment, ...] = ()
    invited: tuple[str, ...] = ()


class Factor(_Model):
    """One scored factor of a match: its raw value in [0, 1], weight, and weighted contribution."""

    name: str
    value: float
    weight: float
    contribution: float
    note: str = ""


class Match(_Model):
    """One firm ranked for one request step; the contributions add up to the score."""

    request_id: str
    step: int
    firm_id: str
    equipment_id: str
    score: float
    factors: tuple[Factor, ...]
    confidence: float = Field(ge=0, le=1)
    hard_checks: tuple[str, ...] = ()
