"""OPC UA against a real asyncua server started by the test (in a thread, on a free port).

The connector subscribes, values land in a DuckDB store through the buffer and forwarder with
their source timestamps, a value with a bad status and a node that does not exist are
reported, and after the server is stopped and started again on the same port the connector
notices, resubscribes and values keep arriving; the time in between is recorded as a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from loop_thread import start_loop_thread
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.collect.buffer import Buffer
from factory_commons.collect.config import PlantConfig
from factory_commons.collect.connector import Backoff, HealthState
from factory_commons.collect.forwarder import Forwarder
from factory_commons.collect.mapping import MappingError, PointMapping
from factory_commons.collect.opcua import OpcUaConnector, is_node_id
from factory_commons.store import DuckDBStore

M = "acme/창원/프레스/line-1/press-1"

for _name in ("asyncua", "asyncua.client", "asyncua.server"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


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


class UaSim:
    """An asyncua server in its own thread with a Press1 object and a few variables."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}/fc/"
        self.vars: dict[str, object] = {}
        self.count_start = 1000
        self.with_alarm = True  # False: a restarted PLC whose program no longer has Press1.Alarm
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from asyncua import Server, ua

        async def main(ready: threading.Event) -> None:
            server = Server()
            await server.init()
            server.set_endpoint(self.url)
            server.set_server_name("factory-commons test PLC")
            idx = await server.register_namespace("urn:factory-commons:test")
            press = await server.nodes.objects.add_object(ua.NodeId("Press1", idx), f"{idx}:Press1")
            self.vars = {
                "Temp": await press.add_variable(ua.NodeId("Press1.Temp", idx), f"{idx}:Temp", 20.0),
                "State": await press.add_variable(
                    ua.NodeId("Press1.State", idx), f"{idx}:State", 0, varianttype=ua.VariantType.Int32
                ),
                "Count": await press.add_variable(  # browse name in namespace 0: "Press1/Count" still finds it
                    ua.NodeId("Press1.Count", idx),
                    "Count",
                    self.count_start,
                    varianttype=ua.VariantType.UInt32,
                ),
            }
            if self.with_alarm:
                self.vars["Alarm"] = await press.add_variable(
                    ua.NodeId("Press1.Alarm", idx), f"{idx}:Alarm", False
                )
            self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
            async with server:
                ready.set()
                await self.stopping.wait()

        self._thread = start_loop_thread(main, "the asyncua test server", timeout=30)

    def write(self, name: str, value, source_ts: datetime | None = None, status: str | None = None) -> None:
        from asyncua import ua

        var = self.vars[name]

        async def go() -> None:
            vtype = await var.read_data_type_as_variant_type()
            dv = ua.DataValue(
                ua.Variant(value, vtype),
                StatusCode=ua.StatusCode(getattr(ua.StatusCodes, status)) if status else ua.StatusCode(),
                SourceTimestamp=source_ts or datetime.now(UTC),
                ServerTimestamp=datetime.now(UTC),
            )
            await var.write_value(dv)

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self._thread.join(15)
        assert not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())


@pytest.fixture
def sim():
    s = UaSim(free_port())
    s.start()
    yield s
    if s.running:
        s.stop()


POINTS = {
    "ns=2;s=Press1.Temp": PointMapping(machine=M, kind="signal", name="온도", unit="°C"),
    "ns=2;s=Press1.State": PointMapping(
        machine=M, kind="state", state_codes={0: "idle", 1: "running", 3: "unplanned_down"}
    ),
    "Press1/Count": PointMapping(machine=M, kind="count", counter="total"),  # a browse path
    "2:Press1/2:Alarm": PointMapping(machine=M, kind="alarm", name="E-STOP"),
    "ns=2;s=Press1.DoesNotExist": PointMapping(machine=M, kind="signal", name="없음"),
}


def test_node_id_or_browse_path():
    assert is_node_id("ns=2;s=Press1.State") and is_node_id("i=2258") and is_node_id("nsu=urn:x;s=A")
    assert not is_node_id("Press1/State") and not is_node_id("2:Press1/2:State")
    with pytest.raises(MappingError, match="not a valid node id"):
        OpcUaConnector("x", Buffer(":memory:"), "opc.tcp://h:4840", {"ns=x;s=A": POINTS["Press1/Count"]})
    with pytest.raises(MappingError, match="opc.tcp://"):
        OpcUaConnector("x", Buffer(":memory:"), "http://h:4840", {"i=85": POINTS["Press1/Count"]})


