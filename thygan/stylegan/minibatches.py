"""The real images of a training run: the dataset, its label table (fakes draw their labels from it) and
the stream of minibatches every process reads its slice of."""

import os
from collections.abc import Iterator

import numpy as np
import torch

from thygan.data.dataset import ImageFolderDataset
from thygan.stylegan.training_options import DataOptions, TrainingOptions


def open_dataset(data: DataOptions, *, seed: int) -> ImageFolderDataset:
    return ImageFolderDataset(data.path, use_labels=data.use_labels, max_size=data.max_size, xflip=data.xflip,
                              random_seed=seed)


def label_table_of(dataset) -> torch.Tensor:
    """[N, label_dim] float32: every training image's label (fakes draw their labels from it)."""
    if dataset.label_dim == 0:
        return torch.zeros([1, 0])
    return torch.from_numpy(np.stack([dataset.get_label(i) for i in range(len(dataset))])).float()


class InfiniteBatches:
    """Global minibatches in a seeded, epoch-wise shuffled order; process r reads its slice of each.

    Minibatch b of the run is the same images whatever the number of processes or where a run was
    resumed, which is what exact resume and multi-process equivalence need.
    """

    def __init__(self, size: int, *, batch_size: int, seed: int, rank: int, world_size: int, start_batch: int):
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.per_process = batch_size // world_size
        self.offset = rank * self.per_process
        self.position = start_batch * batch_size

    def _epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.RandomState([self.seed, epoch]).permutation(self.size)

    def __iter__(self) -> Iterator[int]:
        epoch, cached = -1, None
        while True:
            for j in range(self.per_process):
                global_index = self.position + self.offset + j
                if global_index // self.size != epoch:
                    epoch = global_index // self.size
                    cached = self._epoch_order(epoch)
                yield int(cached[global_index % self.size])
            self.position += self.batch_size


def _usable_workers(requested: int) -> int:
    """--workers capped at the CPUs this process may use: more workers than cores only contend (and
    torch warns about it), and the sampler fixes the image order whatever the worker count."""
    return min(requested, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def minibatch_loader(dataset, opts: TrainingOptions, info, *, start_batch: int, device: torch.device):
    """Yield (real_img [B, C, R, R] float32 in [-1, 1], real_c [B, label_dim]) for this process."""
    sampler = InfiniteBatches(len(dataset), batch_size=opts.batch_size, seed=opts.random_seed, rank=info.rank,
                              world_size=info.world_size, start_batch=start_batch)
    per_process = opts.batch_size // info.world_size
    workers = _usable_workers(opts.data.workers)
    loader = torch.utils.data.DataLoader(
        dataset, sampler=sampler, batch_size=per_process, num_workers=workers,
        pin_memory=device.type == "cuda", prefetch_factor=2 if workers > 0 else None,
        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(opts.random_seed))
    for images, labels in loader:
        # uint8 crosses to the device (4x less traffic than float), conversion happens there.
        images = images.to(device, non_blocking=True).to(torch.float32) / 127.5 - 1
        yield images, labels.to(device, non_blocking=True).to(torch.float32)
