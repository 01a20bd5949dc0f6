"""OPC UA sampling interval and queue size per point (issue 26).

A point may ask for its own `sampling_ms` / `queue_size` (`OpcUaPoint` in plant.toml); only its
node gets them. Against asyncua (which reports every write but honours the queue size) and
node-opcua (which samples at the asked interval): a point with `sampling_ms = 0` and a big
queue stores every 25 ms change, while a point left at the source's slow settings (one value
per publish or per second) stores far fewer, on the same source and subscription.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from npm_peers_opcua import Produced
from test_opcua import UaSim, free_port, wait_until
from test_opcua_interop import NodeOpcUaStack, Run, node_opcua  # noqa: F401 - node_opcua is a fixture

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.config import OpcUaPoint, PlantConfig
from factory_commons.collect.connector import HealthState
from factory_commons.collect.mapping import MappingError, PointMapping
from factory_commons.collect.opcua import OpcUaConnector
from factory_commons.collect.opcua import default_queue_size as default_queue

M = "acme/창원/프레스/line-1/press-1"

PLANT = """
[[opcua]]
name = "press-opc"
endpoint = "opc.tcp://127.0.0.1:4840"
interval_ms = 500
sampling_ms = 200
queue_size = 1

[opcua.points."ns=2;s=Press1.Temp"]
machine = "acme/창원/프레스/line-1/press-1"
name = "temp"
sampling_ms = 0
queue_size = 1000

[opcua.points."ns=2;s=Press1.Speed"]
machine = "acme/창원/프레스/line-1/press-1"
name = "speed"
sampling_ms = 50

