"""The gap measures on inputs with known answers, and against independent naive computations."""

import numpy as np
import pytest
import scipy.linalg

from tests.metrics.test_kid import naive_mmd2  # the pair-by-pair MMD^2, one copy
from thygan.gap.domain_accuracy import TOO_SMALL
from thygan.gap.measures import (
    DOMAIN_DETAILS,
    GAP_MEASURES,
    GapOptions,
    frechet_distance,
    gap_measures,
    kid,
    knn_overlap,
)


def gaussian(n: int, d: int, *, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randn(n, d) + shift


def frechet_by_sqrtm(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula with scipy's general matrix square root of S1 S2 (what StyleGAN2-ADA does)."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False, bias=True), np.cov(y, rowvar=False, bias=True)
    root = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.square(mu1 - mu2).sum() + np.trace(s1 + s2 - 2 * root.real))


@pytest.mark.parametrize("n_x, n_y, d", [(40, 30, 64), (300, 250, 8)])  # fewer points than dims, and more
def test_frechet_matches_sqrtm_formula(n_x, n_y, d):
    x, y = gaussian(n_x, d, seed=1), gaussian(n_y, d, shift=0.3, seed=2) * 1.5
    assert frechet_distance(x, y) == pytest.approx(frechet_by_sqrtm(x, y), rel=1e-6, abs=1e-8)


def test_frechet_of_identical_sets_is_zero():
    x = gaussian(50, 20)
    assert abs(frechet_distance(x, x.copy())) < 1e-9


def test_frechet_of_a_translated_copy_is_the_squared_shift():
    x = gaussian(60, 10)
    shift = np.arange(10) / 10
    assert frechet_distance(x, x + shift) == pytest.approx(np.square(shift).sum(), rel=1e-9)


def test_frechet_of_shifted_gaussians_approaches_the_closed_form():
    # N(0, I) vs N(delta, I) in 4-D: FD = |delta|^2 = 4 * 0.5^2 = 1, up to sampling error.
    x, y = gaussian(20000, 4, seed=3), gaussian(20000, 4, shift=0.5, seed=4)
    assert frechet_distance(x, y) == pytest.approx(1.0, abs=0.05)


def test_kid_of_equal_size_sets_is_the_exact_unbiased_mmd():
    x, y = gaussian(15, 6, seed=5), gaussian(15, 6, shift=0.4, seed=6)
    assert kid(x, y) == pytest.approx(naive_mmd2(x, y), rel=1e-9)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted():
    same = kid(gaussian(400, 16, seed=7), gaussian(400, 16, seed=8))
    shifted = kid(gaussian(400, 16, seed=7), gaussian(400, 16, shift=0.5, seed=8))
    assert abs(same) < 0.01 and shifted > 0.2


def test_kid_with_subsets_is_deterministic_for_a_seed():
    x, y = gaussian(120, 8, seed=9), gaussian(90, 8, shift=0.2, seed=10)
    opts = GapOptions(kid_subsets=5, kid_subset_size=50, seed=3)
    assert kid(x, y, opts=opts) == kid(x, y, opts=opts)
    assert kid(x, y, opts=opts) != kid(x, y, opts=GapOptions(kid_subsets=5, kid_subset_size=50, seed=4))


def test_domain_accuracy_separates_separable_sets():
    x, y = gaussian(60, 20, seed=11), gaussian(60, 20, shift=5.0, seed=12)
    measures = gap_measures(x, y)
    assert measures["domain_acc"] == 1.0 and measures["domain_verdict"] == "separable"
    assert 0.5 < measures["domain_acc_low"] < measures["domain_acc_high"] <= 1.0


@pytest.mark.parametrize("n_y", [150, 40])  # balanced accuracy keeps chance at 0.5 for unequal sizes
def test_domain_accuracy_is_at_chance_on_one_distribution(n_y):
    x, y = gaussian(150, 10, seed=13), gaussian(n_y, 10, seed=14)
    measures = gap_measures(x, y)
    assert abs(measures["domain_acc"] - 0.5) < 0.12
    assert measures["domain_acc_low"] < 0.5 < measures["domain_acc_high"]


def test_domain_accuracy_options_reach_the_classifier():
    x, y = gaussian(30, 200, seed=15), gaussian(30, 200, shift=1.0, seed=16)
    assert gap_measures(x, y)["domain_dims"] == 4  # 24 training images / 5 per component
    assert gap_measures(x, y, opts=GapOptions(pca_dim=2))["domain_dims"] == 2
    every_image = gap_measures(x, y, opts=GapOptions(images_per_dim=1))
    assert every_image["domain_dims"] == 24 and every_image["domain_acc"] > 0.9


def naive_knn_overlap(x: np.ndarray, y: np.ndarray, k: int) -> float:
    points = np.concatenate([x, y])
    in_y = np.arange(len(points)) >= len(x)
    shares = []
    for i in range(len(points)):
        distances = np.linalg.norm(points - points[i], axis=1)
        distances[i] = np.inf
        nearest = np.argsort(distances, kind="stable")[:k]
        shares.append(np.mean(in_y[nearest] != in_y[i]))
    shares = np.array(shares)
    return (shares[~in_y].mean() + shares[in_y].mean()) / 2


def test_knn_overlap_matches_a_naive_loop():
    x, y = gaussian(35, 5, seed=17), gaussian(25, 5, shift=0.7, seed=18)
    assert knn_overlap(x, y, opts=GapOptions(neighbours=4)) == pytest.approx(naive_knn_overlap(x, y, 4))


def test_knn_overlap_known_answers():
    far = knn_overlap(gaussian(50, 3, seed=19), gaussian(50, 3, shift=100.0, seed=20))
    # Alternating points on a line: each point's two nearest neighbours are both from the other set.
    line = np.arange(40, dtype=float)[:, None]
    alternating = knn_overlap(line[0::2], line[1::2], opts=GapOptions(neighbours=2))
    mixed = knn_overlap(gaussian(500, 3, seed=21), gaussian(500, 3, seed=22))
    assert far == 0.0
    assert alternating == pytest.approx(1 - 0.5 / 20)  # the two end points have one same-set neighbour
    assert abs(mixed - 1000 / (2 * 999)) < 0.04


def test_gap_measures_identical_sets():
    x = gaussian(80, 12, seed=23)
    measures = gap_measures(x, x.copy())
    # Unbiased MMD^2 of a sample with itself: 2 (S - D) / (m (m - 1)) - 2 S / m^2 for the kernel sum S and
    # its diagonal D; slightly negative, since the within-set means leave out k(x_i, x_i).
    kernel = (x @ x.T / 12 + 1) ** 3
    total, diagonal, m = kernel.sum(), np.trace(kernel), len(x)
    assert set(measures) == set(GAP_MEASURES + DOMAIN_DETAILS)
    assert abs(measures["frechet"]) < 1e-9
    expected_kid = 2 * (total - diagonal) / (m * (m - 1)) - 2 * total / m**2
    assert measures["kid"] == pytest.approx(expected_kid, rel=1e-9)
    # Every point has a twin with the other label: no classifier can beat chance (held-out points even
    # tend to be called for their twin's set), and each point's nearest neighbour is in the other set.
    assert measures["domain_acc"] <= 0.55 and measures["knn_overlap"] >= 0.5


def test_gap_measures_of_a_one_point_set_are_nan():
    measures = gap_measures(gaussian(1, 4), gaussian(10, 4))
    assert all(np.isnan(measures[name]) for name in GAP_MEASURES + ("domain_acc_low", "domain_acc_high"))
    assert measures["domain_verdict"] == TOO_SMALL
