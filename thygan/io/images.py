"""Images to files: ``save_png`` writes atomically (an interrupted run never leaves a truncated PNG
behind), and ``image_grid`` tiles equally sized images into one grid image, optionally with row labels
and column titles.

Labels and titles are drawn with PIL's bundled font (no font file is needed, so it works offline and in
a wheel) into white margins left of and above the images; the images themselves are never drawn over.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


def image_grid(images: np.ndarray, *, padding: int = 2, fill: int = 255,
               row_labels: list[str] | None = None, col_titles: list[str] | None = None) -> np.ndarray:
    """images: [rows, cols, H, W, C] uint8 -> [rows*(H+p)-p, cols*(W+p)-p, C] uint8 with ``fill`` gutters.

    Args:
        row_labels: One text per row (e.g. the class names), written left of each row; the grid then
            gains a margin as wide as the longest text.
        col_titles: One text per column (e.g. "image", "prediction"), centred above each column in a
            band on top of the grid.
    """
    rows, cols, H, W, C = images.shape
    grid = np.full([rows * (H + padding) - padding, cols * (W + padding) - padding, C], fill, dtype=np.uint8)
    for r in range(rows):
        for c in range(cols):
            y, x = r * (H + padding), c * (W + padding)
            grid[y:y + H, x:x + W] = images[r, c]
    if row_labels is not None:
        if len(row_labels) != rows:
            raise ValueError(f"row_labels: {len(row_labels)} texts for {rows} rows")
        grid = _label_margin(grid, row_labels, row_pitch=H + padding, row_height=H, fill=fill)
    if col_titles is not None:
        if len(col_titles) != cols:
            raise ValueError(f"col_titles: {len(col_titles)} texts for {cols} columns")
        left = grid.shape[1] - (cols * (W + padding) - padding)  # the row-label margin, if any
        grid = _title_band(grid, col_titles, left=left, col_pitch=W + padding, col_width=W, fill=fill)
    return grid


def _title_band(grid: np.ndarray, titles: list[str], *, left: int, col_pitch: int, col_width: int,
                fill: int) -> np.ndarray:
    """``grid`` with a band on top holding ``titles[c]`` centred over column c (starting ``left`` px in)."""
    size = int(np.clip(col_width / 12, 10, 28))
    font = ImageFont.load_default(size=size)
    band = size + 2 * max(3, size // 3)
    _, width, channels = grid.shape
    canvas = Image.new("L", (width, band), color=fill)
    draw = ImageDraw.Draw(canvas)
    for c, text in enumerate(titles):
        draw.text((left + c * col_pitch + col_width / 2, band / 2), text, font=font, fill=0 if fill > 127 else 255,
                  anchor="mm")
    strip = np.repeat(np.asarray(canvas)[:, :, None], channels, axis=2)
    return np.concatenate([strip, grid], axis=0)


def _label_margin(grid: np.ndarray, labels: list[str], *, row_pitch: int, row_height: int,
                  fill: int) -> np.ndarray:
    """``grid`` with a margin on its left holding ``labels[r]`` centred on row r's height."""
    size = int(np.clip(row_height * 0.25, 10, 28))  # readable beside 32 px tiles, modest beside 512 px ones
    font = ImageFont.load_default(size=size)
    gap = max(4, size // 2)
    widths = [font.getbbox(text)[2] - font.getbbox(text)[0] for text in labels]
    margin = max(widths) + 2 * gap
    height, _, channels = grid.shape
    canvas = Image.new("L", (margin, height), color=fill)
    draw = ImageDraw.Draw(canvas)
    ink = 0 if fill > 127 else 255
    for r, text in enumerate(labels):
        draw.text((margin - gap, r * row_pitch + row_height / 2), text, font=font, fill=ink, anchor="rm")
    strip = np.repeat(np.asarray(canvas)[:, :, None], channels, axis=2)
    return np.concatenate([strip, grid], axis=1)
