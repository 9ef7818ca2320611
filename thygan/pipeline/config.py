"""The pipeline file: the whole workflow (tiles, splits, GAN, FID, classifier comparison, image
translation, nucleus segmentation, domain gap) described once, in YAML or JSON, as a tree of typed sections.

Every key has a default, unknown keys are refused with the key's path, and the resolved tree is
written beside the results (``pipeline.json``) so a run records exactly what it did. Values are the
flags of the thygan commands the steps run; ``extra`` lists pass any further flag through unchanged.
"""

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from thygan.device import pick_device
from thygan.errors import UserError

AUTO = "auto"  # a default that depends on where the pipeline runs (see METRIC_DEFAULTS)
# (gan.metrics, gan.fid_metric) by device: a GPU gets the paper-sized counts; a CPU counts it can afford
# (train.py's CPU presets score fid2k_full; the Inception costs ~0.1 s per image on a CPU core).
METRIC_DEFAULTS = {"cuda": ("fid50k_full", "fid10k_full_perclass"), "cpu": ("fid2k_full", "fid1k_full_perclass")}


@dataclass
class SampleSection:
    """Tile the bundled real H&E slide (data/sample/) instead of bringing images."""
    tile: int = 32                       # tile side in pixels
    magnification: float = 10.0          # objective power the slide is tiled at
    ihc_external: bool = True            # also tile the IHC image: a second stain as the "external" domain


@dataclass
class DatasetSection:
    images: str | None = None            # folder of the labelled images (e.g. all_imgs/TharunThompson/)
    labels: str | None = None            # their labels (study JSON with 'meta', CSV, dataset.json)
    crop_size: int | None = None         # cut the images into crops of this side for the GAN (split_dataset.py)
    resolution: int | None = None        # GAN image side; dataset-tool resizes to it (default: as the crops)
    sample: SampleSection | None = None  # or: the bundled sample (no images/labels needed)


@dataclass
class SplitsSection:
    split_dir: str | None = None         # existing split files (what `thygan splits --dest` wrote); else made
    folds: int = 5                       # outer folds
    inner_folds: int = 4                 # inner (train/val) folds
    stratify: str = "diagnosis"          # diagnosis | label
    seed: int = 42


@dataclass
class GanSection:
    network: str | None = None           # an existing generator (.pkl or checkpoint): skip training
    cfg: str = "paper512"                # train.py --cfg
    kimg: float = 25000                  # train.py --kimg (fractions such as 0.4 work)
    gpus: int = 1
    mirror: bool = True
    metrics: str = AUTO                  # computed at snapshots; the lowest picks the network used after;
                                         # auto = fid50k_full on a GPU, fid2k_full on a CPU (as train.py's CPU presets)
    tick: float | None = None            # kimg per tick (train.py default 4)
    snap: int = 50                       # ticks between snapshots
    extra: list[str] = field(default_factory=list)   # more train.py flags, e.g. ["--gamma=0.5"]
    fid_metric: str | None = AUTO        # scored on the picked network; null = skip; auto = fid10k_full_perclass
                                         # on a GPU, fid1k_full_perclass on a CPU (1,000 images per class)
    grid_seeds: str = "0-7"              # the class grid's seeds (one row per class)


@dataclass
class ClassifierSection:
    recipes: list[Any] = field(default_factory=lambda: ["none"])  # gan_params files, 'none', or inline recipes
    folds: str | None = None             # e.g. 0-4 (inclusive); default all
    model_type: str = "resnet101"
    epochs: int = 500
    batch_size: int = 64
    lr: float = 1e-3
    crop_size: int = 512
    workers: int = 8
    extra: list[str] = field(default_factory=list)   # more dlc-cv flags, e.g. ["--width=16"]
    ext_labels: str | None = None        # an external labelled cohort scored by the same models
    ext_src_dir: str | None = None
    ext_split: str | None = None
    ext_name: str = "external"


@dataclass
class PseudoLabelsSection:
    """``thygan segment pseudo-labels``: nucleus pseudo-labels (not ground truth) of an unlabelled H&E image."""
    source: str = "{slide}"              # image or slide; {slide} = the bundled H&E slide
    tile_size: int = 256                 # tile side in px
    min_tissue: float = 0.5              # skip tiles with less tissue
    limit: int | None = None             # at most this many tiles
    magnification: float | None = None   # whole slides: objective power (default: full resolution)
    regions: int | None = 4              # group the tiles into this many bands of the image (pseudo-patients:
                                         # dataset.json meta, which segment-cv's folds keep apart); null = none


