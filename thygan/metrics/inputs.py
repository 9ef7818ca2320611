"""The two sides a metric compares, for the two ways metrics are run:

- ``NetworkInputs``: a generator against its training dataset (training snapshots, ``--network``).
  Generated labels follow the dataset's label distribution (drawn with a fixed seed), as the
  reference samples them; per-class metrics generate each class and read that class's reals.
- ``FolderInputs``: two folders of images (``--real``/``--fake``), e.g. CycleGAN or pix2pix outputs.
"""

from pathlib import Path

import numpy as np
import torch

from thygan.errors import UserError
from thygan.metrics.sources import DatasetImages, FolderImages, GeneratedImages
from thygan.metrics.stats_cache import content_hash, stats_key


class NetworkInputs:
    """Generator G against the dataset at ``data_path``.

    Args:
        G: The generator (G_ema); used where it lives.
        data_path: Dataset folder or zip (dataset_tool layout).
        xflip: Add mirrored reals (the reference's --mirror).
        max_size: Use the training subset of this size (--subset), drawn with ``subset_seed``.
        seed: First latent seed; also seeds the draw of generated labels.
        network_identity: Hash of the network file, so an interrupted generated pass can resume.
        cache: Cache folder (content hashes).
    """

    def __init__(self, G: torch.nn.Module, *, data_path: str, xflip: bool = False,
                 max_size: int | None = None, subset_seed: int = 0, seed: int = 0,
                 network_identity: str | None = None, cache: Path, class_names: list[str] | None = None):
        from thygan.data.dataset import ImageFolderDataset

        self.G, self.seed, self.network_identity, self.cache = G, seed, network_identity, cache
        self.data_path, self.xflip = str(data_path), xflip
        self.max_size, self.subset_seed = max_size, subset_seed
        try:
            self.dataset = ImageFolderDataset(data_path, use_labels=G.c_dim > 0, xflip=xflip,
                                              max_size=max_size, random_seed=subset_seed)
        except UserError as exc:
            raise UserError(f"--data: {exc}") from None
        self._check_compatible()
        self.class_names = self.dataset.class_names or class_names
        self._content: str | None = None

    def _check_compatible(self) -> None:
        ds, G = self.dataset, self.G
        if ds.resolution != G.img_resolution or ds.num_channels != G.img_channels:
            raise UserError(f"--data: {self.data_path} has {ds.resolution}px images with {ds.num_channels} "
                            f"channels, the network makes {G.img_resolution}px with {G.img_channels}")
        if ds.label_dim != G.c_dim:
            raise UserError(f"--data: {self.data_path} has {ds.label_dim}-dim labels, the network expects "
                            f"{G.c_dim}")

    @property
    def num_classes(self) -> int:
        """Classes for per-class metrics (0 when labels are absent or not class indices)."""
        return self.dataset.label_dim if self.dataset.has_onehot_labels else 0

    def _content_identity(self) -> str:
        if self._content is None:
            self._content = content_hash(self.data_path, cache=self.cache, what="--data")
        return self._content

    def _class_of_items(self) -> np.ndarray:
        return np.array([int(np.argmax(self.dataset.get_label(i))) for i in range(len(self.dataset))])

    def reals(self, *, class_index: int | None = None, max_items: int | None = None) -> DatasetImages:
        """Dataset items in order (optionally one class), the first ``max_items`` of them."""
        indices = np.arange(len(self.dataset))
        if class_index is not None:
            indices = indices[self._class_of_items() == class_index]
        indices = indices[:max_items]
        subset_seed = self.subset_seed if self.max_size else None
        identity = stats_key(self._content_identity(), f"xflip={self.xflip}", f"max_size={self.max_size}",
                             f"subset_seed={subset_seed}", f"class={class_index}")
        label = self.dataset.name + ("" if class_index is None else f"-class{class_index}")
        return DatasetImages(self.dataset, indices.tolist(), label=label, identity=identity)

    def fakes(self, count: int, *, class_index: int | None = None) -> GeneratedImages:
        """``count`` images, seeds seed..seed+count-1; labels drawn from the data, or all ``class_index``."""
        labels = np.zeros([count, self.G.c_dim], np.float32)
        if class_index is not None:
            labels[:, class_index] = 1
        elif self.G.c_dim > 0:
            picks = np.random.RandomState(self.seed).randint(len(self.dataset), size=count)
            labels = np.stack([self.dataset.get_label(int(i)) for i in picks]).astype(np.float32)
        identity = None
        if self.network_identity is not None:
            identity = stats_key(self.network_identity, self.seed, stats_key(labels.tobytes()))
        label = "generated" + ("" if class_index is None else f"-class{class_index}")
        return GeneratedImages(self.G, labels, first_seed=self.seed, label=label, identity=identity)


class FolderInputs:
    """Images of ``fake_dir`` against those of ``real_dir`` (folders or zips, any image sizes)."""

    class_names = None
    num_classes = 0

    def __init__(self, real_dir: str, fake_dir: str, *, cache: Path):
        self.real_dir, self.fake_dir, self.cache = real_dir, fake_dir, cache

    def reals(self, *, class_index: int | None = None, max_items: int | None = None) -> FolderImages:
        identity = content_hash(self.real_dir, cache=self.cache, what="--real")
        return FolderImages(self.real_dir, what="--real", limit=max_items, identity=identity)

    def fakes(self, count: int, *, class_index: int | None = None) -> FolderImages:
        images = FolderImages(self.fake_dir, what="--fake", limit=count,
                              identity=content_hash(self.fake_dir, cache=self.cache, what="--fake"))
        if len(images) < count:
            raise UserError(f"--fake: {count} images are needed, {self.fake_dir} has {len(images)} "
                            f"(choose a metric with a smaller count, e.g. fid{len(images)}_full)")
        return images
