"""`hub status`: the stream, its replicas, the ingest consumer and the workers' health, at a glance."""

from __future__ import annotations

import json
import urllib.request

from rich.console import Console
from rich.table import Table

from .natsconf import Credentials
from .stream import connect
from .subjects import CONSUMER, HUB, STREAM, hub_text


async def hub_status(credentials: Credentials, servers: list[str] | None, metrics_urls: list[str]) -> dict:
    """Stream and consumer state from JetStream, and each worker's /health."""
    nc = await connect(credentials, servers, name="hub-status")
    try:
        js = nc.jetstream(timeout=5)
        si = await js.stream_info(STREAM)
        ci = await js.consumer_info(STREAM, CONSUMER)
    finally:
        await nc.close()
    cluster = si.cluster
    report = {
        "stream": {
            "messages": si.state.messages,
            "bytes": si.state.bytes,
            "first_seq": si.state.first_seq,
            "last_seq": si.state.last_seq,
            "replicas": si.config.num_replicas,
            "leader": cluster.leader if cluster else None,
            "followers": [
                {"name": r.name, "current": r.current, "lag": r.lag} for r in (cluster.replicas or [])
            ]
            if cluster
            else [],
        },
        "consumer": {
            "pending": ci.num_pending,
            "ack_pending": ci.num_ack_pending,
            "redelivered": ci.num_redelivered,
            "waiting": ci.num_waiting,
        },
        "workers": [],
    }
    for url in metrics_urls:
        health = url.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(health, timeout=3) as r:
                report["workers"].append({"url": url, **json.loads(r.read())})
        except OSError as e:
            body = getattr(e, "read", lambda: b"")()
            try:
                report["workers"].append({"url": url, **json.loads(body)})
            except ValueError:
                report["workers"].append({"url": url, "status": "unreachable", "last_error": str(e)})
    return report


def print_status(report: dict, console: Console) -> None:
    s, c = report["stream"], report["consumer"]
    t = Table(title=hub_text("status_title"), title_justify="left")
    t.add_column(HUB.both("col_what", "\n"))
    t.add_column(HUB.both("col_value", "\n"), justify="right")
    t.add_row(HUB.both("row_messages", " / "), f"{s['messages']:,}")
    t.add_row(HUB.both("row_bytes", " / "), f"{s['bytes'] / 1e6:,.1f} MB")
    t.add_row(HUB.both("row_replicas", " / "), f"{s['replicas']} ({s['leader'] or '-'})")
    for f in s["followers"]:
        t.add_row(f"  {f['name']}", "ok" if f["current"] else f"lag {f['lag']}")
    t.add_row(HUB.both("row_pending", " / "), f"{c['pending']:,}")
    t.add_row(HUB.both("row_ack_pending", " / "), f"{c['ack_pending']:,}")
    t.add_row(HUB.both("row_redelivered", " / "), f"{c['redelivered']:,}")
    console.print(t)
    for w in report["workers"]:
        color = "green" if w.get("status") == "ok" else "red"
        console.print(
            f"[{color}]{w['url']}: {w.get('status')}[/] {w.get('points_per_s', '')} {w.get('last_error') or ''}"
        )
