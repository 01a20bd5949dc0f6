"""Co-purchasing pools and co-marketing campaigns: tiers, window, deposits, exact split, refunds.

Property tests (hypothesis, derandomized) for the arithmetic; threads for concurrent commitments;
SQLite and a PostgreSQL schema of its own (dropped after) for the transactional paths.
"""

from __future__ import annotations

import ast
import re
import string
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory_commons.cooperate import pools as P
from factory_commons.cooperate.db import CommonsDB
from factory_commons.cooperate.model import Text
from factory_commons.i18n import Catalog

PG = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OPENS, CLOSES = T0, T0 + timedelta(days=7)
DURING, AFTER = T0 + timedelta(days=1), T0 + timedelta(days=8)
MEMBERS = [f"firm-{i:02d}" for i in range(12)]
TIERS = [(0, "1250.50"), (1000, "1179.50"), (5000, "1090")]
PROPS = settings(
    derandomize=True, deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow]
)


def make_pool(db: CommonsDB, pool_id: str = "p1", **kw) -> P.PurchasePool:
    args = dict(
        cooperative="coop-gc",
        members=MEMBERS,
        title=Text(ko="SS400 강판 공동구매", en="SS400 steel plate pool"),
        material="steel",
        spec=Text(ko="SS400 열연강판 t3.2", en="SS400 hot-rolled plate t3.2"),
        unit="kg",
        tiers=TIERS,
        minimum_quantity=800,
        opens=OPENS,
        closes=CLOSES,
        pool_id=pool_id,
        now=T0,
    )
    args.update(kw)
    return P.open_pool(db, **args)


@pytest.fixture
def db():
    d = CommonsDB(":memory:")
    yield d
    d.close()


