"""Images a metric reads, as batches of uint8 [B, C, H, W] tensors: a training dataset (or one class
of it), a plain folder of images (CycleGAN/pix2pix outputs), or a generator sampled by seed.

Every source has a length, a short ``label`` for file names and progress bars, an ``identity``
(content-derived; None when the images cannot be identified, e.g. a generator mid-training) and
``batches(start, batch_size)``, which starts at item ``start`` so an interrupted pass resumes
exactly where it stopped.
"""

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from thygan.data.image_files import ImageFiles, decode_image
from thygan.progress import progress
from torch_utils.seeding import seed_generators, seed_latents


class DatasetImages:
    """Items ``indices`` of a dataset (ImageFolderDataset or anything yielding (uint8 CHW, label)).

    Args:
        dataset: The dataset.
        indices: Items to read, in order.
        label: Short name for files and progress.
        identity: Content identity of exactly these items, or None.
    """

    def __init__(self, dataset, indices: Sequence[int], *, label: str, identity: str | None):
        self.dataset, self.indices = dataset, list(indices)
        self.label, self.identity = label, identity

    def __len__(self) -> int:
        return len(self.indices)

    def batches(self, start: int, batch_size: int) -> Iterator[torch.Tensor]:
        for first in range(start, len(self.indices), batch_size):
            chunk = self.indices[first:first + batch_size]
            yield torch.from_numpy(np.stack([self.dataset[i][0] for i in chunk]))


def _to_gray_or_rgb(image: np.ndarray) -> np.ndarray:
    """[H, W, C] with C in 1..4 -> [C', H, W] with C' = 1 or 3 (alpha is dropped)."""
    channels = {1: 1, 2: 1, 3: 3, 4: 3}[image.shape[2]]
    return np.ascontiguousarray(image[:, :, :channels].transpose(2, 0, 1))


class FolderImages:
    """The first ``limit`` image files of a folder or zip (sorted paths, recursive), any sizes.

    Consecutive images of one size are batched together; a size change starts a new batch.
    """

    def __init__(self, path: str, *, what: str, limit: int | None = None, identity: str | None = None):
        self.files = ImageFiles(path, what=what)
        self.names = self.files.names[:limit] if limit is not None else self.files.names
        self.label = f"folder-{self.files.path.name}"
        self.identity = identity

    def __len__(self) -> int:
        return len(self.names)

    def _image(self, name: str) -> np.ndarray:
        where = (self.files.path / (self.files.prefix + name)).as_posix()  # errors name the whole path
        return _to_gray_or_rgb(decode_image(self.files.read(name), where))

    def check(self, *, verbose: bool = False) -> None:
        """Decode every image once, so a damaged file fails now (naming it), not after a long pass."""
        for name in progress(self.names, desc=f"checking {self.label}", unit="img", leave=False,
                             disable=not verbose):
            self._image(name)

    def batches(self, start: int, batch_size: int) -> Iterator[torch.Tensor]:
        pending: list[np.ndarray] = []
        for name in self.names[start:]:
            image = self._image(name)
            if pending and (len(pending) == batch_size or pending[0].shape != image.shape):
                yield torch.from_numpy(np.stack(pending))
                pending = []
            pending.append(image)
        if pending:
            yield torch.from_numpy(np.stack(pending))


class GeneratedImages:
    """Image k = G(z from seed ``first_seed + k``, label row k), with per-seed noise: image k depends on
    its seed and label only, not on the batch size or on where an interrupted pass resumed.

    Args:
        G: Generator (used on the device it lives on; not moved, not copied).
        labels: [N, c_dim] float32 labels, one row per image ([N, 0] for unconditional networks).
        first_seed: Seed of image 0.
        noise_mode: 'random' as the reference's metrics use (seeded here), 'const' or 'none'.
        truncation_psi: 1 for metrics (no truncation).
    """

    def __init__(self, G: torch.nn.Module, labels: np.ndarray, *, first_seed: int = 0,
                 label: str = "generated", identity: str | None = None, noise_mode: str = "random",
                 truncation_psi: float = 1.0):
        self.G, self.labels = G, np.asarray(labels, np.float32)
        self.first_seed, self.label, self.identity = int(first_seed), label, identity
        self.noise_mode, self.truncation_psi = noise_mode, truncation_psi

    def __len__(self) -> int:
        return len(self.labels)

    @torch.no_grad()
    def batches(self, start: int, batch_size: int) -> Iterator[torch.Tensor]:
        device = next(self.G.parameters()).device
        for first in range(start, len(self), batch_size):
            seeds = list(range(self.first_seed + first, self.first_seed + min(first + batch_size, len(self))))
            z = seed_latents(seeds, self.G.z_dim).to(device)
            c = torch.from_numpy(self.labels[first:first + len(seeds)]).to(device)
            generators = seed_generators(seeds, device) if self.noise_mode == "random" else None
            img = self.G(z, c, truncation_psi=self.truncation_psi, noise_mode=self.noise_mode,
                         noise_generators=generators)
            yield (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)
