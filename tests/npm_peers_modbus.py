"""Modbus TCP peers for the interop tests: an independent npm server and pymodbus' own.

`install_npm_peer()` installs the npm package `modbus-serial` (pinned by
tests/peers/modbus/package-lock.json) once into a cache folder,
`~/.cache/factory-commons/npm/modbus-<hash of the lock file>` (or `$FC_NPM_CACHE/...`), with
`npm ci --no-audit --no-fund --ignore-scripts` (the serial-port bindings it would build are
not needed for TCP). `NpmModbusPeer` runs tests/peers/modbus/server.js on a spare loopback
port; `PymodbusPeer` serves the same machine program from pymodbus' server in a thread. Both
write the same JSON-lines log ("start", "listening", every "step" with the values served, every
"read"), from which `interop_counts` counts what was produced against what was stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop_thread import start_loop_thread
from npm_peers import install

PEER_DIR = Path(__file__).resolve().parent / "peers" / "modbus"
STATES = {1: "running", 2: "idle", 3: "setup"}  # the program's state codes
WRAP = 2**32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_npm_peer() -> Path:
    """The `node_modules` folder with modbus-serial, installed once per package-lock (its
    serial-port bindings are not built: TCP needs none)."""
    return install(PEER_DIR, "modbus", ("--ignore-scripts",)) / "node_modules"


# -- the machine program both peers serve (see server.js) -----------------------------------------
def program(unit: int, k: int) -> dict[str, Any]:
    made = sum(1 + ((i + unit) % 3) for i in range(1, k + 1))
    base = WRAP - 10 if unit % 2 == 0 else 0
    return {
        "state": [1, 2, 3][(k + unit) % 3],
        "made": made,
        "total": (base + made) % WRAP,
        "signal": unit * 10 + k * 0.5,
        "alarm": k % 4 >= 2,
    }


def registers(unit: int, k: int) -> list[int]:
    """Holding registers 0..4 of `unit` at step `k`: state, uint32 total, float32 signal."""
    v, low = program(unit, k), unit % 2 == 0

    def words(raw: bytes) -> list[int]:
        hi, lo = struct.unpack(">HH", raw)
        return [lo, hi] if low else [hi, lo]

    return [v["state"], *words(struct.pack(">I", v["total"])), *words(struct.pack(">f", v["signal"]))]


@dataclass
class PeerSettings:
    """What a peer serves: answering and silent units, and the program's clock."""

    port: int
    log: Path
    units: tuple[int, ...] = (1, 2)
    silent: tuple[int, ...] = (3,)
    origin_ms: int = field(default_factory=lambda: int(time.time() * 1000) + 1500)
    step_ms: int = 400
    steps: int = 20

    def step_now(self) -> int:
        return max(0, min(self.steps, int((time.time() * 1000 - self.origin_ms) // self.step_ms)))


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_listening(path: Path, since: int, timeout: float, alive) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(e["ev"] == "listening" and e["t"] >= since for e in read_log(path)):
            return
        if not alive():
            break
        time.sleep(0.02)
    raise RuntimeError(f"the Modbus peer did not start listening; log: {read_log(path)[-5:]}")


class NpmModbusPeer:
    """tests/peers/modbus/server.js (modbus-serial's ServerTCP) in a node process."""

    stack = "modbus-serial"

    def __init__(self, settings: PeerSettings, node_modules: Path) -> None:
        self.settings, self.node_modules = settings, node_modules
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        s = self.settings
        args = {
            "port": s.port,
            "units": list(s.units),
            "silent": list(s.silent),
            "origin_ms": s.origin_ms,
            "step_ms": s.step_ms,
            "steps": s.steps,
            "log": str(s.log),
        }
        since = int(time.time() * 1000) - 5
        env = {**os.environ, "NODE_PATH": str(self.node_modules)}
        self.proc = subprocess.Popen(
            ["node", str(PEER_DIR / "server.js"), json.dumps(args)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_listening(s.log, since, 15, lambda: self.proc.poll() is None)

    def kill(self) -> None:
        """Like a device that loses power: SIGKILL, no goodbye on the connections."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


class PymodbusPeer:
    """The same program from pymodbus' TCP server in a thread (an unknown unit gets exception 4)."""

    stack = "pymodbus"

    def __init__(self, settings: PeerSettings) -> None:
        self.settings = settings
        self._regs: dict[int, list[int]] = {}
        self._coils: dict[int, bool] = {}
        self._step: dict[int, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._running = threading.Event()

    def _log(self, **event: Any) -> None:
        line = json.dumps({"t": int(time.time() * 1000), **event}) + "\n"
        with self._lock, self.settings.log.open("a") as f:
            f.write(line)

    def _advance(self) -> None:
        k = self.settings.step_now()
        for unit in self.settings.units:
            if self._step.get(unit) == k:
                continue
            self._regs[unit], self._coils[unit] = registers(unit, k), program(unit, k)["alarm"]
            self._step[unit] = k
            self._log(ev="step", unit=unit, k=k, **program(unit, k))

    def _action_for(self, unit: int):
        async def action(fc, start, address, count, current, set_values):
            self._advance()
            self._log(ev="read", unit=unit, fc=fc, addr=address, n=count)
            if fc == 3:
                for a, v in enumerate(self._regs[unit]):
                    if 0 <= a - start < len(current):
                        current[a - start] = v
            elif fc == 1 and 0 <= -start < 16 * len(current):
                reg, bit = divmod(-start, 16)
                on = self._coils[unit]
                current[reg] = (current[reg] | (1 << bit)) if on else (current[reg] & ~(1 << bit))
            return None

        return action

    def start(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        self._log(ev="start")
        self._advance()

        async def main(ready: threading.Event) -> None:
            devices = []
            for unit in self.settings.units:
                bits = [SimData(0, count=64, values=False, datatype=DataType.BITS)]
                regs = [SimData(0, count=64, values=0, datatype=DataType.REGISTERS)]
                simdata = (bits, list(bits), regs, list(regs))
                devices.append(SimDevice(id=unit, simdata=simdata, action=self._action_for(unit)))
            server = ModbusTcpServer(devices, address=("127.0.0.1", self.settings.port))
            self.loop, self.server = asyncio.get_running_loop(), server
            await server.serve_forever(background=True)
            ready.set()
            await server.serving

        self._thread = start_loop_thread(main, "the pymodbus peer", timeout=10)
        self._running.set()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()
        self._log(ev="listening", port=self.settings.port)

    def _tick(self) -> None:
        while self._running.is_set():
            self._advance()
            time.sleep(0.005)

    def kill(self) -> None:
        self._running.clear()
        if self._ticker:
            self._ticker.join(2)
        if self._thread and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.shutdown(), self.loop).result(5)
            self._thread.join(5)
        self._step.clear()  # a restarted server logs the step it starts at

    stop = kill


# -- counting -----------------------------------------------------------------------------------
def interop_counts(
    log: list[dict],
    stored: dict[int, list[tuple[float, str]]],
    gaps: dict[int, list[tuple[float, float]]],
    tol: float = 0.2,
) -> dict[str, int]:
    """Produced state changes (from the peer's log) against stored state rows, per unit.

    A change is a step whose state differs from the step before, or the first step a
    (re)started peer serves: the collector must record the state again after a gap.

    `stored`: unit -> [(epoch s, state)] rows in the store; `gaps`: unit -> [(start, end)] gap
    events of that unit's machine. A produced change is stored once, duplicated (more than one
    row for it), lost inside a recorded gap, or lost unrecorded; a stored row that matches no
    produced change is `extra`. FC_DEBUG_COUNTS=1 prints each change lost unrecorded.
    """
    counts = dict(produced=0, stored_once=0, duplicated=0, lost_in_gap=0, lost_unrecorded=0, extra=0)
    # s: one clock, but the collector stamps a poll when it sends the request and the peer logs a
    # step when a read reaches it; on a loaded machine that is 100 ms and more (a row stamped before
    # its change was logged matched the change before: 'duplicated' and 'lost' at once). Changes
    # to the same state are two steps (800 ms at 400 ms a step) apart, so a `tol` under half of
    # that cannot match the wrong one.
    for unit, rows in stored.items():
        changes: list[tuple[float, str]] = []
        fresh = True  # the first state a (re)started peer serves is produced anew
        for e in log:
            if e["ev"] == "start":
                fresh = True
            elif e["ev"] == "step" and e["unit"] == unit:
                state = STATES[e["state"]]
                if fresh or changes[-1][1] != state:
                    changes.append((e["t"] / 1000, state))
                fresh = False
        matched = [0] * len(changes)
        for ts, state in rows:
            candidates = [i for i, (t, s) in enumerate(changes) if s == state and t <= ts + tol]
            if candidates:
                matched[candidates[-1]] += 1
            else:
                counts["extra"] += 1
        counts["produced"] += len(changes)
        for i, n in enumerate(matched):
            if n == 1:
                counts["stored_once"] += 1
            elif n > 1:
                counts["duplicated"] += 1
            else:
                start = changes[i][0]
                end = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
                covered = any(g0 <= start + tol and end <= g1 + tol for g0, g1 in gaps.get(unit, []))
                counts["lost_in_gap" if covered else "lost_unrecorded"] += 1
                if not covered and os.environ.get("FC_DEBUG_COUNTS"):
                    print("lost", unit, changes[i], end, gaps.get(unit), rows)
    return counts
