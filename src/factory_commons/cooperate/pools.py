"""Co-purchasing pools and co-marketing campaigns run by a cooperative (공동구매·공동마케팅).

A **purchasing pool** (`PurchasePool`) buys one material for the members of a cooperative:

* the spec (vocab material code, spec text in Korean/English, unit such as ``kg``),
* the supplier's price tiers: from ``min_quantity`` of the *total* on, ``unit_price_krw`` per
  unit (thresholds strictly increasing, prices strictly falling),
* a minimum total quantity (the target), an optional per-member maximum,
* a commitment window ``opens <= now < closes`` (timezone-aware datetimes).

Members commit, change or withdraw quantities only while the window is open. Every commitment
holds a deposit at the *worst* tier price (the first tier), rounded up to whole won, so the
deposit always covers the final cost. At the close (once; closing again returns the same
settlement) the pool either

* **settles**: the tier for the total quantity applies, the total cost is
  ``floor(total quantity x unit price)`` whole won (원 미만 절사), and it is split over the members
  in proportion to their quantities with the largest-remainder (Hamilton) rule, ties broken by
  firm id, so the parts add up to the total exactly and each part is within 1 won of its exact
  proportion; every member gets back ``deposit - cost``; or
* is **refunded**: the minimum was missed and every deposit comes back in full.

Who may commit, and what members see of others (docs/commons.md, "Commons rules"):

* only the cooperative's *granted* members (`membership.py`: invited and accepted, or asked and
  approved) commit or join; when the cooperative has a record, membership is read from it at
  every commitment, so a firm removed from the cooperative can no longer commit. A firm's profile
  grants nothing.
* another member's quantity must not be readable from the change of the total: while a pool or
  campaign is open its members see their own commitment and how many firms committed, never the
  total, the tier reached or how far the next tier is; after the close they see the totals only
  when at least ``disclosure_min_firms`` firms committed (a pool setting, at least 2, default
  `DISCLOSURE_MIN_FIRMS` = 3), else only their own line. The cooperative sees everything.

A **campaign** (`Campaign`: joint expo booth, joint catalog, joint market research) uses the
same commitment and split mechanics for a fixed total cost: participants take shares (one each
for an equal split, or booth area / catalog pages / ... for a split by shares); it runs when at
least ``min_participants`` firms joined and together took at least ``min_total_shares``, and its
results (leads, a report file reference) are readable by its participants and the cooperative
only (`campaign_results`).

Every change runs inside `CommonsDB.transaction()` (kinds ``"pool"``, ``"campaign"`` and
``"campaign_result"``), so members committing at the same moment never lose one another's
commitment. Money is integers (whole won) and `Decimal`; never floats. Errors are
`CommonsError`: the field, why, in Korean and English, and a ``code`` an API maps to a status.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from .db import CommonsDB
from .model import MaterialCode, Text, msg
from .vocab import MATERIALS

QUANTITY_PLACES = 3  # quantities: up to 3 decimals (0.001 kg)
PRICE_PLACES = 2  # unit prices: up to 2 decimals of a won
MAX_AMOUNT = Decimal(10) ** 12  # no quantity, price or share beyond a trillion
#: the default of `disclosure_min_firms`: totals reach members only after the close, and only
#: when at least this many firms committed (with 2, each of them could subtract its own share)
DISCLOSURE_MIN_FIRMS = 3

ErrorCode = Literal["invalid", "not_found", "forbidden", "conflict"]


def plain_decimal(d: Decimal) -> Decimal:
    """The same number without an exponent: 2400, not 2.4E+3 (trailing decimals kept).

    Numbers far beyond MAX_AMOUNT (exponent above 40) stay as they are: they are refused by
    `to_decimal` anyway, and writing out 1E+1000000000 would take a gigabyte."""
    if not d.is_finite() or not 0 < (e := d.as_tuple().exponent) <= 40:
        return d
    return d.quantize(Decimal(1), context=Context(prec=len(d.as_tuple().digits) + e + 1))


#: a quantity, share or price of this module: its str() and its JSON carry no exponent
#: ("2400", never "2.4E+3"), so every model of pools.py leaves it as people write numbers
Amount = Annotated[
    Decimal,
    AfterValidator(plain_decimal),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]


class CommonsError(ValueError):
    """Bad input or a refused action: the field, and why in Korean and English.

    ``code`` tells an API which answer fits: ``invalid`` (422), ``not_found`` (404),
    ``forbidden`` (403), ``conflict`` (409: closed window, no capacity left, already exists).
    """

    def __init__(self, field: str, ko: str, en: str, code: ErrorCode = "invalid"):
        self.field, self.ko, self.en, self.code = field, ko, en, code
        super().__init__(f"{field}: {en} / {ko}")

    @classmethod
    def of(cls, field: str, key: str, code: ErrorCode = "invalid", **params: object) -> CommonsError:
        """The error whose texts are the message `key` of the `commons_errors` catalog, its
        `{placeholders}` filled from `params` (`model.msg`)."""
        t = msg(key, **params)
        return cls(field, t.ko, t.en, code)

    def message(self, lang: str = "en") -> str:
        return f"{self.field}: {self.ko if lang == 'ko' else self.en}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- numbers


def to_decimal(value: object, field: str, *, places: int, positive: bool = True) -> Decimal:
    """A quantity or price as a `Decimal` with at most `places` decimals (floats go via str)."""
    if isinstance(value, bool):
        raise CommonsError.of(field, "not_a_number", value=value)
    try:
        d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise CommonsError.of(field, "not_a_number", value=value) from None
    if not d.is_finite():
        raise CommonsError.of(field, "not_finite", value=value)
    if d < 0:
        raise CommonsError.of(field, "negative", value=d)
    if positive and d == 0:
        raise CommonsError.of(field, "not_positive")
    if d > MAX_AMOUNT:
        raise CommonsError.of(field, "too_large", max=MAX_AMOUNT, value=d)
    if d != d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR):
        raise CommonsError.of(field, "too_many_places", places=places, value=d)
    d = d.normalize()
    return d.quantize(Decimal(1)) if d.as_tuple().exponent > 0 else d  # 1000, not 1E+3


def won_floor(x: Decimal | Fraction) -> int:
    """Whole won, sub-won amounts cut off (원 미만 절사)."""
    return int(Fraction(x).__floor__())


def won_ceil(x: Decimal | Fraction) -> int:
    """Whole won, rounded up (deposits, so they always cover the cost)."""
    return int(Fraction(x).__ceil__())


def split_cost(total_krw: int, weights: Mapping[str, Decimal | int | Fraction]) -> dict[str, int]:
    """Split `total_krw` over firms in proportion to `weights`, in whole won, summing exactly.

    Largest-remainder (Hamilton) rule: everyone gets the floor of their exact share
    ``total x w / sum(w)``; the won left over go one each to the largest remainders, ties to the
    smaller firm id. Each part differs from its exact share by less than 1 won, and a firm whose
    exact share is a whole number gets exactly that.
    """
    if not isinstance(total_krw, int) or isinstance(total_krw, bool) or total_krw < 0:
        raise CommonsError.of("total_krw", "not_whole_won")
    if not weights:
        if total_krw:
            raise CommonsError.of("weights", "nobody_to_split")
        return {}
    fw = {k: Fraction(v) for k, v in weights.items()}
    if any(v < 0 for v in fw.values()):
        raise CommonsError.of("weights", "weight_negative")
    whole = sum(fw.values())
    if whole == 0:
        raise CommonsError.of("weights", "weights_zero")
    exact = {k: total_krw * v / whole for k, v in fw.items()}
    parts = {k: int(e.__floor__()) for k, e in exact.items()}
    left = total_krw - sum(parts.values())
    order = sorted(exact, key=lambda k: (-(exact[k] - parts[k]), k))
    for k in order[:left]:
        parts[k] += 1
    return parts


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise CommonsError.of("now", "now_not_aware")
    return now


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise CommonsError.of(field, "datetime_not_aware", value=value)
    return value


def _window(opens: datetime, closes: datetime) -> None:
    _aware(opens, "opens")
    _aware(closes, "closes")
    if closes <= opens:
        raise CommonsError.of("closes", "closes_before_opens", closes=closes, opens=opens)


_WHAT = {"pool": msg("what_pool"), "campaign": msg("what_campaign")}


def _check_open(opens: datetime, closes: datetime, state: str, now: datetime, what: str) -> None:
    if state != "open":
        raise CommonsError.of("state", "already_closed", "conflict", what=_WHAT[what], state=state)
    if now < opens:
        raise CommonsError.of("now", "window_not_open", "conflict", opens=opens)
    if now >= closes:
        raise CommonsError.of("now", "window_closed", "conflict", closes=closes)


def _k(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 1000:
        raise CommonsError.of("disclosure_min_firms", "bad_disclosure_min", value=value)
    return value


def _members(members: Iterable[str]) -> tuple[str, ...]:
    out = tuple(sorted({str(m).strip() for m in members}))
    if not out or any(not m for m in out):
        raise CommonsError.of("members", "no_members")
    return out


def may_take_part(db: CommonsDB, window: _CommitmentWindow, firm_id: str) -> bool:
    """Whether a firm may commit to a pool or join a campaign: a granted member of the
    cooperative now (its record, `membership.py`), or, for a cooperative without a record (a
    pool opened by library code with an explicit member list), one of the listed members."""
    from .model import Cooperative

    coop = db.get("cooperative", window.cooperative, Cooperative)
    return firm_id in (coop.members if coop is not None else window.members)


def _new_id(prefix: str, given: str | None) -> str:
    if given is None:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"
    if not given.strip() or "/" in given:
        raise CommonsError.of("id", "bad_id", id=given)
    return given


# ---------------------------------------------------------------- shared records


class Commitment(_Model):
    """One member's current commitment: quantity (or shares) and the deposit it holds."""

    firm_id: str
    quantity: Amount
    deposit_krw: int
    at: datetime


