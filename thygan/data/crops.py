"""The study's ``split_dataset.py``: every labelled image or slide of a folder cut into labelled crops.

Matches the study's output for its inputs: the clamped grid of :mod:`thygan.data.tiling`, crops
named ``{file_id}_{i}.jpeg`` (i row-major), Pillow's default JPEG quality and ``dest/dataset.json``
with ``{"labels": [[crop, label], ...]}``. Adds what the study lacked: each crop's patient
and diagnosis in ``meta`` (so splits can group crops by patient) and its origin in ``origins`` (so
crops can be laid back on their slide: see tile_origin), a background filter, overlap, slides,
CSV / folder labels, clear errors before anything is written, and resume (see tile_export).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from thygan.data.labels import LabelRecord, LabelTable, read_label_folders, read_labels
from thygan.data.tile_export import TileExport
from thygan.data.tiling import Box, grid_boxes, open_source, source_files, tissue_fraction, tissue_threshold
from thygan.errors import UserError
from thygan.progress import progress


@dataclass
class CropSummary:
    """What a run made: counts over all source images."""

    images: int = 0     # source images or slides
    crops: int = 0      # crops in dataset.json
    dropped: int = 0    # crops left out as background (--min-tissue)
    skipped: int = 0    # source images already finished by an earlier run


def _label_table(root: Path, labels: str | os.PathLike | None) -> LabelTable:
    if labels is not None:
        return read_labels(labels)
    if not any(entry.is_dir() for entry in root.iterdir()):
        raise UserError("--labels: required unless --source holds one sub-folder per class")
    return read_label_folders(root)


def _match_labels(files: list[str], table: LabelTable) -> dict[str, LabelRecord]:
    """The label record of every source file; all problems reported before any work starts."""
    matched, ids = {}, {}
    for name in files:
        record = table.find(name)
        if record is None:
            raise UserError(f"--labels: {table.source} has no label for source image '{name}'")
        file_id = PurePosixPath(name).stem
        if file_id in ids:
            raise UserError(f"--source: '{ids[file_id]}' and '{name}' would both make crops {file_id}_i")
        ids[file_id] = name
        matched[name] = record
    return matched


def crop_dataset(source: str | os.PathLike, dest: str | os.PathLike, *,
                 labels: str | os.PathLike | None = None,  # labels JSON/CSV; None = class sub-folders
                 crop_size: int = 512,                    # crop side in pixels
                 stride: int | None = None,               # grid step in pixels, None = crop_size
                 fmt: str = "jpeg",                       # jpeg (study) or png
                 min_tissue: float = 0.0,                 # drop crops with less tissue than this share
                 level: int | None = None,                # slides: pyramid level to tile
                 magnification: float | None = None,      # slides: target objective power
                 mpp: float | None = None,                # slides: target microns per pixel
                 dry_run: bool = False,                   # check inputs and count, write nothing
                 log: Callable[[str], None] = print) -> CropSummary:
    """Cut every image (or slide) under ``source`` into labelled crops in ``dest``.

    Raises:
        UserError: Missing source, image without a label, unreadable image, crop larger than an
            image, or a ``dest`` holding an unfinished run with other options.
    """
    root = Path(source)
    if not root.is_dir():
        raise UserError(f"--source: no such folder '{root}'")
    files = source_files(root)
    if not files:
        raise UserError(f"--source: no images or slides found in '{root}'")
    table = _label_table(root, labels)
    matched = _match_labels(files, table)
    open_kwargs = dict(level=level, magnification=magnification, mpp=mpp)
    summary = CropSummary(images=len(files))
    # Every header is read before the first crop is written: a too-small or unreadable image
    # fails the run at once instead of halfway.
    counts = {name: _count_crops(root / name, crop_size, stride, open_kwargs) for name in files}
    total = sum(counts.values())
    if dry_run:
        summary.crops = total
        log(f"dry run: {summary.images} images -> {total} crops before the tissue filter")
        return summary
    options = dict(crop_size=crop_size, stride=stride or crop_size, format=fmt, min_tissue=min_tissue,
                   **open_kwargs)
    export = TileExport(dest, fmt=fmt, options=options)
    records = []
    bar = progress(total=total, desc="crops", unit="crop")  # grid crops, background ones included
    for name in files:
        if name in export.finished:
            summary.skipped += 1
            bar.update(counts[name])
        else:
            summary.dropped += _crop_one(root, name, matched[name], export, crop_size=crop_size,
                                         stride=stride, min_tissue=min_tissue, open_kwargs=open_kwargs,
                                         bar=bar)
        # Labels come from today's labels file, not the progress log: a corrected label file
        # re-run over finished crops updates dataset.json without cutting anything again.
        source = matched[name]
        records += [replace(crop, label=source.label, patient=source.patient, diagnosis=source.diagnosis)
                    for crop in export.finished[name]]
    bar.close()
    summary.crops = len(records)
    export.write_dataset_json(records, table.class_names)
    log(f"{summary.images} images -> {summary.crops} crops in {export.dest} "
        f"({summary.dropped} background crops dropped, {summary.skipped} images already done)")
    return summary


def _grid(source, crop_size: int, stride: int | None) -> list[Box]:
    try:
        return grid_boxes(source.width, source.height, crop_size, stride)
    except UserError as exc:
        raise UserError(f"{source.path}: {source.width}x{source.height} px cannot be cut ({exc})") from None


def _count_crops(path: Path, crop_size: int, stride: int | None, open_kwargs: dict) -> int:
    source = open_source(path, **open_kwargs)
    try:
        return len(_grid(source, crop_size, stride))
    finally:
        source.close()


def _crop_one(root: Path, name: str, record: LabelRecord, export: TileExport, *, crop_size: int,
              stride: int | None, min_tissue: float, open_kwargs: dict, bar) -> int:
    """Write the crops of source image ``name``; returns how many were dropped as background.

    Each record carries its crop's origin in ``name``; every grid crop is counted on ``bar``.
    """
    source = open_source(root / name, **open_kwargs)
    try:
        boxes = _grid(source, crop_size, stride)
        threshold = tissue_threshold(source.thumbnail()) if min_tissue > 0 else 0.0
        records, dropped = [], 0
        for index, box in enumerate(boxes):
            bar.update(1)
            crop_name = export.tile_name(PurePosixPath(name).stem, index)
            if not export.has_tile(crop_name):
                tile = source.read(box)
                if min_tissue > 0 and tissue_fraction(tile, threshold) < min_tissue:
                    dropped += 1
                    continue
                export.write_tile(crop_name, tile)
            records.append(LabelRecord(crop_name, record.label, record.patient, record.diagnosis,
                                       source.origin(box, name)))
    finally:
        source.close()
    export.finish_source(name, records)
    return dropped
