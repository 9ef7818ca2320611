"""Evidence that training learns: a conditional CPU preset trained on procedurally drawn textures,
judged by a classifier that was trained on real images only.

    python benchmarks/learns.py --outdir=out/learns                # 15 minutes of GAN training
    python benchmarks/learns.py --outdir=out/learns --minutes=1    # smoke run

1. Draw three classes of textures (discs, stripes, checkerboards) whose two colours come from one
   palette shared by every class, so only shape and texture tell the class; write a train and a
   held-out split in the dataset_tool layout.
2. Train a conditional StyleGAN2 (`--cfg`, default cpu32) on the train split for `--minutes` of
   training time (the loop's own tick timing, so set-up and snapshots are not counted).
3. Train a small CNN on the train split and report its accuracy on held-out reals, and per class
   on G_ema samples of that class ("class fidelity"), next to the same measure on the untrained
   generator (the chance level this run must beat). Also sec/kimg and kimg reached, from stats.jsonl.
4. Save `grid.png`: per class, held-out reals on the left and G_ema samples on the right.

Re-running with the same --outdir continues: the dataset is kept, an interrupted GAN run resumes
from its last snapshot with the training time left (a larger --minutes extends a finished run), a
finished one is only evaluated again.
"""

import dataclasses
import json
import time
from pathlib import Path

import click
import numpy as np

from thygan.cli.command import Command
from thygan.errors import UserError

CLASS_NAMES = ("disc", "stripes", "checker")
TRAIN_PER_CLASS = 160        # 480 training images: small, as pathology classes often are
TEST_PER_CLASS = 40          # held-out reals for the classifier
SNAPSHOT_TICKS = 5           # snapshot (resume point) every 5 ticks of 1 kimg
GRID_COLUMNS = 8             # reals and fakes shown per class in grid.png


# ----------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------

