"""``thygan translate run``: a generator over every image of a folder or zip, or over a whole slide.

Any image size: each image is padded (reflect) to the generator's multiple (4 for the ResNets,
2**num_downs for the U-Nets) and the output cropped back, never resized. Images larger than the tile
size, and slides, are translated in overlapping tiles whose outputs are blended with weights that
ramp linearly across each overlap (feathering), so tile borders leave no seam: every output pixel is
a weighted mean of the tiles covering it, the weights of a pixel summing to one.

A slide's output is accumulated in an on-disk array (numpy memmap beside the output, deleted at the
end) so its size is bounded by disk, not memory, and then written as a tiled pyramidal TIFF
(tifffile: level 0 and 2x-reduced levels as successive tiled pages, zlib-compressed, which OpenSlide
and QuPath open) or as non-overlapping PNG tiles.
"""

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from thygan.io.atomic import atomic_path
from thygan.io.images import save_png
from thygan.progress import progress

TIFF_TILE = 256  # px: tile side inside the pyramidal TIFF


def size_multiple(G: torch.nn.Module) -> int:
    """The side multiple a generator needs: 4 (two stride-2 levels) or 2**num_downs (U-Net)."""
    return 2 ** G.init_kwargs["num_downs"] if "num_downs" in G.init_kwargs else 4


