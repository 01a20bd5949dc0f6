"""The hub ingest's write path alone: `IngestWorker.write` in this process on bench/hub.py's
batches (4,000 messages each, the event-driven region, `--linger 5` messages), no NATS, so the
batches are the same in every run and the worker's CPU per point can be compared between
commits on a loaded machine (bench/hub.py's end-to-end CPU per point also moves with how full
the workers' fetches happen to be).

    python bench/hub_write.py [--firms 2000] [--seconds 20] [--batch 4000]
    PYTHONPATH=/tmp/hub_before/src python /tmp/hub_before/bench/hub_write.py   # an older commit

Prints points/s, the worker's CPU (this process) and its PostgreSQL backend's CPU per 1,000
points, and checks that writing every batch a second time stores nothing more.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
_spec = importlib.util.spec_from_file_location("bench_hub", HERE / "hub.py")
hb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hb)

from factory_commons.hub.ingest import IngestWorker  # noqa: E402
from factory_commons.hub.natsconf import Credentials  # noqa: E402

BATCH = 4_000


def as_messages(windows, start: int) -> list:
    """bench/hub.py's encoded messages as the pull consumer hands them over."""
    out = []
    for w in windows:
        for s, body, mid, _n in w:
            start += 1
            meta = NS(stream="FC", sequence=NS(stream=start), timestamp=datetime.now(UTC), num_pending=0)
            reply = f"$JS.ACK.FC.ingest.1.{start}.{start}.{time.time_ns()}.0"  # what the stream sends
            out.append(NS(subject=s, data=body, headers={"Nats-Msg-Id": mid}, metadata=meta, reply=reply))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firms", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument(
        "--batch", type=int, default=BATCH, help="messages per batch (bench/hub.py's workers get ~1,000)"
    )
    ap.add_argument(
        "--database", default=os.environ.get("FC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = ap.parse_args()
    firms = [f"f{i:04d}" for i in range(args.firms)]
    db = f"fc_hub_write_{os.getpid()}"
    with psycopg.connect(args.database, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {db}")
    url = args.database.rsplit("/", 1)[0] + "/" + db
    worker = IngestWorker(Credentials("bench", ""), url, servers=["nats://unused"], schema_template="hub")
    try:
        warm = as_messages(hb.encode([hb.warm_up(firms, 12, 0)], "warm"), 0)
        for i in range(0, len(warm), BATCH):
            worker.write(warm[i : i + BATCH])
        backend = worker._pg().info.backend_pid  # noqa: SLF001
        rng = np.random.default_rng(25)
        backlog = [hb.region_second(firms, 12, s, rng) for s in range(args.seconds)]
        msgs = as_messages(hb.encode(backlog, "cap", 5), len(warm))
        points = sum(len(r) for sec in backlog for _, _, r in sec)
        pg0, cpu0, t0 = hb.cpu_s([backend]), time.process_time(), time.perf_counter()
        for i in range(0, len(msgs), args.batch):
            worker.write(msgs[i : i + args.batch])
        wall = time.perf_counter() - t0
        cpu, pg = time.process_time() - cpu0, hb.cpu_s([backend]) - pg0
        print(
            f"{points:,} points in {len(msgs):,} messages: {points / wall:,.0f} points/s, "
            f"CPU per 1,000 points: worker {1e6 * cpu / points:.1f} ms, PostgreSQL {1e6 * pg / points:.1f} ms"
        )
        with psycopg.connect(url) as con:
            before = [
                con.execute(f"SELECT count(*) FROM hub.{t}").fetchone()[0]
                for t in ("states", "counts", "signals")
            ]
        for i in range(0, len(msgs), BATCH):
            worker.write(msgs[i : i + BATCH])
        with psycopg.connect(url) as con:
            after = [
                con.execute(f"SELECT count(*) FROM hub.{t}").fetchone()[0]
                for t in ("states", "counts", "signals")
            ]
        print(f"stored rows (states, counts, signals): {before}; written again: {after} (must be equal)")
    finally:
        worker._drop_pg()  # noqa: SLF001
        with psycopg.connect(args.database, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    main()
