"""Precision/recall against brute-force nearest-neighbour counting, and a hand-worked 1-D case."""

import numpy as np
import pytest

from thygan.metrics.precision_recall import precision_recall


def brute_fraction_inside(probes, manifold, k):
    radii = []
    for i, point in enumerate(manifold):
        distances = sorted(np.linalg.norm(point - other) for j, other in enumerate(manifold) if j != i)
        radii.append(distances[k - 1])
    inside = 0
    for probe in probes:
        inside += any(np.linalg.norm(probe - point) <= radius
                      for point, radius in zip(manifold, radii, strict=True))
    return inside / len(probes)


def test_hand_worked_line():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    # k = 1: real balls have radius 1 (0.5 inside, 10 not); the two fake balls have radius 9.5 (covers 0..3)
    assert precision_recall(real, fake, nhood_size=1) == (0.5, 1.0)


@pytest.mark.parametrize("nhood_size, block_size", [(1, 10000), (3, 7)])
def test_matches_brute_force_counts(nhood_size, block_size):
    rng = np.random.RandomState(nhood_size)
    real = rng.randn(40, 5)
    fake = rng.randn(30, 5) * 1.3 + 0.4
    precision, recall = precision_recall(real, fake, nhood_size=nhood_size, block_size=block_size)
    assert precision == pytest.approx(brute_fraction_inside(fake, real, nhood_size))
    assert recall == pytest.approx(brute_fraction_inside(real, fake, nhood_size))
    assert 0 < precision < 1 and 0 < recall < 1  # the data exercise both outcomes


def test_too_few_points_for_the_neighbourhood_are_refused():
    with pytest.raises(ValueError, match="nearest neighbours"):
        precision_recall(np.zeros([3, 2]), np.ones([10, 2]), nhood_size=3)
