"""Where cases live: one table beside the store, with each case's embedding.

`<store>.knowhow.sqlite` next to a DuckDB file, or the schema `fc_knowhow` (`<schema>_knowhow`
for `?schema=NAME`) of the same PostgreSQL database, like the commons (`cooperate/db.py`).
A case is a JSON document; its embedding (float32, `embed.DIM` values) is computed when it is
added, so a search only embeds the query. `ref` is unique per firm: adding a case with a `ref`
that is there replaces that case (an import run twice changes nothing).

The search index (`search.CaseIndex`) is built from all cases on the first search and rebuilt
when the cases changed (`version()`). The table `meta` keeps `search.vectors_fingerprint()` of
the stored vectors: a database opened by a version that makes them differently (another
recipe, thesaurus or model) embeds its cases again, so old vectors never mix with new queries.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np

from .cases import Case

log = logging.getLogger(__name__)

_DDL = """
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY, firm TEXT NOT NULL, ref TEXT, machine TEXT, machine_type TEXT,
    verified INTEGER NOT NULL, body TEXT NOT NULL, embedding {blob}, updated TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS cases_ref ON cases (firm, ref) WHERE ref IS NOT NULL;
CREATE INDEX IF NOT EXISTS cases_machine ON cases (firm, machine);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS case_terms (id TEXT PRIMARY KEY, key TEXT NOT NULL, terms TEXT NOT NULL)
"""
#: cases embedded again per transaction when the stored vectors are stale
REEMBED_BATCH = 256


def default_knowhow_path(store: str) -> str:
    """The know-how database beside a store file or in a PostgreSQL URL's database."""
    if store.startswith(("postgresql://", "postgres://")):
        return store
    return f"{store}.knowhow.sqlite"


def open_knowhow(store: str) -> KnowhowDB:
    """The know-how database of a store (a file path or a PostgreSQL URL; ':memory:' for tests)."""
    return KnowhowDB(default_knowhow_path(store) if store != ":memory:" else store)


