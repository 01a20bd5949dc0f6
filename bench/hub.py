"""Hub benchmark: a region of simulated firms through NATS JetStream into PostgreSQL, against a
bare COPY of the same rows and a bare JetStream publish/consume loop, in the same run.

Runnable alone:  python bench/hub.py [--firms 2000 --machines 12 --workers 2 --per-firm-schemas]

The region: FIRMS x MACHINES machines. Event-driven (the default shape), a machine sends on
average 0.02 state changes, 0.1 part counts (a 10 s cycle) and 0.17 values on change per second:
0.29 points/s, so 2,000 x 12 machines = 24,000 machines send ~7,000 points/s. In the 10-tags/s
shape every machine sends 10 signal values a second (240,000 points/s for the full region). Each
firm sends, each second (each --linger seconds), one message with its rows of every kind, as
`hub.edge.EdgeForwarder` publishes its buffered puts (`hub.subjects.Bundle`, `fc.<firm>._rows`,
a `Nats-Msg-Id`), pre-encoded
here so that one Python process can stand in for thousands of shop PCs (a shop's own buffer and
forwarder run on its PC; `edge_rows_per_s` below is one real forwarder from a buffer file).

Phases, one nats-server (R1, file storage) and one PostgreSQL database made for the run:
  copy      the same rows, as Arrow tables ready in memory, COPY'd into plain tables (the floor)
  jetstream the same messages published (async) to a bare stream and pulled + acked, no database
  live      the event-driven region at its real rate for --live-seconds: stored/s, ingest lag p95
  capacity  a backlog of --backlog-seconds of the region published at once, drained by --workers
            ingest processes: points/s through the whole path (stream -> workers -> PostgreSQL,
            KPI rollup invalidation included), into one schema shared by the firms (default here)
            or one schema per firm (--per-firm-schemas: a write per firm and kind)
  10hz      the same for --hz-seconds of the 10-tags/s shape (skip with --skip-10hz)
CPU per 1,000 points counts the ingest workers, their PostgreSQL backends and nats-server (from
/proc), not this process's publishing. Last line:
`hub_points_per_s: <capacity points/s> copy_ratio: <capacity / bare COPY points/s>`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.collect.buffer import Buffer  # noqa: E402
from factory_commons.hub.edge import EdgeForwarder  # noqa: E402
from factory_commons.hub.local import LocalHub, free_ports  # noqa: E402
from factory_commons.hub.stream import connect, consumer_config, ensure_stream  # noqa: E402
from factory_commons.hub.subjects import BUNDLE_KIND, STREAM, Bundle, subject  # noqa: E402

RATES = {"state": 0.02, "count": 0.1, "signal": 0.17}  # per machine and second
STATES = ["running", "idle", "down", "setup"]
T0_US = int(np.datetime64("2026-11-02T00:00:00", "us").astype(np.int64))
TICK = os.sysconf("SC_CLK_TCK")
#: the workers import this tree's code (a copy of an older commit benchmarks that commit's
#: workers, not the ones installed in the virtual environment)
SRC = Path(__file__).resolve().parents[1] / "src"
WORKER_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


def region_second(firms: list[str], machines: int, sec: int, rng, hz: int = 0) -> list[tuple[str, str, list]]:
    """(firm, kind, rows) of one simulated second of the region."""
    out = []
    base = T0_US + sec * 1_000_000
    for f in firms:
        paths = [f"{f}/site/area/line{m // 4}/m{m:02d}" for m in range(machines)]
        if hz:
            rows = [
                {"machine": paths[m], "name": f"tag{k}", "ts": base + k * 1000 + m, "value": float(k + m)}
                for m in range(machines)
                for k in range(hz)
            ]
            out.append((f, "signal", rows))
            continue
        for kind, rate in RATES.items():
            hit = np.flatnonzero(rng.random(machines) < rate)
            if not len(hit):
                continue
            us = rng.integers(0, 1_000_000, len(hit))
            if kind == "state":
                rows = [
                    {"machine": paths[m], "ts": base + int(u), "state": STATES[int(u) % 4]}
                    for m, u in zip(hit, us, strict=True)
                ]
            elif kind == "count":
                rows = [
                    {"machine": paths[m], "ts": base + int(u), "good": 1}
                    for m, u in zip(hit, us, strict=True)
                ]
            else:
                rows = [
                    {
                        "machine": paths[m],
                        "name": "spindle_load",
                        "ts": base + int(u),
                        "value": float(u % 100),
                    }
                    for m, u in zip(hit, us, strict=True)
                ]
            out.append((f, kind, rows))
    return out


def warm_up(firms: list[str], machines: int, hz: int) -> list[tuple[str, str, list]]:
    """One row of every machine and every series the runs below write, an hour before them."""
    out = []
    t = T0_US - 3_600_000_000
    for f in firms:
        paths = [f"{f}/site/area/line{m // 4}/m{m:02d}" for m in range(machines)]
        out.append((f, "state", [{"machine": p, "ts": t, "state": "idle"} for p in paths]))
        out.append((f, "count", [{"machine": p, "ts": t, "good": 0} for p in paths]))
        names = ["spindle_load"] + [f"tag{k}" for k in range(hz)]
        out.append(
            (f, "signal", [{"machine": p, "name": n, "ts": t, "value": 0.0} for p in paths for n in names])
        )
    return out


def encode(
    seconds: list[list[tuple[str, str, list]]], tag: str, linger: int = 1
) -> list[list[tuple[str, bytes, str, int]]]:
    """Messages per window of `linger` seconds (what a forwarder with `--linger` sends: a firm's
    rows of every kind in the window as one bundle, `fc.<firm>._rows`): (subject, body, message
    id, rows)."""
    now = time.time()
    out = []
    for w in range(0, len(seconds), linger):
        joined: dict[str, dict[str, list]] = {}
        for sec in seconds[w : w + linger]:
            for f, kind, rows in sec:
                joined.setdefault(f, {}).setdefault(kind, []).extend(rows)
        out.append(
            [
                (
                    subject(f, BUNDLE_KIND),
                    Bundle.of_rows("sim", now, False, kinds).encode(),
                    f"{tag}:{f}:{w}",
                    sum(len(r) for r in kinds.values()),
                )
                for f, kinds in joined.items()
            ]
        )
    return out


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICK


# -- baselines ------------------------------------------------------------------------------------
def bare_copy(url: str, seconds: list[list[tuple[str, str, list]]]) -> tuple[int, float, float]:
    """(rows, points/s, CPU ms per 1,000 points of this process and its PostgreSQL backend)."""
    by_kind: dict[str, list[dict]] = {}
    for sec in seconds:
        for _f, kind, rows in sec:
            by_kind.setdefault(kind, []).extend(rows)
    tables = {}
    for kind, rows in by_kind.items():
        t = pa.Table.from_pylist(rows)
        t = t.set_column(t.column_names.index("ts"), "ts", t.column("ts").cast(pa.timestamp("us")))
        buf = io.BytesIO()
        pacsv.write_csv(t, buf, pacsv.WriteOptions(include_header=False))
        tables[kind] = (t.column_names, buf.getvalue(), t.num_rows)
    types = {
        "machine": "text",
        "ts": "timestamp",
        "state": "text",
        "good": "bigint",
        "name": "text",
        "value": "double precision",
    }
    n = sum(v[2] for v in tables.values())
    with psycopg.connect(url, autocommit=True) as con:
        for kind, (cols, _, _) in tables.items():
            con.execute(f"DROP TABLE IF EXISTS bare_{kind}")
            con.execute(f"CREATE TABLE bare_{kind} ({', '.join(f'{c} {types[c]}' for c in cols)})")
        backend = con.info.backend_pid
        t0, c0, b0 = time.perf_counter(), time.process_time(), cpu_s([backend])
        with con.transaction():
            for kind, (cols, data, _) in tables.items():
                with con.cursor().copy(f"COPY bare_{kind} ({', '.join(cols)}) FROM STDIN (FORMAT CSV)") as cp:
                    cp.write(data)
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0 + cpu_s([backend]) - b0
        for kind in tables:
            con.execute(f"DROP TABLE bare_{kind}")
    return n, n / elapsed, 1e6 * cpu / n


async def bare_jetstream(hub: LocalHub, messages: list[list[tuple[str, bytes, str, int]]]) -> float:
    """Publish every message to a bare stream and pull + ack them all: points/s."""
    nc = await connect(hub.admin, hub.servers)
    js = nc.jetstream(timeout=10)
    await js.add_stream(name="BARE", subjects=["bare.>"])
    flat = [m for sec in messages for m in sec]
    points = sum(m[3] for m in flat)
    # the same consumer settings and fetch as the ingest workers (the default max_ack_pending of
    # 1,000 would stall every fetch of more)
    config = consumer_config()
    config.durable_name = "bare"
    config.filter_subject = "bare.>"
    await js.add_consumer("BARE", config)
    psub = await js.pull_subscribe_bind(durable="bare", stream="BARE")
    t0 = time.perf_counter()
    futures = [
        await js.publish_async("bare." + s, body, headers={"Nats-Msg-Id": mid}) for s, body, mid, _ in flat
    ]
    await asyncio.gather(*futures)
    got = 0
    while got < len(flat):
        try:
            msgs = await psub.fetch(4000, timeout=0.5)
        except Exception:  # noqa: BLE001 - none yet
            continue
        for m in msgs:
            await m.ack()
        got += len(msgs)
    elapsed = time.perf_counter() - t0
    await js.delete_stream("BARE")
    await nc.close()
    return points / elapsed


# -- our path -------------------------------------------------------------------------------------
class Workers:
    def __init__(self, hub: LocalHub, url: str, n: int, template: str, folder: Path) -> None:
        hub.ingest.save(folder / "ingest.json")
        self.ports = free_ports(n)
        self.procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "factory_commons.hub",
                    "ingest",
                    "--creds",
                    str(folder / "ingest.json"),
                    "--database",
                    url,
                    "--schema-template",
                    template,
                    "--metrics-port",
                    str(p),
                    "--batch",
                    "4000",
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(folder / f"worker{i}.log", "wb"),  # noqa: SIM115
                env=WORKER_ENV,
            )
            for i, p in enumerate(self.ports)
        ]

    def health(self) -> list[dict]:
        out = []
        for p in self.ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{p}/health", timeout=2) as r:
                    out.append(json.loads(r.read()))
            except urllib.error.HTTPError as e:
                out.append(json.loads(e.read()))
            except OSError:
                out.append({})
        return out

    def points(self) -> int:
        return sum(h.get("points", 0) for h in self.health())

    def batches(self) -> int:
        return sum(h.get("batches", 0) for h in self.health())

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(10)


def backend_pids(url: str) -> list[int]:
    with psycopg.connect(url) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'fc-hub-ingest' "
                "AND datname = current_database()"
            )
        ]


async def publish(js, msgs: list[tuple[str, bytes, str, int]]) -> None:
    futures = [
        await js.publish_async(s, body, headers={"Nats-Msg-Id": mid}, stream=STREAM)
        for s, body, mid, _ in msgs
    ]
    await asyncio.gather(*futures)


async def run_capacity(hub, workers: Workers, url: str, messages, label: str) -> dict:
    points = sum(m[3] for sec in messages for m in sec)
    start_points, start_batches = workers.points(), workers.batches()
    parts = {
        "workers": [p.pid for p in workers.procs],
        "postgres": backend_pids(url),
        "nats": [hub.procs[0].pid],
    }
    c0 = {pid: cpu_s([pid]) for v in parts.values() for pid in v}
    nc = await connect(hub.admin, hub.servers)
    js = nc.jetstream(timeout=30)
    t0 = time.perf_counter()
    for sec in messages:
        await publish(js, sec)
    published = time.perf_counter() - t0
    while workers.points() - start_points < points:
        await asyncio.sleep(0.2)  # each poll costs the workers a /health answer
    elapsed = time.perf_counter() - t0
    parts["postgres"] = sorted(set(parts["postgres"]) | set(backend_pids(url)))  # a reconnect's new backend
    by = {k: sum(max(cpu_s([pid]) - c0.get(pid, 0.0), 0.0) for pid in v) for k, v in parts.items()}
    cpu = sum(by.values())
    await nc.close()
    return {
        "phase": label,
        "points": points,
        "messages": sum(len(s) for s in messages),
        "points_per_s": points / elapsed,
        "publish_s": published,
        "batches": workers.batches() - start_batches,
        "cpu_ms_per_1000": 1000 * cpu / points * 1000,
        "cpu_split": {k: round(1e6 * v / points) for k, v in by.items()},
        "worker_errors": sum(h.get("errors", 0) for h in workers.health()),
    }


async def run_live(hub, workers: Workers, url: str, messages, label: str, linger: int = 1) -> dict:
    """Publish window by window at the real rate; the lag from publishing to storing, measured
    here (the workers' own lag metric covers their last minute, the warm-up included)."""
    points = sum(m[3] for sec in messages for m in sec)
    start_points = workers.points()
    parts = {
        "workers": [p.pid for p in workers.procs],
        "postgres": backend_pids(url),
        "nats": [hub.procs[0].pid],
    }
    c0 = {pid: cpu_s([pid]) for v in parts.values() for pid in v}
    nc = await connect(hub.admin, hub.servers)
    js = nc.jetstream(timeout=30)
    published: list[tuple[float, int]] = []  # (when acknowledged by the stream, points so far)
    stored: list[tuple[float, int]] = []  # (when seen stored, points so far)
    done = 0

    async def watch() -> None:
        while True:
            stored.append((time.perf_counter(), workers.points() - start_points))
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    t0 = time.perf_counter()
    for i, sec in enumerate(messages):
        await publish(js, sec)
        done += sum(m[3] for m in sec)
        published.append((time.perf_counter(), done))
        await asyncio.sleep(max(0.0, t0 + (i + 1) * linger - time.perf_counter()))
    end = time.perf_counter() + 900  # drain what could not keep up
    while workers.points() - start_points < points and time.perf_counter() < end:
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - t0
    watcher.cancel()
    stored.append((time.perf_counter(), workers.points() - start_points))
    # each window's lag: from its publishing to the first poll that saw all its points stored
    lags = [next((t for t, n in stored if n >= k), stored[-1][0]) - when for when, k in published]
    parts["postgres"] = sorted(set(parts["postgres"]) | set(backend_pids(url)))  # a reconnect's new backend
    by = {k: sum(max(cpu_s([pid]) - c0.get(pid, 0.0), 0.0) for pid in v) for k, v in parts.items()}
    cpu = sum(by.values())
    await nc.close()
    return {
        "phase": label,
        "points": points,
        "offered_per_s": points / (len(messages) * linger),
        "stored_per_s": (workers.points() - start_points) / elapsed,
        "lag_p95_s": float(np.quantile(lags, 0.95)),
        "lag_max_s": max(lags),
        "cpu_ms_per_1000": 1000 * cpu / points * 1000,
        "cpu_split": {k: round(1e6 * v / points) for k, v in by.items()},
        "worker_errors": sum(h.get("errors", 0) for h in workers.health()),
    }


async def edge_forwarder_rate(hub: LocalHub, folder: Path, firm: str, rows: int = 20_000) -> float:
    """One real EdgeForwarder: rows/s from a buffer file to acknowledged stream messages."""
    with Buffer(folder / "edge.sqlite") as buf:
        for i in range(0, rows, 100):
            buf.put(
                "sim",
                "count",
                [
                    {"machine": f"{firm}/s/a/l/m1", "ts": T0_US + (i + j) * 1000, "good": 1}
                    for j in range(100)
                ],
            )
        fwd = EdgeForwarder(buf, firm, hub.firm(firm))
        nc = await connect(hub.firm(firm), hub.servers)
        js = nc.jetstream(timeout=10)
        t0 = time.perf_counter()
        while await fwd.forward_once(js):
            pass
        elapsed = time.perf_counter() - t0
        await nc.close()
    return rows / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=2000)
    ap.add_argument("--machines", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--live-seconds", type=int, default=10)
    ap.add_argument("--backlog-seconds", type=int, default=20)
    ap.add_argument("--hz-seconds", type=int, default=2)
    ap.add_argument(
        "--linger", type=int, default=1, help="seconds of a firm's data per message (hub forward --linger)"
    )
    ap.add_argument("--skip-10hz", action="store_true")
    ap.add_argument(
        "--per-firm-schemas",
        action="store_true",
        help="one schema per firm (hub ingest default; ~1 s of DDL per firm here), not one shared schema",
    )
    ap.add_argument(
        "--database", default=os.environ.get("FC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = ap.parse_args()

    firms = [f"f{i:04d}" for i in range(args.firms)]
    rng = np.random.default_rng(25)
    dbname = f"fc_hub_bench_{os.getpid()}"
    with psycopg.connect(args.database, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {dbname}")
    url = args.database.rsplit("/", 1)[0] + "/" + dbname
    folder = Path(tempfile.mkdtemp(prefix="fc-hub-bench-"))
    template = "fc_{firm}" if args.per_firm_schemas else "hub"
    results = {}
    try:
        with LocalHub(folder / "nats", firms[:1], nodes=1) as hub:
            asyncio.run(_ensure(hub))
            workers = Workers(hub, url, args.workers, template, folder)
            try:
                # schemas, machines and series first, outside the timings (a first write of a
                # machine or series registers it; each per-firm schema is ~60 relations of DDL)
                t0 = time.perf_counter()
                warm = [warm_up(firms, args.machines, hz=0 if args.skip_10hz else 10)]
                asyncio.run(run_capacity(hub, workers, url, encode(warm, "warm"), "warm"))
                results["schema_setup_s"] = time.perf_counter() - t0
                print(
                    f"setup: {args.firms} firms ({'one schema each' if args.per_firm_schemas else 'one shared schema'}) in {results['schema_setup_s']:.1f} s",
                    flush=True,
                )

                backlog = [region_second(firms, args.machines, s, rng) for s in range(args.backlog_seconds)]
                n, copy_ps, copy_cpu = bare_copy(url, backlog)
                results["copy"] = copy_ps
                results["copy_cpu"] = copy_cpu
                print(
                    f"bare COPY:        {n:,} rows  {copy_ps:,.0f} points/s  CPU {copy_cpu:.1f} ms per 1,000 points",
                    flush=True,
                )
                msgs = encode(backlog, "cap", args.linger)
                results["jetstream"] = asyncio.run(bare_jetstream(hub, msgs))
                print(
                    f"bare JetStream:   {sum(len(s) for s in msgs):,} messages  {results['jetstream']:,.0f} points/s",
                    flush=True,
                )

                live = [region_second(firms, args.machines, 1000 + s, rng) for s in range(args.live_seconds)]
                r = asyncio.run(
                    run_live(hub, workers, url, encode(live, "live", args.linger), "live", args.linger)
                )
                results["live"] = r
                print(
                    f"live region:      offered {r['offered_per_s']:,.0f} points/s, stored {r['stored_per_s']:,.0f}/s, lag publish -> stored p95 {r['lag_p95_s']:.1f} s (max {r['lag_max_s']:.1f}), CPU {r['cpu_ms_per_1000']:.0f} ms per 1,000 points {r['cpu_split']}, worker errors {r['worker_errors']}",
                    flush=True,
                )

                r = asyncio.run(run_capacity(hub, workers, url, msgs, "capacity"))
                results["capacity"] = r
                print(
                    f"capacity:         {r['points']:,} points in {r['messages']:,} messages  {r['points_per_s']:,.0f} points/s  (published in {r['publish_s']:.1f} s, {r['batches']} batches)  CPU {r['cpu_ms_per_1000']:.0f} ms per 1,000 points {r['cpu_split']}, worker errors {r['worker_errors']}",
                    flush=True,
                )
                print(
                    f"headroom:         {r['points_per_s'] / (args.firms * args.machines * sum(RATES.values())):.1f}x the event-driven region of {args.firms} firms",
                    flush=True,
                )

                if not args.skip_10hz:
                    hz = [
                        region_second(firms, args.machines, 2000 + s, rng, hz=10)
                        for s in range(args.hz_seconds)
                    ]
                    r = asyncio.run(run_capacity(hub, workers, url, encode(hz, "hz"), "10hz"))
                    results["10hz"] = r
                    print(
                        f"10 tags/s:        {r['points']:,} points  {r['points_per_s']:,.0f} points/s = {r['points_per_s'] / (args.firms * args.machines * 10):.2f}x of its {args.firms * args.machines * 10:,} points/s  CPU {r['cpu_ms_per_1000']:.0f} ms per 1,000 points {r['cpu_split']}, worker errors {r['worker_errors']}",
                        flush=True,
                    )

                results["edge_rows_per_s"] = asyncio.run(edge_forwarder_rate(hub, folder, firms[0]))
                print(
                    f"one edge forwarder (buffer file -> stream acks): {results['edge_rows_per_s']:,.0f} rows/s",
                    flush=True,
                )
            finally:
                workers.stop()
    finally:
        with psycopg.connect(args.database, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    ours = results["capacity"]["points_per_s"]
    # on a shared machine the wall-clock ratio moves with the load; CPU per point does not
    print(
        f"CPU per point, bare COPY / ours (capacity): {results['copy_cpu'] / results['capacity']['cpu_ms_per_1000']:.2f}",
        flush=True,
    )
    print(f"hub_points_per_s: {ours:.0f} copy_ratio: {ours / results['copy']:.2f}")


async def _ensure(hub: LocalHub) -> None:
    nc = await connect(hub.admin, hub.servers)
    await ensure_stream(nc.jetstream(timeout=10))
    await nc.close()


if __name__ == "__main__":
    main()
