"""Fold summaries: the t-interval and the paired test against a hand computation (df 2 has a closed form)
and against scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from thygan.metrics.paired_folds import mean_interval, paired_test, score_interval


def t2_cdf(x: float) -> float:
    """Student t with 2 degrees of freedom: F(x) = 1/2 + x / (2 sqrt(2 + x^2))."""
    return 0.5 + x / (2 * math.sqrt(2 + x * x))


def test_paired_test_by_hand_three_folds():
    recipe = {0: 0.80, 1: 0.70, 2: 0.90}
    none = {0: 0.70, 1: 0.70, 2: 0.75}
    result = paired_test(recipe, none)
    diffs = [0.10, 0.00, 0.15]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    q = math.sqrt(2 * 0.95 ** 2 / (1 - 0.95 ** 2))  # t(0.975, 2) from F(q) = 0.975
    t_stat = mean / (sd / math.sqrt(3))
    assert result.n == 3
    assert result.mean_diff == pytest.approx(0.0833333, abs=1e-6)
    assert result.low == pytest.approx(mean - q * sd / math.sqrt(3), rel=1e-9)
    assert result.high == pytest.approx(mean + q * sd / math.sqrt(3), rel=1e-9)
    assert q == pytest.approx(4.302653, abs=1e-5)
    assert result.p == pytest.approx(2 * (1 - t2_cdf(t_stat)), rel=1e-9)
    assert result.p == pytest.approx(0.19936, abs=1e-4)
    assert result.text(scale=100) == "+8.33 [-10.64, 27.31], p 0.199, n 3"


def test_paired_test_matches_scipy_and_skips_unpaired_folds():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.6, 0.1, 7), rng.normal(0.55, 0.1, 7)
    values = dict(enumerate(a)) | {7: 0.9}             # fold 7 has no baseline
    baseline = dict(enumerate(b)) | {8: 0.1}           # fold 8 has no recipe value
    values[3] = float("nan")                           # a fold without a score is left out
    keep = [k for k in range(7) if k != 3]
    result = paired_test(values, baseline)
    expected = stats.ttest_rel(a[keep], b[keep])
    interval = expected.confidence_interval(0.95)
    assert result.n == 6
    assert result.p == pytest.approx(expected.pvalue, rel=1e-10)
    assert result.mean_diff == pytest.approx(float(np.mean(a[keep] - b[keep])), rel=1e-12)
    assert (result.low, result.high) == pytest.approx((interval.low, interval.high), rel=1e-10)


def test_too_few_folds_and_equal_differences():
    one = paired_test({0: 0.5, 1: 0.6}, {0: 0.4})
    assert (one.n, one.mean_diff, one.p) == (1, None, None)
    assert one.text() == "n/a (n 1)"
    assert one.columns("pq") == {"pq_diff": None, "pq_diff_low": None, "pq_diff_high": None, "pq_p": None,
                                 "pq_n": 1}
    same = paired_test({0: 0.5, 1: 0.6}, {0: 0.4, 1: 0.5})  # every difference 0.1: no spread, no p
    assert same.mean_diff == pytest.approx(0.1) and same.p is None
    assert same.low == pytest.approx(0.1) and same.high == pytest.approx(0.1)


def test_mean_interval_matches_scipy():
    values = [0.61, 0.72, 0.58, 0.66]
    mean, sd, low, high = mean_interval(values)
    expected = stats.t.interval(0.95, 3, loc=np.mean(values), scale=stats.sem(values))
    assert (low, high) == pytest.approx(expected, rel=1e-12)
    assert sd == pytest.approx(np.std(values, ddof=1))
    assert mean_interval([0.5]) == (0.5, 0.0, None, None)


def test_score_interval_clips_to_the_unit_range_only():
    values = [0.99, 0.90, 1.0]                                 # t-interval runs past 1
    mean, sd, low, high = mean_interval(values)
    assert high > 1
    assert score_interval(values) == (mean, sd, low, 1.0)
    assert score_interval([0.02, 0.2])[2] == 0.0               # and below 0
    assert score_interval([0.6, 0.62, 0.61]) == mean_interval([0.6, 0.62, 0.61])  # inside: unchanged
    assert score_interval([0.5]) == (0.5, 0.0, None, None)
