"""What the training loop reads and writes around the optimisation itself: the data stream, image
grids, the tick line, stats.jsonl / TensorBoard, and metrics at snapshots."""

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dnnlib.duration import format_duration
from thygan.stylegan.training_options import AugmentOptions, DataOptions, TrainingOptions


def open_dataset(data: DataOptions, *, seed: int):
    from thygan.data.dataset import ImageFolderDataset

    return ImageFolderDataset(data.path, use_labels=data.use_labels, max_size=data.max_size, xflip=data.xflip,
                              random_seed=seed)


def label_table(dataset) -> torch.Tensor:
    """[N, label_dim] float32: every training image's label (fakes draw their labels from it)."""
    if dataset.label_dim == 0:
        return torch.zeros([1, 0])
    return torch.from_numpy(np.stack([dataset.get_label(i) for i in range(len(dataset))])).float()


def build_augment_pipe(options: AugmentOptions, device: torch.device):
    """The ADA pipeline, or None when augmentation is off (reference: only if p > 0 or ADA adjusts it)."""
    if options.mode == "noaug" or (options.p == 0 and options.target is None):
        return None
    from thygan.stylegan.augment import build_augment_pipe as build

    pipe = build(options.pipe).train().requires_grad_(False).to(device)
    pipe.p.copy_(torch.as_tensor(options.p))
    return pipe


def describe_paths(device: torch.device, compile_backend: str | None = None) -> str:
    from torch_utils.ops.impl_report import describe_op_paths

    ops = " ".join(f"{op}={impl}" for op, impl in describe_op_paths(device).items())
    compiled = f"torch.compile({compile_backend}) for Gmain/Dmain, eager for Greg/Dreg" if compile_backend else "eager"
    return f"device {device}; ops: {ops}; step: {compiled}"


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
        from thygan.stylegan.sampling import to_uint8

        device = next(G_ema.parameters()).device
        if self.grid_z.numel() == 0:
            generator = torch.Generator().manual_seed(self.seed)
            self.grid_z = torch.randn([self.rows * self.cols, G_ema.z_dim], generator=generator)
        images = [to_uint8(G_ema(z.to(device), c.to(device), noise_mode="const"))
                  for z, c in zip(self.grid_z.split(8), self.grid_c.split(8))]
        images = np.concatenate(images)
        return images.reshape(self.rows, self.cols, *images.shape[1:])


def save_grid(path: Path, images: np.ndarray) -> None:
    from thygan.io.images import image_grid, save_png

    save_png(path, image_grid(images, padding=0))


def tick_line(progress, timing: dict, augment_p: float, stats: dict) -> str:
    """One fixed-width line per tick; ``-`` for a loss no phase computed in this tick (a lazy
    regularization phase runs only every G/D_reg_interval minibatches)."""
    def mean(name: str, spec: str) -> str:
        entry = stats.get(name)
        return format(entry["mean"], spec) if entry and entry.get("n", 1) > 0 else format("-", spec[:2] + "s")

    return (f"tick {progress.tick:<5d} kimg {progress.cur_nimg / 1000:<8.1f} "
            f"time {format_duration(timing['total_sec']):<9s} sec/tick {timing['sec_per_tick']:<7.1f} "
            f"sec/kimg {timing['sec_per_kimg']:<7.2f} cpumem {timing['cpumem_gb']:<5.2f} "
            f"gpumem {timing['gpumem_gb']:<5.2f} augment {augment_p:<6.3f} "
            f"loss/G {mean('Loss/G/loss', '<6.3f')} loss/D {mean('Loss/D/loss', '<6.3f')} "
            f"r1 {mean('Loss/r1_penalty', '<7.4f')} pl {mean('Loss/pl_penalty', '.4f')}").rstrip()


def open_tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        print(f"Skipping tfevents export: {exc}")
        return None
    return SummaryWriter(str(run_dir))


def append_stats(run_dir: Path, progress, timing: dict, augment_p: float, stats: dict, tensorboard) -> None:
    """One JSON line per tick in stats.jsonl (reference format) and the same scalars in TensorBoard."""
    record = dict(stats)
    record.update({
        "Progress/tick": {"n": 1, "mean": progress.tick, "std": 0},
        "Progress/kimg": {"n": 1, "mean": progress.cur_nimg / 1000, "std": 0},
        "Progress/augment": {"n": 1, "mean": augment_p, "std": 0},
        "Timing/sec_per_tick": {"n": 1, "mean": timing["sec_per_tick"], "std": 0},
        "Timing/sec_per_kimg": {"n": 1, "mean": timing["sec_per_kimg"], "std": 0},
        "Timing/total_sec": {"n": 1, "mean": timing["total_sec"], "std": 0},
        "Resources/cpu_mem_gb": {"n": 1, "mean": timing["cpumem_gb"], "std": 0},
        "Resources/peak_gpu_mem_gb": {"n": 1, "mean": timing["gpumem_gb"], "std": 0},
    })
    record["timestamp"] = time.time()
    with open(run_dir / "stats.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    if tensorboard is not None:
        for name, value in record.items():
            if name != "timestamp" and np.isfinite(value["mean"]):
                tensorboard.add_scalar(name, value["mean"], global_step=progress.cur_nimg // 1000)
        tensorboard.flush()


def run_metrics(opts: TrainingOptions, G_ema, snapshot_path: Path, run_dir: Path, device: torch.device) -> None:
    """Evaluate the requested metrics on G_ema; each appends to metric-<name>.jsonl in the run folder."""
    if not opts.metrics:
        return
    from thygan.metrics.registry import run_metric_for_training

    for name in opts.metrics:
        run_metric_for_training(name, G_ema=G_ema, data=opts.data, snapshot_path=snapshot_path, run_dir=run_dir,
                                device=device)
