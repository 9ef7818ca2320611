"""`thygan segment ...`: files written, resuming, and one-line errors with exit code 2."""

import json
import os

import numpy as np
import pytest
import scipy.io
import tifffile
import torch
from click.testing import CliRunner
from PIL import Image

from tests.segment.conftest import TINY, disk_instances, render
from tests.segment.test_data import consep_folder
from thygan.cli.main import cli
from thygan.io.checkpoint import save_checkpoint
from thygan.segment.networks import NETWORKS, HoVerNet


def run(args):
    result = CliRunner().invoke(cli, args)
    return result


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]


def save_tiny(path, input_size):
    torch.manual_seed(0)
    net = HoVerNet(nr_types=3, **TINY)
    save_checkpoint(path, networks={"net": net}, registry=NETWORKS, extra={"input_size": input_size})
    return path.with_suffix(".safetensors")


@pytest.fixture
def tiny_model(tmp_path):
    return save_tiny(tmp_path / "model" / "hovernet-snapshot-000001", 128)


def write_mat(path, inst, types=None):
    from thygan.segment.postproc import instance_records

    rec = instance_records(inst)
    ids = sorted(rec)
    mat = {"inst_map": inst, "inst_centroid": np.array([rec[i]["centroid"] for i in ids]).reshape(-1, 2)}
    mat["inst_type"] = np.array(types if types is not None else [1] * len(ids)).reshape(-1, 1)
    scipy.io.savemat(path, mat)


def test_stats_instance_and_type(tmp_path):
    true_dir, pred_dir = tmp_path / "true", tmp_path / "pred"
    true_dir.mkdir()
    pred_dir.mkdir()
    inst = disk_instances(64, [(16, 16), (40, 40)])
    write_mat(true_dir / "a.mat", inst, [1, 2])
    write_mat(pred_dir / "a.mat", inst, [1, 1])
    result = run(["segment", "stats", "--pred-dir", str(pred_dir), "--true-dir", str(true_dir),
                  "--out", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert "pq 1.0000" in result.output and "aji 1.0000" in result.output
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["images"][0]["name"] == "a"
    result = run(["segment", "stats", "--mode", "type", "--pred-dir", str(pred_dir), "--true-dir", str(true_dir)])
    assert result.exit_code == 0 and "f1_d 1.0000" in result.output and "acc_type 0.5000" in result.output


def test_stats_type_without_types_is_one_line(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "t").mkdir()
    inst = disk_instances(32, [(16, 16)])
    scipy.io.savemat(tmp_path / "p" / "a.mat", {"inst_map": inst})
    write_mat(tmp_path / "t" / "a.mat", inst)
    result = run(["segment", "stats", "--mode", "type", "--pred-dir", str(tmp_path / "p"),
                  "--true-dir", str(tmp_path / "t")])
    assert_user_error(result, "a.mat", "inst_centroid")


def test_train_bad_data_one_line_nothing_written(tmp_path):
    consep_folder(tmp_path / "data", bad="no_inst")
    result = run(["segment", "train", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "runs"),
                  "--mode", "fast", "--width", "0.125", "--blocks", "1,1,1,1", "--input-size", "128"])
    assert_user_error(result, "a.mat", "inst_map")
    assert not (tmp_path / "runs").exists()


def test_train_bad_input_size(tmp_path):
    consep_folder(tmp_path / "data")
    result = run(["segment", "train", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "runs"),
                  "--mode", "fast", "--width", "0.125", "--blocks", "1,1,1,1", "--input-size", "130"])
    assert_user_error(result, "--input-size", "130")


def test_infer_tile_outputs_and_resume(tmp_path, tiny_model):
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    inst = disk_instances(80, [(20, 20), (50, 60)])
    Image.fromarray(render(inst)).save(tiles / "t1.png")
    out = tmp_path / "out"
    args = ["segment", "infer", "tile", "--model", str(tiny_model), "--input-dir", str(tiles),
            "--output-dir", str(out), "--device", "cpu"]
    result = run(args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "json" / "t1.json").read_text())
    assert data["mag"] is None and isinstance(data["nuc"], dict)
    mat = scipy.io.loadmat(out / "mat" / "t1.mat")
    assert mat["inst_map"].shape == (80, 80)
    assert len(mat["inst_uid"]) == len(data["nuc"])
    assert np.asarray(Image.open(out / "overlay" / "t1.png")).shape == (80, 80, 3)
    geo = json.loads((out / "geojson" / "t1.geojson").read_text())
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == len(data["nuc"])
    header = (out / "qupath" / "t1.tsv").read_text().splitlines()[0]
    assert header == "x\ty\tclass\tname\tcolor"
    before = (out / "json" / "t1.json").stat().st_mtime_ns
    assert run(args).exit_code == 0 and (out / "json" / "t1.json").stat().st_mtime_ns == before  # skipped



