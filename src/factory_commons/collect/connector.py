"""The one connector interface: connect, collect into the buffer, heal, report health.

Every connector (MQTT, Sparkplug B, OPC UA, Modbus TCP) is a `Connector`: `run(stop)` runs
in its own thread until `stop` is set, and never gives up. It connects, subscribes or polls,
and hands rows to the durable `Buffer` (never to the store directly), so that a store or
broker outage loses nothing. When a link fails it reports `retrying` with the reason and
tries again (`Backoff`), resubscribing from scratch: the wait between tries grows
exponentially with jitter but never beyond `probe_max` (2 s), so a device that comes back is
noticed within seconds however long it was away, while the log line about the failure is
repeated only on the exponential schedule (0.5 s, 1 s, 2 s, ... 30 s). A
`ConfigurationProblem` (a wrong node id, a refused password) is not retried: the health turns
`failed` with the reason.
`Health` is what the CLI's status line and the server read: state, reason, points,
errors and the age of the last value, and `details`: what a connector adds about its own
parts (a Modbus gateway's units), written into the health file with the rest.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .faults import clean_reason, describe_failure
from .mapping import PointConverter, PointMapping, ValueRejected

if TYPE_CHECKING:
    from .buffer import Buffer

log = logging.getLogger(__name__)


class HealthState(StrEnum):
    """A connector's health; the display names are in the `states` catalog (`i18n.display`)."""

    STARTING = "starting"
    CONNECTED = "connected"
    RETRYING = "retrying"
    STALE = "stale"  # connected, but the source said its data is no longer current (death, no updates)
    FAILED = "failed"  # a configuration problem that retrying cannot fix
    STOPPED = "stopped"


@dataclass
class Health:
    """A connector's current condition, safe to read from another thread."""

    source: str
    kind: str
    state: HealthState = HealthState.STARTING
    reason: str = ""
    since: float = field(default_factory=time.time)
    points: int = 0
    errors: int = 0
    last_value_at: float | None = None  # wall-clock time a value last arrived
    last_error: str = ""
    reconnects: int = 0
    #: connector-specific, JSON-able (Modbus: {"units": {"3": {"state": "silent", ...}}}); the
    #: connector replaces the dict under its lock, never changes it in place (it is read from
    #: the thread that writes the health file)
    details: dict[str, Any] = field(default_factory=dict)

    def age_s(self, now: float | None = None) -> float | None:
        if self.last_value_at is None:
            return None
        return (now or time.time()) - self.last_value_at

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        d["last_value_age_s"] = self.age_s()
        return d


class Backoff:
    """When to try a failed link again, and when to say so again.

    `next_delay()` is an exponential backoff with full jitter (0.5 s, 1 s, 2 s, ... capped at
    `maximum`), but never longer than `probe_max`: trying a closed port costs nothing, and a
    plant engineer who restarts a PLC expects the collector back within seconds, not after the
    backoff has grown to half a minute. `report_due()` keeps the exponential schedule for what
    is logged (at INFO, on the `factory_commons.collect.connector` logger), so a device that is
    away for an hour does not fill the log.

    `reset()` says the link works again. The schedule starts over only if the link then stays
    up for `stable_s`: a broker that accepts the connection and drops it at once (a full disk
    on its side, a refused subscription, a second collector with our client id) keeps the
    grown backoff instead of reconnecting hundreds of times a minute.
    """

    def __init__(
        self,
        initial: float = 0.5,
        maximum: float = 30.0,
        factor: float = 2.0,
        probe_max: float | None = 2.0,
        clock: Callable[[], float] = time.monotonic,
        stable_s: float = 10.0,
    ) -> None:
        self.initial, self.maximum, self.factor, self.probe_max = initial, maximum, factor, probe_max
        self.clock = clock
        self.stable_s = stable_s
        self.attempt = 0
        self._reports = 0
        self._report_at: float | None = None
        self._up_since: float | None = None
        #: the link came up and failed again within `stable_s` (the last time it came up)
        self.flapping = False

    def reset(self) -> None:
        """The link works (again); the schedule starts over once it has stayed up for `stable_s`."""
        if self._up_since is None:
            self._up_since = self.clock()

    def _failed(self) -> None:
        """Called on the next failure: start over only after a stable stretch."""
        if self._up_since is None:
            self.flapping = False  # it did not come up (a closed port): probe often
            return
        self.flapping = self.clock() - self._up_since < self.stable_s
        if not self.flapping:
            self.attempt = 0
            self._reports = 0
            self._report_at = None
        self._up_since = None

    def _exponential(self, n: int) -> float:
        return min(self.maximum, self.initial * self.factor**n)

    def next_delay(self) -> float:
        self._failed()
        cap = self._exponential(self.attempt)
        # a closed port is probed often (cheap, and noticed quickly when it opens); a link that
        # was up and failed again at once waits the whole exponential delay
        if self.probe_max is not None and not self.flapping:
            cap = min(cap, self.probe_max)
        self.attempt += 1
        return random.uniform(cap / 2, cap)

    def report_due(self) -> bool:
        """True for the first failure and then after 0.5 s, 1 s, 2 s, ... (capped at `maximum`)."""
        now = self.clock()
        if self._report_at is not None and now < self._report_at:
            return False
        self._report_at = now + self._exponential(self._reports)
        self._reports += 1
        return True

    def wait(self, stop: threading.Event) -> bool:
        """Sleep for the next delay; return True if `stop` was set meanwhile."""
        return stop.wait(self.next_delay())


