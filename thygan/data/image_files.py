"""The image files of a folder or a zip archive: listed once, read by relative path, decoded to uint8.

Shared by the training dataset and by dataset_tool so that both see the same files in the same
order: every file with an image extension, found recursively, sorted by its '/'-separated path
relative to the root. Hidden files and macOS ``__MACOSX/`` resource forks are skipped (they would be
unreadable "images" in zips made on a Mac). When every file lies inside one folder (``zip -r ds.zip
ds/`` stores ``ds/dataset.json``, ``ds/00000/...``), that folder counts as the root, so the
dataset.json and class folders inside it are found.
"""

import io
import os
import re
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import PIL.Image

from thygan.errors import UserError

try:
    import pyspng  # decodes PNG several times faster than Pillow
except ImportError:
    pyspng = None

IMAGE_EXTENSIONS = frozenset([".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".tif", ".tiff", ".webp",
                              ".gif", ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".qoi"])
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SPNG_COLOR_TYPES = (0, 2, 6)  # gray, RGB, RGBA at 8 bits: the PNG kinds pyspng returns unchanged
_KEEP_MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_CONVERT_MODES = {"1": "L", "P": "RGB", "PA": "RGBA",  # Pillow modes decoded as L/RGB/RGBA
                  "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


def _is_visible(name: str) -> bool:
    return not any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def is_image_name(name: str) -> bool:
    """True for a non-hidden file with an image extension (``name`` is a '/'-separated path)."""
    return _is_visible(name) and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def folder_images(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder`` (not below it), as ``is_image_name`` decides, sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_image_name(p.name))


def _wrapping_folders(names: list[str]) -> str:
    """The folder prefix (e.g. ``'ds/'``) that every name shares, descending while there is one."""
    prefix = ""
    while names and all("/" in name for name in names) and len({name.split("/")[0] for name in names}) == 1:
        top = names[0].split("/")[0] + "/"
        prefix += top
        names = [name[len(top):] for name in names]
    return prefix


class ImageFiles:
    """A folder or zip of image files, read by path relative to its root (see the module docstring).

    The zip is opened lazily and once per process: a copy pickled into (or forked into) a DataLoader
    worker opens its own handle, because processes sharing one file offset would read each other's
    bytes.

    Args:
        path: A folder or a ``.zip`` file.
        what: How to name ``path`` in error messages (a flag such as ``--source``, or the path).
    """

    def __init__(self, path: str | os.PathLike, *, what: str | None = None):
        self.path = Path(path)
        self.what = what or str(path)
        if self.path.is_dir():
            self.kind = "dir"
            all_names = self._walk_folder()
        elif self.path.is_file() and zipfile.is_zipfile(self.path):
            self.kind = "zip"
            all_names = [info.filename for info in self._zip().infolist() if not info.is_dir()]
        elif self.path.is_file() and self.path.suffix.lower() == ".zip":
            raise UserError(f"{self.what}: '{self.path}' is not a valid zip file")
        elif self.path.is_file():
            raise UserError(f"{self.what}: expected a folder or a .zip file, got '{self.path}'")
        else:
            raise UserError(f"{self.what}: no such folder or zip file '{self.path}'")
        visible = [name for name in all_names if _is_visible(name)]
        self.prefix = _wrapping_folders(visible)
        self._all_names = frozenset(name[len(self.prefix):] for name in visible)
        self.names = sorted(name for name in self._all_names if is_image_name(name))

    def _walk_folder(self) -> list[str]:
        names = []
        for root, dirs, files in os.walk(self.path):
            dirs.sort()
            rel_root = Path(root).relative_to(self.path).as_posix()
            prefix = "" if rel_root == "." else rel_root + "/"
            names.extend(prefix + name for name in files)
        return names

    def _zip(self) -> zipfile.ZipFile:
        if getattr(self, "_zipfile", None) is None or self._zip_pid != os.getpid():
            try:
                self._zipfile = zipfile.ZipFile(self.path)
            except (OSError, zipfile.BadZipFile) as exc:
                raise UserError(f"{self.what}: cannot open zip file ({exc})") from None
            self._zip_pid = os.getpid()
        return self._zipfile

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key not in ("_zipfile", "_zip_pid")}

    def __len__(self) -> int:
        return len(self.names)

    def has(self, name: str) -> bool:
        """Whether any file (image or not) exists at relative path ``name``."""
        return name in self._all_names

    def open(self, name: str) -> BinaryIO:
        """Open the file at relative path ``name`` for binary reading."""
        if self.kind == "zip":
            return self._zip().open(self.prefix + name, "r")
        return open(self.path / (self.prefix + name), "rb")

    def read(self, name: str) -> bytes:
        """The bytes of the file at relative path ``name``."""
        with self.open(name) as file:
            return file.read()

    def close(self) -> None:
        """Close the zip handle of this process (it reopens on the next read)."""
        if getattr(self, "_zipfile", None) is not None:
            self._zipfile.close()
            self._zipfile = None


