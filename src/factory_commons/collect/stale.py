"""Stale-source alerts: a source that sends no value for longer than it should is recorded.

A source table may say `stale_after_s = 60`. `StaleWatch.check()` (called every second by the
collector's health thread) compares each such connector's last value time with it: once a
source has been silent that long, a `stale` collection event is stored for each machine it
feeds (start = its last value; the dashboard and `collect-events` show it) and its health
details say `stale: no value for N s`. When values come again the detail is cleared and the
next silence is recorded again. A connector that is reconnecting is already reported as such;
silence is watched only while it says it is connected.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ..i18n import Catalog
from .connector import Connector, HealthState

EDGE = Catalog("collect_edge")


def _machines(connector: Connector) -> list[str]:
    points = connector.points
    mappings = points.values() if isinstance(points, dict) else points
    extra = [m for spec in getattr(connector, "payloads", {}).values() for m in spec.fields.values()]
    return sorted({m.machine for m in [*mappings, *extra]})


class StaleWatch:
    """Watches the connectors that have `stale_after_s` set; see the module docstring."""

    def __init__(self, connectors: list[Connector], clock=time.time) -> None:
        self.connectors = [c for c in connectors if getattr(c, "stale_after_s", None)]
        self.clock = clock
        self.started = clock()
        self.alerted: set[str] = set()

    def check(self) -> None:
        now = self.clock()
        for c in self.connectors:
            last = c.health.last_value_at or self.started
            silent = now - last
            if c.health.state != HealthState.CONNECTED and c.name not in self.alerted:
                continue
            if silent < c.stale_after_s:  # type: ignore[attr-defined]
                if c.name in self.alerted:
                    self.alerted.discard(c.name)
                    c.set_detail("stale", None)
                continue
            text = " / ".join(t.format(s=silent) for t in EDGE.pair("source_stale")[::-1])
            c.set_detail("stale", text)
            if c.name in self.alerted:
                continue
            self.alerted.add(c.name)
            start = datetime.fromtimestamp(last, tz=UTC)
            for machine in _machines(c) or [None]:
                c.buffer.log_event(c.name, "stale", machine=machine, start=start, detail=f"{c.name}: {text}")
