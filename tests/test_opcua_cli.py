"""The OPC UA side of the command line, against node-opcua (an independent server from npm).

`browse` with a user and a password (option, environment variable or standard input), a
default depth that reaches variables a few folders down (Objects/Plant/Line1/Press1/Temp),
no asyncua log lines on the terminal, and a `--toml` snippet whose kinds fit the variables
(a counter as `count`, a String as `state`). `collect` prints configuration errors as
written: `[[opcua]]` and `[[modbus]]`, not what Rich's markup leaves of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest
from npm_peers_opcua import NodeOpcUaPeer, node_opcua_dir
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.collect.config import PlantConfig

M = "acme/창원/프레스/line-1/press-1"
USER, PASSWORD = "collector", "s3cret"


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    p = NodeOpcUaPeer(node_opcua_dir(), tmp_path_factory.mktemp("pki"), fast_ms=0)
    p.start(user=USER, password=PASSWORD)
    yield p
    p.stop()


def test_browse_reaches_variables_two_folders_down_without_library_warnings(peer):
    env = dict(os.environ, FC_OPCUA_PASSWORD=PASSWORD, COLUMNS="200")
    run = subprocess.run(
        [sys.executable, "-m", "factory_commons", "browse", peer.url, "--user", USER],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    for text in ("Plant", "Line1", "Press1", "ns=1;s=Press1.Temp", "ns=1;s=Press1.PartCount", "UInt32"):
        assert text in run.stdout, f"{text} not shown with the default depth:\n{run.stdout}"
    assert "Requested session timeout" not in run.stderr + run.stdout
    assert run.stderr.strip() == ""


def test_browse_reads_the_password_from_stdin_and_says_when_it_is_refused(peer):
    runner = CliRunner()
    ok = runner.invoke(app, ["browse", peer.url, "--user", USER, "--password-stdin"], input=PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output
    assert "Press1.Temp" in ok.output
    bad = runner.invoke(app, ["browse", peer.url, "--user", USER, "--password", "wrong", "--timeout", "3"])
    assert bad.exit_code == 2
    assert "authentication failed" in bad.output and "인증 실패" in bad.output
    assert "BadUserAccessDenied" in bad.output
    anonymous = runner.invoke(app, ["browse", peer.url, "--timeout", "3"])
    assert anonymous.exit_code == 2 and "authentication failed" in anonymous.output


def test_browse_toml_suggests_a_kind_that_fits_the_variable(peer):
    result = CliRunner().invoke(
        app, ["browse", peer.url, "--user", USER, "--password", PASSWORD, "--path", "Plant", "--toml"]
    )
    assert result.exit_code == 0, result.output
    snippet = result.output[result.output.index("[[opcua]]") :]
    data = tomllib.loads(snippet.replace("<machine>", M))
    pts = data["opcua"][0]["points"]
    assert pts["ns=1;s=Press1.PartCount"]["kind"] == "count"
    assert pts["ns=1;s=Press1.PartCount"]["counter"] == "total"
    assert pts["ns=1;s=Press1.Status"]["kind"] == "state"
    assert pts["ns=1;s=Press1.Alarm"]["kind"] == "alarm"
    assert pts["ns=1;s=Press1.Temp"]["kind"] == "signal"
    assert pts["ns=1;s=Press1.State"]["kind"] == "signal"  # an Int32 not named like a counter
    PlantConfig.from_dict(data)  # valid as it is, once the machines are filled in


@pytest.mark.parametrize(
    "table, section",
    [
        (
            '[[opcua]]\nname = "press-opc"\n[opcua.points."i=2258"]\nmachine = "a/b/c/d/e"\nkind = "signal"\n'
            'name = "x"\n',
            "[[opcua]]",
        ),
        (
            '[[modbus]]\nname = "plc"\n[[modbus.points]]\naddress = 0\nmachine = "a/b/c/d/e"\nkind = "signal"\n'
            'name = "x"\n',
            "[[modbus]]",
        ),
    ],
)
def test_collect_prints_configuration_errors_as_written(tmp_path, table, section):
    plant = tmp_path / "plant.toml"
    plant.write_text(table, encoding="utf-8")
    result = CliRunner().invoke(app, ["collect", "--config", str(plant), "--duration", "1", "--quiet"])
    assert result.exit_code == 2
    assert section in result.output, result.output
    assert "endpoint" in result.output or "host" in result.output


def test_browse_help_shows():
    result = CliRunner().invoke(app, ["browse", "--help"])
    assert result.exit_code == 0, result.output  # "host:port[/path]" was read as Rich markup
    assert "--password-stdin" in result.output and "FC_OPCUA_PASSWORD" in result.output


def test_toml_kinds_from_type_and_name():
    from factory_commons.collect.opcua_browse import Found, toml_snippet

    root = Found("ns=2;s=P", "2:P", "P", "Object")
    root.children = [
        Found("ns=2;s=P.Good", "2:GoodCount", "GoodCount", "Variable", "UInt32", 5),
        Found("ns=2;s=P.Mode", "2:Mode", "Mode", "Variable", "String", "running"),
        Found("ns=2;s=P.Code", "2:Code", "Code", "Variable", "Int16", 3),
        Found("ns=2;s=P.On", "2:On", "On", "Variable", "Boolean", True),
    ]
    data = tomllib.loads(toml_snippet(root, "opc.tcp://h:4840").replace("<machine>", M))
    kinds = {k: v["kind"] for k, v in data["opcua"][0]["points"].items()}
    assert kinds == {
        "ns=2;s=P.Good": "count",
        "ns=2;s=P.Mode": "state",
        "ns=2;s=P.Code": "signal",
        "ns=2;s=P.On": "alarm",
    }
    PlantConfig.from_dict(data)
