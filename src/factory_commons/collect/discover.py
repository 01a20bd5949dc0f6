"""What is on an MQTT broker: topics, and Sparkplug B nodes, devices and metrics with types and units.

`discover(url, seconds)` listens (read-only: a clean session, QoS 0, nothing published unless
`rebirth=True` asks each Sparkplug edge node seen for its births) and returns a `Discovery`:

- plain topics with their message count, an example payload and, for JSON objects, the
  numeric fields (dotted paths);
- Sparkplug B metrics per group/node/device, from births (name, datatype, alias, unit from
  the metric's properties) and from data (names; an alias whose birth was not seen is listed
  as `alias <n>`).

`Discovery.snippet(machine)` writes `[[sparkplug]]` and `[[mqtt]]` tables for plant.toml with
every numeric metric and field mapped as a signal of `machine` (edit the machine paths and
names, delete what is not wanted); the snippet is valid configuration as written.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..i18n import Catalog
from .sparkplug.decode import SparkplugDecodeError, decode_payload, encode_payload

NUMERIC = {
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "UInt8",
    "UInt16",
    "UInt32",
    "UInt64",
    "Float",
    "Double",
    "Boolean",
}
EDGE = Catalog("collect_edge")
_NAME_SAFE = re.compile(r"[^\w\-.]+")


@dataclass
class TopicSeen:
    topic: str
    messages: int = 0
    example: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # dotted path -> JSON type
    naive_times: set[str] = field(default_factory=set)  # paths of ISO 8601 times without a zone

    def numbers(self) -> str:
        """The numeric fields of a JSON object, as the table lists them (`temp, spindle.rpm`)."""
        return ", ".join(p for p, kind in self.fields.items() if p and kind == "number")


@dataclass
class MetricSeen:
    group: str
    node: str
    device: str | None
    name: str
    datatype: str = ""
    alias: int | None = None
    unit: str | None = None
    messages: int = 0

    @property
    def point_key(self) -> str:
        return f"{self.node}/{self.device}/{self.name}" if self.device else f"{self.node}/{self.name}"


@dataclass
class Discovery:
    host: str
    port: int
    seconds: float
    topics: dict[str, TopicSeen] = field(default_factory=dict)
    metrics: dict[tuple[str, str, str | None, str], MetricSeen] = field(default_factory=dict)
    nodes: set[tuple[str, str]] = field(default_factory=set)
    rejected: int = 0

    def add(self, topic: str, payload: bytes) -> None:
        if topic.startswith("spBv1.0/"):
            self._sparkplug(topic, payload)
        else:
            self._plain(topic, payload)

    def _plain(self, topic: str, payload: bytes) -> None:
        seen = self.topics.setdefault(topic, TopicSeen(topic))
        seen.messages += 1
        if seen.messages > 1:
            return
        text = payload[:200].decode("utf-8", errors="replace")
        seen.example = text + ("..." if len(payload) > 200 else "")
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return
        if isinstance(data, dict):
            seen.fields = _fields(data)
            seen.naive_times = _naive_times(data)
        elif isinstance(data, int | float) and not isinstance(data, bool):
            seen.fields = {"": "number"}

    def _sparkplug(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) < 4 or parts[2] not in ("NBIRTH", "DBIRTH", "NDATA", "DDATA"):
            return
        group, mtype, node = parts[1], parts[2], parts[3]
        device = parts[4] if len(parts) > 4 else None
        self.nodes.add((group, node))
        try:
            p = decode_payload(payload)
        except SparkplugDecodeError:
            self.rejected += 1
            return
        aliases = {
            m.alias: m.name
            for m in self.metrics.values()
            if (m.group, m.node, m.device) == (group, node, device) and m.alias is not None
        }
        for m in p.metrics:
            name = m.name if m.name is not None else aliases.get(m.alias, f"alias {m.alias}")
            if name in ("bdSeq", "Node Control/Rebirth") or name.startswith("Node Control/"):
                continue
            key = (group, node, device, name)
            seen = self.metrics.setdefault(key, MetricSeen(group, node, device, name))
            seen.messages += 1
            if mtype.endswith("BIRTH") or not seen.datatype:
                seen.datatype = m.datatype_name
            if m.alias is not None:
                seen.alias = m.alias
            unit = next(
                (v for k, v in m.properties.items() if "unit" in k.lower() and isinstance(v, str)), None
            )
            if unit:
                seen.unit = unit

    # -- plant.toml ----------------------------------------------------------------------------
    def snippet(self, machine: str = "my-enterprise/site/area/line/machine") -> str:
        """`[[sparkplug]]` per group and one `[[mqtt]]` table, every numeric value a signal of `machine`."""
        url = f"mqtt://{self.host}:{self.port}"
        out = [
            "# " + EDGE.get("snippet_header", lang).format(url=url, seconds=f"{self.seconds:.0f}")
            for lang in ("en", "ko")  # English first: scripts look for "# written by factory-commons"
        ]
        groups = sorted({m.group for m in self.metrics.values()})
        for group in groups:
            out += [
                "",
                "[[sparkplug]]",
                f'name = "{_slug(group)}"',
                f'host = "{self.host}"',
                f"port = {self.port}",
                f'group = "{group}"',
            ]
            for m in sorted(self.metrics.values(), key=lambda m: m.point_key):
                if m.group != group or m.datatype not in NUMERIC or m.name.startswith("alias "):
                    continue
                unit = f', unit = "{_toml(m.unit)}"' if m.unit else ""
                out.append(
                    f'points."{_toml(m.point_key)}" = {{ machine = "{machine}", name = "{_slug(m.name)}"{unit} }}'
                )
        plain = [t for t in sorted(self.topics.values(), key=lambda t: t.topic) if t.fields]
        if plain:
            out += ["", "[[mqtt]]", 'name = "mqtt"', f'host = "{self.host}"', f"port = {self.port}"]
            if any(t.naive_times for t in plain):
                out += [*("# " + EDGE.get("snippet_naive_tz", lang) for lang in ("ko", "en"))]
                out.append('timezone = "Asia/Seoul"')
            for t in plain:
                if list(t.fields) == [""]:
                    out.append(
                        f'points."{_toml(t.topic)}" = {{ machine = "{machine}", name = "{_slug(t.topic)}" }}'
                    )
            for t in plain:
                numbers = [p for p, kind in t.fields.items() if p and kind == "number"]
                if not numbers:
                    continue
                out += ["", f'[mqtt.payloads."{_toml(t.topic)}"]']
                time_field = next(
                    (p for p in t.fields if p.lower() in ("ts", "timestamp", "timestamp_ms", "time")), None
                )
                if time_field:
                    out.append(f'timestamp = "{_toml(time_field)}"')
                for path in numbers:
                    if path != time_field:
                        out.append(
                            f'fields."{_toml(path)}" = {{ machine = "{machine}", name = "{_slug(path)}" }}'
                        )
        return "\n".join(out) + "\n"


def _fields(data: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_fields(value, path + "."))
        elif isinstance(value, bool):
            out[path] = "boolean"
        elif isinstance(value, int | float):
            out[path] = "number"
        elif isinstance(value, str):
            out[path] = "text"
        else:
            out[path] = "list" if isinstance(value, list) else "null"
    return out


def _naive_times(data: dict, prefix: str = "") -> set[str]:
    """Dotted paths of text values that are ISO 8601 times without a zone (`2026-12-08 08:00:00`)."""
    out: set[str] = set()
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= _naive_times(value, path + ".")
        elif isinstance(value, str) and len(value) >= 10 and value[:1].isdigit():
            try:
                ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                continue
            if ts.tzinfo is None:
                out.add(path)
    return out


def _slug(text: str) -> str:
    return _NAME_SAFE.sub("_", text).strip("_")[:64] or "value"


def _toml(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def parse_url(url: str) -> tuple[str, int, bool]:
    """`mqtt://host:port` or `mqtts://host:port` (TLS) -> (host, port, tls); ValueError otherwise."""
    u = urlparse(url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not u.hostname:
        raise ValueError(f"{url!r}: not mqtt://host:port or mqtts://host:port")
    tls = u.scheme in ("mqtts", "ssl")
    return u.hostname, u.port or (8883 if tls else 1883), tls


def discover(
    url: str,
    seconds: float = 10.0,
    topic_filter: str = "#",
    rebirth: bool = False,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
) -> Discovery:
    """Listen to the broker for `seconds`; see the module docstring. ConnectionError if it cannot connect."""
    host, port, tls = parse_url(url)
    found = Discovery(host, port, seconds)
    lock = threading.Lock()
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fc-discover-{uuid.uuid4().hex[:8]}")
    if username is not None:
        client.username_pw_set(username, password)
    if tls or ca_file:
        client.tls_set(ca_certs=ca_file)

    def on_connect(c, userdata, flags, rc, props) -> None:
        c.subscribe(topic_filter, qos=0)
        if topic_filter not in ("#", "spBv1.0/#"):
            c.subscribe("spBv1.0/#", qos=0)
        connected.set()

    def on_message(c, userdata, m) -> None:
        with lock:
            found.add(m.topic, m.payload)

    client.on_connect, client.on_message = on_connect, on_message
    try:
        client.connect(host, port, 30)
    except OSError as e:
        raise ConnectionError(f"{host}:{port}: {e}") from None
    client.loop_start()
    try:
        if not connected.wait(10):
            raise ConnectionError(f"{host}:{port}: no answer in 10 s")
        asked: set[tuple[str, str]] = set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if rebirth:
                with lock:
                    new = found.nodes - asked
                for group, node in sorted(new):
                    payload = encode_payload(
                        [{"name": "Node Control/Rebirth", "datatype": "Boolean", "value": True}]
                    )
                    client.publish(f"spBv1.0/{group}/NCMD/{node}", payload, qos=0)
                asked |= new
            time.sleep(0.1)
    finally:
        client.disconnect()
        client.loop_stop()
    return found
