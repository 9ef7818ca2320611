"""What a pipeline is checked for before its first step runs (dry runs too), so a mistake costs
seconds, not the hours of the steps before the one it would break:

- every input file and folder the pipeline file names exists (those of the translation and
  segmentation sections too, except ones made by earlier steps, named by {placeholders});
- every recipe parses (files and inline ones: seeds, classes, kinds); its network and classes are
  checked by dlc-cv once the GAN exists, still before the first fold;
- the splits it would make are possible for the labels' patients (the check of ``thygan splits``),
  and the classifier's folds are among them;
- the classifier's crops fit the synthetic images (a 512 px crop cannot be cut from a 64 px GAN
  image), and a warning when the GAN sees the tissue at another scale than the classifier does.

Each problem is one UserError line naming the key of the pipeline file.
"""

from collections.abc import Callable
from pathlib import Path

from dnnlib import parse_num_range
from thygan.data.labels import read_labels
from thygan.data.splits import plan_splits
from thygan.errors import UserError
from thygan.io.checkpoint import checkpoint_paths
from thygan.io.network_file import load_network_file
from thygan.pipeline.config import PipelineConfig
from thygan.sources.recipe import is_no_recipe, parse_recipe, read_recipe
from thygan.stylegan.networks import NETWORKS

SPLIT_FLAGS = ("splits.folds", "splits.inner_folds")


def check_pipeline(config: PipelineConfig, *, warn: Callable[[str], None] = print) -> None:
    """Raise UserError for the first problem found; ``warn`` receives one line per scale mismatch."""
    _check_inputs(config)
    _check_downstream_inputs(config)
    _check_recipes(config)
    _check_folds(config)
    _check_crops(config, warn)


def _exists(key: str, value: str | None, *, folder: bool | None, expected: str) -> None:
    if value is None:
        return
    path = Path(value)
    ok = path.is_dir() if folder else path.is_file() if folder is False else path.exists()
    if not ok:
        raise UserError(f"pipeline: {key}: {path} does not exist (expected {expected})")


def _network_exists(key: str, value: str) -> None:
    path = Path(value)
    if not (path.is_file() or checkpoint_paths(path)[0].is_file()):
        raise UserError(f"pipeline: {key}: {path} does not exist (expected a .pkl or a checkpoint's .safetensors)")


def _check_inputs(config: PipelineConfig) -> None:
    dataset = config.dataset
    if dataset.sample is None:
        _exists("dataset.images", dataset.images, folder=True, expected="a folder of labelled images")
        _exists("dataset.labels", dataset.labels, folder=None, expected="a labels file or class folders")
    _exists("splits.split_dir", config.splits.split_dir, folder=True, expected="the split files' folder")
    if config.gan is not None and config.gan.network:
        _network_exists("gan.network", config.gan.network)
    classifier = config.classifier
    if classifier is None:
        return
    for recipe in classifier.recipes:
        if isinstance(recipe, str) and recipe.strip().lower() not in ("", "none") and "{" not in recipe:
            _exists("classifier.recipes", recipe, folder=False, expected="a gan_params recipe file")
    _exists("classifier.ext_labels", classifier.ext_labels, folder=None, expected="the external set's labels")
    _exists("classifier.ext_src_dir", classifier.ext_src_dir, folder=True, expected="the external images")
    _exists("classifier.ext_split", classifier.ext_split, folder=False, expected="a split file")


def _given(key: str, value: str | None, *, folder: bool | None, expected: str) -> None:
    """A path the user gives (one with a {placeholder} is made by an earlier step, so not yet there)."""
    if value is not None and "{" not in value:
        _exists(key, value, folder=folder, expected=expected)


