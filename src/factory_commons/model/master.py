"""Master data that is not a time-stamped record: the product master (product -> ideal cycle time).

A product's ideal cycle time (ISO 22400 PRU, seconds per part) is what performance is
measured against when an order or a count names the product but carries no cycle time of its
own. Products are kept in the store's `products` table (`Store.save_products`, `Store.products`)
and read from files by `collect/master_files.py`.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .policy import Code, Line, Name

#: The plant's time zone when none is set (`Store.plant_timezone`).
DEFAULT_PLANT_TIMEZONE = "Asia/Seoul"


class Product(BaseModel):
    """One product (part number) and the ideal time to make one piece of it, in seconds.

    `unit` is the unit a piece is counted in (EA, pcs, kg, ...), not the cycle time's unit:
    the cycle time is always stored in seconds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    product: Code = Field(description="product code (part number)")
    ideal_cycle_time_s: float = Field(gt=0, description="ISO 22400 PRU: ideal seconds per piece")
    display_name: Name | None = Field(default=None, description="name shown to people, e.g. Korean")
    unit: Line | None = Field(default=None, description="unit a piece is counted in, e.g. EA")

    @field_validator("product")
    @classmethod
    def _code(cls, v: str) -> str:
        if v != v.strip() or not v.strip():
            raise ValueError(f"product code {v!r} must not be empty or have leading or trailing spaces")
        return v

    @field_validator("ideal_cycle_time_s")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"ideal_cycle_time_s must be a finite number, got {v}")
        return v