class CommitmentEvent(_Model):
    """The audit trail: every commit, change and withdrawal with its time."""

    firm_id: str
    action: Literal["commit", "change", "withdraw"]
    quantity: Amount
    at: datetime


class SettlementLine(_Model):
    """One member at the close: deposit held, final cost, refund; deposit = cost + refund."""

    firm_id: str
    quantity: Amount
    deposit_krw: int
    cost_krw: int
    refund_krw: int


class Settlement(_Model):
    """The close of a pool or campaign; every sum reconciles (see `check`)."""

    outcome: Literal["settled", "refunded"]
    closed_at: datetime
    total_quantity: Amount
    tier: int | None = None  # index of the tier applied (pools)
    unit_price_krw: Amount | None = None
    total_cost_krw: int
    deposits_krw: int
    refunds_krw: int
    lines: tuple[SettlementLine, ...]
    reason: Text

    def check(self) -> None:
        """Raise AssertionError unless deposits, costs and refunds reconcile to the won."""
        assert sum(x.cost_krw for x in self.lines) == self.total_cost_krw
        assert sum(x.deposit_krw for x in self.lines) == self.deposits_krw
        assert sum(x.refund_krw for x in self.lines) == self.refunds_krw
        assert self.deposits_krw == self.total_cost_krw + self.refunds_krw
        for x in self.lines:
            assert x.deposit_krw == x.cost_krw + x.refund_krw and x.refund_krw >= 0 and x.cost_krw >= 0


