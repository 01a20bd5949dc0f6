"""The skills matrix: person x task at ILUO levels, signed off and dated; who alone can do what;
training plans for the people who lack a task.

ILUO (the usual shop-floor skills-matrix scale): I in training, L does it under supervision,
U does it alone to standard, O can teach it. A level is set with who signed it off and when;
the latest sign-off of a person and task counts. A task is a single-person task when only one
person holds it at U or O. A training plan gives each task short of `TARGET_HOLDERS` people at
U or better, the people below U with what to learn from: the task's instructions and the
verified cases of the machines those instructions cover. Kept in the know-how database
(`KnowhowDB`), table `skills`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .db import KnowhowDB
from .instructions import latest

LEVELS = ("I", "L", "U", "O")
ABLE = frozenset({"U", "O"})
TARGET_HOLDERS = 2

_DDL = """
CREATE TABLE IF NOT EXISTS skills (
    firm TEXT NOT NULL, person TEXT NOT NULL, task TEXT NOT NULL, level TEXT NOT NULL,
    signed_by TEXT NOT NULL, signed_on TEXT NOT NULL, PRIMARY KEY (firm, person, task)
)
"""


class SkillError(ValueError):
    """A bad sign-off: the field and why."""

    def __init__(self, field_name: str, why: str) -> None:
        super().__init__(f"{field_name}: {why}")
        self.field = field_name


@dataclass(frozen=True)
class Skill:
    person: str
    task: str
    level: str
    signed_by: str
    signed_on: date


@dataclass
class Training:
    """One task to spread: who holds it, who should learn it, and from what."""

    task: str
    holders: list[str]
    learners: list[str]
    instructions: list[str] = field(default_factory=list)  # instruction ids
    cases: list[str] = field(default_factory=list)  # verified case ids


def _ready(db: KnowhowDB) -> KnowhowDB:
    if not getattr(db, "_skills_ready", False):
        db._q(_DDL)
        db._skills_ready = True  # type: ignore[attr-defined]
    return db


def sign_off(db: KnowhowDB, firm: str, person: str, task: str, level: str, signed_by: str, on: date) -> Skill:
    """Set a person's level at a task, signed off by `signed_by` on `on` (replaces the last one)."""
    level = level.strip().upper()
    if level not in LEVELS:
        raise SkillError("level", f"{level!r} is not one of {', '.join(LEVELS)}")
    for name, value in (("person", person), ("task", task), ("signed_by", signed_by)):
        if not value.strip():
            raise SkillError(name, "empty")
    if signed_by.strip() == person.strip():
        raise SkillError("signed_by", "a person cannot sign off their own level")
    _ready(db)
    with db.transaction():
        db._q(
            "DELETE FROM skills WHERE firm = ? AND person = ? AND task = ?",
            (firm, person.strip(), task.strip()),
        )
        db._q(
            "INSERT INTO skills (firm, person, task, level, signed_by, signed_on) VALUES (?, ?, ?, ?, ?, ?)",
            (firm, person.strip(), task.strip(), level, signed_by.strip(), on.isoformat()),
        )
    return Skill(person.strip(), task.strip(), level, signed_by.strip(), on)


def skills(db: KnowhowDB, firm: str) -> list[Skill]:
    _ready(db)
    rows = db._q(
        "SELECT person, task, level, signed_by, signed_on FROM skills WHERE firm = ? ORDER BY person, task",
        (firm,),
    )
    return [Skill(p, t, lv, s, date.fromisoformat(on)) for p, t, lv, s, on in rows]


def matrix(db: KnowhowDB, firm: str) -> tuple[list[str], list[str], dict[tuple[str, str], Skill]]:
    """(people, tasks, {(person, task): skill}); tasks include those with only an instruction."""
    found = skills(db, firm)
    people = sorted({s.person for s in found})
    tasks = sorted({s.task for s in found} | {i.task for i in latest(db, firm)})
    return people, tasks, {(s.person, s.task): s for s in found}


def single_person_tasks(db: KnowhowDB, firm: str) -> dict[str, str]:
    """Tasks that exactly one person can do alone (U or O): {task: that person}."""
    holders: dict[str, list[str]] = {}
    for s in skills(db, firm):
        if s.level in ABLE:
            holders.setdefault(s.task, []).append(s.person)
    return {t: ps[0] for t, ps in sorted(holders.items()) if len(ps) == 1}


def training_plan(db: KnowhowDB, firm: str, target: int = TARGET_HOLDERS) -> list[Training]:
    """For each task with fewer than `target` able people: the others, with what to learn from."""
    people, tasks, cells = matrix(db, firm)
    instructions = latest(db, firm)
    verified = db.cases(firm=firm, verified=True)
    plan: list[Training] = []
    for task in tasks:
        holders = [p for p in people if (c := cells.get((p, task))) and c.level in ABLE]
        if len(holders) >= target:
            continue
        learners = [p for p in people if p not in holders]
        ins = [i for i in instructions if i.task == task]
        links = {m for i in ins for m in i.machines}
        cases = [c.id for c in verified if c.machine in links or c.machine_type in links]
        plan.append(Training(task, holders, learners, [i.id for i in ins], cases))
    return plan
