"""Firm profiles in the commons database: save, load, publish and withdraw evidence, refresh it.

A profile is kept whole (facility, all evidence, the `published` set) as the document
("profile", firm id) owned by the firm. Only the firm reads it whole (`load_profile`); every
view for anyone else goes through `Profile.public()` (`public_profile`, `public_profiles`),
so evidence the firm did not publish never leaves it.

    save_profile(db, profile)
    refresh_evidence(db, "acme", store)              # last 8 ISO weeks (those with data) from its KPIs
    refresh_evidence(db, "acme", shared, scope=["acme"])  # a server store: acme's machines only
    publish(db, "acme", ["capacity", "quality"])      # published_at = now
    withdraw(db, "acme", ["quality"])                 # gone from every public view at once
    public_profiles(db)                               # what buyers and other firms see

Publishing is per kind of evidence, not per figure: a refresh replaces the figures, and a
published kind stays published with its new figures until the firm withdraws it. A kind whose
refreshed evidence is empty (no orders due in the period) drops out of `published`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime

from ..kpi import KpiConfig
from ..store.base import Store
from .db import CommonsDB
from .evidence import compute_evidence, last_weeks
from .model import EVIDENCE_KINDS, Profile

KIND = "profile"


class ProfileError(ValueError):
    """Unknown firm, unknown evidence kind, or evidence that is not there to publish."""


def _kinds(kinds: str | Iterable[str]) -> frozenset[str]:
    items = [kinds] if isinstance(kinds, str) else list(kinds)
    if not items:
        raise ProfileError(f"kinds: name at least one of {', '.join(EVIDENCE_KINDS)}")
    for k in items:
        if k not in EVIDENCE_KINDS:
            raise ProfileError(f"kinds: unknown evidence kind {k!r}; known: {', '.join(EVIDENCE_KINDS)}")
    return frozenset(items)


def save_profile(db: CommonsDB, profile: Profile) -> None:
    """Insert or replace the firm's profile (owner = the firm)."""
    db.put(KIND, profile.firm_id, profile.firm_id, profile)


def save_profiles(db: CommonsDB, profiles: Iterable[Profile]) -> int:
    """Insert or replace many profiles in one transaction (loading a region); returns how many."""
    docs = [(p.firm_id, p.firm_id, p) for p in profiles]
    db.put_many(KIND, docs)
    return len(docs)


def get_profile(db: CommonsDB, firm_id: str) -> Profile | None:
    """The firm's whole profile (private: for the firm itself), or None."""
    return db.get(KIND, firm_id, Profile)


def load_profile(db: CommonsDB, firm_id: str) -> Profile:
    """The firm's whole profile (private: for the firm itself); ProfileError when unknown."""
    p = get_profile(db, firm_id)
    if p is None:
        raise ProfileError(f"unknown firm {firm_id!r}: no profile in the commons")
    return p


def public_profile(db: CommonsDB, firm_id: str) -> Profile:
    """The firm's profile as anyone else may see it."""
    return load_profile(db, firm_id).public()


def public_profiles(db: CommonsDB) -> list[Profile]:
    """Every profile as anyone else may see it (unpublished evidence removed), by firm id."""
    return [p.public() for p in db.all(KIND, Profile)]


def publish(db: CommonsDB, firm_id: str, kinds: str | Iterable[str], now: datetime | None = None) -> Profile:
    """Publish evidence kinds (capacity, quality, delivery) of the firm; returns the profile."""
    wanted = _kinds(kinds)
    with db.transaction():
        p = load_profile(db, firm_id)
        for k in sorted(wanted):
            if getattr(p.evidence, k) is None:
                raise ProfileError(
                    f"kinds: firm {firm_id!r} has no {k} evidence to publish (refresh_evidence first)"
                )
        p = p.model_copy(update={"published": p.published | wanted, "published_at": now or datetime.now(UTC)})
        save_profile(db, p)
    return p


def withdraw(db: CommonsDB, firm_id: str, kinds: str | Iterable[str], now: datetime | None = None) -> Profile:
    """Withdraw evidence kinds from every public view at once; returns the profile.

    `published_at` becomes the time of this change, or None when nothing is published any more.
    """
    gone = _kinds(kinds)
    with db.transaction():
        p = load_profile(db, firm_id)
        left = p.published - gone
        p = p.model_copy(
            update={"published": left, "published_at": (now or datetime.now(UTC)) if left else None}
        )
        save_profile(db, p)
    return p


def refresh_evidence(
    db: CommonsDB,
    firm_id: str,
    store: Store,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    *,
    weeks: int = 8,
    today: date | None = None,
    mapping: Mapping[str, Sequence[str]] | None = None,
    config: KpiConfig | None = None,
    tz: str | None = None,
    scope: Sequence[str] | None = None,
) -> Profile:
    """Recompute the firm's evidence from its store and keep it in the profile.

    The period is [start, end), by default the `weeks` full ISO weeks before `today`'s week, cut
    to the days the store has data for (no zero weeks before a plant was connected; see
    `evidence.py`, "The data's own span").
    `scope`: the firm's machine paths or enterprises when the store is shared with other firms
    (a server store); only those machines and their orders count. None: the whole store is the
    firm's. What is published does not change (see the module docstring).
    """
    if (start is None) != (end is None):
        raise ProfileError("period: give both start and end, or neither (the last full weeks)")
    if start is None:
        start, end = last_weeks(today or datetime.now(UTC).date(), weeks)
    load_profile(db, firm_id)  # unknown firm: fail before the (slower) KPI work
    evidence = compute_evidence(store, start, end, mapping, config, tz, scope)
    with db.transaction():
        p = load_profile(db, firm_id)
        kept = frozenset(k for k in p.published if getattr(evidence, k) is not None)
        at = p.published_at if kept else None
        p = p.model_copy(update={"evidence": evidence, "published": kept, "published_at": at})
        save_profile(db, p)
    return p