def test_infer_tile_refuses_outputs_of_another_model_until_overwrite(tmp_path, tiny_model):
    """A rerun with other weights must not keep the first model's outputs as if they were its own."""
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    Image.fromarray(render(disk_instances(80, [(20, 20), (50, 60)]))).save(tiles / "t1.png")
    out = tmp_path / "out"
    args = ["segment", "infer", "tile", "--input-dir", str(tiles), "--output-dir", str(out), "--device", "cpu"]
    assert run(args + ["--model", str(tiny_model)]).exit_code == 0
    first = (out / "json" / "t1.json").read_bytes()
    net = HoVerNet(nr_types=3, **TINY)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.05)
    other = tmp_path / "other" / "hovernet-snapshot-000002"
    save_checkpoint(other, networks={"net": net}, registry=NETWORKS, extra={"input_size": 128})
    other_args = args + ["--model", str(other.with_suffix(".safetensors"))]
    assert_user_error(run(other_args), "--output-dir", "1 output(s)", "another model", "--overwrite")
    assert (out / "json" / "t1.json").read_bytes() == first
    assert_user_error(run(args + ["--model", str(tiny_model), "--blend", "constant"]), "another blend")
    result = run(other_args + ["--overwrite"])
    assert result.exit_code == 0 and "1 tiles segmented" in result.output, result.output
    assert run(other_args).exit_code == 0  # the new model's outputs resume

