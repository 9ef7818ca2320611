"""dataset_tool: convert images (+ labels) into the StyleGAN2-ADA training layout, all or nothing.

Output, as the reference ``dataset_tool.py`` writes it: a folder or an uncompressed (ZIP_STORED) zip
holding ``00000/img00000000.png``, ``00000/img00000001.png``, ... (PNG, compress_level 0, 1000 per
folder) and ``dataset.json`` ``{"labels": [["00000/img00000000.png", 6], ...] | null}`` plus thygan's
``"class_names"`` where the class names are known. Every output image must be square, a power of two
in size, with 1 or 3 channels, and all alike. The output is built in a hidden temp folder or file
next to ``dest`` and renamed onto it only when complete, so a refusal or an interruption leaves
nothing behind. Zip entries carry a fixed timestamp, so the same input gives the same bytes.
"""

import io
import json
import os
import secrets
import shutil
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import PIL.Image

from thygan.data.dataset_source import SourceDataset, open_source
from thygan.data.image_files import decode_image
from thygan.errors import UserError
from thygan.io.atomic import atomic_path
from thygan.progress import progress as progress_bar

TRANSFORMS = ("center-crop", "center-crop-wide")
RESIZE_FILTERS = {"box": PIL.Image.Resampling.BOX, "lanczos": PIL.Image.Resampling.LANCZOS}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: deterministic archives

ImageFn = Callable[[np.ndarray], np.ndarray]


def archive_name(idx: int) -> str:
    """Output path of image ``idx``: 1000 images per folder, e.g. 1000 -> ``00001/img00001000.png``."""
    idx_str = f"{idx:08d}"
    return f"{idx_str[:5]}/img{idx_str}.png"


def resize(image: np.ndarray, width: int, height: int, resample: int) -> np.ndarray:
    """image: [H, W, C] uint8 -> [height, width, C] uint8 (unchanged when already that size)."""
    if image.shape[:2] == (height, width):
        return image
    channels = image.shape[2]
    pil = PIL.Image.fromarray(image[:, :, 0] if channels == 1 else image)
    out = np.asarray(pil.resize((width, height), resample=resample))
    return out.reshape(height, width, channels)


