"""split_dataset's library: the study's crops, labels and patients carried along, filters, resume."""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from thygan.data import tile_export
from thygan.data.crops import crop_dataset
from thygan.errors import UserError

SAMPLE_SLIDE = Path(__file__).resolve().parents[2] / "data" / "sample" / "CMU-1-Small-Region.svs"
STUDY_BOXES = [(x, y) for y in (0, 512) for x in (0, 512, 1024, 1404)]


def make_study_folder(root: Path, names=("1a", "2a"), size=(1916, 1053), fmt="JPEG") -> Path:
    """T&T-like source images (random texture, so every crop differs) and a bi_dataset.json."""
    source = root / "TharunThompson"
    source.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in names:
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(source / f"{name}.{fmt.lower()}", format=fmt)
    labels = root / "bi_dataset.json"
    labels.write_text(json.dumps({
        "labels": [[f"{n}.{fmt.lower()}", i % 2] for i, n in enumerate(names)],
        "meta": [[f"{n}.{fmt.lower()}", i % 2, n[:-1], ["FA", "PTC"][i % 2]] for i, n in enumerate(names)]}))
    return labels


def test_study_crops_names_positions_and_jpeg_bytes(tmp_path):
    labels = make_study_folder(tmp_path)
    summary = crop_dataset(tmp_path / "TharunThompson", tmp_path / "out", labels=labels, log=lambda _: None)
    assert (summary.images, summary.crops) == (2, 16)
    with Image.open(tmp_path / "TharunThompson" / "1a.jpeg") as original:
        for i, (x, y) in enumerate(STUDY_BOXES):
            # The study's path, written out here: PIL crop, PIL's default JPEG quality.
            buffer = io.BytesIO()
            original.crop((x, y, x + 512, y + 512)).save(buffer, format="JPEG")
            assert (tmp_path / "out" / f"1a_{i}.jpeg").read_bytes() == buffer.getvalue()
    content = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert content["labels"][:2] == [["1a_0.jpeg", 0], ["1a_1.jpeg", 0]]
    assert content["labels"][8] == ["2a_0.jpeg", 1]
    assert content["meta"][15] == ["2a_7.jpeg", 1, "2", "PTC"]  # the patient travels with every crop
    # ... in the study's four-item rows, as its scripts unpack them ...
    assert all(len(row) == 4 for row in content["meta"])
    for fname, label, patient, diagnosis in content["meta"]:
        assert (patient, diagnosis, label) == (fname[0], ["FA", "PTC"][label], label)
    # ... and where the crop was cut sits under its own key: box 7 of 2a.jpeg, in the image's own pixels
    assert content["origins"]["2a_7.jpeg"] == {"slide": "2a.jpeg", "x": 1404, "y": 512, "size": 512,
                                               "downsample": 1.0, "level": 0, "magnification": None, "mpp": None}
    assert len(content["origins"]) == 16
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".jpeg") == sorted(
        f"{n}_{i}.jpeg" for n in ("1a", "2a") for i in range(8))


def test_png_crops_are_exact_and_stride_overlaps(tmp_path):
    labels = make_study_folder(tmp_path, names=("5b",), size=(700, 600), fmt="PNG")
    crop_dataset(tmp_path / "TharunThompson", tmp_path / "out", labels=labels, crop_size=256, stride=128,
                 fmt="png", log=lambda _: None)
    original = np.asarray(Image.open(tmp_path / "TharunThompson" / "5b.png"))
    # stride 128: round((700 - 256 + 128) / 128) = 4 columns, round((600 - 256 + 128) / 128) = 4 rows
    xs, ys = [0, 128, 256, 384], [0, 128, 256, 344]
    for i, (x, y) in enumerate((x, y) for y in ys for x in xs):
        crop = np.asarray(Image.open(tmp_path / "out" / f"5b_{i}.png"))
        np.testing.assert_array_equal(crop, original[y:y + 256, x:x + 256])
    assert not (tmp_path / "out" / "5b_16.png").exists()


