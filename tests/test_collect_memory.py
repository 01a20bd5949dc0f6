"""The collector's store has a bounded memory: DuckDB's cache does not grow with the file, and a
query that needs more than the cap still runs (issue 19)."""

from __future__ import annotations

import importlib.util
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.forwarder import DEFAULT_STORE_MEMORY_MB, Forwarder
from factory_commons.kpi import compute_kpis
from factory_commons.store import DuckDBStore
from factory_commons.store.duckdb import default_burst_mb
from factory_commons.store.remote import FlightStoreServer, RemoteStore


def _limit_mb(store: DuckDBStore) -> float:
    got = store.query("SELECT current_setting('memory_limit') AS m").column("m")[0].as_py()
    number, unit = got.split()
    return float(number) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]


def test_default_limit_on_an_owned_store_file(tmp_path):
    buffer = Buffer(tmp_path / "b.sqlite")
    fw = Forwarder(buffer, lambda: DuckDBStore(tmp_path / "s.duckdb"))
    try:
        store = fw._store()
        assert abs(_limit_mb(store) - DEFAULT_STORE_MEMORY_MB) < 8  # not 80 % of the machine
    finally:
        fw.close()
        buffer.close()


def test_configured_limit_wins(tmp_path):
    buffer = Buffer(tmp_path / "b.sqlite")
    fw = Forwarder(buffer, lambda: DuckDBStore(tmp_path / "s.duckdb"), store_memory_mb=64)
    try:
        assert abs(_limit_mb(fw._store()) - 64) < 4
    finally:
        fw.close()
        buffer.close()


BENCH_OEE = Path(__file__).resolve().parents[1] / "bench" / "oee.py"

# a query that must hold 40 MB at once (one list of 5 million integers): DuckDB cannot spill it
BIG = "SELECT len(list(i)) AS n FROM range(5000000) t(i)"


def test_a_query_above_the_cap_runs_with_the_burst_and_the_cap_returns(tmp_path, caplog):
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        store.set_memory_cap(16, burst_mb=256)
        with pytest.raises(duckdb.OutOfMemoryException):
            store._query(BIG, None, None)  # the cap alone is too small for it
        with caplog.at_level(logging.INFO, logger="factory_commons.store.duckdb"):
            assert store.query(BIG).column("n").to_pylist() == [5_000_000]
        assert "needs more than the 16 MB cap" in caplog.text
        assert store.memory_limit_mb() < 17  # back to the cap
    finally:
        store.close()


def test_a_query_too_big_for_the_burst_still_fails_and_the_cap_returns(tmp_path):
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        store.set_memory_cap(8, burst_mb=16)
        with pytest.raises(duckdb.OutOfMemoryException):
            store.query(BIG)
        assert store.memory_limit_mb() < 9
    finally:
        store.close()


def test_without_a_cap_an_out_of_memory_is_not_retried(tmp_path):
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        store.query("SET memory_limit = '16MB'")  # someone else's limit: not ours to raise
        with pytest.raises(duckdb.OutOfMemoryException):
            store.query(BIG)
    finally:
        store.close()


def test_parallel_queries_above_the_cap_share_one_burst(tmp_path):
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        store.set_memory_cap(16, burst_mb=512)
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(lambda _: store.query(BIG).column("n")[0].as_py(), range(8)))
        assert got == [5_000_000] * 8
        assert store.memory_limit_mb() < 17
    finally:
        store.close()


def test_burst_default_is_at_least_512_mb_and_twice_the_cap():
    assert default_burst_mb(128) >= 512
    assert default_burst_mb(4096) >= 8192


def test_a_dashboard_query_over_flight_runs_above_the_collectors_cap(tmp_path):
    # the collector owns the file and serves it; `serve`'s dashboard asks through Flight
    store = DuckDBStore(tmp_path / "s.duckdb")
    server = FlightStoreServer(store)
    remote = RemoteStore(server.location, server.token)
    try:
        store.set_memory_cap(16, burst_mb=256)
        assert remote.query(BIG).column("n").to_pylist() == [5_000_000]
        assert store.memory_limit_mb() < 17
    finally:
        remote.close()
        server.shutdown()
        store.close()


def test_kpi_hours_saved_above_the_cap_and_the_limit_comes_back_down(tmp_path, caplog):
    # a month of 5 machines from the OEE benchmark's generator; computing their KPIs saves the
    # KPI hours, a write that needs more than a 2 MB cap (its index is held in memory)
    spec = importlib.util.spec_from_file_location("bench_oee", BENCH_OEE)
    oee = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oee)
    store = DuckDBStore(tmp_path / "s.duckdb")
    try:
        oee.generate(store, 5, 20)
        store.set_memory_cap(2, burst_mb=256)
        span = store.query("SELECT min(ts) AS a, max(ts) AS z FROM states").to_pylist()[0]
        with caplog.at_level(logging.INFO, logger="factory_commons.store.duckdb"):
            kpis = compute_kpis(store, span["a"], span["z"], group_by=("machine",))
        assert len(kpis) == 5 and kpis["oee"].between(0, 1).all()
        assert "needs more than the 2 MB cap" in caplog.text
        assert store.query("SELECT count(*) AS n FROM kpi_hours").column("n")[0].as_py() > 0
        store.query("SELECT 1")  # the next call tries the cap again
        assert store.memory_limit_mb() < 256  # as close to the cap as DuckDB lets, not the burst
    finally:
        store.close()
