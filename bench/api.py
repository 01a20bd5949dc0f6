"""API benchmark: requests per second and p95 latency of the plant overview and the OEE endpoint.

Runnable alone:  python bench/api.py [--days 365 --machines 50 --requests 200 --clients 4]
                 python bench/api.py --quick          (30 days x 12 machines, a smoke run)
                 python bench/api.py --backend duckdb (one backend only)

Data: the plant of bench/oee.py (state changes alternating running and stops, about 190 per
machine and day, part counts, a production order per machine and day, a two-shift calendar),
written through the Store API into a temporary DuckDB file and into a fresh schema of
PostgreSQL (FC_BENCH_POSTGRES, default postgresql://postgres@127.0.0.1:5432/test; the schema is
dropped at the end), a year per machine as a backfill writes it, followed by the store's upkeep
after a bulk load, `Store.optimize()` (DuckDB: event tables rewritten in time order so that a
time range skips most row groups; PostgreSQL: ANALYZE), as import-parquet and large file imports
run it; one KPI computation is timed before and after it.
No signals: these endpoints do not read them.

Served by the real command in a child process on a free port: `factory-commons serve --store
FILE --workers N` on DuckDB (the first worker owns the file, the others reach it through that
one: store/remote.py) and `factory-commons serve --database URL --workers N` on PostgreSQL, N
= `--workers` (default the machine's cores), the accounts in a SQLite file. Called with a firm owner's bearer API token by `--clients`
concurrent httpx clients (threads, keep-alive) in another process, `--requests` requests per
endpoint after a few warm-up requests (and, before any client starts, one request per endpoint
that fills the hourly rollup for its window: the week's cold days take seconds). Endpoints:
  overview    GET /api/overview                  every machine's current state and alarms
  kpi day     GET /api/kpi?start=-1d&end=E       OEE per machine, the data's last 24 h
  kpi week    GET /api/kpi?start=-7d&end=E       OEE per machine, the data's last 7 days
Prints two tables per backend (requests, rps, median, p95, max in ms): with `--clients`
concurrent clients (the server saturated: latency includes queueing behind the other clients'
requests on 2 cores), with the CPU time per request of the server's processes and of
PostgreSQL's (from /proc: steadier than latency on a machine whose speed varies), and with one
client (each request alone: the server's own latency). The
last line is `api_p95_ms: <worst p95 of the concurrent rows>`; the line before it gives the
worst p95 with one client.

Baseline in the same run (`--baseline-calls`, default 3; 0 skips it): the computations the
endpoints did before the speed work, called in-process on the same store (no HTTP): the
overview's ranking of every state change (`row_number()` over v_states) and the KPI query
over every machine's whole state history without the hourly rollup (`oee.BOUNDED_STATES =
False`, `oee.ROLLUP = False`). The served KPI result (bounded reads, whole hours from the
rollup) is checked against the full-history one for the day and the week (rtol 1e-9: the
engines may add floats in another order).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
from argon2 import PasswordHasher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from oee import START, generate  # noqa: E402

from factory_commons.accounts import Accounts  # noqa: E402
from factory_commons.kpi import compute_kpis, oee  # noqa: E402
from factory_commons.store import DuckDBStore  # noqa: E402

PG_URL = os.environ.get("FC_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """`factory-commons serve` (the real command) in a child process on a free port."""

    def __init__(self, serve_args: list[str]):
        self.port = free_port()
        self.cmd = [
            sys.executable,
            "-m",
            "factory_commons.cli",
            "serve",
            *serve_args,
            "--port",
            str(self.port),
        ]
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> str:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/api/overview", timeout=5)
                return base
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"{' '.join(self.cmd)} did not start") from None
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure(base: str, token: str, path: str, params: dict, requests: int, clients: int) -> dict:
    """`_measure` in a separate process: the clients do not compete with the server for
    Python's lock, as browsers on other machines would not."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(_measure, base, token, path, params, requests, clients).result()


