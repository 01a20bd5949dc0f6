"""OPC UA: subscribe to the nodes of a PLC or machine server and turn data changes into records.

An `OpcUaConnector` opens a session with asyncua (in its own asyncio loop, inside
`collect_once`), creates one subscription with the configured publishing interval and a
monitored item per configured node. A node is named by its node id (`ns=2;s=Press1.State`,
`i=2258`) or by a browse path from the Objects folder (`Press1/State`, `2:Press1/2:State`).

- Timestamps: the value's source timestamp, else the server timestamp, else the time it arrived.
- A value with a status other than Good is counted and rejected with the node id and status.
- A node that does not exist is reported with its id (health reason and a reject), the other
  nodes are collected; if no node can be subscribed at all, the connector fails with the list.
- The client's watchdog reads the server state every `watchdog_s` (default 1 s), so a server
  that hangs without closing the socket is noticed within about three seconds. Then the
  connector reports `retrying`, reconnects with backoff and subscribes again from scratch.
- Values a server had while the link was down cannot be read afterwards (OPC UA serves
  current values): the time is recorded as a `gap` event per machine, from the last moment
  its values were known to the first value after reconnecting (see `GapTracker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .connector import ConfigurationProblem, Connector, HealthState
from .gaps import GapTracker
from .mapping import MappingError, PointMapping, ValueRejected

if TYPE_CHECKING:
    from .buffer import Buffer

NODE_ID = re.compile(r"^(ns=[^;]*;|nsu=[^;]*;)?(i|s|g|b)=", re.S)


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
        username: str | None = None,
        password: str | None = None,
        watchdog_s: float = 1.0,
        timeout_s: float = 4.0,
        flush_s: float = 0.1,
    ) -> None:
        if not endpoint.startswith("opc.tcp://"):
            raise MappingError(f"opcua {name}: endpoint must start with opc.tcp://, got {endpoint!r}")
        if not points:
            raise MappingError(f"opcua {name}: no points configured / 설정된 노드 없음")
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
        self.username, self.password = username, password
        self.watchdog_s, self.timeout_s, self.flush_s = watchdog_s, timeout_s, flush_s
        self.gaps = GapTracker(buffer, name)
        self.bad_nodes: dict[str, str] = {}  # spec -> why it could not be subscribed
        self._queue: list[tuple[str, Any, Any, datetime]] = []
        self._keys: dict[str, list[str]] = {}  # subscribed node id -> point keys

    @classmethod
    def from_source(cls, source: Any, buffer: Buffer) -> OpcUaConnector:
        """Build from a validated `[[opcua]]` table of the plant configuration."""
        return cls(
            source.name,
            buffer,
            source.endpoint,
            dict(source.points),
            interval_ms=source.interval_ms,
            username=source.username,
            password=source.password,
        )

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
        try:
            await client.connect()
            connected = True
            await self._subscribe(client)
            self.backoff.reset()
            alive_at = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(self.flush_s)
                self._flush()
                if lost:
                    raise ConnectionError(f"connection to {self.endpoint} lost: {lost[0]}")
                if time.monotonic() - alive_at >= self.watchdog_s:
                    # the client's watchdog would have reported a dead server by now
                    self.gaps.alive(datetime.now(UTC))
                    alive_at = time.monotonic()
            self._flush()
        except BaseException as e:
            self._flush()
            if not stop.is_set() and not isinstance(e, ConfigurationProblem):
                self.gaps.lost(f"{type(e).__name__}: {e}")
            raise
        finally:
            self._queue.clear()
            self.gaps.persist()
            if connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(), timeout=2.0)

    async def _subscribe(self, client: Any) -> None:
        nodes = await self._resolve(client)
        if not nodes:
            raise ConfigurationProblem(self._nothing_subscribed())

        def on_value(node_id: str, val: Any, dv: Any) -> None:
            self._queue.append((node_id, val, dv, datetime.now(UTC)))

        sub = await client.create_subscription(self.interval_ms, _Handler(on_value))
        unique: dict[str, tuple[Any, list[str]]] = {}  # two keys may name the same node
        for key, node in nodes.items():
            unique.setdefault(node.nodeid.to_string(), (node, []))[1].append(key)
        results = await sub.subscribe_data_change(
            [node for node, _ in unique.values()],
            queuesize=100,  # changes between two publishes are queued, not dropped
            sampling_interval=float(min(self.interval_ms, 100)),
        )
        self._keys = {}
        for (node_id, (_, keys)), result in zip(unique.items(), results, strict=True):
            if isinstance(result, int):
                self._keys[node_id] = keys
            else:
                for key in keys:
                    self._bad_node(key, f"monitored item refused: {getattr(result, 'name', result)}")
        if not self._keys:
            raise ConfigurationProblem(self._nothing_subscribed())
        subscribed = sum(len(k) for k in self._keys.values())
        reason = f"{subscribed} node(s)"
        if self.bad_nodes:
            reason += f"; {len(self.bad_nodes)} bad / 잘못된 노드: " + ", ".join(self.bad_nodes)
        self.set_health(HealthState.CONNECTED, reason)

    def _nothing_subscribed(self) -> str:
        problems = "; ".join(f"{spec}: {why}" for spec, why in self.bad_nodes.items())
        return f"no node could be subscribed / 구독할 수 있는 노드 없음: {problems}"

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
                self._bad_node(spec, f"{type(e).__name__} / 노드를 찾을 수 없음")
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
                    f"browse path {spec}: no child {part!r} under {walked} / 경로를 찾을 수 없음"
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
        if status is not None and not status.is_good():
            reason = f"node {key}: status {status.name} / 상태 불량"
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


def _quiet_library_logs(name: str) -> None:
    """asyncua logs every link failure with a traceback; the connector reports them in its health
    instead, so unless the application configured that logger, only critical messages get through."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)
