"""From a request to a received order: invitations, quotes, the order's status, messages, drawings.

The requester (a firm, a designer, a buyer abroad: any account) invites firms to quote on its
request; only those firms see the request's drawings and may quote. One quote per firm is open
at a time (a new one replaces it). The requester accepts one quote: that makes the order and
declines the other quotes. The order's status moves forward only, each step by its side:

    accepted  --supplier-->  in_production  --supplier-->  shipped  --requester-->  received

Accepting a quote records the award (cooperate/ratings.py) as *proposed*; the supplier starting
production is its confirmation (the award becomes *accepted*, an order that counts in the
buyer's award rate). Ratings follow the received order: `ratings.save_rating` refuses a rating of
a request whose order is not received yet.

Messages are kept per thread: one thread between the requester and each invited firm, so a firm
never reads what the requester wrote to a competitor.

Drawings (`Attachment`) are checked for size and type (the extension and the file's first bytes
must agree: PDF, PNG, JPEG, DXF, DWG, STEP, IGES, STL) and kept beside the commons database:
`<commons db>.files/<request>/<attachment id>` for a SQLite file, else (PostgreSQL, in memory)
in the database itself as kind "file".

Documents: kind "quote" (owner: the quoting firm), "order" (id = request id, owner: the buyer),
"message" (owner: the sender), "file". Errors are `CommonsError` (field, Korean, English, code).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..i18n import Catalog
from . import ratings as rt
from .db import CommonsDB
from .model import Attachment, Profile, Request
from .pools import CommonsError

TEXTS = Catalog("commons_orders")
REQUEST, PROFILE = "request", "profile"
QUOTE, ORDER, MESSAGE, FILE = "quote", "order", "message", "file"
MAX_INVITED = 30
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENTS = 10

OrderStatus = Literal["accepted", "in_production", "shipped", "received"]
STATUSES: tuple[OrderStatus, ...] = ("accepted", "in_production", "shipped", "received")
#: status -> (the next status, who moves it there)
NEXT: dict[str, tuple[OrderStatus, Literal["supplier", "buyer"]]] = {
    "accepted": ("in_production", "supplier"),
    "in_production": ("shipped", "supplier"),
    "shipped": ("received", "buyer"),
}

#: extension -> (content type, a test of the first bytes)
FILE_TYPES: dict[str, tuple[str, object]] = {
    ".pdf": ("application/pdf", lambda b: b.startswith(b"%PDF-")),
    ".png": ("image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ".jpg": ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ".jpeg": ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ".dwg": ("application/acad", lambda b: b.startswith(b"AC10")),
    ".dxf": ("image/vnd.dxf", lambda b: b"SECTION" in b[:2048]),
    ".step": ("model/step", lambda b: b.lstrip().startswith(b"ISO-10303-21")),
    ".stp": ("model/step", lambda b: b.lstrip().startswith(b"ISO-10303-21")),
    ".iges": ("model/iges", lambda b: len(b) >= 73 and b[72:73] == b"S"),
    ".igs": ("model/iges", lambda b: len(b) >= 73 and b[72:73] == b"S"),
    ".stl": ("model/stl", lambda b: b.lstrip().startswith(b"solid") or len(b) >= 84),
}


def error(field: str, key: str, code: str = "invalid", **params: object) -> CommonsError:
    """A `CommonsError` whose texts are the message `key` of the `commons_orders` catalog."""
    ko, en = TEXTS.pair(key)
    return CommonsError(field, ko.format(**params), en.format(**params), code)  # type: ignore[arg-type]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quote(_Model):
    """An invited firm's answer to a request: price, lead time, conditions."""

    id: str
    request_id: str
    firm_id: str
    price_krw: int = Field(ge=0, le=10**13)
    lead_days: int = Field(ge=1, le=3650)
    conditions: str = Field(default="", max_length=2000)
    day: date
    state: Literal["open", "accepted", "declined", "withdrawn"] = "open"