def _measure(base: str, token: str, path: str, params: dict, requests: int, clients: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    per_client = max(1, requests // clients)

    def run(_: int) -> list[float]:
        times = []
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            for _ in range(3):  # warm-up: connection, caches
                c.get(path, params=params).raise_for_status()
            for _ in range(per_client):
                t = time.perf_counter()
                r = c.get(path, params=params)
                times.append(time.perf_counter() - t)
                r.raise_for_status()
        return times

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        times = [t for ts in pool.map(run, range(clients)) for t in ts]
    wall = time.perf_counter() - t0
    times.sort()
    return {
        "requests": len(times),
        "rps": len(times) / wall,
        "median": statistics.median(times) * 1000,
        "p95": times[min(len(times) - 1, int(0.95 * len(times)))] * 1000,
        "max": times[-1] * 1000,
    }


def cpu_ms(root: int) -> tuple[float, float]:
    """CPU time so far (ms, user + system) of process `root` with its descendants (the server
    and its workers), and of every PostgreSQL process; NaN where there is no /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return float("nan"), float("nan")
    tick = os.sysconf("SC_CLK_TCK")
    parent, used, pg = {}, {}, 0.0
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        parent[int(d.name)] = int(fields[1])
        used[int(d.name)] = (int(fields[11]) + int(fields[12])) * 1000 / tick
        if cmd.startswith(b"postgres"):
            pg += used[int(d.name)]
    tree, grew = {root}, True
    while grew:
        more = {p for p, pp in parent.items() if pp in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(used.get(p, 0.0) for p in tree), pg


ALONE: list[tuple[str, dict]] = []  # the 1-client rows of every backend (printed, not in api_p95_ms)


def _ms(f) -> float:
    t = time.perf_counter()
    f()
    return (time.perf_counter() - t) * 1000


OLD_OVERVIEW = (
    "SELECT machine, state, reason_code, ts FROM ("
    " SELECT machine, state, reason_code, ts,"
    "  row_number() OVER (PARTITION BY machine ORDER BY ts DESC) AS rn"
    " FROM v_states) t WHERE rn = 1"
)


def baseline(store, end: datetime, calls: int) -> list[tuple[str, float]]:
    """Median ms of the pre-optimisation computations, in-process; checks the KPI results agree."""

    def timed(f) -> float:
        ts = []
        for _ in range(calls):
            t = time.perf_counter()
            f()
            ts.append((time.perf_counter() - t) * 1000)
        return statistics.median(ts)

    out = [("overview", timed(lambda: store.query(OLD_OVERVIEW)))]
    for label, days in (("kpi day", 1), ("kpi week", 7)):
        s = end - timedelta(days=days)
        served = compute_kpis(store, s, end)  # bounded reads + the hourly rollup (kpi/rollup.py)
        try:
            oee.BOUNDED_STATES, oee.ROLLUP = False, False
            full = compute_kpis(store, s, end)
            out.append((label, timed(lambda s=s: compute_kpis(store, s, end))))
        finally:
            oee.BOUNDED_STATES, oee.ROLLUP = True, True
        pd.testing.assert_frame_equal(served, full, rtol=1e-9)  # float sums: order may vary
    return out


def bench_store(
    name: str, open_store, serve_args: list[str], tmp: Path, args, end: datetime
) -> list[tuple[str, dict]]:
    store = open_store()
    t = time.perf_counter()
    sizes = generate(store, args.machines, args.days)
    gen_s = time.perf_counter() - t
    print(
        f"\n{name}: {args.machines} machines x {args.days} days: "
        + ", ".join(f"{v:,} {k}" for k, v in sizes.items())
        + f"; generated in {gen_s:.1f} s"
    )
    # written a year per machine, as a backfill would be: then the store's upkeep after a bulk
    # load (what import-parquet and large file imports run), timed beside one KPI request
    day = (end - timedelta(days=1), end)
    compute_kpis(store, *day)  # fills the day's hours of the rollup
    before = statistics.median(_ms(lambda: compute_kpis(store, *day)) for _ in range(5))
    t = time.perf_counter()
    store.optimize()
    opt_s = time.perf_counter() - t
    compute_kpis(store, *day)
    after = statistics.median(_ms(lambda: compute_kpis(store, *day)) for _ in range(5))
    print(
        f"store.optimize() after the load: {opt_s:.1f} s; one 'kpi day' computation in-process "
        f"(rollup warm, median of 5): {before:.1f} ms before, {after:.1f} ms after"
    )
    store.close()  # the server opens it (a DuckDB file is written by one process)
    acc_path = tmp / f"{name}.accounts.sqlite"
    accounts = Accounts(str(acc_path), hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    firm = accounts.create_firm("acme", ["acme"])
    owner = accounts.create_user(firm.id, "owner@acme.example", "owner", "owner", "bench password 1")
    token = accounts.create_token(owner.id, "bench", end)
    accounts.close()
    endpoints = [  # the windows end where the data ends (the server's clock is today)
        ("overview", "/api/overview", {}),
        ("kpi day", "/api/kpi", {"start": (end - timedelta(days=1)).isoformat(), "end": end.isoformat()}),
        ("kpi week", "/api/kpi", {"start": (end - timedelta(days=7)).isoformat(), "end": end.isoformat()}),
    ]
    rows = []
    serve = [*serve_args, "--accounts", str(acc_path)]
    print("served by: factory-commons serve " + " ".join(serve))
    serving = ServeProcess(serve)
    with serving as base:
        n = len(httpx.get(f"{base}/api/overview", headers={"Authorization": f"Bearer {token}"}).json())
        assert n == args.machines, f"overview shows {n} machines, expected {args.machines}"
        for _, path, params in endpoints:  # one request each first: a cold window fills the
            # rollup (the week's six untouched days take seconds), which no timing should include
            httpx.get(
                f"{base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=600
            ).raise_for_status()
        for label, path, params in endpoints:
            srv0, pg0 = cpu_ms(serving.proc.pid)
            m = measure(base, token, path, params, args.requests, args.clients)
            srv1, pg1 = cpu_ms(serving.proc.pid)
            n = m["requests"] + 3 * args.clients  # with the warm-up requests
            m["server_cpu"], m["pg_cpu"] = (srv1 - srv0) / n, (pg1 - pg0) / n
            rows.append((label, m))
        alone = [
            (label, measure(base, token, path, params, args.requests, 1)) for label, path, params in endpoints
        ]
    for title, table in (
        (f"{args.clients} concurrent clients", rows),
        ("1 client (one request at a time)", alone),
    ):
        print(title)
        cpu = "server_cpu" in table[0][1]
        print(
            f"{'endpoint':<10} {'requests':>8} {'rps':>8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}"
            + (f" {'server cpu ms/req':>18} {'postgres cpu ms/req':>20}" if cpu else "")
        )
        for label, m in table:
            print(
                f"{label:<10} {m['requests']:>8} {m['rps']:>8.1f} {m['median']:>10.1f} "
                f"{m['p95']:>8.1f} {m['max']:>8.1f}"
                + (f" {m['server_cpu']:>18.1f} {m['pg_cpu']:>20.1f}" if cpu else "")
            )
    ALONE.extend(alone)
    if args.baseline_calls:
        store = open_store()
        try:
            print(
                f"baseline (before: full-history queries, in-process, median of {args.baseline_calls} calls):"
            )
            for label, ms in baseline(store, end, args.baseline_calls):
                print(f"{label:<10} {ms:>10.1f} ms")
        finally:
            store.close()
        print("kpi day and kpi week: served (rollup) result equals the full-history result (rtol 1e-9)")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--machines", type=int, default=50)
    ap.add_argument(
        "--requests", type=int, default=None, help="per endpoint, over all clients (200; --quick 60)"
    )
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (threads)")
    ap.add_argument("--quick", action="store_true", help="30 days x 12 machines, 60 requests")
    ap.add_argument("--backend", choices=("duckdb", "postgresql", "both"), default="both")
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="server processes (serve --workers; default: the machine's cores)",
    )
    ap.add_argument(
        "--baseline-calls", type=int, default=3, help="calls of each pre-optimisation computation (0: none)"
    )
    args = ap.parse_args()
    if args.quick:
        args.days, args.machines = 30, 12
    if args.requests is None:
        args.requests = 60 if args.quick else 200
    end = (START + timedelta(days=args.days)).replace(tzinfo=UTC)
    print(
        f"api bench: {args.machines} machines, {args.days} days, {args.requests} requests per endpoint, "
        f"{args.clients} concurrent clients"
    )
    results: list[tuple[str, dict]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.backend in ("duckdb", "both"):
            path = tmp / "bench.duckdb"
            serve = ["--store", str(path), "--workers", str(args.workers)]
            results += bench_store("duckdb", lambda: DuckDBStore(path), serve, tmp, args, end)
        if args.backend in ("postgresql", "both"):
            import psycopg

            from factory_commons.store.postgres import PostgresStore

            schema = f"bench_{uuid.uuid4().hex[:12]}"
            sep = "&" if "?" in PG_URL else "?"
            url = f"{PG_URL}{sep}schema={schema}"
            serve = ["--database", url, "--workers", str(args.workers)]
            try:
                results += bench_store("postgresql", lambda: PostgresStore(url), serve, tmp, args, end)
            finally:
                with psycopg.connect(PG_URL, autocommit=True) as con:  # the store and serve's commons
                    for name in (schema, f"{schema}_commons"):
                        con.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    print(f"worst p95 with 1 client: {max(m['p95'] for _, m in ALONE):.1f} ms")
    print(f"api_p95_ms: {max(m['p95'] for _, m in results):.1f}")


if __name__ == "__main__":
    main()
