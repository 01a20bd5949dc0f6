"""The ISA-95 equipment hierarchy (enterprise/site/area/line/machine) and Unified-Namespace topics."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .policy import MAX_PATH, MAX_SEGMENT, Line, Name, bad_character, limit_text

LEVELS = ("enterprise", "site", "area", "line", "machine")
_FORBIDDEN = set("/+#\x00")


def check_segment(value: str, level: str) -> str:
    """Validate one hierarchy level name; Korean and other Unicode names are welcome.

    At most `MAX_SEGMENT` (64) characters, no control character (model/policy.py)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{level} name must not be empty")
    if len(value) > MAX_SEGMENT:
        raise ValueError(
            f"{level} name {value[:20]!r}...: {limit_text('too_long', n=len(value), max=MAX_SEGMENT)}"
        )
    if value != value.strip():
        raise ValueError(f"{level} name {value!r} has leading or trailing spaces")
    bad = sorted(set(value) & _FORBIDDEN)
    if bad:
        raise ValueError(f"{level} name {value!r} contains {''.join(bad)!r}, not allowed in a topic")
    pos = bad_character(value)
    if pos is not None:
        char = f"U+{ord(value[pos]):04X}"
        raise ValueError(f"{level} name {value!r}: {limit_text('control_char', char=char, pos=pos + 1)}")
    return value


def check_timezone(value: str) -> str:
    """An IANA time zone name (Asia/Seoul, Europe/Berlin, UTC); ValueError saying why otherwise."""
    try:
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Asia/Seoul)") from None
    return value


def parse_machine_path(path: str) -> tuple[str, str, str, str, str]:
    """Split 'enterprise/site/area/line/machine' into its five levels, validating each."""
    if not isinstance(path, str):
        raise ValueError(f"machine path must be a string, got {type(path).__name__}")
    if len(path) > MAX_PATH:
        raise ValueError(
            f"machine path {path[:40]!r}...: {limit_text('too_long', n=len(path), max=MAX_PATH)}"
        )
    parts = path.split("/")
    if len(parts) != len(LEVELS):
        raise ValueError(
            f"machine path {path!r} must have {len(LEVELS)} levels ({'/'.join(LEVELS)}), found {len(parts)}"
        )
    for part, level in zip(parts, LEVELS, strict=True):
        check_segment(part, level)
    return tuple(parts)  # type: ignore[return-value]


def uns_topic(machine_path: str, kind: str, name: str) -> str:
    """The Unified-Namespace topic of one data item: enterprise/site/area/line/machine/kind/name."""
    parse_machine_path(machine_path)
    check_segment(kind, "kind")
    check_segment(name, "name")
    return f"{machine_path}/{kind}/{name}"


class Machine(BaseModel):
    """One machine (ISA-95 work unit) and where it sits in the hierarchy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="enterprise/site/area/line/machine")
    display_name: Name | None = Field(default=None, description="name shown to people, e.g. Korean")
    kind: Line | None = Field(default=None, description="machine type, e.g. 'cnc', 'press'")
    calendar: Line | None = Field(default=None, description="shift calendar name")
    default_ideal_cycle_time_s: float | None = Field(
        default=None, gt=0, description="ideal cycle time when a count names no order or product"
    )
    timezone: str | None = Field(
        default=None,
        description="IANA time zone its days are cut in; None: its calendar's, else the plant's",
    )

    @field_validator("path")
    @classmethod
    def _valid_path(cls, v: str) -> str:
        parse_machine_path(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)

    @property
    def levels(self) -> dict[str, str]:
        return dict(zip(LEVELS, self.path.split("/"), strict=True))

    @property
    def line_path(self) -> str:
        return self.path.rsplit("/", 1)[0]

    def topic(self, kind: str, name: str) -> str:
        return uns_topic(self.path, kind, name)
