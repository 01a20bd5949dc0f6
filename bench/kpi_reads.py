"""The reads of one KPI request on DuckDB, before and after `Store.optimize()`.

Runnable alone:  python bench/kpi_reads.py [--machines 50 --days 365 --calls 15]

Writes the plant of bench/oee.py into a temporary DuckDB file a year per machine (as a
backfill does), fills the hourly rollup for the last day, then times `compute_kpis` for the
last 24 hours `--calls` times and each store query it makes (median ms per request, by the
first words of the SQL); then runs `store.optimize()` and times the same again. Both columns
come from the same run and the same store; the results must be equal (checked). The last line
is `kpi_request_ms: <the whole request after optimize>`.

Then the same request from 1 and from 2 threads of this process at once for `--seconds` each
(requests per second and CPU cores used, from getrusage): how much of a request runs beside
another in one process, as a server's request threads do. A machine with 2 free cores and
work that released Python's lock would show about twice the 1-thread rate.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from oee import START, generate  # noqa: E402

from factory_commons.kpi import compute_kpis  # noqa: E402
from factory_commons.store import DuckDBStore  # noqa: E402


def timed_calls(store: DuckDBStore, calls: int, s, e) -> tuple[float, dict[str, float], pd.DataFrame]:
    """Median ms of a whole request and of each of its queries (keyed by the SQL's start)."""
    real = store.query
    per: dict[str, list[float]] = defaultdict(list)

    def query(sql, *args, **kw):
        t = time.perf_counter()
        try:
            return real(sql, *args, **kw)
        finally:
            per[" ".join(sql.split())[:48]].append((time.perf_counter() - t) * 1000)

    store.query = query  # type: ignore[method-assign]
    try:
        result = compute_kpis(store, s, e)
        per.clear()
        totals = []
        for _ in range(calls):
            t = time.perf_counter()
            compute_kpis(store, s, e)
            totals.append((time.perf_counter() - t) * 1000)
    finally:
        del store.query
    return statistics.median(totals), {k: sum(v) / calls for k, v in per.items()}, result


def parallel(store: DuckDBStore, s, e, threads: int, seconds: float) -> tuple[float, float]:
    """(requests per second, CPU cores used) with `threads` threads requesting at once."""
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        while time.perf_counter() < stop:
            compute_kpis(store, s, e)
            done[i] += 1

    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - t0
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    return sum(done) / wall, cpu / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=50)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--calls", type=int, default=15)
    ap.add_argument("--seconds", type=float, default=5.0, help="per row of the threads table")
    args = ap.parse_args()
    end = START + timedelta(days=args.days)
    s = end - timedelta(days=1)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "plant.duckdb")
        try:
            sizes = generate(store, args.machines, args.days)
            print(
                f"{args.machines} machines x {args.days} days: "
                + ", ".join(f"{v:,} {k}" for k, v in sizes.items())
            )
            before_total, before, r0 = timed_calls(store, args.calls, s, end)
            t = time.perf_counter()
            store.optimize()
            print(f"store.optimize(): {time.perf_counter() - t:.1f} s")
            after_total, after, r1 = timed_calls(store, args.calls, s, end)
            rates = [(n, *parallel(store, s, end, n, args.seconds)) for n in (1, 2)]
        finally:
            store.close()
    pd.testing.assert_frame_equal(r0, r1)
    print(
        f"one 'last 24 h' KPI request in-process, {args.calls} calls (median ms; queries: mean ms per request)"
    )
    print(f"{'':<50} {'before':>8} {'after':>8}")
    print(f"{'whole request':<50} {before_total:>8.1f} {after_total:>8.1f}")
    for k in dict.fromkeys([*before, *after]):
        print(f"{k:<50} {before.get(k, 0):>8.1f} {after.get(k, 0):>8.1f}")
    print("results before and after are equal")
    print(f"the same request from threads of one process at once, {args.seconds:.0f} s each:")
    print(f"{'threads':<8} {'requests/s':>11} {'CPU cores used':>15}")
    for n, rps, cores in rates:
        print(f"{n:<8} {rps:>11.1f} {cores:>15.2f}")
    print(f"kpi_request_ms: {after_total:.1f}")


if __name__ == "__main__":
    main()
