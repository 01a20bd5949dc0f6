"""The retrofit's edge and its records: a `current` point mapping (RMS amps or raw samples, one
or three phases) becomes a `current` signal; an inference becomes the state changes and part
counts the OEE reads."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from factory_commons.collect.mapping import MappingError, PointConverter, PointMapping, ValueRejected

M = "acme/changwon/legacy/old-1/lathe-01"
T = datetime(2026, 10, 5, 1, 0, tzinfo=UTC)


def _point(**keys) -> PointConverter:
    return PointConverter(PointMapping.parse({"machine": M, "kind": "current", **keys}, "plant.toml: x"))


def test_rms_amps_become_the_current_signal_in_amps():
    kind, row = _point().convert("12.5", T)
    assert kind == "signal"
    assert row == {"machine": M, "name": "current", "ts": T, "value": 12.5, "unit": "A"}
    kind, row = _point(name="spindle_current", scale=0.1).convert(125, T)
    assert row["name"] == "spindle_current" and row["value"] == pytest.approx(12.5)


def test_three_phases_are_combined_into_their_mean_rms():
    _, row = _point(phases=3).convert([10.0, 11.0, 12.0], T)
    assert row["value"] == pytest.approx(11.0)
    _, row = _point(phases=3).convert("10;11;12", T)  # a CSV cell or a text payload
    assert row["value"] == pytest.approx(11.0)


def _sine(amplitude: float, n: int, bias: float) -> list[float]:
    return [bias + amplitude * math.sin(2 * math.pi * i / 20) for i in range(n)]


def test_raw_adc_samples_become_rms_at_the_edge_bias_removed():
    # a 12-bit ADC centred at 2048 counts, 0.01 A per count: a 10 A peak sine is 7.07 A RMS
    point = _point(current_input="raw", scale=0.01, offset=-20.48, window=100)
    samples = _sine(1000, 100, 2048)
    _, row = point.convert(samples, T)  # a burst in one value
    assert row["value"] == pytest.approx(10 / math.sqrt(2), rel=1e-3)
    out = [point.convert(x, T) for x in samples]  # one sample at a time: one RMS per window
    assert out[:-1] == [None] * 99 and out[-1][1]["value"] == pytest.approx(7.071, rel=1e-3)
    # a wrong offset (bias) does not count as current
    _, row = _point(current_input="raw", scale=0.01).convert(samples, T)
    assert row["value"] == pytest.approx(7.071, rel=1e-3)
    _, row = _point(current_input="raw", phases=3).convert([samples, samples, _sine(0, 100, 5)], T)
    assert row["value"] == pytest.approx(2 * 707.1 / 3, rel=1e-3)


@pytest.mark.parametrize(
    ("keys", "raw", "why"),
    [
        ({"phases": 3}, [1.0, 2.0], "phases = 3"),
        ({}, -3.0, "RMS"),
        ({"current_input": "raw"}, [1.0], "raw samples"),
        ({}, "abc", "not a number"),
    ],
)
def test_bad_current_values_are_rejected_in_korean_and_english(keys, raw, why):
    with pytest.raises(ValueRejected) as e:
        _point(**keys).convert(raw, T)
    assert why in str(e.value) and M in str(e.value)
    if why != "not a number":
        assert any("\uac00" <= ch <= "\ud7a3" for ch in str(e.value))


def test_a_bad_current_mapping_names_the_key():
    with pytest.raises(MappingError, match=r"plant.toml: x\.phases"):
        PointMapping.parse({"machine": M, "kind": "current", "phases": 2}, "plant.toml: x")
    with pytest.raises(MappingError, match=r"plant.toml: x\.window"):
        PointMapping.parse({"machine": M, "kind": "current", "window": 1}, "plant.toml: x")


# -- the store keeps where a state came from ---------------------------------------------------
def _machine():
    from factory_commons.model import Machine

    return Machine(path=M, default_ideal_cycle_time_s=60.0)


def test_inferred_states_and_counts_carry_their_source_and_are_replaced_alone(store_factory):
    from datetime import timedelta

    from factory_commons.model import PartCount, StateChange

    store = store_factory()
    store.register_machines([_machine()])
    reported = StateChange(ts=T, machine=M, state="running")
    inferred = [
        StateChange(ts=T + timedelta(minutes=k), machine=M, state=s, source="inferred", confidence=0.9)
        for k, s in ((10, "idle"), (20, "running"), (30, "planned_stop"))
    ]
    counts = [PartCount(ts=T + timedelta(minutes=21), machine=M, good=3, source="inferred")]
    store.write([reported, *inferred, PartCount(ts=T + timedelta(minutes=5), machine=M, good=2), *counts])
    rows = store.query("SELECT ts, state, source, confidence FROM states ORDER BY ts").to_pylist()
    assert [r["source"] for r in rows] == [None, "inferred", "inferred", "inferred"]
    assert rows[1]["confidence"] == pytest.approx(0.9)
    assert store.read("state").num_rows == 4  # read() shows them as any state change
    # a new inference of [T+15 min, T+1 h) replaces only the inferred rows there
    n = store.delete_inferred(M, T + timedelta(minutes=15), T + timedelta(hours=1))
    assert n == {"state": 2, "count": 1}
    left = store.query("SELECT state, source FROM states ORDER BY ts").to_pylist()
    assert left == [{"state": "running", "source": None}, {"state": "idle", "source": "inferred"}]
    assert store.query("SELECT sum(good) AS g FROM counts").to_pylist()[0]["g"] == 2
    latest = store.query("SELECT state FROM latest_states").to_pylist()
    assert latest == [{"state": "idle"}]  # the newest state left, not the deleted one
    assert store.delete_inferred("acme/x/y/z/none", T, T + timedelta(hours=1)) == {"state": 0, "count": 0}
    # the KPIs see the change: idle from T+10 min to the end
    from factory_commons.kpi import compute_kpis

    k = compute_kpis(store, T, T + timedelta(hours=1)).iloc[0]
    assert k["actual_production_time_s"] == pytest.approx(600.0)


def test_a_confidence_outside_0_1_is_refused():
    from factory_commons.model import RecordError, parse_record

    with pytest.raises(RecordError, match="confidence"):
        parse_record({"kind": "state", "ts": T.isoformat(), "machine": M, "state": "idle", "confidence": 1.5})


def test_a_process_that_does_not_own_the_store_replaces_inferred_rows_too():
    from datetime import timedelta

    from factory_commons.model import StateChange
    from factory_commons.retrofit import records
    from factory_commons.retrofit.infer import CurrentModel
    from factory_commons.store import DuckDBStore
    from factory_commons.store.remote import FlightStoreServer, RemoteStore

    store = DuckDBStore()
    server = FlightStoreServer(store)
    remote = RemoteStore(server.location, server.token)
    try:
        remote.register_machines([_machine()])
        remote.write([StateChange(ts=T, machine=M, state="idle", source="inferred", confidence=0.5)])
        assert remote.delete_inferred(M, T, T + timedelta(hours=1)) == {"state": 1, "count": 0}
        import numpy as np

        from factory_commons.retrofit.traces import trace

        ts, amps, _, _ = trace("compressor", T, 3600, np.random.default_rng(3), hz=1.0)
        model = CurrentModel.learn(ts, amps)
        records.save_model(remote, M, model)  # kept in the owner's store, read back here
        assert records.load_model(remote, M) == model
        assert records.load_model(remote, "acme/x/y/z/none") is None
    finally:
        remote.close()
        server.shutdown()
        store.close()


def test_an_inference_becomes_state_changes_and_counts():
    import numpy as np

    from factory_commons.retrofit.infer import Inference
    from factory_commons.retrofit.records import count_table, state_table

    def at(*seconds: int) -> np.ndarray:
        return (
            np.datetime64("2026-10-05T01:00:00", "us") + np.array(seconds, dtype=np.int64) * 1_000_000
        ).astype("datetime64[us]")

    inf = Inference(
        ts=at(0, 100, 160, 400, 500, 520),
        state=np.array(["running", "idle", "running", "off", "unknown", "unknown"]),
        confidence=np.array([0.9, 0.8, 0.95, 1.0, 0.7, 0.7]),
        cycles=at(0, 30, 59, 61, 160, 190),
        micro_stops=[(at(100)[0], at(160)[0])],
        end=at(600)[0],
    )
    s = state_table(M, inf).to_pylist()
    got = [(r["state"], r["reason_code"], r["confidence"], r["source"]) for r in s]
    assert got == [
        ("running", None, 0.9, "inferred"),
        ("idle", "micro_stop", 0.8, "inferred"),
        ("running", None, 0.95, "inferred"),
        ("planned_stop", "power_off", 1.0, "inferred"),
        ("planned_stop", "gap", 0.0, "inferred"),  # no data: neither production nor a loss
    ]  # the two unknown segments are one record, and the end of the data is already a gap
    c = count_table(M, inf).to_pylist()
    assert [r["good"] for r in c] == [3, 1, 1, 1]  # per minute: 0-59 s, 61 s, 160 s, 190 s
    assert c[0]["ts"].second == 59 and {r["source"] for r in c} == {"inferred"}
    inf2 = Inference(
        ts=at(0),
        state=np.array(["idle"]),
        confidence=np.array([0.9]),
        cycles=at(),
        micro_stops=[],
        end=at(60)[0],
    )
    assert [r["reason_code"] for r in state_table(M, inf2).to_pylist()] == [
        None,
        "gap",
    ]  # after the data: a gap


def test_writing_an_inference_twice_changes_nothing_and_a_new_one_replaces_it(store_factory):
    from datetime import timedelta

    import numpy as np

    from factory_commons.retrofit import records
    from factory_commons.retrofit.infer import CurrentModel
    from factory_commons.retrofit.traces import trace

    store = store_factory()
    store.register_machines([_machine()])
    ts, amps, _, _ = trace("hydraulic_press", T, 2 * 3600, np.random.default_rng(11), hz=1.0)
    inf = CurrentModel.learn(ts, amps).infer(ts, amps)
    a, b = T, T + timedelta(hours=3)
    first = records.write_inference(store, M, inf, a, b)
    assert first.states > 2 and first.counts > 10 and not first.unchanged
    again = records.write_inference(store, M, inf, a, b)
    assert again.unchanged and again.states == again.counts == 0
    n = store.query("SELECT count(*) AS n FROM states").to_pylist()[0]["n"]
    assert n == first.states
    # a person says the first hour was all idle: the new inference replaces the old rows
    other = CurrentModel.learn(ts, amps).correct(T, T + timedelta(hours=1), "idle", ts, amps).infer(ts, amps)
    third = records.write_inference(store, M, other, a, b)
    assert third.deleted_states == first.states and third.deleted_counts == first.counts
    stored = store.query("SELECT count(*) AS n FROM states").to_pylist()[0]["n"]
    assert stored == third.states
