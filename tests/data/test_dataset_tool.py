"""dataset_tool: source kinds round-trip, crops and resizes match hand computations; refusals clean up."""

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner

from tests.data.conftest import png_bytes, random_images, write_image, write_layout
from thygan.cli.dataset_tool import dataset_tool_command
from thygan.cli.main import cli
from thygan.data import dataset_tool
from thygan.data.dataset import ImageFolderDataset
from thygan.data.dataset_tool import archive_name, center_crop, center_crop_wide, convert_dataset, resize
from thygan.errors import UserError

REPO = Path(__file__).resolve().parents[2]
BOX = PIL.Image.Resampling.BOX


def _read_output(dest: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Every PNG of a dataset_tool output (folder or zip) as [H, W, C] arrays, and its dataset.json."""
    if dest.suffix == ".zip":
        with zipfile.ZipFile(dest) as archive:
            assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
            files = {name: archive.read(name) for name in archive.namelist()}
    else:
        files = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    meta = json.loads(files.pop("dataset.json"))
    images = {}
    for name, data in files.items():
        array = np.asarray(PIL.Image.open(io.BytesIO(data)))
        images[name] = array[:, :, None] if array.ndim == 2 else array
    return images, meta


def _run(*args: str):
    return CliRunner().invoke(dataset_tool_command, list(args))


@pytest.fixture(params=["folder", "zip"])
def dest(request, tmp_path):
    return tmp_path / "out" / ("ds.zip" if request.param == "zip" else "ds")


def test_archive_names_follow_the_reference():
    assert archive_name(0) == "00000/img00000000.png"
    assert archive_name(999) == "00000/img00000999.png"
    assert archive_name(1000) == "00001/img00001000.png"
    assert archive_name(123456) == "00123/img00123456.png"


def test_plain_folder_round_trip(tmp_path, dest):
    images = random_images(3, 8, 8)
    order = ["z.png", "sub/b.png", "a.png"]
    for name, image in zip(order, images, strict=True):
        write_image(tmp_path / "src" / name, image)
    summary = convert_dataset(source=tmp_path / "src", dest=dest, log=lambda _: None)
    assert summary["num_images"] == 3 and summary["resolution"] == 8 and summary["class_names"] is None
    written, meta = _read_output(dest)
    assert meta == {"labels": None}
    for i, name in enumerate(sorted(order)):  # recursive, sorted by relative path
        np.testing.assert_array_equal(written[archive_name(i)], images[order.index(name)])
    assert len(written) == 3


def test_class_folder_source(tmp_path, dest):
    images = random_images(5, 8, 8)
    layout = ["ptc/1.png", "fa/2.png", "ptc/x/3.png", "ftc/4.png", "fa/5.png"]
    for name, image in zip(layout, images, strict=True):
        write_image(tmp_path / "src" / name, image)
    convert_dataset(source=tmp_path / "src", dest=dest, log=lambda _: None)
    written, meta = _read_output(dest)
    assert meta["class_names"] == ["fa", "ftc", "ptc"]
    for i, name in enumerate(sorted(layout)):
        assert meta["labels"][i] == [archive_name(i), meta["class_names"].index(name.split("/")[0])]
        np.testing.assert_array_equal(written[archive_name(i)], images[layout.index(name)])
    ds = ImageFolderDataset(dest, use_labels=True)
    assert ds.class_names == ["fa", "ftc", "ptc"] and ds.label_dim == 3
    np.testing.assert_array_equal(ds.get_label(0), [1, 0, 0])  # fa/2.png sorts first


def test_study_json_with_only_meta_rows(tmp_path):
    for name, image in zip(["NIK-1_0.png", "TCGA-2_0.png"], random_images(2, 4, 4), strict=True):
        write_image(tmp_path / "ext" / name, image)
    (tmp_path / "ext.json").write_text(json.dumps({"meta": [["TCGA-2_0.png", 0, "2", "B"],
                                                            ["NIK-1_0.png", 1, "1", "NIFTP"]]}))
    convert_dataset(source=tmp_path / "ext", dest=tmp_path / "o", labels_path=tmp_path / "ext.json",
                    log=lambda _: None)
    assert [lab for _, lab in _read_output(tmp_path / "o")[1]["labels"]] == [1, 0]


def test_zipped_class_folders(tmp_path):
    images = random_images(3, 4, 4)
    source = tmp_path / "tiles.zip"
    with zipfile.ZipFile(source, "w") as archive:
        for name, image in zip(["tiles/b/1.png", "tiles/a/2.png", "tiles/a/3.png"], images, strict=True):
            archive.writestr(name, png_bytes(image))
        archive.writestr("__MACOSX/tiles/a/._2.png", b"resource fork")
    convert_dataset(source=source, dest=tmp_path / "o.zip", log=lambda _: None)
    written, meta = _read_output(tmp_path / "o.zip")
    assert meta["class_names"] == ["a", "b"] and [lab for _, lab in meta["labels"]] == [0, 0, 1]
    np.testing.assert_array_equal(written[archive_name(2)], images[0])


def test_zip_source_with_reference_dataset_json(tmp_path, dest):
    images = random_images(4, 8, 8)
    source = write_layout(tmp_path / "src", images, [3, 1, 0, 3], as_zip=True)
    convert_dataset(source=source, dest=dest, log=lambda _: None)
    written, meta = _read_output(dest)
    assert meta == {"labels": [[archive_name(i), label] for i, label in enumerate([3, 1, 0, 3])]}
    for i, image in enumerate(images):
        np.testing.assert_array_equal(written[archive_name(i)], image)


def test_split_dataset_output_with_meta_and_basenames(tmp_path, dest):
    images = random_images(3, 8, 8)
    for name, image in zip(["1a_0.png", "1a_1.png", "2b_0.png"], images, strict=True):
        write_image(tmp_path / "split" / name, image)
    meta_in = {"labels": [["2b_0.png", 0], ["1a_0.png", 1], ["1a_1.png", 1], ["gone.png", 0]],
               "meta": [["1a.jpeg", 1, "1", "PTC"], ["2b.jpeg", 0, "2", "FA"]]}
    (tmp_path / "split" / "dataset.json").write_text(json.dumps(meta_in))
    convert_dataset(source=tmp_path / "split", dest=dest, log=lambda _: None)
    expected = [[archive_name(0), 1], [archive_name(1), 1], [archive_name(2), 0]]
    assert _read_output(dest)[1]["labels"] == expected


@pytest.mark.parametrize("labels_csv, expected, classes", [
    ("filename,label\nb.png,PTC\na.png,FA\nsub/c.png,PTC\n", [0, 1, 1], ["FA", "PTC"]),
    ("a.png,2\nb.png,0\nc.png,2\n", [2, 0, 2], None),  # no header, ints, c.png by its file name
    ("filename,patient,label\na.png,7,1\nb.png,7,0\nsub/c.png,9,1\n", [1, 0, 1], None),  # extra column
])
def test_csv_labels_by_option_and_by_detection(tmp_path, labels_csv, expected, classes):
    images = random_images(3, 8, 8)
    for name, image in zip(["a.png", "b.png", "sub/c.png"], images, strict=True):
        write_image(tmp_path / "src" / name, image)
    (tmp_path / "labels.csv").write_text(labels_csv)
    convert_dataset(source=tmp_path / "src", dest=tmp_path / "by_option.zip",
                    labels_path=tmp_path / "labels.csv", log=lambda _: None)
    (tmp_path / "src" / "labels.csv").write_text(labels_csv)
    convert_dataset(source=tmp_path / "src", dest=tmp_path / "detected", log=lambda _: None)
    for out in [tmp_path / "by_option.zip", tmp_path / "detected"]:
        meta = _read_output(out)[1]
        assert [label for _, label in meta["labels"]] == expected
        assert meta.get("class_names") == classes


def test_grayscale_resize_box_matches_block_means(tmp_path, dest):
    image = random_images(1, 8, 8, channels=1)[0]
    write_image(tmp_path / "src" / "g.png", image)
    convert_dataset(source=tmp_path / "src", dest=dest, width=4, height=4, resize_filter="box",
                    log=lambda _: None)
    out = _read_output(dest)[0][archive_name(0)]
    block_means = image[:, :, 0].astype(float).reshape(4, 2, 4, 2).mean(axis=(1, 3))
    assert out.shape == (4, 4, 1)
    assert np.abs(out[:, :, 0] - block_means).max() <= 1  # Pillow rounds in fixed point
    assert ImageFolderDataset(dest).num_channels == 1


def test_lanczos_keeps_a_flat_colour():
    flat = np.full((16, 16, 3), (200, 30, 90), np.uint8)
    np.testing.assert_array_equal(resize(flat, 4, 4, PIL.Image.Resampling.LANCZOS), flat[:4, :4])
    assert resize(flat, 16, 16, BOX) is flat


def test_center_crop_of_a_6x4_image():
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)  # every pixel distinct
    np.testing.assert_array_equal(center_crop(image, 4, 4, BOX), image[:, 1:5])
    tall = np.arange(7 * 2, dtype=np.uint8).reshape(7, 2, 1)
    np.testing.assert_array_equal(center_crop(tall, 2, 2, BOX), tall[2:4])  # floor((7 - 2) / 2) = 2
    cropped = center_crop(image, 2, 2, BOX)
    expected = image[:, 1:5].astype(float).reshape(2, 2, 2, 2, 3).mean(axis=(1, 3))
    assert np.abs(cropped - expected).max() <= 1


def test_center_crop_wide_pads_with_black():
    image = np.arange(4 * 8 * 3, dtype=np.uint8).reshape(4, 8, 3)  # already 2:1, only scaled
    out = center_crop_wide(image, 4, 2, BOX)
    assert out.shape == (4, 4, 3)
    assert not out[0].any() and not out[3].any()
    band = image.astype(float).reshape(2, 2, 4, 2, 3).mean(axis=(1, 3))
    assert np.abs(out[1:3] - band).max() <= 1
    wider = np.arange(4 * 10, dtype=np.uint8).reshape(4, 10, 1)  # 10:4 -> sides trimmed to 8 columns
    np.testing.assert_array_equal(center_crop_wide(wider, 8, 4, BOX)[2:6], wider[:, 1:9])
    taller = np.arange(6 * 4, dtype=np.uint8).reshape(6, 4, 1)  # 4:6 -> rows trimmed to 2 (4:2)
    out = center_crop_wide(taller, 4, 2, BOX)
    np.testing.assert_array_equal(out[1:3], taller[2:4])
    assert not out[0].any() and not out[3].any()


def test_transform_through_the_cli_into_a_zip(tmp_path):
    for i, image in enumerate(random_images(3, 6, 10)):
        write_image(tmp_path / "src" / f"{i}.png", image)
    result = _run("--source", str(tmp_path / "src"), "--dest", str(tmp_path / "o.zip"),
                  "--transform", "center-crop-wide", "--width", "8", "--height", "4")
    assert result.exit_code == 0, result.output
    assert "wrote 3 images of 8x8x3" in result.stdout
    assert ImageFolderDataset(tmp_path / "o.zip").resolution == 8


def test_max_images_keeps_the_first_sorted(tmp_path):
    images = random_images(5, 4, 4)
    for i, image in enumerate(images):
        write_image(tmp_path / "src" / f"{i}.png", image)
    convert_dataset(source=tmp_path / "src", dest=tmp_path / "o", max_images=2, log=lambda _: None)
    written = _read_output(tmp_path / "o")[0]
    assert sorted(written) == [archive_name(0), archive_name(1)]
    np.testing.assert_array_equal(written[archive_name(1)], images[1])


def test_zip_output_is_deterministic(tmp_path, labelled_layout):
    source, _, _ = labelled_layout(as_zip=False)
    convert_dataset(source=source, dest=tmp_path / "a.zip", log=lambda _: None)
    convert_dataset(source=source, dest=tmp_path / "b.zip", log=lambda _: None)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_allow_unlabeled_writes_null_labels(tmp_path):
    for i, image in enumerate(random_images(2, 4, 4)):
        write_image(tmp_path / "src" / f"{i}.png", image)
    (tmp_path / "src" / "labels.csv").write_text("0.png,1\n")
    result = _run("--source", str(tmp_path / "src"), "--dest", str(tmp_path / "o"), "--allow-unlabeled")
    assert result.exit_code == 0, result.output
    assert _read_output(tmp_path / "o")[1] == {"labels": None}


def _write_sources(root: Path) -> dict[str, tuple[list[str], str]]:
    """Bad sources and flags, each as extra CLI arguments; every one must be refused."""
    ok = random_images(2, 8, 8)
    for i, image in enumerate(ok):
        write_image(root / "ok" / f"{i}.png", image)
    write_image(root / "mixed" / "a.png", ok[0])
    write_image(root / "mixed" / "b.png", random_images(1, 16, 16)[0])
    write_image(root / "gray_rgb" / "a.png", ok[0])
    write_image(root / "gray_rgb" / "b.png", random_images(1, 8, 8, channels=1)[0])
    write_image(root / "wide" / "a.png", random_images(1, 8, 16)[0])
    write_image(root / "six" / "a.png", random_images(1, 6, 6)[0])
    write_image(root / "rgba" / "a.png", random_images(1, 8, 8, channels=4)[0])
    write_image(root / "broken" / "a.png", ok[0])
    (root / "broken" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    write_image(root / "unlabeled" / "a.png", ok[0])
    write_image(root / "unlabeled" / "b.png", ok[1])
    (root / "unlabeled" / "labels.csv").write_text("filename,label\na.png,FA\n")
    write_layout(root / "unknown", ok, [0, 5], as_zip=False, extra_meta={"class_names": ["x", "y"]})
    write_layout(root / "unknown_name", ok, ["FA", "PTC"], as_zip=False, extra_meta={"class_names": ["FA"]})
    (root / "badrow.csv").write_text("a.png\n")
    (root / "notes").mkdir()
    (root / "notes" / "a.txt").write_text("x")
    (root / "notes.zip").write_bytes(b"not a zip")
    ok_src = ["--source", str(root / "ok")]
    return {  # case: (arguments, a fragment the message must contain)
        "mixed sizes": (["--source", str(root / "mixed")], "b.png: output is 16x16"),
        "mixed channels": (["--source", str(root / "gray_rgb")], "b.png: output is 8x8 with 1 channel"),
        "non-square": (["--source", str(root / "wide")], "must be square"),
        "non-power-of-two": (["--source", str(root / "six")], "6 is not a power of two"),
        "non-power-of-two flag": (ok_src + ["--width", "12", "--height", "12"], "12 is not a power of two"),
        "non-square flags": (ok_src + ["--width", "8", "--height", "4"], "8x4"),
        "4 channels": (["--source", str(root / "rgba")], "has 4 channels"),
        "unreadable": (["--source", str(root / "broken")], "b.png: cannot read image"),
        "missing label": (["--source", str(root / "unlabeled")], "no label for 1 of 2 images (first: b.png)"),
        "unknown label": (["--source", str(root / "unknown")], "unknown label 5"),
        "unknown label name": (["--source", str(root / "unknown_name")], "unknown label 'PTC'"),
        "bad csv row": (ok_src + ["--labels", str(root / "badrow.csv")], "row 1"),
        "missing labels file": (ok_src + ["--labels", str(root / "nope.csv")], "--labels: no such file"),
        "missing source": (["--source", str(root / "nope")], "--source: no such folder"),
        "no images": (["--source", str(root / "notes")], "no image files"),
        "not a zip": (["--source", str(root / "notes.zip")], "not a valid zip"),
        "crop without size": (ok_src + ["--transform", "center-crop"], "needs both --width and --height"),
        "wide taller than wide": (ok_src + ["--transform", "center-crop-wide", "--width", "8",
                                            "--height", "16"], "height <= width"),
        "bad filter": (ok_src + ["--resize-filter", "bicubic"], "--resize-filter"),
        "zero images": (ok_src + ["--max-images", "0"], "--max-images"),
    }


@pytest.mark.parametrize("dest_name", ["new/ds", "new/ds.zip"])
def test_every_refusal_is_one_line_exit_2_and_leaves_nothing(tmp_path, dest_name):
    cases = _write_sources(tmp_path / "in")
    (tmp_path / "work").mkdir()
    before = sorted(os.listdir(tmp_path / "work"))
    dest = tmp_path / "work" / dest_name
    for case, (args, fragment) in cases.items():
        result = _run(*args, "--dest", str(dest))
        assert result.exit_code == 2, (case, result.output)
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (case, result.stderr)
        assert fragment in result.stderr, (case, result.stderr)
        assert sorted(os.listdir(tmp_path / "work")) == before, case  # not even the parent folder


def test_refuses_used_destinations(tmp_path):
    for i, image in enumerate(random_images(2, 4, 4)):
        write_image(tmp_path / "src" / f"{i}.png", image)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    (tmp_path / "old.zip").write_bytes(b"precious")
    for dest, expected in [(tmp_path / "full", "not an empty folder"),
                           (tmp_path / "old.zip", "already exists"),
                           (tmp_path / "src" / "inside", "inside --source")]:
        result = _run("--source", str(tmp_path / "src"), "--dest", str(dest))
        assert result.exit_code == 2 and expected in result.stderr, result.output
    assert os.listdir(tmp_path / "full") == ["keep.txt"]
    assert (tmp_path / "old.zip").read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path / "src")) == ["0.png", "1.png"]
    (tmp_path / "empty").mkdir()
    assert _run("--source", str(tmp_path / "src"), "--dest", str(tmp_path / "empty")).exit_code == 0
    assert len(_read_output(tmp_path / "empty")[0]) == 2


@pytest.mark.parametrize("dest_name", ["ds", "ds.zip"])
def test_interruption_leaves_nothing(tmp_path, monkeypatch, dest_name):
    for i, image in enumerate(random_images(4, 4, 4)):
        write_image(tmp_path / "src" / f"{i}.png", image)
    calls = []

    def encode_then_interrupt(image):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(image)
    original = dataset_tool._encode_png
    monkeypatch.setattr(dataset_tool, "_encode_png", encode_then_interrupt)
    (tmp_path / "out").mkdir()
    with pytest.raises(KeyboardInterrupt):
        convert_dataset(source=tmp_path / "src", dest=tmp_path / "out" / dest_name, log=lambda _: None)
    assert os.listdir(tmp_path / "out") == []


def test_library_raises_user_error_for_bad_flags(tmp_path):
    with pytest.raises(UserError, match="--transform center-crop: needs both --width and --height"):
        convert_dataset(source=tmp_path, dest=tmp_path / "o", transform="center-crop", width=8)


def test_root_script_and_thygan_subcommand(tmp_path):
    for i, image in enumerate(random_images(2, 4, 4)):
        write_image(tmp_path / "src" / f"{i}.png", image)
    result = CliRunner().invoke(cli, ["dataset-tool", "--source", str(tmp_path / "src"),
                                      "--dest", str(tmp_path / "a.zip")])
    assert result.exit_code == 0, result.output
    proc = subprocess.run([sys.executable, str(REPO / "dataset_tool.py"), "--source", str(tmp_path / "src"),
                           "--dest", str(tmp_path / "a.zip")], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "already exists" in proc.stderr


def _study_layout(root: Path, *, meta: bool = True) -> Path:
    """Six 16 px images labelled by a study-style JSON: mc labels 0=PTC, 1=FA; binary via meta diagnoses."""
    root.mkdir(parents=True)
    rows = []
    for index, (label, diagnosis) in enumerate([(0, "PTC"), (1, "FA"), (0, "PTC"), (1, "FTC"), (1, "FA"),
                                                (0, "PTC")]):
        name = f"{index + 1}a.jpeg"
        write_image(root / name, np.full([16, 16, 3], 40 * index, np.uint8))
        rows.append([name, label, str(index + 1), diagnosis])
    labels = root.parent / "labels.json"
    content = {"labels": [row[:2] for row in rows]} | ({"meta": rows} if meta else {})
    labels.write_text(json.dumps(content))
    return labels


def test_class_names_come_from_the_study_meta_diagnoses(tmp_path):
    """The study's labels JSON has no class names; its meta diagnoses name the classes, written into
    dataset.json beside the reference 'labels' list, and training carries them into the network."""
    from thygan.cli.train import train_command

    labels = _study_layout(tmp_path / "src")
    dest = tmp_path / "ds"
    result = _run("--source", str(tmp_path / "src"), "--labels", str(labels), "--dest", str(dest))
    assert result.exit_code == 0, result.output
    content = json.loads((dest / "dataset.json").read_text())
    assert content["class_names"] == ["PTC", "FA+FTC"]  # a class of several diagnoses: most frequent first
    assert [label for _, label in content["labels"]] == [0, 1, 0, 1, 1, 0]  # the reference list, as given
    assert ImageFolderDataset(dest, use_labels=True).class_names == ["PTC", "FA+FTC"]
    dry = CliRunner().invoke(train_command, [f"--outdir={tmp_path / 'runs'}", f"--data={dest}", "--cfg=cpu32",
                                             "--cond=1", "--metrics=none", "-n"])
    assert dry.exit_code == 0, dry.output
    assert '"PTC"' in dry.output and '"FA+FTC"' in dry.output


def test_class_names_flag_names_labels_without_meta(tmp_path):
    labels = _study_layout(tmp_path / "src", meta=False)
    plain = _run("--source", str(tmp_path / "src"), "--labels", str(labels), "--dest", str(tmp_path / "a"))
    assert plain.exit_code == 0 and "class_names" not in json.loads((tmp_path / "a" / "dataset.json").read_text())
    named = _run("--source", str(tmp_path / "src"), "--labels", str(labels), "--dest", str(tmp_path / "b"),
                 "--class-names", "PTC,FA")
    assert named.exit_code == 0, named.output
    assert json.loads((tmp_path / "b" / "dataset.json").read_text())["class_names"] == ["PTC", "FA"]
    assert "2 classes (PTC, FA)" in named.output
    for bad, message in (("PTC", "unknown label 1 (1 class names: PTC)"), ("PTC,PTC", "'PTC' is given twice"),
                         ("PTC,,FA", "--class-names: expected a comma list")):
        refused = _run("--source", str(tmp_path / "src"), "--labels", str(labels), "--dest",
                       str(tmp_path / "c"), "--class-names", bad)
        assert refused.exit_code == 2 and message in refused.stderr and refused.stderr.count("\n") == 1
        assert not (tmp_path / "c").exists()
