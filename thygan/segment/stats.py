"""Nucleus segmentation scores as the reference's ``compute_stats.py`` defines them (HoVer-Net, MedIA 2019).

Instance scores per image: Dice (Dice1), Dice2 (the CPM ensemble Dice), AJI (MoNuSeg version: each true
nucleus takes its best-IoU prediction, a prediction may be reused), AJI+ (unique Hungarian pairing), and
DQ/SQ/PQ (pairs with IoU > 0.5). Detection F1 and per-type F1 pair centroids within 12 px (Hungarian on
distance), with the reference's [2, 2, 1, 1] weights. PanNuke mPQ/bPQ follow the PanNuke-metrics protocol
(per class per image, NaN where the class is absent from the truth; nanmean over classes, mean per tissue,
mean over tissues).

Written here rather than taken from MONAI: ``PanopticQualityMetric`` gives PQ/SQ/RQ only (no AJI, Dice2,
centroid F1 or the PanNuke tissue averaging) and adds a smoothing epsilon to SQ; the PQ here agrees with it
to that epsilon (tests/segment/test_stats.py). Every pairwise quantity comes from one intersection table
built with ``np.bincount`` instead of the reference's per-instance mask loops.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

INSTANCE_METRICS = ("dice", "dice2", "aji", "aji_plus", "dq", "sq", "pq")
PQ_IOU = 0.5        # a true and a predicted nucleus match when IoU > 0.5 (unique by construction)
MATCH_RADIUS = 12.0  # px; centroid pairing radius of the detection/classification F1


def remap_label(inst: np.ndarray) -> np.ndarray:
    """Relabel an instance map to contiguous ids 1..N (0 stays background), keeping the id order."""
    ids, inverse = np.unique(inst, return_inverse=True)
    out = inverse.reshape(inst.shape).astype(np.int32)
    if ids[0] != 0:
        out += 1
    return out


@dataclass
class _Overlap:
    inter: np.ndarray   # [T, P] pixel counts of true i+1 and pred j+1
    area_t: np.ndarray  # [T]
    area_p: np.ndarray  # [P]

    @property
    def union(self) -> np.ndarray:
        return self.area_t[:, None] + self.area_p[None, :] - self.inter

    @property
    def iou(self) -> np.ndarray:
        return self.inter / np.maximum(self.union, 1)


def _overlap(true: np.ndarray, pred: np.ndarray) -> _Overlap:
    if true.shape != pred.shape:
        raise ValueError(f"instance maps differ in size: {true.shape} vs {pred.shape}")
    true, pred = remap_label(true), remap_label(pred)
    n_t, n_p = int(true.max()), int(pred.max())
    table = np.bincount((true.astype(np.int64) * (n_p + 1) + pred).ravel(), minlength=(n_t + 1) * (n_p + 1))
    table = table.reshape(n_t + 1, n_p + 1)
    return _Overlap(inter=table[1:, 1:], area_t=table[1:].sum(1), area_p=table[:, 1:].sum(0))


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def dice1(true: np.ndarray, pred: np.ndarray) -> float:
    """Binary Dice of foreground (inst > 0); NaN when both are empty."""
    t, p = true > 0, pred > 0
    return _ratio(2 * np.logical_and(t, p).sum(), t.sum() + p.sum())


def dice2(true: np.ndarray, pred: np.ndarray) -> float:
    """Ensemble Dice: 2 sum|G n P| / sum(|G| + |P|) over every overlapping true/pred pair."""
    o = _overlap(true, pred)
    touching = o.inter > 0
    markup = (o.area_t[:, None] + o.area_p[None, :])[touching].sum()
    return _ratio(2 * o.inter[touching].sum(), markup)


def _aji_from_pairs(o: _Overlap, t_idx: np.ndarray, p_idx: np.ndarray) -> float:
    inter = o.inter[t_idx, p_idx].sum()
    union = o.union[t_idx, p_idx].sum()
    union += np.delete(o.area_t, t_idx).sum() + np.delete(o.area_p, np.unique(p_idx)).sum()
    return _ratio(inter, union)


def aji(true: np.ndarray, pred: np.ndarray) -> float:
    """Aggregated Jaccard Index, MoNuSeg version: each true nucleus pairs with its max-IoU prediction."""
    o = _overlap(true, pred)
    if o.inter.size == 0:
        return _aji_from_pairs(o, np.zeros(0, int), np.zeros(0, int))
    best = o.iou.argmax(1)
    t_idx = np.nonzero(o.iou.max(1) > 0)[0]
    return _aji_from_pairs(o, t_idx, best[t_idx])


def aji_plus(true: np.ndarray, pred: np.ndarray) -> float:
    """AJI+: like AJI but pairs are a unique Hungarian matching on IoU (no prediction reused)."""
    o = _overlap(true, pred)
    t_idx, p_idx = linear_sum_assignment(-o.iou)
    keep = o.iou[t_idx, p_idx] > 0
    return _aji_from_pairs(o, t_idx[keep], p_idx[keep])


def panoptic_quality(true: np.ndarray, pred: np.ndarray, *, match_iou: float = PQ_IOU) -> tuple[float, float, float]:
    """(DQ, SQ, PQ) with pairs of IoU > match_iou; NaN when both maps are empty.

    DQ = TP / (TP + FP/2 + FN/2), SQ = mean IoU of the pairs, PQ = DQ * SQ. Below IoU 0.5 pairs are not
    unique, so (as in the reference) a Hungarian matching picks them.
    """
    o = _overlap(true, pred)
    iou = o.iou
    if match_iou >= 0.5:
        t_idx, p_idx = np.nonzero(iou > match_iou)
    else:
        t_idx, p_idx = linear_sum_assignment(-iou)
        keep = iou[t_idx, p_idx] > match_iou
        t_idx, p_idx = t_idx[keep], p_idx[keep]
    tp = len(t_idx)
    fp, fn = len(o.area_p) - tp, len(o.area_t) - tp
    if tp + fp + fn == 0:
        return float("nan"), float("nan"), float("nan")
    dq = tp / (tp + 0.5 * fp + 0.5 * fn)
    sq = float(iou[t_idx, p_idx].sum() / tp) if tp else 0.0
    return dq, sq, dq * sq


def instance_stats(true: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """All per-image instance scores (INSTANCE_METRICS) of two instance maps [H, W] int."""
    dq, sq, pq = panoptic_quality(true, pred)
    return {"dice": dice1(true, pred), "dice2": dice2(true, pred), "aji": aji(true, pred),
            "aji_plus": aji_plus(true, pred), "dq": dq, "sq": sq, "pq": pq}


def pair_centroids(true_xy: np.ndarray, pred_xy: np.ndarray, radius: float = MATCH_RADIUS
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian pairing of centroids [N, 2] on Euclidean distance, pairs farther than ``radius`` dropped.

    Returns:
        (pairs [K, 2] of (true index, pred index), unpaired true indices, unpaired pred indices).
    """
    true_xy = np.asarray(true_xy, float).reshape(-1, 2)
    pred_xy = np.asarray(pred_xy, float).reshape(-1, 2)
    dist = np.linalg.norm(true_xy[:, None] - pred_xy[None], axis=-1)
    t_idx, p_idx = linear_sum_assignment(dist)
    keep = dist[t_idx, p_idx] <= radius
    pairs = np.stack([t_idx[keep], p_idx[keep]], 1).astype(int).reshape(-1, 2)
    return (pairs, np.setdiff1d(np.arange(len(true_xy)), pairs[:, 0]),
            np.setdiff1d(np.arange(len(pred_xy)), pairs[:, 1]))


