"""Modbus TCP: poll registers and coils of a PLC or meter and turn them into records.

A `ModbusConnector` polls one device (host, port, unit id) every `interval_s` with pymodbus'
client. Points (`ModbusPoint`) name the table (holding, input, coil, discrete), the address,
the data type and the byte and word order; what the value means (machine, kind, scaling,
state codes, counters) is the point's `PointMapping`. Points of one table and unit are read
in as few requests as possible (`plan_reads`); a block the device refuses is read point by
point, so one bad address costs only its own point.

A Modbus exception (illegal address, device busy) or an illegal value (a NaN float, a state
code that is not in the table) is rejected with the address and the reason; a lost
connection turns the health to `retrying`, and the connector reconnects with backoff and
records the time without polls as a `gap` event (values of a polled device cannot be
recovered afterwards).

The decoding functions (`decode_registers`, `encode_value`) are pure and tested separately.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .connector import Connector, HealthState
from .gaps import GapTracker
from .mapping import MappingError, PointMapping, ValueRejected

if TYPE_CHECKING:
    from .buffer import Buffer

Table = Literal["holding", "input", "coil", "discrete"]
DType = Literal["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64", "bool"]
Order = Literal["big", "little"]

#: struct format and number of 16-bit registers per data type
DTYPES: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "float32": ("f", 2),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
    "float64": ("d", 4),
}
TABLE_LABELS = {
    "holding": "holding register",
    "input": "input register",
    "coil": "coil",
    "discrete": "discrete input",
}
#: the most a device must answer in one request (Modbus application protocol 6.1-6.4)
MAX_REGISTERS = 125
MAX_BITS = 2000
EXCEPTION_NAMES = {
    1: "illegal function / 지원하지 않는 기능",
    2: "illegal data address / 잘못된 주소",
    3: "illegal data value / 잘못된 값",
    4: "device failure / 장치 오류",
    5: "acknowledge",
    6: "device busy / 장치 사용 중",
    10: "gateway path unavailable / 게이트웨이 경로 없음",
    11: "gateway target failed to respond / 게이트웨이 대상 무응답",
}


# -- pure decoding ----------------------------------------------------------------------------
def register_count(dtype: str) -> int:
    """How many 16-bit registers a value of `dtype` occupies."""
    if dtype == "bool":
        return 1
    try:
        return DTYPES[dtype][1]
    except KeyError:
        raise ValueError(f"unknown data type {dtype!r} (known: {', '.join(DTYPES)}, bool)") from None


def _to_bytes(words: list[int], byte_order: Order, word_order: Order) -> bytes:
    ordered = list(reversed(words)) if word_order == "little" else list(words)
    return b"".join(w.to_bytes(2, "big" if byte_order == "big" else "little") for w in ordered)


def decode_registers(
    words: list[int] | tuple[int, ...], dtype: str, byte_order: Order = "big", word_order: Order = "big"
) -> int | float:
    """Registers as read from the device -> a number.

    `byte_order` is the order of the two bytes inside each register ("big": high byte first,
    the Modbus standard); `word_order` the order of the registers of a 32/64-bit value ("big":
    most significant register first). Raises ValueError for a wrong count or a register that
    is not 0..65535. A float may come back as NaN or infinity; the mapping rejects those.
    """
    fmt, n = DTYPES.get(dtype, (None, 0))
    if fmt is None:
        raise ValueError(f"unknown data type {dtype!r} (known: {', '.join(DTYPES)})")
    if byte_order not in ("big", "little") or word_order not in ("big", "little"):
        raise ValueError(f"byte and word order must be 'big' or 'little', got {byte_order!r}/{word_order!r}")
    words = list(words)
    if len(words) != n:
        raise ValueError(f"{dtype} needs {n} register(s), got {len(words)}")
    for w in words:
        if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 0xFFFF:
            raise ValueError(f"register value {w!r} is not a 16-bit word (0..65535)")
    return struct.unpack(">" + fmt, _to_bytes(words, byte_order, word_order))[0]


def encode_value(
    value: int | float, dtype: str, byte_order: Order = "big", word_order: Order = "big"
) -> list[int]:
    """A number -> the registers a device with this byte and word order would hold (inverse of decode)."""
    fmt, n = DTYPES.get(dtype, (None, 0))
    if fmt is None:
        raise ValueError(f"unknown data type {dtype!r} (known: {', '.join(DTYPES)})")
    raw = struct.pack(">" + fmt, value)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    if byte_order == "little":
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    if word_order == "little":
        words.reverse()
    return words


# -- configuration ------------------------------------------------------------------------------
class ModbusPoint(BaseModel):
    """One value on the device and what it means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: Table = Field(default="holding", description="holding | input | coil | discrete")
    address: int = Field(ge=0, le=65535, description="0-based protocol address (40001 is address 0)")
    dtype: DType = Field(
        default="uint16", description="register data type; coils and discrete inputs are bool"
    )
    byte_order: Order = "big"
    word_order: Order = "big"
    bit: int | None = Field(
        default=None, ge=0, le=15, description="one bit (0 = least significant) of a register"
    )
    unit_id: int | None = Field(default=None, ge=0, le=255, description="unit id, if not the device's")
    mapping: PointMapping

    @model_validator(mode="after")
    def _consistent(self) -> ModbusPoint:
        bits = self.table in ("coil", "discrete")
        if bits and self.dtype not in ("bool", "uint16"):
            raise ValueError(
                f"a {TABLE_LABELS[self.table]} is one bit; dtype must be 'bool', not {self.dtype!r}"
            )
        if not bits and self.dtype == "bool" and self.bit is None:
            raise ValueError("dtype 'bool' on a register needs 'bit' (which bit, 0-15)")
        if self.bit is not None and (bits or register_count(self.dtype) != 1):
            raise ValueError("'bit' picks a bit of one 16-bit register (int16/uint16/bool)")
        if self.address + self.size - 1 > 65535:
            raise ValueError(f"address {self.address} + {self.size} registers runs past 65535")
        return self

    @property
    def size(self) -> int:
        return 1 if self.table in ("coil", "discrete") else register_count(self.dtype)

    @property
    def key(self) -> str:
        unit = f"@{self.unit_id}" if self.unit_id is not None else ""
        bit = f".{self.bit}" if self.bit is not None else ""
        return f"{self.table}:{self.address}{bit}{unit}"

    def where(self, unit: int) -> str:
        return f"{TABLE_LABELS[self.table]} {self.address} (unit {unit})"

    def value(self, words: list[int] | list[bool]) -> int | float | bool:
        """This point's value from its slice of a read."""
        if self.table in ("coil", "discrete"):
            return bool(words[0])
        if self.bit is not None:
            return bool((int(words[0]) >> self.bit) & 1)
        return decode_registers([int(w) for w in words], self.dtype, self.byte_order, self.word_order)


