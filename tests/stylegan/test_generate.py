"""generate.py / thygan generate: files, batch independence, classes, grids, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from thygan.cli.generate import generate_command
from thygan.io.checkpoint import save_checkpoint
from thygan.stylegan.networks import Generator
from thygan.stylegan.sampling import seed_latents, synthesize

REPO = Path(__file__).resolve().parents[2]
TINY_G = dict(z_dim=16, c_dim=3, w_dim=16, img_resolution=16, img_channels=3,
              mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=32))


def make_generator(**changes) -> Generator:
    torch.manual_seed(1)
    G = Generator(**dict(TINY_G, **changes)).eval()
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.data.fill_(0.3)  # make noise visible so noise modes differ
    return G


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "net"
    save_checkpoint(path, networks={"G_ema": make_generator()}, class_names=["tumour", "stroma", "fat"])
    return path.with_suffix(".safetensors")


def run(args):
    return CliRunner().invoke(generate_command, [str(a) for a in args])


def test_seed_latents_are_the_references_per_seed_normals():
    z = seed_latents([0, 7], 5)
    np.testing.assert_allclose(z[1].numpy(), np.random.RandomState(7).randn(5).astype(np.float32))


def test_writes_reference_file_names(checkpoint, tmp_path):
    out = tmp_path / "out"
    result = run(["--network", checkpoint, "--seeds", "0-2,10", "--class", "1", "--outdir", out])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["seed0000.png", "seed0001.png", "seed0002.png",
                                                          "seed0010.png"]
    assert np.asarray(Image.open(out / "seed0000.png")).shape == (16, 16, 3)


@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_same_seed_same_image_whatever_the_batch(noise_mode):
    G = make_generator()
    seeds = [3, 4, 5, 6, 7]
    one = dict(synthesize(G, seeds, 2, batch_size=1, noise_mode=noise_mode))
    many = dict(synthesize(G, seeds, 2, batch_size=4, noise_mode=noise_mode))
    for seed in seeds:
        diff = np.abs(one[seed].astype(int) - many[seed].astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01, seed  # float summation order only


def test_images_equal_a_direct_forward_pass(checkpoint):
    G = make_generator()
    z = torch.from_numpy(np.random.RandomState(5).randn(1, 16)).float()
    c = torch.tensor([[0.0, 1.0, 0.0]])
    with torch.no_grad():
        direct = (G(z, c, truncation_psi=0.7, noise_mode="const").permute(0, 2, 3, 1) * 127.5 + 128)
    expected = direct.clamp(0, 255).to(torch.uint8)[0].numpy()
    [(seed, image)] = list(synthesize(G, [5], 1, truncation_psi=0.7))
    np.testing.assert_array_equal(image, expected)


def test_all_classes_go_to_sub_folders_and_grid_has_one_row_per_class(checkpoint, tmp_path):
    out = tmp_path / "out"
    assert run(["--network", checkpoint, "--seeds", "0-1", "--class", "all", "--outdir", out]).exit_code == 0
    assert sorted(p.parent.name for p in out.glob("*/*.png")) == \
        ["class0-tumour"] * 2 + ["class1-stroma"] * 2 + ["class2-fat"] * 2
    grid_dir = tmp_path / "grid"
    result = run(["--network", checkpoint, "--seeds", "0-3", "--class", "tumour,fat", "--grid", "--outdir", grid_dir])
    assert result.exit_code == 0, result.output
    grid = np.asarray(Image.open(grid_dir / "grid.png"))
    margin = grid.shape[1] - (4 * 16 + 3 * 2)  # the class names, left of the rows
    assert grid.shape[0] == 2 * 16 + 2 and margin > 0
    single = np.asarray(Image.open(out / "class2-fat" / "seed0001.png"))  # row 1 = fat, column 1 = seed 1
    np.testing.assert_array_equal(grid[18:34, margin + 18:margin + 34], single)
    ink = grid[:, :margin].min(axis=2) < 128
    assert ink[:16].sum() > ink[18:].sum() > 0  # "tumour" above "fat": each row labelled


def test_rerun_resumes_and_other_options_are_refused(checkpoint, tmp_path):
    out = tmp_path / "out"
    assert run(["--network", checkpoint, "--seeds", "0-3", "--class", "0", "--outdir", out]).exit_code == 0
    (out / "seed0002.png").unlink()
    stamp = (out / "seed0001.png").stat().st_mtime_ns
    result = run(["--network", checkpoint, "--seeds", "0-3", "--class", "0", "--outdir", out])
    assert result.exit_code == 0 and "resuming: 3 of 4" in result.output
    assert (out / "seed0002.png").exists() and (out / "seed0001.png").stat().st_mtime_ns == stamp
    result = run(["--network", checkpoint, "--seeds", "0-3", "--class", "0", "--trunc", "0.5", "--outdir", out])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert json.loads((out / "generate.json").read_text())["truncation_psi"] == 1.0


def test_projected_w(checkpoint, tmp_path):
    G = make_generator()
    ws = G.mapping(torch.randn(2, 16), torch.eye(3)[:2]).detach().numpy()
    np.savez(tmp_path / "w.npz", w=ws)
    result = run(["--network", checkpoint, "--projected-w", tmp_path / "w.npz", "--outdir", tmp_path / "proj"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "proj").glob("*.png")) == ["proj00.png", "proj01.png"]


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0-3"], "--class: the network is conditional (3 classes: 0=tumour, 1=stroma, 2=fat)"),
    (["--seeds", "0-3", "--class", "7"], "--class: unknown class '7'"),
    (["--seeds", "0-3", "--class", "bone"], "--class: unknown class 'bone'"),
    (["--seeds", "5-2", "--class", "0"], "--seeds: range '5-2' runs backwards"),
    (["--seeds", "a-b", "--class", "0"], "--seeds: 'a-b' is not"),
    (["--class", "0"], "--seeds option is required"),
])
def test_bad_input_is_one_line_and_exit_2(checkpoint, tmp_path, args, message):
    result = run(["--network", checkpoint, "--outdir", tmp_path / "out", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not list((tmp_path / "out").glob("*.png"))


def test_missing_network_file(tmp_path):
    result = run(["--network", tmp_path / "nope.safetensors", "--seeds", "0", "--outdir", tmp_path / "out"])
    assert result.exit_code == 2 and "nope.safetensors" in result.output


def test_root_script_is_the_same_command(checkpoint, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "generate.py"), f"--network={checkpoint}", "--seeds=0",
                           "--class=2", f"--outdir={out}"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert (out / "seed0000.png").exists() and "ops:" in proc.stdout


def test_class_by_name_or_a_line_saying_the_network_has_no_names(tmp_path):
    named = tmp_path / "named"
    save_checkpoint(named, networks={"G_ema": make_generator()}, class_names=["PTC", "FA+FTC", "NIFTP"])
    result = run(["--network", named.with_suffix(".safetensors"), "--seeds", "0", "--class", "PTC",
                  "--outdir", tmp_path / "a"])
    assert result.exit_code == 0 and (tmp_path / "a" / "seed0000.png").is_file(), result.output
    unknown = run(["--network", named.with_suffix(".safetensors"), "--seeds", "0", "--class", "FTC",
                   "--outdir", tmp_path / "b"])
    assert unknown.exit_code == 2 and "0=PTC, 1=FA+FTC, 2=NIFTP" in unknown.output
    bare = tmp_path / "bare"
    save_checkpoint(bare, networks={"G_ema": make_generator()})
    nameless = run(["--network", bare.with_suffix(".safetensors"), "--seeds", "0", "--class", "PTC",
                    "--outdir", tmp_path / "c"])
    assert nameless.exit_code == 2 and len(nameless.output.strip().splitlines()) == 1
    assert "no class names" in nameless.output and "--class-names" in nameless.output
