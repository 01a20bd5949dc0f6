"""Supplier development by consent: a buyer invites its suppliers; each supplier grants a usage
policy; the buyer sees exactly what the policy allows, and nothing before it, after it is revoked
or after it ends; sponsored upgrades are tracked with their before/after; every access is logged.

In the spirit of the Catena-X usage policies (ODRL: a permission on a target for a purpose,
with constraints such as an end date): a `UsagePolicy` permits one buyer to read the named KPIs
of one supplier, at one aggregation, for one purpose, until a date; the supplier revokes it at
any time. `supplier_view` is the only way to the supplier's figures: it checks the policy at the
moment of the access, returns only what it permits, and records the access (allowed or denied)
as a `ConsentAccess` document; the server also writes it to the supplier's audit log.

Documents (the commons database beside the store, like the rest of the region): kinds
`region_invitation`, `region_consent`, `region_consent_access`, `region_upgrade`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..cooperate.db import CommonsDB
from .models import KpiSnapshot, MaturityAnswers, SupplierLink

#: what a supplier may share: its overall maturity level, its OEE, its maturity by domain
SHAREABLE: tuple[str, ...] = ("overall_level", "oee", "maturity_domains")
#: how fine: every snapshot as measured, yearly means, or only a band (level 1-5, OEE in tenths)
Aggregation = Literal["snapshot", "yearly", "band"]
AGGREGATIONS: tuple[str, ...] = ("snapshot", "yearly", "band")
Purpose = Literal["supplier_development", "sponsored_upgrade", "quality_assurance"]
PURPOSES: tuple[str, ...] = ("supplier_development", "sponsored_upgrade", "quality_assurance")
UpgradeKind = Literal["mission", "retrofit", "programme"]

KIND_INVITATION = "region_invitation"
KIND_POLICY = "region_consent"
KIND_ACCESS = "region_consent_access"
KIND_UPGRADE = "region_upgrade"


class ConsentError(ValueError):
    """A consent step that is not allowed (field and why)."""

    def __init__(self, field: str, why: str, code: str = "invalid") -> None:
        super().__init__(f"{field}: {why}")
        self.field, self.why, self.code = field, why, code


class ConsentDenied(ConsentError):
    """The buyer has no policy in force from this supplier for this purpose (nothing is shown)."""

    def __init__(self, why: str) -> None:
        super().__init__("policy", why, "forbidden")


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Invitation(_Doc):
    """A buyer asks a supplier to share (the supplier decides; an invitation shows nothing)."""

    buyer: str
    supplier: str
    invited_at: datetime
    purpose: Purpose = "supplier_development"
    kpis: tuple[str, ...] = Field(default=SHAREABLE, description="what the buyer asks for")


class UsagePolicy(_Doc):
    """What one supplier lets one buyer see: which KPIs, how fine, for what, until when."""

    id: str
    supplier: str
    buyer: str
    kpis: tuple[str, ...] = Field(min_length=1)
    aggregation: Aggregation
    purpose: Purpose
    granted_at: datetime
    until: date
    revoked_at: datetime | None = None

    def in_force(self, now: datetime) -> bool:
        return self.revoked_at is None and self.granted_at <= now and now.date() <= self.until


class ConsentAccess(_Doc):
    """One access by a buyer to a supplier's figures, allowed or denied, and through which route."""

    at: datetime
    buyer: str
    supplier: str
    user: str
    route: str
    policy: str | None
    outcome: Literal["allowed", "denied"]
    shown: tuple[str, ...] = ()


class SponsoredUpgrade(_Doc):
    """A buyer sponsors a supplier's upgrade (a mission, a retrofit, a programme) over a period."""

    id: str
    buyer: str
    supplier: str
    kind: UpgradeKind
    ref: str = Field(description="the mission, retrofit or programme id")
    start: date
    end: date


def _policy_id(supplier: str, buyer: str, granted_at: datetime) -> str:
    digest = hashlib.sha256(f"{supplier}|{buyer}|{granted_at.isoformat()}".encode()).hexdigest()
    return f"pol-{digest[:12]}"


