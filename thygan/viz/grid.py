"""Tile equally sized images into one grid image (rows x columns)."""

import numpy as np


def image_grid(images: np.ndarray, *, padding: int = 2, fill: int = 255) -> np.ndarray:
    """images: [rows, cols, H, W, C] uint8 -> [rows*(H+p)-p, cols*(W+p)-p, C] uint8 with ``fill`` gutters."""
    rows, cols, H, W, C = images.shape
    grid = np.full([rows * (H + padding) - padding, cols * (W + padding) - padding, C], fill, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            y, x = r * (H + padding), c * (W + padding)
            grid[y:y + H, x:x + W] = images[r, c]
    return grid