@dataclass(frozen=True)
class Read:
    """One request: `count` registers or bits of `table` from `address` on `unit`, and the points in it."""

    unit: int
    table: Table
    address: int
    count: int
    points: tuple[ModbusPoint, ...]


def plan_reads(points: list[ModbusPoint], unit: int, max_gap: int = 8) -> list[Read]:
    """Group points into as few requests as possible.

    Points of one unit and table are merged into one read when the addresses between them
    (at most `max_gap` unused registers) and the total stay within one request's limit.
    """
    groups: dict[tuple[int, str], list[ModbusPoint]] = {}
    for p in points:
        groups.setdefault((p.unit_id if p.unit_id is not None else unit, p.table), []).append(p)
    reads: list[Read] = []
    for (u, table), pts in sorted(groups.items()):
        limit = MAX_BITS if table in ("coil", "discrete") else MAX_REGISTERS
        pts = sorted(pts, key=lambda p: (p.address, p.size))
        start, end, members = pts[0].address, pts[0].address + pts[0].size, [pts[0]]
        for p in pts[1:]:
            new_end = max(end, p.address + p.size)
            if p.address - end <= max_gap and new_end - start <= limit:
                end, members = new_end, [*members, p]
            else:
                reads.append(Read(u, table, start, end - start, tuple(members)))
                start, end, members = p.address, p.address + p.size, [p]
        reads.append(Read(u, table, start, end - start, tuple(members)))
    return reads


