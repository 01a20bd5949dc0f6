"""Faults told truthfully: a full disk is named (not "cannot rollback"), store errors come without
control characters, the backoff does not start over on a link that fails again at once, one
collector per plant.toml, and `late` is measured from the data's own time."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_mqtt import Running, needs_broker, publisher, send, wait_until

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.config import PlantConfig
from factory_commons.collect.connector import Backoff, HealthState
from factory_commons.collect.faults import BufferWriteError, clean_reason, describe_failure
from factory_commons.collect.forwarder import Forwarder
from factory_commons.collect.mqtt import MqttConnector
from factory_commons.collect.runner import AlreadyRunning, Collector
from factory_commons.store.duckdb import DuckDBStore, StoreLockedError

M = "acme/s/a/l/m1"


def _rows(n: int, t0: datetime) -> list[dict]:
    return [{"machine": M, "name": "t", "ts": t0 + timedelta(seconds=i), "value": float(i)} for i in range(n)]


def test_a_full_buffer_disk_is_named_and_nothing_is_half_written(tmp_path: Path):
    b = Buffer(tmp_path / "b.sqlite")
    pages = b._con.execute("PRAGMA page_count").fetchone()[0]
    b._con.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own "disk full" (SQLITE_FULL)
    big = [{**r, "note": "x" * 2000} for r in _rows(200, datetime.now(UTC))]
    with pytest.raises(BufferWriteError) as err:
        b.put_many("s", {"signal": big}, state={"k": 1})
    assert err.value.disk_full
    assert str(err.value).startswith("disk full: buffer ")
    assert "rollback" not in str(err.value)
    assert b.pending_rows() == 0 and b.backlog_rows == 0 and b.get_state("k") is None
    with pytest.raises(BufferWriteError, match="disk full"):
        b.reject("s", "signal", {"raw": "x" * 50_000}, "too long")
    b.put("s", "signal", _rows(1, datetime.now(UTC)))  # a small write still fits: it works again
    assert b.backlog_rows == 1


def test_reasons_name_the_fault_without_control_characters():
    locked = StoreLockedError(
        "store f.duckdb is open in another process (IO Error: Conflicting lock\x00\x00)"
    )
    assert describe_failure(locked) == (
        "store locked: store f.duckdb is open in another process (IO Error: Conflicting lock )"
    )
    assert describe_failure(OSError(28, "No space left on device"), "store").startswith("disk full: store: ")
    assert describe_failure(sqlite3.OperationalError("database or disk is full")).startswith("disk full")
    assert clean_reason("a\x00b\nc\x1b[31m") == "a b c [31m"


def test_backoff_keeps_growing_when_the_link_fails_again_at_once():
    clock = {"t": 0.0}
    b = Backoff(initial=0.5, maximum=30.0, probe_max=2.0, clock=lambda: clock["t"], stable_s=10.0)
    caps = []
    for _ in range(8):  # connects, then the broker drops it at once (full disk, duplicate client id)
        b.reset()
        clock["t"] += 0.1
        caps.append(b.next_delay())
    assert b.flapping and b.attempt == 8
    assert caps[-1] > 2.0  # beyond the quick probe: the exponential delay (here 15..30 s)
    b.reset()
    clock["t"] += 60  # up for a minute: the next failure starts over
    assert b.next_delay() <= 0.5 and not b.flapping
    closed = Backoff(probe_max=2.0, clock=lambda: clock["t"])
    assert max(closed.next_delay() for _ in range(10)) <= 2.0  # a closed port is probed often


def _plant(tmp_path: Path) -> PlantConfig:
    return PlantConfig.from_dict(
        {
            "collector": {"store": str(tmp_path / "s.duckdb")},
            "mqtt": [{"name": "m", "port": 1, "topics": ["x/#"]}],
        },
        str(tmp_path / "plant.toml"),
    )


def test_one_collector_per_plant_configuration(tmp_path: Path):
    first = Collector(_plant(tmp_path), open_store=lambda: DuckDBStore(":memory:"), connectors=[])
    with pytest.raises(AlreadyRunning, match=r"another collector already runs .*pid \d+"):
        Collector(_plant(tmp_path), open_store=lambda: DuckDBStore(":memory:"), connectors=[])
    code = (
        "import sys; from factory_commons.collect.runner import Collector, AlreadyRunning;"
        "from factory_commons.collect.config import PlantConfig;"
        f"p = PlantConfig.from_dict({{'collector': {{'store': {str(tmp_path / 's.duckdb')!r}}},"
        "'mqtt': [{'name': 'm', 'port': 1, 'topics': ['x/#']}]});"
        "\ntry:\n    Collector(p, connectors=[])\nexcept AlreadyRunning as e:\n    print(e); sys.exit(3)"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert other.returncode == 3 and "lock file" in other.stdout  # another process is refused too
    first.start()
    first.stop()
    again = Collector(_plant(tmp_path), open_store=lambda: DuckDBStore(":memory:"), connectors=[])
    again.start()  # the lock was given back on stop
    again.stop()


def test_late_is_measured_from_the_datas_own_time(tmp_path: Path):
    store = DuckDBStore(tmp_path / "s.duckdb")
    with Buffer(tmp_path / "b.sqlite") as b:
        b.put("s", "signal", _rows(5, datetime.now(UTC) - timedelta(seconds=5)))  # on time
        b.put("s", "signal", _rows(3, datetime.now(UTC) - timedelta(hours=2)))  # sent now, measured 2 h ago
        Forwarder(b, lambda: store, late_after_s=60).forward_once()
        Forwarder(b, lambda: store, late_after_s=60).forward_once()  # the events
    late = store.query("SELECT rows, start_ts, detail FROM collect_events WHERE event = 'late'").to_pylist()
    assert [e["rows"] for e in late] == [3]
    assert "after its own time" in late[0]["detail"]
    assert late[0]["start_ts"] < datetime.now() - timedelta(hours=1)


@needs_broker
def test_a_full_buffer_disk_keeps_the_connection_says_so_and_loses_nothing(tmp_path: Path):
    prefix = f"full{uuid.uuid4().hex[:8]}"
    buffer = Buffer(tmp_path / "b.sqlite")
    c = MqttConnector(
        "mqtt-full", buffer, topics=[f"{prefix}/#"], client_id=f"fc-{prefix}", session_expiry_s=60
    )
    with Running(c, tmp_path / "s.duckdb") as run:
        pages = buffer._con.execute("PRAGMA page_count").fetchone()[0]
        buffer._con.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full from now on
        pub = publisher()
        t0 = datetime(2025, 3, 1, tzinfo=UTC)
        for i in range(50):
            send(
                pub,
                f"{prefix}/s/a/l/m1/signal/t",
                {"ts": (t0 + timedelta(seconds=i)).isoformat(), "value": i},
            )
        wait_until(lambda: c.health.state == HealthState.RETRYING, 10, "health naming the full disk")
        assert c.health.reason.startswith("disk full: buffer ") and c.health.reconnects == 0
        buffer._con.execute("PRAGMA max_page_count = 1073741823")  # space again
        run.wait_stored(50)
        assert c.health.state == HealthState.CONNECTED and c.health.reconnects == 0
        pub.disconnect()


@needs_broker
def test_a_buffer_backlog_slows_intake_and_says_so(tmp_path: Path):
    prefix = f"bp{uuid.uuid4().hex[:8]}"
    buffer = Buffer(tmp_path / "b.sqlite")
    c = MqttConnector(
        "mqtt-bp", buffer, topics=[f"{prefix}/#"], client_id=f"fc-{prefix}", session_expiry_s=60, batch_max=10
    )
    c.backlog_limit_rows = 20  # the store "falls behind": no forwarder runs yet
    assert c.inbox_max == 20  # memory is bounded: at most 2 groups wait for the buffer
    stop = threading.Event()
    t = threading.Thread(target=c.run, args=(stop,), daemon=True)
    t.start()
    wait_until(lambda: c.health.state == HealthState.CONNECTED, 10, "connected")
    pub = publisher()
    t0 = datetime(2025, 3, 1, tzinfo=UTC)
    for i in range(100):
        ts = (t0 + timedelta(seconds=i)).isoformat()
        pub.publish(f"{prefix}/s/a/l/m1/signal/t", f'{{"ts": "{ts}", "value": {i}}}', qos=1)
    wait_until(
        lambda: "intake slowed" in c.health.details.get("backpressure", ""), 10, "back-pressure in health"
    )
    assert "rows wait in the buffer" in c.health.details["backpressure"] and c.slowed >= 1
    f = Forwarder(buffer, lambda: DuckDBStore(tmp_path / "s.duckdb"))
    ft = threading.Thread(target=f.run, args=(stop,), daemon=True)
    ft.start()  # the store catches up: everything arrives, once
    wait_until(lambda: f.written == 100 and buffer.pending_rows() == 0, 30, "all 100 stored")
    wait_until(lambda: "backpressure" not in c.health.details, 10, "back-pressure cleared")
    stop.set()
    t.join(10)
    ft.join(10)
    pub.disconnect()


def test_the_mqtt_password_is_not_in_the_source_repr():
    """A broker password given in plant.toml never shows in a repr, a status line or a log of the config."""
    from factory_commons.collect.config import MqttSource

    source = MqttSource(name="line-1", topics=["acme/#"], username="collector", password="s3cret-pw")
    assert source.password == "s3cret-pw"
    assert "s3cret-pw" not in repr(source) and "s3cret-pw" not in str(source)
