"""Tile origins in dataset.json and their QuPath GeoJSON: a synthetic slide whose pixels encode x, y."""

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from thygan.data.crops import crop_dataset
from thygan.data.dataset import ImageFolderDataset
from thygan.data.labels import LabelRecord, read_labels_json, write_dataset_json
from thygan.data.tile_geojson import annotation_colors, export_tile_geojson
from thygan.data.tile_origin import TileOrigin
from thygan.errors import UserError

WIDTH, HEIGHT, MPP = 900, 700, 0.25


def coordinate_image() -> np.ndarray:
    """[H, W, 3] uint8 whose pixel at (x, y) is unique: R = x mod 256, G = y mod 256, B = the 256-block."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([x % 256, y % 256, (x // 256) * 16 + (y // 256) * 64 + 7], axis=-1).astype(np.uint8)


@pytest.fixture
def slide_folder(tmp_path) -> Path:
    """slides/syn.tif: a tiled TIFF openslide reads as a slide (0.25 um/px), labelled 'tumour'."""
    import tifffile

    folder = tmp_path / "slides"
    folder.mkdir()
    tifffile.imwrite(folder / "syn.tif", coordinate_image(), tile=(256, 256), photometric="rgb",
                     resolution=(1e4 / MPP, 1e4 / MPP), resolutionunit="CENTIMETER")
    (tmp_path / "labels.csv").write_text("filename,label,patient\nsyn.tif,tumour,p1\n")
    return folder


def cut(slide_folder: Path, dest: Path, **options) -> Path:
    crop_dataset(slide_folder, dest, labels=slide_folder.parent / "labels.csv", fmt="png", log=lambda _: None,
                 **options)
    return dest


def features_by_name(path: Path) -> dict[str, dict]:
    content = json.loads(path.read_text())
    assert content["type"] == "FeatureCollection"
    return {feature["properties"]["name"]: feature for feature in content["features"]}


def bbox(feature: dict) -> tuple[int, int, int, int]:
    ring = np.asarray(feature["geometry"]["coordinates"][0])
    assert feature["geometry"]["type"] == "Polygon" and (ring[0] == ring[-1]).all() and len(ring) == 5
    return ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()


@pytest.mark.parametrize("mpp, tile, downsample", [(None, 128, 1), (0.5, 100, 2)])
def test_tiles_round_trip_to_their_slide_region(slide_folder, tmp_path, mpp, tile, downsample):
    import openslide

    dest = cut(slide_folder, tmp_path / "tiles", crop_size=tile, mpp=mpp)
    export_tile_geojson(dest, tmp_path / "geojson", log=lambda _: None)
    features = features_by_name(tmp_path / "geojson" / "syn.geojson")
    written = json.loads((dest / "dataset.json").read_text())["labels"]
    assert sorted(features) == sorted(name for name, _ in written) and len(features) >= 12
    truth = coordinate_image().astype(float)
    with openslide.OpenSlide(str(slide_folder / "syn.tif")) as slide:
        for name, feature in features.items():
            x0, y0, x1, y1 = bbox(feature)
            assert x1 - x0 == y1 - y0 == tile * downsample and x1 <= WIDTH and y1 <= HEIGHT
            tile_pixels = np.asarray(Image.open(dest / name)).astype(float)
            # The GeoJSON's region, read back from the slide (level 0) and averaged to the tile's scale...
            region = np.asarray(slide.read_region((int(x0), int(y0)), 0, (int(x1 - x0), int(y1 - y0))).convert("RGB"))
            side = tile
            averaged = region.astype(float).reshape(side, downsample, side, downsample, 3).mean(axis=(1, 3))
            assert np.abs(tile_pixels - averaged).max() <= 0.5
            # ... and the same region of the pattern the slide was written from.
            expected = truth[y0:y1, x0:x1].reshape(side, downsample, side, downsample, 3).mean(axis=(1, 3))
            assert np.abs(tile_pixels - expected).max() <= 0.5
            properties = feature["properties"]
            assert properties["classification"]["name"] == properties["label"] == "tumour"
            assert properties["objectType"] == "detection" and properties["patient"] == "p1"


def test_origin_fields_and_meta_row_round_trip(slide_folder, tmp_path):
    dest = cut(slide_folder, tmp_path / "tiles", crop_size=128, mpp=0.5)
    table = read_labels_json(dest / "dataset.json")
    first = table.records[0]
    assert first.origin == TileOrigin("syn.tif", 0, 0, 256, downsample=2.0, level=None, magnification=None,
                                      mpp=0.5)
    assert [LabelRecord.from_meta_row(r.meta_row(), origin=r.origin) for r in table.records] == table.records
    assert all(len(r.meta_row()) == 4 for r in table.records)
    # 900 x 700 at 0.5 um/px is 450 x 350 px: round(450 / 128) = 4 columns (last one clamped), 3 rows.
    assert sorted({(r.origin.x, r.origin.y) for r in table.records}) == sorted(
        (x * 2, y * 2) for x in (0, 128, 256, 322) for y in (0, 128, 222))
    # StyleGAN's reader takes the folder as before, the extra origins key notwithstanding.
    dataset = ImageFolderDataset(dest, use_labels=True)
    assert len(dataset) == 12 and dataset.class_names == ["tumour"]


def test_bad_origin_entries_are_user_errors():
    with pytest.raises(UserError, match="tiles.json: a.png: expected a tile origin"):
        TileOrigin.from_json({"slide": "s.svs", "x": 0}, "tiles.json: a.png")
    with pytest.raises(UserError, match="integer x, y, size"):
        TileOrigin.from_json({"slide": "s.svs", "x": 0.5, "y": 0, "size": 4}, "tiles.json: a.png")


def write_predictions(path: Path, rows: list[tuple[str, int, float]]) -> Path:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["patient", "diagnosis", "class", "pred_class", "pred_prob", "filename", "prob_0", "prob_1"])
        for name, pred, prob in rows:
            writer.writerow(["p1", "", 0, pred, prob, name, 1 - prob if pred else prob, prob if pred else 1 - prob])
    return path


def test_predictions_colours_and_annotation_objects(slide_folder, tmp_path):
    dest = cut(slide_folder, tmp_path / "tiles", crop_size=256)
    content = json.loads((dest / "dataset.json").read_text())
    content["class_names"] = ["tumour", "stroma"]  # a second class the model may predict
    (dest / "dataset.json").write_text(json.dumps(content))
    names = [name for name, _ in content["labels"]]
    predictions = write_predictions(tmp_path / "test_preds.csv", [(names[0], 1, 0.9), (names[1], 0, 0.75)])
    colours = tmp_path / "colours.geojson"
    stroma = {"classification": {"name": "stroma", "color": [1, 2, 3]}}
    colours.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": stroma}]}))
    assert annotation_colors(colours) == {"stroma": [1, 2, 3]}
    export_tile_geojson(dest, tmp_path / "out", predictions=predictions, classify_by="prediction", colors=colours,
                        object_type="annotation", log=lambda _: None)
    features = features_by_name(tmp_path / "out" / "syn.geojson")
    wrong, right, unpredicted = features[names[0]]["properties"], features[names[1]]["properties"], \
        features[names[2]]["properties"]
    assert wrong["classification"] == {"name": "stroma", "color": [1, 2, 3]} and wrong["label"] == "tumour"
    assert wrong["prediction"] == "stroma" and wrong["probability"] == 0.9 and wrong["objectType"] == "annotation"
    assert wrong["measurements"] == {"predicted class": 1, "probability": 0.9, "prob tumour": pytest.approx(0.1),
                                     "prob stroma": 0.9, "correct": 0}
    assert right["classification"]["name"] == "tumour" and right["measurements"]["correct"] == 1
    assert "classification" not in unpredicted and "measurements" not in unpredicted


def test_errors_before_anything_is_written(slide_folder, tmp_path):
    dest = cut(slide_folder, tmp_path / "tiles", crop_size=256)
    bad = write_predictions(tmp_path / "bad.csv", [("syn_0.png", 0, 0.6), ("other_3.png", 1, 0.8)])
    with pytest.raises(UserError, match=r"--predictions: .*bad.csv names 1 tiles not in .*other_3.png"):
        export_tile_geojson(dest, tmp_path / "out", predictions=bad, log=lambda _: None)
    with pytest.raises(UserError, match="--classify-by: 'prediction' needs --predictions"):
        export_tile_geojson(dest, tmp_path / "out", classify_by="prediction", log=lambda _: None)
    assert not (tmp_path / "out").exists()


def as_previous_thygan_wrote_it(path: Path) -> None:
    """Rewrite a dataset.json the way the previous format had it: each origin as a fifth meta entry."""
    content = json.loads(path.read_text())
    origins = content.pop("origins")
    content["meta"] = [row + [origins[row[0]]] for row in content["meta"]]
    path.write_text(json.dumps(content))


def test_origins_key_beside_four_item_meta_and_old_five_item_rows_still_read(slide_folder, tmp_path):
    dest = cut(slide_folder, tmp_path / "tiles", crop_size=128)
    content = json.loads((dest / "dataset.json").read_text())
    assert list(content) == ["labels", "meta", "origins", "class_names"]
    assert [len(row) for row in content["meta"]] == [4] * len(content["labels"])
    assert [(fname, label) for fname, label, patient, diagnosis in content["meta"]] == \
        [tuple(pair) for pair in content["labels"]]
    assert list(content["origins"]) == [name for name, _ in content["labels"]]
    export_tile_geojson(dest, tmp_path / "new", log=lambda _: None)
    table = read_labels_json(dest / "dataset.json")
    as_previous_thygan_wrote_it(dest / "dataset.json")
    assert read_labels_json(dest / "dataset.json").records == table.records
    export_tile_geojson(dest, tmp_path / "old", log=lambda _: None)
    assert (tmp_path / "old" / "syn.geojson").read_text() == (tmp_path / "new" / "syn.geojson").read_text()


def test_bad_origins_key_is_a_user_error(tmp_path):
    base = {"labels": [["a.png", 0]], "meta": [["a.png", 0, "p", "x"]]}
    origin = {"slide": "s.svs", "x": 0, "y": 0, "size": 8}
    cases = [({**base, "origins": [origin]}, "'origins' must map tile file names"),
             ({**base, "origins": {"b.png": origin}}, r"'origins' lists \['b.png'\]"),
             ({**base, "origins": {"a.png": {"slide": "s.svs"}}}, "a.png: expected a tile origin")]
    for content, message in cases:
        path = tmp_path / "dataset.json"
        path.write_text(json.dumps(content))
        with pytest.raises(UserError, match=message):
            read_labels_json(path)


def test_resume_from_a_progress_file_with_five_item_rows(slide_folder, tmp_path):
    dest = cut(slide_folder, tmp_path / "tiles", crop_size=128)
    before = (dest / "dataset.json").read_text()
    progress = dest / ".thygan_progress.jsonl"
    lines = [json.loads(line) for line in progress.read_text().splitlines()]
    assert all(len(row) == 4 for entry in lines[1:] for row in entry["records"])
    for entry in lines[1:]:  # the previous format: origin as fifth entry, no 'origins'
        origins = entry.pop("origins")
        entry["records"] = [row + [origins[row[0]]] for row in entry["records"]]
    progress.write_text("".join(json.dumps(entry) + "\n" for entry in lines))
    (dest / "dataset.json").unlink()
    cut(slide_folder, dest, crop_size=128)
    assert (dest / "dataset.json").read_text() == before


def test_unlabelled_tiles_export_without_a_class(slide_folder, tmp_path):
    """IHC tiles (sample-tiles --ihc) have null labels: laid on the slide all the same, unclassified."""
    dest = cut(slide_folder, tmp_path / "tiles", crop_size=256)
    table = read_labels_json(dest / "dataset.json")
    write_dataset_json(dest / "dataset.json", [dataclasses.replace(r, label=None, diagnosis="ihc")
                                               for r in table.records])
    export_tile_geojson(dest, tmp_path / "geojson", log=lambda _: None)
    features = features_by_name(tmp_path / "geojson" / "syn.geojson")
    assert sorted(features) == sorted(r.filename for r in table.records)
    assert all("classification" not in f["properties"] for f in features.values())