class Connector(ABC):
    """Base class: subclasses implement `collect_once`; `run` keeps it alive for ever."""

    kind: str = "connector"
    #: record a `stale` alert after this many seconds without a value (collect/stale.py); None = never
    stale_after_s: float | None = None

    def __init__(self, name: str, buffer: Buffer, points: dict[str, PointMapping] | None = None) -> None:
        self.name = name
        self.buffer = buffer
        self.health = Health(source=name, kind=self.kind)
        self.backoff = Backoff()
        self._lock = threading.Lock()
        self.points = points or {}
        saved = buffer.get_state(f"converters:{name}") or {}
        self.converters = {key: PointConverter(m, saved.get(key)) for key, m in self.points.items()}

    # -- health --------------------------------------------------------------------------
    def set_health(self, state: HealthState, reason: str = "") -> None:
        reason = clean_reason(reason)
        with self._lock:
            if state != self.health.state or reason != self.health.reason:
                self.health.state, self.health.reason, self.health.since = state, reason, time.time()
            if state == HealthState.RETRYING:
                self.health.last_error = reason

    def count_error(self, reason: str) -> None:
        reason = clean_reason(reason)
        with self._lock:
            self.health.errors += 1
            self.health.last_error = reason

    # -- output --------------------------------------------------------------------------
    def convert(self, key: str, raw: Any, ts: datetime) -> tuple[str, dict] | None:
        """Apply the mapping configured under `key`; a bad value is counted and recorded, not raised."""
        conv = self.converters[key]
        try:
            return conv.convert(raw, ts)
        except ValueRejected as e:
            self.count_error(str(e))
            self.buffer.reject(self.name, conv.mapping.kind, {"key": key, "raw": repr(raw)}, str(e))
            return None

    def emit(self, rows: list[tuple[str, dict]], late: bool = False) -> None:
        """Hand converted rows to the durable buffer (grouped by kind) and count them."""
        if not rows:
            return
        by_kind: dict[str, list[dict]] = {}
        for kind, row in rows:
            by_kind.setdefault(kind, []).append(row)
        states = {k: c.state_dict() for k, c in self.converters.items() if c.last is not None}
        state = {f"converters:{self.name}": states, **self.durable_state()}
        self.buffer.put_many(self.name, by_kind, late=late, state=state)
        with self._lock:
            self.health.points += len(rows)
            self.health.last_value_at = time.time()

    def durable_state(self) -> dict[str, Any]:
        """State to commit in the same transaction as the rows (Sparkplug: sequence numbers)."""
        return {}

    def set_detail(self, key: str, value: Any) -> None:
        """Set (or with None remove) one entry of `health.details`; the dict is replaced, not changed."""
        with self._lock:
            details = dict(self.health.details)
            if value is None:
                details.pop(key, None)
            else:
                details[key] = value
            self.health.details = details

    # -- life cycle ----------------------------------------------------------------------
    @abstractmethod
    def collect_once(self, stop: threading.Event) -> None:
        """Connect and collect until the link fails (raise) or `stop` is set (return)."""

    def run(self, stop: threading.Event) -> None:
        """Collect until `stop` is set, reconnecting with backoff after every failure."""
        while not stop.is_set():
            try:
                self.collect_once(stop)
            except ConfigurationProblem as e:
                self.set_health(HealthState.FAILED, str(e))
                log.info("%s %s: failed, not retried: %s", self.kind, self.name, e)
                return
            except Exception as e:  # noqa: BLE001 - any link failure is retried
                reason = describe_failure(e)
                self.set_health(HealthState.RETRYING, reason)
                with self._lock:
                    self.health.reconnects += 1
                    tries = self.health.reconnects
                if self.backoff.report_due():
                    log.info("%s %s: retrying (try %d): %s", self.kind, self.name, tries, reason)
                if self.backoff.wait(stop):
                    break
        self.set_health(HealthState.STOPPED)


class ConfigurationProblem(Exception):
    """Raised by a connector for a problem that retrying cannot fix (bad node id, wrong type,
    a refused user name or password)."""
