"""Gaps that cannot be recovered, recorded instead of filled in silently.

OPC UA subscriptions and Modbus polls read current values: what a machine did while the link
was down is lost. `GapTracker` remembers, per machine, the last moment its values were known
(the last value, or the last time the link was seen alive), and when the link comes back
records a `gap` event with that moment as start and the first value afterwards as end.
The last-known moments are kept in the buffer's durable state, so a collector that was
stopped or killed and started again records the time it was not running as a gap too.

`lost()` opens a gap for every machine of the source (the link failed); `lost_some()` for some
machines only (a Modbus unit behind a gateway went silent while the others answer); `watch()`
makes machines known from the connector's start, so a link that never came up records its
outage as a gap too.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ..i18n import Catalog
from .buffer import Buffer, from_micros, to_micros

COLLECT = Catalog("collect")


class GapTracker:
    """Per-machine "last known" times for one source, and the gap events they imply."""

    def __init__(self, buffer: Buffer, source: str, persist_every_s: float = 1.0) -> None:
        self.buffer = buffer
        self.source = source
        self.key = f"gaps:{source}"
        self.persist_every_s = persist_every_s
        self._known: dict[str, datetime] = {}  # machine -> last moment its values were known
        self._open: dict[str, tuple[datetime, str]] = {}  # machine -> (gap start, why)
        self._saved_at = 0.0
        self._dirty = False
        saved = buffer.get_state(self.key) or {}
        for machine, us in saved.items():
            start = from_micros(int(us))
            self._known[machine] = start
            self._open[machine] = (start, " / ".join(COLLECT.pair("gap_not_running")[::-1]))  # English first

    @property
    def open_gaps(self) -> dict[str, datetime]:
        """Machines whose gap is still open (the link is down or no value has arrived since)."""
        return {m: start for m, (start, _) in self._open.items()}

    def alive(self, at: datetime | None = None) -> None:
        """The link was seen working at `at`: values of every machine with no open gap are still known."""
        at = at or datetime.now(UTC)
        for machine, known in self._known.items():
            if machine not in self._open and at > known:
                self._known[machine] = at
        self._dirty = True
        self._maybe_persist()

    def seen(self, machine: str, ts: datetime) -> None:
        """A value of `machine` timed `ts` arrived; closes the machine's open gap, if any."""
        now = datetime.now(UTC)
        opened = self._open.pop(machine, None)
        if opened is not None:
            start, why = opened
            end = (
                ts if ts > start else now
            )  # an unchanged value re-sent after reconnecting keeps its old time
            if end > start:
                self.buffer.log_event(
                    self.source,
                    "gap",
                    machine=machine,
                    start=start,
                    end=end,
                    detail=COLLECT.both("gap_not_recoverable", " / ").format(why=why),
                )
        known = self._known.get(machine)
        latest = max(ts, now) if opened is not None else ts
        if known is None or latest > known:
            self._known[machine] = latest
        self._dirty = True
        self._maybe_persist()

    def lost(self, why: str) -> None:
        """The link failed: every machine whose values were known gets an open gap from then."""
        for machine, known in self._known.items():
            self._open.setdefault(machine, (known, why))
        self.persist()

    def watch(self, machines: set[str], at: datetime | None = None) -> None:
        """Watch `machines` from `at` (default now) before any of their values arrived.

        A machine not known yet counts as known from `at` (a connector's start), so a link
        that fails before its first value, or never comes up, still records the time since
        then as a gap. Machines already known (also from the durable state of an earlier run)
        keep their time. Saved with the next persist, not at once.
        """
        at = at or datetime.now(UTC)
        for machine in machines:
            self._known.setdefault(machine, at)
        self._dirty = True

    def lost_some(self, machines: set[str], why: str) -> None:
        """Only `machines` lost their values (e.g. the Modbus unit behind a gateway that serves
        them went silent) while the link and the other machines work: open their gaps from the
        last moment each was known, with `why` as the reason.

        Machines not known yet or already in a gap are left as they are; the state is saved
        at once if a gap was opened. `seen()` closes each gap as usual.
        """
        opened = False
        for machine in machines:
            if machine in self._known and machine not in self._open:
                self._open[machine] = (self._known[machine], why)
                opened = True
        if opened:
            self.persist()

    def persist(self) -> None:
        """Save the last-known times now (also called on a clean stop)."""
        self.buffer.set_state(self.key, {m: to_micros(t) for m, t in self._known.items()})
        self._saved_at = time.monotonic()
        self._dirty = False

    def _maybe_persist(self) -> None:
        if self._dirty and time.monotonic() - self._saved_at >= self.persist_every_s:
            self.persist()
