"""Remote vs direct: the same writes and queries on a store file opened here, and through its owner.

Runnable alone:  python bench/remote.py [--points 1000000 --batch 100000 --repeat 3]

direct  this process opens a fresh DuckDB file itself (DuckDBStore)
remote  another process owns a fresh file (open_store, served over Arrow Flight on 127.0.0.1)
        and this process reaches it with open_store (RemoteStore): batches go over as Arrow
        record batches, results come back as Arrow record batches

Measured: writing --points signal points in --batch batches (validation and idempotency run
in the owner either way), an aggregate query (small answer), reading every point back
(`read("signal")`, a large answer), and the round trip of a tiny call. Fresh files each of
--rounds rounds, direct and remote alternating; the best time of each is printed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.store import DuckDBStore, open_store  # noqa: E402
from factory_commons.store.remote import RemoteStore  # noqa: E402

SIGNALS = ["spindle_load", "vibration", "temperature", "current", "진동"]
AGG = (
    "SELECT machine, name, count(*) AS n, avg(value) AS mean, max(value) AS peak FROM v_signals GROUP BY ALL"
)
OWNER = """
import sys
sys.path.insert(0, sys.argv[2])
from factory_commons.store import open_store
st = open_store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
st.close()
"""


def make_batches(points: int, batch: int, machines: int = 20) -> list[pa.Table]:
    series = [(f"acme/changwon/machining/line{m // 10}/m{m}", s) for m in range(machines) for s in SIGNALS]
    t0 = np.datetime64(datetime(2026, 3, 2), "us")
    rows = np.arange(points)
    step, which = rows // len(series), rows % len(series)
    table = pa.table(
        {
            "machine": pa.array([series[i][0] for i in which.tolist()]),
            "name": pa.array([series[i][1] for i in which.tolist()]),
            "ts": pa.array(t0 + step * np.timedelta64(1, "s")),
            "value": pa.array(np.random.default_rng(1).normal(50, 10, points)),
            "unit": pa.array(["u"] * points),
        }
    )
    return [table.slice(i, batch) for i in range(0, points, batch)]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure(store, batches: list[pa.Table], repeat: int) -> dict[str, float]:
    t = time.perf_counter()
    for b in batches:
        store.write_table("signal", b)
    out = {"write": time.perf_counter() - t}
    points = sum(b.num_rows for b in batches)
    assert store.query("SELECT count(*) AS n FROM signals").column("n")[0].as_py() == points
    t = time.perf_counter()
    again = sum(store.write_table("signal", b).written for b in batches)
    out["rewrite (all duplicates)"] = time.perf_counter() - t
    assert again == 0
    out["aggregate query"] = best(lambda: store.query(AGG), repeat)
    out["read all points"] = best(lambda: store.read("signal"), repeat)
    out["tiny call (x100)"] = best(lambda: [store.query("SELECT 1") for _ in range(100)], repeat)
    return out


def _keep_best(acc: dict[str, float], new: dict[str, float]) -> None:
    for k, v in new.items():
        acc[k] = min(acc.get(k, v), v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="query repeats per round")
    ap.add_argument("--rounds", type=int, default=3, help="fresh files per mode, alternating")
    args = ap.parse_args()
    batches = make_batches(args.points, args.batch)
    src = str(Path(__file__).resolve().parents[1] / "src")
    direct: dict[str, float] = {}
    remote: dict[str, float] = {}
    for _ in range(args.rounds):  # alternate, fresh files each round, keep the best
        with tempfile.TemporaryDirectory() as tmp:
            with DuckDBStore(Path(tmp) / "direct.duckdb") as st:
                _keep_best(direct, measure(st, batches, args.repeat))
            remote_path = Path(tmp) / "remote.duckdb"
            owner = subprocess.Popen(
                [sys.executable, "-c", OWNER, str(remote_path), src],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert owner.stdout.readline().strip() == "ready"
                with open_store(remote_path) as st:
                    assert isinstance(st, RemoteStore)
                    _keep_best(remote, measure(st, batches, args.repeat))
            finally:
                owner.stdin.write("\n")
                owner.stdin.close()
                owner.wait()
    print(f"{args.points:,} signal points in batches of {args.batch:,}; best of {args.rounds} rounds")
    print(f"{'':26}{'direct s':>10}{'remote s':>10}{'remote/direct':>15}")
    for k in direct:
        print(f"{k:26}{direct[k]:10.3f}{remote[k]:10.3f}{remote[k] / direct[k]:15.2f}")
    print(
        f"write points/s: direct {args.points / direct['write']:,.0f}, remote {args.points / remote['write']:,.0f}"
    )
    print(f"tiny call round trip: remote {remote['tiny call (x100)'] * 10:.2f} ms")


if __name__ == "__main__":
    main()
