"""The plant configuration file (TOML) that `factory-commons collect --config plant.toml` runs.

One `[collector]` table says where the store, the durable buffer and the health file are;
then one array-of-tables per source kind (`[[mqtt]]`, `[[sparkplug]]`, `[[opcua]]`,
`[[modbus]]`), each with a unique `name`, its connection settings and its points: how each
topic, metric, node or register maps to a machine and a kind of record (a `PointMapping`).
Everything is checked before anything starts; a problem is reported as
`plant.toml: [[opcua]] "press-plc" points."ns=2;s=X".kind: ...` (file, key, why).
See docs/connect.md for a worked example.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..model.hierarchy import check_timezone
from .files_read import collect_text
from .mapping import MappingError, PointMapping

SOURCE_KINDS = ("mqtt", "sparkplug", "opcua", "modbus")


def _explain(e: ValidationError, where: str) -> str:
    problems = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        problems.append(f"{where}.{loc}: {err['msg']}" if loc else f"{where}: {err['msg']}")
    return "; ".join(problems)


class CollectorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(default="factory.duckdb", description="store file (or later a database URL)")
    buffer: str | None = Field(default=None, description="buffer file; default <store>.buffer.sqlite")
    health_file: str | None = Field(default=None, description="health JSON; default <store>.health.json")
    late_after_s: float = Field(default=60.0, gt=0, description="rows that reach the store later are 'late'")
    buffer_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    store_memory_mb: float | None = Field(
        default=None,
        ge=16,
        description="cap on the DuckDB store's memory in this process (a small edge box: 64); "
        "none = 128 for a store file the collector owns",
    )


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    enabled: bool = True
    stale_after_s: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="record a 'stale' alert after this long without a value",
    )


class _MqttLink(_Source):
    """Where the broker is and how to log in: address, client id, TLS with certificates, user/password."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535, description="1883, or usually 8883 with TLS")
    client_id: str | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)  # never in a repr or a log line
    tls: bool = Field(default=False, description="TLS; on by itself when a certificate file is given")
    ca_file: str | None = Field(default=None, description="CA certificate(s) that signed the broker's")
    cert_file: str | None = Field(default=None, description="our client certificate (PEM)")
    key_file: str | None = Field(default=None, description="its private key (PEM)")
    tls_insecure: bool = Field(default=False, description="accept a broker name not in its certificate")

    @model_validator(mode="after")
    def _tls_files(self) -> _MqttLink:
        for field in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, field)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{field}: file {path!r} not found")
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file (the client certificate it belongs to)")
        return self


class JsonPayload(BaseModel):
    """A JSON object carrying several values (`{"ts": ..., "temp": 71.2, "spindle": {"rpm": 1200}}`,
    as UMH and most gateways send): which field is the time, and how each value field is mapped.

    Field paths are dotted (`spindle.rpm`). With `machine_level` set, the machine is read from
    the topic (five levels from that 0-based level on, e.g. 2 for `umh/v1/<enterprise>/...`) and
    every number not in `fields` becomes a signal named by its path; `fields` still override."""

    model_config = ConfigDict(extra="forbid")

    timestamp: str | None = Field(
        default=None, description="dotted path of the time field (ISO 8601, epoch s or ms); none = arrival"
    )
    fields: dict[str, PointMapping] = Field(default_factory=dict, description="dotted path -> mapping")
    machine_level: int | None = Field(
        default=None, ge=0, le=20, description="the topic level where the 5-level machine path starts"
    )

    @model_validator(mode="after")
    def _something(self) -> JsonPayload:
        if not self.fields and self.machine_level is None:
            raise ValueError("needs 'fields' (path -> mapping) or 'machine_level' (machine from the topic)")
        return self


