"""Sparkplug B fault tests: an independent edge node, our own Mosquitto, the collector as a process.

The edge node (`SpecEdgeNode` below) is written from the Sparkplug B specification and does not
import factory_commons: payloads are encoded by hand from the field numbers of the specification's
`sparkplug_b.proto` (Eclipse Tahu; Sparkplug 3.0.0, 6.4: Payload.timestamp = 1, metrics = 2,
seq = 3; Metric.name = 1, alias = 2, timestamp = 3, datatype = 4, long_value = 11,
double_value = 13, boolean_value = 14; DataType Int64 = 4, UInt64 = 8, Double = 10,
Boolean = 11); paho-mqtt is its only library. As the specification asks: an NDEATH will with
the session's bdSeq, bdSeq + 1 per MQTT session, NBIRTH (seq 0) and DBIRTHs (aliases) on every
connect and on a `Node Control/Rebirth` NCMD, DDATA by alias at QoS 0 with seq + 1 (mod 256).
(The PyPI package mqtt-spb-wrapper is not used: it cannot be installed without a network.)

Every DDATA carries `n`, its number. Faults: (a) `kill -9` of `factory-commons collect`
mid-stream and a restart, (b) the broker stopped and started mid-stream, (c) both (the broker
restarted while the collector is down). Counted: sent (handed to the broker's connection),
accepted (received by the broker, from its debug log: a QoS 0 message written to the connection
of a broker that is stopping is sent but never read), failed (the edge was not connected: lost
on the publisher's side), stored once, duplicated, lost, gap events with
start and end, and lost messages that no gap covers. Required: nothing duplicated, nothing lost
of what the broker accepted, and every message lost on the publisher's side inside a recorded
gap; the counts are printed (pytest -s).

The broker runs with `queue_qos0_messages true`, `max_queued_messages 0` and
`upgrade_outgoing_qos true` (docs/connect.md): what it accepted while the collector was down is
kept for the collector's session, and the QoS 0 data reaches the collector's QoS 1 subscription
at QoS 1, acknowledged only once committed, so what a killed collector held is sent again.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from test_collect_faults import MOSQUITTO, Broker
from test_mqtt import wait_until

from factory_commons.store.duckdb import DuckDBStore

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")

INT64, UINT64, DOUBLE, BOOLEAN = 4, 8, 10, 11


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def metric(
    name: str | None = None, alias: int | None = None, ts: int = 0, datatype: int = DOUBLE, value=None
) -> bytes:
    out = b""
    if name is not None:
        out += _len(1, name.encode())
    if alias is not None:
        out += _key(2, 0) + _varint(alias)
    out += _key(3, 0) + _varint(ts) + _key(4, 0) + _varint(datatype)
    if datatype == DOUBLE:
        out += _key(13, 1) + struct.pack("<d", float(value))
    elif datatype == BOOLEAN:
        out += _key(14, 0) + _varint(1 if value else 0)
    else:  # Int64 / UInt64 in long_value
        out += _key(11, 0) + _varint(int(value) & 0xFFFFFFFFFFFFFFFF)
    return out


def payload(ts: int, metrics: list[bytes], seq: int | None) -> bytes:
    out = _key(1, 0) + _varint(ts)
    for m in metrics:
        out += _len(2, m)
    if seq is not None:
        out += _key(3, 0) + _varint(seq)
    return out


def now_ms() -> int:
    return int(time.time() * 1000)


class SpecEdgeNode:
    """Edge node `node` in `group` with `devices`, each a DDATA of `n` and `metrics` more Doubles."""

    def __init__(self, port: int, group: str, node: str, devices: list[str], metrics: int = 4) -> None:
        self.port, self.group, self.node, self.devices, self.metrics = port, group, node, devices, metrics
        self.bd_seq = -1
        self.seq = 0
        self.lock = threading.Lock()
        self.born = False
        self.sent: list[tuple[int, int]] = []  # (n, data ms) handed to the broker's connection
        self.sent_after: list[int] = []  # for each of `sent`: how many NBIRTHs were published before it
        self.failed: list[tuple[int, int]] = []  # (n, data ms) that could not be
        self.births = 0
        self.client_id = f"spec-edge-{group}-{node}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def _topic(self, mtype: str, device: str | None = None) -> str:
        return f"spBv1.0/{self.group}/{mtype}/{self.node}" + (f"/{device}" if device else "")

    def _next_seq(self) -> int:
        s = self.seq
        self.seq = (self.seq + 1) % 256
        return s

    def _alias(self, device: str, i: int) -> int:
        return 10 + self.devices.index(device) * 100 + i

    def _connect_will(self) -> None:
        self.bd_seq = (self.bd_seq + 1) % 256
        will = payload(now_ms(), [metric("bdSeq", None, now_ms(), UINT64, self.bd_seq)], None)
        self.client.will_set(self._topic("NDEATH"), will, qos=1)

    def _on_connect(self, client, userdata, flags, rc, props) -> None:
        client.subscribe(self._topic("NCMD"), qos=1)
        self._births()

    def _on_disconnect(self, client, userdata, flags, rc, props) -> None:
        with self.lock:
            self.born = False
        self._connect_will()  # the next session gets the next bdSeq (its will is sent on reconnect)

    def _on_message(self, client, userdata, message) -> None:
        if b"Node Control/Rebirth" in message.payload:
            self._births()

    def _births(self) -> None:
        with self.lock:
            # never before the data already sent: a birth's time closes the gap of what was lost
            ts = max(now_ms(), getattr(self, "_last_ts", 0) + 1)
            self.seq = 0
            node_metrics = [
                metric("bdSeq", None, ts, UINT64, self.bd_seq),
                metric("Node Control/Rebirth", None, ts, BOOLEAN, False),
            ]
            self.client.publish(self._topic("NBIRTH"), payload(ts, node_metrics, self._next_seq()), qos=0)
            for d in self.devices:
                ms = [metric("n", self._alias(d, 0), ts, INT64, 0)]
                ms += [
                    metric(f"m{i}", self._alias(d, i), ts, DOUBLE, 0.0) for i in range(1, self.metrics + 1)
                ]
                self.client.publish(self._topic("DBIRTH", d), payload(ts, ms, self._next_seq()), qos=0)
            # data after a birth is at least a millisecond later: the store keeps one sample per
            # (machine, name, ms), so a DDATA in the birth's millisecond would replace its value
            self._last_ts = ts
            self.born = True
            self.births += 1

    def start(self, total: int, per_s: float) -> None:
        self._connect_will()
        self.client.connect("127.0.0.1", self.port, keepalive=5)
        self.client.loop_start()
        deadline = time.monotonic() + 10
        while not self.born:
            if time.monotonic() > deadline:
                raise TimeoutError("the edge node did not connect")
            time.sleep(0.01)
        self.thread = threading.Thread(target=self._run, args=(total, per_s), daemon=True)
        self.thread.start()

    def _run(self, total: int, per_s: float) -> None:
        start = time.monotonic()
        for n in range(1, total + 1):
            d = self.devices[n % len(self.devices)]
            with self.lock:
                # one value per signal and millisecond: the store keeps one sample per (machine, name, ts)
                ts = self._last_ts = max(now_ms(), getattr(self, "_last_ts", 0) + 1)
                if not self.born:
                    self.failed.append((n, ts))
                else:
                    ms = [metric(None, self._alias(d, 0), ts, INT64, n)]
                    ms += [
                        metric(None, self._alias(d, i), ts, DOUBLE, n + i / 10)
                        for i in range(1, self.metrics + 1)
                    ]
                    info = self.client.publish(
                        self._topic("DDATA", d), payload(ts, ms, self._next_seq()), qos=0
                    )
                    if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                        self.sent.append((n, ts))
                        self.sent_after.append(self.births)
                    else:
                        self.failed.append((n, ts))
            if self._stop.is_set():
                return
            delay = start + n / per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(30)
        self.client.disconnect()
        self.client.loop_stop()


# -- the harness ------------------------------------------------------------------------------------
M1, M2 = "spb/s/a/l/press-1", "spb/s/a/l/press-2"


class Qos0Broker(Broker):
    """Our own Mosquitto, set up for Sparkplug as docs/connect.md says: QoS 0 kept for offline
    sessions and delivered at the subscription's QoS (`upgrade=False`: kept, not upgraded)."""

    def __init__(self, directory: Path, upgrade: bool = True) -> None:
        super().__init__(directory)
        with self.conf.open("a") as f:
            # debug: every PUBLISH the broker received is in its log (what it accepted, `accepted`)
            f.write("queue_qos0_messages true\nmax_queued_bytes 0\nlog_type debug\nlog_type warning\n")
            if upgrade:
                f.write("upgrade_outgoing_qos true\n")