def _two_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background drawn from one palette for all classes, with enough contrast to see."""
    while True:
        fg, bg = rng.uniform(0.05, 0.95, size=[2, 3])
        if np.abs(fg - bg).mean() > 0.25:
            return fg, bg


def draw_texture(label: int, rng: np.random.Generator, resolution: int) -> np.ndarray:
    """One image [R, R, 3] uint8 of class ``label``: 0 disc, 1 stripes, 2 checkerboard.

    Position, size, orientation, period and colours are random; pixel noise is added last.
    """
    y, x = (np.mgrid[0:resolution, 0:resolution] + 0.5) / resolution  # pixel centres in [0, 1]
    if label == 0:
        cy, cx = rng.uniform(0.3, 0.7, size=2)
        radius = rng.uniform(0.18, 0.34)
        # Anti-aliased edge: coverage ramps over one pixel around the circle.
        mask = np.clip((radius - np.hypot(y - cy, x - cx)) * resolution + 0.5, 0, 1)
    else:
        angle = rng.uniform(0, np.pi)
        u = x * np.cos(angle) + y * np.sin(angle) + rng.uniform(0, 1)
        v = -x * np.sin(angle) + y * np.cos(angle) + rng.uniform(0, 1)
        period = rng.uniform(0.16, 0.3)  # 5-10 px at 32 px: resolvable, never finer than 2 px
        if label == 1:
            mask = (np.floor(u / (period / 2)) % 2).astype(np.float64)
        else:
            mask = ((np.floor(u / (period / 2)) + np.floor(v / (period / 2))) % 2).astype(np.float64)
    fg, bg = _two_colours(rng)
    image = mask[..., None] * fg + (1 - mask[..., None]) * bg
    image = image + rng.normal(0, 0.04, size=image.shape)
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def write_shapes_dataset(root: Path, *, per_class: int, resolution: int, seed: int) -> Path:
    """Write ``per_class`` images of every class in the dataset_tool layout; returns ``root``.

    Classes are interleaved (image k has class k mod 3). dataset.json is written last, so its presence
    marks a complete folder and a re-run keeps it.
    """
    from thygan.io.atomic import atomic_write_text
    from thygan.io.images import save_png

    root = Path(root)
    if (root / "dataset.json").exists():
        return root
    rng = np.random.default_rng(seed)
    labels = []
    for idx in range(per_class * len(CLASS_NAMES)):
        label = idx % len(CLASS_NAMES)
        name = f"{idx // 1000:05d}/img{idx:08d}.png"
        save_png(root / name, draw_texture(label, rng, resolution))
        labels.append([name, label])
    atomic_write_text(root / "dataset.json", json.dumps({"labels": labels, "class_names": list(CLASS_NAMES)}))
    return root


def load_images(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """-> (images [N, C, R, R] uint8, labels [N] int64) of a labelled dataset folder."""
    from thygan.data.dataset import ImageFolderDataset

    dataset = ImageFolderDataset(root, use_labels=True)
    items = [dataset[i] for i in range(len(dataset))]
    return np.stack([img for img, _ in items]), np.array([int(np.argmax(c)) for _, c in items])


# ----------------------------------------------------------------------------------------------------
# GAN training
# ----------------------------------------------------------------------------------------------------

def _augment_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("thygan.stylegan.augment") is not None


def training_seconds(run_dir: Path) -> tuple[float, float]:
    """(seconds, kimg) summed over the ticks in stats.jsonl (ticks redone after a crash count twice)."""
    path = Path(run_dir) / "stats.jsonl"
    if not path.exists():
        return 0.0, 0.0
    seconds = kimg = 0.0
    for line in path.read_text().splitlines():
        record = json.loads(line)
        tick_sec = record["Timing/sec_per_tick"]["mean"]
        seconds += tick_sec
        kimg += tick_sec / max(record["Timing/sec_per_kimg"]["mean"], 1e-12)
    return seconds, kimg


def gan_options(data_dir: Path, *, cfg: str, seed: int):
    """The run's TrainingOptions: the preset as `train.py --cond=1` resolves it, with no kimg limit."""
    from thygan.stylegan.train_launch import resolve_options
    from thygan.stylegan.training_options import TrainFlags

    flags = TrainFlags(data=str(data_dir), cfg=cfg, cond=True, metrics="none", seed=seed, snap=SNAPSHOT_TICKS,
                       workers=0,  # 32 px PNGs decode in microseconds; a worker would only take a core
                       device="cpu", aug=None if _augment_available() else "noaug")
    opts, _ = resolve_options(flags)
    opts.total_kimg = 1e9  # the wall-time budget ends the run
    return opts


def train_gan(opts, run_dir: Path, *, minutes: float) -> None:
    """Train until ``minutes`` of tick time are spent in total, resuming what an earlier call left."""
    from dnnlib.tee import Tee
    from thygan.io.atomic import atomic_write_text
    from thygan.runs import latest_snapshot
    from thygan.stylegan.train_launch import StopFlag
    from thygan.stylegan.training_loop import training_loop
    from thygan.stylegan.training_options import options_to_json

    run_dir.mkdir(parents=True, exist_ok=True)
    options_file = run_dir / "training_options.json"
    if options_file.exists() and json.loads(options_file.read_text()) != json.loads(options_to_json(opts)):
        raise UserError(f"--outdir: {run_dir} holds a run with other options (--seed/--resolution/--cfg); "
                        f"use a new --outdir")
    atomic_write_text(options_file, options_to_json(opts))
    spent, _ = training_seconds(run_dir)
    remaining = minutes * 60 - spent
    if remaining <= 0:
        print(f"{run_dir}: {spent / 60:.1f} min of training already done; evaluating it")
        return
    snapshot = latest_snapshot(run_dir)
    run_opts = dataclasses.replace(opts, resume=str(snapshot) if snapshot is not None else None)
    deadline = time.time() + remaining
    stop = StopFlag()
    previous = stop.install()
    try:
        with Tee(run_dir / "log.txt"):
            training_loop(run_opts, run_dir, stop_requested=lambda: stop() or time.time() >= deadline)
    finally:
        StopFlag.restore(previous)
    if stop():
        click.echo("interrupted: the GAN run stopped at a snapshot; run the same command again to continue",
                   err=True)
        raise SystemExit(130)


