"""SPC: chart constants, charts against textbook and hand-worked examples, run rules, capability
with confidence intervals, errors, and the `spc` command on a small simulated store.

Textbook references: D. C. Montgomery, *Introduction to Statistical Quality Control*, 6th ed.
(Wiley 2009): Appendix VI (factors for control charts), Table 6.3 / Example 6.1 (piston rings),
Table 7.1 / Example 7.1 (orange juice cans), Example 7.3 (printed circuit boards).
Every other expected value is worked out by hand in the comments, from the formula.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from factory_commons.cli import app
from factory_commons.spc import (
    Chart,
    SpcError,
    c_chart,
    capability_from_chart,
    check,
    cp_interval,
    cpk_interval,
    factors,
    imr,
    np_chart,
    p_chart,
    process_capability,
    u_chart,
    xbar_r,
    xbar_s,
)
from factory_commons.spc.analysis import analyze
from factory_commons.spc.data import attribute_counts, load_measurements, make_subgroups

runner = CliRunner()
SEOUL = ZoneInfo("Asia/Seoul")

# --------------------------------------------------------------------------------------------
# constants


# Montgomery, Appendix VI, as printed (3 decimals; c4 4 decimals).
APPENDIX_VI = {
    2: dict(A2=1.880, A3=2.659, c4=0.7979, B3=0.0, B4=3.267, d2=1.128, d3=0.853, D3=0.0, D4=3.267),
    5: dict(A2=0.577, A3=1.427, c4=0.9400, B3=0.0, B4=2.089, d2=2.326, d3=0.864, D3=0.0, D4=2.114),
    7: dict(A2=0.419, A3=1.182, c4=0.9594, B3=0.118, B4=1.882, d2=2.704, d3=0.833, D3=0.076, D4=1.924),
    10: dict(A2=0.308, A3=0.975, c4=0.9727, B3=0.284, B4=1.716, d2=3.078, d3=0.797, D3=0.223, D4=1.777),
    25: dict(A2=0.153, A3=0.606, c4=0.9896, B3=0.565, B4=1.435, d2=3.931, d3=0.708, D3=0.459, D4=1.541),
}


@pytest.mark.parametrize("n", sorted(APPENDIX_VI))
def test_constants_match_the_printed_table(n):
    f = factors(n).as_dict()
    for name, printed in APPENDIX_VI[n].items():
        digits = 4 if name == "c4" else 3
        assert f[name] == pytest.approx(printed, abs=0.6 * 10**-digits), (n, name, f[name])


def test_constants_from_closed_forms():
    # n = 2: R = |X1 - X2| with X1 - X2 ~ N(0, 2): E R = 2/sqrt(pi), Var R = 2 - 4/pi.
    f = factors(2)
    assert f.d2 == pytest.approx(2 / math.sqrt(math.pi), abs=1e-7)
    assert f.d3 == pytest.approx(math.sqrt(2 - 4 / math.pi), abs=1e-5)
    # n = 3: E R = 3/sqrt(pi) (range of three normals).
    assert factors(3).d2 == pytest.approx(3 / math.sqrt(math.pi), abs=1e-7)
    # c4(2) = sqrt(2/pi); E2 = 3/d2; A2 = 3/(d2 sqrt(n)).
    assert f.c4 == pytest.approx(math.sqrt(2 / math.pi), abs=1e-12)
    assert f.E2 == pytest.approx(3 * math.sqrt(math.pi) / 2, abs=1e-6)  # the familiar 2.659
    assert all(factors(n).A2 == pytest.approx(3 / (factors(n).d2 * math.sqrt(n))) for n in range(2, 26))


def test_constants_monte_carlo():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200_000, 6))
    r = x.max(axis=1) - x.min(axis=1)
    f = factors(6)
    assert r.mean() == pytest.approx(f.d2, abs=0.01)
    assert r.std() == pytest.approx(f.d3, abs=0.01)
    assert x.std(axis=1, ddof=1).mean() == pytest.approx(f.c4, abs=0.003)


def test_constants_reject_bad_sizes():
    with pytest.raises(ValueError):
        factors(1)
    with pytest.raises(ValueError):
        factors(2.5)


# --------------------------------------------------------------------------------------------
# variables charts


def _piston_like_subgroups() -> list[list[float]]:
    """25 subgroups of 5 with grand mean 74.001 and mean range 0.023, the summary statistics of
    Montgomery's piston-ring data (Table 6.3: x̿ = 74.001, R̄ = 0.023). The raw table is not
    reproduced here; the limits depend only on x̿, R̄ and n."""
    out = []
    for i in range(25):
        centre = 74.001 + (0.002 if i % 2 else -0.002) * (i < 24)  # pairs cancel; the last is 74.001
        out.append([centre - 0.0115, centre - 0.003, centre, centre + 0.003, centre + 0.0115])
    return out


def test_xbar_r_piston_rings_montgomery():
    res = xbar_r(_piston_like_subgroups())
    x, r = res.location, res.dispersion
    assert float(x.center[0]) == pytest.approx(74.001, abs=1e-9)
    assert float(r.center[0]) == pytest.approx(0.023, abs=1e-12)
    # Montgomery Example 6.1: X̄ chart CL 74.001, UCL 74.014, LCL 73.988 (x̿ ± A2 R̄ = ± 0.577 · 0.023);
    # R chart CL 0.023, UCL D4 R̄ = 2.114 · 0.023 = 0.049, LCL 0.
    assert round(float(x.ucl[0]), 3) == 74.014
    assert round(float(x.lcl[0]), 3) == 73.988
    assert round(float(r.ucl[0]), 3) == 0.049
    assert float(r.lcl[0]) == 0.0
    # σ̂ = R̄/d2 = 0.023/2.326 = 0.0099; with specs 74.000 ± 0.05, Montgomery's Cp = 0.10/(6 · 0.0099) = 1.68
    # (1.686 before rounding σ̂ to 0.0099).
    assert res.sigma_within == pytest.approx(0.023 / 2.326, rel=2e-4)
    cap = capability_from_chart(res, lsl=73.95, usl=74.05)
    assert cap.cp.value == pytest.approx(1.68, abs=0.01)
    assert x.beyond_limits() == [] and r.beyond_limits() == []


def test_xbar_s_hand_worked():
    # subgroups (1,2,3), (2,3,4), (3,4,5): each s = 1, S̄ = 1, x̿ = 3, n = 3.
    # A3(3) = 3/(c4 sqrt 3) = 3/(0.88623 · 1.73205) = 1.9544 -> UCL 4.9544, LCL 1.0456
    # B4(3) = 1 + 3 sqrt(1 - c4²)/c4 = 1 + 3 · 0.46325/0.88623 = 2.5682; B3 = 0.
    res = xbar_s([[1, 2, 3], [2, 3, 4], [3, 4, 5]])
    assert res.location.center[0] == pytest.approx(3)
    assert res.location.ucl[0] == pytest.approx(4.9544, abs=1e-4)
    assert res.location.lcl[0] == pytest.approx(1.0456, abs=1e-4)
    assert res.dispersion.center[0] == pytest.approx(1)
    assert res.dispersion.ucl[0] == pytest.approx(2.5682, abs=1e-4)
    assert res.dispersion.lcl[0] == 0
    assert res.sigma_within == pytest.approx(1 / 0.886227, abs=1e-5)
    assert any("only 3 subgroups" in w for w in res.warnings)


def test_xbar_s_varying_sizes_pools():
    # sizes 2 and 4: s² = 0.5 (1, 2) and 5/3 (1, 2, 3, 5: mean 2.75, SS = 3.0625+0.5625+0.0625+5.0625 = 8.75, /3)
    # pooled s² = (1 · 0.5 + 3 · 2.91667) / 4 = 2.3125 -> s_p = 1.52069; σ̂ = s_p / c4(5) = 1.52069/0.94 = 1.61776
    res = xbar_s([[1, 2], [1, 2, 3, 5]])
    assert res.sigma_method == "s_pooled/c4"
    assert res.sigma_within == pytest.approx(math.sqrt(2.3125) / 0.939986, rel=1e-5)
    # x̿ = (2 · 1.5 + 4 · 2.75)/6 = 2.3333; UCL_i = x̿ + 3 σ̂ / sqrt(n_i)
    assert res.location.center[0] == pytest.approx(14 / 6)
    assert res.location.ucl[0] == pytest.approx(14 / 6 + 3 * res.sigma_within / math.sqrt(2))
    assert res.location.ucl[1] == pytest.approx(14 / 6 + 3 * res.sigma_within / 2)
    assert not res.location.constant_limits


def test_imr_hand_worked():
    # x = 10, 12, 11, 13, 12: MR = 2, 1, 2, 1, MR̄ = 1.5, x̄ = 11.6
    # I: 11.6 ± E2 MR̄ = 11.6 ± 2.6587 · 1.5 = 11.6 ± 3.988 -> 15.588, 7.612; MR: UCL = D4(2) MR̄ = 3.2665 · 1.5 = 4.900
    res = imr([10, 12, 11, 13, 12])
    assert res.location.ucl[0] == pytest.approx(15.588, abs=1e-3)
    assert res.location.lcl[0] == pytest.approx(7.612, abs=1e-3)
    assert res.dispersion.center[0] == pytest.approx(1.5)
    assert res.dispersion.ucl[0] == pytest.approx(4.900, abs=1e-3)
    assert len(res.dispersion) == 4 and res.dispersion.labels == [1, 2, 3, 4]


def test_sigma_degrees_of_freedom_against_simulation():
    # The effective degrees of freedom ν of σ̂ satisfy Var(σ̂/σ) ≈ 1/(2ν); check by simulation.
    rng = np.random.default_rng(3)
    reps = 4000
    r_est, mr_est = [], []
    for _ in range(reps):
        x = rng.standard_normal((25, 5))
        r_est.append(np.ptp(x, axis=1).mean() / 2.32593)
        y = rng.standard_normal(50)
        mr_est.append(np.abs(np.diff(y)).mean() / 1.12838)
    nu_r = xbar_r(rng.standard_normal((25, 5))).sigma_df
    nu_mr = imr(rng.standard_normal(50)).sigma_df
    # Montgomery's rule of thumb for R̄/d2: ν ≈ 0.9 m (n - 1) = 90
    assert nu_r == pytest.approx(90, rel=0.02)
    assert 1 / (2 * np.var(r_est)) == pytest.approx(nu_r, rel=0.1)
    assert 1 / (2 * np.var(mr_est)) == pytest.approx(nu_mr, rel=0.1)
    assert nu_mr == pytest.approx(0.62 * 49, rel=0.05)


# --------------------------------------------------------------------------------------------
# attribute charts

# Montgomery Table 7.1: 30 samples of n = 50 orange juice cans, nonconforming per sample.
ORANGE_JUICE = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22,
                8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6]  # fmt: skip
# Montgomery Example 7.3: nonconformities in 26 samples of 100 printed circuit boards.
CIRCUIT_BOARDS = [21, 24, 16, 12, 15, 5, 28, 20, 31, 25, 20, 24, 16, 19, 10,
                  17, 13, 22, 18, 39, 30, 24, 16, 19, 17, 15]  # fmt: skip


def test_p_chart_orange_juice_montgomery():
    res = p_chart(ORANGE_JUICE, 50)
    c = res.chart
    # p̄ = 347/1500 = 0.2313, UCL 0.4102, LCL 0.0524; samples 15 and 23 are out of control
    assert sum(ORANGE_JUICE) == 347
    assert round(float(c.center[0]), 4) == 0.2313
    assert round(float(c.ucl[0]), 4) == 0.4102
    assert round(float(c.lcl[0]), 4) == 0.0524
    assert c.beyond_limits() == [14, 22]


def test_np_chart_orange_juice():
    # the same data as an np chart: n p̄ = 11.567, limits 11.567 ± 3 sqrt(50 · 0.2313 · 0.7687) = ± 8.943
    c = np_chart(ORANGE_JUICE, [50] * 30).chart
    assert c.center[0] == pytest.approx(347 / 30)
    assert c.ucl[0] == pytest.approx(347 / 30 + 3 * math.sqrt(50 * 347 / 1500 * (1 - 347 / 1500)))
    assert round(float(c.ucl[0]), 2) == 20.51 and round(float(c.lcl[0]), 2) == 2.62
    assert c.beyond_limits() == [14, 22]


def test_c_chart_circuit_boards_montgomery():
    c = c_chart(CIRCUIT_BOARDS).chart
    # c̄ = 516/26 = 19.85, UCL 19.85 + 3 sqrt(19.85) = 33.22, LCL 6.48; samples 6 and 20 are outside.
    # (The book rounds c̄ to 19.85 first; with c̄ = 19.846 the limits are 33.211 and 6.481.)
    assert round(float(c.center[0]), 2) == 19.85
    assert float(c.ucl[0]) == pytest.approx(33.22, abs=0.01)
    assert float(c.lcl[0]) == pytest.approx(6.48, abs=0.01)
    assert c.beyond_limits() == [5, 19]


def test_p_chart_varying_sizes_hand_worked():
    # p̄ = 15/500 = 0.03; n = 100: se = sqrt(0.03 · 0.97 / 100) = 0.017059, UCL 0.081177, LCL 0
    #                      n = 400: se = 0.0085294, UCL 0.055588, LCL 0.004412
    c = p_chart([5, 10], [100, 400]).chart
    assert c.ucl[0] == pytest.approx(0.081177, abs=1e-6)
    assert c.lcl[0] == 0
    assert c.ucl[1] == pytest.approx(0.055588, abs=1e-6)
    assert c.lcl[1] == pytest.approx(0.004412, abs=1e-6)


def test_np_and_u_hand_worked():
    # np: p̄ = 8/400 = 0.02, CL 2, UCL 2 + 3 sqrt(100 · 0.02 · 0.98) = 2 + 3 · 1.4 = 6.2, LCL max(0, -2.2) = 0
    c = np_chart([1, 2, 3, 2], 100).chart
    assert c.center[0] == pytest.approx(2) and c.ucl[0] == pytest.approx(6.2) and c.lcl[0] == 0
    # u: ū = 10/10 = 1; n = 2: UCL 1 + 3/sqrt(2) = 3.1213; n = 5: UCL 1 + 3/sqrt(5) = 2.3416; LCL 0
    u = u_chart([2, 3, 5], [2, 3, 5]).chart
    assert u.values.tolist() == [1, 1, 1]
    assert u.ucl[0] == pytest.approx(3.1213, abs=1e-4) and u.ucl[2] == pytest.approx(2.3416, abs=1e-4)
    assert u.lcl.tolist() == [0, 0, 0]


# --------------------------------------------------------------------------------------------
# run rules: a chart with CL 0, σ 1, limits ±3, so values are z-scores


def _chart(values) -> Chart:
    v = np.asarray(values, float)
    n = len(v)
    return Chart("i", v, np.zeros(n), np.full(n, 3.0), np.full(n, -3.0), np.ones(n))


def _hits(values, system, rule):
    return check(_chart(values), system, [rule])


NELSON_CASES = {
    # rule: (positive values, involved points, negative values)
    1: ([0, 0, 3.5, 0], [2], [2.9, -2.9, 0, 3.0]),
    2: ([0.5] * 9, list(range(9)), [0.5] * 8 + [-0.5] + [0.5] * 8),
    3: ([0, 0.1, 0.2, 0.3, 0.4, 0.5], list(range(6)), [0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.5, 0.6]),
    4: ([0.5, -0.5] * 7, list(range(14)), [0.5, -0.5] * 6 + [0.5]),
    5: ([2.5, 0, 2.5], [0, 2], [2.5, 0, -2.5, 0, 0, 2.5]),
    6: ([1.5, 1.5, 0, 1.5, 1.5], [0, 1, 3, 4], [1.5, 1.5, 0, 0, 1.5, 1.5, -1.5]),
    7: ([0.5, -0.3] * 7 + [0.2], list(range(15)), [0.5, -0.3] * 7 + [1.2]),
    8: ([1.5, -1.5] * 4, list(range(8)), [1.5, -1.5] * 3 + [0.5, 1.5]),
}


@pytest.mark.parametrize("rule", sorted(NELSON_CASES))
def test_nelson_rule(rule):
    pos, involved, neg = NELSON_CASES[rule]
    found = _hits(pos, "nelson", rule)
    assert len(found) == 1
    v = found[0]
    assert v.indices == involved
    assert v.rule.code == f"N{rule}" and v.rule.number == rule
    assert v.rule.ko and v.rule.en and "/" in v.rule.description
    assert _hits(neg, "nelson", rule) == []


def test_nelson_downward_versions():
    assert _hits([-0.5] * 9, "nelson", 2)[0].indices == list(range(9))
    assert _hits([0.5, 0.4, 0.3, 0.2, 0.1, 0], "nelson", 3)[0].indices == list(range(6))
    assert _hits([-2.5, -2.1, 0], "nelson", 5)[0].indices == [0, 1]
    assert _hits([-1.5, -1.5, -1.5, 0.5, -1.5], "nelson", 6)[0].indices == [0, 1, 2, 4]


def test_point_on_centre_line_breaks_a_run():
    assert _hits([0.5] * 4 + [0] + [0.5] * 4, "nelson", 2) == []


WE_CASES = {
    1: ([0, 3.2], [1], [0, 2.99]),
    2: ([0, 2.1, 2.2], [1, 2], [2.1, -2.2, 0, 2.1, 0, 0, 2.5]),
    3: ([1.1, 0, 1.2, 1.3, 1.4], [0, 2, 3, 4], [1.1, 0, 1.2, -1.3, 1.4]),
    4: ([0.1] * 8, list(range(8)), [0.1] * 7 + [-0.1] + [0.1] * 7),
}


@pytest.mark.parametrize("rule", sorted(WE_CASES))
def test_western_electric_rule(rule):
    pos, involved, neg = WE_CASES[rule]
    found = _hits(pos, "western_electric", rule)
    assert [v.indices for v in found] == [involved]
    assert found[0].rule.code == f"WE{rule}" and found[0].rule.system == "western_electric"
    assert _hits(neg, "western_electric", rule) == []


def test_overlapping_windows_are_one_violation_with_signal_point_and_labels():
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    c = _chart([0.5] * 12 + [-0.5])
    c.labels = [t0 + timedelta(hours=i) for i in range(13)]
    (v,) = check(c, "nelson", [2])
    assert v.indices == list(range(12))
    assert v.signal_index == 8  # the ninth point is where the rule first fires
    assert v.labels[0] == t0 and v.labels[-1] == t0 + timedelta(hours=11)
    d = v.as_dict()
    assert d["rule"] == "N2" and d["description_ko"] and d["labels"][0].startswith("2026-01-05")


def test_zone_rules_use_per_point_sigma():
    # the same distance from the centre line is 2.5σ where σ is 0.1 and 0.25σ where σ is 1
    c = Chart("p", np.array([0.25, 0.25, 0.25]), np.zeros(3), np.array([0.3, 3, 0.3]), np.zeros(3) - 1,
              np.array([0.1, 1, 0.1]))  # fmt: skip
    assert [v.indices for v in check(c, "nelson", [5])] == [[0, 2]]
    c.sigma = np.ones(3)
    assert check(c, "nelson", [5]) == []


def test_rule_selection_errors():
    with pytest.raises(ValueError, match="no rule"):
        check(_chart([0, 1]), "western_electric", [5])
    with pytest.raises(ValueError, match="unknown rule system"):
        check(_chart([0, 1]), "shewhart")


def test_all_rules_on_in_control_data_are_rare():
    # 1000 in-control normal points: Nelson's eight rules together give a few false signals, not many
    rng = np.random.default_rng(5)
    found = check(_chart(rng.standard_normal(1000)), "nelson")
    assert len(found) < 25


# --------------------------------------------------------------------------------------------
# capability


def test_capability_hand_worked():
    # values: mean 10, deviations -1 0 1 0 0 -1 1 0 -> SS = 4, s = sqrt(4/7) = 0.755929
    # LSL 7, USL 14, T 10.5:
    #   Pp  = 7 / (6 · 0.755929) = 7 / 4.535574 = 1.543355
    #   Ppk = min(14 - 10, 10 - 7) / (3 · 0.755929) = 3 / 2.267787 = 1.322876
    #   Cpm = 7 / (6 sqrt(4/7 + 0.25)) = 7 / (6 · 0.906327) = 7 / 5.437962 = 1.287247
    x = [9, 10, 11, 10, 10, 9, 11, 10]
    cap = process_capability(x, lsl=7, usl=14, target=10.5)
    assert cap.pp.value == pytest.approx(1.543355, abs=1e-6)
    assert cap.ppk.value == pytest.approx(1.322876, abs=1e-6)
    assert cap.cpm.value == pytest.approx(1.287247, abs=1e-6)
    # without a within-subgroup sigma, Cp = Pp and Cpk = Ppk
    assert cap.cp.value == cap.pp.value and cap.cpk.value == cap.ppk.value
    assert any("only 8 values" in w for w in cap.warnings)
    # Cpm interval: ν = n (1 + ξ²)² / (1 + 2ξ²), ξ = -0.5/0.755929 -> ξ² = 0.4375, ν = 8 · 2.066406 / 1.875 = 8.81667
    lo, hi = cp_interval(cap.cpm.value, 8.81667)
    assert (cap.cpm.low, cap.cpm.high) == pytest.approx((lo, hi), rel=1e-5)


def test_cp_chi_square_interval_from_tables():
    # Ĉp = 1.5 from n = 20 (ν = 19); chi-square table: χ²_0.025,19 = 8.907, χ²_0.975,19 = 32.852
    # 1.5 sqrt(8.907/19) = 1.02703, 1.5 sqrt(32.852/19) = 1.97243
    lo, hi = cp_interval(1.5, 19)
    assert lo == pytest.approx(1.02703, abs=2e-4)
    assert hi == pytest.approx(1.97243, abs=2e-4)
    # ν = 24: χ²_0.05,24 = 13.848, χ²_0.95,24 = 36.415 (90 % interval) for Ĉp = 1.2:
    # 1.2 sqrt(13.848/24) = 0.91151, 1.2 sqrt(36.415/24) = 1.47815
    lo, hi = cp_interval(1.2, 24, confidence=0.90)
    assert lo == pytest.approx(0.91151, abs=2e-4)
    assert hi == pytest.approx(1.47815, abs=2e-4)


def test_cpk_bissell_interval():
    # Ĉpk = 1.33, n = 20: 1.96 sqrt(1/180 + 1.33²/38) = 1.96 · 0.228266 = 0.447401 -> 0.882599 .. 1.777401
    lo, hi = cpk_interval(1.33, 20, 19)
    assert lo == pytest.approx(0.882599, abs=1e-4)
    assert hi == pytest.approx(1.777401, abs=1e-4)


def test_capability_uses_within_sigma_for_cp_and_overall_for_pp():
    # a process whose mean moves between subgroups: within σ is small, overall σ larger, so Cp > Pp
    rng = np.random.default_rng(2)
    groups = [rng.normal(10 + (0.5 if i % 2 else -0.5), 0.2, 5) for i in range(30)]
    res = xbar_r(groups)
    cap = capability_from_chart(res, lsl=8, usl=12, target=10)
    assert cap.cp.value == pytest.approx(4 / (6 * res.sigma_within))
    assert cap.pp.value == pytest.approx(4 / (6 * np.concatenate(groups).std(ddof=1)))
    assert cap.cp.value > 1.5 * cap.pp.value
    for idx in cap.indices:
        assert idx.low < idx.value < idx.high
    assert cap.sigma_within_df == pytest.approx(res.sigma_df)


def test_one_sided_spec():
    cap = process_capability([1.0, 2.0, 3.0, 2.0], usl=5.0)
    s = math.sqrt(2 / 3)
    assert cap.cp is None and cap.pp is None and cap.cpm is None
    assert cap.ppk.value == pytest.approx((5 - 2) / (3 * s))


def test_capability_intervals_cover_truth_about_95_percent():
    rng = np.random.default_rng(11)
    hits_cp = hits_cpk = 0
    reps = 400
    for _ in range(reps):
        cap = process_capability(rng.normal(0.5, 1, 50), lsl=-3, usl=3)
        hits_cp += cap.pp.low <= 1.0 <= cap.pp.high  # true Pp = 6/6 = 1
        hits_cpk += cap.ppk.low <= 2.5 / 3 <= cap.ppk.high  # true Ppk = 2.5/3
    assert 0.92 <= hits_cp / reps <= 0.98
    assert 0.91 <= hits_cpk / reps <= 0.98


# --------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: xbar_r([[1, 2, 3]]), "at least 2 subgroups"),
        (lambda: xbar_r([[1, 2], [3]]), "subgroup 1 has 1 value"),
        (lambda: xbar_r([[1, 1], [2, 2]]), "zero variation"),
        (lambda: xbar_s([[1, 1], [2, 2]]), "zero variation"),
        (lambda: xbar_r([[1, float("nan")], [2, 3]]), "finite"),
        (lambda: imr([1, 2]), "at least 3 values"),
        (lambda: imr([4, 4, 4, 4]), "zero variation"),
        (lambda: p_chart([3, 60], [50, 50]), "more defectives"),
        (lambda: p_chart([0, 0], [50, 50]), "no variation"),
        (lambda: p_chart([1, 2], [50]), "subgroup sizes"),
        (lambda: c_chart([0, 0, 0]), "no nonconformities"),
        (lambda: c_chart([1.5, 2]), "whole numbers"),
        (lambda: u_chart([1, 2], [0, 3]), "positive"),
        (lambda: process_capability([1, 2, 3]), "no spec limits"),
        (lambda: process_capability([1, 2, 3], lsl=5, usl=4), "below USL"),
        (lambda: process_capability([1], lsl=0, usl=4), "at least 2 values"),
        (lambda: process_capability([2, 2, 2], lsl=0, usl=4), "zero variance"),
        (lambda: process_capability([1, 2, 3], lsl=0, usl=4, target=9), "outside the spec"),
        (lambda: process_capability([1, 2, 3], lsl=0, usl=4, confidence=1.5), "confidence"),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises(SpcError, match=message):
        call()


# --------------------------------------------------------------------------------------------
# store and command line


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory):
    from factory_commons.collect.simulator import FactorySimulator
    from factory_commons.store import open_store

    path = tmp_path_factory.mktemp("spc") / "plant.duckdb"
    with open_store(str(path)) as st:
        FactorySimulator(seed=7, start=datetime(2026, 10, 5, tzinfo=SEOUL), days=4).write_to(st)
    return path


def test_sample_id_subgroups_from_store():
    from factory_commons.model import QualityMeasurement
    from factory_commons.store import DuckDBStore

    st = DuckDBStore()
    m = "acme/plant/area/line/m-1"
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    recs = [
        QualityMeasurement(
            ts=t0 + timedelta(minutes=10 * s + j), machine=m, characteristic="len", value=v,
            lsl=9, usl=11, sample_id=f"S{s:02d}",
        )
        for s in range(6)
        for j, v in enumerate([10 + 0.1 * (s % 3), 10.05, 9.95])
    ]  # fmt: skip
    st.write(recs)
    df = load_measurements(st, m, "len")
    sg = make_subgroups(df, size=4)
    assert sg.by == "sample_id" and [len(g) for g in sg.groups] == [3] * 6
    assert sg.labels[0] == t0 + timedelta(minutes=2)
    rep = analyze(st, m, "len", "xbar-s")
    assert rep.capability is not None and rep.capability.usl == 11
    with pytest.raises(SpcError, match="no characteristic 'width'"):
        load_measurements(st, m, "width")


def test_consecutive_subgroups_when_samples_are_single(sim_store):
    from factory_commons.store import open_store

    with open_store(str(sim_store)) as st:
        df = load_measurements(st, "acme/changwon/machining/cnc-1/cnc-01", "bore_diameter")
        sg = make_subgroups(df, size=4)
        assert sg.by == "consecutive"
        assert len(sg.groups) == len(df) // 4
        data = attribute_counts(st, "acme/changwon/machining/cnc-1/cnc-01", by="shift")
        counts = st.read("count", machines=["acme/changwon/machining/cnc-1/cnc-01"]).to_pandas()
        assert data.nonconforming.sum() == counts["scrap"].sum()
        assert data.inspected.sum() == (counts["good"] + counts["scrap"]).sum()
        assert any(label.endswith(" day") for label in data.labels)
        by_day = attribute_counts(st, "acme/changwon/machining/cnc-1/cnc-01", by="day")
        assert by_day.labels[0] == "2026-10-05" and by_day.inspected.sum() == data.inspected.sum()


def test_cli_spc_table(sim_store):
    result = runner.invoke(
        app, ["spc", "--store", str(sim_store), "--machine", "cnc-01", "--characteristic", "bore_diameter"]
    )
    assert result.exit_code == 0, result.output
    for text in ("관리한계", "Control limits", "UCL", "공정능력", "Cpk", "Ppk", "σ_within"):
        assert text in result.output


def test_cli_spc_json(sim_store):
    result = runner.invoke(
        app,
        ["spc", "--store", str(sim_store), "--machine", "acme/changwon/press/press-1/press-02",
         "--characteristic", "flange_height", "--chart", "imr", "--format", "json", "--rules", "western-electric"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["chart"] == "imr" and [c["name"] for c in out["charts"]] == ["i", "mr"]
    assert out["rules"] == "western_electric"
    assert set(out["capability"]) >= {"cp", "cpk", "pp", "ppk", "cpm"}
    i_chart = out["charts"][0]
    assert len(i_chart["points"]) == out["capability"]["n"]
    for v in out["violations"]:
        assert v["rule"].startswith("WE") and v["description_ko"] and v["labels"]


@pytest.mark.parametrize("chart", ["p", "np", "c", "u"])
def test_cli_attribute_charts_on_counts(sim_store, chart):
    result = runner.invoke(
        app, ["spc", "--store", str(sim_store), "--machine", "press-01", "--chart", chart, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["chart"] == chart and out["capability"] is None
    assert len(out["charts"][0]["points"]) >= 4  # one per production day


def test_cli_spc_errors(sim_store):
    r = runner.invoke(
        app, ["spc", "--store", str(sim_store), "--machine", "cnc-01", "--characteristic", "nope"]
    )
    assert r.exit_code == 1 and "no characteristic" in r.output
    r = runner.invoke(app, ["spc", "--store", str(sim_store), "--machine", "cnc-99", "--characteristic", "x"])
    assert r.exit_code == 1 and "no machine" in r.output
    r = runner.invoke(app, ["spc", "--store", str(sim_store), "--machine", "cnc-01", "--chart", "xbar"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["spc", "--store", str(sim_store), "--machine", "cnc-01"])
    assert r.exit_code == 1 and "--characteristic" in r.output