def accepted(broker: Qos0Broker, edge: SpecEdgeNode) -> set[int]:
    """The data messages the broker received (its debug log, over its restarts), by their `n`.

    A QoS 0 publisher cannot tell: a message written to the connection of a broker that is
    stopping counts as sent but was never read. The log lists the edge node's PUBLISH packets
    in the order sent; after its k-th NBIRTH the first m DDATA received are the first m sent
    after that birth (one connection, TCP keeps the order)."""
    received: dict[int, int] = {}  # births before -> DDATA received
    births = 0
    who = f"Received PUBLISH from {edge.client_id} "
    for line in (broker.dir / "mosquitto.log").read_text(encoding="utf-8", errors="replace").splitlines():
        if who not in line:
            continue
        if "/NBIRTH/" in line:
            births += 1
        elif "/DDATA/" in line:
            received[births] = received.get(births, 0) + 1
    out: set[int] = set()
    taken: dict[int, int] = {}
    for (n, _), after in zip(edge.sent, edge.sent_after, strict=True):
        if taken.get(after, 0) < received.get(after, 0):
            taken[after] = taken.get(after, 0) + 1
            out.add(n)
    return out


def _plant(tmp: Path, port: int, group: str) -> tuple[Path, Path, Path]:
    store, health = tmp / "store.duckdb", tmp / "health.json"
    config = tmp / "plant.toml"
    config.write_text(
        f'[collector]\nstore = "{store}"\nhealth_file = "{health}"\n\n'
        f'[[sparkplug]]\nname = "edge"\nport = {port}\ngroup = "{group}"\nhost_id = "fc-{group}"\n'
        f'client_id = "fc-{group}"\nreorder_window_s = 1.0\n'
        f'points."edge1/d1/n" = {{ machine = "{M1}", name = "n" }}\n'
        f'points."edge1/d2/n" = {{ machine = "{M2}", name = "n" }}\n'
        f'points."edge1/d1/m1" = {{ machine = "{M1}", name = "m1" }}\n',
        encoding="utf-8",
    )
    return config, store, health


