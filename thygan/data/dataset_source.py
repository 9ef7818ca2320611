"""What dataset_tool reads: the images of a folder or zip and, where there are any, their labels.

Labels come from the first of these that exists:

1. ``--labels FILE``: a CSV of ``filename,label`` rows (more columns, such as patient and
   diagnosis, are ignored; a header row starting with ``filename`` may place ``label`` anywhere) or
   a JSON file in the reference format (or the thyroid study's, with only ``"meta"`` rows);
   where a JSON gives no ``class_names`` but its ``meta`` rows carry diagnoses, the classes are
   named by them (``labels.diagnosis_class_names``);
2. ``dataset.json`` at the source root: the reference format ``{"labels": [[relpath, label], ...]}``
   (``null`` = unlabeled), also thygan's split_dataset output (extra ``"meta"``, ignored) and
   thygan's own output (extra ``"class_names"``, kept);
3. ``labels.csv`` at the source root;
4. class folders: every image lies under a top-level sub-folder and there are at least two of them;
   the label is the index of the folder name in alphabetical order.

A label is a class index, a class name (names are numbered alphabetically, or by ``class_names``
where the JSON gives them) or, in JSON, a vector of floats. Label files may name images by their
path relative to the source or by their file name alone (Thy-GAN's label files do), when unique.
"""

import csv
import io
import json
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from thygan.data.image_files import ImageFiles
from thygan.data.labels import diagnosis_class_names
from thygan.errors import UserError

LABELS_JSON = "dataset.json"
LABELS_CSV = "labels.csv"
_CSV_HEADER_CELLS = {"filename", "file", "fname", "file_name", "image", "image_id", "path", "name"}

Label = int | list[float]


@dataclass
class SourceDataset:
    """The images to convert, in output order, with their labels."""

    files: ImageFiles                       # reads the images by relative path
    names: list[str]                        # image paths relative to the source, in output order
    labels: list[Label] | None              # one per image; None = an unlabeled dataset
    class_names: list[str] | None           # class index -> name, where known
    label_origin: str                       # where the labels came from, for the log


def open_source(source: str | os.PathLike, *, labels_path: str | os.PathLike | None = None,
                max_images: int | None = None, allow_unlabeled: bool = False,
                class_names: list[str] | None = None) -> SourceDataset:
    """List the images of ``source`` and attach labels (see the module docstring for the order).

    Args:
        source: A folder (searched recursively) or a zip.
        labels_path: A ``.csv`` or ``.json`` label file; None looks inside the source.
        max_images: Keep the first this many images in sorted order (None = all).
        allow_unlabeled: When some images have no label, write an unlabeled dataset (the reference's
            behaviour) instead of refusing.
        class_names: Names of classes 0, 1, ... (``--class-names``); they replace those of the label
            file, and number class-name labels in their order.

    Raises:
        UserError: No images, an unreadable label file, unknown labels, or missing labels.
    """
    files = ImageFiles(source, what="--source")
    if not files.names:
        raise UserError(f"--source: no image files found in '{source}'")
    names = files.names[:max_images] if max_images is not None else list(files.names)
    table, found_names, origin = _read_label_table(files, labels_path)
    class_names = _checked_names(class_names) if class_names is not None else found_names
    if table is None:
        return SourceDataset(files, names, None, class_names, origin)
    raw = _match_labels(table, names, origin)
    missing = [name for name, value in zip(names, raw, strict=True) if value is None]
    if missing and not allow_unlabeled:
        raise UserError(f"{origin}: no label for {len(missing)} of {len(names)} images "
                        f"(first: {missing[0]}); "
                        f"label them or pass --allow-unlabeled to write an unlabeled dataset")
    if missing:
        origin = f"none ({len(missing)} images lack a label in {origin})"
        return SourceDataset(files, names, None, None, origin)
    labels, class_names = _encode_labels(raw, table.values(), class_names, origin)
    return SourceDataset(files, names, labels, class_names, origin)


def _checked_names(names: list[str]) -> list[str]:
    names = [name.strip() for name in names]
    if not names or not all(names):
        raise UserError("--class-names: expected a comma list of names, e.g. PTC,NIFTP,FVPTC,FA,FTC")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise UserError(f"--class-names: '{repeated[0]}' is given twice")
    return names


def _read_label_table(files: ImageFiles, labels_path: str | os.PathLike | None
                      ) -> tuple[dict[str, object] | None, list[str] | None, str]:
    """The raw ``{key: label}`` table, class names given with it, and a description of its origin."""
    if labels_path is not None:
        path = Path(labels_path)
        if not path.is_file():
            raise UserError(f"--labels: no such file '{path}'")
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".json"):
            raise UserError(f"--labels: expected a .csv or .json file, got '{path}'")
        data = path.read_bytes()
        where = f"--labels {path}"
        return _parse_csv(data, where) if suffix == ".csv" else _parse_json(data, where)
    if files.has(LABELS_JSON):
        return _parse_json(files.read(LABELS_JSON), f"{files.path}/{files.prefix}{LABELS_JSON}")
    if files.has(LABELS_CSV):
        return _parse_csv(files.read(LABELS_CSV), f"{files.path}/{files.prefix}{LABELS_CSV}")
    folders = sorted({name.split("/")[0] for name in files.names})
    if all("/" in name for name in files.names) and len(folders) >= 2:
        table = {name: name.split("/")[0] for name in files.names}
        return table, folders, f"class folders of {files.path}"
    return None, None, "none"


