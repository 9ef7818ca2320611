"""Evidence that thygan translate learns, on CPU, with data that ships here (issue 16, item 5).

    python benchmarks/translate_learns.py --outdir=out/translate                 # ~4 min of training each
    python benchmarks/translate_learns.py --outdir=out/translate --minutes=0.5   # smoke run

(b) paired: H&E tiles of data/sample/CMU-1-Small-Region.svs (10x, 128 px) against a known stain-matrix
    change of themselves (colour deconvolution with scikit-image's H&E-DAB matrix, recombined with other
    H and E vectors). pix2pix learns the mapping; PSNR/SSIM (BCI convention) of held-out translations to
    the true targets, before (untrained G, and the input itself) and after training.
(a) unpaired IHC -> H&E: 64 px tiles of scikit-image's IHC image (skimage.data.immunohistochemistry)
    and of the slide. CycleGAN; KID and FID (thygan.metrics, fid-helper's Inception) of the held-out
    IHC tiles translated by G_A against held-out real H&E tiles, before and after training.
(c) masks -> H&E: pseudo-label nuclei of the slide's tiles (thygan.segment.pseudo_labels: haematoxylin,
    Otsu, watershed), typed 1 (small) or 2 (large), paired with their tiles, train pix2pix; new masks
    from the mask sampler are translated and scored by KID/FID against held-out real tiles, before and
    after training.

Training is budgeted in wall time: epochs are run one call at a time (each resumes exactly) until
``--minutes`` are spent. Every step writes its folder under --outdir; results go to results.json and
grids (grid_*.png) beside it.
"""

import json
import time
from pathlib import Path

import click
import numpy as np

from thygan.cli.command import Command

SLIDE = Path(__file__).resolve().parents[1] / "data" / "sample" / "CMU-1-Small-Region.svs"
NEW_STAINS = np.array([[0.45, 0.80, 0.40],   # H: bluer-green than skimage's (0.65, 0.70, 0.29)
                       [0.05, 0.80, 0.60]])  # E: more violet than (0.07, 0.99, 0.11)


HELD_OUT = 0.75  # tiles below this fraction of the slide's height are held out (train tiles end above it)


def slide_tiles(tile: int, stride: int, *, part: str, magnification: float = 10,
                min_tissue: float = 0.5) -> list[np.ndarray]:
    """Tissue tiles (Otsu on saturation, as thygan.data.tiling) of the slide's top ('train') or bottom
    ('test') part; no train tile reaches into the test part, so overlapping strides do not leak."""
    from thygan.data.tiling import Box, SlideSource, tissue_fraction, tissue_threshold

    slide = SlideSource(SLIDE, magnification=magnification)
    threshold = tissue_threshold(slide.thumbnail())
    cut = int(slide.height * HELD_OUT)
    rows = range(0, cut - tile + 1, stride) if part == "train" else range(cut, slide.height - tile + 1, stride)
    tiles = []
    for y in rows:
        for x in range(0, slide.width - tile + 1, stride):
            t = slide.read(Box(x, y, tile))
            if tissue_fraction(t, threshold) >= min_tissue:
                tiles.append(t)
    slide.close()
    return tiles


def restain(rgb: np.ndarray) -> np.ndarray:
    """The known colour transform of (b): H&E(-DAB) deconvolution, recombined with NEW_STAINS."""
    from skimage.color import combine_stains, hed_from_rgb, rgb_from_hed, separate_stains

    new = rgb_from_hed.copy()
    new[:2] = NEW_STAINS / np.linalg.norm(NEW_STAINS, axis=1, keepdims=True)
    new[2] = np.cross(new[0], new[1])
    new[2] /= np.linalg.norm(new[2])
    out = combine_stains(separate_stains(rgb, hed_from_rgb), new)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def nuclei_mask(rgb: np.ndarray, threshold: float, area_split: float):
    """The segmentation issue's pseudo-label nuclei (thygan.segment.pseudo_labels) with 2 types by size."""
    from skimage.segmentation import relabel_sequential

    from thygan.segment.pseudo_labels import pseudo_instances
    from thygan.translate.masks import NucleusMask

    # 10x: nuclei are half the size the 20x defaults expect.
    inst = relabel_sequential(pseudo_instances(rgb, threshold=threshold, min_size=10, min_distance=3))[0]
    areas = np.bincount(inst.ravel())
    return NucleusMask(inst, {k: 1 if areas[k] < area_split else 2 for k in np.unique(inst) if k > 0})


def save_all(folder: Path, images: list[np.ndarray]) -> Path:
    from thygan.io.images import save_png

    for k, img in enumerate(images):
        save_png(folder / f"{k:04d}.png", img)
    return folder


