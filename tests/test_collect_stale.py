"""Stale-source alerts: a connected source silent for longer than `stale_after_s` gets one `stale`
event per machine (stored like the other collection events) and a health detail; values clear it."""

from __future__ import annotations

import threading

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.config import PlantConfig
from factory_commons.collect.connector import Connector, HealthState
from factory_commons.collect.mapping import PointMapping
from factory_commons.collect.stale import StaleWatch

M1, M2 = "acme/s/a/l/m1", "acme/s/a/l/m2"


class Quiet(Connector):
    kind = "test"

    def collect_once(self, stop: threading.Event) -> None:  # pragma: no cover - not run
        stop.wait()


def test_a_silent_source_is_recorded_once_per_silence(tmp_path):
    now = {"t": 1000.0}
    c = Quiet(
        "plc",
        Buffer(tmp_path / "b.sqlite"),
        {"a": PointMapping(machine=M1, name="x"), "b": PointMapping(machine=M2, name="y")},
    )
    c.stale_after_s = 30
    c.set_health(HealthState.CONNECTED)
    watch = StaleWatch([c], clock=lambda: now["t"])
    now["t"] += 10
    watch.check()
    assert c.buffer.events() == []
    now["t"] += 25
    watch.check()
    watch.check()  # once, not every second
    events = c.buffer.events()
    assert sorted(e["machine"] for e in events) == [M1, M2] and {e["event"] for e in events} == {"stale"}
    assert events[0]["start_ts"] == 1000 * 1_000_000  # since the watch began (no value yet)
    assert "no value for 35 s" in c.health.details["stale"]
    c.health.last_value_at = now["t"]  # a value again
    watch.check()
    assert "stale" not in c.health.details
    now["t"] += 31
    watch.check()
    assert len(c.buffer.events()) == 4  # the next silence is recorded again


def test_stale_after_s_is_configured_per_source(tmp_path):
    plant = PlantConfig.from_dict(
        {"mqtt": [{"name": "m", "topics": ["x/#"], "stale_after_s": 120}]}, str(tmp_path / "plant.toml")
    )
    assert plant.sources[0][1].stale_after_s == 120