def _check_downstream_inputs(config: PipelineConfig) -> None:
    if config.pseudo_labels is not None:
        _given("pseudo_labels.source", config.pseudo_labels.source, folder=False, expected="an H&E image or slide")
    for key in ("mask_translation", "translation"):
        section = getattr(config, key)
        if section is None:
            continue
        if section.network and "{" not in section.network:
            _network_exists(f"{key}.network", section.network)
        _given(f"{key}.dataroot", section.dataroot, folder=True, expected="a translate-train data folder")
        for name in ("domain_a", "domain_b", "translate", "real", "target"):
            _given(f"{key}.{name}", getattr(section, name), folder=None, expected="a folder (or zip) of images")
    section = config.segmentation
    if section is None:
        return
    _given("segmentation.data", section.data, folder=True, expected="labelled nucleus data")
    _given("segmentation.valid", section.valid, folder=True, expected="labelled nucleus data")
    _given("segmentation.model", section.model, folder=False, expected="a HoVer-Net snapshot or reference .tar")
    _given("segmentation.type_info", section.type_info, folder=False, expected="a type_info.json")
    _given("segmentation.labels", section.labels, folder=True, expected="the sets' labels")
    for spec in section.sets:
        _given("segmentation.sets", spec.split("=", 1)[1].strip(), folder=None, expected="a folder of tiles")
    if section.cv is not None:
        _given("segmentation.cv.external", section.cv.external, folder=True, expected="labelled nucleus data")
        for recipe in section.cv.recipes:
            if isinstance(recipe, str) and not is_no_recipe(recipe):
                _given("segmentation.cv.recipes", recipe, folder=False, expected="a segmentation recipe file")
            elif isinstance(recipe, dict) and not isinstance(recipe.get("sources"), list):
                raise UserError(f"pipeline: segmentation.cv.recipes: inline recipe '{recipe['name']}' needs "
                                "'sources' (a list of pix2pix_masks / translated / pseudo_labelled entries)")


def _check_recipes(config: PipelineConfig) -> None:
    classifier = config.classifier
    if classifier is None:
        return
    for index, recipe in enumerate(classifier.recipes):
        if isinstance(recipe, dict):  # the network is filled in as steps.recipe_paths does
            body = {key: value for key, value in recipe.items() if key != "name"}
            if "sources" not in body:
                body.setdefault("network", "<the pipeline's generator>")
            parse_recipe(body, name=str(recipe["name"]), source=f"pipeline: classifier.recipes[{index}]")
        elif not is_no_recipe(recipe) and "{" not in recipe:
            read_recipe(recipe)


def _check_folds(config: PipelineConfig) -> None:
    """The folds the splits step would make, planned on the labels (the tiles of a sample do not exist yet)."""
    splits, classifier = config.splits, config.classifier
    if classifier is None or splits.split_dir or config.dataset.sample is not None or not config.dataset.labels:
        return
    plan_splits(read_labels(config.dataset.labels), stratify=splits.stratify, folds=splits.folds,
                inner_folds=splits.inner_folds, seed=splits.seed, flags=SPLIT_FLAGS)
    try:
        wanted = parse_num_range(classifier.folds) if classifier.folds else []
    except ValueError as exc:
        raise UserError(f"pipeline: classifier.folds: {exc}") from None
    absent = [k for k in wanted if k >= splits.folds]
    if absent:
        raise UserError(f"pipeline: classifier.folds: fold {absent[0]} does not exist; splits.folds makes folds "
                        f"0-{splits.folds - 1}")


def gan_image_side(config: PipelineConfig) -> tuple[int | None, str]:
    """(side of the synthetic images in px, where that number comes from); None where unknown before running."""
    gan, dataset = config.gan, config.dataset
    if gan is not None and gan.network:
        loaded = load_network_file(gan.network, registry=NETWORKS)
        G = loaded.networks.get("G_ema") or loaded.networks.get("G")
        return (G.img_resolution, f"gan.network {gan.network}") if G is not None else (None, "")
    if dataset.resolution:
        return dataset.resolution, "dataset.resolution"
    if dataset.sample is not None:
        return dataset.sample.tile, "dataset.sample.tile"
    if dataset.crop_size:
        return dataset.crop_size, "dataset.crop_size"
    return None, ""


def _check_crops(config: PipelineConfig, warn: Callable[[str], None]) -> None:
    classifier, dataset = config.classifier, config.dataset
    synthetic = classifier is not None and config.gan is not None and any(
        not (isinstance(recipe, str) and recipe.strip().lower() in ("", "none")) for recipe in classifier.recipes)
    if not synthetic:
        return
    side, source = gan_image_side(config)
    crop = classifier.crop_size
    if side is not None and crop > side:
        raise UserError(f"pipeline: classifier.crop_size: {crop} px crops do not fit the GAN's {side} px images "
                        f"({source}); use classifier.crop_size <= {side}, or a GAN of {crop} px or more")
    region = dataset.sample.tile if dataset.sample is not None else dataset.crop_size
    if config.gan.network or not region or not dataset.resolution or dataset.resolution == region:
        return
    real = "the tiles" if dataset.sample is not None else "the full-resolution images"
    warn(f"warning: the GAN learns {region} px regions shrunk to {dataset.resolution} px "
         f"({region / dataset.resolution:g}x less tissue detail per pixel) while the classifier takes "
         f"{crop} px crops of {real}: synthetic and real images show the tissue at different scales "
         f"(set dataset.resolution to {region}, or crop the classifier's images at the GAN's scale)")