def _parse_json(data: bytes, where: str) -> tuple[dict[str, object] | None, list[str] | None, str]:
    try:
        meta = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{where}: not valid JSON ({exc})") from None
    if isinstance(meta, dict) and "labels" not in meta and isinstance(meta.get("meta"), list):
        # The thyroid study's external-cohort file has only [fname, label, patient, diagnosis] rows.
        meta = {**meta, "labels": [row[:2] if isinstance(row, list) else row for row in meta["meta"]]}
    if not isinstance(meta, dict) or "labels" not in meta:
        raise UserError(f"{where}: expected an object with a 'labels' list (or null)")
    class_names = meta.get("class_names")
    if class_names is not None and (not isinstance(class_names, list) or not class_names
                                    or not all(isinstance(name, str) for name in class_names)):
        raise UserError(f"{where}: 'class_names' must be a non-empty list of strings")
    rows = meta["labels"]
    if rows is None:
        return None, class_names, f"none ({where} has \"labels\": null)"
    if not isinstance(rows, list) or not all(isinstance(row, list) and len(row) == 2 for row in rows):
        raise UserError(f"{where}: 'labels' must be a list of [filename, label] pairs")
    return _build_table(rows, where), class_names or _names_from_meta(meta.get("meta")), where


def _names_from_meta(rows) -> list[str] | None:
    """Class names from the diagnoses of ``meta`` rows ``[fname, label, patient, diagnosis]``, if any."""
    if not isinstance(rows, list):
        return None
    pairs = [(row[1], row[3]) for row in rows if isinstance(row, list) and len(row) >= 4
             and isinstance(row[1], int) and not isinstance(row[1], bool) and row[1] >= 0]
    return diagnosis_class_names(pairs) if len(pairs) == len(rows) else None


def _parse_csv(data: bytes, where: str) -> tuple[dict[str, object], None, str]:
    try:
        text = data.decode("utf-8-sig")  # -sig: spreadsheet programs prepend a byte-order mark
    except UnicodeDecodeError as exc:
        raise UserError(f"{where}: not UTF-8 text ({exc})") from None
    try:
        rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise UserError(f"{where}: not a valid CSV file ({exc})") from None
    label_column = 1
    if rows and rows[0][0].strip().lower() in _CSV_HEADER_CELLS:
        header = [cell.strip().lower() for cell in rows.pop(0)]
        if "label" in header:  # a header may order the extra columns (patient, diagnosis) freely
            label_column = header.index("label")
    table_rows = []
    for line, row in enumerate(rows, start=1):
        if len(row) <= label_column or not row[0].strip() or not row[label_column].strip():
            raise UserError(f"{where}: row {line} is {row!r}, expected 'filename,label'")
        table_rows.append([row[0].strip(), row[label_column].strip()])
    return _build_table(table_rows, where), None, where


def _normalize_key(path: str) -> str:
    key = posixpath.normpath(str(path).replace("\\", "/"))
    return key[2:] if key.startswith("./") else key


def _build_table(rows: list[list], where: str) -> dict[str, object]:
    table: dict[str, object] = {}
    for path, label in rows:
        key = _normalize_key(path)
        if key in table and table[key] != label:
            raise UserError(f"{where}: '{path}' has two different labels ({table[key]!r} and {label!r})")
        table[key] = label
    return table


def _match_labels(table: dict[str, object], names: list[str], where: str) -> list[object | None]:
    """The label of each image by relative path, else by file name when that name is unique."""
    basename_count: dict[str, int] = {}
    for name in names:
        base = posixpath.basename(name)
        basename_count[base] = basename_count.get(base, 0) + 1
    labels = []
    for name in names:
        base = posixpath.basename(name)
        if name in table:
            labels.append(table[name])
        elif base in table:
            if basename_count[base] > 1:
                raise UserError(f"{where}: '{base}' matches {basename_count[base]} images; "
                                f"use paths relative to the source")
            labels.append(table[base])
        else:
            labels.append(None)
    return labels


def _is_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.lstrip("+-").isdigit()


def _is_vector(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(x, int | float) and not isinstance(x, bool)
                                           for x in value)


def _encode_labels(raw: list[object], all_values, class_names: list[str] | None,
                   where: str) -> tuple[list[Label], list[str] | None]:
    """Class indices (or float vectors) for ``raw``; names are numbered by ``class_names``."""
    if all(_is_int(value) for value in raw):
        labels = [int(value) for value in raw]
        if min(labels) < 0:
            raise UserError(f"{where}: class labels must be >= 0, got {min(labels)}")
        if class_names is not None and max(labels) >= len(class_names):
            raise UserError(f"{where}: unknown label {max(labels)} "
                            f"({len(class_names)} class names: {', '.join(class_names)})")
        return labels, class_names
    if all(isinstance(value, str) for value in raw):
        if class_names is None:
            class_names = sorted({str(value) for value in all_values})
        index = {name: i for i, name in enumerate(class_names)}
        unknown = sorted({value for value in raw if value not in index})
        if unknown:
            raise UserError(f"{where}: unknown label '{unknown[0]}' (known: {', '.join(class_names)})")
        return [index[value] for value in raw], class_names
    if all(_is_vector(value) for value in raw) and len({len(value) for value in raw}) == 1:
        return [[float(x) for x in value] for value in raw], None
    raise UserError(f"{where}: labels must be all class indices, all class names, "
                    f"or all float vectors of one length")
