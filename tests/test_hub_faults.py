"""Fault tests of the regional hub, everything as processes on free loopback ports.

Each scenario writes count records (good=1, a distinct time each) into a collector's durable
buffer while a `hub forward` process sends them to the JetStream stream and `hub ingest`
processes write them into PostgreSQL, breaks one part mid-stream, and then checks: every row
sent is stored once (none lost, none twice: the sum of `good` equals the rows sent), and the
recovery time: from the fault until every row produced before it and a row produced after it
are stored. Each prints one line:
`fault=... sent=... stored_once=... duplicated=... lost=... recovery_s=... absorbed_redeliveries=...`
(rows a surviving worker found already stored: written before a crash, delivered again).

Faults: a node of a three-node cluster (the stream's leader, R3) killed with SIGKILL; an ingest
worker killed with SIGKILL (the other gets its messages after ack_wait); the edge's link cut
(a TCP proxy drops it) and back (catch-up marked late); PostgreSQL restarted (an instance of
the test's own, started with initdb/pg_ctl as the `postgres` user on a spare port).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from factory_commons.collect.buffer import Buffer
from factory_commons.hub.local import LocalHub, free_ports
from factory_commons.hub.stream import connect
from factory_commons.hub.subjects import CONSUMER, STREAM

NATS = shutil.which("nats-server") or "/usr/sbin/nats-server"
pytestmark = pytest.mark.skipif(not Path(NATS).exists(), reason="nats-server is not installed")

HUB = [sys.executable, "-m", "factory_commons.hub"]
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # spans a month boundary: two partitions


class Scenario:
    """Processes of one scenario and the producer; `run(fault)` gives the report."""

    def __init__(self, tmp: Path, hub: LocalHub, pg_url: str, firm: str = "acme") -> None:
        self.tmp, self.hub, self.pg_url, self.firm = tmp, hub, pg_url, firm
        self.prefix = f"hf{uuid.uuid4().hex[:8]}"
        self.schema = f"{self.prefix}_{firm}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.metrics: dict[str, str] = {}  # worker -> its /health and /metrics
        self.buffer_path = tmp / "edge.sqlite"
        hub.ingest.save(tmp / "ingest.json")
        hub.firm(firm).save(tmp / "firm.json")

    def start_worker(self, name: str, replicas: int = 1, ack_wait: float = 2.0) -> None:
        port = free_ports(1)[0]
        self.metrics[name] = f"http://127.0.0.1:{port}"
        self._start(
            name,
            [
                "ingest",
                "--creds",
                str(self.tmp / "ingest.json"),
                "--database",
                self.pg_url,
                "--schema-template",
                f"{self.prefix}_{{firm}}",
                "--ack-wait",
                str(ack_wait),
                "--replicas",
                str(replicas),
                "--batch",
                "500",
                "--metrics-port",
                str(port),
            ],
        )

    def start_edge(self, servers: list[str] | None = None, late_after: float = 60.0) -> None:
        args = ["forward", "--buffer", str(self.buffer_path), "--creds", str(self.tmp / "firm.json")]
        for s in servers or []:
            args += ["--server", s]
        self._start("edge", [*args, "--late-after", str(late_after)])

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.procs[name] = subprocess.Popen([*HUB, *args], stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self, name: str) -> None:
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.metrics.pop(name, None)

    def health(self, name: str) -> dict:
        try:
            with urllib.request.urlopen(self.metrics[name] + "/health", timeout=1) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())
        except OSError:
            return {}

    def absorbed(self) -> int:
        """Rows the live workers found already stored (redeliveries the keys absorbed)."""
        return sum(self.health(w).get("duplicate_rows", 0) for w in list(self.metrics))

    def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()
        try:
            with psycopg.connect(self.pg_url, autocommit=True, connect_timeout=3) as con:
                con.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        except psycopg.Error:
            pass

    def logs(self) -> str:
        return "\n".join(
            f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}" for f in sorted(self.tmp.glob("*.log"))
        )

    def _split(self, at: datetime) -> tuple[int, int]:
        """(rows stored from before `at`, rows from `at` on); (-1, -1) while unreachable."""
        try:
            with psycopg.connect(self.pg_url, connect_timeout=2) as con:
                return con.execute(
                    f"SELECT count(*) FILTER (WHERE ts < %s), count(*) FILTER (WHERE ts >= %s) "
                    f"FROM {self.schema}.counts",
                    [at.replace(tzinfo=None)] * 2,
                ).fetchone()
        except psycopg.Error:
            return -1, -1

    def _stored(self) -> tuple[int, int, int]:
        """(rows, distinct keys, sum of good) stored; -1s while unreachable."""
        try:
            with psycopg.connect(self.pg_url, connect_timeout=2) as con:
                return con.execute(
                    f"SELECT count(*), count(DISTINCT (machine_id, ts)), coalesce(sum(good), 0) "
                    f"FROM {self.schema}.counts"
                ).fetchone()
        except psycopg.Error:
            return -1, -1, -1

    def _settle(self, timeout: float = 6.0) -> None:
        """Until the consumer has nothing unacknowledged (a redelivery after a crash has run)."""

        async def busy() -> bool:
            nc = await connect(self.hub.admin, self.hub.servers)
            try:
                info = await nc.jetstream(timeout=3).consumer_info(STREAM, CONSUMER)
                return bool(info.num_ack_pending or info.num_pending)
            finally:
                await nc.close()

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                if not asyncio.run(busy()):
                    return
            except Exception:  # noqa: BLE001 - a node away: ask again
                pass
            time.sleep(0.2)

    def _rows(self, k: int, n: int) -> list[dict]:
        return [
            {"machine": f"{self.firm}/s/a/l/m{j % 3}", "ts": T0 + timedelta(seconds=k + j), "good": 1}
            for j in range(n)
        ]

    def _recovered(self, marker: dict, before: int) -> bool:
        """Every row produced before the fault is stored, and a row produced after it."""
        old, new = self._split(marker["ts"])
        return old == before and new > 0

    def run(
        self,
        name: str,
        fault,
        puts: int = 15,
        rows: int = 40,
        every_s: float = 0.05,
        timeout: float = 40,
        big_put: int = 0,
    ):
        """Produce `puts` puts of `rows` rows, call `fault()` after a third (after one put of
        `big_put` rows, if any), wait for all."""
        marker: dict[str, datetime] = {}
        fault_at: list[float] = []

        def produce() -> None:
            with Buffer(self.buffer_path) as buf:
                k = 0
                for i in range(puts):
                    if i == puts // 3:
                        if big_put:
                            buf.put("sim", "count", self._rows(k, big_put))
                            k += big_put
                        marker["ts"] = T0 + timedelta(seconds=k)
                        fault_at.append(time.monotonic())
                        fault()
                    buf.put("sim", "count", self._rows(k, rows))
                    k += rows
                    time.sleep(every_s)

        sent = puts * rows + big_put
        producer = threading.Thread(target=produce)
        producer.start()
        recovery = None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            time.sleep(0.1)
            if (
                recovery is None
                and fault_at
                and "ts" in marker
                and self._recovered(marker, puts // 3 * rows + big_put)
            ):
                recovery = time.monotonic() - fault_at[0]
            if not producer.is_alive() and self._stored()[2] >= sent:
                break
        producer.join()
        self._settle()
        if recovery is None and fault_at and self._recovered(marker, puts // 3 * rows + big_put):
            recovery = time.monotonic() - fault_at[0]
        n, distinct, good = self._stored()
        report = {
            "fault": name,
            "sent": sent,
            "stored_once": distinct,
            "duplicated": n - distinct + max(good - n, 0),
            "lost": sent - distinct,
            "recovery_s": None if recovery is None else round(recovery, 2),
            "absorbed_redeliveries": self.absorbed(),
        }
        print(" ".join(f"{k}={v}" for k, v in report.items()))
        return report


def _check(report: dict, scenario: Scenario) -> None:
    assert report["lost"] == 0 and report["duplicated"] == 0, (report, scenario.logs())
    assert report["recovery_s"] is not None, (report, scenario.logs())


def test_cluster_node_killed_mid_stream(tmp_path, pg_url):
    """R3 stream on three nodes; the stream's leader is killed with SIGKILL mid-stream."""
    with LocalHub(tmp_path / "nats", ["acme"], nodes=3) as hub:
        s = Scenario(tmp_path, hub, pg_url)
        try:
            s.start_worker("w1", replicas=3)
            s.start_edge()
            _wait_for_stream(hub)
            killed = []

            def kill_leader() -> None:
                leader = asyncio.run(_leader(hub))
                i = next(k for k, n in enumerate(hub.nodes) if n.name == leader)
                hub.kill(i)
                killed.append(leader)

            report = s.run("cluster_node_killed", kill_leader)
            _check(report, s)
            assert killed, "no stream leader found"
        finally:
            s.stop()