def test_subscribes_survives_a_server_restart_and_records_the_gap(sim, tmp_path):
    buf = Buffer(tmp_path / "buffer.sqlite")
    conn = OpcUaConnector(
        "press-opc", buf, sim.url, dict(POINTS), interval_ms=50, watchdog_s=0.5, timeout_s=2
    )
    conn.backoff = Backoff(initial=0.1, maximum=0.5)
    stop, fstop = threading.Event(), threading.Event()
    fwd = Forwarder(buf, lambda: DuckDBStore(tmp_path / "store.duckdb"))
    threads = [
        threading.Thread(target=conn.run, args=(stop,)),
        threading.Thread(target=fwd.run, args=(fstop,)),
    ]
    for t in threads:
        t.start()
    t_src = datetime(2026, 11, 2, 8, 0, 0, 123000, tzinfo=UTC)
    try:
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED)
        # the missing node is named in the health and in the rejects; the others are collected
        assert "ns=2;s=Press1.DoesNotExist" in conn.health.reason
        assert any("Press1.DoesNotExist" in r["reason"] for r in buf.rejects())
        assert wait_until(lambda: conn.converters["Press1/Count"].last == 1000)  # initial value: baseline

        sim.write("Temp", 25.5, source_ts=t_src)
        sim.write("State", 1)
        sim.write("Count", 1012)
        sim.write("Alarm", True)
        sim.write("Temp", 99.0, status="BadSensorFailure")
        sim.write("State", 7)  # not in the state table
        assert wait_until(
            lambda: conn.converters["2:Press1/2:Alarm"].last is True and conn.health.errors >= 3
        )
        reasons = [r["reason"] for r in buf.rejects(100)]
        assert any("Press1.Temp" in r and "BadSensorFailure" in r for r in reasons)
        assert any("Press1.State" in r and "'7'" in r for r in reasons)

        stopped = time.monotonic()
        sim.stop()
        assert wait_until(lambda: conn.health.state == HealthState.RETRYING, timeout=10)
        noticed = time.monotonic() - stopped
        sim.count_start = 0  # the PLC restarted: its part counter starts again at 0
        sim.start()  # same port, a fresh address space
        restarted = time.monotonic()
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED, timeout=20)
        reconnect_s = time.monotonic() - restarted
        sim.write("State", 3)
        sim.write("Count", 30)
        sim.write("Temp", 30.0)
        assert wait_until(lambda: conn.converters["ns=2;s=Press1.State"].last == "unplanned_down")
        assert wait_until(lambda: conn.converters["Press1/Count"].last == 30)
        print(
            f"\nopcua: server stop noticed after {noticed:.2f} s, resubscribed {reconnect_s:.2f} s after restart"
        )
        assert noticed < 5
    finally:
        stop.set()
        threads[0].join(15)
        assert wait_until(lambda: buf.pending_rows() == 0 and not buf.unforwarded_events(), timeout=10)
        fstop.set()
        threads[1].join(10)

    store = DuckDBStore(tmp_path / "store.duckdb")
    signals = store.read("signal").to_pylist()
    temps = {(r["ts"], r["value"]) for r in signals if r["name"] == "온도"}
    assert (t_src.replace(tzinfo=None), 25.5) in temps  # the source timestamp, to the millisecond
    assert 30.0 in {v for _, v in temps} and 99.0 not in {v for _, v in temps}
    states = [r["state"] for r in store.read("state").to_pylist()]
    assert states[0] == "idle" and "running" in states and states[-1] == "unplanned_down"
    goods = [r["good"] for r in store.read("count").to_pylist()]
    assert goods == [12, 30]  # 12 parts before the restart, 30 after the counter restarted at 0
    assert [(a["code"], a["active"]) for a in store.read("alarm").to_pylist()][0] == ("E-STOP", True)
    gaps = store.query("SELECT machine, start_ts, end_ts FROM collect_events WHERE event = 'gap'").to_pylist()
    assert len(gaps) == 1 and gaps[0]["machine"] == M
    assert timedelta(0) < gaps[0]["end_ts"] - gaps[0]["start_ts"] < timedelta(seconds=60)
    store.close()
    buf.close()


