"""``REPORT.md``: every figure and table of a pipeline run, linked, each with a line on how to read it.

The report only reads what the steps wrote (and draws the GAN run's figures into ``report/``), so it
can be rewritten at any time with ``thygan pipeline --config ... --only report``.
"""

import os
from pathlib import Path

from thygan.data.labels import read_labels
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.pipeline.runner import read_record, read_records
from thygan.pipeline.steps import PipelineContext, Step
from thygan.runs import read_metric_records
from thygan.viz.training_run import plot_metric_over_kimg, plot_training_curves, reals_vs_fakes


def _link(path: Path, report_dir: Path) -> str:
    return Path(os.path.relpath(path, report_dir)).as_posix()


def _image(path: Path, report_dir: Path, alt: str) -> str:
    return f"![{alt}]({_link(path, report_dir)})" if path.is_file() else f"*({alt}: {path} was not written)*"


def _data_section(ctx: PipelineContext) -> list[str]:
    lines = ["## Data", ""]
    dataset = ctx.config.dataset
    if (dataset.sample is not None or dataset.labels) and ctx.labels.is_file():
        table = read_labels(ctx.labels)
        counts: dict[str, int] = {}
        for record in table.records:
            name = table.class_name(record.label) if record.label is not None else "unlabelled"
            counts[name] = counts.get(name, 0) + 1
        patients = {record.patient for record in table.records if record.patient is not None}
        classes = ", ".join(f"{name} {count}" for name, count in counts.items())
        lines += [f"{len(table.records)} labelled images (`{ctx.labels}`: {classes})"
                  + (f" from {len(patients)} patients (or pseudo-patients)." if patients else "."), ""]
    if ctx.split_dir.is_dir():
        lines += [f"Cross-validation splits in `{ctx.split_dir}`: a patient's images stay on one side of the "
                  "train / validation / test boundary, and each fold keeps the classes in proportion.", ""]
    return lines


def _gan_section(ctx: PipelineContext, report_dir: Path) -> list[str]:
    if ctx.config.gan is None:
        return []
    lines = ["## The GAN", ""]
    run_dir = Path(ctx.produced.get("gan-train", {}).get("run_dir", "")) if "gan-train" in ctx.produced else None
    if run_dir is not None and run_dir.is_dir():
        lines += _training_figures(run_dir, report_dir, ctx.produced["gan-train"].get("picked_by", ""))
    if ctx.network:
        lines += [f"Network used below: `{ctx.network}`.", ""]
    grid = ctx.outdir / "generated" / "grid.png"
    if grid.is_file():
        lines += ["**Class grid** (one row per class, one column per seed): each row should look like its class in "
                  "the real grid; rows that look alike mean the GAN has not learned the classes apart.", "",
                  _image(grid, report_dir, "generated class grid"), ""]
    lines += _fid_table(ctx)
    return lines


def _training_figures(run_dir: Path, report_dir: Path, picked_by: str) -> list[str]:
    figures = [
        (reals_vs_fakes, "reals_vs_fakes.png", "**Real vs generated** tiles at the end of training, one row per "
         "class: colours, textures and structures should match row by row."),
        (plot_training_curves, "gan_training_curves.png", "**GAN training curves** per tick: G and D losses "
         "(a D loss collapsing toward 0 means D wins and G stalls), the regularisers, and ADA's augmentation "
         "probability p (rising p = D was overfitting the few real images)."),
        (plot_metric_over_kimg, "fid_over_kimg.png", "**FID over training** at each snapshot (lower is better; "
         f"small-count FID is biased upward, compare runs only at equal counts). Network picked: {picked_by}."),
    ]
    lines = [f"Training run: `{run_dir}` (its `log.txt` has one line per tick).", ""]
    (report_dir / "report").mkdir(parents=True, exist_ok=True)
    for draw, name, text in figures:
        try:
            path = draw(run_dir, report_dir / "report" / name)
        except UserError as exc:
            lines += [f"{text} *(not drawn: {exc})*", ""]
            continue
        lines += [text, "", _image(path, report_dir, name[:-4].replace("_", " ")), ""]
    return lines


def _fid_table(ctx: PipelineContext) -> list[str]:
    metric = ctx.config.gan.fid_metric or ctx.config.gan.metrics.split(",")[0]
    network = Path(ctx.network) if ctx.network else None
    records = read_metric_records(network.parent, metric) if network is not None and metric else []
    if not records:
        return []
    mine = [r for r in records if Path(r.get("snapshot_pkl", "")).name == network.name] or records
    results = mine[-1]["results"]
    rows = [f"| {key} | {value:.2f} |" for key, value in results.items()]
    return [f"**{metric}** of that network (per class: generated images of a class against the real images of "
            "the same class; lower is better):", "", "| metric | value |", "|---|---|", *rows, ""]


