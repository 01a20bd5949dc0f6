"""Where the commons keeps its objects: one table of JSON documents in SQLite or PostgreSQL.

Profiles, requests, pools, bookings, projects and missions are pydantic models; each is kept
as a JSON document under (kind, id) with the firm that owns it. The database sits beside the
store like the accounts database: `<store>.commons.sqlite` next to a DuckDB file, or the
schema `fc_commons` (`<schema>_commons` for `?schema=NAME`) of the same PostgreSQL database.

Writes that read first (a pool commitment checking the window, a booking checking the slot)
run inside `transaction()`, which holds the database's write lock for its whole body, so two
members committing at once never both see the old state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_DDL = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL, id TEXT NOT NULL, owner TEXT NOT NULL, body TEXT NOT NULL,
    updated TEXT NOT NULL, PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS docs_owner ON docs (kind, owner)
"""


def default_commons_path(store: str) -> str:
    """The commons database beside a store file or in a PostgreSQL URL's database."""
    if store.startswith(("postgresql://", "postgres://")):
        return store
    return f"{store}.commons.sqlite"


class CommonsDB:
    """JSON documents by (kind, id); thread-safe (one connection behind a lock)."""

    def __init__(self, target: str = ":memory:"):
        self.target = str(target)
        self._lock = threading.RLock()
        if self.target.startswith(("postgresql://", "postgres://")):
            import psycopg
            from psycopg import sql as psql

            from ..store.postgres import split_url

            url, schema = split_url(self.target)
            self.schema = f"{schema}_commons" if schema else "fc_commons"
            self._con = psycopg.connect(url, autocommit=True)
            self._mark = "%s"
            ident = psql.Identifier(self.schema)
            self._con.execute(psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
            self._con.execute(psql.SQL("SET search_path TO {}").format(ident))
            with self._con.transaction():
                self._con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fc.commons.{self.schema}"])
                for stmt in _DDL.split(";"):
                    self._con.execute(stmt)
            self._pg = True
        else:
            self._con = sqlite3.connect(self.target, check_same_thread=False, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL") if self.target != ":memory:" else None
            self._con.executescript(_DDL)
            self._mark = "?"
            self._pg = False
        self._depth = 0

    def close(self) -> None:
        self._con.close()

    def _q(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            cur = self._con.execute(sql.replace("?", self._mark), params)
            return list(cur.fetchall()) if cur.description else []

    @contextmanager
    def transaction(self) -> Iterator[CommonsDB]:
        """All reads and writes in the body happen atomically; nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            if self._pg:
                with self._con.transaction():
                    self._con.execute("LOCK TABLE docs IN EXCLUSIVE MODE")
                    self._depth = 1
                    try:
                        yield self
                    finally:
                        self._depth = 0
            else:
                self._con.execute("BEGIN IMMEDIATE")
                self._depth = 1
                try:
                    yield self
                except BaseException:
                    self._con.execute("ROLLBACK")
                    raise
                else:
                    self._con.execute("COMMIT")
                finally:
                    self._depth = 0

    def put(self, kind: str, id: str, owner: str, doc: BaseModel) -> None:
        """Insert or replace the document `kind`/`id`."""
        now = datetime.now(UTC).isoformat()
        self._q(
            "INSERT INTO docs (kind, id, owner, body, updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET owner = excluded.owner, body = excluded.body, "
            "updated = excluded.updated",
            (kind, id, owner, doc.model_dump_json(), now),
        )

    def put_many(self, kind: str, docs: list[tuple[str, str, BaseModel]]) -> None:
        """Insert or replace many (id, owner, doc) at once, in one transaction."""
        with self.transaction():
            for id, owner, doc in docs:
                self.put(kind, id, owner, doc)

    def get(self, kind: str, id: str, model: type[M]) -> M | None:
        rows = self._q("SELECT body FROM docs WHERE kind = ? AND id = ?", (kind, id))
        return model.model_validate_json(rows[0][0]) if rows else None

    def owner(self, kind: str, id: str) -> str | None:
        rows = self._q("SELECT owner FROM docs WHERE kind = ? AND id = ?", (kind, id))
        return rows[0][0] if rows else None

    def all(self, kind: str, model: type[M], owner: str | None = None) -> list[M]:
        """Every document of a kind (of one owner), in id order."""
        if owner is None:
            rows = self._q("SELECT body FROM docs WHERE kind = ? ORDER BY id", (kind,))
        else:
            rows = self._q("SELECT body FROM docs WHERE kind = ? AND owner = ? ORDER BY id", (kind, owner))
        return [model.model_validate_json(r[0]) for r in rows]

    def version(self, kind: str) -> str:
        """A change marker of one kind: the number of its documents and the latest update time.

        Every put stamps the document with the current time and a delete lowers the count, so the
        marker differs after any change of the kind; a cache of the kind is valid while it is the
        same. Markers of different kinds are independent.
        """
        n, last = self._q("SELECT count(*), max(updated) FROM docs WHERE kind = ?", (kind,))[0]
        return f"{n}:{last or ''}"

    def ids(self, kind: str) -> list[str]:
        return [r[0] for r in self._q("SELECT id FROM docs WHERE kind = ? ORDER BY id", (kind,))]

    def delete(self, kind: str, id: str) -> bool:
        with self.transaction():
            found = bool(self._q("SELECT 1 FROM docs WHERE kind = ? AND id = ?", (kind, id)))
            self._q("DELETE FROM docs WHERE kind = ? AND id = ?", (kind, id))
        return found

    def raw(self, kind: str, id: str) -> dict | None:
        rows = self._q("SELECT body FROM docs WHERE kind = ? AND id = ?", (kind, id))
        return json.loads(rows[0][0]) if rows else None
