"""What ``thygan translate run`` does with its inputs: a folder or zip of images (or of nucleus masks for a
mask -> H&E generator), a single image, or a whole slide; see thygan.translate.inference for the how.

Every input is translated (no ``--num_test`` cap). Outputs keep the inputs' relative names with a
.png suffix; an output that already exists is skipped, so an interrupted run resumes where it stopped
(each PNG is written atomically). Folder outputs record the generator and settings in
``.thygan-settings.json`` (thygan.runs.output_settings): outputs of another generator or settings are
refused unless ``--overwrite``, so a rerun never mixes two models' translations. A slide written to a
.tif is one file and is skipped when it exists.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from thygan.data.image_files import ImageFiles, decode_image
from thygan.data.tiling import is_slide_file
from thygan.device import pick_device
from thygan.errors import UserError
from thygan.io.images import save_png
from thygan.metrics.detector import module_fingerprint
from thygan.progress import progress
from thygan.runs.output_settings import claim_outputs
from thygan.translate.generator_file import open_generator
from thygan.translate.inference import (
    DiskCanvas,
    padded_reader,
    translate_images,
    translate_tiled,
    write_pyramid_tiff,
    write_tiles,
)


@dataclass
class RunJob:
    network: str = ""             # thygan translate snapshot (.safetensors/.json) or a reference *_net_G*.pth
    source: str = ""              # folder, zip, image file, or whole slide
    out: str = ""                 # output folder; for a slide also a .tif/.tiff file (pyramidal TIFF)
    which: str = "G_A"            # generator in a CycleGAN snapshot: G_A (A -> B) or G_B (B -> A)
    netG: str | None = None       # expected --netG (checked against the file)
    tile: int = 512               # px: tiles for slides and larger images
    overlap: int = 64             # px: overlap of neighbouring tiles, blended
    batch_size: int = 4           # images or tiles per generator call
    level: int | None = None      # slide pyramid level
    magnification: float | None = None  # slide target magnification
    overwrite: bool = False       # redo outputs that exist
    device: str = "auto"          # auto | cpu | cuda
    verbose: bool = True          # progress bars


def run_translation(job: RunJob) -> list[Path]:
    """Translate ``job.source``; returns the files written."""
    if job.overlap * 2 > job.tile:
        raise UserError(f"--overlap: at most half of --tile ({job.tile // 2} px), got {job.overlap}")
    device = pick_device(job.device)
    G, mask_types = open_generator(job.network, netG=job.netG, which=job.which)
    G = G.eval().requires_grad_(False).to(device)
    source, out = Path(job.source), Path(job.out)
    if not source.exists():
        raise UserError(f"--source: no such file or folder '{source}'")
    if mask_types:
        return _run_masks(job, G, source, out, device, mask_types)
    _refuse_masks(source, G.init_kwargs["input_nc"])
    if source.is_file() and is_slide_file(source):
        return [_run_slide(job, G, source, out, device)]
    if source.is_file() and source.suffix.lower() != ".zip":
        files, names = ImageFiles(source.parent, what="--source"), [source.name]
    else:
        files = ImageFiles(source, what="--source")
        names = files.names
    if not names:
        raise UserError(f"--source: no image files in '{source}'")
    channels = G.init_kwargs["input_nc"]
    written, pending = [], []

    def flush():
        results = translate_images(G, [img for _, img in pending], device=device)
        for (target, _), result in zip(pending, results):
            written.append(save_png(target, result))
        pending.clear()

    todo = [(n, out / Path(n).with_suffix(".png")) for n in names]
    _claim(job, G, out, [t for _, t in todo], input_kind="images")
    todo = [(n, t) for n, t in todo if job.overwrite or not t.exists()]
    for name, target in progress(todo, desc="translate", unit="img", disable=not job.verbose):
        image = _channels(decode_image(files.read(name), (files.path / (files.prefix + name)).as_posix()), channels)
        if max(image.shape[:2]) > job.tile:  # large: tiled and blended, alone
            result = np.zeros((*image.shape[:2], G.init_kwargs["output_nc"]), np.uint8)
            translate_tiled(padded_reader(image), image.shape[1], image.shape[0], G, out=result, tile=job.tile,
                            overlap=job.overlap, batch_size=job.batch_size, device=device, verbose=False)
            written.append(save_png(target, result))
            continue
        if pending and (pending[0][1].shape != image.shape or len(pending) == job.batch_size):
            flush()
        pending.append((target, image))
    if pending:
        flush()
    return written


def _claim(job: RunJob, G, out: Path, targets: list[Path], *, input_kind: str) -> None:
    """Record what makes the outputs in ``out`` (the batch size and device are left out: they do not
    change the images beyond float rounding)."""
    settings = {"generator": module_fingerprint(G), "which": job.which, "input": input_kind, "tile": job.tile,
                "overlap": job.overlap}
    claim_outputs(out, settings, done_markers=targets, overwrite=job.overwrite, flag="--out")


def _channels(image: np.ndarray, channels: int) -> np.ndarray:
    """[H, W, C] uint8 with the generator's input channels (alpha dropped, gray <-> RGB)."""
    if image.shape[2] in (2, 4):
        image = image[:, :, :-1]
    if image.shape[2] == 1 and channels == 3:
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 3 and channels == 1:
        return np.round(image @ np.array([0.299, 0.587, 0.114]))[:, :, None].astype(np.uint8)
    return image


