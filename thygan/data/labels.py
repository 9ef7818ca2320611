"""Image labels with patients: the study's labels JSON, CSV files and class sub-folders, read alike.

Formats read:
- the study's JSON (``bi_dataset.json``): ``{"labels": [[fname, label], ...], "meta": [[fname, label,
  patient, diagnosis], ...]}``; either key may be missing (``mc_dataset.json`` has only ``labels``,
  ``ext_dataset.json`` only ``meta``); thygan's ``class_names`` key is read when present;
- CSV: ``filename,label[,patient[,diagnosis]]``, with or without that header line; labels are
  integers or class names (names are numbered in sorted order);
- a folder of class sub-folders: ``<root>/<class name>/**/<image>``, classes numbered in sorted order.

Patient ids are kept as strings (the study writes ``"100"`` in ``meta`` and ``100`` in its split
files); written back as integers only where every id is a number.
"""

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from thygan.data.tile_origin import TileOrigin, origins_json, read_origins
from thygan.data.tiling import source_files
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text
from thygan.io.json_file import read_json


@dataclass(frozen=True)
class LabelRecord:
    """One image: its file name (relative, '/'-separated), class index, patient and diagnosis.

    A tile also knows its ``origin`` (slide and level-0 region, see :mod:`thygan.data.tile_origin`),
    kept out of its ``meta`` row, under dataset.json's own ``origins`` key.
    """

    filename: str
    label: int | None
    patient: str | None = None
    diagnosis: str | None = None
    origin: TileOrigin | None = None

    def meta_row(self) -> list:
        """The study's ``meta`` entry, exactly ``[fname, label, patient, diagnosis]`` (never the origin)."""
        return [self.filename, self.label, self.patient, self.diagnosis]

    @classmethod
    def from_meta_row(cls, row: list, where: str = "meta", origin: TileOrigin | None = None) -> "LabelRecord":
        """The inverse of :meth:`meta_row`, with the tile's ``origin`` given apart.

        A five-item row (origin as fifth entry, written by an earlier thygan) is still read.
        """
        if origin is None and len(row) > 4 and row[4] is not None:
            origin = TileOrigin.from_json(row[4], f"{where}: {row[0]}")
        return cls(row[0], row[1], row[2], row[3], origin)


@dataclass
class LabelTable:
    """The records of one labels file, looked up by file name or base name.

    Args:
        records: One per image, file names unique.
        class_names: Name of each class index, when known.
        source: Where the records came from, for error messages.
    """

    records: list[LabelRecord]
    class_names: list[str] | None = None
    source: str = "labels"
    _by_name: dict[str, LabelRecord] = field(init=False, repr=False)
    _by_base: dict[str, LabelRecord | None] = field(init=False, repr=False)

    def __post_init__(self):
        self._by_name, self._by_base = {}, {}
        for record in self.records:
            if record.filename in self._by_name:
                raise UserError(f"{self.source}: '{record.filename}' is listed twice")
            self._by_name[record.filename] = record
            base = PurePosixPath(record.filename).name
            self._by_base[base] = None if base in self._by_base else record  # None marks ambiguous

    def find(self, name: str) -> LabelRecord | None:
        """The record of relative path ``name``, else of its base name when that is unambiguous."""
        record = self._by_name.get(name)
        return record if record is not None else self._by_base.get(PurePosixPath(name).name)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.records)

    @property
    def has_patients(self) -> bool:
        """Whether every record names its patient."""
        return bool(self.records) and all(record.patient is not None for record in self.records)

    def by_patient(self) -> dict[str, list[LabelRecord]]:
        """Records grouped by patient id, in file order (records without a patient are left out)."""
        groups: dict[str, list[LabelRecord]] = {}
        for record in self.records:
            if record.patient is not None:
                groups.setdefault(record.patient, []).append(record)
        return groups

    def class_name(self, label: int) -> str:
        """Display name of class ``label``."""
        if self.class_names is not None and 0 <= label < len(self.class_names):
            return self.class_names[label]
        return str(label)


def read_labels(path: str | os.PathLike, *, allow_unlabelled: bool = False) -> LabelTable:
    """Read a labels JSON, a CSV or a folder of class sub-folders (see module docstring).

    ``allow_unlabelled``: read a JSON's null labels (``sample-tiles --ihc``) as ``label=None``;
    otherwise they are refused, for callers that need classes."""
    path = Path(path)
    if path.is_dir():
        return read_label_folders(path)
    if not path.is_file():
        raise UserError(f"{path}: no such labels file or folder")
    if path.suffix.lower() == ".json":
        return read_labels_json(path, allow_unlabelled=allow_unlabelled)
    if path.suffix.lower() == ".csv":
        return read_labels_csv(path)
    raise UserError(f"{path}: expected a .json or .csv labels file, or a folder of class sub-folders")


