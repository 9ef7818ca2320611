"""Streaming mean/covariance against numpy, and the capped feature bank."""

import numpy as np
import pytest

from thygan.metrics.statistics import FeatureBank, MeanCov


def _feed(acc, x, sizes):
    start = 0
    for size in sizes:
        acc.update(x[start:start + size])
        start += size
    assert start == len(x)
    return acc


@pytest.mark.parametrize("offset", [0.0, 1e6])  # a large mean would break E[xx^T] - mu mu^T
def test_mean_and_covariance_match_numpy(offset):
    rng = np.random.RandomState(0)
    x = rng.randn(103, 6) @ rng.randn(6, 6) + offset
    acc = _feed(MeanCov(), x.astype(np.float64), [1, 10, 40, 2, 50])
    np.testing.assert_allclose(acc.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(acc.cov(), np.cov(x, rowvar=False, bias=True), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(acc.cov(ddof=1), np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)
    assert acc.count == 103


def test_state_round_trip_continues_exactly():
    x = np.random.RandomState(1).randn(40, 5)
    straight = _feed(MeanCov(), x, [20, 20])
    resumed = MeanCov.from_state(_feed(MeanCov(), x[:20], [20]).state())
    resumed.update(x[20:])
    np.testing.assert_array_equal(resumed.mean, straight.mean)
    np.testing.assert_array_equal(resumed.m2, straight.m2)


def test_covariance_of_one_vector_is_refused_with_ddof_1():
    acc = MeanCov()
    acc.update(np.ones([1, 3]))
    with pytest.raises(ValueError, match="undefined"):
        acc.cov(ddof=1)


def test_feature_bank_keeps_the_first_rows_in_order():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    bank = _feed(FeatureBank(7), x, [3, 3, 4])
    assert bank.full and bank.count == 7
    np.testing.assert_array_equal(bank.features(), x[:7])
    again = FeatureBank.from_state(bank.state())
    np.testing.assert_array_equal(again.features(), x[:7])