def type_stats(images: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], *,
               radius: float = MATCH_RADIUS) -> dict[str, float]:
    """Detection F1, type accuracy and per-type F1 over a set of images (reference ``--mode=type``).

    Args:
        images: Per image (true centroids [N, 2] x,y, true types [N], pred centroids [M, 2], pred types [M]).

    Returns:
        {'f1_d': ..., 'acc_type': ..., 'f1_type_<t>': ...} for every type t present in the truth.
    """
    paired_t, paired_p, unpaired_t, unpaired_p = [], [], [], []
    for true_xy, true_type, pred_xy, pred_type in images:
        true_type, pred_type = np.asarray(true_type).ravel(), np.asarray(pred_type).ravel()
        pairs, lone_t, lone_p = pair_centroids(true_xy, pred_xy, radius)
        paired_t.append(true_type[pairs[:, 0]])
        paired_p.append(pred_type[pairs[:, 1]])
        unpaired_t.append(true_type[lone_t])
        unpaired_p.append(pred_type[lone_p])
    pt, pp, ut, up = (np.concatenate(x) if x else np.zeros(0, int) for x in (paired_t, paired_p, unpaired_t,
                                                                              unpaired_p))
    tp_d, fp_d, fn_d = len(pt), len(up), len(ut)
    out = {"f1_d": _ratio(2 * tp_d, 2 * tp_d + fp_d + fn_d), "acc_type": _ratio((pt == pp).sum(), len(pt))}
    for t in np.unique(np.concatenate([pt, ut])):
        involved = (pt == t) | (pp == t)
        a, b = pt[involved], pp[involved]
        tp = ((a == t) & (b == t)).sum()
        tn = ((a != t) & (b != t)).sum()
        fp = ((a != t) & (b == t)).sum()
        fn = ((a == t) & (b != t)).sum()
        # weights [2, 2, 1, 1] on (FP, FN, unpaired pred of t, unpaired true of t) as in the reference
        den = 2 * (tp + tn) + 2 * fp + 2 * fn + (up == t).sum() + (ut == t).sum()
        out[f"f1_type_{int(t)}"] = _ratio(2 * (tp + tn), den)
    return out