class KnowhowDB:
    """Cases by id, with embeddings; thread-safe (one connection behind a lock)."""

    def __init__(self, target: str = ":memory:"):
        self.target = str(target)
        self._lock = threading.RLock()
        self._index = None
        self._index_version: str | None = None
        if self.target.startswith(("postgresql://", "postgres://")):
            import psycopg
            from psycopg import sql as psql

            from ..store.postgres import split_url

            url, schema = split_url(self.target)
            self.schema = f"{schema}_knowhow" if schema else "fc_knowhow"
            self._con = psycopg.connect(url, autocommit=True)
            self._mark = "%s"
            ident = psql.Identifier(self.schema)
            self._con.execute(psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
            self._con.execute(psql.SQL("SET search_path TO {}").format(ident))
            with self._con.transaction():
                self._con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fc.knowhow.{self.schema}"])
                for stmt in _DDL.format(blob="BYTEA").split(";"):
                    self._con.execute(stmt)
            self._pg = True
        else:
            self._con = sqlite3.connect(self.target, check_same_thread=False, isolation_level=None)
            if self.target != ":memory:":
                self._con.execute("PRAGMA journal_mode=WAL")
            self._con.executescript(_DDL.format(blob="BLOB"))
            self._mark = "?"
            self._pg = False
        self._refresh_vectors()

    def _refresh_vectors(self) -> None:
        """Embed every case again when its vector was made another way (see the module doc)."""
        from .search import vectors_fingerprint

        want = vectors_fingerprint()
        row = self._q("SELECT value FROM meta WHERE key = 'vectors'")
        if row and row[0][0] == want:
            return  # the usual case: no write lock taken on open
        with self.transaction():
            if self._pg:
                self._con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"fc.knowhow.{self.schema}"])
            row = self._q("SELECT value FROM meta WHERE key = 'vectors'")
            if row and row[0][0] == want:
                return
            ids = [r[0] for r in self._q("SELECT id FROM cases ORDER BY id")]
            if ids:
                from ..i18n import Catalog

                log.warning(Catalog("knowhow").both("vectors_reembedded", " / ").format(n=len(ids)))
            for i in range(0, len(ids), REEMBED_BATCH):
                self._reembed(ids[i : i + REEMBED_BATCH])
            self._q(
                "INSERT INTO meta (key, value) VALUES ('vectors', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (want,),
            )

    def _reembed(self, ids: list[str]) -> None:
        from .search import case_vectors

        marks = ", ".join("?" * len(ids))
        rows = self._q(f"SELECT id, body FROM cases WHERE id IN ({marks})", ids)
        cases = [Case.model_validate_json(body) for _, body in rows]
        for (cid, _), vec in zip(rows, case_vectors(cases), strict=True):
            blob = np.asarray(vec, dtype=np.float32).tobytes()
            self._q("UPDATE cases SET embedding = ? WHERE id = ?", (blob, cid))

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> KnowhowDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _q(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock:
            cur = self._con.execute(sql.replace("?", self._mark), tuple(params))
            return list(cur.fetchall()) if cur.description else []

    @contextmanager
    def transaction(self) -> Iterator[KnowhowDB]:
        """All writes in the body happen together or not at all."""
        with self._lock:
            if self._pg:
                with self._con.transaction():
                    yield self
            else:
                self._con.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    self._con.execute("ROLLBACK")
                    raise
                self._con.execute("COMMIT")

    # -- writing ---------------------------------------------------------------------------
    def add(self, case: Case, embedding: np.ndarray | None = None) -> Case:
        """Insert or replace a case (by id, or by firm and `ref`); computes its embedding."""
        return self.add_many([case], None if embedding is None else embedding[None, :])[0]

    def add_many(self, cases: list[Case], embeddings: np.ndarray | None = None) -> list[Case]:
        """Insert or replace many cases in one transaction (all or none); returns them as stored.

        A case whose firm and `ref` are already stored takes over that case's id."""
        if not cases:
            return []
        if embeddings is None:
            from .search import case_vectors

            embeddings = case_vectors(cases)
        now = datetime.now(UTC).isoformat()
        stored = []
        with self.transaction():
            for case, vec in zip(cases, embeddings, strict=True):
                if case.ref:
                    old = self._q("SELECT id FROM cases WHERE firm = ? AND ref = ?", (case.firm, case.ref))
                    if old and old[0][0] != case.id:
                        case = case.model_copy(update={"id": old[0][0]})
                blob = np.asarray(vec, dtype=np.float32).tobytes()
                self._q(
                    "INSERT INTO cases (id, firm, ref, machine, machine_type, verified, body, embedding, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET firm = excluded.firm, "
                    "ref = excluded.ref, machine = excluded.machine, machine_type = excluded.machine_type, "
                    "verified = excluded.verified, body = excluded.body, embedding = excluded.embedding, "
                    "updated = excluded.updated",
                    (
                        case.id,
                        case.firm,
                        case.ref,
                        case.machine,
                        case.machine_type,
                        int(case.verified),
                        case.model_dump_json(),
                        blob,
                        now,
                    ),
                )
                stored.append(case)
        return stored

    def update(self, case: Case) -> Case:
        """Store changed fields of a case; the embedding is computed again."""
        return self.add(case)

    def verify(self, case_id: str, verifier: str, verified: bool = True) -> Case:
        """A supervisor marks a case verified (or takes the mark back); KeyError if there is none."""
        case = self.get(case_id)
        if case is None:
            raise KeyError(case_id)
        upd = {
            "verified": verified,
            "verifier": verifier if verified else None,
            "verified_at": datetime.now(UTC) if verified else None,
        }
        case = case.model_copy(update=upd)
        now = datetime.now(UTC).isoformat()
        self._q(
            "UPDATE cases SET verified = ?, body = ?, updated = ? WHERE id = ?",
            (int(verified), case.model_dump_json(), now, case.id),
        )
        return case

    def delete(self, case_id: str) -> bool:
        with self.transaction():
            found = bool(self._q("SELECT 1 FROM cases WHERE id = ?", (case_id,)))
            self._q("DELETE FROM cases WHERE id = ?", (case_id,))
        return found

    # -- reading ---------------------------------------------------------------------------
    def get(self, case_id: str) -> Case | None:
        rows = self._q("SELECT body FROM cases WHERE id = ?", (case_id,))
        return Case.model_validate_json(rows[0][0]) if rows else None

    def by_ref(self, ref: str, firm: str = "") -> Case | None:
        rows = self._q("SELECT body FROM cases WHERE firm = ? AND ref = ?", (firm, ref))
        return Case.model_validate_json(rows[0][0]) if rows else None

    def find(self, key: str, firm: str | None = None) -> Case | None:
        """A case by id, else by `ref` (of `firm`, or of any firm when None and only one has it)."""
        case = self.get(key)
        if case is not None and (firm is None or case.firm == firm):
            return case
        if firm is not None:
            return self.by_ref(key, firm)
        rows = self._q("SELECT body FROM cases WHERE ref = ?", (key,))
        return Case.model_validate_json(rows[0][0]) if len(rows) == 1 else None

    def cases(
        self,
        firm: str | None = None,
        machine: str | None = None,
        machine_type: str | None = None,
        verified: bool | None = None,
        limit: int | None = None,
    ) -> list[Case]:
        """Cases, newest change first, filtered by firm, machine, machine type or verification."""
        where, params = [], []
        for col, val in (("firm", firm), ("machine", machine), ("machine_type", machine_type)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if verified is not None:
            where.append("verified = ?")
            params.append(int(verified))
        sql = "SELECT body FROM cases" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY updated DESC, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Case.model_validate_json(r[0]) for r in self._q(sql, params)]

    def count(self, firm: str | None = None) -> int:
        if firm is None:
            return int(self._q("SELECT count(*) FROM cases")[0][0])
        return int(self._q("SELECT count(*) FROM cases WHERE firm = ?", (firm,))[0][0])

    def with_embeddings(self) -> tuple[list[Case], np.ndarray]:
        """Every case with its embedding (rows in the same order)."""
        from .embed import DIM

        rows = self._q("SELECT body, embedding FROM cases ORDER BY id")
        cases = [Case.model_validate_json(r[0]) for r in rows]
        mat = np.zeros((len(rows), DIM), dtype=np.float32)
        for i, r in enumerate(rows):
            if r[1] is not None:
                mat[i] = np.frombuffer(bytes(r[1]), dtype=np.float32)
        return cases, mat

    def version(self) -> str:
        """Changes after any add, update, verification or delete (the index is rebuilt then)."""
        n, last = self._q("SELECT count(*), max(updated) FROM cases")[0]
        return f"{n}:{last or ''}"

    def iter_cases(self) -> Iterable[Case]:
        for r in self._q("SELECT body FROM cases ORDER BY id"):
            yield Case.model_validate_json(r[0])

    # -- searching -------------------------------------------------------------------------
    def index(self):
        """The search index over all cases, rebuilt when the cases changed."""
        from .search import CaseIndex

        with self._lock:
            v = self.version()
            if self._index is None or v != self._index_version:
                cases, mat = self.with_embeddings()
                self._index = CaseIndex.build(cases, mat, self._stored_terms(cases))
                self._index_version = v
            return self._index

    def _stored_terms(self, cases: list[Case]) -> list[list[str]]:
        """Each case's search terms, kept beside it: splitting a case into terms (Kiwi) costs
        about 1 ms of CPU, which every `knowhow search` process paid for every case. A row is
        used only while its key (the terms' recipe, the thesaurus, Kiwi, the case's own text)
        still matches; otherwise the terms are made again and kept."""
        from .search import case_terms, terms_fingerprint, terms_key

        fp = terms_fingerprint()
        stored = {r[0]: (r[1], r[2]) for r in self._q("SELECT id, key, terms FROM case_terms")}
        out: list[list[str]] = []
        fresh: list[tuple[str, str, str]] = []
        for c in cases:
            key = terms_key(c, fp)
            got = stored.get(c.id)
            if got is not None and got[0] == key:
                out.append(json.loads(got[1]))
                continue
            terms = case_terms(c)
            out.append(terms)
            fresh.append((c.id, key, json.dumps(terms, ensure_ascii=False)))
        if fresh or len(stored) > len(cases):
            try:
                with self.transaction():
                    for row in fresh:
                        self._q(
                            "INSERT INTO case_terms (id, key, terms) VALUES (?, ?, ?) "
                            "ON CONFLICT (id) DO UPDATE SET key = excluded.key, terms = excluded.terms",
                            row,
                        )
                    self._q("DELETE FROM case_terms WHERE id NOT IN (SELECT id FROM cases)")
            except Exception as e:  # noqa: BLE001 - a read-only database: the terms are made again next time
                log.debug("know-how terms not kept: %s", e)
        return out

    def search(self, text: str, limit: int = 10, **situation):
        """Hybrid search (`search.CaseIndex.search`): hits best first; `situation` boosts."""
        return self.index().search(text, limit=limit, **situation)
