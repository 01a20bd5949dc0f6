"""MQTT connector against the real Mosquitto on 127.0.0.1:1883: UNS JSON records and mapped topics
land in a DuckDB store, bad messages are rejected with a reason, a persistent session gets what was
published while the collector was away; fuzz tests of the message handler (no broker needed)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.connector import HealthState
from factory_commons.collect.forwarder import Forwarder
from factory_commons.collect.mapping import PointMapping
from factory_commons.collect.mqtt import MqttConnector
from factory_commons.store.duckdb import DuckDBStore

HOST, PORT = "127.0.0.1", 1883
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def broker_up(host: str = HOST, port: int = PORT) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


needs_broker = pytest.mark.skipif(not broker_up(), reason="no Mosquitto on 127.0.0.1:1883")


def wait_until(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Running:
    """A connector and a forwarder in threads, into a DuckDB file; stopped (and drained) on exit."""

    def __init__(self, connector: MqttConnector, store_path) -> None:
        self.connector = connector
        self.forwarder = Forwarder(connector.buffer, lambda: DuckDBStore(store_path))
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=connector.run, args=(self.stop,), daemon=True),
            threading.Thread(target=self.forwarder.run, args=(self.stop,), daemon=True),
        ]

    def __enter__(self) -> Running:
        for t in self.threads:
            t.start()
        wait_until(lambda: self.connector.health.state == HealthState.CONNECTED, 10, "connector connected")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)

    def wait_stored(self, n: int, timeout: float = 20.0) -> None:
        f = self.forwarder
        wait_until(
            lambda: f.written + f.duplicates >= n and self.connector.buffer.pending_rows() == 0,
            timeout,
            f"{n} rows in the store (written {f.written}, duplicates {f.duplicates})",
        )


def publisher() -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    c.connect(HOST, PORT)
    c.loop_start()
    return c


def send(pub: mqtt.Client, topic: str, payload, qos: int = 1) -> None:
    data = payload if isinstance(payload, bytes | str) else json.dumps(payload, ensure_ascii=False)
    pub.publish(topic, data, qos=qos).wait_for_publish(5)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def connector(tmp_path, prefix: str, **kw) -> MqttConnector:
    buffer = Buffer(tmp_path / "buffer.sqlite")
    kw.setdefault("topics", [f"{prefix}/#"])
    return MqttConnector("mqtt-test", buffer, client_id=f"fc-{prefix}", session_expiry_s=60, **kw)


@needs_broker
def test_uns_json_records_land_in_the_store(tmp_path, prefix):
    machine = f"{prefix}/창원공장/가공/1라인/CNC-01"
    pub = publisher()
    with Running(connector(tmp_path, prefix), tmp_path / "store.duckdb") as run:
        for i in range(20):
            ts = (T0 + timedelta(seconds=i)).isoformat()
            send(pub, f"{machine}/signal/spindle_load", {"ts": ts, "value": 40 + i, "unit": "%"})
        send(
            pub,
            f"{machine}/state",
            [{"ts": T0.isoformat(), "state": "running"}, {"ts": "2025-03-01T08:10:00Z", "state": "idle"}],
        )
        send(pub, f"{machine}/count", {"ts": "2025-03-01T08:05:00+09:00", "good": 3, "scrap": 1})
        send(pub, f"{machine}/alarm/E101", {"ts": T0.isoformat(), "severity": "critical"})
        send(pub, f"{machine}/quality/지름", {"ts": T0.isoformat(), "value": 10.02, "lsl": 9.9, "usl": 10.1})
        run.wait_stored(25)
        assert run.connector.buffer.rejected_count() == 0
    pub.disconnect()
    with DuckDBStore(tmp_path / "store.duckdb") as store:
        sig = store.read("signal", machines=[machine]).to_pylist()
        assert [r["value"] for r in sig] == [40.0 + i for i in range(20)]
        assert {r["name"] for r in sig} == {"spindle_load"} and sig[0]["unit"] == "%"
        assert [r["state"] for r in store.read("state", machines=[machine]).to_pylist()] == [
            "running",
            "idle",
        ]
        (count,) = store.read("count", machines=[machine]).to_pylist()
        assert (count["good"], count["scrap"], count["ts"].hour) == (3, 1, 23)  # 08:05 KST = 23:05 UTC
        (alarm,) = store.read("alarm", machines=[machine]).to_pylist()
        assert (alarm["code"], alarm["severity"], alarm["active"]) == ("E101", "critical", True)
        (q,) = store.read("quality", machines=[machine]).to_pylist()
        assert (q["characteristic"], q["value"]) == ("지름", 10.02)


@needs_broker
def test_mapped_topics_with_state_codes_and_counter_totals(tmp_path, prefix):
    m = f"{prefix}/s/a/l/press"
    points = {
        f"{prefix}-raw/+/state": PointMapping(machine=m, kind="state", state_codes={1: "running", 2: "idle"}),
        f"{prefix}-raw/+/total": PointMapping(machine=m, kind="count", counter="total"),
        f"{prefix}-raw/+/temp": PointMapping(machine=m, name="temp", scale=0.1, unit="°C"),
    }
    pub = publisher()
    with Running(connector(tmp_path, prefix, topics=[], points=points), tmp_path / "s.duckdb") as run:
        for i, (code, total, temp) in enumerate([(1, 100, 250), (1, 104, 251), (2, 110, 252), (9, 111, 253)]):
            ts = (T0 + timedelta(minutes=i)).isoformat()
            send(pub, f"{prefix}-raw/press/state", {"value": code, "ts": ts})
            send(pub, f"{prefix}-raw/press/total", {"value": total, "ts": ts})
            send(pub, f"{prefix}-raw/press/temp", {"value": temp, "ts": ts})
        # state 1,1 -> one change; 2 -> idle; 9 -> rejected. totals: baseline, +4, +6, +1. temps: 4
        run.wait_stored(2 + 3 + 4)
        rejects = list(run.connector.buffer.rejects())
        assert len(rejects) == 1 and "state code '9'" in rejects[0]["reason"]
    pub.disconnect()
    with DuckDBStore(tmp_path / "s.duckdb") as store:
        assert [r["state"] for r in store.read("state").to_pylist()] == ["running", "idle"]
        assert [r["good"] for r in store.read("count").to_pylist()] == [4, 6, 1]
        assert [round(r["value"], 6) for r in store.read("signal").to_pylist()] == [25.0, 25.1, 25.2, 25.3]


@needs_broker
def test_bad_messages_are_rejected_and_collection_goes_on(tmp_path, prefix):
    m = f"{prefix}/s/a/l/m1"
    bad = [
        (f"{m}/signal/load", b"{not json"),
        (f"{m}/signal/load", b"\xff\xfe garbage"),
        (f"{m}/signal/load", json.dumps({"ts": T0.isoformat(), "value": "high"})),
        (f"{m}/count", json.dumps({"ts": T0.isoformat(), "good": -1})),
        (f"{m}/state", json.dumps({"ts": T0.isoformat(), "state": "running", "machine": "x/y/z/w/v"})),
        (f"{m}/kaput/x", json.dumps({"value": 1})),
        (f"{prefix}/too/short", json.dumps({"value": 1})),
    ]
    pub = publisher()
    with Running(connector(tmp_path, prefix), tmp_path / "store.duckdb") as run:
        for topic, payload in bad:
            send(pub, topic, payload)
        send(pub, f"{m}/signal/load", {"ts": T0.isoformat(), "value": 1.5})
        run.wait_stored(1)
        wait_until(
            lambda: run.connector.buffer.rejected_count() == len(bad), 10, "every bad message rejected"
        )
        assert run.connector.health.state == HealthState.CONNECTED
        reasons = [r["reason"] for r in run.connector.buffer.rejects()]
        assert any("not JSON" in r for r in reasons) and any("not UTF-8" in r for r in reasons)
        assert any("topic says" in r for r in reasons) and any("not a record kind" in r for r in reasons)
    pub.disconnect()


@needs_broker
def test_persistent_session_gets_what_was_published_while_away(tmp_path, prefix):
    m = f"{prefix}/s/a/l/m1"
    pub = publisher()
    store_path = tmp_path / "store.duckdb"
    with Running(connector(tmp_path, prefix), store_path) as run:
        send(pub, f"{m}/signal/x", {"ts": T0.isoformat(), "value": 0})
        run.wait_stored(1)
    run.connector.buffer.close()
    for i in range(1, 51):  # the collector is away: the broker queues these for its session
        send(pub, f"{m}/signal/x", {"ts": (T0 + timedelta(seconds=i)).isoformat(), "value": i})
    with Running(connector(tmp_path, prefix), store_path) as run:
        run.wait_stored(50)
    pub.disconnect()
    with DuckDBStore(store_path) as store:
        assert [r["value"] for r in store.read("signal").to_pylist()] == [float(i) for i in range(51)]


# -- fuzz: the handler alone, without a broker -----------------------------------------------------
def _handler() -> MqttConnector:
    points = {"raw/+/state": PointMapping(machine="e/s/a/l/m", kind="state")}
    return MqttConnector("fuzz", Buffer(":memory:"), topics=["e/#"], points=points)


def _msg(topic: str, payload: bytes, mid: int = 1) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, payload=payload, qos=1, mid=mid)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
topics = st.sampled_from(
    [
        "e/s/a/l/m/signal/load",
        "e/s/a/l/m/state",
        "e/s/a/l/m/count",
        "e/s/a/l/m/alarm/A1",
        "raw/m/state",
        "e/x",
    ]
)


def _check_one_outcome(c: MqttConnector, topic: str, payload: bytes) -> None:
    before_rows, before_rej = c.buffer.pending_rows(), c.buffer.rejected_count()
    c.process([_msg(topic, payload)])
    added_rows = c.buffer.pending_rows() - before_rows
    added_rej = c.buffer.rejected_count() - before_rej
    # either stored, or recorded as rejected with a reason (a repeated state may store nothing)
    assert (added_rows > 0) != (added_rej > 0) or (added_rows == 0 and added_rej == 0 and "state" in topic)
    if added_rej:
        (rej,) = list(c.buffer.rejects(1))
        assert rej["reason"] and json.loads(rej["row"])["topic"] == topic


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, payload=st.binary(max_size=200))
def test_fuzz_garbage_bytes_never_crash_and_are_recorded(topic, payload):
    _check_one_outcome(_handler(), topic, payload)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=topics, value=json_values)
def test_fuzz_wrong_types_never_crash_and_are_recorded(topic, value):
    try:
        payload = json.dumps(value).encode()
    except ValueError:
        return
    _check_one_outcome(_handler(), topic, payload)


@settings(max_examples=60, deadline=None)
@given(bad=st.sampled_from([{"value": "x"}, {"value": None}, {"ts": "yesterday", "value": 1}, True, "s", []]))
def test_a_message_with_one_bad_record_writes_none_of_it(bad):
    c = _handler()
    good = {"ts": T0.isoformat(), "value": 1.0}
    c.process(
        [
            _msg(
                "e/s/a/l/m/signal/load",
                json.dumps([good, good | {"ts": "2025-03-01T09:00:00Z"}, bad]).encode(),
            )
        ]
    )
    assert c.buffer.pending_rows() == 0 and c.buffer.rejected_count() == 1
