"""OPC UA: subscribe to the nodes of a PLC or machine server and turn data changes into records.

An `OpcUaConnector` opens a session with asyncua (in its own asyncio loop, inside
`collect_once`), creates one subscription with the configured publishing interval and a
monitored item per configured node. A node is named by its node id (`ns=2;s=Press1.State`,
`i=2258`) or by a browse path from the Objects folder (`Press1/State`, `2:Press1/2:State`).

- Sampling: each monitored item asks for `sampling_ms` (default 0: every change, as fast as
  the server can) and a queue of `queue_size` changes per publish (default: enough for the
  publishing interval); a point may ask for its own (`OpcUaPoint.sampling_ms`, `.queue_size`),
  and only its node gets them: items are created in groups of equal settings. The server may
  revise both; the values it grants are in the health reason and the log, for the source's
  items and, where they differ, per point. A change the server had to drop because the queue
  overflowed is counted as an error with the node id.

- Timestamps: the value's source timestamp, else the server timestamp, else the time it arrived.
- A value with a status other than Good is counted and rejected with the node id and status.
- A node that does not exist is reported with its id (health reason and a reject), the other
  nodes are collected; if no node can be subscribed at all, the connector fails with the list.
- The client's watchdog reads the server state every `watchdog_s` (default 1 s), so a server
  that hangs without closing the socket is noticed within about three seconds. Then the
  connector reports `retrying`, reconnects (`Backoff`: at most 2 s between tries) and
  subscribes again from scratch.
- A refused user name or password stops the source with health `failed` and says so: a
  server that locks an account after repeated failures must not be retried for ever.
- Security (`opcua_security`): policy and mode, our certificate (generated on first use into
  `opcua-pki/` beside the buffer unless `pki_dir` or `cert_file`/`key_file` say otherwise), a
  trusted/ folder for server certificates (an unknown server is refused with the file to move),
  the password from `password`, `password_env` or `password_file`. A policy the server does not
  offer, an untrusted server and a server that refuses our certificate stop the source with
  `failed` and a message saying what to do; the password never appears in health or logs.
- Values a server had while the link was down cannot be read afterwards (OPC UA serves
  current values): the time is recorded as a `gap` event per machine, from the last moment
  its values were known to the first value after reconnecting (see `GapTracker`). "Known" is
  the last value received, or for a quiet machine the moment a read of the server state was
  sent, less two publishing intervals: whatever changed before that was already published to
  us (a read answer cannot overtake a publish answer on the same connection), so values still
  queued on a server that dies fall inside the gap, not before it.
- A node that was collected and is missing after a reconnect or a collector restart (a PLC
  program changed) marks its machine `stale` (a `stale` collection event naming the node, as a Sparkplug death
  does): its last stored value is no longer known to hold. The next value recorded after it
  comes back is stored again even if it did not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .connector import ConfigurationProblem, Connector, HealthState
from .files_read import collect_text, collect_text_english_first
from .gaps import GapTracker
from .mapping import MappingError, PointMapping, ValueRejected
from .opcua_security import (
    OUR_CERT_REFUSED,
    Security,
    SecurityProblem,
    our_cert_refused,
    read_password,
    unsecured_refused,
)

if TYPE_CHECKING:
    from .buffer import Buffer

NODE_ID = re.compile(r"^(ns=[^;]*;|nsu=[^;]*;)?(i|s|g|b)=", re.S)
log = logging.getLogger(__name__)

# ActivateSession answers that mean "this user name or password is not accepted here"
AUTH_REFUSED = (
    "BadUserAccessDenied",
    "BadIdentityTokenInvalid",
    "BadIdentityTokenRejected",
    "BadUserSignatureInvalid",
)
OVERFLOW_BITS = 0x0400 | 0x0080  # InfoType DataValue + Overflow: the server's queue dropped values


def default_queue_size(interval_ms: float, sampling_ms: float) -> int:
    """Room for twice the changes one publishing interval can hold (sampling at 10 ms at most),
    and never less than 100."""
    return max(100, 2 * math.ceil(interval_ms / max(sampling_ms, 10.0)))


def is_node_id(spec: str) -> bool:
    """True for an OPC UA node id string (`ns=2;s=X`, `i=85`), False for a browse path."""
    return bool(NODE_ID.match(spec.strip()))


def _aware(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class _Handler:
    """Receives data changes in the asyncio loop and queues them for the flush step."""

    def __init__(self, on_value: Callable[[str, Any, Any], None]) -> None:
        self.on_value = on_value

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.on_value(node.nodeid.to_string(), val, data.monitored_item.Value)

    def status_change_notification(self, status: Any) -> None:  # the session is going away
        pass


class OpcUaConnector(Connector):
    """Subscribes to OPC UA nodes; see the module docstring."""

    kind = "opcua"

    def __init__(
        self,
        name: str,
        buffer: Buffer,
        endpoint: str,
        points: dict[str, PointMapping],
        interval_ms: int = 500,
        sampling_ms: float = 0.0,
        queue_size: int | None = None,
        username: str | None = None,
        password: str | None = None,
        security: Security | None = None,
        watchdog_s: float = 1.0,
        timeout_s: float = 4.0,
        flush_s: float = 0.1,
    ) -> None:
        if not endpoint.startswith("opc.tcp://"):
            raise MappingError(f"opcua {name}: endpoint must start with opc.tcp://, got {endpoint!r}")
        if not points:
            raise MappingError(f"opcua {name}: {collect_text_english_first('opcua_no_points')}")
        for spec in points:
            if is_node_id(spec):
                from asyncua import ua

                try:
                    ua.NodeId.from_string(spec.strip())
                except Exception as e:  # noqa: BLE001 - asyncua raises several kinds
                    raise MappingError(f'opcua {name}: points."{spec}": not a valid node id ({e})') from None
            elif not spec.strip("/ "):
                raise MappingError(f"opcua {name}: an empty node id or browse path")
        super().__init__(name, buffer, points)
        _quiet_library_logs("asyncua")
        self.endpoint = endpoint
        self.interval_ms = interval_ms
        self.sampling_ms = float(sampling_ms)
        self._queue_given = queue_size
        self.queue_size = queue_size or default_queue_size(interval_ms, self.sampling_ms)
        self.revised: dict[str, float] = {}  # what the server granted: publishing_ms, sampling_ms, queue_size
        self.asked: dict[str, tuple[float, int]] = {}  # node id -> (sampling_ms, queue_size) asked for
        self.granted: dict[str, tuple[float, int]] = {}  # node id -> what the server granted
        self.overflows = 0
        self.username, self.password = username, password
        self.security = security or Security()
        self.watchdog_s, self.timeout_s, self.flush_s = watchdog_s, timeout_s, flush_s
        self.gaps = GapTracker(buffer, name)
        self.bad_nodes: dict[str, str] = {}  # spec -> why it could not be subscribed
        self._queue: list[tuple[str, Any, Any, datetime]] = []
        self._keys: dict[str, list[str]] = {}  # subscribed node id -> point keys

    @classmethod
    def from_source(cls, source: Any, buffer: Buffer) -> OpcUaConnector:
        """Build from a validated `[[opcua]]` table of the plant configuration; the certificates
        live in `pki_dir`, else in `opcua-pki/` beside the buffer file."""
        where = f"opcua {source.name}"
        pki = source.pki_dir or str(Path(getattr(buffer, "path", "buffer")).parent / "opcua-pki")
        security = Security(
            source.security_policy, source.security_mode, source.cert_file, source.key_file, pki
        )
        password = read_password(source.password, source.password_env, source.password_file, where)
        return cls(
            source.name,
            buffer,
            source.endpoint,
            dict(source.points),
            interval_ms=source.interval_ms,
            sampling_ms=source.sampling_ms,
            queue_size=source.queue_size,
            username=source.username,
            password=password,
            security=security,
        )

    def settings(self, key: str) -> tuple[float, int]:
        """The sampling interval and queue size asked for the node of point `key`: the point's own
        (an `OpcUaPoint` with `sampling_ms` / `queue_size`), else the source's."""
        mapping = self.points[key]
        own_sampling = getattr(mapping, "sampling_ms", None)
        own_queue = getattr(mapping, "queue_size", None)
        sampling = self.sampling_ms if own_sampling is None else float(own_sampling)
        if own_queue is not None:
            return sampling, int(own_queue)
        if own_sampling is None or self._queue_given:
            return sampling, self.queue_size
        return sampling, default_queue_size(self.interval_ms, sampling)

    # -- life cycle --------------------------------------------------------------------------
    def collect_once(self, stop: threading.Event) -> None:
        asyncio.run(self._session(stop))

    async def _session(self, stop: threading.Event) -> None:
        from asyncua import Client

        client = Client(self.endpoint, timeout=self.timeout_s, watchdog_intervall=self.watchdog_s)
        if self.username:
            client.set_user(self.username)
        if self.password:
            client.set_password(self.password)
        lost: list[str] = []

        async def on_lost(exc: Exception) -> None:
            lost.append(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

        client.connection_lost_callback = on_lost
        connected = False
        confirming: asyncio.Task | None = None
        try:
            await self._secure(client)
            await self._connect(client)
            connected = True
            await self._subscribe(client)
            self.backoff.reset()
            confirming = asyncio.create_task(self._confirm_alive(client))
            while not stop.is_set():
                await asyncio.sleep(self.flush_s)
                self._flush()
                if lost:
                    raise ConnectionError(f"connection to {self.endpoint} lost: {lost[0]}")
            self._flush()
        except BaseException as e:
            self._flush()
            if not stop.is_set() and not isinstance(e, ConfigurationProblem):
                self.gaps.lost(f"{type(e).__name__}: {e}")
            raise
        finally:
            if confirming is not None:
                confirming.cancel()
                with contextlib.suppress(BaseException):
                    await confirming
            self._queue.clear()
            self.gaps.persist()
            if connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), timeout=2.0)

    async def _secure(self, client: Any) -> None:
        """Apply the security settings; a server that cannot be reached is retried, a policy it
        does not offer or a certificate not trusted is a `SecurityProblem` (not retried)."""
        from .opcua_security import apply

        await apply(client, self.security, self.endpoint)

    async def _connect(self, client: Any) -> None:
        """Open the session; a refused user name or password is a `ConfigurationProblem`."""
        from asyncua import ua

        try:
            await client.connect()
        except ua.UaError as e:
            await unsecured_refused(client, self.security, self.endpoint, e)
            if not isinstance(e, ua.UaStatusCodeError):
                raise
            name = type(e).__name__
            if name in OUR_CERT_REFUSED and self.security.secured:
                raise SecurityProblem(f"{our_cert_refused(self.security, name)} (not retried)") from None
            if name not in AUTH_REFUSED:
                raise
            who = (
                f"user {self.username!r}" if self.username else collect_text_english_first("opcua_anonymous")
            )
            raise ConfigurationProblem(
                f"{collect_text('opcua_auth_failed', error=name, who=who)}; "
                f"{collect_text_english_first('opcua_check_login')} (not retried)"
            ) from None

    async def _confirm_alive(self, client: Any) -> None:
        """Every `watchdog_s`, read the server state; when the answer comes, everything the
        server changed up to two publishing intervals before the read was sent has reached us
        (answers on one connection come in order), so quiet machines are known up to there."""
        lag = timedelta(milliseconds=2 * self.revised.get("publishing_ms", self.interval_ms))
        while True:
            await asyncio.sleep(self.watchdog_s)
            sent = datetime.now(UTC)
            try:
                await asyncio.wait_for(
                    client.nodes.server_state.read_value(), timeout=max(self.watchdog_s, 1.0)
                )
            except Exception:  # noqa: BLE001 - the client's own watchdog reports a dead link
                continue
            self._flush()  # values that came before the answer are seen first
            self.gaps.alive(sent - lag)

    async def _subscribe(self, client: Any) -> None:
        # collected before: in the last session, or with a value kept from an earlier run
        previously = {key for keys in self._keys.values() for key in keys}
        previously |= {key for key, conv in self.converters.items() if conv.last is not None}
        nodes = await self._resolve(client)
        self._mark_gone(previously)
        if not nodes:
            raise ConfigurationProblem(self._nothing_subscribed())

        def on_value(node_id: str, val: Any, dv: Any) -> None:
            self._queue.append((node_id, val, dv, datetime.now(UTC)))

        session = client.uaclient.session
        with _answers(session, "create_subscription") as created:
            sub = await client.create_subscription(self.interval_ms, _Handler(on_value))
        unique: dict[str, tuple[Any, list[str]]] = {}  # two keys may name the same node
        for key, node in nodes.items():
            unique.setdefault(node.nodeid.to_string(), (node, []))[1].append(key)
        # one request per group of equal settings: a fast point makes only its own node fast
        groups: dict[tuple[float, int], list[str]] = {}
        self.asked = {}
        for node_id, (_, keys) in unique.items():
            asked = [self.settings(key) for key in keys]  # the fastest and largest of its keys
            self.asked[node_id] = (min(a[0] for a in asked), max(a[1] for a in asked))
            groups.setdefault(self.asked[node_id], []).append(node_id)
        results: dict[str, Any] = {}
        items: dict[str, Any] = {}
        for (sampling, queue), node_ids in groups.items():
            with _answers(session, "create_monitored_items") as granted:
                handles = await sub.subscribe_data_change(
                    [unique[node_id][0] for node_id in node_ids],
                    queuesize=queue,  # changes between two publishes are queued, not dropped
                    sampling_interval=sampling,
                )
            answered = [r for batch in granted for r in batch]
            results.update(zip(node_ids, handles, strict=True))
            if len(answered) == len(node_ids):
                items.update(zip(node_ids, answered, strict=True))
        self._note_revised(created, items)
        self._keys = {}
        for node_id, (_, keys) in unique.items():
            result = results[node_id]
            if isinstance(result, int):
                self._keys[node_id] = keys
            else:
                for key in keys:
                    self._bad_node(key, f"monitored item refused: {getattr(result, 'name', result)}")
        if not self._keys:
            raise ConfigurationProblem(self._nothing_subscribed())
        subscribed = sum(len(k) for k in self._keys.values())
        reason = f"{subscribed} node(s); {self._revised_text()}"
        own = self._per_point_text()
        if own:
            reason += f"; {collect_text_english_first('opcua_per_point')}: {own}"
        if self.bad_nodes:
            bad = ", ".join(self.bad_nodes)
            reason += f"; {collect_text_english_first('opcua_bad_nodes', count=len(self.bad_nodes))}: {bad}"
        self.set_health(HealthState.CONNECTED, reason)

    def _note_revised(self, created: list[Any], items: dict[str, Any]) -> None:
        """Keep and log the publishing interval the server granted, and the sampling interval and
        queue size per monitored item; `revised` sums up the items with the source's settings
        (the slowest sampling and smallest queue granted), or all items if every point has its own."""
        revised: dict[str, float] = {"publishing_ms": float(self.interval_ms)}
        for answer in created:
            revised["publishing_ms"] = float(getattr(answer, "RevisedPublishingInterval", self.interval_ms))
        self.granted = {
            node_id: (float(r.RevisedSamplingInterval), int(r.RevisedQueueSize))
            for node_id, r in items.items()
            if getattr(r, "StatusCode", None) is not None and r.StatusCode.is_good()
        }
        source = (self.sampling_ms, self.queue_size)
        mine = [g for node_id, g in self.granted.items() if self.asked.get(node_id) == source]
        mine = mine or list(self.granted.values())
        if mine:
            revised["sampling_ms"] = max(g[0] for g in mine)
            revised["queue_size"] = min(g[1] for g in mine)
        self.revised = revised
        log.info(
            "opcua %s: publishing %s ms, sampling %s ms (asked %s), queue %s (asked %s)",
            self.name,
            revised.get("publishing_ms"),
            revised.get("sampling_ms"),
            self.sampling_ms,
            revised.get("queue_size"),
            self.queue_size,
        )
        for node_id, (sampling, queue) in self.granted.items():
            if self._differs(node_id):
                log.info(
                    "opcua %s: node %s: sampling %s ms (asked %s), queue %s (asked %s)",
                    self.name,
                    node_id,
                    sampling,
                    self.asked[node_id][0],
                    queue,
                    self.asked[node_id][1],
                )

    def _differs(self, node_id: str) -> bool:
        """The node has settings of its own, asked or granted, unlike the source's summary."""
        summary = (self.revised.get("sampling_ms"), self.revised.get("queue_size"))
        return self.asked.get(node_id) != (self.sampling_ms, self.queue_size) or (
            node_id in self.granted and self.granted[node_id] != summary
        )

    @staticmethod
    def _asked_text(asked: tuple[float, int], granted: tuple[float, int]) -> str:
        """ "(revised by the server from ...)" where the server granted slower sampling or a smaller queue."""
        parts = []
        if asked[0] and granted[0] > asked[0]:
            parts.append(f"sampling {asked[0]:g} ms")
        if granted[1] < asked[1]:
            parts.append(f"queue {asked[1]}")
        return f" ({collect_text('opcua_revised', asked=', '.join(parts))})" if parts else ""

    def _revised_text(self) -> str:
        r = self.revised
        text = f"publishing {r.get('publishing_ms', self.interval_ms):g} ms"
        if "sampling_ms" in r:
            granted = (r["sampling_ms"], int(r["queue_size"]))
            text += f", sampling {granted[0]:g} ms, queue {granted[1]}"
            text += self._asked_text((self.sampling_ms, self.queue_size), granted)
        return text

    def _per_point_text(self, most: int = 3) -> str:
        """The points whose granted settings differ from the source's, grouped by what was asked
        and granted: `sampling 10 ms, queue 1000: ns=2;s=A, ns=2;s=B (+3)`."""
        groups: dict[tuple, list[str]] = {}
        for node_id, granted in self.granted.items():
            if node_id in self._keys and self._differs(node_id):
                groups.setdefault((self.asked[node_id], granted), []).extend(self._keys[node_id])
        texts = []
        for (asked, granted), keys in groups.items():
            names = ", ".join(keys[:most]) + (f" (+{len(keys) - most})" if len(keys) > most else "")
            text = f"sampling {granted[0]:g} ms, queue {granted[1]}{self._asked_text(asked, granted)}"
            texts.append(f"{text}: {names}")
        return "; ".join(texts)

    def _mark_gone(self, previously: set[str]) -> None:
        """Nodes collected in the last session that are missing now: their machines turn stale."""
        for key in sorted(previously & set(self.bad_nodes)):
            mapping = self.points[key]
            what = f"{mapping.kind} {mapping.name}" if mapping.name else mapping.kind
            self.buffer.log_event(
                self.name,
                "stale",
                machine=mapping.machine,
                start=datetime.now(UTC),
                detail=collect_text_english_first(
                    "opcua_node_gone", node=key, what=what, why=self.bad_nodes[key]
                ),
            )
            conv = self.converters[key]
            if mapping.kind in ("state", "alarm"):
                conv.last = None  # whatever comes back is recorded again

    def _nothing_subscribed(self) -> str:
        problems = "; ".join(f"{spec}: {why}" for spec, why in self.bad_nodes.items())
        return f"{collect_text_english_first('opcua_nothing_subscribed')}: {problems}"

    def _bad_node(self, spec: str, why: str) -> None:
        first = self.bad_nodes.get(spec) != why
        self.bad_nodes[spec] = why
        if first:  # once per problem, not on every reconnect
            reason = f"node {spec}: {why}"
            self.count_error(reason)
            self.buffer.reject(self.name, self.points[spec].kind, {"key": spec}, reason)

    async def _resolve(self, client: Any) -> dict[str, Any]:
        """Point key -> Node for every configured node that exists; the others go to `bad_nodes`."""
        from asyncua import ua

        out: dict[str, Any] = {}
        for spec in self.points:
            try:
                if is_node_id(spec):
                    node = client.get_node(spec.strip())
                    await node.read_node_class()  # raises BadNodeIdUnknown for a node that is not there
                else:
                    node = await self._browse_path(client, spec)
            except ua.UaStatusCodeError as e:
                self._bad_node(
                    spec, collect_text_english_first("opcua_node_not_found", status=type(e).__name__)
                )
                continue
            except LookupError as e:
                self._bad_node(spec, str(e))
                continue
            self.bad_nodes.pop(spec, None)
            out[spec] = node
        return out

    @staticmethod
    async def _browse_path(client: Any, spec: str) -> Any:
        """Follow `A/B/C` (each part `Name` or `ns:Name`) down from the Objects folder."""
        parts = [p for p in spec.strip().strip("/").split("/") if p]
        if parts and parts[0] in ("Objects", "0:Objects"):
            parts = parts[1:]
        node = client.nodes.objects
        walked = "Objects"
        for part in parts:
            ns, _, name = part.rpartition(":") if re.match(r"^\d+:", part) else ("", "", part)
            match = None
            for child in await node.get_children():
                bn = await child.read_browse_name()
                if bn.Name == name and (not ns or bn.NamespaceIndex == int(ns)):
                    match = child
                    break
            if match is None:
                raise LookupError(
                    collect_text_english_first(
                        "opcua_path_not_found", spec=spec, part=repr(part), walked=walked
                    )
                )
            node, walked = match, f"{walked}/{part}"
        return node

    # -- values ------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Convert the queued data changes and put them into the buffer in one transaction."""
        if not self._queue:
            return
        queued, self._queue = self._queue, []
        rows: list[tuple[str, dict]] = []
        for node_id, val, dv, arrived in queued:
            for key in self._keys.get(node_id, ()):
                row = self._value(key, val, dv, arrived)
                if row is not None:
                    rows.append(row)
        self.emit(rows)

    def _value(self, key: str, val: Any, dv: Any, arrived: datetime) -> tuple[str, dict] | None:
        mapping = self.points[key]
        ts = (
            _aware(getattr(dv, "SourceTimestamp", None))
            or _aware(getattr(dv, "ServerTimestamp", None))
            or arrived
        )
        status = getattr(dv, "StatusCode", None)
        if status is not None and (getattr(status, "value", 0) & OVERFLOW_BITS) == OVERFLOW_BITS:
            self.overflows += 1
            node_id = next((n for n, keys in self._keys.items() if key in keys), None)
            queue_size = self.granted.get(node_id, (0, self.revised.get("queue_size", self.queue_size)))[1]
            self.count_error(
                f"node {key}: {collect_text_english_first('opcua_queue_overflow', queue_size=queue_size)}"
            )
        if status is not None and not status.is_good():
            reason = f"node {key}: {collect_text_english_first('opcua_bad_status', status=status.name)}"
            self.count_error(reason)
            self.buffer.reject(
                self.name, mapping.kind, {"key": key, "raw": repr(val), "ts": ts.isoformat()}, reason
            )
            return None
        self.gaps.seen(mapping.machine, ts)
        try:
            return self.converters[key].convert(val, ts)
        except ValueRejected as e:
            reason = f"node {key}: {e}"
            self.count_error(reason)
            self.buffer.reject(self.name, mapping.kind, {"key": key, "raw": repr(val)}, reason)
            return None


@contextlib.contextmanager
def _answers(session: Any, method: str) -> Iterator[list[Any]]:
    """Keep what `session.<method>` answers while the block runs: asyncua's high-level calls
    drop the revised intervals and queue sizes the server granted."""
    answers: list[Any] = []
    original = getattr(session, method, None)
    if original is None:
        yield answers
        return

    async def keep(*args: Any, **kwargs: Any) -> Any:
        answer = await original(*args, **kwargs)
        answers.append(answer)
        return answer

    setattr(session, method, keep)
    try:
        yield answers
    finally:
        with contextlib.suppress(AttributeError):
            delattr(session, method)  # the class's method again


def _quiet_library_logs(name: str) -> None:
    """asyncua logs every link failure with a traceback; the connector reports them in its health
    instead, so unless the application configured that logger, only critical messages get through."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)
