"""The training image dataset: a folder or zip in the StyleGAN2-ADA layout, with optional labels.

Layout (what dataset_tool writes): ``00000/img00000000.png``... and a root ``dataset.json``
``{"labels": [[relpath, label], ...] | null, "class_names": [...]}``. ``class_names`` is thygan's
extension (index -> name); the rest matches the reference ``ImageFolderDataset``: all image files
sorted, integer labels as one-hot vectors, 2-D float labels as given, a ``max_size`` subset drawn by
``RandomState(random_seed)`` and ``xflip`` doubling the dataset with mirrored copies.
"""

import json
import os

import numpy as np
import torch

from thygan.data.image_files import ImageFiles, decode_image, probe_image
from thygan.errors import UserError

LABELS_FILE = "dataset.json"


class ImageFolderDataset(torch.utils.data.Dataset):
    """Images [C, H, W] uint8 and labels [label_dim] float32 from a folder or zip.

    Every image header is checked at construction, so mixed sizes fail at once, naming a file.
    Safe in DataLoader workers: the zip is reopened in each worker process.

    Args:
        path: Dataset folder or zip.
        resolution: Expected image size; None accepts whatever the (square) images are.
        use_labels: Return dataset.json labels; refuses a dataset without them.
        max_size: Keep a random subset of this many images (None = all).
        xflip: Append a horizontally mirrored copy of every image (doubles the length).
        random_seed: Seed of the subset draw.
    """

    def __init__(self, path: str | os.PathLike, *,
                 resolution: int | None = None,  # expected H = W in pixels, None = any
                 use_labels: bool = False,       # return labels from dataset.json
                 max_size: int | None = None,    # random subset size, None = all images
                 xflip: bool = False,            # append mirrored copies (2x length)
                 random_seed: int = 0):          # seed of the subset draw
        self.path = str(path)
        self.name = os.path.splitext(os.path.basename(os.path.normpath(self.path)))[0]
        self.use_labels = use_labels
        self._files = ImageFiles(path)
        if not self._files.names:
            raise UserError(f"{self.path}: no image files found")
        self.image_shape = self._check_image_shapes(resolution)
        self._raw_labels, self.class_names = self._read_labels()
        if use_labels and self._raw_labels is None:
            raise UserError(f"{self.path}: labels requested but {LABELS_FILE} has none "
                            f"(prepare a labelled source with dataset_tool.py)")
        self.labels_available = self._raw_labels is not None
        self.label_shape = self._label_shape()
        self._raw_idx, self._xflip = _select_indices(len(self._files), max_size=max_size, xflip=xflip,
                                                     random_seed=random_seed)

    def _check_image_shapes(self, resolution: int | None) -> tuple[int, int, int]:
        shapes = {}
        for name in self._files.names:
            with self._files.open(name) as file:
                shapes.setdefault(probe_image(file, f"{self.path}/{name}"), name)
        first_shape, first_name = next(iter(shapes.items()))
        if len(shapes) > 1:
            (other_shape, other_name), *_ = list(shapes.items())[1:]
            raise UserError(f"{self.path}: images differ in size or channels: {first_name} is "
                            f"{_shape_str(first_shape)}, {other_name} is {_shape_str(other_shape)}")
        channels, height, width = first_shape
        if height != width:
            raise UserError(f"{self.path}: images must be square, got {_shape_str(first_shape)}")
        if resolution is not None and width != resolution:
            raise UserError(f"{self.path}: images are {width}x{height}, expected {resolution}x{resolution}")
        return first_shape

    def _read_labels(self) -> tuple[np.ndarray | None, list[str] | None]:
        """The per-image labels in file order (int64 [N] or float32 [N, D]) and the class names."""
        if not self._files.has(LABELS_FILE):
            return None, None
        where = f"{self.path}/{self._files.prefix}{LABELS_FILE}"
        try:
            meta = json.loads(self._files.read(LABELS_FILE))
        except (ValueError, UnicodeDecodeError) as exc:
            raise UserError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise UserError(f"{where}: expected an object with a 'labels' key")
        class_names = _parse_class_names(meta.get("class_names"), where)
        if meta.get("labels") is None:
            return None, class_names
        labels = _parse_label_table(meta["labels"], self._files.names, where)
        if labels.dtype == np.int64 and class_names is not None and labels.max() >= len(class_names):
            raise UserError(f"{where}: label {labels.max()} has no entry in class_names "
                            f"({len(class_names)} names)")
        return labels, class_names

    def _label_shape(self) -> tuple[int, ...]:
        if not self.use_labels:
            return (0,)
        if self._raw_labels.dtype == np.int64:
            # class_names also counts classes without images (a subset may lack the last class).
            num_classes = len(self.class_names) if self.class_names else int(self._raw_labels.max()) + 1
            return (num_classes,)
        return tuple(self._raw_labels.shape[1:])

    def __len__(self) -> int:
        return len(self._raw_idx)

    def __getitem__(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        """Image [C, H, W] uint8 (mirrored in the xflip half) and its label [label_dim] float32."""
        name = self._files.names[self._raw_idx[idx]]
        image = decode_image(self._files.read(name), f"{self.path}/{name}").transpose(2, 0, 1)
        if image.shape != self.image_shape:
            raise UserError(f"{self.path}: {name} is {_shape_str(image.shape)}, "
                            f"expected {_shape_str(self.image_shape)}")
        if self._xflip[idx]:
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image), self.get_label(idx)

    def get_label(self, idx: int) -> np.ndarray:
        """Label [label_dim] float32 of item ``idx``: one-hot for class indices, [0] without labels."""
        if not self.use_labels:
            return np.zeros(self.label_shape, dtype=np.float32)
        label = self._raw_labels[self._raw_idx[idx]]
        if self._raw_labels.dtype == np.int64:
            onehot = np.zeros(self.label_shape, dtype=np.float32)
            onehot[label] = 1
            return onehot
        return label.astype(np.float32)

    def image_name(self, idx: int) -> str:
        """Relative path of the file behind item ``idx``."""
        return self._files.names[self._raw_idx[idx]]

    def close(self) -> None:
        """Release the zip handle (reopened on the next read)."""
        self._files.close()

    @property
    def num_channels(self) -> int:
        return self.image_shape[0]

    @property
    def resolution(self) -> int:
        return self.image_shape[2]

    @property
    def label_dim(self) -> int:
        return int(np.prod(self.label_shape))

    @property
    def has_labels(self) -> bool:
        return self.label_dim > 0

    @property
    def has_onehot_labels(self) -> bool:
        return self.has_labels and self._raw_labels.dtype == np.int64