def test_infer_and_training_data_take_the_same_image_files(tmp_path, tiny_model):
    """One list of image kinds (thygan.data.image_files) for both readers: png, jpg, jpeg, tif, tiff and bmp,
    any case; neither takes .npy, text or hidden files (a macOS ._ resource fork is not an image)."""
    from thygan.segment.data import read_dataset

    images, labels = tmp_path / "data" / "Images", tmp_path / "data" / "Labels"
    images.mkdir(parents=True)
    labels.mkdir()
    inst = disk_instances(32, [(16, 16)])
    for suffix in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".PNG"):
        stem = "k_" + suffix[1:]
        Image.fromarray(render(inst)).save(images / f"{stem}{suffix}")
        np.save(labels / f"{stem}.npy", inst)
    np.save(images / "array.npy", render(inst))
    (images / "notes.txt").write_text("not an image\n")
    (images / "._k_png.png").write_bytes(b"\x00\x05\x16\x07")
    trained = {s.name for s in read_dataset(tmp_path / "data")}
    result = run(["segment", "infer", "tile", "--model", str(tiny_model), "--input-dir", str(images),
                  "--output-dir", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    inferred = {p.stem for p in (tmp_path / "out" / "json").iterdir()}
    assert trained == inferred == {"k_png", "k_jpg", "k_jpeg", "k_tif", "k_tiff", "k_bmp", "k_PNG"}


def test_infer_wrong_mode_one_line(tmp_path, tiny_model):
    (tmp_path / "tiles").mkdir()
    result = run(["segment", "infer", "tile", "--model", str(tiny_model), "--mode", "original",
                  "--input-dir", str(tmp_path / "tiles"), "--output-dir", str(tmp_path / "o")])
    assert_user_error(result, "mode=fast", "mode=original")


@pytest.mark.slow
def test_infer_wsi_chunks_and_unreadable_slide(tmp_path):
    tiny_model = save_tiny(tmp_path / "model" / "hovernet-snapshot-000001", 256)  # 164 px out: 4 windows a chunk
    rng = np.random.default_rng(0)
    inst = disk_instances(300, [tuple(int(v) for v in rng.integers(10, 290, 2)) for _ in range(40)])
    image = render(inst)
    image[:, :170] = 255                                      # glass: the first chunk column has no tissue
    slide = tmp_path / "s.tif"
    tifffile.imwrite(slide, image, tile=(128, 128), photometric="rgb")
    out = tmp_path / "out"
    args = ["segment", "infer", "wsi", "--model", str(tiny_model), "--input", str(slide), "--output-dir", str(out),
            "--chunk", "128", "--margin", "46", "--device", "cpu"]
    result = run(args)
    assert result.exit_code == 0, result.output
    nuc = json.loads((out / "json" / "s.json").read_text())["nuc"]
    chunks = sorted((out / "cache" / "s").glob("chunk_*.json"))
    assert len(chunks) == 6                                   # 3 x 3 chunks, 3 of them glass
    centroids = [tuple(np.round(v["centroid"], 3)) for v in nuc.values()]
    assert len(set(centroids)) == len(centroids)             # no nucleus kept twice across chunk borders
    assert all(0 <= x < 300 and 0 <= y < 300 for x, y in centroids)
    chunks[0].write_text("[]")                                # a finished chunk is not recomputed on resume
    assert run(args).exit_code == 0
    assert json.loads(chunks[0].read_text()) == []
    os.utime(chunks[0], (0, 0))
    assert run(args + ["--overlap", "16"]).exit_code == 0     # other settings: the cached chunks are made again
    assert chunks[0].stat().st_mtime > 0
    (out / "cache" / "s" / ".thygan-settings.json").write_text("{cut short")  # an unreadable record: redone
    os.utime(chunks[0], (0, 0))
    assert run(args + ["--overlap", "16"]).exit_code == 0 and chunks[0].stat().st_mtime > 0
    bad = tmp_path / "bad.svs"
    bad.write_bytes(b"not a slide")
    assert_user_error(run(args[:4] + [str(bad)] + args[5:]), "bad.svs")


def test_pseudo_labels_command(tmp_path):
    inst = disk_instances(128, [(30, 30), (80, 90), (60, 20)], radius=8)
    Image.fromarray(render(inst)).save(tmp_path / "he.png")
    result = run(["segment", "pseudo-labels", "--source", str(tmp_path / "he.png"), "--dest", str(tmp_path / "pl"),
                  "--tile-size", "64", "--min-tissue", "0"])
    assert result.exit_code == 0, result.output
    labels = sorted((tmp_path / "pl" / "Labels").glob("*.npy"))
    assert len(labels) == 4
    assert "not ground truth" in json.loads((tmp_path / "pl" / "pseudo_labels.json").read_text())["method"]
    from thygan.segment.data import read_dataset

    assert len(read_dataset(tmp_path / "pl")) == 4          # trainable as it is


def test_pseudo_instances_find_dark_disks():
    from thygan.segment.pseudo_labels import pseudo_instances
    from thygan.segment.stats import instance_stats

    inst = disk_instances(96, [(20, 20), (60, 70), (70, 20)], radius=8)
    pred = pseudo_instances(render(inst))
    assert instance_stats(inst, pred)["pq"] > 0.8


def test_train_dry_run_prints_options_writes_nothing(tmp_path):
    consep_folder(tmp_path / "data")
    result = run(["segment", "train", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "runs"),
                  "--mode", "fast", "--nr-types", "5", "--type-map", "consep", "--epochs", "3", "-n"])
    assert result.exit_code == 0, result.output
    assert '"epochs": [\n    3,\n    3\n  ]' in result.output and '"input_size": 256' in result.output
    assert '"msge_kernel": "reference"' in result.output
    assert "1 training images" in result.output and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_infer_tile_with_reference_checkpoint(tmp_path):
    from tests.segment.test_weights import reference_state

    tar = tmp_path / "hovernet_original_kumar_notype_tf2pytorch.tar"
    state = reference_state("original_types0", prefix="module.")
    for k, v in state.items():   # small weights and positive variances: finite maps from random values
        if k.endswith("running_var"):
            state[k] = v.abs() + 1
        elif v.is_floating_point() and not k.endswith("unpool_mat"):
            state[k] = v * 0.01
    torch.save({"desc": state}, tar)
    (tmp_path / "tiles").mkdir()
    Image.fromarray(render(disk_instances(80, [(40, 40)]))).save(tmp_path / "tiles" / "k.png")
    result = run(["segment", "infer", "tile", "--model", str(tar), "--mode", "original", "--nr-types", "0",
                  "--input-dir", str(tmp_path / "tiles"), "--output-dir", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert scipy.io.loadmat(tmp_path / "out" / "mat" / "k.mat")["inst_map"].shape == (80, 80)
    assert "inst_type" not in scipy.io.loadmat(tmp_path / "out" / "mat" / "k.mat")


def test_stats_pannuke(tmp_path):
    true = np.zeros((2, 16, 16, 6), np.float64)
    true[0, 2:8, 2:8, 0] = 1
    true[1, 2:8, 2:8, 2] = 4
    pred = true.copy()
    pred[1] = 0                                               # image 1 missed entirely
    for name, masks in (("t", true), ("p", pred)):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "masks.npy", masks)
    np.save(tmp_path / "t" / "types.npy", np.array(["Breast", "Colon"]))
    result = run(["segment", "stats", "--mode", "pannuke", "--pred-dir", str(tmp_path / "p"),
                  "--true-dir", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert "mPQ 0.5000" in result.output and "bPQ 0.5000" in result.output and "PQ_3 nan" in result.output
