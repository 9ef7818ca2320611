"""A trained HoVer-Net scored on labelled images: PQ, AJI and Dice per image, and mPQ/bPQ when it types nuclei.

Instance scores are thygan.segment.stats' per-image definitions (the reference's compute_stats), averaged over
images ignoring NaN (an image without nuclei on either side has no PQ). Typed scores follow the PanNuke
protocol of ``stats.pannuke_stats``: each image's nuclei are split into one instance map per type (type of a
nucleus = majority of its pixels, for the truth as for the prediction), per-class PQ per image, the image's
mPQ the mean over the classes present in its truth, bPQ the PQ of all typed nuclei; then the mean per tissue
(PanNuke's tissue names, else one group) and the mean over tissues.
"""

import warnings

import numpy as np
import torch

from thygan.progress import progress
from thygan.segment.data import Sample
from thygan.segment.networks import HoVerNet
from thygan.segment.postproc import instance_types
from thygan.segment.predict import segment_image
from thygan.segment.stats import instance_stats, pannuke_stats

METRICS = ("pq", "aji", "dice")
TYPED_METRICS = ("mPQ", "bPQ")


def class_channels(inst: np.ndarray, types: np.ndarray, n_classes: int) -> np.ndarray:
    """[H, W] instances + [H, W] type argmax -> PanNuke-style [H, W, n_classes + 1] (channel c: type c + 1)."""
    out = np.zeros(inst.shape + (n_classes + 1,), np.int32)
    for i, (t, _) in instance_types(inst, types).items():
        if 1 <= t <= n_classes:
            out[..., t - 1][inst == i] = i
    return out


def _nanmean(values) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(np.asarray(values, np.float64))) if len(values) else float("nan")


def score_model(net: HoVerNet, samples: list[Sample], *, input_size: int, output_size: int,
                device: torch.device | str = "cpu", desc: str = "scoring") -> tuple[dict[str, float], list[dict]]:
    """(mean scores, per-image rows) of ``net`` on ``samples``; mPQ/bPQ when the network has a type branch
    and the samples carry type maps.

    Returns:
        ({'pq', 'aji', 'dice'[, 'mPQ', 'bPQ'], 'images'}, [{'name', 'pq', ...}, ...]).
    """
    n_classes = net.nr_types - 1 if net.nr_types else 0
    typed = n_classes > 0 and all(s.types is not None for s in samples)
    rows = []
    for sample in progress(samples, desc=desc, unit="image", leave=False):
        inst, _, maps = segment_image(net, sample.image, input_size=input_size, output_size=output_size,
                                      device=device)
        row = {"name": sample.name} | {k: instance_stats(sample.inst, inst)[k] for k in METRICS}
        if typed:
            true = class_channels(sample.inst, sample.types, n_classes)[None]
            pred = class_channels(inst, maps.tp, n_classes)[None]
            scores = pannuke_stats(true, pred, np.array(["all"]), n_classes=n_classes)
            row |= {"mPQ": scores["mPQ"], "bPQ": scores["bPQ"], "tissue": sample.tissue or "all"}
        rows.append(row)
    means = {k: _nanmean([r[k] for r in rows]) for k in METRICS}
    if typed:
        tissues = sorted({r["tissue"] for r in rows})
        for key in TYPED_METRICS:  # mean per tissue, then over tissues (PanNuke-metrics)
            means[key] = _nanmean([_nanmean([r[key] for r in rows if r["tissue"] == t]) for t in tissues])
    return means | {"images": len(rows)}, rows
