"""Nucleus masks as pix2pix inputs: reading the three usual formats, rendering them for the generator.

A mask is an instance map (0 background, k > 0 nucleus k) and a type map (0 background, 1..T the
nucleus type), as HoVer-Net's ``inst_map``/``type_map``. Files read:

- ``.png``: a type map (pixel = type id); nuclei are its connected regions of one type.
- ``.npz``: ``inst_map`` plus ``inst_type`` (type of instance k at index k-1, HoVer-Net's .mat fields)
  or ``type_map``.
- ``.npy``: PanNuke's [H, W, 6] masks: channels 0-4 hold per-type instance ids (type = channel + 1,
  PanNuke ids 1 neoplastic .. 5 epithelial), channel 5 is background; or an [H, W] instance map (the
  ``Labels/`` of ``thygan segment pseudo-labels``), every nucleus of type 1.

The generator sees T + 2 channels in [-1, 1]: the one-hot type map (background and T types) and the
instance contours, so touching nuclei of one type stay separate (the PanNuke mask -> H&E pix2pix of
davideruby/pix2pixgan feeds the 6 one-hot channels without contours).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from skimage.measure import label
from skimage.segmentation import find_boundaries

from thygan.errors import UserError

MASK_SUFFIXES = frozenset([".png", ".npy", ".npz"])
PANNUKE_TYPES = ("neoplastic", "inflammatory", "connective", "dead", "epithelial")
# type_info.json colours of HoVer-Net's PanNuke model, then more for other type counts.
TYPE_COLOURS = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 165, 0],
                         [255, 0, 255], [0, 255, 255], [128, 0, 128], [128, 128, 0]], np.uint8)


@dataclass
class NucleusMask:
    """inst_map: [H, W] int32, 0 = background; types: {instance id: type id in 1..T}."""

    inst_map: np.ndarray
    types: dict[int, int]

    @property
    def type_map(self) -> np.ndarray:
        """[H, W] int32 type of each pixel (0 = background)."""
        lut = np.zeros(int(self.inst_map.max()) + 1, np.int32)
        for k, t in self.types.items():
            lut[k] = t
        return lut[self.inst_map]

    def stacked(self) -> np.ndarray:
        """[H, W, 2] int32 (instance id, type id): one array that crops and flips keep consistent."""
        return np.stack([self.inst_map, self.type_map], axis=2).astype(np.int32)


def _check_types(types: np.ndarray, num_types: int, where: str) -> None:
    bad = sorted({int(t) for t in np.unique(types) if t < 0 or t > num_types})
    if bad:
        raise UserError(f"{where}: unknown nucleus type id {bad[0]} (expected 0 = background or 1..{num_types}; "
                        f"set --mask_types to the number of types)")


def from_type_map(type_map: np.ndarray, num_types: int, where: str) -> NucleusMask:
    """Nuclei = connected regions (8-connectivity) of one type in a type map."""
    type_map = np.asarray(type_map).astype(np.int64)
    _check_types(type_map, num_types, where)
    inst = np.zeros(type_map.shape, np.int32)
    types: dict[int, int] = {}
    for t in range(1, num_types + 1):
        regions, n = label(type_map == t, return_num=True, connectivity=2)
        inst[regions > 0] = regions[regions > 0] + len(types)
        types.update({len(types) + k: t for k in range(1, n + 1)})
    return NucleusMask(inst, types)


def from_pannuke(masks: np.ndarray, num_types: int, where: str) -> NucleusMask:
    """PanNuke [H, W, 6] (per-type instance ids in channels 0-4, background in 5) -> one instance map."""
    if masks.ndim != 3 or masks.shape[2] != 6:
        raise UserError(f"{where}: expected a PanNuke mask of shape [H, W, 6], got {list(masks.shape)}")
    inst = np.zeros(masks.shape[:2], np.int32)
    types: dict[int, int] = {}
    for channel in range(5):
        ids = [int(i) for i in np.unique(masks[:, :, channel]) if i > 0]
        if ids and channel + 1 > num_types:
            _check_types(np.array([channel + 1]), num_types, where)
        for i in ids:
            types[len(types) + 1] = channel + 1
            inst[masks[:, :, channel] == i] = len(types)
    return NucleusMask(inst, types)


def read_mask(path: str | Path, num_types: int) -> NucleusMask:
    """Read a mask file of any supported format (see the module docstring)."""
    path = Path(path)
    where = str(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".png":
            import PIL.Image

            with PIL.Image.open(path) as image:
                if image.mode not in ("L", "P", "I", "I;16"):
                    raise UserError(f"{where}: a type-map PNG must be single-channel (type id per pixel), "
                                    f"got mode {image.mode}")
                return from_type_map(np.asarray(image), num_types, where)
        if suffix == ".npy":
            array = np.load(path, allow_pickle=False)
            if array.ndim == 2:  # an untyped instance map: one nucleus type
                inst = array.astype(np.int32)
                return NucleusMask(inst, {int(k): 1 for k in np.unique(inst) if k > 0})
            return from_pannuke(array, num_types, where)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "inst_map" in z and "inst_type" in z:
                    inst = z["inst_map"].astype(np.int32)
                    inst_type = z["inst_type"].reshape(-1).astype(np.int64)
                    _check_types(inst_type, num_types, where)
                    if inst.max() > len(inst_type):
                        raise UserError(f"{where}: inst_map has id {inst.max()} but inst_type lists "
                                        f"{len(inst_type)} instances")
                    return NucleusMask(inst, {k: int(inst_type[k - 1]) for k in np.unique(inst) if k > 0})
                if "type_map" in z:
                    return from_type_map(z["type_map"], num_types, where)
                raise UserError(f"{where}: expected arrays inst_map + inst_type, or type_map")
    except (OSError, ValueError) as exc:
        raise UserError(f"{where}: cannot read mask ({exc})") from None
    raise UserError(f"{where}: unsupported mask file (expected {', '.join(sorted(MASK_SUFFIXES))})")


def render_mask(stacked: np.ndarray, num_types: int) -> torch.Tensor:
    """[H, W, 2] (instance id, type id) -> generator input [num_types + 2, H, W] float32 in {-1, 1}:
    one-hot type (background first) and the instance contours (last channel)."""
    inst, types = stacked[:, :, 0], stacked[:, :, 1]
    _check_types(types, num_types, "mask")
    onehot = (types[None] == np.arange(num_types + 1)[:, None, None])
    contours = find_boundaries(inst, mode="inner") & (inst > 0)
    channels = np.concatenate([onehot, contours[None]], 0).astype(np.float32)
    return torch.from_numpy(channels * 2 - 1)


def mask_input_channels(num_types: int) -> int:
    """input_nc of a generator fed rendered masks."""
    return num_types + 2


def mask_files(folder: str | Path) -> list[str]:
    """Relative names of the mask files under ``folder`` (any depth; hidden files skipped), sorted."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.suffix.lower() in MASK_SUFFIXES and not p.name.startswith(".") and p.is_file())


def mask_to_rgb(x: torch.Tensor) -> np.ndarray:
    """A rendered mask [num_types + 2, H, W] (see render_mask) as a picture [H, W, 3] uint8: each pixel in
    the colour of its most likely type (background black) with white instance contours. Works on a
    generator's own mask-like output too (argmax of its type channels)."""
    types = x[:-1].detach().float().argmax(0).cpu().numpy()
    rgb = TYPE_COLOURS[types % len(TYPE_COLOURS)].copy()
    rgb[x[-1].detach().float().cpu().numpy() > 0] = 255
    return rgb


def input_to_rgb(x: torch.Tensor, *, is_mask: bool = False) -> np.ndarray:
    """A generator input [C, H, W] in [-1, 1] as a picture [H, W, 3] uint8: gray/RGB as is, a rendered
    mask (``is_mask``; with one nucleus type it too has 3 channels, so the count cannot tell) by mask_to_rgb."""
    if is_mask:
        return mask_to_rgb(x)
    img = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return img.expand(3, -1, -1).permute(1, 2, 0).numpy()
