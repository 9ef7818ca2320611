"""`thygan export-geojson`: split-dataset tiles to GeoJSON through the CLI, and its one-line errors."""

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from thygan.cli.export_geojson import export_geojson_command
from thygan.cli.main import cli
from thygan.cli.split_dataset import split_dataset_command


def make_tiles(tmp_path):
    """Two 128 x 128 images in class folders, cut by split-dataset into 64 px PNG tiles."""
    rng = np.random.default_rng(0)
    for cls, name in (("benign", "a"), ("tumour", "b")):
        (tmp_path / "src" / cls).mkdir(parents=True)
        pixels = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "src" / cls / f"{name}.png")
    args = ["--source", str(tmp_path / "src"), "--dest", str(tmp_path / "tiles"), "--crop_size", "64",
            "--format", "png"]
    result = CliRunner().invoke(split_dataset_command, args)
    assert result.exit_code == 0, result.output
    return tmp_path / "tiles"


def test_split_dataset_tiles_to_one_geojson_per_image(tmp_path):
    tiles = make_tiles(tmp_path)
    result = CliRunner().invoke(cli, ["export-geojson", "--dataset", str(tiles), "--dest", str(tmp_path / "gj")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "gj").iterdir()) == ["a.geojson", "b.geojson"]
    features = json.loads((tmp_path / "gj" / "b.geojson").read_text())["features"]
    assert sorted(f["properties"]["name"] for f in features) == [f"b_{i}.png" for i in range(4)]
    assert {f["properties"]["classification"]["name"] for f in features} == {"tumour"}
    by_name = {f["properties"]["name"]: f["geometry"]["coordinates"][0] for f in features}
    assert by_name["b_3.png"] == [[64, 64], [128, 64], [128, 128], [64, 128], [64, 64]]  # row-major grid


def test_dataset_without_origins_is_one_line_exit_2(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset.json").write_text(json.dumps({"labels": [["00000/img00000000.png", 0]]}))
    result = CliRunner().invoke(export_geojson_command, ["--dataset", str(tmp_path / "ds"), "--dest",
                                                         str(tmp_path / "gj")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: --dataset: ") and "no tile origins" in result.stderr
    assert not (tmp_path / "gj").exists()


def test_predictions_naming_unknown_tiles_is_one_line_exit_2(tmp_path):
    tiles = make_tiles(tmp_path)
    preds = tmp_path / "test_preds.csv"
    preds.write_text("patient,diagnosis,class,pred_class,pred_prob,filename\nx,,0,0,0.9,a_0.png\nx,,0,1,0.8,zz_9.png\n")
    result = CliRunner().invoke(export_geojson_command, ["--dataset", str(tiles), "--dest", str(tmp_path / "gj"),
                                                         "--predictions", str(preds)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: --predictions: ") and "zz_9.png" in result.stderr
    assert not (tmp_path / "gj").exists()
    no_columns = tmp_path / "other.csv"
    no_columns.write_text("name,score\na_0.png,1\n")
    result = CliRunner().invoke(export_geojson_command, ["--dataset", str(tiles), "--dest", str(tmp_path / "gj"),
                                                         "--predictions", str(no_columns)])
    assert result.exit_code == 2 and "'filename' and 'pred_class'" in result.stderr