def invite(
    db: CommonsDB, buyer: str, supplier: str, now: datetime, purpose: str = "supplier_development"
) -> Invitation:
    """The buyer invites a supplier it has declared (`SupplierLink`); the supplier is not told more."""
    if buyer == supplier:
        raise ConsentError("supplier", "a firm cannot invite itself")
    if db.get("region_supplier_link", f"{buyer}:{supplier}", SupplierLink) is None:
        raise ConsentError("supplier", f"{supplier!r} is not a declared supplier of {buyer!r}", "not_found")
    if purpose not in PURPOSES:
        raise ConsentError("purpose", f"{purpose!r} is not one of {', '.join(PURPOSES)}")
    inv = Invitation(buyer=buyer, supplier=supplier, invited_at=now, purpose=purpose)  # type: ignore[arg-type]
    db.put(KIND_INVITATION, f"{buyer}:{supplier}", buyer, inv)
    return inv


def invitations_to(db: CommonsDB, supplier: str) -> list[Invitation]:
    return [i for i in db.all(KIND_INVITATION, Invitation) if i.supplier == supplier]


def grant(
    db: CommonsDB,
    supplier: str,
    buyer: str,
    kpis: Sequence[str],
    aggregation: str,
    purpose: str,
    until: date,
    now: datetime,
) -> UsagePolicy:
    """The supplier grants a policy to a buyer that invited it; every field is checked, by name."""
    if db.get(KIND_INVITATION, f"{buyer}:{supplier}", Invitation) is None:
        raise ConsentError("buyer", f"{buyer!r} has not invited {supplier!r}", "not_found")
    bad = [k for k in kpis if k not in SHAREABLE]
    if bad or not kpis:
        raise ConsentError("kpis", f"{bad or 'none'}: choose from {', '.join(SHAREABLE)}")
    if aggregation not in AGGREGATIONS:
        raise ConsentError("aggregation", f"{aggregation!r} is not one of {', '.join(AGGREGATIONS)}")
    if purpose not in PURPOSES:
        raise ConsentError("purpose", f"{purpose!r} is not one of {', '.join(PURPOSES)}")
    if until < now.date():
        raise ConsentError("until", f"{until} is already past")
    policy = UsagePolicy(
        id=_policy_id(supplier, buyer, now),
        supplier=supplier,
        buyer=buyer,
        kpis=tuple(dict.fromkeys(kpis)),
        aggregation=aggregation,  # type: ignore[arg-type]
        purpose=purpose,  # type: ignore[arg-type]
        granted_at=now,
        until=until,
    )
    db.put(KIND_POLICY, policy.id, supplier, policy)
    return policy


def policies(db: CommonsDB, firm: str) -> list[UsagePolicy]:
    """The policies a firm granted or was granted (revoked and ended ones too)."""
    return [p for p in db.all(KIND_POLICY, UsagePolicy) if firm in (p.supplier, p.buyer)]


def revoke(db: CommonsDB, supplier: str, policy_id: str, now: datetime) -> UsagePolicy:
    """The supplier ends a policy now; only the supplier that granted it may."""
    p = db.get(KIND_POLICY, policy_id, UsagePolicy)
    if p is None or p.supplier != supplier:
        raise ConsentError("policy", f"{policy_id!r}: no policy of {supplier!r}", "not_found")
    if p.revoked_at is None:
        p = p.model_copy(update={"revoked_at": now})
        db.put(KIND_POLICY, p.id, supplier, p)
    return p


def policy_in_force(
    db: CommonsDB, buyer: str, supplier: str, now: datetime, purpose: str | None = None
) -> UsagePolicy | None:
    found = [
        p
        for p in db.all(KIND_POLICY, UsagePolicy, owner=supplier)
        if p.buyer == buyer and p.in_force(now) and (purpose is None or p.purpose == purpose)
    ]
    return max(found, key=lambda p: p.granted_at) if found else None


def _band(measure: str, v: float) -> str:
    if measure == "oee":
        lo = min(int(v * 10), 9) / 10
        return f"{lo:.1f}-{lo + 0.1:.1f}"
    return str(min(5, max(1, int(v))))


def _series(snaps: list[KpiSnapshot], measure: str, aggregation: str) -> list[dict]:
    if aggregation == "snapshot":
        return [{"on": s.on.isoformat(), "value": round(getattr(s, measure), 4)} for s in snaps]
    if aggregation == "yearly":
        years: dict[int, list[float]] = {}
        for s in snaps:
            years.setdefault(s.on.year, []).append(getattr(s, measure))
        return [
            {"on": str(y), "value": round(sum(v) / len(v), 4), "n": len(v)} for y, v in sorted(years.items())
        ]
    return [{"on": s.on.isoformat(), "band": _band(measure, getattr(s, measure))} for s in snaps]


