"""The options of a downstream training or evaluation run: one dataclass each, whose fields are the
study's flags (same names and defaults) plus thygan's additions. Printed and saved as
``options.json`` before any work starts; loading rejects unknown keys.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from thygan.errors import UserError
from thygan.io.json_file import read_json


@dataclass
class TrainOptions:
    """dlc_main.py / thygan dlc-train."""

    src_dir: str = ""                  # folder of the images named in --labels
    labels: str = ""                   # labels JSON/CSV (the study's bi_dataset.json, a dataset.json, ...)
    out_dir: str = ""                  # run folders {NNN}-{run_id} are made here
    split_file: str = ""               # JSON with 'train' and 'val' (file names or patient ids)
    run_id: str = ""                   # run name
    gan_params: str | None = None      # recipe JSON; None/"None" = real images only
    gan_network: str | None = None     # overrides the recipe's network file
    gan_cache: str | None = None       # synthetic image cache; default {out_dir}/gan_cache
    lr: float = 1e-3                   # Adam learning rate
    epochs: int = 500                  # most epochs
    batch_size: int = 8                # images per optimiser step (over all processes)
    workers: int = 8                   # data-loading processes per training process
    crop_size: int = 512               # training and evaluation crop side, px
    model_type: str = "resnet101"      # models registry name
    weights: str | None = None         # initial weights; None = the model's offline default
    width: int = 64                    # first-stage channels of a ResNet (64 = standard)
    lrd_epc: int = 10                  # ReduceLROnPlateau patience, epochs
    lrd_fac: float = 0.5               # ReduceLROnPlateau factor
    es_pat: int = 50                   # early stopping patience, epochs
    weight_decay: float = 1e-6         # Adam weight decay (the study's)
    augment: str = "study"             # augmentation preset: study | basic | none
    eval_crop: str = "center"          # validation crops: center | tiles
    seed: int = 0                      # initialisation, shuffling and augmentation
    device: str = "auto"               # auto | cpu | cuda
    gpus: int = 1                      # processes (one per GPU) for DDP


@dataclass
class EvalOptions:
    """dlc_eval.py / thygan dlc-eval."""

    src_dir: str = ""                  # folder of the images named in --labels
    labels: str = ""                   # labels with 'meta' (patient, diagnosis)
    out_dir: str = ""                  # run folders {NNN}-{run_id} are made here
    split_file: str | None = None      # JSON with the evaluated set; None = every labelled image
    split_key: str = "test"            # which list of the split file to evaluate
    run_id: str = ""                   # run name
    mdl_loc: str = ""                  # trained model: thygan checkpoint or the study's .pth
    batch_size: int = 20               # images per forward pass
    workers: int = 8                   # data-loading processes
    crop_size: int | None = None       # crop side, px; None = the checkpoint's training setting, else 512
    model_type: str = "resnet101"      # for .pth state dicts (checkpoints know their own)
    eval_crop: str | None = None       # center | tiles (averaged); None = the checkpoint's, else center
    bootstrap: int = 1000              # bootstrap resamples of patients for the 95% intervals
    seed: int = 0                      # bootstrap seed
    device: str = "auto"               # auto | cpu | cuda


def options_to_json(options) -> str:
    return json.dumps(dataclasses.asdict(options), indent=2) + "\n"


def options_from_dict(cls, content: dict, *, source: str = "options"):
    """Rebuild ``cls`` from its JSON form; unknown keys are refused."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(content) - names)
    if unknown:
        raise UserError(f"{source}: unknown option '{unknown[0]}' for {cls.__name__}")
    return cls(**content)


def read_options(cls, path: str | Path):
    content = read_json(path, what="options")
    return options_from_dict(cls, content, source=str(path))


def namespace_line(options) -> str:
    """The first line of the study's logs: ``Namespace(batch_size=8, ...)`` (sorted, as argparse)."""
    items = sorted(dataclasses.asdict(options).items())
    return "Namespace(" + ", ".join(f"{key}={value!r}" for key, value in items) + ")"
