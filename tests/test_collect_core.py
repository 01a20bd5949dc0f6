"""The connector core: point mappings, the plant config, the durable buffer, the forwarder, the collector."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.config import PlantConfig
from factory_commons.collect.connector import Backoff, Connector, HealthState
from factory_commons.collect.forwarder import Forwarder
from factory_commons.collect.mapping import MappingError, PointConverter, PointMapping, ValueRejected
from factory_commons.collect.runner import Collector, read_health
from factory_commons.store import DuckDBStore

M = "acme/창원/프레스/line-1/press-1"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def wait_until(cond, timeout: float = 10.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


# -- mappings -----------------------------------------------------------------------------------
def test_signal_scaling_and_unit():
    conv = PointConverter(
        PointMapping(machine=M, kind="signal", name="온도", unit="°C", scale=0.1, offset=-5)
    )
    kind, row = conv.convert(253, T0)
    assert kind == "signal" and row["value"] == pytest.approx(20.3) and row["unit"] == "°C"
    assert row["machine"] == M and row["name"] == "온도"
    with pytest.raises(ValueRejected, match="not a number"):
        conv.convert("abc", T0)
    with pytest.raises(ValueRejected, match="finite"):
        conv.convert(float("nan"), T0)


def test_state_codes_accept_int_float_and_text_keys_and_emit_only_changes():
    m = PointMapping(
        machine=M,
        kind="state",
        state_codes={0: "idle", 1: "running", "3": "unplanned_down"},
        reason_codes={3: "금형 파손"},
    )
    conv = PointConverter(m)
    assert conv.convert(1, T0)[1]["state"] == "running"
    assert conv.convert(1.0, T0 + timedelta(seconds=1)) is None  # same state: nothing new
    kind, row = conv.convert("3", T0 + timedelta(seconds=2))
    assert row["state"] == "unplanned_down" and row["reason_code"] == "금형 파손"
    with pytest.raises(ValueRejected, match="state code '7'"):
        conv.convert(7, T0)


def test_state_names_without_table():
    conv = PointConverter(PointMapping(machine=M, kind="state"))
    assert conv.convert("Running", T0)[1]["state"] == "running"
    with pytest.raises(ValueRejected, match="not a machine state"):
        conv.convert("spinning", T0)


def test_counter_totals_are_differenced_and_resets_handled():
    conv = PointConverter(PointMapping(machine=M, kind="count", counter="total"))
    assert conv.convert(100, T0) is None  # the first total is the baseline
    assert conv.convert(103, T0 + timedelta(seconds=10))[1]["good"] == 3
    assert conv.convert(103, T0 + timedelta(seconds=20)) is None
    assert conv.convert(2, T0 + timedelta(seconds=30))[1]["good"] == 2  # counter reset to 0, then 2 parts
    restored = PointConverter(conv.mapping, conv.state_dict())
    assert restored.convert(5, T0 + timedelta(seconds=40))[1]["good"] == 3
    with pytest.raises(ValueRejected, match="whole number"):
        conv.convert(-1, T0)
    scrap = PointConverter(PointMapping(machine=M, kind="count", count_field="scrap"))
    assert scrap.convert(2, T0)[1] == {"machine": M, "ts": T0, "good": 0, "scrap": 2}


def test_alarm_bits_emit_on_change():
    conv = PointConverter(PointMapping(machine=M, kind="alarm", name="E-STOP", severity="critical"))
    assert conv.convert(0, T0) is None
    kind, row = conv.convert(1, T0 + timedelta(seconds=1))
    assert row["active"] is True and row["severity"] == "critical"
    assert conv.convert(1, T0 + timedelta(seconds=2)) is None
    assert conv.convert(0, T0 + timedelta(seconds=3))[1]["active"] is False


def test_mapping_errors_name_the_key():
    with pytest.raises(MappingError, match=r'plant.toml points."x".kind'):
        PointMapping.parse({"machine": M, "kind": "colour"}, 'plant.toml points."x"')
    with pytest.raises(MappingError, match="needs 'name'"):
        PointMapping.parse({"machine": M, "kind": "signal"}, "p")
    with pytest.raises(MappingError, match="machine"):
        PointMapping.parse({"machine": "only/three/levels", "kind": "state"}, "p")
    with pytest.raises(MappingError, match="state_codes"):
        PointMapping.parse({"machine": M, "kind": "state", "state_codes": {"1": "flying"}}, "p")


# -- plant configuration ----------------------------------------------------------------------------
PLANT = """
[collector]
store = "plant.duckdb"

