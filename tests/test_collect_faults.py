"""Fault tests for MQTT collection, each with its own Mosquitto on a spare port:

(a) the broker stops for a few seconds mid-stream while a publisher keeps publishing (QoS 1, its own
    queue and retry) and comes back; (b) the collector (`factory-commons collect --config`) is killed
    with SIGKILL mid-stream and restarted. Afterwards the store holds every point exactly once.
The counts (sent, stored, duplicates skipped) are printed (pytest -s shows them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from test_mqtt import Running, wait_until

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.connector import Backoff, HealthState
from factory_commons.collect.mqtt import MqttConnector
from factory_commons.store.duckdb import DuckDBStore

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A Mosquitto of our own: persistent, unlimited queues for offline sessions; stop() and start()."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.dir = directory
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {directory}/\nmax_queued_messages 0\nuser root\n"
            f"log_dest file {directory}/mosquitto.log\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stderr=subprocess.DEVNULL)

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(up, 10, f"mosquitto on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


class Publisher:
    """Publishes N signal records (QoS 1) at a steady pace from a thread; paho queues and retries."""

    def __init__(self, port: int, machine: str, n: int, per_s: float) -> None:
        self.machine, self.n, self.per_s = machine, n, per_s
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}", clean_session=False
        )
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.acked: set[int] = set()
        self.client.on_publish = lambda client, userdata, mid, rc, props: self.acked.add(mid)
        self.client.loop_start()
        self.sent = 0
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        start = time.monotonic()
        for i in range(self.n):
            ts = (T0 + timedelta(milliseconds=10 * i)).isoformat()
            payload = json.dumps({"ts": ts, "value": float(i)})
            self.infos.append(self.client.publish(f"{self.machine}/signal/seq", payload, qos=1))
            self.sent += 1
            delay = start + (i + 1) / self.per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def all_acknowledged(self) -> bool:
        # info.is_published() raises for a message queued while disconnected; count PUBACKs instead
        return self.sent == self.n and all(i.mid in self.acked for i in self.infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def check_exactly_once(store_path: Path, machine: str, n: int) -> int:
    with DuckDBStore(store_path) as store:
        values = store.read("signal", machines=[machine]).column("value").to_pylist()
    assert len(values) == n, (
        f"{len(values)} points stored, {n} sent (missing: {sorted(set(range(n)) - set(values))[:10]})"
    )
    assert sorted(values) == [float(i) for i in range(n)]
    return len(values)


def test_broker_stops_mid_stream_and_comes_back(tmp_path, broker):
    n, machine = 3000, f"faults{uuid.uuid4().hex[:6]}/s/a/l/m1"
    conn = MqttConnector(
        "mqtt-fault",
        Buffer(tmp_path / "buffer.sqlite"),
        port=broker.port,
        topics=[f"{machine.split('/')[0]}/#"],
    )
    conn.backoff = Backoff(initial=0.2, maximum=1.0)
    store_path = tmp_path / "store.duckdb"
    with Running(conn, store_path) as run:
        pub = Publisher(broker.port, machine, n, per_s=1000)
        pub.thread.start()
        wait_until(lambda: conn.health.points >= n // 3, 20, "a third of the points collected")
        broker.stop()
        wait_until(lambda: conn.health.state == HealthState.RETRYING, 10, "the collector noticing")
        down_at = pub.sent
        time.sleep(3)  # the fault itself: the broker stays away for 3 s while the publisher goes on
        broker.start()
        pub.thread.join(30)
        wait_until(pub.all_acknowledged, 30, "every message acknowledged by the broker")
        wait_until(
            lambda: run.forwarder.written >= n and conn.buffer.pending_rows() == 0, 60, f"{n} points stored"
        )
        written, dups, reconnects = run.forwarder.written, run.forwarder.duplicates, conn.health.reconnects
        pub.close()
    stored = check_exactly_once(store_path, machine, n)
    print(
        f"\nbroker outage: sent {n} (publisher at {down_at} when the broker stopped), stored {stored}, "
        f"written {written}, duplicates skipped {dups}, collector reconnects {reconnects}"
    )
    assert reconnects >= 1


def _collector(config: Path, log) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "factory_commons.cli", "collect", "--config", str(config), "--quiet"]
    return subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )


def _health(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _points(path: Path) -> int:
    return sum(s["points"] for s in _health(path).get("sources", []) if s["kind"] == "mqtt")


def test_collector_killed_mid_stream_and_restarted(tmp_path, broker):
    n, machine = 3000, f"kill{uuid.uuid4().hex[:6]}/s/a/l/m1"
    store_path, health = tmp_path / "store.duckdb", tmp_path / "health.json"
    config = tmp_path / "plant.toml"
    config.write_text(
        f'[collector]\nstore = "{store_path}"\nhealth_file = "{health}"\n\n'
        f'[[mqtt]]\nname = "line1"\nport = {broker.port}\nclient_id = "fc-kill-test"\n'
        f'topics = ["{machine.split("/")[0]}/#"]\n',
        encoding="utf-8",
    )
    log = open(tmp_path / "collector.log", "w")  # noqa: SIM115 - closed below
    first = _collector(config, log)
    try:
        wait_until(lambda: _health(health).get("sources") and _points(health) >= 0, 30, "collector started")
        pub = Publisher(broker.port, machine, n, per_s=1500)
        pub.thread.start()
        wait_until(lambda: _points(health) >= n // 4, 30, "a quarter collected by the first collector")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at, first_points = pub.sent, _points(health)
        health.unlink()
        second = _collector(config, log)
        pub.thread.join(30)
        wait_until(pub.all_acknowledged, 30, "every message acknowledged by the broker")
        wait_until(
            lambda: _health(health).get("written", 0) + _health(health).get("duplicates", 0) > 0,
            30,
            "restarted",
        )

        def settled() -> bool:
            h = _health(health)
            age = [s["last_value_age_s"] for s in h.get("sources", []) if s["kind"] == "mqtt"]
            return bool(h) and h["pending_rows"] == 0 and bool(age) and (age[0] or 0) > 1.5

        wait_until(settled, 60, "the restarted collector idle with an empty buffer")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
        pub.close()
    finally:
        for p in (first, locals().get("second")):
            if p is not None and p.poll() is None:
                p.kill()
        log.close()
    final = _health(health)
    stored = check_exactly_once(store_path, machine, n)
    print(
        f"\ncollector SIGKILL: sent {n} (publisher at {killed_at} at the kill; first collector had {first_points} "
        f"points), stored {stored}; restarted collector received {_points(health)}, "
        f"wrote {final['written']}, duplicates skipped {final['duplicates']}"
    )


def test_an_idle_collector_does_not_load_the_heavy_libraries_it_needs_only_for_data():
    """pandas and pyarrow.compute are loaded where they are used (the first write), not when the
    collector and its store start: an edge box waiting for data keeps ~50 MB (issue 19)."""
    code = (
        "import sys\n"
        "import factory_commons.cli  # `factory-commons collect` registers every command\n"
        "import factory_commons.collect.cli, factory_commons.collect.runner\n"
        "import factory_commons.collect.sparkplug.connector, factory_commons.collect.forwarder\n"
        "from factory_commons.store import open_store\n"
        "s = open_store(':memory:')\n"
        "print(sorted(m for m in ('pandas', 'pyarrow.compute') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
