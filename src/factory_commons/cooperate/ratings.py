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

Both sides confirm (docs/commons.md, "Commons rules"): a buyer's award of an order names a
supplier and stays ``proposed`` until that supplier accepts it (``accepted``) or declines it
(``declined``). Only an accepted award is an order: it counts in the buyer's award rate, and
only its two parties may rate each other, once each (one rating per award per rater), fixed once
given; an order made on the commons (cooperate/orders.py) may be rated once the buyer received
it. An accepted award cannot be changed (nor can one that was rated); a proposed one may be
changed or withdrawn by the buyer. `load_book` counts only ratings that fulfil these rules, so a
rating written any other way counts for nothing: a buyer cannot "award" a firm that never
worked for it and rate it down.

Records persist in `CommonsDB` under the kinds "rating" (owner: the rater) and "award" (owner:
the buyer). `RatingBook` is the read side used by matching (`supplier(firm).value` in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..i18n import Catalog
from .db import CommonsDB
from .pools import CommonsError

AwardState = Literal["proposed", "accepted", "declined"]

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
    #: an order counts only once the supplier accepted it; a request without an order needs
    #: nobody's confirmation (it only lowers the buyer's own award rate)
    state: AwardState = "proposed"
    confirmed_day: date | None = None

    @property
    def confirmed(self) -> bool:
        """An order its supplier accepted (the only kind that counts)."""
        return self.ordered and self.state == "accepted"

    @property
    def counts(self) -> bool:
        """Whether it enters the buyer's award rate: a confirmed order, or no order."""
        return self.confirmed or not self.ordered

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
            if not a.counts:
                continue
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


def counted(rating: Rating, award: Award | None) -> bool:
    """Whether a rating fulfils the rules: its award is a confirmed order and the rater and
    ratee are its buyer and supplier (each rating the other in its role)."""
    if award is None or not award.confirmed or award.request_id != rating.request_id:
        return False
    parties = {(award.buyer, award.supplier, "supplier"), (award.supplier, award.buyer, "buyer")}
    return (rating.rater, rating.ratee, rating.ratee_role) in parties


def save_rating(db: CommonsDB, rating: Rating) -> None:
    """Keep a rating (kind "rating", owned by the rater): only for a confirmed award, by one of
    its parties of the other, once per award and rater, never replaced."""
    with db.transaction():
        award = db.get("award", rating.request_id, Award)
        if award is None or not award.ordered:
            raise CommonsError.of("request_id", "rating_needs_order", "conflict", request=rating.request_id)
        if not award.confirmed:
            raise CommonsError.of(
                "request_id", "rating_needs_accepted", "conflict", request=rating.request_id
            )
        if not counted(rating, award):
            raise CommonsError.of("rater", "rating_not_party", "forbidden", firm=rating.rater)
        order = db.raw("order", rating.request_id)  # an order of cooperate/orders.py
        if order is not None and order.get("status") != "received":
            ko, en = Catalog("commons_orders").pair("rating_needs_received")
            raise CommonsError("request_id", ko, en, "conflict")
        if db.owner("rating", rating.id) is not None:
            raise CommonsError.of("rating", "rating_exists", "conflict", request=rating.request_id)
        for old in db.all("rating", Rating, owner=rating.rater):
            if old.request_id == rating.request_id:
                raise CommonsError.of("rating", "rating_exists", "conflict", request=rating.request_id)
        db.put("rating", rating.id, rating.rater, rating)


def _rated(db: CommonsDB, request_id: str) -> bool:
    return any(r.request_id == request_id for r in db.all("rating", Rating))


def save_award(db: CommonsDB, award: Award) -> Award:
    """Keep how a request ended (kind "award", id = request id, owned by the buyer).

    A new award of an order is ``proposed`` until the supplier accepts it (whatever state the
    caller set); an accepted award, or one already rated, is fixed (`CommonsError` "conflict")."""
    with db.transaction():
        old = db.get("award", award.request_id, Award)
        if old is not None and (old.state == "accepted" or _rated(db, award.request_id)):
            raise CommonsError.of("request_id", "award_fixed", "conflict", request=award.request_id)
        if old is not None and old.buyer != award.buyer:
            raise CommonsError.of("buyer", "award_not_yours", "forbidden", request=award.request_id)
        award = award.model_copy(update={"state": "proposed", "confirmed_day": None})
        db.put("award", award.request_id, award.buyer, award)
    return award


def answer_award(db: CommonsDB, request_id: str, supplier: str, accept: bool, day: date) -> Award:
    """The supplier named in a proposed award accepts it (it becomes an order that counts and
    that both sides may rate) or declines it. Only that supplier may; only once."""
    with db.transaction():
        award = db.get("award", request_id, Award)
        if award is None or not award.ordered or award.supplier != supplier:
            raise CommonsError.of("request_id", "no_award_for_you", "not_found", request=request_id)
        if award.state != "proposed":
            raise CommonsError.of(
                "request_id", "award_answered", "conflict", request=request_id, state=award.state
            )
        award = award.model_copy(update={"state": "accepted" if accept else "declined", "confirmed_day": day})
        db.put("award", award.request_id, award.buyer, award)
    return award


def awards_to(db: CommonsDB, supplier: str) -> list[Award]:
    """The awards that name a firm as the supplier (to accept or decline)."""
    return [a for a in db.all("award", Award) if a.ordered and a.supplier == supplier]


def load_book(db: CommonsDB) -> RatingBook:
    """Every rating and award in the database that counts, summarised: ratings of confirmed
    awards by their parties (one per award and rater, the first kept), confirmed orders."""
    awards = db.all("award", Award)
    by_request = {a.request_id: a for a in awards}
    seen: set[tuple[str, str]] = set()
    ratings = []
    for r in sorted(db.all("rating", Rating), key=lambda r: (r.day, r.id)):
        key = (r.request_id, r.rater)
        if key not in seen and counted(r, by_request.get(r.request_id)):
            seen.add(key)
            ratings.append(r)
    return RatingBook(ratings, awards)