def _collector(config: Path, log) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "factory_commons.collect", "--config", str(config), "--quiet"]
    return subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def _health(path: Path) -> dict:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _connected(health: Path) -> bool:
    return any(
        s["kind"] == "sparkplug" and s["state"] == "connected" for s in _health(health).get("sources", [])
    )


def _points(health: Path) -> int:
    return sum(s["points"] for s in _health(health).get("sources", []) if s["kind"] == "sparkplug")


def _settled(health: Path) -> bool:
    """Connected (after a fault), everything forwarded, and nothing new for 1.5 s."""
    h = _health(health)
    spb = [s for s in h.get("sources", []) if s["kind"] == "sparkplug"]
    return (
        bool(spb)
        and spb[0]["state"] == "connected"
        and h["pending_rows"] == 0
        and (spb[0]["last_value_age_s"] or 0) > 1.5
    )


def _count(store_path: Path, edge: SpecEdgeNode, by_broker: set[int]) -> dict:
    with DuckDBStore(store_path) as store:
        rows = store.read("signal", end=datetime(2100, 1, 1, tzinfo=UTC)).to_pylist()
        ns = [int(r["value"]) for r in rows if r["name"] == "n" and r["value"]]  # 0: a birth's value
        gaps = store.query("SELECT start_ts, end_ts FROM collect_events WHERE event = 'gap'").to_pylist()
    stored = set(ns)
    tried = edge.sent + edge.failed
    lost = [(n, ms) for n, ms in tried if n not in stored]

    def covered(ms: int) -> bool:
        t = datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)
        return any(g["start_ts"] is not None and g["start_ts"] <= t <= g["end_ts"] for g in gaps)

    sent = {n for n, _ in edge.sent}
    outside = [(n, ms) for n, ms in lost if not covered(ms)]
    if outside:
        print(
            "\nlost outside gaps:",
            outside[:20],
            "\ngaps:",
            gaps,
            "\nfailed:",
            edge.failed[:3],
            edge.failed[-3:],
        )
    return {
        "sent": len(edge.sent),
        "failed_at_publisher": len(edge.failed),
        "stored_once": len(stored & {n for n, _ in tried}),
        "duplicated": len(ns) - len(stored),
        "lost": len(lost),
        "sent_not_accepted": len(sent - by_broker),  # written to a stopping broker's connection
        "lost_accepted": sum(1 for n, _ in lost if n in by_broker),
        "gap_events": len(gaps),
        "gaps_without_start": sum(1 for g in gaps if g["start_ts"] is None),
        "lost_outside_gaps": sum(1 for _, ms in lost if not covered(ms)),
    }


