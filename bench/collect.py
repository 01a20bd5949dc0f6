"""Collection speed and footprint: MQTT and Sparkplug B end to end into the store against a bare subscriber,
Sparkplug B decoding, CSV import, the collector's memory at idle and under a steady rate, the
sustained maximum.

    python bench/collect.py [--messages 20000 --repeat 3 --csv-rows 200000 --spb-messages 5000
                             --minutes 0.5 --rate 500]

MQTT: a publisher sends `--messages` UNS JSON records (QoS 1, 50 signal topics) to a Mosquitto of
our own on a spare port. "ours" is publisher -> Mosquitto -> MqttConnector (persistent session,
manual ack after the SQLite commit) -> Buffer -> Forwarder -> DuckDBStore, timed from the first
publish until the store holds every message. "bare" is a paho subscriber (QoS 1, automatic acks)
that only counts what it receives: the limit on this machine. Both in the same run, alternating.
Sparkplug: payloads of 10 metrics (aliases, Double/Int32/Boolean), decoded with decode_payload.
CSV: `measure` from bench/csv_import.py (rows/s of our importer).
Sparkplug end to end: an edge node's DDATA of 20 metrics (by alias, 4 devices, QoS 0) ->
Mosquitto -> SparkplugConnector -> Buffer -> Forwarder -> DuckDB, timed until the store holds
every metric, against a bare paho subscriber counting the same messages, in the same run.
Footprint: `python -m factory_commons.collect --config plant.toml` as its own process: RSS at idle
(after 10 s), then after `--minutes` at `--rate` Sparkplug messages/s (20 metrics each), with a
reading every 30 s and their slope (MB per minute, least squares over the second half), then a
ramp of rates, 8 s each: the sustained maximum is the highest rate whose metrics all reached the
store within the step (the buffer's backlog did not grow). `--idle-baseline SRC` (a source tree
of another commit, e.g. from `git archive <commit> src | tar -x -C /tmp/base`) measures the idle
RSS of that version too, alternating with ours, in the same run.
The broker has the settings docs/connect.md gives for Sparkplug (`queue_qos0_messages`,
`upgrade_outgoing_qos`): the collector and the bare subscriber both get QoS 0 data at QoS 1.
Last line: `mqtt_ratio: <ours/bare> spb_ratio: <ours/bare> idle_rss_mb: <MB>`.
"""

from __future__ import annotations

import argparse
import json
import os
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
from factory_commons.collect.mapping import PointMapping
from factory_commons.collect.mqtt import MqttConnector
from factory_commons.collect.sparkplug.connector import SparkplugConnector
from factory_commons.collect.sparkplug.decode import decode_payload, encode_payload
from factory_commons.store.duckdb import DuckDBStore


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.005)


def start_broker(folder: Path, upgrade: bool = True) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = folder / f"mosquitto-{port}.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nqueue_qos0_messages true\n"
        f"upgrade_outgoing_qos {str(upgrade).lower()}\nuser root\n"
    )
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


# -- Sparkplug B end to end ------------------------------------------------------------------------
SPB_DEVICES, SPB_METRICS = 4, 20


def spb_points(machine_prefix: str = "spb/s/a/l") -> dict[str, PointMapping]:
    return {
        f"edge/d{d}/m{k}": PointMapping(machine=f"{machine_prefix}/press-{d}", name=f"m{k}")
        for d in range(SPB_DEVICES)
        for k in range(SPB_METRICS)
    }


def spb_births(group: str) -> list[tuple[str, bytes]]:
    out = [
        (
            f"spBv1.0/{group}/NBIRTH/edge",
            encode_payload([{"name": "bdSeq", "datatype": "Int64", "value": 0}], seq=0),
        )
    ]
    for d in range(SPB_DEVICES):
        ms = [
            {"name": f"m{k}", "alias": d * 100 + k, "datatype": "Double", "value": 0.0}
            for k in range(SPB_METRICS)
        ]
        out.append((f"spBv1.0/{group}/DBIRTH/edge/d{d}", encode_payload(ms, seq=d + 1)))
    return out


def spb_data(group: str, n: int, t0_ms: int, first_seq: int = SPB_DEVICES + 1) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        d = i % SPB_DEVICES
        ts = t0_ms + i  # one millisecond apart: every (machine, name, ts) is a new sample
        ms = [
            {"alias": d * 100 + k, "datatype": "Double", "value": i + k / 100, "timestamp": ts}
            for k in range(SPB_METRICS)
        ]
        out.append(
            (f"spBv1.0/{group}/DDATA/edge/d{d}", encode_payload(ms, seq=(first_seq + i) % 256, timestamp=ts))
        )
    return out


