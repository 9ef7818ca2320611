"""The classifier's run folder (``{out_dir}/{NNN}-{run_id}``, numbered as the thyroid study did), built
on thygan.runs: what is in it, starting one, and finding an interrupted one to continue.

In a run folder: ``options.json`` (the resolved options), ``train_log.txt`` (the study's namespace
line, then one line per epoch), ``training-state.safetensors/.json`` (after the last epoch: model and
optimizer tensors in the safetensors, scheduler, epoch, history and best model in the JSON; a thygan
checkpoint written by thygan.runs.save_training_state, each file atomically), ``vl_<val loss>.safetensors/.json``
(the best model), and when finished ``training_results.json`` and ``Training_Curves.png``. No RNG state is
kept: each epoch reseeds from (seed, epoch).

A run folder from before the safetensors state holds ``training-state.pt`` instead; it is read once with
``torch.load(weights_only=True)`` and replaced by the new files at the next epoch.

Re-running an interrupted ``dlc-train`` with the same options continues its latest unfinished run
folder from the last completed epoch; a finished run, or other options, start a new folder.
"""

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import torch

from thygan.classify.options import TrainOptions, namespace_line, options_from_dict, options_to_json
from thygan.io.atomic import atomic_write_text
from thygan.io.checkpoint import checkpoint_paths
from thygan.runs import (
    CLASSIFIER_RUN_DIGITS,
    RunLog,
    load_state_file,
    load_training_state,
    new_run_dir,
    numbered_runs,
    save_training_state,
    write_options,
)

OPTIONS_FILE = "options.json"
STATE_STEM = "training-state"           # training-state.safetensors + training-state.json
LEGACY_STATE_FILE = "training-state.pt"  # the torch file run folders held before
RESULTS_FILE = "training_results.json"
LOG_FILE = "train_log.txt"
IGNORED_FOR_RESUME = ("workers",)   # options that may change between an interruption and the resume


def start_run_folder(run_dir: Path, opts: TrainOptions) -> None:
    """Write the options and the log's first line (the study's namespace line) into a new run folder."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    write_options(run_dir, options_to_json(opts), name=OPTIONS_FILE)
    RunLog(Path(run_dir) / LOG_FILE).append(namespace_line(opts))


def options_match(run_dir: Path, opts: TrainOptions) -> bool:
    """Whether ``run_dir`` was started with exactly these options."""
    return (Path(run_dir) / OPTIONS_FILE).read_text() == options_to_json(opts)


def read_results(run_dir: Path) -> dict | None:
    path = Path(run_dir) / RESULTS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def write_results(run_dir: Path, results: dict) -> None:
    atomic_write_text(Path(run_dir) / RESULTS_FILE, json.dumps(results, indent=1) + "\n")


def state_paths(run_dir: Path) -> tuple[Path, Path]:
    """(safetensors, JSON) of the run folder's training state."""
    return checkpoint_paths(Path(run_dir) / STATE_STEM)


def has_state(run_dir: Path) -> bool:
    """Whether the run folder holds a training state (either format)."""
    return state_paths(run_dir)[0].is_file() or (Path(run_dir) / LEGACY_STATE_FILE).is_file()


def save_state(run_dir: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler,
               epoch: int, history: dict, best: dict) -> None:
    """The state after ``epoch``: tensors in the safetensors, the rest (JSON-able) in the JSON."""
    save_training_state(Path(run_dir) / STATE_STEM, optimizers={"optimizer": optimizer},
                        tensors={"model": model.state_dict()},
                        counters={"epoch": epoch, "history": history, "best": best,
                                  "scheduler": scheduler.state_dict()})
    (Path(run_dir) / LEGACY_STATE_FILE).unlink(missing_ok=True)  # superseded by the files just written


def load_state(run_dir: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler,
               log: Callable[[str], None] = print) -> dict | None:
    """Restore model, optimizer and scheduler from the run folder's training state; returns
    ``{"epoch", "history", "best"}``, or None when the folder has no state yet."""
    if state_paths(run_dir)[0].is_file():
        counters, tensors = load_training_state(state_paths(run_dir)[0], optimizers={"optimizer": optimizer})
        model.load_state_dict(tensors["model"])
        scheduler.load_state_dict(counters["scheduler"])
        return {key: counters[key] for key in ("epoch", "history", "best")}
    legacy = load_state_file(Path(run_dir) / LEGACY_STATE_FILE)
    if legacy is None:
        return None
    log(f"reading the old-style {LEGACY_STATE_FILE} (torch.load, weights_only=True); "
        f"the next epoch writes {STATE_STEM}.safetensors/.json")
    model.load_state_dict(legacy["model"])
    optimizer.load_state_dict(legacy["optimizer"])
    scheduler.load_state_dict(legacy["scheduler"])
    return {key: legacy[key] for key in ("epoch", "history", "best")}


def _comparable(opts: TrainOptions) -> dict:
    return {k: v for k, v in dataclasses.asdict(opts).items() if k not in IGNORED_FOR_RESUME}


def find_resumable(opts: TrainOptions) -> Path | None:
    """The newest ``NNN-run_id`` folder with a training state, no results yet and the same options."""
    for path in reversed(numbered_runs(opts.out_dir, opts.run_id)):
        if not has_state(path) or (path / RESULTS_FILE).is_file():
            continue
        try:
            saved = options_from_dict(TrainOptions, json.loads((path / OPTIONS_FILE).read_text()))
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
    run_dir = new_run_dir(opts.out_dir, opts.run_id, digits=CLASSIFIER_RUN_DIGITS)
    start_run_folder(run_dir, opts)
    echo(f"Run folder: {run_dir}")
    return run_dir


def make_eval_dir(out_dir: str | Path, run_id: str) -> Path:
    return new_run_dir(out_dir, run_id, digits=CLASSIFIER_RUN_DIGITS)
