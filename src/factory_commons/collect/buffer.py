"""The durable store-and-forward buffer between connectors and the store.

Connectors put rows here; a `Forwarder` (collect/forwarder.py) moves them to the store and
deletes them only after the store has them. The buffer is one SQLite file in WAL mode: a
`put` is committed before it returns, so a collector killed with SIGKILL loses nothing it
had acknowledged (an MQTT connector acknowledges a message only after its `put`). A row
written to the store and then replayed after a crash is skipped by the store's idempotent
keys, so nothing is counted twice.

Besides pending rows it keeps: rejected values with the reason (never dropped silently),
collection events (late data, gaps, stale sources) on their way to the store's
`collect_events` table, and small per-connector state (counter totals, last-seen times,
Sparkplug sequence numbers) that must survive a restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .faults import BufferWriteError, describe_failure, is_disk_full

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    rows TEXT NOT NULL,
    n INTEGER NOT NULL,
    received_at REAL NOT NULL,
    late INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    row TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    logged_at REAL NOT NULL,
    source TEXT NOT NULL,
    event TEXT NOT NULL,
    machine TEXT,
    start_ts INTEGER,
    end_ts INTEGER,
    rows INTEGER,
    detail TEXT,
    forwarded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(ts: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (UTC)."""
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone")
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def _encode_rows(rows: list[dict]) -> str:
    out = []
    for r in rows:
        ts = r.get("ts")
        if isinstance(ts, datetime):
            r = {**r, "ts": to_micros(ts)}
        out.append(r)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Pending:
    """One committed put: rows of one kind from one source, `ts` as epoch microseconds."""

    id: int
    source: str
    kind: str
    rows: list[dict]
    received_at: float
    late: bool


