"""dlc-eval takes the input settings (crop size, evaluation crops) from the checkpoint unless the command
line overrides them, says so in one line, and refuses crops larger than the images before any folder."""

import json

import torch
from click.testing import CliRunner

from thygan.classify.models import build_model, save_classifier
from thygan.cli.dlc_eval import dlc_eval_command


def _model(tmp_path, **extra):
    torch.manual_seed(0)
    model = build_model("resnet18", 3, "none", width=8)
    return save_classifier(tmp_path / "vl_0.5000", model, model_type="resnet18", class_names=["a", "b", "c"],
                           extra=extra)


def _eval(tiles, split_file, out, model, *extra):
    args = ["--src_dir", tiles, "--labels", tiles / "dataset.json", "--out_dir", out, "--split_file", split_file,
            "--run_id", "ev", "--mdl_loc", model, "--workers", 0, "--device", "cpu", "--bootstrap", 0, *extra]
    return CliRunner().invoke(dlc_eval_command, [str(a) for a in args])


def test_crop_size_and_eval_crop_come_from_the_checkpoint(sample_tiles, split_file, tmp_path):
    model = _model(tmp_path, crop_size=16, eval_crop="tiles")
    few = tmp_path / "few.json"  # six test images keep the two evaluations quick
    few.write_text(json.dumps({"test": json.loads(split_file.read_text())["test"][:6]}))
    split_file = few
    result = _eval(sample_tiles, split_file, tmp_path / "out", model)
    assert result.exit_code == 0, result.output
    line = "input settings: crop_size 16 (as the model was trained), eval_crop tiles (as the model was trained)"
    assert line in result.output and line in (tmp_path / "out" / "000-ev" / "eval_log.txt").read_text()
    saved = json.loads((tmp_path / "out" / "000-ev" / "options.json").read_text())
    assert (saved["crop_size"], saved["eval_crop"]) == (16, "tiles")
    override = _eval(sample_tiles, split_file, tmp_path / "out", model, "--crop_size", 32, "--eval_crop", "center")
    assert override.exit_code == 0, override.output
    assert "crop_size 32 (--crop_size; the model was trained with 16)" in override.output
    assert json.loads((tmp_path / "out" / "001-ev" / "options.json").read_text())["crop_size"] == 32


def test_crop_larger_than_the_images_is_refused_before_a_run_folder(sample_tiles, split_file, tmp_path):
    """A model file that records no settings (e.g. the study's .pth) gets the default 512 px, too big for
    the 32 px tiles: one line, exit 2, and no run folder left behind."""
    model = _model(tmp_path)
    result = _eval(sample_tiles, split_file, tmp_path / "out", model)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "--crop_size: 512 px crops do not fit" in result.stderr and "at most 32 px" in result.stderr
    assert not (tmp_path / "out").exists()


def _small_gan_recipe(tmp_path):
    """A study recipe and a 16 px generator to replace its network (the sample tiles are 32 px)."""
    from tests.classify.conftest import TINY_G
    from thygan.io.checkpoint import save_checkpoint
    from thygan.stylegan.networks import Generator

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "g16", networks={"G_ema": Generator(**dict(TINY_G, img_resolution=16)).eval()})
    recipe = tmp_path / "small.json"
    recipe.write_text(json.dumps({"classes": [0, 1], "seeds": ["0-2", "0-2"], "network": "models/gan_bi_017539.pkl",
                                  "class_map": [0, 1]}))
    return recipe, tmp_path / "g16.safetensors"


def test_crop_larger_than_the_synthetic_images_is_refused_before_any_work(sample_tiles, sample_splits, split_file,
                                                                        tmp_path):
    """32 px crops of a 16 px GAN's images: dlc-train and dlc-cv refuse in one line before a run folder
    exists or an image is generated (the study-like run failed only after generating, or after a whole recipe)."""
    from tests.classify.conftest import train_args
    from thygan.cli.dlc_cv import dlc_cv_command
    from thygan.cli.dlc_train import dlc_train_command

    recipe, network = _small_gan_recipe(tmp_path)
    out = tmp_path / "out"
    train = CliRunner().invoke(dlc_train_command, train_args(sample_tiles, split_file, out, "--gan_params", recipe,
                                                             "--gan_network", network))
    assert train.exit_code == 2 and train.stderr.count("\n") == 1, train.output
    assert "--crop_size: 32 px crops do not fit the 16 px images of" in train.stderr
    cv = CliRunner().invoke(dlc_cv_command, [str(a) for a in [
        "--src_dir", sample_tiles, "--labels", sample_tiles / "dataset.json", "--split_dir", sample_splits,
        "--out_dir", out, "--recipes", f"none,{recipe}", "--gan_network", network, "--crop_size", 32,
        "--model_type", "resnet18", "--width", 8, "--epochs", 1, "--workers", 0, "--device", "cpu"]])
    assert cv.exit_code == 2 and "do not fit the 16 px images" in cv.stderr, cv.output
    assert not out.exists()  # no run folder, no fold of the 'none' recipe trained first, no cache


def test_real_images_smaller_than_the_crop_are_refused_up_front(sample_tiles, sample_splits, split_file, tmp_path):
    from tests.classify.conftest import train_args
    from thygan.cli.dlc_cv import dlc_cv_command
    from thygan.cli.dlc_train import dlc_train_command

    out = tmp_path / "out"
    train = CliRunner().invoke(dlc_train_command, train_args(sample_tiles, split_file, out, "--crop_size", 64))
    assert train.exit_code == 2 and "--crop_size: 64 px crops do not fit" in train.stderr, train.output
    assert "use a crop of at most 32 px" in train.stderr
    cv = CliRunner().invoke(dlc_cv_command, [str(a) for a in [
        "--src_dir", sample_tiles, "--labels", sample_tiles / "dataset.json", "--split_dir", sample_splits,
        "--out_dir", out, "--crop_size", 64, "--device", "cpu"]])
    assert cv.exit_code == 2 and "--crop_size: 64 px crops do not fit" in cv.stderr, cv.output
    assert not out.exists()
