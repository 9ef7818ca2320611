"""HoVer-Net training targets from instance maps: NP (nucleus pixels), HV (horizontal/vertical distances), TP.

Follows the reference's ``targets.py`` (HoVer-Net, MedIA 2019, section 3.2): per instance, in its bounding
box grown by 2 px, pixel coordinates relative to the centre of mass rounded to a pixel; negative values
scaled to [-1, 0] and positive ones to [0, 1], separately for x and y; instances under 30 px inside the
output crop get no HV target (they stay in NP). Pieces of one id that are not connected (mirror padding
at patch borders makes them) are treated as separate instances first.

MONAI's ``ComputeHoVerMaps`` differs (unrounded centroid, no small-instance rule), hence this module. One
deliberate departure: the reference measures coordinates from 1 while its centre of mass counts from 0,
which shifts every map by one pixel; here both count from 0, so the zero crossing sits on the centre.
"""

import numpy as np
from scipy import ndimage
from skimage.measure import label as connected_components

MIN_HV_SIZE = 30  # px; instances smaller than this inside the crop get no HV target (reference)


def center_crop(array: np.ndarray, size: int) -> np.ndarray:
    """Centre crop of the last two axes ([..., H, W]) to size x size."""
    h, w = array.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return array[..., top:top + size, left:left + size]


def split_disconnected(inst: np.ndarray) -> np.ndarray:
    """Give every connected piece of each id its own id (contiguous 1..N)."""
    out = np.zeros(inst.shape, np.int32)
    count = 0
    for i, box in enumerate(ndimage.find_objects(inst.astype(np.int32)), start=1):
        if box is None:
            continue
        pieces, n = connected_components(inst[box] == i, return_num=True, connectivity=1)
        region = out[box]
        region[pieces > 0] = pieces[pieces > 0] + count
        count += n
    return out


def hv_map(inst: np.ndarray, *, out_size: int | None = None, min_size: int = MIN_HV_SIZE) -> np.ndarray:
    """Horizontal and vertical distance maps of an instance map.

    Args:
        inst: [H, W] int instance ids (0 background).
        out_size: The size the targets are cropped to; the small-instance rule counts pixels in that crop.
        min_size: Instances with fewer pixels than this in the crop get zeros.

    Returns:
        [2, H, W] float32: channel 0 horizontal (x), channel 1 vertical (y), each in [-1, 1].
    """
    inst = split_disconnected(inst)
    h, w = inst.shape
    crop = center_crop(inst, out_size) if out_size else inst
    sizes = np.bincount(crop.ravel(), minlength=int(inst.max()) + 1)
    out = np.zeros((2, h, w), np.float32)
    for i, box in enumerate(ndimage.find_objects(inst), start=1):
        if box is None or sizes[i] < min_size:
            continue
        r0, r1 = max(box[0].start - 2, 0), min(box[0].stop + 2, h)
        c0, c1 = max(box[1].start - 2, 0), min(box[1].stop + 2, w)
        mask = inst[r0:r1, c0:c1] == i
        com_r, com_c = ndimage.center_of_mass(mask)
        rows, cols = np.nonzero(mask)
        for axis, coord in ((0, cols - int(com_c + 0.5)), (1, rows - int(com_r + 0.5))):
            value = coord.astype(np.float32)
            if (value < 0).any():
                value[value < 0] /= -value.min()
            if (value > 0).any():
                value[value > 0] /= value.max()
            out[axis, r0 + rows, c0 + cols] = value
    return out


def make_targets(inst: np.ndarray, out_size: int, type_map: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """All targets of one patch, centre-cropped to the network's output.

    Args:
        inst: [H, W] int instance map of the (augmented) input patch.
        out_size: Output side of the network (80 original, 164 fast).
        type_map: [H, W] int nucleus type per pixel (0 background), or None.

    Returns:
        {'np': [S, S] int64 in {0, 1}, 'hv': [2, S, S] float32, 'tp': [S, S] int64 (when type_map is given)}.
    """
    out = {"np": center_crop((inst > 0).astype(np.int64), out_size),
           "hv": center_crop(hv_map(inst, out_size=out_size), out_size)}
    if type_map is not None:
        out["tp"] = center_crop(type_map.astype(np.int64), out_size)
    return out
