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

Units (slave ids) behind one gateway fail on their own: a unit that does not answer in
`timeout_s` (or that the gateway reports as not answering, exception 10/11) is that unit's
problem, not the link's. It is marked silent in `unit_health` (also in the health file, as
`details["units"]`: unit id -> state, reason, since, timeouts), its points are rejected once
with a reason that names the unit id, its machines get a gap, and it is asked again every
`unit_retry_s` while the other units are polled at their interval. Only when no unit
answers is the link treated as failed, with a message that names the unit ids to check.
Machines are watched from the connector's start, so a device that never answered records
its outage as a gap too.

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
from .files_read import collect_text_english_first
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
    1: collect_text_english_first("modbus_illegal_function"),
    2: collect_text_english_first("modbus_illegal_address"),
    3: collect_text_english_first("modbus_illegal_value"),
    4: collect_text_english_first("modbus_device_failure"),
    5: "acknowledge",
    6: collect_text_english_first("modbus_device_busy"),
    10: collect_text_english_first("modbus_gateway_path"),
    11: collect_text_english_first("modbus_gateway_target"),
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


#: Modbus exceptions a gateway answers when the unit behind it does not (a silent unit, not a bad point)
GATEWAY_SILENT = (10, 11)


class UnitSilent(Exception):
    """A unit (slave id) did not answer, while the TCP link to the device or gateway works."""

    def __init__(self, unit: int, why: str) -> None:
        super().__init__(collect_text_english_first("modbus_unit_silent", unit=unit, why=why))
        self.unit = unit


