"""The embedded DuckDB store: round trips, idempotent writes, rejected batches, Parquet, retention."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_commons.model import Machine, Shift, ShiftCalendar, parse_record
from factory_commons.store import BatchError, DuckDBStore, RetentionPolicy
from factory_commons.store.validate import prepare

LINE = "acme/plant1/machining/line1"
M1, M2, M3 = f"{LINE}/m1", f"{LINE}/m2", f"{LINE}/m3"
T0 = datetime(2026, 3, 2, 6, 0)  # naive = UTC, as the store reads it back


@pytest.fixture
def store(store_factory):
    return store_factory()  # DuckDB in memory and PostgreSQL (tests/conftest.py)


def ts(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def signals(rows) -> list[dict]:
    """rows: (machine, name, second, value)."""
    return [{"machine": m, "name": n, "ts": ts(t), "value": v, "unit": "mm/s"} for m, n, t, v in rows]


def count(s: DuckDBStore, table: str) -> int:
    return s.query(f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py()


def counts(s: DuckDBStore) -> dict[str, int]:
    return {
        t: count(s, t)
        for t in (
            "machines",
            "series",
            "signals",
            "states",
            "counts",
            "alarms",
            "quality",
            "orders",
            "watermarks",
        )
    }


def stored_signals(s: DuckDBStore) -> dict[tuple, float]:
    t = s.read("signal").to_pylist()
    return {(r["machine"], r["name"], r["ts"]): r["value"] for r in t}


# -- round trips ------------------------------------------------------------------------------
EXAMPLES = {
    "state": [
        {"machine": M1, "ts": ts(0), "state": "running", "reason_code": None, "order_id": "WO-1"},
        {
            "machine": M1,
            "ts": ts(60),
            "state": "unplanned_down",
            "reason_code": "공구 파손",
            "order_id": "WO-1",
        },
    ],
    "count": [
        {
            "machine": M1,
            "ts": ts(10),
            "good": 5,
            "scrap": 1,
            "rework": 2,
            "scrap_reason": "burr",
            "order_id": "WO-1",
        },
        {
            "machine": M2,
            "ts": ts(10),
            "good": 3,
            "scrap": 0,
            "rework": 0,
            "scrap_reason": None,
            "order_id": None,
        },
    ],
    "signal": [
        {"machine": M1, "name": "진동", "ts": ts(0), "value": 1.25, "unit": "mm/s"},
        {"machine": M1, "name": "load", "ts": ts(0), "value": -3.5, "unit": "%"},
    ],
    "alarm": [
        {
            "machine": M2,
            "ts": ts(5),
            "code": "E042",
            "severity": "critical",
            "message": "주축 과부하",
            "active": True,
        },
        {"machine": M2, "ts": ts(9), "code": "E042", "severity": "critical", "message": "", "active": False},
    ],
    "quality": [
        {
            "machine": M3,
            "ts": ts(30),
            "characteristic": "diameter",
            "value": 10.01,
            "lsl": 9.9,
            "usl": 10.1,
            "target": 10.0,
            "unit": "mm",
            "sample_id": "S1",
            "order_id": "WO-1",
        }
    ],
    "order": [
        {
            "order_id": "WO-1",
            "product": "브래킷",
            "quantity": 500,
            "ideal_cycle_time_s": 12.5,
            "machine": M1,
            "planned_start": ts(0),
            "due": ts(86400),
        },
        {
            "order_id": "WO-2",
            "product": "flange",
            "quantity": 10,
            "ideal_cycle_time_s": 3.0,
            "machine": None,
            "planned_start": None,
            "due": None,
        },
    ],
}


def _sorted(rows, kind):
    key = (lambda r: r["order_id"]) if kind == "order" else (lambda r: (r["machine"], r["ts"], str(r)))
    return sorted(rows, key=key)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_round_trip_per_kind(store, kind):
    rows = EXAMPLES[kind]
    r = store.write_table(kind, rows)
    assert (r.received, r.written, r.duplicates) == (len(rows), len(rows), 0)
    back = store.read(kind).to_pylist()
    assert _sorted(back, kind) == _sorted(rows, kind)
    again = store.write_table(kind, rows)
    assert again.written == 0 and again.duplicates == len(rows)
    assert _sorted(store.read(kind).to_pylist(), kind) == _sorted(rows, kind)


def test_write_records_of_mixed_kinds(store):
    recs = [parse_record({"kind": k, **r}) for k in ("state", "signal", "count") for r in EXAMPLES[k]]
    res = store.write(recs)
    assert {k: v.written for k, v in res.items()} == {"state": 2, "signal": 2, "count": 2}
    assert store.write(recs)["signal"].written == 0


def test_pandas_frame_with_time_zones_and_iso_strings(store):
    df = pd.DataFrame(
        {
            "machine": [M1, M1],
            "name": ["temp", "temp"],
            "ts": pd.to_datetime(["2026-03-02 15:00:00", "2026-03-02 15:00:01"]).tz_localize("Asia/Seoul"),
            "value": [20.0, 21.0],
        }
    )
    assert store.write_table("signal", df).written == 2
    assert store.read("signal").column("ts").to_pylist() == [ts(0), ts(1)]
    iso = [{"machine": M1, "name": "temp", "ts": "2026-03-02T15:00:00+09:00", "value": 99.0}]
    assert store.write_table("signal", iso).written == 0  # same instant, already stored


def test_read_filters(store):
    store.write_table(
        "signal", signals([(M1, "a", t, t) for t in range(10)] + [(M2, "a", t, t) for t in range(10)])
    )
    t = store.read("signal", start=ts(2), end=ts(5), machines=[M2])
    assert t.column("machine").to_pylist() == [M2] * 3
    assert t.column("value").to_pylist() == [2.0, 3.0, 4.0]
    assert (
        store.read("signal", start=datetime(2026, 3, 2, 15, 0, 8, tzinfo=UTC) + timedelta(hours=-9)).num_rows
        == 4
    )
    assert store.read("signal", machines=[]).num_rows == 0
    with pytest.raises(ValueError, match="unknown kind"):
        store.read("signals")


def test_machines_are_registered_and_attributes_kept(store):
    store.register_machines([Machine(path=M1, display_name="1호기", kind="cnc")])
    store.write_table("signal", signals([(M2, "a", 0, 1.0)]))
    store.register_machines([Machine(path=M1, calendar="day")])
    ms = {m.path: m for m in store.machines()}
    assert set(ms) == {M1, M2}
    assert (ms[M1].display_name, ms[M1].kind, ms[M1].calendar) == ("1호기", "cnc", "day")
    assert store.hierarchy() == {"acme": {"plant1": {"machining": {"line1": ["m1", "m2"]}}}}


def test_calendars_round_trip(store):
    cal = ShiftCalendar(
        name="주간", shifts=(Shift(name="day", start=time(8), end=time(17)),), holidays=(date(2026, 3, 1),)
    )
    store.save_calendar(cal)
    store.save_calendar(cal)
    assert store.calendars() == {"주간": cal}


# -- idempotency ------------------------------------------------------------------------------
def batch(n=20, machines=(M1, M2), names=("a", "b"), start=0, value=lambda m, k, t: float(t)):
    """Time-major, as a collector sends: every series at t, then every series at t+1."""
    return signals(
        [(m, k, t, value(m, k, t)) for t in range(start, start + n) for m in machines for k in names]
    )


def test_same_batch_twice(store):
    b = batch()
    assert store.write_table("signal", b).written == 80
    before = counts(store)
    assert store.write_table("signal", b).written == 0
    assert counts(store) == before


def test_overlapping_batches(store):
    assert store.write_table("signal", batch(n=10, start=0)).written == 40
    assert store.write_table("signal", batch(n=10, start=5)).written == 20  # t 10..14 are new
    assert store.write_table("signal", batch(n=30, start=0)).written == 60  # t 15..29 are new
    assert count(store, "signals") == 120
    assert store.write_table("signal", batch(n=3, start=7)).written == 0


def test_overlap_for_some_series_only(store):
    # m1 is at t=9, m2 only at t=4; the next time-major batch is partly new for m1, all new for m2
    store.write_table(
        "signal", signals([(M1, "a", t, 1.0) for t in range(10)] + [(M2, "a", t, 1.0) for t in range(5)])
    )
    r = store.write_table("signal", signals([(m, "a", t, 2.0) for t in range(5, 15) for m in (M1, M2)]))
    assert r.written == 5 + 10
    got = stored_signals(store)
    assert len(got) == 30
    assert got[(M1, "a", ts(7))] == 1.0  # first write wins
    assert got[(M2, "a", ts(7))] == 2.0


def test_shuffled_batch(store):
    b = batch()
    shuffled = b[:]
    random.Random(3).shuffle(shuffled)
    assert store.write_table("signal", shuffled).written == 80
    assert store.write_table("signal", b).written == 0
    random.Random(4).shuffle(shuffled)
    assert store.write_table("signal", shuffled).written == 0
    assert stored_signals(store) == {(r["machine"], r["name"], r["ts"]): r["value"] for r in b}


def test_within_batch_duplicates_first_row_wins(store):
    b = signals(
        [(M1, "a", 0, 1.0), (M1, "a", 1, 2.0), (M1, "a", 0, 3.0), (M2, "a", 0, 4.0), (M1, "a", 1, 5.0)]
    )
    r = store.write_table("signal", b)
    assert (r.written, r.duplicates) == (3, 2)
    assert stored_signals(store) == {(M1, "a", ts(0)): 1.0, (M1, "a", ts(1)): 2.0, (M2, "a", ts(0)): 4.0}


def test_rewrite_with_other_values_keeps_the_first(store):
    store.write_table("signal", batch(n=5))
    store.write_table("signal", batch(n=5, value=lambda m, k, t: -1.0))
    assert set(stored_signals(store).values()) == {0.0, 1.0, 2.0, 3.0, 4.0}


def test_batch_in_two_halves_in_reverse_order(store):
    b = batch(n=20)
    first, second = b[:40], b[40:]
    assert store.write_table("signal", second).written == 40
    assert store.write_table("signal", first).written == 40  # older than the watermark, yet new
    assert store.write_table("signal", b).written == 0
    assert store.write_table("signal", first).written == 0
    assert count(store, "signals") == 80


def test_events_with_null_key_parts_are_idempotent(store):
    rows = [
        {"machine": M1, "ts": ts(0), "good": 1},
        {"machine": M1, "ts": ts(0), "good": 2, "order_id": "WO-1"},  # same ts, other order: another row
        {"machine": M1, "ts": ts(0), "good": 9},  # same key as the first: dropped
    ]
    assert store.write_table("count", rows).written == 2
    assert store.write_table("count", rows).written == 0
    assert store.write_table("count", rows[::-1]).written == 0
    got = store.read("count").to_pylist()
    assert sorted((r["order_id"] or "", r["good"]) for r in got) == [("", 1), ("WO-1", 2)]


def test_state_key_is_machine_and_time(store):
    rows = [{"machine": M1, "ts": ts(t), "state": "running"} for t in range(3)]
    store.write_table("state", rows)
    assert store.write_table("state", [{"machine": M1, "ts": ts(1), "state": "idle"}]).written == 0
    assert store.write_table("state", [{"machine": M1, "ts": ts(1.5), "state": "idle"}]).written == 1


def test_idempotent_across_reopen(tmp_path: Path):
    path = tmp_path / "f.duckdb"
    with DuckDBStore(path) as s:
        s.write_table("signal", batch(n=10))
    with DuckDBStore(path) as s:
        assert s.write_table("signal", batch(n=10)).written == 0
        assert s.write_table("signal", batch(n=12)).written == 8
        assert s.write_table("signal", batch(n=5, machines=(M3,))).written == 10
        assert count(s, "signals") == 58


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from([M1, M2, M3]),
                st.sampled_from(["a", "진동"]),
                st.integers(0, 15),
                st.integers(-5, 5),
            ),
            max_size=30,
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_any_sequence_of_batches_keeps_the_first_write_of_each_key(batches, sort_time_major):
    expected: dict[tuple, float] = {}
    with DuckDBStore(":memory:") as s:
        for rows in batches:
            if sort_time_major:
                rows = sorted(rows, key=lambda r: (r[2], r[0], r[1]))
            written = 0
            for m, k, t, v in rows:
                if (m, k, ts(t)) not in expected:
                    expected[(m, k, ts(t))] = float(v)
                    written += 1
            assert s.write_table("signal", signals(rows)).written == written
        assert stored_signals(s) == expected


def test_dictionary_encoded_columns(store):
    plain = batch(n=10)
    t = pa.Table.from_pylist(plain)
    enc = t.set_column(0, "machine", t.column("machine").dictionary_encode()).set_column(
        1, "name", t.column("name").dictionary_encode()
    )
    assert pa.types.is_dictionary(enc.schema.field("machine").type)
    assert store.write_table("signal", enc).written == 40
    assert store.write_table("signal", plain).written == 0
    assert store.write_table("signal", enc).written == 0


def test_dictionary_chunks_with_different_dictionaries_and_unused_values(store):
    # each chunk has its own dictionary; the second holds a bad path that no row uses
    c1 = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int8()), pa.array([M1, M2]))
    c2 = pa.DictionaryArray.from_arrays(pa.array([1, 1], pa.int8()), pa.array(["not/a/path", M3]))
    t = pa.table(
        {
            "machine": pa.chunked_array([c1, c2]),
            "name": pa.array(["x"] * 5),
            "ts": pa.array([ts(0), ts(0), ts(1), ts(0), ts(1)], pa.timestamp("us")),
            "value": pa.array([1.0, 2.0, 3.0, 4.0, 5.0]),
        }
    )
    assert store.write_table("signal", t).written == 5
    assert {m.path for m in store.machines()} == {M1, M2, M3}
    assert stored_signals(store)[(M3, "x", ts(1))] == 5.0


def test_dictionary_with_a_bad_value_names_its_rows(store):
    arr = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0, 1]), pa.array([M1, "acme/plant1/m1"]))
    t = pa.table(
        {
            "machine": arr,
            "name": pa.array(["x", "x", "y", "y"]).dictionary_encode(),
            "ts": pa.array([ts(0)] * 4, pa.timestamp("us")),
            "value": [1.0] * 4,
        }
    )
    with pytest.raises(BatchError) as e:
        store.write_table("signal", t)
    assert [(p.row, p.field) for p in e.value.problems] == [(1, "machine"), (3, "machine")]
    assert "5 levels" in str(e.value)
    assert counts(store)["machines"] == 0


# -- rejected batches ---------------------------------------------------------------------------
def test_batch_error_names_row_and_field_and_nothing_is_written(store):
    store.write_table("signal", batch(n=3))
    before = counts(store)
    rows = batch(n=3, start=100, machines=(M3,))
    rows[4]["value"] = math.nan
    rows[5]["machine"] = "acme/plant1/line1/m9"
    with pytest.raises(BatchError) as e:
        store.write_table("signal", rows)
    msg = str(e.value)
    assert msg.startswith("signal batch rejected, nothing written: 2 problem(s) in 6 rows")
    assert "row 5, field 'value': must be a finite number, got nan" in msg
    assert "row 6, field 'machine': machine path 'acme/plant1/line1/m9' must have 5 levels" in msg
    assert counts(store) == before  # no rows, and no machine m3 or m9, no series, no watermark


@pytest.mark.parametrize(
    ("kind", "row", "field", "why"),
    [
        ("signal", {"machine": M1, "name": "a/b", "ts": ts(0), "value": 1.0}, "name", "'/'"),
        ("signal", {"machine": M1, "name": "", "ts": ts(0), "value": 1.0}, "name", "must not be empty"),
        ("signal", {"machine": M1, "name": "a", "ts": ts(0), "value": math.inf}, "value", "finite"),
        ("signal", {"machine": M1, "name": "a", "ts": "soon", "value": 1.0}, "ts", "cannot read 'soon'"),
        ("signal", {"machine": M1, "name": "a", "ts": None, "value": 1.0}, "ts", "missing"),
        ("signal", {"machine": "a/b/c/d/e+", "name": "a", "ts": ts(0), "value": 1.0}, "machine", "'+'"),
        (
            "signal",
            {"machine": M1, "name": "a", "ts": ts(0), "value": 1.0, "colour": "red"},
            "colour",
            "unknown column",
        ),
        ("signal", {"machine": M1, "ts": ts(0), "value": 1.0}, "name", "column is missing"),
        ("state", {"machine": M1, "ts": ts(0), "state": "sleeping"}, "state", "must be one of running"),
        ("count", {"machine": M1, "ts": ts(0), "good": -1}, "good", "must be >= 0"),
        ("count", {"machine": M1, "ts": ts(0), "good": 1, "rework": 2}, "rework", "cannot exceed good"),
        ("count", {"machine": M1, "ts": ts(0), "good": 0, "scrap": 0}, "good", "both 0"),
        ("alarm", {"machine": M1, "ts": ts(0), "code": "E1", "severity": "fatal"}, "severity", "critical"),
        ("alarm", {"machine": M1, "ts": ts(0), "code": ""}, "code", "must not be empty"),
        (
            "quality",
            {"machine": M1, "ts": ts(0), "characteristic": "d", "value": 1.0, "lsl": 2.0, "usl": 1.0},
            "lsl",
            "below usl",
        ),
        (
            "order",
            {"order_id": "WO", "product": "p", "quantity": 0, "ideal_cycle_time_s": 1.0},
            "quantity",
            ">= 1",
        ),
        (
            "order",
            {"order_id": "WO", "product": "p", "quantity": 1, "ideal_cycle_time_s": 1.0, "machine": ""},
            "machine",
            "5 levels",
        ),
    ],
)
def test_each_bad_field_is_reported(store, kind, row, field, why):
    good = EXAMPLES[kind][0]
    with pytest.raises(BatchError) as e:
        store.write_table(kind, [good, row] if set(row) == set(good) else [row])
    problems = [(p.field, p.why) for p in e.value.problems]
    assert any(f == field and why in w for f, w in problems), problems
    assert counts(store)["machines"] == 0


def test_a_field_first_seen_in_a_later_row_is_kept_or_reported(store):
    rows = [
        {"machine": M1, "ts": ts(0), "good": 1},
        {"machine": M1, "ts": ts(1), "good": 2, "order_id": "WO-1"},
    ]
    store.write_table("count", rows)
    assert store.read("count").column("order_id").to_pylist() == [None, "WO-1"]
    typo = [
        {"machine": M1, "ts": ts(2), "good": 1},
        {"machine": M1, "ts": ts(3), "good": 1, "oder_id": "WO-1"},
    ]
    with pytest.raises(BatchError, match="field 'oder_id': unknown column"):
        store.write_table("count", typo)


def test_words_among_numbers_are_reported_per_row(store):
    rows = [
        {"machine": M1, "name": "a", "ts": ts(t), "value": v} for t, v in enumerate([1.0, "lots", 3, "4.5"])
    ]
    with pytest.raises(BatchError) as e:
        store.write_table("signal", rows)
    assert [(p.row, p.field) for p in e.value.problems] == [(1, "value")]
    assert "cannot read 'lots' as double" in str(e.value)
    rows = [{"machine": M1, "ts": ts(t), "good": g} for t, g in enumerate([1, "2", "2.5"])]
    with pytest.raises(BatchError, match="row 3, field 'good': cannot read '2.5' as int64"):
        store.write_table("count", rows)


def test_unknown_kind(store):
    with pytest.raises(ValueError, match="unknown record kind 'signals'"):
        store.write_table("signals", [])


def test_empty_batch(store):
    assert store.write_table("signal", []).written == 0


def test_failure_inside_the_write_rolls_back_everything(store, monkeypatch):
    store.write_table("signal", batch(n=2))
    before = counts(store)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_insert_events", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        store.write_table("signal", batch(n=2, machines=(M3,), names=("new",)))
    monkeypatch.undo()
    assert counts(store) == before  # machine m3 and its series rolled back too
    # and the id caches did not keep the rolled-back ids
    assert store.write_table("signal", batch(n=2, machines=(M3,), names=("new",))).written == 2
    assert stored_signals(store)[(M3, "new", ts(1))] == 1.0


def test_prepare_keeps_names_dictionary_encoded():
    t, problems = prepare("signal", batch(n=3))
    assert problems == []
    assert pa.types.is_dictionary(t.schema.field("machine").type)
    assert t.column("machine").to_pylist()[:2] == [M1, M1]


# -- Korean text -----------------------------------------------------------------------------------
def test_cp949_csv_text_survives(store, tmp_path: Path):
    machine = "한빛정밀/창원공장/가공동/1라인/똠방-01"  # 똠 is in CP949 but not in EUC-KR
    csv = tmp_path / "export_from_excel.csv"
    csv.write_bytes(
        (
            "machine,ts,state,reason_code\r\n"
            f"{machine},2026-03-02 06:00:00,unplanned_down,공구 파손\r\n"
            f"{machine},2026-03-02 06:05:00,running,\r\n"
        ).encode("cp949")
    )
    df = pd.read_csv(csv, encoding="cp949", parse_dates=["ts"])
    assert store.write_table("state", df).written == 2
    back = store.read("state").to_pylist()
    assert [r["machine"] for r in back] == [machine, machine]
    assert back[0]["reason_code"] == "공구 파손"
    assert back[0]["reason_code"].encode("cp949") == "공구 파손".encode("cp949")
    assert store.machines()[0].path == machine
    assert store.write_table("state", df).written == 0


# -- Parquet --------------------------------------------------------------------------------------
def _fill(s: DuckDBStore) -> None:
    s.register_machines([Machine(path=M1, display_name="1호기", kind="cnc", default_ideal_cycle_time_s=30)])
    s.save_calendar(ShiftCalendar(name="주간", shifts=(Shift(name="day", start=time(8), end=time(17)),)))
    for kind, rows in EXAMPLES.items():
        s.write_table(kind, rows)
    old = [{**r, "ts": r["ts"] - timedelta(days=60), "value": float(i)} for i, r in enumerate(batch(n=90))]
    s.write_table("signal", old)
    s.apply_retention(RetentionPolicy(raw_signal_days=30), now=T0)


def _snapshot(s: DuckDBStore) -> dict:
    snap = {
        k: _sorted(s.read(k).to_pylist(), k)
        for k in ("state", "count", "signal", "alarm", "quality", "order")
    }
    snap["signal_1m"] = sorted(
        s.read("signal_1m").to_pylist(), key=lambda r: (r["machine"], r["name"], r["ts"])
    )
    snap["machines"] = s.machines()
    snap["calendars"] = s.calendars()
    return snap


def test_parquet_export_import_round_trip(tmp_path: Path):
    with DuckDBStore(tmp_path / "a.duckdb") as a:
        _fill(a)
        exported = a.export_parquet(tmp_path / "export")
        snap = _snapshot(a)
    assert exported["signals_1m"] > 0 and exported["signals"] == 2
    assert snap["signal_1m"] and snap["calendars"]
    with DuckDBStore(tmp_path / "b.duckdb") as b:
        added = b.import_parquet(tmp_path / "export")
        assert added["signals"] == 2 and added["signals_1m"] == exported["signals_1m"]
        assert _snapshot(b) == snap
        before = counts(b)
        again = b.import_parquet(tmp_path / "export")
        assert set(again.values()) == {0}, again
        assert counts(b) == before
        assert _snapshot(b) == snap


def test_import_into_the_store_it_came_from_adds_nothing(tmp_path: Path):
    with DuckDBStore(tmp_path / "a.duckdb") as a:
        _fill(a)
        a.export_parquet(tmp_path / "export")
        before = counts(a)
        assert set(a.import_parquet(tmp_path / "export").values()) == {0}
        assert counts(a) == before


@pytest.mark.parametrize("content", [None, "notes.txt", "signals.parquet"])
def test_import_of_a_folder_that_is_not_an_export(store, tmp_path: Path, content):
    folder = tmp_path / "not_an_export"
    folder.mkdir()
    if content:
        (folder / content).write_text("hello")
    with pytest.raises(FileNotFoundError, match="no machines.parquet here; is this a Factory Commons export"):
        store.import_parquet(folder)
    with pytest.raises(FileNotFoundError, match="machines.parquet"):
        store.import_parquet(tmp_path / "missing")


# -- retention -------------------------------------------------------------------------------------
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OLD = datetime(2026, 1, 1, 10, 0)  # 60 days before NOW


def test_retention_downsamples_old_signals(store):
    rows = [  # two minutes of one series, one minute of another, and recent rows
        {"machine": M1, "name": "a", "ts": OLD + timedelta(seconds=s), "value": float(s)}
        for s in range(0, 120, 10)
    ] + [{"machine": M2, "name": "b", "ts": OLD + timedelta(seconds=s), "value": -1.0} for s in (0, 30)]
    recent = [{"machine": M1, "name": "a", "ts": NOW.replace(tzinfo=None) - timedelta(hours=1), "value": 7.0}]
    store.write_table("signal", rows + recent)
    rep = store.apply_retention(RetentionPolicy(raw_signal_days=30), now=NOW)
    assert rep.downsampled_rows == 14
    assert rep.aggregates_written == 3
    assert rep.deleted["signals"] == 14
    agg = store.read("signal_1m").to_pylist()
    assert [(r["machine"], r["name"], r["ts"], r["n"], r["min"], r["max"], r["mean"]) for r in agg] == [
        (M1, "a", OLD, 6, 0.0, 50.0, 25.0),
        (M1, "a", OLD + timedelta(minutes=1), 6, 60.0, 110.0, 85.0),
        (M2, "b", OLD, 2, -1.0, -1.0, -1.0),
    ]
    assert agg[0]["unit"] is None
    assert store.read("signal").column("value").to_pylist() == [7.0]  # raw old rows are gone

    # running it again changes nothing
    rep2 = store.apply_retention(RetentionPolicy(raw_signal_days=30), now=NOW)
    assert (rep2.downsampled_rows, rep2.aggregates_written, rep2.deleted["signals"]) == (0, 0, 0)
    assert store.read("signal_1m").to_pylist() == agg


def test_late_raw_rows_merge_into_an_existing_bucket(store):
    store.write_table(
        "signal",
        [{"machine": M1, "name": "a", "ts": OLD + timedelta(seconds=s), "value": float(s)} for s in (0, 10)],
    )
    store.apply_retention(RetentionPolicy(raw_signal_days=30), now=NOW)
    late = [
        {"machine": M1, "name": "a", "ts": OLD + timedelta(seconds=20), "value": 50.0},
        {"machine": M1, "name": "a", "ts": OLD + timedelta(seconds=5), "value": -10.0},
        {"machine": M1, "name": "a", "ts": OLD + timedelta(minutes=5), "value": 3.0},  # a new bucket
    ]
    assert store.write_table("signal", late).written == 3
    rep = store.apply_retention(RetentionPolicy(raw_signal_days=30), now=NOW)
    assert (rep.downsampled_rows, rep.aggregates_written) == (3, 1)
    agg = [(r["ts"], r["n"], r["min"], r["max"], r["mean"]) for r in store.read("signal_1m").to_pylist()]
    assert agg == [
        (OLD, 4, -10.0, 50.0, (0 + 10 + 50 - 10) / 4),
        (OLD + timedelta(minutes=5), 1, 3.0, 3.0, 3.0),
    ]
    assert count(store, "signals") == 0


@pytest.mark.xfail(
    strict=True,
    reason="known limit: once raw rows are rolled up, a replay of them looks like late rows "
    "and is merged again (the raw keys are gone, so a replay cannot be told from late data)",
)
def test_replay_after_retention_is_not_counted_twice(store):
    rows = [{"machine": M1, "name": "a", "ts": OLD + timedelta(seconds=s), "value": 1.0} for s in (0, 10)]
    store.write_table("signal", rows)
    store.apply_retention(RetentionPolicy(raw_signal_days=30), now=NOW)
    store.write_table("signal", rows)  # a collector replaying its buffer after a crash
    store.apply_retention(RetentionPolicy(raw_signal_days=30), now=NOW)
    assert store.read("signal_1m").column("n").to_pylist() == [2]


def test_id_major_batches_take_the_fast_path_too(store):
    b = sorted(batch(n=10), key=lambda r: (r["machine"], r["name"], r["ts"]))
    assert store.write_table("signal", b).written == 40
    assert store.write_table("signal", b).written == 0
    assert (
        store.write_table(
            "signal", sorted(batch(n=12), key=lambda r: (r["machine"], r["name"], r["ts"]))
        ).written
        == 8
    )


def test_retention_cuts_on_whole_minutes(store):
    # NOW - 30 days = 2026-01-31 12:00:00; a bucket that straddles the cutoff is never split
    cutoff = datetime(2026, 1, 31, 12, 0)
    rows = [
        {"machine": M1, "name": "a", "ts": cutoff + timedelta(seconds=s), "value": 1.0} for s in (-30, 0, 30)
    ]
    store.write_table("signal", rows)
    store.apply_retention(RetentionPolicy(raw_signal_days=30), now=NOW + timedelta(seconds=45))
    assert [r["ts"] for r in store.read("signal_1m").to_pylist()] == [cutoff - timedelta(minutes=1)]
    assert count(store, "signals") == 2


def test_retention_of_events_and_aggregates(store):
    store.write_table(
        "state",
        [{"machine": M1, "ts": OLD, "state": "running"}, {"machine": M1, "ts": ts(0), "state": "idle"}],
    )
    store.write_table("signal", [{"machine": M1, "name": "a", "ts": OLD, "value": 1.0}])
    rep = store.apply_retention(RetentionPolicy(raw_signal_days=1, aggregate_days=30, event_days=30), now=NOW)
    assert rep.deleted["states"] == 1 and rep.deleted["signals_1m"] == 1
    assert count(store, "signals_1m") == 0
    assert store.read("state").column("state").to_pylist() == ["idle"]