def train_for(opts, minutes: float, run_root: Path) -> tuple[Path, int]:
    """Train for ``minutes`` more of wall time, continuing the newest run under ``run_root`` if there is
    one (so a re-run extends training); returns (run folder, epochs done in total)."""
    from thygan import runs
    from thygan.translate.training_loop import NAMES, training_loop

    existing = runs.numbered_runs(run_root)
    run_dir = existing[-1] if existing and runs.latest_snapshot(existing[-1], names=NAMES) else None
    start = time.time()
    while time.time() - start < minutes * 60:
        run_dir = training_loop(opts, run_dir=run_dir, stop_after_epochs=1, verbose=False)
    return run_dir, int(NAMES.index_of(runs.latest_snapshot(run_dir, names=NAMES)))


def translate_folder(snapshot: Path | None, G, src: Path, out: Path, which: str = "G_A") -> Path:
    """Translate every image of ``src`` with a snapshot (or an in-memory generator for 'before')."""
    from thygan.translate.generator_file import save_generator
    from thygan.translate.run_job import RunJob, run_translation

    if snapshot is None:
        snapshot = save_generator(out.parent / f"{out.name}_untrained", G)
    run_translation(RunJob(network=str(snapshot), source=str(src), out=str(out), which=which, device="cpu",
                           verbose=False, overwrite=True))
    return out


def untrained(opts, name: str):
    from thygan.translate.options import resolve_options
    from thygan.translate.training_loop import build_networks

    return build_networks(resolve_options(opts), seed=opts.seed)[name].eval()


def latest(run_dir: Path) -> Path:
    from thygan import runs
    from thygan.translate.training_loop import NAMES

    return runs.latest_snapshot(run_dir, names=NAMES)


def paired_stains(root: Path, minutes: float) -> dict:
    from thygan.translate.evaluate import EvalJob, run_eval
    from thygan.translate.options import TranslateOptions

    train, test = slide_tiles(128, 64, part="train"), slide_tiles(128, 64, part="test")
    data = root / "data"
    if not (data / "B").exists():
        save_all(data / "A", train)
        save_all(data / "B", [restain(t) for t in train])
        save_all(root / "testA", test)
        save_all(root / "testB", [restain(t) for t in test])
    opts = TranslateOptions(dataroot=str(data), outdir=str(root / "runs"), name="stain", model="pix2pix",
                            dataset_mode="paired", netG="resnet_6blocks", ngf=16, ndf=16, preprocess="none",
                            n_epochs=1000, n_epochs_decay=0, seed=0)
    result = {"tiles_train": len(train), "tiles_test": len(test)}
    before = translate_folder(None, untrained(opts, "G"), root / "testA", root / "before")
    result["identity"] = run_eval(EvalJob(fake=str(root / "testA"), real=str(root / "testB"),
                                          outdir=str(root / "eval_identity"), verbose=False))
    result["before"] = run_eval(EvalJob(fake=str(before), real=str(root / "testB"), outdir=str(root / "eval_before"),
                                        verbose=False))
    run_dir, epochs = train_for(opts, minutes, root / "runs")
    after = translate_folder(latest(run_dir), None, root / "testA", root / "after", which="G")
    result["after"] = run_eval(EvalJob(fake=str(after), real=str(root / "testB"), source=str(root / "testA"),
                                       outdir=str(root / "eval_after"), verbose=False))
    result.update(epochs=epochs, run_dir=str(run_dir))
    return result


def ihc_to_he(root: Path, minutes: float) -> dict:
    from skimage.data import immunohistochemistry

    from thygan.translate.evaluate import EvalJob, run_eval
    from thygan.translate.options import TranslateOptions

    ihc = immunohistochemistry()
    train_ihc = [ihc[y:y + 64, x:x + 64] for y in range(0, 384 - 64 + 1, 32) for x in range(0, 512 - 64 + 1, 32)]
    test_ihc = [ihc[y:y + 64, x:x + 64] for y in range(384, 512 - 64 + 1, 32) for x in range(0, 512 - 64 + 1, 32)]
    he_train, he_test = slide_tiles(64, 32, part="train"), slide_tiles(64, 32, part="test")
    data = root / "data"
    if not (data / "trainB").exists():
        save_all(data / "trainA", train_ihc)
        save_all(data / "trainB", he_train)
        save_all(root / "testA", test_ihc)
        save_all(root / "testB", he_test)
    opts = TranslateOptions(dataroot=str(data), outdir=str(root / "runs"), name="ihc2he", model="cycle_gan",
                            netG="resnet_6blocks", ngf=16, ndf=16, preprocess="none", n_epochs=1000,
                            n_epochs_decay=0, seed=0)
    kid = dict(metrics="kid,fid", target=str(root / "testB"), verbose=False, device="cpu")
    result = {"ihc_train": len(train_ihc), "ihc_test": len(test_ihc), "he_train": len(he_train),
              "he_test": len(he_test)}
    result["ihc_itself"] = run_eval(EvalJob(fake=str(root / "testA"), outdir=str(root / "eval_ihc"), **kid))
    before = translate_folder(None, untrained(opts, "G_A"), root / "testA", root / "before")
    result["before"] = run_eval(EvalJob(fake=str(before), outdir=str(root / "eval_before"), **kid))
    run_dir, epochs = train_for(opts, minutes, root / "runs")
    after = translate_folder(latest(run_dir), None, root / "testA", root / "after")
    result["after"] = run_eval(EvalJob(fake=str(after), source=str(root / "testA"), outdir=str(root / "eval_after"),
                                       **kid))
    result.update(epochs=epochs, run_dir=str(run_dir))
    return result


