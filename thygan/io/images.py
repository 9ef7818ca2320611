"""Image files written atomically, so an interrupted run never leaves a truncated PNG behind."""

from pathlib import Path

import numpy as np
from PIL import Image

from thygan.io.atomic import atomic_path


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """image: [H, W, C] (C = 1 or 3) or [H, W] uint8 -> PNG at ``path`` (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG")
    return path
