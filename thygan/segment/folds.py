"""K folds over the images of a segmentation dataset, grouped by the slide or patient they come from.

Tiles of one slide look alike (stain, scanner, tissue), so they must not sit on both sides of a fold.
The group of an image, first rule that applies:

1. ``dataset.json`` in the data folder with the study's ``meta`` rows ``[fname, label, patient, ...]``:
   the patient of the row whose file stem is the image's name;
2. a TCGA barcode name (``TCGA-A7-A13E-01Z-00-DX1``, Kumar/MoNuSeg): the patient, its first 12 characters;
3. a tile name with coordinates at the end (``slide_x1024_y2048`` as thygan's tilers and pseudo-labels write
   them, or ``slide_1024_2048``): the name before them, i.e. the slide;
4. otherwise the image itself (CoNSeP ``train_3``, PanNuke ``00042``: each image is its own group).

Groups go to folds with scikit-learn's ``GroupKFold(shuffle=True, random_state=seed)`` (groups shuffled,
then each placed in the currently smallest fold), so fold sizes in images are as even as the groups allow.
Fold k's held-out images are its ``test`` list, the rest its ``train`` list; each fold is written as
``fold<k>.json`` so a run can be repeated from the files alone.
"""

import json
import re
from pathlib import Path

from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.io.json_file import read_json

TILE_SUFFIX = re.compile(r"^(?P<slide>.+?)[_-]x?\d+[_-]y?\d+$")
TCGA = re.compile(r"^(TCGA-[A-Z0-9]{2}-[A-Z0-9]{4})\b")


def name_group(name: str) -> str:
    """The group an image name implies (rules 2-4 of the module docstring)."""
    if match := TCGA.match(name):
        return match.group(1)
    if match := TILE_SUFFIX.match(name):
        return match.group("slide")
    return name


def image_groups(data_dir: str | Path, names: list[str]) -> dict[str, str]:
    """name -> group for every image name of the dataset in ``data_dir``."""
    patients: dict[str, str] = {}
    meta_file = Path(data_dir) / "dataset.json"
    if meta_file.is_file():
        content = read_json(meta_file, what="dataset.json")
        rows = content.get("meta") if isinstance(content, dict) else None
        for row in rows or []:
            if isinstance(row, list) and len(row) >= 3 and row[2] is not None:
                patients[Path(str(row[0])).stem] = str(row[2])
    return {name: patients.get(name) or name_group(name) for name in names}


def assign_folds(groups: dict[str, str], folds: int, *, seed: int) -> list[list[str]]:
    """The held-out image names of each of ``folds`` folds (a partition of ``groups``' names, no group split)."""
    from sklearn.model_selection import GroupKFold

    names = sorted(groups)
    distinct = len(set(groups.values()))
    if folds < 2:
        raise UserError(f"--folds: expected 2 or more, got {folds}")
    if folds > distinct:
        raise UserError(f"--folds: {folds} folds need at least {folds} images (or groups of images); the data has "
                        f"{len(names)} images in {distinct} groups")
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    held_out = [sorted(names[i] for i in test) for _, test in
                splitter.split(names, groups=[groups[n] for n in names])]
    return held_out


def fold_record(k: int, held_out: list[list[str]], groups: dict[str, str], *, data: str, seed: int) -> dict:
    """The content of fold<k>.json."""
    test = held_out[k]
    train = sorted(n for other, names in enumerate(held_out) if other != k for n in names)
    return {"fold": k, "folds": len(held_out), "seed": seed, "data": data, "train": train, "test": test,
            "groups": {"train": sorted({groups[n] for n in train}), "test": sorted({groups[n] for n in test})}}


def write_fold_files(folder: str | Path, records: list[dict]) -> list[Path]:
    """Write ``folder/fold<k>.json``; an existing file must hold the same folds (a resumed comparison)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for record in records:
        path = folder / f"fold{record['fold']}.json"
        if path.is_file():
            old = read_json(path, what="fold file")
            if {k: old.get(k) for k in ("train", "test")} != {k: record[k] for k in ("train", "test")}:
                raise UserError(f"{path}: holds other folds (other --data, --folds or --seed); use another --outdir")
        else:
            atomic_write_text(path, json.dumps(record, indent=1) + "\n")
        paths.append(path)
    return paths


def fold_names(fold_file: str | Path, key: str = "train") -> list[str]:
    """The image names of one side ('train' or 'test') of a fold file."""
    content = read_json(fold_file, what="fold file")
    if not isinstance(content, dict) or not isinstance(content.get(key), list):
        raise UserError(f"{fold_file}: expected a fold file with a '{key}' list of image names")
    return [str(name) for name in content[key]]


def select(samples: list, names: list[str], *, where: str) -> list:
    """The samples named in ``names`` (in the samples' order); every name must exist."""
    wanted = set(names)
    missing = wanted - {s.name for s in samples}
    if missing:
        raise UserError(f"{where}: image {sorted(missing)[0]} is not in the data ({len(missing)} missing)")
    return [s for s in samples if s.name in wanted]
