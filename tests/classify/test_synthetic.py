"""The classifier's synthetic images: counts planned by the dry run, bad recipes refused before any image."""

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from tests.classify.conftest import train_args
from thygan.cli.dlc_cv import dlc_cv_command
from thygan.cli.dlc_train import dlc_train_command


def invoke(command, args):
    return CliRunner().invoke(command, [str(a) for a in args])


def real_train_counts(tiles, split_file) -> Counter:
    labels = dict(json.loads((tiles / "dataset.json").read_text())["labels"])
    return Counter(labels[name] for name in json.loads(split_file.read_text())["train"])


def write_recipe(path, network, classes, seeds, class_map):
    path.write_text(json.dumps({"classes": classes, "seeds": seeds, "network": [str(network)],
                                "class_map": class_map}))
    return path


def test_dry_run_prints_synthetic_counts_beside_the_real_ones(sample_tiles, split_file, tiny_gan, tmp_path):
    recipe = write_recipe(tmp_path / "mix.json", tiny_gan, [0, 1, 2], ["0-5", "100%", 3], [0, 1, 1])
    out = tmp_path / "out"
    result = invoke(dlc_train_command, train_args(sample_tiles, split_file, out, "--gan_params", recipe, "-n"))
    assert result.exit_code == 0, result.output
    real = real_train_counts(sample_tiles, split_file)
    rows = {line.split()[0]: [int(n) for n in line.split()[-3:]] for line in result.output.splitlines()
            if line[:1].isdigit() or line.startswith("all ")}
    expected_synthetic = {0: 5, 1: real[1] + 3, 2: 0}  # "100%" of label 1's real images, plus class 2's three
    for label in range(3):
        assert rows[str(label)] == [real[label], expected_synthetic[label], real[label] + expected_synthetic[label]]
    assert rows["all"] == [sum(real.values()), sum(expected_synthetic.values()),
                           sum(real.values()) + sum(expected_synthetic.values())]
    assert "(gan_params: mix)" in result.output and "Dry run" in result.output
    assert not out.exists() or not any(out.iterdir())  # planned, not generated


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_class_the_generator_lacks_is_refused_before_any_image(sample_tiles, split_file, tiny_gan, tmp_path,
                                                                 dry_run):
    """The study's 5-class cv_mc100 against a 3-class network: refused before classes 0-2 are generated."""
    recipe = write_recipe(tmp_path / "cv_mc100.json", tiny_gan, [0, 1, 2, 3, 4],
                          ["0-3", "0-3", "0-3", "0-3", "0-3"], [1, 1, 1, 0, 0])
    out = tmp_path / "out"
    flags = ["-n"] if dry_run else []
    result = invoke(dlc_train_command, train_args(sample_tiles, split_file, out, "--gan_params", recipe, *flags))
    assert result.exit_code == 2, result.output
    assert "class 3 is not in the network" in result.output and "(it has classes 0-2)" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.rglob("*"))  # no run folder, no cached image


def test_cv_checks_every_recipe_before_the_first_fold(sample_tiles, sample_splits, tiny_gan, tmp_path):
    good = write_recipe(tmp_path / "good.json", tiny_gan, [0], [2], [0])
    bad = write_recipe(tmp_path / "bad.json", tiny_gan, [0, 5], [2, 2], [0, 1])
    out = tmp_path / "cv"
    result = invoke(dlc_cv_command, ["--src_dir", sample_tiles, "--labels", sample_tiles / "dataset.json",
                                     "--split_dir", sample_splits, "--out_dir", out, "--folds", "0",
                                     "--recipes", f"none,{good},{bad}", "--crop_size", 32, "--model_type", "resnet18",
                                     "--width", 8, "--epochs", 1, "--workers", 0, "--device", "cpu"])
    assert result.exit_code == 2 and f"{bad}: class 5 is not in the network" in result.output
    assert not out.exists() or not any(out.rglob("*"))
