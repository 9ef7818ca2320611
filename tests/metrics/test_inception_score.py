"""Streaming IS against the direct formula on held probabilities, and hand-worked cases."""

import numpy as np
import pytest

from thygan.metrics.inception_score import SplitScores


def direct_is(probs, num_splits):
    scores = []
    n = len(probs)
    for r in range(num_splits):
        part = probs[r * n // num_splits:(r + 1) * n // num_splits]
        marginal = part.mean(axis=0, keepdims=True)
        kl = part * (np.log(part) - np.log(marginal))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _feed(acc, probs, sizes):
    start = 0
    for size in sizes:
        acc.update(probs[start:start + size])
        start += size
    return acc


def test_matches_the_direct_formula():
    probs = np.random.RandomState(0).dirichlet(np.full(7, 0.3), size=53)  # 53: parts of unequal size
    acc = _feed(SplitScores(53, 10), probs, [5, 1, 30, 17])
    mean, std = acc.result()
    expected_mean, expected_std = direct_is(probs, 10)
    assert mean == pytest.approx(expected_mean, rel=1e-10)
    assert std == pytest.approx(expected_std, rel=1e-8)


def test_hand_worked_extremes():
    uniform = SplitScores(20, 2)
    uniform.update(np.full([20, 4], 0.25))
    assert uniform.result() == pytest.approx((1.0, 0.0))  # no information: IS 1
    confident = SplitScores(8, 2)
    confident.update(np.tile(np.eye(4), (2, 1)))  # each part: 4 images, 4 distinct sure classes
    assert confident.result() == pytest.approx((4.0, 0.0))  # IS = number of classes


def test_state_round_trip_and_count_checks():
    probs = np.random.RandomState(1).dirichlet(np.ones(3), size=12)
    first = _feed(SplitScores(12, 3), probs, [5])
    resumed = SplitScores.from_state(first.state())
    resumed.update(probs[5:])
    assert resumed.result() == pytest.approx(direct_is(probs, 3), rel=1e-10)
    with pytest.raises(ValueError, match="more than"):
        resumed.update(probs[:1])
    with pytest.raises(ValueError, match="announced"):
        _feed(SplitScores(12, 3), probs, [4]).result()
