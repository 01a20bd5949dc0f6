"""The typed objects of the region: firms as the region sees them, maturity answers, survey
responses, programmes and buyer–supplier links (pydantic models, kept by `db`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: size classes by employees (Korean SME practice: 소공인 under 10 in manufacturing)
SizeClass = Literal["micro", "small", "medium", "large"]
SIZE_CLASSES: tuple[str, ...] = ("micro", "small", "medium", "large")
#: breakdown dimensions of every regional table
DIMENSIONS: tuple[str, ...] = ("district", "industry", "size")


def size_class(employees: int) -> str:
    """micro: under 10, small: 10-49, medium: 50-299, large: 300 or more employees."""
    if employees < 10:
        return "micro"
    if employees < 50:
        return "small"
    if employees < 300:
        return "medium"
    return "large"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionFirm(_Model):
    """A firm as the regional view knows it; only `opted_in` firms enter any published figure."""

    firm_id: str
    city: str
    district: str = Field(description="district name as the commons profile gives it (Korean)")
    industry: str = Field(description="kind of shop: machining, sheet_metal, press, ...")
    employees: int = Field(ge=1)
    size: SizeClass
    opted_in: bool = Field(default=False, description="the firm agreed to enter regional statistics")

    def dim(self, name: str) -> str:
        return {"district": self.district, "industry": self.industry, "size": self.size}[name]


class EvidenceValue(_Model):
    """One maturity item measured from the firm's own data: the value, the level it gives, and how."""

    item: str
    metric: str
    value: float
    level: int = Field(ge=1, le=5)
    basis: dict[str, float | int | str] = Field(
        default_factory=dict, description="what the value was computed from (counts, period)"
    )


class MaturityAnswers(_Model):
    """A firm's self-assessment: answered item levels and item levels measured from evidence."""

    firm_id: str
    assessed_on: date
    answers: dict[str, int] = Field(default_factory=dict, description="item id -> level 1-5")
    evidence: dict[str, EvidenceValue] = Field(default_factory=dict, description="item id -> measured")


class SurveyResponse(_Model):
    """One firm's answers to a questionnaire; `weight` is its sampling weight (1 when not given)."""

    survey: str
    respondent: str
    firm_id: str | None = None
    district: str
    industry: str
    size: SizeClass
    weight: float = Field(default=1.0, gt=0)
    stratum: str | None = None
    answers: dict[str, float | None] = Field(default_factory=dict)


class KpiSnapshot(_Model):
    """A firm's maturity level and OEE at one date (before or after a programme)."""

    firm_id: str
    on: date
    overall_level: float = Field(ge=1, le=5, description="overall maturity score 1-5")
    oee: float = Field(ge=0, le=1)


class Programme(_Model):
    """A support programme: budget, period, the firms it supported and the level it aimed at."""

    id: str
    name_ko: str
    name_en: str
    budget_krw: int = Field(ge=0)
    start: date
    end: date
    firms: tuple[str, ...]
    level_target: int = Field(ge=1, le=5)
    domains: tuple[str, ...] = Field(default=(), description="maturity domains it works on")


class SupplierLink(_Model):
    """A large firm (buyer) and one of its suppliers, as the buyer declared it."""

    buyer: str
    supplier: str
    since: date


class PlatformActivity(_Model):
    """What a firm did in the commons: the cooperation indicators measured from behaviour."""

    firm_id: str
    pools_joined: int = 0
    campaigns_joined: int = 0
    co_rnd_projects: int = 0
    missions: int = 0
    source: Literal["commons", "sample"] = "commons"
