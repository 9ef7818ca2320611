"""Run folders of dlc-train and dlc-eval (``{out_dir}/{NNN}-{run_id}``, as the study numbered them),
resuming an interrupted training, and one process per GPU for DDP.

Re-running an interrupted ``dlc-train`` with the same options continues its latest unfinished run
folder from the last completed epoch; a finished run, or other options, start a new folder.
"""

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from dnnlib.run_dir import make_run_dir
from thygan.classify.options import TrainOptions, namespace_line, options_from_dict
from thygan.classify.train import LOG_FILE, RESULTS_FILE, STATE_FILE, train_classifier, write_options
from torch_utils import distributed

RUN_DIGITS = 3                      # the study's generate_id: 000-cv0_mc100
IGNORED_FOR_RESUME = ("workers",)   # options that may change between an interruption and the resume


def _comparable(opts: TrainOptions) -> dict:
    return {k: v for k, v in dataclasses.asdict(opts).items() if k not in IGNORED_FOR_RESUME}


def find_resumable(opts: TrainOptions) -> Path | None:
    """The newest ``NNN-run_id`` folder with a training state, no results yet and the same options."""
    out_dir = Path(opts.out_dir)
    if not out_dir.is_dir():
        return None
    pattern = re.compile(rf"^(\d+)-{re.escape(opts.run_id)}$")
    runs = sorted((int(m.group(1)), path) for path in out_dir.iterdir() if (m := pattern.match(path.name)))
    for _, path in reversed(runs):
        if not (path / STATE_FILE).is_file() or (path / RESULTS_FILE).is_file():
            continue
        try:
            saved = options_from_dict(TrainOptions, json.loads((path / "options.json").read_text()))
        except Exception:  # an unreadable options file: that folder is not ours to continue
            continue
        if _comparable(saved) == _comparable(opts):
            return path
    return None


def prepare_run_dir(opts: TrainOptions, *, restart: bool = False, echo: Callable[[str], None] = print) -> Path:
    """The folder to train in: a resumable one (unless ``restart``), else a new numbered one."""
    run_dir = None if restart else find_resumable(opts)
    if run_dir is not None:
        echo(f"Resuming the unfinished run in {run_dir}")
        return run_dir
    run_dir = make_run_dir(opts.out_dir, opts.run_id, digits=RUN_DIGITS)
    write_options(run_dir, opts)
    with open(run_dir / LOG_FILE, "a", encoding="utf-8") as file:
        file.write(namespace_line(opts) + "\n")  # the study's first log line
    echo(f"Run folder: {run_dir}")
    return run_dir


def launch_training(opts: TrainOptions, *, restart: bool = False, echo: Callable[[str], None] = print,
                    stop_requested: Callable[[], bool] = lambda: False) -> tuple[Path, dict | None]:
    """Prepare the run folder and train in this process, under torchrun, or in ``opts.gpus`` processes."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # started by torchrun: every process gets here
        info = distributed.init_from_environment("cuda" if opts.device != "cpu" and torch.cuda.is_available()
                                                 else "cpu")
        holder = [str(prepare_run_dir(opts, restart=restart, echo=echo)) if info.rank == 0 else None]
        torch.distributed.broadcast_object_list(holder, src=0)
        return Path(holder[0]), train_classifier(opts, holder[0], echo=echo)
    run_dir = prepare_run_dir(opts, restart=restart, echo=echo)
    if opts.gpus <= 1:
        return run_dir, train_classifier(opts, run_dir, echo=echo, stop_requested=stop_requested)
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.abspath(os.path.join(tmp, ".dlc_init"))
        torch.multiprocessing.spawn(_process, args=(opts, str(run_dir), init_file), nprocs=opts.gpus)
    results_file = run_dir / RESULTS_FILE
    return run_dir, json.loads(results_file.read_text()) if results_file.is_file() else None


def _process(rank: int, opts: TrainOptions, run_dir: str, init_file: str) -> None:
    """One DDP process (gloo on CPU, nccl on CUDA)."""
    use_cuda = opts.device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(rank)
    else:  # CPU processes share the cores; more threads than cores makes every step many times slower
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // opts.gpus))
    distributed.init_from_file(init_file, rank=rank, world_size=opts.gpus, device_type="cuda" if use_cuda else "cpu")
    try:
        train_classifier(opts, run_dir)
    finally:
        torch.distributed.destroy_process_group()


def make_eval_dir(out_dir: str | Path, run_id: str) -> Path:
    return make_run_dir(out_dir, run_id, digits=RUN_DIGITS)
