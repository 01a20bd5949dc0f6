"""The cooperation indicators measured from platform behaviour, beside the survey's answers.

For each firm: co-purchasing pools and co-marketing campaigns it committed to (kinds `pool`
and `campaign` of the commons: `commitments[].firm_id`), co-R&D projects it posted (`project`:
`firm_id`), and expert missions it hosted (`mission`: `firm_id`), plus the `region_activity`
documents of the sample region (generated activity, `source` "sample"). A firm's indicator is
1 when it did the thing at least once:

    linkage         a co-R&D project or an expert mission (with an institute or another firm)
    co_rnd          a co-R&D project
    co_marketing    a co-marketing campaign
    co_purchasing   a co-purchasing pool
"""

from __future__ import annotations

import json

from ..cooperate.db import CommonsDB
from .models import PlatformActivity

INDICATORS: tuple[str, ...] = ("linkage", "co_rnd", "co_marketing", "co_purchasing")


def _raw(db: CommonsDB, kind: str) -> list[dict]:
    rows = db._q("SELECT body FROM docs WHERE kind = ?", (kind,))  # noqa: SLF001 - read-only scan
    return [json.loads(r[0]) for r in rows]


def platform_activity(db: CommonsDB) -> dict[str, PlatformActivity]:
    """firm id -> what the commons saw it do (documents of the commons and sample activity)."""
    counts: dict[str, dict[str, int]] = {}

    def bump(firm: str | None, field: str) -> None:
        if firm:
            c = counts.setdefault(firm, {})
            c[field] = c.get(field, 0) + 1

    for kind, field in (("pool", "pools_joined"), ("campaign", "campaigns_joined")):
        for doc in _raw(db, kind):
            for firm in {c.get("firm_id") for c in doc.get("commitments", ())}:
                bump(firm, field)
    for doc in _raw(db, "project"):
        bump(doc.get("firm_id"), "co_rnd_projects")
    for doc in _raw(db, "mission"):
        bump(doc.get("firm_id"), "missions")
    out = {f: PlatformActivity(firm_id=f, source="commons", **c) for f, c in counts.items()}
    for a in db.all("region_activity", PlatformActivity):
        have = out.get(a.firm_id)
        if have is None:
            out[a.firm_id] = a
        else:
            out[a.firm_id] = have.model_copy(
                update={
                    "pools_joined": have.pools_joined + a.pools_joined,
                    "campaigns_joined": have.campaigns_joined + a.campaigns_joined,
                    "co_rnd_projects": have.co_rnd_projects + a.co_rnd_projects,
                    "missions": have.missions + a.missions,
                }
            )
    return out


def indicator(activity: PlatformActivity | None, name: str) -> float:
    """1.0 when the firm did it at least once, else 0.0 (no activity: 0.0)."""
    if activity is None:
        return 0.0
    a = activity
    return float(
        {
            "linkage": a.co_rnd_projects + a.missions,
            "co_rnd": a.co_rnd_projects,
            "co_marketing": a.campaigns_joined,
            "co_purchasing": a.pools_joined,
        }[name]
        > 0
    )