class OrderEvent(_Model):
    status: OrderStatus
    at: datetime
    by: str


class Order(_Model):
    """The order made by accepting a quote; both sides follow its status."""

    request_id: str
    buyer: str
    supplier: str
    quote_id: str
    price_krw: int
    lead_days: int
    status: OrderStatus = "accepted"
    history: tuple[OrderEvent, ...] = ()


class Message(_Model):
    """One message in the thread between a request's requester and one invited firm."""

    id: str
    request_id: str
    thread: str  # the invited firm of the thread
    sender: str
    text: str = Field(min_length=1, max_length=5000)
    at: datetime


# -- who is who -----------------------------------------------------------------------------
def get_request(db: CommonsDB, request_id: str) -> Request | None:
    return db.get(REQUEST, request_id, Request)


def is_party(r: Request, firm: str) -> bool:
    """The requester or a firm it invited (they see the drawings, quotes and their thread)."""
    return firm == r.requester or firm in r.invited


def party_request(db: CommonsDB, request_id: str, firm: str) -> Request:
    """The request, if `firm` is its requester or invited (else "not found", as for no request)."""
    r = get_request(db, request_id)
    if r is None or not is_party(r, firm):
        raise error("request_id", "no_such_request", "not_found", request=request_id)
    return r


def _own(db: CommonsDB, request_id: str, firm: str) -> Request:
    r = get_request(db, request_id)
    if r is None or r.requester != firm:
        raise error("request_id", "no_such_request", "not_found", request=request_id)
    return r


# -- invitations ----------------------------------------------------------------------------
def invite(db: CommonsDB, request_id: str, requester: str, firms: list[str]) -> Request:
    """The requester invites firms (with a profile in the commons) to quote; repeats are kept once."""
    with db.transaction():
        r = _own(db, request_id, requester)
        if get_order(db, request_id) is not None:
            raise error("request_id", "order_exists", "conflict")
        new = []
        for f in (x.strip() for x in firms):
            if not f or f in r.invited or f in new:
                continue
            if f == requester:
                raise error("firm_id", "invite_self")
            if db.get(PROFILE, f, Profile) is None:
                raise error("firm_id", "no_such_firm", "not_found", firm=f)
            new.append(f)
        invited = (*r.invited, *new)
        if len(invited) > MAX_INVITED:
            raise error("firm_id", "too_many_invited", max=MAX_INVITED)
        r = r.model_copy(update={"invited": invited})
        db.put(REQUEST, r.id, r.requester, r)
    return r


def invitations_of(db: CommonsDB, firm: str) -> list[Request]:
    """Requests that invited `firm` to quote, newest first."""
    found = [r for r in db.all(REQUEST, Request) if firm in r.invited]
    return sorted(found, key=lambda r: (r.posted, r.id), reverse=True)


# -- quotes ---------------------------------------------------------------------------------
def submit_quote(
    db: CommonsDB,
    request_id: str,
    firm: str,
    price_krw: int,
    lead_days: int,
    conditions: str,
    today: date,
) -> Quote:
    """An invited firm quotes (its earlier open quote is withdrawn); not after the order."""
    with db.transaction():
        r = get_request(db, request_id)
        if r is None or firm not in r.invited:
            raise error("request_id", "no_such_request", "not_found", request=request_id)
        if get_order(db, request_id) is not None:
            raise error("request_id", "order_exists", "conflict")
        for old in quotes_of(db, request_id):
            if old.firm_id == firm and old.state == "open":
                db.put(QUOTE, old.id, firm, old.model_copy(update={"state": "withdrawn"}))
        q = Quote(
            id=f"q-{secrets.token_hex(5)}",
            request_id=request_id,
            firm_id=firm,
            price_krw=price_krw,
            lead_days=lead_days,
            conditions=conditions.strip(),
            day=today,
        )
        db.put(QUOTE, q.id, firm, q)
    return q


