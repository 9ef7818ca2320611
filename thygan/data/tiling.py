"""Cutting images and whole slides into square tiles: the grid, the tissue mask and the readers.

The grid is the thyroid study's (``split_dataset.py``): ``round(L / crop)`` positions per axis at
stride = crop, the last one clamped to ``L - crop`` so it overlaps its neighbour instead of running
off the edge (1916 x 1053 px at 512 -> x = 0, 512, 1024, 1404 and y = 0, 512; the bottom 29 px are
never used). With a stride below the crop the same rule gives ``round((L - crop) / stride) + 1``
positions, which reduces to the study's count when stride = crop.

The tissue mask is Otsu's threshold on HSV saturation: glass is white or grey (saturation near 0),
stained tissue is coloured. The threshold is computed once per image or slide (on a thumbnail for
slides), never per tile, so a tile of pure glass is not split into two "classes" of noise.

Whole-slide images (svs, ndpi, mrxs, tiled tiff, ...) are read through openslide, tile by tile, at a
pyramid level or at a target magnification / resolution; other images are decoded by Pillow.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image

from thygan.data.image_files import IMAGE_EXTENSIONS
from thygan.data.tile_origin import TileOrigin
from thygan.errors import UserError

SLIDE_EXTENSIONS = frozenset([".svs", ".ndpi", ".mrxs", ".scn", ".svslide", ".bif", ".vms", ".vmu"])
TIFF_EXTENSIONS = frozenset([".tif", ".tiff"])  # slides when openslide recognises them, else images
THUMBNAIL_SIDE = 2048  # longest side of the slide thumbnail the tissue threshold is computed on


@dataclass(frozen=True)
class Box:
    """A tile: top-left corner and side length, in pixels of the tiled image."""

    x: int
    y: int
    size: int


def grid_starts(length: int, crop: int, stride: int | None = None) -> list[int]:
    """Start offsets of the clamped grid along one axis (see module docstring).

    Raises:
        UserError: ``crop`` is larger than ``length`` or not positive.
    """
    stride = crop if stride is None else stride
    if crop < 1 or stride < 1:
        raise UserError(f"crop size and stride: expected positive integers, got {crop} and {stride}")
    if crop > length:
        raise UserError(f"crop size: {crop} px is larger than the image side of {length} px")
    # (length - crop + stride) / stride == length / crop when stride == crop: the study's count,
    # including Python's round-half-to-even on exact ties.
    count = round((length - crop + stride) / stride)
    return [min(k * stride, length - crop) for k in range(count)]


def grid_boxes(width: int, height: int, crop: int, stride: int | None = None) -> list[Box]:
    """All tiles of a ``width`` x ``height`` image in row-major order (the study's crop index i)."""
    xs = grid_starts(width, crop, stride)
    ys = grid_starts(height, crop, stride)
    return [Box(x, y, crop) for y in ys for x in xs]


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation (max - min) / max of rgb: [H, W, 3] uint8 -> [H, W] float32 in [0, 1]."""
    rgb = rgb.astype(np.float32)
    high = rgb.max(axis=2)
    low = rgb.min(axis=2)
    return np.divide(high - low, high, out=np.zeros_like(high), where=high > 0)


def otsu_threshold(values: np.ndarray, *, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the cut maximising the between-class variance.

    Returns the upper edge of the last bin of the lower class, so ``values > t`` is the upper class.
    """
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    hist = hist.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(hist)[:-1]
    weight_high = hist.sum() - weight_low
    mass_low = np.cumsum(hist * centres)[:-1]
    mass_high = (hist * centres).sum() - mass_low
    valid = (weight_low > 0) & (weight_high > 0)
    if not valid.any():
        return float(edges[1])  # constant image: nothing to separate
    mean_low = np.divide(mass_low, weight_low, out=np.zeros_like(mass_low), where=valid)
    mean_high = np.divide(mass_high, weight_high, out=np.zeros_like(mass_high), where=valid)
    between = np.where(valid, weight_low * weight_high * (mean_low - mean_high) ** 2, -1.0)
    return float(edges[int(np.argmax(between)) + 1])


def tissue_threshold(rgb: np.ndarray, *,
                     floor: float = 0.05,     # lowest saturation counted as tissue
                     ceiling: float = 0.2):   # highest threshold Otsu may pick
    """Saturation threshold separating tissue from glass for one image or slide thumbnail.

    Otsu is clipped because it always finds two classes: on an all-glass image the floor keeps
    JPEG noise out of the tissue, on an all-tissue image the ceiling keeps pale stroma (saturation
    about 0.2-0.3 in H&E) from being called glass.
    """
    return float(np.clip(otsu_threshold(saturation(rgb)), floor, ceiling))


def tissue_fraction(rgb: np.ndarray, threshold: float) -> float:
    """Share of the pixels of rgb: [H, W, 3] uint8 whose saturation exceeds ``threshold``."""
    return float((saturation(rgb) > threshold).mean())


class ImageSource:
    """An ordinary image (JPEG, PNG, plain TIFF...) held in memory as RGB."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._rgb: np.ndarray | None = None
        with self._open() as image:  # the header only: sizes are known before any pixel is decoded
            self.width, self.height = image.size

    @classmethod
    def from_array(cls, rgb: np.ndarray, name: str) -> "ImageSource":
        """An image already in memory (rgb: [H, W, 3] uint8); ``name`` stands in for its path."""
        source = cls.__new__(cls)
        source.path, source._rgb = Path(name), np.ascontiguousarray(rgb[:, :, :3], dtype=np.uint8)
        source.height, source.width = source._rgb.shape[:2]
        return source

    def _open(self) -> PIL.Image.Image:
        try:
            return PIL.Image.open(self.path)
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... on damaged files
            raise UserError(f"{self.path}: cannot read image ({exc})") from None

    @property
    def rgb(self) -> np.ndarray:
        """All pixels: [H, W, 3] uint8, decoded on first use."""
        if self._rgb is None:
            with self._open() as image:
                try:
                    self._rgb = np.asarray(image.convert("RGB"))
                except Exception as exc:  # truncated or corrupt pixel data
                    raise UserError(f"{self.path}: cannot read image ({exc})") from None
        return self._rgb

    def read(self, box: Box) -> np.ndarray:
        """The tile at ``box``: [size, size, 3] uint8."""
        return self.rgb[box.y:box.y + box.size, box.x:box.x + box.size]

    def thumbnail(self) -> np.ndarray:
        """The whole image (small enough to threshold directly): [H, W, 3] uint8."""
        return self.rgb

    def origin(self, box: Box, name: str) -> TileOrigin:
        """Where tile ``box`` lies in image ``name`` (its pixels are level 0)."""
        return TileOrigin(name, box.x, box.y, box.size, level=0)

    def close(self) -> None:
        """Drop the decoded pixels."""
        self._rgb = None


class SlideSource:
    """A whole-slide image read through openslide at a level, magnification or resolution.

    The tiled image is level 0 scaled by ``1 / downsample``; each tile is read at the pyramid level
    closest to (not coarser than) that scale and reduced to the tile size by area averaging.

    Args:
        path: The slide file.
        level: Pyramid level to tile (its own resolution).
        magnification: Target objective power (e.g. 10 for 10x); needs ``openslide.objective-power``.
        mpp: Target microns per pixel; needs ``openslide.mpp-x``.
    """

    def __init__(self, path: str | os.PathLike, *, level: int | None = None,
                 magnification: float | None = None, mpp: float | None = None):
        import openslide

        self.path = Path(path)
        try:
            self.slide = openslide.OpenSlide(str(self.path))
        except (openslide.OpenSlideError, OSError) as exc:
            raise UserError(f"{self.path}: cannot open whole-slide image ({exc})") from None
        self.downsample = self._target_downsample(level=level, magnification=magnification, mpp=mpp)
        self.read_level = self.slide.get_best_level_for_downsample(self.downsample + 1e-6)
        self.level_scale = self.downsample / self.slide.level_downsamples[self.read_level]
        width0, height0 = self.slide.dimensions
        # The epsilon keeps 2220 / (0.998 / 0.499) at 1110 despite the division's rounding error.
        self.width = int(width0 / self.downsample + 1e-6)
        self.height = int(height0 / self.downsample + 1e-6)

    def _property(self, name: str, flag: str) -> float:
        value = self.slide.properties.get(name)
        if value is None:
            raise UserError(f"{flag}: {self.path} does not record {name}; use --level instead")
        return float(value)

    def _target_downsample(self, *, level: int | None, magnification: float | None,
                           mpp: float | None) -> float:
        if sum(option is not None for option in (level, magnification, mpp)) > 1:
            raise UserError("--level, --magnification, --mpp: give at most one")
        if level is not None:
            if not 0 <= level < self.slide.level_count:
                last = self.slide.level_count - 1
                raise UserError(f"--level: {self.path} has levels 0-{last}, got {level}")
            return float(self.slide.level_downsamples[level])
        if magnification is not None:
            native = self._property("openslide.objective-power", "--magnification")
            downsample = native / magnification
        elif mpp is not None:
            native = self._property("openslide.mpp-x", "--mpp")
            downsample = mpp / native
        else:
            return 1.0
        if downsample < 1 - 1e-6:
            raise UserError(f"{'--magnification' if magnification else '--mpp'}: finer than the slide's "
                            f"native resolution (downsample {downsample:.3g} < 1); upsampling is refused")
        return downsample

    def read(self, box: Box) -> np.ndarray:
        """The tile at ``box`` (in target pixels): [size, size, 3] uint8."""
        origin = (round(box.x * self.downsample), round(box.y * self.downsample))
        side = max(1, round(box.size * self.level_scale))
        region = self.slide.read_region(origin, self.read_level, (side, side))
        # read_region gives alpha 0 where nothing was scanned (sparse mrxs, past the edge): paint
        # those pixels white like glass, not black, so the tissue mask calls them background.
        tile = PIL.Image.new("RGB", region.size, (255, 255, 255))
        tile.paste(region, mask=region.getchannel("A"))
        if side != box.size:
            tile = tile.resize((box.size, box.size), PIL.Image.Resampling.BOX)  # area average, as pyramids
        return np.asarray(tile)

    def origin(self, box: Box, name: str) -> TileOrigin:
        """Where tile ``box`` (target pixels) lies in slide ``name``: the level-0 region :meth:`read` reads."""
        properties = self.slide.properties
        power, mpp = properties.get("openslide.objective-power"), properties.get("openslide.mpp-x")
        exact = abs(self.level_scale - 1) < 1e-6  # read from a pyramid level as stored, no resampling
        return TileOrigin(name, round(box.x * self.downsample), round(box.y * self.downsample),
                          round(box.size * self.downsample), downsample=self.downsample,
                          level=self.read_level if exact else None,
                          magnification=float(power) / self.downsample if power else None,
                          mpp=float(mpp) * self.downsample if mpp else None)

    def thumbnail(self) -> np.ndarray:
        """A whole-slide overview of at most THUMBNAIL_SIDE px: [h, w, 3] uint8."""
        thumb = self.slide.get_thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        return np.asarray(thumb.convert("RGB"))

    def close(self) -> None:
        """Release the openslide handle."""
        self.slide.close()


def is_slide_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is read through openslide (by extension; TIFFs only when tiled, as slides are).

    A plain striped TIFF is left to Pillow, which reads it whole.
    """
    suffix = Path(path).suffix.lower()
    if suffix in SLIDE_EXTENSIONS:
        return True
    if suffix in TIFF_EXTENSIONS:
        import openslide

        return openslide.OpenSlide.detect_format(str(path)) is not None
    return False


def open_source(path: str | os.PathLike, *, level: int | None = None, magnification: float | None = None,
                mpp: float | None = None) -> ImageSource | SlideSource:
    """Open an image or a whole slide for tiling; the resolution options apply to slides only."""
    if is_slide_file(path):
        return SlideSource(path, level=level, magnification=magnification, mpp=mpp)
    return ImageSource(path)


def source_files(root: str | os.PathLike) -> list[str]:
    """Images and slides under ``root``, recursively: '/'-separated relative paths, sorted.

    Hidden files and folders are skipped, and so is everything inside a slide's companion folder
    (an ``.mrxs`` slide keeps its data in a sibling folder of the same stem).
    """
    root = Path(root)
    found = []
    for folder, dirs, files in os.walk(root):
        companions = {Path(name).stem for name in files if Path(name).suffix.lower() == ".mrxs"}
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in companions)
        for name in files:
            suffix = Path(name).suffix.lower()
            if not name.startswith(".") and (suffix in IMAGE_EXTENSIONS or suffix in SLIDE_EXTENSIONS):
                found.append((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)
