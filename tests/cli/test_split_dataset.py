"""`split_dataset.py` / `thygan split-dataset`: the study's flags, files written, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from thygan.cli.split_dataset import split_dataset_command

ROOT = Path(__file__).resolve().parents[2]


def study_inputs(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "all_imgs" / "TharunThompson"
    source.mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, size=(1053, 1916, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(source / "12c.jpeg")
    labels = tmp_path / "bi_dataset.json"
    labels.write_text(json.dumps({"labels": [["12c.jpeg", 1]], "meta": [["12c.jpeg", 1, "12", "PTC"]]}))
    return source, labels


def test_study_command_line(tmp_path):
    source, labels = study_inputs(tmp_path)
    dest = tmp_path / "new" / "tt_crops"  # created although the study required it to exist
    result = CliRunner().invoke(split_dataset_command, [f"--source={source}", f"--labels={labels}",
                                                        f"--dest={dest}", "--crop_size=512"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in dest.glob("*.jpeg")) == sorted(f"12c_{i}.jpeg" for i in range(8))
    content = json.loads((dest / "dataset.json").read_text())
    assert content["labels"][7] == ["12c_7.jpeg", 1] and content["meta"][0] == ["12c_0.jpeg", 1, "12", "PTC"]
    # The study's dlc_eval unpacks every meta row as exactly four items; the origins live apart.
    assert all(len(row) == 4 for row in content["meta"]) and len(content["meta"]) == 8
    patients = {patient for fname, label, patient, diagnosis in content["meta"]}
    assert patients == {"12"}
    assert content["origins"]["12c_7.jpeg"]["slide"] == "12c.jpeg" and content["origins"]["12c_7.jpeg"]["x"] == 1404
    assert sorted(content["origins"]) == sorted(name for name, _ in content["labels"])
    assert "1 images -> 8 crops" in result.stdout


def test_missing_label_is_one_line_exit_2_and_nothing_written(tmp_path):
    source, labels = study_inputs(tmp_path)
    Image.new("RGB", (600, 600)).save(source / "13a.jpeg")
    dest = tmp_path / "out"
    result = CliRunner().invoke(split_dataset_command, ["--source", str(source), "--labels", str(labels),
                                                        "--dest", str(dest)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: --labels:")
    assert "13a.jpeg" in result.stderr and "Traceback" not in result.output
    assert not dest.exists()


def test_usage_error_is_one_line_exit_2(tmp_path):
    args = ["--source", str(tmp_path), "--dest", str(tmp_path / "o"), "--format", "gif"]
    result = CliRunner().invoke(split_dataset_command, args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "--format" in result.stderr


def test_root_shim_is_the_same_command():
    result = subprocess.run([sys.executable, "split_dataset.py", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--source", "--labels", "--dest", "--crop_size", "--stride", "--format", "--min-tissue",
                 "--level", "--magnification", "--mpp", "--dry-run"):
        assert flag in result.stdout
