"""The pipeline's steps: each an ordinary ``thygan`` command line, built from the pipeline file.

A step is built when its turn comes, because later steps name what earlier ones produced (the
trained network). In a dry run the network is a placeholder. The order is the workflow's: tiles,
splits, GAN data, GAN training, its FID and class grid, the classifier comparison, the domain gap.
"""

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from thygan.bundled import bundled_path
from thygan.io.atomic import atomic_write_text
from thygan.pipeline.config import PipelineConfig
from thygan.sources.recipe import recipe_name

NETWORK_PLACEHOLDER = "<network picked after gan-train>"


@dataclass
class Step:
    name: str                  # short key: --only, the records in .pipeline/, the report
    title: str                 # what the step does, for the user
    args: list[str]            # the `thygan` command line, without "thygan"

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

    def placeholders(self) -> dict[str, str]:
        """Names a pipeline file may use in domain-gap sets and recipes: {tiles}, {network}, ..."""
        return {"outdir": str(self.outdir), "tiles": str(self.tiles), "network": self.network_arg,
                "ihc": str(self.outdir / "ihc_tiles"), "images": str(self.config.dataset.images or self.tiles),
                "gan_data": str(self.gan_data)}


def _flag(name: str, value) -> list[str]:
    return [] if value is None else [f"--{name}={value}"]


def tiles_step(ctx: PipelineContext) -> Step | None:
    dataset = ctx.config.dataset
    if dataset.sample is not None:
        sample, sample_dir = dataset.sample, bundled_path("sample")
        return Step("tiles", "Tile the bundled H&E slide by its region annotations (regions = pseudo-patients)",
                    ["sample-tiles", f"--slide={sample_dir / 'CMU-1-Small-Region.svs'}",
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
                 *_flag("width", size), *_flag("height", size)])


def gan_train_step(ctx: PipelineContext) -> Step | None:
    gan = ctx.config.gan
    if gan is None or gan.network:
        return None
    return Step("gan-train", f"Train a conditional StyleGAN2-ADA ({gan.cfg}, {gan.kimg:g} kimg)",
                ["train", f"--outdir={ctx.outdir / 'gan'}", f"--data={ctx.gan_data}", f"--cfg={gan.cfg}", "--cond=1",
                 f"--mirror={int(gan.mirror)}", f"--kimg={gan.kimg:g}", f"--gpus={gan.gpus}",
                 f"--metrics={gan.metrics}", *_flag("tick", None if gan.tick is None else f"{gan.tick:g}"),
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


def recipe_paths(ctx: PipelineContext) -> list[str]:
    """The recipes as dlc-cv takes them; inline ones are written to OUTDIR/recipes/NAME.json."""
    paths = []
    for recipe in ctx.config.classifier.recipes:
        if isinstance(recipe, str):
            paths.append(recipe.format(**ctx.placeholders()) if "{" in recipe else recipe)
            continue
        body = {key: value for key, value in recipe.items() if key != "name"}
        body.setdefault("network", ctx.network_arg)
        path = ctx.outdir / "recipes" / f"{recipe['name']}.json"
        if not ctx.dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(body, indent=2) + "\n")
        paths.append(str(path))
    return paths


def classifier_step(ctx: PipelineContext) -> Step | None:
    cls = ctx.config.classifier
    if cls is None:
        return None
    recipes = recipe_paths(ctx)
    network = [f"--gan_network={ctx.network}"] if ctx.network and any(r != "none" for r in recipes) else []
    external = [*_flag("ext_labels", cls.ext_labels), *_flag("ext_src_dir", cls.ext_src_dir),
                *_flag("ext_split", cls.ext_split)]
    if external:
        external.append(f"--ext_name={cls.ext_name}")
    names = ", ".join(map(recipe_name, recipes))
    return Step("classifier", f"Train and evaluate the classifier on every fold: {names}",
                ["dlc-cv", f"--src_dir={ctx.classifier_images}", f"--labels={ctx.labels}",
                 f"--split_dir={ctx.split_dir}", f"--out_dir={ctx.outdir / 'classifier'}",
                 f"--recipes={','.join(recipes)}", *_flag("folds", cls.folds), *network,
                 f"--model_type={cls.model_type}", f"--epochs={cls.epochs}", f"--batch_size={cls.batch_size}",
                 f"--lr={cls.lr:g}", f"--crop_size={cls.crop_size}", f"--workers={cls.workers}",
                 f"--device={ctx.config.device}", *external, *cls.extra])


def domain_gap_step(ctx: PipelineContext) -> Step | None:
    gap = ctx.config.domain_gap
    if gap is None:
        return None
    values = ctx.placeholders()
    sets = [f"--set={spec.format(**values)}" for spec in gap.sets]
    unions = [f"--union={spec.format(**values)}" for spec in gap.unions]
    return Step("domain-gap", f"Domain gap between the image sets ({gap.extractor} features, UMAP)",
                ["domain-gap", *sets, *unions, f"--extractor={gap.extractor}", f"--outdir={ctx.outdir / 'domain_gap'}",
                 f"--device={ctx.config.device}", *gap.extra])


# The workflow, in order. Each builder returns None where the pipeline file leaves its step out.
STEP_BUILDERS: list[Callable[[PipelineContext], Step | None]] = [
    tiles_step, external_tiles_step, splits_step, gan_data_step, gan_train_step, gan_fid_step, gan_grid_step,
    classifier_step, domain_gap_step,
]
STEP_NAMES = ["tiles", "external-tiles", "splits", "gan-data", "gan-train", "gan-fid", "gan-grid", "classifier",
              "domain-gap", "report"]
