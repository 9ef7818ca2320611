"""``thygan translate eval``: PSNR and SSIM of translated images against their true targets, as the BCI
challenge's evaluator computes them, and FID/KID against a target folder through thygan.metrics.

PSNR/SSIM convention (BCI ``PyramidPix2pix/evaluate.py``): both images as 8-bit RGB arrays,
``skimage.metrics.peak_signal_noise_ratio(fake, real)`` and ``structural_similarity(fake, real,
channel_axis=2)`` (the evaluator's ``multichannel=True``: SSIM per channel with a 7x7 uniform window,
then the channel mean), data range 255 from the uint8 dtype; one score per image, then the mean over
images. BCI reads BGR with cv2; neither score depends on the channel order.

Pairs are matched by relative file name without extension (``--fake out/ --real trueB/``), or, in one
folder of reference results, ``{base}_fake_B.png`` with ``{base}_real_B.png``.
"""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from thygan.data.image_files import ImageFiles, decode_image
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_bytes, atomic_write_text
from thygan.io.images import image_grid, save_png

GRID_SIDE = 192  # px: thumbnail side in the side-by-side grid


@dataclass
class EvalJob:
    fake: str = ""                   # translated images (folder or zip)
    real: str | None = None          # true targets with matching names (paired data); None: see the docstring
    target: str | None = None        # FID/KID reference folder; None: --real
    source: str | None = None        # the inputs, shown as the grid's first column
    outdir: str = "translate-eval"   # scores.csv, summary.json, grid.png
    metrics: str = "psnr,ssim"       # comma list of psnr, ssim, fid, kid
    grid_rows: int = 8               # pairs shown in grid.png
    detector: str | None = None      # Inception TorchScript (default: thygan.metrics')
    batch_size: int | None = None    # detector batch
    device: str = "auto"             # detector device
    verbose: bool = True             # progress bars


def psnr_ssim(fake: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """fake, real: [H, W, 3] uint8 -> (PSNR dB, SSIM) as the BCI evaluator (see the module docstring)."""
    return (float(peak_signal_noise_ratio(real, fake)),
            float(structural_similarity(fake, real, channel_axis=2)))


def _rgb(files: ImageFiles, name: str) -> np.ndarray:
    image = decode_image(files.read(name), (files.path / (files.prefix + name)).as_posix())
    if image.shape[2] in (2, 4):
        image = image[:, :, :-1]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def match_pairs(fake: ImageFiles, real: ImageFiles | None) -> list[tuple[str, str]]:
    """(fake name, real name) pairs; see the module docstring for the two layouts."""
    if real is None:
        pairs = [(n, n.replace("_fake_B", "_real_B")) for n in fake.names if "_fake_B" in n]
        if not pairs:
            raise UserError(f"--real: give the true targets, or a --fake folder of reference results with "
                            f"*_fake_B / *_real_B images ({fake.path} has no *_fake_B*)")
        missing = [r for _, r in pairs if not fake.has(r)]
        if missing:
            raise UserError(f"--fake: {fake.path / missing[0]} is missing (the partner of its _fake_B image)")
        return pairs
    by_stem = {str(Path(n).with_suffix("")): n for n in real.names}
    pairs = []
    for n in fake.names:
        partner = by_stem.get(str(Path(n).with_suffix("")))
        if partner is None:
            raise UserError(f"--real: no image matching {n} in {real.path} (pairs match by name without extension)")
        pairs.append((n, partner))
    if not pairs:
        raise UserError(f"--fake: no image files in {fake.path}")
    return pairs


def _thumb(image: np.ndarray) -> np.ndarray:
    """A GRID_SIDE square thumbnail (the grid is a picture; scores use full images)."""
    return np.asarray(Image.fromarray(image).resize((GRID_SIDE, GRID_SIDE), Image.Resampling.BILINEAR))


def run_eval(job: EvalJob) -> dict:
    """Score, write ``scores.csv``, ``summary.json`` and ``grid.png`` in ``job.outdir``; returns the summary."""
    wanted = [m.strip() for m in job.metrics.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in ("psnr", "ssim", "fid", "kid")]
    if unknown or not wanted:
        raise UserError(f"--metrics: expected a comma list of psnr, ssim, fid, kid, got '{job.metrics}'")
    fake = ImageFiles(job.fake, what="--fake")
    paired = any(m in wanted for m in ("psnr", "ssim"))
    real = ImageFiles(job.real, what="--real") if job.real else None
    target = job.target or job.real
    if any(m in wanted for m in ("fid", "kid")) and not target:
        raise UserError("--target: FID/KID need a folder of target-domain images (--target, or --real)")
    pairs = match_pairs(fake, real) if paired or real is not None else [(n, None) for n in fake.names]
    source = ImageFiles(job.source, what="--source") if job.source else None
    rows, grid = [], []
    for k, (f, r) in enumerate(pairs):
        fake_img = _rgb(fake, f)
        row = {"image": f}
        if r is not None:
            real_img = _rgb(real if real is not None else fake, r)
            if real_img.shape != fake_img.shape:
                raise UserError(f"--real: {r} is {real_img.shape[1]}x{real_img.shape[0]} px but its translation "
                                f"{f} is {fake_img.shape[1]}x{fake_img.shape[0]} px")
            row["psnr"], row["ssim"] = psnr_ssim(fake_img, real_img)
        if k < job.grid_rows:
            cells = []
            if source is not None:
                stem = str(Path(f).with_suffix(""))
                match = [n for n in source.names if str(Path(n).with_suffix("")) == stem]
                cells.append(_thumb(_rgb(source, match[0])) if match else np.full((GRID_SIDE,) * 2 + (3,), 255,
                                                                                   np.uint8))
            cells.append(_thumb(fake_img))
            if r is not None:
                cells.append(_thumb(real_img))
            grid.append(np.stack(cells))
        rows.append(row)
    summary = {"images": len(rows), "fake": str(job.fake), "real": job.real, "target": target}
    for m in ("psnr", "ssim"):
        if m in wanted and rows and m in rows[0]:
            summary[m] = float(np.mean([row[m] for row in rows]))
            summary["convention"] = ("uint8 RGB, skimage PSNR (data range 255) and SSIM (channel_axis=2, 7x7 "
                                     "window), per image then mean (BCI evaluator)")
    summary.update(_fid_kid(job, [m for m in wanted if m in ("fid", "kid")], len(fake.names), target))
    out = Path(job.outdir)
    out.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    fields = ["image"] + [m for m in ("psnr", "ssim") if rows and m in rows[0]]
    writer = csv.DictWriter(text, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "scores.csv", text.getvalue().encode())
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    if grid:
        save_png(out / "grid.png", image_grid(np.stack(grid)))
    return summary


def _fid_kid(job: EvalJob, names: list[str], count: int, target: str | None) -> dict:
    """FID/KID of all translated images against all target images (fid<N>_full / kid<N>_full)."""
    if not names:
        return {}
    from thygan.device import pick_device
    from thygan.metrics.evaluate import Detectors, MetricOptions, compute_metric
    from thygan.metrics.inputs import FolderInputs
    from thygan.metrics.registry import METRICS
    from thygan.metrics.stats_cache import cache_dir

    options = MetricOptions(detector=job.detector, batch_size=job.batch_size, device=pick_device(job.device).type,
                            verbose=job.verbose)
    inputs = FolderInputs(target, job.fake, cache=cache_dir(options.cache_dir))
    detectors = Detectors(options)
    results = {}
    for name in names:
        spec = METRICS.get(f"{name}{count}_full")
        results.update(compute_metric(spec, inputs, detectors, options))
    return results
