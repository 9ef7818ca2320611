"""Tiles laid back on their slides: one QuPath-readable GeoJSON FeatureCollection per slide.

Each tile with an entry in its ``dataset.json`` ``origins`` (see :mod:`thygan.data.tile_origin`)
becomes a square Polygon feature in level-0 pixels, QuPath's frame for GeoJSON, the same frame
as the annotations ``sample-tiles`` reads. QuPath reads ``properties.objectType`` (``annotation``:
editable; ``detection``: light, for thousands of tiles), ``properties.classification`` (``{"name",
"color": [r, g, b]}``), ``properties.name`` (the tile's file name) and the numbers in
``properties.measurements``. A predictions CSV of ``dlc-eval`` (``test_preds.csv``: ``filename``,
``pred_class``, ``pred_prob``, ``prob_<k>``) adds each tile's predicted class and probabilities, and
can classify the tiles by prediction instead of by label.
"""

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from thygan.data.labels import LabelRecord, LabelTable, read_labels_json
from thygan.errors import UserError
from thygan.io.atomic import atomic_write_text

OBJECT_TYPES = ("detection", "annotation")
CLASSIFY_BY = ("label", "prediction")
# Distinct colours for classes without one (matplotlib's tab10, as 0-255 RGB).
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def read_tile_table(dataset: str | os.PathLike) -> tuple[LabelTable, Path]:
    """The records of a tile dataset (its folder or its dataset.json); every tile must know its origin."""
    path = Path(dataset)
    path = path / "dataset.json" if path.is_dir() else path
    if not path.is_file():
        raise UserError(f"--dataset: no dataset.json at {path}")
    table = read_labels_json(path, allow_unlabelled=True)  # IHC tiles carry no class
    if not any(record.origin is not None for record in table.records):
        raise UserError(f"--dataset: {path} has no tile origins (no 'origins' key; made before thygan kept "
                        f"them, or not by sample-tiles / split-dataset); cut the tiles again into a new folder")
    return table, path


def read_predictions(path: str | os.PathLike, table: LabelTable) -> dict[str, dict]:
    """Predictions per tile file name from a ``test_preds.csv``; every row must name a tile of ``table``."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.DictReader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"--predictions: cannot read {path} ({exc})") from None
    if not rows or not {"filename", "pred_class"} <= set(rows[0]):
        raise UserError(f"--predictions: {path} needs 'filename' and 'pred_class' columns "
                        f"(dlc-eval's test_preds.csv)")
    unknown = [row["filename"] for row in rows if table.find(row["filename"]) is None]
    if unknown:
        raise UserError(f"--predictions: {path} names {len(unknown)} tiles not in {table.source} "
                        f"(e.g. {', '.join(unknown[:3])})")
    predictions = {}
    for number, row in enumerate(rows, start=2):
        try:
            predictions[table.find(row["filename"]).filename] = {
                "pred_class": int(row["pred_class"]),
                "pred_prob": float(row["pred_prob"]) if row.get("pred_prob") else None,
                "probs": {key[5:]: float(value) for key, value in row.items() if key.startswith("prob_") and value}}
        except (TypeError, ValueError):
            raise UserError(f"--predictions: {path} line {number}: pred_class must be an integer and "
                            f"the probabilities numbers") from None
    return predictions


def annotation_colors(path: str | os.PathLike) -> dict[str, list[int]]:
    """Class name -> [r, g, b] from a GeoJSON's classified features (e.g. the slide's annotations)."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"--colors: cannot read GeoJSON {path} ({exc})") from None
    features = content.get("features", []) if isinstance(content, dict) else content
    colors = {}
    for feature in features if isinstance(features, list) else []:
        classification = (feature.get("properties") or {}).get("classification") if isinstance(feature, dict) else None
        if isinstance(classification, dict) and isinstance(classification.get("color"), list):
            colors.setdefault(classification.get("name"), [int(c) for c in classification["color"][:3]])
    return colors


def _class_name(table: LabelTable, label: int | None) -> str | None:
    return None if label is None else table.class_name(label)


def _classification(name: str | None, colors: dict[str, list[int]], order: list[str]) -> dict | None:
    if name is None:
        return None
    if name not in colors:
        colors[name] = list(PALETTE[order.index(name) % len(PALETTE)] if name in order else PALETTE[-1])
    return {"name": name, "color": colors[name]}