class Buffer:
    """A SQLite file shared by every connector thread and the forwarder (one lock, WAL mode)."""

    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process (the WAL is written before commit returns);
        # FULL also survives a power cut at some cost in speed.
        self._con.execute(f"PRAGMA synchronous={synchronous}")
        self._con.execute("PRAGMA busy_timeout=10000")
        self._con.executescript(SCHEMA)
        #: rows waiting for the store, kept up to date by put and ack (read often, by back-pressure)
        self.backlog_rows: int = self._con.execute("SELECT coalesce(sum(n), 0) FROM pending").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Buffer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def put(self, source: str, kind: str, rows: list[dict], late: bool = False) -> None:
        """Commit rows of one kind; returns only when they are on disk."""
        self.put_many(source, {kind: rows}, late=late)

    def put_many(
        self,
        source: str,
        by_kind: dict[str, list[dict]],
        late: bool = False,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Commit rows of several kinds, and connector state, in one transaction."""
        now = time.time()
        added = 0
        with self._lock:
            cur = self._con.cursor()
            try:
                cur.execute("BEGIN")
                for kind, rows in by_kind.items():
                    if rows:
                        cur.execute(
                            "INSERT INTO pending (source, kind, rows, n, received_at, late) VALUES (?, ?, ?, ?, ?, ?)",
                            (source, kind, _encode_rows(rows), len(rows), now, int(late)),
                        )
                        added += len(rows)
                for key, value in (state or {}).items():
                    cur.execute(
                        "INSERT OR REPLACE INTO state VALUES (?, ?)",
                        (key, json.dumps(value, ensure_ascii=False)),
                    )
                cur.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise BufferWriteError(
                    describe_failure(e, f"buffer {self.path}"), disk_full=is_disk_full(e)
                ) from e
            except BaseException:
                self._rollback()
                raise
            self.backlog_rows += added

    def _write(self, sql: str, params: tuple | list = ()) -> None:
        """One autocommitted write; a failure is a BufferWriteError that names a full disk."""
        try:
            with self._lock:
                self._con.execute(sql, params)
        except sqlite3.Error as e:
            raise BufferWriteError(
                describe_failure(e, f"buffer {self.path}"), disk_full=is_disk_full(e)
            ) from e

    def _rollback(self) -> None:
        """Roll back if a transaction is still open (SQLite ends it itself on a full disk)."""
        if self._con.in_transaction:
            try:
                self._con.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def reject(self, source: str, kind: str, row: dict | str, reason: str) -> None:
        """Keep a value that could not be used, with the reason, for the user to see."""
        text = row if isinstance(row, str) else json.dumps(row, ensure_ascii=False, default=str)
        self._write(
            "INSERT INTO rejected (at, source, kind, row, reason) VALUES (?, ?, ?, ?, ?)",
            (time.time(), source, kind, text, reason),
        )

    def log_event(
        self,
        source: str,
        event: str,
        machine: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        rows: int | None = None,
        detail: str = "",
    ) -> str:
        """Record a collection event ('gap', 'late', 'stale', 'rebirth', ...) for the store."""
        event_id = uuid.uuid4().hex
        self._write(
            "INSERT INTO events (event_id, logged_at, source, event, machine, start_ts, end_ts, rows, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                time.time(),
                source,
                event,
                machine,
                to_micros(start) if start else None,
                to_micros(end) if end else None,
                rows,
                detail,
            ),
        )
        return event_id

    # -- small durable state ---------------------------------------------------------------
    def get_state(self, key: str) -> Any:
        with self._lock:
            row = self._con.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_state(self, key: str, value: Any) -> None:
        self._write(
            "INSERT OR REPLACE INTO state VALUES (?, ?)", (key, json.dumps(value, ensure_ascii=False))
        )

    # -- reading (the forwarder) -------------------------------------------------------------
    def take(self, max_rows: int = 50_000) -> list[Pending]:
        """The oldest pending puts, up to about `max_rows` rows (at least one put)."""
        out: list[Pending] = []
        total = 0
        with self._lock:
            cur = self._con.execute(
                "SELECT id, source, kind, rows, n, received_at, late FROM pending ORDER BY id LIMIT 10000"
            )
            for pid, source, kind, rows, n, received_at, late in cur:
                if out and total + n > max_rows:
                    break
                out.append(Pending(pid, source, kind, json.loads(rows), received_at, bool(late)))
                total += n
        return out

    def ack(self, ids: list[int]) -> None:
        """Delete puts the store now holds."""
        if not ids:
            return
        with self._lock:
            try:
                self._con.execute("BEGIN")
                removed = 0
                for i in range(0, len(ids), 500):
                    chunk = ids[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    removed += self._con.execute(
                        f"SELECT coalesce(sum(n), 0) FROM pending WHERE id IN ({marks})", chunk
                    ).fetchone()[0]
                self._con.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])
                self._con.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise BufferWriteError(
                    describe_failure(e, f"buffer {self.path}"), disk_full=is_disk_full(e)
                ) from e
            self.backlog_rows = max(0, self.backlog_rows - removed)

    def unforwarded_events(self) -> list[dict]:
        with self._lock:
            rows = self._con.execute(
                "SELECT event_id, logged_at, source, event, machine, start_ts, end_ts, rows, detail"
                " FROM events WHERE forwarded = 0 ORDER BY logged_at"
            ).fetchall()
        out = []
        for event_id, logged_at, source, event, machine, start_ts, end_ts, n, detail in rows:
            out.append(
                {
                    "event_id": event_id,
                    "logged_at": datetime.fromtimestamp(logged_at, tz=UTC).replace(tzinfo=None),
                    "source": source,
                    "event": event,
                    "machine": machine,
                    "start_ts": from_micros(start_ts).replace(tzinfo=None) if start_ts is not None else None,
                    "end_ts": from_micros(end_ts).replace(tzinfo=None) if end_ts is not None else None,
                    "rows": n,
                    "detail": detail,
                }
            )
        return out

    def mark_events_forwarded(self, event_ids: list[str]) -> None:
        with self._lock:
            self._con.executemany(
                "UPDATE events SET forwarded = 1 WHERE event_id = ?", [(e,) for e in event_ids]
            )

    # -- what the user sees ------------------------------------------------------------------
    def pending_rows(self) -> int:
        with self._lock:
            return self._con.execute("SELECT coalesce(sum(n), 0) FROM pending").fetchone()[0]

    def rejected_count(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM rejected").fetchone()[0]

    def rejects(self, limit: int = 100) -> Iterator[dict]:
        with self._lock:
            rows = self._con.execute(
                "SELECT at, source, kind, row, reason FROM rejected ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        for at, source, kind, row, reason in rows:
            yield {"at": at, "source": source, "kind": kind, "row": row, "reason": reason}

    def events(self, limit: int = 100) -> list[dict]:
        with self._lock:
            rows = self._con.execute(
                "SELECT logged_at, source, event, machine, start_ts, end_ts, rows, detail FROM events"
                " ORDER BY logged_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        keys = ("logged_at", "source", "event", "machine", "start_ts", "end_ts", "rows", "detail")
        return [dict(zip(keys, r, strict=True)) for r in rows]
