"""Moves rows from the durable buffer into the store, and survives the store going away.

The forwarder takes the oldest pending puts, writes them kind by kind with
`Store.write_table` (validated, idempotent), and deletes them from the buffer only after
the store has them. If the store cannot be reached it reports `retrying`, keeps everything
in the buffer and tries again with backoff, reopening the store. Rows the store rejects
(a bad value that got past a connector) go to the buffer's rejects with the store's reason;
the rest of the batch is written. Data that reaches the store more than `late_after_s`
after its own time (the row's `ts`), or that a source marked as historical, is recorded as a
`late` event, so a KPI that was computed before it arrived can be recomputed. A store error
is named in health as it is (`disk full: ...`, `store locked: ...`), never as a follow-up error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa

from ..i18n import Catalog
from ..store.base import Store
from ..store.validate import BatchError, to_arrow
from .buffer import Buffer, Pending, from_micros
from .connector import Backoff, Health, HealthState
from .faults import describe_failure

COLLECT = Catalog("collect")

#: DuckDB's memory limit (MB) for a store file the collector owns when `store_memory_mb` is not
#: set: its cache stops growing there (queries spill to disk beyond it; one that still runs out
#: of memory runs again above the cap, `DuckDBStore.set_memory_cap`).
DEFAULT_STORE_MEMORY_MB = 128


def _table(rows: list[dict]) -> pa.Table:
    """Rows from the buffer as an Arrow table; `ts` (epoch microseconds) becomes a timestamp."""
    table = to_arrow(rows)
    if "ts" in table.column_names and pa.types.is_integer(table.schema.field("ts").type):
        import pyarrow.compute as pc  # here: an idle collector does not load it (9 MB)

        i = table.column_names.index("ts")
        table = table.set_column(i, "ts", pc.cast(table.column("ts"), pa.timestamp("us")))
    return table


class Forwarder:
    """Runs in its own thread: buffer -> store, for ever, until `stop` is set and the buffer is drained."""

    def __init__(
        self,
        buffer: Buffer,
        open_store: Callable[[], Store],
        max_rows: int = 50_000,
        late_after_s: float = 60.0,
        store_memory_mb: float | None = None,
    ) -> None:
        self.buffer = buffer
        self.store_memory_mb = store_memory_mb
        self._open_store = open_store
        self.store: Store | None = None
        self.max_rows = max_rows
        self.late_after_s = late_after_s
        self.small_batch_wait_s = 0.05
        self.health = Health(source="store", kind="forwarder")
        self.backoff = Backoff(maximum=10.0)
        self.written = 0
        self.duplicates = 0
        self.rejected = 0

    def _set(self, state: HealthState, reason: str = "") -> None:
        if state != self.health.state or reason != self.health.reason:
            self.health.state, self.health.reason, self.health.since = state, reason, time.time()
        if state == HealthState.RETRYING:
            self.health.last_error = reason

    def _store(self) -> Store:
        if self.store is None:
            self.store = self._open_store()
            from ..store.duckdb import DuckDBStore

            memory_mb = self.store_memory_mb
            if memory_mb is None and isinstance(self.store, DuckDBStore):
                # a store file this process owns: DuckDB's own limit is 80 % of the machine's
                # memory, and its cache of the file (blocks read back, the rows written) grows
                # with the file up to that limit: RSS that rises for hours (issue 19)
                memory_mb = DEFAULT_STORE_MEMORY_MB
            if memory_mb and isinstance(self.store, DuckDBStore):
                # DuckDB's cache of the file: small on a small box (it spills to disk beyond, and
                # a query that needs more, e.g. a dashboard's year over Flight, gets it a while)
                self.store.set_memory_cap(memory_mb)
        return self.store

    def close(self) -> None:
        """Close the store this forwarder opened (it is reopened on the next write)."""
        self._drop_store()

    def _drop_store(self) -> None:
        if self.store is not None:
            try:
                self.store.close()
            except Exception:  # noqa: BLE001 - it is already broken
                pass
        self.store = None

    # -- one step ----------------------------------------------------------------------------
    def forward_once(self) -> int:
        """Forward one batch of pending puts and the pending events; return the rows handled."""
        store = self._store()
        events = self.buffer.unforwarded_events()
        if events:
            store.query_write("collect_events", events)
            self.buffer.mark_events_forwarded([e["event_id"] for e in events])
        batch = self.buffer.take(self.max_rows)
        if not batch:
            return 0
        by_kind: dict[str, list[Pending]] = {}
        for p in batch:
            by_kind.setdefault(p.kind, []).append(p)
        handled = 0
        for kind, puts in by_kind.items():
            rows = [r for p in puts for r in p.rows]
            handled += len(rows)
            self._write(store, kind, puts, rows)
        self._log_late(batch)
        self.buffer.ack([p.id for p in batch])
        return handled

    def _write(self, store: Store, kind: str, puts: list[Pending], rows: list[dict]) -> None:
        try:
            result = store.write_table(kind, _table(rows))
        except BatchError as e:
            bad = {p.row for p in e.problems}
            reasons: dict[int, list[str]] = {}
            for p in e.problems:
                reasons.setdefault(p.row, []).append(f"{p.field}: {p.why}")
            source_of = [p.source for p in puts for _ in p.rows]
            for i in sorted(bad):
                self.buffer.reject(source_of[i], kind, rows[i], "; ".join(reasons[i]))
            self.rejected += len(bad)
            good = [r for i, r in enumerate(rows) if i not in bad]
            if good:
                result = store.write_table(kind, _table(good))
            else:
                return
        self.written += result.written
        self.duplicates += result.duplicates

    def _log_late(self, batch: list[Pending]) -> None:
        """A `late` event for rows that reach the store more than `late_after_s` after their own
        time (`ts`, the data's timestamp, not when the collector received them), and for rows a
        source sent as historical: a KPI of their period may have been computed without them."""
        now_us = int(time.time() * 1_000_000)
        cutoff = now_us - int(self.late_after_s * 1_000_000)
        late: dict[tuple[str, str, bool], list[int]] = {}
        for p in batch:
            ts = [r["ts"] for r in p.rows if isinstance(r.get("ts"), int)]
            old = ts if p.late else [t for t in ts if t < cutoff]
            if old:
                late.setdefault((p.source, p.kind, p.late), []).extend(old)
        for (source, kind, historical), ts in late.items():
            delay = (now_us - max(ts)) / 1_000_000
            why = (
                "source sent it as historical"
                if historical
                else f"reached the store {delay:.0f} s or more after its own time"
            )
            self.buffer.log_event(
                source,
                "late",
                start=from_micros(min(ts)),
                end=from_micros(max(ts)),
                rows=len(ts),
                detail=" / ".join(COLLECT.pair("late_data")[::-1]).format(
                    kind=kind, why=why
                ),  # English first
            )

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event, drain: bool = True) -> None:
        """Forward until `stop` is set; then, if `drain`, forward what is left while the store answers."""
        while True:
            stopping = stop.is_set()
            try:
                n = self.forward_once()
                self._set(HealthState.CONNECTED)
                self.backoff.reset()
                if n:
                    self.health.points += n
                    self.health.last_value_at = time.time()
                if stopping and (n == 0 or not drain):
                    break
                if n == 0:
                    stop.wait(0.2)
                elif n < self.max_rows // 10 and not stopping:
                    # a small batch: let a few more arrive, since each store write has a fixed cost
                    stop.wait(self.small_batch_wait_s)
            except Exception as e:  # noqa: BLE001 - the store is away: keep everything, retry
                self.health.errors += 1
                self._set(HealthState.RETRYING, describe_failure(e, "store"))
                self._drop_store()
                if stopping:
                    break
                if self.backoff.wait(stop):
                    continue
        self._drop_store()
        self._set(HealthState.STOPPED)


def now_utc() -> datetime:
    return datetime.now(UTC)
