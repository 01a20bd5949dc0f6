"""Login rate limiting: too many failed logins for one e-mail, or from one address, are refused.

After `max_per_email` failed logins for an e-mail, or `max_per_address` from one client address,
within `window`, further attempts for that e-mail (or from that address) are refused with 429 and
a Retry-After header until the oldest failure in the window has aged out; the password is then
not even checked. A successful login clears the failures of its e-mail (not of the address).
The counters live in memory: one server process, reset when it restarts (see docs/server.md).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

MAX_PER_EMAIL = 5
MAX_PER_ADDRESS = 20
WINDOW = timedelta(minutes=15)
#: at most this many keys are remembered; the stalest are forgotten first (memory bound)
MAX_KEYS = 100_000


class LoginLimiter:
    """Counts failed logins per e-mail and per address in a sliding window (thread-safe)."""

    def __init__(
        self,
        max_per_email: int = MAX_PER_EMAIL,
        max_per_address: int = MAX_PER_ADDRESS,
        window: timedelta = WINDOW,
        clock: Callable[[], datetime] | None = None,
    ):
        if max_per_email < 1 or max_per_address < 1 or window <= timedelta(0):
            raise ValueError("limits must be at least 1 and the window positive")
        self.max_per_email, self.max_per_address, self.window = max_per_email, max_per_address, window
        self._clock = clock or (lambda: datetime.now(UTC))
        self._failures: dict[str, deque[datetime]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(email: str, address: str | None) -> list[tuple[str, int]]:
        return [(f"e:{email.strip().lower()}", 0), *([(f"a:{address}", 1)] if address else [])]

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        q = self._failures.get(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            self._failures.pop(key, None)
        return q

    def retry_after(self, email: str, address: str | None) -> int | None:
        """Seconds to wait before this e-mail may try again from this address; None: go ahead."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key, kind in self._keys(email, address):
                q = self._recent(key, now)
                limit = self.max_per_address if kind else self.max_per_email
                if len(q) >= limit:
                    wait = max(wait, (q[-limit] + self.window - now).total_seconds())
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, email: str, address: str | None) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:  # forget the key seen first (dicts keep order)
                self._failures.pop(next(iter(self._failures)))
            for key, _ in self._keys(email, address):
                q = self._recent(key, now)
                q.append(now)
                self._failures[key] = q

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(email, None)[0][0], None)
