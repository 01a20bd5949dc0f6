"""Cooperative membership, granted by the cooperative, never by a firm's own profile.

A firm is a member of a cooperative only when both sides said so: the cooperative's manager
invited it and the firm accepted, or the firm asked to join and the manager approved. What a
firm writes in its own profile (`Facility.cooperatives`) grants nothing. The record is the
`Cooperative` document (kind ``"cooperative"``, id and owner the cooperative id): ``members``,
``invited`` (the manager's open invitations) and ``requested`` (firms' open requests).

    invite(db, coop, firm)     the manager: the firm joins at once if it had asked, else it is invited
    request_join(db, coop, firm)  the firm: it joins at once if it was invited, else it asks
    leave(db, coop, firm)      the firm leaves (or withdraws its request / declines an invitation)
    remove(db, coop, firm)     the manager removes a member (or withdraws an invitation / refuses a request)

`is_member` is the one check every pool, campaign and page uses; generated sample data
(`sample.py`) stores its cooperatives with their members already granted. Every change runs in
`CommonsDB.transaction()`. Errors are `CommonsError` (field, Korean and English, a code).
"""

from __future__ import annotations

from typing import Literal

from .db import CommonsDB
from .model import Cooperative, Text
from .pools import CommonsError

KIND = "cooperative"
Status = Literal["member", "invited", "requested", "none"]


def get_cooperative(db: CommonsDB, coop_id: str) -> Cooperative | None:
    return db.get(KIND, coop_id, Cooperative)


def members_of(db: CommonsDB, coop_id: str) -> tuple[str, ...]:
    """The granted members of a cooperative (none when it has no record)."""
    coop = get_cooperative(db, coop_id)
    return coop.members if coop is not None else ()


def is_member(db: CommonsDB, coop_id: str, firm_id: str) -> bool:
    return firm_id in members_of(db, coop_id)


def status_of(coop: Cooperative, firm_id: str) -> Status:
    if firm_id in coop.members:
        return "member"
    if firm_id in coop.invited:
        return "invited"
    if firm_id in coop.requested:
        return "requested"
    return "none"


def cooperatives_of(db: CommonsDB, firm_id: str) -> list[tuple[Cooperative, Status]]:
    """Every cooperative where the firm is a member, invited or asked to join, with that status."""
    out = []
    for coop in db.all(KIND, Cooperative):
        s = status_of(coop, firm_id)
        if s != "none":
            out.append((coop, s))
    return out


def _firm(firm_id: str, coop_id: str) -> str:
    firm = str(firm_id).strip()
    if not firm or "/" in firm or len(firm) > 200:
        raise CommonsError.of("firm_id", "bad_firm_id", firm=firm_id)
    if firm == coop_id:
        raise CommonsError.of("firm_id", "coop_not_own_member", firm=firm)
    return firm


def _save(db: CommonsDB, coop: Cooperative, **update: tuple[str, ...]) -> Cooperative:
    new = coop.model_copy(update={k: tuple(sorted(set(v))) for k, v in update.items()})
    db.put(KIND, new.id, new.id, new)
    return new


def invite(db: CommonsDB, coop_id: str, firm_id: str, name: Text | None = None) -> Cooperative:
    """The cooperative's manager invites a firm (or approves its request: it becomes a member).

    Creates the cooperative's record on its first invitation (`name` defaults to its id)."""
    firm = _firm(firm_id, coop_id)
    with db.transaction():
        coop = get_cooperative(db, coop_id) or Cooperative(
            id=coop_id, name=name or Text(ko=coop_id, en=coop_id)
        )
        if firm in coop.members:
            raise CommonsError.of("firm_id", "already_member", "conflict", firm=firm, cooperative=coop_id)
        if firm in coop.requested:
            return _save(
                db,
                coop,
                members=(*coop.members, firm),
                requested=tuple(x for x in coop.requested if x != firm),
            )
        return _save(db, coop, invited=(*coop.invited, firm))


def request_join(db: CommonsDB, coop_id: str, firm_id: str) -> Cooperative:
    """A firm asks to join (or accepts the cooperative's invitation: it becomes a member)."""
    firm = _firm(firm_id, coop_id)
    with db.transaction():
        coop = get_cooperative(db, coop_id)
        if coop is None:
            raise CommonsError.of("cooperative", "no_such_cooperative", "not_found", id=coop_id)
        if firm in coop.members:
            raise CommonsError.of("firm_id", "already_member", "conflict", firm=firm, cooperative=coop_id)
        if firm in coop.invited:
            return _save(
                db,
                coop,
                members=(*coop.members, firm),
                invited=tuple(x for x in coop.invited if x != firm),
            )
        return _save(db, coop, requested=(*coop.requested, firm))


def _drop(db: CommonsDB, coop_id: str, firm_id: str) -> Cooperative:
    with db.transaction():
        coop = get_cooperative(db, coop_id)
        if coop is None or status_of(coop, firm_id) == "none":
            raise CommonsError.of(
                "firm_id", "not_in_cooperative", "not_found", firm=firm_id, cooperative=coop_id
            )
        return _save(
            db,
            coop,
            members=tuple(x for x in coop.members if x != firm_id),
            invited=tuple(x for x in coop.invited if x != firm_id),
            requested=tuple(x for x in coop.requested if x != firm_id),
        )


def leave(db: CommonsDB, coop_id: str, firm_id: str) -> Cooperative:
    """The firm leaves, withdraws its request or declines the invitation."""
    return _drop(db, coop_id, firm_id)


def remove(db: CommonsDB, coop_id: str, firm_id: str) -> Cooperative:
    """The manager removes a member, withdraws an invitation or refuses a request."""
    return _drop(db, coop_id, firm_id)
