"""The /api/knowhow routes: search the firm's cases, read, add and verify them, suggestions.

GET /api/knowhow/search?q=TEXT (hybrid search, best first, each with `ref` and `score` like
`factory-commons knowhow search --format json`), GET /api/knowhow/cases, GET
/api/knowhow/cases/{case_id}, POST /api/knowhow/cases (a case as JSON; firm and author are the
caller's), POST /api/knowhow/cases/{case_id}/verify (`verify_knowhow`: owner, engineer) and GET
/api/knowhow/suggest?machine=...&code=...&text=... (the likeliest causes and actions). A caller
sees only its firm's cases (`Case.firm` = the accounts firm name); a case's machine must be
the firm's own.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from ...knowhow.cases import Case
from ...knowhow.db import KnowhowDB
from ...knowhow.suggest import suggest
from ...model.policy import Code, FreeText, Line
from ...store.base import Store
from ..auth import NOT_FOUND, Caller, forbidden
from .common import READ_ERRORS, WRITE_ERRORS, errors


class CaseIn(BaseModel):
    """A new case from a client; the firm and the author are the caller's."""

    ref: Line | None = None
    machine: Line | None = None
    machine_type: Line | None = None
    product: Line | None = None
    title: FreeText = ""
    symptom: FreeText = ""
    cause: FreeText = ""
    action: FreeText = ""
    outcome: FreeText = ""
    success: bool | None = None
    time_to_fix_min: float | None = Field(default=None, ge=0)
    alarm_code: Code | None = None
    reason_code: Code | None = None
    lang: Line = ""
    occurred: datetime | None = None


class VerifyIn(BaseModel):
    verified: bool = True


def knowhow_router(db: KnowhowDB, store: Store, caller: Callable[..., Caller]) -> APIRouter:
    router = APIRouter(prefix="/api/knowhow", tags=["knowhow"])
    Who = Annotated[Caller, Depends(caller)]

    def firm(c: Caller) -> str:
        return c.firm.name

    def own(c: Caller, case_id: str) -> Case:
        case = db.get(case_id)
        if case is None or case.firm != firm(c):
            raise HTTPException(404, NOT_FOUND)
        return case

    @router.get("/search", responses=READ_ERRORS)
    def search(
        c: Who,
        q: Annotated[str, Query(min_length=1, max_length=300)],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        machine: str | None = None,
        machine_type: str | None = None,
        code: str | None = None,
    ) -> list[dict[str, Any]]:
        """The firm's cases that match `q`, best first (`ref`, `score`, title, machine, why)."""
        hits = db.search(q, limit=limit, machine=machine, machine_type=machine_type, code=code, firm=firm(c))
        return [
            {**h.as_dict(), "cause": h.case.cause, "action": h.case.action, "symptom": h.case.symptom}
            for h in hits
        ]

    @router.get("/cases", responses=READ_ERRORS)
    def cases(
        c: Who,
        machine: str | None = None,
        verified: bool | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """The firm's cases, newest change first."""
        found = db.cases(firm=firm(c), machine=machine, verified=verified, limit=limit)
        return [x.model_dump(mode="json") for x in found]

    @router.get("/cases/{case_id}", responses=errors(401, 403, 404, 422))
    def case(c: Who, case_id: str) -> dict[str, Any]:
        return own(c, case_id).model_dump(mode="json")

    @router.post("/cases", status_code=201, responses=WRITE_ERRORS)
    def add(c: Who, body: CaseIn) -> dict[str, Any]:
        """Add a case of the caller's firm (a `ref` already there replaces that case)."""
        if body.machine and not c.owns(body.machine):
            raise forbidden()
        if not (body.symptom or body.cause or body.action or body.title):
            raise HTTPException(422, "title/symptom/cause/action: at least one is needed")
        data = body.model_dump()
        for key in ("ref", "machine", "machine_type", "product", "alarm_code", "reason_code"):
            data[key] = data[key] or None  # an empty text is no value (an empty ref is no ref)
        case = Case(**data, firm=firm(c), author=c.user.display_name)
        return db.add(case).model_dump(mode="json")

    @router.post("/cases/{case_id}/verify", responses=errors(400, 401, 403, 404, 413, 422))
    def verify(c: Who, case_id: str, body: VerifyIn | None = None) -> dict[str, Any]:
        """Mark a case verified (or not) by the caller (a supervisor: owner or engineer)."""
        own(c, case_id)
        done = db.verify(case_id, c.user.display_name, body.verified if body else True)
        return done.model_dump(mode="json")

    @router.get("/suggest", responses=READ_ERRORS)
    def suggestions(
        c: Who,
        machine: str | None = None,
        machine_type: str | None = None,
        code: str | None = None,
        text: Annotated[str, Query(max_length=300)] = "",
        limit: Annotated[int, Query(ge=1, le=20)] = 5,
    ) -> list[dict[str, Any]]:
        """The likeliest causes with their actions for a machine, a code and a few words."""
        if machine and not c.may_read(machine):
            raise forbidden()
        if machine and not machine_type:
            machine_type = next((m.kind for m in store.machines() if m.path == machine), None)
        found = suggest(db, machine, machine_type, code, text, limit=limit, firm=firm(c))
        return [s.as_dict() for s in found]

    return router
