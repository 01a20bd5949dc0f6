"""Hub ingest: the stream's durable pull consumer -> each firm's PostgreSQL schema.

Every worker process (`factory-commons hub ingest`, one or several per host, on one or several
hosts) binds to the one durable consumer `ingest`, so JetStream gives each message to one of
them. A worker fetches what is there (up to `batch` messages), groups the rows by schema and
kind (rows bound for one table of one schema are one write: a schema shared by many firms costs
one write per kind and batch, one schema per firm one per firm and kind; see bench/hub.py), and
writes each group with the store's write path (`PostgresStore.write_table`: machines and series
numbered, latest states and the KPI rollup kept up to date, all as for any other write; the rows
of a batch delivered for the first time by a plain COPY into the table, else, or when the key
index refuses that COPY, by INSERT ... ON CONFLICT DO NOTHING from a temporary table: see
`FirmStore._insert_rows`), every group of the batch inside one PostgreSQL transaction, one
commit. The worker pulls the next batch while PostgreSQL writes this one. Only after the commit does it
acknowledge the messages. A worker killed before that leaves them unacknowledged: after
`ack_wait` JetStream gives them to another worker, whose write skips the rows already stored, so
nothing is lost and nothing counted twice. When PostgreSQL is away the worker gives the batch
back (nak) and reconnects with backoff; the stream keeps everything meanwhile.

Where the rows go: schema `schema_template.format(firm=...)`, by default `fc_<firm>` (one
schema per firm: a firm's rows can only land in its own schema). A template without `{firm}`
puts every firm into one schema (the layout `serve` reads); then a row must name a machine of
the firm's own enterprise (`<firm>/...`), and others are rejected.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain

import nats.errors
import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql as psql

from ..store.postgres import _BINARY, _PG_EPOCH_US, PostgresStore, _csv_chunks
from ..store.validate import BatchError
from .metrics import HubMetrics
from .natsconf import Credentials
from .stream import connect, consumer_config, ensure_stream
from .subjects import CONSUMER, EVENTS_KIND, STREAM, Bundle, hub_text, parse_subject, read_message, rows_of

DEFAULT_SCHEMA_TEMPLATE = "fc_{firm}"


class FirmStore(PostgresStore):
    """A firm's schema written over the worker's one connection (a worker serves thousands of
    firms; PostgreSQL serves a hundred connections): `activate` points the connection at this
    schema before each write."""

    def __init__(self, con: psycopg.Connection, schema: str) -> None:
        self._shared = con
        super().__init__("", schema=schema)

    def _connect(self) -> psycopg.Connection:
        self.activate()
        return self._shared

    def activate(self) -> None:
        self._shared.execute(psql.SQL("SET search_path TO {}").format(psql.Identifier(self.schema)))

    def close(self) -> None:  # the connection belongs to the worker
        return None

    #: set by the worker per batch: True when none of the batch's messages was delivered before
    copy_first = False

    def _insert_rows(self, cur, spec, batch: pa.Table, ids, ts) -> int:
        """Rows of a batch no worker has seen before are most likely new: COPY them straight
        into the (partitioned) table, under a savepoint. A key already stored, or twice in the
        batch, makes the table's unique key index refuse the COPY; the savepoint is rolled back
        and the rows go in as for any other write (INSERT ... ON CONFLICT DO NOTHING from a
        temporary table: first write wins). So the key index alone still keeps every row once;
        the COPY saves the temporary table and ON CONFLICT's speculative insertion.
        A redelivered batch (a worker died, PostgreSQL went away) goes the ON CONFLICT way."""
        if not self.copy_first or batch.num_rows == 0:
            return super()._insert_rows(cur, spec, batch, ids, ts)
        ident = psql.Identifier(spec.table)
        cols = psql.SQL(", ").join(psql.Identifier(c) for c, _ in spec.stored_columns)
        binary = _binary_rows(batch)
        fmt = psql.SQL("BINARY" if binary is not None else "CSV")
        try:
            with self._shared.transaction():
                with cur.copy(psql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(ident, cols, fmt)) as cp:
                    if binary is not None:
                        cp.write(binary)
                    else:
                        for chunk in _csv_chunks(batch):
                            cp.write(chunk)
            self.copied_rows += batch.num_rows
            return batch.num_rows
        except psycopg.errors.UniqueViolation:
            self.copy_fallbacks += 1
        return super()._insert_rows(cur, spec, batch, ids, ts)

    copied_rows = 0
    copy_fallbacks = 0
    _deferred: dict[int, int] | None = None

    def defer_rollup(self) -> None:
        """Collect the KPI rollup invalidations of a batch's kinds until `flush_rollup`: a
        machine that sent states and counts gets its version raised and its hours dropped once
        per batch, not once per kind (the version upsert was PostgreSQL's largest statement)."""
        self._deferred = {}

    def _dirty_rollup(self, dirty: dict[int, int] | None) -> None:
        if self._deferred is None or dirty is None:
            super()._dirty_rollup(dirty)
            return
        kept = self._deferred
        for machine, since in dirty.items():
            if since < kept.get(machine, since + 1):
                kept[machine] = since

    def flush_rollup(self) -> None:
        """Invalidate what `defer_rollup` collected, in the same transaction; stop collecting."""
        dirty, self._deferred = self._deferred, None
        if dirty:
            super()._dirty_rollup(dirty)


def _binary_rows(table: pa.Table) -> bytes | None:
    """The table in PostgreSQL's binary COPY format, built with numpy, when every column is
    either a fixed-width type without NULLs or NULL in every row (counts: machine id, ts, good,
    and the optional columns a shop leaves out); else None (then CSV). Binary saves PostgreSQL
    parsing every field's text (a count row took ~2x a signal row's time in CSV)."""
    fields: list[tuple[str, str]] = [("n", ">i2")]
    plan = []
    for i, (f, col) in enumerate(zip(table.schema, table.columns, strict=True)):
        if col.null_count == table.num_rows:
            fields.append((f"l{i}", ">i4"))
            plan.append((i, None))
        elif f.type in _BINARY and not col.null_count:
            fields += [(f"l{i}", ">i4"), (f"v{i}", _BINARY[f.type][0])]
            plan.append((i, f.type))
        else:
            return None
    rows = np.empty(table.num_rows, dtype=np.dtype(fields))
    rows["n"] = table.num_columns
    for i, t in plan:
        if t is None:
            rows[f"l{i}"] = -1
            continue
        rows[f"l{i}"] = _BINARY[t][1]
        col = table.column(i)
        values = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
        if pa.types.is_timestamp(t):
            rows[f"v{i}"] = values.to_numpy(zero_copy_only=False).view(np.int64) - _PG_EPOCH_US
        else:
            rows[f"v{i}"] = values.to_numpy(zero_copy_only=False)
    return b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + rows.tobytes() + b"\xff\xff"


def _column(values: list) -> pa.Array:
    """One column of a message's rows; mixed types (a number, then a word) become strings, so
    that validation names the rows it cannot read instead of the whole group failing here."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _table(columns: dict[str, list]) -> pa.Table:
    """Columns as the buffer keeps them (`ts` in epoch microseconds) as an Arrow table."""
    table = pa.table({k: _column(v) for k, v in columns.items()})
    if "ts" in table.column_names and pa.types.is_integer(table.schema.field("ts").type):
        i = table.column_names.index("ts")
        table = table.set_column(i, "ts", pc.cast(table.column("ts"), pa.timestamp("us")))
    return table


def _when(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1_000_000, UTC).replace(tzinfo=None)
    return datetime.fromisoformat(str(value))


def _delivery(m) -> tuple[int | None, float | None, int | None, int]:
    """(stream sequence, stream arrival in epoch seconds, consumer pending, times delivered) of a
    delivered message, read from its reply subject (`$JS.ACK.<stream>.<consumer>.<delivered>.
    <stream seq>.<consumer seq>.<ns>.<pending>`, or the longer form with a domain) without the
    client's `metadata` (which builds a datetime and two objects per message). Times delivered
    is 0 when unknown (then the message counts as redelivered)."""
    reply = getattr(m, "reply", None)
    if isinstance(reply, str) and reply.startswith("$JS.ACK."):
        t = reply.split(".")
        try:
            if len(t) == 9:
                return int(t[5]), int(t[7]) / 1e9, int(t[8]), int(t[4])
            if len(t) >= 11:
                return int(t[7]), int(t[9]) / 1e9, int(t[10]), int(t[6])
        except ValueError:
            pass
    meta = getattr(m, "metadata", None)
    if meta is None:
        return None, None, None, 0
    seq = meta.sequence.stream if getattr(meta, "sequence", None) else None
    when = meta.timestamp.timestamp() if getattr(meta, "timestamp", None) else None
    return seq, when, getattr(meta, "num_pending", None), getattr(meta, "num_delivered", None) or 0


@dataclass
class _Group:
    """The rows of one batch bound for one table of one schema: one write."""

    schema: str
    kind: str
    parts: list[tuple[str, str, Bundle]]  # (firm, message id, the message's rows)


class IngestWorker:
    """One worker: `run(stop)` until `stop` is set (asyncio)."""

    def __init__(
        self,
        credentials: Credentials,
        pg_url: str,
        servers: list[str] | None = None,
        schema_template: str = DEFAULT_SCHEMA_TEMPLATE,
        batch: int = 2_000,
        fetch_wait_s: float = 0.5,
        ack_wait_s: float = 30.0,
        replicas: int = 1,
        metrics: HubMetrics | None = None,
        name: str = "ingest",
        copy_first: bool = True,
        prefetch: bool = True,
    ) -> None:
        self.credentials = credentials
        self.servers = servers or list(credentials.servers)
        self.pg_url = pg_url
        self.schema_template = schema_template
        self.per_firm = "{firm}" in schema_template
        self.batch = batch
        self.fetch_wait_s = fetch_wait_s
        self.ack_wait_s = ack_wait_s
        self.replicas = replicas
        self.metrics = metrics or HubMetrics()
        self.name = name
        #: COPY a first-delivered batch straight into the tables (FirmStore._insert_rows)
        self.copy_first = copy_first
        #: pull the next batch while this one is written (run)
        self.prefetch = prefetch
        self._con: psycopg.Connection | None = None
        self._stores: dict[str, FirmStore] = {}
        self._schemas: dict[str, str] = {}  # firm -> its schema's name

    # -- PostgreSQL ----------------------------------------------------------------------------
    def _pg(self) -> psycopg.Connection:
        if self._con is None or self._con.closed or self._con.broken:
            self._stores.clear()
            self._con = psycopg.connect(
                self.pg_url, autocommit=True, connect_timeout=3, application_name="fc-hub-ingest"
            )
            self._con.execute("SET TIME ZONE 'UTC'")
            self._con.execute("SET work_mem = '64MB'")
            self.metrics.set_pg(True)
        return self._con

    def _drop_pg(self) -> None:
        self.metrics.set_pg(False)
        if self._con is not None:
            try:
                self._con.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
        self._con = None
        self._stores.clear()

    def store_of(self, firm: str) -> FirmStore:
        schema = self.schema_template.format(firm=firm)
        found = self._stores.get(schema)
        if found is None:
            found = self._stores[schema] = FirmStore(self._pg(), schema)
        return found

    # -- one batch ---------------------------------------------------------------------------
    def write(self, msgs: list) -> tuple[list, list]:
        """Write a fetched batch in one transaction; (messages to ack, messages refused for good).

        Python's cyclic garbage collector is off meanwhile: a batch holds ~10^5 live objects
        (decoded messages, columns, the id caches' keys) and every collection triggered by the
        write's allocations walked them (a third of the worker's CPU in bench/hub_write.py);
        the rows make no reference cycles, and the collector runs again between batches."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._write(msgs)
        finally:
            if enabled:
                gc.enable()

    def _write(self, msgs: list) -> tuple[list, list]:
        groups: dict[tuple[str, str], _Group] = {}
        refused = []
        arrivals: list[float] = []
        edge_lags: list[float] = []
        pending = None
        first_delivery = True  # no message of the batch was given to a worker before
        for m in msgs:
            seq, arrived, pending, delivered = _delivery(m)
            first_delivery = first_delivery and delivered == 1
            if arrived is not None:
                arrivals.append(arrived)
            try:
                firm, kind = parse_subject(m.subject)
                bundle = read_message(kind, m.data)
            except ValueError as e:
                self.metrics.refused(str(e))
                refused.append(m)
                continue
            mid = (m.headers or {}).get("Nats-Msg-Id") or f"{STREAM}:{seq}"
            schema = self._schemas.get(firm)
            if schema is None:
                schema = self._schemas[firm] = self.schema_template.format(firm=firm)
            for k in bundle.kinds:
                g = groups.get((schema, k))
                if g is None:
                    g = groups[(schema, k)] = _Group(schema, k, [])
                g.parts.append((firm, mid, bundle))
            if bundle.received_at:
                edge_lags.append(bundle.received_at)
        con = self._pg()
        for g in groups.values():
            # a new schema is migrated in its own transactions
            self.store_of(g.parts[0][0]).copy_first = first_delivery and self.copy_first
        now = time.time()
        rows_by_firm: dict[str, int] = defaultdict(int)
        # every worker takes the groups in one order and first locks the rows that two
        # workers' writes can share, in machine order (_lock_machines); a deadlock that is left
        # (machines new to the schema) is retried. The groups' tables are made once, before.
        ordered = [(groups[k], self._group_table(groups[k], rows_by_firm)) for k in sorted(groups)]
        for attempt in range(4):
            try:
                stores = sorted({g.schema: self.store_of(g.parts[0][0]) for g, _ in ordered}.items())
                with con.transaction():
                    for _, store in stores:
                        store.defer_rollup()
                    self._lock_machines(ordered)
                    for g, table in ordered:
                        store = self.store_of(g.parts[0][0])
                        store.activate()
                        self._write_group(store, g, table)
                    for _, store in stores:  # each schema's machines once, in schema order
                        store.activate()
                        store.flush_rollup()
                break
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as e:
                self.metrics.error(e)
                for g, _ in ordered:  # ids numbered in the rolled-back transaction are gone
                    self.store_of(g.parts[0][0])._reload_ids()  # noqa: SLF001
                if attempt == 3:
                    raise
                time.sleep(0.05 * (attempt + 1))
        done = time.time()
        self.metrics.batch_done(
            rows_by_firm,
            lags=[done - t for t in arrivals],
            edge_lags=[done - t for t in edge_lags],
            pending=pending,
            seconds=done - now,
        )
        gone = {id(m) for m in refused}
        return [m for m in msgs if id(m) not in gone], refused

    def _lock_machines(self, ordered: list[tuple[_Group, pa.Table | None]]) -> None:
        """Lock, schema by schema and in machine id order, the rows of the machines of the
        batch's state and count rows that the store's write will update: their rollup versions
        (`kpi_versions`) and, for states, their latest state. The store's statements lock them
        in no particular order, one kind after the other, so two workers writing overlapping
        machines deadlocked (PostgreSQL aborts one; its whole batch was written again); locked
        here first, the second waits for the first's commit. Machines without such rows yet are
        not locked (their first write may still deadlock, and is retried)."""
        wanted: dict[str, tuple[set[int], set[int]]] = {}
        for g, table in ordered:
            if g.kind not in ("state", "count") or table is None or "machine" not in table.column_names:
                continue
            store = self.store_of(g.parts[0][0])
            known = store._machine_ids  # noqa: SLF001 - the store's cache of path -> id
            machines = pc.unique(table.column("machine")).to_pylist()
            ids = {known[m] for m in machines if isinstance(m, str) and m in known}
            versions, latest = wanted.setdefault(g.schema, (set(), set()))
            versions |= ids
            if g.kind == "state":
                latest |= ids
        for schema in sorted(wanted):
            versions, latest = wanted[schema]
            self._stores[schema].activate()
            for table, ids in (("kpi_versions", versions), ("latest_states", latest)):
                if ids:
                    self._con.execute(
                        f"SELECT 1 FROM {table} WHERE machine_id = ANY(%s::integer[]) "
                        "ORDER BY machine_id FOR UPDATE",
                        ["{" + ",".join(map(str, sorted(ids))) + "}"],
                    )

    def _group_table(self, g: _Group, rows_by_firm: dict[str, int]) -> pa.Table | None:
        """The group's rows as one Arrow table, in message order (None for collection events,
        or when the columns cannot be read): runs of messages with the same columns are joined
        column by column (one `extend` per column and run, not per message); in a shared schema
        only the rows of each firm's own machines are kept. Counts every message's rows in
        `rows_by_firm`."""
        if g.kind == EVENTS_KIND:
            return None
        runs: list[tuple[tuple[str, ...], list[dict[str, list]], int]] = []
        firms: list[tuple[str, int]] = []
        for firm, _, b in g.parts:
            part = b.kinds[g.kind]
            k = len(next(iter(part.values())))
            rows_by_firm[firm] += k
            firms.append((firm, k))
            names = tuple(part)
            if runs and runs[-1][0] == names:
                runs[-1][1].append(part)
                runs[-1] = (names, runs[-1][1], runs[-1][2] + k)
            else:
                runs.append((names, [part], k))
        columns: dict[str, list] = {}
        n = 0
        for names, parts, k in runs:
            for name in names:
                column = columns.get(name)
                if column is None:
                    column = columns[name] = [None] * n
                column.extend(chain.from_iterable(p[name] for p in parts))
            n += k
            for column in columns.values():
                if len(column) < n:  # a column the earlier messages had and these lack
                    column.extend([None] * (n - len(column)))
        if not n:
            return None
        try:
            table = _table(columns)
        except (ValueError, TypeError, pa.ArrowException) as e:  # a bad column
            self.metrics.refused(f"{g.schema} {g.kind}: {e}")
            self.metrics.rejected_rows += n
            return None
        if not self.per_firm and "machine" in columns:
            table = self._own_rows(g.kind, table, firms)
        return table

    def _write_group(self, store: FirmStore, g: _Group, table: pa.Table | None) -> int:
        """Write the group's rows with one `write_table` (every firm of a shared schema at once)."""
        if g.kind == EVENTS_KIND:
            rows = [
                {
                    **r,
                    **{k: _when(r.get(k)) for k in ("logged_at", "start_ts", "end_ts")},
                    "source": f"{firm}/{r.get('source', '')}",
                }
                for firm, _, b in g.parts
                for r in rows_of(b.kinds[g.kind])
            ]
            store.query_write("collect_events", rows)
            return 0
        written = 0
        if table is not None and table.num_rows:
            n = table.num_rows
            try:
                result = store.write_table(g.kind, table)
            except BatchError as e:  # bad rows are counted and reported, the rest is written
                bad = {p.row for p in e.problems}
                for p in e.problems[:3]:
                    self.metrics.refused(f"{g.schema} {g.kind} row {p.row + 1}: {p.field}: {p.why}")
                self.metrics.rejected_rows += len(bad)
                keep = pa.array([i not in bad for i in range(n)])
                good = table.filter(keep)
                result = store.write_table(g.kind, good) if good.num_rows else None
            except (ValueError, TypeError, pa.ArrowException) as e:  # an unknown kind, a bad column
                self.metrics.refused(f"{g.schema} {g.kind}: {e}")
                self.metrics.rejected_rows += n
                result = None
            if result is not None:
                written = result.written
                self.metrics.duplicate_rows += result.duplicates
        late = [(firm, mid, b) for firm, mid, b in g.parts if b.late and b.rows(g.kind)]
        if late:
            store.query_write("collect_events", [self._late_event(g.kind, *x) for x in late])
        return written

    def _own_rows(self, kind: str, table: pa.Table, firms: list[tuple[str, int]]) -> pa.Table:
        """In a shared schema: only the rows of the firm's own machines (`<firm>/...`); `firms`
        says whose each run of rows is ((firm, rows) in table order)."""
        machine = table.column("machine")
        whose = pa.array(
            np.repeat(np.array([f for f, _ in firms], dtype=object), [k for _, k in firms]), pa.string()
        )
        try:
            text = machine if pa.types.is_string(machine.type) else pc.cast(machine, pa.string())
            parts = pc.split_pattern(text, "/", max_splits=1)
            own = pc.and_(
                pc.equal(pc.list_element(parts, 0), whose), pc.greater_equal(pc.list_value_length(parts), 2)
            )
            own = pc.fill_null(own, False)
        except pa.ArrowException:  # a column of values without a text form: row by row
            own = pa.array(
                [
                    isinstance(m, str) and m.startswith(f + "/")
                    for m, f in zip(machine.to_pylist(), whose.to_pylist(), strict=True)
                ]
            )
        kept = pc.sum(own).as_py() or 0
        if kept == table.num_rows:
            return table
        self.metrics.rejected_rows += table.num_rows - kept
        for firm in pc.unique(pc.filter(whose, pc.invert(own))).to_pylist():
            self.metrics.refused(f"{firm} {kind}: {hub_text('foreign_machine')}")
        return table.filter(own)

    def _late_event(self, kind: str, firm: str, mid: str, b: Bundle) -> dict:
        ts = [t for t in b.kinds[kind].get("ts", ()) if isinstance(t, int)]
        delay = time.time() - b.received_at
        # one event per message and kind (a message of one kind keeps the id it always had)
        key = f"late:{mid}" if len(b.kinds) == 1 else f"late:{mid}:{kind}"
        return {
            "event_id": uuid.uuid5(uuid.NAMESPACE_URL, key).hex,
            "logged_at": datetime.now(UTC).replace(tzinfo=None),
            "source": f"{firm}/{b.source}",
            "event": "late",
            "machine": None,
            "start_ts": _when(min(ts)) if ts else None,
            "end_ts": _when(max(ts)) if ts else None,
            "rows": b.rows(kind),
            "detail": hub_text("late_at_hub", kind=kind, delay=f"{delay:.0f}"),
        }

    # -- the loop ----------------------------------------------------------------------------
    async def _subscribe(self, js):
        await ensure_stream(js, replicas=self.replicas)
        try:
            await js.add_consumer(STREAM, consumer_config(self.ack_wait_s))
        except nats.js.errors.BadRequestError:
            pass  # it exists (another worker made it, perhaps with other settings)
        return await js.pull_subscribe_bind(durable=CONSUMER, stream=STREAM)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        nc = psub = None
        ahead: list = []  # messages pulled while the batch before them was written
        while not stop.is_set():
            try:
                if nc is None:
                    nc = await connect(self.credentials, self.servers, name=self.name)
                    self.metrics.set_nats(True)
                if psub is None:
                    psub = await self._subscribe(nc.jetstream(timeout=5))
                await asyncio.to_thread(self._pg)
            except Exception as e:  # noqa: BLE001 - NATS or PostgreSQL away: retry
                self.metrics.error(e)
                if isinstance(e, psycopg.Error):
                    self._drop_pg()
                else:
                    psub = None
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            try:
                msgs = ahead or await psub.fetch(self.batch, timeout=self.fetch_wait_s)
                ahead = []
            except (nats.errors.TimeoutError, TimeoutError):
                self.metrics.idle()
                continue
            except Exception as e:  # noqa: BLE001 - a leader moving, a node away: retry
                self.metrics.error(e)
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self.metrics.in_flight = len(msgs)
            held = list(msgs)  # every message this worker holds unacknowledged
            beat = asyncio.create_task(_keep_in_progress(held, self.ack_wait_s / 3))
            writing = asyncio.ensure_future(asyncio.to_thread(self.write, msgs))
            try:
                if self.prefetch:
                    # the next batch, pulled while PostgreSQL works on this one
                    ahead = await _pull_now(psub, self.batch)
                    held.extend(ahead)
                ok, refused = await writing
            except Exception as e:  # noqa: BLE001 - PostgreSQL away: give the batch back
                self.metrics.error(e)
                if not writing.done():  # the pull failed (NATS away): the write still ends
                    await asyncio.gather(writing, return_exceptions=True)
                self._drop_pg()
                for m in held:
                    await _quietly(m.nak(delay=1.0))
                ahead = []
                self.metrics.in_flight = 0
                await _sleep(stop, backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            finally:
                beat.cancel()
            backoff = 0.2
            for m in ok:
                await _quietly(m.ack())
            for m in refused:
                await _quietly(m.term())
            self.metrics.in_flight = len(ahead)
        for m in ahead:  # pulled but not written: to another worker now, not after ack_wait
            await _quietly(m.nak())
        if nc is not None:
            try:
                await asyncio.wait_for(nc.close(), 3.0)
            except Exception:  # noqa: BLE001 - ending anyway
                pass
        self._drop_pg()


async def _pull_now(psub, batch: int, wait_s: float = 2.0) -> list:
    """Up to `batch` messages the consumer has for this worker now, without waiting for more.

    One pull request (`no_wait`), its messages taken from the subscription's queue as they
    come, ending at the server's status (no more messages now). The client's own `fetch`
    awaits every message in a new task with its own timeout (~35 us a message; see
    docs/scale.md); this reads the queue directly and awaits only when it is empty. Anything
    left in the queue (a late message of this request) is taken by the next fetch. Uses the
    pull subscription's internals (`_sub`, `_nms`, `_deliver`); without them: nothing."""
    sub = getattr(psub, "_sub", None)
    queue = getattr(sub, "_pending_queue", None)
    nms, deliver = getattr(psub, "_nms", None), getattr(psub, "_deliver", None)
    if queue is None or not nms or not deliver:
        return []
    msgs: list = []
    await sub._conn.publish(nms, json.dumps({"batch": batch, "no_wait": True}).encode(), deliver)  # noqa: SLF001
    loop = asyncio.get_running_loop()
    end = loop.time() + wait_s
    while len(msgs) < batch:
        if queue.empty():
            left = end - loop.time()
            if left <= 0:
                break
            try:
                m = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
        else:
            m = queue.get_nowait()
        sub._pending_size -= len(m.data)  # noqa: SLF001 - as the client's fetch does
        status = m.headers.get("Status") if m.headers else None
        if not status:
            msgs.append(m)
        elif status != "100":  # 404 no messages, 408 request expired, 409 ...: no more now
            break
    return msgs


async def _keep_in_progress(msgs: list, every_s: float) -> None:
    """While a long batch is written, tell JetStream every `every_s` that its messages are still
    being worked on, so that they are not given to another worker after `ack_wait`."""
    while True:
        await asyncio.sleep(every_s)
        for m in msgs:
            await _quietly(m.in_progress())


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def _quietly(coro) -> None:
    try:
        await coro
    except Exception:  # noqa: BLE001 - an unacknowledged message comes again after ack_wait
        pass
