"""KID against a direct MMD^2 with the cubic polynomial kernel, computed pair by pair."""

import numpy as np
import pytest

from thygan.metrics.kid import kernel_inception_distance, mmd2_unbiased


def naive_mmd2(x, y):
    m, dim = len(x), x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / dim + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_mmd2_matches_the_pairwise_sum():
    rng = np.random.RandomState(0)
    x, y = rng.randn(7, 4), rng.randn(7, 4) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(naive_mmd2(x, y), rel=1e-10)


def test_subsets_of_all_points_give_the_full_mmd2():
    rng = np.random.RandomState(1)
    real, fake = rng.randn(9, 3), rng.randn(9, 3) * 2
    # m = 9 = every point: each subset is a permutation, and MMD^2 does not depend on order
    assert kernel_inception_distance(real, fake, num_subsets=3, max_subset_size=50) == \
        pytest.approx(naive_mmd2(fake, real), rel=1e-10)


def test_random_subsets_follow_the_reference_draw():
    rng = np.random.RandomState(2)
    real, fake = rng.randn(20, 3), rng.randn(15, 3) + 1
    draw = np.random.RandomState(5)
    expected = []
    for _ in range(4):  # the reference draws fake indices, then real indices, m = min(N, M, max_subset_size)
        x = fake[draw.choice(15, 6, replace=False)]
        y = real[draw.choice(20, 6, replace=False)]
        expected.append(naive_mmd2(x, y))
    got = kernel_inception_distance(real, fake, num_subsets=4, max_subset_size=6, seed=5)
    assert got == pytest.approx(np.mean(expected), rel=1e-10)


def test_too_few_points_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(np.zeros([1, 3]), np.zeros([5, 3]))
