"""Two-sided ratings: buyers rate suppliers, suppliers rate buyers, and buyers' award rates.

Marketplaces rate only suppliers; MFG.com also rates buyers by how many of their RFQs were
awarded (cooperation_anchors.md §1, [S19]). Here both sides are rated after an order, on 1-5
per criterion, with the date:

    a supplier is rated on   quality, on_time, communication
    a buyer is rated on      specification (clear drawings/requirements), payment, communication

and every closed request leaves an `Award` record (ordered or not), which gives the buyer's
award rate: how often its requests led to an order.

Scores are smoothed (a Bayesian average with a prior) so that one 5-star review does not beat
fifty 4.8s:

    smoothed = (PRIOR_WEIGHT * PRIOR_MEAN + sum of ratings) / (PRIOR_WEIGHT + n)
    award rate = (AWARD_PRIOR_WEIGHT * AWARD_PRIOR + orders) / (AWARD_PRIOR_WEIGHT + requests)

Records persist in `CommonsDB` under the kinds "rating" (owner: the rater) and "award" (owner:
the buyer). `RatingBook` is the read side used by matching (`supplier(firm).value` in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .db import CommonsDB

PRIOR_MEAN = 4.0  # what an unknown firm is assumed to score, on 1-5
PRIOR_WEIGHT = 5.0  # worth this many ratings
AWARD_PRIOR = 0.3  # an unknown buyer's award rate
AWARD_PRIOR_WEIGHT = 5.0

CRITERIA: dict[str, tuple[str, ...]] = {
    "supplier": ("quality", "on_time", "communication"),
    "buyer": ("specification", "payment", "communication"),
}


class Rating(BaseModel):
    """One rating of a firm by the other side of an order, 1-5 per criterion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    request_id: str
    rater: str
    ratee: str
    ratee_role: Literal["supplier", "buyer"]
    scores: dict[str, int]
    day: date
    comment: str = ""

    @model_validator(mode="after")
    def _valid(self) -> Rating:
        if self.rater == self.ratee:
            raise ValueError(f"rater: a firm cannot rate itself ({self.rater!r})")
        want = CRITERIA[self.ratee_role]
        if set(self.scores) != set(want):
            raise ValueError(
                f"scores: a {self.ratee_role} is rated on {', '.join(want)}; got {', '.join(sorted(self.scores))}"
            )
        for k, v in self.scores.items():
            if not 1 <= v <= 5:
                raise ValueError(f"scores.{k}: must be 1-5, got {v}")
        return self

    def mean(self) -> float:
        return sum(self.scores.values()) / len(self.scores)


class Award(BaseModel):
    """How a buyer's request ended: led to an order (with the supplier) or not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    buyer: str
    ordered: bool
    supplier: str | None = None
    day: date
    value_krw: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _valid(self) -> Award:
        if self.ordered and not self.supplier:
            raise ValueError("supplier: an ordered request names the supplier")
        if not self.ordered and self.supplier:
            raise ValueError("supplier: a request without an order has no supplier")
        return self


def smoothed(total: float, n: int, prior: float = PRIOR_MEAN, weight: float = PRIOR_WEIGHT) -> float:
    """Bayesian average of n observations summing to `total`, with a prior worth `weight` of them."""
    return (weight * prior + total) / (weight + n)


@dataclass(frozen=True)
class SupplierScore:
    """A supplier's ratings: raw mean, smoothed 1-5 score, per criterion, and `value` in [0, 1]."""

    firm_id: str
    n: int
    mean: float
    score: float
    criteria: dict[str, float]

    @property
    def value(self) -> float:
        return (self.score - 1.0) / 4.0


@dataclass(frozen=True)
class BuyerScore:
    """A buyer's ratings by suppliers and its award rate (requests that led to an order)."""

    firm_id: str
    n: int
    score: float
    requests: int
    orders: int
    award_rate: float

    @property
    def value(self) -> float:
        """Combined buyer value in [0, 1]: half the smoothed rating, half the smoothed award rate."""
        return 0.5 * (self.score - 1.0) / 4.0 + 0.5 * self.award_rate


class RatingBook:
    """All ratings and awards, summarised per firm (the read side for matching and pages)."""

    def __init__(self, ratings: Iterable[Rating] = (), awards: Iterable[Award] = ()):
        self.ratings = list(ratings)
        self.awards = list(awards)
        self._sup: dict[str, SupplierScore] = {}
        self._buy: dict[str, BuyerScore] = {}
        by: dict[tuple[str, str], list[Rating]] = {}
        for r in self.ratings:
            by.setdefault((r.ratee_role, r.ratee), []).append(r)
        for (role, firm), rs in by.items():
            total = sum(r.mean() for r in rs)
            crit = {k: smoothed(sum(r.scores[k] for r in rs), len(rs)) for k in CRITERIA[role]}
            if role == "supplier":
                self._sup[firm] = SupplierScore(
                    firm, len(rs), total / len(rs), smoothed(total, len(rs)), crit
                )
        award_by: dict[str, list[Award]] = {}
        for a in self.awards:
            award_by.setdefault(a.buyer, []).append(a)
        for firm in {f for (role, f) in by if role == "buyer"} | set(award_by):
            rs = by.get(("buyer", firm), [])
            aw = award_by.get(firm, [])
            orders = sum(a.ordered for a in aw)
            self._buy[firm] = BuyerScore(
                firm,
                len(rs),
                smoothed(sum(r.mean() for r in rs), len(rs)),
                len(aw),
                orders,
                smoothed(orders, len(aw), AWARD_PRIOR, AWARD_PRIOR_WEIGHT),
            )

    def supplier(self, firm_id: str) -> SupplierScore | None:
        """The firm's score as a supplier, or None when nobody rated it yet."""
        return self._sup.get(firm_id)

    def buyer(self, firm_id: str) -> BuyerScore | None:
        """The firm's score as a buyer (ratings and award rate), or None without any record."""
        return self._buy.get(firm_id)


def save_rating(db: CommonsDB, rating: Rating) -> None:
    """Keep a rating (kind "rating", owned by the rater); one per (request, rater, ratee)."""
    with db.transaction():
        for old in db.all("rating", Rating, owner=rating.rater):
            if (old.request_id, old.ratee) == (rating.request_id, rating.ratee) and old.id != rating.id:
                raise ValueError(
                    f"rating: {rating.rater!r} already rated {rating.ratee!r} for request {rating.request_id!r}"
                )
        db.put("rating", rating.id, rating.rater, rating)


def save_award(db: CommonsDB, award: Award) -> None:
    """Keep how a request ended (kind "award", id = request id, owned by the buyer)."""
    db.put("award", award.request_id, award.buyer, award)


def load_book(db: CommonsDB) -> RatingBook:
    """Every rating and award in the database, summarised."""
    return RatingBook(db.all("rating", Rating), db.all("award", Award))
