"""PostgresStore.query runs on a few reader connections of its own: concurrent reads get
correct answers, never more than READERS connections are opened, a read after a write sees
it, and close() closes them all."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pyarrow as pa

from factory_commons.store import postgres

T0 = datetime(2025, 1, 1)


def test_concurrent_reads_on_bounded_reader_connections(pg_schemas):
    store = pg_schemas.store()
    try:
        store.write_table(
            "state",
            [
                {"machine": f"f/s/a/l/m{i}", "ts": T0 + timedelta(minutes=i), "state": "running"}
                for i in range(8)
            ],
        )
        busy = threading.Barrier(postgres.READERS, timeout=10)

        def read(i: int) -> int:
            if i < postgres.READERS:  # the first READERS readers hold their connections at once
                busy.wait()
            t = store.query(
                "SELECT count(*) AS n FROM states WHERE ts >= ?",
                [T0 + timedelta(minutes=i % 8)],
                tables={"_x": pa.table({"a": [i]})},
            )
            return t.column("n")[0].as_py()

        with ThreadPoolExecutor(2 * postgres.READERS) as pool:
            got = list(pool.map(read, range(40)))
        assert got == [8 - i % 8 for i in range(40)]
        assert 1 <= len(store._all_readers) <= postgres.READERS
        # a read right after a write sees it, whichever reader it gets
        store.write_table("state", [{"machine": "f/s/a/l/m0", "ts": T0 + timedelta(days=1), "state": "idle"}])
        assert store.query("SELECT count(*) AS n FROM states").column("n")[0].as_py() == 9
        readers = list(store._all_readers)
    finally:
        pg_schemas.give_back(store)
    assert readers and all(c.closed for c in readers)
