"""Shared fixtures: a store factory over both backends (DuckDB in memory, PostgreSQL).

PostgreSQL tests use their own database `fc_test_<random>` on FC_TEST_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test), dropped at the end; each store gets a schema of
its own (emptied and reused by later tests). When
PostgreSQL does not answer they are skipped with the reason, unless FC_REQUIRE_POSTGRES=1
(then they fail).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

# command output is read by the tests: Rich wraps it at the console width (80 without a
# terminal), which splits long temporary paths (`.../popen-gw1/...` under pytest-xdist) in two
os.environ["COLUMNS"] = "200"

from factory_commons.store import DuckDBStore, Store  # noqa: E402 - after COLUMNS is set

PG_URL = os.environ.get("FC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("duckdb", "postgresql")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh database for this test session (dropped at the end)."""
    try:
        import psycopg

        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except Exception as e:  # noqa: BLE001 - any failure to connect means "no PostgreSQL here"
        if os.environ.get("FC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not answering at {PG_URL}: {e}")
        pytest.skip(f"PostgreSQL is not answering at {PG_URL} ({str(e).strip()[:120]}); set FC_TEST_POSTGRES")
    name = f"fc_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class _SchemaPool:
    """Migrated schemas of the test database, emptied and reused: creating a schema costs about
    0.2 s of DDL, emptying one a few milliseconds."""

    def __init__(self, url: str):
        self.url, self.free = url, []

    def store(self):
        from factory_commons.store.postgres import PostgresStore

        schema = self.free.pop() if self.free else f"t_{uuid.uuid4().hex[:16]}"
        return PostgresStore(self.url, schema=schema)

    def give_back(self, store) -> None:
        import psycopg

        from factory_commons.store.schema import ALL_TABLES

        store.close()
        with psycopg.connect(self.url, autocommit=True) as con, con.transaction():
            # the monthly partitions a test's writes made (store/partitions.py) go too, so the
            # next test sees the schema as a fresh one would be
            children = con.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE c.relnamespace = %s::regnamespace AND c.relkind IN ('r', 'p')",  # tables, not indexes
                [store.schema],
            ).fetchall()
            for (child,) in children:
                con.execute(f'DROP TABLE IF EXISTS "{store.schema}"."{child}"')
            for t in ALL_TABLES:
                con.execute(f'DELETE FROM "{store.schema}".{t}')
        self.free.append(store.schema)


@pytest.fixture(scope="session")
def pg_schemas(pg_url) -> _SchemaPool:
    return _SchemaPool(pg_url)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store_factory(request, backend) -> Iterator[Callable[[], Store]]:
    """A function that makes a fresh, empty store of the test's backend (closed afterwards)."""
    made: list[Store] = []
    pool = request.getfixturevalue("pg_schemas") if backend == "postgresql" else None

    def make() -> Store:
        s = pool.store() if pool else DuckDBStore(":memory:")
        made.append(s)
        return s

    yield make
    for s in made:
        if pool:
            pool.give_back(s)
        else:
            s.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright for a module's browser tests (skipped where missing)."""
    from web_browser import chromium

    with chromium() as b:
        yield b