class FreezingProxy:
    """A TCP proxy that can go silent without closing sockets, like a hung PLC or a cut cable."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.socks: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.frozen.is_set() and not self.closed:
                    time.sleep(0.05)  # hold the bytes: nothing arrives, nothing is closed
                dst.sendall(data)
        except OSError:
            pass

    def thaw(self) -> None:
        """Drop the stuck connections (as a rebooted switch would) and forward new ones again."""
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.close()
        self.socks = []
        self.frozen.clear()

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.thaw()


def test_a_server_that_hangs_without_closing_is_noticed_by_the_watchdog(sim):
    proxy = FreezingProxy(sim.port)
    buf = Buffer(":memory:")
    url = f"opc.tcp://127.0.0.1:{proxy.port}/fc/"
    points = {"ns=2;s=Press1.Temp": POINTS["ns=2;s=Press1.Temp"]}
    conn = OpcUaConnector("hung", buf, url, points, interval_ms=50, timeout_s=1)  # default 1 s watchdog
    conn.backoff = Backoff(initial=0.1, maximum=0.5)
    stop = threading.Event()
    t = threading.Thread(target=conn.run, args=(stop,))
    t.start()
    try:
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED and conn.health.points >= 1)
        frozen_at = time.monotonic()
        proxy.frozen.set()
        assert wait_until(lambda: conn.health.state == HealthState.RETRYING, timeout=10)
        noticed = time.monotonic() - frozen_at
        proxy.thaw()
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED, timeout=15)
        before = conn.health.points
        sim.write("Temp", 42.0)
        assert wait_until(lambda: conn.health.points > before)
        print(f"\nopcua: a hung link was noticed after {noticed:.2f} s")
        assert noticed < 6  # 1 s watchdog tick + 1 s probe timeout, with slack for a busy machine
    finally:
        stop.set()
        t.join(15)
        proxy.close()


def test_no_node_at_all_fails_with_the_reason_instead_of_retrying(sim, tmp_path):
    buf = Buffer(":memory:")
    points = {
        "ns=2;s=Nope": PointMapping(machine=M, kind="signal", name="x"),
        "Press1/Missing": PointMapping(machine=M, kind="signal", name="y"),
    }
    conn = OpcUaConnector("bad", buf, sim.url, points, interval_ms=50)
    t = threading.Thread(target=conn.run, args=(threading.Event(),))
    t.start()
    t.join(30)
    assert not t.is_alive()  # run() returned: retrying cannot fix a wrong node id
    assert conn.health.state == HealthState.FAILED
    assert "ns=2;s=Nope" in conn.health.reason and "Press1/Missing" in conn.health.reason
    assert "no child 'Missing' under Objects/Press1" in conn.health.reason


def test_unreachable_server_retries_with_the_reason(tmp_path):
    conn = OpcUaConnector(
        "away", Buffer(":memory:"), f"opc.tcp://127.0.0.1:{free_port()}", {"i=2258": POINTS["Press1/Count"]}
    )
    conn.backoff = Backoff(initial=0.05, maximum=0.1)
    stop = threading.Event()
    t = threading.Thread(target=conn.run, args=(stop,))
    t.start()
    try:
        assert wait_until(lambda: conn.health.reconnects >= 2, timeout=20)
        assert conn.health.state == HealthState.RETRYING and conn.health.reason
    finally:
        stop.set()
        t.join(15)
    assert conn.health.state == HealthState.STOPPED


def test_from_plant_config(tmp_path):
    cfg = PlantConfig.from_dict(
        {
            "opcua": [
                {
                    "name": "press-opc",
                    "endpoint": "opc.tcp://127.0.0.1:4840",
                    "interval_ms": 250,
                    "sampling_ms": 25,
                    "queue_size": 50,
                    "points": {"ns=2;s=Press1.Temp": {"machine": M, "kind": "signal", "name": "온도"}},
                }
            ]
        }
    )
    ((kind, source),) = cfg.sources
    conn = OpcUaConnector.from_source(source, Buffer(":memory:"))
    assert conn.interval_ms == 250 and list(conn.points) == ["ns=2;s=Press1.Temp"]
    assert conn.sampling_ms == 25 and conn.queue_size == 50
    default = OpcUaConnector("d", Buffer(":memory:"), "opc.tcp://h:4840", {"i=2258": POINTS["Press1/Count"]})
    assert default.sampling_ms == 0 and default.queue_size == 100  # every change; room for 500 ms of them


def test_browse_prints_the_address_space_and_a_mapping_snippet(sim):
    runner = CliRunner()
    result = runner.invoke(app, ["browse", sim.url, "--depth", "3"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Press1" in out and "ns=2;s=Press1.Temp" in out and "Double" in out and "20.0" in out
    result = runner.invoke(app, ["browse", sim.url, "--path", "Press1", "--toml"])
    assert result.exit_code == 0, result.output
    assert '[opcua.points."ns=2;s=Press1.Count"]' in result.output
    # the snippet is valid TOML that the plant configuration accepts once machines are filled in
    import tomllib

    snippet = result.output[result.output.index("[[opcua]]") :]
    data = tomllib.loads(snippet.replace("<machine>", M))
    PlantConfig.from_dict(data)


def test_browse_an_unreachable_server_says_so():
    result = CliRunner().invoke(app, ["browse", f"opc.tcp://127.0.0.1:{free_port()}", "--timeout", "2"])
    assert result.exit_code != 0
    assert "연결할 수 없습니다" in result.output and "cannot connect" in result.output


class _FakeStop:
    """A stop event on a fake clock: waiting advances the clock instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.done = False

    def wait(self, seconds: float) -> bool:
        self.now += seconds
        return self.done

    def is_set(self) -> bool:
        return self.done