class MqttSource(_MqttLink):
    """Plain JSON records (or bare values mapped by `points`) on Unified-Namespace topics."""

    topics: list[str] = Field(default_factory=list, description="topic filters carrying JSON records")
    topic_prefix: str = Field(
        default="",
        pattern=r"^([^/+#]+(/[^/+#]+)*)?$",
        description="levels before the UNS path in record topics, e.g. 'umh/v1'",
    )
    qos: Literal[0, 1, 2] = 1
    points: dict[str, PointMapping] = Field(
        default_factory=dict, description="topic -> mapping of a bare value"
    )
    payloads: dict[str, JsonPayload] = Field(
        default_factory=dict, description="topic filter -> fields of a JSON object with several values"
    )
    timezone: str = Field(
        default="UTC",
        description="zone of ISO 8601 times written without one (e.g. 'Asia/Seoul' for plant time)",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check_timezone(v)

    @model_validator(mode="after")
    def _something(self) -> MqttSource:
        if not self.topics and not self.points and not self.payloads:
            raise ValueError(
                "needs 'topics' (JSON records), 'points' (topic -> mapping) or 'payloads' (JSON fields)"
            )
        return self


class SparkplugSource(_MqttLink):
    """Sparkplug B edge nodes of one group; points map `node/device/metric` (or `node/metric`)."""

    group: str = Field(min_length=1)
    host_id: str | None = Field(
        default=None,
        pattern=r"^[^/+#]+$",
        description="act as the Sparkplug primary host with this id (STATE on spBv1.0/STATE/<host_id>)",
    )
    reorder_window_s: float = Field(
        default=2.0, ge=0, le=60, description="how long a missing sequence number may arrive late"
    )
    points: dict[str, PointMapping] = Field(default_factory=dict)


class OpcUaPoint(PointMapping):
    """A PointMapping plus, where this node needs it, its own sampling interval and queue size
    (else the source's)."""

    sampling_ms: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="how often the server samples this node, if not the source's; 0 = every change",
    )
    queue_size: int | None = Field(
        default=None, ge=1, le=100_000, description="changes kept for this node between two publishes"
    )


class OpcUaSource(_Source):
    """Subscriptions to OPC UA nodes; points map a node id to a mapping."""

    endpoint: str = Field(pattern=r"^opc\.tcp://")
    interval_ms: int = Field(
        default=500, ge=10, description="publishing interval: how often the server sends"
    )
    sampling_ms: float = Field(
        default=0,
        ge=0,
        description="how often the server samples each node; 0 = every change, as fast as it can",
    )
    queue_size: int | None = Field(
        default=None, ge=1, le=100_000, description="changes the server keeps per node between two publishes"
    )
    username: str | None = None
    password: str | None = Field(default=None, repr=False)  # never in a repr or a log line
    password_env: str | None = Field(default=None, description="environment variable holding the password")
    password_file: str | None = Field(default=None, description="file whose first line is the password")
    security_policy: Literal["None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss"] = "None"
    security_mode: Literal["Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    cert_file: str | None = Field(
        default=None, description="our client certificate (DER or PEM); none = generated"
    )
    key_file: str | None = Field(default=None, description="its private key (PEM)")
    pki_dir: str | None = Field(
        default=None,
        description="own/, trusted/ and rejected/ certificates; none = opcua-pki beside the buffer",
    )
    points: dict[str, OpcUaPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _security(self) -> OpcUaSource:
        given = [f for f in ("password", "password_env", "password_file") if getattr(self, f)]
        if len(given) > 1:
            raise ValueError(f"give one of {', '.join(given)}, not several")
        for field in ("cert_file", "key_file", "password_file"):
            path = getattr(self, field)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{field}: file {path!r} not found")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together (the client certificate and its key)")
        return self


class ModbusPoint(PointMapping):
    """A PointMapping plus where the value lives in the device."""

    address: int = Field(ge=0, le=65535)
    table: Literal["holding", "input", "coil", "discrete"] = Field(
        default="holding", description="Modbus primary table"
    )
    dtype: Literal["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64", "bool"] = (
        "uint16"
    )
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    bit: int | None = Field(
        default=None, ge=0, le=15, description="one bit of a register (0 = least significant)"
    )
    unit_id: int | None = Field(default=None, ge=0, le=255, description="Modbus unit id, if not the device's")


class ModbusSource(_Source):
    """Polled registers and coils of one Modbus TCP device."""

    host: str
    port: int = Field(default=502, ge=1, le=65535)
    unit: int = Field(default=1, ge=0, le=255, description="unit id (slave id) of points without unit_id")
    interval_s: float = Field(default=1.0, gt=0, description="seconds between polls")
    timeout_s: float = Field(default=3.0, gt=0, description="seconds a unit has to answer a request")
    unit_retry_s: float = Field(
        default=5.0, gt=0, description="a silent unit is asked again after this while the others are polled"
    )
    points: list[ModbusPoint] = Field(min_length=1)


