"""Does the broker keep QoS 0 messages for a persistent session while the collector is away?

Sparkplug B edge nodes publish NDATA/DDATA at QoS 0. A broker queues QoS 0 messages for an
offline persistent session only if told to (Mosquitto: `queue_qos0_messages true`, and
`max_queued_messages` large enough for the longest outage). Without it every message sent
while the collector restarts is lost; the host records those as gaps, but they are lost.

Even a kept QoS 0 message is lost if the collector is killed after the broker handed it over
and before the collector committed it: the broker does not send a QoS 0 message twice. A broker
that upgrades outgoing messages to the subscription's QoS (Mosquitto: `upgrade_outgoing_qos
true`) delivers Sparkplug data at QoS 1 to the collector's QoS 1 subscription; the collector
acknowledges each message only after the buffer committed it, so the broker sends whatever was
not committed again after a restart.

`probe(...)` asks the broker itself: a probe session subscribes at QoS 1, goes away, a QoS 0
message is published to it, and the session comes back to see whether it was kept and at which
QoS it is delivered. It takes about a second, uses its own client ids (`<client id>-probe`,
`-probe-pub`) and a topic under `factory-commons/probe/`, and removes the probe session
afterwards. `queues_qos0(...)` is its first answer alone.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def _connect(
    client_id: str, host: str, port: int, setup: Callable[[mqtt.Client], None], clean: bool, expiry: int
) -> tuple[mqtt.Client, threading.Event, list]:
    got: list = []
    ready = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    setup(c)
    c.on_connect = lambda *a: ready.set()
    c.on_message = lambda client, userdata, m: got.append((m.payload, m.qos))
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry
    c.connect(host, port, 10, clean_start=clean, properties=props)
    c.loop_start()
    if not ready.wait(5):
        c.loop_stop()
        raise TimeoutError(f"no answer from {host}:{port}")
    return c, ready, got


@dataclass(frozen=True)
class BrokerQos:
    """What the probe saw: a QoS 0 message kept for the offline session, and delivered at QoS 1."""

    queues_qos0: bool
    upgrades_qos0: bool | None  # None: not known (the message was not kept)


def queues_qos0(
    host: str, port: int, client_id: str, setup: Callable[[mqtt.Client], None] = lambda c: None
) -> bool:
    """True if the broker kept a QoS 0 message for an offline persistent session (see the module)."""
    return probe(host, port, client_id, setup).queues_qos0


def probe(
    host: str, port: int, client_id: str, setup: Callable[[mqtt.Client], None] = lambda c: None
) -> BrokerQos:
    """Whether the broker keeps QoS 0 messages for an offline session and upgrades them (see the module)."""
    topic = f"factory-commons/probe/{uuid.uuid4().hex}"
    probe_id = f"{client_id}-probe"
    sub, _, _ = _connect(probe_id, host, port, setup, clean=True, expiry=60)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.subscribe(topic, qos=1)
    subscribed.wait(5)
    sub.disconnect()
    sub.loop_stop()
    pub, _, _ = _connect(f"{client_id}-probe-pub", host, port, setup, clean=True, expiry=0)
    pub.publish(topic, b"probe", qos=0)
    pub.publish(topic, b"", qos=1).wait_for_publish(5)  # after the QoS 0 one has been handled
    pub.disconnect()
    pub.loop_stop()
    sub, _, got = _connect(probe_id, host, port, setup, clean=False, expiry=0)
    deadline = threading.Event()
    for _ in range(20):
        if any(payload == b"probe" for payload, _ in got):
            break
        deadline.wait(0.05)
    sub.disconnect()  # expiry 0: the probe session is gone
    sub.loop_stop()
    qos = [q for payload, q in got if payload == b"probe"]
    return BrokerQos(queues_qos0=bool(qos), upgrades_qos0=(qos[0] > 0) if qos else None)
