"""Tiny translation fixtures: folders of a few 36x40 PNGs in each data mode, built in milliseconds."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import single_threaded

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks gain nothing from threads; on a shared 2-core machine they lose a lot."""
    with single_threaded():
        yield


@pytest.fixture(scope="session")
def reference_layouts() -> dict:
    """The reference's state-dict layouts (keys, shapes, dtypes, parameter counts) for each network."""
    return json.loads((DATA / "cyclegan_keys.json").read_text())


def write_images(folder: Path, count: int, *, size: tuple[int, int] = (36, 40), seed: int = 0,
                 names: list[str] | None = None) -> list[Path]:
    """``count`` random RGB PNGs of ``size`` (h, w) in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / (names[i] if names else f"{i:03d}.png")
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def unaligned_root(tmp_path) -> Path:
    root = tmp_path / "unaligned"
    write_images(root / "trainA", 4, seed=1)
    write_images(root / "trainB", 3, seed=2)
    return root


@pytest.fixture
def aligned_root(tmp_path) -> Path:
    root = tmp_path / "aligned"
    write_images(root / "train", 3, size=(32, 64), seed=3)
    return root


@pytest.fixture
def paired_root(tmp_path) -> Path:
    root = tmp_path / "paired"
    write_images(root / "A", 3, size=(32, 32), seed=4)
    write_images(root / "B", 3, size=(32, 32), seed=5)
    return root
