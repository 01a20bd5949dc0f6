"""Connecting to the hub's NATS servers, and the stream and consumer the hub runs on.

The stream `FC` keeps `fc.>` on disk with `replicas` copies (3 on a three-node cluster: one
node may fail with nothing lost), limits retention for `max_age` (how long PostgreSQL may be
away before unconsumed data is dropped; 7 days by default) and a duplicate window in which
JetStream drops a message whose `Nats-Msg-Id` it has already stored (an edge that re-sends after
a lost acknowledgement). The durable pull consumer `ingest` is shared by every ingest worker:
each message goes to one worker, and one not acknowledged within `ack_wait` goes again, to any.
"""

from __future__ import annotations

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from .natsconf import Credentials
from .subjects import CONSUMER, ROOT, STREAM, inbox_prefix

DAY_S = 86_400.0


async def connect(
    credentials: Credentials,
    servers: list[str] | tuple[str, ...] | None = None,
    name: str = "factory-commons",
    connect_timeout: float = 2.0,
) -> Client:
    """A connection that reconnects for ever (the edge and the workers outlive any outage);
    a firm's connection uses the firm's inbox prefix, the only one it may subscribe to."""
    opts = dict(
        servers=list(servers or credentials.servers),
        user=credentials.user,
        password=credentials.password,
        name=name,
        connect_timeout=connect_timeout,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        ping_interval=5,
        max_outstanding_pings=3,
    )
    if credentials.firm:
        opts["inbox_prefix"] = inbox_prefix(credentials.firm).encode()

    async def _quiet(_e: Exception) -> None:  # reconnects are reported by the callers' health
        return None

    return await nats.connect(**opts, error_cb=_quiet)


async def ensure_stream(
    js: JetStreamContext, replicas: int = 1, max_age_s: float = 7 * DAY_S, duplicate_window_s: float = 3600.0
) -> None:
    """Create the stream, or update its settings."""
    config = StreamConfig(
        name=STREAM,
        subjects=[f"{ROOT}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        num_replicas=replicas,
        max_age=max_age_s,
        duplicate_window=duplicate_window_s,
    )
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


def consumer_config(ack_wait_s: float = 30.0, max_ack_pending: int = 50_000) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_s,
        max_ack_pending=max_ack_pending,
        max_deliver=-1,
        filter_subject=f"{ROOT}.>",
    )
