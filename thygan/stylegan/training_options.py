"""The options of one training run, declared once: train.py's flags (``TrainFlags``, whose defaults the
click command shows), their resolution into ``TrainingOptions`` as the reference's
``setup_training_loop_kwargs`` does (same validation messages, same defaults, same ``desc``), and the
options tree itself, printed and saved as training_options.json.

Loading rejects unknown keys, so a typo in a hand-edited options file fails loudly instead of being
silently ignored. Torch-free, so the CLI can read the defaults without slowing ``--help``.
"""

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from thygan.errors import UserError
from thygan.stylegan.presets import PRESETS, Preset, network_kwargs, resolve_preset

OPTIONS_FILE = "training_options.json"  # in the run folder, as the reference names it
PRECISIONS = ("fp16", "bf16")  # --precision: dtype of the top num_fp16_res resolutions
AUGPIPES = ("blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf", "bgcfn", "bgcfnc")


@dataclass
class DataOptions:
    path: str = ""               # dataset folder or zip (dataset_tool layout)
    use_labels: bool = False     # conditional training (--cond)
    xflip: bool = False          # mirror augmentation: doubles the dataset (--mirror)
    max_size: int | None = None  # subset size (--subset); None = all images
    resolution: int = 0          # image size, read from the dataset
    label_dim: int = 0           # number of classes, read from the dataset
    num_channels: int = 3        # image channels, read from the dataset
    class_names: list[str] | None = None  # class index -> name, when dataset.json has them
    workers: int = 3             # DataLoader worker processes per GPU


@dataclass
class AugmentOptions:
    mode: str = "ada"            # noaug | ada | fixed
    pipe: str = "bgc"            # augmentation pipeline name
    p: float = 0.0               # initial (or fixed) augmentation probability
    target: float | None = 0.6   # ADA target for E[sign(D(real))]; None = p stays fixed
    interval: int = 4            # adjust p every this many minibatches
    speed_kimg: float = 500.0    # kimg for p to move from 0 to 1


@dataclass
class LossConfig:
    r1_gamma: float = 10.0          # R1 weight gamma; the penalty is gamma/2 * |grad D(x)|^2
    style_mixing_prob: float = 0.9  # probability of mixing two latents at a random layer cutoff
    pl_weight: float = 2.0          # path-length penalty weight (0 = off)
    pl_batch_shrink: int = 2        # path-length pass uses batch // shrink samples
    pl_decay: float = 0.01          # EMA rate of the path-length target a


@dataclass
class TrainingOptions:
    G_kwargs: dict = field(default_factory=dict)   # Generator constructor arguments
    D_kwargs: dict = field(default_factory=dict)   # Discriminator constructor arguments
    data: DataOptions = field(default_factory=DataOptions)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    cfg: str = "auto"            # preset name
    lrate: float = 0.0025        # Adam learning rate of G and D (before lazy-regularization scaling)
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas
    eps: float = 1e-8            # Adam epsilon
    batch_size: int = 32         # total minibatch over all processes
    batch_gpu: int = 32          # samples per forward pass on one process (gradient accumulation)
    ema_kimg: float = 10.0       # G_ema half-life, kimg
    ema_rampup: float | None = 0.05  # half-life at most ema_rampup * cur_nimg (None = off)
    G_reg_interval: int = 4      # path-length regularization every this many minibatches
    D_reg_interval: int = 16     # R1 every this many minibatches
    total_kimg: float = 25000.0  # training length, thousands of real images
    kimg_per_tick: float = 4.0   # progress report interval
    image_snapshot_ticks: int = 50    # fakes grid every this many ticks
    network_snapshot_ticks: int = 50  # snapshot every this many ticks
    metrics: list[str] = field(default_factory=list)  # metric names evaluated at snapshots
    metrics_at_start: bool = True  # evaluate them on the tick-0 snapshot too (the untrained network)
    random_seed: int = 0         # seeds everything: init, data order, latents
    num_gpus: int = 1            # processes
    device: str = "cpu"          # cpu | cuda
    resume: str | None = None    # snapshot, run folder or reference .pkl
    cudnn_benchmark: bool = True  # cuDNN autotuner
    allow_tf32: bool = False     # TF32 matmuls and convolutions on Ampere+
    nhwc: bool = False           # channels_last in fp16 layers
    precision: str = "fp16"      # dtype of the top num_fp16_res resolutions: fp16 | bf16 | fp32 (--fp32)
    compile_backend: str | None = None  # torch.compile backend of the main phases (inductor, ...); None = eager
    run_desc: str = ""           # run folder suffix


def options_to_dict(options: TrainingOptions) -> dict:
    return dataclasses.asdict(options)


def options_to_json(options: TrainingOptions) -> str:
    return json.dumps(options_to_dict(options), indent=2) + "\n"