def _as_label(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{where}: expected an integer class label, got {value!r}")
    return value


def _as_label_or_none(value, where: str) -> int | None:
    """A JSON label: null (unlabelled; the caller has checked it may be) or an integer class."""
    return None if value is None else _as_label(value, where)


def _as_text(value) -> str | None:
    return None if value is None else str(value)


def _json_rows(data: dict, key: str, min_len: int, source: str) -> list[list] | None:
    rows = data.get(key)
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) and len(row) >= min_len for row in rows):
        raise UserError(f"{source}: '{key}' must be a list of lists with at least {min_len} entries each")
    return rows


def read_labels_json(path: str | os.PathLike, *, allow_unlabelled: bool = False) -> LabelTable:
    """Read the study's / dataset_tool's labels JSON (``labels`` and/or ``meta``, ``class_names``).

    A null label (unlabelled tiles: ``dataset_json`` writes ``"labels": null`` and null in ``meta``)
    is read as ``label=None`` with ``allow_unlabelled``, else refused naming the file.
    """
    source = str(path)
    data = read_json(path, what="labels JSON")
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a JSON object with 'labels' and/or 'meta'")
    labels = _json_rows(data, "labels", 2, source)
    meta = _json_rows(data, "meta", 3, source)
    if labels is None and meta is None:
        raise UserError(f"{source}: has neither 'labels' nor 'meta' entries")
    if not allow_unlabelled and any(row[1] is None for row in (meta if labels is None else labels)):
        raise UserError(f"{source}: its labels are null (unlabelled images, e.g. sample-tiles --ihc); "
                        f"class labels are required here")
    origins = read_origins(data["origins"], source) if data.get("origins") is not None else {}
    meta_by_name = {str(row[0]): row for row in meta or []}
    if labels is None:
        records = [LabelRecord(str(row[0]), _as_label_or_none(row[1], f"{source}: {row[0]}"), _as_text(row[2]),
                               _as_text(row[3]) if len(row) > 3 else None,
                               _origin(str(row[0]), row, origins, source))
                   for row in meta]
    else:
        records = []
        for name, label, *_ in labels:
            label = _as_label_or_none(label, f"{source}: {name}")
            row = meta_by_name.pop(str(name), None)
            if row is not None and row[1] != label:
                raise UserError(f"{source}: '{name}' has label {label} in 'labels' but {row[1]} in 'meta'")
            patient = _as_text(row[2]) if row is not None else None
            diagnosis = _as_text(row[3]) if row is not None and len(row) > 3 else None
            records.append(LabelRecord(str(name), label, patient, diagnosis,
                                       _origin(str(name), row, origins, source)))
        if meta_by_name:
            raise UserError(f"{source}: 'meta' lists {sorted(meta_by_name)[:3]}... which 'labels' does not")
    unknown = sorted(set(origins) - {record.filename for record in records})
    if unknown:
        raise UserError(f"{source}: 'origins' lists {unknown[:3]}... which 'labels'/'meta' do not")
    class_names = data.get("class_names")
    return LabelTable(records, list(class_names) if class_names else None, source)


def _origin(name: str, row: list | None, origins: dict[str, TileOrigin], source: str) -> TileOrigin | None:
    """The origin of tile ``name``: its ``origins`` entry, else the fifth entry of its ``meta`` row
    (how an earlier thygan wrote it; read, never written), else None."""
    if name in origins:
        return origins[name]
    if row is None or len(row) < 5 or row[4] is None:
        return None
    return TileOrigin.from_json(row[4], f"{source}: {row[0]}")


def _numbered(names: list[str]) -> tuple[list[int], list[str] | None]:
    """Integer labels as given, or class names numbered in sorted order (with those names)."""
    try:
        return [int(name) for name in names], None
    except ValueError:
        classes = sorted(set(names))
        return [classes.index(name) for name in names], classes


