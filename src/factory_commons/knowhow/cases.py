"""A know-how case: what was seen, why it happened, what fixed it, on which machine, by whom.

A case is written by an operator when a stop or an alarm ends (`suggest.py` proposes causes and
actions from past cases), imported from old work orders (`files.py`), or typed in. `ref` is the
id a case has elsewhere (a work-order number); importing the same `ref` again replaces the case.
Columns of an imported file that are not fields are kept in `extra`.

`context` is filled from the store when a case is built from a stop or an alarm
(`context.py`): the reason code, the anomaly evidence and the signals around it, the orders and
changeovers just before.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..model.policy import Code, FreeText, Line

#: the fields whose text is searched, in the order they are shown
TEXT_FIELDS = ("title", "symptom", "cause", "action", "outcome")


def new_case_id() -> str:
    return "k-" + uuid.uuid4().hex[:12]


class SignalSummary(BaseModel):
    """One signal around the event: its mean before and during, as the store holds them."""

    name: str
    before: float | None = None
    during: float | None = None
    unit: str | None = None


class CaseContext(BaseModel):
    """What the store knew when the case happened (filled by `context.capture_context`)."""

    model_config = ConfigDict(extra="ignore")

    event: str | None = Field(default=None, description='"stop" or "alarm"')
    start: datetime | None = None
    end: datetime | None = None
    state: str | None = None
    reason_code: str | None = None
    alarm_code: str | None = None
    alarm_message: str | None = None
    anomaly_evidence: dict[str, float] = Field(default_factory=dict, description="signal -> share")
    anomaly_score: float | None = None
    signals: list[SignalSummary] = Field(default_factory=list)
    orders: list[str] = Field(default_factory=list, description="orders running or just before")
    products: list[str] = Field(default_factory=list)
    changeover_before: bool = False


class Case(BaseModel):
    """One piece of know-how. Text fields are free text in any language (`lang`: ko, en, ...)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=new_case_id)
    ref: Line | None = Field(default=None, description="external id (work order number)")
    firm: Line = Field(default="", description="owning firm; empty for a single-shop store")
    machine: Line | None = None
    machine_type: Line | None = None
    product: Line | None = None
    title: FreeText = ""
    symptom: FreeText = ""
    cause: FreeText = ""
    action: FreeText = ""
    outcome: FreeText = ""
    success: bool | None = Field(default=None, description="did the action fix it")
    time_to_fix_min: float | None = Field(default=None, ge=0)
    alarm_code: Code | None = None
    reason_code: Code | None = None
    failure_mode: Line | None = Field(default=None, description="ISO 14224 failure mode (classifier)")
    author: Line | None = None
    verified: bool = False
    verifier: Line | None = None
    verified_at: datetime | None = None
    lang: Line = ""
    photos: list[Line] = Field(default_factory=list, description="paths of photos")
    occurred: datetime | None = None
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, str] = Field(default_factory=dict, description="imported columns kept as they were")
    context: CaseContext | None = None

    @field_validator("ref", mode="before")
    @classmethod
    def _blank_ref_is_none(cls, v: object) -> object:
        """An empty or blank `ref` means no external id (two such cases must not collide)."""
        return None if isinstance(v, str) and not v.strip() else v

    def text(self) -> str:
        """All searchable text of the case, one field a line."""
        return "\n".join(getattr(self, f) for f in TEXT_FIELDS if getattr(self, f))

    def embed_text(self) -> str:
        """What the embedding is computed from: title, symptom, cause and action."""
        return " ".join(x for x in (self.title, self.symptom, self.cause, self.action) if x)
