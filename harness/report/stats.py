"""How sure a number is: intervals of a mean over seeds, Welch's test of two configurations, Holm's correction over
a group, ranks with ties, and the power of a comparison (the smallest difference the seeds can detect, and the seeds a
difference needs). Pure functions over lists of per-seed scores; scipy.stats does the statistics.

Why these methods: a benchmark has 2 to 10 seeds per configuration. At n = 3 a bootstrap has only ten distinct
resamples and a permutation test cannot reach p < 0.05 (its smallest p is 0.1), so the interval is Student t's and the
test is Welch's t, which does not assume the two configurations spread alike (one recipe can be far noisier)."""

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from scipy import optimize
from scipy import stats as sps

LEVEL = 0.95  # confidence level of every interval
ALPHA = 0.05  # significance level of every test (after Holm's correction)
POWER = 0.80  # the power at which a difference counts as detectable
MAX_SEEDS = 10_000  # the largest seed count `seeds_needed` names; beyond it the answer is "more than this"
INTERVAL = "95% CI of the mean over seeds (Student t)"
TEST = "Welch's t-test across seeds, two-sided, Holm-corrected within the group, α = 0.05"


@dataclass(frozen=True)
class Interval:
    """Mean over n seeds, their standard deviation and the 95% t interval of the mean (NaN where n is too small)."""

    n: int
    mean: float
    std: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b), its 95% Welch interval and the two-sided p of Welch's t (NaN when either n < 2)."""

    delta: float
    lo: float
    hi: float
    p: float
    n_a: int
    n_b: int


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def interval(values: Sequence[float]) -> Interval:
    xs = _finite(values)
    n = len(xs)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    mean = sum(xs) / n
    if n == 1:
        return Interval(1, mean, math.nan, math.nan, math.nan)
    std = statistics.stdev(xs)
    if std == 0:  # identical scores: the interval is the point (t's scale would be 0/0)
        return Interval(n, mean, 0.0, mean, mean)
    lo, hi = sps.t.interval(LEVEL, n - 1, loc=mean, scale=std / math.sqrt(n))
    return Interval(n, mean, std, float(lo), float(hi))


def difference(a: Sequence[float], b: Sequence[float]) -> Difference:
    xa, xb = _finite(a), _finite(b)
    if not xa or not xb:
        return Difference(math.nan, math.nan, math.nan, math.nan, len(xa), len(xb))
    delta = sum(xa) / len(xa) - sum(xb) / len(xb)
    if len(xa) < 2 or len(xb) < 2:
        return Difference(delta, math.nan, math.nan, math.nan, len(xa), len(xb))
    if (
        statistics.pvariance(xa) == 0 and statistics.pvariance(xb) == 0
    ):  # no spread at all: any gap is certain, none is no difference
        return Difference(delta, delta, delta, 1.0 if delta == 0 else 0.0, len(xa), len(xb))
    test = sps.ttest_ind(xa, xb, equal_var=False)
    ci = test.confidence_interval(LEVEL)
    return Difference(delta, float(ci.low), float(ci.high), float(test.pvalue), len(xa), len(xb))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN entries pass through, uncounted): reject where adjusted p < α. The
    family-wise error stays ≤ α over the group's comparisons, without Bonferroni's loss of power."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m, running, out = len(order), 0.0, [math.nan] * len(pvalues)
    for k, (p, i) in enumerate(order):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out


@dataclass(frozen=True)
class Standing:
    """One configuration against the group's best: the difference, Holm-adjusted p and its rank with ties."""

    vs_best: Difference
    p_holm: float
    rank: int | None  # 1 for the best and every configuration tied with it; None when not tested
    tied: bool  # tied for best: not significantly worse than the best (the best itself included)
    tested: bool  # n >= 2 (and the best has n >= 2): a test was possible
    best: bool  # the configuration the others were tested against


def standings(
    groups: Sequence[Sequence[float]], lower_is_better: bool, eligible: Sequence[bool] | None = None
) -> list[Standing | None]:
    """Each configuration (its per-seed scores) against the best of the group: the eligible configuration with at
    least two seeds and the best mean. Tested ones not significantly worse than it are tied for best (rank 1); the
    others rank by mean after them, competition style (1, 1, 3, 4). None for all when no configuration can be best."""
    eligible = list(eligible) if eligible is not None else [True] * len(groups)
    means = [interval(g) for g in groups]
    sign = 1 if lower_is_better else -1
    candidates = [i for i, m in enumerate(means) if m.n >= 2 and eligible[i]]
    if not candidates:
        return [None] * len(groups)
    best = min(candidates, key=lambda i: sign * means[i].mean)
    diffs = [difference(g, groups[best]) for g in groups]
    others = [i for i in range(len(groups)) if i != best and means[i].n >= 2]
    adjusted = dict(zip(others, holm([diffs[i].p for i in others]), strict=True))
    tied = {best} | {i for i in others if not adjusted[i] < ALPHA}
    order = sorted(
        (i for i in range(len(groups)) if means[i].n >= 2), key=lambda i: (i not in tied, sign * means[i].mean)
    )
    ranks = {i: 1 if i in tied else order.index(i) + 1 for i in order}
    return [
        Standing(diffs[i], adjusted.get(i, math.nan), ranks.get(i), i in tied, means[i].n >= 2, i == best)
        for i in range(len(groups))
    ]


def pooled_std(groups: Sequence[Sequence[float]]) -> float:
    """The seed-to-seed standard deviation pooled over the configurations with n >= 2 (weighted by their d.o.f.)."""
    parts = [(len(xs) - 1, statistics.variance(xs)) for xs in map(_finite, groups) if len(xs) >= 2]
    dof = sum(d for d, _ in parts)
    return math.sqrt(sum(d * v for d, v in parts) / dof) if dof else math.nan


def power(delta: float, std: float, n: int) -> float:
    """The chance that a two-sided t-test at α of two configurations of n seeds each, spread `std`, finds a true
    difference `delta` (the noncentral t; Welch's test with equal n and spread has these degrees of freedom)."""
    if n < 2 or not std > 0:
        return math.nan
    df, shift = 2 * n - 2, abs(delta) / (std * math.sqrt(2 / n))
    crit = sps.t.ppf(1 - ALPHA / 2, df)
    exact = float(sps.nct.sf(crit, df, shift) + sps.nct.cdf(-crit, df, shift))
    # Far out (a large shift) scipy's noncentral t returns NaN; the normal approximation is exact enough there.
    return exact if math.isfinite(exact) else float(sps.norm.sf(crit - shift) + sps.norm.cdf(-crit - shift))


def detectable(std: float, n: int) -> float:
    """The smallest difference two configurations of n seeds each, spread `std`, detect with probability POWER."""
    if n < 2 or not std > 0:
        return math.nan
    return float(optimize.brentq(lambda d: power(d, std, n) - POWER, 0.0, 1e3 * std))


def seeds_needed(delta: float, std: float) -> int | None:
    """The fewest seeds per configuration that detect `delta` with probability POWER (None: more than MAX_SEEDS)."""
    if not std > 0 or not abs(delta) > 0:
        return None
    return _first(lambda n: power(delta, std, n) >= POWER, 2, MAX_SEEDS)


def _first(ok: Callable[[int], bool], lo: int, hi: int) -> int | None:
    """The smallest n in [lo, hi] with ok(n), for ok monotone in n (a binary search: power grows with n)."""
    if not ok(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return lo
