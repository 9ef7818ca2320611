"""HoVer-Net outputs -> nucleus instances (reference ``post_proc.py::__proc_np_hv``, MedIA 2019 section 3.4).

The chain is MONAI's (``GenerateWatershedMask`` -> ``GenerateInstanceBorder`` -> ``GenerateDistanceMap`` ->
``GenerateWatershedMarkers`` -> ``Watershed``) with the reference's settings where MONAI's defaults differ:
Sobel kernel 21 (MONAI 5), a 3x3 Gaussian on the distance map (MONAI none), holes filled in the markers
before the opening (MONAI does not), NP probability >= 0.5, marker threshold 0.4, objects under 10 px
dropped. MONAI's Sobel is a normalised separable kernel rather than OpenCV's; both are min-max normalised
right after, so the borders agree up to that scaling of the kernel profile.

Per-instance records follow the reference JSON: bbox [[rmin, cmin], [rmax, cmax]], centroid [x, y] from
image moments, contour [[x, y], ...] from ``cv2.findContours`` (CHAIN_APPROX_SIMPLE, < 3 points dropped),
type by majority vote of the TP argmax inside the instance (background votes ignored unless alone),
``type_prob`` that class's pixel share.
"""

import warnings

import cv2
import numpy as np
from monai.apps.pathology.transforms import (
    GenerateDistanceMap,
    GenerateInstanceBorder,
    GenerateWatershedMarkers,
    GenerateWatershedMask,
    Watershed,
)
from monai.transforms import FillHoles
from scipy import ndimage

NP_THRESHOLD = 0.5      # nucleus probability
MARKER_THRESHOLD = 0.4  # border energy above which a pixel is not a marker
MIN_SIZE = 10           # px, for objects and markers
SOBEL_KSIZE = 21        # tuned for 40x (0.25 um/px); scale with the resolution


def _blur3(x: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(np.ascontiguousarray(x[0], np.float32), (3, 3), 0)[None]


_MASK = GenerateWatershedMask(activation=lambda x: x, threshold=NP_THRESHOLD, min_object_size=MIN_SIZE)
_BORDER = GenerateInstanceBorder(kernel_size=SOBEL_KSIZE)
_DISTANCE = GenerateDistanceMap(smooth_fn=_blur3)
_MARKERS = GenerateWatershedMarkers(threshold=MARKER_THRESHOLD, radius=2, min_object_size=MIN_SIZE,
                                    postprocess_fn=FillHoles())
_WATERSHED = Watershed(connectivity=1)


def instance_map(np_prob: np.ndarray, hv: np.ndarray) -> np.ndarray:
    """Instances from the NP nucleus probability [H, W] and the HV maps [2, H, W] -> [H, W] int32."""
    with warnings.catch_warnings():  # MONAI 1.6 calls remove_small_objects(min_size=...), deprecated in skimage
        warnings.simplefilter("ignore", FutureWarning)
        mask = _MASK(np.asarray(np_prob, np.float32)[None])
        if not mask.any():
            return np.zeros(np_prob.shape, np.int32)
        try:
            border = _BORDER(mask, np.asarray(hv, np.float32))
        except ValueError:  # flat HV map (MONAI refuses to normalise it): no border anywhere
            border = np.zeros_like(mask, dtype=np.float32)
        distance = _DISTANCE(mask, border)
        markers = _MARKERS(mask, border)
    return np.asarray(_WATERSHED(distance, mask, markers))[0].astype(np.int32)


def instance_types(inst: np.ndarray, tp: np.ndarray) -> dict[int, tuple[int, float]]:
    """{id: (type, type_prob)} by majority vote of the type argmax [H, W] inside each instance."""
    ids = inst.ravel()
    keep = ids > 0
    n_types = int(tp.max()) + 1
    votes = np.bincount(ids[keep].astype(np.int64) * n_types + tp.ravel()[keep], minlength=(inst.max() + 1) * n_types)
    votes = votes.reshape(-1, n_types)
    out = {}
    for i in np.unique(ids[keep]):
        v = votes[i].copy()
        total = v.sum()
        if v[1:].sum() > 0:
            v[0] = 0  # background wins only when nothing else was voted (reference: take the runner-up)
        t = int(v.argmax())
        out[int(i)] = (t, float(votes[i, t] / total))
    return out


def instance_records(inst: np.ndarray, tp: np.ndarray | None = None, *, offset: tuple[int, int] = (0, 0)
                     ) -> dict[int, dict]:
    """Reference JSON records per instance; ``offset`` (row, col) shifts them into slide coordinates."""
    types = instance_types(inst, tp) if tp is not None else {}
    dr, dc = offset
    out = {}
    for i, box in enumerate(ndimage.find_objects(inst), start=1):
        if box is None:
            continue
        mask = (inst[box] == i).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        contour = max(contours, key=len)[:, 0, :] if contours else np.zeros((0, 2))
        if len(contour) < 3:
            continue
        m = cv2.moments(mask, binaryImage=True)
        r0, c0 = box[0].start + dr, box[1].start + dc
        t, p = types.get(i, (None, None))
        out[i] = {"bbox": [[int(r0), int(c0)], [int(box[0].stop + dr), int(box[1].stop + dc)]],
                  "centroid": [m["m10"] / m["m00"] + c0, m["m01"] / m["m00"] + r0],
                  "contour": (contour + [c0, r0]).astype(int).tolist(),
                  "type": t, "type_prob": p}
    return out