SOURCE_MODELS: dict[str, type[_Source]] = {
    "mqtt": MqttSource,
    "sparkplug": SparkplugSource,
    "opcua": OpcUaSource,
    "modbus": ModbusSource,
}


class PlantConfig(BaseModel):
    """A whole plant.toml, validated."""

    model_config = ConfigDict(extra="forbid")

    path: str = "<memory>"
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    sources: list[tuple[str, Any]] = Field(default_factory=list)  # (kind, validated source model)

    @property
    def store(self) -> str:
        return self.collector.store

    @property
    def buffer(self) -> str:
        return self.collector.buffer or f"{self.collector.store}.buffer.sqlite"

    @property
    def health_file(self) -> str:
        return self.collector.health_file or f"{self.collector.store}.health.json"

    @classmethod
    def from_toml(cls, path: str | Path) -> PlantConfig:
        p = Path(path)
        if not p.is_file():
            raise MappingError(f"{p}: {collect_text('config_not_found')}")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise MappingError(f"{p}: not UTF-8 text ({e}); save the file as UTF-8") from None
        except tomllib.TOMLDecodeError as e:
            raise MappingError(f"{p}: {collect_text('config_bad_toml', error=e)}") from None
        return cls.from_dict(data, str(p))

    @classmethod
    def from_dict(cls, data: dict, where: str = "<config>") -> PlantConfig:
        unknown = [k for k in data if k not in ("collector", *SOURCE_KINDS)]
        if unknown:
            known = ", ".join(["collector", *SOURCE_KINDS])
            raise MappingError(
                f"{where}: unknown section(s) {', '.join(map(repr, unknown))} (known: {known})"
            )
        try:
            collector = CollectorSettings.model_validate(data.get("collector", {}))
        except ValidationError as e:
            raise MappingError(_explain(e, f"{where}: [collector]")) from None
        sources: list[tuple[str, Any]] = []
        names: dict[str, str] = {}
        for kind in SOURCE_KINDS:
            entries = data.get(kind, [])
            if isinstance(entries, dict):
                entries = [entries]
            if not isinstance(entries, list):
                raise MappingError(f"{where}: [[{kind}]] must be an array of tables")
            for i, entry in enumerate(entries):
                label = f"{where}: [[{kind}]] #{i + 1}"
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    label = f'{where}: [[{kind}]] "{entry["name"]}"'
                if not isinstance(entry, dict):
                    raise MappingError(f"{label}: expected a table")
                _check_points(entry.get("points"), label, OpcUaPoint if kind == "opcua" else PointMapping)
                try:
                    source = SOURCE_MODELS[kind].model_validate(entry)
                except ValidationError as e:
                    raise MappingError(_explain(e, label)) from None
                if source.name in names:
                    raise MappingError(
                        f"{label}.name: {source.name!r} is used twice (also in [[{names[source.name]}]])"
                    )
                names[source.name] = kind
                if source.enabled:
                    sources.append((kind, source))
        if not sources:
            raise MappingError(
                f"{where}: no enabled source: add an [[mqtt]], [[sparkplug]], [[opcua]] or [[modbus]] table"
            )
        return cls(path=where, collector=collector, sources=sources)


def _check_points(points: Any, label: str, model: type[PointMapping] = PointMapping) -> None:
    """Validate each point on its own first (with the point model of its source kind), so an
    error names the point's key."""
    if isinstance(points, dict):
        for key, value in points.items():
            model.parse(value, f'{label} points."{key}"')
    elif isinstance(points, list):
        for i, value in enumerate(points):
            if not isinstance(value, dict):
                raise MappingError(f"{label} points #{i + 1}: expected a table")
            try:
                ModbusPoint.model_validate(value)
            except ValidationError as e:
                addr = value.get("address", "?")
                raise MappingError(_explain(e, f"{label} points #{i + 1} (address {addr})")) from None
