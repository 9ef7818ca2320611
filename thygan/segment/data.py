"""Labelled nucleus data: CoNSeP/Kumar-style folders, hover_net training patches, PanNuke folds.

Layouts read (each image becomes a ``Sample``: RGB uint8, instance map, optional type map):
- a folder with ``Images/`` (or ``images/``) and ``Labels/`` (``labels/``): labels by file stem, ``.mat``
  with ``inst_map`` (and ``type_map``) as CoNSeP/Kumar/CPM-17 ship them, ``.npy`` ([H, W] instances or
  [H, W, 2] instances + types), or ``.png``/``.tif`` instance maps;
- a folder of hover_net ``extract_patches.py`` outputs: ``*.npy`` of [H, W, 4|5] = RGB, inst[, type];
- a PanNuke fold: ``images.npy`` [N, 256, 256, 3] (float 0-255), ``masks.npy`` [N, 256, 256, 6] (per-class
  instance ids in channels 0-4, background in 5), optional ``types.npy`` (tissue names), anywhere below the
  given folder. Converted as CellViT does: instances of channel c get type c + 1 (type_info ids 1..5).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thygan.data.image_files import folder_images
from thygan.errors import UserError
from thygan.segment.stats import merge_channels

LABEL_SUFFIXES = (".mat", ".npy", ".png", ".tif", ".tiff")


@dataclass
class Sample:
    """One labelled image. image: [H, W, 3] uint8; inst: [H, W] int32 (0 background); types: [H, W] int32."""

    name: str
    image: np.ndarray
    inst: np.ndarray
    types: np.ndarray | None = None
    tissue: str | None = None


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise UserError(f"{path}: not a readable image ({exc})") from None


def read_label(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """(inst [H, W] int32, types [H, W] int32 or None) from a .mat, .npy or instance-map image."""
    if path.suffix == ".mat":
        import scipy.io

        try:
            mat = scipy.io.loadmat(str(path))
        except Exception as exc:  # scipy raises several types for damaged files
            raise UserError(f"{path}: not a readable .mat file ({exc})") from None
        if "inst_map" not in mat:
            keys = sorted(k for k in mat if not k.startswith("__"))
            raise UserError(f"{path}: no 'inst_map' (found {keys}; expected CoNSeP/Kumar labels)")
        types = mat.get("type_map")
        return mat["inst_map"].astype(np.int32), None if types is None else types.astype(np.int32)
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        if array.ndim == 3 and array.shape[-1] >= 2:
            return array[..., 0].astype(np.int32), array[..., 1].astype(np.int32)
        if array.ndim != 2:
            raise UserError(f"{path}: expected an [H, W] instance map or [H, W, 2] instances + types, "
                            f"got shape {array.shape}")
        return array.astype(np.int32), None
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im).astype(np.int32), None


CONSEP_MERGE = {3: 3, 4: 3, 5: 4, 6: 4, 7: 4}  # hover_net's dataset.py: 1 misc, 2 inflam, 3 epithelial, 4 spindle


def parse_type_map(text: str | None) -> dict[int, int]:
    """'consep' or 'A=B,C=D' (type ids) -> {A: B, C: D}; None or '' -> {}."""
    if not text:
        return {}
    if text == "consep":
        return dict(CONSEP_MERGE)
    try:
        return {int(a): int(b) for a, b in (pair.split("=") for pair in text.split(","))}
    except ValueError:
        raise UserError(f"--type-map: expected 'consep' or pairs like 4=3,5=4, got {text!r}") from None


def _check(sample: Sample, nr_types: int | None, source: Path, type_map: dict[int, int] | None = None) -> Sample:
    if sample.inst.shape != sample.image.shape[:2]:
        raise UserError(f"{source}: mask size {sample.inst.shape[1]}x{sample.inst.shape[0]} differs from the "
                        f"image's {sample.image.shape[1]}x{sample.image.shape[0]}")
    if type_map and sample.types is not None:
        lut = np.arange(max(int(sample.types.max()), *type_map) + 1)
        lut[list(type_map)] = list(type_map.values())
        sample.types = lut[sample.types].astype(np.int32)
    if nr_types and sample.types is None:
        raise UserError(f"{source}: no type map, but {nr_types} types were asked for (use --nr-types 0)")
    if nr_types and sample.types.max() >= nr_types:
        bad = sorted(set(np.unique(sample.types).tolist()) - set(range(nr_types)))
        raise UserError(f"{source}: unknown type id {bad[0]} (expected 0..{nr_types - 1} with --nr-types "
                        f"{nr_types})")
    if not nr_types:
        sample.types = None
    return sample


def _sub(root: Path, name: str) -> Path | None:
    for candidate in (name, name.lower()):
        if (root / candidate).is_dir():
            return root / candidate
    return None


def read_folder(root: str | Path, *, nr_types: int = 0, type_map: dict[int, int] | None = None) -> list[Sample]:
    """All samples of an Images/Labels folder or a folder of hover_net ``[RGB, inst, type]`` patches."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: no such folder (expected Images/ + Labels/, hover_net .npy patches or a "
                        f"PanNuke fold)")
    images, labels = _sub(root, "Images"), _sub(root, "Labels")
    samples = []
    if images and labels:
        for path in folder_images(images):  # the image kinds the rest of thygan reads
            label = next((labels / (path.stem + s) for s in LABEL_SUFFIXES if (labels / (path.stem + s)).is_file()),
                         None)
            if label is None:
                raise UserError(f"{path}: no label {path.stem}{{{','.join(LABEL_SUFFIXES)}}} in {labels}")
            inst, types = read_label(label)
            samples.append(_check(Sample(path.stem, _read_image(path), inst, types), nr_types, label, type_map))
    else:
        for path in sorted(root.glob("*.npy")):
            patch = np.load(path, allow_pickle=False)
            if patch.ndim != 3 or patch.shape[-1] not in (4, 5):
                raise UserError(f"{path}: expected an [H, W, 4|5] hover_net patch (RGB, inst[, type]), "
                                f"got shape {patch.shape}")
            types = patch[..., 4].astype(np.int32) if patch.shape[-1] == 5 else None
            sample = Sample(path.stem, patch[..., :3].astype(np.uint8), patch[..., 3].astype(np.int32), types)
            samples.append(_check(sample, nr_types, path, type_map))
    if not samples:
        raise UserError(f"{root}: no labelled images found (expected Images/ + Labels/ or *.npy patches)")
    return samples


