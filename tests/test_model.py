"""The standard model: records, hierarchy and UNS topics, shift calendars."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from factory_commons.model import (
    RECORD_TYPES,
    Machine,
    PlannedBreak,
    RecordError,
    Shift,
    ShiftCalendar,
    Signal,
    parse_machine_path,
    parse_record,
    timeline_table,
    uns_topic,
)

M = "acme/plant1/press/line1/p01"
KM = "한빛정밀/창원공장/가공동/1라인/CNC-01"
T = "2024-03-04T08:00:00+09:00"

VALID = {
    "state": {"kind": "state", "ts": T, "machine": M, "state": "unplanned_down", "reason_code": "tool"},
    "count": {"kind": "count", "ts": T, "machine": M, "good": 10, "scrap": 1, "rework": 2},
    "signal": {"kind": "signal", "ts": T, "machine": M, "name": "spindle_load", "value": 41.5, "unit": "%"},
    "alarm": {"kind": "alarm", "ts": T, "machine": M, "code": "E042", "severity": "critical"},
    "order": {
        "kind": "order",
        "order_id": "WO-1",
        "product": "bracket",
        "quantity": 500,
        "ideal_cycle_time_s": 12,
    },
    "quality": {
        "kind": "quality",
        "ts": T,
        "machine": M,
        "characteristic": "diameter",
        "value": 10.01,
        "lsl": 9.9,
        "usl": 10.1,
    },
    "anomaly": {
        "kind": "anomaly",
        "ts": T,
        "machine": M,
        "detector": "pca",
        "score": 12.5,
        "threshold": 4.0,
        "evidence": {"vibration": 0.75, "load": 0.25},
    },
}


def test_every_kind_has_a_valid_example():
    assert set(VALID) == set(RECORD_TYPES)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_record_kind_validates(kind):
    rec = parse_record(VALID[kind])
    assert rec.kind == kind
    assert type(rec) is RECORD_TYPES[kind]
    if hasattr(rec, "ts"):  # normalised to UTC
        assert rec.ts == datetime(2024, 3, 3, 23, 0, tzinfo=UTC)


def test_naive_timestamp_is_utc():
    rec = parse_record({**VALID["signal"], "ts": "2024-03-04T08:00:00"})
    assert rec.ts == datetime(2024, 3, 4, 8, 0, tzinfo=UTC)


def bad(kind: str, **change):
    data = {**VALID[kind], **change}
    return {k: v for k, v in data.items() if v is not ...}


BAD = [
    # (record, field named, words in the reason)
    (bad("state", machine="acme/plant1/line1/p01"), "machine", "5 levels"),
    (bad("state", machine="acme/plant1/press/line1/p01/x"), "machine", "5 levels"),
    (bad("state", machine="acme//press/line1/p01"), "machine", "site name must not be empty"),
    (bad("state", machine="acme/plant1/press/line1/"), "machine", "machine name must not be empty"),
    (bad("state", machine="acme/plant+1/press/line1/p01"), "machine", "'+'"),
    (bad("state", machine="acme/plant1/press/line#1/p01"), "machine", "'#'"),
    (bad("state", machine=" acme/plant1/press/line1/p01"), "machine", "spaces"),
    (bad("state", machine=...), "machine", "required"),
    (bad("state", state="sleeping"), "state", "running"),
    (bad("state", reason_code=""), "reason_code", "at least 1"),
    (bad("signal", name=""), "name", "at least 1"),
    (bad("signal", name="a/b"), "name", "'/'"),
    (bad("signal", name="load+"), "name", "'+'"),
    (bad("signal", name="#"), "name", "'#'"),
    (bad("signal", value=math.nan), "value", "finite"),
    (bad("signal", value=math.inf), "value", "finite"),
    (bad("signal", value=-math.inf), "value", "finite"),
    (bad("signal", value="lots"), "value", "number"),
    (bad("signal", ts="yesterday"), "ts", "datetime"),
    (bad("signal", colour="red"), "colour", "not permitted"),
    (bad("count", good=-1), "good", "greater than or equal to 0"),
    (bad("count", scrap=-1), "scrap", "greater than or equal to 0"),
    (bad("count", rework=-1), "rework", "greater than or equal to 0"),
    (bad("count", rework=11), "rework", "cannot exceed good"),
    (bad("count", good=1.5), "good", "integer"),
    (bad("quality", lsl=10.1), "usl", "lsl (10.1) must be below usl (10.1)"),
    (bad("quality", lsl=11.0), "usl", "must be below usl"),
    (bad("quality", value=math.nan), "value", "finite"),
    (bad("quality", usl=math.inf), "usl", "finite"),
    (bad("quality", target=math.nan), "target", "finite"),
    (bad("alarm", severity="fatal"), "severity", "critical"),
    (bad("alarm", code=""), "code", "at least 1"),
    (bad("order", quantity=0), "quantity", "greater than 0"),
    (bad("order", ideal_cycle_time_s=0), "ideal_cycle_time_s", "greater than 0"),
    (bad("order", ideal_cycle_time_s=math.inf), "ideal_cycle_time_s", "finite"),
    (bad("order", order_id=""), "order_id", "at least 1"),
    (bad("order", machine="a/b"), "machine", "5 levels"),
]


@pytest.mark.parametrize(("data", "field", "why"), BAD, ids=[f"{d['kind']}-{f}-{w}" for d, f, w in BAD])
def test_bad_field_is_named_with_the_reason(data, field, why):
    with pytest.raises(RecordError) as e:
        parse_record(data, where="line 7: ")
    msg = str(e.value)
    assert msg.startswith("line 7: ")
    assert f"field '{field}'" in msg
    assert why in msg


def test_count_needs_parts():
    with pytest.raises(RecordError, match="good or scrap"):
        parse_record(bad("count", good=0, scrap=0, rework=0))
    assert parse_record(bad("count", good=0, scrap=3, rework=0)).scrap == 3


@pytest.mark.parametrize("kind", [None, "bogus", "signals", 3])
def test_bad_kind(kind):
    with pytest.raises(RecordError, match="field 'kind': must be one of state, count, signal"):
        parse_record({**VALID["signal"], "kind": kind})


def test_not_a_mapping():
    with pytest.raises(RecordError, match="must be an object"):
        parse_record(["signal"])  # type: ignore[arg-type]


def test_records_are_frozen():
    rec = parse_record(VALID["signal"])
    with pytest.raises(ValidationError):
        rec.value = 1.0  # type: ignore[misc]


# -- Korean --------------------------------------------------------------------------------
def test_korean_names_everywhere():
    m = Machine(path=KM, display_name="1호기 CNC 선반", kind="cnc")
    assert m.levels == {
        "enterprise": "한빛정밀",
        "site": "창원공장",
        "area": "가공동",
        "line": "1라인",
        "machine": "CNC-01",
    }
    assert m.line_path == "한빛정밀/창원공장/가공동/1라인"
    s = parse_record(
        {"kind": "state", "ts": T, "machine": KM, "state": "unplanned_down", "reason_code": "공구 파손"}
    )
    assert s.reason_code == "공구 파손"
    sig = Signal(ts=T, machine=KM, name="진동", value=3.2, unit="mm/s")
    assert sig.name == "진동"
    assert m.topic("signal", "진동") == "한빛정밀/창원공장/가공동/1라인/CNC-01/signal/진동"
    a = parse_record({"kind": "alarm", "ts": T, "machine": KM, "code": "과부하", "message": "주축 과부하"})
    assert a.message == "주축 과부하"


def test_korean_name_with_forbidden_character_is_still_rejected():
    with pytest.raises(RecordError, match="'#'"):
        parse_record({**VALID["signal"], "machine": KM, "name": "진동#2"})


# -- hierarchy and topics ---------------------------------------------------------------------
def test_parse_machine_path():
    assert parse_machine_path(M) == ("acme", "plant1", "press", "line1", "p01")
    with pytest.raises(ValueError, match="must be a string"):
        parse_machine_path(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="found 1"):
        parse_machine_path("")


def test_uns_topic():
    assert uns_topic(M, "signal", "spindle_load") == f"{M}/signal/spindle_load"
    assert uns_topic(M, "state", "current") == f"{M}/state/current"
    for name in ("a/b", "a+b", "a#", "", " x"):
        with pytest.raises(ValueError):
            uns_topic(M, "signal", name)
    with pytest.raises(ValueError, match="kind"):
        uns_topic(M, "sig/nal", "x")
    with pytest.raises(ValueError, match="5 levels"):
        uns_topic("acme/plant1", "signal", "x")


def test_machine_model():
    with pytest.raises(ValidationError, match="5 levels"):
        Machine(path="a/b/c")
    with pytest.raises(ValidationError, match="greater than 0"):
        Machine(path=M, default_ideal_cycle_time_s=0)


def test_every_json_schema_is_valid_json():
    for kind, cls in RECORD_TYPES.items():
        schema = cls.model_json_schema()
        text = json.dumps(schema, ensure_ascii=False)
        back = json.loads(text)
        assert back["type"] == "object"
        assert "kind" in back["properties"], kind
    for cls in (Machine, ShiftCalendar):
        json.loads(json.dumps(cls.model_json_schema()))


# -- shift calendars ----------------------------------------------------------------------------
DAY = Shift(
    name="day",
    start=time(8),
    end=time(17),
    breaks=(PlannedBreak(name="lunch", start=time(12), end=time(13)),),
)
NIGHT = Shift(name="night", start=time(22), end=time(6))


def test_overlapping_shifts_rejected():
    late = Shift(name="late", start=time(16), end=time(23))
    with pytest.raises(ValidationError, match="'day' and 'late' overlap"):
        ShiftCalendar(shifts=(DAY, late))
    early = Shift(name="early", start=time(5), end=time(9), days=("tue",))
    with pytest.raises(ValidationError, match="overlap"):  # Monday's night shift runs until 06:00 Tuesday
        ShiftCalendar(shifts=(NIGHT, early))
    # back to back is fine, and so is an overlap on days where only one of them runs
    ShiftCalendar(shifts=(DAY, Shift(name="late", start=time(17), end=time(22))))
    ShiftCalendar(shifts=(DAY, Shift(name="sat", start=time(7), end=time(12), days=("sat",))))


@pytest.mark.parametrize(("start", "end"), [(time(18), time(19)), (time(7), time(9)), (time(16), time(18))])
def test_break_outside_shift_rejected(start, end):
    with pytest.raises(ValidationError, match="not inside shift 'day'"):
        Shift(name="day", start=time(8), end=time(17), breaks=(PlannedBreak(name="b", start=start, end=end),))


def test_break_at_the_edges_of_a_shift():
    s = Shift(
        name="day",
        start=time(8),
        end=time(17),
        breaks=(
            PlannedBreak(name="meeting", start=time(8), end=time(8, 15)),
            PlannedBreak(name="clean", start=time(16, 30), end=time(17)),
        ),
    )
    cal = ShiftCalendar(timezone="UTC", shifts=(s,))
    tl = cal.timeline(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, 23, tzinfo=UTC))
    got = [(ts.strftime("%H:%M"), status) for ts, status, _, _ in tl]
    assert got == [
        ("00:00", "off"),
        ("08:00", "break"),
        ("08:15", "work"),
        ("16:30", "break"),
        ("17:00", "off"),
    ]


def test_break_inside_night_shift_after_midnight():
    s = Shift(
        name="night",
        start=time(22),
        end=time(6),
        breaks=(PlannedBreak(name="meal", start=time(2), end=time(2, 30)),),
    )
    assert s.length == timedelta(hours=8)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "KST", "", "Asia/Seoul/x"])
def test_unknown_time_zone_rejected(tz):
    with pytest.raises(ValidationError, match="unknown time zone"):
        ShiftCalendar(timezone=tz, shifts=(DAY,))


def test_bad_weekday_rejected():
    with pytest.raises(ValidationError, match="day 'monday'"):
        Shift(name="x", start=time(8), end=time(9), days=("monday",))


def test_a_calendar_needs_a_shift():
    with pytest.raises(ValidationError):
        ShiftCalendar(shifts=())


def _utc(*a):
    return datetime(*a, tzinfo=UTC)


def test_timeline_across_midnight_and_holiday():
    # Seoul is UTC+9. Monday 2024-01-01 .. Thursday; Wednesday 2024-01-03 is a holiday.
    cal = ShiftCalendar(timezone="Asia/Seoul", shifts=(DAY, NIGHT), holidays=(date(2024, 1, 3),))
    tl = cal.timeline(_utc(2024, 1, 1, 0), _utc(2024, 1, 4, 0))
    assert tl == [
        (_utc(2023, 12, 31, 23), "work", "day", date(2024, 1, 1)),  # Mon 08:00 KST, at or before start
        (_utc(2024, 1, 1, 3), "break", "day", date(2024, 1, 1)),
        (_utc(2024, 1, 1, 4), "work", "day", date(2024, 1, 1)),
        (_utc(2024, 1, 1, 8), "off", None, None),
        (_utc(2024, 1, 1, 13), "work", "night", date(2024, 1, 1)),  # Mon 22:00 KST
        (_utc(2024, 1, 1, 21), "off", None, None),  # Tue 06:00 KST, still Monday's production day
        (_utc(2024, 1, 1, 23), "work", "day", date(2024, 1, 2)),
        (_utc(2024, 1, 2, 3), "break", "day", date(2024, 1, 2)),
        (_utc(2024, 1, 2, 4), "work", "day", date(2024, 1, 2)),
        (_utc(2024, 1, 2, 8), "off", None, None),
        (_utc(2024, 1, 2, 13), "work", "night", date(2024, 1, 2)),
        (_utc(2024, 1, 2, 21), "off", None, None),
        # Wednesday the 3rd is a holiday: no day shift, no night shift
        (_utc(2024, 1, 3, 23), "work", "day", date(2024, 1, 4)),
    ]


def test_back_to_back_shifts_have_no_gap():
    a = Shift(name="a", start=time(6), end=time(14))
    b = Shift(name="b", start=time(14), end=time(22))
    cal = ShiftCalendar(timezone="UTC", shifts=(a, b))
    tl = cal.timeline(_utc(2024, 1, 1, 0), _utc(2024, 1, 2, 0))
    assert [(ts.hour, st, sh) for ts, st, sh, _ in tl] == [
        (0, "off", None),
        (6, "work", "a"),
        (14, "work", "b"),
        (22, "off", None),
    ]


def test_timeline_in_a_dst_zone():
    # Berlin: CET (UTC+1) until 02:00 on Sunday 2024-03-31, then CEST (UTC+2).
    night = Shift(name="night", start=time(22), end=time(6), days=("sat",))
    day = Shift(name="day", start=time(6), end=time(14), days=("sat", "sun", "mon"))
    cal = ShiftCalendar(timezone="Europe/Berlin", shifts=(day, night))
    tl = cal.timeline(_utc(2024, 3, 30, 0), _utc(2024, 4, 2, 0))
    work = [(ts, st, sh, d) for ts, st, sh, d in tl if st == "work"]
    assert work == [
        (_utc(2024, 3, 30, 5), "work", "day", date(2024, 3, 30)),
        (_utc(2024, 3, 30, 21), "work", "night", date(2024, 3, 30)),  # 22:00 CET
        (_utc(2024, 3, 31, 4), "work", "day", date(2024, 3, 31)),  # 06:00 CEST: the night had 7 hours
        (_utc(2024, 4, 1, 4), "work", "day", date(2024, 4, 1)),
    ]
    # the night shift hands over to the day shift at 06:00 local without an 'off' in between
    i = tl.index(work[1])
    assert tl[i + 1] == work[2]


def test_timeline_table():
    cal = ShiftCalendar(name="seoul", timezone="Asia/Seoul", shifts=(DAY,))
    t = timeline_table([cal], _utc(2024, 1, 1), _utc(2024, 1, 2))
    assert t.column_names == ["calendar", "ts", "status", "shift", "day"]
    assert set(t.column("calendar").to_pylist()) == {"seoul"}
    assert t.column("ts").type.tz is None