def read_labels_csv(path: str | os.PathLike) -> LabelTable:
    """Read ``filename,label[,patient[,diagnosis]]`` rows; a first row naming ``filename`` is a header."""
    source = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = [row for row in csv.reader(file) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{source}: cannot read labels CSV ({exc})") from None
    columns = ["filename", "label", "patient", "diagnosis"]
    if rows and rows[0] and rows[0][0].strip().lower() == "filename":
        columns = [cell.strip().lower() for cell in rows.pop(0)]
        if "label" not in columns:
            raise UserError(f"{source}: the header names no 'label' column")
    if not rows:
        raise UserError(f"{source}: no label rows")
    cells = [dict(zip(columns, (cell.strip() for cell in row), strict=False)) for row in rows]
    if any(not row.get("filename") or not row.get("label") for row in cells):
        raise UserError(f"{source}: every row needs a filename and a label")
    labels, class_names = _numbered([row["label"] for row in cells])
    records = [LabelRecord(row["filename"], label, row.get("patient") or None, row.get("diagnosis") or None)
               for row, label in zip(cells, labels, strict=True)]
    return LabelTable(records, class_names, source)


def read_label_folders(root: str | os.PathLike) -> LabelTable:
    """Label every image under ``root/<class>/`` by its class sub-folder (classes in sorted order)."""
    root = Path(root)
    classes = sorted(entry.name for entry in root.iterdir()
                     if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise UserError(f"{root}: expected one sub-folder per class")
    records = [LabelRecord(f"{name}/{rel}", label, None, None)
               for label, name in enumerate(classes) for rel in source_files(root / name)]
    if not records:
        raise UserError(f"{root}: no images in its class sub-folders")
    return LabelTable(records, classes, str(root))


def diagnosis_class_names(pairs: list[tuple[int, str | None]]) -> list[str] | None:
    """Class names from the diagnoses of the labelled images (the study's ``meta`` rows), or None.

    Class c is named by its diagnosis when all its images share one (the multi-class labels: PTC,
    NIFTP, ...), else by its diagnoses joined with '+', most frequent first (the binary labels:
    "FA+FTC", "PTC+FVPTC+NIFTP"). None when a class 0..max has no image with a diagnosis.

    Args:
        pairs: (label, diagnosis) of each image.
    """
    by_label: dict[int, Counter] = {}
    for label, diagnosis in pairs:
        if diagnosis is not None and str(diagnosis).strip():
            by_label.setdefault(label, Counter())[str(diagnosis).strip()] += 1
    labels = [label for label, _ in pairs]
    if not labels or any(label not in by_label for label in range(max(labels) + 1)):
        return None
    return ["+".join(sorted(counts, key=lambda d: (-counts[d], d)))
            for _, counts in sorted(by_label.items())]


def dataset_json(records: list[LabelRecord], class_names: list[str] | None = None) -> dict:
    """The reference ``dataset.json`` content plus thygan's ``meta``, ``origins`` and ``class_names`` keys.

    ``labels`` is null when any record is unlabelled (the reference's convention); ``meta`` rows are
    the study's ``[fname, label, patient, diagnosis]``, exactly four items, written when any record
    knows its patient, diagnosis or tile origin, so later splits can group by patient; ``origins``
    (tile file name -> origin) is written when any tile knows where it was cut, so tiles can be
    laid back on their slide.
    """
    unlabelled = any(record.label is None for record in records)
    content: dict = {"labels": None if unlabelled else [[r.filename, r.label] for r in records]}
    if any(r.patient is not None or r.diagnosis is not None or r.origin is not None for r in records):
        content["meta"] = [record.meta_row() for record in records]
    if any(r.origin is not None for r in records):
        content["origins"] = origins_json({r.filename: r.origin for r in records if r.origin is not None})
    if class_names is not None:
        content["class_names"] = list(class_names)
    return content


def write_dataset_json(path: str | os.PathLike, records: list[LabelRecord],
                       class_names: list[str] | None = None) -> Path:
    """Write :func:`dataset_json` to ``path`` atomically."""
    return atomic_write_text(path, _dump_one_entry_per_line(dataset_json(records, class_names)))


def _dump_one_entry_per_line(content: dict) -> str:
    """JSON with one list entry per line: diff-able and greppable, yet compact for 10^5 tiles."""
    parts = []
    for key, value in content.items():
        if isinstance(value, list) and value:
            body = ",\n".join(f"  {json.dumps(item)}" for item in value)
            parts.append(f"{json.dumps(key)}: [\n{body}\n]")
        elif isinstance(value, dict) and value:
            body = ",\n".join(f"  {json.dumps(name)}: {json.dumps(item)}" for name, item in value.items())
            parts.append(f"{json.dumps(key)}: {{\n{body}\n}}")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"