@pytest.fixture
def pg_target():
    """A PostgreSQL URL with a schema of this test's own; the schema is dropped after."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except Exception as e:  # noqa: BLE001 - PostgreSQL not answering
        pytest.skip(f"PostgreSQL is not answering at {PG}: {e}")
    schema = f"pools_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{PG}?schema={schema}"
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}_commons" CASCADE')
        admin.close()


# ---------------------------------------------------------------- split_cost


@PROPS
@given(
    total=st.integers(min_value=0, max_value=10**12),
    weights=st.dictionaries(
        st.text("abcdefgh가나다", min_size=1, max_size=4),
        st.decimals(min_value="0.001", max_value="100000", places=3),
        min_size=1,
        max_size=25,
    ),
)
def test_split_sums_to_total_and_each_part_is_within_one_won(total, weights):
    parts = P.split_cost(total, weights)
    assert set(parts) == set(weights)
    assert sum(parts.values()) == total
    whole = sum(Fraction(w) for w in weights.values())
    for k, w in weights.items():
        exact = total * Fraction(w) / whole
        assert abs(parts[k] - exact) < 1, (k, parts[k], exact)
        if exact.denominator == 1:
            assert parts[k] == exact
    assert P.split_cost(total, dict(reversed(list(weights.items())))) == parts  # order does not matter


def test_split_ties_go_to_the_smaller_firm_id():
    assert P.split_cost(100, {"c": 1, "a": 1, "b": 1}) == {"a": 34, "b": 33, "c": 33}
    assert P.split_cost(2, {"z": 1, "y": 1, "x": 1}) == {"x": 1, "y": 1, "z": 0}
    # 1000 over 1:2:3 -> 166.67, 333.33, 500: the largest remainder (a: .67) takes the won
    assert P.split_cost(1000, {"a": 1, "b": 2, "c": 3}) == {"a": 167, "b": 333, "c": 500}


@pytest.mark.parametrize(
    ("total", "weights", "field"),
    [(-1, {"a": 1}, "total_krw"), (10, {}, "weights"), (10, {"a": 0}, "weights"), (10, {"a": -1}, "weights")],
)
def test_split_refuses_bad_input(total, weights, field):
    with pytest.raises(P.CommonsError) as e:
        P.split_cost(total, weights)
    assert e.value.field == field


# ---------------------------------------------------------------- pools


@PROPS
@given(
    thresholds=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=5, unique=True),
    offset=st.sampled_from([-1, 0, 1]),
    pick=st.integers(min_value=0, max_value=4),
)
def test_the_tier_applies_exactly_from_its_threshold(thresholds, offset, pick):
    thresholds = sorted(thresholds)
    tiers = [(q, 10000 - 100 * i) for i, q in enumerate(thresholds)]
    d = CommonsDB(":memory:")
    make_pool(d, tiers=tiers, minimum_quantity=thresholds[0], members=["a"], per_member_max=None)
    i = min(pick, len(thresholds) - 1)
    total = thresholds[i] + offset
    if total < thresholds[0]:
        total = thresholds[0]
    P.commit(d, "p1", "a", total, now=DURING)
    s = P.close_pool(d, "p1", now=AFTER)
    expect = max(j for j, q in enumerate(thresholds) if total >= q)
    assert s.outcome == "settled" and s.tier == expect
    assert s.unit_price_krw == 10000 - 100 * expect
    assert s.total_cost_krw == total * (10000 - 100 * expect)


commit_ops = st.lists(
    st.tuples(
        st.sampled_from(MEMBERS[:6]),
        st.one_of(st.none(), st.decimals(min_value="0.001", max_value="3000", places=3)),
    ),
    max_size=25,
)


@PROPS
@given(ops=commit_ops, minimum=st.integers(min_value=1, max_value=8000))
def test_settlement_reconciles_and_refunds_equal_deposits_when_the_minimum_is_missed(ops, minimum):
    d = CommonsDB(":memory:")
    make_pool(d, minimum_quantity=minimum)
    expected: dict[str, Decimal] = {}
    for firm, q in ops:
        if q is None:
            if firm in expected:
                P.withdraw(d, "p1", firm, now=DURING)
                del expected[firm]
        else:
            c = P.commit(d, "p1", firm, q, now=DURING)
            assert c.deposit_krw == P.won_ceil(q * Decimal("1250.50"))
            expected[firm] = q
    pool = P.get_pool(d, "p1")
    assert {c.firm_id: c.quantity for c in pool.commitments} == expected
    s = P.close_pool(d, "p1", now=AFTER)
    s.check()
    total = sum(expected.values(), Decimal(0))
    assert s.total_quantity == total
    deposits = {x.firm_id: x.deposit_krw for x in s.lines}
    assert deposits == {f: P.won_ceil(q * Decimal("1250.50")) for f, q in expected.items()}
    if total < minimum:
        assert s.outcome == "refunded" and P.get_pool(d, "p1").state == "refunded"
        assert s.total_cost_krw == 0
        assert all(x.refund_krw == x.deposit_krw for x in s.lines)
    else:
        price = dict(((0, Decimal("1250.50")), (1, Decimal("1179.50")), (2, Decimal(1090))))[s.tier]
        assert s.total_cost_krw == int((total * price).to_integral_value(rounding="ROUND_FLOOR"))
        for x in s.lines:
            exact = Fraction(s.total_cost_krw) * Fraction(x.quantity) / Fraction(total)
            assert abs(x.cost_krw - exact) < 1
            assert 0 <= x.cost_krw <= x.deposit_krw
    assert P.close_pool(d, "p1", now=AFTER + timedelta(days=3)) == s  # closes once


def test_worked_example_from_the_docs(db):
    """The numbers in docs/commons/pools.md."""
    make_pool(db)
    for firm, q in (("firm-00", 600), ("firm-01", "450.5"), ("firm-02", "1.5")):
        P.commit(db, "p1", firm, q, now=DURING)
    c = P.commit(db, "p1", "firm-03", 30, now=DURING)
    assert c.deposit_krw == 37515
    # the cooperative sees how far the next tier is; members do not while the pool is open
    assert P.progress(P.get_pool(db, "p1"), "firm-03", admin=True).next_tier_quantity == Decimal(3918)
    assert P.progress(P.get_pool(db, "p1"), "firm-03").next_tier_quantity is None
    s = P.close_pool(db, "p1", now=AFTER)
    assert (s.outcome, s.tier, s.total_quantity, s.total_cost_krw) == ("settled", 1, Decimal(1082), 1276219)
    got = {x.firm_id: (x.deposit_krw, x.cost_krw, x.refund_krw) for x in s.lines}
    assert got == {
        "firm-00": (750300, 707700, 42600),
        "firm-01": (563351, 531365, 31986),  # 531364.75: the largest remainder takes the last won
        "firm-02": (1876, 1769, 107),  # 1769.25
        "firm-03": (37515, 35385, 2130),
    }
    s.check()


def test_fractional_total_is_cut_to_whole_won_and_split_exactly(db):
    make_pool(db, tiers=[(0, "999.99")], minimum_quantity=1)
    for firm, q in (("firm-00", "1.001"), ("firm-01", "1.001"), ("firm-02", "1.001")):
        P.commit(db, "p1", firm, q, now=DURING)
    s = P.close_pool(db, "p1", now=AFTER)
    assert s.total_cost_krw == 3002  # 3.003 x 999.99 = 3002.96997 -> 3002
    assert [x.cost_krw for x in s.lines] == [1001, 1001, 1000]  # tie: smaller firm ids first
    s.check()


def test_change_and_withdraw_update_the_commitment_and_history(db):
    make_pool(db)
    P.commit(db, "p1", "firm-00", 100, now=DURING)
    c = P.commit(db, "p1", "firm-00", 40, now=DURING + timedelta(hours=1))
    assert c.quantity == 40 and c.deposit_krw == 50020
    P.commit(db, "p1", "firm-01", 10, now=DURING)
    gone = P.withdraw(db, "p1", "firm-00", now=DURING + timedelta(hours=2))
    assert gone.quantity == 40
    pool = P.get_pool(db, "p1")
    assert [c.firm_id for c in pool.commitments] == ["firm-01"]
    assert [(e.firm_id, e.action, e.quantity) for e in pool.history] == [
        ("firm-00", "commit", 100),
        ("firm-00", "change", 40),
        ("firm-01", "commit", 10),
        ("firm-00", "withdraw", 40),
    ]


def test_progress_hides_other_members_quantities(db):
    make_pool(db)
    P.commit(db, "p1", "firm-00", 700, now=DURING)
    P.commit(db, "p1", "firm-01", 200, now=DURING)
    pr = P.progress(P.get_pool(db, "p1"), "firm-01")  # a member, while open: no total, no tier
    assert pr.total_quantity is None and pr.members_committed == 2 and pr.minimum_reached is None
    assert pr.tier is None and pr.next_tier_quantity is None and pr.disclosed is False
    assert pr.own is not None and pr.own.quantity == 200
    assert "700" not in pr.model_dump_json() and "900" not in pr.model_dump_json()
    pr = P.progress(P.get_pool(db, "p1"), "firm-01", admin=True)  # the cooperative sees it all
    assert pr.total_quantity == 900 and pr.minimum_reached
    assert pr.tier == 0 and pr.next_tier_quantity == 100 and pr.next_unit_price_krw == Decimal("1179.5")


def err(fn, *a, **kw) -> P.CommonsError:
    with pytest.raises(P.CommonsError) as e:
        fn(*a, **kw)
    assert e.value.ko and e.value.en and e.value.field in str(e.value)
    return e.value


def test_commitments_outside_the_window_or_by_outsiders_are_refused(db):
    make_pool(db, per_member_max=500)
    e = err(P.commit, db, "p1", "firm-00", 10, now=OPENS - timedelta(seconds=1))
    assert (e.field, e.code) == ("now", "conflict") and "opens" in e.en and "시작" in e.ko
    e = err(P.commit, db, "p1", "firm-00", 10, now=CLOSES)
    assert e.field == "now" and "closed" in e.en and "끝났습니다" in e.ko
    e = err(P.commit, db, "p1", "outsider", 10, now=DURING)
    assert (e.field, e.code) == ("firm_id", "forbidden") and "조합원이 아닙니다" in e.ko
    assert err(P.commit, db, "p1", "firm-00", -5, now=DURING).en == "cannot be negative: -5"
    assert "greater than 0" in err(P.commit, db, "p1", "firm-00", 0, now=DURING).en
    assert "3 decimal" in err(P.commit, db, "p1", "firm-00", "1.0001", now=DURING).en
    assert "not a number" in err(P.commit, db, "p1", "firm-00", "열 개", now=DURING).en
    assert "finite" in err(P.commit, db, "p1", "firm-00", float("inf"), now=DURING).en
    assert "per-member maximum" in err(P.commit, db, "p1", "firm-00", 501, now=DURING).en
    assert err(P.withdraw, db, "p1", "firm-00", now=DURING).code == "not_found"
    assert err(P.commit, db, "nope", "firm-00", 1, now=DURING).code == "not_found"
    assert err(P.close_pool, db, "p1", now=DURING).code == "conflict"
    P.commit(db, "p1", "firm-00", 500, now=DURING)
    P.close_pool(db, "p1", now=AFTER)
    e = err(P.commit, db, "p1", "firm-01", 1, now=DURING)  # closed even if the clock says otherwise
    assert e.field == "state" and "마감된 공동구매" in e.ko
    assert err(P.withdraw, db, "p1", "firm-00", now=DURING).field == "state"
    assert P.get_pool(db, "p1").state == "refunded"  # 500 < 800


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        (dict(tiers=[(0, 100), (0, 90)]), "tiers[1].min_quantity", "not increasing"),
        (dict(tiers=[(100, 100), (50, 90)]), "tiers[1].min_quantity", "not increasing"),
        (dict(tiers=[(0, 100), (10, 100)]), "tiers[1].unit_price_krw", "lower unit price"),
        (dict(tiers=[(900, 100)]), "tiers[0].min_quantity", "no price"),
        (dict(tiers=[]), "tiers", "at least one"),
        (dict(tiers=[(0, -3)]), "tiers[0].unit_price_krw", "negative"),
        (dict(tiers=[(0, "1.001")]), "tiers[0].unit_price_krw", "2 decimal"),
        (dict(minimum_quantity=-1), "minimum_quantity", "negative"),
        (dict(material="unobtainium"), "material", "unknown material"),
        (dict(unit=" "), "unit", "empty"),
        (dict(members=[]), "members", "at least one"),
        (dict(closes=OPENS), "closes", "after opens"),
        (dict(opens=datetime(2026, 11, 23, 9)), "opens", "timezone-aware"),
        (dict(per_member_max=0), "per_member_max", "greater than 0"),
        (dict(pool_id="a/b"), "id", "bad id"),
    ],
)
def test_opening_a_pool_checks_every_field(db, kw, field, words):
    e = err(make_pool, db, **kw)
    assert e.field == field and words in e.en


def test_pool_id_is_unique(db):
    make_pool(db)
    assert err(make_pool, db).code == "conflict"


def test_korean_text_round_trips_through_the_database(tmp_path):
    d = CommonsDB(str(tmp_path / "c.sqlite"))
    make_pool(d, title=Text(ko="구로 금속 조합 알루미늄 공동구매"), spec=Text(ko="AL6061-T6 봉재 Ø50"))
    d.close()
    pool = P.get_pool(CommonsDB(str(tmp_path / "c.sqlite")), "p1")
    assert pool.title.get("en") == "구로 금속 조합 알루미늄 공동구매" and "Ø50" in pool.spec.ko


def _concurrent_commits(target: str, pool_id: str, firms: list[str], rounds: int) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(len(firms))

    def member(firm: str) -> None:
        d = CommonsDB(target)  # a connection of its own, as separate server workers would have
        try:
            start.wait()
            for r in range(1, rounds + 1):
                P.commit(d, pool_id, firm, r, now=DURING)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            d.close()

    threads = [threading.Thread(target=member, args=(f,)) for f in firms]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_concurrent_commitments_are_never_lost_sqlite(tmp_path):
    target = str(tmp_path / "pool.sqlite")
    make_pool(CommonsDB(target))
    _concurrent_commits(target, "p1", MEMBERS[:8], rounds=5)
    pool = P.get_pool(CommonsDB(target), "p1")
    assert {c.firm_id: c.quantity for c in pool.commitments} == {f: 5 for f in MEMBERS[:8]}
    assert len(pool.history) == 8 * 5


def test_concurrent_commitments_are_never_lost_on_one_shared_connection(db):
    make_pool(db)
    errors: list[BaseException] = []

    def member(firm: str) -> None:
        try:
            for r in range(1, 11):
                P.commit(db, "p1", firm, r, now=DURING)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=member, args=(f,)) for f in MEMBERS]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    pool = P.get_pool(db, "p1")
    assert pool.total_quantity == 10 * len(MEMBERS) and len(pool.history) == 10 * len(MEMBERS)


def test_pool_on_postgresql_concurrent_and_settled(pg_target):
    d = CommonsDB(pg_target)
    make_pool(d, pool_id="pg-pool")
    _concurrent_commits(pg_target, "pg-pool", MEMBERS[:6], rounds=4)
    pool = P.get_pool(d, "pg-pool")
    assert {c.firm_id: c.quantity for c in pool.commitments} == {f: 4 for f in MEMBERS[:6]}
    assert len(pool.history) == 24
    P.commit(d, "pg-pool", "firm-07", "1000.25", now=DURING)
    s = P.close_pool(d, "pg-pool", now=AFTER)
    s.check()
    assert s.tier == 1 and s.total_quantity == Decimal("1024.25") and s.total_cost_krw == 1208102
    again = CommonsDB(pg_target)
    assert P.close_pool(again, "pg-pool", now=AFTER + timedelta(days=1)) == s
    assert P.list_pools(again, "coop-gc")[0].state == "settled"
    again.close()
    d.close()


# ---------------------------------------------------------------- campaigns


def make_campaign(db: CommonsDB, cid: str = "c1", **kw) -> P.Campaign:
    args = dict(
        cooperative="coop-gc",
        members=MEMBERS,
        kind="expo_booth",
        title=Text(ko="2027 서울 국제 금속 전시회 공동 부스", en="Joint booth, Seoul metal fair 2027"),
        total_cost_krw=12_000_000,
        min_participants=3,
        opens=OPENS,
        closes=CLOSES,
        split="shares",
        share_unit="m²",
        min_total_shares=18,
        max_total_shares=36,
        campaign_id=cid,
        now=T0,
    )
    args.update(kw)
    return P.open_campaign(db, **args)


def test_booth_split_by_area_with_shared_results(db):
    make_campaign(db)
    for firm, area in (("firm-00", 9), ("firm-01", 6), ("firm-02", "4.5"), ("firm-03", 3)):
        P.join_campaign(db, "c1", firm, area, now=DURING)
    e = err(P.join_campaign, db, "c1", "firm-04", 14, now=DURING)
    # refused without saying 13.5 (36 - 22.5) are left: that would give the others' shares away
    assert e.code == "conflict" and "36" in e.en and "13.5" not in e.en + e.ko
    assert P.get_campaign(db, "c1").commitments[0].deposit_krw == 6_000_000  # 12M x 9/18
    s = P.close_campaign(db, "c1", now=AFTER)
    s.check()
    assert s.outcome == "settled" and s.total_cost_krw == 12_000_000
    got = {x.firm_id: (x.deposit_krw, x.cost_krw, x.refund_krw) for x in s.lines}
    assert got == {
        "firm-00": (6_000_000, 4_800_000, 1_200_000),
        "firm-01": (4_000_000, 3_200_000, 800_000),
        "firm-02": (3_000_000, 2_400_000, 600_000),
        "firm-03": (2_000_000, 1_600_000, 400_000),
    }
    assert P.campaign_results(db, "c1", "firm-00") == []
    P.add_campaign_result(
        db,
        "c1",
        "coop-gc",
        Text(ko="부스 방문 바이어", en="Booth leads"),
        leads=[{"name": "Hanoi Mech Co.", "country": "VN", "interest": "turning"}],
        ref="files/expo-2027-report.pdf",
        result_id="r1",
        now=AFTER,
    )
    for viewer in ("firm-00", "firm-03", "coop-gc"):
        res = P.campaign_results(db, "c1", viewer)
        assert [r.id for r in res] == ["r1"] and res[0].leads[0].country == "VN"
    for outsider in ("firm-05", "stranger"):
        e = err(P.campaign_results, db, "c1", outsider)
        assert e.code == "forbidden" and "participants" in e.en
    assert err(P.add_campaign_result, db, "c1", "firm-05", Text(en="x"), ref="f").code == "forbidden"
    assert err(P.add_campaign_result, db, "c1", "firm-00", Text(en="x")).field == "ref"
    assert "r1" not in P.get_campaign(db, "c1").model_dump_json()  # results live apart from the listing


def test_equal_split_and_a_campaign_that_does_not_run(db):
    make_campaign(
        db,
        "eq",
        kind="catalog",
        split="equal",
        share_unit="",
        min_total_shares=None,
        max_total_shares=None,
        total_cost_krw=1_000_000,
        min_participants=3,
    )
    for firm in ("firm-02", "firm-00", "firm-01"):
        c = P.join_campaign(db, "eq", firm, now=DURING)
        assert c.deposit_krw == 333_334  # 1,000,000 / 3 rounded up
    assert "one share" in err(P.join_campaign, db, "eq", "firm-03", 2, now=DURING).en
    s = P.close_campaign(db, "eq", now=AFTER)
    assert [x.cost_krw for x in s.lines] == [333_334, 333_333, 333_333]
    s.check()
    make_campaign(
        db,
        "few",
        kind="market_research",
        split="equal",
        min_total_shares=None,
        max_total_shares=None,
        total_cost_krw=5_000_000,
        min_participants=4,
    )
    for firm in MEMBERS[:3]:
        P.join_campaign(db, "few", firm, now=DURING)
    P.leave_campaign(db, "few", "firm-01", now=DURING)
    s = P.close_campaign(db, "few", now=AFTER)
    assert s.outcome == "refunded" and [x.refund_krw for x in s.lines] == [1_250_000, 1_250_000]
    assert "2 of at least 4" in s.reason.en
    assert err(P.add_campaign_result, db, "few", "coop-gc", Text(en="x"), ref="f").code == "conflict"
    assert err(P.campaign_results, db, "few", "firm-00").code == "forbidden"


@PROPS
@given(
    total=st.integers(min_value=1, max_value=10**9),
    min_shares=st.integers(min_value=1, max_value=50),
    joins=st.dictionaries(
        st.sampled_from(MEMBERS), st.decimals(min_value="0.5", max_value="20", places=1), max_size=12
    ),
)
def test_campaign_split_reconciles_and_never_exceeds_a_deposit(total, min_shares, joins):
    d = CommonsDB(":memory:")
    make_campaign(
        d, total_cost_krw=total, min_total_shares=min_shares, max_total_shares=None, min_participants=2
    )
    for firm, sh in joins.items():
        P.join_campaign(d, "c1", firm, sh, now=DURING)
    s = P.close_campaign(d, "c1", now=AFTER)
    s.check()
    runs = len(joins) >= 2 and sum(joins.values()) >= min_shares
    assert s.outcome == ("settled" if runs else "refunded")
    assert s.total_cost_krw == (total if runs else 0)
    if not runs:
        assert all(x.refund_krw == x.deposit_krw for x in s.lines)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        (dict(kind="party"), "kind"),
        (dict(total_cost_krw=0), "total_cost_krw"),
        (dict(total_cost_krw=1.5), "total_cost_krw"),
        (dict(min_participants=0), "min_participants"),
        (dict(min_participants=13), "min_participants"),
        (dict(min_total_shares=None), "min_total_shares"),
        (dict(max_total_shares=10), "max_total_shares"),
        (dict(split="by_mood"), "split"),
        (dict(split="equal"), "split"),
    ],
)
def test_opening_a_campaign_checks_every_field(db, kw, field):
    assert err(make_campaign, db, **kw).field == field


def test_campaign_on_postgresql(pg_target):
    d = CommonsDB(pg_target)
    make_campaign(d, "pg-c")
    for firm in MEMBERS[:4]:
        P.join_campaign(d, "pg-c", firm, 5, now=DURING)
    s = P.close_campaign(d, "pg-c", now=AFTER)
    assert s.outcome == "settled" and {x.cost_krw for x in s.lines} == {3_000_000}
    P.add_campaign_result(d, "pg-c", "firm-00", Text(ko="보고서"), ref="s3://coop/report.pdf", now=AFTER)
    assert P.campaign_results(d, "pg-c", "firm-03")[0].ref == "s3://coop/report.pdf"
    assert err(P.campaign_results, d, "pg-c", "firm-09").code == "forbidden"
    d.close()


def test_docs_example_runs_and_its_table_matches(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "commons" / "pools.md").read_text(encoding="utf-8")
    code = re.findall(r"```python\n(.*?)```", doc, re.S)[0]
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "pools.md", "exec"), scope)
    s = scope["settlement"]
    assert s.outcome == "refunded" and s.lines[0].refund_krw == 563351  # 450.5 kg < 800 kg
    d = CommonsDB(":memory:")
    make_pool(d)
    for firm, q in (("firm-00", 600), ("firm-01", "450.5"), ("firm-02", "1.5"), ("firm-03", 30)):
        P.commit(d, "p1", firm, q, now=DURING)
    s = P.close_pool(d, "p1", now=AFTER)
    for x in s.lines:
        assert f"| {x.firm_id} |" in doc
        row = next(r for r in doc.splitlines() if r.startswith(f"| {x.firm_id} |"))
        for n in (x.deposit_krw, x.cost_krw, x.refund_krw):
            assert f"{n:,}" in row, (x.firm_id, n)
    assert (
        f"**{s.total_cost_krw:,}**" in doc
        and f"**{s.deposits_krw:,}**" in doc
        and f"**{s.refunds_krw:,}**" in doc
    )


def test_a_pool_for_a_cooperative_of_the_generated_region():
    from factory_commons.cooperate.sample import generate_region

    region = generate_region(seed=7, firms=300, requests=5)
    coop = max(region.cooperatives, key=lambda c: len(c.members))
    outsider = next(p.firm_id for p in region.profiles if p.firm_id not in coop.members)
    d = CommonsDB(":memory:")
    make_pool(d, cooperative=coop.id, members=coop.members, minimum_quantity=1000)
    for i, firm in enumerate(coop.members):
        P.commit(d, "p1", firm, Decimal(37 + 13 * (i % 7)) + Decimal("0.125"), now=DURING)
    assert err(P.commit, d, "p1", outsider, 10, now=DURING).code == "forbidden"
    s = P.close_pool(d, "p1", now=AFTER)
    s.check()
    assert s.outcome == "settled" and len(s.lines) == len(coop.members) and s.tier in (1, 2)


def test_calling_a_pool_or_campaign_off_refunds_every_deposit(db):
    make_pool(db)
    P.commit(db, "p1", "firm-00", 900, now=DURING)
    P.commit(db, "p1", "firm-01", 1000, now=DURING)
    why = Text(ko="공급사 납품 불가", en="the supplier cannot deliver")
    s = P.cancel_pool(db, "p1", why, now=DURING)
    s.check()
    assert s.outcome == "refunded" and [x.refund_krw for x in s.lines] == [1_125_450, 1_250_500]
    assert P.get_pool(db, "p1").state == "refunded" and s.reason == why
    assert P.close_pool(db, "p1", now=AFTER) == s == P.cancel_pool(db, "p1", why, now=AFTER)
    assert err(P.commit, db, "p1", "firm-02", 1, now=DURING).field == "state"
    make_pool(db, "p2")
    P.commit(db, "p2", "firm-00", 900, now=DURING)
    assert P.close_pool(db, "p2", now=AFTER).outcome == "settled"
    e = err(P.cancel_pool, db, "p2", why, now=AFTER)
    assert (e.field, e.code) == ("state", "conflict") and "정산된 공동구매" in e.ko
    make_campaign(db)
    P.join_campaign(db, "c1", "firm-00", 10, now=DURING)
    s = P.cancel_campaign(db, "c1", Text(ko="전시회 취소"), now=DURING)
    assert s.outcome == "refunded" and s.lines[0].refund_krw == s.lines[0].deposit_krw == 6_666_667


def test_quantities_print_plainly_and_absurd_ones_are_refused(db):
    make_pool(db)
    assert str(P.commit(db, "p1", "firm-00", 1000, now=DURING).quantity) == "1000"
    assert str(P.commit(db, "p1", "firm-01", "12.500", now=DURING).quantity) == "12.5"
    assert "too large" in err(P.commit, db, "p1", "firm-02", "1e13", now=DURING).en
    assert "too large" in err(P.commit, db, "p1", "firm-02", "1e300", now=DURING).en


def test_every_pool_model_leaves_decimals_without_an_exponent(db):
    """Whatever Decimal goes in (2.4E+3 included), str() and JSON of pools.py's models say 2400."""
    tier = P.PriceTier(min_quantity=Decimal("2.4E+3"), unit_price_krw=Decimal("1.1E+3"))
    assert (str(tier.min_quantity), str(tier.unit_price_krw)) == ("2400", "1100")
    assert tier.model_dump_json() == '{"min_quantity":"2400","unit_price_krw":"1100"}'
    big = P.PriceTier(min_quantity=3.549969990325114e38, unit_price_krw=Decimal("1E+1000000000"))
    assert str(big.min_quantity) == "354996999032511400000000000000000000000"  # beyond 28 digits
    assert str(big.unit_price_krw) == "1E+1000000000"  # absurd: left alone (to_decimal refuses it)
    make_pool(db, tiers=[(0, "2.5E+3"), ("1E+3", "2E+3")], minimum_quantity="8E+2")
    P.commit(db, "p1", "firm-00", Decimal("2.4E+3"), now=DURING)
    P.commit(db, "p1", "firm-01", Decimal("0.5"), now=DURING)
    pool = db.get("pool", "p1", P.PurchasePool)
    prog = P.progress(pool, "firm-00", admin=True)
    s = P.close_pool(db, "p1", now=AFTER)
    texts = [pool.model_dump_json(), prog.model_dump_json(), s.model_dump_json()]
    texts += [
        str(x) for x in (pool.minimum_quantity, pool.total_quantity, prog.own.quantity, s.total_quantity)
    ]
    assert not [t for t in texts if "E+" in t], texts
    assert '"minimum_quantity":"800"' in texts[0] and '"total_quantity":"2400.5"' in texts[1]
    assert str(s.unit_price_krw) == "2000"