def quotes_of(db: CommonsDB, request_id: str) -> list[Quote]:
    return sorted(
        (q for q in db.all(QUOTE, Quote) if q.request_id == request_id), key=lambda q: (q.day, q.id)
    )


def visible_quotes(db: CommonsDB, r: Request, firm: str) -> list[Quote]:
    """The requester sees every quote on its request; an invited firm only its own."""
    qs = quotes_of(db, r.id)
    return qs if firm == r.requester else [q for q in qs if q.firm_id == firm]


def accept_quote(db: CommonsDB, quote_id: str, buyer: str, now: datetime) -> Order:
    """The requester accepts an open quote: the order (status "accepted"), the other quotes
    declined, and the award proposed to the supplier (`ratings.save_award`)."""
    with db.transaction():
        q = db.get(QUOTE, quote_id, Quote)
        r = get_request(db, q.request_id) if q is not None else None
        if q is None or r is None or r.requester != buyer:
            raise error("quote_id", "no_such_quote", "not_found", quote=quote_id)
        if get_order(db, r.id) is not None:
            raise error("quote_id", "order_exists", "conflict")
        if q.state != "open":
            raise error("quote_id", "quote_not_open", "conflict", state=q.state)
        for other in quotes_of(db, r.id):
            state = "accepted" if other.id == q.id else "declined" if other.state == "open" else other.state
            if state != other.state:
                db.put(QUOTE, other.id, other.firm_id, other.model_copy(update={"state": state}))
        order = Order(
            request_id=r.id,
            buyer=buyer,
            supplier=q.firm_id,
            quote_id=q.id,
            price_krw=q.price_krw,
            lead_days=q.lead_days,
            history=(OrderEvent(status="accepted", at=now, by=buyer),),
        )
        db.put(ORDER, r.id, buyer, order)
        rt.save_award(
            db,
            rt.Award(
                request_id=r.id,
                buyer=buyer,
                ordered=True,
                supplier=q.firm_id,
                day=now.date(),
                value_krw=q.price_krw,
            ),
        )
    return order


# -- orders ---------------------------------------------------------------------------------
def get_order(db: CommonsDB, request_id: str) -> Order | None:
    return db.get(ORDER, request_id, Order)


def orders_of(db: CommonsDB, firm: str) -> list[Order]:
    """Orders where `firm` is the buyer or the supplier."""
    return [o for o in db.all(ORDER, Order) if firm in (o.buyer, o.supplier)]


def advance(db: CommonsDB, request_id: str, firm: str, status: str, now: datetime) -> Order:
    """Move the order one status forward, by the side that moves it (`NEXT`). The supplier's
    first move (in production) confirms the award; the buyer's "received" closes the order."""
    with db.transaction():
        o = get_order(db, request_id)
        if o is None or firm not in (o.buyer, o.supplier):
            raise error("request_id", "no_such_order", "not_found", request=request_id)
        step = NEXT.get(o.status)
        if step is None or step[0] != status:
            raise error("status", "bad_status_step", "conflict", status=status, now=o.status)
        side = o.supplier if step[1] == "supplier" else o.buyer
        if firm != side:
            raise error("status", f"status_by_{step[1]}", "forbidden", status=status)
        o = o.model_copy(
            update={"status": status, "history": (*o.history, OrderEvent(status=status, at=now, by=firm))}
        )
        db.put(ORDER, o.request_id, o.buyer, o)
        if status == "in_production":
            award = db.get("award", request_id, rt.Award)
            if award is not None and award.state == "proposed" and award.supplier == firm:
                rt.answer_award(db, request_id, firm, True, now.date())
    return o


