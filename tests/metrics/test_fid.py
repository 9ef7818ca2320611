"""Frechet distance against the reference's scipy sqrtm formula and a hand-worked 1-D case."""

import numpy as np
import pytest
import scipy.linalg

from thygan.metrics.fid import frechet_distance


def scipy_fid(mu1, s1, mu2, s2):
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.real(np.square(mu1 - mu2).sum() + np.trace(s1 + s2 - 2 * root)))


def _random_gaussian(rng, dim, samples):
    x = rng.randn(samples, dim) @ rng.randn(dim, dim)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False, bias=True))


@pytest.mark.parametrize("dim", [1, 5, 32])
def test_matches_scipy_sqrtm(dim):
    rng = np.random.RandomState(dim)
    (mu1, s1), (mu2, s2) = _random_gaussian(rng, dim, 200), _random_gaussian(rng, dim, 300)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(scipy_fid(mu1, s1, mu2, s2), rel=1e-8)


def test_hand_worked_one_dimensional_case():
    # N(1, 1) vs N(3, 4): (1 - 3)^2 + 1 + 4 - 2 * sqrt(1 * 4) = 5
    assert frechet_distance(np.array([1.0]), np.array([[1.0]]), np.array([3.0]), np.array([[4.0]])) == \
        pytest.approx(5.0, abs=1e-12)


def test_identical_gaussians_are_at_distance_zero():
    mu, sigma = _random_gaussian(np.random.RandomState(0), 16, 100)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_dimension_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
