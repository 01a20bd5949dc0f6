"""Per-firm quotas on writes to the commons: the size of one write, writes per minute, bytes per day.

The commons is shared by every firm of the region: one firm writing hundreds of large requests
a second would grow the database and slow every firm's reads. Each write (POST, PUT, PATCH,
DELETE under /api/commons) is charged to the writing firm before it runs; the usage is kept in
the commons database itself (kind `quota`, one document per firm), inside its write lock, so
every server process counts the same writes. The HTTP layer (server/limits.py) turns a
`QuotaExceeded` into a 413 (one write too large) or a 429 with Retry-After.

Settings (environment variables, read when the server starts; see docs/security.md):
`FC_COMMONS_MAX_BODY_BYTES` (64 KiB), `FC_COMMONS_WRITES_PER_MINUTE` (60),
`FC_COMMONS_BYTES_PER_DAY` (20 MiB).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from ..model.policy import limit_text
from .db import CommonsDB

#: the document kind the usage is kept under
QUOTA_KIND = "quota"
#: the length of the rate window, in seconds
WINDOW_S = 60


@dataclass(frozen=True)
class CommonsQuota:
    """The quotas of one server: per firm, on writes to the commons."""

    max_body_bytes: int = 64 * 1024
    writes_per_minute: int = 60
    bytes_per_day: int = 20 * 1024 * 1024

    ENV = {
        "max_body_bytes": "FC_COMMONS_MAX_BODY_BYTES",
        "writes_per_minute": "FC_COMMONS_WRITES_PER_MINUTE",
        "bytes_per_day": "FC_COMMONS_BYTES_PER_DAY",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CommonsQuota:
        """The defaults, each replaced by its environment variable when set (a positive integer)."""
        env = os.environ if env is None else env
        values = {}
        for name, var in cls.ENV.items():
            if env.get(var):
                values[name] = positive_int(var, env[var])
        return cls(**values)


def positive_int(name: str, raw: str) -> int:
    """The integer setting `name`; ValueError naming the setting when it is not a positive integer."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(limit_text("bad_setting", name=name, value=raw))
    return value


class Usage(BaseModel):
    """One firm's writes: in the current minute window and on the current UTC day."""

    window_start: datetime
    window_writes: int = 0
    day: str = ""
    day_bytes: int = 0


class QuotaExceeded(Exception):
    """A write refused: `status` 413 (too large) or 429 (too many), `retry_after` seconds or None."""

    def __init__(self, status: int, text: str, retry_after: int | None = None):
        super().__init__(text)
        self.status, self.text, self.retry_after = status, text, retry_after


def charge(commons: CommonsDB, firm: str, size: int, now: datetime, quota: CommonsQuota) -> Usage:
    """Count one write of `size` bytes by `firm` at `now`; QuotaExceeded (nothing counted) when
    it is too large, the firm's writes this minute are used up, or its bytes today would pass
    the daily quota."""
    env = CommonsQuota.ENV
    if size > quota.max_body_bytes:
        raise QuotaExceeded(
            413, limit_text("commons_body", limit=quota.max_body_bytes, setting=env["max_body_bytes"])
        )
    with commons.transaction():
        usage = commons.get(QUOTA_KIND, firm, Usage)
        if (
            usage is None
            or now - usage.window_start >= timedelta(seconds=WINDOW_S)
            or now < usage.window_start
        ):
            usage = Usage(
                window_start=now, day=usage.day if usage else "", day_bytes=usage.day_bytes if usage else 0
            )
        today = now.date().isoformat()
        if usage.day != today:
            usage = usage.model_copy(update={"day": today, "day_bytes": 0})
        if usage.window_writes >= quota.writes_per_minute:
            wait = max(
                1, int((usage.window_start + timedelta(seconds=WINDOW_S) - now).total_seconds() + 0.999)
            )
            text = limit_text(
                "commons_rate",
                max=quota.writes_per_minute,
                window=WINDOW_S,
                wait=wait,
                setting=env["writes_per_minute"],
            )
            raise QuotaExceeded(429, text, wait)
        if usage.day_bytes + size > quota.bytes_per_day:
            midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), now.tzinfo)
            wait = max(1, int((midnight - now).total_seconds()))
            text = limit_text(
                "commons_daily", limit=quota.bytes_per_day, wait=wait, setting=env["bytes_per_day"]
            )
            raise QuotaExceeded(429, text, wait)
        usage = usage.model_copy(
            update={"window_writes": usage.window_writes + 1, "day_bytes": usage.day_bytes + size}
        )
        commons.put(QUOTA_KIND, firm, firm, usage)
    return usage
