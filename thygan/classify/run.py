"""Start dlc-train: prepare the run folder (thygan.classify.run_folder), then train in this process,
under torchrun, or in one process per GPU (DDP), through torch_utils.launch."""

import functools
from collections.abc import Callable
from pathlib import Path

import torch

from thygan.classify.options import TrainOptions
from thygan.classify.run_folder import prepare_run_dir, read_results
from thygan.classify.train import train_classifier
from torch_utils.launch import launch, torchrun_world_size


def launch_training(opts: TrainOptions, *, restart: bool = False, echo: Callable[[str], None] = print,
                    stop_requested: Callable[[], bool] = lambda: False) -> tuple[Path, dict | None]:
    """Prepare the run folder and train in this process, under torchrun, or in ``opts.gpus`` processes."""
    spawning = (torchrun_world_size() or 1) == 1 and opts.gpus > 1
    # Spawned processes get only what pickles: the options (they print with print, stop with the job).
    work = functools.partial(train_classifier, opts) if spawning else \
        functools.partial(train_classifier, opts, echo=echo, stop_requested=stop_requested)
    run_dir, results = launch(prepare=lambda: prepare_run_dir(opts, restart=restart, echo=echo), work=work,
                              processes=opts.gpus,
                              device_type="cuda" if opts.device != "cpu" and torch.cuda.is_available() else "cpu")
    return Path(run_dir), results if results is not None else read_results(run_dir)