class ModbusRefused(Exception):
    """The device answered a request with a Modbus exception (the link itself is fine)."""

    def __init__(self, code: int | None, what: str) -> None:
        name = EXCEPTION_NAMES.get(code or 0, "unknown")
        super().__init__(f"{what}: Modbus exception {code} ({name})")
        self.code = code


# -- the connector -------------------------------------------------------------------------------
class ModbusConnector(Connector):
    """Polls one Modbus TCP device; see the module docstring."""

    kind = "modbus"

    def __init__(
        self,
        name: str,
        buffer: Buffer,
        host: str,
        points: list[ModbusPoint],
        port: int = 502,
        unit: int = 1,
        interval_s: float = 1.0,
        timeout_s: float = 2.0,
        max_gap: int = 8,
    ) -> None:
        if not points:
            raise MappingError(f"modbus {name}: no points configured / 설정된 포인트 없음")
        keys = [p.key for p in points]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise MappingError(f"modbus {name}: the same point twice: {', '.join(dup)}")
        if not interval_s > 0:
            raise MappingError(f"modbus {name}: interval_s must be > 0")
        super().__init__(name, buffer, {p.key: p.mapping for p in points})
        _quiet_library_logs("pymodbus")
        self.host, self.port, self.unit = host, port, unit
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.modbus_points = list(points)
        self.reads = plan_reads(self.modbus_points, unit, max_gap)
        self.gaps = GapTracker(buffer, name)
        self.polls = 0
        self._refused: dict[str, str] = {}  # point key -> reason last recorded (rejects only on change)
        self._bad_value: dict[str, Any] = {}  # point key -> raw value last rejected

    @classmethod
    def from_source(cls, source: Any, buffer: Buffer) -> ModbusConnector:
        """Build from a validated `[[modbus]]` table of the plant configuration (flat points)."""
        points = []
        for i, p in enumerate(source.points):
            mapping = PointMapping(**{f: getattr(p, f) for f in PointMapping.model_fields})
            # `unit` of a config point is the measurement unit; a per-point unit id would be `unit_id`
            extra = {f: getattr(p, f) for f in ("bit", "unit_id") if getattr(p, f, None) is not None}
            try:
                points.append(
                    ModbusPoint(
                        table=p.table,
                        address=p.address,
                        dtype=p.dtype,
                        byte_order=p.byte_order,
                        word_order=p.word_order,
                        mapping=mapping,
                        **extra,
                    )
                )
            except ValidationError as e:
                why = "; ".join(err["msg"] for err in e.errors())
                raise MappingError(
                    f'[[modbus]] "{source.name}" points #{i + 1} (address {p.address}): {why}'
                ) from None
        return cls(
            source.name,
            buffer,
            source.host,
            points,
            port=source.port,
            unit=source.unit,
            interval_s=source.interval_s,
            timeout_s=source.timeout_s,
        )

    # -- reading --------------------------------------------------------------------------------
    def _request(self, client: Any, read: Read, address: int, count: int) -> list:
        fn = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[read.table]
        rr = fn(address, count=count, device_id=read.unit)
        if rr.isError():
            what = f"{TABLE_LABELS[read.table]} {address}..{address + count - 1} (unit {read.unit})"
            raise ModbusRefused(getattr(rr, "exception_code", None), what)
        data = rr.bits if read.table in ("coil", "discrete") else rr.registers
        if len(data) < count:
            raise ConnectionError(f"short answer: {len(data)} of {count} values")
        return list(data)[:count]

    def _read(self, client: Any, read: Read) -> dict[str, tuple[Any, str | None]]:
        """Raw values of the points of one read: key -> (words, None) or (None, why refused)."""
        try:
            data = self._request(client, read, read.address, read.count)
            return {
                p.key: (data[p.address - read.address : p.address - read.address + p.size], None)
                for p in read.points
            }
        except ModbusRefused as e:
            if len(read.points) == 1:
                return {read.points[0].key: (None, str(e))}
        # the device refused the merged block: read point by point so one bad address costs one point
        out: dict[str, tuple[Any, str | None]] = {}
        for p in read.points:
            try:
                out[p.key] = (self._request(client, read, p.address, p.size), None)
            except ModbusRefused as e:
                out[p.key] = (None, str(e))
        return out

    def poll(self, client: Any) -> int:
        """Read every point once and emit what changed; returns the rows emitted."""
        ts = datetime.now(UTC)
        rows: list[tuple[str, dict]] = []
        for read in self.reads:
            results = self._read(client, read)
            for p in read.points:
                words, refused = results[p.key]
                unit = read.unit
                if refused is not None:
                    self._refuse(p, unit, refused)
                    continue
                self._refused.pop(p.key, None)
                row = self._convert(p, unit, words, ts)
                self.gaps.seen(p.mapping.machine, ts)
                if row is not None:
                    rows.append(row)
        self.emit(rows)
        self.polls += 1
        return len(rows)

    def _refuse(self, p: ModbusPoint, unit: int, reason: str) -> None:
        self.count_error(reason)
        if self._refused.get(p.key) != reason:  # record when it starts (or changes), not every poll
            self._refused[p.key] = reason
            self.buffer.reject(self.name, p.mapping.kind, {"key": p.key, "address": p.where(unit)}, reason)

    def _convert(self, p: ModbusPoint, unit: int, words: list, ts: datetime) -> tuple[str, dict] | None:
        try:
            raw = p.value(words)
        except ValueError as e:  # not a 16-bit word: a broken answer, never a crash
            raw, why = None, f"{p.where(unit)}: {e}"
        else:
            why = None
            raw = self._unwrap(p, raw)
        conv = self.converters[p.key]
        if why is None:
            try:
                row = conv.convert(raw, ts)
            except ValueRejected as e:
                why = f"{p.where(unit)}: {e}"
            else:
                self._bad_value.pop(p.key, None)
                return row
        self.count_error(why)
        same = p.key in self._bad_value and _same(self._bad_value[p.key], raw)
        if not same:  # a value stuck at NaN or an unknown code is recorded once, not every poll
            self._bad_value[p.key] = raw
            self.buffer.reject(
                self.name, p.mapping.kind, {"key": p.key, "address": p.where(unit), "raw": repr(raw)}, why
            )
        return None

    def _unwrap(self, p: ModbusPoint, raw: Any) -> Any:
        """A running total in an unsigned register that rolls over keeps counting up (not a reset)."""
        m = p.mapping
        if m.kind != "count" or m.counter != "total" or p.dtype not in ("uint16", "uint32", "uint64"):
            return raw
        last = self.converters[p.key].last
        if last is None or not isinstance(raw, int):
            return raw
        span = 1 << (16 * register_count(p.dtype))
        forward = (raw - int(last)) % span
        if forward < span // 2:
            return int(last) + forward
        return raw  # a big step back: the counter was reset

    # -- life cycle -------------------------------------------------------------------------------
    def _client(self) -> Any:
        from pymodbus.client import ModbusTcpClient

        return ModbusTcpClient(
            self.host, port=self.port, timeout=self.timeout_s, retries=0, reconnect_delay=0
        )

    def collect_once(self, stop: threading.Event) -> None:
        client = self._client()
        try:
            if not client.connect():
                raise ConnectionError(f"cannot connect to {self.host}:{self.port} / 연결할 수 없음")
            first = True
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.poll(client)
                except ConnectionError:
                    raise
                except Exception as e:  # pymodbus raises ModbusException subclasses for I/O failures
                    raise ConnectionError(f"{type(e).__name__}: {e}") from e
                if first:
                    self.set_health(HealthState.CONNECTED, f"{self.host}:{self.port}")
                    self.backoff.reset()
                    first = False
                stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))
        except BaseException as e:
            if not stop.is_set():
                self.gaps.lost(f"{type(e).__name__}: {e}")
            raise
        finally:
            client.close()
            self.gaps.persist()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _quiet_library_logs(name: str) -> None:
    """pymodbus logs every link failure with a traceback; the connector reports them in its health
    instead, so unless the application configured that logger, only critical messages get through."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)