def merge_channels(masks: np.ndarray) -> np.ndarray:
    """PanNuke per-class instance channels [H, W, C] -> one instance map; later channels win overlaps."""
    out = np.zeros(masks.shape[:2], np.int32)
    count = 0
    for c in range(masks.shape[2]):
        for i in np.unique(masks[..., c]):
            if i == 0:
                continue
            count += 1
            out[masks[..., c] == i] = count
    return out


def pannuke_stats(true: np.ndarray, pred: np.ndarray, tissues: np.ndarray, *, n_classes: int = 5
                  ) -> dict[str, float]:
    """PanNuke mPQ/bPQ and per-class PQ from 6-channel masks [N, H, W, 6] (channel 5, background, unused).

    Returns:
        {'mPQ', 'bPQ', 'PQ_<c>' for c in 0..n_classes-1} (class c is channel c: 0 neoplastic, ...).
    """
    if true.shape[:3] != pred.shape[:3] or len(tissues) != len(true):
        raise ValueError(f"PanNuke arrays disagree: true {true.shape}, pred {pred.shape}, {len(tissues)} tissues")
    per_class = np.full((len(true), n_classes), np.nan)
    binary = np.full(len(true), np.nan)
    for k in range(len(true)):
        for c in range(n_classes):
            if true[k, ..., c].max() > 0:  # absent from the truth: NaN, not 0 (PanNuke-metrics)
                per_class[k, c] = panoptic_quality(true[k, ..., c], pred[k, ..., c])[2]
        t_bin, p_bin = merge_channels(true[k, ..., :n_classes]), merge_channels(pred[k, ..., :n_classes])
        if t_bin.max() > 0:
            binary[k] = panoptic_quality(t_bin, p_bin)[2]
    with warnings.catch_warnings():  # nanmean of all-NaN slices (a class absent everywhere) is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        image_mpq = np.nanmean(per_class, 1)
        tissues = np.asarray(tissues)
        names = np.unique(tissues)
        out = {"mPQ": float(np.nanmean([np.nanmean(image_mpq[tissues == t]) for t in names])),
               "bPQ": float(np.nanmean([np.nanmean(binary[tissues == t]) for t in names]))}
        out.update({f"PQ_{c}": float(np.nanmean(per_class[:, c])) for c in range(n_classes)})
    return out

