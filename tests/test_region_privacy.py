"""Differential-privacy noise on the published census tables is calibrated to the stated budget:
the budget is split over every release, OpenDP's privacy maps confirm each share, the noise has
the variance the Laplace scale implies, and the stated intervals hold the true values."""

from __future__ import annotations

import statistics

import pytest

from factory_commons.region.disclosure import Cell, protect
from factory_commons.region.privacy import add_noise, budget_check, count_mechanism, plan, sum_mechanism


def _cells() -> list[Cell]:
    """A district x size maturity table of 200 firms (no small cells) and its totals."""
    counts = {("d0", "s0"): 40, ("d0", "s1"): 60, ("d1", "s0"): 70, ("d1", "s1"): 30}
    means = {("d0", "s0"): 2.0, ("d0", "s1"): 3.0, ("d1", "s0"): 2.5, ("d1", "s1"): 4.0}
    out = []
    for r in ("d0", "d1", "_all"):
        for c in ("s0", "s1", "_all"):
            keys = [(a, b) for (a, b) in counts if r in (a, "_all") and c in (b, "_all")]
            n = sum(counts[k] for k in keys)
            mean = sum(counts[k] * means[k] for k in keys) / n
            out.append(Cell("t", "maturity", "district", r, "size", c, "score", mean, n))
    return out


def test_the_budget_is_split_over_every_release_and_opendp_confirms_each_share():
    cells = _cells()
    eps_r, shape = plan(cells, 1.0)
    # four partitions (cells, district totals, size totals, grand total), one count and one sum each
    assert shape == {"maturity": (4, 1)}
    assert eps_r == pytest.approx(1.0 / 8)
    count_eps, sum_eps = budget_check(eps_r, hi=5.0)
    assert count_eps == pytest.approx(eps_r) and sum_eps == pytest.approx(eps_r)
    assert 8 * max(count_eps, sum_eps) == pytest.approx(1.0)


def test_noise_has_the_variance_of_its_laplace_scale():
    eps = 0.5
    noisy_count = count_mechanism(eps)
    counts = [noisy_count(100) - 100 for _ in range(3000)]
    assert statistics.pvariance(counts) == pytest.approx(2 / eps**2, rel=0.15)
    assert abs(statistics.fmean(counts)) < 0.25
    noisy_sum = sum_mechanism(eps, 5.0)
    sums = [noisy_sum(300.0) - 300.0 for _ in range(3000)]
    assert statistics.pvariance(sums) == pytest.approx(2 * (5.0 / eps) ** 2, rel=0.15)


def test_noisy_cells_state_their_budget_and_their_intervals_hold_the_truth():
    cells = protect(_cells(), 5)
    truth = {(c.row, c.column): c.value for c in cells}
    held = total = 0
    for _ in range(150):
        for c in add_noise(cells, 2.0):
            assert c.dp_epsilon == 2.0 and c.note == "dp"
            assert 0.0 <= c.ci_low <= c.value <= c.ci_high <= 5.0
            held += c.ci_low <= truth[(c.row, c.column)] <= c.ci_high
            total += 1
    assert held / total >= 0.93, held / total


def test_a_smaller_budget_gives_more_noise():
    cells = protect(_cells(), 5)

    def spread(eps: float) -> float:
        noisy = [
            c.value for _ in range(60) for c in add_noise(cells, eps) if (c.row, c.column) == ("d0", "s0")
        ]
        return statistics.pstdev(noisy)

    assert spread(0.2) > 3 * spread(5.0)


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError, match="epsilon must be positive"):
        add_noise(_cells(), 0.0)
