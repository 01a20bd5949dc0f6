"""The reads of one KPI request on DuckDB, before and after `Store.optimize()`.

Runnable alone:  python bench/kpi_reads.py [--machines 50 --days 365 --calls 15]

Writes the plant of bench/oee.py into a temporary DuckDB file a year per machine (as a
backfill does), fills the hourly rollup for the last day, then times `compute_kpis` for the
last 24 hours `--calls` times and each store query it makes (median ms per request, by the
first words of the SQL); then runs `store.optimize()` and times the same again. Both columns
come from the same run and the same store; the results must be equal (checked). The last line
is `kpi_request_ms: <the whole request after optimize>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machines", type=int, default=50)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--calls", type=int, default=15)
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
    print(f"kpi_request_ms: {after_total:.1f}")


if __name__ == "__main__":
    main()