def _run(tmp_path: Path, fault: str) -> dict:
    broker = Qos0Broker(tmp_path)
    broker.start()
    group = f"f{uuid.uuid4().hex[:8]}"
    config, store, health = _plant(tmp_path, broker.port, group)
    log = open(tmp_path / "collector.log", "w")  # noqa: SIM115 - closed below
    edge = SpecEdgeNode(broker.port, group, "edge1", ["d1", "d2"])
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_collector(config, log))
        wait_until(lambda: _connected(health), 30, "collector connected")
        edge.start(total=1000, per_s=300)
        wait_until(lambda: _points(health) >= 200, 30, "the first collector storing")
        if fault in ("kill", "both"):
            procs[-1].send_signal(signal.SIGKILL)
            procs[-1].wait(10)
            health.unlink()
        if fault in ("broker", "both"):
            broker.stop()
            time.sleep(1.5)
            broker.start()
        if fault in ("kill", "both"):
            time.sleep(0.5 if fault == "both" else 1.5)
            procs.append(_collector(config, log))
        edge.thread.join(30)
        wait_until(lambda: _points(health) > 0 and _settled(health), 60, "the collector idle, buffer empty")
        procs[-1].send_signal(signal.SIGTERM)
        assert procs[-1].wait(30) == 0
    finally:
        edge.stop()
        for p in procs:
            if p.poll() is None:
                p.kill()
        log.close()
        broker.stop()
    counts = _count(store, edge, accepted(broker, edge))
    print(f"\nSparkplug {fault}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


@pytest.mark.parametrize("fault", ["kill", "broker", "both"])
def test_spec_edge_node_through_faults_loses_nothing_unrecorded(tmp_path, fault):
    counts = _run(tmp_path, fault)
    assert counts["duplicated"] == 0
    assert counts["gaps_without_start"] == 0
    assert counts["lost_outside_gaps"] == 0, counts
    assert counts["stored_once"] + counts["lost"] == counts["sent"] + counts["failed_at_publisher"]
    # the broker kept the QoS 0 messages for the collector's session while it was down, and sent
    # again the ones the killed collector had received but not committed (acknowledged at QoS 1)
    assert counts["lost_accepted"] == 0, counts
    if fault == "kill":
        assert counts["lost"] == 0 and counts["gap_events"] == 0, counts


@pytest.mark.parametrize(
    ("settings", "queues", "upgrades"),
    [("plain", False, None), ("queue", True, False), ("queue+upgrade", True, True)],
)
def test_the_broker_check_sees_queueing_and_upgrade_and_warns(tmp_path, settings, queues, upgrades):
    from factory_commons.collect.broker_check import probe
    from factory_commons.collect.buffer import Buffer
    from factory_commons.collect.sparkplug.connector import SparkplugConnector

    broker = Broker(tmp_path) if settings == "plain" else Qos0Broker(tmp_path, upgrade=settings != "queue")
    broker.start()
    try:
        seen = probe("127.0.0.1", broker.port, f"fc-check-{uuid.uuid4().hex[:6]}")
        assert (seen.queues_qos0, seen.upgrades_qos0) == (queues, upgrades)
        host = SparkplugConnector(
            "edge", Buffer(tmp_path / "b.sqlite"), group="g", port=broker.port, client_id="fc-check"
        )
        host._check_broker()  # what the collector does at start, in a thread
        details = host.health.details
        assert details.get("broker_upgrades_qos0") is upgrades
        warning = details.get("broker_warning") or ""
        expected = {"plain": "does not keep QoS 0", "queue": "upgrade_outgoing_qos", "queue+upgrade": ""}
        assert expected[settings] in warning and bool(warning) == (settings != "queue+upgrade")
    finally:
        broker.stop()