def _refund_all(commitments: Sequence[Commitment], now: datetime, total: Decimal, reason: Text) -> Settlement:
    lines = tuple(
        SettlementLine(
            firm_id=c.firm_id,
            quantity=c.quantity,
            deposit_krw=c.deposit_krw,
            cost_krw=0,
            refund_krw=c.deposit_krw,
        )
        for c in commitments
    )
    dep = sum(c.deposit_krw for c in commitments)
    return Settlement(
        outcome="refunded",
        closed_at=now,
        total_quantity=total,
        total_cost_krw=0,
        deposits_krw=dep,
        refunds_krw=dep,
        lines=lines,
        reason=reason,
    )


def _settle(
    commitments: Sequence[Commitment],
    now: datetime,
    total_qty: Decimal,
    total_cost: int,
    reason: Text,
    tier: int | None = None,
    price: Decimal | None = None,
) -> Settlement:
    costs = split_cost(total_cost, {c.firm_id: c.quantity for c in commitments})
    lines = []
    for c in commitments:
        cost = costs[c.firm_id]
        if cost > c.deposit_krw:  # cannot happen with worst-case deposits; refuse to settle wrongly
            raise CommonsError.of("deposit_krw", "deposit_short", "conflict", firm=c.firm_id)
        lines.append(
            SettlementLine(
                firm_id=c.firm_id,
                quantity=c.quantity,
                deposit_krw=c.deposit_krw,
                cost_krw=cost,
                refund_krw=c.deposit_krw - cost,
            )
        )
    dep = sum(c.deposit_krw for c in commitments)
    return Settlement(
        outcome="settled",
        closed_at=now,
        total_quantity=total_qty,
        tier=tier,
        unit_price_krw=price,
        total_cost_krw=total_cost,
        deposits_krw=dep,
        refunds_krw=dep - total_cost,
        lines=tuple(lines),
        reason=reason,
    )


def _recommit(
    commitments: tuple[Commitment, ...],
    history: tuple[CommitmentEvent, ...],
    firm_id: str,
    quantity: Decimal | None,
    deposit: int,
    now: datetime,
) -> tuple[tuple[Commitment, ...], tuple[CommitmentEvent, ...], Commitment | None]:
    """Commitments and history after `firm_id` commits/changes to `quantity` (None: withdraws)."""
    old = next((c for c in commitments if c.firm_id == firm_id), None)
    rest = tuple(c for c in commitments if c.firm_id != firm_id)
    if quantity is None:
        if old is None:
            raise CommonsError.of("firm_id", "no_commitment", "not_found", firm=firm_id)
        ev = CommitmentEvent(firm_id=firm_id, action="withdraw", quantity=old.quantity, at=now)
        return rest, history + (ev,), None
    new = Commitment(firm_id=firm_id, quantity=quantity, deposit_krw=deposit, at=now)
    ev = CommitmentEvent(firm_id=firm_id, action="change" if old else "commit", quantity=quantity, at=now)
    return tuple(sorted(rest + (new,), key=lambda c: c.firm_id)), history + (ev,), new


# ---------------------------------------------------------------- purchasing pools


class PriceTier(_Model):
    """From `min_quantity` of the pool's total on, the supplier charges `unit_price_krw` per unit."""

    min_quantity: Amount
    unit_price_krw: Amount


