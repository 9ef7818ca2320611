"""The options of one training run: a tree of dataclasses, printed and saved as training_options.json.

Loading rejects unknown keys, so a typo in a hand-edited options file fails loudly instead of being
silently ignored.
"""

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from thygan.stylegan.loss import LossConfig

OPTIONS_FILE = "training_options.json"  # in the run folder, as the reference names it


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
