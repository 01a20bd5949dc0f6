"""Modbus TCP: pure decoding (with hypothesis), read planning, and a real pymodbus server.

The integration test starts pymodbus' own TCP server in a thread on a free port of 127.0.0.1,
polls it with `ModbusConnector` into the durable buffer, forwards into a DuckDB store, stops
the server mid-test and starts it again on the same port: collection resumes and the time
without polls is recorded as a gap.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import struct
import threading
import time
import tomllib
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loop_thread import start_loop_thread

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.connector import Backoff, HealthState
from factory_commons.collect.forwarder import Forwarder
from factory_commons.collect.mapping import MappingError, PointMapping
from factory_commons.collect.modbus import (
    DTYPES,
    MAX_REGISTERS,
    ModbusConnector,
    ModbusPoint,
    decode_registers,
    encode_value,
    plan_reads,
)
from factory_commons.store import DuckDBStore

M = "acme/창원/프레스/line-1/press-1"
M2 = "acme/창원/프레스/line-1/press-2"
ORDERS = [("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")]

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def wait_until(cond, timeout: float = 15.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- pure decoding -----------------------------------------------------------------------------
def test_known_encodings_of_every_order():
    # 123.456 as float32 is 0x42F6E979
    assert decode_registers([0x42F6, 0xE979], "float32") == pytest.approx(123.456, rel=1e-6)
    assert decode_registers([0xE979, 0x42F6], "float32", word_order="little") == pytest.approx(
        123.456, rel=1e-6
    )
    assert decode_registers([0xF642, 0x79E9], "float32", byte_order="little") == pytest.approx(
        123.456, rel=1e-6
    )
    assert decode_registers([0x79E9, 0xF642], "float32", "little", "little") == pytest.approx(
        123.456, rel=1e-6
    )
    assert decode_registers([0xFFFF, 0xFFFE], "int32") == -2
    assert decode_registers([0xFFFE, 0xFFFF], "int32", word_order="little") == -2
    assert decode_registers([0x0001, 0x0000], "uint32") == 65536
    assert decode_registers([0x8000], "int16") == -32768
    assert decode_registers([0x8000], "uint16") == 32768
    assert decode_registers([0x3412], "uint16", byte_order="little") == 0x1234
    assert decode_registers([0, 0, 0, 1], "uint64") == 1
    assert decode_registers([1, 0, 0, 0], "uint64", word_order="little") == 1
    assert encode_value(123.456, "float32") == [0x42F6, 0xE979]
    assert encode_value(-2, "int32", word_order="little") == [0xFFFE, 0xFFFF]


def test_decode_rejects_wrong_counts_and_words_clearly():
    with pytest.raises(ValueError, match="needs 2 register"):
        decode_registers([1], "float32")
    with pytest.raises(ValueError, match="16-bit word"):
        decode_registers([70000], "uint16")
    with pytest.raises(ValueError, match="unknown data type"):
        decode_registers([1], "int8")


_VALUES = {
    "int16": st.integers(-(2**15), 2**15 - 1),
    "uint16": st.integers(0, 2**16 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "uint32": st.integers(0, 2**32 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "uint64": st.integers(0, 2**64 - 1),
    "float32": st.floats(width=32, allow_nan=True, allow_infinity=True),
    "float64": st.floats(allow_nan=True, allow_infinity=True),
}


@st.composite
def _typed_value(draw):
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    return dtype, draw(_VALUES[dtype]), draw(st.sampled_from(ORDERS))


@settings(max_examples=400, deadline=None)
@given(_typed_value())
def test_encode_decode_round_trip_for_every_dtype_and_order(case):
    dtype, value, (byte_order, word_order) = case
    words = encode_value(value, dtype, byte_order, word_order)
    assert len(words) == DTYPES[dtype][1] and all(0 <= w <= 0xFFFF for w in words)
    back = decode_registers(words, dtype, byte_order, word_order)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value
    # a different word order of a multi-register value reads the registers reversed
    if len(words) > 1:
        other = "little" if word_order == "big" else "big"
        assert decode_registers(list(reversed(words)), dtype, byte_order, other) == back or math.isnan(back)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-(2**20), 2**20), max_size=6),
    st.sampled_from([*sorted(DTYPES), "int8", "bool"]),
    st.sampled_from(ORDERS),
)
def test_random_registers_decode_or_raise_value_error_never_crash(words, dtype, orders):
    try:
        value = decode_registers(words, dtype, *orders)
    except ValueError:
        return
    assert isinstance(value, int | float)


# -- planning -----------------------------------------------------------------------------------
def _p(address, table="holding", dtype="uint16", **kw):
    mapping = kw.pop("mapping", PointMapping(machine=M, kind="signal", name=f"r{table}{address}"))
    return ModbusPoint(table=table, address=address, dtype=dtype, mapping=mapping, **kw)


def test_plan_reads_groups_near_points_and_respects_limits():
    pts = [
        _p(0),
        _p(1, dtype="float32"),
        _p(5),
        _p(40),
        _p(3, table="input"),
        _p(7, table="coil", dtype="bool"),
    ]
    reads = plan_reads(pts, unit=1, max_gap=8)
    summary = sorted((r.table, r.address, r.count, len(r.points)) for r in reads)
    assert summary == [("coil", 7, 1, 1), ("holding", 0, 6, 3), ("holding", 40, 1, 1), ("input", 3, 1, 1)]
    many = [_p(a) for a in range(0, 300, 2)]
    reads = plan_reads(many, unit=1)
    assert all(r.count <= MAX_REGISTERS for r in reads)
    assert sorted(p.key for r in reads for p in r.points) == sorted(p.key for p in many)
    assert len(reads) == 3  # 300 registers need at least three requests of 125
    # points of another unit are never merged
    reads = plan_reads([_p(0), _p(1, unit_id=2)], unit=1)
    assert sorted((r.unit, r.address) for r in reads) == [(1, 0), (2, 1)]


def test_point_configuration_errors_are_clear():
    with pytest.raises(ValueError, match="one bit"):
        _p(0, table="coil", dtype="float32")
    with pytest.raises(ValueError, match="needs 'bit'"):
        _p(0, dtype="bool")
    with pytest.raises(ValueError, match="runs past 65535"):
        _p(65535, dtype="float32")
    with pytest.raises(MappingError, match="the same point twice"):
        ModbusConnector("m", Buffer(":memory:"), "127.0.0.1", [_p(1), _p(1)])


# -- fuzz: bad register values through the connector's conversion, no server ----------------------
_MAPPINGS = [
    PointMapping(machine=M, kind="signal", name="온도", scale=0.1),
    PointMapping(machine=M, kind="state", state_codes={0: "idle", 1: "running", 2: "unplanned_down"}),
    PointMapping(machine=M, kind="count", counter="total"),
    PointMapping(machine=M, kind="count", counter="increment", count_field="scrap"),
    PointMapping(machine=M, kind="alarm", name="E01"),
    PointMapping(machine=M, kind="quality", name="두께", lsl=1.0, usl=2.0),
]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(range(len(_MAPPINGS))),
    st.sampled_from(["int16", "uint16", "int32", "uint32", "float32", "float64"]),
    st.sampled_from(ORDERS),
    st.lists(st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4), min_size=1, max_size=6),
)
def test_fuzz_bad_register_values_are_rejected_with_address_never_crash(mi, dtype, orders, polls):
    buf = Buffer(":memory:")
    point = _p(100, dtype=dtype, byte_order=orders[0], word_order=orders[1], mapping=_MAPPINGS[mi])
    conn = ModbusConnector("fuzz", buf, "127.0.0.1", [point])
    ts = datetime(2026, 11, 2, 8, tzinfo=UTC)
    made = 0
    for words in polls:
        row = conn._convert(point, 1, words[: point.size], ts)
        if row is not None:
            made += 1
            kind, data = row
            assert kind == point.mapping.kind and data["machine"] == M
            for v in data.values():
                assert not (isinstance(v, float) and not math.isfinite(v))
        conn.emit([row] if row else [])
    rejects = list(buf.rejects(1000))
    assert all("holding register 100 (unit 1)" in r["reason"] for r in rejects)
    assert conn.health.errors >= len(rejects)  # repeated identical bad values are counted, recorded once
    assert buf.pending_rows() == made


def test_nan_and_unknown_state_code_are_rejected_with_reason():
    buf = Buffer(":memory:")
    temp = _p(0, dtype="float32", mapping=PointMapping(machine=M, kind="signal", name="온도"))
    state = _p(2, mapping=_MAPPINGS[1])
    conn = ModbusConnector("m", buf, "127.0.0.1", [temp, state])
    ts = datetime.now(UTC)
    assert conn._convert(temp, 1, encode_value(float("nan"), "float32"), ts) is None
    assert conn._convert(state, 1, [7], ts) is None
    assert conn._convert(state, 1, [7], ts) is None  # the same bad code again: counted, not recorded twice
    reasons = [r["reason"] for r in buf.rejects()]
    assert len(reasons) == 2 and conn.health.errors == 3
    assert any("holding register 0 (unit 1)" in r and "finite" in r for r in reasons)
    assert any("holding register 2 (unit 1)" in r and "'7'" in r for r in reasons)


def test_counter_total_in_uint16_keeps_counting_across_rollover_and_sees_resets():
    buf = Buffer(":memory:")
    p = _p(10, mapping=PointMapping(machine=M, kind="count", counter="total"))
    conn = ModbusConnector("m", buf, "127.0.0.1", [p])
    ts = datetime.now(UTC)
    goods = []
    for raw in (65530, 65535, 4, 20, 3):  # roll over after 65535, then a reset to 3
        row = conn._convert(p, 1, [raw], ts)
        goods.append(row[1]["good"] if row else 0)
    assert goods == [0, 5, 5, 16, 3]


# -- a real pymodbus server ------------------------------------------------------------------------
class ModbusSim:
    """pymodbus' TCP server in a thread; registers and bits come from dicts the test changes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.hr: dict[int, int] = {}
        self.ir: dict[int, int] = {}
        self.coils: dict[int, bool] = {}
        self.reads = 0
        self._thread: threading.Thread | None = None

    async def _action(self, fc, start, address, count, current, set_values):
        self.reads += 1
        if fc in (3, 4):
            for a, v in (self.hr if fc == 3 else self.ir).items():
                if 0 <= a - start < len(current):
                    current[a - start] = v
        elif fc == 1:
            for a, on in self.coils.items():
                reg, bit = divmod(a - start, 16)
                if 0 <= reg < len(current):
                    current[reg] = (current[reg] | (1 << bit)) if on else (current[reg] & ~(1 << bit))
        return None

    def start(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def main(ready: threading.Event) -> None:
            bits = [SimData(0, count=64, values=False, datatype=DataType.BITS)]
            regs = [SimData(0, count=200, values=0, datatype=DataType.REGISTERS)]
            device = SimDevice(id=1, simdata=(bits, list(bits), regs, list(regs)), action=self._action)
            server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            self.loop, self.server = asyncio.get_running_loop(), server
            await server.serve_forever(background=True)
            ready.set()
            await server.serving

        self._thread = start_loop_thread(main, "the pymodbus test server", timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(5)
        self._thread.join(5)
        assert not self._thread.is_alive()


@pytest.fixture
def sim():
    s = ModbusSim(free_port())
    s.start()
    yield s
    if s._thread and s._thread.is_alive():
        s.stop()


def _put_float(regs: dict[int, int], address: int, value: float, byte_order="big", word_order="big") -> None:
    for i, w in enumerate(encode_value(value, "float32", byte_order, word_order)):
        regs[address + i] = w


def test_a_link_lost_mid_poll_keeps_what_was_read_before_it(sim):
    """The counter is read, then the link fails before the coil's read in the same poll: the
    counter's converter has moved past the new total, so its parts are handed on, not dropped."""
    points = [
        _p(4, dtype="uint32", mapping=PointMapping(machine=M, kind="count", counter="total")),
        # unit 2 of the gateway, read after unit 1 (reads go by unit, then table)
        _p(
            5, table="coil", dtype="bool", unit_id=2, mapping=PointMapping(machine=M2, kind="alarm", name="E")
        ),
    ]
    buf = Buffer(":memory:")
    conn = ModbusConnector("plc", buf, "127.0.0.1", points, port=sim.port, timeout_s=1.0)
    client = conn._client()
    assert client.connect()
    try:
        sim.hr[4], sim.hr[5] = 0, 100
        conn.poll(client)  # the baseline total
        sim.hr[5] = 103
        real_read = conn._read

        done: list[str] = []

        def read_then_fail(c, read):
            if done:  # the poll's second read (its order is the connector's own)
                raise ConnectionError("connection reset by peer")
            done.append(read.table)
            return real_read(c, read)

        conn._read = read_then_fail
        with pytest.raises(ConnectionError):
            conn.poll(client)
    finally:
        client.close()
    counts = [r for p in buf.take() if p.kind == "count" for r in p.rows]
    assert done == ["holding"] and [r["good"] for r in counts] == [3]


def test_polls_a_real_server_into_the_store_and_resumes_after_a_restart(sim, tmp_path):
    points = [
        _p(0, dtype="float32", mapping=PointMapping(machine=M, kind="signal", name="온도", unit="°C")),
        _p(
            2,
            mapping=PointMapping(machine=M, kind="state", state_codes={0: "idle", 1: "running", 3: "setup"}),
        ),
        _p(
            4,
            dtype="uint32",
            word_order="little",
            mapping=PointMapping(machine=M, kind="count", counter="total"),
        ),
        _p(10, dtype="int16", mapping=PointMapping(machine=M, kind="signal", name="압력", scale=0.1)),
        _p(500, mapping=PointMapping(machine=M, kind="signal", name="없는 주소")),  # outside the device
        _p(
            3,
            table="input",
            dtype="float32",
            byte_order="little",
            mapping=PointMapping(machine=M2, kind="signal", name="전력"),
        ),
        _p(5, table="coil", dtype="bool", mapping=PointMapping(machine=M, kind="alarm", name="E-STOP")),
    ]
    sim.hr[10] = struct.unpack(">H", struct.pack(">h", -125))[0]
    _put_float(sim.hr, 0, 21.5)
    sim.hr[2] = 1
    sim.hr[4], sim.hr[5] = 100, 0  # total 100, low word first
    _put_float(sim.ir, 3, 7.25, byte_order="little")

    buf = Buffer(tmp_path / "buffer.sqlite")
    conn = ModbusConnector(
        "press-plc", buf, "127.0.0.1", points, port=sim.port, interval_s=0.05, timeout_s=1.0
    )
    conn.backoff = Backoff(initial=0.05, maximum=0.3)
    assert len(conn.reads) == 4  # holding 0..10 in one read, 500 alone, input, coil
    stop, fstop = threading.Event(), threading.Event()
    fwd = Forwarder(buf, lambda: DuckDBStore(tmp_path / "store.duckdb"))
    threads = [
        threading.Thread(target=conn.run, args=(stop,)),
        threading.Thread(target=fwd.run, args=(fstop,)),
    ]
    for t in threads:
        t.start()
    try:
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED and conn.polls >= 3)
        sim.hr[4] = 130  # 30 parts
        sim.coils[5] = True
        sim.hr[2] = 3
        keys = conn.converters
        assert wait_until(
            lambda: (
                keys["holding:2"].last == "setup"
                and keys["coil:5"].last is True
                and keys["holding:4"].last == 130
            )
        )

        stopped_at = time.monotonic()
        sim.stop()
        assert wait_until(lambda: conn.health.state == HealthState.RETRYING, timeout=10)
        noticed = time.monotonic() - stopped_at
        time.sleep(0.3)  # a while without polls
        polls_before = conn.polls
        sim.hr[4] = 135  # 5 more parts made while the collector could not see them
        sim.hr[2] = 1
        sim.start()
        restarted = time.monotonic()
        assert wait_until(
            lambda: conn.health.state == HealthState.CONNECTED and conn.polls > polls_before + 2
        )
        reconnect_s = time.monotonic() - restarted
        print(f"\nmodbus: lost noticed after {noticed:.2f} s, reconnected {reconnect_s:.2f} s after restart")
        assert conn.health.reconnects >= 1
    finally:
        stop.set()
        for t in threads[:1]:
            t.join(10)
        assert wait_until(lambda: buf.pending_rows() == 0 and not buf.unforwarded_events(), timeout=10)
        fstop.set()
        threads[1].join(10)

    store = DuckDBStore(tmp_path / "store.duckdb")
    temps = store.read("signal", machines=[M]).to_pylist()
    by_name: dict[str, list[float]] = {}
    for r in temps:
        by_name.setdefault(r["name"], []).append(r["value"])
    assert set(by_name["온도"]) == {21.5}
    assert by_name["압력"] and all(v == pytest.approx(-12.5) for v in by_name["압력"])
    assert "없는 주소" not in by_name
    assert {r["value"] for r in store.read("signal", machines=[M2]).to_pylist()} == {7.25}
    states = [r["state"] for r in store.read("state").to_pylist()]
    assert states == ["running", "setup", "running"]
    assert sum(r["good"] for r in store.read("count").to_pylist()) == 35
    alarms = store.read("alarm").to_pylist()
    assert [(a["code"], a["active"]) for a in alarms] == [("E-STOP", True)]
    gaps = store.query(
        "SELECT machine, start_ts, end_ts, detail FROM collect_events WHERE event = 'gap'"
    ).to_pylist()
    assert {g["machine"] for g in gaps} == {M, M2}
    for g in gaps:
        assert g["end_ts"] > g["start_ts"] and "not recoverable" in g["detail"]
    # the refused address was recorded once with the address and the Modbus exception, not every poll
    refused = [r for r in buf.rejects(1000) if "500" in r["reason"]]
    assert len(refused) == 1 and "Modbus exception 2" in refused[0]["reason"]
    assert conn.health.errors >= conn.polls  # but counted on every poll
    store.close()
    buf.close()


def test_the_worked_configs_in_docs_build_connectors(monkeypatch):
    import re
    from pathlib import Path

    from factory_commons.collect.config import PlantConfig
    from factory_commons.collect.opcua import OpcUaConnector

    doc = (Path(__file__).resolve().parents[1] / "docs" / "connect.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", doc, re.S) if "[[modbus]]" in b or "[[opcua]]" in b]
    assert len(blocks) >= 2
    for name in re.findall(r'password_env = "(\w+)"', doc):  # a worked config names its own
        monkeypatch.setenv(name, "example-password")
    built = {}
    for block in blocks:
        for kind, source in PlantConfig.from_dict(tomllib.loads(block), "docs/connect.md").sources:
            cls = ModbusConnector if kind == "modbus" else OpcUaConnector
            connector = cls.from_source(source, Buffer(":memory:"))
            built.setdefault(kind, connector)  # the first worked example of each kind is checked below
    modbus = built["modbus"]
    assert {p.key for p in modbus.modbus_points} == {
        "holding:0",
        "holding:2",
        "holding:4",
        "holding:6.3",
        "input:10",
        "coil:5",
        "input:0@3",
    }
    assert len(modbus.reads) == 4  # holding 0..6 in one request, input, coil, and unit 3's input
    assert modbus.unit_retry_s == 5.0 and sorted(modbus.unit_health) == [1, 3]
    assert len(built["opcua"].points) == 4


