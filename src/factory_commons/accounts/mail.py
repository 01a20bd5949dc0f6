"""Mail the server sends (the e-mail check of a sign-up), written to a local outbox folder.

No mail server is used: every message is one RFC 5322 file (`.eml`, readable by any mail
program) in the outbox, `FC_MAIL_OUTBOX` when set, else `<accounts database>.outbox/` beside
the accounts file (`./factory-outbox/` for an in-memory or PostgreSQL accounts database). In
development the person opens the newest file and follows its link; a deployment that sends real
mail hands the folder to its mail transfer agent (docs/commons.md, "Sign-up").
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

OUTBOX_ENV = "FC_MAIL_OUTBOX"
SENDER = "Factory Commons <no-reply@factory-commons.invalid>"


def outbox_dir(accounts_path: str) -> Path:
    """Where mail goes: `FC_MAIL_OUTBOX`, else beside a SQLite accounts file."""
    configured = os.environ.get(OUTBOX_ENV, "").strip()
    if configured:
        return Path(configured)
    if accounts_path == ":memory:" or accounts_path.startswith(("postgresql://", "postgres://")):
        return Path("factory-outbox").resolve()
    return Path(f"{accounts_path}.outbox")


def send(outbox: Path, to: str, subject: str, body: str, now: datetime) -> Path:
    """Write one plain-text UTF-8 message to the outbox (private to the server's user); its path."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, to, subject
    msg["Date"] = format_datetime(now)
    msg.set_content(body)
    outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    # named by the message's date, then the moment it was written: sorted by name, oldest first
    path = outbox / f"{now.strftime('%Y%m%dT%H%M%S')}-{time.time_ns()}-{secrets.token_hex(2)}.eml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(bytes(msg))
    return path


def read(path: Path) -> EmailMessage:
    """A message of the outbox, parsed (tests and the docs' walk-through read the link)."""
    from email import policy
    from email.parser import BytesParser

    with path.open("rb") as f:
        return BytesParser(policy=policy.default).parse(f)  # type: ignore[return-value]
