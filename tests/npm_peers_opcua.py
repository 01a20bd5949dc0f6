"""node-opcua, an OPC UA server from the npm registry, as an independent peer for the tests.

The OPC UA tests otherwise start servers built from asyncua, the library the collector uses
as a client, so a shared misreading of the protocol could not show. `node_opcua_dir()`
installs `tests/peers/opcua` (package.json and package-lock.json: node-opcua 2.182.2) once
with `npm_peers.install` and returns that folder (skipped, or failed under FC_REQUIRE_NPM=1,
without node or npm). `NodeOpcUaPeer` starts
`tests/peers/opcua/server.js` on a spare loopback port and reads its log: every value the
server produced, with the source timestamp it gave, so a test can count produced against
stored.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from npm_peers import install

PEER = Path(__file__).parent / "peers" / "opcua"
INSTALL_TIMEOUT_S = 600


@dataclass(frozen=True)
class Produced:
    """One value the peer set, as it logged it."""

    node: str  # Temp, State, PartCount, Alarm, Status
    value: object
    ts: datetime  # the source timestamp it gave the value (UTC, millisecond precision)


def node_opcua_dir() -> Path:
    """The folder with node_modules/node-opcua installed from the lock file (installed once)."""
    return install(PEER, "opcua")


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeOpcUaPeer:
    """`node server.js` on a loopback port; `produced` is what it logged, in order."""

    def __init__(self, install: Path, pki: Path, port: int | None = None, fast_ms: int = 25) -> None:
        self.install, self.pki = install, pki
        self.port = port or spare_port()
        self.fast_ms = fast_ms
        self.url = f"opc.tcp://127.0.0.1:{self.port}/fc"
        self.produced: list[Produced] = []
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.stderr = ""

    def start(
        self, alarm: bool = True, user: str | None = None, password: str | None = None, secure: bool = False
    ) -> None:
        args = ["node", str(PEER / "server.js"), "--port", str(self.port), "--fast-ms", str(self.fast_ms)]
        args += ["--pki", str(self.pki)]
        if secure:  # only Basic256Sha256 SignAndEncrypt
            args.append("--secure")
        if not alarm:
            args.append("--no-alarm")
        if user:
            args += ["--user", user, "--password", password or ""]
        env = dict(os.environ, NODE_PATH=str(self.install / "node_modules"))
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
        )
        ready = threading.Event()
        threading.Thread(target=self._read, args=(self.proc, ready), daemon=True).start()
        if not ready.wait(60):
            self.stop()
            raise RuntimeError(f"node-opcua peer did not start on port {self.port}: {self.stderr[-2000:]}")

    def _read(self, proc: subprocess.Popen, ready: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if "ready" in rec:
                ready.set()
                continue
            ts = datetime.fromisoformat(rec["ts"].replace("Z", "+00:00"))
            with self._lock:
                self.produced.append(Produced(rec["node"], rec["value"], ts))
        if proc.stderr is not None:
            with contextlib.suppress(ValueError, OSError):
                self.stderr += proc.stderr.read()
        ready.set()

    def values(self, node: str) -> list[Produced]:
        with self._lock:
            return [p for p in self.produced if p.node == node]

    def stop(self, kill: bool = False) -> None:
        """SIGKILL (a crashed PLC: nothing more is sent) or SIGTERM (a clean shutdown)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
