"""Fixtures shared by every test folder."""

from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

# Copies of the reference implementation's outputs, kept in the repository so a lone clone tests green.
GOLDEN_DIR = Path(__file__).resolve().parent / "data" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """Folder with the reference implementation's golden vectors and state-dict keys (see its README.md)."""
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