def _unsupported_mode(mode: str, name: str) -> UserError:
    return UserError(f"{name}: unsupported image mode '{mode}' (expected 8-bit grayscale or colour)")


def _unreadable(name: str, exc: Exception) -> UserError:
    """'<name>: cannot read image (<why>)': Pillow's reason without the repr of the file object it was given."""
    if isinstance(exc, PIL.UnidentifiedImageError):
        why = "not an image file, or a damaged one"
    else:
        why = re.sub(r"\s*<[^<>]* (object at 0x[0-9a-fA-F]+|name=[^<>]*)>", "", str(exc)).strip().splitlines()
        why = why[0] if why else type(exc).__name__
    return UserError(f"{name}: cannot read image ({why})")


def probe_image(file: BinaryIO, name: str) -> tuple[int, int, int]:
    """Shape [C, H, W] that :func:`decode_image` will return, read from the header only (fast).

    Args:
        file: The open image file.
        name: Its name, for error messages.
    """
    try:
        with PIL.Image.open(file) as image:
            mode, (width, height) = image.mode, image.size
    except Exception as exc:  # Pillow raises many types for damaged files
        raise _unreadable(name, exc) from None
    mode = _CONVERT_MODES.get(mode, mode)
    if mode not in _KEEP_MODES:
        raise _unsupported_mode(mode, name)
    return _KEEP_MODES[mode], height, width


def _decode_png_fast(data: bytes) -> np.ndarray | None:
    """Decode with pyspng when the PNG is one of the kinds it returns unchanged; else None."""
    if pyspng is None or len(data) < 26 or not data.startswith(_PNG_SIGNATURE):
        return None
    bit_depth, color_type = data[24], data[25]  # IHDR fields; IHDR is always the first chunk
    if bit_depth != 8 or color_type not in _SPNG_COLOR_TYPES:
        return None
    return pyspng.load(data)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode image file bytes to a uint8 array [H, W, C] (C = 1, 2, 3 or 4).

    Palette, 1-bit and CMYK-like images are converted to grayscale or RGB; 16-bit and float
    images are refused rather than silently truncated.

    Args:
        data: The file content.
        name: The file name, for error messages.

    Raises:
        UserError: The bytes are not a readable image of a supported mode.
    """
    try:
        array = _decode_png_fast(data)
        if array is None:
            with PIL.Image.open(io.BytesIO(data)) as image:
                mode = _CONVERT_MODES.get(image.mode, image.mode)
                if mode not in _KEEP_MODES:
                    raise _unsupported_mode(image.mode, name)
                array = np.asarray(image.convert(mode) if mode != image.mode else image)
    except UserError:
        raise
    except Exception as exc:  # pyspng raises RuntimeError, Pillow OSError/SyntaxError/ValueError...
        raise _unreadable(name, exc) from None
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return np.ascontiguousarray(array, dtype=np.uint8)
