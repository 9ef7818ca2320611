"""Image transforms of the downstream classifier, built with albumentations.

Training (``study``, from the thyroid study, which took it from Boehland et al. 2021): flip,
rotate, random crop, Fourier domain adaptation towards a random training image (Yang & Soatto
2020, low-frequency amplitude swap, beta <= 0.05), CLAHE or brightness/contrast, blur, Gaussian
noise, ImageNet normalisation. ``basic`` keeps the geometric part only; ``none`` only crops.

Evaluation is deterministic (the study cropped at random, so its test scores moved between runs):
``center`` takes the central crop; ``tiles`` takes every crop of the study's clamped grid (the
``split_dataset.py`` grid) and the caller averages their probabilities.

The study's albumentations 1.1 parameters are kept where 2.0 renamed or rescaled them: ``Flip``
(gone in 2.0) = one of horizontal, vertical or both flips; ``Rotate`` reflects at the border;
``GaussNoise`` variance 10..50 on the 0..255 scale = std 3.2..7.1 levels.
"""

import math
import os
from collections.abc import Callable, Sequence

import numpy as np

from dnnlib import Registry

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations must not look for updates online

import albumentations as A  # noqa: E402 - after the environment variable above
import cv2  # noqa: E402

from thygan.data.tiling import grid_starts
from thygan.errors import UserError

AUGMENTATIONS = Registry("augmentation")  # name -> builder(crop_size, fda_source) -> list of transforms
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_CROPS = ("center", "tiles")


class LazyImages(Sequence):
    """Reference images for FDA, read only when FDA picks one (albumentations 2 wants a sequence of
    arrays; holding every training image in memory would cost gigabytes)."""

    def __init__(self, paths: Sequence, read: Callable[[object], np.ndarray]):
        self.paths, self.read = list(paths), read
        self._first = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        if index == 0:  # albumentations checks the type of item 0 on every call: read it once
            if self._first is None:
                self._first = self.read(self.paths[0])
            return self._first
        return self.read(self.paths[index])


def _flip(p: float) -> A.BasicTransform:
    both = A.Sequential([A.HorizontalFlip(p=1), A.VerticalFlip(p=1)], p=1)
    return A.OneOf([A.HorizontalFlip(p=1), A.VerticalFlip(p=1), both], p=p)


def _geometric(crop_size: int) -> list:
    return [_flip(0.5), A.Rotate(limit=90, border_mode=cv2.BORDER_REFLECT_101, p=0.5),
            A.RandomCrop(crop_size, crop_size)]


@AUGMENTATIONS.register("study")
def _study(crop_size: int, fda_source: bool) -> list:
    noise_std = (math.sqrt(10) / 255, math.sqrt(50) / 255)
    colour = [A.OneOf([A.CLAHE(p=1), A.RandomBrightnessContrast(p=1)], p=0.5), A.Blur(p=0.25),
              A.GaussNoise(std_range=noise_std, p=0.25)]
    fda = [A.FDA(beta_limit=0.05, p=0.5)] if fda_source else []
    return _geometric(crop_size) + fda + colour


@AUGMENTATIONS.register("basic")
def _basic(crop_size: int, fda_source: bool) -> list:
    return _geometric(crop_size)


@AUGMENTATIONS.register("none")
def _none(crop_size: int, fda_source: bool) -> list:
    return [A.RandomCrop(crop_size, crop_size)]


def normalize() -> A.Normalize:
    return A.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, max_pixel_value=255.0)


def train_transform(crop_size: int, *, preset: str = "study", seed: int | None = None) -> A.Compose:
    """The training pipeline; call it as ``t(image=rgb_uint8, fda_metadata=LazyImages(...))``."""
    builder = AUGMENTATIONS.lookup(preset, lambda msg: UserError(f"--augment: {msg}"))
    return A.Compose(builder(crop_size, True) + [normalize()], seed=seed)


def eval_crops(image: np.ndarray, crop_size: int, mode: str) -> list[np.ndarray]:
    """image: [H, W, 3] uint8 -> the deterministic evaluation crops (see module docstring)."""
    height, width = image.shape[:2]
    if mode == "center":
        top, left = (height - crop_size) // 2, (width - crop_size) // 2
        return [image[top:top + crop_size, left:left + crop_size]]
    if mode == "tiles":
        return [image[y:y + crop_size, x:x + crop_size]
                for y in grid_starts(height, crop_size) for x in grid_starts(width, crop_size)]
    raise ValueError(f"unknown evaluation crop '{mode}' (expected one of {EVAL_CROPS})")
