"""What a translation run shows after each epoch: a PNG grid and an HTML page (no visdom).

The grid has one row per fixed display image (the first items of the dataset) and one column per
image kind: real A, fake B, rec A, real B, fake A, rec B for CycleGAN; real A, fake B, real B for
pix2pix. Generators run in eval mode (BatchNorm running statistics, no dropout), as ``translate run``
uses them, and the RNG is forked so the display does not change the training's random stream.
"""

import html
from pathlib import Path

import numpy as np
import torch

from thygan.io.atomic import atomic_write_text
from thygan.io.images import image_grid, save_png
from thygan.translate.masks import input_to_rgb

WEB_DIR = "web"


def display_batch(dataset, count: int, device: torch.device) -> dict[str, torch.Tensor]:
    """The first ``count`` items of epoch 0 as {'A': [n, C, H, W], 'B': [n, C, H, W]} on ``device``."""
    epoch = dataset.epoch
    dataset.set_epoch(0)
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    dataset.set_epoch(epoch)
    return {side: torch.stack([item[side] for item in items]).to(device) for side in ("A", "B")}


def translation_grid(columns: dict[str, torch.Tensor], *, masks_on_a: bool = False) -> np.ndarray:
    """{kind: [n, C, H, W] in [-1, 1]} -> [rows, cols] grid image [H', W', 3] uint8. With ``masks_on_a``
    the A-side columns (real_A, and CycleGAN's fake_A, rec_A) are rendered nucleus masks, drawn in type
    colours on black with white contours (thygan.translate.masks.mask_to_rgb), not as RGB."""
    rows = len(next(iter(columns.values())))
    tiles = [[input_to_rgb(images[r], is_mask=masks_on_a and kind.endswith("_A")) for kind, images in columns.items()]
             for r in range(rows)]
    return image_grid(np.stack([np.stack(row) for row in tiles]))


@torch.no_grad()
def write_epoch_page(run_dir: Path, epoch: int, model, display: dict[str, torch.Tensor], *,
                     masks_on_a: bool = False) -> np.ndarray:
    """Write ``web/images/epoch{NNN}.png`` and refresh ``web/index.html``; returns the grid."""
    nets = list(model.nets.values())
    modes = [net.training for net in nets]
    with torch.random.fork_rng(devices=[]):
        for net in nets:
            net.eval()
        columns = model.translations(display["A"], display["B"])
        for net, mode in zip(nets, modes):
            net.train(mode)
    grid = translation_grid(columns, masks_on_a=masks_on_a)
    web = Path(run_dir) / WEB_DIR
    save_png(web / "images" / f"epoch{epoch:03d}.png", grid)
    pages = sorted((web / "images").glob("epoch*.png"), reverse=True)
    header = " / ".join(html.escape(name) for name in columns)
    body = "\n".join(f'<h3>epoch {int(p.stem[5:])}</h3>\n<img src="images/{p.name}" alt="epoch {p.stem[5:]}">'
                     for p in pages)
    atomic_write_text(web / "index.html", f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>"
                      f"{html.escape(Path(run_dir).name)}</title></head>\n<body>\n<h1>{html.escape(Path(run_dir).name)}"
                      f"</h1>\n<p>Columns: {header}</p>\n{body}\n</body></html>\n")
    return grid