@dataclass
class TranslationSection:
    """``thygan translate train`` (+ ``run`` and ``eval``): one image -> image network."""
    network: str | None = None           # an existing generator (snapshot or reference .pth): skip training
    dataroot: str | None = None          # an existing --dataroot; else one is laid out from domain_a/domain_b
    domain_a: str | None = None          # trainA/ (unaligned) or A/ (paired: masks with mask_types > 0)
    domain_b: str | None = None          # trainB/ or B/: the target domain
    model: str = "cycle_gan"             # cycle_gan | pix2pix
    dataset_mode: str | None = None      # unaligned | aligned | paired (default: the model's)
    mask_types: int = 0                  # A files are nucleus masks with this many types (mask -> H&E)
    netG: str | None = None              # default: resnet_9blocks (cycle_gan), unet_256 (pix2pix)
    ngf: int = 64
    ndf: int = 64
    n_epochs: int = 100                  # epochs at the initial learning rate
    n_epochs_decay: int = 100            # then linear decay to zero
    batch_size: int = 1
    lr: float = 2e-4
    load_size: int = 286                 # px, then cropped to crop_size
    crop_size: int = 256
    preprocess: str = "resize_and_crop"
    extra: list[str] = field(default_factory=list)   # more translate-train flags, e.g. ["--lambda_L1=75"]
    translate: str | None = None         # a set translated after training (translate run; masks with mask_types)
    which: str = "G_A"                   # generator used for it (CycleGAN: G_A = A -> B)
    real: str | None = None              # paired true targets of that set (PSNR/SSIM by file name)
    target: str | None = None            # target-domain images for FID/KID (default: real)
    metrics: str | None = "psnr,ssim"    # translate eval --metrics; null = no evaluation
    batch: int = 4                       # images per generator call (translate run)


@dataclass
class SegmentCvSection:
    """``thygan segment-cv``: every fold x every segmentation recipe, one comparison table."""
    folds: int = 3
    recipes: list[Any] = field(default_factory=lambda: ["none"])  # recipe files, 'none', or inline recipes
    external: str | None = None          # a labelled held-out set scored by every fold's model
    external_name: str = "external"
    recipe_cache: str | None = None      # shared cache of the recipes' pairs (default: segment-cv's)
    extra: list[str] = field(default_factory=list)


@dataclass
class SegmentationSection:
    """HoVer-Net: recipe comparison (segment-cv), one network (segment train or given), sets segmented and compared."""
    data: str | None = None              # labelled training data (Images/ + Labels/, PanNuke fold, ...)
    valid: str | None = None             # held-out data for segment train's per-epoch scores
    mode: str = "fast"                   # original (270 -> 80 px) | fast (256 -> 164 px)
    nr_types: int = 0                    # types with background (PanNuke: 6); 0 = segmentation only
    width: float = 1.0                   # channel multiplier (below 1: a CPU-sized network)
    blocks: str = "3,4,6,3"              # residual units per encoder group
    input_size: int | None = None        # window side (default: the mode's)
    epochs: str = "50,50"                # phase 1 (encoder frozen), phase 2
    batch: str = "16,4"
    lr: float = 1e-4
    patches_per_epoch: int | None = None
    seed: int = 10
    extra: list[str] = field(default_factory=list)   # more flags for segment train and segment-cv
    cv: SegmentCvSection | None = None   # null = no recipe comparison
    model: str | None = None             # a HoVer-Net for the sets below; null = train one on data
    type_info: str | None = None         # type_info.json for the overlays
    infer_batch: int = 8                 # windows per forward pass (segment infer tile)
    sets: list[str] = field(default_factory=list)    # NAME=FOLDER segmented by one network, then compared
    labels: str | None = None            # true labels of those sets (segment compare --true), if any


@dataclass
class DomainGapSection:
    sets: list[str] = field(default_factory=list)    # NAME=SOURCE[:k=v] as `thygan domain-gap --set`
    unions: list[str] = field(default_factory=list)  # NAME=A,B
    extractor: str = "inception"
    extra: list[str] = field(default_factory=list)


@dataclass
class PipelineConfig:
    outdir: str = "pipeline_out"
    device: str = "auto"
    dataset: DatasetSection = field(default_factory=DatasetSection)
    splits: SplitsSection = field(default_factory=SplitsSection)
    gan: GanSection | None = field(default_factory=GanSection)           # null = no GAN steps
    classifier: ClassifierSection | None = field(default_factory=ClassifierSection)
    pseudo_labels: PseudoLabelsSection | None = None        # nucleus pseudo-labels of an unlabelled image
    mask_translation: TranslationSection | None = None      # masks -> H&E (pix2pix) for pix2pix_masks recipes
    translation: TranslationSection | None = None           # stain translation (e.g. CycleGAN IHC -> H&E)
    segmentation: SegmentationSection | None = None
    domain_gap: DomainGapSection | None = None


def _build(cls, data: Any, where: str):
    """A dataclass from a mapping, refusing unknown keys and wrong kinds with the key's path."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping of keys, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise UserError(f"{where}: unknown key '{unknown[0]}' (expected one of: {', '.join(known)})")
    values = {}
    for name, value in data.items():
        kinds = _alternatives(known[name].type)
        section = next((kind for kind in kinds if is_dataclass(kind)), None)
        if section is not None and value is not None:
            values[name] = _build(section, value, f"{where}.{name}")
        else:
            values[name] = _checked(value, kinds, f"{where}.{name}")
    return cls(**values)


def _alternatives(annotation) -> tuple:
    """``A | B | None`` -> (A, B, NoneType); anything else (``list[str]``, ``int``) -> (itself,)."""
    return typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)


def _checked(value: Any, kinds: tuple, where: str) -> Any:
    """The value if it is one of the field's kinds (an int passes for a float), else a one-line error."""
    origins = {getattr(kind, "__origin__", kind) for kind in kinds}
    if value is None and type(None) in origins or Any in origins:
        return value
    if float in origins and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if any(isinstance(value, kind) and not (kind is int and isinstance(value, bool)) for kind in origins
           if isinstance(kind, type)):
        return value
    wanted = " or ".join(sorted(getattr(kind, "__name__", str(kind)) for kind in origins))
    raise UserError(f"{where}: expected {wanted}, got {value!r}")


