"""``REPORT.md``: every figure and table of a pipeline run, linked, each with a line on how to read it.

The report only reads what the steps wrote (and draws the GAN run's figures into ``report/``), so it
can be rewritten at any time with ``thygan pipeline --config ... --only report``.
"""

import os
from pathlib import Path

from thygan.data.labels import read_labels
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.pipeline.runner import read_records
from thygan.pipeline.steps import PipelineContext, Step
from thygan.runs import read_metric_records
from thygan.viz.training_run import plot_metric_over_kimg, plot_training_curves, reals_vs_fakes


def _link(path: Path, report_dir: Path) -> str:
    return Path(os.path.relpath(path, report_dir)).as_posix()


def _image(path: Path, report_dir: Path, alt: str) -> str:
    return f"![{alt}]({_link(path, report_dir)})" if path.is_file() else f"*({alt}: {path} was not written)*"


def _data_section(ctx: PipelineContext) -> list[str]:
    lines = ["## Data", ""]
    if ctx.labels.is_file():
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


def _domain_gap_section(ctx: PipelineContext, report_dir: Path) -> list[str]:
    if ctx.config.domain_gap is None:
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
    lines += _domain_gap_section(ctx, report_dir)
    lines += _commands_section(ctx)
    path = report_dir / "REPORT.md"
    atomic_write_text(path, "\n".join(lines))
    return path
