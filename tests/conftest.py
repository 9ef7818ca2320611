"""Fixtures shared by every test folder."""

from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

# The shared folder sits next to the repository root: <repo>/../shared/reference/golden.
GOLDEN_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Folder with the reference implementation's golden vectors (see its README.md)."""
    if not (GOLDEN_DIR / "ops_golden.safetensors").is_file():
        pytest.fail(f"golden vectors not found: expected {GOLDEN_DIR}/ops_golden.safetensors "
                    "(the shared folder must sit next to the repository root)")
    return GOLDEN_DIR


@contextmanager
def single_threaded():
    """Run on one intra-op thread. Tiny tensors gain nothing from threads, and on a busy 2-core
    machine their contention made gradgradcheck and small-network training many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture
def single_thread():
    """A test on one thread (see single_threaded)."""
    with single_threaded():
        yield


def pytest_collection_modifyitems(config, items):
    """Deselect `gpu`-marked tests where CUDA is missing (the marker in setup.cfg promises this)."""
    if torch.cuda.is_available():
        return
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items:
        config.hook.pytest_deselected(items=gpu_items)
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]
