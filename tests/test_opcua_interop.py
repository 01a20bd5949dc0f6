"""OPC UA against two server stacks: asyncua (the client's own library) and node-opcua (npm).

The same connector runs against both through the parametrised `stack` fixture, and counts
what the server produced (its own log: every value with its source timestamp) against what
reached the store: stored once, duplicated, lost, and inside a recorded gap. What is checked
here comes from issue 26:

- a value that changes every 25 ms is stored every time, not subsampled (sampling 0 asks the
  server for every change; node-opcua advertises a 10 ms MinSupportedSampleRate);
- a server killed with values still queued: those values fall inside the gap, which starts at
  the last value received, and nothing else is lost;
- a restarted device is noticed within seconds however long it was away (`Backoff`);
- a node missing after a restart marks its machine stale, and its value is recorded again
  when it comes back;
- a refused password stops the source with `failed` instead of retrying for ever.

node-opcua needs node and npm (CI has them); without them those tests are skipped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from npm_peers_opcua import NodeOpcUaPeer, Produced, node_opcua_dir
from test_opcua import UaSim, free_port, wait_until

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.connector import HealthState
from factory_commons.collect.forwarder import Forwarder
from factory_commons.collect.mapping import PointMapping
from factory_commons.collect.opcua import OpcUaConnector
from factory_commons.store import DuckDBStore

M = "acme/창원/프레스/line-1/press-1"
FAST_MS = 25


class AsyncuaStack:
    """UaSim (asyncua) with a thread that sets Press1.Temp every 25 ms and logs each value."""

    name = "asyncua"
    ns = 2
    count_node = "Press1.Count"

    def __init__(self) -> None:
        self.sim = UaSim(free_port())
        self.url = self.sim.url
        self.produced: list[Produced] = []
        self._stop_fast = threading.Event()
        self._fast: threading.Thread | None = None

    def start(self, alarm: bool = True) -> None:
        self.sim.with_alarm = alarm
        self.sim.start()
        if alarm:
            self.sim.write("Alarm", True)

    def stop(self, kill: bool = False) -> None:
        self.stop_fast()
        if self.sim.running:
            self.sim.stop()

    def fast(self) -> None:
        self._stop_fast.clear()

        def run() -> None:
            temp = 20.0
            while not self._stop_fast.wait(FAST_MS / 1000):
                temp = round(temp + 0.25, 2) if temp < 90 else 20.0
                ts = datetime.now(UTC).replace(microsecond=datetime.now(UTC).microsecond // 1000 * 1000)
                try:
                    self.sim.write("Temp", temp, source_ts=ts)
                except Exception:  # noqa: BLE001 - the server is going away
                    return
                self.produced.append(Produced("Temp", temp, ts))

        self._fast = threading.Thread(target=run, daemon=True)
        self._fast.start()

    def stop_fast(self) -> None:
        self._stop_fast.set()
        if self._fast is not None:
            self._fast.join(5)

    def values(self, node: str) -> list[Produced]:
        return [p for p in self.produced if p.node == node]


class NodeOpcUaStack:
    """node-opcua (tests/peers/opcua/server.js): Temp changes every 25 ms by itself."""

    name = "node-opcua"
    ns = 1
    count_node = "Press1.PartCount"

    def __init__(self, install, pki) -> None:
        self.peer = NodeOpcUaPeer(install, pki, fast_ms=FAST_MS)
        self.url = self.peer.url

    def start(self, alarm: bool = True, **auth) -> None:
        self.peer.start(alarm=alarm, **auth)

    def stop(self, kill: bool = False) -> None:
        self.peer.stop(kill=kill)

    def fast(self) -> None:
        pass

    def stop_fast(self) -> None:
        pass

    def values(self, node: str) -> list[Produced]:
        return self.peer.values(node)


@pytest.fixture(scope="module")
def node_opcua():
    return node_opcua_dir()


@pytest.fixture(params=["asyncua", "node-opcua"])
def stack(request, tmp_path):
    if request.param == "asyncua":
        s = AsyncuaStack()
    else:
        s = NodeOpcUaStack(request.getfixturevalue("node_opcua"), tmp_path / "pki")
    yield s
    s.stop()


@pytest.fixture
def node_peer(node_opcua, tmp_path):
    s = NodeOpcUaStack(node_opcua, tmp_path / "pki")
    yield s
    s.stop()


def points(stack) -> dict[str, PointMapping]:
    ns = stack.ns
    return {
        f"ns={ns};s=Press1.Temp": PointMapping(machine=M, kind="signal", name="온도", unit="°C"),
        f"ns={ns};s={stack.count_node}": PointMapping(machine=M, kind="count", counter="total"),
        f"ns={ns};s=Press1.Alarm": PointMapping(machine=M, kind="alarm", name="E-STOP"),
    }


@dataclass
class Run:
    """A connector and a forwarder in threads, into a DuckDB store in tmp_path."""

    tmp_path: object
    conn: OpcUaConnector
    buf: Buffer
    stop: threading.Event = field(default_factory=threading.Event)
    fstop: threading.Event = field(default_factory=threading.Event)
    fwd: Forwarder | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Run:
        self.fwd = Forwarder(self.buf, lambda: DuckDBStore(self.tmp_path / "store.duckdb"))
        self.threads = [
            threading.Thread(target=self.conn.run, args=(self.stop,)),
            threading.Thread(target=self.fwd.run, args=(self.fstop,)),
        ]
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> DuckDBStore:
        self.stop.set()
        self.threads[0].join(20)
        wait_until(lambda: self.buf.pending_rows() == 0 and not self.buf.unforwarded_events(), timeout=15)
        self.fstop.set()
        self.threads[1].join(15)
        return DuckDBStore(self.tmp_path / "store.duckdb")


def start_run(stack, tmp_path, **kw) -> Run:
    buf = Buffer(tmp_path / "buffer.sqlite")
    conn = OpcUaConnector("press-opc", buf, stack.url, points(stack), watchdog_s=0.5, timeout_s=2, **kw)
    return Run(tmp_path, conn, buf).start()


def _ms(ts: datetime) -> int:
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    return round(ts.timestamp() * 1000)


def tally(produced: list[Produced], store: DuckDBStore, duplicates: int) -> dict[str, int]:
    """Produced Temp values from the first stored one to the last, against the store and its gaps."""
    rows = [r for r in store.read("signal").to_pylist() if r["name"] == "온도"]
    stored: dict[tuple[int, float], int] = {}
    for r in rows:
        k = (_ms(r["ts"]), round(r["value"], 6))
        stored[k] = stored.get(k, 0) + 1
    gaps = [
        (_ms(g["start_ts"]), _ms(g["end_ts"]))
        for g in store.query(
            "SELECT start_ts, end_ts FROM collect_events WHERE event = 'gap' AND machine = ?", [M]
        ).to_pylist()
    ]
    first, last = min(k[0] for k in stored), max(k[0] for k in stored)
    window = [p for p in produced if first <= _ms(p.ts) <= last]
    keys = {(_ms(p.ts), round(float(p.value), 6)) for p in window}
    missing = [k for k in keys if k not in stored]
    in_gap = [k for k in missing if any(a <= k[0] <= b for a, b in gaps)]
    return {
        "produced": len(window),
        "stored once": sum(1 for k in keys if stored.get(k) == 1),
        "duplicated": duplicates + sum(n - 1 for n in stored.values() if n > 1),
        "lost": len(missing) - len(in_gap),
        "in gaps": len(in_gap),
        "gaps": len(gaps),
        # stored values the server's log does not have (asyncua's initial value is not logged)
        "not produced": sum(1 for k in stored if k not in keys and k[0] >= min(_ms(p.ts) for p in produced)),
    }


def show(stack, counts: dict[str, int], extra: str = "") -> None:
    print(f"\n{stack.name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + extra)


def test_a_value_changing_every_25_ms_is_stored_every_time(stack, tmp_path):
    stack.start()
    run = start_run(stack, tmp_path, interval_ms=500)
    try:
        assert wait_until(lambda: run.conn.health.state == HealthState.CONNECTED, timeout=20)
        stack.fast()
        assert wait_until(lambda: run.conn.health.points >= 120, timeout=20)  # about 3 s of values
        time.sleep(1.0)
        stack.stop_fast()
        time.sleep(1.0)  # the last publish
        reason = run.conn.health.reason
    finally:
        store = run.finish()
    counts = tally(stack.values("Temp"), store, run.fwd.duplicates)
    show(stack, counts, f"; health: {reason}")
    store.close()
    assert counts["produced"] >= 100
    assert counts["lost"] == 0 and counts["in gaps"] == 0, f"subsampled: {counts}"
    assert counts["duplicated"] == 0 and counts["not produced"] == 0, counts
    assert counts["stored once"] == counts["produced"]
    assert "sampling" in reason and "queue" in reason  # what the server granted is reported


def test_a_killed_server_loses_nothing_outside_the_gap_and_is_back_within_seconds(node_peer, tmp_path):
    stack = node_peer
    stack.start()
    run = start_run(stack, tmp_path, interval_ms=2000)  # a long publishing interval: more is queued
    conn = run.conn
    try:
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED, timeout=20)
        assert wait_until(lambda: conn.health.points >= 80, timeout=20)
        # kill it 1.2 s after a publish: about 50 values are still queued on the server
        published = conn.health.last_value_at
        assert wait_until(lambda: conn.health.last_value_at != published, timeout=5)
        time.sleep(max(0.0, conn.health.last_value_at + 1.2 - time.time()))
        stack.stop(kill=True)
        killed, killed_at = time.monotonic(), datetime.now(UTC)
        assert wait_until(lambda: conn.health.state == HealthState.RETRYING, timeout=10)
        time.sleep(max(0.0, killed + 10 - time.monotonic()))  # away for 10 s: the backoff has grown
        stack.start()
        restarted = time.monotonic()
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED, timeout=40)
        recovery = time.monotonic() - restarted
        points = conn.health.points
        assert wait_until(lambda: conn.health.points >= points + 40, timeout=10)
        time.sleep(2.5)
    finally:
        store = run.finish()
    produced = stack.values("Temp")
    counts = tally(produced, store, run.fwd.duplicates)
    # the values the dead server still had queued: after the last one stored before the kill
    stored = sorted(_ms(r["ts"]) for r in store.read("signal").to_pylist() if r["name"] == "온도")
    before = max(t for t in stored if t <= _ms(killed_at))
    (gap,) = store.query(
        "SELECT start_ts, end_ts FROM collect_events WHERE event = 'gap' AND machine = ?", [M]
    ).to_pylist()
    queued = [p for p in produced if before < _ms(p.ts) <= _ms(killed_at)]
    outside = [p for p in queued if _ms(p.ts) < _ms(gap["start_ts"])]
    show(
        stack,
        counts,
        f"; queued at the kill {len(queued)}, of them before the gap {len(outside)}; "
        f"recovered {recovery:.2f} s after the server listened again",
    )
    store.close()
    assert queued and not outside, (
        f"the gap starts at {gap['start_ts']}, after {len(outside)} of the {len(queued)} values "
        "still queued on the killed server: they are lost unrecorded"
    )
    assert counts["lost"] == 0, f"values lost outside the gap: {counts}"
    assert counts["gaps"] == 1 and counts["in gaps"] > 0, counts
    assert counts["duplicated"] == 0 and counts["not produced"] == 0, counts
    assert recovery < 4.0, f"a restarted server was noticed only after {recovery:.1f} s"


def test_a_node_gone_after_a_restart_marks_its_machine_stale(stack, tmp_path):
    stack.start()
    run = start_run(stack, tmp_path, interval_ms=200)
    conn, alarm = run.conn, f"ns={stack.ns};s=Press1.Alarm"
    try:
        assert wait_until(lambda: conn.converters[alarm].last is True, timeout=20)
        stack.stop()
        assert wait_until(lambda: conn.health.state == HealthState.RETRYING, timeout=10)
        stack.start(alarm=False)  # the PLC program no longer has the alarm
        restarted = time.monotonic()
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED, timeout=20)
        recovery = time.monotonic() - restarted
        assert "Press1.Alarm" in conn.health.reason  # named as a bad node
        assert conn.converters[alarm].last is None  # unknown now
        stack.stop()
        assert wait_until(lambda: conn.health.state == HealthState.RETRYING, timeout=10)
        stack.start()  # and back: the active alarm is recorded again
        assert wait_until(lambda: conn.converters[alarm].last is True, timeout=20)
    finally:
        store = run.finish()
    stale = store.query(
        "SELECT machine, start_ts, detail FROM collect_events WHERE event = 'stale'"
    ).to_pylist()
    alarms = [(a["code"], a["active"]) for a in store.read("alarm").to_pylist()]
    store.close()
    print(f"\n{stack.name}: stale events {len(stale)}; alarm rows {alarms}; recovered {recovery:.2f} s")
    assert len(stale) == 1 and stale[0]["machine"] == M, stale
    assert "Press1.Alarm" in stale[0]["detail"] and "E-STOP" in stale[0]["detail"]
    assert alarms == [("E-STOP", True), ("E-STOP", True)]


def test_a_refused_password_fails_instead_of_retrying(node_peer, tmp_path):
    node_peer.start(user="collector", password="s3cret")
    buf = Buffer(":memory:")
    mapping = {"ns=1;s=Press1.Temp": PointMapping(machine=M, kind="signal", name="온도")}
    conn = OpcUaConnector("press-opc", buf, node_peer.url, mapping, username="collector", password="wrong")
    t = threading.Thread(target=conn.run, args=(threading.Event(),), daemon=True)
    t.start()
    t.join(15)
    assert not t.is_alive(), f"still retrying: {conn.health.state} {conn.health.reason}"
    assert conn.health.state == HealthState.FAILED
    assert "authentication failed" in conn.health.reason and "BadUserAccessDenied" in conn.health.reason
    assert conn.health.reconnects == 0  # tried once: a server that locks accounts is not provoked

    ok = OpcUaConnector("press-opc", buf, node_peer.url, mapping, username="collector", password="s3cret")
    stop = threading.Event()
    t = threading.Thread(target=ok.run, args=(stop,))
    t.start()
    try:
        assert wait_until(
            lambda: ok.health.state == HealthState.CONNECTED and ok.health.points > 0, timeout=20
        )
    finally:
        stop.set()
        t.join(15)
