"""The mapping file (TOML) that tells `factory-commons import` what a CSV or Excel file means.

It uses the vocabulary of the connector mappings (machine, kind, name, unit, scale, offset,
state_codes, reason_codes, counter) plus what only files need: the shape of the file (one row
per event, one row per interval, or a wide table of signals), the time column(s), where the
machine comes from, the encoding, delimiter, time zone and time format. Each mapped column
says which record kind it feeds and, with `field`, which field of that record (default: the
main value: the signal value, the state, the good count, the alarm code).

Times may be split: `date` names a column of dates and `time`, `start` and `end` then hold
times of day (an end before its start is on the next day); `duration` gives interval lengths
instead of ends.

A malformed mapping raises MappingError naming the file, the key and why, before anything is
read from the data file. See docs/connect.md for worked examples.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..i18n import Catalog
from ..model.hierarchy import check_segment, check_timezone, parse_machine_path
from ..model.records import MachineState, Severity
from .mapping import MappingError  # one error type for every collect configuration

__all__ = [
    "ColumnMapping",
    "FileMapping",
    "MappingError",
    "code_key",
    "importer_text",
    "load_mapping",
    "parse_mapping",
]

IMPORTER = Catalog("importer")


def importer_text(key: str, **values: Any) -> str:
    """A text of the `importer` catalog in both languages ("Korean / English"), fields filled."""
    text = IMPORTER.both(key, " / ")
    return text.format(**values) if values else text


#: fields a column can feed, per record kind; the first is the default (the main value)
FIELDS: dict[str, tuple[str, ...]] = {
    "signal": ("value", "name", "unit"),
    "state": ("state", "reason_code", "order_id"),
    "count": ("good", "scrap", "rework", "scrap_reason", "order_id"),
    "alarm": ("code", "severity", "message", "active"),
}
#: fields read as numbers; the others are text
NUMERIC_FIELDS = {("signal", "value"), ("count", "good"), ("count", "scrap"), ("count", "rework")}


def code_key(raw: Any) -> str:
    """Code-table keys are strings; 3, 3.0 and "3" all look up "3"."""
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _path(value: str) -> str:
    parse_machine_path(value)
    return value


class ColumnMapping(BaseModel):
    """What one column of the file holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["signal", "state", "count", "alarm", "order_id", "product"] = Field(
        description="record kind the column feeds; 'order_id' gives the order of the row's states and "
        "counts, 'product' the product made in the row (an order per product, or per order column)"
    )
    field: str | None = Field(default=None, description="field of the record; default the main value")
    machine: str | None = Field(default=None, description="machine path of this column (wide tables)")
    name: str | None = Field(default=None, description="signal name")
    unit: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    state_codes: dict[str, MachineState] | None = Field(
        default=None, description="raw state code -> machine state; without it the cell must be a state name"
    )
    reason_codes: dict[str, str] | None = Field(
        default=None, description="raw state code -> reason code stored with the state change"
    )
    codes: dict[str, str | bool] | None = Field(
        default=None, description="raw text -> value for text fields (severity, active, reason codes)"
    )
    counter: Literal["increment", "total"] = Field(
        default="increment", description="counts are increments, or a running total to difference"
    )

    @field_validator("machine")
    @classmethod
    def _machine(cls, v: str | None) -> str | None:
        return None if v is None else _path(v)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else check_segment(v, "signal")

    @field_validator("state_codes", "reason_codes", "codes", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        return {code_key(k): val for k, val in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _complete(self) -> ColumnMapping:
        if self.kind in ("order_id", "product"):
            if self.field not in (None, self.kind):
                raise ValueError(f"kind '{self.kind}' has no other field")
        elif self.field is not None and self.field not in FIELDS[self.kind]:
            raise ValueError(f"field of kind '{self.kind}' must be one of {', '.join(FIELDS[self.kind])}")
        if not (math.isfinite(self.scale) and math.isfinite(self.offset)) or self.scale == 0:
            raise ValueError("scale must be a finite non-zero number and offset a finite number")
        if self.state_codes is not None and self.role != ("state", "state"):
            raise ValueError("state_codes belong to a column with kind = 'state' (the state itself)")
        if self.codes is not None:
            if self.role == ("alarm", "severity"):
                bad = [v for v in self.codes.values() if v not in {s.value for s in Severity}]
                if bad:
                    raise ValueError(f"severity codes must map to info, warning or critical, got {bad[0]!r}")
            if self.role == ("alarm", "active") and not all(isinstance(v, bool) for v in self.codes.values()):
                raise ValueError("codes of an alarm 'active' column must map to true or false")
        return self

    @property
    def role(self) -> tuple[str, str]:
        """(kind, field) this column feeds."""
        if self.kind in ("order_id", "product"):
            return (self.kind, self.kind)
        return (self.kind, self.field or FIELDS[self.kind][0])


class FileMapping(BaseModel):
    """A whole mapping file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: Literal["events", "intervals", "wide"] = Field(
        description="events: one row per event; intervals: start/end per row; wide: time + one column per signal"
    )
    time: str | None = Field(default=None, description="time column (events, wide)")
    start: str | None = Field(default=None, description="interval start column (intervals)")
    end: str | None = Field(default=None, description="interval end column (intervals)")
    duration: str | None = Field(
        default=None, description="column of interval lengths instead of 'end' (intervals)"
    )
    duration_unit: Literal["s", "min", "h"] = Field(
        default="min", description="unit of plain numbers in the duration column (h:mm cells are h:mm)"
    )
    date: str | None = Field(
        default=None, description="column of dates; time/start/end then may hold only times of day"
    )
    date_format: str = Field(default="auto", description="auto, a strptime format or excel (serial days)")
    time_format: str = Field(
        default="auto", description="auto, a strptime format, excel (serial days), unix_s or unix_ms"
    )
    timezone: str = Field(default="Asia/Seoul", description="zone of timestamps written without one")
    encoding: str = Field(
        default="auto", description="auto (UTF-8 with or without BOM, else CP949) or a codec"
    )
    delimiter: str = Field(default="auto", description="auto (sniffed among , ; tab) or the character")
    sheet: str | None = Field(default=None, description="Excel sheet; default the first")
    header_row: int = Field(default=1, ge=1, description="line (row) of the column names")
    machine: str | None = Field(default=None, description="one fixed machine path for every row")
    machine_column: str | None = Field(default=None, description="column naming the machine of each row")
    machines: dict[str, str] = Field(default_factory=dict, description="machine name in the file -> path")
    state: MachineState | None = Field(default=None, description="state of every interval (intervals)")
    state_after: MachineState | None = Field(
        default=None, description="state the machine enters at an interval's end (intervals)"
    )
    columns: dict[str, ColumnMapping] = Field(description="column name -> what it holds")

    @field_validator("machine")
    @classmethod
    def _machine(cls, v: str | None) -> str | None:
        return None if v is None else _path(v)

    @field_validator("machines")
    @classmethod
    def _machines(cls, v: dict[str, str]) -> dict[str, str]:
        for name, path in v.items():
            try:
                parse_machine_path(path)
            except ValueError as e:
                raise ValueError(f"{name!r}: {e}") from None
        return {code_key(k): p for k, p in v.items()}

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check_timezone(v)

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, v: str) -> str:
        if v not in ("auto", "excel") and "%" not in v:
            raise ValueError("date_format must be auto, excel or a strptime format such as %Y-%m-%d")
        return v

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str) -> str:
        if v != "auto":
            import codecs

            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown encoding {v!r} (e.g. utf-8, cp949, euc-kr)") from None
        return v

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str) -> str:
        v = {"tab": "\t", "\\t": "\t"}.get(v, v)
        if v != "auto" and len(v) != 1:
            raise ValueError("delimiter must be one character (or 'tab' or 'auto')")
        return v

    @model_validator(mode="after")
    def _complete(self) -> FileMapping:
        if self.shape == "intervals":
            if not self.start:
                raise ValueError("shape 'intervals' needs 'start' (the column of interval starts)")
            if self.time:
                raise ValueError("shape 'intervals' uses 'start' and 'end', not 'time'")
            if self.end and self.duration:
                raise ValueError("give either 'end' (a column of ends) or 'duration' (of lengths), not both")
        else:
            if not self.time:
                raise ValueError(f"shape '{self.shape}' needs 'time' (the column of timestamps)")
            if self.start or self.end or self.duration or self.state or self.state_after:
                raise ValueError(
                    "'start', 'end', 'duration', 'state' and 'state_after' belong to shape 'intervals'"
                )
        if self.machine and self.machine_column:
            raise ValueError("give either 'machine' (one fixed path) or 'machine_column', not both")
        if not self.columns:
            raise ValueError("'columns' maps no column: say what at least one column holds")
        roles = [c.role for c in self.columns.values()]
        no_machine = not self.machine and not self.machine_column
        if no_machine and any(
            c.machine is None for c in self.columns.values() if c.kind not in ("order_id", "product")
        ):
            raise ValueError(
                "say which machine: 'machine' (a path), 'machine_column', or 'machine' per column"
            )
        if self.shape == "wide" and any(r[0] != "signal" or r[1] != "value" for r in roles):
            raise ValueError(
                "shape 'wide' holds signal columns only (kind = 'signal'); use 'events' for more"
            )
        if self.shape == "intervals" and any(r[0] == "signal" for r in roles):
            raise ValueError("shape 'intervals' has no signals; use 'events' or 'wide' for signal columns")
        for key, col in self.columns.items():
            self._check_column(key, col, roles)
        if self.shape == "intervals" and self.state is None and ("state", "state") not in roles:
            if any(r[0] == "state" for r in roles) or self.state_after:
                raise ValueError("intervals with states need a state column or a fixed 'state'")
        if self.state_after and not (self.end or self.duration):
            raise ValueError("'state_after' needs 'end' or 'duration' (where intervals end)")
        return self

    def _check_column(self, key: str, col: ColumnMapping, roles: list[tuple[str, str]]) -> None:
        kind, field = col.role
        where = f"columns.{key}"
        if kind == "signal" and field == "value" and col.name is None and ("signal", "name") not in roles:
            raise ValueError(f"{where}: a signal column needs 'name' (or another column with field = 'name')")
        if kind in ("state", "count", "alarm", "order_id", "product") and roles.count(col.role) > 1:
            raise ValueError(f"{where}: two columns feed {kind}.{field}; map one of them")
        main = {"state": ("state", "state"), "alarm": ("alarm", "code")}.get(kind)
        if main and main not in roles and not (kind == "state" and self.state):
            raise ValueError(f"{where}: a {kind} column needs a column with the {main[1]} itself")
        if col.machine and self.machine_column:
            raise ValueError(f"{where}: 'machine' per column does not go with 'machine_column'")

    def column_names(self) -> list[str]:
        """Every column the file must have."""
        names = [
            n for n in (self.date, self.time, self.start, self.end, self.duration, self.machine_column) if n
        ]
        return names + [c for c in self.columns if c not in names]


def load_mapping(path: str | Path) -> tuple[FileMapping, str]:
    """Read and validate a mapping file; returns it with a hash of its content (for resuming)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise MappingError(f"{path}: cannot read the mapping file ({e.strerror or e})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise MappingError(f"{path}: a mapping file must be UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise MappingError(f"{path}: not valid TOML: {e}") from None
    return parse_mapping(data, str(path)), hashlib.sha256(raw).hexdigest()


def parse_mapping(data: dict, where: str = "mapping") -> FileMapping:
    """Validate a mapping given as a dict; MappingError names `where`, the key and why."""
    try:
        return FileMapping.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = _unknown_key(err["loc"])
            got = err.get("input")
            shown = f" (got {got!r})" if err["type"] != "missing" and not isinstance(got, dict | list) else ""
            problems.append(f"key '{loc}': {msg}{shown}" if loc else msg)
        raise MappingError(f"{where}: " + "; ".join(problems)) from None


def _unknown_key(loc: tuple) -> str:
    """Why a key is refused: the keys that exist at its place, and the closest one."""
    model = ColumnMapping if len(loc) == 3 and loc[0] == "columns" else FileMapping
    valid = list(model.model_fields)
    text = importer_text("unknown_key", valid=", ".join(valid))
    best = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.7)
    return f"{text} ({importer_text('did_you_mean', best=best[0])})" if best else text