[opcua.points."ns=2;s=Press1.Count"]
machine = "acme/창원/프레스/line-1/press-1"
kind = "count"
counter = "total"
"""


def test_per_point_settings_parse_and_fall_back_to_the_source(tmp_path):
    path = tmp_path / "plant.toml"
    path.write_text(PLANT, encoding="utf-8")
    ((kind, source),) = PlantConfig.from_toml(path).sources
    assert kind == "opcua" and all(isinstance(p, OpcUaPoint) for p in source.points.values())
    conn = OpcUaConnector.from_source(source, Buffer(":memory:"))
    assert conn.settings("ns=2;s=Press1.Temp") == (0.0, 1000)
    assert conn.settings("ns=2;s=Press1.Speed") == (50.0, 1)  # the source's queue, asked for explicitly
    assert conn.settings("ns=2;s=Press1.Count") == (200.0, 1)  # the source's

    # without a queue_size anywhere, a point's own sampling gets the default queue for it
    no_queue = PLANT.replace("queue_size = 1\n", "", 1)
    path.write_text(no_queue, encoding="utf-8")
    ((_, source),) = PlantConfig.from_toml(path).sources
    conn = OpcUaConnector.from_source(source, Buffer(":memory:"))
    assert conn.settings("ns=2;s=Press1.Speed") == (50.0, default_queue(500, 50))
    assert conn.settings("ns=2;s=Press1.Count") == (200.0, default_queue(500, 200))


@pytest.mark.parametrize(
    ("line", "key", "why"),
    [
        ("sampling_ms = -5", "sampling_ms", "greater than or equal to 0"),
        ("sampling_ms = nan", "sampling_ms", "finite"),
        ("queue_size = 0", "queue_size", "greater than or equal to 1"),
        ("queue_size = 2.5", "queue_size", "integer"),
    ],
)
def test_a_bad_per_point_value_names_the_point(tmp_path, line, key, why):
    bad = PLANT.replace('name = "speed"\nsampling_ms = 50', f'name = "speed"\n{line}')
    path = tmp_path / "plant.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(MappingError) as e:
        PlantConfig.from_toml(path)
    msg = str(e.value)
    assert f'[[opcua]] "press-opc" points."ns=2;s=Press1.Speed".{key}:' in msg and why in msg, msg
    assert "Press1.Temp" not in msg


def test_other_sources_do_not_take_the_opcua_keys():
    with pytest.raises(MappingError, match=r'points."a/b".sampling_ms: Extra inputs'):
        PlantConfig.from_dict(
            {"mqtt": [{"name": "m", "points": {"a/b": {"machine": M, "name": "x", "sampling_ms": 0}}}]}
        )


def _count(store, name: str, produced: list[Produced]) -> dict[str, int]:
    """Produced values of one node from the first stored one on, against the stored rows."""
    rows = [r for r in store.read("signal").to_pylist() if r["name"] == name]

    def key(ts: datetime, value) -> tuple[int, float]:
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
        return round(ts.timestamp() * 1000), round(float(value), 6)

    stored = [key(r["ts"], r["value"]) for r in rows]
    made = [key(p.ts, p.value) for p in produced]
    first = min((k[0] for k in stored if k in set(made)), default=0)
    window = {k for k in made if k[0] >= first}
    return {
        "produced": len(window),
        "stored": sum(1 for k in stored if k in window),
        "twice": len(stored) - len(set(stored)),
    }


def _run(tmp_path, url: str, points: dict[str, PointMapping], **kw) -> Run:
    buf = Buffer(tmp_path / "buffer.sqlite")
    conn = OpcUaConnector("press-opc", buf, url, points, watchdog_s=0.5, timeout_s=2, **kw)
    return Run(tmp_path, conn, buf).start()


def test_a_fast_point_gets_every_change_and_the_slow_one_stays_slow_asyncua(tmp_path):
    """asyncua reports every write whatever the sampling, but keeps only `queue_size` per publish."""
    sim = UaSim(free_port())
    sim.start()
    points = {
        "ns=2;s=Press1.Temp": OpcUaPoint(machine=M, name="temp", sampling_ms=0, queue_size=1000),
        "ns=2;s=Press1.Count": PointMapping(machine=M, name="count raw"),  # the source's settings
    }
    run = _run(tmp_path, sim.url, points, interval_ms=500, sampling_ms=200, queue_size=1)
    produced: list[Produced] = []
    stop_writing = threading.Event()

    def write() -> None:
        n = 0
        while not stop_writing.wait(0.025):
            n += 1
            now = datetime.now(UTC)
            ts = now.replace(microsecond=now.microsecond // 1000 * 1000)
            sim.write("Temp", 20.0 + n / 4, source_ts=ts)
            sim.write("Count", n, source_ts=ts)
            produced.extend([Produced("Temp", 20.0 + n / 4, ts), Produced("Count", n, ts)])

    writer = threading.Thread(target=write, daemon=True)
    try:
        assert wait_until(lambda: run.conn.health.state == HealthState.CONNECTED, timeout=20)
        reason = run.conn.health.reason
        writer.start()
        time.sleep(3.0)
        stop_writing.set()
        writer.join(5)
        time.sleep(1.2)  # the last publishes
    finally:
        stop_writing.set()
        store = run.finish()
        sim.stop()
    fast = _count(store, "temp", [p for p in produced if p.node == "Temp"])
    slow = _count(store, "count raw", [p for p in produced if p.node == "Count"])
    store.close()
    print(f"\nasyncua: fast point {fast}; slow point {slow}; health: {reason}")
    assert fast["produced"] >= 60 and fast["stored"] == fast["produced"] and fast["twice"] == 0, fast
    assert 1 <= slow["stored"] <= slow["produced"] / 5, slow  # one per 500 ms publish, not 40 a second
    assert "sampling 500 ms, queue 1 (" in reason, reason  # asyncua grants the publishing interval
    assert "per point" in reason and "queue 1000: ns=2;s=Press1.Temp" in reason, reason
    assert run.conn.granted["ns=2;s=Press1.Temp"][1] == 1000
    assert run.conn.granted["ns=2;s=Press1.Count"][1] == 1


def test_a_fast_point_gets_every_change_and_the_slow_one_stays_slow_node_opcua(node_opcua, tmp_path):  # noqa: F811
    """node-opcua samples at the asked interval: PartCount (+1 every 200 ms) sampled every second."""
    peer = NodeOpcUaStack(node_opcua, tmp_path / "pki")
    peer.start()
    points = {
        "ns=1;s=Press1.Temp": OpcUaPoint(machine=M, name="temp", sampling_ms=0, queue_size=1000),
        "ns=1;s=Press1.PartCount": PointMapping(machine=M, name="count raw"),  # the source's settings
    }
    run = _run(tmp_path, peer.url, points, interval_ms=500, sampling_ms=1000, queue_size=1)
    try:
        assert wait_until(lambda: run.conn.health.state == HealthState.CONNECTED, timeout=20)
        reason = run.conn.health.reason
        time.sleep(4.0)
        peer.stop()  # nothing more is produced; what was sent is in
        time.sleep(0.5)
    finally:
        store = run.finish()
        peer.stop()
    last = max(r["ts"] for r in store.read("signal").to_pylist() if r["name"] == "temp")
    last = last.replace(tzinfo=UTC)
    fast = _count(store, "temp", [p for p in peer.values("Temp") if p.ts <= last])
    slow = _count(store, "count raw", [p for p in peer.values("PartCount") if p.ts <= last])
    store.close()
    print(f"\nnode-opcua: fast point {fast}; slow point {slow}; health: {reason}")
    assert fast["produced"] >= 80 and fast["stored"] == fast["produced"] and fast["twice"] == 0, fast
    assert 1 <= slow["stored"] <= slow["produced"] / 2, slow  # about 1 of every 5
    assert "sampling 1000 ms, queue 1" in reason, reason
    assert "per point" in reason and "ns=1;s=Press1.Temp" in reason.split("per point")[1], reason
    assert run.conn.granted["ns=1;s=Press1.PartCount"][0] >= 1000