class _CommitmentWindow(_Model):
    """What pools and campaigns share: a cooperative's members commit while the window is open,
    every action is kept in the history, and the close leaves one settlement."""

    id: str
    cooperative: str
    members: tuple[str, ...]
    opens: datetime
    closes: datetime
    created: datetime
    state: Literal["open", "settled", "refunded"] = "open"
    commitments: tuple[Commitment, ...] = ()
    history: tuple[CommitmentEvent, ...] = ()
    settlement: Settlement | None = None
    #: totals are shown to members only after the close and when at least this many committed
    disclosure_min_firms: int = Field(default=DISCLOSURE_MIN_FIRMS, ge=2, le=1000)

    def discloses_totals(self) -> bool:
        """Whether members (not the cooperative) may see the totals: closed, and k firms in."""
        return self.state != "open" and len(self.commitments) >= self.disclosure_min_firms

    def commitment_of(self, firm_id: str) -> Commitment | None:
        return next((c for c in self.commitments if c.firm_id == firm_id), None)

    def _committed(self) -> Decimal:
        return sum((c.quantity for c in self.commitments), Decimal(0))


class PurchasePool(_CommitmentWindow):
    """A co-purchasing pool of a cooperative (owner of the document: the cooperative id)."""

    title: Text
    material: MaterialCode
    spec: Text
    unit: str
    supplier: str = ""
    tiers: tuple[PriceTier, ...] = Field(min_length=1)
    minimum_quantity: Amount
    per_member_max: Amount | None = None

    @property
    def total_quantity(self) -> Decimal:
        return self._committed()

    def tier_for(self, total: Decimal) -> int | None:
        """Index of the tier that applies to a total quantity (None below the first threshold)."""
        idx = None
        for i, t in enumerate(self.tiers):
            if total >= t.min_quantity:
                idx = i
        return idx

    def deposit_for(self, quantity: Decimal) -> int:
        """Deposit held for a quantity: at the worst (first, highest) tier price, rounded up."""
        return won_ceil(quantity * self.tiers[0].unit_price_krw)


class PoolProgress(_Model):
    """What a member sees of an open pool: the total, the tier now, and how far the next is.

    Other members' quantities are not in it (their purchasing volume is their business).
    """

    pool_id: str
    state: str
    disclosed: bool = True  # False: the totals are withheld (open pool, or fewer than k firms)
    total_quantity: Amount | None
    members_committed: int
    minimum_quantity: Amount
    minimum_reached: bool | None
    tier: int | None
    unit_price_krw: Amount | None
    next_tier_quantity: Amount | None  # how much more the total needs for the next tier
    next_unit_price_krw: Amount | None
    own: Commitment | None = None


def check_tiers(
    tiers: Sequence[PriceTier | Mapping | tuple], minimum_quantity: Decimal
) -> tuple[PriceTier, ...]:
    """Validate supplier tiers: thresholds strictly increasing, prices strictly falling, the first
    threshold at or below the pool minimum (so every total that settles has a price)."""
    out: list[PriceTier] = []
    if not tiers:
        raise CommonsError.of("tiers", "no_tiers")
    for i, t in enumerate(tiers):
        if isinstance(t, PriceTier):
            q, p = t.min_quantity, t.unit_price_krw
        elif isinstance(t, Mapping):
            q, p = t.get("min_quantity"), t.get("unit_price_krw")
        else:
            q, p = t
        q = to_decimal(q, f"tiers[{i}].min_quantity", places=QUANTITY_PLACES, positive=False)
        p = to_decimal(p, f"tiers[{i}].unit_price_krw", places=PRICE_PLACES)
        if out and q <= out[-1].min_quantity:
            raise CommonsError.of(
                f"tiers[{i}].min_quantity", "tiers_not_increasing", quantity=q, previous=out[-1].min_quantity
            )
        if out and p >= out[-1].unit_price_krw:
            raise CommonsError.of(
                f"tiers[{i}].unit_price_krw", "tier_price_not_lower", price=p, previous=out[-1].unit_price_krw
            )
        out.append(PriceTier(min_quantity=q, unit_price_krw=p))
    if out[0].min_quantity > minimum_quantity:
        raise CommonsError.of(
            "tiers[0].min_quantity",
            "first_tier_above_minimum",
            first=out[0].min_quantity,
            minimum=minimum_quantity,
        )
    return tuple(out)


def open_pool(
    db: CommonsDB,
    *,
    cooperative: str,
    members: Iterable[str],
    title: Text,
    material: str,
    spec: Text,
    unit: str,
    tiers: Sequence[PriceTier | Mapping | tuple],
    minimum_quantity: Decimal | int | str,
    opens: datetime,
    closes: datetime,
    per_member_max: Decimal | int | str | None = None,
    supplier: str = "",
    pool_id: str | None = None,
    now: datetime | None = None,
    disclosure_min_firms: int = DISCLOSURE_MIN_FIRMS,
) -> PurchasePool:
    """Open a purchasing pool for the members of `cooperative` and store it (kind ``"pool"``).

    `members` are the cooperative's firm ids at opening (only they may commit). `tiers` are
    ``PriceTier``s, ``{"min_quantity", "unit_price_krw"}`` mappings or ``(min_quantity, price)``
    pairs. Raises `CommonsError` naming the field for anything invalid, ``conflict`` if the id exists.
    """
    now = _now(now)
    if not cooperative or not str(cooperative).strip():
        raise CommonsError.of("cooperative", "cooperative_empty")
    if material not in MATERIALS:
        raise CommonsError.of("material", "unknown_material", material=material)
    if not unit or not unit.strip():
        raise CommonsError.of("unit", "unit_empty")
    minimum = to_decimal(minimum_quantity, "minimum_quantity", places=QUANTITY_PLACES)
    tiers_ok = check_tiers(tiers, minimum)
    cap = (
        None
        if per_member_max is None
        else to_decimal(per_member_max, "per_member_max", places=QUANTITY_PLACES)
    )
    _window(opens, closes)
    pool = PurchasePool(
        id=_new_id("pool", pool_id),
        cooperative=cooperative,
        members=_members(members),
        title=title,
        material=material,
        spec=spec,
        unit=unit.strip(),
        supplier=supplier,
        tiers=tiers_ok,
        minimum_quantity=minimum,
        per_member_max=cap,
        opens=opens,
        closes=closes,
        created=now,
        disclosure_min_firms=_k(disclosure_min_firms),
    )
    with db.transaction():
        if db.owner("pool", pool.id) is not None:
            raise CommonsError.of("pool_id", "pool_exists", "conflict", id=pool.id)
        db.put("pool", pool.id, pool.cooperative, pool)
    return pool


