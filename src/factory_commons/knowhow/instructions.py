"""Work instructions in the TWI Job Instruction form, versioned, beside the cases.

A veteran writes a task as its important steps; each step has its key points (what makes or
breaks the job, safety, the knack) and the reason for each key point (TWI Job Instruction's
breakdown sheet). An instruction is linked to machines (paths or machine types) and products
and may carry a photo per step. Saving an instruction with an id that is there adds a new
version; the old ones stay readable (`history`). Kept in the know-how database
(`KnowhowDB`), in the table `instructions`, created on first use like the cases table.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, Field, model_validator

from ..model.policy import FreeText, Line
from .db import KnowhowDB

_DDL = """
CREATE TABLE IF NOT EXISTS instructions (
    id TEXT NOT NULL, version INTEGER NOT NULL, firm TEXT NOT NULL, task TEXT NOT NULL,
    body TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (id, version)
)
"""


class Step(BaseModel):
    """One important step with its key points and the reason of each (same order)."""

    important: FreeText = Field(min_length=1, description="what to do, a few words")
    key_points: list[FreeText] = Field(default_factory=list)
    reasons: list[FreeText] = Field(default_factory=list, description="why, one per key point")
    photo: Line | None = None

    @model_validator(mode="after")
    def _reasons_match(self) -> Step:
        if len(self.reasons) > len(self.key_points):
            raise ValueError("reasons: more reasons than key points")
        return self


class Instruction(BaseModel):
    """A task written as TWI Job Instruction steps; `version` counts from 1."""

    id: str = Field(default_factory=lambda: "i-" + uuid.uuid4().hex[:12])
    firm: Line = ""
    task: Line = Field(min_length=1, description="the task it teaches, the skills matrix's column")
    title: Line = ""
    machines: list[Line] = Field(default_factory=list, description="machine paths or machine types")
    products: list[Line] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    author: Line | None = None
    lang: Line = ""
    version: int = 1
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def covers(self, machine: str, machine_type: str | None = None) -> bool:
        """Linked to this machine (by path) or its type."""
        return machine in self.machines or (machine_type is not None and machine_type in self.machines)


def _ready(db: KnowhowDB) -> KnowhowDB:
    if not getattr(db, "_instructions_ready", False):
        db._q(_DDL)
        db._instructions_ready = True  # type: ignore[attr-defined]
    return db


def save(db: KnowhowDB, ins: Instruction) -> Instruction:
    """Store `ins` as the next version of its id (version 1 when new); returns what was stored."""
    _ready(db)
    with db.transaction():
        rows = db._q("SELECT max(version) FROM instructions WHERE id = ?", (ins.id,))
        last = rows[0][0] if rows and rows[0][0] is not None else 0
        if last and db._q("SELECT firm FROM instructions WHERE id = ? LIMIT 1", (ins.id,))[0][0] != ins.firm:
            raise KeyError(ins.id)  # another firm's instruction
        stored = ins.model_copy(update={"version": int(last) + 1, "created": datetime.now(UTC)})
        db._q(
            "INSERT INTO instructions (id, version, firm, task, body, created) VALUES (?, ?, ?, ?, ?, ?)",
            (
                stored.id,
                stored.version,
                stored.firm,
                stored.task,
                stored.model_dump_json(),
                stored.created.isoformat(),
            ),
        )
    return stored


def get(db: KnowhowDB, instruction_id: str, version: int | None = None) -> Instruction | None:
    """The latest version of an instruction (or the given version), None when unknown."""
    _ready(db)
    if version is None:
        rows = db._q(
            "SELECT body FROM instructions WHERE id = ? ORDER BY version DESC LIMIT 1", (instruction_id,)
        )
    else:
        rows = db._q("SELECT body FROM instructions WHERE id = ? AND version = ?", (instruction_id, version))
    return Instruction.model_validate_json(rows[0][0]) if rows else None


def history(db: KnowhowDB, instruction_id: str) -> list[Instruction]:
    """All versions, oldest first."""
    _ready(db)
    rows = db._q("SELECT body FROM instructions WHERE id = ? ORDER BY version", (instruction_id,))
    return [Instruction.model_validate_json(r[0]) for r in rows]


def latest(db: KnowhowDB, firm: str | None = None) -> list[Instruction]:
    """The latest version of every instruction (of `firm`), by task."""
    _ready(db)
    sql = "SELECT i.body FROM instructions i WHERE i.version = (SELECT max(version) FROM instructions j WHERE j.id = i.id)"
    params: tuple = ()
    if firm is not None:
        sql += " AND i.firm = ?"
        params = (firm,)
    found = [Instruction.model_validate_json(r[0]) for r in db._q(sql, params)]
    return sorted(found, key=lambda i: (i.task, i.title, i.id))


def for_machine(
    db: KnowhowDB, machine: str, machine_type: str | None = None, firm: str | None = None
) -> list[Instruction]:
    """The latest instructions linked to a machine or its type."""
    return [i for i in latest(db, firm) if i.covers(machine, machine_type)]


def per_product(db: KnowhowDB, firm: str | None = None) -> dict[str, int]:
    """How many instructions each product has (codification metrics)."""
    out: dict[str, int] = {}
    for i in latest(db, firm):
        for p in i.products:
            out[p] = out.get(p, 0) + 1
    return out
