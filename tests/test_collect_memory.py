"""The collector's store has a bounded memory: DuckDB's cache does not grow with the file (issue 19)."""

from __future__ import annotations

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.forwarder import DEFAULT_STORE_MEMORY_MB, Forwarder
from factory_commons.store import DuckDBStore


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
