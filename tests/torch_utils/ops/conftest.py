"""Fixtures for the op tests: the reference implementation's golden vectors."""

import pytest
import torch
from safetensors.torch import load_file


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """The op tests run on one thread (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def ops_golden(golden_dir) -> dict[str, torch.Tensor]:
    """Inputs and outputs of the reference ops (see golden/README.md and ops_golden.json)."""
    return load_file(golden_dir / "ops_golden.safetensors")


def assert_close_rel(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """Same shape, and max abs error within ``rtol`` of the expected tensor's max magnitude."""
    assert actual.shape == expected.shape
    scale = expected.abs().max().clamp_min(1e-12)
    assert ((actual - expected).abs().max() / scale).item() <= rtol
