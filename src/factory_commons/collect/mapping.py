"""How one value read from a source (a topic field, an OPC UA node, a register, a column) becomes a record.

A `PointMapping` names the machine, the record kind and, per kind, what the value means:
a signal with scaling and unit, a machine state through a state-code table, a part counter
(increments, or a running total that is differenced), an alarm bit, a quality
measurement, or a clamp-on current sensor (`current`: RMS amps, or raw ADC samples turned into
RMS at the edge, one phase or three combined; stored as a signal, by default `current` in A,
for the retrofit inference of `factory_commons.retrofit`). `PointConverter` applies a mapping to a stream of values and keeps the little
state that needs (the last counter total, the last state, the last alarm bit) so that a
polled source emits a state change or alarm only when it changes. That state can be saved
and restored so a restarted collector continues a counter without losing parts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..i18n import Catalog
from ..model.hierarchy import parse_machine_path
from ..model.records import MachineState

RETROFIT = Catalog("retrofit_ui")

KINDS = ("signal", "state", "count", "alarm", "quality", "current")


class MappingError(ValueError):
    """A mapping or plant configuration is malformed; the message names the file, key and why."""


class ValueRejected(ValueError):
    """One value could not be converted by its mapping (unknown state code, not a number, ...)."""


def _code_key(raw: Any) -> str:
    """State-code table keys are strings; 3, 3.0 and "3" all look up "3"."""
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


class PointMapping(BaseModel):
    """One source value -> one kind of record on one machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    machine: str = Field(description="ISA-95 machine path enterprise/site/area/line/machine")
    kind: Literal["signal", "state", "count", "alarm", "quality", "current"] = "signal"
    name: str | None = Field(default=None, description="signal name, quality characteristic or alarm code")
    unit: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    state_codes: dict[str, MachineState] | None = Field(
        default=None, description="raw state code -> machine state; without it the value must be a state name"
    )
    reason_codes: dict[str, str] | None = Field(
        default=None, description="raw state code -> reason code stored with the state change"
    )
    counter: Literal["increment", "total"] = Field(
        default="increment", description="count values are increments, or a running total to difference"
    )
    count_field: Literal["good", "scrap"] = "good"
    severity: Literal["info", "warning", "critical"] = "warning"
    lsl: float | None = None
    usl: float | None = None
    current_input: Literal["rms", "raw"] = Field(
        default="rms",
        description="current: the value is RMS amps, or raw instantaneous samples (ADC counts) "
        "turned into RMS at the edge (scale and offset make them amps)",
    )
    phases: Literal[1, 3] = Field(
        default=1, description="current: 1, or 3 (the value is a list of the three phases, combined)"
    )
    window: int = Field(
        default=1000,
        ge=2,
        description="current, raw: samples per RMS value when the samples arrive one by one",
    )

    deadband: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="signal, quality, current: store a value only if it moved more than this "
        "(after scaling) from the last one stored",
    )
    min_interval_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="sampling: at most one value per this many seconds",
    )
    max_interval_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="with a deadband: store an unchanged value again after this many seconds",
    )

    @field_validator("machine")
    @classmethod
    def _machine(cls, v: str) -> str:
        return "/".join(parse_machine_path(v))

    @field_validator("state_codes", "reason_codes", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {_code_key(k): val for k, val in v.items()}
        return v

    @model_validator(mode="before")
    @classmethod
    def _current_defaults(cls, data: Any) -> Any:
        """A current point is stored as the signal `current` in A unless it says otherwise."""
        if isinstance(data, dict) and data.get("kind") == "current":
            data = {"name": "current", "unit": "A", **{k: v for k, v in data.items() if v is not None}}
        return data

    @model_validator(mode="after")
    def _complete(self) -> PointMapping:
        if self.kind in ("signal", "quality", "alarm") and not self.name:
            what = {"signal": "signal name", "quality": "quality characteristic", "alarm": "alarm code"}[
                self.kind
            ]
            raise ValueError(f"kind '{self.kind}' needs 'name' (the {what})")
        if not math.isfinite(self.scale) or not math.isfinite(self.offset):
            raise ValueError("scale and offset must be finite numbers")
        if (self.deadband is not None or self.min_interval_s is not None) and self.kind not in (
            "signal",
            "quality",
            "current",
        ):
            raise ValueError(
                f"deadband and min_interval_s apply to measured values, not to kind '{self.kind}'"
            )
        if self.max_interval_s is not None and self.deadband is None:
            raise ValueError("max_interval_s needs deadband (it re-sends a value the deadband held back)")
        return self

    @classmethod
    def parse(cls, data: Any, where: str) -> PointMapping:
        """Validate a mapping table from a config file; errors name `where` (file and key)."""
        if not isinstance(data, dict):
            raise MappingError(f"{where}: expected a table of mapping keys, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            problems = []
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"])
                key = f"{where}.{loc}" if loc else where
                problems.append(f"{key}: {err['msg']}")
            raise MappingError("; ".join(problems)) from None

    def number(self, raw: Any) -> float:
        """The raw value as a finite float with scale and offset applied."""
        if isinstance(raw, bool):
            value = float(raw)
        elif isinstance(raw, int | float):
            value = float(raw)
        elif isinstance(raw, str):
            try:
                value = float(raw.strip().replace(",", ""))
            except ValueError:
                raise ValueRejected(
                    f"{self.machine} {self.name or self.kind}: not a number: {raw!r}"
                ) from None
        else:
            raise ValueRejected(f"{self.machine} {self.name or self.kind}: not a number: {raw!r}")
        value = value * self.scale + self.offset
        if not math.isfinite(value):
            raise ValueRejected(f"{self.machine} {self.name or self.kind}: not a finite number: {raw!r}")
        return value

    def current(self, raw: Any) -> float | None:
        """RMS amps of one current value, or None while raw samples are still being gathered
        (see `PointConverter`). A three-phase value is a list of the three phases; the phases'
        RMS are averaged (the one-phase equivalent of a balanced load)."""
        if self.phases == 3:
            if isinstance(raw, str):
                raw = [p for p in raw.replace(";", ",").split(",") if p.strip()]
            if not isinstance(raw, list | tuple) or len(raw) != 3:
                why = RETROFIT.both("bad_phases", " / ")
                raise ValueRejected(f"{self.machine} {self.name}: {why}: {raw!r}")
            from ..retrofit.features import rms_three_phase

            a, b, c = ([self._phase_rms(p)] for p in raw)
            return float(rms_three_phase(a, b, c)[0])
        return self._phase_rms(raw)

    def _phase_rms(self, raw: Any) -> float:
        if self.current_input == "rms":
            value = self.number(raw)
            if value < 0:
                why = RETROFIT.both("negative_rms", " / ")
                raise ValueRejected(f"{self.machine} {self.name}: {why}: {raw!r}")
            return value
        if not isinstance(raw, list | tuple) or len(raw) < 2:
            why = RETROFIT.both("raw_needs_list", " / ")
            raise ValueRejected(f"{self.machine} {self.name}: {why}: {raw!r}")
        return ac_rms([self.number(x) for x in raw])

    def state(self, raw: Any) -> MachineState:
        if self.state_codes is not None:
            key = _code_key(raw)
            if key not in self.state_codes:
                known = ", ".join(sorted(self.state_codes)) or "none"
                raise ValueRejected(
                    f"{self.machine}: state code {key!r} is not in state_codes (known: {known})"
                )
            return self.state_codes[key]
        try:
            return MachineState(str(raw).strip().lower())
        except ValueError:
            allowed = ", ".join(s.value for s in MachineState)
            raise ValueRejected(f"{self.machine}: {raw!r} is not a machine state ({allowed})") from None


def ac_rms(samples: list[float]) -> float:
    """RMS of instantaneous current samples with their mean removed (retrofit.features.rms of
    the centred window): a CT carries no direct current, so the mean is the ADC's bias (a
    mis-set offset) and must not count as amps."""
    import numpy as np

    from ..retrofit.features import rms

    x = np.asarray(samples, dtype=np.float64)
    return float(rms(x - x.mean(), len(x))[0])


def _ts(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueRejected(f"timestamp {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


class PointConverter:
    """Applies one PointMapping to successive values; returns (kind, row) or None (nothing to record)."""

    def __init__(self, mapping: PointMapping, state: dict | None = None) -> None:
        self.mapping = mapping
        self.last: Any = None  # last total, state or alarm bit
        self.samples: list[float] = []  # raw current samples arriving one by one, until a window
        self.last_emitted: tuple[datetime, float] | None = None  # deadband and sampling
        if state:
            self.last = state.get("last")

    def state_dict(self) -> dict:
        """What must survive a restart (the last counter total, state or alarm bit)."""
        return {"last": self.last}

    def convert(self, raw: Any, ts: datetime) -> tuple[str, dict] | None:
        row = self._convert(raw, ts)
        m = self.mapping
        if row is None or (m.deadband is None and m.min_interval_s is None):
            return row
        return row if self._passes(row[1]) else None

    def _passes(self, row: dict) -> bool:
        """Deadband and sampling: keep the value, or hold it back (a value without a time passes)."""
        m, ts, value = self.mapping, row.get("ts"), row.get("value")
        if not isinstance(ts, datetime) or not isinstance(value, float):
            return True
        last = self.last_emitted
        if last is not None:
            since = (ts - last[0]).total_seconds()
            if since < 0:
                return True  # older data (a replay): not filtered
            if m.min_interval_s is not None and since < m.min_interval_s:
                return False
            if (
                m.deadband is not None
                and abs(value - last[1]) <= m.deadband
                and not (m.max_interval_s is not None and since >= m.max_interval_s)
            ):
                return False
        self.last_emitted = (ts, value)
        return True

    def _convert(self, raw: Any, ts: datetime) -> tuple[str, dict] | None:
        m = self.mapping
        ts = _ts(ts)
        if m.kind == "signal":
            return "signal", {
                "machine": m.machine,
                "name": m.name,
                "ts": ts,
                "value": m.number(raw),
                "unit": m.unit,
            }
        if m.kind == "current":
            if m.current_input == "raw" and m.phases == 1 and not isinstance(raw, list | tuple):
                self.samples.append(m.number(raw))  # one instantaneous sample: RMS per window
                if len(self.samples) < m.window:
                    return None
                value, self.samples = ac_rms(self.samples), []
            else:
                value = m.current(raw)
            return "signal", {"machine": m.machine, "name": m.name, "ts": ts, "value": value, "unit": m.unit}
        if m.kind == "quality":
            row = {
                "machine": m.machine,
                "characteristic": m.name,
                "ts": ts,
                "value": m.number(raw),
                "unit": m.unit,
            }
            if m.lsl is not None:
                row["lsl"] = m.lsl
            if m.usl is not None:
                row["usl"] = m.usl
            return "quality", row
        if m.kind == "state":
            state = m.state(raw)
            if state.value == self.last:
                return None
            self.last = state.value
            row = {"machine": m.machine, "ts": ts, "state": state.value}
            if m.reason_codes:
                row["reason_code"] = m.reason_codes.get(_code_key(raw))
            return "state", row
        if m.kind == "alarm":
            active = bool(m.number(raw))
            if active == self.last or (self.last is None and not active):
                self.last = active
                return None
            self.last = active
            return "alarm", {
                "machine": m.machine,
                "ts": ts,
                "code": m.name,
                "severity": m.severity,
                "active": active,
            }
        # count
        value = m.number(raw)
        if value < 0 or not float(value).is_integer():
            raise ValueRejected(f"{m.machine}: a part count must be a whole number >= 0, got {raw!r}")
        n = int(value)
        if m.counter == "total":
            previous, self.last = self.last, n
            if previous is None:
                return None  # the first total only sets the baseline
            n = n - previous if n >= previous else n  # a smaller total means the counter was reset
        if n == 0:
            return None
        row = {"machine": m.machine, "ts": ts, "good": 0, "scrap": 0}
        row[m.count_field] = n
        return "count", row
