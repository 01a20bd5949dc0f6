"""What a newcomer tripped on when following the docs with files of their own (Korean and English).

Each test failed before its fix: an English work-order export with capitalised headers
(Symptom, Cause, Machine type); a gateway's JSON with plant-time stamps and no zone, stored
nine hours off with nothing said (MQTT `timezone`, and `collect discover` writing it); a current
sensor's file (`ts,current_a`, the retrofit format) imported as a signal `current_a` that
`retrofit learn` never finds; `retrofit infer --csv` refusing Korean headers (시각, 전류(A)) and
counting 2 Hz samples written to the whole second as fewer cycles, with nothing said.
"""

from __future__ import annotations

import json
import random
import re
import tomllib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.config import PlantConfig
from factory_commons.collect.discover import Discovery
from factory_commons.collect.files import import_file
from factory_commons.collect.files_guess import guess_mapping
from factory_commons.collect.files_mapping import parse_mapping
from factory_commons.collect.mqtt import MqttConnector
from factory_commons.knowhow.files import CaseFileError, read_cases
from factory_commons.retrofit.records import current_machines
from factory_commons.store import DuckDBStore

M = "acme/changwon/press/line-2/press-03"


def test_english_export_headers_in_any_case_fill_the_fields(tmp_path):
    """`Symptom`, `Machine type`, `Work order`, `Action taken` are the fields the docs name,
    written as an English CMMS export writes them; before, every row was refused."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "Work order,Machine,Machine Type,Symptom,Root cause,Action taken,Date,Shift\n"
        "E-100,Press 5,hydraulic press,oil dripping under the ram,worn rod seal,replaced seal,2024-01-10,B\n",
        encoding="utf-8",
    )
    (c,) = read_cases(path)
    assert (c.ref, c.machine, c.machine_type, c.symptom, c.cause, c.action) == (
        "E-100",
        "Press 5",
        "hydraulic press",
        "oil dripping under the ram",
        "worn rod seal",
        "replaced seal",
    )
    assert c.occurred.date().isoformat() == "2024-01-10" and c.extra == {"Shift": "B"}
    own = tmp_path / "own.csv"
    own.write_text("symptom,Symptom\nleak,drip\n", encoding="utf-8")
    (d,) = read_cases(own)
    assert d.symptom == "leak" and d.extra == {"Symptom": "drip"}
    ids = tmp_path / "ids.csv"
    ids.write_text("ID,Symptom\n1,leak\n", encoding="utf-8")
    (e,) = read_cases(ids)
    assert e.id != "1" and e.extra == {"ID": "1"}


def test_an_excel_export_with_numbers_dates_and_minutes_to_fix(tmp_path):
    """Excel gives numbers and dates as such; 수리시간(분) is the time to fix (was kept as text in extra)."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(
        ["작업지시번호", "설비", "증상", "원인", "조치 내용", "발생일", "수리시간(분)", "Repair time (min)"]
    )
    wb.active.append(
        [
            2301,
            "프레스 3호기",
            "바닥에 기름 흥건",
            "패킹 마모",
            "패킹 교체",
            datetime(2023, 3, 14, 9, 30),
            45,
            50,
        ]
    )
    wb.save(tmp_path / "orders.xlsx")
    (c,) = read_cases(tmp_path / "orders.xlsx")
    assert (c.ref, c.occurred, c.time_to_fix_min) == ("2301", datetime(2023, 3, 14, 9, 30), 45)
    assert c.extra == {"Repair time (min)": "50"}  # one column per field: the first one fills it