[[opcua]]
name = "press-plc"
endpoint = "opc.tcp://127.0.0.1:4840"
[opcua.points."ns=2;s=Press1.State"]
machine = "acme/창원/프레스/line-1/press-1"
kind = "state"
state_codes = { 0 = "idle", 1 = "running" }

[[modbus]]
name = "cnc"
host = "127.0.0.1"
[[modbus.points]]
address = 0
dtype = "float32"
machine = "acme/창원/가공/line-1/cnc-1"
kind = "signal"
name = "spindle_load"
"""


def test_plant_config_parses(tmp_path: Path):
    p = tmp_path / "plant.toml"
    p.write_text(PLANT, encoding="utf-8")
    cfg = PlantConfig.from_toml(p)
    assert [k for k, _ in cfg.sources] == ["opcua", "modbus"]
    assert cfg.buffer == "plant.duckdb.buffer.sqlite"
    opc = cfg.sources[0][1]
    assert opc.points["ns=2;s=Press1.State"].state_codes["1"] == "running"
    assert cfg.sources[1][1].points[0].dtype == "float32"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[[opcua]]\nname = 'a'\nendpoint = 'http://x'\n[opcua.points.n]\nmachine='a/b/c/d/e'\nkind='state'\n",
            r"\[\[opcua\]\] \"a\"\.endpoint",
        ),
        (
            "[[modbus]]\nname='m'\nhost='h'\n[[modbus.points]]\naddress=70000\nmachine='a/b/c/d/e'\nkind='state'\n",
            r"points #1 \(address 70000\)\.address",
        ),
        ("[[mqtt]]\nname='m'\n", "needs 'topics'"),
        ("[[mqtt]]\nname='m'\ntopics=['a/#']\n[[mqtt]]\nname='m'\ntopics=['b/#']\n", "used twice"),
        ("[colector]\nstore='x'\n", "unknown section"),
        ("[collector]\nstore = \n", "not valid TOML"),
        ("[collector]\nstore='x'\n", "no enabled source"),
        (
            "[[opcua]]\nname='o'\nendpoint='opc.tcp://h:1'\n[opcua.points.'ns=2;i=5']\nmachine='a/b/c/d/e'\nkind='signal'\n",
            r'points\."ns=2;i=5"',
        ),
        (
            "[collector]\nlate_after_s = -1\n[[mqtt]]\nname='m'\ntopics=['a/#']\n",
            r"\[collector\]\.late_after_s",
        ),
    ],
)
def test_plant_config_errors_name_file_and_key(tmp_path: Path, text: str, expected: str):
    p = tmp_path / "plant.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match=expected) as e:
        PlantConfig.from_toml(p)
    assert str(p) in str(e.value)


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(MappingError, match="config file not found"):
        PlantConfig.from_toml(tmp_path / "nope.toml")


# -- buffer ---------------------------------------------------------------------------------------
def _rows(n: int, start: int = 0) -> list[dict]:
    return [
        {"machine": M, "name": "온도", "ts": T0 + timedelta(seconds=i), "value": float(i), "unit": "°C"}
        for i in range(start, start + n)
    ]


def test_buffer_survives_reopen_and_acks(tmp_path: Path):
    path = tmp_path / "b.sqlite"
    with Buffer(path) as b:
        b.put("s", "signal", _rows(5))
        b.set_state("k", {"seq": 7, "이름": "값"})
        b.reject("s", "signal", {"raw": "x"}, "not a number")
    with Buffer(path) as b:
        assert b.pending_rows() == 5
        assert b.get_state("k") == {"seq": 7, "이름": "값"}
        assert b.rejected_count() == 1
        batch = b.take()
        assert len(batch) == 1 and batch[0].rows[0]["name"] == "온도"
        b.ack([p.id for p in batch])
        assert b.pending_rows() == 0


def test_buffer_put_many_is_one_transaction(tmp_path: Path):
    with Buffer(tmp_path / "b.sqlite") as b:
        with pytest.raises(TypeError):
            b.put_many("s", {"signal": _rows(3)}, state={"converters:s": {"last": object()}})
        assert b.pending_rows() == 0  # nothing half-written


# -- forwarder --------------------------------------------------------------------------------------
def test_forwarder_writes_each_point_once_and_rejects_bad_rows(tmp_path: Path):
    store = DuckDBStore(tmp_path / "s.duckdb")
    with Buffer(tmp_path / "b.sqlite") as b:
        b.put("s", "signal", _rows(100))
        b.put("s", "signal", _rows(50, start=50))  # a replay overlapping the first put
        b.put("s", "signal", [{"machine": M, "name": "온도", "ts": T0, "value": "열"}])
        f = Forwarder(b, lambda: store)
        assert f.forward_once() == 151
        assert (f.written, f.duplicates, f.rejected) == (100, 50, 1)
        assert b.pending_rows() == 0
        reject = next(b.rejects())
        assert "value" in reject["reason"] and "열" in reject["row"]
    assert store.query("SELECT count(*) AS n FROM signals").to_pylist()[0]["n"] == 100


def test_forwarder_keeps_everything_while_the_store_is_away(tmp_path: Path):
    attempts = {"n": 0}

    def flaky_open():
        attempts["n"] += 1
        if attempts["n"] <= 3:
            raise ConnectionError("store unreachable / 저장소 연결 실패")
        return DuckDBStore(tmp_path / "s.duckdb")

    with Buffer(tmp_path / "b.sqlite") as b:
        f = Forwarder(b, flaky_open, late_after_s=3600)  # late: an hour after the data's own time
        f.backoff = Backoff(initial=0.01, maximum=0.05)
        fresh = datetime.now(UTC) - T0 - timedelta(seconds=300)
        b.put(
            "s", "signal", [{**r, "ts": r["ts"] + fresh} for r in _rows(200)]
        )  # timed minutes ago: not late
        stop = threading.Event()
        t = threading.Thread(target=f.run, args=(stop,))
        t.start()
        assert wait_until(lambda: f.health.state == HealthState.RETRYING or f.written == 200)
        assert wait_until(lambda: f.written == 200)
        b.put("s", "signal", _rows(10, start=200), late=True)  # a source marked these historical
        assert wait_until(lambda: f.written == 210)
        stop.set()
        t.join(10)
        assert attempts["n"] == 4 and f.health.errors == 3
        assert f.health.state == HealthState.STOPPED
    store = DuckDBStore(tmp_path / "s.duckdb")  # the forwarder closed the store it opened
    events = store.query("SELECT event, rows, detail FROM collect_events").to_pylist()
    assert [(e["event"], e["rows"]) for e in events] == [("late", 10)]
    assert store.query("SELECT count(*) AS n FROM signals").to_pylist()[0]["n"] == 210


def test_forwarder_marks_rows_that_waited_as_late(tmp_path: Path):
    store = DuckDBStore(tmp_path / "s.duckdb")
    with Buffer(tmp_path / "b.sqlite") as b:
        b.put("s", "signal", _rows(3))
        b.log_event("s", "gap", machine=M, start=T0, end=T0 + timedelta(minutes=5), detail="link down")
        f = Forwarder(b, lambda: store, late_after_s=0.0001)
        time.sleep(0.01)
        f.forward_once()
        f.forward_once()  # events are forwarded once
    events = sorted(
        store.query("SELECT event, machine, rows FROM collect_events").to_pylist(), key=lambda e: e["event"]
    )
    assert events == [
        {"event": "gap", "machine": M, "rows": None},
        {"event": "late", "machine": None, "rows": 3},
    ]


# -- connectors heal themselves ---------------------------------------------------------------------
class FlakyCounter(Connector):
    """A test source: fails its first `fail` connections, then counts up once per call."""

    kind = "test"

    def __init__(self, name: str, buffer: Buffer, fail: int, points: int) -> None:
        super().__init__(name, buffer, {"c": PointMapping(machine=M, kind="count", counter="total")})
        self.fail, self.to_send, self.total = fail, points, 0
        self.backoff = Backoff(initial=0.01, maximum=0.02)

    def collect_once(self, stop: threading.Event) -> None:
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionRefusedError("device not answering / 응답 없음")
        self.set_health(HealthState.CONNECTED)
        self.backoff.reset()
        while not stop.is_set() and self.to_send > 0:
            self.total += 2
            self.to_send -= 1
            row = self.convert("c", self.total, T0 + timedelta(seconds=self.total))
            self.emit([row] if row else [])
        stop.wait(0.05)


def test_collector_runs_connectors_heals_and_reports_health(tmp_path: Path):
    cfg = PlantConfig.from_dict(
        {"collector": {"store": str(tmp_path / "s.duckdb")}, "mqtt": [{"name": "unused", "topics": ["x/#"]}]},
        "test",
    )
    c = Collector(
        cfg,
        open_store=lambda: DuckDBStore(tmp_path / "s.duckdb"),
        connectors=[lambda buffer: FlakyCounter("counter", buffer, fail=2, points=20)],
    )
    (src,) = c.connectors
    c.start()
    try:
        assert wait_until(lambda: c.forwarder.written == 19)  # 20 totals -> 19 increments
        assert wait_until(lambda: (read_health(cfg.health_file) or {}).get("written") == 19)
    finally:
        c.stop()
    assert src.health.reconnects == 2 and "응답 없음" in src.health.last_error
    health = json.loads(Path(cfg.health_file).read_text(encoding="utf-8"))
    assert {s["source"]: s["state"] for s in health["sources"]} == {"counter": "stopped", "store": "stopped"}
    store = DuckDBStore(tmp_path / "s.duckdb")
    assert store.query("SELECT sum(good) AS g FROM counts").to_pylist()[0]["g"] == 38


# -- gaps: watch and lost_some --------------------------------------------------------------------
M2 = "acme/창원/프레스/line-1/press-2"


def test_gap_tracker_watch_makes_machines_known_from_the_start_without_touching_known_ones(tmp_path: Path):
    from factory_commons.collect.buffer import to_micros
    from factory_commons.collect.gaps import GapTracker

    start = datetime.now(UTC) - timedelta(minutes=5)
    buf = Buffer(tmp_path / "b.sqlite")
    gaps = GapTracker(buf, "plc")
    gaps.seen(M, start + timedelta(minutes=1))
    gaps.watch({M, M2}, at=start)  # M is known already: it keeps its later time
    assert gaps.open_gaps == {}  # watching opens no gap
    gaps.lost("ConnectionError: refused")
    assert gaps.open_gaps == {M: start + timedelta(minutes=1), M2: start}
    gaps.seen(M2, start + timedelta(minutes=3))  # a machine that never had a value: gap from the watch
    (gap,) = buf.events()
    assert gap["machine"] == M2 and gap["start_ts"] == to_micros(start)
    assert gap["end_ts"] == to_micros(start + timedelta(minutes=3)) and "refused" in gap["detail"]
    before = datetime.now(UTC)
    fresh = GapTracker(Buffer(":memory:"), "plc")
    fresh.watch({M})  # default: now
    fresh.lost("x")
    assert before <= fresh.open_gaps[M] <= datetime.now(UTC)
    buf.close()


def test_gap_tracker_watched_machines_are_saved_with_the_next_persist(tmp_path: Path):
    from factory_commons.collect.gaps import GapTracker

    start = datetime.now(UTC) - timedelta(minutes=5)
    buf = Buffer(tmp_path / "b.sqlite")
    gaps = GapTracker(buf, "plc")
    gaps.watch({M}, at=start)
    assert buf.get_state("gaps:plc") is None  # not at once
    gaps.persist()
    buf.close()
    buf = Buffer(tmp_path / "b.sqlite")  # restarted before any value: the outage since the start is open
    assert GapTracker(buf, "plc").open_gaps == {M: start}
    buf.close()


def test_gap_tracker_lost_some_opens_gaps_of_those_machines_only(tmp_path: Path):
    from factory_commons.collect.buffer import to_micros
    from factory_commons.collect.gaps import GapTracker

    t0 = datetime.now(UTC) - timedelta(minutes=10)
    buf = Buffer(tmp_path / "b.sqlite")
    gaps = GapTracker(buf, "gw")
    gaps.seen(M, t0)
    gaps.seen(M2, t0 + timedelta(seconds=10))
    gaps.lost_some({M2, "acme/unknown/x/y/z"}, "unit 3 did not answer")  # unknown machines are left out
    assert gaps.open_gaps == {M2: t0 + timedelta(seconds=10)}
    assert set(buf.get_state("gaps:gw")) == {M, M2}  # saved at once
    gaps.lost_some({M2}, "another reason")  # already in a gap: start and reason kept
    gaps.alive(t0 + timedelta(seconds=30))  # the link works: M is still known, M2 stays in its gap
    gaps.seen(M2, t0 + timedelta(seconds=50))
    (gap,) = buf.events()
    assert gap["machine"] == M2 and gap["start_ts"] == to_micros(t0 + timedelta(seconds=10))
    assert "unit 3 did not answer" in gap["detail"] and "another" not in gap["detail"]
    assert gaps.open_gaps == {}
    gaps.lost("ConnectionError: reset")  # M was known until the link was last alive
    assert gaps.open_gaps[M] == t0 + timedelta(seconds=30)
    buf.close()


def test_gap_tracker_lost_some_with_nothing_to_open_saves_nothing():
    from factory_commons.collect.gaps import GapTracker

    buf = Buffer(":memory:")
    gaps = GapTracker(buf, "gw")
    gaps.lost_some({M}, "silent")  # never known: no gap, nothing saved
    assert gaps.open_gaps == {} and buf.get_state("gaps:gw") is None


def test_read_health_gives_every_source_details_also_from_an_older_file(tmp_path: Path):
    path = tmp_path / "h.json"
    old = {"written_at": 1.0, "sources": [{"source": "plc", "state": "connected"}]}
    path.write_text(json.dumps(old), encoding="utf-8")
    assert read_health(path)["sources"] == [{"source": "plc", "state": "connected", "details": {}}]
    path.write_text("{not json", encoding="utf-8")
    assert read_health(path) is None and read_health(tmp_path / "none.json") is None


# -- command line ---------------------------------------------------------------------------------
def test_collect_command_reports_config_errors_before_starting(tmp_path: Path):
    from typer.testing import CliRunner

    from factory_commons.cli import app

    p = tmp_path / "plant.toml"
    p.write_text(
        "[[opcua]]\nname='o'\nendpoint='opc.tcp://h:1'\n[opcua.points.n]\nmachine='a/b/c/d/e'\nkind='sound'\n"
    )
    result = CliRunner().invoke(app, ["collect", "--config", str(p)])
    assert result.exit_code == 2
    assert "configuration error" in result.output and 'points."n".kind' in result.output
    assert not (tmp_path / "factory.duckdb.buffer.sqlite").exists()  # nothing started


def test_collect_events_lists_gaps(tmp_path: Path):
    from typer.testing import CliRunner

    from factory_commons.cli import app

    path = tmp_path / "s.duckdb"
    with Buffer(tmp_path / "b.sqlite") as b:
        b.log_event("plc-1", "gap", machine=M, start=T0, end=T0 + timedelta(minutes=3), detail="연결 끊김")
        f = Forwarder(b, lambda: DuckDBStore(path))
        f.forward_once()
        f.close()
    result = CliRunner().invoke(app, ["collect-events", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert "gap" in result.output and "plc-1" in result.output and "08:03:00" in result.output


def test_every_worked_plant_config_in_the_docs_builds_its_connectors(monkeypatch):
    import re
    import tomllib

    from factory_commons.collect.runner import build_connector

    doc = (Path(__file__).resolve().parents[1] / "docs" / "connect.md").read_text(encoding="utf-8")
    blocks = [
        b
        for b in re.findall(r"```toml\n(.*?)```", doc, re.S)
        if any(f"[[{k}]]" in b for k in ("mqtt", "sparkplug", "opcua", "modbus"))
    ]
    for name in re.findall(r'password_env = "(\w+)"', doc):  # a worked config names its own
        monkeypatch.setenv(name, "example-password")
    kinds = set()
    with Buffer(":memory:") as buffer:
        for block in blocks:
            for kind, source in PlantConfig.from_dict(tomllib.loads(block), "docs/connect.md").sources:
                connector = build_connector(kind, source, buffer)
                assert connector.name == source.name and connector.health.state == HealthState.STARTING
                kinds.add(kind)
    assert kinds == {"mqtt", "sparkplug", "opcua", "modbus"}
