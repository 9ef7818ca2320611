"""The pipeline's nucleus-segmentation steps (HoVer-Net):

- ``pseudo-labels``: ``thygan segment pseudo-labels`` of an unlabelled H&E image (``{pseudo_labels}``);
- ``segment-cv``: ``thygan segment-cv``, every fold x every segmentation recipe (inline recipes are
  written to ``OUTDIR/recipes/segment/NAME.json`` with their {placeholders} filled, e.g. the pix2pix
  generator ``{mask_generator}`` trained by ``masks-train``);
- ``segment-train``: one HoVer-Net on ``segmentation.data`` when the file gives no ``model``
  (``{segment_model}``);
- ``segment-infer``: ``thygan segment infer tile`` of each of ``segmentation.sets`` with that one network
  (one step per set, named ``segment-infer-<set>``);
- ``segment-compare``: ``thygan segment compare`` of those sets (against labels where given).
"""

import json
import re
from pathlib import Path

from thygan.io.atomic import atomic_write_text
from thygan.pipeline.config import SegmentationSection
from thygan.pipeline.steps import PipelineContext, Step, flag, recipe_files


def pseudo_labels_step(ctx: PipelineContext) -> Step | None:
    section = ctx.config.pseudo_labels
    if section is None:
        return None
    source = ctx.fill(section.source, "pseudo_labels.source")
    return Step("pseudo-labels", "Nucleus pseudo-labels (haematoxylin + watershed; not ground truth)",
                ["segment", "pseudo-labels", f"--source={source}", f"--dest={ctx.outdir / 'pseudo_labels'}",
                 f"--tile-size={section.tile_size}", f"--min-tissue={section.min_tissue:g}",
                 *flag("limit", section.limit),
                 *flag("magnification", None if section.magnification is None else f"{section.magnification:g}")])


def write_pseudo_patients(ctx: PipelineContext) -> dict:
    """After pseudo-labels: tiles of one image are one group to segment-cv, so its folds could not differ; the
    tiles are grouped into ``regions`` bands of the image by their row (``..._x<X>_y<Y>`` names), written as
    the study's ``dataset.json`` meta rows ``[file, label, patient]`` (as sample-tiles makes pseudo-patients)."""
    regions = ctx.config.pseudo_labels.regions
    dest = ctx.outdir / "pseudo_labels"
    names = sorted(path.name for path in (dest / "Images").glob("*.png"))
    rows = {name: int(match.group(1)) for name in names if (match := re.search(r"_y(\d+)\.png$", name))}
    if not regions or not rows:
        return {}
    ys = sorted(set(rows.values()))
    band = {y: index * regions // len(ys) for index, y in enumerate(ys)}  # whole rows, top to bottom
    meta = [[name, 0, f"region{band[rows[name]]}"] for name in sorted(rows)]
    atomic_write_text(dest / "dataset.json", json.dumps({"meta": meta}) + "\n")
    return {"regions": regions}


def training_flags(ctx: PipelineContext, section: SegmentationSection) -> list[str]:
    """The HoVer-Net options segment train and segment-cv share."""
    return [f"--mode={section.mode}", f"--nr-types={section.nr_types}", f"--width={section.width:g}",
            f"--blocks={section.blocks}", *flag("input-size", section.input_size), f"--epochs={section.epochs}",
            f"--batch={section.batch}", f"--lr={section.lr:g}", *flag("patches-per-epoch", section.patches_per_epoch),
            f"--seed={section.seed}", f"--device={ctx.config.device}", *section.extra]


def segment_cv_step(ctx: PipelineContext) -> Step | None:
    section = ctx.config.segmentation
    if section is None or section.cv is None:
        return None
    cv = section.cv
    recipes = recipe_files(ctx, cv.recipes, ctx.outdir / "recipes" / "segment", "segmentation.cv.recipes")
    external = []
    if cv.external:
        external = [f"--external={ctx.fill(cv.external, 'segmentation.cv.external')}",
                    f"--external-name={cv.external_name}"]
    cache = flag("recipe-cache", cv.recipe_cache and ctx.fill(cv.recipe_cache, "segmentation.cv.recipe_cache"))
    return Step("segment-cv", f"HoVer-Net on {cv.folds} folds for each segmentation recipe",
                ["segment-cv", f"--data={ctx.fill(section.data, 'segmentation.data')}",
                 f"--outdir={ctx.outdir / 'segment_cv'}", f"--folds={cv.folds}", f"--recipes={','.join(recipes)}",
                 *external, *cache, *training_flags(ctx, section), *cv.extra])


def segment_train_step(ctx: PipelineContext) -> Step | None:
    section = ctx.config.segmentation
    if section is None or section.model or not section.sets:
        return None
    valid = flag("valid", section.valid and ctx.fill(section.valid, "segmentation.valid"))
    return Step("segment-train", "Train the HoVer-Net that segments every set below",
                ["segment", "train", f"--data={ctx.fill(section.data, 'segmentation.data')}", *valid,
                 f"--outdir={ctx.outdir / 'segmentation' / 'runs'}", "--name=hovernet",
                 *training_flags(ctx, section)])


def set_slug(name: str) -> str:
    """A set's name as a folder and step name: 'IHC->H&E' -> 'ihc-h-e'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "set"


def segment_sets(ctx: PipelineContext) -> list[tuple[str, str, str]]:
    """(name, folder segmented, its output folder) of each of segmentation.sets."""
    sets = []
    for spec in ctx.config.segmentation.sets:
        name, folder = (part.strip() for part in spec.split("=", 1))
        sets.append((name, ctx.fill(folder, "segmentation.sets"),
                     str(ctx.outdir / "segmentation" / set_slug(name))))
    return sets


def segment_infer_steps(ctx: PipelineContext) -> list[Step]:
    section = ctx.config.segmentation
    if section is None:
        return []
    model = ctx.placeholders()["segment_model"]
    type_info = flag("type-info", section.type_info and ctx.fill(section.type_info, "segmentation.type_info"))
    return [Step(f"segment-infer-{set_slug(name)}", f"Segment the nuclei of '{name}' ({folder})",
                 ["segment", "infer", "tile", f"--model={model}", *type_info, f"--batch-size={section.infer_batch}",
                  f"--device={ctx.config.device}", f"--input-dir={folder}", f"--output-dir={out}"],
                 group="segment-infer", rewrites=[Path(out)])
            for name, folder, out in segment_sets(ctx)]


def segment_compare_step(ctx: PipelineContext) -> Step | None:
    section = ctx.config.segmentation
    if section is None or not section.sets or (len(section.sets) < 2 and not section.labels):
        return None
    sets = segment_sets(ctx)
    true = flag("true", section.labels and ctx.fill(section.labels, "segmentation.labels"))
    return Step("segment-compare", f"Compare the segmentations of {', '.join(name for name, _, _ in sets)}",
                ["segment", "compare", *(f"--set={name}={out}" for name, _, out in sets), *true,
                 f"--outdir={ctx.outdir / 'segmentation' / 'compare'}"])