def test_gap_tracker_records_link_losses_and_time_the_collector_was_not_running(tmp_path):
    from datetime import timedelta

    from factory_commons.collect.gaps import GapTracker

    t0 = datetime.now(UTC) - timedelta(minutes=10)
    buf = Buffer(tmp_path / "b.sqlite")
    gaps = GapTracker(buf, "plc")
    gaps.seen(M, t0)
    gaps.seen(M2, t0)
    gaps.alive(t0 + timedelta(seconds=30))  # the link worked until then: both machines known
    gaps.lost("ConnectionError: reset")
    assert set(gaps.open_gaps) == {M, M2}
    gaps.seen(M, t0 + timedelta(minutes=2))
    events = buf.events()
    assert len(events) == 1 and events[0]["machine"] == M and events[0]["event"] == "gap"
    assert events[0]["end_ts"] - events[0]["start_ts"] == 90_000_000  # 30 s known, 120 s first value (µs)
    assert "reset" in events[0]["detail"]
    gaps.persist()
    buf.close()

    buf = Buffer(tmp_path / "b.sqlite")  # the collector restarts
    again = GapTracker(buf, "plc")
    assert set(again.open_gaps) == {M, M2}
    assert again.open_gaps[M2] == t0 + timedelta(seconds=30)  # still open from the link loss
    assert again.open_gaps[M] > t0 + timedelta(minutes=2)  # known until its gap closed (arrival time)
    again.seen(M, t0 + timedelta(minutes=1))  # an old value re-sent after reconnecting: ends now
    gap = buf.events(1)[0]
    assert "not running" in gap["detail"] and gap["end_ts"] > gap["start_ts"]
    assert datetime.now(UTC) - datetime.fromtimestamp(gap["end_ts"] / 1e6, UTC) < timedelta(seconds=30)