def find_pannuke(root: Path) -> dict[str, Path] | None:
    """Paths of images.npy / masks.npy / types.npy below ``root``, or None when it is not a PanNuke fold."""
    found = {}
    for name in ("images", "masks", "types"):
        hits = sorted(root.rglob(f"{name}.npy"))
        if hits:
            found[name] = hits[0]
    return found if {"images", "masks"} <= set(found) else None


def pannuke_instance_and_types(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[H, W, 6] PanNuke mask -> (inst [H, W] unique ids, types [H, W] = channel + 1)."""
    inst = merge_channels(masks[..., :5])
    types = np.zeros(masks.shape[:2], np.int32)
    for c in range(5):
        types[masks[..., c] > 0] = c + 1
    return inst, types


def read_pannuke(root: str | Path, *, nr_types: int = 6, type_map: dict[int, int] | None = None) -> list[Sample]:
    """Samples of one PanNuke fold (memory-mapped; each image converted as it is read)."""
    paths = find_pannuke(Path(root))
    if paths is None:
        raise UserError(f"{root}: no images.npy and masks.npy below it (expected a PanNuke fold)")
    images = np.load(paths["images"], mmap_mode="r")
    masks = np.load(paths["masks"], mmap_mode="r")
    tissues = np.load(paths["types"]) if "types" in paths else None
    if images.shape[:3] != masks.shape[:3] or masks.shape[-1] != 6:
        raise UserError(f"{paths['masks']}: shape {masks.shape} does not fit images {images.shape} "
                        f"(expected [N, H, W, 6])")
    samples = []
    for k in range(len(images)):
        inst, types = pannuke_instance_and_types(np.asarray(masks[k]))
        sample = Sample(f"{k:05d}", np.clip(np.asarray(images[k]), 0, 255).astype(np.uint8), inst, types,
                        None if tissues is None else str(tissues[k]))
        samples.append(_check(sample, nr_types, paths["masks"], type_map))
    return samples


def read_dataset(root: str | Path, *, nr_types: int = 0, type_map: dict[int, int] | None = None) -> list[Sample]:
    """Any of the layouts in the module docstring; ``type_map`` renumbers type ids first (e.g. CONSEP_MERGE)."""
    root = Path(root)
    flat_pannuke = (root / "images.npy").is_file() and (root / "masks.npy").is_file()  # not hover_net patches
    if root.is_dir() and (flat_pannuke or not (_sub(root, "Images") or any(root.glob("*.npy")))) \
            and find_pannuke(root):
        return read_pannuke(root, nr_types=nr_types, type_map=type_map)
    return read_folder(root, nr_types=nr_types, type_map=type_map)
