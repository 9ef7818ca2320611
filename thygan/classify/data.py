"""Image lists of a downstream run (labels + split + synthetic images) and their torch datasets.

Images are read with OpenCV and turned to RGB, as the study read them. A training image must be at
least ``crop_size`` on each side (the study cropped full-size 1916 x 1053 images at random).
"""

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from thygan.classify.augment import IMAGENET_MEAN, IMAGENET_STD, LazyImages, eval_crops
from thygan.data.labels import LabelTable
from thygan.data.splits import load_split
from thygan.errors import UserError
from thygan.sources.source import SyntheticItem


@dataclass(frozen=True)
class ImageItem:
    """One image of a run: its file, label, and (real images) name, patient and diagnosis."""

    path: Path
    label: int
    name: str
    patient: str | None = None
    diagnosis: str | None = None


def real_items(src_dir: str | os.PathLike, table: LabelTable, names: list[str], *, where: str) -> list[ImageItem]:
    """The labelled images ``names`` under ``src_dir``; every file must exist and have a label."""
    items, missing = [], []
    for name in names:
        record = table.find(name)
        if record is None or record.label is None:
            raise UserError(f"{where}: '{name}' has no label in {table.source}")
        path = Path(src_dir) / record.filename
        if not path.is_file():
            missing.append(str(path))
        items.append(ImageItem(path, record.label, record.filename, record.patient, record.diagnosis))
    if missing:
        raise UserError(f"--src_dir: {len(missing)} images of {where} are not there (e.g. {missing[0]})")
    return items


def synthetic_items(items: list[SyntheticItem]) -> list[ImageItem]:
    """A recipe's images as items of the run (their masks are not used by the classifier)."""
    return [ImageItem(item.path, item.label, item.name) for item in items]


def label_counts(items: list[ImageItem]) -> dict[int, int]:
    return dict(sorted(Counter(item.label for item in items).items()))


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """[H, W, 3] uint8 RGB."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise UserError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def check_image_sizes(items: list[ImageItem], crop_size: int, *, what: str = "--crop_size") -> None:
    """Refuse, before any work, images smaller than the crop (their headers only are read)."""
    import PIL.Image

    small = []
    for item in items:
        try:
            with PIL.Image.open(item.path) as image:
                size = image.size
        except (OSError, PIL.Image.DecompressionBombError) as exc:
            raise UserError(f"{item.path}: not a readable image ({exc})") from None
        if min(size) < crop_size:
            small.append((item.path, size))
    if small:
        path, (width, height) = small[0]
        raise UserError(f"{what}: {crop_size} px crops do not fit {len(small)} of {len(items)} images "
                        f"(e.g. {path}: {width} x {height} px); use a crop of at most {min(width, height)} px")


def check_split_images(src_dir: str | os.PathLike, table: LabelTable, split_files: list[Path], crop_size: int) -> None:
    """Every image of every split file exists, has a label and fits the crop: what dlc-cv checks before
    its first fold (each fold's training checks its own split again)."""
    seen: dict[str, ImageItem] = {}
    for path in split_files:
        for key, names in load_split(path, table).items():
            todo = [name for name in names if name not in seen]
            for item, name in zip(real_items(src_dir, table, todo, where=f"{path} '{key}'"), todo, strict=True):
                seen[name] = item
    check_image_sizes(list(seen.values()), crop_size)


def _check_size(image: np.ndarray, crop_size: int, path: Path) -> None:
    if min(image.shape[:2]) < crop_size:
        raise UserError(f"{path}: {image.shape[1]} x {image.shape[0]} px is smaller than --crop_size {crop_size}")


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """[H, W, 3] float32 (normalised) -> [3, H, W]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def normalize_uint8(image: np.ndarray) -> np.ndarray:
    """[H, W, 3] uint8 -> ImageNet-normalised float32 (what the albumentations Normalize computes)."""
    mean = np.asarray(IMAGENET_MEAN, np.float32) * 255
    std = np.asarray(IMAGENET_STD, np.float32) * 255
    return (image.astype(np.float32) - mean) / std


class _ImageDataset(torch.utils.data.Dataset):
    """Images of a run, read as RGB and checked against the crop size."""

    def __init__(self, items: list[ImageItem], *, crop_size: int):
        self.items, self.crop_size = items, crop_size

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, index: int) -> tuple[ImageItem, np.ndarray]:
        item = self.items[index]
        image = read_rgb(item.path)
        _check_size(image, self.crop_size, item.path)
        return item, image


class TrainDataset(_ImageDataset):
    """Augmented crops: ``(x: [3, crop, crop] float32, label)``.

    Args:
        items: The images (real and synthetic).
        transform: An albumentations pipeline from ``augment.train_transform``.
        crop_size: To check image sizes with a clear message.
        fda_paths: FDA reference images (the study: every training image).
    """

    def __init__(self, items: list[ImageItem], transform, *, crop_size: int, fda_paths: list[Path]):
        super().__init__(items, crop_size=crop_size)
        self.transform = transform
        self.fda_images = LazyImages(fda_paths, read_rgb)

    def __getitem__(self, index: int):
        item, image = self._read(index)
        out = self.transform(image=image, fda_metadata=self.fda_images)["image"]
        return to_tensor(out), item.label


def seed_transform_in_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: derive the augmentation seed from torch's per-worker seed, itself drawn
    from the loader's generator, so a seeded loader gives the same augmentations on every run."""
    info = torch.utils.data.get_worker_info()
    info.dataset.transform.set_random_seed(torch.initial_seed() % 2**32)


class EvalDataset(_ImageDataset):
    """Deterministic crops of each image: ``(crops: [K, 3, crop, crop], label, index)``."""

    def __init__(self, items: list[ImageItem], *, crop_size: int, mode: str = "center"):
        super().__init__(items, crop_size=crop_size)
        self.mode = mode

    def __getitem__(self, index: int):
        item, image = self._read(index)
        crops = [to_tensor(normalize_uint8(crop)) for crop in eval_crops(image, self.crop_size, self.mode)]
        return torch.stack(crops), item.label, index


def collate_crops(batch):
    """Concatenate the crops of several images; ``counts[i]`` crops belong to image ``indices[i]``."""
    crops, labels, indices = zip(*batch)
    counts = torch.tensor([c.shape[0] for c in crops])
    return torch.cat(crops), torch.tensor(labels), counts, torch.tensor(indices)


STUDY_BINARY_NAMES = ["Non-PTC-like", "PTC-like"]  # the thyroid study's binary labels 0 and 1


def class_names_of(table: LabelTable) -> list[str]:
    """Display names of classes 0..C-1 (C = 1 + the largest label): the labels file's names; else,
    for two classes, the study's names; else the indices."""
    labels = [record.label for record in table.records if record.label is not None]
    if not labels:
        raise UserError(f"{table.source}: no labelled images")
    count = max(max(labels) + 1, len(table.class_names or []))
    if table.class_names is not None and len(table.class_names) == count:
        return list(table.class_names)
    return list(STUDY_BINARY_NAMES) if count == 2 else [str(c) for c in range(count)]
