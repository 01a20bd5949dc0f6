"""Collection speed: MQTT end to end into the store against a bare subscriber, Sparkplug B decoding, CSV import.

    python bench/collect.py [--messages 20000 --repeat 3 --csv-rows 200000]

MQTT: a publisher sends `--messages` UNS JSON records (QoS 1, 50 signal topics) to a Mosquitto of
our own on a spare port. "ours" is publisher -> Mosquitto -> MqttConnector (persistent session,
manual ack after the SQLite commit) -> Buffer -> Forwarder -> DuckDBStore, timed from the first
publish until the store holds every message. "bare" is a paho subscriber (QoS 1, automatic acks)
that only counts what it receives: the limit on this machine. Both in the same run, alternating.
Sparkplug: payloads of 10 metrics (aliases, Double/Int32/Boolean), decoded with decode_payload.
CSV: `measure` from bench/csv_import.py (rows/s of our importer). Last line: `mqtt_ratio: ours/bare`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.connector import HealthState
from factory_commons.collect.forwarder import Forwarder
from factory_commons.collect.mqtt import MqttConnector
from factory_commons.collect.sparkplug.decode import decode_payload, encode_payload
from factory_commons.store.duckdb import DuckDBStore


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def start_broker(folder: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nuser root\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    _wait(up, 10, "mosquitto")
    return proc, port


def messages(prefix: str, n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        machine, signal = i % 10, (i // 10) % 5
        ts = f"2025-03-01T{8 + i // 3_600_000:02d}:{(i // 60_000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
        payload = json.dumps({"ts": ts, "value": i * 0.5, "unit": "%"}).encode()
        out.append((f"{prefix}/s/a/l/m{machine:02d}/signal/s{signal}", payload))
    return out


def publish_all(port: int, msgs: list[tuple[str, bytes]]) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    infos = [pub.publish(t, p, qos=1) for t, p in msgs]
    infos[-1].wait_for_publish(120)
    pub.disconnect()
    pub.loop_stop()


def run_bare(port: int, n: int) -> float:
    prefix = f"bare{uuid.uuid4().hex[:6]}"
    got = [0]
    done = threading.Event()

    def on_message(client, userdata, message) -> None:
        got[0] += 1
        if got[0] >= n:
            done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{prefix}", protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 1000
    sub.connect("127.0.0.1", port, properties=props)
    sub.subscribe(f"{prefix}/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)  # let the subscription settle before the clock starts
    msgs = messages(prefix, n)
    t0 = time.perf_counter()
    threading.Thread(target=publish_all, args=(port, msgs), daemon=True).start()
    if not done.wait(300):
        raise SystemExit(f"bare subscriber got {got[0]} of {n}")
    dt = time.perf_counter() - t0
    sub.disconnect()
    sub.loop_stop()
    return dt


def run_ours(port: int, n: int, folder: Path) -> float:
    prefix = f"ours{uuid.uuid4().hex[:6]}"
    buffer = Buffer(folder / f"{prefix}.sqlite")
    conn = MqttConnector("bench", buffer, port=port, topics=[f"{prefix}/#"], client_id=f"bench-{prefix}")
    fwd = Forwarder(buffer, lambda: DuckDBStore(folder / f"{prefix}.duckdb"))
    stop = threading.Event()
    threads = [
        threading.Thread(target=conn.run, args=(stop,)),
        threading.Thread(target=fwd.run, args=(stop,)),
    ]
    for t in threads:
        t.start()
    _wait(lambda: conn.health.state == HealthState.CONNECTED, 10, "connector")
    msgs = messages(prefix, n)
    t0 = time.perf_counter()
    threading.Thread(target=publish_all, args=(port, msgs), daemon=True).start()
    _wait(lambda: fwd.written >= n and buffer.pending_rows() == 0, 300, f"{n} rows in the store")
    dt = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join()
    if buffer.rejected_count() or fwd.written != n:
        raise SystemExit(f"ours: written {fwd.written}, rejected {buffer.rejected_count()} of {n}")
    buffer.close()
    return dt


def sparkplug_rate(payloads: int = 20_000, metrics: int = 10) -> tuple[float, float]:
    types = ["Double", "Int32", "Boolean"]
    data = [
        encode_payload(
            [{"alias": k + 1, "datatype": types[k % 3], "value": (i + k) % 7} for k in range(metrics)],
            seq=i % 256,
        )
        for i in range(payloads)
    ]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = sum(len(decode_payload(d).metrics) for d in data)
        best = min(best, time.perf_counter() - t0)
    assert total == payloads * metrics
    return payloads / best, payloads * metrics / best


def csv_rate(rows: int) -> float | None:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from csv_import import measure  # type: ignore[import-not-found]
    except ImportError:
        return None
    r = measure(rows=rows, repeat=1)
    return r["rows"] / r["ours_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--csv-rows", type=int, default=200_000)
    args = ap.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_broker(Path(tmp))
        try:
            ours, bare = [], []
            for r in range(args.repeat):
                bare.append(n / run_bare(port, n))
                ours.append(n / run_ours(port, n, Path(tmp)))
                print(f"round {r + 1}: bare {bare[-1]:,.0f} msg/s, ours {ours[-1]:,.0f} msg/s", flush=True)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"mqtt bare subscriber: best {max(bare):,.0f} msg/s, median {statistics.median(bare):,.0f}")
    print(f"mqtt ours into the store: best {max(ours):,.0f} msg/s, median {statistics.median(ours):,.0f}")
    p_s, m_s = sparkplug_rate()
    print(f"sparkplug decode: {p_s:,.0f} payloads/s, {m_s:,.0f} metrics/s (10 metrics per payload)")
    rate = csv_rate(args.csv_rows)
    if rate is None:
        print("csv import: not available (bench/csv_import.py has no measure())")
    else:
        print(f"csv import: {rate:,.0f} rows/s ({args.csv_rows:,} rows, bench/csv_import.py measure)")
    print(f"mqtt_ratio: {max(ours) / max(bare):.2f}")


if __name__ == "__main__":
    main()
