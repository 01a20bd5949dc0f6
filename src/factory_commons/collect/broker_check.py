"""Does the broker keep QoS 0 messages for a persistent session while the collector is away?

Sparkplug B edge nodes publish NDATA/DDATA at QoS 0. A broker queues QoS 0 messages for an
offline persistent session only if told to (Mosquitto: `queue_qos0_messages true`, and
`max_queued_messages` large enough for the longest outage). Without it every message sent
while the collector restarts is lost; the host records those as gaps, but they are lost.

`queues_qos0(...)` asks the broker itself: a probe session subscribes, goes away, a QoS 0
message is published to it, and the session comes back to see whether it was kept. It takes
about a second, uses its own client ids (`<client id>-probe`, `-probe-pub`) and a topic under
`factory-commons/probe/`, and removes the probe session afterwards.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

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
    c.on_message = lambda client, userdata, m: got.append(m.payload)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry
    c.connect(host, port, 10, clean_start=clean, properties=props)
    c.loop_start()
    if not ready.wait(5):
        c.loop_stop()
        raise TimeoutError(f"no answer from {host}:{port}")
    return c, ready, got


def queues_qos0(
    host: str, port: int, client_id: str, setup: Callable[[mqtt.Client], None] = lambda c: None
) -> bool:
    """True if the broker kept a QoS 0 message for an offline persistent session (see the module)."""
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
        if b"probe" in got:
            break
        deadline.wait(0.05)
    sub.disconnect()  # expiry 0: the probe session is gone
    sub.loop_stop()
    return b"probe" in got
