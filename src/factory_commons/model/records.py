"""Typed, validated shop-floor records: states, counts, signals, alarms, orders, quality.

Every record names its machine by its ISA-95 path. Timestamps may carry a time zone; they
are normalised to UTC. A naive timestamp is taken as UTC.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .hierarchy import check_segment, parse_machine_path
from .policy import Code, EventTime, FreeText, Line, PlannedTime


def _machine_path(value: str) -> str:
    parse_machine_path(value)
    return value


#: an event time: aware UTC (a naive one is taken as UTC), within the time policy (model/policy.py)
Timestamp = EventTime
MachinePath = Annotated[str, AfterValidator(_machine_path)]


class MachineState(StrEnum):
    """What a machine is doing. The KPI mapping turns these into ISO 22400 time elements."""

    RUNNING = "running"
    IDLE = "idle"
    SETUP = "setup"
    UNPLANNED_DOWN = "unplanned_down"
    PLANNED_STOP = "planned_stop"
    NO_ORDER = "no_order"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)
    kind: str


class StateChange(_Record):
    """The machine entered `state` at `ts` and stays there until the next state change."""

    kind: Literal["state"] = "state"
    ts: Timestamp
    machine: MachinePath
    state: MachineState
    reason_code: Code | None = Field(default=None, description="why: breakdown cause, stop reason")
    order_id: Code | None = Field(default=None, description="production order running now")
    source: Code | None = Field(
        default=None, description='"inferred" when derived (from a current sensor), not reported'
    )
    confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="how sure an inferred state is, 0-1"
    )


class PartCount(_Record):
    """Parts finished since the previous count (increments, not a running total).

    `rework` counts the good parts that needed rework first: they are part of `good`.
    """

    kind: Literal["count"] = "count"
    ts: Timestamp
    machine: MachinePath
    good: int = Field(ge=0)
    scrap: int = Field(default=0, ge=0)
    rework: int = Field(default=0, ge=0)
    scrap_reason: Code | None = None
    order_id: Code | None = None
    source: Code | None = Field(default=None, description='"inferred" when counted from a current sensor')

    @field_validator("rework")
    @classmethod
    def _rework(cls, v: int, info: ValidationInfo) -> int:
        good = info.data.get("good")
        if good is not None and v > good:
            raise ValueError(f"rework ({v}) cannot exceed good ({good})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PartCount:
        if self.good + self.scrap == 0:
            raise ValueError("a count must have good or scrap parts (both are 0)")
        return self


class Signal(_Record):
    """One numeric sample of a machine signal (load, vibration, temperature, ...)."""

    kind: Literal["signal"] = "signal"
    ts: Timestamp
    machine: MachinePath
    name: Code
    value: float
    unit: Line | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_segment(v, "signal")

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"value must be a finite number, got {v}")
        return v


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alarm(_Record):
    """An alarm raised (active=True) or cleared (active=False) on a machine."""

    kind: Literal["alarm"] = "alarm"
    ts: Timestamp
    machine: MachinePath
    code: Code
    severity: Severity = Severity.WARNING
    message: FreeText = ""
    active: bool = True


class ProductionOrder(_Record):
    """A production order: what to make, how many, and how fast it could ideally be made.

    `quantity` and `ideal_cycle_time_s` may be unknown (None): an order read from a machine log
    names only the product. The cycle time then comes from the product master (`Product`) or
    the machine's `default_ideal_cycle_time_s`.
    """

    kind: Literal["order"] = "order"
    order_id: Code
    product: Code
    quantity: int | None = Field(default=None, gt=0, description="planned quantity; None: not known")
    ideal_cycle_time_s: float | None = Field(
        default=None,
        gt=0,
        description="ISO 22400 PRU: planned run time per unit; None: from the product master",
    )
    machine: MachinePath | None = None
    planned_start: PlannedTime | None = None
    due: PlannedTime | None = None

    @field_validator("ideal_cycle_time_s")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("ideal_cycle_time_s must be finite")
        return v


class QualityMeasurement(_Record):
    """One measured quality characteristic of a part or sample, with its spec limits."""

    kind: Literal["quality"] = "quality"
    ts: Timestamp
    machine: MachinePath
    characteristic: Code
    value: float
    lsl: float | None = Field(default=None, description="lower spec limit")
    usl: float | None = Field(default=None, description="upper spec limit")
    target: float | None = None
    unit: Line | None = None
    sample_id: Code | None = None
    order_id: Code | None = None

    @field_validator("value", "lsl", "usl", "target")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v}")
        return v

    @field_validator("usl")
    @classmethod
    def _limits(cls, v: float | None, info: ValidationInfo) -> float | None:
        lsl = info.data.get("lsl")
        if v is not None and lsl is not None and lsl >= v:
            raise ValueError(f"lsl ({lsl}) must be below usl ({v})")
        return v


class AnomalyAlert(_Record):
    """An anomaly detector flagged a machine from `ts` (the first anomalous sample) to `ts_end`.

    `evidence` says which signals contributed and how much: a JSON object signal -> share of
    the score (shares are in [0, 1] and sum to 1). A dict is accepted and stored as JSON text.
    """

    kind: Literal["anomaly"] = "anomaly"
    ts: Timestamp
    machine: MachinePath
    detector: Code = Field(description="method and model that raised it, e.g. 'pca:press-01'")
    score: float = Field(description="peak anomaly score of the episode")
    threshold: float = Field(description="the detector's alarm threshold")
    ts_end: Timestamp | None = Field(default=None, description="last anomalous sample of the episode")
    evidence: str = Field(default="{}", description='JSON object signal -> share, e.g. {"vibration": 0.8}')
    message: FreeText = ""

    @field_validator("score", "threshold")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"must be a finite number, got {v}")
        return v

    @field_validator("evidence", mode="before")
    @classmethod
    def _evidence(cls, v: object) -> str:
        return check_evidence(v)


def check_evidence(value: object) -> str:
    """Anomaly evidence as canonical JSON text; ValueError saying why when it is not signal -> share."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"evidence is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise ValueError(f"evidence must be an object signal -> share, got {type(value).__name__}")
    for name, share in value.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share):
            raise ValueError(f"evidence for {name!r} must be a finite number, got {share!r}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"evidence for {name!r} must be a share between 0 and 1, got {share}")
    return json.dumps(value, ensure_ascii=False)


Record = StateChange | PartCount | Signal | Alarm | ProductionOrder | QualityMeasurement | AnomalyAlert
RECORD_TYPES: dict[str, type[_Record]] = {
    "state": StateChange,
    "count": PartCount,
    "signal": Signal,
    "alarm": Alarm,
    "order": ProductionOrder,
    "quality": QualityMeasurement,
    "anomaly": AnomalyAlert,
}


class RecordError(ValueError):
    """A record was rejected; the message names the field and why."""


def explain(error: ValidationError, where: str = "") -> str:
    """One readable line per problem: '<where> field <loc>: <why> (got <input>)'."""
    lines = []
    for e in error.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(record)"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
        lines.append(f"{where}field '{loc}': {msg}{shown}")
    return "; ".join(lines)


def parse_record(data: dict, where: str = "") -> Record:
    """Build a record from a dict with a 'kind' key, raising RecordError naming the field."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}a record must be an object, got {type(data).__name__}")
    kind = data.get("kind")
    cls = RECORD_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise RecordError(f"{where}field 'kind': must be one of {', '.join(RECORD_TYPES)}, got {kind!r}")
    try:
        return cls.model_validate(data)  # type: ignore[return-value]
    except ValidationError as e:
        raise RecordError(explain(e, where)) from None
