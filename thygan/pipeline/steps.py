"""The pipeline's steps: each an ordinary ``thygan`` command line, built from the pipeline file.

A step is built when its turn comes, because later steps name what earlier ones produced (the
trained networks). In a dry run those are placeholders. This module holds what every step shares
(``Step``, ``PipelineContext`` and its ``{placeholders}``) and the GAN and classifier steps; the
translation and segmentation steps are in ``translation_steps`` and ``segmentation_steps``, the
order of all of them in ``workflow``.
"""

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from thygan.bundled import bundled_path
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.pipeline.config import PipelineConfig
from thygan.sources.recipe import recipe_name

NETWORK_PLACEHOLDER = "<network picked after gan-train>"
SAMPLE_SLIDE = "CMU-1-Small-Region.svs"  # the bundled H&E slide (data/sample/)


@dataclass
class Step:
    name: str                  # short key: the records in .pipeline/, the report
    title: str                 # what the step does, for the user
    args: list[str]            # the `thygan` command line, without "thygan"
    group: str = ""            # the --only name of a family of steps (segment-infer-raw: segment-infer)
    # Output folders emptied before the step runs again with other options: its command resumes only outputs
    # of the same network and settings and refuses others (.thygan-settings.json), and outputs of inputs the
    # new options no longer give would stay behind.
    rewrites: list[Path] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.group or self.name

    def command(self) -> str:
        return "thygan " + " ".join(shlex.quote(a) for a in self.args)


@dataclass
class PipelineContext:
    """What the steps share: the configuration, where results go, and what earlier steps produced."""
    config: PipelineConfig
    outdir: Path
    dry_run: bool = False
    network: str | None = None           # the generator the later steps use
    produced: dict = field(default_factory=dict)

    @property
    def tiles(self) -> Path:
        """The labelled images the GAN learns from (tiles of the sample, crops, or the images)."""
        dataset = self.config.dataset
        if dataset.sample is not None:
            return self.outdir / "tiles"
        if dataset.crop_size:
            return self.outdir / "crops"
        if not dataset.images:
            raise UserError("pipeline: {tiles} names the dataset's images, but the file sets neither "
                            "dataset.images nor dataset.sample")
        return Path(dataset.images)

    @property
    def labels(self) -> Path:
        """Labels of the images the classifier trains on (with patients)."""
        dataset = self.config.dataset
        return self.outdir / "tiles" / "dataset.json" if dataset.sample is not None else Path(dataset.labels)

    @property
    def classifier_images(self) -> Path:
        return self.outdir / "tiles" if self.config.dataset.sample is not None else Path(self.config.dataset.images)

    @property
    def split_dir(self) -> Path:
        return Path(self.config.splits.split_dir) if self.config.splits.split_dir else self.outdir / "splits"

    @property
    def gan_data(self) -> Path:
        return self.outdir / "gan_data.zip"

    @property
    def network_arg(self) -> str:
        return self.network or NETWORK_PLACEHOLDER

    def made(self, step: str, given: str | None = None) -> str:
        """The network an earlier step trained (or ``given`` in the file); before it ran, a placeholder."""
        return given or self.produced.get(step, {}).get("network") or f"<network trained by {step}>"

    def placeholders(self) -> dict[str, str]:
        """Names a pipeline file may use in sets, folders and recipes: {tiles}, {network}, {translated}, ..."""
        config, out = self.config, self.outdir
        dataset = config.dataset
        has_images = dataset.sample is not None or bool(dataset.images)
        tiles = str(self.tiles) if has_images else "{tiles}"
        return {"outdir": str(out), "tiles": tiles, "network": self.network_arg,
                "ihc": str(out / "ihc_tiles"), "images": str(dataset.images or tiles),
                "gan_data": str(self.gan_data), "slide": str(bundled_path("sample") / SAMPLE_SLIDE),
                "pseudo_labels": str(out / "pseudo_labels"),
                "mask_generator": self.made("masks-train", config.mask_translation and config.mask_translation.network),
                "mask_translated": str(out / "mask_translation" / "translated"),
                "translator": self.made("translate-train", config.translation and config.translation.network),
                "translated": str(out / "translation" / "translated"),
                "segment_model": self.made("segment-train", config.segmentation and config.segmentation.model)}

    def fill(self, text: str, where: str) -> str:
        """``text`` with its {placeholders} replaced; an unknown one is a one-line error naming ``where``."""
        if "{" not in text:
            return text
        values = self.placeholders()
        try:
            filled = text.format(**values)
        except (KeyError, IndexError, ValueError) as exc:
            raise UserError(f"pipeline: {where}: unknown placeholder {exc} in {text!r} (known: "
                            f"{', '.join('{' + name + '}' for name in values)})") from None
        if "{tiles}" in filled:
            self.tiles  # noqa: B018 - raises the one-line error: no dataset images to name
        return filled