def _build(cls, data: dict, where: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = {"data": DataOptions, "loss": LossConfig, "augment": AugmentOptions}.get(name)
        if cls is TrainingOptions and sub is not None:
            value = _build(sub, value, f"{where}.{name}")
        elif name == "betas":
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def options_from_dict(data: dict, where: str = "training options") -> TrainingOptions:
    """Inverse of ``options_to_dict``; raises ValueError naming any unknown key."""
    return _build(TrainingOptions, data, where)


# --- train.py's flags -> TrainingOptions ----------------------------------------------------------

@dataclass
class TrainFlags:
    data: str                           # --data
    gpus: int | None = None             # --gpus; None = 1, or the process count torchrun started
    snap: int = TrainingOptions.network_snapshot_ticks  # --snap (ticks)
    metrics: str | None = None          # --metrics; None = the preset's default
    metrics_at_start: bool = TrainingOptions.metrics_at_start  # --metrics-at-start
    seed: int = TrainingOptions.random_seed  # --seed
    cond: bool = False                  # --cond
    subset: int | None = None           # --subset
    mirror: bool = False                # --mirror
    cfg: str = "auto"                   # --cfg
    gamma: float | None = None          # --gamma
    kimg: float | None = None           # --kimg (fractions allowed, for smoke tests)
    batch: int | None = None            # --batch
    aug: str | None = None              # --aug (None = ada, not written into desc)
    p: float | None = None              # --p
    target: float | None = None         # --target
    augpipe: str | None = None          # --augpipe
    resume: str | None = None           # --resume
    freezed: int = 0                    # --freezed
    fp32: bool = False                  # --fp32
    precision: str | None = None        # --precision (fp16 | bf16), unless --fp32; None = the resumed run's, else fp16
    nhwc: bool = False                  # --nhwc
    nobench: bool = False               # --nobench
    allow_tf32: bool = False            # --allow-tf32
    workers: int = DataOptions.workers  # --workers
    device: str = "auto"                # --device
    batch_gpu: int | None = None        # --batch-gpu
    tick: float | None = None           # --tick (kimg per tick)
    compile: str = "none"               # --compile


def _format_number(value: float) -> str:
    return f"{value:g}"


def resolve_training_options(flags: TrainFlags, dataset, device: str) -> tuple[TrainingOptions, str]:
    """Validate the flags against the dataset and build (options, desc). ``flags.gpus`` None means 1;
    the launcher first puts torchrun's process count there."""
    gpus = 1 if flags.gpus is None else flags.gpus
    if gpus < 1 or gpus & (gpus - 1):
        raise UserError("--gpus must be a power of two")
    if flags.snap < 1:
        raise UserError("--snap must be at least 1")
    if flags.cond and not dataset.labels_available:
        raise UserError("--cond=True requires labels specified in dataset.json")
    if flags.cfg not in PRESETS:
        raise UserError(f"--cfg: unknown preset '{flags.cfg}' (expected one of {', '.join(PRESETS.names())})")
    resolution = dataset.resolution
    desc = dataset.name + ("-cond" if flags.cond else "")
    data = DataOptions(path=dataset.path, use_labels=flags.cond, xflip=flags.mirror, resolution=resolution,
                       label_dim=dataset.label_dim if flags.cond else 0, num_channels=dataset.num_channels,
                       class_names=dataset.class_names if flags.cond else None, workers=flags.workers)
    if flags.subset is not None:
        if not 1 <= flags.subset <= len(dataset):
            raise UserError(f"--subset must be between 1 and {len(dataset)}")
        desc += f"-subset{flags.subset}"
        if flags.subset < len(dataset):
            data.max_size = flags.subset
    if flags.mirror:
        desc += "-mirror"

    preset = resolve_preset(flags.cfg, resolution=resolution, gpus=gpus)
    desc += f"-{flags.cfg}" + (str(gpus) if flags.cfg == "auto" else "")
    G_kwargs, D_kwargs = network_kwargs(preset, resolution=resolution, c_dim=data.label_dim,
                                        img_channels=dataset.num_channels, fp32=flags.fp32)
    D_kwargs["block_kwargs"]["freeze_layers"] = flags.freezed
    if flags.nhwc:
        G_kwargs["synthesis_kwargs"]["fp16_channels_last"] = True
        D_kwargs["block_kwargs"]["fp16_channels_last"] = True
    if flags.precision is not None and flags.precision not in PRECISIONS:
        raise UserError(f"--precision: unknown precision '{flags.precision}' (expected fp16 or bf16)")
    precision = "fp32" if flags.fp32 else flags.precision or TrainingOptions.precision
    if precision == "bf16":  # fp16 is the blocks' default: its kwargs stay identical to the reference's
        G_kwargs["synthesis_kwargs"]["mixed_dtype"] = D_kwargs["block_kwargs"]["mixed_dtype"] = "bfloat16"
    opts = TrainingOptions(
        G_kwargs=G_kwargs, D_kwargs=D_kwargs, data=data, cfg=flags.cfg, lrate=preset.lrate,
        loss=LossConfig(r1_gamma=preset.gamma, pl_weight=preset.pl_weight,
                        style_mixing_prob=preset.style_mixing_prob),
        batch_size=preset.mb, batch_gpu=_default_batch_gpu(preset, gpus), ema_kimg=preset.ema, ema_rampup=preset.ramp,
        total_kimg=preset.kimg, kimg_per_tick=preset.kimg_per_tick, image_snapshot_ticks=flags.snap,
        network_snapshot_ticks=flags.snap, metrics_at_start=flags.metrics_at_start, random_seed=flags.seed,
        num_gpus=gpus, device=device,
        cudnn_benchmark=not flags.nobench, allow_tf32=flags.allow_tf32, nhwc=flags.nhwc, precision=precision,
        compile_backend=None if flags.compile == "none" else flags.compile)

    if flags.gamma is not None:
        if flags.gamma < 0:
            raise UserError("--gamma must be non-negative")
        desc += f"-gamma{_format_number(flags.gamma)}"
        opts.loss.r1_gamma = flags.gamma
    if flags.kimg is not None:
        if flags.kimg <= 0:
            raise UserError("--kimg must be positive")
        desc += f"-kimg{_format_number(flags.kimg)}"
        opts.total_kimg = int(flags.kimg) if float(flags.kimg).is_integer() else flags.kimg  # "20", not "20.0"
    if flags.batch is not None:
        if flags.batch < 1 or flags.batch % gpus != 0:
            raise UserError("--batch must be at least 1 and divisible by --gpus")
        desc += f"-batch{flags.batch}"
        opts.batch_size = flags.batch
        opts.batch_gpu = flags.batch // gpus
    if flags.batch_gpu is not None:
        opts.batch_gpu = flags.batch_gpu
    if flags.tick is not None:
        opts.kimg_per_tick = flags.tick
    _check_batch_split(opts, gpus)
    desc += _resolve_augment(flags, opts)
    if flags.resume is not None and flags.resume != "noresume":
        opts.resume = flags.resume
        desc += "-resumecustom"
    if flags.freezed:
        desc += f"-freezed{flags.freezed}"
    return opts, desc


def _default_batch_gpu(preset: Preset, gpus: int) -> int:
    """The preset's forward-pass size, but never more than one process's share of the batch: presets
    tuned for fewer GPUs than asked for (the CPU presets, for 1) would not split otherwise."""
    return max(1, min(preset.mb // preset.ref_gpus, preset.mb // gpus))


def _check_batch_split(opts: TrainingOptions, gpus: int) -> None:
    if opts.batch_size % gpus:
        raise UserError(f"--gpus: a batch of {opts.batch_size} does not split over {gpus} processes; "
                        f"pass --batch as a multiple of {gpus}")
    per_process = opts.batch_size // gpus
    if per_process % opts.batch_gpu:
        raise UserError(f"--batch-gpu: {opts.batch_gpu} must divide the per-GPU batch {per_process}")
    mbstd = opts.D_kwargs["epilogue_kwargs"]["mbstd_group_size"]
    if opts.batch_gpu % min(mbstd, opts.batch_gpu):
        raise UserError(f"--batch-gpu: {opts.batch_gpu} must be divisible by the minibatch-std group {mbstd}")


def _resolve_augment(flags: TrainFlags, opts: TrainingOptions) -> str:
    mode = flags.aug or "ada"
    desc = f"-{mode}" if flags.aug else ""
    augment = AugmentOptions(mode=mode)  # ada keeps the default target
    if mode not in ("noaug", "ada", "fixed"):
        raise UserError(f"--aug: unknown augmentation mode '{mode}' (expected noaug, ada or fixed)")
    if mode == "fixed" and flags.p is None:
        raise UserError("--aug=fixed requires specifying --p")
    if mode != "ada":
        augment.target = None
    for name, value, needs in (("p", flags.p, "fixed"), ("target", flags.target, "ada")):
        if value is None:
            continue
        if mode != needs:
            raise UserError(f"--{name} can only be specified with --aug={needs}")
        if not 0 <= value <= 1:
            raise UserError(f"--{name} must be between 0 and 1")
        desc += f"-{name}{_format_number(value)}"
        setattr(augment, name, value)
    if flags.augpipe is not None:
        if mode == "noaug":
            raise UserError("--augpipe cannot be specified with --aug=noaug")
        if flags.augpipe not in AUGPIPES:
            raise UserError(f"--augpipe: unknown pipeline '{flags.augpipe}'")
        desc += f"-{flags.augpipe}"
        augment.pipe = flags.augpipe
    opts.augment = augment
    return desc


def default_metrics(cfg: str) -> list[str]:
    """The reference trains with fid50k_full; CPU presets use a small-count FID the demo can afford."""
    return ["fid2k_full"] if PRESETS.get(cfg).cpu else ["fid50k_full"]
