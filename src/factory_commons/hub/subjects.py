"""Names and the wire format between an edge and the hub.

Subjects: `fc.<firm>.<kind>` (kind: a record kind such as `state`, `count`, `signal`,
`_events` for the collector's collection events, or `_rows` for a bundle of several kinds).
The stream `FC` holds `fc.>`. Every message has the header `Nats-Msg-Id`
`<edge id>:<put numbers>:<piece>` so that JetStream drops a re-sent copy inside its duplicate
window, and the store's keys drop one that comes later.

Two bodies (JSON; `ts` as epoch microseconds, as the buffer keeps them):
- `Piece`, on `fc.<firm>.<kind>`: `{"source", "received_at", "late", "rows": [{...}, ...]}`, the
  rows of one kind (what the first forwarders sent; the collection events still go so);
- `Bundle`, on `fc.<firm>._rows` (what `hub forward` sends now): `{"v": 2, "source",
  "received_at", "late", "kinds": {"<kind>": {"<column>": [values], ...}, ...}}`: one source's
  rows of every kind it buffered, column by column. A firm's few rows of each kind then travel
  as one message instead of one per kind, and the hub reads each column as one list (no dict
  per row): the hub's cost is mostly per message and per row object (bench/hub.py).
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
#: the subject kind of a `Bundle` (rows of several kinds in columns)
BUNDLE_KIND = "_rows"
#: decodes a message body in C (a body of ~6 rows: ~25 us, against ~70 us with json.loads)
_BODY = msgspec.json.Decoder()
#: encodes one; anything JSON has no type for (a datetime) as its text, as json.dumps(default=str)
_ENCODER = msgspec.json.Encoder(enc_hook=str)
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


def columns_of(rows: list[dict]) -> dict[str, list]:
    """Rows as columns: every key of every row, None where a row lacks it."""
    keys: dict[str, None] = {}
    for r in rows:
        if len(r) != len(keys) or not r.keys() <= keys.keys():
            keys.update(dict.fromkeys(r))
    return {k: [r.get(k) for r in rows] for k in keys}


def rows_of(columns: dict[str, list]) -> list[dict]:
    """Columns as rows (the inverse of `columns_of`)."""
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


@dataclass(frozen=True)
class Bundle:
    """What one `fc.<firm>._rows` message carries: a source's rows of several kinds, each kind
    as columns of equal length ({kind: {column: [values]}})."""

    source: str
    received_at: float
    late: bool
    kinds: dict[str, dict[str, list]]

    @classmethod
    def of_rows(cls, source: str, received_at: float, late: bool, rows: dict[str, list[dict]]) -> Bundle:
        return cls(source, received_at, late, {k: columns_of(r) for k, r in rows.items() if r})

    def rows(self, kind: str) -> int:
        """How many rows of `kind` it carries."""
        columns = self.kinds.get(kind)
        return len(next(iter(columns.values()))) if columns else 0

    def encode(self) -> bytes:
        return _ENCODER.encode(
            {
                "v": 2,
                "source": self.source,
                "received_at": self.received_at,
                "late": self.late,
                "kinds": self.kinds,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Bundle:
        """The bundle in a message body; ValueError saying what is wrong."""
        try:
            body = _BODY.decode(data)
        except msgspec.DecodeError as e:
            raise ValueError(f"{hub_text('bad_message')}: {e}") from e
        kinds = body.get("kinds") if isinstance(body, dict) else None
        if not isinstance(kinds, dict):
            raise ValueError(f"{hub_text('bad_message')}: kinds")
        for kind, columns in kinds.items():
            if not KIND.match(kind) or kind.startswith("_") or not isinstance(columns, dict):
                raise ValueError(f"{hub_text('bad_message')}: kinds.{kind}")
            lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
            if len(lengths) > 1 or -1 in lengths:
                raise ValueError(f"{hub_text('bad_message')}: kinds.{kind}")
        return cls(
            source=str(body.get("source", "")),
            received_at=float(body.get("received_at") or 0.0),
            late=bool(body.get("late")),
            kinds={k: c for k, c in kinds.items() if c},
        )


def read_message(kind: str, data: bytes) -> Bundle:
    """The rows of a message on `fc.<firm>.<kind>` as a bundle, whichever body it has."""
    if kind == BUNDLE_KIND:
        return Bundle.decode(data)
    p = Piece.decode(data)
    return Bundle.of_rows(p.source, p.received_at, p.late, {kind: p.rows})


def message_id(edge_id: str, puts: int | str, piece: int | str) -> str:
    """`<edge id>:<put number or first-last>:<piece>`."""
    return f"{edge_id}:{puts}:{piece}"
