"""Fixtures of the downstream-classifier tests: the bundled sample at 32 px, its splits, a tiny GAN."""

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
TINY_G = dict(z_dim=16, c_dim=3, w_dim=16, img_resolution=32, img_channels=3,
              mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=32))


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """The classifier tests run on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def sample_tiles(tmp_path_factory) -> Path:
    """The bundled slide as 32 px tiles at 5x (about 240 tiles, 3 classes, 16 pseudo-patients)."""
    from thygan.cli.sample_tiles import sample_tiles_command

    dest = tmp_path_factory.mktemp("sample") / "tiles"
    result = CliRunner().invoke(sample_tiles_command, [
        "--slide", str(SAMPLE / "CMU-1-Small-Region.svs"), "--annotations", str(SAMPLE / "annotations.geojson"),
        "--tile", "32", "--magnification", "5", "--dest", str(dest)])
    assert result.exit_code == 0, result.output
    return dest


@pytest.fixture(scope="session")
def sample_splits(sample_tiles, tmp_path_factory) -> Path:
    from thygan.cli.splits import splits_command

    dest = tmp_path_factory.mktemp("splits")
    result = CliRunner().invoke(splits_command, ["--labels", str(sample_tiles / "dataset.json"),
                                                 "--stratify", "label", "--dest", str(dest)])
    assert result.exit_code == 0, result.output
    return dest


@pytest.fixture(scope="session")
def split_file(sample_splits) -> Path:
    path = sample_splits / "cv_splits" / "cv0_splits" / "cv_split_0_0.json"
    assert set(json.loads(path.read_text())) == {"train", "val", "test"}
    return path


@pytest.fixture(scope="session")
def tiny_gan(tmp_path_factory) -> Path:
    """A random conditional generator of 32 px images with 3 classes, as a thygan checkpoint."""
    from thygan.io.checkpoint import save_checkpoint
    from thygan.stylegan.networks import Generator

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("gan") / "tiny"
    save_checkpoint(path, networks={"G_ema": Generator(**TINY_G).eval()}, class_names=["a", "b", "c"])
    return path.with_suffix(".safetensors")


def train_args(tiles: Path, split: Path, out: Path, *extra) -> list[str]:
    """dlc-train flags for a seconds-long CPU run on the sample."""
    return ["--src_dir", str(tiles), "--labels", str(tiles / "dataset.json"), "--out_dir", str(out),
            "--split_file", str(split), "--run_id", "t", "--crop_size", "32", "--model_type", "resnet18",
            "--width", "8", "--epochs", "2", "--batch_size", "16", "--workers", "0", "--device", "cpu",
            *map(str, extra)]