def test_a_file_without_any_text_column_says_so_once_with_its_columns(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("번호,내용A,내용B\n1,a,b\n2,c,d\n", encoding="utf-8")
    with pytest.raises(CaseFileError) as e:
        read_cases(path)
    assert len(e.value.problems) == 1
    assert "번호, 내용A, 내용B" in str(e.value) and "증상" in str(e.value)


def _mqtt(tmp_path, zone_line: str) -> MqttConnector:
    tmp_path.mkdir()
    (tmp_path / "plant.toml").write_text(
        f"""
[collector]
store = "s.duckdb"

[[mqtt]]
name = "gw"
topics = ["acme/#"]
{zone_line}

[mqtt.points."gw/press03/temp"]
machine = "{M}"
name = "temp"

[mqtt.payloads."gw/+/press-3"]
timestamp = "time"
fields."temp" = {{ machine = "{M}", name = "oil_temp" }}
""",
        encoding="utf-8",
    )
    plant = PlantConfig.from_toml(tmp_path / "plant.toml")
    return MqttConnector.from_source(plant.sources[0][1], Buffer(tmp_path / "b.sqlite"))


def _times(c: MqttConnector, messages: list[tuple[str, dict]]) -> list[datetime]:
    c.process(
        [
            SimpleNamespace(topic=t, payload=json.dumps(p).encode(), qos=1, mid=i)
            for i, (t, p) in enumerate(messages)
        ]
    )
    rows = [r for p in c.buffer.take() for r in p.rows]
    assert c.buffer.rejected_count() == 0
    return [datetime.fromtimestamp(r["ts"] / 1e6, UTC) for r in rows]


MESSAGES = [
    ("gw/a/press-3", {"time": "2026-12-08 08:00:00", "temp": 41.5}),  # a payload with several fields
    ("gw/press03/temp", {"value": 42.0, "ts": "2026-12-08T08:01:00"}),  # a bare value with its time
    (f"{M}/signal/temp", {"ts": "2026-12-08T08:02:00", "value": 43.0}),  # a UNS record
    ("gw/a/press-3", {"time": "2026-12-08T08:03:00+09:00", "temp": 44.0}),  # a zone given wins
]


def test_mqtt_times_without_a_zone_are_read_in_the_sources_timezone(tmp_path):
    kst = _times(_mqtt(tmp_path / "kst", 'timezone = "Asia/Seoul"'), MESSAGES)
    assert kst == [datetime(2026, 12, 7, 23, m, tzinfo=UTC) for m in range(4)]
    utc = _times(_mqtt(tmp_path / "utc", ""), MESSAGES)  # the default is unchanged: UTC
    assert utc[:3] == [datetime(2026, 12, 8, 8, m, tzinfo=UTC) for m in range(3)]
    assert utc[3] == datetime(2026, 12, 7, 23, 3, tzinfo=UTC)
    with pytest.raises(Exception, match="Asia/Sel"):
        _mqtt(tmp_path / "bad", 'timezone = "Asia/Sel"')


def test_discover_snippet_names_the_zone_of_times_written_without_one():
    d = Discovery("127.0.0.1", 1883, 8.0)
    d._plain("gw/gw1/press-3", json.dumps({"time": "2026-12-08 08:00:00", "temp": 71.5}).encode())
    d._plain("gw/gw1/cnc-1", json.dumps({"ts": 1765152000000, "load": 3.0}).encode())
    text = d.snippet(M)
    data = tomllib.loads(text)
    assert data["mqtt"][0]["timezone"] == "Asia/Seoul"
    assert "시간대" in text and "no zone" in text and "설비 경로" in text
    data["collector"] = {"store": "x.duckdb"}
    PlantConfig.from_dict(data, "snippet")
    zoned = Discovery("127.0.0.1", 1883, 8.0)
    zoned._plain("gw/gw1/cnc-1", json.dumps({"ts": "2026-12-08T08:00:00+09:00", "load": 3.0}).encode())
    assert "timezone" not in tomllib.loads(zoned.snippet(M))["mqtt"][0]


@pytest.mark.parametrize(
    ("header", "encoding"),
    [("ts,current_a", "utf-8"), ("시각,전류(A)", "cp949"), ("Time,Current (A)", "utf-8")],
)
def test_a_current_sensor_file_is_imported_as_the_signal_retrofit_reads(tmp_path, header, encoding):
    path = tmp_path / "trace.csv"
    lines = [header] + [
        f"2026-11-03 07:{m:02d}:00,{0.02 if m < 5 else 12.5 if m % 2 else 3.4}" for m in range(30)
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    proposal = guess_mapping(path)
    column = header.split(",")[1]
    assert proposal.mapping["columns"][column] == {"kind": "signal", "name": "current", "unit": "A"}
    assert any("retrofit" in n for n in proposal.notes)
    store = DuckDBStore()
    import_file(path, parse_mapping(proposal.mapping), store, resume=False)
    assert current_machines(store) == [proposal.mapping["machine"]]


def test_other_amp_like_columns_stay_ordinary_signals(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(
        "ts,current (mA),temp\n" + "".join(f"2026-11-03 07:{m:02d}:00,{m},{20 + m}\n" for m in range(10)),
        encoding="utf-8",
    )
    columns = guess_mapping(path).mapping["columns"]
    assert columns["current (mA)"].get("unit") == "mA" and columns["temp"] == {
        "kind": "signal",
        "name": "temp",
    }


def _press_trace(path, header: str, encoding: str, fmt: str) -> int:
    """A press of my own design: 5 min off, 40 strokes of 45 s loaded and 15 s loading, 5 min
    off, 2 samples a second; returns the number of strokes."""
    rng = random.Random(5)
    t0, t, lines = datetime(2026, 11, 3, 7, 0, 0), 0.0, [header]
    plan = [("off", 300)] + [("run", 45), ("idle", 15)] * 40 + [("off", 300)]
    for state, seconds in plan:
        for _ in range(seconds * 2):
            base = {"off": 0.02, "idle": 3.5, "run": 14.0}[state]
            lines.append(f"{(t0 + timedelta(seconds=t)).strftime(fmt)},{base * (1 + rng.gauss(0, 0.05)):.2f}")
            t += 0.5
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return 40


@pytest.mark.parametrize(
    ("header", "encoding", "fmt"),
    [
        ("시각,전류(A)", "cp949", "%Y-%m-%d %H:%M:%S"),  # a Korean logger writing whole seconds
        ("ts,current_a", "utf-8", "%Y-%m-%dT%H:%M:%S.%f"),  # the documented format, to the ms
        ("ts,current_a", "utf-8", "%Y-%m-%dT%H:%M:%S"),  # the documented header, whole seconds
    ],
)
def test_retrofit_infer_csv_reads_korean_headers_and_counts_every_cycle(tmp_path, header, encoding, fmt):
    from typer.testing import CliRunner

    from factory_commons.cli import app

    path = tmp_path / "press.csv"
    strokes = _press_trace(path, header, encoding, fmt)
    result = CliRunner().invoke(app, ["retrofit", "infer", "--csv", str(path)])
    assert result.exit_code == 0, result.output
    assert re.search(rf"│\s+{strokes}\s+│", result.output), result.output
    assert ("시각이 같아" in result.output) == fmt.endswith("%S")


def test_knowhow_search_json_says_what_was_seen_why_and_the_fix(tmp_path):
    """A work-order export has no title: the JSON hits carried refs and scores and an empty title."""
    from typer.testing import CliRunner

    from factory_commons.cli import app

    path = tmp_path / "orders.csv"
    path.write_bytes(
        "작업지시번호,설비,증상,원인,조치 내용\n"
        "WO-1,프레스 3호기,실린더 아래 바닥에 기름이 흥건함,로드 패킹 마모,패킹 교체\n"
        "WO-2,CNC 1호기,스핀들에서 끼이익 소리,베어링 윤활 부족,그리스 주입\n".encode("cp949")
    )
    store = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    assert runner.invoke(app, ["knowhow", "import", str(path), "--store", store]).exit_code == 0
    r = runner.invoke(app, ["knowhow", "search", "기름 새요", "--store", store, "--format", "json"])
    assert r.exit_code == 0, r.output
    top = json.loads(r.stdout)[0]
    assert top["ref"] == "WO-1" and top["title"] == ""
    assert (top["symptom"], top["cause"], top["action"]) == (
        "실린더 아래 바닥에 기름이 흥건함",
        "로드 패킹 마모",
        "패킹 교체",
    )


def test_knowhow_search_on_a_store_without_cases_says_so_and_creates_nothing(tmp_path):
    """A mistyped --store gave [] and exit 0 and left an empty database behind, saying nothing."""
    from typer.testing import CliRunner

    from factory_commons.cli import app

    store = tmp_path / "typo.duckdb"
    for cmd in (["search", "기름 새요", "--format", "json"], ["list", "--format", "json"]):
        r = CliRunner().invoke(app, ["knowhow", *cmd, "--store", str(store)])
        assert r.exit_code == 0 and json.loads(r.stdout) == []
        assert "knowhow import" in r.stderr and "사례가 없습니다" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_discover_lists_numeric_fields_and_prints_a_snippet_that_pastes_as_toml(monkeypatch):
    """The table promised "the numeric fields of JSON objects" and showed none; the printed snippet
    was wrapped at 80 columns, so pasting it into plant.toml gave invalid TOML."""
    from typer.testing import CliRunner

    from factory_commons.cli import app
    from factory_commons.collect import discover as discover_module

    found = Discovery("127.0.0.1", 1883, 5.0)
    payload = {"time": "2026-12-08 08:00:00", "온도": 71.5, "spindle": {"rpm": 1200}, "state": 1}
    found._plain("nc/gw1/press-3", json.dumps(payload, ensure_ascii=False).encode())
    assert found.topics["nc/gw1/press-3"].numbers() == "온도, spindle.rpm, state"
    monkeypatch.setattr(discover_module, "discover", lambda *a, **k: found)
    r = CliRunner().invoke(app, ["collect", "discover", "mqtt://127.0.0.1:1883", "--machine", M])
    assert r.exit_code == 0, r.output
    assert "spindle.rpm" in r.stdout.split("[[mqtt]]")[0]  # in the table, before the snippet
    data = tomllib.loads("[[mqtt]]" + r.stdout.split("[[mqtt]]", 1)[1])
    assert data["mqtt"][0]["payloads"]["nc/gw1/press-3"]["fields"]["spindle.rpm"]["machine"] == M


def test_the_search_kiwi_reads_the_evaluation_sets_as_the_full_one_does():
    """`knowhow search` is one process per query for a checker: its Kiwi loads without the
    multi-word dictionary (about 1.7 s of CPU and 190 MB less at each start), which must not
    change a single kept morpheme of the evaluation sets' cases and queries."""
    import csv
    from pathlib import Path

    from kiwipiepy import Kiwi

    from factory_commons.knowhow import text as txt

    assert txt.KIWI_OPTIONS == {"load_multi_dict": False}
    full = Kiwi()
    for forms in txt.CONCEPTS.values():
        for f in forms:
            if txt._HANGUL.search(f) and len(f) >= 2 and f.isalnum():
                full.add_user_word(f, "NNG", 0.0)
    root = Path(__file__).resolve().parents[1] / "bench" / "data"
    texts = [
        " ".join(v for v in row.values() if v)
        for d in ("knowhow", "knowhow_colloquial")
        for name in ("cases.csv", "queries.csv")
        for row in csv.DictReader((root / d / name).open(encoding="utf-8"))
    ]
    assert len(texts) > 300
    for t in texts:
        norm = txt.normalize(t)
        want = [x.form for x in full.tokenize(norm) if x.tag in txt._KEEP_TAGS]
        got = [x.form for x in txt._kiwi().tokenize(norm) if x.tag in txt._KEEP_TAGS]
        assert got == want, t