def center_crop(image: np.ndarray, width: int, height: int, resample: int) -> np.ndarray:
    """Crop the largest centred square, then resize it to ``width`` x ``height``."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return resize(image[top:top + side, left:left + side], width, height, resample)


def center_crop_wide(image: np.ndarray, width: int, height: int, resample: int) -> np.ndarray:
    """Crop the centre to the ``width``:``height`` aspect, resize to it, centre it on a black square.

    For wide subjects (cars, whole-slide strips): the output is ``width`` x ``width`` with the image in
    a band of ``height`` rows, black above and below.
    """
    h, w = image.shape[:2]
    if w * height > h * width:  # wider than the target aspect: trim the sides
        crop_w = max(1, round(h * width / height))
        left = (w - crop_w) // 2
        image = image[:, left:left + crop_w]
    else:  # taller: trim top and bottom
        crop_h = max(1, round(w * height / width))
        top = (h - crop_h) // 2
        image = image[top:top + crop_h]
    band = resize(image, width, height, resample)
    canvas = np.zeros((width, width, image.shape[2]), dtype=np.uint8)
    top = (width - height) // 2
    canvas[top:top + height] = band
    return canvas


def make_image_fn(*, transform: str | None, width: int | None, height: int | None,
                  resize_filter: str) -> ImageFn:
    """The per-image transform the flags ask for; validates the flags (raises UserError)."""
    if resize_filter not in RESIZE_FILTERS:
        raise UserError(f"--resize-filter: expected one of {', '.join(RESIZE_FILTERS)}, "
                        f"got '{resize_filter}'")
    resample = RESIZE_FILTERS[resize_filter]
    if transform is None:
        if width is None and height is None:
            return lambda image: image
        return lambda image: resize(image, width or image.shape[1], height or image.shape[0], resample)
    if transform not in TRANSFORMS:
        raise UserError(f"--transform: expected one of {', '.join(TRANSFORMS)}, got '{transform}'")
    if width is None or height is None:
        raise UserError(f"--transform {transform}: needs both --width and --height")
    if transform == "center-crop-wide":
        if height > width:
            raise UserError(f"--height: center-crop-wide needs height <= width, got {width}x{height}")
        return lambda image: center_crop_wide(image, width, height, resample)
    return lambda image: center_crop(image, width, height, resample)


def _check_output_size(width: int, height: int, what: str, *, hint: bool) -> None:
    """Training images are square with a power-of-two side (the networks halve it down to 4)."""
    if width != height:
        raise UserError(f"{what}: output would be {width}x{height}; training images must be square"
                        + (" (use --transform center-crop, or equal --width and --height)" if hint else ""))
    if width & (width - 1):
        raise UserError(f"{what}: output size {width} is not a power of two"
                        + (" (resize with --width and --height)" if hint else ""))


def _check_dest(dest: Path, source: Path) -> None:
    if dest.suffix.lower() == ".zip":
        if dest.exists():
            raise UserError(f"--dest: '{dest}' already exists; delete it or choose another name")
    elif dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"--dest: '{dest}' exists and is not an empty folder")
    if source.is_dir() and dest.resolve().is_relative_to(source.resolve()):
        raise UserError(f"--dest: '{dest}' lies inside --source; choose a place outside it")


def _created_parents(path: Path) -> list[Path]:
    """Create the missing parent folders of ``path``; return them, innermost first."""
    missing = [parent for parent in path.parents if not parent.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    return missing


@contextmanager
def _dataset_writer(dest: Path) -> Iterator[Callable[[str, bytes], None]]:
    """Yield ``add(relpath, data)``; the output appears at ``dest`` only if the block succeeds."""
    if dest.suffix.lower() == ".zip":
        with atomic_path(dest) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            def add_to_zip(name: str, data: bytes) -> None:
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.external_attr = 0o644 << 16  # rw-r--r-- when extracted
                archive.writestr(info, data, compress_type=zipfile.ZIP_STORED)
            yield add_to_zip
        return
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir()
    try:
        def add_to_folder(name: str, data: bytes) -> None:
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        yield add_to_folder
        if dest.exists():
            dest.rmdir()  # checked empty at the start
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _encode_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(buffer, format="PNG",
                                                                               compress_level=0)
    return buffer.getvalue()


def _shape_str(shape: tuple[int, int, int]) -> str:
    h, w, c = shape
    return f"{w}x{h} with {c} channel{'s' if c != 1 else ''}"


def _convert_images(src: SourceDataset, image_fn: ImageFn, add: Callable[[str, bytes], None],
                    progress: bool) -> tuple[int, int, int]:
    """Decode, transform, check and write every image; return the output shape (H, W, C)."""
    first = None
    # A redrawn bar on a terminal, a line every few percent in a log (thygan.progress).
    bar = progress_bar(src.names, desc="dataset_tool", unit="img", disable=not progress)
    for idx, name in enumerate(bar):
        image = decode_image(src.files.read(name), name)
        if image.shape[2] not in (1, 3):
            raise UserError(f"{name}: has {image.shape[2]} channels; dataset_tool accepts 1 (grayscale) "
                            f"or 3 (RGB) channels")
        image = image_fn(image)
        if first is None:
            first = (name, image.shape)
            _check_output_size(image.shape[1], image.shape[0], name, hint=True)
        elif image.shape != first[1]:
            raise UserError(f"{name}: output is {_shape_str(image.shape)}, but {first[0]} gives "
                            f"{_shape_str(first[1])}; all images must match "
                            f"(use --transform/--width/--height to resize)")
        add(archive_name(idx), _encode_png(image))
    return first[1]


def convert_dataset(*, source: str | os.PathLike, dest: str | os.PathLike,
                    labels_path: str | os.PathLike | None = None,  # CSV or JSON; None = look in source
                    max_images: int | None = None,                 # first N images in sorted order
                    transform: str | None = None,                  # None, center-crop, center-crop-wide
                    width: int | None = None,                      # output width in pixels
                    height: int | None = None,                     # output height in pixels
                    resize_filter: str = "lanczos",                # box or lanczos
                    allow_unlabeled: bool = False,                 # some images unlabeled -> no labels
                    class_names: list[str] | None = None,          # names of classes 0, 1, ...
                    progress: bool = True,                         # progress bar or log lines
                    log: Callable[[str], None] = print) -> dict:
    """Convert ``source`` into a training dataset at ``dest`` (a folder, or a zip if it ends in .zip).

    Returns:
        A summary: ``dest``, ``num_images``, ``resolution``, ``num_channels``, ``labels`` (origin),
        ``class_names``.

    Raises:
        UserError: Bad flags, unreadable or unsuitable images, label problems, or a used ``dest``;
            nothing is written then.
    """
    source, dest = Path(source), Path(dest)
    if max_images is not None and max_images < 1:
        raise UserError(f"--max-images: expected a positive number, got {max_images}")
    image_fn = make_image_fn(transform=transform, width=width, height=height, resize_filter=resize_filter)
    if transform == "center-crop-wide":
        _check_output_size(width, width, "--width", hint=False)
    elif width is not None and height is not None:
        _check_output_size(width, height, "--width/--height", hint=False)
    _check_dest(dest, source)
    src = open_source(source, labels_path=labels_path, max_images=max_images, allow_unlabeled=allow_unlabeled,
                      class_names=class_names)
    log(f"{len(src.names)} images from {source}; labels: {src.label_origin}")
    created = _created_parents(dest)
    try:
        with _dataset_writer(dest) as add:
            height_out, _, channels = _convert_images(src, image_fn, add, progress)
            meta = {"labels": None if src.labels is None else
                    [[archive_name(i), label] for i, label in enumerate(src.labels)]}
            if src.class_names is not None and src.labels is not None:
                meta["class_names"] = src.class_names
            add("dataset.json", (json.dumps(meta) + "\n").encode("utf-8"))
    except BaseException:
        for folder in created:
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    finally:
        src.files.close()
    return {"dest": str(dest), "num_images": len(src.names), "resolution": height_out,
            "num_channels": channels,
            "labels": src.label_origin, "class_names": src.class_names if src.labels is not None else None}
