"""Pseudo-labels: nucleus instance maps from a classical method, for data that has no nucleus labels.

NOT ground truth. Haematoxylin stains nuclei, so: haematoxylin channel by colour deconvolution
(``skimage.color.rgb2hed``, Ruifrok & Johnston 2001), a light Gaussian, an Otsu threshold over the tissue,
small objects dropped and holes filled, then touching nuclei split by a watershed on the distance
transform from its local maxima. Scores of a network trained on these measure agreement with this
method, nothing more; they let a CPU-only user see HoVer-Net learn on real tissue (the bundled slide).

Output layout (readable by ``thygan segment train``): ``Images/{name}.png`` and ``Labels/{name}.npy``
([H, W] int32 instance map), plus ``overlay/{name}.png`` and ``pseudo_labels.json`` that says what made them.
"""

import json
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.color import rgb2hed
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.morphology import remove_small_holes, remove_small_objects
from skimage.segmentation import watershed

from thygan.data.tiling import Box, grid_boxes, open_source, tissue_fraction, tissue_threshold
from thygan.errors import UserError
from thygan.io.atomic import atomic_path, atomic_write_text

METHOD = "pseudo-labels: rgb2hed haematoxylin, Otsu, distance-transform watershed (not ground truth)"


def pseudo_instances(image: np.ndarray, *, min_size: int = 20, min_distance: int = 4, sigma: float = 1.0,
                     threshold: float | None = None) -> np.ndarray:
    """Pseudo-label instance map [H, W] int32 of an RGB tile [H, W, 3] uint8.

    Args:
        min_size: px; smaller blobs are dropped (at 20x, 0.5 um/px, a nucleus is ~50-300 px).
        min_distance: px between watershed seeds (about a nucleus radius at 20x).
        sigma: Gaussian smoothing of the haematoxylin channel, px.
        threshold: Haematoxylin level; None = Otsu on this tile.
    """
    haem = gaussian(rgb2hed(image)[..., 0], sigma=sigma)
    if threshold is None:
        threshold = threshold_otsu(haem) if np.ptp(haem) > 0 else np.inf
    mask = remove_small_holes(remove_small_objects(haem > threshold, max_size=min_size - 1), max_size=min_size)
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    distance = ndimage.distance_transform_edt(mask)
    blobs, _ = ndimage.label(mask)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=blobs, exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    inst = watershed(-distance, markers, mask=mask)
    return remove_small_objects(inst, max_size=min_size - 1).astype(np.int32)


def make_pseudo_labels(source: str | Path, dest: str | Path, *, tile_size: int = 256, min_tissue: float = 0.5,
                       level: int | None = None, magnification: float | None = None, mpp: float | None = None,
                       limit: int | None = None, log=print) -> list[str]:
    """Tile an image or slide, write each tissue tile and its pseudo-label map; returns the tile names.

    Tiles whose files already exist are kept (the command resumes).
    """
    from PIL import Image

    from thygan.progress import progress
    from thygan.segment.overlay import draw_overlay
    from thygan.segment.postproc import instance_records

    source, dest = Path(source), Path(dest)
    if not source.is_file():
        raise UserError(f"{source}: no such file (expected an image or a whole slide)")
    src = open_source(source, level=level, magnification=magnification, mpp=mpp)
    try:
        if min(src.width, src.height) < tile_size:
            raise UserError(f"--tile-size {tile_size}: larger than {source} ({src.width}x{src.height})")
        cut = tissue_threshold(src.thumbnail())
        boxes: list[Box] = grid_boxes(src.width, src.height, tile_size)
        for sub in ("Images", "Labels", "overlay"):
            (dest / sub).mkdir(parents=True, exist_ok=True)
        atomic_write_text(dest / "pseudo_labels.json", json.dumps(
            {"method": METHOD, "source": str(source), "tile_size": tile_size, "min_tissue": min_tissue}, indent=2))
        names = []
        for box in progress(boxes, desc="pseudo-labels", unit="tile"):
            if limit is not None and len(names) >= limit:
                break
            name = f"{source.stem}_x{box.x}_y{box.y}"
            label_path = dest / "Labels" / f"{name}.npy"
            if label_path.is_file() and (dest / "Images" / f"{name}.png").is_file():
                names.append(name)
                continue
            tile = src.read(box)
            if tissue_fraction(tile, cut) < min_tissue:
                continue
            inst = pseudo_instances(tile)
            with atomic_path(dest / "Images" / f"{name}.png") as tmp:
                Image.fromarray(tile).save(tmp, format="PNG")
            with atomic_path(dest / "overlay" / f"{name}.png") as tmp:
                Image.fromarray(draw_overlay(tile, instance_records(inst), thickness=1)).save(tmp, format="PNG")
            with atomic_path(label_path) as tmp, open(tmp, "wb") as f:
                np.save(f, inst)
            names.append(name)
    finally:
        src.close()
    log(f"{len(names)} tiles with pseudo-labels in {dest} (Images/, Labels/, overlay/)")
    return names