@PROPS
@given(
    value=st.one_of(
        st.text(max_size=12),
        st.floats(),
        st.integers(),
        st.decimals(allow_nan=True),
        st.none(),
        st.booleans(),
    )
)
def test_any_input_is_a_decimal_or_a_clear_error(value):
    try:
        d = P.to_decimal(value, "quantity", places=3)
    except P.CommonsError as e:
        assert e.field == "quantity" and e.ko and e.en
    else:
        assert isinstance(d, Decimal) and 0 < d <= P.MAX_AMOUNT and d == d.quantize(Decimal("0.001"))


# ---------------------------------------------------------------- messages from the catalog

COOPERATE = Path(P.__file__).parent
#: the modules whose messages are in the `commons_errors` catalog
MESSAGE_MODULES = (
    "pools",
    "booking",
    "match",
    "missions",
    "teams",
    "projects",
    "model",
    "evidence",
    "catalog",
    "ratings",
    "membership",
)
HANGUL = re.compile("[\uac00-\ud7a3]")


def _message_uses() -> list[tuple[str, str, set[str] | None]]:
    """(where, key, keyword names or None where `**params` is passed) of every literal key given
    to `CommonsError.of(field, key, ...)`, `msg`, `msg_pair` or `msg_both(key, ...)` or
    `ERRORS.get/pair(key)`."""
    out = []
    for name in MESSAGE_MODULES:
        tree = ast.parse((COOPERATE / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn, key = node.func, None
            if isinstance(fn, ast.Attribute) and fn.attr == "of" and len(node.args) >= 2:
                key = node.args[1]
            elif isinstance(fn, ast.Name) and fn.id in ("msg", "msg_pair", "msg_both") and node.args:
                key = node.args[0]
            elif (
                isinstance(fn, ast.Attribute)
                and fn.attr in ("get", "pair")
                and getattr(fn.value, "id", "") == "ERRORS"
            ):
                key = node.args[0] if node.args else None
            else:
                continue
            if isinstance(key, ast.Name) and key.id == "key":
                continue  # CommonsError.of and msg handing their key on
            if isinstance(key, ast.IfExp):  # msg_pair("a" if x else "b")
                for branch in (key.body, key.orelse):
                    out.append((f"{name}.py:{node.lineno}", branch.value, set()))
                continue
            assert isinstance(key, ast.Constant), f"{name}.py:{node.lineno}: a message key must be a literal"
            kws = None if any(k.arg is None for k in node.keywords) else {k.arg for k in node.keywords}
            if fn.attr == "of" if isinstance(fn, ast.Attribute) else False:
                kws = None if kws is None else kws - {"code"}
            out.append((f"{name}.py:{node.lineno}", key.value, kws))
    return out


def _placeholders(text: str) -> set[str]:
    return {re.split(r"[.\[]", f)[0] for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def test_every_commons_message_key_exists_with_the_placeholders_it_is_given():
    errors = Catalog("commons_errors")
    uses = _message_uses()
    assert len(uses) > 150
    bad = []
    for where, key, kws in uses:
        ko, en = errors.pair(key)
        if not errors.has(key) or not ko or not en:
            bad.append(f"{where}: no message {key!r}")
        elif kws is not None and _placeholders(ko) | _placeholders(en) != kws:  # a text may leave one out
            bad.append(
                f"{where}: {key!r} given {sorted(kws)}, texts use {_placeholders(ko)} / {_placeholders(en)}"
            )
    assert not bad, "\n".join(bad)
    # every message of the catalog is used
    assert set(errors.ids()) == {key for _, key, _ in uses}


def test_no_korean_text_is_written_in_the_code_of_these_modules():
    """Korean text comes from the catalog: only docstrings and comments may carry Hangul."""
    found = []
    for name in MESSAGE_MODULES:
        tree = ast.parse((COOPERATE / f"{name}.py").read_text(encoding="utf-8"))
        docs = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for n in ast.walk(tree):
            if (
                isinstance(n, ast.Constant)
                and isinstance(n.value, str)
                and id(n) not in docs
                and HANGUL.search(n.value)
            ):
                found.append(f"{name}.py:{n.lineno}: {n.value[:40]!r}")
    assert not found, "\n".join(found)


def test_an_error_from_the_catalog_reads_as_before():
    e = P.CommonsError.of("pool_id", "no_such_pool", "not_found", id="pool-1")
    assert (e.field, e.code, e.ko, e.en) == (
        "pool_id",
        "not_found",
        "공동구매가 없습니다: pool-1",
        "no such pool: pool-1",
    )
    assert str(e) == "pool_id: no such pool: pool-1 / 공동구매가 없습니다: pool-1"
    assert e.message("ko") == "pool_id: 공동구매가 없습니다: pool-1"
    with pytest.raises(P.CommonsError, match=r"too large \(at most 1,000,000,000,000\)"):
        P.to_decimal("1E+13", "q", places=0)
