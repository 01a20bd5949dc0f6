"""Shared fixtures: a store factory over both backends (DuckDB in memory, PostgreSQL).

PostgreSQL tests use their own database `fc_test_<random>` on FC_TEST_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test), one schema per store, dropped afterwards. When
PostgreSQL does not answer they are skipped with the reason, unless FC_REQUIRE_POSTGRES=1
(then they fail).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from factory_commons.store import DuckDBStore, Store

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


def new_pg_store(url: str):
    from factory_commons.store.postgres import PostgresStore

    return PostgresStore(url, schema=f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def store_factory(request, backend) -> Iterator[Callable[[], Store]]:
    """A function that makes a fresh, empty store of the test's backend (closed afterwards)."""
    made: list[Store] = []
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None

    def make() -> Store:
        s = new_pg_store(url) if url else DuckDBStore(":memory:")
        made.append(s)
        return s

    yield make
    for s in made:
        if url:
            s.drop_schema()
        else:
            s.close()
