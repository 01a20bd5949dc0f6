"""Sparkplug B host without a broker: sequence numbers (reordering, losses, births, restarts), DDEATH
without seq, metric names with prefixes, units from properties. Messages go straight into `process`."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.mapping import PointMapping
from factory_commons.collect.sparkplug import encode_payload
from factory_commons.collect.sparkplug.connector import SparkplugConnector
from factory_commons.collect.sparkplug.sequence import SeqTracker

M1 = "acme/s/a/l/press-1"
T = 1_740_816_000_000  # ms


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _tracker() -> tuple[SeqTracker, Clock]:
    clock = Clock()
    return SeqTracker(window=64, window_s=2.0, clock=clock), clock


def test_in_order_and_reordered_numbers_are_not_gaps():
    t, clock = _tracker()
    t.birth(0, T)
    for s in [1, 2, 4, 3, 5, 7, 6]:  # node and device connections interleaved
        assert t.arrived(s, T + s) == []
    clock.t = 10
    assert t.expired() == []


def test_a_missing_number_is_lost_after_the_window_with_its_data_times():
    t, clock = _tracker()
    t.birth(0, T)
    t.arrived(1, T + 1)
    t.arrived(4, T + 4)  # 2 and 3 missing
    assert t.expired() == []  # may still come
    clock.t = 2.5
    (run,) = t.expired()
    assert (run.count, run.first_seq, run.last_seq, run.start_ms, run.end_ms) == (2, 2, 3, T + 1, T + 4)


def test_numbers_wrap_at_256_without_gaps():
    t, clock = _tracker()
    t.birth(0, T)
    for i in range(1, 600):
        assert t.arrived(i % 256, T + i) == []
    clock.t = 10
    assert t.expired() == []


def test_a_device_birth_delivered_before_its_node_birth_is_not_a_gap():
    t, clock = _tracker()
    t.birth(0, T)
    for i in range(1, 40):
        t.arrived(i, T + i)
    # rebirth at T + 100: DBIRTH (seq 1) and DDATA (seq 2) arrive before NBIRTH (seq 0)
    t.arrived(1, T + 100)
    t.arrived(2, T + 101)
    assert t.birth(0, T + 100) == []
    t.arrived(3, T + 102)
    clock.t = 10
    assert t.expired() == []
    assert t.seq == 3


def test_a_message_of_the_old_numbering_delivered_after_the_birth_is_not_a_gap():
    t, clock = _tracker()
    t.birth(0, T)
    t.arrived(1, T + 1)
    t.arrived(3, T + 3)  # 2 is late, on the other connection
    t.birth(0, T + 10)
    t.arrived(2, T + 2)  # older than the birth: the old 2, not the new one
    t.arrived(1, T + 11)
    clock.t = 10
    assert t.expired() == []


def test_newer_data_behind_the_number_means_the_numbers_went_round():
    t, _ = _tracker()
    t.birth(0, T)
    t.arrived(200, T + 200)
    (run,) = t.arrived(100, T + 5000)  # 156 numbers "back" but 4.8 s newer: > 128 lost
    assert run.count is None and (run.start_ms, run.end_ms) == (T + 200, T + 5000)
    assert t.arrived(100, T + 5000) == []  # the same again: a duplicate


def test_state_survives_a_restart():
    t, _ = _tracker()
    t.birth(0, T)
    t.arrived(1, T + 1)
    again, clock = _tracker()
    again.restore(t.state())
    assert again.arrived(2, T + 2) == []
    again.arrived(5, T + 5)
    clock.t = 5
    (run,) = again.expired()
    assert (run.first_seq, run.last_seq, run.start_ms, run.end_ms) == (3, 4, T + 2, T + 5)


def test_numbers_missing_at_a_restart_are_still_reported():
    t, _ = _tracker()
    t.birth(0, T)
    t.arrived(1, T + 1)
    t.arrived(5, T + 5)  # 2..4 missing when the collector is killed
    again, clock = _tracker()
    again.restore(t.state())
    assert again.expired() == []  # they may still come: a window from the restart
    again.arrived(3, T + 3)  # one did (it was queued by the broker)
    again.arrived(6, T + 6)
    clock.t = 5
    runs = again.expired()
    assert [(r.first_seq, r.last_seq, r.start_ms, r.end_ms) for r in runs] == [
        (2, 2, T + 1, T + 5),
        (4, 4, T + 1, T + 5),
    ]


# -- the connector, messages handed to process() ----------------------------------------------------
def _msg(topic: str, payload: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic=topic, payload=payload, qos=0, mid=0)


def _host(tmp_path, points: dict[str, PointMapping]) -> SparkplugConnector:
    return SparkplugConnector(
        "spb", Buffer(tmp_path / "b.sqlite"), group="g", points=points, check_broker=False, reorder_window_s=0
    )


def _pending(c: SparkplugConnector) -> list[dict]:
    return [r for p in c.buffer.take() for r in p.rows]


def test_ddeath_without_seq_marks_the_device_stale_and_its_rebirth_records_the_gap(tmp_path):
    c = _host(tmp_path, {"n1/d1/temp": PointMapping(machine=M1, name="temp")})
    c.process(
        [
            _msg(
                "spBv1.0/g/NBIRTH/n1",
                encode_payload([{"name": "bdSeq", "datatype": "Int64", "value": 0}], 0, T),
            ),
            _msg(
                "spBv1.0/g/DBIRTH/n1/d1",
                encode_payload([{"name": "temp", "datatype": "Double", "value": 1}], 1, T),
            ),
            _msg("spBv1.0/g/DDEATH/n1/d1", encode_payload([], None, T + 1000)),  # no seq
        ]
    )
    assert c.dead == {"n1/d1"} and c.buffer.rejected_count() == 0
    c.process(
        [
            _msg(
                "spBv1.0/g/DBIRTH/n1/d1",
                encode_payload([{"name": "temp", "datatype": "Double", "value": 2}], 2, T + 5000),
            )
        ]
    )
    gaps = [e for e in c.buffer.events() if e["event"] == "gap"]
    assert [(g["machine"], g["start_ts"], g["end_ts"]) for g in gaps] == [
        (M1, (T + 1000) * 1000, (T + 5000) * 1000)
    ]
    assert c.dead == set()


def test_data_names_without_the_births_prefix_are_matched_and_units_come_from_properties(tmp_path):
    c = _host(tmp_path, {"n1/d1/temp": PointMapping(machine=M1, name="temp")})
    birth = [{"name": "DATA/temp", "datatype": "Double", "value": 20.0, "properties": {"engUnit": "degC"}}]
    c.process(
        [
            _msg(
                "spBv1.0/g/NBIRTH/n1",
                encode_payload([{"name": "bdSeq", "datatype": "Int64", "value": 0}], 0, T),
            ),
            _msg("spBv1.0/g/DBIRTH/n1/d1", encode_payload(birth, 1, T)),
            _msg(
                "spBv1.0/g/DDATA/n1/d1",
                encode_payload([{"name": "temp", "datatype": "Double", "value": 21.5}], 2, T + 1),
            ),
        ]
    )
    rows = _pending(c)
    assert [r["value"] for r in rows] == [20.0, 21.5]
    assert rows[1]["ts"] == int((T + 1) * 1000)  # the data's own time, in microseconds
    assert c.nodes["n1"].units["d1"] == {"DATA/temp": "degC"}
    assert c.buffer.rejected_count() == 0 and c.gaps == 0


def test_sequence_state_is_committed_with_the_rows_and_checked_after_a_restart(tmp_path):
    points = {"n1/temp": PointMapping(machine=M1, name="temp")}
    c = _host(tmp_path, points)
    node_birth = [
        {"name": "bdSeq", "datatype": "Int64", "value": 3},
        {"name": "temp", "datatype": "Double", "value": 1},
    ]
    c.process([_msg("spBv1.0/g/NBIRTH/n1", encode_payload(node_birth, 0, T))])
    c.process(
        [
            _msg(
                "spBv1.0/g/NDATA/n1",
                encode_payload([{"name": "temp", "datatype": "Double", "value": 2}], 1, T + 1),
            )
        ]
    )
    c.buffer.close()
    again = _host(tmp_path, points)  # a new process: the next number is checked against the saved one
    again.process(
        [
            _msg(
                "spBv1.0/g/NDATA/n1",
                encode_payload([{"name": "temp", "datatype": "Double", "value": 3}], 2, T + 2),
            )
        ]
    )
    assert again.gaps == 0
    again.process(
        [
            _msg(
                "spBv1.0/g/NDATA/n1",
                encode_payload([{"name": "temp", "datatype": "Double", "value": 9}], 9, T + 9),
            )
        ]
    )
    again.idle()  # reorder window 0: 3..8 are lost at once
    (gap,) = [e for e in again.buffer.events() if e["event"] == "gap"]
    assert (gap["start_ts"], gap["end_ts"]) == ((T + 2) * 1000, (T + 9) * 1000)
    assert "6 message(s) lost (sequence numbers 3..8)" in gap["detail"]
    assert datetime.fromtimestamp(gap["start_ts"] / 1e6, tz=UTC).year == 2025


def test_messages_redelivered_after_a_restart_are_neither_gaps_nor_new_data(tmp_path):
    """QoS 1 redelivery (broker `upgrade_outgoing_qos`): a collector killed after committing but
    before acknowledging gets the same birth and data again; the numbering goes on without a gap."""
    points = {"n1/d1/temp": PointMapping(machine=M1, name="temp")}
    birth = [
        _msg(
            "spBv1.0/g/NBIRTH/n1", encode_payload([{"name": "bdSeq", "datatype": "Int64", "value": 4}], 0, T)
        ),
        _msg(
            "spBv1.0/g/DBIRTH/n1/d1",
            encode_payload([{"name": "temp", "datatype": "Double", "value": 1, "alias": 7}], 1, T),
        ),
    ]

    def data(seq: int) -> SimpleNamespace:
        metrics = [{"alias": 7, "datatype": "Double", "value": float(seq)}]
        return _msg("spBv1.0/g/DDATA/n1/d1", encode_payload(metrics, seq, T + seq))

    c = _host(tmp_path, points)
    c.process([*birth, *(data(s) for s in range(2, 6))])
    committed = [(r["ts"], r["value"]) for r in _pending(c)]
    c.buffer.close()
    again = _host(tmp_path, points)  # killed before the acknowledgements: all of it comes again
    again.process([*birth, *(data(s) for s in range(2, 9))])
    again.idle()  # reorder window 0: a number taken for missing would be a gap now
    assert again.gaps == 0 and again.rebirth_requests == 0
    assert [e for e in again.buffer.events() if e["event"] == "gap"] == []
    assert again.buffer.rejected_count() == 0
    rows = [(r["ts"], r["value"]) for r in _pending(again)]
    # the same rows again (the store keeps one per machine, name and time), then the new ones
    assert sorted(set(rows)) == sorted(set(committed) | {((T + s) * 1000, float(s)) for s in (6, 7, 8)})
    again.process([data(10)])
    again.idle()
    assert again.gaps == 1  # a real loss (9) is still seen after the redelivery
