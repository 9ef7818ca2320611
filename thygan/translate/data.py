"""Training data of CycleGAN / pix2pix: the reference's data modes and preprocessing, made reproducible.

Data modes (``--dataset_mode``):

- ``unaligned``: ``dataroot/{phase}A`` and ``dataroot/{phase}B``, unpaired; length max(|A|, |B|), item i
  takes A[i mod |A|] and a random B (B[i mod |B|] with ``--serial_batches``).
- ``aligned``: ``dataroot/{phase}/*`` images holding A and B side by side (width = 2 x height), split
  in the middle, as the reference's ``combine_A_and_B.py`` writes them.
- ``paired``: ``dataroot/{phase}/A`` and ``dataroot/{phase}/B`` (or ``dataroot/A`` and ``dataroot/B``)
  with the same relative file names; no side-by-side files needed. A may hold nucleus masks (see
  thygan.translate.masks) when ``mask_types`` > 0.

Preprocessing follows the reference's order (resize or scale width, crop, flip, to [-1, 1]) with the
same modes. Every random choice of item i in epoch e comes from a generator seeded by (seed, e, i),
so an epoch is the same whatever the worker count or where a resumed run restarted.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from thygan.data.image_files import ImageFiles, decode_image, probe_image
from thygan.errors import UserError

DATASET_MODES = ("unaligned", "aligned", "paired")
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")


@dataclass(frozen=True)
class Preprocess:
    preprocess: str = "resize_and_crop"  # resize_and_crop | crop | scale_width | scale_width_and_crop | none
    load_size: int = 286                 # px: side after resize, or width after scale_width
    crop_size: int = 256                 # px: side of the random crop
    no_flip: bool = False                # no random horizontal flips

    def params(self, width: int, height: int, rng: np.random.Generator) -> dict:
        """The random choices for one image (shared by A and B of a pair): crop corner, flip."""
        if self.preprocess == "resize_and_crop":
            width = height = self.load_size
        elif self.preprocess.startswith("scale_width"):
            width, height = self.load_size, max(self.crop_size, round(self.load_size * height / width))
        x = int(rng.integers(0, max(0, width - self.crop_size) + 1))
        y = int(rng.integers(0, max(0, height - self.crop_size) + 1))
        return {"x": x, "y": y, "flip": (not self.no_flip) and bool(rng.random() > 0.5)}

    def apply(self, image: np.ndarray, params: dict, *, nearest: bool = False) -> np.ndarray:
        """image: [H, W, C] uint8 (or an integer label map when ``nearest``) -> the preprocessed array."""
        resample = PIL.Image.Resampling.NEAREST if nearest else PIL.Image.Resampling.BICUBIC
        h, w = image.shape[:2]
        if self.preprocess == "resize_and_crop":
            image = _resize(image, self.load_size, self.load_size, resample)
        elif self.preprocess.startswith("scale_width") and w != self.load_size:
            image = _resize(image, self.load_size, max(self.crop_size, round(self.load_size * h / w)), resample)
        elif self.preprocess == "none" and (h % 4 or w % 4):
            # As the reference: the nets need multiples of 4; round to the nearest one.
            image = _resize(image, max(4, round(w / 4) * 4), max(4, round(h / 4) * 4), resample)
        if self.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop"):
            h, w = image.shape[:2]
            if h < self.crop_size or w < self.crop_size:
                raise UserError(f"--crop_size: {self.crop_size} px is larger than an image of {w}x{h} px "
                                f"(after --preprocess {self.preprocess})")
            image = image[params["y"]:params["y"] + self.crop_size, params["x"]:params["x"] + self.crop_size]
        if params["flip"]:
            image = image[:, ::-1]
        return np.ascontiguousarray(image)


def _resize(image: np.ndarray, width: int, height: int, resample) -> np.ndarray:
    if image.shape[2] in (1, 3):
        pil = PIL.Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
        out = np.asarray(pil.resize((width, height), resample))
        return out[:, :, None] if out.ndim == 2 else out
    # Label maps with other channel counts: resize each channel with nearest neighbours.
    return np.stack([_resize(image[:, :, c:c + 1], width, height, resample)[:, :, 0]
                     for c in range(image.shape[2])], axis=2)


def to_tensor(image: np.ndarray, channels: int) -> torch.Tensor:
    """[H, W, C] uint8 -> [channels, H, W] float32 in [-1, 1] (gray <-> RGB converted, alpha dropped)."""
    if image.shape[2] in (2, 4):
        image = image[:, :, :-1]
    if image.shape[2] == 1 and channels == 3:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 3 and channels == 1:
        image = np.round(image @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[:, :, None]
    return torch.from_numpy(image.transpose(2, 0, 1).copy()).float() / 127.5 - 1


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of item ``index`` in ``epoch`` (independent of workers, order and resumption)."""
    return np.random.default_rng([seed, epoch, index])


