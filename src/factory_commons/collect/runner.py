"""Runs a plant configuration: every connector and the forwarder in their own threads.

`Collector(config)` opens the durable buffer, builds one connector per enabled source,
starts them and the forwarder, and writes the health of each to a JSON file every second
(atomically), where the CLI's status line and the server read it: one entry per source in
`sources`, each with what `Health.to_dict()` holds, including the connector's own `details`
(a Modbus gateway's units: unit id -> state, reason, since). `stop()` stops the
connectors first, then lets the forwarder drain what the store can still take; whatever it
cannot stays in the buffer for the next start.

One collector per plant configuration: `Collector` holds an exclusive lock on
`<buffer>.lock` (with its pid inside) while it runs, so a second `factory-commons collect` on
the same plant.toml stops at once with `AlreadyRunning` instead of fighting over the MQTT
client id and the buffer.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..i18n import Catalog
from .buffer import Buffer
from .config import PlantConfig
from .connector import Connector, Health
from .forwarder import Forwarder
from .stale import StaleWatch

EDGE = Catalog("collect_edge")


class AlreadyRunning(RuntimeError):
    """Another collector holds this plant configuration's lock."""


class InstanceLock:
    """An exclusive, non-blocking lock on a file, held until `release()` or the process ends."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            pid = f.read().strip() or "?"
            f.close()
            raise AlreadyRunning(
                " / ".join(t.format(pid=pid, lock=self.path) for t in EDGE.pair("already_running"))
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops the lock
            self._file = None


def build_connector(kind: str, source: Any, buffer: Buffer) -> Connector:
    """The connector for one validated source table of the plant configuration."""
    if kind == "mqtt":
        from .mqtt import MqttConnector

        return MqttConnector.from_source(source, buffer)
    if kind == "sparkplug":
        from .sparkplug.connector import SparkplugConnector

        return SparkplugConnector.from_source(source, buffer)
    if kind == "opcua":
        from .opcua import OpcUaConnector

        return OpcUaConnector.from_source(source, buffer)
    if kind == "modbus":
        from .modbus import ModbusConnector

        return ModbusConnector.from_source(source, buffer)
    raise ValueError(f"unknown source kind {kind!r}")


def _default_open_store(path: str):
    from ..store import open_store

    return lambda: open_store(path)


class Collector:
    """Connectors + forwarder + health file for one plant configuration."""

    def __init__(
        self,
        config: PlantConfig,
        open_store: Callable[[], Any] | None = None,
        connectors: list[Callable[[Buffer], Connector]] | None = None,
    ) -> None:
        """`connectors` (factories taking the buffer) replaces the configured sources, for tests and embedding."""
        self.config = config
        self.lock = InstanceLock(f"{config.buffer}.lock") if config.buffer != ":memory:" else None
        if self.lock is not None:
            self.lock.acquire()
        try:
            self.buffer = Buffer(config.buffer, synchronous=config.collector.buffer_synchronous)
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise
        self.forwarder = Forwarder(
            self.buffer,
            open_store or _default_open_store(config.store),
            late_after_s=config.collector.late_after_s,
            store_memory_mb=config.collector.store_memory_mb,
        )
        try:
            if connectors is None:
                self.connectors = []
                for kind, source in config.sources:
                    connector = build_connector(kind, source, self.buffer)
                    connector.stale_after_s = source.stale_after_s
                    self.connectors.append(connector)
            else:
                self.connectors = [make(self.buffer) for make in connectors]
        except BaseException:
            self.buffer.close()
            if self.lock is not None:
                self.lock.release()
            raise
        self._stop_connectors = threading.Event()
        self._stop_forwarder = threading.Event()
        self._threads: list[threading.Thread] = []
        self._health_thread: threading.Thread | None = None
        self.started_at = time.time()
        self.final: dict | None = None

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        for c in self.connectors:
            t = threading.Thread(
                target=c.run, args=(self._stop_connectors,), name=f"collect-{c.name}", daemon=True
            )
            t.start()
            self._threads.append(t)
        ft = threading.Thread(
            target=self.forwarder.run, args=(self._stop_forwarder,), name="forwarder", daemon=True
        )
        ft.start()
        self._forwarder_thread = ft
        self._health_thread = threading.Thread(target=self._write_health_loop, name="health", daemon=True)
        self._health_thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop_connectors.set()
        for t in self._threads:
            t.join(timeout)
        self._stop_forwarder.set()
        self._forwarder_thread.join(timeout)
        self.write_health()
        self.final = self.snapshot()
        self.buffer.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- health ------------------------------------------------------------------------------
    def healths(self) -> list[Health]:
        return [c.health for c in self.connectors] + [self.forwarder.health]

    def snapshot(self) -> dict:
        return {
            "written_at": time.time(),
            "pid": os.getpid(),
            "config": self.config.path,
            "store": self.config.store,
            "buffer": self.config.buffer,
            "pending_rows": self.buffer.pending_rows(),
            "rejected": self.buffer.rejected_count(),
            "written": self.forwarder.written,
            "duplicates": self.forwarder.duplicates,
            "sources": [h.to_dict() for h in self.healths()],
        }

    def write_health(self) -> None:
        path = Path(self.config.health_file)
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self.snapshot(), ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(path)
        except Exception:  # noqa: BLE001 - health reporting must never stop collection
            pass

    def _write_health_loop(self) -> None:
        watch = StaleWatch(self.connectors)
        while not self._stop_forwarder.wait(1.0):
            try:
                watch.check()
            except Exception:  # noqa: BLE001 - an alert that cannot be written must not stop health
                pass
            self.write_health()


def read_health(path: str | Path) -> dict | None:
    """The last health snapshot a collector wrote (None if there is none).

    Every source has `details` (the connector's own, e.g. `details["units"]` of a Modbus
    source), `{}` when it has none or the file was written before sources had details."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        snapshot = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError):
        return None
    for source in snapshot.get("sources", []) if isinstance(snapshot, dict) else []:
        if isinstance(source, dict):
            source.setdefault("details", {})
    return snapshot
