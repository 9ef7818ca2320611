"""Options of ``thygan translate train``: the reference's names and defaults, resolved per model.

Field names are the reference's flags (``--netG``, ``--lambda_A``, ``--n_epochs``...). Fields that
default to None take the model's default, as the reference's ``modify_commandline_options``: pix2pix
uses ``norm=batch, netG=unet_256, dataset_mode=aligned, pool_size=0, gan_mode=vanilla``; CycleGAN
forces ``no_dropout``.
"""

import dataclasses
from dataclasses import dataclass

from thygan.errors import UserError

MODELS = ("cycle_gan", "pix2pix")
MODEL_DEFAULTS = {  # model -> {field: default where the field is None}
    "cycle_gan": dict(norm="instance", netG="resnet_9blocks", dataset_mode="unaligned", pool_size=50,
                      gan_mode="lsgan"),
    "pix2pix": dict(norm="batch", netG="unet_256", dataset_mode="aligned", pool_size=0, gan_mode="vanilla"),
}


@dataclass
class TranslateOptions:
    dataroot: str = ""                  # data folder (layout per dataset_mode)
    outdir: str = "runs-translate"      # where numbered run folders are made (the reference's checkpoints_dir)
    name: str = "experiment_name"       # run folder description
    model: str = "cycle_gan"            # cycle_gan | pix2pix
    input_nc: int = 3                   # channels of A (masks: mask_types + 2, set automatically)
    output_nc: int = 3                  # channels of B
    ngf: int = 64                       # generator filters in the first conv layer
    ndf: int = 64                       # discriminator filters in the first conv layer
    netD: str = "basic"                 # basic (70x70 PatchGAN) | n_layers | pixel
    netG: str | None = None             # resnet_9blocks | resnet_6blocks | unet_256 | unet_128
    n_layers_D: int = 3                 # layers of the n_layers discriminator
    norm: str | None = None             # instance | batch | none
    init_type: str = "normal"           # normal | xavier | kaiming | orthogonal
    init_gain: float = 0.02             # scale of the init
    no_dropout: bool = False            # no dropout in the generator (always for cycle_gan)
    dataset_mode: str | None = None     # unaligned | aligned | paired
    mask_types: int = 0                 # >0: A files are nucleus masks with this many types (paired mode)
    direction: str = "AtoB"             # AtoB | BtoA
    serial_batches: bool = False        # unaligned B in order instead of at random; no shuffling
    num_threads: int = 0                # data loader workers
    batch_size: int = 1                 # images per step (per process)
    load_size: int = 286                # px: scale images to this size
    crop_size: int = 256                # px: then crop to this size
    max_dataset_size: int | None = None # items per epoch at most (None: all)
    preprocess: str = "resize_and_crop" # resize_and_crop | crop | scale_width | scale_width_and_crop | none
    no_flip: bool = False               # no random horizontal flips
    phase: str = "train"                # folder prefix: trainA / train/
    epoch_count: int = 1                # number of the first epoch (the reference's schedule offset)
    n_epochs: int = 100                 # epochs at the initial lr
    n_epochs_decay: int = 100           # epochs of linear decay to zero
    beta1: float = 0.5                  # Adam momentum
    lr: float = 0.0002                  # Adam initial learning rate
    gan_mode: str | None = None         # lsgan | vanilla | wgangp
    lambda_gp: float = 10.0             # wgangp: gradient penalty weight (0: as the reference, no penalty)
    pool_size: int | None = None        # fakes kept for D (0: none)
    lr_policy: str = "linear"           # linear | step | cosine
    lr_decay_iters: int = 50            # step policy: epochs between x0.1
    lambda_A: float = 10.0              # cycle_gan: weight of cycle loss A -> B -> A
    lambda_B: float = 10.0              # cycle_gan: weight of cycle loss B -> A -> B
    lambda_identity: float = 0.5        # cycle_gan: identity loss weight, relative to lambda_A/B
    lambda_L1: float = 100.0            # pix2pix: weight of the L1 loss
    save_epoch_freq: int = 5            # epochs between kept generator snapshots (latest is every epoch)
    print_freq: int = 100               # images between loss lines
    seed: int = 0                       # weights, data order, crops, pool, dropout
    device: str = "auto"                # auto | cpu | cuda

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TranslateOptions":
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise UserError(f"options: unknown key '{unknown[0]}'")
        return cls(**data)


def resolve_options(opts: TranslateOptions) -> TranslateOptions:
    """Fill model defaults and check the combination; returns a new object."""
    if opts.model not in MODELS:
        raise UserError(f"--model: expected one of {', '.join(MODELS)}, got '{opts.model}'")
    filled = {k: v for k, v in MODEL_DEFAULTS[opts.model].items() if getattr(opts, k) is None}
    if opts.model == "cycle_gan":
        filled["no_dropout"] = True
    if opts.mask_types > 0:
        from thygan.translate.masks import mask_input_channels

        filled["input_nc"] = mask_input_channels(opts.mask_types)
    out = dataclasses.replace(opts, **filled)
    if out.preprocess in ("resize_and_crop", "scale_width_and_crop") and out.load_size < out.crop_size:
        raise UserError(f"--load_size: {out.load_size} is smaller than --crop_size {out.crop_size}")
    if out.model == "pix2pix" and out.dataset_mode == "unaligned":
        raise UserError("--dataset_mode: pix2pix needs paired data (aligned or paired), got unaligned")
    if out.mask_types > 0 and (out.dataset_mode != "paired" or out.direction != "AtoB"):
        raise UserError("--mask_types: masks are read from A/ of --dataset_mode paired with --direction AtoB")
    if out.model == "cycle_gan" and out.lambda_identity > 0 and out.input_nc != out.output_nc:
        raise UserError(f"--lambda_identity: the identity loss needs --input_nc = --output_nc, got "
                        f"{out.input_nc} and {out.output_nc}; pass --lambda_identity 0")
    return out
