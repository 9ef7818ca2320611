"""A labelled tile dataset from one slide and its region annotations, with slide blocks as patients.

Annotations are a GeoJSON FeatureCollection (QuPath's export format) of Polygon / MultiPolygon
features in level-0 slide pixels (x right, y down), each with a class name in
``properties.classification.name`` (or a plain string ``properties.classification``). Features are
painted in file order, so a later feature wins where two overlap (draw the dermis, then the
epidermis on top of it); interior rings are holes. Features of QuPath's ``Ignore*`` class (or of a
class left out of ``classes``) erase what they cover, so those pixels count as unannotated.

A tile gets the majority class of its annotated pixels and is dropped when less than
``min_labelled`` of its area is annotated. With a single slide there are no patients, so the slide
is cut into a ``rows x cols`` grid of regions and the region of a tile's centre is its
pseudo-patient (ids ``0 .. rows * cols - 1``, row-major), carried in ``meta`` with the class name as
the diagnosis: patient-grouped splits then keep neighbouring, overlapping tiles on one side. The
tile's origin in the slide (level-0 region) goes under ``origins``, see tile_origin. The
default 8 x 2 suits the bundled sample, a tall strip of skin: every region holds several classes.

The second domain, scikit-image's bundled immunohistochemistry image (512 x 512 px, DAB and
haematoxylin), is tiled the same way without annotations: unlabelled or with one given label.
"""

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw

from thygan.data.labels import LabelRecord
from thygan.data.tile_export import TileExport
from thygan.data.tiling import Box, ImageSource, SlideSource, grid_boxes
from thygan.errors import UserError
from thygan.progress import progress

Ring = list[tuple[float, float]]
IGNORE_CLASS = "Ignore*"  # QuPath's built-in class for regions to exclude


@dataclass(frozen=True)
class Annotation:
    """One annotated region: a class name and its polygons (each an outer ring, then holes)."""

    name: str
    polygons: list[list[Ring]]


def _class_name(properties: dict, where: str) -> str:
    classification = (properties or {}).get("classification")
    if isinstance(classification, dict):
        classification = classification.get("name")
    if not isinstance(classification, str) or not classification:
        raise UserError(f"{where}: expected properties.classification.name (the class name)")
    return classification


def _polygons(geometry: dict, where: str) -> list[list[Ring]]:
    kind = (geometry or {}).get("type")
    coordinates = (geometry or {}).get("coordinates")
    polygons = {"Polygon": [coordinates], "MultiPolygon": coordinates}.get(kind)
    if polygons is None:
        raise UserError(f"{where}: expected a Polygon or MultiPolygon geometry, got {kind}")
    try:
        return [[[(float(x), float(y)) for x, y, *_ in ring] for ring in polygon] for polygon in polygons]
    except (TypeError, ValueError):
        raise UserError(f"{where}: polygon coordinates must be [[x, y], ...] rings") from None


