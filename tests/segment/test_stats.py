"""Segmentation scores: hand-worked cases and brute-force loops over instance masks."""

import itertools
import math

import numpy as np
import pytest
import torch

from thygan.segment import stats


def random_instances(rng: np.random.Generator, size: int = 24, count: int = 4) -> np.ndarray:
    """Overlapping random rectangles; later ones cover earlier ones (ids may become non-contiguous)."""
    inst = np.zeros((size, size), np.int32)
    for k in range(1, count + 1):
        r, c = rng.integers(0, size - 4, 2)
        h, w = rng.integers(3, 9, 2)
        inst[r:r + h, c:c + w] = k * 3  # non-contiguous ids on purpose
    return inst


def masks(inst):
    return [inst == i for i in np.unique(inst) if i != 0]


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def brute_dice2(t, p):
    inter = markup = 0
    for a in masks(t):
        for b in masks(p):
            if (a & b).any():
                inter += (a & b).sum()
                markup += a.sum() + b.sum()
    return 2 * inter / markup if markup else math.nan


def brute_aji(t, p):
    inter = union = 0
    used = set()
    for a in masks(t):
        best, best_iou = None, 0.0
        for j, b in enumerate(masks(p)):
            if iou(a, b) > best_iou:
                best, best_iou = j, iou(a, b)
        if best is None:
            union += a.sum()
        else:
            b = masks(p)[best]
            inter += (a & b).sum()
            union += (a | b).sum()
            used.add(best)
    union += sum(b.sum() for j, b in enumerate(masks(p)) if j not in used)
    return inter / union if union else math.nan


def brute_aji_plus(t, p):
    """Best one-to-one assignment by enumerating every injection of the smaller side into the larger."""
    mt, mp = masks(t), masks(p)
    best_total, best_pairs = -1.0, []
    small, large, flip = (mt, mp, False) if len(mt) <= len(mp) else (mp, mt, True)
    for perm in itertools.permutations(range(len(large)), len(small)):
        pairs = [(i, j) if not flip else (j, i) for i, j in enumerate(perm)]
        total = sum(iou(mt[i], mp[j]) for i, j in pairs)
        if total > best_total + 1e-12:
            best_total, best_pairs = total, pairs
    pairs = [(i, j) for i, j in best_pairs if iou(mt[i], mp[j]) > 0]
    inter = sum((mt[i] & mp[j]).sum() for i, j in pairs)
    union = sum((mt[i] | mp[j]).sum() for i, j in pairs)
    union += sum(a.sum() for i, a in enumerate(mt) if i not in {i for i, _ in pairs})
    union += sum(b.sum() for j, b in enumerate(mp) if j not in {j for _, j in pairs})
    return inter / union if union else math.nan


def brute_pq(t, p):
    mt, mp = masks(t), masks(p)
    ious = [iou(a, b) for a in mt for b in mp if iou(a, b) > 0.5]
    tp = len(ious)
    fp, fn = len(mp) - tp, len(mt) - tp
    dq = tp / (tp + fp / 2 + fn / 2)
    sq = sum(ious) / tp if tp else 0.0
    return dq, sq, dq * sq


@pytest.mark.parametrize("seed", range(12))
def test_instance_scores_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    t = random_instances(rng, count=int(rng.integers(1, 5)))
    p = random_instances(rng, count=int(rng.integers(1, 5)))
    got = stats.instance_stats(t, p)
    dq, sq, pq = brute_pq(t, p)
    t_bin, p_bin = t > 0, p > 0
    want = {"dice": 2 * (t_bin & p_bin).sum() / (t_bin.sum() + p_bin.sum()), "dice2": brute_dice2(t, p),
            "aji": brute_aji(t, p), "aji_plus": brute_aji_plus(t, p), "dq": dq, "sq": sq, "pq": pq}
    np.testing.assert_allclose([got[k] for k in stats.INSTANCE_METRICS],
                               [want[k] for k in stats.INSTANCE_METRICS], rtol=1e-12)


def test_pq_matches_monai():
    from monai.metrics.panoptic_quality import compute_panoptic_quality

    rng = np.random.default_rng(0)
    for _ in range(8):
        t, p = random_instances(rng, count=5), random_instances(rng, count=5)
        dq, sq, pq = stats.panoptic_quality(t, p)
        for name, ours in (("rq", dq), ("sq", sq), ("pq", pq)):
            theirs = compute_panoptic_quality(torch.from_numpy(p), torch.from_numpy(t), metric_name=name)
            assert ours == pytest.approx(float(theirs), abs=1e-5)  # MONAI adds 1e-6 to denominators


def merged_pair():
    """Two true nuclei of 10 px side by side; one prediction covering both."""
    t = np.zeros((4, 10), np.int32)
    t[1:3, 0:5], t[1:3, 5:10] = 1, 2
    return t, (t > 0).astype(np.int32)


def test_two_nuclei_merged_by_hand():
    t, p = merged_pair()
    s = stats.instance_stats(t, p)
    # IoU 0.5 each. AJI reuses the prediction: C = 10 + 10, U = 20 + 20. AJI+ pairs one: C = 10, U = 20 + 10.
    assert s["aji"] == pytest.approx(0.5)
    assert s["aji_plus"] == pytest.approx(1 / 3)
    # IoU must exceed 0.5 for PQ: no pair, DQ = 0 / (0 + 1/2 + 2/2).
    assert (s["dq"], s["sq"], s["pq"]) == (0.0, 0.0, 0.0)
    assert s["dice"] == 1.0
    assert s["dice2"] == pytest.approx(2 * 20 / (30 + 30))


