"""Tiny HoVer-Net configurations and data for the segmentation tests."""

import numpy as np
import pytest

# The CPU configuration the tests train: narrow, one unit per group, 'fast' geometry on 96 px (4 px out)
# or 128 px (36 px out).
TINY = dict(mode="fast", width=0.125, blocks=(1, 1, 1, 1))


def disk_instances(size: int, centers: list[tuple[int, int]], radius: int = 5) -> np.ndarray:
    """An instance map of disks (later disks cover earlier ones)."""
    rr, cc = np.mgrid[:size, :size]
    inst = np.zeros((size, size), np.int32)
    for k, (r, c) in enumerate(centers, start=1):
        inst[(rr - r) ** 2 + (cc - c) ** 2 <= radius ** 2] = k
    return inst


def render(inst: np.ndarray, seed: int = 0) -> np.ndarray:
    """A fake H&E tile: pink background, purple nuclei, a little noise. [H, W, 3] uint8."""
    rng = np.random.default_rng(seed)
    img = np.empty(inst.shape + (3,), np.float32)
    img[:] = (230, 190, 215)
    img[inst > 0] = (90, 50, 140)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def tile_and_instances():
    rng = np.random.default_rng(1)
    centers = [tuple(int(v) for v in rng.integers(8, 120, 2)) for _ in range(14)]
    inst = disk_instances(128, centers)
    return render(inst), inst


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Tiny networks gain nothing from threads; on a busy 2-core machine contention made them 10x slower."""
    yield
