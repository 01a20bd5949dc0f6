"""MQTT connector: plain JSON on Unified-Namespace topics, acknowledged only once it is on disk.

Two ways a message becomes records:

- **UNS record topics** (`topics`, e.g. `"acme/#"`): the topic is
  `<enterprise>/<site>/<area>/<line>/<machine>/<kind>[/<name>]` as `model.hierarchy.uns_topic`
  builds it, the payload a JSON record (the model's JSON Schema, `factory-commons schema`),
  or a list of them. `machine`, `kind` and the name (signal name, quality characteristic,
  alarm code) may be left out of the payload: they come from the topic. A bare number on a
  `signal` or `quality` topic is a sample. A missing `ts` is the time of arrival.
- **Mapped topics** (`points`: topic filter -> `PointMapping`): the payload is a bare value
  (`42.5`, `"RUN"`, `true`) or `{"value": ..., "ts": ...}`, converted by the mapping (scaling,
  state codes, counter totals).

Durability: a persistent session (fixed client id, clean start off, a session expiry), QoS 1
subscriptions and manual acknowledgement. Messages are committed to the `Buffer` in small
groups and acknowledged only after the commit, so a collector killed at any moment gets every
unacknowledged message again from the broker; the store's keys drop the ones it already has.
A message that cannot be used is recorded in the buffer's rejects with the reason (never
dropped silently) and acknowledged, so it is not redelivered for ever.

For exactly-once storage after a crash, give records a `ts` in the payload: a redelivered
message without one gets a new arrival time and would be a second sample.

The broker must keep queued messages for an offline collector: in Mosquitto set
`persistence true` and raise `max_queued_messages` (default 1000 per client).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..i18n import Catalog
from ..model.hierarchy import parse_machine_path
from ..model.records import RECORD_TYPES, RecordError, parse_record
from .connector import Connector, HealthState, log
from .faults import BufferWriteError
from .mapping import PointConverter, PointMapping, ValueRejected

if TYPE_CHECKING:
    from .buffer import Buffer

EDGE = Catalog("collect_edge")

#: the field of each record kind that the last topic level names
NAME_FIELD = {"signal": "name", "quality": "characteristic", "alarm": "code", "anomaly": "detector"}
Rows = list[tuple[str, dict]]


class MessageRejected(ValueError):
    """One message cannot be used; the message says why (recorded in the buffer's rejects)."""


def parse_ts(value: Any, where: str = "ts", tz: tzinfo = UTC) -> datetime:
    """A payload timestamp: ISO 8601 text (naive = in `tz`, UTC unless the source's `timezone`
    says otherwise) or epoch seconds (milliseconds if > 1e11)."""
    if isinstance(value, bool) or value is None:
        raise MessageRejected(f"{where}: not a timestamp: {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise MessageRejected(f"{where}: {value!r} is out of range") from None
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise MessageRejected(f"{where}: {value!r} is not an ISO 8601 time") from None
        return ts if ts.tzinfo else ts.replace(tzinfo=tz)
    raise MessageRejected(f"{where}: not a timestamp: {value!r}")


def load_json(payload: bytes) -> Any:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MessageRejected(f"payload is not UTF-8 text ({e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise MessageRejected(f"payload is not JSON: {e}") from None
    except RecursionError:
        raise MessageRejected("payload is not JSON: nested too deeply") from None


_MISSING = object()


def _field_key(topic_filter: str, path: str) -> str:
    return f"{topic_filter}::{path}"


def json_field(data: Any, path: str) -> Any:
    """The value at a dotted path of a JSON object (`spindle.rpm`), or `_MISSING`."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def json_numbers(data: dict, prefix: str = "") -> list[tuple[str, float]]:
    """Every number in a JSON object with its dotted path (true/false as 1/0 are left out)."""
    out: list[tuple[str, float]] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out += json_numbers(value, path + ".")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append((path, float(value)))
    return out


def _preview(payload: bytes, limit: int = 500) -> str:
    text = payload[:limit].decode("utf-8", errors="replace")
    return text + ("..." if len(payload) > limit else "")


class MqttConnector(Connector):
    """Subscribes to UNS record topics and mapped topics on one broker; see the module docstring."""

    kind = "mqtt"

    def __init__(
        self,
        name: str,
        buffer: Buffer,
        host: str = "127.0.0.1",
        port: int = 1883,
        topics: list[str] | None = None,
        points: dict[str, PointMapping] | None = None,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        qos: int = 1,
        keepalive: int = 30,
        batch_max: int = 500,
        session_expiry_s: int = 7 * 86_400,
        receive_maximum: int = 1000,
        tls: bool = False,
        connect_timeout_s: float = 10.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        tls_insecure: bool = False,
        inbox_max: int | None = None,
        backlog_limit_rows: int = 2_000_000,
        payloads: dict[str, Any] | None = None,
        topic_prefix: str = "",
        timezone: str = "UTC",
    ) -> None:
        super().__init__(name, buffer, points)
        #: the zone of ISO 8601 times written without one (the source's `timezone`)
        self.tz: tzinfo = UTC if timezone == "UTC" else ZoneInfo(timezone)
        #: topic filter -> JsonPayload (config.py): several values in one JSON object
        self.payloads = dict(payloads or {})
        for f, spec in self.payloads.items():
            for path, mapping in spec.fields.items():
                self.converters[_field_key(f, path)] = PointConverter(mapping)
        self.topic_prefix = topic_prefix.strip("/")
        self.host, self.port = host, port
        self.topics = list(topics or [])
        self.client_id = client_id or f"factory-commons-{name}"
        self.username, self.password = username, password
        self.qos = qos
        self.keepalive = keepalive
        self.batch_max = batch_max
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.tls = tls or bool(ca_file or cert_file)
        self.ca_file, self.cert_file, self.key_file = ca_file, cert_file, key_file
        self.tls_insecure = tls_insecure
        self.connect_timeout_s = connect_timeout_s
        #: messages received but not yet in the buffer; when full, paho's network thread waits
        #: (the socket is not read, TCP and the broker hold the rest): memory stays bounded
        self.inbox_max = inbox_max or 2 * batch_max
        #: rows waiting in the buffer for the store above which intake is slowed
        self.backlog_limit_rows = backlog_limit_rows
        self._inbox_full_at = 0.0
        self.slowed = 0  # times intake was slowed (inbox full or buffer backlog over the limit)
        self.client: mqtt.Client | None = None
        self._route_cache: dict[str, str | None] = {}
        self._topic_cache: dict[str, tuple[str, str, str | None]] = {}
        self.messages = 0  # messages handled (stored or rejected) by this process

    @classmethod
    def from_source(cls, source: Any, buffer: Buffer) -> MqttConnector:
        """Build from a validated `[[mqtt]]` table of the plant configuration."""
        return cls(
            source.name,
            buffer,
            host=source.host,
            port=source.port,
            topics=list(source.topics),
            points=dict(source.points),
            payloads=dict(source.payloads),
            topic_prefix=source.topic_prefix,
            timezone=source.timezone,
            client_id=source.client_id,
            username=source.username,
            password=source.password,
            qos=source.qos,
            tls=source.tls,
            ca_file=source.ca_file,
            cert_file=source.cert_file,
            key_file=source.key_file,
            tls_insecure=source.tls_insecure,
        )

    # -- what to subscribe, how to read a message (overridden by Sparkplug) ---------------------
    def subscriptions(self) -> list[str]:
        return list(dict.fromkeys([*self.payloads, *self.points, *self.topics]))

    def on_connected(self, client: mqtt.Client) -> None:
        """Called in the collector thread once connected and subscribed."""

    def idle(self) -> None:
        """Called about every 0.2 s when no message arrived."""

    def handle(self, topic: str, payload: bytes, received: datetime) -> tuple[Rows, Rows]:
        """One message -> (rows, historical rows); raise MessageRejected for an unusable message."""
        if self.payloads:
            f = self._payload_route(topic)
            if f is not None:
                return self._fields(f, topic, payload, received), []
        key = self._route(topic)
        if key is not None:
            return self._mapped(key, payload, received), []
        return self._records(topic, payload, received), []

    def _payload_route(self, topic: str) -> str | None:
        cache_key = "\x00payload:" + topic
        if cache_key in self._route_cache:
            return self._route_cache[cache_key]
        f = next((f for f in self.payloads if mqtt.topic_matches_sub(f, topic)), None)
        if len(self._route_cache) < 100_000:
            self._route_cache[cache_key] = f
        return f

    def _fields(self, f: str, topic: str, payload: bytes, received: datetime) -> Rows:
        """A JSON object with several values: the configured fields, and with `machine_level`
        every other number as a signal of the machine named by the topic."""
        spec = self.payloads[f]
        data = load_json(payload)
        if not isinstance(data, dict):
            raise MessageRejected(f"{f}: a JSON object with fields expected, got {json.dumps(data)[:80]}")
        ts = received
        if spec.timestamp:
            raw = json_field(data, spec.timestamp)
            if raw is _MISSING:
                raise MessageRejected(f"{f}: no time field '{spec.timestamp}'")
            ts = parse_ts(raw, spec.timestamp, self.tz)
        rows: Rows = []
        for path in spec.fields:
            value = json_field(data, path)
            if value is _MISSING or value is None:
                continue  # a message may carry some of the fields only
            row = self.convert(_field_key(f, path), value, ts)
            if row is not None:
                rows.append(row)
        if spec.machine_level is not None:
            levels = topic.split("/")[spec.machine_level : spec.machine_level + 5]
            machine = "/".join(levels)
            if len(levels) < 5:
                raise MessageRejected(f"topic {topic!r} has no machine path from level {spec.machine_level}")
            try:
                parse_machine_path(machine)
            except ValueError as e:
                raise MessageRejected(f"topic: {e}") from None
            for path, value in json_numbers(data):
                if path in spec.fields or path == spec.timestamp:
                    continue
                rows.append(
                    ("signal", {"machine": machine, "name": path, "ts": ts, "value": value, "unit": None})
                )
        return rows

    def _route(self, topic: str) -> str | None:
        if topic in self._route_cache:
            return self._route_cache[topic]
        key = next((f for f in self.points if mqtt.topic_matches_sub(f, topic)), None)
        if len(self._route_cache) < 100_000:
            self._route_cache[topic] = key
        return key

    def _mapped(self, key: str, payload: bytes, received: datetime) -> Rows:
        data = load_json(payload)
        ts = received
        if isinstance(data, dict):
            if "value" not in data:
                raise MessageRejected("an object payload on a mapped topic needs 'value' (and may have 'ts')")
            extra = set(data) - {"value", "ts"}
            if extra:
                raise MessageRejected(f"unexpected keys {sorted(extra)} (allowed: value, ts)")
            if "ts" in data:
                ts = parse_ts(data["ts"], tz=self.tz)
            data = data["value"]
        if isinstance(data, dict | list) or data is None:
            raise MessageRejected(
                f"a mapped topic needs a number, text or true/false, got {json.dumps(data)[:80]}"
            )
        try:
            row = self.converters[key].convert(data, ts)
        except ValueRejected as e:
            raise MessageRejected(f"{key}: {e}") from None
        return [row] if row is not None else []

    def _records(self, topic: str, payload: bytes, received: datetime) -> Rows:
        machine, kind, name = self._topic_parts(topic)
        data = load_json(payload)
        items = data if isinstance(data, list) else [data]
        if not items:
            raise MessageRejected("an empty list holds no record")
        return self._build(items, data, machine, kind, name, received)

    def _topic_parts(self, topic: str) -> tuple[str, str, str | None]:
        """(machine path, record kind, name) of a UNS topic, checked once per topic."""
        cached = self._topic_cache.get(topic)
        if cached is not None:
            return cached
        parts = topic.split("/")
        if self.topic_prefix:
            prefix = self.topic_prefix.split("/")
            if parts[: len(prefix)] != prefix:
                raise MessageRejected(
                    f"topic matches no mapping and does not start with {self.topic_prefix!r}"
                )
            parts = parts[len(prefix) :]
        if len(parts) not in (6, 7):
            raise MessageRejected(
                "topic matches no mapping and is not "
                + (f"{self.topic_prefix}/" if self.topic_prefix else "")
                + "enterprise/site/area/line/machine/kind[/name]"
            )
        machine, kind = "/".join(parts[:5]), parts[5]
        name = parts[6] if len(parts) == 7 else None
        try:
            parse_machine_path(machine)
        except ValueError as e:
            raise MessageRejected(f"topic: {e}") from None
        if kind not in RECORD_TYPES or kind == "order":
            known = ", ".join(k for k in RECORD_TYPES if k != "order")
            raise MessageRejected(f"topic level 6 {kind!r} is not a record kind ({known})")
        if len(self._topic_cache) < 100_000:
            self._topic_cache[topic] = (machine, kind, name)
        return machine, kind, name

    def _build(
        self, items: list, data: Any, machine: str, kind: str, name: str | None, received: datetime
    ) -> Rows:
        rows: Rows = []
        for i, item in enumerate(items):
            where = f"record {i}: " if isinstance(data, list) else ""
            if isinstance(item, int | float) and not isinstance(item, bool) and kind in ("signal", "quality"):
                item = {"value": item}
            if not isinstance(item, dict):
                raise MessageRejected(f"{where}a record must be a JSON object, got {json.dumps(item)[:80]}")
            rec = dict(item)
            for field, value in (("kind", kind), ("machine", machine), (NAME_FIELD.get(kind), name)):
                if field is None or value is None:
                    continue
                if field in rec and rec[field] != value:
                    raise MessageRejected(
                        f"{where}field '{field}' is {rec[field]!r} but the topic says {value!r}"
                    )
                rec[field] = value
            if "ts" not in rec:
                rec["ts"] = received
            elif isinstance(rec["ts"], int | float) and not isinstance(rec["ts"], bool):
                rec["ts"] = parse_ts(rec["ts"], f"{where}field 'ts'")
            elif isinstance(rec["ts"], str) and self.tz is not UTC:
                rec["ts"] = parse_ts(rec["ts"], f"{where}field 'ts'", self.tz)
            try:
                record = parse_record(rec, where)
            except RecordError as e:
                raise MessageRejected(str(e)) from None
            rows.append((kind, record.model_dump(exclude={"kind"}, mode="python")))
        return rows

    # -- one group of messages: commit, then acknowledge --------------------------------------
    def process(self, messages: list[Any]) -> None:
        """Convert and commit a group of messages (one transaction for the rows); reject the bad ones."""
        received = datetime.now(UTC)
        rows: Rows = []
        late: Rows = []
        for m in messages:
            try:
                r, h = self.handle(m.topic, m.payload, received)
                rows += r
                late += h
            except MessageRejected as e:
                self._reject(m.topic, m.payload, str(e))
            except Exception as e:  # noqa: BLE001 - one bad message must not stop the collector
                self._reject(m.topic, m.payload, f"{type(e).__name__}: {e}")
        self.emit(rows)
        self.emit(late, late=True)
        self.messages += len(messages)

    def _reject(self, topic: str, payload: bytes, reason: str) -> None:
        self.count_error(reason)
        self.buffer.reject(self.name, self.kind, {"topic": topic, "payload": _preview(payload)}, reason)

    # -- the connection -------------------------------------------------------------------------
    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            reconnect_on_failure=False,  # Connector.run reconnects, with a fresh client
            manual_ack=True,
        )
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(ca_certs=self.ca_file, certfile=self.cert_file, keyfile=self.key_file)
            if self.tls_insecure:
                client.tls_insecure_set(True)
        client.max_queued_messages_set(0)
        self.prepare_client(client)
        return client

    def prepare_client(self, client: mqtt.Client) -> None:
        """Called before connecting (Sparkplug: the primary host's STATE will)."""

    def healthy(self) -> None:
        """Set the health of a working link (Sparkplug adds what it knows of its edge nodes)."""
        self.set_health(HealthState.CONNECTED, f"{self.host}:{self.port}")

    def collect_once(self, stop: threading.Event) -> None:
        inbox: queue.Queue = queue.Queue(maxsize=self.inbox_max)
        connected = threading.Event()
        closing = threading.Event()
        problem: dict[str, str] = {}
        filters = self.subscriptions()

        def wake() -> None:
            try:
                inbox.put_nowait(None)
            except queue.Full:
                pass  # the pump is busy and will see `problem`

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            if reason_code.is_failure:
                problem["refused"] = f"broker refused the connection: {reason_code}"
                wake()
                return
            if filters:  # connected (healthy) once the broker has confirmed the subscriptions
                client.subscribe([(f, SubscribeOptions(qos=self.qos)) for f in filters])
            else:
                connected.set()

        def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
            bad = [f"{f}: {rc}" for f, rc in zip(filters, reason_codes, strict=False) if rc.is_failure]
            if bad:
                self.count_error("subscription refused: " + "; ".join(bad))
            connected.set()

        def on_disconnect(client, userdata, flags, reason_code, properties) -> None:
            problem.setdefault("lost", f"connection lost: {reason_code}")
            wake()

        def on_message(client, userdata, message) -> None:
            # back-pressure: wait here (paho stops reading the socket) rather than hold more in RAM
            while not closing.is_set():
                try:
                    inbox.put(message, timeout=0.5)
                    return
                except queue.Full:
                    self._inbox_full_at = time.monotonic()

        client = self._client()
        client.on_connect, client.on_subscribe = on_connect, on_subscribe
        client.on_disconnect, client.on_message = on_disconnect, on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        client.connect(self.host, self.port, self.keepalive, clean_start=False, properties=props)
        client.loop_start()
        try:
            deadline = time.monotonic() + self.connect_timeout_s
            while not connected.is_set():
                if problem:
                    raise ConnectionError(problem.get("refused") or problem["lost"])
                if stop.is_set():
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"no answer from {self.host}:{self.port} in {self.connect_timeout_s:.0f} s"
                    )
                connected.wait(0.05)
            self.client = client
            self.healthy()
            self.backoff.reset()
            self.on_connected(client)
            self._pump(client, inbox, problem, stop)
        finally:
            closing.set()
            self.client = None
            self.on_disconnecting(client)
            client.disconnect()
            client.loop_stop()

    def on_disconnecting(self, client: mqtt.Client) -> None:
        """Called before a clean disconnect (Sparkplug: STATE offline)."""

    def _slow_down(self, stop: threading.Event) -> None:
        """Report (and, with a backlog over the limit, apply) back-pressure before the next group."""
        backlog = self.buffer.backlog_rows
        over = backlog > self.backlog_limit_rows
        inbox_full = time.monotonic() - self._inbox_full_at < 2.0
        if over or inbox_full:
            key, args = ("slowed_backlog", {"rows": backlog}) if over else ("slowed_inbox", {})
            why = " / ".join(t.format(**args) for t in EDGE.pair(key))
            if self.health.details.get("backpressure") != why:
                self.slowed += 1
                log.info("%s %s: %s", self.kind, self.name, why)
            self.set_detail("backpressure", why)
            if over:
                stop.wait(0.2)  # the inbox fills, paho stops reading, the broker holds the rest
        elif "backpressure" in self.health.details:
            self.set_detail("backpressure", None)

    def _commit(self, messages: list[Any], problem: dict, stop: threading.Event) -> bool:
        """`process` until it is on disk; while the buffer cannot write (a full disk) keep the
        connection, say so in health and try again. False if stopped before it was written."""
        failing = False
        while True:
            saved = {k: c.state_dict() for k, c in self.converters.items()}
            try:
                self.process(messages)
            except BufferWriteError as e:
                for key, state in saved.items():  # the conversion is repeated from the same state
                    self.converters[key].last = state.get("last")
                self.count_error(str(e))
                self.set_health(HealthState.RETRYING, str(e))
                if not failing:
                    log.warning("%s %s: %s", self.kind, self.name, e)
                failing = True
                if stop.wait(min(5.0, self.backoff.next_delay())) or problem:
                    return False
                continue
            if failing:
                self.healthy()
                log.warning("%s %s: the buffer writes again", self.kind, self.name)
            return True

    def _pump(self, client: mqtt.Client, inbox: queue.Queue, problem: dict, stop: threading.Event) -> None:
        while not stop.is_set():
            if problem:
                raise ConnectionError(problem.get("refused") or problem["lost"])
            self._slow_down(stop)
            try:
                first = inbox.get(timeout=0.2)
            except queue.Empty:
                self.idle()
                continue
            group = [first]
            while len(group) < self.batch_max:
                try:
                    group.append(inbox.get_nowait())
                except queue.Empty:
                    break
            messages = [m for m in group if m is not None]
            if not messages:
                continue
            if not self._commit(messages, problem, stop):
                continue  # not acknowledged: the broker sends QoS 1 messages again
            for m in messages:
                if m.qos > 0:
                    rc = client.ack(m.mid, m.qos)
                    if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                        self.count_error(f"acknowledging message {m.mid}: {rc}")
