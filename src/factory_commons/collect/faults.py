"""What went wrong, said plainly: the reasons that health, logs and the status line show.

`describe_failure(e)` turns an exception from a connector, the buffer or the store into one
line a plant engineer can act on: a full disk is called a full disk (not SQLite's "cannot
rollback - no transaction is active" that followed it), a store held by another process is
called that, and control characters (DuckDB's lock message carries NUL bytes) are removed.
`clean_reason` does the last part alone, for any text on its way into health.
"""

from __future__ import annotations

import errno
import re
import sqlite3

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]+")


class BufferWriteError(OSError):
    """The durable buffer could not commit (disk full, read-only, I/O error); nothing was kept."""

    def __init__(self, reason: str, disk_full: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.disk_full = disk_full

    def __str__(self) -> str:
        return self.reason


def clean_reason(text: str, limit: int = 500) -> str:
    """`text` without NUL and other control characters (newlines become spaces), at most `limit` long."""
    out = _CONTROL.sub(" ", text.replace("\r", " ").replace("\n", " ")).strip()
    out = re.sub(r" {2,}", " ", out)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def is_disk_full(e: BaseException) -> bool:
    """True for an error caused by a full disk (or a full database quota), wherever it came from."""
    if isinstance(e, BufferWriteError):
        return e.disk_full
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(e, sqlite3.Error) and getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    text = str(e).lower()
    return "no space left" in text or "disk is full" in text or "disk full" in text


def describe_failure(e: BaseException, where: str = "") -> str:
    """One clean line for health and logs: `disk full: ...`, `store locked: ...` or `Type: message`."""
    prefix = f"{where}: " if where else ""
    message = clean_reason(str(e)) or type(e).__name__
    if is_disk_full(e):
        return clean_reason(f"disk full: {prefix}{message}")
    if type(e).__name__ == "StoreLockedError":
        return clean_reason(f"store locked: {prefix}{message}")
    if isinstance(e, BufferWriteError):
        return clean_reason(f"{prefix}{message}")
    return clean_reason(f"{prefix}{type(e).__name__}: {message}")
