"""Launching train.py: torchrun's process count, the batch split over processes, process-group
timeouts, and --resume names that would need a download."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from thygan.cli.train import train_command
from thygan.errors import UserError
from thygan.io.checkpoint import load_checkpoint
from thygan.runs import latest_snapshot
from thygan.stylegan.train_launch import (
    REFERENCE_RESUME_URLS,
    resolve_options,
    resolve_resume_path,
    train_in_run_folder,
)
from thygan.stylegan.training_options import TrainFlags, options_to_json
from torch_utils import distributed
from torch_utils.launch import launch

REPO = Path(__file__).resolve().parents[2]


def cpu_flags(data, **changes) -> TrainFlags:
    return TrainFlags(data=str(data), cfg="cpu32", metrics="none", workers=0, device="cpu", **changes)


def invoke_dry_run(data, outdir, *args, env=None):
    return CliRunner().invoke(train_command, [f"--outdir={outdir}", f"--data={data}", "--cfg=cpu32",
                                              "--metrics=none", "-n", *args], env=env)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


@pytest.mark.slow
def test_torchrun_without_gpus_trains_with_its_process_count(tiny_dataset, tmp_path):
    """The reported crash: torchrun --nproc_per_node=2 with no --gpus divided by zero in the loop."""
    outdir = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(REPO / "train.py"), f"--outdir={outdir}", f"--data={tiny_dataset}", "--cfg=cpu32",
                           "--kimg=0.016", "--metrics=none", "--workers=0", "--device=cpu"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=180)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert output.count("Training options:") == 1  # only rank 0 prints the options
    assert output.count("note: 2 processes on CPU use the gloo backend") == 1  # and the notes
    (run_dir,) = outdir.iterdir()
    opts = json.loads((run_dir / "training_options.json").read_text())
    assert (opts["num_gpus"], opts["batch_size"], opts["batch_gpu"]) == (2, 8, 4)
    assert run_dir.name.endswith("-kimg0.016")
    snapshot = load_checkpoint(latest_snapshot(run_dir))
    assert snapshot.cur_nimg == 16  # 0.016 kimg = 2 minibatches of 8, 4 per process
    log = (run_dir / "log.txt").read_text()  # rank 0's output, teed
    ticks = [line for line in log.splitlines() if line.startswith("tick ")]
    assert len(ticks) == 2 and "sec/kimg" in ticks[0] and "augment" in ticks[0]


def test_world_size_sets_the_process_count(tiny_dataset, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    opts, _ = resolve_options(cpu_flags(tiny_dataset))
    assert (opts.num_gpus, opts.batch_size, opts.batch_gpu) == (4, 8, 2)
    opts, _ = resolve_options(cpu_flags(tiny_dataset, gpus=4))  # repeating torchrun's count is fine
    assert opts.num_gpus == 4


def test_gpus_disagreeing_with_torchrun_fail_in_one_line(tiny_dataset, tmp_path):
    result = invoke_dry_run(tiny_dataset, tmp_path / "runs", "--gpus=4", env={"WORLD_SIZE": "2", "RANK": "0"})
    assert_one_line_error(result, "--gpus=4", "WORLD_SIZE=2")
    assert not (tmp_path / "runs").exists()


def test_without_torchrun_gpus_defaults_to_one(tiny_dataset, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    opts, _ = resolve_options(cpu_flags(tiny_dataset))
    assert (opts.num_gpus, opts.batch_gpu) == (1, 8)


@pytest.mark.parametrize("cfg, gpus, batch_gpu", [
    ("cpu32", 2, 4),      # the reported refusal: the preset's 8 per pass exceeded the 4 per process
    ("cpu32", 8, 1),
    ("paper256", 4, 8),   # the reference's split stays: 16 per GPU in passes of 8
    ("paper256", 8, 8),
])
def test_gpus_split_the_preset_batch(tiny_dataset, monkeypatch, cfg, gpus, batch_gpu):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    opts, _ = resolve_options(TrainFlags(data=str(tiny_dataset), cfg=cfg, gpus=gpus, metrics="none", device="cpu"))
    assert (opts.num_gpus, opts.batch_gpu) == (gpus, batch_gpu)
    assert (opts.batch_size // gpus) % opts.batch_gpu == 0


@pytest.mark.parametrize("args, fragments", [
    (["--gpus=2", "--batch-gpu=8"], ["--batch-gpu: 8 must divide the per-GPU batch 4"]),
    (["--gpus=16"], ["--gpus", "batch of 8", "16 processes"]),
])
def test_bad_batch_splits_fail_in_one_line(tiny_dataset, tmp_path, args, fragments):
    assert_one_line_error(invoke_dry_run(tiny_dataset, tmp_path, *args), *fragments)


def test_fractional_kimg(tiny_dataset):
    opts, desc = resolve_options(cpu_flags(tiny_dataset, kimg=0.5))
    assert opts.total_kimg == 0.5 and desc.endswith("-kimg0.5")
    opts, desc = resolve_options(cpu_flags(tiny_dataset, kimg=20.0))
    assert opts.total_kimg == 20 and isinstance(opts.total_kimg, int) and desc.endswith("-kimg20")


def test_every_process_group_gets_the_long_timeout(tiny_dataset, tmp_path, monkeypatch):
    """Rank 0 alone computes metrics while the others wait in a barrier: the default would expire."""
    assert distributed.PROCESS_GROUP_TIMEOUT >= timedelta(hours=1)
    calls = []

    class Joined(Exception):
        pass

    def fake_init(*args, **kwargs):
        calls.append(kwargs)
        raise Joined

    monkeypatch.setattr("torch.distributed.init_process_group", fake_init)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.setenv(key, "2" if key == "WORLD_SIZE" else "0")
    with pytest.raises(Joined):
        distributed.init_from_environment("cpu")
    opts, _ = resolve_options(cpu_flags(tiny_dataset))
    (tmp_path / "training_options.json").write_text(options_to_json(opts))
    monkeypatch.setattr("torch.multiprocessing.spawn", lambda fn, args, nprocs: fn(0, *args))  # rank 0 here
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(Joined):
        launch(prepare=lambda: tmp_path, work=train_in_run_folder, processes=2, device_type="cpu")
    assert [call["timeout"] for call in calls] == [distributed.PROCESS_GROUP_TIMEOUT] * 2


@pytest.mark.parametrize("resume, fragments", [
    ("ffhq256", ["does not download", REFERENCE_RESUME_URLS["ffhq256"], "local path"]),
    ("afhqcat512", ["'afhqcat512' is a reference network", "does not download", "local path"]),
    ("https://example.org/nets/cat.pkl", ["does not download", "https://example.org/nets/cat.pkl", "local path"]),
])
def test_resume_names_and_urls_are_not_downloaded(tiny_dataset, tmp_path, resume, fragments):
    result = invoke_dry_run(tiny_dataset, tmp_path, f"--resume={resume}")
    assert_one_line_error(result, "--resume", *fragments)


def test_resume_prefers_a_local_path_named_like_a_reference_network(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ffhq256").mkdir()
    with pytest.raises(UserError, match="holds no network-snapshot"):
        resolve_resume_path("ffhq256")
