"""The bundled sample: annotations, rasterisation, majority labels, pseudo-patients, IHC domain."""

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath
from PIL import Image

from thygan.data.sample import (
    Annotation,
    block_patient,
    default_classes,
    ihc_tile_dataset,
    majority_labels,
    rasterize,
    read_annotations,
    slide_tile_dataset,
)
from thygan.data.tiling import Box, grid_boxes
from thygan.errors import UserError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
SLIDE, ANNOTATIONS = SAMPLE / "CMU-1-Small-Region.svs", SAMPLE / "annotations.geojson"


def feature(name, *rings, kind="Polygon"):
    geometry = {"type": kind, "coordinates": [list(rings)] if kind == "MultiPolygon" else list(rings)}
    return {"type": "Feature", "geometry": geometry, "properties": {"classification": {"name": name}}}


def test_read_annotations_polygons_multipolygons_and_plain_class(tmp_path):
    square = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
    plain = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [square]},
             "properties": {"classification": "tumour"}}
    (tmp_path / "a.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        feature("dermis", square), feature("epidermis", square, kind="MultiPolygon"), plain]}))
    regions = read_annotations(tmp_path / "a.geojson")
    assert [r.name for r in regions] == ["dermis", "epidermis", "tumour"]
    assert regions[1].polygons[0][0][2] == (10.0, 10.0)


@pytest.mark.parametrize("content, message", [
    ({"type": "FeatureCollection", "features": []}, "with features"),
    ({"features": [{"geometry": {"type": "Point", "coordinates": [1, 2]},
                    "properties": {"classification": {"name": "x"}}}]}, "Polygon or MultiPolygon"),
    ({"features": [{"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]},
                    "properties": {}}]}, "classification"),
])
def test_bad_annotations_are_user_errors(tmp_path, content, message):
    (tmp_path / "a.geojson").write_text(json.dumps(content))
    with pytest.raises(UserError, match=message):
        read_annotations(tmp_path / "a.geojson")


def test_rasterize_matches_point_in_polygon_at_pixel_centres():
    ring = [(5.2, 3.1), (70.4, 12.9), (55.0, 60.3), (30.7, 38.2), (8.9, 52.6)]
    class_map = rasterize([Annotation("a", [[ring]])], ["a"], width=80, height=70)
    ys, xs = np.mgrid[0:70, 0:80]
    inside = PolygonPath(ring).contains_points(np.stack([xs.ravel(), ys.ravel()], 1)).reshape(70, 80)
    disagree = (class_map == 1) != inside
    assert disagree.sum() <= 0.06 * inside.sum()  # only boundary pixels may differ
    assert np.all(class_map[inside & ~disagree] == 1)


def test_rasterize_holes_painting_order_ignore_and_scale():
    outer = [(0, 0), (40, 0), (40, 40), (0, 40)]
    hole = [(10, 10), (30, 10), (30, 30), (10, 30)]
    regions = [Annotation("background", [[[(0, 0), (40, 0), (40, 40), (0, 40)]]]),
               Annotation("dermis", [[outer, hole]]),
               Annotation("Ignore*", [[[(0, 0), (8, 0), (8, 8), (0, 8)]]]),
               Annotation("epidermis", [[[(32, 32), (40, 32), (40, 40), (32, 40)]]])]
    names = default_classes(regions)
    assert names == ["background", "dermis", "epidermis"]
    class_map = rasterize(regions, names, width=40, height=40)
    assert class_map[20, 20] == 1   # the hole shows the background painted beneath
    assert class_map[5, 20] == 2    # dermis
    assert class_map[3, 3] == 0     # Ignore* cleared it
    assert class_map[36, 36] == 3   # epidermis, painted last, wins
    half = rasterize(regions, names, width=20, height=20, scale=0.5)
    assert half[10, 10] == 1 and half[2, 10] == 2 and half[18, 18] == 3
    assert rasterize(regions, ["dermis"], width=40, height=40)[36, 36] == 0  # left-out class clears


def test_majority_labels_against_a_naive_count():
    rng = np.random.default_rng(3)
    class_map = rng.choice(4, size=(96, 96), p=[0.45, 0.2, 0.2, 0.15]).astype(np.uint8)
    boxes = grid_boxes(96, 96, 16, 8)
    labels = majority_labels(class_map, boxes, 3, min_labelled=0.6)
    for box, label in zip(boxes, labels, strict=True):
        counts = {k: 0 for k in range(4)}
        for y in range(box.y, box.y + 16):
            for x in range(box.x, box.x + 16):
                counts[int(class_map[y, x])] += 1
        if counts[1] + counts[2] + counts[3] < 0.6 * 256:
            assert label is None
        else:
            best = max(counts[k] for k in (1, 2, 3))
            assert label == min(k - 1 for k in (1, 2, 3) if counts[k] == best)


def test_block_patient_hand_worked():
    # 100 x 80 image, 2 rows x 4 cols: cells 25 px wide, 40 px high.
    assert block_patient(Box(0, 0, 10), width=100, height=80, blocks=(2, 4)) == "0"
    assert block_patient(Box(20, 0, 10), width=100, height=80, blocks=(2, 4)) == "1"    # centre x = 25
    assert block_patient(Box(90, 70, 10), width=100, height=80, blocks=(2, 4)) == "7"
    assert block_patient(Box(40, 30, 10), width=100, height=80, blocks=(2, 4)) == "1"   # centre (45, 35)
    assert block_patient(Box(40, 40, 10), width=100, height=80, blocks=(2, 4)) == "5"   # centre (45, 45)


def test_real_sample_tiles_at_128_px_half_magnification(tmp_path):
    import openslide

    records = slide_tile_dataset(SLIDE, ANNOTATIONS, tmp_path / "tiles", tile=128, magnification=10,
                                 log=lambda _: None)
    content = json.loads((tmp_path / "tiles" / "dataset.json").read_text())
    assert content["class_names"] == ["background", "dermis", "epidermis"]
    assert [name for name, _ in content["labels"]] == [r.filename for r in records]
    assert {label for _, label in content["labels"]} == {0, 1, 2}
    assert all(row[3] == content["class_names"][row[1]] for row in content["meta"])
    assert len({row[2] for row in content["meta"]}) >= 10  # pseudo-patients from the 8 x 2 grid
    # Spot-check one tile's pixels against openslide read at level 0 and averaged 2 x 2.
    name = records[len(records) // 2].filename
    index = int(name.rsplit("_", 1)[1].split(".")[0])
    box = grid_boxes(1110, 1483, 128)[index]
    with openslide.OpenSlide(str(SLIDE)) as slide:
        region = slide.read_region((box.x * 2, box.y * 2), 0, (256, 256))
        native = np.asarray(region.convert("RGB")).astype(float)
    expected = native.reshape(128, 2, 128, 2, 3).mean(axis=(1, 3))
    assert np.abs(np.asarray(Image.open(tmp_path / "tiles" / name)).astype(float) - expected).max() <= 1
    # meta rows stay the study's four items; the tile's origin, in level-0 pixels, has its own key.
    assert all(len(row) == 4 for row in content["meta"])
    origin = content["origins"][name]
    assert origin == {"slide": "CMU-1-Small-Region.svs", "x": box.x * 2, "y": box.y * 2, "size": 256,
                      "downsample": 2.0, "level": None, "magnification": 10.0, "mpp": pytest.approx(0.998)}


@pytest.mark.slow
def test_real_sample_has_several_hundred_tiles_at_64_px(tmp_path):
    records = slide_tile_dataset(SLIDE, ANNOTATIONS, tmp_path / "tiles", tile=64, stride=32,
                                 log=lambda _: None)
    counts = np.bincount([r.label for r in records], minlength=3)
    assert counts.min() >= 300, counts  # enough of every class for the CPU demo


def test_sample_resume_and_changed_options(tmp_path):
    dest = tmp_path / "tiles"
    first = slide_tile_dataset(SLIDE, ANNOTATIONS, dest, tile=128, magnification=5, log=lambda _: None)
    before = (dest / "dataset.json").read_text()
    (dest / first[0].filename).unlink()
    progress = dest / ".thygan_progress.jsonl"
    progress.write_text(progress.read_text().splitlines()[0] + "\n")  # as if killed before finishing
    second = slide_tile_dataset(SLIDE, ANNOTATIONS, dest, tile=128, magnification=5, log=lambda _: None)
    assert second == first and (dest / "dataset.json").read_text() == before
    assert (dest / first[0].filename).is_file()
    with pytest.raises(UserError, match="other options"):
        slide_tile_dataset(SLIDE, ANNOTATIONS, dest, tile=64, magnification=5, log=lambda _: None)


def test_unknown_class_in_class_list(tmp_path):
    with pytest.raises(UserError, match="--classes: tumour"):
        slide_tile_dataset(SLIDE, ANNOTATIONS, tmp_path / "t", classes=["dermis", "tumour"],
                           log=lambda _: None)


def test_ihc_second_domain(tmp_path):
    import skimage.data

    records = ihc_tile_dataset(tmp_path / "ihc", tile=64, log=lambda _: None)
    assert len(records) == 64  # 512 / 64 = 8 x 8
    content = json.loads((tmp_path / "ihc" / "dataset.json").read_text())
    assert content["labels"] is None and {row[2] for row in content["meta"]} == {"0", "1", "2", "3"}
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "ihc" / "ihc_9.png")),
                                  skimage.data.immunohistochemistry()[64:128, 64:128])
    labelled = ihc_tile_dataset(tmp_path / "ihc1", tile=128, stride=64, label=1, log=lambda _: None)
    assert len(labelled) == 49 and {r.label for r in labelled} == {1}