def read_annotations(path: str | os.PathLike) -> list[Annotation]:
    """Read a GeoJSON FeatureCollection (or a bare list of features) of classified polygons."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read GeoJSON ({exc})") from None
    features = content.get("features") if isinstance(content, dict) else content
    if not isinstance(features, list) or not features:
        raise UserError(f"{path}: expected a GeoJSON FeatureCollection with features")
    return [Annotation(_class_name(feature.get("properties"), f"{path}: feature {index}"),
                       _polygons(feature.get("geometry"), f"{path}: feature {index}"))
            for index, feature in enumerate(features)]


def rasterize(annotations: list[Annotation], class_names: list[str], *, width: int, height: int,
              scale: float = 1.0) -> np.ndarray:
    """Paint annotations into a class map: [height, width] uint8, 0 = unannotated, k + 1 = class k.

    Coordinates are multiplied by ``scale`` (1 / downsample of the tiled image). A feature whose
    class is not in ``class_names`` (QuPath's ``Ignore*``, or a class left out) clears what it
    covers: an excluded region is left out, never given the class painted beneath it.
    """
    class_map = np.zeros((height, width), dtype=np.uint8)
    for annotation in annotations:
        value = class_names.index(annotation.name) + 1 if annotation.name in class_names else 0
        for polygon in annotation.polygons:
            mask = PIL.Image.new("1", (width, height), 0)
            draw = PIL.ImageDraw.Draw(mask)
            for ring_index, ring in enumerate(polygon):
                points = [(x * scale, y * scale) for x, y in ring]
                if len(points) >= 3:
                    draw.polygon(points, fill=0 if ring_index else 1)  # rings after the first are holes
            class_map[np.asarray(mask, dtype=bool)] = value
    return class_map


def default_classes(annotations: list[Annotation]) -> list[str]:
    """Every class name in the annotations, sorted, except QuPath's ``Ignore*`` (regions to leave out)."""
    return sorted({a.name for a in annotations if a.name != IGNORE_CLASS})


def majority_labels(class_map: np.ndarray, boxes: list[Box], num_classes: int, *,
                    min_labelled: float = 0.5) -> list[int | None]:
    """The majority class of each box's annotated pixels; None where too little is annotated."""
    labels = []
    for box in boxes:
        window = class_map[box.y:box.y + box.size, box.x:box.x + box.size]
        counts = np.bincount(window.ravel(), minlength=num_classes + 1)
        if counts[1:].sum() < min_labelled * window.size:
            labels.append(None)
        else:
            labels.append(int(np.argmax(counts[1:])))  # ties go to the lower class index
    return labels


def block_patient(box: Box, *, width: int, height: int, blocks: tuple[int, int]) -> str:
    """Pseudo-patient of a tile: the row-major index of its centre's cell in a rows x cols grid."""
    rows, cols = blocks
    row = min(rows - 1, (2 * box.y + box.size) * rows // (2 * height))
    col = min(cols - 1, (2 * box.x + box.size) * cols // (2 * width))
    return str(row * cols + col)


def _export_tiles(source, stem: str, boxes: list[Box], labels: list[int | None], diagnoses: list[str | None],
                  dest: str | os.PathLike, *, blocks: tuple[int, int], fmt: str, options: dict,
                  class_names: list[str] | None, slide_name: str | None = None) -> list[LabelRecord]:
    """Write the kept tiles (diagnosis not None) and dest/dataset.json; resumes an interrupted run.

    With ``slide_name``, each record carries its tile's origin in that slide.
    """
    export = TileExport(dest, fmt=fmt, options=options)
    if stem not in export.finished:
        records = []
        kept = [(index, box, label, diagnosis)
                for index, (box, label, diagnosis) in enumerate(zip(boxes, labels, diagnoses, strict=True))
                if diagnosis is not None]
        for index, box, label, diagnosis in progress(kept, desc="tiles", unit="tile", leave=False):
            name = export.tile_name(stem, index)
            if not export.has_tile(name):
                export.write_tile(name, source.read(box))
            patient = block_patient(box, width=source.width, height=source.height, blocks=blocks)
            origin = source.origin(box, slide_name) if slide_name is not None else None
            records.append(LabelRecord(name, label, patient, diagnosis, origin))
        export.finish_source(stem, records)
    export.write_dataset_json(export.finished[stem], class_names)
    return export.finished[stem]


def slide_tile_dataset(slide: str | os.PathLike, annotations: str | os.PathLike, dest: str | os.PathLike, *,
                       tile: int = 64,                      # tile side in pixels of the tiled level
                       stride: int | None = None,           # grid step in pixels, None = tile
                       level: int | None = None,            # pyramid level to tile
                       magnification: float | None = None,  # target objective power (20 = native here)
                       mpp: float | None = None,            # target microns per pixel
                       blocks: tuple[int, int] = (8, 2),    # pseudo-patients: rows x cols of regions
                       min_labelled: float = 0.5,           # least annotated share of a kept tile
                       classes: list[str] | None = None,    # class order; None = sorted names in file
                       fmt: str = "png",                    # png or jpeg
                       log: Callable[[str], None] = print) -> list[LabelRecord]:
    """Cut an annotated slide into labelled tiles in ``dest`` (see module docstring)."""
    regions = read_annotations(annotations)
    class_names = list(classes) if classes else default_classes(regions)
    unknown = sorted(set(class_names) - {region.name for region in regions})
    if unknown:
        raise UserError(f"--classes: {', '.join(unknown)} not in {annotations}")
    source = SlideSource(slide, level=level, magnification=magnification, mpp=mpp)
    try:
        boxes = grid_boxes(source.width, source.height, tile, stride)
        class_map = rasterize(regions, class_names, width=source.width, height=source.height,
                              scale=1 / source.downsample)
        labels = majority_labels(class_map, boxes, len(class_names), min_labelled=min_labelled)
        diagnoses = [None if label is None else class_names[label] for label in labels]
        # The annotations' digest: edited polygons change which tiles exist, so they must not resume.
        digest = hashlib.sha256(Path(annotations).read_bytes()).hexdigest()[:16]
        options = dict(kind="slide", slide=Path(slide).name, annotations=digest,
                       tile=tile, stride=stride or tile, level=level, magnification=magnification, mpp=mpp,
                       blocks=list(blocks), min_labelled=min_labelled, classes=class_names, format=fmt)
        records = _export_tiles(source, Path(slide).stem, boxes, labels, diagnoses, dest, blocks=blocks,
                                fmt=fmt, options=options, class_names=class_names, slide_name=Path(slide).name)
    finally:
        source.close()
    counts = {name: sum(record.label == k for record in records) for k, name in enumerate(class_names)}
    log(f"{len(records)} tiles of {len(boxes)} kept in {dest}: "
        + ", ".join(f"{name} {count}" for name, count in counts.items()))
    return records


def ihc_tile_dataset(dest: str | os.PathLike, *,
                     tile: int = 64,                    # tile side in pixels
                     stride: int | None = None,         # grid step in pixels, None = tile
                     blocks: tuple[int, int] = (2, 2),  # pseudo-patients: rows x cols of regions
                     label: int | None = None,          # the one class of every tile; None = unlabelled
                     fmt: str = "png",                  # png or jpeg
                     log: Callable[[str], None] = print) -> list[LabelRecord]:
    """Tile scikit-image's immunohistochemistry image into ``dest`` as a second stain domain."""
    import skimage.data

    source = ImageSource.from_array(skimage.data.immunohistochemistry(), "ihc")
    boxes = grid_boxes(source.width, source.height, tile, stride)
    options = dict(kind="ihc", tile=tile, stride=stride or tile, blocks=list(blocks), label=label, format=fmt)
    records = _export_tiles(source, "ihc", boxes, [label] * len(boxes), ["ihc"] * len(boxes), dest,
                            blocks=blocks, fmt=fmt, options=options, class_names=None)
    log(f"{len(records)} IHC tiles in {dest} ({'unlabelled' if label is None else f'label {label}'})")
    return records