def test_a_device_back_after_ten_minutes_is_tried_again_within_two_seconds(caplog):
    from factory_commons.collect.connector import Connector

    stop = _FakeStop()
    back_at = 600.0

    class Device(Connector):
        kind = "test"

        def __init__(self) -> None:
            super().__init__("plc", Buffer(":memory:"))
            self.tries: list[float] = []

        def collect_once(self, stop_event) -> None:
            self.tries.append(stop.now)
            if stop.now < back_at:
                raise ConnectionRefusedError("connection refused")
            stop.done = True  # connected: the test ends here

    device = Device()
    device.backoff = Backoff(clock=lambda: stop.now)
    with caplog.at_level(logging.INFO, logger="factory_commons.collect.connector"):
        device.run(stop)
    waits = [b - a for a, b in zip(device.tries, device.tries[1:], strict=False)]
    recovered = device.tries[-1] - back_at
    logged = [r for r in caplog.records if "retrying" in r.getMessage()]
    print(
        f"\nbackoff: {len(device.tries)} tries in 10 min, longest wait {max(waits):.2f} s, "
        f"noticed {recovered:.2f} s after the device came back, {len(logged)} log lines"
    )
    assert 0 <= recovered <= 2.0
    assert max(waits) <= 2.0 and waits[0] <= 0.5  # starts fast, never waits long
    assert len(logged) < 40 < len(device.tries)  # the log follows the exponential schedule


def test_values_the_servers_queue_dropped_are_counted(sim):
    from asyncua import ua

    points = {"ns=2;s=Press1.Temp": POINTS["ns=2;s=Press1.Temp"]}
    conn = OpcUaConnector("q", Buffer(":memory:"), sim.url, points, interval_ms=50, queue_size=5)
    stop = threading.Event()
    t = threading.Thread(target=conn.run, args=(stop,))
    t.start()
    try:
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED and conn.health.points >= 1)
        assert "queue 5" in conn.health.reason
        var = sim.vars["Temp"]
        overflow = ua.DataValue(
            ua.Variant(21.0, ua.VariantType.Double),
            StatusCode=ua.StatusCode(0x0480),  # Good, with the Overflow info bit of a monitored item
            SourceTimestamp=datetime.now(UTC),
        )
        asyncio.run_coroutine_threadsafe(var.write_value(overflow), sim.loop).result(5)
        assert wait_until(lambda: conn.overflows == 1 and conn.health.points >= 2)
        assert "Press1.Temp" in conn.health.last_error and "overflowed" in conn.health.last_error
    finally:
        stop.set()
        t.join(15)


def test_a_node_gone_while_the_collector_was_stopped_marks_its_machine_stale(sim, tmp_path):
    alarm = "2:Press1/2:Alarm"
    points = {alarm: POINTS[alarm], "ns=2;s=Press1.Temp": POINTS["ns=2;s=Press1.Temp"]}

    def run_until(cond) -> OpcUaConnector:
        buf = Buffer(tmp_path / "buffer.sqlite")
        conn = OpcUaConnector("press-opc", buf, sim.url, dict(points), interval_ms=50)
        stop = threading.Event()
        t = threading.Thread(target=conn.run, args=(stop,))
        t.start()
        try:
            assert wait_until(lambda: cond(conn))
        finally:
            stop.set()
            t.join(15)
            buf.close()
        return conn

    sim.write("Alarm", True)
    run_until(lambda c: c.converters[alarm].last is True)
    sim.stop()
    sim.with_alarm = False
    sim.start()
    run_until(lambda c: c.health.state == HealthState.CONNECTED)
    with Buffer(tmp_path / "buffer.sqlite") as buf:
        stale = [e for e in buf.events() if e["event"] == "stale"]
    assert len(stale) == 1 and stale[0]["machine"] == M and "Press1/2:Alarm" in stale[0]["detail"]
