"""thygan convert: a snapshot .pkl becomes a checkpoint with the same tensors; bad input: one line, exit 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from tests.io.reference_snapshot import (
    PAYLOAD_MARKER,
    augment_pipe_record,
    global_call_pickle,
    write_snapshot,
)
from thygan.cli.convert import convert_command
from thygan.io.checkpoint import load_checkpoint
from thygan.stylegan.networks import Discriminator, Generator

REPO = Path(__file__).resolve().parents[2]


TINY_G = dict(z_dim=8, c_dim=3, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs=dict(num_layers=1),
              synthesis_kwargs=dict(channel_base=64, channel_max=8))
TINY_D = dict(c_dim=3, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
              epilogue_kwargs=dict(mbstd_group_size=2))


@pytest.fixture(autouse=True)
def in_tmp(monkeypatch, tmp_path):
    """An empty working folder: the payload, were it ever executed, would leave PWNED here."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def snapshot(tmp_path):
    torch.manual_seed(3)
    nets = {"G": Generator(**TINY_G), "D": Discriminator(**TINY_D), "G_ema": Generator(**TINY_G)}
    path = write_snapshot(tmp_path / "network-snapshot-000400.pkl", **nets,
                          augment_pipe=augment_pipe_record(p=0.5))
    return path, nets


def run(*args):
    return CliRunner().invoke(convert_command, [str(a) for a in args])


def test_converts_exactly_and_reports(snapshot, tmp_path):
    path, nets = snapshot
    result = run(path, tmp_path / "out" / "converted.safetensors")
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(tmp_path / "out")) == ["converted.json", "converted.safetensors"]
    loaded = load_checkpoint(tmp_path / "out" / "converted")
    for name, net in nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(loaded.networks[name].state_dict()[key], value), (name, key)
    assert float(loaded.extra_tensors["augment_pipe"]["p"]) == 0.5
    assert loaded.cur_nimg == 400_000
    assert loaded.meta["extra"]["augment_pipe"]["class"] == "AugmentPipe"
    assert len(loaded.meta["extra"]["source_sha256"]) == 64
    assert "G (Generator" in result.output and "G_ema (Generator" in result.output
    assert "images    8x8, 3 channels, c_dim 3" in result.output
    assert "kimg      400" in result.output and "p=0.5000" in result.output
    assert not (tmp_path / PAYLOAD_MARKER).exists()


def test_dry_run_writes_nothing(snapshot, tmp_path):
    result = run(snapshot[0], tmp_path / "new", "--dry-run")
    assert result.exit_code == 0 and "nothing written" in result.output
    assert not list(tmp_path.glob("new*"))


def test_existing_output_needs_overwrite(snapshot, tmp_path):
    (tmp_path / "new.json").write_text("{}")
    result = run(snapshot[0], tmp_path / "new")
    assert result.exit_code == 2 and "new.json exists (pass --overwrite" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (tmp_path / "new.json").read_text() == "{}" and not (tmp_path / "new.safetensors").exists()
    assert run(snapshot[0], tmp_path / "new", "--overwrite").exit_code == 0
    assert load_checkpoint(tmp_path / "new").meta["kimg"] == 400


@pytest.mark.parametrize("case", ["hostile", "truncated", "missing", "pkl_output"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, snapshot, case):
    source, dest = tmp_path / "in.pkl", tmp_path / "new"
    if case == "hostile":
        source.write_bytes(global_call_pickle("os", "system", f"touch {PAYLOAD_MARKER}", protocol=4))
        expected = "refusing to load global os.system"
    elif case == "truncated":
        source.write_bytes(snapshot[0].read_bytes()[:500])
        expected = "not a readable network snapshot pickle"
    elif case == "missing":
        expected = "no such file"
    else:
        source, dest, expected = snapshot[0], tmp_path / "new.pkl", "OUT:"
    result = run(source, dest)
    assert result.exit_code == 2 and expected in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not list(tmp_path.glob("new*")) and not list(tmp_path.glob(".new*"))
    assert not (tmp_path / PAYLOAD_MARKER).exists()


def test_help_is_complete_and_imports_no_torch():
    code = ("import sys; from thygan.cli.convert import convert_command; "
            "assert 'torch' not in sys.modules, 'torch imported for --help'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    result = run("--help")
    assert result.exit_code == 0
    for word in ("SNAPSHOT.pkl", "OUT", "--overwrite", "--dry-run", "never run", "Examples"):
        assert word in result.output