def test_min_tissue_drops_glass(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    image = np.full((512, 1024, 3), 243, dtype=np.uint8)
    image[:, :512] = (190, 90, 170)  # left half stained, right half glass
    Image.fromarray(image).save(source / "s1.png")
    (tmp_path / "labels.csv").write_text("s1.png,1,7\n")
    summary = crop_dataset(source, tmp_path / "out", labels=tmp_path / "labels.csv", crop_size=256,
                           min_tissue=0.5, fmt="png", log=lambda _: None)
    assert (summary.crops, summary.dropped) == (4, 4)
    kept = json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"]
    assert [name for name, _ in kept] == ["s1_0.png", "s1_1.png", "s1_4.png", "s1_5.png"]  # the left columns


def test_class_sub_folders_without_labels_file(tmp_path):
    for cls in ("benign", "malignant"):
        (tmp_path / "src" / cls).mkdir(parents=True)
        Image.new("RGB", (64, 64), (200, 100, 150)).save(tmp_path / "src" / cls / f"{cls[0]}1.png")
    crop_dataset(tmp_path / "src", tmp_path / "out", crop_size=32, log=lambda _: None)
    content = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert content["class_names"] == ["benign", "malignant"]
    assert [label for _, label in content["labels"]] == [0] * 4 + [1] * 4


@pytest.mark.parametrize("problem, message", [
    ("unlabelled", "no label for source image '3a.jpeg'"),
    ("small", "cannot be cut"),
    ("corrupt", "cannot read image"),
])
def test_bad_input_fails_before_writing(tmp_path, problem, message):
    labels = make_study_folder(tmp_path, names=("1a",), size=(600, 600))
    source = tmp_path / "TharunThompson"
    if problem == "unlabelled":
        Image.new("RGB", (600, 600)).save(source / "3a.jpeg")
    elif problem == "corrupt":
        (source / "1a.jpeg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(UserError, match=message):
        crop_dataset(source, tmp_path / "out", labels=labels, crop_size=700 if problem == "small" else 512,
                     log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_dry_run_counts_and_writes_nothing(tmp_path):
    labels = make_study_folder(tmp_path)
    lines = []
    summary = crop_dataset(tmp_path / "TharunThompson", tmp_path / "out", labels=labels, dry_run=True,
                           log=lines.append)
    assert summary.crops == 16 and "16 crops" in lines[0]
    assert not (tmp_path / "out").exists()


def test_interrupted_run_resumes_without_duplicates(tmp_path, monkeypatch):
    labels = make_study_folder(tmp_path, names=("1a", "2a", "3a"))
    source, dest = tmp_path / "TharunThompson", tmp_path / "out"
    calls = []
    original_write = tile_export.TileExport.write_tile

    def failing_write(self, name, rgb):
        if len(calls) == 11:  # killed in the middle of the second image
            raise KeyboardInterrupt
        calls.append(name)
        original_write(self, name, rgb)

    monkeypatch.setattr(tile_export.TileExport, "write_tile", failing_write)
    with pytest.raises(KeyboardInterrupt):
        crop_dataset(source, dest, labels=labels, log=lambda _: None)
    assert not (dest / "dataset.json").exists()
    assert len(list(dest.glob("*.jpeg"))) == 11
    first_image = {name: (dest / name).stat().st_mtime_ns for name in calls[:8]}

    calls.clear()
    monkeypatch.setattr(tile_export.TileExport, "write_tile", lambda self, name, rgb: (
        calls.append(name), original_write(self, name, rgb)))
    summary = crop_dataset(source, dest, labels=labels, log=lambda _: None)
    assert summary.skipped == 1 and summary.crops == 24
    assert sorted(calls) == sorted([f"2a_{i}.jpeg" for i in range(3, 8)] + [f"3a_{i}.jpeg" for i in range(8)])
    assert {name: (dest / name).stat().st_mtime_ns for name in first_image} == first_image
    names = [name for name, _ in json.loads((dest / "dataset.json").read_text())["labels"]]
    assert names == [f"{n}_{i}.jpeg" for n in ("1a", "2a", "3a") for i in range(8)]
    assert sorted(p.name for p in dest.glob("*.jpeg")) == sorted(names)


def test_resume_refuses_other_options(tmp_path):
    labels = make_study_folder(tmp_path, names=("1a",))
    crop_dataset(tmp_path / "TharunThompson", tmp_path / "out", labels=labels, log=lambda _: None)
    with pytest.raises(UserError, match="other options"):
        crop_dataset(tmp_path / "TharunThompson", tmp_path / "out", labels=labels, crop_size=256,
                     log=lambda _: None)


def test_whole_slide_at_a_magnification(tmp_path):
    (tmp_path / "slides").mkdir()
    shutil.copy(SAMPLE_SLIDE, tmp_path / "slides" / "cmu.svs")
    (tmp_path / "labels.csv").write_text("filename,label,patient\ncmu.svs,0,cmu\n")
    summary = crop_dataset(tmp_path / "slides", tmp_path / "out", labels=tmp_path / "labels.csv",
                           crop_size=256, magnification=5, min_tissue=0.3, fmt="png", log=lambda _: None)
    # 5x: 555 x 741 px -> round(555 / 256) = 2 columns x round(741 / 256) = 3 rows; glass crops dropped
    assert summary.crops + summary.dropped == 6 and 1 <= summary.crops < 6
    for name, _ in json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"]:
        assert Image.open(tmp_path / "out" / name).size == (256, 256)


def test_rerun_with_corrected_labels_updates_dataset_json_only(tmp_path):
    labels = make_study_folder(tmp_path, names=("1a",))
    dest = tmp_path / "out"
    crop_dataset(tmp_path / "TharunThompson", dest, labels=labels, log=lambda _: None)
    stamps = {p.name: p.stat().st_mtime_ns for p in dest.glob("*.jpeg")}
    labels.write_text(json.dumps({"labels": [["1a.jpeg", 1]], "meta": [["1a.jpeg", 1, "1", "PTC"]]}))
    crop_dataset(tmp_path / "TharunThompson", dest, labels=labels, log=lambda _: None)
    content = json.loads((dest / "dataset.json").read_text())
    assert {label for _, label in content["labels"]} == {1} and content["meta"][0][3] == "PTC"
    assert {p.name: p.stat().st_mtime_ns for p in dest.glob("*.jpeg")} == stamps


def test_progress_counts_crops_not_source_images(tmp_path, capsys):
    labels = make_study_folder(tmp_path, names=("1a", "2a", "3a"))
    capsys.readouterr()
    crop_dataset(tmp_path / "TharunThompson", tmp_path / "out", labels=labels, log=lambda _: None)
    written = json.loads((tmp_path / "out" / "dataset.json").read_text())["labels"]
    # stderr is no terminal under capsys: the bar's last log line states its count and total.
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"crops: 100% {len(written)}/{len(written)} ") and len(written) == 24
