"""JSON payloads with several values (UMH-style `{"timestamp_ms": .., "temp": .., "spindle": {"rpm": ..}}`),
topic prefixes before the UNS path, and their configuration errors. Messages go straight into
`process` (no broker needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from factory_commons.collect.buffer import Buffer
from factory_commons.collect.config import PlantConfig
from factory_commons.collect.mapping import MappingError
from factory_commons.collect.mqtt import MqttConnector

M = "acme/busan/machining/line1/cnc-7"
TOML = f"""
[collector]
store = "s.duckdb"

[[mqtt]]
name = "umh"
topics = ["umh/v1/#"]
topic_prefix = "umh/v1"

[mqtt.payloads."gw/+/cnc-7"]
timestamp = "meta.time"
fields."temp" = {{ machine = "{M}", name = "coolant_temp", unit = "degC" }}
fields."spindle.rpm" = {{ machine = "{M}", name = "spindle_speed", unit = "rpm" }}
fields."state" = {{ machine = "{M}", kind = "state", state_codes = {{ 1 = "running", 2 = "idle" }} }}

[mqtt.payloads."umh/v1/+/+/+/+/+/_historian"]
timestamp = "timestamp_ms"
machine_level = 2
"""


def _connector(tmp_path: Path, toml: str = TOML) -> MqttConnector:
    (tmp_path / "plant.toml").write_text(toml, encoding="utf-8")
    plant = PlantConfig.from_toml(tmp_path / "plant.toml")
    return MqttConnector.from_source(plant.sources[0][1], Buffer(tmp_path / "b.sqlite"))


def _send(c: MqttConnector, topic: str, payload) -> None:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    c.process([SimpleNamespace(topic=topic, payload=data, qos=1, mid=1)])


def _rows(c: MqttConnector) -> list[tuple[str, dict]]:
    return [(p.kind, r) for p in c.buffer.take() for r in p.rows]


def test_several_values_nested_keys_and_a_time_field(tmp_path):
    c = _connector(tmp_path)
    assert set(c.subscriptions()) == {"gw/+/cnc-7", "umh/v1/+/+/+/+/+/_historian", "umh/v1/#"}
    _send(
        c,
        "gw/a/cnc-7",
        {"meta": {"time": "2025-03-01T08:00:00Z"}, "temp": 21.5, "spindle": {"rpm": 1200}, "state": 1},
    )
    _send(c, "gw/a/cnc-7", {"meta": {"time": 1740816060000}, "temp": 22.0})  # some fields only, epoch ms
    rows = _rows(c)
    signals = sorted((r["name"], r["value"], r["unit"]) for k, r in rows if k == "signal")
    assert signals == [
        ("coolant_temp", 21.5, "degC"),
        ("coolant_temp", 22.0, "degC"),
        ("spindle_speed", 1200.0, "rpm"),
    ]
    assert [r["state"] for k, r in rows if k == "state"] == ["running"]
    times = sorted({r["ts"] for _, r in rows})
    assert times == [int(datetime(2025, 3, 1, 8, 0, s, tzinfo=UTC).timestamp() * 1e6) for s in (0,)] + [
        int(datetime(2025, 3, 1, 8, 1, tzinfo=UTC).timestamp() * 1e6)
    ]
    assert c.buffer.rejected_count() == 0


def test_machine_from_the_topic_and_every_number_a_signal(tmp_path):
    c = _connector(tmp_path)
    _send(
        c,
        f"umh/v1/{M}/_historian",
        {"timestamp_ms": 1740816000000, "temperature": 23.5, "axis": {"x": 1.0}, "ok": True},
    )
    rows = _rows(c)
    assert sorted((r["machine"], r["name"], r["value"]) for _, r in rows) == [
        (M, "axis.x", 1.0),
        (M, "temperature", 23.5),
    ]


def test_uns_records_under_a_topic_prefix(tmp_path):
    c = _connector(tmp_path)
    _send(c, f"umh/v1/{M}/signal/load", {"ts": "2025-03-01T08:00:00Z", "value": 3.5})
    _send(c, f"other/{M}/signal/load", {"value": 1})
    (row,) = _rows(c)
    assert row[1]["machine"] == M and row[1]["name"] == "load"
    (reject,) = list(c.buffer.rejects())
    assert "does not start with 'umh/v1'" in reject["reason"]


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ([1, 2], "a JSON object with fields expected"),
        ({"temp": 1}, "no time field 'meta.time'"),
        ({"meta": {"time": "yesterday"}, "temp": 1}, "is not an ISO 8601 time"),
        ({"meta": {"time": 0}, "temp": "hot"}, "hot"),
    ],
)
def test_bad_payloads_are_rejected_with_the_reason(tmp_path, payload, why):
    c = _connector(tmp_path)
    _send(c, "gw/a/cnc-7", payload)
    assert why in " ".join(r["reason"] for r in c.buffer.rejects())


def test_configuration_errors_name_the_field(tmp_path):
    bad = TOML.replace('kind = "state"', 'kind = "mood"')
    with pytest.raises(
        MappingError, match=r'plant.toml: \[\[mqtt\]\] "umh"\.payloads\.gw/\+/cnc-7\.fields\.state\.kind'
    ):
        _connector(tmp_path, bad)
    with pytest.raises(MappingError, match="needs 'fields'"):
        _connector(tmp_path, TOML.replace("machine_level = 2", ""))
