"""The five-level maturity self-assessment: the model (areas, domains, weighted items) and scoring.

Levels are the Korean scale: 1 checking, 2 monitoring, 3 analysis, 4 optimisation, 5 autonomous
operation. The model is the data file `maturity_model.toml` (ten domains in four areas, each
domain's points of 1,000, items with weights; see its header for the sources). Scoring is a
weighted mean at each step (the published method of Schumacher et al. 2016):

    item level      the level measured from evidence when there is one, else the firm's answer
    domain score    Σ weight·level / Σ weight over the domain's items that have a level
    domain level    ⌊domain score⌋  (a level counts as reached when the mean attains it)
    overall score   Σ points·domain score / Σ points over the domains that have a score
    overall level   ⌊overall score⌋
    points          Σ points·domain score / 5   (1,000 when every domain is at level 5)

An item without evidence or answer is left out (its weight too) and lowers `completeness`,
the answered share of the model's weight; `points` is given only when every domain has a score.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .models import EvidenceValue, MaturityAnswers

MODEL_FILE = Path(__file__).with_name("maturity_model.toml")
LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)
#: catalog ids of the level names (region catalog)
LEVEL_KEYS: dict[int, str] = {n: f"level_{n}" for n in LEVELS}
AREAS: tuple[str, ...] = ("management", "process", "systems", "performance")


class MaturityModelError(ValueError):
    """The model file or an answer is wrong; the message names the item or field and why."""


@dataclass(frozen=True)
class Item:
    id: str
    domain: str
    weight: float
    metric: str | None = None
    thresholds: tuple[float, ...] = ()

    def level_of(self, value: float) -> int:
        """The level a measured value reaches: 1 + the number of thresholds it attains."""
        return 1 + sum(1 for t in self.thresholds if value >= t - 1e-12)


@dataclass(frozen=True)
class Domain:
    id: str
    area: str
    points: float
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class MaturityModel:
    domains: tuple[Domain, ...]
    items: tuple[Item, ...]

    def item(self, item_id: str) -> Item:
        for i in self.items:
            if i.id == item_id:
                return i
        raise MaturityModelError(f"unknown maturity item {item_id!r}")

    def domain(self, domain_id: str) -> Domain:
        for d in self.domains:
            if d.id == domain_id:
                return d
        raise MaturityModelError(f"unknown maturity domain {domain_id!r}")

    def items_of(self, domain_id: str) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.domain == domain_id)

    def metric_items(self) -> dict[str, Item]:
        """metric name -> the item it answers"""
        return {i.metric: i for i in self.items if i.metric}


def parse_model(doc: dict, where: str = "maturity model") -> MaturityModel:
    """A model from a parsed TOML document, every field checked."""
    domains: list[Domain] = []
    for n, d in enumerate(doc.get("domain", [])):
        at = f"{where}: domain[{n}]"
        if d.get("area") not in AREAS:
            raise MaturityModelError(f"{at}: area must be one of {', '.join(AREAS)}, got {d.get('area')!r}")
        if not isinstance(d.get("points"), int | float) or d["points"] <= 0:
            raise MaturityModelError(f"{at}: points must be a positive number")
        domains.append(Domain(str(d["id"]), d["area"], float(d["points"]), tuple(d.get("topics", ()))))
    ids = {d.id for d in domains}
    if len(ids) != len(domains) or not domains:
        raise MaturityModelError(f"{where}: domain ids must be given and unique")
    items: list[Item] = []
    for n, i in enumerate(doc.get("item", [])):
        at = f"{where}: item[{n}] ({i.get('id')})"
        if i.get("domain") not in ids:
            raise MaturityModelError(f"{at}: unknown domain {i.get('domain')!r}")
        w = i.get("weight")
        if not isinstance(w, int | float) or w <= 0:
            raise MaturityModelError(f"{at}: weight must be a positive number, got {w!r}")
        th = tuple(float(x) for x in i.get("thresholds", ()))
        if i.get("metric") and (len(th) != 4 or list(th) != sorted(th)):
            raise MaturityModelError(f"{at}: a measured item needs 4 ascending thresholds (levels 2-5)")
        items.append(Item(str(i["id"]), i["domain"], float(w), i.get("metric"), th))
    if len({i.id for i in items}) != len(items):
        raise MaturityModelError(f"{where}: item ids must be unique")
    empty = [d.id for d in domains if not any(i.domain == d.id for i in items)]
    if empty:
        raise MaturityModelError(f"{where}: domains without items: {', '.join(empty)}")
    return MaturityModel(tuple(domains), tuple(items))


@cache
def load_model(path: Path = MODEL_FILE) -> MaturityModel:
    """The maturity model of the data file (cached)."""
    with open(path, "rb") as f:
        return parse_model(tomllib.load(f), str(path))


@dataclass(frozen=True)
class ItemResult:
    item: str
    level: int | None
    source: str  # "evidence", "answer" or "missing"
    evidence: EvidenceValue | None = None


@dataclass(frozen=True)
class DomainResult:
    domain: str
    area: str
    score: float | None
    level: int | None
    items: tuple[ItemResult, ...]


@dataclass(frozen=True)
class Assessment:
    firm_id: str
    domains: tuple[DomainResult, ...]
    score: float | None
    level: int | None
    points: float | None
    completeness: float
    measured_share: float = field(default=0.0)

    def domain(self, domain_id: str) -> DomainResult:
        return next(d for d in self.domains if d.domain == domain_id)

    def weakest(self, n: int = 3) -> list[DomainResult]:
        """The `n` domains with the lowest scores (unscored domains last), ties by model order."""
        scored = [d for d in self.domains if d.score is not None]
        return sorted(scored, key=lambda d: d.score)[:n]


def check_answers(answers: MaturityAnswers, model: MaturityModel | None = None) -> None:
    """MaturityModelError naming the item when an answer is for an unknown item or not 1-5."""
    model = model or load_model()
    for item_id, level in answers.answers.items():
        model.item(item_id)
        if level not in LEVELS:
            raise MaturityModelError(
                f"firm {answers.firm_id}: item {item_id}: level must be 1-5, got {level!r}"
            )
    for item_id in answers.evidence:
        model.item(item_id)


def _floor(x: float) -> int:
    return int(math.floor(x + 1e-9))


def score(answers: MaturityAnswers, model: MaturityModel | None = None) -> Assessment:
    """Domain and overall scores and levels of one firm's answers and evidence."""
    model = model or load_model()
    check_answers(answers, model)
    domains: list[DomainResult] = []
    total_w = sum(i.weight for i in model.items)
    have_w = measured_w = 0.0
    for d in model.domains:
        results: list[ItemResult] = []
        num = den = 0.0
        for it in model.items_of(d.id):
            ev = answers.evidence.get(it.id)
            if ev is not None:
                r = ItemResult(it.id, ev.level, "evidence", ev)
                measured_w += it.weight
            elif it.id in answers.answers:
                r = ItemResult(it.id, answers.answers[it.id], "answer")
            else:
                r = ItemResult(it.id, None, "missing")
            if r.level is not None:
                num += it.weight * r.level
                den += it.weight
            results.append(r)
        have_w += den
        s = num / den if den else None
        domains.append(DomainResult(d.id, d.area, s, _floor(s) if s is not None else None, tuple(results)))
    scored = [(model.domain(r.domain).points, r.score) for r in domains if r.score is not None]
    overall = sum(p * s for p, s in scored) / sum(p for p, _ in scored) if scored else None
    points = sum(p * s for p, s in scored) / 5.0 if len(scored) == len(model.domains) and scored else None
    return Assessment(
        firm_id=answers.firm_id,
        domains=tuple(domains),
        score=overall,
        level=_floor(overall) if overall is not None else None,
        points=points,
        completeness=have_w / total_w if total_w else 0.0,
        measured_share=measured_w / total_w if total_w else 0.0,
    )
