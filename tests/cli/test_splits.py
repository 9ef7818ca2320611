"""`thygan splits`: writing the study's split files with a table, and checking existing ones."""

import json

from click.testing import CliRunner

from thygan.cli.splits import splits_command


def labels_file(tmp_path, patients=12):
    meta = [[f"{p}{letter}.jpeg", p % 2, str(p), ["FA", "PTC"][p % 2]] for p in range(1, patients + 1)
            for letter in "abc"]
    path = tmp_path / "bi_dataset.json"
    path.write_text(json.dumps({"labels": [row[:2] for row in meta], "meta": meta}))
    return path


def test_writes_files_and_prints_table(tmp_path):
    labels = labels_file(tmp_path)
    result = CliRunner().invoke(splits_command, ["--labels", str(labels), "--dest", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "data" / "cv_splits").glob("cv*_split.json"))) == 5
    assert len(list((tmp_path / "data" / "cv_splits").glob("cv*_splits/cv_split_*_*.json"))) == 20
    assert len(list((tmp_path / "data" / "full_data_splits").glob("data_split_*.json"))) == 5
    header = next(line for line in result.stdout.splitlines() if line.startswith("split"))
    assert header.split() == ["split", "set", "0", "1", "total"]
    assert "cv_split_0_0  test" in result.stdout and "data_split_4  val" in result.stdout


def test_check_valid_and_invalid_split(tmp_path):
    labels = labels_file(tmp_path)
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"train": [1, 2, 3], "val": [4], "test": ["5a.jpeg", "5b.jpeg", "5c.jpeg"]}))
    bad.write_text(json.dumps({"train": [1, 2], "test": [2, 77]}))
    ok = CliRunner().invoke(splits_command, ["--labels", str(labels), "--check", str(good)])
    assert ok.exit_code == 0 and "good.json  train" in ok.stdout
    failed = CliRunner().invoke(splits_command, ["--labels", str(labels), "--check", str(bad)])
    assert failed.exit_code == 2 and failed.stderr.count("\n") == 1 and "bad.json" in failed.stderr


def test_needs_exactly_one_of_dest_and_check(tmp_path):
    result = CliRunner().invoke(splits_command, ["--labels", str(labels_file(tmp_path))])
    assert result.exit_code == 2 and "exactly one" in result.stderr


def test_small_cohort_is_refused_in_one_line_naming_the_folds(tmp_path):
    """4 patients per class: 5 outer folds are impossible; with 4 the inner folds (3 patients per class
    left) are; each is one line, exit 2, naming the level and the smallest class, and nothing is written."""
    labels = labels_file(tmp_path, patients=8)
    outer = CliRunner().invoke(splits_command, ["--labels", str(labels), "--dest", str(tmp_path / "a")])
    assert outer.exit_code == 2 and outer.stderr.count("\n") == 1, outer.output
    assert "--folds: 5 outer folds" in outer.stderr and "'FA': 4 patients" in outer.stderr
    inner = CliRunner().invoke(splits_command, ["--labels", str(labels), "--dest", str(tmp_path / "b"),
                                                "--folds=4"])
    assert inner.exit_code == 2 and inner.stderr.count("\n") == 1, inner.output
    assert "--inner-folds: 4 inner folds of outer fold 0" in inner.stderr and "3 patients" in inner.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    fits = CliRunner().invoke(splits_command, ["--labels", str(labels), "--dest", str(tmp_path / "c"),
                                               "--folds=4", "--inner-folds=3"])
    assert fits.exit_code == 0, fits.output
