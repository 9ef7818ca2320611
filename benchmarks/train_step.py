"""Training step time per phase (G main, G reg, D main, D reg, augment, data, EMA) and sec/kimg.

    python benchmarks/train_step.py                          # cpu32@32 and cpu64@64 on CPU
    python benchmarks/train_step.py --reps=10 --warmup=3     # steadier medians
    python benchmarks/train_step.py --configs=paper512@512   # on a CUDA machine: batch 64, batch_gpu 8

Every configuration is resolved as `train.py --cond=1 --cfg=<cfg>` resolves it (default batch and
batch_gpu of the preset) on a 3-class dataset of noise PNGs written to a temporary folder (noise is
incompressible like tissue tiles, so decoding is not flattered). Each phase is one call of the
loop's own `step_phases` with only that phase: its chunks' forward and backward passes, the
running-average update, gradient clean-up and the Adam step. `data` is the time `next()` on the
loop's minibatch loader blocks between steps. The amortized step weights each regularization phase
by 1/interval, as lazy regularization runs it; sec/kimg = amortized step / batch * 1000.
Augmentation is not inside the phase times: `augment` is the ADA pipe's forward over one minibatch
at p=1 (the worst case; D sees up to three such passes per step).

Times are medians over --reps repetitions after --warmup; CUDA times are taken between
synchronizations, so they include the whole queued work.
"""

import math
import statistics
import tempfile
import time
from pathlib import Path

import click
import numpy as np

from thygan.cli.command import Command
from thygan.errors import UserError

PHASE_ORDER = ("data", "Gmain", "Greg", "Dmain", "Dreg", "augment", "ema")