def load_config(path: str | Path) -> PipelineConfig:
    """Read a pipeline file (``.yaml``/``.yml`` or ``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--config: {path} does not exist (expected a pipeline .yaml or .json file)")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parser error is the user's file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"--config: {path} is not valid {'YAML' if path.suffix != '.json' else 'JSON'} "
                        f"({first})") from None
    config = _build(PipelineConfig, data, str(path))
    validate(config, str(path))
    return resolve_defaults(config)


def resolve_defaults(config: PipelineConfig) -> PipelineConfig:
    """Replace the ``auto`` metric defaults by those of the device the pipeline runs on (in place)."""
    gan = config.gan
    if gan is None or AUTO not in (gan.metrics, gan.fid_metric):
        return config
    metrics, fid_metric = METRIC_DEFAULTS[pick_device(config.device).type]
    if gan.metrics == AUTO:
        gan.metrics = metrics
    if gan.fid_metric == AUTO:
        gan.fid_metric = fid_metric
    return config


def validate(config: PipelineConfig, where: str) -> None:
    dataset = config.dataset
    if dataset.sample is None and not dataset.images and (config.gan is not None or config.classifier is not None):
        raise UserError(f"{where}: dataset needs 'images' (a folder of labelled images) or 'sample: {{}}'")
    if dataset.sample is not None and dataset.images:
        raise UserError(f"{where}: dataset has both 'images' and 'sample'; pick one")
    if config.splits.stratify not in ("diagnosis", "label"):
        raise UserError(f"{where}: splits.stratify must be 'diagnosis' or 'label', got {config.splits.stratify!r}")
    if config.domain_gap is not None and len(config.domain_gap.sets) < 2:
        raise UserError(f"{where}: domain_gap.sets needs two or more sets (NAME=SOURCE)")
    if config.classifier is not None:
        for recipe in config.classifier.recipes:
            if not isinstance(recipe, (str, dict)):
                raise UserError(f"{where}: classifier.recipes entries are file paths, 'none' or recipe "
                                f"mappings, got {recipe!r}")
            if isinstance(recipe, dict) and "name" not in recipe:
                raise UserError(f"{where}: an inline recipe needs a 'name' (used for its file and table row)")
    for key in ("mask_translation", "translation"):
        _validate_translation(getattr(config, key), f"{where}: {key}")
    if config.segmentation is not None:
        _validate_segmentation(config.segmentation, f"{where}: segmentation")


def _validate_translation(section: TranslationSection | None, where: str) -> None:
    if section is None:
        return
    if section.model not in ("cycle_gan", "pix2pix"):
        raise UserError(f"{where}.model must be 'cycle_gan' or 'pix2pix', got {section.model!r}")
    if not section.network and not section.dataroot and not (section.domain_a and section.domain_b):
        raise UserError(f"{where} needs 'network' (a trained generator), 'dataroot', or 'domain_a' and 'domain_b' "
                        "(the two image folders to learn from)")
    if section.metrics and not section.translate:
        raise UserError(f"{where}.metrics scores the translations of 'translate', which is not set "
                        "(set it, or metrics: null)")


def _validate_segmentation(section: SegmentationSection, where: str) -> None:
    if section.mode not in ("original", "fast"):
        raise UserError(f"{where}.mode must be 'original' or 'fast', got {section.mode!r}")
    if section.cv is not None:
        if not section.data:
            raise UserError(f"{where}.cv compares recipes on 'data', which is not set")
        for recipe in section.cv.recipes:
            if not isinstance(recipe, (str, dict)) or isinstance(recipe, dict) and "name" not in recipe:
                raise UserError(f"{where}.cv.recipes entries are file paths, 'none' or recipe mappings with a "
                                f"'name', got {recipe!r}")
    names = [spec.split("=", 1)[0].strip() for spec in section.sets]
    bad = next((spec for spec, name in zip(section.sets, names) if "=" not in spec or not name), None)
    if bad is not None:
        raise UserError(f"{where}.sets: expected NAME=FOLDER, got {bad!r}")
    if len(set(names)) != len(names):
        raise UserError(f"{where}.sets: set names must differ, got {', '.join(names)}")
    if section.sets and not section.model and not section.data:
        raise UserError(f"{where}.sets are segmented by 'model', or by a network trained on 'data'; set one")


def config_to_dict(config: PipelineConfig) -> dict:
    assert is_dataclass(config)
    return asdict(config)
