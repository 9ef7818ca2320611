"""Stopping a run: repeated signals, the processes' vote under DDP, and what --resume continues."""

import shutil
import signal

import pytest
import torch

from tests.stylegan.test_training import tiny_options
from thygan.stylegan.train_launch import StopFlag, resolve_options
from thygan.stylegan.training_loop import STOP_CHECK_INTERVAL, _agreed_stop, training_loop
from thygan.stylegan.training_options import TrainFlags
from torch_utils import distributed


def test_repeated_sigterm_still_ends_with_a_snapshot():
    flag = StopFlag()
    flag._handle(signal.SIGTERM, None)
    flag._handle(signal.SIGTERM, None)       # torchrun and the scheduler both deliver it: no abort
    flag._handle(signal.SIGINT, None)        # nor a Ctrl-C within the same second
    assert flag()
    flag._first_signal_time -= 2.0
    with pytest.raises(KeyboardInterrupt):   # Ctrl-C again later: out now
        flag._handle(signal.SIGINT, None)


def _vote(rank: int, world_size: int, init_file: str, results) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                                         world_size=world_size)
    try:
        requested = rank == 1  # the signal reached one process only
        votes = [_agreed_stop(requested, batch_idx, torch.device("cpu")) for batch_idx in range(1, 2 * 16 + 1)]
        results[rank] = votes
    finally:
        distributed.leave_process_group()


def test_processes_agree_on_when_to_stop(tmp_path):
    results = torch.multiprocessing.Manager().dict()
    torch.multiprocessing.spawn(_vote, args=(2, str(tmp_path / "init"), results), nprocs=2)
    expected = [batch_idx % STOP_CHECK_INTERVAL == 0 for batch_idx in range(1, 33)]
    assert results[0] == results[1] == expected
    assert _agreed_stop(True, 3, torch.device("cpu"))  # alone: at once


@pytest.fixture
def finished_run(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    training_loop(tiny_options(tiny_dataset), run_dir, max_steps=2)
    return run_dir


def test_resume_continues_with_the_runs_settings_but_fine_tunes_from_weights_alone(tiny_dataset, finished_run,
                                                                                   tmp_path):
    flags = TrainFlags(data=str(tiny_dataset), cfg="cpu32", cond=True, metrics="none", workers=0, device="cpu",
                       resume=str(finished_run))
    fresh, _ = resolve_options(TrainFlags(**{**flags.__dict__, "resume": None}))
    continued, desc = resolve_options(flags)
    assert desc.endswith("-resumecustom") and continued.resume.endswith("network-snapshot-000000.008.safetensors")
    assert continued.augment.speed_kimg == fresh.augment.speed_kimg and continued.ema_rampup == fresh.ema_rampup
    weights_only = tmp_path / "weights_only"
    weights_only.mkdir()
    for path in finished_run.glob("network-snapshot-*"):
        shutil.copy(path, weights_only / path.name)
    tuned, _ = resolve_options(TrainFlags(**{**flags.__dict__, "resume": str(weights_only)}))
    assert tuned.augment.speed_kimg == 100 and tuned.ema_rampup is None
