"""Ingest benchmark: signal points through the Store API against a raw DuckDB insert.

Runnable alone:  python bench/ingest.py [--points 5000000 --batch 500000]

The data look like what a live collector sends: MACHINES x SIGNALS series sampled 1 s apart,
written time-major (every series at t, then every series at t+1, ...), cut into batches of
--batch rows. Each batch is an Arrow table with columns machine, name, ts, value, unit
(machine, name and unit dictionary-encoded, as a collector keeping a small vocabulary sends
them; --plain-strings sends plain strings instead).

Two temp DuckDB files, same run, same Arrow batches:
  ours  DuckDBStore(path).write_table("signal", batch): validation, machine/series ids,
        idempotency (watermark check, duplicate-key check), one transaction per batch
  raw   INSERT INTO a plain table (machine, name, ts, value, unit) SELECT * FROM batch

Both timings run from the first batch until the file is closed (DuckDB checkpoints on close).
Then the same batches are written through the Store a second time: it must write 0 rows.
Each round uses fresh files; the machine may be shared, so the best of --repeat rounds and
the median are printed. The last line is `ingest_ratio: <ours/raw>` (best points/s of ours
over best points/s of raw).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from factory_commons.store import DuckDBStore  # noqa: E402

SIGNALS = [
    ("spindle_load", "%"),
    ("vibration", "mm/s"),
    ("temperature", "C"),
    ("current", "A"),
    ("진동", "g"),
]


def make_batches(points: int, batch: int, machines: int, plain: bool) -> list[pa.Table]:
    names = [s for s, _ in SIGNALS]
    units = [u for _, u in SIGNALS]
    paths = [f"acme/plant1/area{m // 10 + 1}/line{m % 10 + 1}/m{m:03d}" for m in range(machines)]
    per_t = machines * len(SIGNALS)
    start = np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64)
    rng = np.random.default_rng(7)
    out = []
    machine_dict = pa.array(paths)
    name_dict = pa.array(names)
    unit_dict = pa.array(units)
    for lo in range(0, points, batch):
        i = np.arange(lo, min(points, lo + batch), dtype=np.int64)
        series = i % per_t
        m_idx = (series // len(SIGNALS)).astype(np.int32)
        s_idx = (series % len(SIGNALS)).astype(np.int32)
        ts = start + (i // per_t) * 1_000_000
        value = 50 + 10 * rng.standard_normal(len(i))
        cols = {
            "machine": pa.DictionaryArray.from_arrays(pa.array(m_idx), machine_dict),
            "name": pa.DictionaryArray.from_arrays(pa.array(s_idx), name_dict),
            "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")),
            "value": pa.array(value),
            "unit": pa.DictionaryArray.from_arrays(pa.array(s_idx), unit_dict),
        }
        if plain:
            for c in ("machine", "name", "unit"):
                cols[c] = cols[c].cast(pa.string())
        out.append(pa.table(cols))
    return out


def run_ours(path: Path, batches: list[pa.Table]) -> tuple[float, int]:
    """Seconds from the first write until the store is closed (DuckDB checkpoints on close)."""
    store = DuckDBStore(path)
    t0 = time.perf_counter()
    written = sum(store.write_table("signal", b).written for b in batches)
    store.close()
    return time.perf_counter() - t0, written


def run_raw(path: Path, batches: list[pa.Table]) -> tuple[float, int]:
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "CREATE TABLE signals (machine VARCHAR, name VARCHAR, ts TIMESTAMP, value DOUBLE, unit VARCHAR)"
        )
        t0 = time.perf_counter()
        for b in batches:
            con.register("_batch", b)
            con.execute("INSERT INTO signals SELECT * FROM _batch")
            con.unregister("_batch")
        con.close()  # checkpoints, as DuckDBStore.close does: both timings include it
        elapsed = time.perf_counter() - t0
    finally:
        con.close()
    with duckdb.connect(str(path), read_only=True) as con:
        return elapsed, con.execute("SELECT count(*) FROM signals").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=5_000_000)
    ap.add_argument("--batch", type=int, default=500_000)
    ap.add_argument("--machines", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best and the median are shown")
    ap.add_argument("--plain-strings", action="store_true", help="plain string columns, not dictionary")
    args = ap.parse_args()

    batches = make_batches(args.points, args.batch, args.machines, args.plain_strings)
    n = sum(b.num_rows for b in batches)
    print(
        f"{n:,} points: {args.machines} machines x {len(SIGNALS)} signals, 1 s apart, time-major, "
        f"{len(batches)} batch(es) of <= {args.batch:,} rows "
        f"({'plain strings' if args.plain_strings else 'dictionary-encoded strings'}); "
        f"duckdb {duckdb.__version__}, pyarrow {pa.__version__}, {os.cpu_count()} CPUs, "
        f"{args.repeat} round(s), fresh files each"
    )
    raw_t, ours_t, again_t = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="fc-ingest-") as tmp:
            raw_s, raw_n = run_raw(Path(tmp) / "raw.duckdb", batches)
            ours_path = Path(tmp) / "ours.duckdb"
            ours_s, ours_n = run_ours(ours_path, batches)
            again_s, again_n = run_ours(ours_path, batches)
            with DuckDBStore(ours_path) as store:
                stored = store.query("SELECT count(*) AS n FROM signals").column("n")[0].as_py()
        if raw_n != n or ours_n != n or stored != n:
            sys.exit(f"FAILED: wrote raw={raw_n} ours={ours_n} stored={stored}, expected {n}")
        if again_n != 0:
            sys.exit(f"FAILED: the second write of the same data wrote {again_n} rows, expected 0")
        raw_t.append(raw_s)
        ours_t.append(ours_s)
        again_t.append(again_s)

    def line(label: str, times: list[float], note: str = "") -> float:
        best, med = min(times), statistics.median(times)
        print(f"{label:<27}{n / best:>13,.0f} points/s best ({best:.2f} s), {n / med:>11,.0f} median{note}")
        return n / best

    raw_rate = line("raw DuckDB insert:", raw_t)
    ours_rate = line("Store.write_table (1st):", ours_t)
    line("Store.write_table (again):", again_t, ", 0 rows written")
    ratio = ours_rate / raw_rate
    med_ratio = statistics.median(raw_t) / statistics.median(ours_t)
    met = ratio >= 0.5 and ours_rate >= 3e6
    print(f"ratio ours/raw: {ratio:.2f} best/best, {med_ratio:.2f} median/median")
    print(f"target: ratio >= 0.5 and >= 3,000,000 points/s -> {'met' if met else 'NOT met'}")
    print(f"ingest_ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
