"""Sparkplug B host application: births, data, deaths, aliases and sequence numbers -> records.

`SparkplugConnector` subscribes `spBv1.0/<group>/#` on the MQTT connector's durable session
and handles the edge nodes of one group:

- **Primary host** (`host_id`): publishes `spBv1.0/STATE/<host_id>` = `{"online": true,
  "timestamp": ...}` (QoS 1, retained) once connected, with the same topic `online: false` as
  its MQTT will and on a clean stop (Sparkplug 3.0): edge nodes configured with this primary
  host hold their data (and send it later as historical) while it is offline.
- NBIRTH / DBIRTH: remember the alias table, datatypes and units of the node or device and the
  node's `bdSeq`; mapped metric values in the birth are recorded too. Alias tables are kept in
  the buffer's state.
- NDATA / DDATA: aliases resolved, each metric configured in `points` converted by its
  `PointMapping`; the metric timestamp (ms) is the record time; `is_historical` metrics are
  stored as late data; `is_transient` and null metrics are not stored. A metric sent by name
  that the birth named with a prefix (`DATA/x` in the birth, `x` in data) is matched when the
  ending is unique, and a point may be configured with either name.
- NDEATH (with the birth's bdSeq) / DDEATH (with or without a sequence number): the node's or
  device's machines are marked stale until the next birth.
- **Sequence numbers** (`sequence.SeqTracker`): each node's last number and data time are
  committed with the rows they came with, so a restarted collector checks the first message
  against the last one it stored (no rebirth needed when nothing was lost). Messages delivered
  a little out of order (a node's and its devices' separate connections) are not gaps;
  numbers still missing after `reorder_window_s` are recorded as a `gap` event per machine
  with the data times around them as start and end, and answered with a rebirth request
  (NCMD `Node Control/Rebirth` = true). A new session of a node (another bdSeq) without a
  death seen, or a birth first after a restart, cannot be checked: recorded as a gap too.
- **Nothing the broker accepted is lost** with a broker that upgrades outgoing QoS
  (Mosquitto `upgrade_outgoing_qos true`): data published at QoS 0 reaches our QoS 1
  subscription at QoS 1 and is acknowledged only after the buffer committed it (the MQTT
  connector's manual acknowledgement), so what a killed collector held uncommitted is sent
  again to its persistent session. A redelivered message is harmless: its sequence number is
  behind the committed one (a duplicate, not a gap) and the store keys its rows by machine,
  name and time.
- At start the broker is asked whether it keeps QoS 0 messages for our session while we are
  away and whether it upgrades them (`broker_check.probe`); if not, health and the log say so.
  Without the upgrade collection works as before, at QoS 0: what the collector held when it
  was killed is lost (inside a recorded gap).

`points` maps "<edge node>/<device>/<metric name>" (device metrics) or "<edge node>/<metric name>"
(node metrics) to a PointMapping; metric names may contain '/', edge node and device ids cannot.
"""

from __future__ import annotations

import json
import logging
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
from .sequence import LostRun, SeqTracker

COLLECT = Catalog("collect")
EDGE = Catalog("collect_edge")
log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ..buffer import Buffer
    from ..mapping import PointMapping

NAMESPACE = "spBv1.0"
REBIRTH_METRIC = "Node Control/Rebirth"


def _english_first(key: str, catalog: Catalog = EDGE) -> str:
    return " / ".join(catalog.pair(key)[::-1])


@dataclass
class _Node:
    """What the host knows about one edge node."""

    seqs: SeqTracker
    bd_seq: int | None = None
    born: bool = False
    dead: bool = False  # an NDEATH of the current bdSeq was seen
    restored: bool = False  # the state came from the buffer; no message seen in this process yet
    aliases: dict[str, dict[int, str]] = field(default_factory=dict)  # device ("" = node) -> alias -> name
    types: dict[str, dict] = field(default_factory=dict)  # device -> alias/name -> datatype
    units: dict[str, dict[str, str]] = field(default_factory=dict)  # device -> name -> unit
    names: dict[str, dict[str, str | None]] = field(default_factory=dict)  # device -> data name -> birth name
    last_rebirth_request: float = 0.0
    device_dead_ms: dict[str, int] = field(default_factory=dict)  # device -> data time of its DDEATH


