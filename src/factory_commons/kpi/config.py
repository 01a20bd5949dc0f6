"""How machine states map onto ISO 22400 time elements, and the other knobs of the KPI computation.

A `KpiConfig` is built in Python or loaded from a TOML file::

    micro_stop_threshold_s = 90
    startup_scrap_reasons = ["startup", "warmup"]
    default_calendar = "two-shift"
    count_running_outside_schedule = true

    [state_map]                      # merged over the defaults
    no_order = "delay"               # a missing order is our fault: a loss, not planned
    "idle:waiting_material" = "delay"
    "unplanned_down:tool_change" = "setup"

    [ideal_cycle_times]              # seconds per part by product, overriding the orders
                                     # and the store's product master (Store.products)
    "BRK-100" = 42.0

A `state_map` key is a machine state, or `state:reason_code` for one reason of that state (the
reason entry wins over the state entry).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..model.records import MachineState

#: The ISO 22400 time elements a state (or state + reason) can be mapped to.
ELEMENTS = ("production", "setup", "down", "delay", "planned_downtime")
Element = Literal["production", "setup", "down", "delay", "planned_downtime"]

DEFAULT_STATE_MAP: dict[str, str] = {
    "running": "production",
    "setup": "setup",
    "unplanned_down": "down",
    "idle": "delay",
    "planned_stop": "planned_downtime",
    "no_order": "planned_downtime",
}


class KpiConfigError(ValueError):
    """A KPI configuration is invalid; the message names the file and the key."""


def _split_key(key: str) -> tuple[str, str | None]:
    state, sep, reason = key.partition(":")
    return state, (reason if sep else None)


class KpiConfig(BaseModel):
    """Thresholds, the state → time-element mapping, ideal cycle times and calendar rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    micro_stop_threshold_s: float = Field(
        default=120.0,
        ge=0,
        description="idle/down episodes shorter than this are minor stops inside APT",
    )
    state_map: dict[str, Element] = Field(
        default_factory=dict,
        description="'state' or 'state:reason_code' -> time element, merged over the defaults",
    )
    startup_scrap_reasons: tuple[str, ...] = Field(
        default=("startup",), description="scrap reasons counted as reduced yield (startup losses)"
    )
    ideal_cycle_times: dict[str, float] = Field(
        default_factory=dict,
        description="product -> ideal cycle time (s), overrides the orders and the product master",
    )
    default_calendar: str | None = Field(
        default=None,
        description="calendar for machines without one; None: such machines are planned 24/7",
    )
    count_running_outside_schedule: bool = Field(
        default=True,
        description="running during a break or outside shifts counts as planned production",
    )

    @field_validator("state_map", mode="before")
    @classmethod
    def _tuple_keys(cls, v):
        if isinstance(v, dict):
            return {
                (f"{k[0]}:{k[1]}" if k[1] is not None else k[0]) if isinstance(k, tuple) else k: e
                for k, e in v.items()
            }
        return v

    @field_validator("state_map")
    @classmethod
    def _known_states(cls, v: dict[str, str]) -> dict[str, str]:
        states = {s.value for s in MachineState}
        for key in v:
            state, reason = _split_key(key)
            if state not in states:
                raise ValueError(
                    f"key {key!r}: {state!r} is not a machine state ({', '.join(sorted(states))})"
                )
            if reason is not None and not reason:
                raise ValueError(f"key {key!r}: empty reason code after ':'")
        return v

    @field_validator("ideal_cycle_times")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        for product, t in v.items():
            if not (isinstance(t, int | float) and math.isfinite(t) and t > 0):
                raise ValueError(f"product {product!r}: ideal cycle time must be > 0 s, got {t!r}")
        return v

    # -- derived --------------------------------------------------------------------------
    def mapping_rows(self) -> list[tuple[str, str | None, str]]:
        """(state, reason_code or None, element): the defaults with this config's entries on top."""
        merged = dict(DEFAULT_STATE_MAP)
        merged.update(self.state_map)
        return [(*_split_key(k), e) for k, e in sorted(merged.items())]

    def element_of(self, state: str, reason_code: str | None = None) -> str:
        """The time element one state (and reason) maps to; the reason entry wins."""
        rows = {(s, r): e for s, r, e in self.mapping_rows()}
        if reason_code is not None and (state, reason_code) in rows:
            return rows[(state, reason_code)]
        return rows[(state, None)]

    # -- loading --------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> KpiConfig:
        """Load a config file; errors name the file and the offending key."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KpiConfigError(f"{p}: KPI config file not found") from None
        except tomllib.TOMLDecodeError as e:
            raise KpiConfigError(f"{p}: not valid TOML: {e}") from None
        return cls.from_dict(data, where=str(p))

    @classmethod
    def from_dict(cls, data: dict, where: str = "KPI config") -> KpiConfig:
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            problems = []
            for err in e.errors():
                key = ".".join(str(x) for x in err["loc"]) or "(top level)"
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown key (known keys: {', '.join(cls.model_fields)})"
                got = err.get("input")
                shown = (
                    f" (got {got!r})"
                    if got is not None and not isinstance(got, dict) and err["type"] != "extra_forbidden"
                    else ""
                )
                problems.append(f"key '{key}': {msg}{shown}")
            raise KpiConfigError(f"{where}: " + "; ".join(problems)) from None
