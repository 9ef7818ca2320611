"""Tiny stand-ins for the metric tests: a TorchScript-able random feature detector (with a logits head),
a 16 px conditional generator and the tiny 3-class dataset of the training tests."""

import warnings

import pytest
import torch

from tests.stylegan.conftest import write_tiny_dataset
from thygan.metrics.inception import inception_from_module
from thygan.stylegan.networks import Generator


class TinyDetector(torch.nn.Module):
    """Pool layout of thygan's detector protocol: forward(x [N, 3, 299, 299] in [-1, 1)) -> [N, 8] features,
    logits(x) -> [N, 5]. Random but fixed weights; a strided conv keeps it fast at 299 px."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 8, kernel_size=13, stride=13)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))

    @torch.jit.export
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward(x))


class FeaturesOnly(torch.nn.Module):
    """Like TinyDetector but without a classifier (as fid-helper's Inception)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv2d(3, 8, kernel_size=13, stride=13)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


def script(module: torch.nn.Module) -> torch.jit.ScriptModule:
    """torch.jit.script without its deprecation warning (detectors ship as TorchScript files)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(module)


def tiny_generator(c_dim: int = 3, seed: int = 0) -> Generator:
    torch.manual_seed(seed)
    return Generator(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=16, img_channels=3,
                     mapping_kwargs={"num_layers": 2},
                     synthesis_kwargs={"channel_base": 256, "channel_max": 16}).eval().requires_grad_(False)


@pytest.fixture
def tiny_detector():
    return inception_from_module(TinyDetector())


@pytest.fixture
def detector_file(tmp_path):
    """TinyDetector saved as TorchScript, for --detector / $THYGAN_DETECTOR."""
    path = tmp_path / "tiny_detector.pt"
    script(TinyDetector()).save(str(path))
    return path


@pytest.fixture
def tiny_G():
    return tiny_generator()


@pytest.fixture
def tiny_data(tmp_path):
    return write_tiny_dataset(tmp_path / "tiny")
