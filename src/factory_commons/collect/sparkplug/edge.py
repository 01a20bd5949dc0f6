"""A small Sparkplug B edge-node simulator for tests, benchmarks and documentation examples.

    node = EdgeNode("127.0.0.1", 1883, group="plant1", node="press-gw",
                    devices={"press01": {"spindle_load": "Double", "state": "Int32"}})
    node.start()                                  # NBIRTH + DBIRTH (aliases 1, 2, ...)
    node.publish("press01", {"spindle_load": 41.5})   # DDATA by alias, seq + 1
    node.stop()                                   # NDEATH, then disconnect

It keeps the sequence number (0..255) and bdSeq, answers `Node Control/Rebirth` NCMDs with a
new NBIRTH and DBIRTHs, and registers its NDEATH as the MQTT will. `skip_seq()` loses a
message on purpose so that a host sees a gap.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .decode import SparkplugDecodeError, decode_payload, encode_payload

NAMESPACE = "spBv1.0"


class EdgeNode:
    """One simulated edge node with devices; metric datatypes by Sparkplug name ("Double", ...)."""

    def __init__(
        self,
        host: str,
        port: int,
        group: str,
        node: str,
        devices: dict[str, dict[str, str]],
        node_metrics: dict[str, str] | None = None,
        qos: int = 0,
    ) -> None:
        self.host, self.port, self.group, self.node, self.qos = host, port, group, node, qos
        self.devices = devices
        self.node_metrics = node_metrics or {}
        self.aliases: dict[tuple[str, str], int] = {}
        alias = 1
        for name in self.node_metrics:
            self.aliases[("", name)] = alias
            alias += 1
        for dev, metrics in devices.items():
            for name in metrics:
                self.aliases[(dev, name)] = alias
                alias += 1
        self.values: dict[tuple[str, str], object] = {}
        self.seq = 0
        self.bd_seq = 0
        self.births = 0
        self.rebirth_requests = 0
        self._lock = threading.RLock()
        self.client: mqtt.Client | None = None

    def _topic(self, mtype: str, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group}/{mtype}/{self.node}"
        return f"{base}/{device}" if device else base

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq = (self.seq + 1) % 256
        return seq

    def _death_payload(self) -> bytes:
        return encode_payload([{"name": "bdSeq", "datatype": "Int64", "value": self.bd_seq}])

    # -- life cycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        """Connect (NDEATH as will), subscribe to NCMD, publish the births."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"edge-{self.group}-{self.node}")
        client.will_set(self._topic("NDEATH"), self._death_payload(), qos=1)
        connected = threading.Event()

        def on_connect(c, userdata, flags, rc, props) -> None:
            c.subscribe(self._topic("NCMD"), qos=0)
            connected.set()

        client.on_connect = on_connect
        client.on_message = self._on_command
        client.connect(self.host, self.port, 30)
        client.loop_start()
        if not connected.wait(timeout):
            client.loop_stop()
            raise TimeoutError(f"edge node could not connect to {self.host}:{self.port}")
        self.client = client
        self.birth()

    def stop(self) -> None:
        """Publish NDEATH and disconnect (a graceful death)."""
        if self.client is None:
            return
        self.client.publish(self._topic("NDEATH"), self._death_payload(), qos=1).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()
        self.client = None
        self.bd_seq = (self.bd_seq + 1) % 256

    def _on_command(self, client, userdata, message) -> None:
        try:
            payload = decode_payload(message.payload)
        except SparkplugDecodeError:
            return
        if any(m.name == "Node Control/Rebirth" and m.value is True for m in payload.metrics):
            self.rebirth_requests += 1
            self.birth()

    # -- messages -------------------------------------------------------------------------------
    def _publish(self, topic: str, payload: bytes) -> None:
        assert self.client is not None, "start() the edge node first"
        self.client.publish(topic, payload, qos=self.qos)

    def birth(self) -> None:
        """NBIRTH (seq 0, bdSeq, Rebirth control, node metrics) and a DBIRTH per device."""
        with self._lock:
            self.seq = 0
            metrics = [
                {"name": "bdSeq", "datatype": "Int64", "value": self.bd_seq},
                {"name": "Node Control/Rebirth", "datatype": "Boolean", "value": False},
            ]
            metrics += self._birth_metrics("", self.node_metrics)
            self._publish(self._topic("NBIRTH"), encode_payload(metrics, seq=self._next_seq()))
            for dev, spec in self.devices.items():
                payload = encode_payload(self._birth_metrics(dev, spec), seq=self._next_seq())
                self._publish(self._topic("DBIRTH", dev), payload)
            self.births += 1

    def _birth_metrics(self, dev: str, spec: dict[str, str]) -> list[dict]:
        return [
            {
                "name": name,
                "alias": self.aliases[(dev, name)],
                "datatype": dt,
                "value": self.values.get((dev, name)),
            }
            for name, dt in spec.items()
        ]

    def publish(
        self,
        device: str | None,
        values: dict[str, object],
        timestamp_ms: int | None = None,
        historical: bool = False,
        by_alias: bool = True,
    ) -> int:
        """DDATA (or NDATA when `device` is None) with the given metric values; returns the seq used."""
        dev = device or ""
        spec = self.devices[device] if device else self.node_metrics
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        metrics = []
        for name, value in values.items():
            self.values[(dev, name)] = value
            m = {"datatype": spec[name], "value": value, "timestamp": ts, "is_historical": historical}
            if by_alias:
                m["alias"] = self.aliases[(dev, name)]
            else:
                m["name"] = name
            metrics.append(m)
        with self._lock:
            seq = self._next_seq()
            payload = encode_payload(metrics, seq=seq, timestamp=ts)
            self._publish(self._topic("DDATA" if device else "NDATA", device), payload)
        return seq

    def device_death(self, device: str) -> None:
        with self._lock:
            self._publish(self._topic("DDEATH", device), encode_payload([], seq=self._next_seq()))

    def skip_seq(self, n: int = 1) -> None:
        """Lose `n` messages on purpose: the next one carries a sequence number n too far."""
        with self._lock:
            for _ in range(n):
                self._next_seq()