def _refuse_masks(source: Path, input_nc: int) -> None:
    """An image generator given nucleus-mask arrays (.npy/.npz anywhere in the folder; a type-map PNG
    cannot be told from a gray image) or taking neither gray nor RGB: one line."""
    if input_nc not in (1, 3):
        raise UserError(f"--network: the generator takes {input_nc} input channels and its file records no "
                        f"--mask_types, so translate run cannot tell how to feed it")
    arrays = (".npy", ".npz")
    if source.suffix.lower() in arrays or (source.is_dir() and any(p.suffix.lower() in arrays
                                                                   for p in source.rglob("*"))):
        raise UserError(f"--source: '{source}' holds nucleus masks (.npy/.npz), but the generator takes images "
                        f"(its snapshot records no --mask_types)")


def _run_masks(job: RunJob, G, source: Path, out: Path, device, mask_types: int) -> list[Path]:
    """Every mask file of a folder (or one mask file), read and rendered as translate train does."""
    from thygan.translate.masks import MASK_SUFFIXES, mask_files, read_mask, render_mask

    expected = f"{mask_types}-type nucleus masks (.png type maps, .npy, .npz), as in training"
    if source.is_file() and source.suffix.lower() not in MASK_SUFFIXES:
        raise UserError(f"--source: '{source}' is not a mask file; the generator takes {expected}")
    root, names = (source.parent, [source.name]) if source.is_file() else (source, mask_files(source))
    if not names:
        raise UserError(f"--source: no mask files in '{source}'; the generator takes {expected}")
    for name in names:  # an image folder, or unknown type ids, fail now, before any output
        try:
            read_mask(root / name, mask_types)
        except UserError as exc:
            raise UserError(f"--source: {exc} (the generator takes {expected})") from None
    _claim(job, G, out, [out / Path(name).with_suffix(".png") for name in names], input_kind="masks")
    written = []
    for name in progress(names, desc="translate masks", unit="mask", disable=not job.verbose):
        target = out / Path(name).with_suffix(".png")
        if target.exists() and not job.overwrite:
            continue
        stacked = read_mask(root / name, mask_types).stacked()
        [result] = translate_images(G, [stacked], device=device, to_input=lambda a: render_mask(a, mask_types))
        written.append(save_png(target, result))
    return written


def _run_slide(job: RunJob, G, source: Path, out: Path, device: torch.device) -> Path:
    from thygan.data.tiling import Box, SlideSource

    slide = SlideSource(source, level=job.level, magnification=job.magnification)
    if G.init_kwargs["input_nc"] != 3:
        raise UserError(f"--network: the generator takes {G.init_kwargs['input_nc']} input channels; a slide "
                        f"gives RGB")
    to_tiff = out.suffix.lower() in (".tif", ".tiff")
    if to_tiff and out.exists() and not job.overwrite:
        return out
    try:
        with DiskCanvas(out if to_tiff else out / source.stem, slide.height, slide.width, 3) as canvas:
            translate_tiled(lambda x, y, size: slide.read(Box(x, y, size)), slide.width, slide.height, G,
                            out=canvas.array, tile=job.tile, overlap=job.overlap, batch_size=job.batch_size,
                            device=device, verbose=job.verbose, desc=source.name)
            mpp = slide.slide.properties.get("openslide.mpp-x")
            if to_tiff:
                return write_pyramid_tiff(out, canvas.array, mpp=float(mpp) * slide.downsample if mpp else None)
            write_tiles(out, canvas.array, job.tile, stem=source.stem)
            return out
    finally:
        slide.close()
