"""The progress grids of a training run: a fixed set of reals and of latents (one row per class for
conditional data), drawn as ``reals.png``, ``fakes_init.png`` and ``fakesNNNNNN.png``."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from thygan.io.images import image_grid, save_png
from thygan.stylegan.sampling import to_uint8


@dataclass
class GridSetup:
    """Fixed reals and latents for the progress grids: one row per class for conditional data."""

    reals: np.ndarray            # [rows, cols, H, W, C] uint8
    grid_z: torch.Tensor         # [rows * cols, z_dim] (z_dim filled in lazily)
    grid_c: torch.Tensor         # [rows * cols, label_dim]
    rows: int
    cols: int
    seed: int

    @classmethod
    def from_dataset(cls, dataset, *, device: torch.device, seed: int) -> "GridSetup":
        res = dataset.resolution
        cols = int(np.clip(7680 // res, 7, 32))
        rows = int(np.clip(4320 // res, 4, 32))
        if device.type == "cpu":  # keep grids cheap where every forward pass costs seconds
            cols, rows = min(cols, 8), min(rows, 4)
        rng = np.random.RandomState(seed)
        if dataset.label_dim > 0:
            classes = [int(np.argmax(dataset.get_label(i))) for i in range(len(dataset))]
            by_class = {k: [i for i, c in enumerate(classes) if c == k] for k in sorted(set(classes))}
            rows = len(by_class)
            picks = [list(rng.choice(idx, cols, replace=len(idx) < cols)) for idx in by_class.values()]
        else:
            picks = [list(rng.choice(len(dataset), cols, replace=len(dataset) < cols)) for _ in range(rows)]
        flat = [i for row in picks for i in row]
        reals = np.stack([dataset[i][0] for i in flat]).transpose(0, 2, 3, 1)
        labels = torch.from_numpy(np.stack([dataset.get_label(i) for i in flat])).float() \
            if dataset.label_dim > 0 else torch.zeros([len(flat), 0])
        return cls(reals=reals.reshape(rows, cols, *reals.shape[1:]), grid_z=torch.empty(0), grid_c=labels,
                   rows=rows, cols=cols, seed=seed)

    @torch.no_grad()
    def fakes(self, G_ema) -> np.ndarray:
        device = next(G_ema.parameters()).device
        if self.grid_z.numel() == 0:
            generator = torch.Generator().manual_seed(self.seed)
            self.grid_z = torch.randn([self.rows * self.cols, G_ema.z_dim], generator=generator)
        images = [to_uint8(G_ema(z.to(device), c.to(device), noise_mode="const"))
                  for z, c in zip(self.grid_z.split(8), self.grid_c.split(8))]
        images = np.concatenate(images)
        return images.reshape(self.rows, self.cols, *images.shape[1:])


def save_grid(path: Path, images: np.ndarray) -> None:
    save_png(path, image_grid(images, padding=0))
