"""Sparkplug B payloads: bytes -> metrics (name, alias, timestamp, datatype, value, flags), and back.

`decode_payload` parses a payload with the module generated from `sparkplug_b.proto` and
turns every metric into a plain `Metric`: signed integers are restored from their unsigned
wire form, arrays are unpacked, a DataSet becomes a dict of columns and rows, a Template a
dict of its metrics. Anything that is not a well-formed Sparkplug B payload (truncated,
garbage, an unknown datatype, a value that does not match its datatype, a metric with
neither name nor alias) raises `SparkplugDecodeError` with the reason, never another
exception. `encode_payload` is the inverse, used by the edge-node simulator and the tests.
"""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from . import sparkplug_b_pb2 as pb

# Sparkplug B DataType enum (specification 6.4.16), by number.
DATATYPES: dict[int, str] = {v.number: v.name for v in pb.DataType.DESCRIPTOR.values}
DATATYPE_IDS: dict[str, int] = {name: number for number, name in DATATYPES.items()}

_SIGNED_32 = {1: 8, 2: 16, 3: 32}  # Int8/16/32 travel in uint32 int_value (two's complement)
_UNSIGNED_32 = {5, 6, 7}
_LONG = {4, 8, 13}  # Int64, UInt64, DateTime travel in uint64 long_value
_ARRAYS = {  # datatype -> struct format of one element (little endian)
    22: "b",
    23: "h",
    24: "i",
    25: "q",
    26: "B",
    27: "H",
    28: "I",
    29: "Q",
    30: "f",
    31: "d",
    34: "q",
}
_EXPECTED_FIELD = {
    **{t: "int_value" for t in (1, 2, 3, 5, 6, 7)},
    **{t: "long_value" for t in _LONG},
    9: "float_value",
    10: "double_value",
    11: "boolean_value",
    12: "string_value",
    14: "string_value",
    15: "string_value",
    16: "dataset_value",
    17: "bytes_value",
    18: "bytes_value",
    19: "template_value",
    **{t: "bytes_value" for t in range(22, 35)},
}


class SparkplugDecodeError(ValueError):
    """The bytes are not a well-formed Sparkplug B payload; the message says why."""


@dataclass(frozen=True)
class Metric:
    """One metric of a payload, with its value as a Python object (None when is_null)."""

    name: str | None
    alias: int | None
    timestamp: int | None  # epoch milliseconds
    datatype: int
    value: Any
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    #: simple metric properties ("engUnit" -> "degC", "Quality" -> 192); nested property sets left out
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def datatype_name(self) -> str:
        return DATATYPES.get(self.datatype, f"unknown({self.datatype})")


