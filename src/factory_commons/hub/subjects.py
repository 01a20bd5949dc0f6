"""Names and the wire format between an edge and the hub.

Subjects: `fc.<firm>.<kind>` (kind: a record kind such as `state`, `count`, `signal`, or
`_events` for the collector's collection events). The stream `FC` holds `fc.>`. A message is
one piece of one buffered put: JSON `{"source", "received_at", "late", "rows"}` (rows with
`ts` as epoch microseconds, as the buffer keeps them), with the header `Nats-Msg-Id`
`<edge id>:<put numbers>:<piece>` so that JetStream drops a re-sent copy inside its duplicate
window, and the store's keys drop one that comes later.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

import msgspec

from ..i18n import Catalog

HUB = Catalog("hub")

STREAM = "FC"
ROOT = "fc"
CONSUMER = "ingest"
EVENTS_KIND = "_events"
#: decodes a message body in C (a body of ~6 rows: ~25 us, against ~70 us with json.loads)
_BODY = msgspec.json.Decoder()
#: the most rows in one message (NATS' default max_payload is 1 MiB; a row is ~100-200 bytes)
PIECE_ROWS = 2_000

FIRM_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
KIND = re.compile(r"^_?[a-z][a-z0-9_]{0,39}$")


def hub_text(key: str, **values: object) -> str:
    """A text of the `hub` catalog, Korean / English, `{name}` fields filled."""
    text = HUB.both(key, " / ")
    return text.format(**values) if values else text


def check_firm(firm: str) -> str:
    """The firm id, or ValueError naming it: lower-case letters, digits and `_`, starting
    with a letter, at most 40 (a NATS subject token and part of a PostgreSQL schema name)."""
    if not FIRM_ID.match(firm or ""):
        raise ValueError(f"{firm!r}: {hub_text('bad_firm_id')}")
    return firm


def subject(firm: str, kind: str) -> str:
    if not KIND.match(kind):
        raise ValueError(f"{kind!r}: {hub_text('bad_kind')}")
    return f"{ROOT}.{check_firm(firm)}.{kind}"


@functools.lru_cache(maxsize=65_536)  # a region has a few thousand firms x kinds; each message asks
def parse_subject(name: str) -> tuple[str, str]:
    """(firm, kind) of `fc.<firm>.<kind>`; ValueError for anything else."""
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != ROOT or not FIRM_ID.match(parts[1]) or not KIND.match(parts[2]):
        raise ValueError(f"{name!r}: {hub_text('bad_subject')}")
    return parts[1], parts[2]


def inbox_prefix(firm: str) -> str:
    """The reply inbox of a firm's connections (its users may subscribe only below it)."""
    return f"_INBOX.{check_firm(firm)}"


@dataclass(frozen=True)
class Piece:
    """What one message carries."""

    source: str
    received_at: float
    late: bool
    rows: list[dict]

    def encode(self) -> bytes:
        body = {"source": self.source, "received_at": self.received_at, "late": self.late, "rows": self.rows}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()

    @classmethod
    def decode(cls, data: bytes) -> Piece:
        """The piece in a message body; ValueError saying what is wrong."""
        try:
            body = _BODY.decode(data)
        except msgspec.DecodeError as e:  # not JSON, or not UTF-8
            raise ValueError(f"{hub_text('bad_message')}: {e}") from e
        if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
            raise ValueError(f"{hub_text('bad_message')}: rows")
        if not all(isinstance(r, dict) for r in body["rows"]):
            raise ValueError(f"{hub_text('bad_message')}: rows")
        return cls(
            source=str(body.get("source", "")),
            received_at=float(body.get("received_at") or 0.0),
            late=bool(body.get("late")),
            rows=body["rows"],
        )


def message_id(edge_id: str, puts: int | str, piece: int) -> str:
    """`<edge id>:<put number or first-last>:<piece>`."""
    return f"{edge_id}:{puts}:{piece}"