def test_split_nucleus_by_hand():
    t = np.zeros((4, 10), np.int32)
    t[1:3, :] = 1                        # one nucleus of 20 px
    p = np.zeros_like(t)
    p[1:3, :6], p[1:3, 6:] = 1, 2        # split 12 | 8 px: IoU 0.6 and 0.4
    s = stats.instance_stats(t, p)
    assert s["dq"] == pytest.approx(1 / (1 + 0.5))
    assert s["sq"] == pytest.approx(0.6)
    assert s["pq"] == pytest.approx(0.4)
    assert s["aji"] == pytest.approx(12 / (20 + 8))      # the 8 px piece is an unpaired prediction
    assert s["aji_plus"] == pytest.approx(12 / (20 + 8))
    assert s["dice2"] == pytest.approx(2 * 20 / (32 + 28))


def test_empty_prediction_and_empty_both():
    t, _ = merged_pair()
    s = stats.instance_stats(t, np.zeros_like(t))
    assert s["dice"] == 0 and s["aji"] == 0 and s["aji_plus"] == 0 and s["pq"] == 0 and s["dq"] == 0
    assert math.isnan(s["dice2"])  # no overlapping pair: 0/0 as in the reference
    empty = stats.instance_stats(np.zeros_like(t), np.zeros_like(t))
    assert all(math.isnan(v) for v in empty.values())


def test_remap_label_contiguous_in_order():
    inst = np.array([[0, 7, 7], [3, 0, 9]])
    np.testing.assert_array_equal(stats.remap_label(inst), [[0, 2, 2], [1, 0, 3]])
    np.testing.assert_array_equal(stats.remap_label(np.array([[5, 5]])), [[1, 1]])


def test_pair_centroids_radius_and_hungarian():
    true_xy = np.array([[0, 0], [10, 0], [100, 100]])
    pred_xy = np.array([[9, 0], [1, 0], [100, 113]])   # the last is 13 px away: beyond 12
    pairs, lone_t, lone_p = stats.pair_centroids(true_xy, pred_xy)
    assert sorted(map(tuple, pairs)) == [(0, 1), (1, 0)]
    assert list(lone_t) == [2] and list(lone_p) == [2]


def test_type_stats_by_hand():
    # Image 1: three pairs (types t/p: 1/1, 1/2, 2/2), one unpaired true of type 1, one unpaired pred of type 2.
    true_xy = np.array([[0, 0], [50, 0], [100, 0], [200, 200]])
    pred_xy = np.array([[1, 0], [51, 0], [101, 0], [400, 400]])
    images = [(true_xy, [1, 1, 2, 1], pred_xy, [1, 2, 2, 2])]
    s = stats.type_stats(images)
    assert s["f1_d"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert s["acc_type"] == pytest.approx(2 / 3)
    # type 1: pairs involving 1 -> (1,1) tp, (1,2) fn; unpaired true of 1: 1; unpaired pred of 1: 0
    assert s["f1_type_1"] == pytest.approx(2 * 1 / (2 * 1 + 2 * 1 + 0 + 1))
    # type 2: (1,2) fp, (2,2) tp; unpaired pred of 2: 1
    assert s["f1_type_2"] == pytest.approx(2 * 1 / (2 * 1 + 2 * 1 + 1 + 0))


def test_pannuke_mpq_bpq_by_hand():
    true = np.zeros((2, 8, 8, 6), np.int32)
    pred = np.zeros_like(true)
    true[0, 0:4, 0:4, 0] = 1      # image 0: one neoplastic nucleus, predicted exactly
    pred[0, 0:4, 0:4, 0] = 1
    true[0, 4:8, 4:8, 1] = 1      # and one inflammatory nucleus, missed
    true[1, 0:4, 0:4, 2] = 5      # image 1: one connective nucleus predicted as inflammatory
    pred[1, 0:4, 0:4, 1] = 2
    s = stats.pannuke_stats(true, pred, np.array(["Breast", "Colon"]))
    # image 0: class PQs [1, 0] -> 0.5; image 1: class 2 PQ 0 -> 0. mPQ = mean over tissues = 0.25.
    assert s["mPQ"] == pytest.approx(0.25)
    # binary: image 0 one TP one FN: DQ 2/3, SQ 1; image 1 one TP: 1. bPQ = (2/3 + 1) / 2.
    assert s["bPQ"] == pytest.approx((2 / 3 + 1) / 2)
    assert s["PQ_0"] == 1.0 and s["PQ_1"] == 0.0 and s["PQ_2"] == 0.0
    assert math.isnan(s["PQ_3"])  # no dead cells anywhere in the truth


def test_merge_channels_unique_ids():
    m = np.zeros((4, 4, 3), np.int32)
    m[0, 0, 0] = m[1, 1, 1] = 1   # same id in two channels: two distinct instances
    m[2, 2, 1] = 4
    out = stats.merge_channels(m)
    assert sorted(np.unique(out)) == [0, 1, 2, 3]
