"""Folder-level scoring, the reference's ``compute_stats.py --mode=instance|type`` plus PanNuke's ``run.py``.

instance: prediction and truth label files paired by file stem (.mat inst_map, .npy, .png), the per-image
scores of thygan.segment.stats averaged over images (NaN-aware). type: .mat files with inst_centroid and
inst_type on both sides, pooled over images. pannuke: ``masks.npy`` (+ ``types.npy``) on both sides.
"""

from pathlib import Path

import numpy as np

from thygan.errors import UserError
from thygan.segment import stats
from thygan.segment.data import LABEL_SUFFIXES, find_pannuke, read_label


def _pairs(pred_dir: Path, true_dir: Path, suffixes=LABEL_SUFFIXES, flags=("--pred-dir", "--true-dir")
           ) -> list[tuple[Path, Path]]:
    for d, flag in zip((pred_dir, true_dir), flags):
        if not d.is_dir():
            raise UserError(f"{flag} {d}: no such folder")
    truths = {p.stem: p for p in sorted(true_dir.iterdir()) if p.suffix in suffixes}
    pairs = []
    for pred in sorted(p for p in pred_dir.iterdir() if p.suffix in suffixes):
        if pred.stem in truths:
            pairs.append((pred, truths[pred.stem]))
    if not pairs:
        raise UserError(f"{flags[0]} {pred_dir}: no file pairs with a label of the same name in {true_dir}")
    return pairs


def score_instances(pred_dir: str | Path, true_dir: str | Path, *, flags=("--pred-dir", "--true-dir")
                    ) -> tuple[dict[str, float], list[dict]]:
    """(mean scores, per-image rows) over label files paired by name; ``flags`` name the folders in errors."""
    rows = []
    for pred_path, true_path in _pairs(Path(pred_dir), Path(true_dir), flags=flags):
        pred, true = read_label(pred_path)[0], read_label(true_path)[0]
        if pred.shape != true.shape:
            raise UserError(f"{pred_path}: size {pred.shape} differs from {true_path} {true.shape}")
        rows.append({"name": pred_path.stem, **stats.instance_stats(true, pred)})
    with np.errstate(all="ignore"):
        means = {k: float(np.nanmean([r[k] for r in rows])) for k in stats.INSTANCE_METRICS}
    return means, rows


def _centroids_and_types(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    mat = scipy.io.loadmat(str(path))
    for key in ("inst_centroid", "inst_type"):
        if key not in mat:
            raise UserError(f"{path}: no '{key}' (type scores need inst_centroid and inst_type; was the model "
                            f"run with types?)")
    return mat["inst_centroid"].reshape(-1, 2), mat["inst_type"].ravel()


def score_types(pred_dir: str | Path, true_dir: str | Path) -> dict[str, float]:
    """F1_d, type accuracy and per-type F1 pooled over .mat pairs."""
    images = []
    for pred_path, true_path in _pairs(Path(pred_dir), Path(true_dir), suffixes=(".mat",)):
        true_xy, true_t = _centroids_and_types(true_path)
        pred_xy, pred_t = _centroids_and_types(pred_path)
        images.append((true_xy, true_t, pred_xy, pred_t))
    return stats.type_stats(images)


def score_pannuke(pred_dir: str | Path, true_dir: str | Path) -> dict[str, float]:
    """mPQ, bPQ and per-class PQ of two PanNuke-format folders (tissues from the truth's types.npy)."""
    found = {}
    for d, flag in ((pred_dir, "--pred-dir"), (true_dir, "--true-dir")):
        paths = find_pannuke(Path(d)) or ({"masks": p} if (p := Path(d) / "masks.npy").is_file() else None)
        if paths is None:
            raise UserError(f"{flag} {d}: no masks.npy below it (expected PanNuke masks [N, H, W, 6])")
        found[flag] = paths
    true = np.load(found["--true-dir"]["masks"], mmap_mode="r")
    pred = np.load(found["--pred-dir"]["masks"], mmap_mode="r")
    if true.shape != pred.shape:
        raise UserError(f"{found['--pred-dir']['masks']}: shape {pred.shape} differs from the truth's {true.shape}")
    types_path = found["--true-dir"].get("types")
    tissues = np.load(types_path) if types_path else np.array(["all"] * len(true))
    return stats.pannuke_stats(np.asarray(true), np.asarray(pred), tissues)
