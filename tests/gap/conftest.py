"""Small image folders, a tiny deterministic extractor, and one shared UMAP fit for the gap tests."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from thygan.gap.extractors import EXTRACTORS, FeatureExtractor

TINY_EXTRACTOR = "test-channel-stats"


def channel_stats(images):
    """images: [N, 3, H, W] uint8 -> [N, 6]: per-channel mean and standard deviation in [0, 1]."""
    x = images.float() / 255
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def _load_tiny(*, weights, device):
    return FeatureExtractor(TINY_EXTRACTOR, "test-channel-stats:v1", channel_stats, device)


if TINY_EXTRACTOR not in EXTRACTORS:
    EXTRACTORS.register(TINY_EXTRACTOR, _load_tiny)


def coloured_images(count: int, *, colour: tuple[int, int, int], size: int = 16, noise: float = 20.0,
                    seed: int = 0) -> list[np.ndarray]:
    """``count`` images [size, size, 3] uint8 around one colour."""
    rng = np.random.RandomState(seed)
    return [np.clip(np.array(colour, float) + rng.randn(size, size, 3) * noise, 0, 255).astype(np.uint8)
            for _ in range(count)]


def write_folder(root: Path, images: list[np.ndarray], *, labels: list[int] | None = None,
                 class_names: list[str] | None = None) -> Path:
    """PNGs img0000.png ... in ``root`` (+ dataset.json with the labels, if any)."""
    root.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        Image.fromarray(image).save(root / f"img{index:04d}.png")
    if labels is not None:
        meta = {"labels": [[f"img{i:04d}.png", int(label)] for i, label in enumerate(labels)]}
        if class_names is not None:
            meta["class_names"] = class_names
        (root / "dataset.json").write_text(json.dumps(meta))
    return root


@pytest.fixture
def two_domains(tmp_path):
    """A reddish labelled set (classes a/b, 12 each) and a bluish unlabelled one (20 images)."""
    red = coloured_images(12, colour=(200, 60, 60), seed=1)
    red += coloured_images(12, colour=(160, 90, 60), seed=2)
    blue = coloured_images(20, colour=(60, 60, 200), seed=3)
    return (write_folder(tmp_path / "red", red, labels=[0] * 12 + [1] * 12, class_names=["a", "b"]),
            write_folder(tmp_path / "blue", blue))


@pytest.fixture(scope="session")
def umap_blobs():
    """One 2-D and one 3-D UMAP fit of two far-apart Gaussian blobs (pays the numba JIT once)."""
    from thygan.gap.umap_fit import fit_umap

    rng = np.random.RandomState(0)
    features = np.concatenate([rng.randn(60, 8), rng.randn(60, 8) + 12]).astype(np.float32)
    coords = {dims: fit_umap(features, n_components=dims, n_epochs=30) for dims in (2, 3)}
    return features, coords
