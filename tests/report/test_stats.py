"""harness/report/stats.py against hand computations and textbook values."""

import math

import pytest
from scipy import stats as sps

from harness.report import stats


def test_the_interval_is_students_t_of_the_mean():
    xs = [70.88, 69.67, 77.74]
    mean = sum(xs) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / 2)
    half = sps.t.ppf(0.975, 2) * std / math.sqrt(3)  # 4.303 x the standard error
    iv = stats.interval(xs)
    assert (iv.n, iv.mean, iv.std) == (3, pytest.approx(mean), pytest.approx(std))
    assert (iv.lo, iv.hi) == (pytest.approx(mean - half), pytest.approx(mean + half))


@pytest.mark.parametrize(("xs", "n"), [([], 0), ([5.0], 1), ([5.0, float("nan"), None], 1)])
def test_too_few_seeds_give_no_interval(xs, n):
    iv = stats.interval(xs)
    assert iv.n == n and math.isnan(iv.lo) and math.isnan(iv.hi) and (n == 0) == math.isnan(iv.mean)


def test_welch_difference_matches_the_hand_formula():
    a, b = [30.0, 31.0, 35.0], [40.0, 48.0, 44.0, 46.0]
    d = stats.difference(a, b)
    va, vb = sps.tvar(a) / 3, sps.tvar(b) / 4
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)  # Welch–Satterthwaite
    delta = sum(a) / 3 - sum(b) / 4
    assert d.delta == pytest.approx(delta) and (d.n_a, d.n_b) == (3, 4)
    assert d.p == pytest.approx(2 * sps.t.sf(abs(delta) / se, df))
    half = sps.t.ppf(0.975, df) * se
    assert (d.lo, d.hi) == (pytest.approx(delta - half), pytest.approx(delta + half))


def test_holm_adjusts_step_down_and_keeps_the_order():
    # m = 4: sorted p 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06 (monotone), 0.06
    assert stats.holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    adjusted = stats.holm([0.5, float("nan"), 0.9])
    assert adjusted[0] == pytest.approx(1.0) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(1.0)


def test_power_and_seeds_needed_match_the_textbook():
    # Cohen's d = 1, two-sided alpha 0.05, power 0.8: 17 per group (G*Power, two-sample t-test).
    assert stats.seeds_needed(1.0, 1.0) == 17
    assert stats.seeds_needed(0.5, 1.0) == 64  # d = 0.5: 64 per group
    detectable = stats.detectable(2.0, 17)
    assert detectable == pytest.approx(2.0, rel=0.05) and stats.power(detectable, 2.0, 17) == pytest.approx(0.8)
    assert stats.seeds_needed(1e-6, 1.0) is None  # beyond MAX_SEEDS: said as such, not a number


def test_standings_tie_what_noise_cannot_separate_and_rank_the_rest_after():
    groups = [[30.0, 31.0, 32.0], [30.5, 33.0, 31.5], [50.0, 51.0, 52.0], [10.0]]
    best, tied, worse, single = stats.standings(groups, lower_is_better=True)
    assert best.best and best.rank == 1 and tied.tied and tied.rank == 1 and not tied.best
    assert not worse.tied and worse.rank == 3 and worse.p_holm < stats.ALPHA
    assert single.rank is None and not single.tested  # the lowest mean, but one seed: never the best
    # Higher is better (IS): the order turns round.
    assert stats.standings(groups[:3], lower_is_better=False)[2].best


def test_an_ineligible_configuration_is_compared_but_never_the_best():
    groups = [[10.0, 11.0, 12.0], [30.0, 31.0, 32.0]]
    flagged, clean = stats.standings(groups, True, eligible=[False, True])
    assert clean.best and clean.rank == 1
    assert flagged.vs_best.delta == pytest.approx(-20.0) and not flagged.best