def get_pool(db: CommonsDB, pool_id: str) -> PurchasePool:
    pool = db.get("pool", pool_id, PurchasePool)
    if pool is None:
        raise CommonsError.of("pool_id", "no_such_pool", "not_found", id=pool_id)
    return pool


def list_pools(db: CommonsDB, cooperative: str | None = None) -> list[PurchasePool]:
    """All pools (of one cooperative), in id order."""
    return db.all("pool", PurchasePool, owner=cooperative)


def commit(
    db: CommonsDB, pool_id: str, firm_id: str, quantity: Decimal | int | str, now: datetime | None = None
) -> Commitment:
    """Commit `quantity` (or change an existing commitment to it) while the window is open.

    Returns the commitment with the deposit it holds. Refused (`CommonsError`) when the firm is
    not a member, the quantity is not positive or above the per-member maximum, or the window
    is not open.
    """
    now = _now(now)
    with db.transaction():
        pool = get_pool(db, pool_id)
        if not may_take_part(db, pool, firm_id):
            raise CommonsError.of(
                "firm_id", "not_a_member", "forbidden", firm=firm_id, cooperative=pool.cooperative
            )
        q = to_decimal(quantity, "quantity", places=QUANTITY_PLACES)
        if pool.per_member_max is not None and q > pool.per_member_max:
            raise CommonsError.of(
                "quantity", "above_member_max", max=pool.per_member_max, unit=pool.unit, quantity=q
            )
        _check_open(pool.opens, pool.closes, pool.state, now, "pool")
        cs, hist, new = _recommit(pool.commitments, pool.history, firm_id, q, pool.deposit_for(q), now)
        db.put(
            "pool", pool.id, pool.cooperative, pool.model_copy(update={"commitments": cs, "history": hist})
        )
    assert new is not None
    return new


def withdraw(db: CommonsDB, pool_id: str, firm_id: str, now: datetime | None = None) -> Commitment:
    """Withdraw a member's commitment while the window is open; returns what was withdrawn
    (its deposit is released)."""
    now = _now(now)
    with db.transaction():
        pool = get_pool(db, pool_id)
        _check_open(pool.opens, pool.closes, pool.state, now, "pool")
        old = pool.commitment_of(firm_id)
        cs, hist, _ = _recommit(pool.commitments, pool.history, firm_id, None, 0, now)
        db.put(
            "pool", pool.id, pool.cooperative, pool.model_copy(update={"commitments": cs, "history": hist})
        )
    assert old is not None
    return old


def settle_pool(pool: PurchasePool, now: datetime) -> Settlement:
    """The settlement of a pool's current commitments (pure; `close_pool` stores it)."""
    total = pool.total_quantity
    if total < pool.minimum_quantity:
        reason = msg("pool_minimum_missed", minimum=pool.minimum_quantity, unit=pool.unit, total=total)
        return _refund_all(pool.commitments, now, total, reason)
    tier = pool.tier_for(total)
    assert tier is not None  # check_tiers: the first threshold is at or below the minimum
    price = pool.tiers[tier].unit_price_krw
    cost = won_floor(total * price)
    reason = msg("pool_settled", total=total, unit=pool.unit, tier=tier + 1, price=price, cost=cost)
    return _settle(pool.commitments, now, total, cost, reason, tier, price)


def close_pool(db: CommonsDB, pool_id: str, now: datetime | None = None) -> Settlement:
    """Close the pool once its window has ended: settle or refund, store, return the settlement.

    Idempotent: closing a closed pool returns the stored settlement unchanged.
    """
    now = _now(now)
    with db.transaction():
        pool = get_pool(db, pool_id)
        if pool.settlement is not None:
            return pool.settlement
        if now < pool.closes:
            raise CommonsError.of("now", "window_still_open", "conflict", closes=pool.closes)
        s = settle_pool(pool, now)
        db.put(
            "pool", pool.id, pool.cooperative, pool.model_copy(update={"state": s.outcome, "settlement": s})
        )
    return s