def _classifier_section(ctx: PipelineContext, report_dir: Path) -> list[str]:
    if ctx.config.classifier is None:
        return []
    out = ctx.outdir / "classifier"
    lines = ["## The classifier, without and with synthetic images", ""]
    table = out / "comparison.md"
    if table.is_file():
        lines += ["Patient-level results of every fold's test patients (and the external set, if given), one row per "
                  "recipe: does adding the GAN's images help?", "", table.read_text().strip(), "",
                  _image(out / "comparison.png", report_dir, "accuracy per recipe with 95% intervals"), ""]
    for recipe_dir in sorted(p for p in out.glob("*") if p.is_dir() and p.name != "gan_cache"):
        folds = sorted(recipe_dir.glob("cv*"))
        if not folds:
            continue
        first = folds[0]
        lines += [f"**{recipe_dir.name}**, fold {first.name}: training curves (train/validation loss and accuracy per "
                  "epoch; the best validation loss is the model kept) and the patient-level confusion matrix of its "
                  "test patients (rows = truth).", "",
                  _image(first / "Training_Curves.png", report_dir, f"{recipe_dir.name} training curves") + " " +
                  _image(first / "test" / "Conf_Matrix.png", report_dir, f"{recipe_dir.name} confusion matrix"), ""]
    return lines


def _ran(ctx: PipelineContext, *names: str) -> bool:
    """Whether any of these steps finished (in this run or an earlier one)."""
    return any(read_record(ctx.outdir, name) is not None for name in names)


