"""OPC UA security against asyncua's own server (its server role; our code is only the client):
Basic256Sha256 SignAndEncrypt as the only endpoint, a user name and password, certificates
generated here with `cryptography`.

- The server really is secured: without security the connector finds no endpoint and says
  what the server offers.
- Our connector generates its certificate into the pki folder, refuses the unknown server with
  a message naming the file to move, and after that file is moved into trusted/ collects values,
  with the password from an environment variable that appears in no health text or log.
- A wrong password, a policy the server does not offer and a server that does not trust our
  certificate each stop the source with `failed` and a message saying so.
- `browse` does the same from the command line; the settings are checked in plant.toml.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from loop_thread import start_loop_thread
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.collect.buffer import Buffer
from factory_commons.collect.config import PlantConfig
from factory_commons.collect.connector import HealthState
from factory_commons.collect.mapping import MappingError, PointMapping
from factory_commons.collect.opcua import OpcUaConnector
from factory_commons.collect.opcua_security import Security, SecurityProblem, thumbprint

M = "acme/changwon/press/line-1/press-1"
USER, PASSWORD = "operator", "pw-Zq8!never-printed"
SERVER_URI = "urn:factory-commons:test:secure-plc"
TEMP = "ns=2;s=Press1.Temp"

for _name in ("asyncua", "asyncua.client", "asyncua.server"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def server_certificate(uri: str = SERVER_URI) -> tuple[bytes, bytes]:
    """A self-signed certificate (DER) and key (PEM), as a PLC vendor's tool would make."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test secure PLC")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.DER), pem