def publish_qos0(port: int, msgs: list[tuple[str, bytes]], per_s: float | None = None) -> None:
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{uuid.uuid4().hex[:6]}")
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    start = time.monotonic()
    for i, (t, p) in enumerate(msgs):
        pub.publish(t, p, qos=0)
        if per_s:
            delay = start + (i + 1) / per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    pub.publish("bench/flush", b"", qos=1).wait_for_publish(120)
    pub.disconnect()
    pub.loop_stop()


def run_spb_bare(port: int, n: int) -> float:
    group = f"bare{uuid.uuid4().hex[:6]}"
    got = [0]
    done = threading.Event()

    def on_message(client, userdata, message) -> None:
        if "/DDATA/" in message.topic:
            got[0] += 1
            if got[0] >= n:
                done.set()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-spb-bare-{group}", protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe(f"spBv1.0/{group}/#", qos=1)
    sub.loop_start()
    time.sleep(0.3)
    msgs = spb_births(group) + spb_data(group, n, int(time.time() * 1000) - n)
    t0 = time.perf_counter()
    threading.Thread(target=publish_qos0, args=(port, msgs), daemon=True).start()
    if not done.wait(300):
        raise SystemExit(f"bare Sparkplug subscriber got {got[0]} of {n}")
    dt = time.perf_counter() - t0
    sub.disconnect()
    sub.loop_stop()
    return dt


def run_spb_ours(port: int, n: int, folder: Path) -> float:
    group = f"ours{uuid.uuid4().hex[:6]}"
    buffer = Buffer(folder / f"{group}.sqlite")
    conn = SparkplugConnector(
        "bench-spb",
        buffer,
        group=group,
        points=spb_points(),
        port=port,
        client_id=f"bench-{group}",
        check_broker=False,
    )
    fwd = Forwarder(buffer, lambda: DuckDBStore(folder / f"{group}.duckdb"))
    stop = threading.Event()
    threads = [
        threading.Thread(target=conn.run, args=(stop,)),
        threading.Thread(target=fwd.run, args=(stop,)),
    ]
    for t in threads:
        t.start()
    _wait(lambda: conn.health.state == HealthState.CONNECTED, 10, "connector")
    rows = n * SPB_METRICS + SPB_DEVICES * SPB_METRICS  # the births' values too
    msgs = spb_births(group) + spb_data(group, n, int(time.time() * 1000) - n)
    t0 = time.perf_counter()
    threading.Thread(target=publish_qos0, args=(port, msgs), daemon=True).start()
    _wait(
        lambda: fwd.written + fwd.duplicates >= rows and buffer.pending_rows() == 0,
        300,
        f"{rows} rows in the store",
    )
    dt = time.perf_counter() - t0
    stop.set()
    for t in threads:
        t.join()
    if conn.gaps or buffer.rejected_count():
        raise SystemExit(f"ours: {conn.gaps} gaps, {buffer.rejected_count()} rejected")
    buffer.close()
    return dt


