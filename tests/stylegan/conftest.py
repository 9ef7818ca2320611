"""Tiny training fixtures: a 16 px, 3-class dataset in the dataset_tool layout."""

import json

import numpy as np
import pytest
from PIL import Image


def write_tiny_dataset(root, *, count: int = 12, resolution: int = 16, classes: int = 3, labels: bool = True):
    """Coloured stripes, one colour family per class; returns the folder."""
    rng = np.random.RandomState(0)
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for idx in range(count):
        label = idx % classes
        base = np.zeros([resolution, resolution, 3], np.float32)
        base[..., label] = 200
        base[:, ::4] += 40
        image = np.clip(base + rng.randn(resolution, resolution, 3) * 10, 0, 255).astype(np.uint8)
        name = f"00000/img{idx:08d}.png"
        (root / "00000").mkdir(exist_ok=True)
        Image.fromarray(image).save(root / name)
        entries.append([name, label])
    meta = {"labels": entries if labels else None}
    if labels:
        meta["class_names"] = [f"class{k}" for k in range(classes)]
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


@pytest.fixture
def tiny_dataset(tmp_path):
    return write_tiny_dataset(tmp_path / "tiny")
