"""Throw-away nats-server processes on free loopback ports: one node or a three-node JetStream
cluster, with the hub's users, for the tests, the bench and trying the hub on one PC.

`LocalHub(folder, firms, nodes=3).start()` writes the configs with `natsconf`, starts the
servers and waits until JetStream has a leader; `kill(i)` ends a node with SIGKILL and
`restart(i)` brings it back on the same ports and storage.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from .natsconf import ADMIN_USER, INGEST_USER, Credentials, Node, accounts_conf, new_credentials, node_conf

NATS_SERVER = os.environ.get("FC_NATS_SERVER") or shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > end:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)


class LocalHub:
    """nats-server processes in `folder` (configs, JetStream storage, logs)."""

    def __init__(self, folder: str | Path, firms: list[str], nodes: int = 1, leaf: bool = False) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        ports = free_ports(4 * nodes)
        self.nodes = [
            Node(
                name=f"n{i + 1}",
                host="127.0.0.1",
                client_port=ports[4 * i],
                cluster_port=ports[4 * i + 1],
                monitor_port=ports[4 * i + 2],
                leaf_port=ports[4 * i + 3] if leaf else None,
            )
            for i in range(nodes)
        ]
        self.servers = tuple(f"nats://127.0.0.1:{n.client_port}" for n in self.nodes)
        self.users = {c.user: c for c in new_credentials(firms, self.servers)}
        (self.folder / "accounts.conf").write_text(accounts_conf(list(self.users.values()), bcrypt_rounds=4))
        self.procs: list[subprocess.Popen | None] = [None] * nodes
        for n in self.nodes:
            conf = node_conf(n, self.nodes if nodes > 1 else [], str(self.folder / "js" / n.name))
            (self.folder / f"{n.name}.conf").write_text(conf)

    def credentials(self, user: str) -> Credentials:
        return self.users[user]

    @property
    def admin(self) -> Credentials:
        return self.users[ADMIN_USER]

    @property
    def ingest(self) -> Credentials:
        return self.users[INGEST_USER]

    def firm(self, firm: str) -> Credentials:
        return self.users[f"firm_{firm}"]

    def start(self, timeout: float = 20.0) -> LocalHub:
        for i in range(len(self.nodes)):
            self._spawn(i)
        for i in range(len(self.nodes)):
            self._wait_up(i, timeout)
        self.wait_ready(timeout)
        return self

    def _spawn(self, i: int) -> None:
        n = self.nodes[i]
        log = open(self.folder / f"{n.name}.log", "ab")  # noqa: SIM115 - the process keeps it
        self.procs[i] = subprocess.Popen(
            [NATS_SERVER, "-c", str(self.folder / f"{n.name}.conf")], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def _wait_up(self, i: int, timeout: float) -> None:
        """Until node `i` listens; RuntimeError with the end of its log if it exits."""
        n, end = self.nodes[i], time.monotonic() + timeout
        while True:
            p = self.procs[i]
            if p is not None and p.poll() is not None:
                log = (self.folder / f"{n.name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"nats-server {n.name} exited with {p.returncode}: {log}")
            try:
                wait_port(n.host, n.client_port, 0.2)
                return
            except TimeoutError:
                if time.monotonic() > end:
                    raise

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until every running node answers /healthz?js-enabled-only... and the meta leader is known."""
        end = time.monotonic() + timeout
        for i, n in enumerate(self.nodes):
            if self.procs[i] is None:
                continue
            while True:
                try:
                    url = f"http://{n.host}:{n.monitor_port}/healthz"
                    with urllib.request.urlopen(url, timeout=1) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > end:
                    raise TimeoutError(f"nats-server {n.name} not healthy after {timeout:.0f} s")
                time.sleep(0.1)

    def kill(self, i: int) -> None:
        """End node `i` at once (SIGKILL), as a crash or a pulled cable would."""
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
        self.procs[i] = None

    def restart(self, i: int, timeout: float = 20.0) -> None:
        self._spawn(i)
        self._wait_up(i, timeout)

    def stop(self) -> None:
        for i, p in enumerate(self.procs):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            self.procs[i] = None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
