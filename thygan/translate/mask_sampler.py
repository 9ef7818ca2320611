"""New nucleus masks from real ones, so that mask -> H&E pairs are new images, not copies of training masks.

Every nucleus of the real masks is cut out (its binary shape and type). A new canvas is filled with
as many nuclei as a real mask drawn at random holds; each is a random real nucleus, rotated by a
random angle (nearest neighbour, so shapes stay binary), mirrored with probability 1/2, re-typed with
probability ``retype_prob`` (to a type drawn from the real type frequencies) and put at a random free
place: its pixels, grown by ``gap`` px, must not touch a nucleus already placed. A nucleus that
finds no place in ``tries`` attempts is dropped, so dense masks come out a little sparser.
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.transform import rotate

from thygan.errors import UserError
from thygan.io.atomic import atomic_path, atomic_write_bytes
from thygan.translate.masks import NucleusMask, mask_files, mask_to_rgb, read_mask, render_mask


@dataclass
class Nucleus:
    shape: np.ndarray  # [h, w] bool, tight bounding box
    type: int          # 1..T


def extract_nuclei(masks: list[NucleusMask]) -> list[Nucleus]:
    """Every instance of every mask, cropped to its bounding box."""
    nuclei = []
    for mask in masks:
        for k, box in enumerate(ndimage.find_objects(mask.inst_map), start=1):
            if box is not None and k in mask.types:
                nuclei.append(Nucleus(mask.inst_map[box] == k, int(mask.types[k])))
    return nuclei


class MaskSampler:
    """Draws new masks (see the module docstring).

    Args:
        masks: Real masks to learn nuclei, counts and type frequencies from.
        num_types: Number of nucleus types T (types are 1..T).
        retype_prob: Chance that a placed nucleus gets a new type.
        gap: Minimum distance in px between two nuclei (>= 1 keeps instances apart in the contours).
        tries: Placement attempts per nucleus.
    """

    def __init__(self, masks: list[NucleusMask], *, num_types: int, retype_prob: float = 0.3, gap: int = 1,
                 tries: int = 30):
        self.nuclei = extract_nuclei(masks)
        if not self.nuclei:
            raise ValueError("the masks hold no nuclei to sample from")
        self.counts = [len(m.types) for m in masks]
        freq = np.bincount([n.type for n in self.nuclei], minlength=num_types + 1)[1:].astype(np.float64)
        self.type_probs = freq / freq.sum()
        self.num_types, self.retype_prob, self.gap, self.tries = num_types, retype_prob, gap, tries

    def sample(self, size: int, rng: np.random.Generator) -> NucleusMask:
        """One new mask of ``size`` x ``size`` px."""
        inst = np.zeros((size, size), np.int32)
        taken = np.zeros((size, size), bool)
        types: dict[int, int] = {}
        grow = np.ones((2 * self.gap + 1, 2 * self.gap + 1), bool)
        for _ in range(int(rng.choice(self.counts))):
            nucleus = self.nuclei[int(rng.integers(len(self.nuclei)))]
            shape = rotate(nucleus.shape.astype(float), float(rng.uniform(0, 360)), resize=True, order=0) > 0.5
            if rng.random() < 0.5:
                shape = shape[:, ::-1]
            rows, cols = np.nonzero(shape)
            if rows.size == 0:
                continue
            shape = shape[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
            h, w = shape.shape
            if h > size or w > size:
                continue
            halo = ndimage.binary_dilation(np.pad(shape, self.gap), grow)
            new_type = nucleus.type
            if rng.random() < self.retype_prob:
                new_type = int(rng.choice(self.num_types, p=self.type_probs)) + 1
            for _ in range(self.tries):
                y, x = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
                # The halo around the nucleus (clipped at the canvas edge) must be free.
                y0, x0 = y - self.gap, x - self.gap
                hy0, hx0 = max(0, -y0), max(0, -x0)
                hy1 = halo.shape[0] - max(0, y0 + halo.shape[0] - size)
                hx1 = halo.shape[1] - max(0, x0 + halo.shape[1] - size)
                region = taken[y0 + hy0:y0 + hy1, x0 + hx0:x0 + hx1]
                if (region & halo[hy0:hy1, hx0:hx1]).any():
                    continue
                k = len(types) + 1
                inst[y:y + h, x:x + w][shape] = k
                taken[y:y + h, x:x + w] |= shape
                types[k] = new_type
                break
        return NucleusMask(inst, types)


def sample_mask_folder(masks_dir: str | Path, out: str | Path, *, num_types: int, count: int, size: int,
                       retype_prob: float = 0.3, gap: int = 1, seed: int = 0) -> list[Path]:
    """Draw ``count`` masks from the real masks in ``masks_dir``: ``out/sample{k:05d}.npz`` (inst_map,
    inst_type, as HoVer-Net's fields) and a colour preview ``sample{k:05d}_preview.jpg`` each (a JPEG so
    that mask readers, which take .png type maps, never mistake it for a mask); mask k uses seed + k."""
    paths = [Path(masks_dir) / name for name in mask_files(masks_dir)]
    if not paths:
        raise UserError(f"--masks: no mask files (.png type maps, .npz, PanNuke .npy) in {masks_dir}")
    try:
        sampler = MaskSampler([read_mask(p, num_types) for p in paths], num_types=num_types,
                              retype_prob=retype_prob, gap=gap)
    except ValueError as exc:
        raise UserError(f"--masks: {masks_dir}: {exc}") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k in range(count):
        mask = sampler.sample(size, np.random.default_rng(seed + k))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, inst_map=mask.inst_map,
                            inst_type=np.array([mask.types[i] for i in range(1, len(mask.types) + 1)], np.int32))
        written.append(atomic_write_bytes(out / f"sample{k:05d}.npz", buffer.getvalue()))
        with atomic_path(out / f"sample{k:05d}_preview.jpg") as tmp:
            Image.fromarray(mask_to_rgb(render_mask(mask.stacked(), num_types))).save(tmp, format="JPEG", quality=95)
    return written