def masks_to_he(root: Path, minutes: float) -> dict:
    from skimage.color import rgb2hed
    from skimage.filters import gaussian, threshold_otsu

    from thygan.translate.evaluate import EvalJob, run_eval
    from thygan.translate.mask_sampler import sample_mask_folder
    from thygan.translate.options import TranslateOptions

    tiles, test = slide_tiles(128, 64, part="train"), slide_tiles(128, 64, part="test")
    # One haematoxylin threshold for all tiles (per-tile Otsu would find "nuclei" in nucleus-free tiles).
    h = np.concatenate([gaussian(rgb2hed(t)[:, :, 0]).ravel() for t in tiles[::4]])
    threshold = float(threshold_otsu(h))
    masks = [nuclei_mask(t, threshold, area_split=60) for t in tiles]
    data = root / "data"
    if not (data / "B").exists():
        for k, mask in enumerate(masks):
            (data / "A").mkdir(parents=True, exist_ok=True)
            np.savez_compressed(data / "A" / f"{k:04d}.npz", inst_map=mask.inst_map,
                                inst_type=np.array([mask.types[i] for i in range(1, len(mask.types) + 1)]))
        save_all(data / "B", tiles)
        save_all(root / "real_test", test)
        sample_mask_folder(data / "A", root / "sampled", num_types=2, count=len(test), size=128, seed=1)
    opts = TranslateOptions(dataroot=str(data), outdir=str(root / "runs"), name="mask2he", model="pix2pix",
                            dataset_mode="paired", mask_types=2, netG="resnet_6blocks", ngf=16, ndf=16,
                            preprocess="none", n_epochs=1000, n_epochs_decay=0, seed=0)
    kid = dict(metrics="kid,fid", target=str(root / "real_test"), verbose=False, device="cpu")
    result = {"masks_train": len(tiles), "real_test": len(test), "nuclei_threshold": threshold,
              "nuclei_per_mask": float(np.mean([len(m.types) for m in masks]))}
    before = translate_folder(None, untrained(opts, "G"), root / "sampled", root / "before")
    result["before"] = run_eval(EvalJob(fake=str(before), outdir=str(root / "eval_before"), **kid))
    run_dir, epochs = train_for(opts, minutes, root / "runs")
    after = translate_folder(latest(run_dir), None, root / "sampled", root / "after", which="G")
    result["after"] = run_eval(EvalJob(fake=str(after), outdir=str(root / "eval_after"), **kid))
    result.update(epochs=epochs, run_dir=str(run_dir))
    return result


EXPERIMENTS = {"b_stain": paired_stains, "a_ihc2he": ihc_to_he, "c_masks": masks_to_he}


@click.command(cls=Command)
@click.option("--outdir", required=True, metavar="DIR", type=click.Path(file_okay=False), help="Work folder.")
@click.option("--minutes", type=click.FloatRange(min=0), default=4, show_default=True, metavar="MIN",
              help="Training wall time per experiment.")
@click.option("--only", type=click.Choice(list(EXPERIMENTS)), multiple=True, help="Run these experiments only.")
def main(outdir, minutes, only):
    """Train pix2pix / CycleGAN briefly on CPU and report PSNR/SSIM and KID/FID before and after."""
    import torch

    torch.set_num_threads(1)  # on a shared 2-core machine two threads ran 20x slower (contention)
    out = Path(outdir)
    results_file = out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    for name in only or EXPERIMENTS:
        start = time.time()
        results[name] = EXPERIMENTS[name](out / name, minutes)
        results[name]["wall_seconds"] = time.time() - start
        out.mkdir(parents=True, exist_ok=True)
        results_file.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(json.dumps({name: results[name]}, indent=2, default=str))


if __name__ == "__main__":
    main()