# ----------------------------------------------------------------------------------------------------
# Judge: a small CNN trained on real images
# ----------------------------------------------------------------------------------------------------

def build_classifier(num_classes: int):
    """Four 3x3 conv layers and global pooling: ample for three texture classes at 32-64 px."""
    from torch import nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(*block(3, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64),
                         nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


def _to_float(images: np.ndarray):
    import torch

    return torch.from_numpy(images).float() / 127.5 - 1


def train_classifier(images: np.ndarray, labels: np.ndarray, *, epochs: int, seed: int):
    """images: [N, C, R, R] uint8. Random flips and 90-degree turns: every class is invariant to them."""
    import torch

    torch.manual_seed(seed)
    model = build_classifier(len(CLASS_NAMES))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x_all, y_all = _to_float(images), torch.from_numpy(labels)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x_all)).split(32):
            x = torch.rot90(x_all[idx], int(torch.randint(4, [])), dims=[2, 3])
            if torch.rand([]) < 0.5:
                x = x.flip(3)
            loss = torch.nn.functional.cross_entropy(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def per_class_accuracy(model, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[num_classes] fraction of each class's images that ``model`` assigns to that class."""
    import torch

    with torch.no_grad():
        predicted = torch.cat([model(x).argmax(1) for x in _to_float(images).split(256)]).numpy()
    return np.array([np.mean(predicted[labels == k] == k) for k in range(len(CLASS_NAMES))])


def sample_per_class(G, count: int) -> tuple[np.ndarray, np.ndarray]:
    """-> (images [K * count, C, R, R] uint8, labels), seeds 0..count-1 for every class."""
    from thygan.stylegan.sampling import synthesize

    images, labels = [], []
    for k in range(len(CLASS_NAMES)):
        images += [img.transpose(2, 0, 1) for _, img in synthesize(G, range(count), k, batch_size=32)]
        labels += [k] * count
    return np.stack(images), np.array(labels)


def save_comparison_grid(path: Path, reals: np.ndarray, fakes: np.ndarray, reals_y: np.ndarray,
                         fakes_y: np.ndarray) -> None:
    """One row per class: GRID_COLUMNS reals, a gap, GRID_COLUMNS fakes; tiles enlarged to >= 64 px."""
    from thygan.io.images import image_grid, save_png

    def rows(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        picked = [images[labels == k][:GRID_COLUMNS] for k in range(len(CLASS_NAMES))]
        tiles = np.stack(picked).transpose(0, 1, 3, 4, 2)  # [rows, cols, H, W, C]
        scale = max(1, 64 // tiles.shape[2])
        return image_grid(tiles.repeat(scale, 2).repeat(scale, 3), padding=2)

    left, right = rows(reals, reals_y), rows(fakes, fakes_y)
    gap = np.full([left.shape[0], 16, 3], 255, np.uint8)
    save_png(path, np.concatenate([left, gap, right], axis=1))


# ----------------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------------

def format_report(r: dict) -> str:
    def pct(values) -> str:
        return f"{100 * float(np.mean(values)):.1f} %"

    lines = [
        "| measure | value |", "|---|---|",
        f"| GAN | {r['cfg']}, {r['resolution']} px, conditional, {len(CLASS_NAMES)} classes, "
        f"{r['train_images']} training images, augment {r['augment']}, {r['threads']} torch threads |",
        f"| training time (tick time) | {r['train_sec'] / 60:.1f} min |",
        f"| kimg reached | {r['kimg']:.1f} |",
        f"| sec/kimg | {r['sec_per_kimg']:.1f} |",
        f"| classifier accuracy, held-out reals ({r['test_images']}) | {pct(r['acc_real'])} |",
        f"| class fidelity, G_ema after training ({r['samples_per_class']}/class) | "
        f"{pct(r['acc_trained'])} |",
        f"| class fidelity, untrained G (chance level of this judge) | {pct(r['acc_untrained'])} |",
        "", "| class | held-out reals | G_ema trained | G untrained |", "|---|---:|---:|---:|",
    ]
    for k, name in enumerate(CLASS_NAMES):
        lines.append(f"| {name} | {pct(r['acc_real'][k])} | {pct(r['acc_trained'][k])} | "
                     f"{pct(r['acc_untrained'][k])} |")
    return "\n".join(lines) + "\n"


@click.command(cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--outdir", required=True, metavar="DIR",
              help="Folder for the dataset, the run and the report.")
@click.option("--minutes", type=click.FloatRange(min=0.1), default=15, show_default=True, metavar="MIN",
              help="GAN training time (tick time; resumed runs count what they already spent).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="Seeds the dataset, the GAN run and the classifier.")
@click.option("--resolution", type=click.Choice(["32", "64"]), default="32", show_default=True, metavar="PX",
              help="Image size of the generated dataset.")
@click.option("--cfg", type=click.Choice(["cpu32", "cpu64"]), default="cpu32", show_default=True,
              metavar="NAME",
              help="Training preset.")
@click.option("--samples", type=click.IntRange(min=8), default=200, show_default=True, metavar="INT",
              help="G_ema samples per class for class fidelity.")
@click.option("--epochs", type=click.IntRange(min=1), default=12, show_default=True, metavar="INT",
              help="Classifier training epochs.")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="torch CPU threads; 0 = torch's default (1 is steadier on a machine shared with others).")
def learns_command(outdir: str, minutes: float, seed: int, resolution: str, cfg: str, samples: int,
                   epochs: int, threads: int) -> None:
    """Train a CPU preset on generated textures and report class fidelity of its samples."""
    import torch

    from thygan.io.atomic import atomic_write_text
    from thygan.io.checkpoint import load_checkpoint
    from thygan.runs import latest_snapshot
    from thygan.stylegan.networks import Generator

    if threads:
        torch.set_num_threads(threads)
    out = Path(outdir)
    res = int(resolution)
    train_dir = write_shapes_dataset(out / "data" / "train", per_class=TRAIN_PER_CLASS, resolution=res,
                                     seed=seed * 2)
    test_dir = write_shapes_dataset(out / "data" / "test", per_class=TEST_PER_CLASS, resolution=res,
                                    seed=seed * 2 + 1)
    opts = gan_options(train_dir, cfg=cfg, seed=seed)
    train_gan(opts, out / "gan", minutes=minutes)

    train_x, train_y = load_images(train_dir)
    test_x, test_y = load_images(test_dir)
    judge = train_classifier(train_x, train_y, epochs=epochs, seed=seed)
    snapshot = load_checkpoint(latest_snapshot(out / "gan"))
    G_ema = snapshot.networks["G_ema"].eval()
    torch.manual_seed(opts.random_seed)  # the loop's initialisation, hence its G_ema before step 1
    G_init = Generator(**opts.G_kwargs).eval()
    fakes, fakes_y = sample_per_class(G_ema, samples)
    init_fakes, init_y = sample_per_class(G_init, samples)
    train_sec, kimg = training_seconds(out / "gan")
    result = dict(cfg=cfg, resolution=res, augment=opts.augment.mode, threads=torch.get_num_threads(),
                  train_images=len(train_x),
                  test_images=len(test_x), samples_per_class=samples, train_sec=train_sec,
                  kimg=snapshot.cur_nimg / 1000,
                  sec_per_kimg=train_sec / max(kimg, 1e-12),
                  acc_real=per_class_accuracy(judge, test_x, test_y).tolist(),
                  acc_trained=per_class_accuracy(judge, fakes, fakes_y).tolist(),
                  acc_untrained=per_class_accuracy(judge, init_fakes, init_y).tolist())
    save_comparison_grid(out / "grid.png", test_x, fakes, test_y, fakes_y)
    report = format_report(result)
    atomic_write_text(out / "results.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "results.md", report)
    print(report + f"\ngrid: {out / 'grid.png'}")


if __name__ == "__main__":
    learns_command()
