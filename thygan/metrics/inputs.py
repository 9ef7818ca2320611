"""The two sides a metric compares, for the two ways metrics are run:

- ``NetworkInputs``: a generator against its training dataset (training snapshots, ``--network``).
  Generated labels follow the dataset's label distribution (drawn with a fixed seed), as the
  reference samples them; per-class metrics generate each class and read that class's reals.
- ``FolderInputs``: two folders of images (``--real``/``--fake``), e.g. CycleGAN or pix2pix outputs.
"""

from pathlib import Path

import numpy as np
import torch

from thygan.data.dataset import ImageFolderDataset
from thygan.errors import UserError
from thygan.metrics.sources import DatasetImages, FolderImages, GeneratedImages
from thygan.metrics.stats_cache import content_hash, stats_key


class NetworkInputs:
    """Generator G against the dataset at ``data_path``.

    The reals follow the reference's metric_main.py: always the whole dataset (a training ``--subset``
    is ignored, ``max_size=None``); the mirrored copies of a mirrored dataset only for the legacy
    metrics (``MetricSpec.mirrored_reals``), never for ``*_full``, which set ``xflip=False``.

    Args:
        G: The generator (G_ema); used where it lives.
        data_path: Dataset folder or zip (dataset_tool layout).
        xflip: The dataset is mirrored (the run's --mirror, or calc_metrics --mirror); legacy metrics add
            the mirrored reals after the originals, as the reference's doubled dataset does.
        seed: First latent seed; also seeds the draw of generated labels.
        network_identity: Hash of the network file, so an interrupted generated pass can resume.
        cache: Cache folder (content hashes).
        what: Where ``data_path`` came from, to start error messages (the flag, or the network file).
    """

    def __init__(self, G: torch.nn.Module, *, data_path: str, xflip: bool = False, seed: int = 0,
                 network_identity: str | None = None, cache: Path, class_names: list[str] | None = None,
                 what: str = "--data"):
        self.G, self.seed, self.network_identity, self.cache = G, seed, network_identity, cache
        self.data_path, self.xflip, self.what = str(data_path), xflip, what
        try:
            self.dataset = ImageFolderDataset(data_path, use_labels=G.c_dim > 0, xflip=xflip, max_size=None)
        except UserError as exc:
            raise UserError(f"{what}: {exc}") from None
        # With xflip the dataset is [originals..., mirrored copies...] (thygan.data.dataset).
        self.num_images = len(self.dataset) // 2 if xflip else len(self.dataset)
        self._check_compatible()
        self.class_names = self.dataset.class_names or class_names
        self._content: str | None = None

    def _check_compatible(self) -> None:
        ds, G = self.dataset, self.G
        if ds.resolution != G.img_resolution or ds.num_channels != G.img_channels:
            raise UserError(f"{self.what}: {self.data_path} has {ds.resolution}px images with {ds.num_channels} "
                            f"channels, the network makes {G.img_resolution}px with {G.img_channels}")
        if ds.label_dim != G.c_dim:
            raise UserError(f"{self.what}: {self.data_path} has {ds.label_dim}-dim labels, the network expects "
                            f"{G.c_dim}")

    @property
    def num_classes(self) -> int:
        """Classes for per-class metrics (0 when labels are absent or not class indices)."""
        return self.dataset.label_dim if self.dataset.has_onehot_labels else 0

    def _content_identity(self) -> str:
        if self._content is None:
            self._content = content_hash(self.data_path, cache=self.cache, what=self.what)
        return self._content

    def _items(self, *, class_index: int | None, max_items: int | None, mirrored: bool) -> np.ndarray:
        indices = np.arange(len(self.dataset) if mirrored and self.xflip else self.num_images)
        if class_index is not None:
            classes = np.array([int(np.argmax(self.dataset.get_label(int(i)))) for i in indices])
            indices = indices[classes == class_index]
        return indices[:max_items]

    def count_reals(self, *, class_index: int | None = None, max_items: int | None = None,
                    mirrored: bool = False) -> int:
        """How many reals ``reals`` with the same arguments reads (cheap: no image is decoded)."""
        return len(self._items(class_index=class_index, max_items=max_items, mirrored=mirrored))

    def reals(self, *, class_index: int | None = None, max_items: int | None = None,
              mirrored: bool = False) -> DatasetImages:
        """Dataset items in order (optionally one class), the first ``max_items`` of them.

        Args:
            mirrored: Include the mirrored copies when the dataset is mirrored (legacy metrics).
        """
        indices = self._items(class_index=class_index, max_items=max_items, mirrored=mirrored)
        xflip = mirrored and self.xflip
        identity = stats_key(self._content_identity(), f"xflip={xflip}", f"class={class_index}")
        label = self.dataset.name + ("" if class_index is None else f"-class{class_index}")
        return DatasetImages(self.dataset, indices.tolist(), label=label, identity=identity)

    def fakes(self, count: int, *, class_index: int | None = None) -> GeneratedImages:
        """``count`` images, seeds seed..seed+count-1; labels drawn from the data, or all ``class_index``."""
        labels = np.zeros([count, self.G.c_dim], np.float32)
        if class_index is not None:
            labels[:, class_index] = 1
        elif self.G.c_dim > 0:
            picks = np.random.RandomState(self.seed).randint(self.num_images, size=count)
            labels = np.stack([self.dataset.get_label(int(i)) for i in picks]).astype(np.float32)
        identity = None
        if self.network_identity is not None:
            identity = stats_key(self.network_identity, self.seed, stats_key(labels.tobytes()))
        label = "generated" + ("" if class_index is None else f"-class{class_index}")
        return GeneratedImages(self.G, labels, first_seed=self.seed, label=label, identity=identity)