@dataclass
class UnitHealth:
    """How one unit (slave id) of a Modbus device or gateway answers."""

    unit: int
    state: Literal["unknown", "answering", "silent"] = "unknown"
    reason: str = ""
    since: float = 0.0  # wall-clock time of the last change of state
    timeouts: int = 0  # requests this unit left unanswered
    next_try: float = 0.0  # monotonic time a silent unit is asked again

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "state": self.state,
            "reason": self.reason,
            "since": self.since,
            "timeouts": self.timeouts,
        }


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
        unit_retry_s: float = 5.0,
    ) -> None:
        if not points:
            raise MappingError(f"modbus {name}: {collect_text_english_first('modbus_no_points')}")
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
        self.unit_retry_s = unit_retry_s
        self.unit_health = {u: UnitHealth(u) for u in sorted({r.unit for r in self.reads})}
        self._publish_units()
        self._machines_of: dict[int, set[str]] = {u: set() for u in self.unit_health}
        for r in self.reads:
            self._machines_of[r.unit].update(p.mapping.machine for p in r.points)
        self.gaps = GapTracker(buffer, name)
        # from the start on, time without values is a gap, even if the device never answers
        self.gaps.watch(set().union(*self._machines_of.values()))
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
            unit_retry_s=source.unit_retry_s,
        )

    # -- reading --------------------------------------------------------------------------------
    def _request(self, client: Any, read: Read, address: int, count: int) -> list:
        fn = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }[read.table]
        try:
            rr = fn(address, count=count, device_id=read.unit)
        except Exception as e:
            if _is_timeout(e, client):  # no answer while the link works: this unit's problem
                raise UnitSilent(read.unit, f"no answer within {self.timeout_s:g} s") from e
            raise
        if rr.isError():
            code = getattr(rr, "exception_code", None)
            if code in GATEWAY_SILENT:
                raise UnitSilent(read.unit, f"Modbus exception {code} ({EXCEPTION_NAMES[code]})")
            what = f"{TABLE_LABELS[read.table]} {address}..{address + count - 1} (unit {read.unit})"
            raise ModbusRefused(code, what)
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
        """Read every point once and emit what changed; returns the rows emitted.

        A unit that does not answer is marked silent and skipped until `unit_retry_s` has
        passed; the other units are read as usual. Raises `ConnectionError` only when no
        unit answered at all (naming the units), so that the link is tried anew.
        """
        ts = datetime.now(UTC)
        now = time.monotonic()
        rows: list[tuple[str, dict]] = []
        silent: dict[int, str] = {}  # unit -> why, found silent in this poll
        in_gap = set(self.gaps.open_gaps)  # machines whose values were not known until now
        answered: set[int] = set()
        # while another unit answers, a silent one waits its turn; when none answers, ask them all
        others_answer = any(h.state == "answering" for h in self.unit_health.values())
        try:
            for read in self.reads:
                uh = self.unit_health[read.unit]
                if read.unit in silent or (others_answer and uh.state == "silent" and now < uh.next_try):
                    continue
                try:
                    results = self._read(client, read)
                except UnitSilent as e:
                    silent[read.unit] = str(e)
                    continue
                answered.add(read.unit)
                for p in read.points:
                    words, refused = results[p.key]
                    unit = read.unit
                    if refused is not None:
                        self._refuse(p, unit, refused)
                        continue
                    self._refused.pop(p.key, None)
                    if p.mapping.kind == "state" and p.mapping.machine in in_gap:
                        # after a gap the state is recorded again, even if it is the one before the gap:
                        # the machine may have changed state and back meanwhile
                        self.converters[p.key].last = None
                    row = self._convert(p, unit, words, ts)
                    self.gaps.seen(p.mapping.machine, ts)
                    if row is not None:
                        rows.append(row)
        finally:
            # what was read before a link failure mid-poll is kept: a counter's converter has
            # already moved past those values, so dropping the rows would lose their parts
            self.emit(rows)
        for u in answered:
            self._unit_answers(u)
        for u, why in silent.items():
            self._unit_silent(u, why, now)
        self.polls += 1
        self._publish_units()
        if silent and not any(uh.state == "answering" for uh in self.unit_health.values()):
            raise ConnectionError(
                f"no unit answered at {self.host}:{self.port}: " + "; ".join(silent.values())
            )
        return len(rows)

    def _unit_answers(self, unit: int) -> None:
        uh = self.unit_health[unit]
        if uh.state != "answering":
            uh.state, uh.reason, uh.since = "answering", "", time.time()

    def _unit_silent(self, unit: int, why: str, now: float) -> None:
        """Record a silent unit: its points rejected (once), its machines in a gap, asked again later."""
        uh = self.unit_health[unit]
        uh.timeouts += 1
        uh.next_try = now + self.unit_retry_s
        if uh.state != "silent":
            uh.state, uh.reason, uh.since = "silent", why, time.time()
        for read in self.reads:
            if read.unit == unit:
                for p in read.points:
                    self._refuse(p, unit, why)
        others = set().union(
            *(m for u, m in self._machines_of.items() if self.unit_health[u].state == "answering")
        )
        self.gaps.lost_some(self._machines_of[unit] - others, why)

    def _publish_units(self) -> None:
        """Every unit's health into `health.details["units"]` (unit id -> state, reason, since,
        timeouts), so that the health file the runner writes shows which units answer."""
        units = {
            str(u): {k: v for k, v in h.to_dict().items() if k != "unit"} for u, h in self.unit_health.items()
        }
        with self._lock:
            self.health.details = {**self.health.details, "units": units}

    def units_summary(self) -> str:
        """The silent units in a few words for the health line; '' when every unit answers."""
        quiet = [u for u, h in self.unit_health.items() if h.state == "silent"]
        if not quiet:
            return ""
        ids = ", ".join(str(u) for u in quiet)
        return collect_text_english_first("modbus_silent_units", ids=ids)

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
                raise ConnectionError(
                    collect_text_english_first("modbus_cannot_connect", host=self.host, port=self.port)
                )
            first = True
            while not stop.is_set():
                started = time.monotonic()
                try:
                    self.poll(client)
                except ConnectionError:
                    raise
                except Exception as e:  # pymodbus raises ModbusException subclasses for I/O failures
                    raise ConnectionError(f"{type(e).__name__}: {e}") from e
                where = f"{self.host}:{self.port}"
                quiet = self.units_summary()
                self.set_health(HealthState.CONNECTED, f"{where}; {quiet}" if quiet else where)
                if first:
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


def _is_timeout(e: Exception, client: Any) -> bool:
    """pymodbus' "No response received" (ModbusIOException) with the socket still open."""
    from pymodbus.exceptions import ConnectionException, ModbusIOException

    return (
        isinstance(e, ModbusIOException)
        and not isinstance(e, ConnectionException)
        and bool(getattr(client, "connected", False))
    )


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
