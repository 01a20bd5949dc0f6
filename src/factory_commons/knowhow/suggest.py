"""The likeliest causes and actions when a stop or an alarm closes, from past cases.

The tablet asks `suggest()` as soon as a stop or an alarm ends. Past cases are ranked by the
hybrid search (`search.py`) with the event as the query: the operator's few words (if any),
the alarm message, the reason code's name and the signals the anomaly evidence points at;
the situational boosts favour the same machine, machine type and alarm or reason code. A case
whose anomaly evidence names the same signals gains a little (signal pattern). Cases that
share a cause are merged into one suggestion (its score the sum, its cases listed), so one tap
confirms a cause that has happened several times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .cases import Case, CaseContext
from .db import KnowhowDB
from .search import Hit
from .text import squeeze

EVIDENCE_BOOST = 0.004
POOL = 50


@dataclass
class Suggestion:
    """A cause and the action that fixed it, with the past cases behind it."""

    cause: str
    action: str
    score: float
    case_ids: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    verified: bool = False

    def as_dict(self) -> dict:
        return {
            "cause": self.cause,
            "action": self.action,
            "score": round(self.score, 6),
            "case_ids": self.case_ids,
            "refs": self.refs,
            "verified": self.verified,
        }


def event_query(context: CaseContext | None, text: str = "") -> str:
    """The text an event is searched by: the operator's words, alarm message, codes, signals."""
    parts = [text]
    if context is not None:
        parts += [context.alarm_message or "", context.alarm_code or "", context.reason_code or ""]
        parts += [k.replace("_", " ") for k in list(context.anomaly_evidence)[:3]]
    return " ".join(p for p in parts if p).strip()


def _overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """Shared share of two evidence maps (0: no signal in common, 1: the same)."""
    return sum(min(a[k], b[k]) for k in a.keys() & b.keys())


def suggest(
    db: KnowhowDB,
    machine: str | None = None,
    machine_type: str | None = None,
    code: str | None = None,
    text: str = "",
    context: CaseContext | None = None,
    limit: int = 5,
    firm: str | None = None,
) -> list[Suggestion]:
    """Up to `limit` causes with actions, likeliest first; empty when nothing is known."""
    if context is not None:
        code = code or context.alarm_code or context.reason_code
    query = event_query(context, text) or (code or "")
    index = db.index()
    if not len(index):
        return []
    # only a code (no words, alarm message or evidence): the cases that carry the code itself
    # come first; searching the code as a word would favour any text that happens to mention it
    only_code = not text.strip() and not (
        context is not None and (context.alarm_message or context.anomaly_evidence)
    )
    hits = []
    if only_code and code:
        hits = _same_situation(index.cases, None, None, code, firm, machine)
    if not hits and query:  # words, or a code no case carries: where the texts mention it
        hits = index.search(
            query, limit=POOL, machine=machine, machine_type=machine_type, code=code, firm=firm
        )
    if not hits:  # no words at all: the cases of the same code, machine or type
        hits = _same_situation(index.cases, machine, machine_type, code, firm, machine)
    grouped: dict[str, Suggestion] = {}
    for h in hits:
        c = h.case
        if not (c.cause or c.action):
            continue
        score = h.score
        if context is not None and context.anomaly_evidence and c.context is not None:
            score += EVIDENCE_BOOST * _overlap(context.anomaly_evidence, c.context.anomaly_evidence)
        key = squeeze(c.cause) or squeeze(c.action)
        s = grouped.get(key)
        if s is None:
            grouped[key] = Suggestion(c.cause, c.action, score, [c.id], [c.ref or c.id], c.verified)
        else:
            s.score += score
            s.case_ids.append(c.id)
            s.refs.append(c.ref or c.id)
            s.verified = s.verified or c.verified
    return sorted(grouped.values(), key=lambda s: -s.score)[:limit]


def _same_situation(
    cases: list[Case],
    machine: str | None,
    machine_type: str | None,
    code: str | None,
    firm: str | None,
    prefer_machine: str | None = None,
) -> list[Hit]:
    """Cases of the same code, machine or machine type: the same code first, then those of
    `prefer_machine`; verified before unverified, newest first."""
    same = [
        c
        for c in cases
        if (firm is None or c.firm == firm)
        and (
            (code and code in (c.alarm_code, c.reason_code))
            or (machine and c.machine == machine)
            or (machine_type and c.machine_type == machine_type)
        )
    ]
    same.sort(
        key=lambda c: (
            bool(code and code in (c.alarm_code, c.reason_code)),
            bool(prefer_machine and c.machine == prefer_machine),
            c.verified,
            c.created,
        ),
        reverse=True,
    )
    return [Hit(c, 1.0 / (60 + i + 1)) for i, c in enumerate(same[:POOL])]