def _call_off(settlement: Settlement | None, what: str) -> Settlement | None:
    """The stored settlement when calling off again; refuse calling off a settled one."""
    if settlement is None:
        return None
    if settlement.outcome == "refunded":
        return settlement
    raise CommonsError.of("state", "settled_no_call_off", "conflict", what=_WHAT[what])


def cancel_pool(db: CommonsDB, pool_id: str, reason: Text, now: datetime | None = None) -> Settlement:
    """Call a pool off before it settles (the supplier cannot deliver, ...): every deposit back.

    Idempotent like `close_pool`; a pool that already settled cannot be called off.
    """
    now = _now(now)
    with db.transaction():
        pool = get_pool(db, pool_id)
        done = _call_off(pool.settlement, "pool")
        if done is not None:
            return done
        s = _refund_all(pool.commitments, now, pool.total_quantity, reason)
        db.put(
            "pool", pool.id, pool.cooperative, pool.model_copy(update={"state": s.outcome, "settlement": s})
        )
    return s


def progress(pool: PurchasePool, viewer: str | None = None, *, admin: bool = False) -> PoolProgress:
    """A pool's progress as a member may see it: no total, tier or distance to the next tier
    unless `pool.discloses_totals()` (closed, at least k firms) or `admin` (the cooperative)."""
    if not (admin or pool.discloses_totals()):
        return PoolProgress(
            pool_id=pool.id,
            state=pool.state,
            disclosed=False,
            total_quantity=None,
            members_committed=len(pool.commitments),
            minimum_quantity=pool.minimum_quantity,
            minimum_reached=None,
            tier=None,
            unit_price_krw=None,
            next_tier_quantity=None,
            next_unit_price_krw=None,
            own=pool.commitment_of(viewer) if viewer else None,
        )
    total = pool.total_quantity
    tier = pool.tier_for(total)
    nxt = (tier + 1) if tier is not None else 0
    has_next = nxt < len(pool.tiers)
    return PoolProgress(
        pool_id=pool.id,
        state=pool.state,
        total_quantity=total,
        members_committed=len(pool.commitments),
        minimum_quantity=pool.minimum_quantity,
        minimum_reached=total >= pool.minimum_quantity,
        tier=tier,
        unit_price_krw=None if tier is None else pool.tiers[tier].unit_price_krw,
        next_tier_quantity=(pool.tiers[nxt].min_quantity - total) if has_next else None,
        next_unit_price_krw=pool.tiers[nxt].unit_price_krw if has_next else None,
        own=pool.commitment_of(viewer) if viewer else None,
    )


# ---------------------------------------------------------------- co-marketing campaigns

CampaignKind = Literal["expo_booth", "catalog", "market_research", "other"]
CAMPAIGN_KINDS: dict[str, Text] = {
    "expo_booth": msg("campaign_kind_expo_booth"),
    "catalog": msg("campaign_kind_catalog"),
    "market_research": msg("campaign_kind_market_research"),
    "other": msg("campaign_kind_other"),
}


class Campaign(_CommitmentWindow):
    """A co-marketing campaign of a cooperative with a fixed total cost split by shares."""

    kind: CampaignKind
    title: Text
    description: Text | None = None
    total_cost_krw: int = Field(ge=0)
    split: Literal["equal", "shares"]
    share_unit: str = ""  # "m²" of booth area, "pages" of the catalog, ...
    min_participants: int = Field(ge=1)
    min_total_shares: Amount
    max_total_shares: Amount | None = None
    per_member_max_shares: Amount | None = None

    @property
    def total_shares(self) -> Decimal:
        return self._committed()

    def deposit_for(self, shares: Decimal) -> int:
        """Worst case for `shares`: the total split over no more than the minimum total shares."""
        return won_ceil(Fraction(self.total_cost_krw) * Fraction(shares) / Fraction(self.min_total_shares))

    def participants(self) -> tuple[str, ...]:
        return tuple(c.firm_id for c in self.commitments)


class Lead(_Model):
    """A contact a campaign produced (a visitor at the booth, a buyer who asked)."""

    name: str
    country: str = ""
    contact: str = ""
    interest: str = ""


class CampaignResult(_Model):
    """A shared result of a campaign: leads and/or a report file reference."""

    id: str
    campaign_id: str
    added_by: str
    added_at: datetime
    title: Text
    ref: str = ""  # a file reference (path or URL of the report)
    leads: tuple[Lead, ...] = ()