def _name_index(names: list[str]) -> dict[str, str | None]:
    """Every birth name under itself and under each of its endings after a '/' ('DATA/x' also as 'x');
    an ending two names share maps to None (ambiguous)."""
    index: dict[str, str | None] = {n: n for n in names}
    for n in names:
        parts = n.split("/")
        for i in range(1, len(parts)):
            end = "/".join(parts[i:])
            if end in index and index[end] != n and end not in names:
                index[end] = None
            elif end not in index:
                index[end] = n
    return index


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
        host_id: str | None = None,
        reorder_window_s: float = 2.0,
        check_broker: bool = True,
        **mqtt_options,
    ) -> None:
        if not group or set(group) & set("/+#"):
            raise ValueError(f"Sparkplug group id {group!r} must be non-empty without '/', '+' or '#'")
        if host_id is not None and (not host_id or set(host_id) & set("/+#")):
            raise ValueError(f"Sparkplug host id {host_id!r} must be non-empty without '/', '+' or '#'")
        super().__init__(name, buffer, host=host, port=port, topics=[], points=points, **mqtt_options)
        self.group = group
        self.host_id = host_id
        self.rebirth_interval_s = rebirth_interval_s
        self.reorder_window_s = reorder_window_s
        self.check_broker = check_broker
        self.nodes: dict[str, _Node] = {}
        self.dead: set[str] = set()  # "node" or "node/device" currently dead
        self.rebirth_requests = 0
        self.gaps = 0
        self.broker_queues_qos0: bool | None = None
        self.broker_upgrades_qos0: bool | None = None  # QoS 0 data delivered at QoS 1 (acknowledged)
        self._dirty: set[str] = set()  # nodes whose sequence state is not committed yet
        self._keys: dict[tuple[str, str], str | None] = {}  # (source, birth name) -> point key
        self._state_birth_ms = 0
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
            host_id=source.host_id,
            reorder_window_s=source.reorder_window_s,
            tls=source.tls,
            ca_file=source.ca_file,
            cert_file=source.cert_file,
            key_file=source.key_file,
            tls_insecure=source.tls_insecure,
        )

    # -- configuration helpers -------------------------------------------------------------------
    @property
    def state_topic(self) -> str | None:
        return f"{NAMESPACE}/STATE/{self.host_id}" if self.host_id else None

    def subscriptions(self) -> list[str]:
        subs = [f"{NAMESPACE}/{self.group}/#"]
        return subs + ([self.state_topic] if self.state_topic else [])

    def machines_of(self, node: str, device: str | None) -> list[str]:
        """Machines fed by a node (all its devices too) or by one device."""
        prefix = f"{node}/" if device is None else f"{node}/{device}/"
        return sorted({m.machine for key, m in self.points.items() if key.startswith(prefix)})

    def _state_key(self, node: str) -> str:
        return f"sparkplug:{self.name}:{self.group}/{node}"

    def _seq_key(self, node: str) -> str:
        return f"sparkplug-seq:{self.name}:{self.group}/{node}"

    def _node(self, node: str) -> _Node:
        st = self.nodes.get(node)
        if st is None:
            st = _Node(seqs=SeqTracker(window_s=self.reorder_window_s))
            saved = self.buffer.get_state(self._state_key(node)) or {}
            st.bd_seq = saved.get("bd_seq")
            for dev, table in (saved.get("aliases") or {}).items():
                st.aliases[dev] = {int(a): nm for a, (nm, _) in table.items()}
                st.types[dev] = {int(a): t for a, (_, t) in table.items()} | {
                    nm: t for nm, t in table.values()
                }
                st.names[dev] = _name_index(
                    list(st.aliases[dev].values()) + list(saved.get("names", {}).get(dev, []))
                )
            seq_state = self.buffer.get_state(self._seq_key(node))
            if seq_state:
                st.seqs.restore(seq_state)
                st.dead = bool(seq_state.get("dead"))
                st.bd_seq = seq_state.get("bd_seq", st.bd_seq)
                st.restored = True
            self.nodes[node] = st
        return st

    def _save(self, node: str, st: _Node) -> None:
        aliases = {
            dev: {str(a): [nm, st.types.get(dev, {}).get(nm, 0)] for a, nm in table.items()}
            for dev, table in st.aliases.items()
        }
        names = {dev: sorted(n for n, full in idx.items() if full == n) for dev, idx in st.names.items()}
        self.buffer.set_state(
            self._state_key(node), {"bd_seq": st.bd_seq, "aliases": aliases, "names": names}
        )

    def durable_state(self) -> dict[str, Any]:
        """Each changed node's last sequence number, data time, bdSeq and death, committed with the rows."""
        out = {}
        for node in self._dirty:
            st = self.nodes[node]
            out[self._seq_key(node)] = {**st.seqs.state(), "bd_seq": st.bd_seq, "dead": st.dead}
        self._dirty = set()
        return out

    def process(self, messages: list[Any]) -> None:
        super().process(messages)
        self._flush_lost()
        if self._dirty:  # messages without stored rows still move the sequence numbers on
            self.buffer.put_many(self.name, {}, state=self.durable_state())

    # -- health -----------------------------------------------------------------------------------
    def healthy(self) -> None:
        self._update_health()

    def _update_health(self) -> None:
        if self.client is None:
            return
        if self.dead:
            names = ", ".join(sorted(self.dead))
            self.set_health(HealthState.STALE, COLLECT.both("edge_offline", " / ").format(names=names))
        else:
            self.set_health(HealthState.CONNECTED, f"{self.host}:{self.port} group {self.group}")

    # -- primary host STATE, broker check ------------------------------------------------------
    def _state_payload(self, online: bool) -> bytes:
        return json.dumps({"online": online, "timestamp": self._state_birth_ms}).encode()

    def prepare_client(self, client: mqtt.Client) -> None:
        if self.state_topic:
            self._state_birth_ms = int(time.time() * 1000)
            client.will_set(self.state_topic, self._state_payload(False), qos=1, retain=True)

    def on_connected(self, client: mqtt.Client) -> None:
        if self.state_topic:
            client.publish(self.state_topic, self._state_payload(True), qos=1, retain=True)
        self._update_health()
        if self.check_broker and self.broker_queues_qos0 is None:
            threading.Thread(target=self._check_broker, name=f"qos0-check-{self.name}", daemon=True).start()

    def on_disconnecting(self, client: mqtt.Client) -> None:
        if self.state_topic and client.is_connected():
            info = client.publish(self.state_topic, self._state_payload(False), qos=1, retain=True)
            try:
                info.wait_for_publish(2)
            except (RuntimeError, ValueError):
                pass

    def _check_broker(self) -> None:
        from ..broker_check import probe

        try:
            seen = probe(self.host, self.port, self.client_id, self._secure)
        except Exception as e:  # noqa: BLE001 - the check is advice; collection goes on
            log.info("sparkplug %s: could not check the broker's QoS 0 queueing: %s", self.name, e)
            return
        self.broker_queues_qos0, self.broker_upgrades_qos0 = seen.queues_qos0, seen.upgrades_qos0
        self.set_detail("broker_queues_qos0", seen.queues_qos0)
        self.set_detail("broker_upgrades_qos0", seen.upgrades_qos0)
        key = (
            "broker_drops_qos0"
            if not seen.queues_qos0
            else "broker_no_qos_upgrade"
            if seen.upgrades_qos0 is False and self.qos > 0
            else None
        )
        if key is not None:
            warning = _english_first(key)
            self.set_detail("broker_warning", warning)
            self.count_error(warning)
            log.warning("sparkplug %s: %s", self.name, warning)

    def _secure(self, client: mqtt.Client) -> None:
        """Log-in and TLS settings for the broker check's own clients."""
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file, certfile=self.cert_file, keyfile=self.key_file)
            if self.tls_insecure:
                client.tls_insecure_set(True)

    # -- rebirth, gaps, deaths ----------------------------------------------------------------
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

    def _gap(
        self, node: str, why: str, start_ms: int | None, end_ms: int | None, rebirth: bool = True
    ) -> None:
        """Record data of `node` that cannot be recovered, per machine, from `start_ms` to `end_ms`."""
        self.gaps += 1
        machines = self.machines_of(node, None) or [None]
        start = datetime.fromtimestamp(start_ms / 1000, tz=UTC) if start_ms else None
        end = datetime.fromtimestamp(end_ms / 1000, tz=UTC) if end_ms else datetime.now(UTC)
        if start is not None and start > end:
            start, end = end, start
        for m in machines:
            self.buffer.log_event(
                self.name, "gap", machine=m, start=start, end=end, detail=f"{self.group}/{node}: {why}"
            )
        if rebirth:
            self.request_rebirth(node, why)

    def _device_gap(self, node: str, device: str | None, start_ms: int, end_ms: int) -> None:
        """A device was dead (DDEATH) from `start_ms` until its DBIRTH at `end_ms`: no data between."""
        self.gaps += 1
        start = datetime.fromtimestamp(min(start_ms, end_ms) / 1000, tz=UTC)
        end = datetime.fromtimestamp(max(start_ms, end_ms) / 1000, tz=UTC)
        why = _english_first("birth_after_death")
        for m in self.machines_of(node, device):
            self.buffer.log_event(
                self.name,
                "gap",
                machine=m,
                start=start,
                end=end,
                detail=f"{self.group}/{node}/{device}: {why}",
            )

    def _lost(self, node: str, runs: list[LostRun]) -> None:
        for run in runs:
            if run.count is None:
                why = _english_first("seq_went_round")
            else:
                why = _english_first("seq_lost").format(n=run.count, first=run.first_seq, last=run.last_seq)
            self._gap(node, why, run.start_ms, run.end_ms)

    def _flush_lost(self) -> None:
        for node, st in self.nodes.items():
            runs = st.seqs.expired()
            if runs:
                self._lost(node, runs)
                self._dirty.add(node)

    def idle(self) -> None:
        self._flush_lost()
        if self._dirty:
            self.buffer.put_many(self.name, {}, state=self.durable_state())

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
    def _own_state(self, payload: bytes) -> tuple[Rows, Rows]:
        """Our STATE topic: someone (or our will from an older connection) says we are offline."""
        try:
            data = json.loads(payload or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = {}
        client = self.client
        if isinstance(data, dict) and data.get("online") is False and client is not None:
            client.publish(self.state_topic, self._state_payload(True), qos=1, retain=True)
        return [], []

    def handle(self, topic: str, payload: bytes, received: datetime) -> tuple[Rows, Rows]:
        if self.state_topic and topic == self.state_topic:
            return self._own_state(payload)
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
        st = self._node(node)
        known = st.types.get(dev) if mtype.endswith("DATA") or mtype == "DDEATH" else None
        try:
            p = decode_payload(payload, known)
        except SparkplugDecodeError as e:
            raise MessageRejected(
                f"{mtype} from {self.group}/{node}{'/' + device if device else ''}: {e}"
            ) from None
        data_ms = p.timestamp or max((m.timestamp or 0 for m in p.metrics), default=0)
        data_ms = data_ms or int(received.timestamp() * 1000)

        if mtype == "NDEATH":
            bd = next((m.value for m in p.metrics if m.name == "bdSeq"), None)
            if st.bd_seq is not None and bd is not None and bd != st.bd_seq:
                return [], []  # the will of an older session; the node is already reborn
            st.born, st.dead = False, True
            self._dirty.add(node)
            self._mark_dead(node, None, "NDEATH")
            return [], []
        if mtype == "DDEATH" and p.seq is None:  # tolerated: some edge nodes send none
            st.device_dead_ms[dev] = data_ms
            self._mark_dead(node, device, "DDEATH")
            return [], []
        if p.seq is None:
            raise MessageRejected(f"{mtype} from {self.group}/{node} has no sequence number")

        self._sequence(node, st, mtype, p, data_ms)
        if mtype == "NBIRTH":
            st.aliases, st.types, st.units, st.names = {"": {}}, {"": {}}, {"": {}}, {"": {}}
        if mtype == "DBIRTH" and dev in st.device_dead_ms:
            dead_ms = st.device_dead_ms.pop(dev)
            self._device_gap(node, device, dead_ms, data_ms)
        if mtype in ("NBIRTH", "DBIRTH"):
            self._birth(node, dev, st, mtype, p)
            self._revive(node, device)
        elif mtype == "DDEATH":
            st.device_dead_ms[dev] = data_ms
            self._mark_dead(node, device, "DDEATH")
            return [], []

        rows, late = self._rows(topic, payload, node, device, st, p, received)
        if mtype.endswith("DATA") and device is not None:
            self._revive(node, device)
        return rows, late

    def _sequence(self, node: str, st: _Node, mtype: str, p: Any, data_ms: int) -> None:
        """Check the message's sequence number; record gaps and ask for a rebirth where needed."""
        self._dirty.add(node)
        restored, st.restored = st.restored, False
        if mtype == "NBIRTH":
            bd = next((m.value for m in p.metrics if m.name == "bdSeq"), None)
            bd = bd if isinstance(bd, int) else None
            if bd is not None and bd == st.bd_seq and data_ms == st.seqs.epoch_ms:
                # the birth already committed, sent again (QoS 1 redelivery of what was not
                # acknowledged before a restart or a lost connection): the numbering goes on
                return
            unseen_end = st.seqs.useq is not None and not st.dead and (restored or bd != st.bd_seq)
            last_ms = st.seqs.last_ms
            runs = st.seqs.birth(p.seq, data_ms)
            self._lost(node, runs)
            if unseen_end or (st.dead and last_ms is not None):
                # no data from the last message before the death (or the unseen end) to this birth
                key = (
                    "birth_after_death"
                    if st.dead
                    else "birth_after_restart"
                    if restored
                    else "new_session_unseen_death"
                )
                self._gap(node, _english_first(key), last_ms, data_ms, rebirth=False)
            st.born, st.dead = True, False
            st.bd_seq = bd if bd is not None else st.bd_seq
            return
        if st.seqs.useq is None:
            # never seen this node (and nothing saved): nothing is known to be lost; ask for its birth
            st.seqs.arrived(p.seq, data_ms)
            self.request_rebirth(node, "data before a birth (host started or birth missed)")
            return
        self._lost(node, st.seqs.arrived(p.seq, data_ms))
        if not st.aliases and not st.born:
            self.request_rebirth(node, "no birth known for this node")

    def _birth(self, node: str, dev: str, st: _Node, mtype: str, p: Any) -> None:
        aliases: dict[int, str] = {}
        types: dict = {}
        units: dict[str, str] = {}
        for m in p.metrics:
            if m.name is None:
                raise MessageRejected(f"{mtype} from {self.group}/{node}: a birth metric without a name")
            types[m.name] = m.datatype
            if m.alias is not None:
                aliases[m.alias] = m.name
                types[m.alias] = m.datatype
            unit = next(
                (v for k, v in m.properties.items() if "unit" in k.lower() and isinstance(v, str)), None
            )
            if unit:
                units[m.name] = unit
        st.aliases[dev], st.types[dev], st.units[dev] = aliases, types, units
        st.names[dev] = _name_index([m.name for m in p.metrics if m.name])
        self._keys = {k: v for k, v in self._keys.items() if not k[0].startswith(node)}
        self._save(node, st)

    def _point_key(self, src: str, name: str) -> str | None:
        """The configured point for a birth name: `src/<name>` or `src/<an ending of name>`."""
        cache_key = (src, name)
        if cache_key in self._keys:
            return self._keys[cache_key]
        key = f"{src}/{name}"
        found = key if key in self.converters else None
        if found is None:
            parts = name.split("/")
            for i in range(1, len(parts)):
                candidate = f"{src}/{'/'.join(parts[i:])}"
                if candidate in self.converters:
                    found = candidate
                    break
        if len(self._keys) < 100_000:
            self._keys[cache_key] = found
        return found

    def _rows(
        self, topic: str, payload: bytes, node: str, device: str | None, st: _Node, p: Any, received: datetime
    ) -> tuple[Rows, Rows]:
        dev = device or ""
        src = node if device is None else f"{node}/{device}"
        table = st.aliases.get(dev, {})
        names = st.names.get(dev, {})
        rows: Rows = []
        late: Rows = []
        last_ms: int | None = -1
        ts = received
        for m in p.metrics:
            if m.name is not None:
                name = names.get(m.name) or m.name  # 'x' in data for 'DATA/x' in the birth
            else:
                name = table.get(m.alias)  # type: ignore[arg-type]
            if name is None:
                self._reject(topic, payload, f"{src}: alias {m.alias} is not in the birth message")
                self.request_rebirth(node, f"unknown alias {m.alias}")
                continue
            key = self._point_key(src, name)
            if key is None or m.is_null or m.is_transient:
                continue
            ms = m.timestamp or p.timestamp
            if ms != last_ms:  # the metrics of a message mostly share one time
                last_ms, ts = ms, datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else received
            row = self.convert(key, m.value, ts)
            if row is not None:
                (late if m.is_historical else rows).append(row)
        return rows, late