def write_noise_dataset(root: Path, *, resolution: int, count: int, classes: int = 3) -> Path:
    """``count`` uniform-noise PNGs in the dataset_tool layout, labels k mod ``classes``."""
    import json

    from thygan.io.images import save_png

    rng = np.random.default_rng(0)
    labels = []
    for idx in range(count):
        name = f"00000/img{idx:08d}.png"
        save_png(root / name, rng.integers(0, 256, size=[resolution, resolution, 3], dtype=np.uint8))
        labels.append([name, idx % classes])
    (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


def parse_configs(text: str) -> list[tuple[str, int]]:
    """'cpu32@32,paper512@512' -> [('cpu32', 32), ('paper512', 512)]."""
    from thygan.stylegan.presets import PRESETS

    configs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        cfg, _, res = item.partition("@")
        if cfg not in PRESETS or not res.isdigit() or int(res) < 4 or int(res) & (int(res) - 1):
            raise UserError(f"--configs: '{item}' is not <preset>@<power-of-two resolution> "
                            f"(presets: {', '.join(PRESETS.names())})")
        configs.append((cfg, int(res)))
    return configs


def config_device(cfg: str, requested: str) -> str | None:
    """CPU presets run on the CPU, the others on CUDA; None when the wanted device is missing."""
    import torch

    from thygan.stylegan.presets import PRESETS

    if requested == "auto":
        requested = "cpu" if PRESETS.get(cfg).cpu else "cuda"
    if requested == "cuda" and not torch.cuda.is_available():
        return None
    return requested


class Timer:
    """Collects wall times per name; synchronizes CUDA around each timed call."""

    def __init__(self, device):
        self.device = device
        self.times: dict[str, list[float]] = {}

    def _sync(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def run(self, name: str, fn, *args, record: bool, **kwargs):
        """Return ``fn(*args, **kwargs)``; its wall time is kept under ``name`` when ``record``."""
        self._sync()
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self._sync()
        if record:
            self.times.setdefault(name, []).append(time.perf_counter() - start)
        return result

    def median(self, name: str) -> float | None:
        return statistics.median(self.times[name]) if name in self.times else None


def build_training(cfg: str, resolution: int, data_dir: Path, *, device: str, workers: int):
    """Options, networks, loss and phases exactly as the training loop builds them."""
    import copy

    import torch

    from thygan.data.dataset import ImageFolderDataset
    from thygan.stylegan.loss import StyleGAN2Loss
    from thygan.stylegan.networks import Discriminator, Generator
    from thygan.stylegan.training_loop import build_phases
    from thygan.stylegan.training_options import TrainFlags, resolve_training_options

    dataset = ImageFolderDataset(data_dir, use_labels=True)
    flags = TrainFlags(data=str(data_dir), cfg=cfg, cond=True, aug="noaug", workers=workers, device=device)
    opts, _ = resolve_training_options(flags, dataset, device)
    torch.manual_seed(0)
    G = Generator(**opts.G_kwargs).train().requires_grad_(False).to(device)
    D = Discriminator(**opts.D_kwargs).train().requires_grad_(False).to(device)
    G_ema = copy.deepcopy(G).eval()
    loss = StyleGAN2Loss(G, D, config=opts.loss, device=device)
    return opts, dataset, G, G_ema, loss, build_phases(G, D, opts)


def augment_batch(pipe, images, batch_gpu: int) -> list:
    """The pipe over one minibatch in the chunks D sees (batch_gpu images per pass)."""
    return [pipe(chunk) for chunk in images.split(batch_gpu)]


def time_config(cfg: str, resolution: int, *, device: str, workers: int, reps: int, warmup: int) -> dict:
    """Median seconds per phase for one preset, and the derived step times."""
    import importlib.util

    import torch

    from thygan.stylegan.minibatches import label_table_of, minibatch_loader
    from thygan.stylegan.snapshot import Progress
    from thygan.stylegan.training_loop import build_augment_pipe, step_phases, update_ema
    from thygan.stylegan.training_options import AugmentOptions
    from torch_utils import distributed
    from torch_utils.training_stats import StatsAccumulator

    dev = torch.device(device)
    torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = write_noise_dataset(Path(tmp) / "data", resolution=resolution, count=64)
        opts, dataset, G, G_ema, loss, phases = build_training(cfg, resolution, data_dir, device=device,
                                                               workers=workers)
        info = distributed.process_info()
        loader = minibatch_loader(dataset, opts, info, start_batch=0, device=dev)
        label_table = label_table_of(dataset)
        stats, ada_stats = StatsAccumulator(dev), StatsAccumulator(dev)
        pipe = None
        if importlib.util.find_spec("thygan.stylegan.augment") is not None:
            pipe = build_augment_pipe(AugmentOptions(mode="fixed", p=1.0, target=None), dev)
        # Every phase is due at a batch index divisible by all intervals; stepping by their lcm keeps
        # it so while the seeds (and so the latents) still change from one repetition to the next.
        stride = math.lcm(*(phase.interval for phase in phases))
        progress = Progress()
        timer = Timer(dev)
        for rep in range(warmup + reps):
            record = rep >= warmup
            real_img, real_c = timer.run("data", next, loader, record=record)
            for phase in phases:
                timer.run(phase.name, step_phases, [phase], loss, opts, real_img, real_c, label_table,
                          progress, stats, ada_stats, info, dev, record=record)
            if pipe is not None:
                with torch.no_grad():
                    timer.run("augment", augment_batch, pipe, real_img, opts.batch_gpu, record=record)
            timer.run("ema", update_ema, G_ema, G, opts=opts, cur_nimg=progress.cur_nimg, record=record)
            progress.batch_idx += stride
            progress.cur_nimg += opts.batch_size
        del loader  # stops the loader's worker processes before the folder goes away
    return summarize(timer, phases, cfg=cfg, resolution=resolution, device=device, opts=opts, augment=pipe)


def summarize(timer: Timer, phases, *, cfg: str, resolution: int, device: str, opts, augment) -> dict:
    """Per-phase medians plus amortized G step, D step, whole step and sec/kimg."""
    medians = {name: timer.median(name) for name in PHASE_ORDER}
    intervals = {phase.name: phase.interval for phase in phases}

    def amortized(prefix: str) -> float:
        return sum(medians[name] / intervals[name] for name in intervals if name.startswith(prefix))

    step = amortized("G") + amortized("D") + medians["data"] + medians["ema"]
    return dict(cfg=cfg, resolution=resolution, device=device, batch=opts.batch_size,
                batch_gpu=opts.batch_gpu, medians=medians, G_step=amortized("G"), D_step=amortized("D"),
                step=step, sec_per_kimg=step / opts.batch_size * 1000, augment=augment is not None)


def format_table(rows: list[dict]) -> str:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 1000:.0f}" if value >= 0.1 else f"{value * 1000:.1f}"

    lines = ["| config | device | batch (per pass) | " + " | ".join(f"{name} ms" for name in PHASE_ORDER)
             + " | G step ms | D step ms | step ms | sec/kimg |",
             "|---|---|---|" + "---:|" * (len(PHASE_ORDER) + 4)]
    for row in rows:
        cells = [ms(row["medians"][name]) for name in PHASE_ORDER]
        cells += [ms(row["G_step"]), ms(row["D_step"]), ms(row["step"]), f"{row['sec_per_kimg']:.1f}"]
        config = f"{row['cfg']}@{row['resolution']} | {row['device']} | {row['batch']} ({row['batch_gpu']})"
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--configs", default="cpu32@32,cpu64@64,paper512@512", show_default=True, metavar="LIST",
              help="Comma list of <preset>@<resolution>; non-CPU presets are skipped without CUDA.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: CPU presets on the CPU, the others on CUDA.")
@click.option("--reps", type=click.IntRange(min=1), default=5, show_default=True, metavar="INT",
              help="Timed repetitions per configuration (the median is reported).")
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True, metavar="INT",
              help="Untimed repetitions first (allocator, cuDNN autotuner, loader start).")
@click.option("--workers", type=click.IntRange(min=0), default=3, show_default=True, metavar="INT",
              help="DataLoader worker processes, as train.py --workers.")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="torch CPU threads; 0 = torch's default (1 is steadier on a machine shared with others).")
def train_step_command(configs: str, device: str, reps: int, warmup: int, workers: int, threads: int) -> None:
    """Time the training phases at each configuration and print a markdown table."""
    import platform

    import torch

    if threads:
        torch.set_num_threads(threads)

    rows = []
    for cfg, resolution in parse_configs(configs):
        dev = config_device(cfg, device)
        if dev is None:
            print(f"skipped {cfg}@{resolution}: no CUDA device")
            continue
        print(f"timing {cfg}@{resolution} on {dev}...", flush=True)
        rows.append(time_config(cfg, resolution, device=dev, workers=workers, reps=reps, warmup=warmup))
    if not rows:
        raise UserError("--configs: nothing could run on this machine")
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"\n{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"GPU {gpu}, torch {torch.__version__}; median of {reps} after {warmup} warm-up; workers {workers}")
    if not any(row["augment"] for row in rows):
        print("augment: n/a - thygan.stylegan.augment does not exist yet")
    print()
    print(format_table(rows), end="")


if __name__ == "__main__":
    train_step_command()