class SecureServer:
    """asyncua's server with only Basic256Sha256 SignAndEncrypt and Aes128Sha256RsaOaep Sign and
    one user; setting
    `trust_only` (a DER certificate) makes it refuse every other client certificate."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/secure/"
        self.cert, self.key = server_certificate()
        self.trust_only: bytes | None = None

    def start(self) -> None:
        from asyncua import Server, ua
        from asyncua.crypto.permission_rules import User, UserRole
        from asyncua.server.user_managers import UserManager

        class OneUser(UserManager):
            def get_user(self, iserver, username=None, password=None, certificate=None):
                if username == USER and password == PASSWORD:
                    return User(role=UserRole.User)
                return None

        async def main(ready: threading.Event) -> None:
            server = Server(user_manager=OneUser())
            await server.init()
            server.set_endpoint(self.url)
            await server.set_application_uri(SERVER_URI)
            server.set_security_policy(
                [
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                    ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign,
                ]
            )
            await server.load_certificate(self.cert, format="der")
            await server.load_private_key(self.key, format="pem")

            async def only(cert, app_description) -> None:
                from cryptography.hazmat.primitives import serialization

                der = cert.public_bytes(serialization.Encoding.DER)
                if self.trust_only is not None and der != self.trust_only:
                    raise ua.uaerrors.BadCertificateUntrusted

            server.set_certificate_validator(only)
            idx = await server.register_namespace("urn:factory-commons:test")
            press = await server.nodes.objects.add_object(ua.NodeId("Press1", idx), f"{idx}:Press1")
            self.temp = await press.add_variable(ua.NodeId("Press1.Temp", idx), f"{idx}:Temp", 20.0)
            self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
            async with server:
                ready.set()
                await self.stopping.wait()

        self.thread = start_loop_thread(main, "the secured asyncua server", timeout=30)

    def write(self, value: float) -> None:
        asyncio.run_coroutine_threadsafe(self.temp.write_value(value), self.loop).result(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(15)


@pytest.fixture(scope="module")
def server():
    s = SecureServer()
    s.start()
    yield s
    s.stop()


def connector(
    url: str,
    pki: Path,
    password: str = PASSWORD,
    policy: str = "Basic256Sha256",
    mode: str = "SignAndEncrypt",
    **kw,
):
    buf = Buffer(pki.parent / "buffer.sqlite")
    points = {TEMP: PointMapping(machine=M, kind="signal", name="temp", unit="C")}
    security = Security(policy, mode, pki_dir=str(pki), **kw)
    conn = OpcUaConnector(
        "secure-plc", buf, url, points, interval_ms=50, username=USER, password=password, security=security
    )
    return conn, buf


def run_until_settled(conn: OpcUaConnector, cond, timeout: float = 20.0) -> None:
    stop = threading.Event()
    t = threading.Thread(target=conn.run, args=(stop,))
    t.start()
    try:
        assert wait_until(lambda: cond() or conn.health.state == HealthState.FAILED, timeout), conn.health
    finally:
        stop.set()
        t.join(15)


def test_without_security_the_connector_says_what_the_server_offers(server, tmp_path):
    conn, _ = connector(server.url, tmp_path / "pki", policy="None")
    run_until_settled(conn, lambda: False, timeout=10)
    assert conn.health.state == HealthState.FAILED, conn.health
    assert "security None is not offered" in conn.health.reason
    assert "it offers: Aes128Sha256RsaOaep Sign, Basic256Sha256 SignAndEncrypt" in conn.health.reason
    assert conn.health.reconnects == 0


def test_untrusted_server_is_refused_then_trusted_and_collected(server, tmp_path, monkeypatch, caplog):
    pki = tmp_path / "opcua-pki"
    caplog.set_level(logging.DEBUG)
    conn, buf = connector(server.url, pki)
    run_until_settled(conn, lambda: False, timeout=10)
    assert conn.health.state == HealthState.FAILED
    thumb = thumbprint(server.cert)
    rejected = pki / "rejected" / f"{thumb}.der"
    assert rejected.read_bytes() == server.cert
    assert "not trusted" in conn.health.reason and thumb in conn.health.reason
    assert str(rejected) in conn.health.reason and str(pki / "trusted") in conn.health.reason
    own = pki / "own" / "cert.der"
    assert own.is_file() and (pki / "own" / "key.pem").stat().st_mode & 0o077 == 0
    assert any(str(own) in r.getMessage() for r in caplog.records)  # said where it was generated

    shutil.move(rejected, pki / "trusted" / rejected.name)  # what the message tells the engineer
    monkeypatch.setenv("FC_TEST_OPC_PW", PASSWORD)
    source = PlantConfig.from_dict(
        {
            "collector": {"store": str(tmp_path / "store.duckdb"), "buffer": str(tmp_path / "buffer.sqlite")},
            "opcua": [
                {
                    "name": "secure-plc",
                    "endpoint": server.url,
                    "interval_ms": 50,
                    "username": USER,
                    "password_env": "FC_TEST_OPC_PW",
                    "security_policy": "Basic256Sha256",
                    "security_mode": "SignAndEncrypt",
                    "points": {TEMP: {"machine": M, "kind": "signal", "name": "temp"}},
                }
            ],
        }
    ).sources[0][1]
    buf = Buffer(tmp_path / "buffer.sqlite")
    conn = OpcUaConnector.from_source(source, buf)
    assert conn.security.pki == pki and conn.password == PASSWORD  # beside the buffer, from the env

    stop = threading.Event()
    t = threading.Thread(target=conn.run, args=(stop,))
    t.start()
    try:
        assert wait_until(lambda: conn.health.state == HealthState.CONNECTED), conn.health
        server.write(71.5)
        assert wait_until(lambda: 71.5 in values(buf))
    finally:
        stop.set()
        t.join(15)
    assert own.read_bytes() == (pki / "own" / "cert.der").read_bytes()  # kept, not generated again
    texts = [conn.health.reason, *(r.getMessage() for r in caplog.records)]
    assert not any(PASSWORD in text for text in texts)


def values(buf: Buffer) -> list:
    return [row.get("value") for put in buf.take() for row in put.rows]


def trusted_pki(server: SecureServer, tmp_path: Path) -> Path:
    pki = tmp_path / "opcua-pki"
    (pki / "trusted").mkdir(parents=True)
    (pki / "trusted" / "plc.der").write_bytes(server.cert)
    return pki


def test_wrong_password_fails_and_is_not_retried(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    conn, _ = connector(server.url, trusted_pki(server, tmp_path), password="wrong-pw-31337")
    run_until_settled(conn, lambda: False, timeout=10)
    assert conn.health.state == HealthState.FAILED
    assert "refused" in conn.health.reason and "'operator'" in conn.health.reason
    assert conn.health.reconnects == 0
    assert not any("wrong-pw-31337" in r.getMessage() for r in caplog.records)


def test_a_policy_the_server_does_not_offer_is_named_with_what_it_offers(server, tmp_path):
    conn, _ = connector(server.url, trusted_pki(server, tmp_path), policy="Aes128Sha256RsaOaep")
    run_until_settled(conn, lambda: False, timeout=10)
    assert conn.health.state == HealthState.FAILED
    assert "Aes128Sha256RsaOaep SignAndEncrypt is not offered" in conn.health.reason
    assert "Aes128Sha256RsaOaep Sign, Basic256Sha256 SignAndEncrypt" in conn.health.reason


def test_our_own_certificate_files_with_aes128_sign(server, tmp_path):
    """cert_file/key_file instead of a generated certificate; the server trusts only that one."""
    from factory_commons.collect.opcua_security import APPLICATION_URI

    der, pem = server_certificate(APPLICATION_URI)
    (tmp_path / "client.der").write_bytes(der)
    (tmp_path / "client.key.pem").write_bytes(pem)
    pki = trusted_pki(server, tmp_path)
    server.trust_only = der
    try:
        conn, buf = connector(
            server.url,
            pki,
            policy="Aes128Sha256RsaOaep",
            mode="Sign",
            cert_file=str(tmp_path / "client.der"),
            key_file=str(tmp_path / "client.key.pem"),
        )
        server.write(12.25)
        run_until_settled(conn, lambda: 12.25 in values(buf))
    finally:
        server.trust_only = None
    assert 12.25 in values(buf), conn.health
    assert not (pki / "own").exists()  # nothing generated


def test_a_server_that_does_not_trust_our_certificate_says_which_one(server, tmp_path):
    server.trust_only = b"some other client's certificate"
    try:
        pki = trusted_pki(server, tmp_path)
        conn, _ = connector(server.url, pki)
        run_until_settled(conn, lambda: False, timeout=10)
    finally:
        server.trust_only = None
    assert conn.health.state == HealthState.FAILED
    assert "refused our certificate" in conn.health.reason
    assert str(pki / "own" / "cert.der") in conn.health.reason


def test_the_password_is_not_in_the_source_repr():
    source = PlantConfig.from_dict(
        {
            "collector": {"store": "x.duckdb"},
            "opcua": [
                {
                    "name": "plc",
                    "endpoint": "opc.tcp://h:4840",
                    "password": PASSWORD,
                    "points": {TEMP: {"machine": M, "kind": "signal", "name": "t"}},
                }
            ],
        }
    ).sources[0][1]
    assert source.password == PASSWORD and PASSWORD not in repr(source) and PASSWORD not in str(source)


def test_unknown_policy_and_clashing_settings_are_named():
    with pytest.raises(SecurityProblem, match="unknown security policy 'Basic128'"):
        Security("Basic128")
    base = {
        "collector": {"store": "x.duckdb"},
        "opcua": [
            {
                "name": "plc",
                "endpoint": "opc.tcp://h:4840",
                "points": {TEMP: {"machine": M, "kind": "signal", "name": "t"}},
            }
        ],
    }
    for extra, why in (
        ({"password": "a", "password_env": "B"}, "password, password_env"),
        ({"cert_file": __file__}, "cert_file and key_file go together"),
        ({"password_file": "/nonexistent/pw"}, "password_file: file '/nonexistent/pw' not found"),
        ({"security_mode": "Encrypt"}, "security_mode"),
    ):
        data = {**base, "opcua": [{**base["opcua"][0], **extra}]}
        with pytest.raises(MappingError, match=why):
            PlantConfig.from_dict(data, "plant.toml")


def test_browse_a_secured_server(server, tmp_path):
    runner = CliRunner()
    pki = tmp_path / "pki"
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    args = ["browse", server.url, "--security", "Basic256Sha256,SignAndEncrypt", "--pki", str(pki)]
    args += ["--user", USER, "--timeout", "4"]
    first = runner.invoke(app, [*args, "--password-file", str(pw)])
    assert first.exit_code == 2 and "not trusted" in " ".join(first.output.split()), first.output
    shutil.move(pki / "rejected" / f"{thumbprint(server.cert)}.der", pki / "trusted" / "plc.der")
    ok = runner.invoke(app, [*args, "--password-file", str(pw)])
    assert ok.exit_code == 0, ok.output
    assert "Temp" in ok.output and "Press1.Temp" in ok.output
    bad = runner.invoke(app, [*args, "--password", "nope-nope"])
    assert bad.exit_code == 2 and "nope-nope" not in bad.output
    assert "BadUserAccessDenied" in bad.output or "BadIdentityToken" in bad.output
    plain = runner.invoke(app, ["browse", server.url, "--user", USER, "--password-file", str(pw)])
    assert plain.exit_code == 2
    assert "it offers: Aes128Sha256RsaOaep Sign, Basic256Sha256" in " ".join(plain.output.split())


def test_node_opcua_secured_server(tmp_path):
    """node-opcua (an independent implementation) offering only Basic256Sha256 SignAndEncrypt
    with a user: refused while unknown, collected once its certificate is trusted."""
    from npm_peers_opcua import NodeOpcUaPeer, node_opcua_dir

    peer = NodeOpcUaPeer(node_opcua_dir(), tmp_path / "server-pki", fast_ms=100)
    peer.start(user=USER, password=PASSWORD, secure=True)
    try:
        pki = tmp_path / "opcua-pki"
        buf = Buffer(tmp_path / "buffer.sqlite")
        points = {"ns=1;s=Press1.Temp": PointMapping(machine=M, kind="signal", name="temp")}
        make = lambda policy: OpcUaConnector(  # noqa: E731
            "node-plc",
            buf,
            peer.url,
            points,
            interval_ms=100,
            username=USER,
            password=PASSWORD,
            security=Security(policy, "SignAndEncrypt", pki_dir=str(pki)),
        )
        plain = make("None")
        run_until_settled(plain, lambda: False, timeout=15)
        assert "it offers: Basic256Sha256 SignAndEncrypt" in plain.health.reason, plain.health
        conn = make("Basic256Sha256")
        run_until_settled(conn, lambda: False, timeout=15)
        assert "not trusted" in conn.health.reason, conn.health
        (rejected,) = (pki / "rejected").iterdir()
        shutil.move(rejected, pki / "trusted" / rejected.name)
        conn = make("Basic256Sha256")
        run_until_settled(conn, lambda: len(values(buf)) >= 3, timeout=20)
        stored = values(buf)
        assert len(stored) >= 3 and conn.health.errors == 0, conn.health
        assert set(stored) <= {p.value for p in peer.values("Temp")}
    finally:
        peer.stop()