def flag(name: str, value) -> list[str]:
    return [] if value is None else [f"--{name}={value}"]


def tiles_step(ctx: PipelineContext) -> Step | None:
    dataset = ctx.config.dataset
    if dataset.sample is not None:
        sample, sample_dir = dataset.sample, bundled_path("sample")
        return Step("tiles", "Tile the bundled H&E slide by its region annotations (regions = pseudo-patients)",
                    ["sample-tiles", f"--slide={sample_dir / SAMPLE_SLIDE}",
                     f"--annotations={sample_dir / 'annotations.geojson'}", f"--tile={sample.tile}",
                     f"--magnification={sample.magnification:g}", f"--dest={ctx.tiles}"])
    if dataset.crop_size:
        return Step("tiles", f"Cut the images into {dataset.crop_size} px crops with their labels (split_dataset.py)",
                    ["split-dataset", f"--source={dataset.images}", f"--labels={dataset.labels}",
                     f"--dest={ctx.tiles}", f"--crop_size={dataset.crop_size}"])
    return None


def external_tiles_step(ctx: PipelineContext) -> Step | None:
    sample = ctx.config.dataset.sample
    if sample is None or not sample.ihc_external or ctx.config.domain_gap is None:
        return None
    return Step("external-tiles", "Tile the IHC image: a second stain, standing in for an external cohort",
                ["sample-tiles", "--ihc", f"--tile={sample.tile}", f"--dest={ctx.outdir / 'ihc_tiles'}"])


def splits_step(ctx: PipelineContext) -> Step | None:
    splits = ctx.config.splits
    if splits.split_dir or ctx.config.classifier is None:
        return None
    return Step("splits", "Patient-grouped, stratified cross-validation splits",
                ["splits", f"--labels={ctx.labels}", f"--dest={ctx.split_dir}", f"--folds={splits.folds}",
                 f"--inner-folds={splits.inner_folds}", f"--stratify={splits.stratify}", f"--seed={splits.seed}"])


def gan_data_step(ctx: PipelineContext) -> Step | None:
    gan = ctx.config.gan
    if gan is None or (gan.network and not gan.fid_metric):
        return None
    size = ctx.config.dataset.resolution
    return Step("gan-data", "Pack the labelled images into a GAN dataset (StyleGAN2-ADA layout)",
                ["dataset-tool", f"--source={ctx.tiles}", f"--dest={ctx.gan_data}",
                 *flag("width", size), *flag("height", size)])


def gan_train_step(ctx: PipelineContext) -> Step | None:
    gan = ctx.config.gan
    if gan is None or gan.network:
        return None
    return Step("gan-train", f"Train a conditional StyleGAN2-ADA ({gan.cfg}, {gan.kimg:g} kimg)",
                ["train", f"--outdir={ctx.outdir / 'gan'}", f"--data={ctx.gan_data}", f"--cfg={gan.cfg}", "--cond=1",
                 f"--mirror={int(gan.mirror)}", f"--kimg={gan.kimg:g}", f"--gpus={gan.gpus}",
                 f"--metrics={gan.metrics}", *flag("tick", None if gan.tick is None else f"{gan.tick:g}"),
                 f"--snap={gan.snap}",
                 f"--device={ctx.config.device}", *gan.extra])


