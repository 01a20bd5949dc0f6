"""The regional hub: many firms' collectors -> NATS JetStream -> ingest workers -> PostgreSQL.

A shop's collector keeps its durable buffer (collect/buffer.py); `edge.EdgeForwarder` moves
it to a replicated JetStream stream on per-firm subjects `fc.<firm>.<kind>` with message ids
(`subjects.py`), under NATS users that may publish only to their own firm's subjects
(`natsconf.py`). A pool of `ingest.IngestWorker` processes shares one durable pull consumer
and writes each batch into the firm's PostgreSQL schema through the store's idempotent COPY
path, acknowledging only after the commit; `metrics.py` serves /health and /metrics for the
operator. `factory-commons hub ...` (`cli.py`) runs it all; `local.py` starts throw-away
nats-server processes for tests and benches. See docs/hub.md and docs/scale.md.
"""
