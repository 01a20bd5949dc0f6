"""Sparkplug B: the payload decoder (round trips, clear errors, fuzz) and the host connector against the
real Mosquitto with the edge-node simulator (births, aliases, seq gap -> rebirth, deaths -> stale,
is_historical -> late)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mqtt import HOST, PORT, Running, needs_broker, wait_until

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.connector import HealthState
from factory_commons.collect.mapping import PointMapping
from factory_commons.collect.sparkplug import SparkplugDecodeError, decode_payload, encode_payload
from factory_commons.collect.sparkplug import sparkplug_b_pb2 as pb
from factory_commons.collect.sparkplug.connector import SparkplugConnector
from factory_commons.collect.sparkplug.edge import EdgeNode
from factory_commons.store.duckdb import DuckDBStore

INT_RANGES = {
    "Int8": (-(2**7), 2**7 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt8": (0, 2**8 - 1),
    "UInt16": (0, 2**16 - 1),
    "UInt32": (0, 2**32 - 1),
    "UInt64": (0, 2**64 - 1),
}


@st.composite
def metric_values(draw):
    dt = draw(st.sampled_from([*INT_RANGES, "Double", "Boolean", "String", "Int32Array", "DoubleArray"]))
    if dt in INT_RANGES:
        lo, hi = INT_RANGES[dt]
        return dt, draw(st.integers(lo, hi))
    if dt == "Double":
        return dt, draw(st.floats(allow_nan=False))
    if dt == "Boolean":
        return dt, draw(st.booleans())
    if dt == "String":
        return dt, draw(st.text(max_size=30))
    if dt == "Int32Array":
        return dt, draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5))
    return dt, draw(st.lists(st.floats(allow_nan=False), max_size=5))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(metric_values(), min_size=1, max_size=6), seq=st.integers(0, 255))
def test_decode_round_trips_every_datatype(values, seq):
    metrics = [{"name": f"m{i}", "alias": i, "datatype": dt, "value": v} for i, (dt, v) in enumerate(values)]
    p = decode_payload(encode_payload(metrics, seq=seq, timestamp=1_700_000_000_000))
    assert p.seq == seq and p.timestamp == 1_700_000_000_000
    assert [(m.name, m.alias, m.datatype_name, m.value) for m in p.metrics] == [
        (f"m{i}", i, dt, v) for i, (dt, v) in enumerate(values)
    ]


def test_data_metrics_without_datatype_use_the_birth_types():
    msg = pb.Payload(seq=4)
    m = msg.metrics.add()
    m.alias, m.int_value = 7, (-3) & 0xFFFFFFFF  # an Int16 -3 on the wire, no datatype in DATA
    (metric,) = decode_payload(msg.SerializeToString(), known={7: 2}).metrics
    assert (metric.datatype_name, metric.value) == ("Int16", -3)


@pytest.mark.parametrize(
    "build, why",
    [
        (lambda p: p.metrics.add(datatype=9, float_value=1.0), "neither a name nor an alias"),
        (lambda p: p.metrics.add(name="x", datatype=99, int_value=1), "not a metric datatype"),
        (lambda p: p.metrics.add(name="x", datatype=10, string_value="1"), "must be in double_value"),
        (lambda p: p.metrics.add(name="x", datatype=5, int_value=300), "does not fit a UInt8"),
        (lambda p: p.metrics.add(name="x", datatype=31, bytes_value=b"123"), "whole number of 8-byte"),
        (lambda p: setattr(p, "seq", 256), "outside 0..255"),
    ],
)
def test_wrong_payloads_give_clear_errors(build, why):
    p = pb.Payload(timestamp=1)
    build(p)
    with pytest.raises(SparkplugDecodeError, match=why):
        decode_payload(p.SerializeToString())


def test_truncated_payload_is_a_decode_error():
    data = encode_payload([{"name": "spindle", "alias": 1, "datatype": "Double", "value": 1.5}], seq=1)
    with pytest.raises(SparkplugDecodeError, match="truncated or not a Sparkplug B payload"):
        decode_payload(data[:-3])


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=300))
def test_fuzz_garbage_is_decoded_or_a_decode_error(data):
    try:
        decode_payload(data)
    except SparkplugDecodeError as e:
        assert str(e)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(metric_values(), min_size=1, max_size=4),
    cut=st.integers(0, 400),
    flip=st.integers(0, 400),
)
def test_fuzz_truncated_or_corrupted_payloads(values, cut, flip):
    data = bytearray(
        encode_payload([{"alias": i, "datatype": dt, "value": v} for i, (dt, v) in enumerate(values)])
    )
    if data:
        data[flip % len(data)] ^= 0xA5
    try:
        decode_payload(bytes(data[: cut % (len(data) + 1)]))
    except SparkplugDecodeError as e:
        assert str(e)


# -- the host connector against Mosquitto -------------------------------------------------------
M1, M2 = "acme/창원/가공/1라인/press-01", "acme/창원/가공/1라인/press-02"
DEVICES = {"press01": {"load": "Double", "state": "Int32", "parts": "UInt32"}, "press02": {"temp": "Float"}}


def _points():
    return {
        "gw/press01/load": PointMapping(machine=M1, name="spindle_load", unit="%"),
        "gw/press01/state": PointMapping(machine=M1, kind="state", state_codes={1: "running", 2: "idle"}),
        "gw/press01/parts": PointMapping(machine=M1, kind="count", counter="total"),
        "gw/press02/temp": PointMapping(machine=M2, name="temp"),
        "gw/Line Speed": PointMapping(machine=M1, name="line_speed"),
    }


@pytest.fixture
def group() -> str:
    return f"g{uuid.uuid4().hex[:10]}"


def _connector(tmp_path, group, **kw) -> SparkplugConnector:
    return SparkplugConnector(
        "spb",
        Buffer(tmp_path / "buffer.sqlite"),
        group=group,
        points=_points(),
        client_id=f"fc-{group}",
        session_expiry_s=60,
        **kw,
    )


def _edge(group) -> EdgeNode:
    return EdgeNode(HOST, PORT, group, "gw", DEVICES, node_metrics={"Line Speed": "Double"})


def _born(c: SparkplugConnector) -> bool:
    node = c.nodes.get("gw")
    return node is not None and "press02" in node.aliases


def _ms(second: int) -> int:
    return int(datetime(2025, 3, 1, 8, 0, second, tzinfo=UTC).timestamp() * 1000)


@needs_broker
def test_births_aliases_and_data_land_in_the_store(tmp_path, group):
    edge = _edge(group)
    with Running(_connector(tmp_path, group), tmp_path / "store.duckdb") as run:
        edge.start()
        wait_until(lambda: _born(run.connector), 10, "births")
        for i in range(10):
            edge.publish(
                "press01", {"load": 40.0 + i, "state": 1 + i // 5, "parts": 100 + 3 * i}, timestamp_ms=_ms(i)
            )
            edge.publish("press02", {"temp": 20.5}, timestamp_ms=_ms(i))
        edge.publish(None, {"Line Speed": 12.5}, timestamp_ms=_ms(30))
        run.wait_stored(10 + 2 + 9 + 10 + 1)
        assert run.connector.buffer.rejected_count() == 0 and run.connector.gaps == 0
        edge.stop()
    with DuckDBStore(tmp_path / "store.duckdb") as store:
        load = store.read("signal", machines=[M1]).to_pylist()
        assert [r["value"] for r in load if r["name"] == "spindle_load"] == [40.0 + i for i in range(10)]
        assert load[0]["ts"] == datetime(2025, 3, 1, 8, 0, 0)  # the metric timestamp (ms), UTC
        assert [r["value"] for r in load if r["name"] == "line_speed"] == [12.5]
        assert [r["state"] for r in store.read("state").to_pylist()] == ["running", "idle"]
        assert sum(r["good"] for r in store.read("count").to_pylist()) == 27
        assert len(store.read("signal", machines=[M2])) == 10


@needs_broker
def test_sequence_gap_is_recorded_and_answered_with_a_rebirth(tmp_path, group):
    edge = _edge(group)
    with Running(_connector(tmp_path, group), tmp_path / "store.duckdb") as run:
        edge.start()
        wait_until(lambda: _born(run.connector), 10, "births")
        edge.publish("press01", {"load": 1.0}, timestamp_ms=_ms(1))
        edge.skip_seq(3)  # three messages lost
        edge.publish("press01", {"load": 2.0}, timestamp_ms=_ms(2))
        wait_until(lambda: edge.rebirth_requests == 1 and edge.births == 2, 10, "the edge node reborn")
        edge.publish("press01", {"load": 3.0}, timestamp_ms=_ms(3))
        wait_until(lambda: run.connector.health.points >= 4, 10, "data after the rebirth")
        assert run.connector.gaps == 1 and run.connector.rebirth_requests == 1
        gaps = [e for e in run.connector.buffer.events() if e["event"] == "gap"]
        assert {e["machine"] for e in gaps} == {M1, M2}
        assert "3 message(s) lost (sequence numbers" in gaps[0]["detail"]
        # from the data time of the last message before the loss to the first after it
        assert {(e["start_ts"], e["end_ts"]) for e in gaps} == {(_ms(1) * 1000, _ms(2) * 1000)}
        edge.stop()
        run.wait_stored(4)
    with DuckDBStore(tmp_path / "store.duckdb") as store:
        ev = store.query("SELECT event, machine FROM collect_events WHERE event = 'gap' ORDER BY machine")
        assert ev.column("machine").to_pylist() == [M1, M2]


@needs_broker
def test_deaths_mark_machines_stale_and_births_revive_them(tmp_path, group):
    edge = _edge(group)
    with Running(_connector(tmp_path, group), tmp_path / "store.duckdb") as run:
        c = run.connector
        edge.start()
        wait_until(lambda: _born(c), 10, "births")
        edge.device_death("press02")
        wait_until(lambda: c.health.state == HealthState.STALE, 10, "stale after DDEATH")
        assert c.dead == {"gw/press02"} and "gw/press02" in c.health.reason
        wait_until(lambda: any(e["event"] == "stale" for e in c.buffer.events()), 10, "stale event")
        stale = [e for e in c.buffer.events() if e["event"] == "stale"]
        assert [e["machine"] for e in stale] == [M2]
        edge.birth()
        wait_until(lambda: c.health.state == HealthState.CONNECTED, 10, "revived by the births")
        edge.stop()  # NDEATH with the current bdSeq
        wait_until(lambda: c.health.state == HealthState.STALE, 10, "stale after NDEATH")
        assert c.dead == {"gw", "gw/press01", "gw/press02"}

        def stale_machines() -> list:
            return sorted(e["machine"] for e in c.buffer.events() if e["event"] == "stale")

        wait_until(lambda: len(stale_machines()) == 3, 10, "a stale event per machine")
        assert stale_machines() == [M1, M2, M2]


@needs_broker
def test_historical_metrics_are_stored_as_late_data(tmp_path, group):
    edge = _edge(group)
    with Running(_connector(tmp_path, group), tmp_path / "store.duckdb") as run:
        edge.start()
        wait_until(lambda: _born(run.connector), 10, "births")
        for i in range(5):
            edge.publish("press01", {"load": float(i)}, timestamp_ms=_ms(i), historical=True)
        edge.publish("press01", {"load": 9.0}, timestamp_ms=_ms(50))
        run.wait_stored(6)
        edge.stop()
    with DuckDBStore(tmp_path / "store.duckdb") as store:
        assert len(store.read("signal")) == 6
        late = store.query(
            "SELECT rows, start_ts, end_ts, detail FROM collect_events WHERE event = 'late'"
            " AND detail LIKE '%historical%'"
        )
        assert sum(late.column("rows").to_pylist()) == 5  # one event per forwarded batch
        assert min(late.column("start_ts").to_pylist()) == datetime(2025, 3, 1, 8, 0, 0)
        assert max(late.column("end_ts").to_pylist()) == datetime(2025, 3, 1, 8, 0, 4)
        # the live value timed 2025 is late too: measured from its own time, not from its arrival
        old = store.query("SELECT rows FROM collect_events WHERE event = 'late' AND detail LIKE '%own time%'")
        assert sum(old.column("rows").to_pylist()) == 1


@needs_broker
def test_bad_payloads_are_rejected_and_a_restarted_host_reads_data_at_once(tmp_path, group):
    edge = _edge(group)
    with Running(_connector(tmp_path, group), tmp_path / "store.duckdb") as run:
        edge.start()
        wait_until(lambda: _born(run.connector), 10, "births")
        edge.client.publish(f"spBv1.0/{group}/DDATA/gw/press01", b"\x0a\xff\xff", qos=1).wait_for_publish(5)
        edge.client.publish(f"spBv1.0/{group}/DDATA/gw/press01", b"garbage", qos=1).wait_for_publish(5)
        edge.publish("press01", {"load": 1.0}, timestamp_ms=_ms(1))
        run.wait_stored(1)
        wait_until(lambda: run.connector.buffer.rejected_count() == 2, 10, "two rejects")
        assert all("DDATA from" in r["reason"] for r in run.connector.buffer.rejects())
        assert run.connector.health.state == HealthState.CONNECTED
    run.connector.buffer.close()
    # a new host process: alias tables and the last sequence number come from the buffer, so the
    # next message is read at once and checked: nothing was lost, no gap and no rebirth needed
    with Running(_connector(tmp_path, group), tmp_path / "store.duckdb") as run:
        edge.publish("press01", {"load": 2.0}, timestamp_ms=_ms(2))
        run.wait_stored(1)
        assert run.connector.rebirth_requests == 0
        edge.skip_seq(2)
        edge.publish("press01", {"load": 3.0}, timestamp_ms=_ms(3))
        wait_until(lambda: edge.rebirth_requests == 1, 10, "rebirth requested after a lost message")
        gaps = [e for e in run.connector.buffer.events() if e["event"] == "gap"]
        assert {(e["start_ts"], e["end_ts"]) for e in gaps} == {(_ms(2) * 1000, _ms(3) * 1000)}
        wait_until(lambda: edge.births == 2, 10, "the edge node reborn")
        edge.publish("press01", {"load": 4.0}, timestamp_ms=_ms(4))
        run.wait_stored(3)  # 2.0, 3.0 (its loss is before it), the birth's 3.0 again (now), 4.0
        edge.stop()
    with DuckDBStore(tmp_path / "store.duckdb") as store:
        day = store.read("signal", end=datetime(2025, 3, 2, tzinfo=UTC))
        assert day.column("value").to_pylist() == [1.0, 2.0, 3.0, 4.0]