# -- footprint: the collector as its own process ------------------------------------------------------
def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _health(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


MEMORY_LINE = ""  # e.g. "store_memory_mb = 64"


def _start_collector(port: int, folder: Path, src: str | None = None) -> tuple[subprocess.Popen, Path, str]:
    """`python -m factory_commons.collect` on a fresh store for one Sparkplug group (from `src` if given)."""
    group = f"fp{uuid.uuid4().hex[:6]}"
    store, health = folder / f"{group}.duckdb", folder / f"{group}.health.json"
    points = "\n".join(
        f'points."{k}" = {{ machine = "{m.machine}", name = "{m.name}" }}' for k, m in spb_points().items()
    )
    config = folder / f"{group}.toml"
    config.write_text(
        f'[collector]\nstore = "{store}"\nhealth_file = "{health}"\n{MEMORY_LINE}\n[[sparkplug]]\nname = "spb"\n'
        f'port = {port}\ngroup = "{group}"\nclient_id = "bench-fp-{group}"\n{points}\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": src} if src else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "factory_commons.collect", "--config", str(config), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _wait(lambda: _health(health).get("sources"), 60, "the collector process")
    return proc, health, group


def idle_rss(port: int, folder: Path, src: str | None = None) -> float:
    """RSS (MB) of a collector 10 s after it started, waiting for data."""
    proc, _, _ = _start_collector(port, folder, src)
    try:
        time.sleep(10)
        return _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def slope_mb_per_min(readings: list[float], every_s: float) -> float:
    """Least-squares slope of the second half of the readings (the first minutes fill caches)."""
    tail = readings[len(readings) // 2 :]
    if len(tail) < 2:
        return float("nan")
    xs = [i * every_s / 60 for i in range(len(tail))]
    mx, my = statistics.fmean(xs), statistics.fmean(tail)
    return sum((x - mx) * (y - my) for x, y in zip(xs, tail, strict=True)) / sum((x - mx) ** 2 for x in xs)


def footprint(port: int, folder: Path, minutes: float, rate: float) -> dict:
    proc, health, group = _start_collector(port, folder)
    out: dict = {}
    try:
        time.sleep(10)
        out["idle_rss_mb"] = _rss_mb(proc.pid)
        publish_qos0(port, spb_births(group))
        t0 = int(time.time() * 1000) - 10_000_000  # data times far from now: no clashes with the ramp
        seq = SPB_DEVICES + 1
        steady = int(rate * minutes * 60)
        chunk = max(1, int(rate * 30))  # an RSS reading every 30 s of load: flat or growing?
        readings = []
        for start in range(0, steady, chunk):
            n = min(chunk, steady - start)
            publish_qos0(port, spb_data(group, n, t0, seq), per_s=rate)
            seq += n
            t0 += n
            readings.append(_rss_mb(proc.pid))
            print(
                f"  steady {(start + n) / rate:,.0f} s at {rate:,.0f} msg/s: RSS {readings[-1]:.0f} MB, "
                f"buffer backlog {_health(health).get('pending_rows', 0):,} rows",
                flush=True,
            )
        out["steady_readings"] = readings
        out["steady_slope_mb_min"] = slope_mb_per_min(readings, chunk / rate)
        _wait(lambda: _health(health).get("pending_rows", 1) == 0, 120, "the steady load stored")
        out["steady_rss_mb"] = _rss_mb(proc.pid)
        sustained = 0
        for step in (100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 4000):
            before = sum(s["points"] for s in _health(health).get("sources", []) if s["kind"] == "sparkplug")
            n = int(step * 8)
            publish_qos0(port, spb_data(group, n, t0, seq), per_s=step)
            seq += n
            t0 += n
            time.sleep(1.0)
            h = _health(health)
            stored = sum(s["points"] for s in h.get("sources", []) if s["kind"] == "sparkplug") - before
            kept_up = stored >= 0.98 * n * SPB_METRICS and h.get("pending_rows", 0) < 2 * step * SPB_METRICS
            print(
                f"  ramp {step:,} msg/s: {stored / SPB_METRICS / 9:,.0f} msg/s received, buffer backlog "
                f"{h.get('pending_rows', 0):,} rows, RSS {_rss_mb(proc.pid):.0f} MB",
                flush=True,
            )
            if not kept_up:
                break
            sustained = step
            _wait(lambda: _health(health).get("pending_rows", 1) == 0, 120, "the backlog drained")
        out["sustained_msg_s"] = sustained
        out["after_ramp_rss_mb"] = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    return out


def compare_upgrade(n: int, rounds: int) -> None:
    """Sparkplug end to end with and without the broker's `upgrade_outgoing_qos` (QoS 1 delivery and
    acknowledgement after the commit, or plain QoS 0), alternating, in the same run; CPU seconds
    of this process (collector and forwarder threads, the edge's publisher) per 1,000 messages."""
    with tempfile.TemporaryDirectory() as tmp:
        brokers = {u: start_broker(Path(tmp), upgrade=u) for u in (True, False)}
        try:
            for r in range(rounds):
                for upgrade, (_, port) in brokers.items():
                    cpu = time.process_time()
                    rate = n / run_spb_ours(port, n, Path(tmp))
                    cpu_k = (time.process_time() - cpu) / n * 1000
                    print(
                        f"round {r + 1} upgrade_outgoing_qos {str(upgrade).lower():5}: {rate:,.0f} msg/s, "
                        f"{cpu_k:.2f} CPU s per 1,000 messages",
                        flush=True,
                    )
        finally:
            for proc, _ in brokers.values():
                proc.terminate()
                proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--csv-rows", type=int, default=200_000)
    ap.add_argument("--spb-messages", type=int, default=5_000, help="Sparkplug messages per end-to-end round")
    ap.add_argument(
        "--minutes", type=float, default=0.5, help="minutes of steady load before the RSS reading"
    )
    ap.add_argument("--rate", type=float, default=500, help="steady Sparkplug messages/s (20 metrics each)")
    ap.add_argument(
        "--store-memory-mb",
        type=int,
        default=None,
        help="[collector] store_memory_mb of the footprint's collector (DuckDB's memory limit)",
    )
    ap.add_argument(
        "--idle-baseline",
        default=None,
        help="source folder (holding factory_commons) of another version: its idle RSS too, same run",
    )
    ap.add_argument(
        "--compare-upgrade",
        action="store_true",
        help="only Sparkplug end to end with and without upgrade_outgoing_qos (--spb-messages, --repeat)",
    )
    args = ap.parse_args()
    if args.compare_upgrade:
        compare_upgrade(args.spb_messages, args.repeat)
        return
    if args.store_memory_mb:
        global MEMORY_LINE
        MEMORY_LINE = f"store_memory_mb = {args.store_memory_mb}"
    n = args.messages
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_broker(Path(tmp))
        try:
            ours, bare = [], []
            for r in range(args.repeat):
                bare.append(n / run_bare(port, n))
                ours.append(n / run_ours(port, n, Path(tmp)))
                print(f"round {r + 1}: bare {bare[-1]:,.0f} msg/s, ours {ours[-1]:,.0f} msg/s", flush=True)
            spb_ours, spb_bare = [], []
            m = args.spb_messages
            for r in range(args.repeat):
                spb_bare.append(m / run_spb_bare(port, m))
                spb_ours.append(m / run_spb_ours(port, m, Path(tmp)))
                print(
                    f"sparkplug round {r + 1}: bare {spb_bare[-1]:,.0f} msg/s, ours {spb_ours[-1]:,.0f} msg/s "
                    f"({spb_ours[-1] * SPB_METRICS:,.0f} metrics/s)",
                    flush=True,
                )
            if args.idle_baseline:
                pairs = [
                    (idle_rss(port, Path(tmp), args.idle_baseline), idle_rss(port, Path(tmp)))
                    for _ in range(3)
                ]
                for b, o in pairs:
                    print(f"idle RSS: baseline {b:.1f} MB, ours {o:.1f} MB", flush=True)
            fp = footprint(port, Path(tmp), args.minutes, args.rate)
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"mqtt bare subscriber: best {max(bare):,.0f} msg/s, median {statistics.median(bare):,.0f}")
    print(f"mqtt ours into the store: best {max(ours):,.0f} msg/s, median {statistics.median(ours):,.0f}")
    print(f"sparkplug bare subscriber: best {max(spb_bare):,.0f} msg/s")
    print(
        f"sparkplug ours into the store: best {max(spb_ours):,.0f} msg/s, {max(spb_ours) * SPB_METRICS:,.0f} "
        f"metrics/s ({SPB_METRICS} metrics per message, {SPB_DEVICES} devices)"
    )
    print(
        f"collector process: idle {fp['idle_rss_mb']:.0f} MB RSS, after {args.minutes:g} min at {args.rate:,.0f} msg/s "
        f"{fp['steady_rss_mb']:.0f} MB, after the ramp {fp['after_ramp_rss_mb']:.0f} MB; sustained maximum "
        f"{fp['sustained_msg_s']:,} msg/s ({fp['sustained_msg_s'] * SPB_METRICS:,} metrics/s)"
    )
    print(
        f"steady RSS slope (second half of {args.minutes:g} min at {args.rate:,.0f} msg/s): "
        f"{fp['steady_slope_mb_min']:+.2f} MB/min"
    )
    p_s, m_s = sparkplug_rate()
    print(f"sparkplug decode: {p_s:,.0f} payloads/s, {m_s:,.0f} metrics/s (10 metrics per payload)")
    rate = csv_rate(args.csv_rows)
    if rate is None:
        print("csv import: not available (bench/csv_import.py has no measure())")
    else:
        print(f"csv import: {rate:,.0f} rows/s ({args.csv_rows:,} rows, bench/csv_import.py measure)")
    print(
        f"mqtt_ratio: {max(ours) / max(bare):.2f} spb_ratio: {max(spb_ours) / max(spb_bare):.2f} "
        f"idle_rss_mb: {fp['idle_rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
