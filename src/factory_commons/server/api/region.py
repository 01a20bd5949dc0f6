"""The /api/region routes: published regional figures, a firm's own self-assessment and roadmap,
and supplier development by consent (invitations, usage policies, the buyer's view, upgrades).

Funders and regional analysts (`read_region`) get only what `region.published` protected: no
cell of fewer than k firms. A firm (`firm_region`) reads its own assessment; consent steps are
the owner's (`grant`). The buyer's view of a supplier goes through `region.consent.supplier_view`,
which checks the supplier's policy at the moment of the access; every access, allowed or denied,
is written to the supplier's audit log (accounts) and the supplier's access log (region).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from ...accounts import Accounts
from ...cooperate.db import CommonsDB
from ...region import consent as cs
from ...region.maturity import MaturityModelError, score
from ...region.models import MaturityAnswers
from ...region.published import published
from ...region.roadmap import roadmap
from ..auth import Caller, api_text
from .common import errors

_STATUS = {"invalid": 422, "not_found": 404, "forbidden": 403}


@contextmanager
def consent_guard() -> Iterator[None]:
    try:
        yield
    except cs.ConsentError as e:
        raise HTTPException(_STATUS.get(e.code, 422), f"{e.field}: {e.why}") from None


def firm_of(c: Caller) -> str:
    """The caller's firm id in the commons and the region (the accounts firm name)."""
    return c.firm.name


def own_assessment(db: CommonsDB, firm: str) -> dict[str, Any] | None:
    """A firm's own scored self-assessment with its roadmap, or None when it has none."""
    answers = db.get("region_maturity", firm, MaturityAnswers)
    if answers is None:
        return None
    a = score(answers)
    return {
        "assessment": asdict(a),
        "assessed_on": answers.assessed_on.isoformat(),
        "roadmap": [asdict(s) for s in roadmap(a, db)],
    }


def audit_to(accounts: Accounts, c: Caller) -> Callable[[cs.ConsentAccess], None]:
    """Write a buyer's access to the supplier firm's audit log (when the supplier has an account)."""

    def write(a: cs.ConsentAccess) -> None:
        firm = accounts.firm_by_name(a.supplier)
        if firm is not None:
            obj = f"region supplier {a.supplier} by {a.buyer}: {', '.join(a.shown) or '-'} ({a.policy or 'no policy'})"
            accounts.audit(c.now, c.user.id, firm.id, None, c.method, c.path, obj, a.outcome)

    return write


class InvitationIn(BaseModel):
    supplier: str = Field(min_length=1, max_length=200)
    purpose: str = "supplier_development"


class PolicyIn(BaseModel):
    buyer: str = Field(min_length=1, max_length=200)
    kpis: list[str] = Field(min_length=1, max_length=len(cs.SHAREABLE))
    aggregation: str
    purpose: str
    until: date


class UpgradeIn(BaseModel):
    supplier: str = Field(min_length=1, max_length=200)
    kind: str
    ref: str = Field(min_length=1, max_length=200)
    start: date
    end: date


def region_router(
    db: CommonsDB, caller: Callable[..., Caller], now: Callable[[], datetime], accounts: Accounts
) -> APIRouter:
    """The /api/region routes over the commons database `db` (where the region keeps its documents)."""
    CallerDep = Annotated[Caller, Depends(caller)]
    router = APIRouter(prefix="/api/region", tags=["region"])
    READ, WRITE = errors(401, 403, 404, 422), errors(401, 403, 404, 422)

    @router.get("/cells", responses=READ)
    def cells(c: CallerDep, table: Annotated[str | None, Query(max_length=200)] = None) -> list[dict]:
        """Every published cell of the region (or of one table): value, n_firms, suppressed, interval."""
        return [x.as_dict() for x in published(db).cells if table is None or x.table == table]

    @router.get("/programmes", responses=READ)
    def programmes(c: CallerDep) -> list[dict]:
        """The support programmes: budget, period and, where published, effects and costs."""
        out = []
        for p in published(db).programmes:
            out.append(
                {
                    "id": p.id,
                    "name_ko": p.name_ko,
                    "name_en": p.name_en,
                    "budget_krw": p.budget_krw,
                    "start": p.start,
                    "end": p.end,
                    "n_firms": p.n_firms,
                    "suppressed": p.suppressed,
                    "effect_level": p.level.as_dict() if p.level else None,
                    "effect_oee": p.oee.as_dict() if p.oee else None,
                    "cost_per_level_krw": p.cost("level"),
                    "cost_per_oee_point_krw": p.cost("oee_point"),
                }
            )
        return out

    @router.get("/self", responses=READ)
    def self_assessment(c: CallerDep) -> dict:
        """The caller's firm's own self-assessment (evidence shown) and roadmap."""
        try:
            got = own_assessment(db, firm_of(c))
        except MaturityModelError as e:
            raise HTTPException(422, str(e)) from None
        if got is None:
            raise HTTPException(404, api_text("not_found"))
        return got

    @router.get("/consents", responses=READ)
    def consents(c: CallerDep) -> dict:
        """The policies the caller's firm granted or was granted, its invitations and its access log."""
        me = firm_of(c)
        return {
            "policies": [p.model_dump(mode="json") for p in cs.policies(db, me)],
            "invitations": [i.model_dump(mode="json") for i in cs.invitations_to(db, me)],
            "accesses": [a.model_dump(mode="json") for a in cs.accesses(db, me)],
        }

    @router.post("/invitations", responses=WRITE, status_code=201)
    def invite(c: CallerDep, body: InvitationIn) -> dict:
        """The caller's firm (a buyer) invites one of its declared suppliers."""
        with consent_guard():
            return cs.invite(db, firm_of(c), body.supplier, now(), body.purpose).model_dump(mode="json")

    @router.post("/consents", responses=WRITE, status_code=201)
    def grant(c: CallerDep, body: PolicyIn) -> dict:
        """The caller's firm (a supplier) grants a usage policy to a buyer that invited it."""
        with consent_guard():
            p = cs.grant(
                db, firm_of(c), body.buyer, body.kpis, body.aggregation, body.purpose, body.until, now()
            )
        return p.model_dump(mode="json")

    @router.post("/consents/{policy_id}/revoke", responses=WRITE)
    def revoke(c: CallerDep, policy_id: str) -> dict:
        """The supplier ends its policy now: from this moment the buyer sees nothing."""
        with consent_guard():
            return cs.revoke(db, firm_of(c), policy_id, now()).model_dump(mode="json")

    @router.get("/suppliers/{supplier}", responses=READ)
    def supplier(c: CallerDep, supplier: str, purpose: str | None = None) -> dict:
        """What the supplier's policy in force lets the caller's firm see (404 without one); audited."""
        try:
            return cs.supplier_view(
                db, firm_of(c), supplier, c.now, c.user.email, "api", purpose, audit_to(accounts, c)
            )
        except cs.ConsentDenied:  # 404 like an unknown supplier: no policy tells nothing
            raise HTTPException(404, api_text("not_found")) from None

    @router.post("/upgrades", responses=WRITE, status_code=201)
    def upgrade(c: CallerDep, body: UpgradeIn) -> dict:
        """The caller's firm (a buyer) records an upgrade it sponsors at a supplier."""
        if body.kind not in ("mission", "retrofit", "programme"):
            raise HTTPException(422, f"kind: {body.kind!r} is not mission, retrofit or programme")
        with consent_guard():
            u = cs.sponsor(db, firm_of(c), body.supplier, body.kind, body.ref, body.start, body.end)
        return u.model_dump(mode="json")

    return router
