"""A real train.py process: SIGINT ends it with a snapshot; SIGKILL at any moment leaves a loadable one."""

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from thygan.io.checkpoint import load_checkpoint
from thygan.runs import latest_snapshot, state_files

REPO = Path(__file__).resolve().parents[2]


def start_training(data: Path, outdir: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, str(REPO / "train.py"), f"--outdir={outdir}", f"--data={data}", "--cfg=cpu32",
            "--cond=1", "--metrics=none", "--batch=4", "--workers=0", "--aug=noaug", "--tick=0.008", "--snap=1",
            "--kimg=1000", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)


def wait_for_snapshot(outdir: Path, proc: subprocess.Popen, timeout: float = 90) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = list(outdir.glob("*/network-snapshot-*.json"))
        if runs:
            return runs[0].parent
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    raise AssertionError("no snapshot appeared")


def assert_snapshot_loads(run_dir: Path) -> int:
    snapshot = latest_snapshot(run_dir)
    assert snapshot is not None
    loaded = load_checkpoint(snapshot)
    assert set(loaded.networks) == {"G", "D", "G_ema"}
    state = load_checkpoint(state_files(snapshot)[0])
    assert state.meta["extra"]["progress"]["cur_nimg"] == loaded.cur_nimg
    return loaded.cur_nimg


@pytest.mark.slow
def test_sigint_writes_a_final_snapshot(tiny_dataset, tmp_path):
    proc = start_training(tiny_dataset, tmp_path)
    run_dir = wait_for_snapshot(tmp_path, proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "writing a snapshot" in output and "--resume" in output
    final_nimg = assert_snapshot_loads(run_dir)
    ticks = [line for line in output.splitlines() if line.startswith("tick ")]
    assert final_nimg >= 8 * (len(ticks) - 1)


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_loadable_snapshot(tiny_dataset, tmp_path):
    rng = random.Random(0)
    for attempt in range(3):
        outdir = tmp_path / f"attempt{attempt}"
        proc = start_training(tiny_dataset, outdir)
        run_dir = wait_for_snapshot(outdir, proc)
        time.sleep(rng.uniform(0.0, 2.5))
        proc.kill()
        proc.wait(timeout=30)
        assert_snapshot_loads(run_dir)
