"""--metrics-at-start: the tick-0 snapshot (the untrained network) is scored as in the reference, or,
with 0, skipped; every later snapshot and the final one are scored either way."""

import pytest
from click.testing import CliRunner

from tests.stylegan.test_training import tiny_options
from thygan.cli.train import train_command
from thygan.stylegan import training_loop as loop


def scored_snapshots(monkeypatch, opts, run_dir, *, max_steps: int) -> list[str]:
    scored = []
    monkeypatch.setattr(loop, "run_metrics", lambda opts, G_ema, path, run_dir, detectors: scored.append(path.name))
    loop.training_loop(opts, run_dir, max_steps=max_steps)
    return scored


@pytest.mark.parametrize("at_start", [True, False])
def test_tick_zero_is_scored_only_when_asked(tiny_dataset, tmp_path, monkeypatch, at_start):
    opts = tiny_options(tiny_dataset, metrics=["fid50k_full"], metrics_at_start=at_start)
    scored = scored_snapshots(monkeypatch, opts, tmp_path, max_steps=3)  # ticks 0 (1 step), 1 (2 steps)
    later = ["network-snapshot-000000.012.safetensors"]
    assert scored == (["network-snapshot-000000.004.safetensors"] + later if at_start else later)
    assert (tmp_path / "network-snapshot-000000.004.safetensors").is_file()  # the snapshot itself stays


def test_a_run_that_ends_at_tick_zero_is_still_scored(tiny_dataset, tmp_path, monkeypatch):
    opts = tiny_options(tiny_dataset, metrics=["fid50k_full"], metrics_at_start=False)
    assert scored_snapshots(monkeypatch, opts, tmp_path, max_steps=1) == ["network-snapshot-000000.004.safetensors"]


def test_flag_reaches_the_options(tiny_dataset, tmp_path):
    def dry_run(*args):
        result = CliRunner().invoke(train_command, [f"--outdir={tmp_path}", f"--data={tiny_dataset}", "--cfg=cpu32",
                                                    "--metrics=none", "-n", *args])
        assert result.exit_code == 0, result.output
        return result.output
    assert '"metrics_at_start": true' in dry_run()
    assert '"metrics_at_start": false' in dry_run("--metrics-at-start=0")
