"""Training patches: random windows of labelled images, augmented as the reference does, with targets.

The reference (``dataloader/train_loader.py``, imgaug) cuts 540 px windows for a 270 px input, applies an
affine warp there (scale 0.8-1.2, translate 1 %, shear 5 deg, rotate +-179 deg, nearest neighbour), crops
the centre to the input and flips; then one of blur / median / Gaussian noise and colour jitter (hue 8,
saturation 0.2, brightness 26/255, contrast 0.75-1.25). Here the same with albumentations, on windows of
twice the input side so rotations never bring in empty corners.
"""

import albumentations as A
import cv2
import numpy as np
import torch

from thygan.segment.data import Sample
from thygan.segment.targets import make_targets


def augmentation(input_size: int) -> A.Compose:
    """The reference's shape and colour augmentation for windows of 2 x ``input_size``."""
    return A.Compose([
        A.Affine(scale=(0.8, 1.2), translate_percent=(-0.01, 0.01), shear=(-5, 5), rotate=(-179, 179),
                 interpolation=cv2.INTER_NEAREST, mask_interpolation=cv2.INTER_NEAREST, p=1.0),
        A.CenterCrop(input_size, input_size),
        A.HorizontalFlip(), A.VerticalFlip(),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 3)), A.MedianBlur(blur_limit=3),
                 A.GaussNoise(std_range=(0.0, 0.05))], p=1.0),
        A.ColorJitter(brightness=0.0, contrast=0.0, saturation=0.2, hue=8 / 360, p=1.0),
        A.RandomBrightnessContrast(brightness_limit=26 / 255, contrast_limit=0.25, p=1.0),
    ], seed=0)


def random_window(sample: Sample, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A size x size window (mirror-padded where the image is smaller): (image [S, S, 3], labels [S, S, 2])."""
    labels = np.stack([sample.inst, sample.types if sample.types is not None else np.zeros_like(sample.inst)], -1)
    h, w = sample.inst.shape
    pad_h, pad_w = max(size - h, 0), max(size - w, 0)
    image = sample.image
    if pad_h or pad_w:
        widths = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0))
        image, labels = np.pad(image, widths, mode="reflect"), np.pad(labels, widths, mode="reflect")
        h, w = labels.shape[:2]
    r, c = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    return image[r:r + size, c:c + size], labels[r:r + size, c:c + size]


class PatchDataset(torch.utils.data.Dataset):
    """``length`` random patches per epoch; item k of epoch e depends on (seed, e, k) only.

    Items: {'image': [3, S_in, S_in] float32 in [0, 1], 'np': [S_out, S_out] int64, 'hv': [2, S_out, S_out],
    'tp': [S_out, S_out] int64 (with types)}.
    """

    def __init__(self, samples: list[Sample], *, input_size: int, output_size: int, length: int,
                 augment: bool = True, seed: int = 0):
        self.samples, self.input_size, self.output_size = samples, input_size, output_size
        self.length, self.augment, self.seed, self.epoch = length, augment, seed, 0
        self.with_types = samples[0].types is not None
        self.transform = augmentation(input_size) if augment else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sample = self.samples[int(rng.integers(len(self.samples)))]
        if self.augment:
            image, labels = random_window(sample, 2 * self.input_size, rng)
            self.transform.set_random_seed(int(rng.integers(2 ** 31)))
            out = self.transform(image=np.ascontiguousarray(image), mask=labels.astype(np.float32))
            image, labels = out["image"], out["mask"].astype(np.int32)
        else:
            image, labels = random_window(sample, self.input_size, rng)
        targets = make_targets(labels[..., 0], self.output_size, labels[..., 1] if self.with_types else None)
        item = {"image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255}
        item.update({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in targets.items()})
        return item
