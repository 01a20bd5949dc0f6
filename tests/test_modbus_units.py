"""Modbus units (slave ids) behind one gateway fail on their own (issue 26).

A scripted client stands in for pymodbus' TCP client: it answers some units, leaves others
silent (pymodbus raises `ModbusIOException` "No response received" with the socket still
open) or answers for them with a gateway exception. Each test here failed on the code before
per-unit health: one silent unit stopped the whole device, a wrong `unit` was reported
without its id, and a device that never answered left no gap.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest
from pymodbus.exceptions import ModbusIOException

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.connector import Backoff, HealthState
from factory_commons.collect.mapping import PointMapping
from factory_commons.collect.modbus import ModbusConnector, ModbusPoint

M1 = "acme/창원/프레스/line-1/press-1"
M3 = "acme/창원/프레스/line-1/press-3"


@dataclass
class _Answer:
    registers: list[int]
    bits: list[bool] = field(default_factory=list)
    exception_code: int | None = None

    def isError(self) -> bool:  # noqa: N802 - pymodbus' name
        return self.exception_code is not None


class ScriptedClient:
    """Answers units in `answers` with their registers; `silent` units time out; `gateway_fails`
    units get Modbus exception 11 (gateway target failed to respond)."""

    def __init__(self, answers: dict[int, int], silent=(), gateway_fails=(), connects: bool = True) -> None:
        self.answers, self.silent, self.gateway_fails = answers, set(silent), set(gateway_fails)
        self.connects, self.connected = connects, False
        self.asked: list[int] = []

    def connect(self) -> bool:
        self.connected = self.connects
        return self.connected

    def close(self) -> None:
        self.connected = False

    def read_holding_registers(self, address: int, count: int, device_id: int) -> _Answer:
        self.asked.append(device_id)
        if device_id in self.silent:
            raise ModbusIOException("No response received after 0 retries, continue with next request")
        if device_id in self.gateway_fails:
            return _Answer([], exception_code=11)
        return _Answer([self.answers[device_id]] * count)

    read_input_registers = read_holding_registers

    def read_coils(self, address: int, count: int, device_id: int) -> _Answer:
        raise AssertionError("these tests read holding registers only")

    read_discrete_inputs = read_coils


def _point(address: int, machine: str, unit_id: int | None = None) -> ModbusPoint:
    mapping = PointMapping(machine=machine, kind="signal", name=f"r{address}")
    return ModbusPoint(address=address, unit_id=unit_id, mapping=mapping)


def _connector(buf: Buffer) -> ModbusConnector:
    points = [_point(0, M1), _point(0, M3, unit_id=3)]
    return ModbusConnector("gw", buf, "127.0.0.1", points, unit=1, timeout_s=0.2)


def test_a_silent_unit_is_its_own_problem_and_the_other_units_are_collected():
    buf = Buffer(":memory:")
    conn = _connector(buf)
    conn.unit_retry_s = 60.0
    client = ScriptedClient({1: 42}, silent={3})
    client.connect()
    assert conn.poll(client) == 1  # unit 1's value, although unit 3 never answers
    assert conn.health.points == 1 and buf.pending_rows() == 1
    assert conn.unit_health[1].state == "answering"
    assert conn.unit_health[3].state == "silent" and conn.unit_health[3].timeouts == 1
    rejects = [r["reason"] for r in buf.rejects()]
    assert len(rejects) == 1 and "unit 3" in rejects[0] and "unit id 3" in rejects[0]
    assert "유닛" in rejects[0]  # the reason is bilingual, like the others
    assert set(conn.gaps.open_gaps) == {M3}  # unit 3's machine has a gap; unit 1's has none
    asked = len(client.asked)
    for _ in range(3):  # a silent unit waits unit_retry_s; the others keep their interval
        conn.poll(client)
    assert client.asked[asked:] == [1, 1, 1]
    assert "silent unit(s) 3" in conn.units_summary()


def test_a_silent_unit_that_answers_again_closes_its_gap():
    buf = Buffer(":memory:")
    conn = _connector(buf)
    conn.unit_retry_s = 0.05
    client = ScriptedClient({1: 1, 3: 7}, silent={3})
    client.connect()
    conn.poll(client)
    time.sleep(0.1)
    client.silent.clear()
    assert conn.poll(client) == 2  # both units again
    assert conn.unit_health[3].state == "answering"
    gaps = [e for e in buf.events() if e["event"] == "gap"]
    assert [g["machine"] for g in gaps] == [M3] and "unit 3" in gaps[0]["detail"]
    assert not conn.gaps.open_gaps


def test_a_gateway_that_says_its_target_failed_isolates_that_unit():
    buf = Buffer(":memory:")
    conn = _connector(buf)
    conn.unit_retry_s = 60.0
    client = ScriptedClient({1: 5}, gateway_fails={3})
    client.connect()
    assert conn.poll(client) == 1
    assert conn.unit_health[3].state == "silent"
    assert "exception 11" in conn.unit_health[3].reason and "unit id 3" in conn.unit_health[3].reason


def test_a_wrong_unit_is_named_with_a_hint_to_check_it():
    buf = Buffer(":memory:")
    conn = ModbusConnector("plc", buf, "127.0.0.1", [_point(0, M1)], unit=7, timeout_s=0.2)
    client = ScriptedClient({}, silent={7})
    client.connect()
    with pytest.raises(ConnectionError) as e:
        conn.poll(client)
    msg = str(e.value)
    assert "unit 7" in msg and "check that unit id 7" in msg and "슬레이브 ID" in msg


def _run(conn: ModbusConnector, until, timeout: float = 10.0) -> None:
    stop = threading.Event()
    t = threading.Thread(target=conn.run, args=(stop,))
    t.start()
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not until():
            time.sleep(0.02)
        assert until()
    finally:
        stop.set()
        t.join(5)


def test_a_wrong_unit_retries_with_the_reason_and_records_the_outage():
    buf = Buffer(":memory:")
    conn = ModbusConnector("plc", buf, "127.0.0.1", [_point(0, M1)], unit=7, timeout_s=0.2)
    conn.backoff = Backoff(initial=0.02, maximum=0.05)
    conn._client = lambda: ScriptedClient({}, silent={7})
    _run(conn, lambda: conn.health.reconnects >= 2)
    assert "check that unit id 7" in conn.health.last_error
    assert set(conn.gaps.open_gaps) == {M1}  # watched from the start: the outage is a gap


def test_a_device_that_never_connected_records_its_outage_as_a_gap():
    buf = Buffer(":memory:")
    conn = ModbusConnector("plc", buf, "127.0.0.1", [_point(0, M1)], interval_s=0.02)
    conn.backoff = Backoff(initial=0.02, maximum=0.05)
    tries = []

    def client() -> ScriptedClient:
        tries.append(1)
        return ScriptedClient({1: 3}, connects=len(tries) > 5)

    conn._client = client
    started = time.time()
    _run(conn, lambda: conn.health.state == HealthState.CONNECTED and conn.polls >= 2)
    gaps = [e for e in buf.events() if e["event"] == "gap"]
    assert len(gaps) == 1 and gaps[0]["machine"] == M1
    assert abs(gaps[0]["start_ts"] / 1e6 - started) < 1.0  # from the first try on
    assert "cannot connect" in gaps[0]["detail"]


def test_the_state_after_a_gap_is_recorded_again_even_if_unchanged():
    # the machine may have stopped and restarted while the link was down: the state seen when the
    # link is back is a new observation, not a repeat (the interop test lost such changes unrecorded)
    buf = Buffer(":memory:")
    state = PointMapping(machine=M1, kind="state", state_codes={1: "running", 2: "idle"})
    conn = ModbusConnector("plc", buf, "127.0.0.1", [ModbusPoint(address=0, mapping=state)])
    client = ScriptedClient({1: 2})
    client.connect()
    assert conn.poll(client) == 1  # idle
    assert conn.poll(client) == 0  # still idle: polled states are recorded when they change
    conn.gaps.lost("ConnectionError: reset")
    assert conn.poll(client) == 1  # idle again after the gap: recorded, and the gap closed
    assert conn.poll(client) == 0
    assert [e["machine"] for e in buf.events() if e["event"] == "gap"] == [M1]


# -- the health file ------------------------------------------------------------------------------
def _wait(cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        time.sleep(0.02)
    return bool(cond())


@pytest.fixture(params=["scripted", "modbus-serial"])
def silent_unit_gateway(request, tmp_path):
    """(host, port, client factory or None): a gateway where unit 1 answers and unit 3 is silent,
    from the scripted client or from modbus-serial's TCP server (a real socket timeout; skipped
    without node and npm unless FC_REQUIRE_NPM=1)."""
    if request.param == "scripted":
        yield 502, lambda: ScriptedClient({1: 42}, silent={3})
        return
    from npm_peers_modbus import NpmModbusPeer, PeerSettings, free_port, install_npm_peer

    settings = PeerSettings(port=free_port(), log=tmp_path / "peer.jsonl", units=(1,), silent=(3,))
    peer = NpmModbusPeer(settings, install_npm_peer())
    peer.start()
    try:
        yield settings.port, None
    finally:
        peer.stop()


def test_the_health_file_holds_each_units_health_with_a_silent_unit(silent_unit_gateway, tmp_path):
    from factory_commons.collect.config import PlantConfig
    from factory_commons.collect.runner import Collector, read_health
    from factory_commons.store import DuckDBStore

    port, client = silent_unit_gateway
    cfg = PlantConfig.from_dict(
        {"collector": {"store": str(tmp_path / "s.duckdb")}, "mqtt": [{"name": "unused", "topics": ["x/#"]}]},
        "test",
    )

    def gateway(buffer: Buffer) -> ModbusConnector:
        points = [_point(0, M1), _point(0, M3, unit_id=3)]
        conn = ModbusConnector("gw", buffer, "127.0.0.1", points, port=port, interval_s=0.05, timeout_s=0.3)
        conn.unit_retry_s = 60.0
        if client is not None:
            conn._client = client
        return conn

    def units() -> dict:
        sources = (read_health(cfg.health_file) or {}).get("sources", [])
        return next((s["details"].get("units", {}) for s in sources if s["source"] == "gw"), {})

    started = time.time()
    collector = Collector(cfg, open_store=lambda: DuckDBStore(tmp_path / "s.duckdb"), connectors=[gateway])
    (conn,) = collector.connectors
    assert conn.health.details["units"]["3"]["state"] == "unknown"  # before the first poll
    with collector:
        assert _wait(lambda: units().get("3", {}).get("state") == "silent")
        running = read_health(cfg.health_file)
    gw, store = running["sources"]
    assert gw["source"] == "gw" and gw["state"] == "connected" and "silent unit(s) 3" in gw["reason"]
    assert set(gw["details"]["units"]) == {"1", "3"}
    one, three = gw["details"]["units"]["1"], gw["details"]["units"]["3"]
    assert one["state"] == "answering" and one["reason"] == "" and one["since"] >= started
    assert three["state"] == "silent" and three["since"] >= started and three["timeouts"] >= 1
    assert "unit 3" in three["reason"] and "unit id 3" in three["reason"] and "유닛" in three["reason"]
    assert store["kind"] == "forwarder" and store["details"] == {}  # no details of its own
    final = read_health(cfg.health_file)  # written again on stop: the units stay in it
    assert final["sources"][0]["state"] == "stopped"
    assert final["sources"][0]["details"]["units"]["3"]["state"] == "silent"
