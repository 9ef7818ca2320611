"""Tiny image datasets written directly with Pillow/zipfile, independent of thygan's own writers."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest


def png_bytes(array: np.ndarray) -> bytes:
    """array: [H, W, C] or [H, W] uint8 -> PNG bytes."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    buffer = io.BytesIO()
    PIL.Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def write_image(path: Path, array: np.ndarray) -> Path:
    """Save ``array`` [H, W, C] uint8 at ``path`` in the format its extension names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        path.write_bytes(png_bytes(array))
    else:
        PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)
    return path


def random_images(count: int, height: int, width: int, channels: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, channels), dtype=np.uint8) for _ in range(count)]


def write_layout(root: Path, images: list[np.ndarray], labels: list | None, *, as_zip: bool,
                 extra_meta: dict | None = None, with_json: bool = True) -> Path:
    """Write the reference training layout (00000/img00000000.png + dataset.json) as a folder or zip."""
    names = [f"{i // 1000:05d}/img{i:08d}.png" for i in range(len(images))]
    files = {name: png_bytes(image) for name, image in zip(names, images, strict=True)}
    if with_json:
        rows = None if labels is None else [[n, lab] for n, lab in zip(names, labels, strict=True)]
        meta = {"labels": rows}
        meta.update(extra_meta or {})
        files["dataset.json"] = json.dumps(meta).encode()
    if as_zip:
        path = root.with_suffix(".zip")
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        return path
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def labelled_layout(tmp_path):
    """Factory: (path, images, labels) of a 6-image 8x8 RGB dataset with labels 0..2, folder or zip."""
    def make(as_zip: bool, name: str = "ds"):
        images = random_images(6, 8, 8)
        labels = [2, 0, 1, 0, 2, 1]
        return write_layout(tmp_path / name, images, labels, as_zip=as_zip), images, labels
    return make