def _select_indices(num_raw: int, *, max_size: int | None, xflip: bool,
                    random_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw file index and mirror flag of every item: subset first, then the mirrored half."""
    raw_idx = np.arange(num_raw, dtype=np.int64)
    if max_size is not None:
        if max_size < 1:
            raise UserError(f"max_size: expected a positive number of images, got {max_size}")
        if max_size < num_raw:
            # Shuffle-then-sort keeps file order within the subset, as the reference does.
            np.random.RandomState(random_seed % (1 << 31)).shuffle(raw_idx)
            raw_idx = np.sort(raw_idx[:max_size])
    flip = np.zeros(len(raw_idx), dtype=bool)
    if xflip:
        raw_idx = np.concatenate([raw_idx, raw_idx])
        flip = np.concatenate([flip, np.ones_like(flip)])
    return raw_idx, flip


def _parse_class_names(value: object, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(name, str) for name in value):
        raise UserError(f"{where}: 'class_names' must be a non-empty list of strings")
    return value


def _parse_label_table(table: object, names: list[str], where: str) -> np.ndarray:
    """Labels of ``names`` from ``[[relpath, label], ...]``: int64 [N] or float32 [N, D]."""
    if not isinstance(table, list) or not all(isinstance(row, list) and len(row) == 2 for row in table):
        raise UserError(f"{where}: 'labels' must be a list of [relpath, label] pairs or null")
    by_name = {str(path).replace("\\", "/"): label for path, label in table}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise UserError(f"{where}: no label for {len(missing)} of {len(names)} images (first: {missing[0]})")
    values = [by_name[name] for name in names]
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        labels = np.array(values, dtype=np.int64)
        if labels.min() < 0:
            raise UserError(f"{where}: class labels must be >= 0, got {labels.min()}")
        return labels
    try:
        labels = np.array(values, dtype=np.float32)
    except (TypeError, ValueError):
        labels = None
    if labels is None or labels.ndim != 2:
        raise UserError(f"{where}: labels must be all class indices (int) or all vectors of equal length")
    return labels


def _shape_str(shape: tuple[int, ...]) -> str:
    channels, height, width = shape
    return f"{width}x{height} with {channels} channel{'s' if channels != 1 else ''}"