def gan_fid_step(ctx: PipelineContext) -> Step | None:
    gan = ctx.config.gan
    if gan is None or not gan.fid_metric:
        return None
    return Step("gan-fid", f"Score the generator: {gan.fid_metric} against the real images",
                ["metrics", f"--network={ctx.network_arg}", f"--metrics={gan.fid_metric}", f"--data={ctx.gan_data}",
                 "--mirror=0", f"--device={ctx.config.device}"])


def gan_grid_step(ctx: PipelineContext) -> Step | None:
    if ctx.config.gan is None:
        return None
    return Step("gan-grid", "Generate a class grid (one row per class)",
                ["generate", f"--network={ctx.network_arg}", f"--seeds={ctx.config.gan.grid_seeds}", "--class=all",
                 "--grid", "--overwrite", f"--outdir={ctx.outdir / 'generated'}", f"--device={ctx.config.device}"])


def _filled(ctx: PipelineContext, value, where: str):
    """Every string inside a recipe mapping with its {placeholders} replaced."""
    if isinstance(value, str):
        return ctx.fill(value, where)
    if isinstance(value, dict):
        return {key: _filled(ctx, item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(ctx, item, where) for item in value]
    return value


def recipe_files(ctx: PipelineContext, recipes: list, folder: Path, where: str, *,
                 network: str | None = None) -> list[str]:
    """Recipes as the commands take them: files and 'none' as given (placeholders filled), inline ones
    written to FOLDER/NAME.json (not in a dry run), their ``network`` defaulting to ``network``."""
    paths = []
    for recipe in recipes:
        if isinstance(recipe, str):
            paths.append(ctx.fill(recipe, where))
            continue
        body = _filled(ctx, {key: value for key, value in recipe.items() if key != "name"}, where)
        if network is not None:
            body.setdefault("network", network)
        path = folder / f"{recipe['name']}.json"
        if not ctx.dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(body, indent=2) + "\n")
        paths.append(str(path))
    return paths


def recipe_paths(ctx: PipelineContext) -> list[str]:
    """The recipes as dlc-cv takes them; inline ones are written to OUTDIR/recipes/NAME.json."""
    return recipe_files(ctx, ctx.config.classifier.recipes, ctx.outdir / "recipes", "classifier.recipes",
                        network=ctx.network_arg)


def classifier_step(ctx: PipelineContext) -> Step | None:
    cls = ctx.config.classifier
    if cls is None:
        return None
    recipes = recipe_paths(ctx)
    network = [f"--gan_network={ctx.network}"] if ctx.network and any(r != "none" for r in recipes) else []
    external = [*flag("ext_labels", cls.ext_labels), *flag("ext_src_dir", cls.ext_src_dir),
                *flag("ext_split", cls.ext_split)]
    if external:
        external.append(f"--ext_name={cls.ext_name}")
    names = ", ".join(map(recipe_name, recipes))
    return Step("classifier", f"Train and evaluate the classifier on every fold: {names}",
                ["dlc-cv", f"--src_dir={ctx.classifier_images}", f"--labels={ctx.labels}",
                 f"--split_dir={ctx.split_dir}", f"--out_dir={ctx.outdir / 'classifier'}",
                 f"--recipes={','.join(recipes)}", *flag("folds", cls.folds), *network,
                 f"--model_type={cls.model_type}", f"--epochs={cls.epochs}", f"--batch_size={cls.batch_size}",
                 f"--lr={cls.lr:g}", f"--crop_size={cls.crop_size}", f"--workers={cls.workers}",
                 f"--device={ctx.config.device}", *external, *cls.extra])


def domain_gap_step(ctx: PipelineContext) -> Step | None:
    gap = ctx.config.domain_gap
    if gap is None:
        return None
    sets = [f"--set={ctx.fill(spec, 'domain_gap.sets')}" for spec in gap.sets]
    unions = [f"--union={ctx.fill(spec, 'domain_gap.unions')}" for spec in gap.unions]
    return Step("domain-gap", f"Domain gap between the image sets ({gap.extractor} features, UMAP)",
                ["domain-gap", *sets, *unions, f"--extractor={gap.extractor}", f"--outdir={ctx.outdir / 'domain_gap'}",
                 f"--device={ctx.config.device}", *gap.extra])