class _Files:
    """Image files of one folder, decoded by name; errors name the whole path."""

    def __init__(self, path: Path, what: str):
        self.files = ImageFiles(path, what=what)
        self.names = self.files.names
        if not self.names:
            raise UserError(f"{what}: no image files in {path}")

    def load(self, name: str) -> np.ndarray:
        return decode_image(self.files.read(name), (self.files.path / (self.files.prefix + name)).as_posix())


class TranslationDataset(torch.utils.data.Dataset):
    """Item i of epoch e -> {'A': [input_nc, S, S], 'B': [output_nc, S, S], 'A_name', 'B_name'}.

    Args:
        dataroot: The data folder (see the module docstring for the layout of each mode).
        dataset_mode: unaligned | aligned | paired.
        phase: train | test | ... (the folder name prefix).
        direction: AtoB, or BtoA to swap the two sides.
        preprocess: The image transform.
        input_nc, output_nc: Channels of A and B after the swap.
        serial_batches: Unaligned B in order instead of at random.
        max_dataset_size: Use at most this many items (None: all).
        mask_types: >0: A files are nucleus masks with this many types, rendered by thygan.translate.masks.
        seed: Base seed of every random choice.
    """

    def __init__(self, dataroot: str | Path, *, dataset_mode: str = "unaligned", phase: str = "train",
                 direction: str = "AtoB", preprocess: Preprocess = Preprocess(), input_nc: int = 3,
                 output_nc: int = 3, serial_batches: bool = False, max_dataset_size: int | None = None,
                 mask_types: int = 0, seed: int = 0):
        root = Path(dataroot)
        if not root.is_dir():
            raise UserError(f"--dataroot: no such folder '{root}'")
        if direction not in ("AtoB", "BtoA"):
            raise UserError(f"--direction: expected AtoB or BtoA, got '{direction}'")
        self.mode, self.swap, self.pre = dataset_mode, direction == "BtoA", preprocess
        self.input_nc, self.output_nc = input_nc, output_nc
        self.serial_batches, self.mask_types, self.seed, self.epoch = serial_batches, mask_types, seed, 0
        if dataset_mode == "unaligned":
            self.A = _Files(_need_dir(root / f"{phase}A", "unaligned", f"{phase}A/ and {phase}B/"), "--dataroot")
            self.B = _Files(_need_dir(root / f"{phase}B", "unaligned", f"{phase}A/ and {phase}B/"), "--dataroot")
            size = max(len(self.A.names), len(self.B.names))
        elif dataset_mode == "aligned":
            self.AB = _Files(_need_dir(root / phase, "aligned", f"{phase}/ of side-by-side AB images"), "--dataroot")
            for name in self.AB.names:  # headers only: a bad file fails now, not hours into training
                with self.AB.files.open(name) as file:
                    _, h, w = probe_image(file, name)
                _check_aligned(self.AB.files.path / name, w, h)
            size = len(self.AB.names)
        elif dataset_mode == "paired":
            base = root / phase if (root / phase / "A").is_dir() else root
            self.A = _PairSide(_need_dir(base / "A", "paired", "A/ and B/ with matching file names"), mask_types)
            self.B = _Files(_need_dir(base / "B", "paired", "A/ and B/ with matching file names"), "--dataroot")
            self.pairs = _match_pairs(self.A.names, self.B.names, base)
            size = len(self.pairs)
        else:
            raise UserError(f"--dataset_mode: expected one of {', '.join(DATASET_MODES)}, got '{dataset_mode}'")
        self.size = size if max_dataset_size is None else min(size, max_dataset_size)

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose random choices ``__getitem__`` makes (call before each epoch)."""
        self.epoch = epoch

    def _raw(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str, str]:
        if self.mode == "aligned":
            name = self.AB.names[index]
            ab = self.AB.load(name)
            h, w = ab.shape[:2]
            _check_aligned(self.AB.files.path / name, w, h)
            return ab[:, : w // 2], ab[:, w // 2:], name, name
        if self.mode == "paired":
            a_name, b_name = self.pairs[index]
            return self.A.load(a_name), self.B.load(b_name), a_name, b_name
        a_name = self.A.names[index % len(self.A.names)]
        n_b = len(self.B.names)
        b_name = self.B.names[index % n_b if self.serial_batches else int(rng.integers(0, n_b))]
        return self.A.load(a_name), self.B.load(b_name), a_name, b_name

    def __getitem__(self, index: int) -> dict:
        rng = item_rng(self.seed, self.epoch, index)
        a, b, a_name, b_name = self._raw(index, rng)
        if self.swap:
            a, b, a_name, b_name = b, a, b_name, a_name
        params_a = self.pre.params(a.shape[1], a.shape[0], rng)
        # Paired modes share one crop and flip; unaligned images get their own.
        params_b = params_a if self.mode != "unaligned" else self.pre.params(b.shape[1], b.shape[0], rng)
        masks_on_a = self.mask_types > 0 and not self.swap
        a = self.pre.apply(a, params_a, nearest=masks_on_a)
        b = self.pre.apply(b, params_b, nearest=self.mask_types > 0 and self.swap)
        A = self._side(a, self.input_nc, masks_on_a)
        B = self._side(b, self.output_nc, self.mask_types > 0 and self.swap)
        return {"A": A, "B": B, "A_name": a_name, "B_name": b_name}

    def _side(self, array: np.ndarray, channels: int, is_mask: bool) -> torch.Tensor:
        if is_mask:
            from thygan.translate.masks import render_mask

            return render_mask(array, self.mask_types)
        return to_tensor(array, channels)


class _PairSide(_Files):
    """The A folder of paired data: images, or masks (.npy PanNuke arrays, .npz inst/types, type-map PNGs)."""

    def __init__(self, path: Path, mask_types: int):
        self.mask_types = mask_types
        if mask_types > 0:
            from thygan.translate.masks import mask_files

            self.path = path
            self.names = mask_files(path)
            if not self.names:
                raise UserError(f"--dataroot: no mask files (.png type maps, .npy, .npz) in {path}")
            for name in self.names:  # unknown type ids fail now, before a run folder exists
                self.load(name)
        else:
            super().__init__(path, "--dataroot")

    def load(self, name: str) -> np.ndarray:
        if self.mask_types > 0:
            from thygan.translate.masks import read_mask

            return read_mask(self.path / name, self.mask_types).stacked()
        return super().load(name)


def _check_aligned(path: Path, width: int, height: int) -> None:
    if width != 2 * height:
        raise UserError(f"{path}: an aligned image must be A and B side by side, width = 2 x height; "
                        f"got {width}x{height} px")


def _need_dir(path: Path, mode: str, expected: str) -> Path:
    if not path.is_dir():
        raise UserError(f"--dataroot: no folder {path} (--dataset_mode {mode} expects {expected})")
    return path


def _match_pairs(a_names: list[str], b_names: list[str], base: Path) -> list[tuple[str, str]]:
    """Pairs by relative path without extension (a.png <-> a.jpg; a mask a.npy <-> a.png)."""
    b_by_stem = {str(Path(n).with_suffix("")): n for n in b_names}
    pairs = []
    for a in a_names:
        b = b_by_stem.get(str(Path(a).with_suffix("")))
        if b is None:
            raise UserError(f"--dataroot: {base / 'A' / a} has no partner in {base / 'B'} "
                            f"(paired mode matches file names without extension)")
        pairs.append((a, b))
    return pairs
