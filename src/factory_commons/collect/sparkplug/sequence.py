"""Sparkplug B sequence numbers of one edge node: what arrived, what is missing, what is lost.

An edge node numbers every NBIRTH, DBIRTH, NDATA, DDATA (and DDEATH) 0..255, wrapping. A
host that sees a number skipped has lost data, but real edge nodes publish a node's and its
devices' messages on separate MQTT connections, so the broker may deliver them a little out
of order (a DBIRTH before its NBIRTH, a DDATA before the NDATA published just ahead of it).
`SeqTracker` therefore keeps numbers "unwrapped" (0, 1, ... 255, 256, ...) and a skipped one
only as *missing* at first; it becomes *lost* when it has not arrived within `window`
messages or `window_s` seconds. Lost numbers are reported as one gap: from the data time of
the last message before them to the data time of the first after them.

A message that looks older than the last one but carries a later data time than anything
seen is not a duplicate: the numbers went round (more than 128 messages lost, e.g. while the
host was down and the broker dropped QoS 0 messages) and a gap is reported at once.

`state()` / `restore()` carry the last number and data time across a restart of the host, so
the first message after it is checked against the last one before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LostRun:
    """Messages that did not arrive: how many, their sequence numbers, the data times around them (ms)."""

    count: int | None  # None: more than 128, the numbers went round
    first_seq: int | None
    last_seq: int | None
    start_ms: int | None
    end_ms: int | None


class SeqTracker:
    """Missing and lost sequence numbers of one edge node; see the module docstring."""

    def __init__(
        self, window: int = 64, window_s: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window, self.window_s, self.clock = window, window_s, clock
        self.useq: int | None = None  # highest unwrapped number seen
        self.last_ms: int | None = None  # data time (ms) of the highest number seen
        self.missing: dict[int, tuple[float, int | None, int | None]] = {}  # useq -> (noticed, start, end)
        self.recent: list[tuple[int, float, int]] = []  # (raw seq, arrival, data ms) of the last few
        self.old_missing: dict[int, tuple[float, int | None, int | None]] = {}  # raw seq, before the birth
        self.epoch_ms: int | None = None  # data time of the last birth

    # -- durable state ----------------------------------------------------------------------
    def state(self) -> dict:
        """The last number and data time, and what is still missing (so a restart forgets no loss)."""
        if self.useq is None:
            return {"seq": None, "last_ms": self.last_ms}
        return {
            "seq": self.useq % 256,
            "last_ms": self.last_ms,
            "missing": [[self.useq - u, start, end] for u, (_, start, end) in self.missing.items()],
            "old_missing": [[s, start, end] for s, (_, start, end) in self.old_missing.items()],
            "epoch_ms": self.epoch_ms,
        }

    def restore(self, saved: dict | None) -> None:
        """Continue from `state()`; numbers missing then get `window_s` from now to arrive."""
        if saved and saved.get("seq") is not None:
            self.useq = int(saved["seq"]) + 256  # room below for what is still missing
            self.last_ms = saved.get("last_ms")
            self.epoch_ms = saved.get("epoch_ms")
            now = self.clock()
            for back, start, end in saved.get("missing") or []:
                self.missing[self.useq - int(back)] = (now, start, end)
            for seq, start, end in saved.get("old_missing") or []:
                self.old_missing[int(seq)] = (now, start, end)

    @property
    def seq(self) -> int | None:
        return None if self.useq is None else self.useq % 256

    # -- messages -----------------------------------------------------------------------------
    def birth(self, seq: int, data_ms: int) -> list[LostRun]:
        """An NBIRTH: numbers start again. Returns what is lost for certain.

        Messages that arrived before the birth but were sent after it (their data time is not
        older than the birth's: a DBIRTH or DDATA on another connection, delivered ahead) are
        counted again in the new numbering, and the numbers they made look missing are
        forgiven. Numbers still missing from before the birth stay missing for `window_s` (a
        message of the old numbering may still arrive, recognised by its older data time);
        those of an even older numbering are lost now."""
        runs = self._runs(list(self.old_missing), self.old_missing)
        ahead = sorted(
            {(s, ms) for s, _, ms in self.recent if ms >= data_ms and s != seq},
            key=lambda item: (item[0] - seq) % 256,
        )
        self.old_missing = {
            u % 256: entry for u, entry in self.missing.items() if entry[2] is None or entry[2] < data_ms
        }
        self.missing = {}
        self.recent = []
        self.useq, self.last_ms, self.epoch_ms = seq, data_ms, data_ms
        for s, ms in ahead:  # replay them in the new numbering
            runs += self.arrived(s, ms)
        return runs

    def arrived(self, seq: int, data_ms: int) -> list[LostRun]:
        """A numbered message; returns runs that are lost for certain (the numbers went round)."""
        now = self.clock()
        if self.epoch_ms is not None and data_ms < self.epoch_ms and seq in self.old_missing:
            # sent before the last birth (the old numbering) and delivered after it
            del self.old_missing[seq]
            return []
        self.recent.append((seq, now, data_ms))
        if len(self.recent) > self.window:
            del self.recent[: len(self.recent) - self.window]
        if self.useq is None:
            self.useq, self.last_ms = seq, data_ms
            return []
        ahead = (seq - self.useq) % 256  # 1..128: forward, 0 or 129..255: behind
        if 0 < ahead <= 128:
            target = self.useq + ahead
            for u in range(self.useq + 1, target):
                self.missing[u] = (now, self.last_ms, data_ms)
            self.useq = target
            self.last_ms = data_ms
            return []
        back = self.useq - ((self.useq - seq) % 256)
        if back in self.missing:  # arrived late (reordered), not lost
            del self.missing[back]
            return []
        if self.last_ms is not None and data_ms > self.last_ms:
            # not a duplicate: newer data behind the number, so at least a whole round was lost
            run = LostRun(None, None, None, self.last_ms, data_ms)
            self.useq = self.useq + ahead + 256 if ahead else self.useq + 256
            self.last_ms = data_ms
            return [run]
        return []  # a duplicate or a very late message

    def expired(self) -> list[LostRun]:
        """Missing numbers that did not arrive in time: lost."""
        now = self.clock()
        runs = self._runs(
            [s for s, (noticed, _, _) in self.old_missing.items() if now - noticed > self.window_s],
            self.old_missing,
        )
        if not self.missing or self.useq is None:
            return runs
        lost = [
            u
            for u, (noticed, _, _) in self.missing.items()
            if now - noticed > self.window_s or self.useq - u > self.window
        ]
        return runs + self._runs(lost, self.missing)

    def _runs(self, lost: list[int], table: dict) -> list[LostRun]:
        """Take `lost` out of `table`, grouped into runs of consecutive numbers."""
        runs: list[LostRun] = []
        for u in sorted(lost):
            _, start, end = table.pop(u)
            prev = runs[-1] if runs else None
            if prev is not None and prev.last_seq is not None and (u - 1) % 256 == prev.last_seq:
                runs[-1] = LostRun((prev.count or 0) + 1, prev.first_seq, u % 256, prev.start_ms, end)
            else:
                runs.append(LostRun(1, u % 256, u % 256, start, end))
        return runs