def tile_feature(record: LabelRecord, table: LabelTable, *, object_type: str, prediction: dict | None,
                 classify_by: str, colors: dict[str, list[int]], order: list[str]) -> dict:
    """One tile as a GeoJSON Feature (see module docstring)."""
    label_name = _class_name(table, record.label)
    properties: dict = {"objectType": object_type, "name": record.filename, "label": label_name}
    measurements: dict = {}
    if record.patient is not None:
        properties["patient"] = record.patient
    if prediction is not None:
        predicted = _class_name(table, prediction["pred_class"])
        properties.update(prediction=predicted, probability=prediction["pred_prob"])
        measurements["predicted class"] = prediction["pred_class"]
        if prediction["pred_prob"] is not None:
            measurements["probability"] = prediction["pred_prob"]
        for key, value in prediction["probs"].items():
            measurements[f"prob {_class_name(table, int(key)) if key.isdigit() else key}"] = value
        if record.label is not None:
            measurements["correct"] = int(prediction["pred_class"] == record.label)
    shown = properties.get("prediction") if classify_by == "prediction" else label_name
    classification = _classification(shown, colors, order)
    if classification is not None:
        properties["classification"] = classification
    if measurements:
        properties["measurements"] = measurements
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [record.origin.ring()]},
            "properties": properties}


def export_tile_geojson(dataset: str | os.PathLike, dest: str | os.PathLike, *,
                        predictions: str | os.PathLike | None = None,  # dlc-eval test_preds.csv
                        object_type: str = "detection",                # QuPath objectType of each tile
                        classify_by: str = "label",                    # label or prediction
                        colors: str | os.PathLike | None = None,       # GeoJSON giving class colours
                        log: Callable[[str], None] = print) -> list[Path]:
    """Write ``dest/<slide stem>.geojson`` for every slide of a tile dataset; returns the files written.

    Raises:
        UserError: No dataset.json, tiles without origins, a predictions file naming unknown tiles,
            ``classify_by="prediction"`` without predictions, or two slides with one file stem.
    """
    if object_type not in OBJECT_TYPES:
        raise UserError(f"--object-type: expected one of {', '.join(OBJECT_TYPES)}, got '{object_type}'")
    if classify_by not in CLASSIFY_BY:
        raise UserError(f"--classify-by: expected one of {', '.join(CLASSIFY_BY)}, got '{classify_by}'")
    if classify_by == "prediction" and predictions is None:
        raise UserError("--classify-by: 'prediction' needs --predictions")
    table, path = read_tile_table(dataset)
    predicted = read_predictions(predictions, table) if predictions is not None else {}
    palette = annotation_colors(colors) if colors is not None else {}
    order = list(table.class_names or sorted({table.class_name(r.label) for r in table.records
                                              if r.label is not None}))
    by_slide: dict[str, list[LabelRecord]] = {}
    for record in table.records:
        if record.origin is not None:
            by_slide.setdefault(record.origin.slide, []).append(record)
    stems: dict[str, str] = {}
    for slide in by_slide:
        stem = PurePosixPath(slide).stem
        if stems.setdefault(stem, slide) != slide:
            raise UserError(f"--dataset: slides '{stems[stem]}' and '{slide}' would both write {stem}.geojson")
    out = Path(dest)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--dest: cannot create folder {out} ({exc})") from None
    written = []
    for slide, records in by_slide.items():
        features = [tile_feature(record, table, object_type=object_type, prediction=predicted.get(record.filename),
                                 classify_by=classify_by, colors=palette, order=order) for record in records]
        target = out / f"{PurePosixPath(slide).stem}.geojson"
        atomic_write_text(target, _dump({"type": "FeatureCollection", "features": features}))
        written.append(target)
        log(f"{target}: {len(features)} tiles of {slide}"
            + (f", {sum(r.filename in predicted for r in records)} with predictions" if predicted else ""))
    missing = sum(record.origin is None for record in table.records)
    if missing:
        log(f"note: {missing} tiles of {path} have no origin and were left out")
    return written


def _dump(collection: dict) -> str:
    """One feature per line, like the bundled annotations: readable, diff-able, still compact."""
    lines = ",\n".join(f"  {json.dumps(feature)}" for feature in collection["features"])
    return f'{{"type": "FeatureCollection", "features": [\n{lines}\n]}}\n'
