"""A firm's roadmap: its weakest maturity domains, the next step in each, and who in the commons helps.

For each of the `n` domains with the lowest scores (below level 5; a domain without any
answer is not ranked): the items with the lowest level (raise
them first, one level at a time), the outside experts whose topics cover the domain (the
domain's `topics` in `maturity_model.toml`; ranked by topics covered, then years), the
region's support programmes that work on the domain (`Programme.domains`), and the firm's
cooperatives (their co-purchasing pools are the commons' route to shared suppliers). Other
firms are never named here: their levels are theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cooperate.db import CommonsDB
from ..cooperate.experts import load_experts
from .db import load
from .maturity import Assessment, load_model
from .models import Programme


@dataclass(frozen=True)
class RoadmapStep:
    domain: str
    score: float
    level: int
    raise_items: tuple[tuple[str, int], ...]  # (item, its level now)
    experts: tuple[str, ...]  # expert ids
    programmes: tuple[str, ...]  # programme ids
    cooperatives: tuple[str, ...]  # cooperative ids the firm is a member of


def roadmap(
    assessment: Assessment, db: CommonsDB | None = None, n: int = 3, experts_per_step: int = 3
) -> list[RoadmapStep]:
    """The roadmap of an assessment; without a database only the domains and items."""
    model = load_model()
    experts = load_experts(db) if db is not None else []
    programmes = load(db, Programme) if db is not None else []
    coops: tuple[str, ...] = ()
    if db is not None:
        raw = db.raw("profile", assessment.firm_id)
        if raw:
            coops = tuple(raw.get("facility", {}).get("cooperatives", ()))
    steps = []
    for d in [d for d in assessment.weakest(len(assessment.domains)) if d.level < 5][:n]:
        topics = set(model.domain(d.domain).topics)
        levels = [(i.item, i.level) for i in d.items if i.level is not None]
        low = min(lv for _, lv in levels)
        ranked = sorted(
            (e for e in experts if topics & set(e.skills)),
            key=lambda e: (-len(topics & set(e.skills)), -e.years, e.id),
        )
        steps.append(
            RoadmapStep(
                domain=d.domain,
                score=round(d.score, 2),
                level=d.level,
                raise_items=tuple((i, lv) for i, lv in levels if lv == low),
                experts=tuple(e.id for e in ranked[:experts_per_step]),
                programmes=tuple(p.id for p in programmes if d.domain in p.domains),
                cooperatives=coops,
            )
        )
    return steps