def open_campaign(
    db: CommonsDB,
    *,
    cooperative: str,
    members: Iterable[str],
    kind: str,
    title: Text,
    total_cost_krw: int,
    min_participants: int,
    opens: datetime,
    closes: datetime,
    split: str = "equal",
    share_unit: str = "",
    min_total_shares: Decimal | int | str | None = None,
    max_total_shares: Decimal | int | str | None = None,
    per_member_max_shares: Decimal | int | str | None = None,
    description: Text | None = None,
    campaign_id: str | None = None,
    now: datetime | None = None,
    disclosure_min_firms: int = DISCLOSURE_MIN_FIRMS,
) -> Campaign:
    """Open a campaign and store it (kind ``"campaign"``, owner the cooperative).

    ``split="equal"``: every participant holds one share. ``split="shares"``: participants take
    shares in `share_unit` (booth m², catalog pages); `min_total_shares` is required then, and
    `max_total_shares` caps them (the booth's area). It runs when at least `min_participants`
    joined and the shares reach `min_total_shares`; deposits assume exactly that minimum.
    """
    now = _now(now)
    if kind not in CAMPAIGN_KINDS:
        raise CommonsError.of("kind", "unknown_campaign_kind", kind=kind, kinds=", ".join(CAMPAIGN_KINDS))
    if not isinstance(total_cost_krw, int) or isinstance(total_cost_krw, bool) or total_cost_krw <= 0:
        raise CommonsError.of("total_cost_krw", "not_positive_won", value=total_cost_krw)
    if not isinstance(min_participants, int) or isinstance(min_participants, bool) or min_participants < 1:
        raise CommonsError.of("min_participants", "not_whole_at_least_1", value=min_participants)
    if split == "equal":
        if min_total_shares is not None or max_total_shares is not None or per_member_max_shares is not None:
            raise CommonsError.of("split", "equal_split_no_limits")
        min_sh, max_sh, cap = Decimal(min_participants), None, Decimal(1)
    elif split == "shares":
        if min_total_shares is None:
            raise CommonsError.of("min_total_shares", "shares_need_minimum")
        min_sh = to_decimal(min_total_shares, "min_total_shares", places=QUANTITY_PLACES)
        max_sh = (
            None
            if max_total_shares is None
            else to_decimal(max_total_shares, "max_total_shares", places=QUANTITY_PLACES)
        )
        if max_sh is not None and max_sh < min_sh:
            raise CommonsError.of("max_total_shares", "max_below_min_shares", max=max_sh, min=min_sh)
        cap = (
            None
            if per_member_max_shares is None
            else to_decimal(per_member_max_shares, "per_member_max_shares", places=QUANTITY_PLACES)
        )
    else:
        raise CommonsError.of("split", "bad_split", split=split)
    _window(opens, closes)
    if not cooperative or not str(cooperative).strip():
        raise CommonsError.of("cooperative", "cooperative_empty")
    mem = _members(members)
    if len(mem) < min_participants:
        raise CommonsError.of("min_participants", "too_few_members", members=len(mem), min=min_participants)
    camp = Campaign(
        id=_new_id("campaign", campaign_id),
        cooperative=cooperative,
        members=mem,
        kind=kind,
        title=title,
        description=description,
        total_cost_krw=total_cost_krw,
        split=split,
        share_unit=share_unit,
        min_participants=min_participants,
        min_total_shares=min_sh,
        max_total_shares=max_sh,
        per_member_max_shares=cap,
        opens=opens,
        closes=closes,
        created=now,
        disclosure_min_firms=_k(disclosure_min_firms),
    )
    with db.transaction():
        if db.owner("campaign", camp.id) is not None:
            raise CommonsError.of("campaign_id", "campaign_exists", "conflict", id=camp.id)
        db.put("campaign", camp.id, camp.cooperative, camp)
    return camp


def get_campaign(db: CommonsDB, campaign_id: str) -> Campaign:
    camp = db.get("campaign", campaign_id, Campaign)
    if camp is None:
        raise CommonsError.of("campaign_id", "no_such_campaign", "not_found", id=campaign_id)
    return camp


def list_campaigns(db: CommonsDB, cooperative: str | None = None) -> list[Campaign]:
    return db.all("campaign", Campaign, owner=cooperative)


def join_campaign(
    db: CommonsDB,
    campaign_id: str,
    firm_id: str,
    shares: Decimal | int | str = 1,
    now: datetime | None = None,
) -> Commitment:
    """Join (or change one's shares in) a campaign while its window is open; returns the
    commitment and its deposit."""
    now = _now(now)
    with db.transaction():
        camp = get_campaign(db, campaign_id)
        if not may_take_part(db, camp, firm_id):
            raise CommonsError.of(
                "firm_id", "not_a_member", "forbidden", firm=firm_id, cooperative=camp.cooperative
            )
        s = to_decimal(shares, "shares", places=QUANTITY_PLACES)
        if camp.split == "equal" and s != 1:
            raise CommonsError.of("shares", "equal_split_one_share", shares=s)
        if camp.per_member_max_shares is not None and s > camp.per_member_max_shares:
            raise CommonsError.of(
                "shares",
                "above_participant_max",
                max=camp.per_member_max_shares,
                unit=camp.share_unit,
                shares=s,
            )
        _check_open(camp.opens, camp.closes, camp.state, now, "campaign")
        if camp.max_total_shares is not None:
            others = sum((c.quantity for c in camp.commitments if c.firm_id != firm_id), Decimal(0))
            if others + s > camp.max_total_shares:
                # never the number left: it would tell a member the others' shares
                raise CommonsError.of(
                    "shares",
                    "shares_over_max",
                    "conflict",
                    max=camp.max_total_shares,
                    unit=camp.share_unit,
                    shares=s,
                )
        cs, hist, new = _recommit(camp.commitments, camp.history, firm_id, s, camp.deposit_for(s), now)
        db.put(
            "campaign",
            camp.id,
            camp.cooperative,
            camp.model_copy(update={"commitments": cs, "history": hist}),
        )
    assert new is not None
    return new


