"""Domain accuracy with few images: dimensions fitted to n, the interval, the verdict.

The interval is checked against a closed form (two flat priors, no images: the mean of two uniforms
has a triangular density, symmetric, so its shortest 95 % interval is the central one) and against
brute force: the shortest interval holding 95 % of Monte Carlo draws from the two Beta posteriors.
"""

import numpy as np
import pytest

from thygan.gap.domain_accuracy import (
    CLEAR_GAP,
    MIN_IMAGES,
    NOT_SEPARABLE,
    SEPARABLE,
    TOO_SMALL,
    balanced_accuracy_interval,
    classifier_dims,
    domain_accuracy,
    principal_components,
    verdict,
)


def clusters(n: int, *, shift: float, d: int = 2048, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clusters of n points in d dimensions, their centres ``shift`` apart (unit variance)."""
    rng = np.random.RandomState(seed)
    direction = rng.randn(d)
    direction /= np.linalg.norm(direction)
    return rng.randn(n, d), rng.randn(n, d) + shift * direction


def test_small_well_separated_sets_read_as_separable():
    # 20 images per set in 2048-d, centres 10 noise standard deviations apart. With 50 principal
    # components (more than the 40 images) the classifier fitted noise and read 0.25-0.5 here.
    x, y = clusters(20, shift=10.0)
    result = domain_accuracy(x, y)
    assert result.dims == 3  # 16 training images of the smaller set per fold / 5
    assert result.accuracy == 1.0 and result.verdict == SEPARABLE
    assert 0.5 < result.low < 0.95 and result.high < 1.0


@pytest.mark.parametrize("seed", [1, 2])
def test_identical_distributions_read_as_not_separable_with_an_interval_over_chance(seed):
    x, y = clusters(100, shift=0.0, seed=seed)
    result = domain_accuracy(x, y)
    assert result.low < 0.5 < result.high < CLEAR_GAP
    assert result.verdict == NOT_SEPARABLE


def test_small_sets_without_a_clear_result_are_too_small_to_tell():
    # 20 images per set: identical sets, and sets with a gap that only more images reveal (0.67 at 600
    # per set), score about chance; 20 images cannot rule out a gap, so neither reads "not separable".
    for shift in (0.0, 2.0):
        for seed in range(3):
            assert domain_accuracy(*clusters(20, shift=shift, seed=seed)).verdict == TOO_SMALL, (shift, seed)


def test_tiny_sets_are_too_small_to_tell_even_when_perfectly_told_apart():
    x, y = clusters(MIN_IMAGES - 1, shift=30.0)
    result = domain_accuracy(x, y)
    assert result.accuracy == 1.0 and result.verdict == TOO_SMALL
    one = domain_accuracy(x[:1], y)
    assert np.isnan(one.accuracy) and np.isnan(one.low) and one.verdict == TOO_SMALL


def test_dimensions_follow_the_sample_size():
    # One component per 5 training images of the smaller set, at least 1, at most --pca-dim.
    assert classifier_dims(20, 20, folds=5, features=2048, most=50, images_per_dim=5) == 3
    assert classifier_dims(20, 500, folds=5, features=2048, most=50, images_per_dim=5) == 3
    assert classifier_dims(100, 100, folds=5, features=2048, most=50, images_per_dim=5) == 16
    assert classifier_dims(750, 750, folds=5, features=2048, most=50, images_per_dim=5) == 50
    assert classifier_dims(750, 750, folds=5, features=2048, most=0, images_per_dim=5) == 120
    assert classifier_dims(4, 4, folds=4, features=2048, most=50, images_per_dim=5) == 1
    assert classifier_dims(750, 750, folds=5, features=6, most=50, images_per_dim=5) == 0  # all 6 features


def test_interval_of_two_flat_priors_is_the_triangular_closed_form():
    # No images: the recalls are uniform, their mean has density 4t on [0, 1/2], so P(mean <= t) = 2 t^2.
    low, high = balanced_accuracy_interval(0, 0, 0, 0)
    assert low == pytest.approx(np.sqrt(0.025 / 2), abs=1e-4)
    assert high == pytest.approx(1 - np.sqrt(0.025 / 2), abs=1e-4)


@pytest.mark.parametrize("counts", [(20, 20, 20, 20), (9, 20, 12, 20), (30, 40, 100, 150), (3, 12, 1, 5)])
def test_interval_matches_monte_carlo_draws_of_the_two_posteriors(counts):
    correct_x, n_x, correct_y, n_y = counts
    rng = np.random.default_rng(0)
    draws = np.sort(rng.beta(correct_x + 1, n_x - correct_x + 1, 400_000)
                    + rng.beta(correct_y + 1, n_y - correct_y + 1, 400_000)) / 2
    inside = int(np.ceil(0.95 * len(draws)))
    start = np.argmin(draws[inside - 1:] - draws[: len(draws) - inside + 1])  # the shortest window
    expected = draws[start], draws[start + inside - 1]
    np.testing.assert_allclose(balanced_accuracy_interval(*counts), expected, atol=3e-3)


def test_a_perfect_score_has_an_interval_reaching_it():
    low, high = balanced_accuracy_interval(20, 20, 20, 20)
    assert 0.85 < low < 0.92 and high > 0.998


def test_interval_narrows_with_n_and_covers_the_point_estimate():
    widths = []
    for n in (10, 40, 160, 640):
        low, high = balanced_accuracy_interval(n * 3 // 4, n, n * 3 // 4, n)
        assert low < 0.75 < high
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True) and widths[-1] < widths[0] / 6


@pytest.mark.parametrize("low, high, n, expected", [
    (0.55, 0.8, 50, SEPARABLE), (0.51, 0.7, MIN_IMAGES, SEPARABLE), (0.45, 0.58, 50, NOT_SEPARABLE),
    (0.3, 0.45, 50, NOT_SEPARABLE), (0.45, 0.65, 50, TOO_SMALL), (0.9, 1.0, MIN_IMAGES - 1, TOO_SMALL),
    (float("nan"), float("nan"), 50, TOO_SMALL),
    (0.3, 0.45, 20, TOO_SMALL),  # below chance with 20 and 40 images: a chance result's interval reaches 0.62
])
def test_verdict_reads_the_interval(low, high, n, expected):
    assert verdict(low, high, n, 2 * n) == expected


def test_not_separable_needs_sets_whose_chance_interval_stays_under_the_clear_gap():
    sizes = [n for n in range(10, 120) if verdict(0.4, 0.5, n, n) == NOT_SEPARABLE]
    assert sizes == list(range(sizes[0], 120)) and 40 <= sizes[0] <= 50
    assert balanced_accuracy_interval(sizes[0] / 2, sizes[0], sizes[0] / 2, sizes[0])[1] < CLEAR_GAP


@pytest.mark.parametrize("n, d", [(30, 80), (120, 10)])  # both Gram-matrix branches
def test_principal_components_match_sklearn_pca(n, d):
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = np.random.RandomState(24).randn(n, d) * np.linspace(0.5, 3, d)
    ours = principal_components(x, 5)
    theirs = PCA(5, svd_solver="full").fit_transform(StandardScaler().fit_transform(x))
    signs = np.sign((ours * theirs).sum(axis=0))  # each axis is defined up to its sign
    np.testing.assert_allclose(ours * signs, theirs, rtol=1e-3, atol=1e-3 * np.abs(theirs).max())


def test_accuracy_is_the_mean_of_the_two_recalls_of_a_hand_made_split():
    # 1-d features, sets of 30 and 10 overlapping at exactly one point each side: a logistic regression
    # learns the threshold between them, so each set has all but its one stray point right.
    x = np.concatenate([np.linspace(-3, -1, 29), [2.0]])[:, None]
    y = np.concatenate([np.linspace(1, 3, 9), [-2.0]])[:, None]
    result = domain_accuracy(x, y)
    assert result.dims == 0
    assert result.accuracy == pytest.approx((29 / 30 + 9 / 10) / 2)
    assert (result.low, result.high) == pytest.approx(balanced_accuracy_interval(29, 30, 9, 10))


def test_a_small_set_beside_a_large_one_is_judged_on_both_recalls():
    # 1-d, means 2 apart: the best balanced accuracy is Phi(1) = 0.84 (threshold half way). Without
    # weighting the sets, the fit moves the threshold towards the small set (prior odds 10:1) and
    # recognises under half of it (balanced accuracy about 0.7).
    rng = np.random.RandomState(0)
    accuracies = [domain_accuracy(rng.randn(300, 1), rng.randn(30, 1) + 2).accuracy for _ in range(3)]
    assert 0.78 < np.mean(accuracies) < 0.9
