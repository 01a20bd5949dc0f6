"""`factory-commons collect discover mqtt://...` against the real Mosquitto on 127.0.0.1:1883: topics,
JSON fields, Sparkplug nodes/devices/metrics with types and units (from births asked for with a
rebirth request), and a plant.toml snippet that is valid configuration as written."""

from __future__ import annotations

import threading
import time
import tomllib
import uuid

import pytest
from test_mqtt import HOST, PORT, needs_broker, publisher, send

from factory_commons.collect.config import PlantConfig
from factory_commons.collect.discover import Discovery, discover, parse_url
from factory_commons.collect.sparkplug import encode_payload
from factory_commons.collect.sparkplug.edge import EdgeNode


def test_urls():
    assert parse_url("mqtt://broker.local") == ("broker.local", 1883, False)
    assert parse_url("mqtts://10.0.0.5:8884") == ("10.0.0.5", 8884, True)
    with pytest.raises(ValueError, match="not mqtt://host:port"):
        parse_url("http://x:1")


def test_units_from_birth_properties_and_aliases_in_data():
    d = Discovery("h", 1, 1)
    birth = [
        {
            "name": "Process/temp",
            "alias": 7,
            "datatype": "Float",
            "value": 1.0,
            "properties": {"engUnit": "°C"},
        }
    ]
    d.add("spBv1.0/g/DBIRTH/n/d", encode_payload(birth, seq=1))
    d.add("spBv1.0/g/DDATA/n/d", encode_payload([{"alias": 7, "datatype": "Float", "value": 2.0}], seq=2))
    d.add("spBv1.0/g/DDATA/n/d", encode_payload([{"alias": 9, "datatype": "Int32", "value": 3}], seq=3))
    m = d.metrics[("g", "n", "d", "Process/temp")]
    assert (m.datatype, m.alias, m.unit, m.messages) == ("Float", 7, "°C", 2)
    assert ("g", "n", "d", "alias 9") in d.metrics  # a birth not seen: listed, not put in the snippet
    text = d.snippet("acme/s/a/l/m1")
    assert (
        'points."n/d/Process/temp" = { machine = "acme/s/a/l/m1", name = "Process_temp", unit = "°C" }'
        in text
    )
    assert "alias 9" not in text


@needs_broker
def test_discover_lists_topics_fields_and_sparkplug_metrics_and_writes_a_snippet():
    prefix, group = f"d{uuid.uuid4().hex[:8]}", f"g{uuid.uuid4().hex[:8]}"
    edge = EdgeNode(HOST, PORT, group, "gw", {"press01": {"load": "Double", "state": "Int32"}})
    edge.start()
    result: dict = {}
    listener = threading.Thread(
        target=lambda: result.update(
            found=discover(f"mqtt://{HOST}:{PORT}", 2.0, f"{prefix}/#", rebirth=True)
        )
    )
    listener.start()
    time.sleep(0.5)
    pub = publisher()
    send(
        pub,
        f"{prefix}/gw1/cnc",
        {"ts": 1740816000000, "temp": 21.5, "spindle": {"rpm": 1200}, "mode": "auto"},
    )
    send(pub, f"{prefix}/plc/count", "17")
    edge.publish("press01", {"load": 40.0})
    listener.join(10)
    edge.stop()
    pub.disconnect()
    found = result["found"]
    assert found.topics[f"{prefix}/gw1/cnc"].fields == {
        "ts": "number",
        "temp": "number",
        "spindle.rpm": "number",
        "mode": "text",
    }
    mine = {k[1:]: m for k, m in found.metrics.items() if k[0] == group}
    assert mine[("gw", "press01", "load")].datatype == "Double"
    assert mine[("gw", "press01", "state")].datatype == "Int32"
    assert edge.rebirth_requests >= 1  # the births came because discover asked for them
    text = found.snippet("acme/s/a/l/m1")
    data = tomllib.loads(text)
    data["collector"] = {"store": "x.duckdb"}
    plant = PlantConfig.from_dict(data, "snippet")
    sparkplug = next(s for k, s in plant.sources if k == "sparkplug" and s.group == group)
    assert set(sparkplug.points) == {"gw/press01/load", "gw/press01/state"}
    mqtt = next(s for k, s in plant.sources if k == "mqtt")
    assert set(mqtt.payloads[f"{prefix}/gw1/cnc"].fields) == {"temp", "spindle.rpm"}
    assert mqtt.payloads[f"{prefix}/gw1/cnc"].timestamp == "ts"
    assert mqtt.points[f"{prefix}/plc/count"].machine == "acme/s/a/l/m1"


def test_the_command_lists_and_writes(tmp_path):
    from typer.testing import CliRunner

    from factory_commons.cli import app

    result = CliRunner().invoke(app, ["collect", "discover", "http://nowhere"])
    assert result.exit_code == 2 and "mqtt://host:port" in result.output
    if not needs_broker.args[0]:
        out = tmp_path / "snippet.toml"
        result = CliRunner().invoke(
            app,
            [
                "collect",
                "discover",
                f"mqtt://{HOST}:{PORT}",
                "--seconds",
                "0.5",
                "--topic",
                "nothing/here/#",
                "--snippet",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        assert out.read_text(encoding="utf-8").startswith("# written by factory-commons collect discover")
