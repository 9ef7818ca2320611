"""Turn train.py's flags into TrainingOptions and the run description, as the reference's
``setup_training_loop_kwargs`` does (same validation messages, same defaults, same ``desc``)."""

from dataclasses import dataclass

from thygan.errors import UserError
from thygan.stylegan.loss import LossConfig
from thygan.stylegan.presets import PRESETS, Preset, network_kwargs, resolve_preset
from thygan.stylegan.training_options import AugmentOptions, DataOptions, TrainingOptions

PRECISIONS = ("fp16", "bf16")  # --precision: dtype of the top num_fp16_res resolutions
AUGPIPES = ("blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf", "bgcfn", "bgcfnc")


@dataclass
class TrainFlags:
    data: str                           # --data
    gpus: int | None = None             # --gpus; None = 1, or the process count torchrun started
    snap: int = 50                      # --snap (ticks)
    metrics: str | None = None          # --metrics; None = the preset's default
    seed: int = 0                       # --seed
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
    precision: str = "fp16"             # --precision (fp16 | bf16), unless --fp32
    nhwc: bool = False                  # --nhwc
    nobench: bool = False               # --nobench
    allow_tf32: bool = False            # --allow-tf32
    workers: int = 3                    # --workers
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
    if flags.precision not in PRECISIONS:
        raise UserError(f"--precision: unknown precision '{flags.precision}' (expected fp16 or bf16)")
    precision = "fp32" if flags.fp32 else flags.precision
    if precision == "bf16":  # fp16 is the blocks' default: its kwargs stay identical to the reference's
        G_kwargs["synthesis_kwargs"]["mixed_dtype"] = D_kwargs["block_kwargs"]["mixed_dtype"] = "bfloat16"
    opts = TrainingOptions(
        G_kwargs=G_kwargs, D_kwargs=D_kwargs, data=data, cfg=flags.cfg, lrate=preset.lrate,
        loss=LossConfig(r1_gamma=preset.gamma, pl_weight=preset.pl_weight,
                        style_mixing_prob=preset.style_mixing_prob),
        batch_size=preset.mb, batch_gpu=_default_batch_gpu(preset, gpus), ema_kimg=preset.ema, ema_rampup=preset.ramp,
        total_kimg=preset.kimg, kimg_per_tick=preset.kimg_per_tick, image_snapshot_ticks=flags.snap,
        network_snapshot_ticks=flags.snap, random_seed=flags.seed, num_gpus=gpus, device=device,
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
    augment = AugmentOptions(mode=mode)
    if mode == "ada":
        augment.target = 0.6
    elif mode == "noaug":
        augment.target = None
    elif mode == "fixed":
        if flags.p is None:
            raise UserError("--aug=fixed requires specifying --p")
        augment.target = None
    else:
        raise UserError(f"--aug: unknown augmentation mode '{mode}' (expected noaug, ada or fixed)")
    if flags.p is not None:
        if mode != "fixed":
            raise UserError("--p can only be specified with --aug=fixed")
        if not 0 <= flags.p <= 1:
            raise UserError("--p must be between 0 and 1")
        desc += f"-p{_format_number(flags.p)}"
        augment.p = flags.p
    if flags.target is not None:
        if mode != "ada":
            raise UserError("--target can only be specified with --aug=ada")
        if not 0 <= flags.target <= 1:
            raise UserError("--target must be between 0 and 1")
        desc += f"-target{_format_number(flags.target)}"
        augment.target = flags.target
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
