"""Sparkplug B host application: births, data, deaths, aliases and sequence numbers -> records.

`SparkplugConnector` subscribes `spBv1.0/<group>/#` on the MQTT connector's durable session
and handles the edge nodes of one group:

- NBIRTH / DBIRTH: remember the alias table and datatypes of the node or device and the
  node's `bdSeq`; mapped metric values in the birth are recorded too. Alias tables are kept
  in the buffer's state, so a restarted collector reads DATA at once (and asks for a rebirth).
- NDATA / DDATA: aliases resolved, each metric configured in `metrics` converted by its
  `PointMapping`; the metric timestamp (ms) is the record time; `is_historical` metrics are
  stored as late data; `is_transient` and null metrics are not stored.
- NDEATH (with the birth's bdSeq) / DDEATH: the node's or device's machines are marked stale:
  a `stale` collection event per machine and health `stale` until the next birth.
- Sequence numbers 0..255 per edge node: a gap (or data from a node never born) is recorded
  as a `gap` event and answered with a rebirth request, NCMD `Node Control/Rebirth` = true.

`points` maps "<edge node>/<device>/<metric name>" (device metrics) or "<edge node>/<metric name>"
(node metrics) to a PointMapping; metric names may contain '/', edge node and device ids cannot.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt

from ...i18n import Catalog
from ..connector import HealthState
from ..mqtt import MessageRejected, MqttConnector, Rows
from .decode import SparkplugDecodeError, decode_payload, encode_payload

COLLECT = Catalog("collect")

if TYPE_CHECKING:
    from ..buffer import Buffer
    from ..mapping import PointMapping

NAMESPACE = "spBv1.0"
REBIRTH_METRIC = "Node Control/Rebirth"


@dataclass
class _Node:
    """What the host knows about one edge node."""

    bd_seq: int | None = None
    seq: int | None = None
    born: bool = False
    aliases: dict[str, dict[int, str]] = field(default_factory=dict)  # device ("" = node) -> alias -> name
    types: dict[str, dict] = field(default_factory=dict)  # device -> alias/name -> datatype
    last_rebirth_request: float = 0.0


class SparkplugConnector(MqttConnector):
    """A Sparkplug B host application for one group; see the module docstring."""

    kind = "sparkplug"

    def __init__(
        self,
        name: str,
        buffer: Buffer,
        group: str,
        points: dict[str, PointMapping] | None = None,
        host: str = "127.0.0.1",
        port: int = 1883,
        rebirth_interval_s: float = 2.0,
        **mqtt_options,
    ) -> None:
        if not group or set(group) & set("/+#"):
            raise ValueError(f"Sparkplug group id {group!r} must be non-empty without '/', '+' or '#'")
        super().__init__(name, buffer, host=host, port=port, topics=[], points=points, **mqtt_options)
        self.group = group
        self.rebirth_interval_s = rebirth_interval_s
        self.nodes: dict[str, _Node] = {}
        self.dead: set[str] = set()  # "node" or "node/device" currently dead
        self.rebirth_requests = 0
        self.gaps = 0
        self._plock = threading.Lock()

    @classmethod
    def from_source(cls, source: Any, buffer: Buffer) -> SparkplugConnector:
        """Build from a validated `[[sparkplug]]` table of the plant configuration."""
        return cls(
            source.name,
            buffer,
            group=source.group,
            points=dict(source.points),
            host=source.host,
            port=source.port,
            client_id=source.client_id,
            username=source.username,
            password=source.password,
        )

    # -- configuration helpers -------------------------------------------------------------------
    def subscriptions(self) -> list[str]:
        return [f"{NAMESPACE}/{self.group}/#"]

    def machines_of(self, node: str, device: str | None) -> list[str]:
        """Machines fed by a node (all its devices too) or by one device."""
        prefix = f"{node}/" if device is None else f"{node}/{device}/"
        return sorted({m.machine for key, m in self.points.items() if key.startswith(prefix)})

    def _state_key(self, node: str) -> str:
        return f"sparkplug:{self.name}:{self.group}/{node}"

    def _node(self, node: str) -> _Node:
        st = self.nodes.get(node)
        if st is None:
            st = _Node()
            saved = self.buffer.get_state(self._state_key(node)) or {}
            st.bd_seq = saved.get("bd_seq")
            for dev, table in (saved.get("aliases") or {}).items():
                st.aliases[dev] = {int(a): nm for a, (nm, _) in table.items()}
                st.types[dev] = {int(a): t for a, (_, t) in table.items()} | {
                    nm: t for nm, t in table.values()
                }
            self.nodes[node] = st
        return st

    def _save(self, node: str, st: _Node) -> None:
        aliases = {
            dev: {str(a): [nm, st.types.get(dev, {}).get(nm, 0)] for a, nm in table.items()}
            for dev, table in st.aliases.items()
        }
        self.buffer.set_state(self._state_key(node), {"bd_seq": st.bd_seq, "aliases": aliases})

    # -- health -----------------------------------------------------------------------------------
    def _update_health(self) -> None:
        if self.client is None:
            return
        if self.dead:
            names = ", ".join(sorted(self.dead))
            self.set_health(HealthState.STALE, COLLECT.both("edge_offline", " / ").format(names=names))
        else:
            self.set_health(HealthState.CONNECTED, f"{self.host}:{self.port} group {self.group}")

    def on_connected(self, client: mqtt.Client) -> None:
        self._update_health()

    # -- rebirth ----------------------------------------------------------------------------------
    def request_rebirth(self, node: str, why: str) -> bool:
        """Publish NCMD Node Control/Rebirth = true to an edge node (at most once per interval)."""
        st = self._node(node)
        now = time.monotonic()
        client = self.client
        if client is None or now - st.last_rebirth_request < self.rebirth_interval_s:
            return False
        st.last_rebirth_request = now
        payload = encode_payload([{"name": REBIRTH_METRIC, "datatype": "Boolean", "value": True}])
        client.publish(f"{NAMESPACE}/{self.group}/NCMD/{node}", payload, qos=0)
        self.rebirth_requests += 1
        self.buffer.log_event(
            self.name,
            "rebirth",
            detail=f"{self.group}/{node}: " + COLLECT.both("rebirth_requested", " / ").format(why=why),
        )
        return True

    def _gap(self, node: str, why: str) -> None:
        self.gaps += 1
        machines = self.machines_of(node, None) or [None]
        now = datetime.now(UTC)
        for m in machines:
            self.buffer.log_event(self.name, "gap", machine=m, end=now, detail=f"{self.group}/{node}: {why}")
        self.request_rebirth(node, why)

    def _mark_dead(self, node: str, device: str | None, why: str) -> None:
        src = node if device is None else f"{node}/{device}"
        now = datetime.now(UTC)
        for m in self.machines_of(node, device):
            self.buffer.log_event(
                self.name,
                "stale",
                machine=m,
                start=now,
                detail=f"{self.group}/{src}: "
                + " / ".join(COLLECT.pair("data_stopped")[::-1]).format(why=why),
            )
        dead = {src}
        if device is None:
            dead.update(f"{node}/{d}" for d in self._node(node).aliases if d)
        self.dead |= dead
        self._update_health()

    def _revive(self, node: str, device: str | None) -> None:
        before = len(self.dead)
        if device is None:
            self.dead.discard(node)
        else:
            self.dead.discard(f"{node}/{device}")
        if len(self.dead) != before:
            self._update_health()

    # -- messages ---------------------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes, received: datetime) -> tuple[Rows, Rows]:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != NAMESPACE or parts[1] != self.group:
            return [], []  # STATE and other groups: not ours
        mtype, node = parts[2], parts[3]
        device = parts[4] if len(parts) > 4 else None
        if mtype in ("NCMD", "DCMD") or len(parts) > 5:
            return [], []
        if mtype not in ("NBIRTH", "DBIRTH", "NDATA", "DDATA", "NDEATH", "DDEATH"):
            raise MessageRejected(f"unknown Sparkplug message type {mtype!r}")
        if (device is None) != mtype.startswith("N"):
            raise MessageRejected(
                f"{mtype} topic {'needs' if device is None else 'must not have'} a device id"
            )
        dev = device or ""
        first_sight = node not in self.nodes
        st = self._node(node)
        known = st.types.get(dev) if mtype.endswith("DATA") or mtype == "DDEATH" else None
        try:
            p = decode_payload(payload, known)
        except SparkplugDecodeError as e:
            raise MessageRejected(
                f"{mtype} from {self.group}/{node}{'/' + device if device else ''}: {e}"
            ) from None

        if mtype == "NDEATH":
            bd = next((m.value for m in p.metrics if m.name == "bdSeq"), None)
            if st.bd_seq is not None and bd is not None and bd != st.bd_seq:
                return [], []  # the will of an older session; the node is already reborn
            st.born = False
            self._mark_dead(node, None, "NDEATH")
            return [], []

        if p.seq is None:
            raise MessageRejected(f"{mtype} from {self.group}/{node} has no sequence number")
        if mtype == "NBIRTH":
            st.born, st.seq = True, p.seq
            bd = next((m.value for m in p.metrics if m.name == "bdSeq"), None)
            st.bd_seq = bd if isinstance(bd, int) else st.bd_seq
            st.aliases = {"": {}}
            st.types = {"": {}}
        else:
            expected = None if st.seq is None else (st.seq + 1) % 256
            st.seq = p.seq
            if expected is None:
                why = "data before a birth (host restarted or birth missed)"
                if first_sight and st.aliases:
                    self.request_rebirth(node, why)
                else:
                    self._gap(node, why)
            elif p.seq != expected:
                self._gap(node, f"sequence number {p.seq}, expected {expected}")

        if mtype in ("NBIRTH", "DBIRTH"):
            aliases: dict[int, str] = {}
            types: dict = {}
            for m in p.metrics:
                if m.name is None:
                    raise MessageRejected(f"{mtype} from {self.group}/{node}: a birth metric without a name")
                types[m.name] = m.datatype
                if m.alias is not None:
                    aliases[m.alias] = m.name
                    types[m.alias] = m.datatype
            st.aliases[dev], st.types[dev] = aliases, types
            self._save(node, st)
            self._revive(node, device)
        elif mtype == "DDEATH":
            self._mark_dead(node, device, "DDEATH")
            return [], []

        src = node if device is None else f"{node}/{device}"
        table = st.aliases.get(dev, {})
        rows: Rows = []
        late: Rows = []
        for m in p.metrics:
            name = m.name if m.name is not None else table.get(m.alias)  # type: ignore[arg-type]
            if name is None:
                self._reject(topic, payload, f"{src}: alias {m.alias} is not in the birth message")
                self.request_rebirth(node, f"unknown alias {m.alias}")
                continue
            key = f"{src}/{name}"
            if key not in self.converters or m.is_null or m.is_transient:
                continue
            ms = m.timestamp or p.timestamp
            ts = datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else received
            row = self.convert(key, m.value, ts)
            if row is not None:
                (late if m.is_historical else rows).append(row)
        if mtype.endswith("DATA") and device is not None:
            self._revive(node, device)
        return rows, late