# -- messages -------------------------------------------------------------------------------
def post_message(
    db: CommonsDB, request_id: str, sender: str, text: str, now: datetime, thread: str | None = None
) -> Message:
    """A message in the thread of one invited firm: the requester names the firm (`thread`), an
    invited firm writes in its own thread."""
    r = party_request(db, request_id, sender)
    if sender == r.requester:
        if thread not in r.invited:
            raise error("thread", "not_invited", "invalid", firm=thread or "")
    else:
        thread = sender
    text = text.strip()
    if not text:
        raise error("text", "empty_message")
    m = Message(  # ids sort in the order written, so messages of one clock tick keep their order
        id=f"m-{time.time_ns():016x}-{secrets.token_hex(3)}",
        request_id=r.id,
        thread=thread,
        sender=sender,
        text=text,
        at=now,
    )
    db.put(MESSAGE, m.id, sender, m)
    return m


def messages_of(db: CommonsDB, r: Request, firm: str) -> list[Message]:
    """The messages `firm` may read: all threads for the requester, its own for an invited firm."""
    every = [m for m in db.all(MESSAGE, Message) if m.request_id == r.id]
    if firm != r.requester:
        every = [m for m in every if m.thread == firm]
    return sorted(every, key=lambda m: (m.at, m.id))


# -- drawings -------------------------------------------------------------------------------
class _Blob(_Model):
    data: str  # base64


def files_dir(db: CommonsDB) -> Path | None:
    """Where a SQLite file database keeps its drawings (beside it); None: in the database."""
    t = db.target
    if t == ":memory:" or t.startswith(("postgresql://", "postgres://", "file:")):
        return None
    return Path(f"{t}.files")


def check_file(filename: str, data: bytes) -> str:
    """The content type of a drawing, or `CommonsError` saying why it is refused."""
    name = Path(filename.replace("\\", "/")).name
    ext = Path(name).suffix.lower()
    if not name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name) or len(name) > 200:
        raise error("file", "file_name", name=repr(name[:60]))
    if not data:
        raise error("file", "file_empty", name=name)
    if len(data) > MAX_FILE_BYTES:
        raise error("file", "file_too_large", name=name, mb=MAX_FILE_BYTES // (1024 * 1024))
    kind = FILE_TYPES.get(ext)
    if kind is None:
        raise error("file", "file_type", name=name, types=", ".join(sorted(FILE_TYPES)))
    if not kind[1](data[:4096]):  # type: ignore[operator]
        raise error("file", "file_content", name=name, ext=ext)
    return kind[0]


def attach(
    db: CommonsDB, request_id: str, requester: str, filename: str, data: bytes, now: datetime
) -> Attachment:
    """Keep a drawing of the requester's request (checked by `check_file`)."""
    content_type = check_file(filename, data)
    name = Path(filename.replace("\\", "/")).name[:200]
    a = Attachment(
        id=f"f-{secrets.token_hex(6)}",
        filename=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded=now,
    )
    with db.transaction():
        r = _own(db, request_id, requester)
        if len(r.attachments) >= MAX_ATTACHMENTS:
            raise error("file", "too_many_files", max=MAX_ATTACHMENTS)
        where = files_dir(db)
        if where is None:
            db.put(FILE, a.id, requester, _Blob(data=base64.b64encode(data).decode()))
        else:
            folder = where / r.id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / a.id).write_bytes(data)
        r = r.model_copy(update={"attachments": (*r.attachments, a)})
        db.put(REQUEST, r.id, r.requester, r)
    return a


def read_file(db: CommonsDB, request_id: str, attachment_id: str, firm: str) -> tuple[Attachment, bytes]:
    """A drawing's record and bytes, for the requester and invited firms only ("not found" else)."""
    r = party_request(db, request_id, firm)
    a = next((x for x in r.attachments if x.id == attachment_id), None)
    if a is None:
        raise error("file", "no_such_file", "not_found", file=attachment_id)
    where = files_dir(db)
    if where is None:
        blob = db.get(FILE, a.id, _Blob)
        data = base64.b64decode(blob.data) if blob else b""
    else:
        path = where / r.id / a.id
        data = path.read_bytes() if path.exists() else b""
    if hashlib.sha256(data).hexdigest() != a.sha256:
        raise error("file", "file_lost", "not_found", file=a.filename)
    return a, data