def test_ingest_worker_sigkilled(tmp_path, pg_url):
    """Two workers share the consumer; one is killed with SIGKILL; the other takes its messages
    after ack_wait (2 s here)."""
    with LocalHub(tmp_path / "nats", ["acme"], nodes=1) as hub:
        s = Scenario(tmp_path, hub, pg_url)
        try:
            s.start_worker("w1")
            s.start_worker("w2")
            s.start_edge()
            _wait_for_stream(hub)
            killed = []

            def kill_busy_worker() -> None:
                """SIGKILL the worker that holds messages it has not acknowledged yet."""
                end = time.monotonic() + 10
                while time.monotonic() < end and not killed:
                    for w in ("w1", "w2"):
                        if s.health(w).get("in_flight"):
                            s.kill(w)
                            killed.append(w)
                            break
                    time.sleep(0.005)

            report = s.run("ingest_worker_sigkill", kill_busy_worker, big_put=3000)
            _check(report, s)
            assert killed, "no worker was seen holding messages"
        finally:
            s.stop()


class _Proxy:
    """A TCP proxy 127.0.0.1:port -> target that can cut every connection and refuse new ones."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_ports(1)[0]
        self.open = True
        self.conns: list[socket.socket] = []
        self.srv = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            if not self.open:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.close()
            except OSError:
                pass

    def cut(self) -> None:
        self.open = False
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.conns.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.srv.close()


def test_edge_cut_off_and_reconnected(tmp_path, pg_url):
    """The edge's link drops for 2.5 s; the collector keeps buffering; after the link is back
    the edge catches up by itself and the hub records the catch-up as late data."""
    with LocalHub(tmp_path / "nats", ["acme"], nodes=1) as hub:
        proxy = _Proxy(hub.nodes[0].client_port)
        s = Scenario(tmp_path, hub, pg_url)
        try:
            s.start_worker("w1")
            s.start_edge(servers=[f"nats://127.0.0.1:{proxy.port}"], late_after=1.0)
            _wait_for_stream(hub)

            def cut() -> None:
                proxy.cut()
                threading.Timer(2.5, proxy.restore).start()

            report = s.run("edge_cut_off", cut)
            _check(report, s)
            assert report["recovery_s"] >= 2.5  # nothing got through while the link was down
            with psycopg.connect(pg_url) as con:
                late = con.execute(
                    f"SELECT count(*) FROM {s.schema}.collect_events WHERE event = 'late'"
                ).fetchone()[0]
            assert late > 0, s.logs()
        finally:
            s.stop()
            proxy.close()


class _OwnPostgres:
    """A PostgreSQL instance of this test (initdb as the `postgres` user, a spare port)."""

    def __init__(self, folder: Path) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            pytest.skip("no initdb under /usr/lib/postgresql/*/bin")
        self.bin = bins[-1].parent
        self.folder = folder
        self.port = free_ports(1)[0]
        self.runas = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.runas and not shutil.which("runuser"):
            pytest.skip("initdb refuses root, and runuser is missing")
        folder.mkdir(parents=True, exist_ok=True)
        if self.runas:
            shutil.chown(folder, "postgres")
        r = subprocess.run(
            [
                *self.runas,
                str(self.bin / "initdb"),
                "-D",
                str(folder / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            pytest.skip(f"initdb failed: {r.stderr.strip()[-300:]}")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        opts = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *self.runas,
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.folder / "data"),
                "-o",
                opts,
                "-l",
                str(self.folder / "log"),
                "-w",
                *args,
            ],
            check=True,
            capture_output=True,
        )


def test_postgres_restarted_mid_ingest(tmp_path):
    # not under tmp_path: the `postgres` user cannot enter pytest's private folders
    pg = _OwnPostgres(Path(tempfile.mkdtemp(prefix="fc-hub-pg-")))
    pg.ctl("start")
    try:
        with LocalHub(tmp_path / "nats", ["acme"], nodes=1) as hub:
            s = Scenario(tmp_path, hub, pg.url)
            try:
                s.start_worker("w1")
                s.start_edge()
                _wait_for_stream(hub)
                report = s.run("postgres_restart", lambda: pg.ctl("-m", "fast", "restart"))
                _check(report, s)
            finally:
                s.stop()
    finally:
        pg.ctl("-m", "immediate", "stop")
        shutil.rmtree(pg.folder, ignore_errors=True)


# -- helpers ---------------------------------------------------------------------------------
def _wait_for_stream(hub: LocalHub, timeout: float = 15.0) -> None:
    """Until a worker has made the stream and its consumer."""

    async def ready() -> bool:
        nc = await connect(hub.admin, hub.servers)
        try:
            await nc.jetstream(timeout=2).consumer_info(STREAM, CONSUMER)
            return True
        except Exception:  # noqa: BLE001 - not yet
            return False
        finally:
            await nc.close()

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if asyncio.run(ready()):
            return
        time.sleep(0.2)
    raise TimeoutError("the ingest worker did not create the stream")


async def _leader(hub: LocalHub) -> str:
    nc = await connect(hub.admin, hub.servers)
    try:
        return (await nc.jetstream(timeout=3).stream_info(STREAM)).cluster.leader
    finally:
        await nc.close()