def _domains(db: CommonsDB, supplier: str, aggregation: str) -> dict:
    from .maturity import score

    answers = db.get("region_maturity", supplier, MaturityAnswers)
    if answers is None:
        return {}
    a = score(answers)
    if aggregation == "band":
        return {d.domain: d.level for d in a.domains}
    return {d.domain: round(d.score, 2) if d.score is not None else None for d in a.domains}


def supplier_view(
    db: CommonsDB,
    buyer: str,
    supplier: str,
    now: datetime,
    user: str,
    route: str,
    purpose: str | None = None,
    audit: Callable[[ConsentAccess], None] | None = None,
) -> dict:
    """What the buyer may see of the supplier now, exactly as the policy in force permits.

    Raises `ConsentDenied` (nothing shown) without one. Either way the access is recorded
    (`ConsentAccess`) and handed to `audit` (the server writes the supplier's audit log)."""
    p = policy_in_force(db, buyer, supplier, now, purpose)
    access = ConsentAccess(
        at=now,
        buyer=buyer,
        supplier=supplier,
        user=user,
        route=route,
        policy=p.id if p else None,
        outcome="allowed" if p else "denied",
        shown=p.kpis if p else (),
    )
    db.put(KIND_ACCESS, f"{now.isoformat()}:{uuid.uuid4().hex[:12]}", supplier, access)  # one per access
    if audit is not None:
        audit(access)
    if p is None:
        raise ConsentDenied(f"no policy of {supplier!r} for {buyer!r} is in force")
    snaps = sorted(
        (s for s in db.all("region_snapshot", KpiSnapshot, owner=supplier) if s.on <= now.date()),
        key=lambda s: s.on,
    )
    kpis: dict[str, object] = {}
    for k in p.kpis:
        kpis[k] = (
            _domains(db, supplier, p.aggregation)
            if k == "maturity_domains"
            else _series(snaps, k, p.aggregation)
        )
    upgrades = [u for u in upgrades_of(db, buyer) if u.supplier == supplier]
    return {
        "supplier": supplier,
        "policy": p.model_dump(mode="json"),
        "kpis": kpis,
        "upgrades": [upgrade_outcome(db, u, p) for u in upgrades],
    }


def accesses(db: CommonsDB, supplier: str) -> list[ConsentAccess]:
    """The supplier's access log (every access to its figures by a buyer)."""
    return db.all(KIND_ACCESS, ConsentAccess, owner=supplier)


def sponsor(
    db: CommonsDB, buyer: str, supplier: str, kind: str, ref: str, start: date, end: date
) -> SponsoredUpgrade:
    """The buyer records an upgrade it sponsors at a declared supplier."""
    if db.get("region_supplier_link", f"{buyer}:{supplier}", SupplierLink) is None:
        raise ConsentError("supplier", f"{supplier!r} is not a declared supplier of {buyer!r}", "not_found")
    if end < start:
        raise ConsentError("end", f"{end} is before the start {start}")
    u = SponsoredUpgrade(
        id=f"{buyer}:{supplier}:{kind}:{ref}",
        buyer=buyer,
        supplier=supplier,
        kind=kind,
        ref=ref,
        start=start,
        end=end,  # type: ignore[arg-type]
    )
    db.put(KIND_UPGRADE, u.id, buyer, u)
    return u


def upgrades_of(db: CommonsDB, buyer: str) -> list[SponsoredUpgrade]:
    return db.all(KIND_UPGRADE, SponsoredUpgrade, owner=buyer)


def upgrade_outcome(db: CommonsDB, u: SponsoredUpgrade, policy: UsagePolicy) -> dict:
    """An upgrade with the supplier's before/after, only the KPIs (and fineness) the policy permits."""
    from .programmes import before_after

    pair = before_after(db.all("region_snapshot", KpiSnapshot, owner=u.supplier), u.start, u.end).get(
        u.supplier
    )
    out: dict = {
        "id": u.id,
        "kind": u.kind,
        "ref": u.ref,
        "start": u.start.isoformat(),
        "end": u.end.isoformat(),
    }
    for k in policy.kpis:
        if k == "maturity_domains" or pair is None:
            continue
        b, a = getattr(pair[0], k), getattr(pair[1], k)
        if policy.aggregation == "band":
            out[k] = {"before": _band(k, b), "after": _band(k, a)}
        else:
            out[k] = {"before": round(b, 4), "after": round(a, 4), "change": round(a - b, 4)}
    return out
