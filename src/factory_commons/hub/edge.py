"""Edge to hub: the collector's durable buffer -> the hub's JetStream stream.

Takes the oldest pending puts of the buffer (collect/buffer.py), joins those of one source,
every kind together (many small puts of a connector, or hours of them after an outage, become
few messages), publishes them as bundles (`hub.subjects.Bundle`: each kind's rows in columns)
of at most `PIECE_ROWS` rows to `fc.<firm>._rows` with a message id made of the buffer's own id
and the puts' numbers, waits for the stream's acknowledgement of
every piece, and only then deletes the puts from the buffer. A put whose acknowledgement was lost is sent again with the
same id: the stream drops it inside its duplicate window, the store's keys after it. While the
hub cannot be reached (link down, every node away) everything stays in the buffer and the
forwarder retries with backoff; when the link is back it catches up by itself, oldest first,
and marks what it sends more than `late_after_s` after it arrived as late (the hub records a
`late` collection event for it, so KPIs computed meanwhile can be recomputed). The buffer's
collection events travel too, as kind `_events`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from ..collect.buffer import Buffer, Pending
from .natsconf import Credentials
from .stream import connect
from .subjects import BUNDLE_KIND, EVENTS_KIND, PIECE_ROWS, STREAM, Bundle, Piece, message_id, subject

EDGE_ID_KEY = "hub.edge_id"


@dataclass
class EdgeStats:
    """What the forwarder has done, for its status line and the tests."""

    published: int = 0  # pieces acknowledged by the stream
    rows: int = 0
    duplicates: int = 0  # pieces the stream already had (a re-send)
    late_rows: int = 0
    errors: int = 0
    last_error: str = ""
    connected: bool = False
    last_ack_at: float = 0.0
    history: list[str] = field(default_factory=list)


def edge_id(buffer: Buffer) -> str:
    """This buffer's id (kept in the buffer, so that a restarted collector re-sends with the same
    message ids)."""
    found = buffer.get_state(EDGE_ID_KEY)
    if not found:
        found = uuid.uuid4().hex[:16]
        buffer.set_state(EDGE_ID_KEY, found)
    return found


class EdgeForwarder:
    """Runs until `stop` is set; `run` is a coroutine (asyncio)."""

    def __init__(
        self,
        buffer: Buffer,
        firm: str,
        credentials: Credentials,
        servers: list[str] | None = None,
        late_after_s: float = 60.0,
        linger_s: float = 0.0,
        max_rows: int = 20_000,
        ack_timeout_s: float = 2.0,
    ) -> None:
        self.buffer = buffer
        self.firm = firm
        self.credentials = credentials
        self.servers = servers or list(credentials.servers)
        self.late_after_s = late_after_s
        self.linger_s = linger_s
        self.max_rows = max_rows
        self.ack_timeout_s = ack_timeout_s
        self.edge_id = edge_id(buffer)
        self.stats = EdgeStats()
        subject(firm, "state")  # the firm id is valid

    async def _publish(self, js, puts: list[Pending], late: bool) -> None:
        """Puts of one source (any kinds, in buffer order) as bundles of at most PIECE_ROWS rows:
        a firm's rows of every kind in one message (`hub.subjects.Bundle`)."""
        first = puts[0]
        pieces: list[dict[str, list[dict]]] = [{}]
        room = PIECE_ROWS
        for put in puts:
            rows = put.rows
            while rows:
                if room == 0:
                    pieces.append({})
                    room = PIECE_ROWS
                take, rows = rows[:room], rows[room:]
                pieces[-1].setdefault(put.kind, []).extend(take)
                room -= len(take)
        span = f"{first.id}" if len(puts) == 1 else f"{first.id}-{puts[-1].id}"
        futures = []
        for k, piece in enumerate(pieces):
            body = Bundle.of_rows(first.source, first.received_at, late, piece).encode()
            futures.append(
                await js.publish_async(
                    subject(self.firm, BUNDLE_KIND),
                    body,
                    # "b": a bundle's id never equals the id of a one-kind piece that an older
                    # forwarder sent for the same puts (the stream would drop it as a copy)
                    headers={"Nats-Msg-Id": message_id(self.edge_id, span, f"b{k}")},
                    stream=STREAM,
                )
            )
        for f in futures:
            ack = await f
            self.stats.published += 1
            if ack.duplicate:
                self.stats.duplicates += 1

    async def forward_once(self, js) -> int:
        """Publish one batch of pending puts (and the pending events); the rows sent."""
        events = self.buffer.unforwarded_events()
        if events:
            rows = [{**e, "logged_at": str(e["logged_at"])} for e in events]
            for e in rows:
                for k in ("start_ts", "end_ts"):
                    e[k] = None if e[k] is None else str(e[k])
            put = Pending(0, "edge", EVENTS_KIND, rows, time.time(), False)
            ids = ",".join(e["event_id"] for e in events)
            body = Piece(put.source, put.received_at, False, rows).encode()
            ack = await js.publish(
                subject(self.firm, EVENTS_KIND),
                body,
                headers={"Nats-Msg-Id": f"{self.edge_id}:ev:{uuid.uuid5(uuid.NAMESPACE_OID, ids).hex}"},
                stream=STREAM,
                timeout=self.ack_timeout_s,
            )
            if ack.duplicate:
                self.stats.duplicates += 1
            self.buffer.mark_events_forwarded([e["event_id"] for e in events])
        batch = self.buffer.take(self.max_rows)
        if not batch:
            return 0
        now = time.time()
        groups: dict[tuple[str, bool], list[Pending]] = {}  # in buffer order within each
        for put in batch:
            late = put.late or now - put.received_at > self.late_after_s
            if late:
                self.stats.late_rows += len(put.rows)
            groups.setdefault((put.source, late), []).append(put)
        tasks = [self._publish(js, puts, key[1]) for key, puts in groups.items()]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=self.ack_timeout_s + 0.5 * len(batch) / 100)
        self.buffer.ack([p.id for p in batch])  # only now: the stream has every piece
        n = sum(len(p.rows) for p in batch)
        self.stats.rows += n
        self.stats.last_ack_at = time.time()
        return n

    def _due(self) -> bool:
        """Whether to send now: always without a linger; with one, once the oldest pending put
        has waited `linger_s` (or a full batch is waiting), so that a firm sends a few large
        messages instead of many small ones."""
        if self.linger_s <= 0:
            return True
        oldest = self.buffer.take(1)
        if not oldest:
            return bool(self.buffer.unforwarded_events())
        return (
            time.time() - oldest[0].received_at >= self.linger_s
            or self.buffer.pending_rows() >= self.max_rows
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Forward until `stop`; then what is left, while the hub answers."""
        backoff = 0.2
        nc = js = None
        while not stop.is_set():
            try:
                if nc is None:
                    nc = await connect(self.credentials, self.servers, name=f"edge-{self.firm}")
                    js = nc.jetstream(timeout=self.ack_timeout_s)
                n = await self.forward_once(js) if self._due() else 0
                self.stats.connected = True
                backoff = 0.2
                if n == 0:
                    try:
                        await asyncio.wait_for(stop.wait(), 0.1)
                    except TimeoutError:
                        pass
            except Exception as e:  # noqa: BLE001 - hub away: keep everything, retry
                self.stats.errors += 1
                self.stats.connected = False
                self.stats.last_error = f"{type(e).__name__}: {e}"
                if nc is not None:  # a fresh connection: no acknowledgements left waiting
                    await _close(nc)
                    nc = js = None
                try:
                    await asyncio.wait_for(stop.wait(), backoff)
                except TimeoutError:
                    pass
                backoff = min(backoff * 1.5, 2.0)
        if nc is not None:
            try:
                while await self.forward_once(js):
                    pass
            except Exception as e:  # noqa: BLE001 - the rest stays in the buffer
                self.stats.last_error = f"{type(e).__name__}: {e}"
            await _close(nc)


async def _close(nc) -> None:
    try:
        await asyncio.wait_for(nc.close(), 2.0)
    except Exception:  # noqa: BLE001 - it is gone either way
        pass