def _montage(files: list[Path], out: Path, *, count: int = 16, cols: int = 8, side: int = 96) -> Path | None:
    """Up to ``count`` pictures of one size in a grid (small ones enlarged to ``side`` px, nearest)."""
    import numpy as np
    import PIL.Image

    from thygan.io.images import image_grid, save_png

    images = []
    for path in files[:count]:
        with PIL.Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
        if images and array.shape != images[0].shape:
            continue
        images.append(array)
    if not images:
        return None
    zoom = max(1, side // max(images[0].shape[:2]))
    images = [image.repeat(zoom, 0).repeat(zoom, 1) for image in images]
    images += [np.full_like(images[0], 255)] * (-len(images) % min(cols, len(images)))
    cols = min(cols, len(images))
    stack = np.stack(images).reshape(len(images) // cols, cols, *images[0].shape)
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_png(out, image_grid(stack))


def _embedded(markdown: Path) -> str:
    """A step's markdown inside the report: its headings become bold lines, so the report's outline stays."""
    lines = markdown.read_text().strip().splitlines()
    return "\n".join(f"**{line.lstrip('#').strip()}**" if line.startswith("#") else line for line in lines)


def _scores_table(summary: dict) -> list[str]:
    rows = [f"| {key} | {value:.4g} |" for key, value in summary.items()
            if isinstance(value, float) and key not in ("images",)]
    return ["| metric | value |", "|---|---|", *rows, ""] if rows else []


def _translation_section(ctx: PipelineContext, report_dir: Path) -> list[str]:
    from thygan.pipeline.translation_steps import MASKS, STAIN

    lines = []
    for t, heading, intro in [
        (MASKS, "## Masks -> H&E (pix2pix)", "pix2pix paints nucleus masks as H&E; its generator makes the "
         "*pix2pix_masks* pairs of the segmentation recipes below."),
        (STAIN, "## Stain translation", "A translation network between two stains (e.g. CycleGAN IHC -> H&E); its "
         "output is segmented and measured in the domain gap below."),
    ]:
        if not _ran(ctx, f"{t.prefix}-train", f"{t.prefix}-run", f"{t.prefix}-eval"):
            continue
        lines += [heading, "", intro, ""]
        run_dir = ctx.produced.get(f"{t.prefix}-train", {}).get("run_dir")
        grids = sorted(Path(run_dir).glob("web/images/epoch*.png")) if run_dir else []
        if grids:
            lines += [f"**Training grid** after the last epoch (`{run_dir}`; one per epoch in `web/`): each row a "
                      "fixed training image; columns real A, translated B, reconstructed A, real B, translated A, "
                      "reconstructed B (CycleGAN) or input, translated, true image (pix2pix). Translations should "
                      "take the target's colours and keep the input's structures.", "",
                      _image(grids[-1], report_dir, f"{t.key} training grid"), ""]
        summary_path = t.folder(ctx) / "eval" / "summary.json"
        if summary_path.is_file():
            import json

            summary = json.loads(summary_path.read_text())
            lines += [f"**Scores** of {summary.get('images', '?')} translated images (`translate eval`): PSNR (dB) and "
                      "SSIM against the true targets of the same name (higher is better; BCI's convention), FID and "
                      "KID against the target-domain images (lower is better; small sets bias FID upward, so compare "
                      "runs only at equal counts).", "", *_scores_table(summary),
                      "**Evaluation grid** (each row: input | translated | target, where there is one):", "",
                      _image(t.folder(ctx) / "eval" / "grid.png", report_dir, f"{t.key} evaluation grid"), ""]
    return lines


def _segmentation_section(ctx: PipelineContext, report_dir: Path) -> list[str]:
    lines = []
    overlays = sorted((ctx.outdir / "pseudo_labels" / "overlay").glob("*.png"))
    if _ran(ctx, "pseudo-labels") and overlays:
        picture = _montage(overlays[::max(1, len(overlays) // 16)], report_dir / "report" / "pseudo_labels.png")
        lines += ["**Pseudo-labels** (`segment pseudo-labels`; haematoxylin threshold + watershed, *not* ground "
                  "truth): 16 of the tiles with the outlines the networks below learn from. Scores against them "
                  "measure agreement with this method only.", "", _image(picture, report_dir, "pseudo-labels"), ""]
    table = ctx.outdir / "segment_cv" / "comparison.md"
    if _ran(ctx, "segment-cv") and table.is_file():
        lines += ["**Recipes compared** (`segment-cv`): HoVer-Net trained on every fold without (`none`) and with each "
                  "recipe's synthetic image + mask pairs, scored on the fold's held-out images (and the external set): "
                  "PQ, AJI and Dice (mPQ/bPQ with types) as mean +- sd over folds with 95% intervals; the paired test "
                  "asks whether a recipe differs from `none` over the folds.", "", _embedded(table), "",
                  "**The same as a plot**: one bar per recipe and score, whiskers = 95% intervals; a recipe helps "
                  "where its bar clears `none`'s interval.", "",
                  _image(ctx.outdir / "segment_cv" / "comparison.png", report_dir, "segment-cv comparison"), ""]
    run_dir = ctx.produced.get("segment-train", {}).get("run_dir")
    training = sorted(Path(run_dir).glob("overlay-*.png")) if run_dir else []
    if training:
        lines += [f"**The HoVer-Net that segments the sets below** (`{run_dir}`): its predictions on training tiles "
                  "after the last epoch (columns: image, prediction, labels); outlines should follow the labels'.", "",
                  _image(training[-1], report_dir, "segmentation training overlay"), ""]
    compare = ctx.outdir / "segmentation" / "compare"
    if _ran(ctx, "segment-compare") and (compare / "compare.md").is_file():
        lines += ["**The sets segmented by one network** (`segment compare`): nuclei per tile, their sizes and types "
                  "(and scores against labels where given). A translation that helps segmentation brings the "
                  "translated set's counts and sizes toward what the network finds on its own stain.", "",
                  _embedded(compare / "compare.md"), "",
                  "**Distributions** (per set: nuclei per tile, nucleus area, types):", "",
                  _image(compare / "compare.png", report_dir, "segmentation comparison"), "",
                  "**Examples** (each row one tile, each column a set, outlines = predicted nuclei):", "",
                  _image(compare / "examples.png", report_dir, "segmentation examples"), ""]
    return ["## Nucleus segmentation", "", *lines] if lines else []


def _domain_gap_section(ctx: PipelineContext, report_dir: Path) -> list[str]:
    if ctx.config.domain_gap is None or not _ran(ctx, "domain-gap"):
        return []
    out = ctx.outdir / "domain_gap"
    lines = ["## Domain gap", ""]
    table = out / "gap.md"
    if table.is_file():
        lines += ["Every pair of image sets in one feature space: Frechet distance and KID (0 = same distribution), "
                  "domain accuracy (cross-validated balanced accuracy of a classifier telling the sets apart: 0.5 = "
                  "chance, 1 = every image placed) with its 95% interval and a verdict (*separable*: the interval "
                  "lies above 0.5; *not separable*: it covers 0.5 and stays under 0.6 with 45+ images per set; "
                  "*n too small to tell*: anything else), and kNN overlap (0.5 = well mixed). Synthetic images "
                  "closed the gap if *real + GAN* sits closer to the external set than the real images alone.", "",
                  table.read_text().strip(), ""]
    if (out / "umap_2d.png").is_file():
        html = _link(out / "umap_3d.html", report_dir)
        lines += ["**UMAP** of the features (each point an image, coloured by set): overlapping clouds = similar "
                  f"domains. Interactive 3-D (opens offline): [{html}]({html}).", "",
                  _image(out / "umap_2d.png", report_dir, "UMAP 2-D"), ""]
    lines += ["**Gap heatmap** (set x set, one panel per measure):", "",
              _image(out / "gap_heatmap.png", report_dir, "gap heatmap"), ""]
    return lines


def _commands_section(ctx: PipelineContext) -> list[str]:
    lines = ["## Commands", "", "Each step as run (re-run any of them by hand, e.g. at full size):", "", "```bash"]
    for record in read_records(ctx.outdir):
        lines.append(Step(record.name, "", record.command).command())
    return lines + ["```", ""]


def write_report(ctx: PipelineContext) -> Path:
    """Write ``OUTDIR/REPORT.md`` (the GAN run's figures drawn into ``OUTDIR/report/``); returns its path."""
    report_dir = ctx.outdir
    lines = [f"# thygan pipeline report: `{ctx.outdir}`", "",
             "What each step produced, with how to read it. The resolved configuration is in `pipeline.json`.", ""]
    lines += _data_section(ctx)
    lines += _gan_section(ctx, report_dir)
    lines += _classifier_section(ctx, report_dir)
    lines += _translation_section(ctx, report_dir)
    lines += _segmentation_section(ctx, report_dir)
    lines += _domain_gap_section(ctx, report_dir)
    lines += _commands_section(ctx)
    path = report_dir / "REPORT.md"
    atomic_write_text(path, "\n".join(lines))
    return path