class FolderInputs:
    """Images of ``fake_dir`` against those of ``real_dir`` (folders or zips, any image sizes).

    Both folders are listed here, so a wrong path is refused before any metric runs.
    ``real_dir`` may be None when only is<N> metrics are wanted.
    """

    class_names = None
    num_classes = 0

    def __init__(self, real_dir: str | None, fake_dir: str, *, cache: Path):
        self.real_dir, self.fake_dir, self.cache = real_dir, fake_dir, cache
        self._num_reals = _count_images(real_dir, "--real") if real_dir is not None else 0
        self._num_fakes = _count_images(fake_dir, "--fake")

    def count_reals(self, *, class_index: int | None = None, max_items: int | None = None,
                    mirrored: bool = False) -> int:
        return self._num_reals if max_items is None else min(self._num_reals, max_items)

    def reals(self, *, class_index: int | None = None, max_items: int | None = None,
              mirrored: bool = False) -> FolderImages:
        """The first ``max_items`` real images (a folder has no mirrored copies: ``mirrored`` is moot)."""
        if self.real_dir is None:
            raise UserError("--real: give the folder of real images (only is<N> metrics work without it)")
        identity = content_hash(self.real_dir, cache=self.cache, what="--real")
        return FolderImages(self.real_dir, what="--real", limit=max_items, identity=identity)

    def fakes(self, count: int, *, class_index: int | None = None) -> FolderImages:
        if self._num_fakes < count:
            raise UserError(f"--fake: {count} images are needed, {self.fake_dir} has {self._num_fakes} "
                            f"(choose a metric with a smaller count, e.g. fid{self._num_fakes}_full)")
        return FolderImages(self.fake_dir, what="--fake", limit=count,
                            identity=content_hash(self.fake_dir, cache=self.cache, what="--fake"))


def _count_images(path: str, flag: str) -> int:
    """Image files in a folder or zip; a missing path or one without images is a UserError."""
    count = len(FolderImages(path, what=flag))
    if count == 0:
        raise UserError(f"{flag}: no image files in '{path}' (expected a folder or zip of image files)")
    return count
