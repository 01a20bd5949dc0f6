"""The built-in cooperation questionnaire, after the Seoul study of city manufacturers.

The Seoul study measured how small manufacturers cooperate, by survey: 14.3 % linked with R&D
institutes or other firms for new products, 11.5 % ran co-R&D, and about 98 % never
cooperated in advertising, market research, sales or co-purchasing (as quoted in issue 22 and
in /work/shared/research/cooperation_anchors.md §6, "problems from the policy documents"; the
study itself is not among the stored sources, so these figures are cited second-hand).

Each question is a yes/no (1/0) about the last three years; the question texts are in the
`region` catalog (`q_<id>`). `platform` names the same indicator measured from platform
behaviour (`platform.py`), where the commons can see it. `published` is the study's figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..i18n import N_

SEOUL_STUDY_SOURCE = (
    "Seoul study of city manufacturers, as quoted in issue 22 and "
    "/work/shared/research/cooperation_anchors.md §6 (second-hand)"
)


@dataclass(frozen=True)
class Question:
    id: str
    platform: str | None  # PlatformActivity indicator measuring the same thing, if any
    published: float | None  # the study's share (0-1)


COOPERATION_SURVEY: tuple[Question, ...] = (
    Question(N_("new_product_linkage"), "linkage", 0.143),
    Question(N_("co_rnd"), "co_rnd", 0.115),
    Question(N_("co_marketing"), "co_marketing", 0.02),
    Question(N_("co_market_research"), None, 0.02),
    Question(N_("co_sales"), None, 0.02),
    Question(N_("co_purchasing"), "co_purchasing", 0.02),
)
QUESTION_IDS: tuple[str, ...] = tuple(q.id for q in COOPERATION_SURVEY)


def question(qid: str) -> Question:
    for q in COOPERATION_SURVEY:
        if q.id == qid:
            return q
    raise KeyError(f"unknown question {qid!r}; questions: {', '.join(QUESTION_IDS)}")


def _rate(base: float, per_level: float) -> Callable[[object, float], float]:
    """A firm's chance to answer yes: the base share, higher for more mature firms."""
    return lambda firm, theta: min(max(base + per_level * (theta - 2.2), 0.0), 1.0)


#: the sample region's true answering chances (sample.py), shaped like the study's figures
TRUE_RATES: dict[str, Callable[[object, float], float]] = {
    "new_product_linkage": _rate(0.143, 0.06),
    "co_rnd": _rate(0.115, 0.05),
    "co_marketing": _rate(0.02, 0.01),
    "co_market_research": _rate(0.02, 0.01),
    "co_sales": _rate(0.02, 0.01),
    "co_purchasing": _rate(0.025, 0.01),
}