@dataclass(frozen=True)
class Payload:
    """A decoded payload: sending time (ms), sequence number, metrics."""

    timestamp: int | None
    seq: int | None
    metrics: list[Metric] = field(default_factory=list)
    uuid: str | None = None
    body: bytes | None = None


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def _unpack_array(datatype: int, data: bytes, where: str) -> list:
    if datatype == 32:  # BooleanArray: 4-byte count, then packed bits (MSB first)
        if len(data) < 4:
            raise SparkplugDecodeError(f"{where}: BooleanArray shorter than its 4-byte count")
        (n,) = struct.unpack_from("<I", data)
        bits = data[4:]
        if len(bits) * 8 < n:
            raise SparkplugDecodeError(f"{where}: BooleanArray says {n} values but has {len(bits) * 8} bits")
        return [bool(bits[i // 8] >> (7 - i % 8) & 1) for i in range(n)]
    if datatype == 33:  # StringArray: null-terminated UTF-8 strings
        if data and not data.endswith(b"\x00"):
            raise SparkplugDecodeError(f"{where}: StringArray does not end with a null byte")
        try:
            return [s.decode("utf-8") for s in data.split(b"\x00")[:-1]]
        except UnicodeDecodeError as e:
            raise SparkplugDecodeError(f"{where}: StringArray is not UTF-8 ({e})") from None
    fmt = _ARRAYS[datatype]
    size = struct.calcsize(fmt)
    if len(data) % size:
        raise SparkplugDecodeError(
            f"{where}: {DATATYPES[datatype]} of {len(data)} bytes is not a whole number of {size}-byte values"
        )
    return list(struct.unpack(f"<{len(data) // size}{fmt}", data))


def _dataset(ds: pb.Payload.DataSet, where: str) -> dict:
    columns = list(ds.columns)
    types = list(ds.types)
    if len(types) != len(columns) or (ds.HasField("num_of_columns") and ds.num_of_columns != len(columns)):
        raise SparkplugDecodeError(f"{where}: DataSet columns, types and num_of_columns disagree")
    rows = []
    for i, row in enumerate(ds.rows):
        if len(row.elements) != len(columns):
            raise SparkplugDecodeError(
                f"{where}: DataSet row {i} has {len(row.elements)} of {len(columns)} values"
            )
        values = []
        for el, t in zip(row.elements, types, strict=True):
            kind = el.WhichOneof("value")
            v = getattr(el, kind) if kind and kind != "extension_value" else None
            if kind == "int_value" and t in _SIGNED_32:
                v = _signed(v, _SIGNED_32[t])
            elif kind == "long_value" and t == 4:
                v = _signed(v, 64)
            values.append(v)
        rows.append(values)
    return {"columns": columns, "types": [DATATYPES.get(t, str(t)) for t in types], "rows": rows}


_DEFAULT_TYPE = {  # a DATA metric may omit its datatype: the birth's, or this guess from the field
    "int_value": 7,
    "long_value": 8,
    "float_value": 9,
    "double_value": 10,
    "boolean_value": 11,
    "string_value": 12,
    "bytes_value": 17,
    "dataset_value": 16,
    "template_value": 19,
}


_NO_PROPERTIES: dict[str, Any] = {}  # shared by metrics without properties (never changed)
_UNSIGNED_LIMIT = {5: 0xFF, 6: 0xFFFF, 7: 0xFFFFFFFF}


def _label(where: str | int, m: pb.Payload.Metric) -> str:
    """Where a metric is, for an error message (built only when there is an error)."""
    place = f"metric #{where}" if isinstance(where, int) else where
    return f"{place} metric {m.name!r}" if m.HasField("name") else f"{place} metric alias {m.alias}"


def _metric(m: pb.Payload.Metric, where: str | int, known: dict | None = None) -> Metric:
    has_name, has_alias = m.HasField("name"), m.HasField("alias")
    if not has_name and not has_alias:
        place = f"metric #{where}" if isinstance(where, int) else where
        raise SparkplugDecodeError(f"{place}: metric has neither a name nor an alias")
    kind = m.WhichOneof("value")
    if m.HasField("datatype"):
        datatype = m.datatype
    else:
        known = known or {}
        datatype = known.get(m.alias) if has_alias else None
        if datatype is None and has_name:
            datatype = known.get(m.name)
        if datatype is None:
            datatype = _DEFAULT_TYPE.get(kind, 0) if kind else 0
    if kind == "extension_value":
        raise SparkplugDecodeError(f"{_label(where, m)}: extension values are not supported")
    if datatype == 0 and kind is not None:
        raise SparkplugDecodeError(f"{_label(where, m)}: value with datatype Unknown")
    if datatype not in DATATYPES or datatype in (20, 21):
        raise SparkplugDecodeError(f"{_label(where, m)}: {datatype} is not a metric datatype")
    if m.is_null or kind is None:
        # a null value, or a DATA metric that only names itself (allowed for e.g. properties)
        value = None
        is_null = True
    else:
        expected = _EXPECTED_FIELD.get(datatype)
        if kind != expected:
            raise SparkplugDecodeError(
                f"{_label(where, m)}: a {DATATYPES[datatype]} value must be in {expected}, found {kind}"
            )
        is_null = False
        value = getattr(m, kind)
        if datatype in _SIGNED_32:
            value = _signed(value, _SIGNED_32[datatype])
        elif datatype in _UNSIGNED_32:
            if value > _UNSIGNED_LIMIT[datatype]:
                raise SparkplugDecodeError(
                    f"{_label(where, m)}: {value} does not fit a {DATATYPES[datatype]}"
                )
        elif datatype == 4:
            value = _signed(value, 64)
        elif 22 <= datatype <= 34:
            value = _unpack_array(datatype, value, _label(where, m))
        elif datatype == 16:
            value = _dataset(value, _label(where, m))
        elif datatype == 19:
            value = {
                "template_ref": value.template_ref or None,
                "metrics": [_metric(x, f"{_label(where, m)} template") for x in value.metrics],
            }
        elif datatype == 18:
            value = bytes(value)
    properties: dict[str, Any] = _NO_PROPERTIES
    if m.HasField("properties"):
        properties = {}
        for key, pv in zip(m.properties.keys, m.properties.values, strict=False):
            pkind = pv.WhichOneof("value")
            if pkind in (
                "int_value",
                "long_value",
                "float_value",
                "double_value",
                "boolean_value",
                "string_value",
            ):
                properties[key] = getattr(pv, pkind)
    return Metric(
        properties=properties,
        name=m.name if has_name else None,
        alias=m.alias if has_alias else None,
        timestamp=m.timestamp if m.HasField("timestamp") else None,
        datatype=datatype,
        value=value,
        is_historical=m.is_historical,
        is_transient=m.is_transient,
        is_null=is_null,
    )


def decode_payload(data: bytes, known: dict | None = None) -> Payload:
    """Parse a Sparkplug B payload; raise SparkplugDecodeError naming the problem.

    `known` maps metric aliases (int) and names (str) to the datatypes announced in the birth
    message, for DATA metrics that omit their datatype.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SparkplugDecodeError(f"payload must be bytes, got {type(data).__name__}")
    msg = pb.Payload()
    try:
        msg.ParseFromString(bytes(data))
    except DecodeError as e:
        raise SparkplugDecodeError(f"truncated or not a Sparkplug B payload ({e})") from None
    except Exception as e:  # noqa: BLE001 - any parser failure is a bad payload
        raise SparkplugDecodeError(f"not a Sparkplug B payload ({type(e).__name__}: {e})") from None
    if msg.HasField("seq") and msg.seq > 255:
        raise SparkplugDecodeError(f"sequence number {msg.seq} is outside 0..255")
    metrics = [_metric(m, i, known) for i, m in enumerate(msg.metrics)]
    return Payload(
        timestamp=msg.timestamp if msg.HasField("timestamp") else None,
        seq=msg.seq if msg.HasField("seq") else None,
        metrics=metrics,
        uuid=msg.uuid if msg.HasField("uuid") else None,
        body=msg.body if msg.HasField("body") else None,
    )


# -- encoding (edge-node simulator, tests) ---------------------------------------------------------
def _fill_value(m: pb.Payload.Metric, datatype: int, value: Any) -> None:
    if value is None:
        m.is_null = True
    elif datatype in _SIGNED_32:
        m.int_value = int(value) & 0xFFFFFFFF
    elif datatype in _UNSIGNED_32:
        m.int_value = int(value)
    elif datatype == 4:
        m.long_value = int(value) & 0xFFFFFFFFFFFFFFFF
    elif datatype in (8, 13):
        m.long_value = int(value)
    elif datatype == 9:
        m.float_value = float(value)
    elif datatype == 10:
        m.double_value = float(value)
    elif datatype == 11:
        m.boolean_value = bool(value)
    elif datatype in (12, 14, 15):
        m.string_value = str(value)
    elif datatype in (17, 18):
        m.bytes_value = bytes(value)
    elif datatype in _ARRAYS:
        m.bytes_value = struct.pack(f"<{len(value)}{_ARRAYS[datatype]}", *value)
    elif datatype == 32:
        bits = bytearray(math.ceil(len(value) / 8))
        for i, b in enumerate(value):
            if b:
                bits[i // 8] |= 1 << (7 - i % 8)
        m.bytes_value = struct.pack("<I", len(value)) + bytes(bits)
    elif datatype == 33:
        m.bytes_value = b"".join(s.encode() + b"\x00" for s in value)
    else:
        raise ValueError(f"encoding {DATATYPES.get(datatype, datatype)} values is not supported")


def encode_payload(
    metrics: list[dict],
    seq: int | None = None,
    timestamp: int | None = None,
) -> bytes:
    """Build payload bytes; each metric is a dict with name/alias/datatype/value/timestamp/flags.

    `datatype` may be a number or a name ("Double"); `timestamp` defaults to now (ms).
    """
    now = int(time.time() * 1000)
    msg = pb.Payload()
    msg.timestamp = now if timestamp is None else timestamp
    if seq is not None:
        msg.seq = seq
    for spec in metrics:
        m = msg.metrics.add()
        if spec.get("name") is not None:
            m.name = spec["name"]
        if spec.get("alias") is not None:
            m.alias = spec["alias"]
        m.timestamp = spec.get("timestamp") or msg.timestamp
        dt = spec["datatype"]
        dt = DATATYPE_IDS[dt] if isinstance(dt, str) else int(dt)
        m.datatype = dt
        if spec.get("is_historical"):
            m.is_historical = True
        if spec.get("is_transient"):
            m.is_transient = True
        _fill_value(m, dt, spec.get("value"))
        for key, value in (spec.get("properties") or {}).items():
            m.properties.keys.append(key)
            pv = m.properties.values.add()
            if isinstance(value, str):
                pv.type, pv.string_value = 12, value
            else:
                pv.type, pv.double_value = 10, float(value)
    return msg.SerializeToString()
