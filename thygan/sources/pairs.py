"""What the segmentation source kinds share: image + mask pairs in the cache, entry keys, content keys.

A pair is ``<stem>.png`` (RGB, lossless so that the mask stays aligned pixel for pixel) and
``<stem>.npy`` ([H, W, 2] int32: instance id, type id; 0 = background), the layout
:func:`thygan.segment.data.read_label` reads. A pair is complete once its ``.npy`` exists: the mask is
written after the image, both atomically, so an interrupted run redoes only the missing pairs.

Segmentation images have no class: every pair has downstream label 0 (``SEGMENT_LABEL``), and a ratio
(``"100%"``) counts the real training images.
"""

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
from torch import nn

from thygan.errors import UserError
from thygan.io.atomic import atomic_path
from thygan.io.digest import file_sha256
from thygan.sources.gan import weights_file
from thygan.sources.source import EntryContext, SyntheticItem, resolve_file

SEGMENT_LABEL = 0


def check_keys(entry: dict[str, Any], where: str, *, required: set[str], optional: set[str]) -> None:
    """Refuse unknown and missing keys of an entry."""
    known = required | optional
    unknown = sorted(set(entry) - known)
    if unknown:
        raise UserError(f"{where}: unknown key '{unknown[0]}' (expected {', '.join(sorted(known))})")
    missing = sorted(required - set(entry))
    if missing:
        raise UserError(f"{where}: missing key '{missing[0]}'")


def path_value(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value:
        raise UserError(f"{where}: '{key}' must be a path, got {value!r}")
    return value


def number_value(entry: dict[str, Any], key: str, where: str, default, *, low: float, kind: type = int):
    """An optional number >= ``low`` (an int where ``kind`` is int)."""
    value = entry.get(key, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low and \
        (kind is float or isinstance(value, int))
    if not ok:
        noun = "an integer" if kind is int else "a number"
        raise UserError(f"{where}: '{key}' must be {noun} >= {low:g}, got {value!r}")
    return kind(value)


def find_file(path: str, context: EntryContext, what: str) -> Path:
    """A network file as written or beside the recipe (a checkpoint by its .safetensors)."""
    found = resolve_file(path, context, exists=lambda p: weights_file(p).is_file())
    if found is None:
        raise UserError(f"{context.where}: {what} '{path}' not found (looked in the working directory and "
                        f"beside the recipe)")
    return found


def find_folder(path: str, context: EntryContext, what: str) -> Path:
    found = resolve_file(path, context, exists=Path.is_dir)
    if found is None:
        raise UserError(f"{context.where}: {what} folder '{path}' not found (looked in the working directory "
                        f"and beside the recipe)")
    return found


def folder_digest(folder: Path) -> str:
    """SHA-256 over the relative names and contents of every file below ``folder`` (hidden ones skipped)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def content_key(*parts: str) -> str:
    """16 hex digits naming a cache folder: the digest of its inputs' digests and parameters."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_folder(cache_dir: str | Path, kind: str, network: Path, inputs: Path, *params: str) -> Path:
    """``<cache_dir>/<key>-<kind>``: the key digests the network's weights, the input folder's files and
    the settings that change the pairs (their paths do not count)."""
    key = content_key(file_sha256(weights_file(network)), folder_digest(inputs), *params)
    return Path(cache_dir) / f"{key}-{kind}"


def translation_generator(path: Path, context: EntryContext, *, input_nc: int, expected: str) -> nn.Module:
    """A CycleGAN/pix2pix generator (G_A of a run snapshot, or the only G) that takes ``input_nc`` channels
    and gives RGB; any other network is refused in one line naming the entry."""
    from thygan.translate.generator_file import load_generator

    G = load_generator(path)
    got_in, got_out = G.init_kwargs.get("input_nc"), G.init_kwargs.get("output_nc")
    if got_in != input_nc or got_out != 3:
        raise UserError(f"{context.where}: {path} is a generator from {got_in} to {got_out} channels, not "
                        f"{expected} ({input_nc} -> 3 channels)")
    return G.eval()


def pair_paths(folder: Path, stem: str) -> tuple[Path, Path]:
    return folder / f"{stem}.png", folder / f"{stem}.npy"


def pair_item(folder: Path, stem: str, kind: str) -> SyntheticItem:
    image, mask = pair_paths(folder, stem)
    return SyntheticItem(image, SEGMENT_LABEL, f"{kind}/{folder.name}/{image.name}", mask=mask)


def write_pair(folder: Path, stem: str, image: np.ndarray, inst: np.ndarray, types: np.ndarray | None) -> None:
    """image: [H, W, 3] uint8; inst, types: [H, W] int (types None: all nuclei type 0)."""
    image_path, mask_path = pair_paths(folder, stem)
    assert image.shape[:2] == inst.shape, "an image and its mask must have the same size"
    with atomic_path(image_path) as tmp:
        PIL.Image.fromarray(image).save(tmp, format="PNG")
    stacked = np.stack([inst, np.zeros_like(inst) if types is None else types], axis=2).astype(np.int32)
    with atomic_path(mask_path) as tmp, open(tmp, "wb") as file:
        np.save(file, stacked, allow_pickle=False)