def _to_input(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """[N, H, W, C] uint8 -> [N, C, H, W] float32 in [-1, 1]."""
    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> [N, H, W, C] uint8 (the reference's (x + 1) / 2 * 255, rounded)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def translate_batch(G: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x: [N, C, H, W] in [-1, 1], any H, W -> G(x) [N, C', H, W]: padded to the generator's multiple
    (reflect, or replicate where the image is too small to reflect) and cropped back."""
    m = size_multiple(G)
    h, w = x.shape[2:]
    ph, pw = -h % m, -w % m
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return G(x)[:, :, :h, :w]


def translate_images(G: torch.nn.Module, images: list[np.ndarray], *, device: torch.device | str,
                     to_input: Callable[[np.ndarray], torch.Tensor] | None = None) -> list[np.ndarray]:
    """Translate a batch of images of one size: [H, W, C] uint8 each -> [H, W, C'] uint8 each."""
    x = torch.stack([to_input(img) for img in images]).to(device) if to_input else \
        _to_input(np.stack(images), device)
    return list(_to_uint8(translate_batch(G, x)))


def covering_starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile offsets along one axis covering every pixel: 0, stride, ... and the last one flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def ramp(tile: int, overlap: int, *, first: bool, last: bool) -> np.ndarray:
    """[tile] blending weights: linear ramps (0, 1] over ``overlap`` px on sides that meet another tile."""
    w = np.ones(tile, np.float32)
    if overlap > 0:
        up = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not first:
            w[:overlap] = np.minimum(w[:overlap], up)
        if not last:
            w[-overlap:] = np.minimum(w[-overlap:], up[::-1])
    return w


def translate_tiled(read: Callable[[int, int, int], np.ndarray], width: int, height: int, G: torch.nn.Module, *,
                    out: np.ndarray, tile: int = 512, overlap: int = 64, batch_size: int = 4,
                    device: torch.device | str = "cpu", verbose: bool = True, desc: str = "tiles",
                    to_input: Callable[[np.ndarray], torch.Tensor] | None = None) -> np.ndarray:
    """Translate a ``width`` x ``height`` image read tile by tile into ``out`` ([height, width, C'] uint8).

    Args:
        read: (x, y, size) -> the [size, size, C] uint8 tile at (x, y) (padded past the edges as the
            caller sees fit; only the part inside the image is used).
        out: Where the result goes (an array or a memmap), written one finished band of rows at a time.
        tile, overlap: Tile side and overlap of neighbours, px.
    """
    if overlap * 2 > tile:
        raise ValueError(f"overlap {overlap} must be at most half the tile {tile}")
    stride = tile - overlap
    xs, ys = covering_starts(width, tile, stride), covering_starts(height, tile, stride)
    channels = out.shape[2]
    acc = np.zeros((tile, width, channels), np.float64)  # the rows [band_y, band_y + tile) still open
    wsum = np.zeros((tile, width), np.float64)
    band_y = 0
    bar = progress(total=len(xs) * len(ys), desc=desc, unit="tile", disable=not verbose)
    for row, y in enumerate(ys):
        shift = y - band_y  # rows above y get no more tiles: finish them
        if shift:
            out[band_y:y] = _finish(acc[:shift], wsum[:shift])
            acc = np.concatenate([acc[shift:], np.zeros((shift, width, channels))])
            wsum = np.concatenate([wsum[shift:], np.zeros((shift, width))])
            band_y = y
        wy = ramp(tile, overlap, first=row == 0, last=row == len(ys) - 1)
        for start in range(0, len(xs), batch_size):
            chunk = xs[start:start + batch_size]
            results = translate_images(G, [read(x, y, tile) for x in chunk], device=device, to_input=to_input)
            for k, (x, result) in enumerate(zip(chunk, results)):
                col = start + k
                wx = ramp(tile, overlap, first=col == 0, last=col == len(xs) - 1)
                h, w = min(tile, height - y), min(tile, width - x)
                weight = (wy[:h, None] * wx[None, :w]).astype(np.float64)
                acc[:h, x:x + w] += result[:h, :w] * weight[:, :, None]
                wsum[:h, x:x + w] += weight
            bar.update(len(chunk))
    bar.close()
    last = min(tile, height - band_y)
    out[band_y:band_y + last] = _finish(acc[:last], wsum[:last])
    return out


def _finish(acc: np.ndarray, wsum: np.ndarray) -> np.ndarray:
    return np.clip(np.round(acc / np.maximum(wsum, 1e-12)[:, :, None]), 0, 255).astype(np.uint8)


def padded_reader(image: np.ndarray) -> Callable[[int, int, int], np.ndarray]:
    """(x, y, size) -> the square tile of an in-memory image, edge-replicated past its borders."""
    def read(x: int, y: int, size: int) -> np.ndarray:
        t = image[y:y + size, x:x + size]
        if t.shape[:2] != (size, size):
            t = np.pad(t, ((0, size - t.shape[0]), (0, size - t.shape[1]), (0, 0)), mode="edge")
        return t
    return read


def pyramid_levels(image: np.ndarray, *, min_side: int = TIFF_TILE) -> Iterator[np.ndarray]:
    """Level 0 (the image) and 2x box-averaged reductions down to ``min_side`` px, one at a time."""
    level = image
    yield level
    while min(level.shape[:2]) // 2 >= min_side:
        h, w = level.shape[0] // 2 * 2, level.shape[1] // 2 * 2
        level = level[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3)).round().astype(np.uint8)
        yield level


def write_pyramid_tiff(path: str | Path, image: np.ndarray, *, mpp: float | None = None) -> Path:
    """A tiled pyramidal TIFF (levels as successive pages, reduced ones marked subfiletype 1), atomically."""
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with tifffile.TiffWriter(tmp, bigtiff=image.nbytes > 2 ** 31) as tif:
            for index, level in enumerate(pyramid_levels(image)):
                extra = {}
                if mpp:
                    res = 1e4 / (mpp * 2 ** index)  # pixels per cm
                    extra = {"resolution": (res, res), "resolutionunit": "CENTIMETER"}
                tif.write(level, tile=(TIFF_TILE, TIFF_TILE), photometric="rgb" if level.shape[2] == 3 else
                          "minisblack", compression="zlib", subfiletype=1 if index else 0, **extra)
    return path


def write_tiles(folder: str | Path, image: np.ndarray, tile: int, *, stem: str) -> list[Path]:
    """Non-overlapping PNG tiles ``{stem}_x{X}_y{Y}.png`` (edge tiles smaller)."""
    paths = []
    for y in range(0, image.shape[0], tile):
        for x in range(0, image.shape[1], tile):
            paths.append(save_png(Path(folder) / f"{stem}_x{x:06d}_y{y:06d}.png", image[y:y + tile, x:x + tile]))
    return paths


class DiskCanvas:
    """A [height, width, channels] uint8 numpy memmap in a temp file beside ``near``; deleted on close."""

    def __init__(self, near: Path, height: int, width: int, channels: int):
        near.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{near.name}.", suffix=".canvas", dir=near.parent)
        os.close(fd)
        self.path = Path(name)
        self.array = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.uint8, shape=(height, width, channels))

    def close(self) -> None:
        del self.array
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "DiskCanvas":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