def leave_campaign(db: CommonsDB, campaign_id: str, firm_id: str, now: datetime | None = None) -> Commitment:
    """Leave a campaign while its window is open; the deposit is released."""
    now = _now(now)
    with db.transaction():
        camp = get_campaign(db, campaign_id)
        _check_open(camp.opens, camp.closes, camp.state, now, "campaign")
        old = next((c for c in camp.commitments if c.firm_id == firm_id), None)
        cs, hist, _ = _recommit(camp.commitments, camp.history, firm_id, None, 0, now)
        db.put(
            "campaign",
            camp.id,
            camp.cooperative,
            camp.model_copy(update={"commitments": cs, "history": hist}),
        )
    assert old is not None
    return old


def settle_campaign(camp: Campaign, now: datetime) -> Settlement:
    """The settlement of a campaign's current participants (pure; `close_campaign` stores it)."""
    n, total = len(camp.commitments), camp.total_shares
    word = msg("shares_word")  # the unit when a campaign names none
    unit = Text(
        ko=camp.share_unit or (word.ko if camp.split == "equal" else ""), en=camp.share_unit or word.en
    )
    if n < camp.min_participants or total < camp.min_total_shares:
        reason = msg(
            "campaign_minimum_missed",
            n=n,
            min_participants=camp.min_participants,
            total=total,
            min_shares=camp.min_total_shares,
            unit=unit,
        )
        return _refund_all(camp.commitments, now, total, reason)
    reason = msg("campaign_settled", cost=camp.total_cost_krw, n=n, total=total, unit=unit)
    return _settle(camp.commitments, now, total, camp.total_cost_krw, reason)


def close_campaign(db: CommonsDB, campaign_id: str, now: datetime | None = None) -> Settlement:
    """Close a campaign once its window has ended (idempotent, like `close_pool`)."""
    now = _now(now)
    with db.transaction():
        camp = get_campaign(db, campaign_id)
        if camp.settlement is not None:
            return camp.settlement
        if now < camp.closes:
            raise CommonsError.of("now", "participation_still_open", "conflict", closes=camp.closes)
        s = settle_campaign(camp, now)
        db.put(
            "campaign",
            camp.id,
            camp.cooperative,
            camp.model_copy(update={"state": s.outcome, "settlement": s}),
        )
    return s


def cancel_campaign(db: CommonsDB, campaign_id: str, reason: Text, now: datetime | None = None) -> Settlement:
    """Call a campaign off before it settles (the fair was cancelled, ...): every deposit back."""
    now = _now(now)
    with db.transaction():
        camp = get_campaign(db, campaign_id)
        done = _call_off(camp.settlement, "campaign")
        if done is not None:
            return done
        s = _refund_all(camp.commitments, now, camp.total_shares, reason)
        db.put(
            "campaign",
            camp.id,
            camp.cooperative,
            camp.model_copy(update={"state": s.outcome, "settlement": s}),
        )
    return s


def _may_read_results(camp: Campaign, viewer: str) -> bool:
    return camp.state == "settled" and (viewer == camp.cooperative or viewer in camp.participants())


def add_campaign_result(
    db: CommonsDB,
    campaign_id: str,
    by: str,
    title: Text,
    *,
    ref: str = "",
    leads: Sequence[Lead | Mapping] = (),
    result_id: str | None = None,
    now: datetime | None = None,
) -> CampaignResult:
    """Share a result of a settled campaign (the cooperative or a participant adds it)."""
    now = _now(now)
    camp = get_campaign(db, campaign_id)
    if camp.state != "settled":
        raise CommonsError.of("campaign_id", "results_need_settled", "conflict", state=camp.state)
    if not _may_read_results(camp, by):
        raise CommonsError.of("by", "not_in_campaign", "forbidden", by=by)
    if not ref.strip() and not leads:
        raise CommonsError.of("ref", "result_needs_ref_or_leads")
    res = CampaignResult(
        id=_new_id("result", result_id),
        campaign_id=camp.id,
        added_by=by,
        added_at=now,
        title=title,
        ref=ref.strip(),
        leads=tuple(x if isinstance(x, Lead) else Lead(**x) for x in leads),
    )
    with db.transaction():
        if db.owner("campaign_result", res.id) is not None:
            raise CommonsError.of("result_id", "result_exists", "conflict", id=res.id)
        db.put("campaign_result", res.id, camp.id, res)
    return res


def campaign_results(db: CommonsDB, campaign_id: str, viewer: str) -> list[CampaignResult]:
    """The shared results of a campaign, for its participants and its cooperative only."""
    camp = get_campaign(db, campaign_id)
    if not _may_read_results(camp, viewer):
        raise CommonsError.of("viewer", "may_not_read_results", "forbidden", viewer=viewer)
    return db.all("campaign_result", CampaignResult, owner=camp.id)
